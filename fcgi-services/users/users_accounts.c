/* users_accounts.c - registration, the caller's own account, email rules and password hashing */
#include <crypt.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "users.h"

const char *const users_stmts[USERS_NSTMTS] = {
	[USERS_INSERT] =
	    "INSERT INTO users (email, name, password_hash, role) VALUES (?, ?, ?, 'customer')",
	[USERS_BY_EMAIL] =
	    "SELECT id, password_hash, role FROM users WHERE email = ?",
	[USERS_BY_ID] =
	    "SELECT id, email, name, role FROM users WHERE id = ?",
	[USERS_ADMIN_INSERT] =
	    "INSERT INTO users (email, name, password_hash, role) VALUES (?, 'Administrator', ?,"
	    " 'admin')",
	[USERS_ADMIN_PROMOTE] =
	    "UPDATE users SET role = 'admin' WHERE email = ? AND role = 'customer'",
};

static int
users_local_char(int c)
{
	return isalnum(c) || strchr("!#$%&'*+/=?^_`{|}~-.", c) != NULL;
}

int
users_email_normalize(const char *email, char *out, size_t outlen)
{
	const char	*start = email, *end, *at = NULL, *p, *label;
	size_t		 n, i;

	while (*start == ' ' || *start == '\t')
		start++;
	end = start + strlen(start);
	while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	n = (size_t)(end - start);
	if (n < 3 || n > USERS_EMAIL_MAX || n + 1 > outlen)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)start[i];

		if (c >= 0x80 || c <= 0x20)
			return -1;
		out[i] = (char)tolower(c);
		if (c == '@') {
			if (at != NULL)
				return -1;
			at = out + i;
		}
	}
	out[n] = '\0';
	if (at == NULL || at == out || at - out > 64 || out[0] == '.' || at[-1] == '.' ||
	    strstr(out, "..") != NULL)
		return -1;
	for (p = out; p < at; p++)
		if (!users_local_char((unsigned char)*p))
			return -1;
	/* Domain: dot-separated labels of [a-z0-9-], no leading or trailing '-', one dot at least. */
	if (strchr(at + 1, '.') == NULL)
		return -1;
	for (label = p = at + 1;; p++) {
		if (*p == '.' || *p == '\0') {
			size_t len = (size_t)(p - label);
			if (len == 0 || len > 63 || label[0] == '-' || p[-1] == '-')
				return -1;
			if (*p == '\0')
				break;
			label = p + 1;
		} else if (!isalnum((unsigned char)*p) && *p != '-')
			return -1;
	}
	return 0;
}

size_t
users_utf8_len(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

int
users_hash_password(const char *password, long long cost, char *out, size_t outlen)
{
	char			salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data	*cd;
	const char		*h;
	int			 rc = -1;

	if ((cd = calloc(1, sizeof(*cd))) == NULL)
		return -1;
	if (crypt_gensalt_rn("$y$", (unsigned long)cost, NULL, 0, salt, sizeof(salt)) == NULL)
		goto out;
	h = crypt_r(password, salt, cd);
	if (h == NULL || h[0] == '*' || strlen(h) + 1 > outlen)
		goto out;
	memcpy(out, h, strlen(h) + 1);
	rc = 0;
out:
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return rc;
}

int
users_check_password(const char *password, const char *hash)
{
	struct crypt_data	*cd;
	const char		*h;
	int			 ok = 0;

	if ((cd = calloc(1, sizeof(*cd))) == NULL)
		return 0;
	h = crypt_r(password, hash, cd);
	if (h != NULL && h[0] != '*' && strlen(h) == strlen(hash))
		ok = CRYPTO_memcmp(h, hash, strlen(hash)) == 0;
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return ok;
}

/* Name: 1..100 bytes of valid UTF-8 with no C0 or C1 control characters. */
static int
users_name_ok(const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f)
			return 0;
		/* U+0080..U+009F are C2 80..C2 9F in UTF-8. */
		if (c == 0xc2 && (unsigned char)s[1] >= 0x80 && (unsigned char)s[1] <= 0x9f)
			return 0;
	}
	return 1;
}

int
users_register(struct svc_req *r)
{
	struct users_state	*st = svc_req_state(r);
	json_object		*body, *obj;
	const char		*email, *password, *name;
	char			 norm[USERS_EMAIL_MAX + 1], hash[128];
	int64_t			 id;
	int			 rc, bad = 0;

	if ((rc = svc_body_json_or_reply(r, &body)) != SVC_OK ||
	    (rc = svc_json_str_or_reply(r, body, "email", 1, 1024, 1, &email)) != SVC_OK ||
	    (rc = svc_json_str_or_reply(r, body, "password", 1, USERS_PASSWORD_MAX, 1,
	    &password)) != SVC_OK ||
	    (rc = svc_json_str_or_reply(r, body, "name", 1, USERS_NAME_MAX, 1, &name)) != SVC_OK)
		return rc;
	if (users_email_normalize(email, norm, sizeof(norm)) == -1)
		return svc_reply_field_error(r, "email", "email is not a valid address");
	if (users_utf8_len(password) < USERS_PASSWORD_MIN)
		return svc_reply_field_error(r, "password",
		    "password must be at least %d characters", USERS_PASSWORD_MIN);
	if (!users_name_ok(name))
		return svc_reply_field_error(r, "name", "name must not contain control characters");
	if (users_hash_password(password, st->kdf_cost, hash, sizeof(hash)) == -1)
		return svc_reply_err(r, SVC_ERR_INTERNAL);
	/* The unique index decides a duplicate: no racy pre-check. */
	rc = svc_db_exec(r, USERS_INSERT, "sss", norm, name, hash);
	if (rc == SVC_ERR_CONFLICT)
		return svc_reply_error(r, 409, "email_taken", "an account with this email exists");
	if (rc != SVC_OK)
		return svc_reply_err(r, rc);
	id = (int64_t)svc_db_insert_id(r);
	obj = json_object_new_object();
	bad |= svc_json_add(obj, "id", json_object_new_int64(id));
	bad |= svc_json_add(obj, "email", json_object_new_string(norm));
	bad |= svc_json_add(obj, "name", json_object_new_string(name));
	bad |= svc_json_add(obj, "role", json_object_new_string("customer"));
	return svc_reply_json(r, 201, svc_json_checked(obj, bad));
}

int
users_me(struct svc_req *r)
{
	struct svc_rows	*rows = NULL;
	json_object	*obj;
	int64_t		 uid = svc_req_user_id(r);
	int		 rc;

	if (uid == 0)
		return svc_reply_error(r, 401, "unauthorized", "a valid bearer token is required");
	if ((rc = svc_db_query(r, USERS_BY_ID, &rows, "i", uid)) != SVC_OK)
		return svc_reply_err(r, rc);
	if (!svc_rows_next(rows)) {
		svc_rows_free(rows);
		return svc_reply_error(r, 404, "not_found", "this account no longer exists");
	}
	obj = svc_rows_json(rows);
	svc_rows_free(rows);
	return svc_reply_json(r, 200, obj);
}
