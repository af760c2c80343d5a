/* test_users.c - accounts, login and tokens through the real gateway: validation, auth, limits */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <mysql.h>

#include "b64url_test.h"
#include "itest.h"

#define PASSWORD	"Corr3ct-horse-battery"
#define OTHER_SECRET	"not-the-gateway-secret-0123456789abcdef"

/* Set up once for the group: a fresh customer and the admin, both logged in. */
static char	cust_email[128], cust_token[1024], admin_token[1024];
static int64_t	cust_id, admin_id;
static char	uniq[64];		/* pid and time: a second run against one database is fine */

/* ---- requests ---- */

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Login and registration share the auth_write limit. These tests are about other things, so
 * they space those requests out (well under the test stack's rate) and, should the bucket be
 * low anyway (another suite, a second run), wait and ask again on a 429.
 */
static void
auth_post(const char *path, const char *body, struct it_resp *r)
{
	static double	last;
	double		wait;
	int		tries;

	for (tries = 0;; tries++) {
		wait = last + 0.07 - now_s();
		if (wait > 0)
			usleep((useconds_t)(wait * 1e6));
		last = now_s();
		assert_int_equal(it_request("POST", it_gateway(), path, NULL, body, r), 0);
		if (r->status != 429 || tries == 20)
			break;
		it_resp_free(r);
		sleep(1);
	}
	if (r->status >= 500)
		fprintf(stderr, "POST %s -> %ld %s\n", path, r->status, r->body);
}

/* A JSON object of up to three string members; a NULL value leaves the member out. */
static char *
body_of(const char *k1, const char *v1, const char *k2, const char *v2, const char *k3,
    const char *v3)
{
	json_object	*o = json_object_new_object();
	char		*s;

	assert_non_null(o);
	if (k1 != NULL && v1 != NULL)
		json_object_object_add(o, k1, json_object_new_string(v1));
	if (k2 != NULL && v2 != NULL)
		json_object_object_add(o, k2, json_object_new_string(v2));
	if (k3 != NULL && v3 != NULL)
		json_object_object_add(o, k3, json_object_new_string(v3));
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	assert_non_null(s);
	return s;
}

static void
register_user(const char *email, const char *password, const char *name, struct it_resp *r)
{
	char *b = body_of("email", email, "password", password, "name", name);

	auth_post("/api/v1/users", b, r);
	free(b);
}

static void
login(const char *email, const char *password, struct it_resp *r)
{
	char *b = body_of("email", email, "password", password, NULL, NULL);

	auth_post("/api/v1/auth/login", b, r);
	free(b);
}

/* Logs in and copies the token; fails the test unless the answer is the contract's. */
static void
login_ok(const char *email, const char *password, char *token, size_t len)
{
	struct it_resp	r;
	char		cc[64];

	login(email, password, &r);
	if (r.status != 200)
		fprintf(stderr, "login %s -> %ld %s\n", email, r.status, r.body);
	assert_int_equal(r.status, 200);
	assert_non_null(it_str(&r, "token"));
	assert_string_equal(it_str(&r, "token_type"), "Bearer");
	assert_true(it_int(&r, "expires_in") > 0);
	assert_true(it_header(&r, "Cache-Control", cc, sizeof(cc)));
	assert_non_null(strstr(cc, "no-store"));
	assert_true(strlen(it_str(&r, "token")) < len);
	snprintf(token, len, "%s", it_str(&r, "token"));
	it_resp_free(&r);
}

/* GET /api/v1/users/me with these extra header lines (NULL-terminated). */
static void
me_with(const char *const *headers, struct it_resp *r)
{
	assert_int_equal(it_request("GET", it_gateway(), "/api/v1/users/me", headers, NULL, r), 0);
}

static void
me(const char *token, struct it_resp *r)
{
	char		 auth[2048];
	const char	*h[2] = { auth, NULL };

	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	me_with(h, r);
}

static void
assert_field_error(const struct it_resp *r, const char *field)
{
	if (r->status != 400 || it_str(r, "error.field") == NULL ||
	    strcmp(it_str(r, "error.field"), field) != 0)
		fprintf(stderr, "want 400 on %s, got %ld %s\n", field, r->status, r->body);
	it_assert_error(r, 400, "validation_failed");
	assert_non_null(it_str(r, "error.field"));
	assert_string_equal(it_str(r, "error.field"), field);
}

/* ---- token forging: base64url (b64url_test.h) and HMAC, independent of the service ---- */

/* tok (1024 bytes) = b64url(header) "." b64url(payload) "." MAC; md NULL: no signature. */
static void
forge(const char *header, const char *payload, const EVP_MD *md, const char *secret, char *tok)
{
	unsigned char	mac[EVP_MAX_MD_SIZE];
	unsigned int	maclen = 0;
	size_t		n;

	assert_true(strlen(header) < 200 && strlen(payload) < 400);
	b64url((const unsigned char *)header, strlen(header), tok);
	n = strlen(tok);
	tok[n++] = '.';
	b64url((const unsigned char *)payload, strlen(payload), tok + n);
	n = strlen(tok);
	tok[n++] = '.';
	tok[n] = '\0';
	if (md == NULL)
		return;
	assert_non_null(HMAC(md, secret, (int)strlen(secret), (const unsigned char *)tok, n - 1,
	    mac, &maclen));
	b64url(mac, maclen, tok + n);
}

static void
claims(char *out, size_t len, int64_t sub, const char *role, long long nbf, long long exp)
{
	long long now = (long long)time(NULL);

	snprintf(out, len, "{\"iss\":\"shoplab\",\"sub\":\"%lld\",\"role\":\"%s\",\"iat\":%lld,"
	    "\"nbf\":%lld,\"exp\":%lld}", (long long)sub, role, now, now + nbf, now + exp);
}

#define HS256	"{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

/* ---- set-up ---- */

static int
group_setup(void **state)
{
	struct it_resp r;

	(void)state;
	snprintf(uniq, sizeof(uniq), "%ld.%lld", (long)getpid(), (long long)time(NULL));
	snprintf(cust_email, sizeof(cust_email), "it.cust.%s@users.example.com", uniq);
	curl_global_init(CURL_GLOBAL_DEFAULT);

	register_user(cust_email, PASSWORD, "Integration Customer", &r);
	if (r.status != 201) {
		fprintf(stderr, "setup: register -> %ld %s\n", r.status, r.body);
		it_resp_free(&r);
		return -1;
	}
	cust_id = it_int(&r, "id");
	it_resp_free(&r);
	login_ok(cust_email, PASSWORD, cust_token, sizeof(cust_token));
	login_ok(it_env("SHOPLAB_ADMIN_EMAIL"), it_env("SHOPLAB_ADMIN_PASSWORD"), admin_token,
	    sizeof(admin_token));
	me(admin_token, &r);
	if (r.status != 200) {
		fprintf(stderr, "setup: admin /me -> %ld %s\n", r.status, r.body);
		it_resp_free(&r);
		return -1;
	}
	admin_id = it_int(&r, "id");
	it_resp_free(&r);
	return cust_id > 0 && admin_id > 0 && cust_id != admin_id ? 0 : -1;
}

static int
group_teardown(void **state)
{
	(void)state;
	curl_global_cleanup();
	return 0;
}

/* ---- tests ---- */

/* Register, log in, read /me; the email comes back trimmed and lower-cased everywhere. */
static void
test_register_login_me(void **state)
{
	struct it_resp	r;
	char		mixed[160], norm[160], token[1024];
	int64_t		id;

	(void)state;
	snprintf(mixed, sizeof(mixed), "  It.Mixed.%s@Users.EXAMPLE.Com\t", uniq);
	snprintf(norm, sizeof(norm), "it.mixed.%s@users.example.com", uniq);

	register_user(mixed, PASSWORD, "Zoë O'Brien", &r);
	it_assert_status(&r, 201);
	id = it_int(&r, "id");
	assert_true(id > 0);
	assert_string_equal(it_str(&r, "email"), norm);
	assert_string_equal(it_str(&r, "name"), "Zoë O'Brien");
	assert_string_equal(it_str(&r, "role"), "customer");
	/* The password and its hash never come back. */
	assert_null(it_get(&r, "password"));
	assert_null(it_get(&r, "password_hash"));
	assert_null(strstr(r.body, PASSWORD));
	assert_null(strstr(r.body, "$y$"));
	it_resp_free(&r);

	/* Log in with yet another spelling of the same address. */
	snprintf(mixed, sizeof(mixed), " IT.MIXED.%s@users.example.COM ", uniq);
	login_ok(mixed, PASSWORD, token, sizeof(token));
	/* Three base64url parts. */
	assert_non_null(strchr(token, '.'));
	assert_non_null(strchr(strchr(token, '.') + 1, '.'));

	me(token, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(it_int(&r, "id"), id);
	assert_string_equal(it_str(&r, "email"), norm);
	assert_string_equal(it_str(&r, "name"), "Zoë O'Brien");
	assert_string_equal(it_str(&r, "role"), "customer");
	assert_null(it_get(&r, "password_hash"));
	it_resp_free(&r);

	/* The group's customer is distinct and is who its own token says. */
	me(cust_token, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(it_int(&r, "id"), cust_id);
	assert_string_equal(it_str(&r, "email"), cust_email);
	assert_true(cust_id != id);
	it_resp_free(&r);

	/* The admin created at start-up has the admin role. */
	me(admin_token, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(it_str(&r, "role"), "admin");
	assert_int_equal(it_int(&r, "id"), admin_id);
	it_resp_free(&r);
}

static void
test_duplicate_email(void **state)
{
	struct it_resp	r;
	char		upper[160];
	size_t		i;

	(void)state;
	register_user(cust_email, "another-password-1", "Someone Else", &r);
	it_refused(&r, 409, "email_taken");

	/* The same address in other case and with blanks around it. */
	snprintf(upper, sizeof(upper), "  %s ", cust_email);
	for (i = 0; upper[i] != '\0'; i++)
		if (upper[i] >= 'a' && upper[i] <= 'z')
			upper[i] = (char)(upper[i] - 'a' + 'A');
	register_user(upper, "another-password-2", "Someone Else", &r);
	it_refused(&r, 409, "email_taken");

	/* The original account is untouched: same id, same name. */
	me(cust_token, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(it_int(&r, "id"), cust_id);
	assert_string_equal(it_str(&r, "name"), "Integration Customer");
	it_resp_free(&r);
}

static void
test_registration_validation(void **state)
{
	static const char *const bad_emails[] = {
		"no-at-sign.example.com", "two@@example.com", "a@b", "@example.com",
		"user@", ".lead@example.com", "dou..ble@example.com", "sp ace@example.com",
		"user@-dash.example.com", "j\xc3\xb6rg@example.com", "",
	};
	static const struct {
		const char *body, *field;
	} raw[] = {
		/* missing fields */
		{ "{\"password\":\"" PASSWORD "\",\"name\":\"N\"}", "email" },
		{ "{\"email\":\"m1@example.com\",\"name\":\"N\"}", "password" },
		{ "{\"email\":\"m2@example.com\",\"password\":\"" PASSWORD "\"}", "name" },
		{ "{\"email\":null,\"password\":\"" PASSWORD "\",\"name\":\"N\"}", "email" },
		/* wrong types */
		{ "{\"email\":42,\"password\":\"" PASSWORD "\",\"name\":\"N\"}", "email" },
		{ "{\"email\":[\"a@b.com\"],\"password\":\"" PASSWORD "\",\"name\":\"N\"}", "email" },
		{ "{\"email\":\"t1@example.com\",\"password\":12345678,\"name\":\"N\"}", "password" },
		{ "{\"email\":\"t2@example.com\",\"password\":true,\"name\":\"N\"}", "password" },
		{ "{\"email\":\"t3@example.com\",\"password\":\"" PASSWORD "\",\"name\":{}}", "name" },
		{ "{\"email\":\"t4@example.com\",\"password\":\"" PASSWORD "\",\"name\":1.5}", "name" },
		/* a NUL inside a string */
		{ "{\"email\":\"t5@example.com\",\"password\":\"" PASSWORD "\",\"name\":\"a\\u0000b\"}",
		  "name" },
	};
	static const char *const bad_names[] = {
		"line\nbreak", "tab\there", "bell\x07", "esc\x1b[31m", "del\x7f", "\x01", "",
		"c1\xc2\x85x", "csi\xc2\x9b",
	};
	struct it_resp	r;
	char		email[160], name101[102];
	size_t		i;

	(void)state;
	for (i = 0; i < sizeof(bad_emails) / sizeof(bad_emails[0]); i++) {
		register_user(bad_emails[i], PASSWORD, "Valid Name", &r);
		assert_field_error(&r, "email");
		it_resp_free(&r);
	}

	snprintf(email, sizeof(email), "it.short.%s@users.example.com", uniq);
	/* Seven characters, and seven two-byte characters (14 bytes): characters count. */
	register_user(email, "abcdefg", "Valid Name", &r);
	assert_field_error(&r, "password");
	it_resp_free(&r);
	register_user(email, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
	    "Valid Name", &r);
	assert_field_error(&r, "password");
	it_resp_free(&r);
	register_user(email, "", "Valid Name", &r);
	assert_field_error(&r, "password");
	it_resp_free(&r);

	for (i = 0; i < sizeof(raw) / sizeof(raw[0]); i++) {
		auth_post("/api/v1/users", raw[i].body, &r);
		assert_field_error(&r, raw[i].field);
		it_resp_free(&r);
	}

	for (i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		register_user(email, PASSWORD, bad_names[i], &r);
		assert_field_error(&r, "name");
		it_resp_free(&r);
	}
	memset(name101, 'n', 101);
	name101[101] = '\0';
	register_user(email, PASSWORD, name101, &r);
	assert_field_error(&r, "name");
	it_resp_free(&r);

	/* Not JSON, or not an object. */
	auth_post("/api/v1/users", "{\"email\":", &r);
	it_refused(&r, 400, "invalid_json");
	auth_post("/api/v1/users", "[\"a@b.com\",\"x\",\"y\"]", &r);
	it_refused(&r, 400, "invalid_json");

	/* None of the refused attempts created the account. */
	login(email, PASSWORD, &r);
	it_refused(&r, 401, "invalid_credentials");
}

/*
 * The fastest of n timings: a loaded machine only ever adds time, so the minimum is what the
 * server's own work costs (a median of 5 still failed at a load average of 27 in the netns
 * lab, where the KDF is ~3 ms and one stall is 8).
 */
static double
fastest(const double *v, int n)
{
	double	m = v[0];
	int	i;

	for (i = 1; i < n; i++)
		if (v[i] < m)
			m = v[i];
	return m;
}

/* The error object's member names, sorted into one string: the body's shape. */
static void
error_shape(const struct it_resp *r, char *out, size_t len)
{
	json_object *e = it_get(r, "error");

	out[0] = '\0';
	assert_non_null(e);
	json_object_object_foreach(e, k, v) {
		(void)v;
		snprintf(out + strlen(out), len - strlen(out), "%s,", k);
	}
}

/* A wrong password and an unknown email look alike: status, body and time. */
static void
test_login_failures_alike(void **state)
{
	struct it_resp	r;
	char		unknown[160], alike[160], shape_wrong[256], shape_unknown[256], msg[256];
	double		t_wrong[9], t_unknown[9], mw, mu;
	int		i;

	(void)state;
	snprintf(unknown, sizeof(unknown), "it.nobody.%s@users.example.com", uniq);
	/*
	 * An account of its own: 9 failures stay under the per-account limit (10,
	 * SHOPLAB_LOGIN_FAILURES) and leave the customer's budget to the other tests.
	 */
	snprintf(alike, sizeof(alike), "it.alike.%s@users.example.com", uniq);
	register_user(alike, PASSWORD, "Timing Alike", &r);
	assert_int_equal(r.status, 201);
	it_resp_free(&r);
	for (i = 0; i < 9; i++) {
		login(alike, "wrong-password-123", &r);
		it_assert_error(&r, 401, "invalid_credentials");
		assert_null(it_str(&r, "token"));
		t_wrong[i] = r.seconds;
		error_shape(&r, shape_wrong, sizeof(shape_wrong));
		snprintf(msg, sizeof(msg), "%s", it_str(&r, "error.message"));
		it_resp_free(&r);

		login(unknown, "wrong-password-123", &r);
		it_assert_error(&r, 401, "invalid_credentials");
		t_unknown[i] = r.seconds;
		error_shape(&r, shape_unknown, sizeof(shape_unknown));
		assert_string_equal(shape_unknown, shape_wrong);
		assert_string_equal(it_str(&r, "error.message"), msg);
		it_resp_free(&r);
	}
	mw = fastest(t_wrong, 9);
	mu = fastest(t_unknown, 9);
	fprintf(stderr, "login, fastest of 9: wrong password %.4fs, unknown email %.4fs\n", mw, mu);
	assert_true(mw > 0 && mu > 0);
	assert_true(mw < 3 * mu);
	assert_true(mu < 3 * mw);

	/* A malformed address (never looked up) is the same 401, not a 400. */
	login("not an address", "wrong-password-123", &r);
	it_refused(&r, 401, "invalid_credentials");
	/* Missing fields are a 400 naming the field. */
	auth_post("/api/v1/auth/login", "{\"email\":\"a@example.com\"}", &r);
	assert_field_error(&r, "password");
	it_resp_free(&r);
	auth_post("/api/v1/auth/login", "{\"password\":\"x\",\"email\":7}", &r);
	assert_field_error(&r, "email");
	it_resp_free(&r);
}

/* Every way of not holding a valid token is a 401 in the JSON shape from the gateway. */
static void
test_me_needs_valid_token(void **state)
{
	struct it_resp	r;
	char		payload[512], expired[1024], notyet[1024], none[1024], none_signed[1024];
	char		hs512[1024], badsig[1024], root[1024], nosub[1024], sub0[1024];
	char		other[1024], hdr[12][1200];
	const char	*one[2] = { NULL, NULL };
	char		*sig;
	size_t		i, n = 0;

	(void)state;
	/* No Authorization header at all. */
	me_with(NULL, &r);
	it_refused(&r, 401, "unauthorized");

	claims(payload, sizeof(payload), cust_id, "customer", -7200, -3600);
	forge(HS256, payload, EVP_sha256(), it_env("SHOPLAB_JWT_SECRET"), expired);
	claims(payload, sizeof(payload), cust_id, "customer", 600, 3600);
	forge(HS256, payload, EVP_sha256(), it_env("SHOPLAB_JWT_SECRET"), notyet);
	claims(payload, sizeof(payload), cust_id, "customer", -10, 3600);
	forge("{\"alg\":\"none\",\"typ\":\"JWT\"}", payload, NULL, NULL, none);
	forge("{\"alg\":\"none\",\"typ\":\"JWT\"}", payload, EVP_sha256(),
	    it_env("SHOPLAB_JWT_SECRET"), none_signed);
	forge("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", payload, EVP_sha512(),
	    it_env("SHOPLAB_JWT_SECRET"), hs512);
	forge(HS256, payload, EVP_sha256(), OTHER_SECRET, other);
	claims(payload, sizeof(payload), cust_id, "root", -10, 3600);
	forge(HS256, payload, EVP_sha256(), it_env("SHOPLAB_JWT_SECRET"), root);
	forge(HS256, "{\"iss\":\"shoplab\",\"role\":\"customer\",\"exp\":4102444800}", EVP_sha256(),
	    it_env("SHOPLAB_JWT_SECRET"), nosub);
	claims(payload, sizeof(payload), 0, "customer", -10, 3600);
	forge(HS256, payload, EVP_sha256(), it_env("SHOPLAB_JWT_SECRET"), sub0);
	/* The customer's real token with one signature character changed. */
	snprintf(badsig, sizeof(badsig), "%s", cust_token);
	sig = strrchr(badsig, '.') + 10;
	*sig = *sig == 'A' ? 'B' : 'A';

	snprintf(hdr[n++], sizeof(hdr[0]), "Authorization: Bearer");
	snprintf(hdr[n++], sizeof(hdr[0]), "Authorization: Bearer not-a-token");
	snprintf(hdr[n++], sizeof(hdr[0]), "Authorization: Bearer a.b.c");
	snprintf(hdr[n++], sizeof(hdr[0]), "Authorization: Bearer %s", badsig);
	snprintf(hdr[n++], sizeof(hdr[0]), "Authorization: Bearer %s", expired);
	snprintf(hdr[n++], sizeof(hdr[0]), "Authorization: Bearer %s", notyet);
	snprintf(hdr[n++], sizeof(hdr[0]), "Authorization: Bearer %s", none);
	snprintf(hdr[n++], sizeof(hdr[0]), "Authorization: Bearer %s", none_signed);
	snprintf(hdr[n++], sizeof(hdr[0]), "Authorization: Bearer %s", hs512);
	snprintf(hdr[n++], sizeof(hdr[0]), "Authorization: Bearer %s", other);
	snprintf(hdr[n++], sizeof(hdr[0]), "Authorization: Bearer %s", root);
	snprintf(hdr[n++], sizeof(hdr[0]), "Authorization: Bearer %s", nosub);
	for (i = 0; i < n; i++) {
		one[0] = hdr[i];
		me_with(one, &r);
		if (r.status != 401)
			fprintf(stderr, "%s -> %ld %s\n", hdr[i], r.status, r.body);
		it_assert_error(&r, 401, "unauthorized");
		assert_null(it_get(&r, "id"));
		it_resp_free(&r);
	}
	/* Other schemes, and the token with no scheme. */
	snprintf(hdr[0], sizeof(hdr[0]), "Authorization: Basic dXNlcjpwYXNzd29yZA==");
	snprintf(hdr[1], sizeof(hdr[1]), "Authorization: Token %s", cust_token);
	snprintf(hdr[2], sizeof(hdr[2]), "Authorization: %s", cust_token);
	snprintf(hdr[3], sizeof(hdr[3]), "Authorization: Bearer %s", sub0);
	snprintf(hdr[4], sizeof(hdr[4]), "Authorization: Bearer %s.", cust_token);
	for (i = 0; i < 5; i++) {
		one[0] = hdr[i];
		me_with(one, &r);
		if (r.status != 401)
			fprintf(stderr, "%s -> %ld %s\n", hdr[i], r.status, r.body);
		it_refused(&r, 401, "unauthorized");
	}

	/* The neighbours that must work: the real token, with the scheme in another case. */
	snprintf(hdr[0], sizeof(hdr[0]), "Authorization: bearer %s", cust_token);
	one[0] = hdr[0];
	me_with(one, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(it_int(&r, "id"), cust_id);
	it_resp_free(&r);
}

/* Identity headers a client sends are never believed. */
static void
test_identity_headers_ignored(void **state)
{
	struct it_resp	 r;
	char		 auth[1200], uid[64], suid[64], xsuid[64];
	const char	*h[] = { auth, uid, "X-User-Role: admin", suid, xsuid,
			    "Shoplab-User-Role: admin", NULL };

	(void)state;
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", cust_token);
	snprintf(uid, sizeof(uid), "X-User-Id: %lld", (long long)admin_id);
	snprintf(suid, sizeof(suid), "Shoplab-User-Id: %lld", (long long)admin_id);
	snprintf(xsuid, sizeof(xsuid), "X-Shoplab-User-Id: %lld", (long long)admin_id);
	me_with(h, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(it_int(&r, "id"), cust_id);
	assert_string_equal(it_str(&r, "email"), cust_email);
	assert_string_equal(it_str(&r, "role"), "customer");
	it_resp_free(&r);

	/* Without a token, the headers alone are nobody. */
	me_with(h + 1, &r);
	it_refused(&r, 401, "unauthorized");

	/* Nor do they make a customer an admin elsewhere. */
	it_expect("POST", it_gateway(), "/api/v1/products", h,
	    "{\"sku\":\"IT-SPOOF\",\"name\":\"x\",\"price_cents\":1}", 403, "forbidden");
}

static void
post_product(const char *token, const char *sku, struct it_resp *r)
{
	char		 auth[1200], body[256];
	const char	*h[2] = { auth, NULL };

	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	snprintf(body, sizeof(body), "{\"sku\":\"%s\",\"name\":\"Integration teapot\","
	    "\"description\":\"made by test_users\",\"price_cents\":1234}", sku);
	assert_int_equal(it_request("POST", it_gateway(), "/api/v1/products",
	    token != NULL ? h : NULL, body, r), 0);
}

/* Creating a product: 401 without a token, 403 for a customer, 201 then 409 for the admin. */
static void
test_product_create_roles(void **state)
{
	struct it_resp	r;
	char		sku[80];

	(void)state;
	snprintf(sku, sizeof(sku), "IT-U-%s", uniq);
	post_product(NULL, sku, &r);
	it_refused(&r, 401, "unauthorized");

	post_product(cust_token, sku, &r);
	it_refused(&r, 403, "forbidden");

	post_product(admin_token, sku, &r);
	it_assert_status(&r, 201);
	assert_true(it_int(&r, "id") > 0);
	assert_string_equal(it_str(&r, "sku"), sku);
	assert_int_equal(it_int(&r, "price_cents"), 1234);
	it_resp_free(&r);

	post_product(admin_token, sku, &r);
	it_refused(&r, 409, "sku_taken");
	/* The customer's 403 came before the admin's create: it created nothing either way. */
	post_product(cust_token, sku, &r);
	it_refused(&r, 403, "forbidden");
}

/* Tokens forged with the gateway's secret pass (the verify path is the real one); others don't. */
static void
test_forged_tokens(void **state)
{
	struct it_resp	r;
	char		payload[512], good[1024], bad[1024], sku[80];

	(void)state;
	claims(payload, sizeof(payload), admin_id, "admin", -5, 600);
	forge(HS256, payload, EVP_sha256(), it_env("SHOPLAB_JWT_SECRET"), good);
	forge(HS256, payload, EVP_sha256(), OTHER_SECRET, bad);

	me(good, &r);
	it_assert_status(&r, 200);
	assert_int_equal(it_int(&r, "id"), admin_id);
	assert_string_equal(it_str(&r, "role"), "admin");
	it_resp_free(&r);
	me(bad, &r);
	it_refused(&r, 401, "unauthorized");

	/* The role in the token is what the catalog sees. */
	snprintf(sku, sizeof(sku), "IT-F-%s", uniq);
	post_product(bad, sku, &r);
	it_refused(&r, 401, "unauthorized");
	post_product(good, sku, &r);
	assert_int_equal(r.status, 201);
	it_resp_free(&r);

	/* A customer claim for the customer: /me answers from the account. */
	claims(payload, sizeof(payload), cust_id, "customer", -5, 600);
	forge(HS256, payload, EVP_sha256(), it_env("SHOPLAB_JWT_SECRET"), good);
	me(good, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(it_int(&r, "id"), cust_id);
	it_resp_free(&r);
}

/* The gateway may cache a verify answer: the same token twice, both answered right. */
static void
test_verify_cache(void **state)
{
	struct it_resp	r;
	char		token[1024], payload[512];
	int		i;

	(void)state;
	for (i = 0; i < 3; i++) {
		me(cust_token, &r);
		assert_int_equal(r.status, 200);
		assert_int_equal(it_int(&r, "id"), cust_id);
		it_resp_free(&r);
	}
	/* A cached answer for one token is never another token's. */
	me(admin_token, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(it_int(&r, "id"), admin_id);
	it_resp_free(&r);
	/* A token valid for two seconds: good now, refused once expired even after a hit. */
	claims(payload, sizeof(payload), cust_id, "customer", -5, 2);
	forge(HS256, payload, EVP_sha256(), it_env("SHOPLAB_JWT_SECRET"), token);
	me(token, &r);
	assert_int_equal(r.status, 200);
	it_resp_free(&r);
	me(token, &r);
	assert_int_equal(r.status, 200);
	it_resp_free(&r);
	sleep(3);
	me(token, &r);
	it_refused(&r, 401, "unauthorized");
}

/* SQL metacharacters and 10 kB strings in every field: refused or stored verbatim, never 5xx. */
static void
test_hostile_input(void **state)
{
	static const char *const nasty[] = {
		"' OR 1=1 --", "\"; DROP TABLE users; --", "\\",
	};
	struct it_resp	 r;
	char		 email[160], *big;
	const char	*fields[3];
	size_t		 i, f, bign = 10 * 1024;

	(void)state;
	big = malloc(bign + 1);
	assert_non_null(big);
	memset(big, 'A', bign);
	memcpy(big + 100, "'\"\\;--", 6);
	big[bign] = '\0';

	for (i = 0; i < sizeof(nasty) / sizeof(nasty[0]) + 1; i++) {
		const char *s = i < sizeof(nasty) / sizeof(nasty[0]) ? nasty[i] : big;

		for (f = 0; f < 3; f++) {
			snprintf(email, sizeof(email), "it.hostile.%zu.%zu.%s@users.example.com", i, f,
			    uniq);
			fields[0] = email;
			fields[1] = PASSWORD;
			fields[2] = "Hostile Input";
			fields[f] = s;
			register_user(fields[0], fields[1], fields[2], &r);
			assert_true(r.status < 500);
			if (f == 0 || s == big || (f == 1 && strlen(s) < 8)) {
				/* A bad address, an over-long field, a too-short password. */
				assert_field_error(&r, f == 0 ? "email" : f == 1 ? "password" :
				    "name");
			} else {
				/* A fine password or name: stored as given. */
				if (r.status != 201)
					fprintf(stderr, "register %s -> %ld %s\n", s, r.status, r.body);
				assert_int_equal(r.status, 201);
				assert_string_equal(it_str(&r, "email"), email);
				assert_string_equal(it_str(&r, "name"), fields[2]);
			}
			it_resp_free(&r);
		}
		/* Login: as the email, and as the customer's password. */
		login(s, PASSWORD, &r);
		assert_true(r.status < 500);
		if (s == big)
			assert_field_error(&r, "email");
		else
			it_refused(&r, 401, "invalid_credentials");
		login(cust_email, s, &r);
		assert_true(r.status < 500);
		if (s == big)
			assert_field_error(&r, "password");
		else
			it_refused(&r, 401, "invalid_credentials");
	}
	free(big);

	/* An account whose password is SQL logs in with exactly that, and nothing looser. */
	snprintf(email, sizeof(email), "it.hostile.0.1.%s@users.example.com", uniq);
	login(email, "' OR '1'='1", &r);
	it_refused(&r, 401, "invalid_credentials");
	login(email, "' OR 1=1 --", &r);
	assert_int_equal(r.status, 200);
	assert_non_null(it_str(&r, "token"));
	it_resp_free(&r);

	/* Still answering, the table still there, the customer still themselves. */
	me(cust_token, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(it_int(&r, "id"), cust_id);
	it_resp_free(&r);
	it_expect("GET", it_internal(), "/_ops/users/readyz", NULL, NULL, 200, NULL);
}

struct flood {
	int		sent, ok400, n429, n5xx, other, failed;
	struct it_resp	first429;
};

static void *
flood_one(void *arg)
{
	struct flood	*f = arg;
	struct it_resp	 r;
	int		 i;

	for (i = 0; i < 30; i++) {
		f->sent++;
		/* Invalid JSON: the service answers 400 without touching the KDF or the database. */
		if (it_request("POST", it_gateway(), "/api/v1/auth/login", NULL, "{", &r) != 0) {
			f->failed++;
			continue;
		}
		if (r.status == 429) {
			f->n429++;
			if (f->first429.body == NULL) {
				f->first429 = r;
				continue;
			}
		} else if (r.status >= 500)
			f->n5xx++;
		else if (r.status == 400)
			f->ok400++;
		else
			f->other++;
		it_resp_free(&r);
	}
	return NULL;
}

/* Last: it drains the login limit. Many fast logins from one client meet a JSON 429. */
static void
test_login_rate_limited(void **state)
{
	enum { N = 8 };
	struct flood	f[N], sum;
	int		i, checked = 0;

	(void)state;
	memset(f, 0, sizeof(f));
	memset(&sum, 0, sizeof(sum));
	it_parallel(flood_one, f, N, sizeof(f[0]));
	for (i = 0; i < N; i++) {
		sum.sent += f[i].sent;
		sum.ok400 += f[i].ok400;
		sum.n429 += f[i].n429;
		sum.n5xx += f[i].n5xx;
		sum.other += f[i].other;
		sum.failed += f[i].failed;
	}
	fprintf(stderr, "rate limit: %d sent, %d x 400, %d x 429, %d x 5xx, %d other, %d failed\n",
	    sum.sent, sum.ok400, sum.n429, sum.n5xx, sum.other, sum.failed);
	for (i = 0; i < N; i++) {
		if (f[i].first429.body != NULL) {
			if (!checked) {
				it_assert_error(&f[i].first429, 429, "rate_limited");
				checked = 1;
			}
			it_resp_free(&f[i].first429);
		}
	}
	assert_int_equal(sum.sent, N * 30);
	assert_int_equal(sum.failed, 0);
	assert_int_equal(sum.n5xx, 0);
	assert_int_equal(sum.other, 0);
	assert_true(sum.n429 >= 1);
	assert_true(checked);
}

/*
 * SHOPLAB_ADMIN_EMAIL naming an existing customer: users refuses to start, saying what to
 * do, and the account is untouched; with SHOPLAB_ADMIN_PROMOTE=1 it becomes admin and keeps
 * its own password.
 */
static void
test_admin_bootstrap_never_takes_over(void **state)
{
	struct it_resp	 r;
	struct st_mysql	*db;
	char		 email[128], run[256], probe[2048], body[512];
	int		 rc;

	(void)state;
	snprintf(email, sizeof(email), "boot-%s@example.com", uniq);
	register_user(email, PASSWORD, "Boot", &r);
	assert_int_equal(r.status, 201);
	it_resp_free(&r);
	snprintf(run, sizeof(run), "%s", it_env("SHOPLAB_RUN"));
	/* A second users process on a socket of its own, against the same database. */
	snprintf(probe, sizeof(probe), "cd %s && env SHOPLAB_USERS_LISTEN=unix:%s/probe-users.sock "
	    "SHOPLAB_ADMIN_EMAIL=%s SHOPLAB_ADMIN_PASSWORD=generated-pw-1234 SHOPLAB_KDF_COST=1 "
	    "timeout 4 %s/bin/users",
	    run, run, email, it_env("SHOPLAB_BUILD"));
	rc = it_sh("%s > %s/logs/probe-users.log 2>&1", probe, run);
	if (rc != 1)
		it_sh("cat %s/logs/probe-users.log >&2", run);
	assert_int_equal(rc, 1);
	assert_int_equal(it_sh("grep -q 'SHOPLAB_ADMIN_PROMOTE=1' %s/logs/probe-users.log", run), 0);
	assert_non_null(db = it_db("users"));
	assert_int_equal(it_db_int(db, "SELECT role = 'customer' FROM users WHERE email = '%s'", email), 1);
	/* Explicitly asked: promoted (timeout ends the running service: 124). */
	rc = it_sh("export SHOPLAB_ADMIN_PROMOTE=1; %s > %s/logs/probe-users.log 2>&1", probe, run);
	assert_int_equal(rc, 124);
	assert_int_equal(it_db_int(db, "SELECT role = 'admin' FROM users WHERE email = '%s'", email), 1);
	mysql_close(db);
	/* It keeps the password it chose, not the generated one. */
	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}", email, PASSWORD);
	it_expect("POST", it_gateway(), "/api/v1/auth/login", NULL, body, 200, NULL);
}

IT_MAIN("integration/users", group_setup, group_teardown,
    cmocka_unit_test(test_register_login_me),
    cmocka_unit_test(test_duplicate_email),
    cmocka_unit_test(test_registration_validation),
    cmocka_unit_test(test_login_failures_alike),
    cmocka_unit_test(test_me_needs_valid_token),
    cmocka_unit_test(test_identity_headers_ignored),
    cmocka_unit_test(test_product_create_roles),
    cmocka_unit_test(test_forged_tokens),
    cmocka_unit_test(test_verify_cache),
    cmocka_unit_test(test_hostile_input),
    /* Keep last: it drains the shared login/registration limit. */
    cmocka_unit_test(test_admin_bootstrap_never_takes_over),
    cmocka_unit_test(test_login_rate_limited))
