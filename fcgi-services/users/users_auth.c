/* users_auth.c - log in for a token, and the gateway's check of a token (auth_request) */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "users.h"

int
users_login(struct svc_req *r)
{
	struct users_state	*st = svc_req_state(r);
	struct users_claims	 c;
	struct svc_rows		*rows = NULL;
	json_object		*body, *obj;
	const char		*email, *password, *hash, *role, *key;
	char			 norm[USERS_EMAIL_MAX + 1], token[1024], retry[32];
	int64_t			 now;
	long long		 wait;
	int			 rc, found = 0, ok, normalized, bad = 0;

	if ((rc = svc_body_json_or_reply(r, &body)) != SVC_OK ||
	    (rc = svc_json_str_or_reply(r, body, "email", 1, 1024, 1, &email)) != SVC_OK ||
	    (rc = svc_json_str_or_reply(r, body, "password", 1, USERS_PASSWORD_MAX, 1,
	    &password)) != SVC_OK)
		return rc;
	/*
	 * Per account (the email as given, known or not, so the answer says nothing about
	 * which exist): after SHOPLAB_LOGIN_FAILURES failures in SHOPLAB_LOGIN_WINDOW
	 * seconds, 429 until the oldest of them leaves the window, without looking anything up.
	 */
	normalized = users_email_normalize(email, norm, sizeof(norm)) == 0;
	key = normalized ? norm : email;
	if ((wait = users_limit_check(&st->limiter, key, svc_now_us())) > 0) {
		snprintf(retry, sizeof(retry), "%lld", wait);
		svc_reply_header(r, "Retry-After", retry);
		return svc_reply_error(r, 429, "rate_limited",
		    "too many failed logins for this account; try again in %lld s", wait);
	}
	if (normalized) {
		if ((rc = svc_db_query(r, USERS_BY_EMAIL, &rows, "s", norm)) != SVC_OK)
			return svc_reply_err(r, rc);
		found = svc_rows_next(rows);
	}
	/*
	 * An unknown email costs the same KDF run as a wrong password, so the answer's time
	 * does not tell which accounts exist.
	 */
	hash = found ? svc_rows_str(rows, 1, NULL) : st->dummy_hash;
	ok = users_check_password(password, hash) && found;
	if (!ok) {
		svc_rows_free(rows);
		users_limit_fail(&st->limiter, key, svc_now_us());
		return svc_reply_error(r, 401, "invalid_credentials", "wrong email or password");
	}
	users_limit_clear(&st->limiter, key);
	now = svc_wall_us() / 1000000;
	memset(&c, 0, sizeof(c));
	c.sub = svc_rows_int(rows, 0);
	role = svc_rows_str(rows, 2, NULL);
	snprintf(c.role, sizeof(c.role), "%s", role ? role : "customer");
	c.iat = c.nbf = now;
	c.exp = now + st->token_ttl;
	svc_rows_free(rows);
	if (users_jwt_sign(&c, st->jwt_secret, token, sizeof(token)) == -1)
		return svc_reply_err(r, SVC_ERR_INTERNAL);
	obj = json_object_new_object();
	bad |= svc_json_add(obj, "token", json_object_new_string(token));
	bad |= svc_json_add(obj, "token_type", json_object_new_string("Bearer"));
	bad |= svc_json_add(obj, "expires_in", json_object_new_int64(st->token_ttl));
	svc_reply_header(r, "Cache-Control", "no-store");
	return svc_reply_json(r, 200, svc_json_checked(obj, bad));
}

/*
 * GET /auth/verify, called by nginx's auth_request with the client's Authorization header.
 * 200 names the user in X-User-Id and X-User-Role; X-Accel-Expires lets nginx cache the
 * answer, never past the token's expiry. 401 otherwise, never cached.
 */
int
users_verify(struct svc_req *r)
{
	struct users_state	*st = svc_req_state(r);
	struct users_claims	 c;
	enum users_jwt_err	 e;
	const char		*auth = svc_req_header(r, "Authorization");
	char			 buf[32];
	int64_t			 now = svc_wall_us() / 1000000, ttl;

	if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0) {
		svc_reply_header(r, "X-Accel-Expires", "0");
		return svc_reply_error(r, 401, "unauthorized", "a bearer token is required");
	}
	auth += 7;
	while (*auth == ' ')
		auth++;
	if ((e = users_jwt_verify(auth, st->jwt_secret, now, &c)) != USERS_JWT_OK) {
		svc_reply_header(r, "X-Accel-Expires", "0");
		return svc_reply_error(r, 401, "invalid_token", "%s", users_jwt_strerror(e));
	}
	/* Whole seconds, rounded down, so a cached answer never outlives the token. */
	ttl = c.exp - now - 1;
	if (ttl < 0)
		ttl = 0;
	if (ttl > st->verify_cache)
		ttl = st->verify_cache;
	snprintf(buf, sizeof(buf), "%lld", (long long)ttl);
	svc_reply_header(r, "X-Accel-Expires", buf);
	snprintf(buf, sizeof(buf), "%lld", (long long)c.sub);
	svc_reply_header(r, "X-User-Id", buf);
	svc_reply_header(r, "X-User-Role", c.role);
	return svc_reply_empty(r, 200);
}

/*
 * The admin account named in the environment: created (with the generated password) when
 * no account has that email; left alone when it is already an admin. An existing customer
 * account is never changed silently: the service refuses to start, unless
 * SHOPLAB_ADMIN_PROMOTE=1 says to make that account admin (its password stays its own).
 */
int
users_startup(struct svc_req *r)
{
	struct users_state	*st = svc_req_state(r);
	struct svc_rows		*rows = NULL;
	char			 norm[USERS_EMAIL_MAX + 1], hash[128];
	const char		*role;
	int			 rc = SVC_ERR_INTERNAL, attempt, found;

	if (st->admin_email[0] == '\0' || st->admin_password[0] == '\0')
		return SVC_OK;
	if (users_email_normalize(st->admin_email, norm, sizeof(norm)) == -1) {
		svc_log(NULL, "error", "SHOPLAB_ADMIN_EMAIL is not a valid address");
		return SVC_ERR_INVALID;
	}
	if (users_hash_password(st->admin_password, st->kdf_cost, hash, sizeof(hash)) == -1)
		return SVC_ERR_INTERNAL;
	/* Twice at most: a registration of the same email may land between look and insert. */
	for (attempt = 0; attempt < 2; attempt++) {
		if ((rc = svc_db_query(r, USERS_BY_EMAIL, &rows, "s", norm)) != SVC_OK)
			return rc;
		found = svc_rows_next(rows);
		role = found ? svc_rows_str(rows, 2, NULL) : NULL;
		if (found && role != NULL && strcmp(role, "admin") == 0) {
			rc = SVC_OK;
			goto out_rows;
		}
		if (found && !st->admin_promote) {
			fprintf(stderr, "users: SHOPLAB_ADMIN_EMAIL=%s is an existing customer "
			    "account: refusing to make it admin; choose another SHOPLAB_ADMIN_EMAIL, "
			    "or set SHOPLAB_ADMIN_PROMOTE=1 to promote it (it keeps its own password)\n",
			    norm);
			rc = SVC_ERR_CONFLICT;
			goto out_rows;
		}
		if (found) {
			if ((rc = svc_db_exec(r, USERS_ADMIN_PROMOTE, "s", norm)) == SVC_OK)
				svc_log(NULL, "warn", "SHOPLAB_ADMIN_PROMOTE=1: made the existing "
				    "account %s admin; its password is its own", norm);
			goto out_rows;
		}
		svc_rows_free(rows);
		rows = NULL;
		if ((rc = svc_db_exec(r, USERS_ADMIN_INSERT, "ss", norm, hash)) == SVC_OK) {
			svc_log(NULL, "info", "created the admin account %s", norm);
			return SVC_OK;
		}
		if (rc != SVC_ERR_CONFLICT)
			return rc;
	}
	return rc;
out_rows:
	svc_rows_free(rows);
	return rc;
}
