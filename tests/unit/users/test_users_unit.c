/* test_users_unit.c - the users service's pure parts: JWT sign/verify, email rules, UTF-8, KDF */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "svc_unit.h"
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "b64url_test.h"
#include "users.h"

#define SECRET		"unit-test-secret-0123456789abcdef"
#define NOW		((int64_t)1700000000)

/*
 * The expected tokens were computed independently of the service, with Python:
 *   h = b'{"alg":"HS256","typ":"JWT"}'; p = b'{"iss":"shoplab","sub":"42",...}'
 *   s = b64url(h) + "." + b64url(p); s + "." + b64url(hmac.new(SECRET, s, sha256).digest())
 */
#define TOKEN_42 \
	"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." \
	"eyJpc3MiOiJzaG9wbGFiIiwic3ViIjoiNDIiLCJyb2xlIjoiY3VzdG9tZXIiLCJpYXQiOjE3MDAwMDAwMDAsIm5i" \
	"ZiI6MTcwMDAwMDAwMCwiZXhwIjoxNzAwMDAzNjAwfQ." \
	"09E51KYc4EQ0EwQWUKJect9T9uEtAAJy0X9cTDnJy5c"
#define TOKEN_1 \
	"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." \
	"eyJpc3MiOiJzaG9wbGFiIiwic3ViIjoiMSIsInJvbGUiOiJhZG1pbiIsImlhdCI6MTAwMCwibmJmIjoxMDAwLCJl" \
	"eHAiOjIwMDB9." \
	"N8skZaPt6LowyvS9ISRyEZ49EA4MOPwiZNtPHnXe2wc"

#define HDR_HS256	"{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
/* A payload that is valid at NOW (exp NOW+3600, nbf NOW). */
#define GOOD_CLAIMS \
	"{\"iss\":\"shoplab\",\"sub\":\"7\",\"role\":\"customer\",\"iat\":1700000000," \
	"\"nbf\":1700000000,\"exp\":1700003600}"

/* ---- an independent token builder: base64url (b64url_test.h) and HMAC-SHA256 ---- */

/* Appends "." and the HMAC-SHA256 of what tok holds so far, under secret. */
static void
sign_raw(char *tok, const char *secret)
{
	unsigned char	mac[EVP_MAX_MD_SIZE];
	unsigned int	maclen = 0;
	size_t		len = strlen(tok);

	assert_non_null(HMAC(EVP_sha256(), secret, (int)strlen(secret),
	    (const unsigned char *)tok, len, mac, &maclen));
	assert_int_equal(maclen, 32);
	tok[len] = '.';
	b64url(mac, maclen, tok + len + 1);
}

/* tok = b64url(header) "." b64url(payload) "." HMAC under secret; tok holds 1024 bytes. */
static void
make_token(const char *header, const char *payload, const char *secret, char *tok)
{
	size_t n;

	b64url((const unsigned char *)header, strlen(header), tok);
	n = strlen(tok);
	tok[n] = '.';
	b64url((const unsigned char *)payload, strlen(payload), tok + n + 1);
	sign_raw(tok, secret);
}

static enum users_jwt_err
verify_at(const char *tok, int64_t now)
{
	struct users_claims c;
	enum users_jwt_err e;

	memset(&c, 0x5a, sizeof(c));
	e = users_jwt_verify(tok, SECRET, now, &c);
	if (e != USERS_JWT_OK) {
		/* No half-filled claims on failure. */
		assert_int_equal(c.sub, 0);
		assert_int_equal(c.exp, 0);
		assert_string_equal(c.role, "");
	}
	return e;
}

static enum users_jwt_err
verify_parts(const char *header, const char *payload)
{
	char tok[2048];

	make_token(header, payload, SECRET, tok);
	return verify_at(tok, NOW);
}

/* ---- users_jwt_sign ---- */

/* Claims with the rest zero, as the service fills them. */
static struct users_claims
claims_of(int64_t sub, const char *role, int64_t iat, int64_t nbf, int64_t exp)
{
	struct users_claims c;

	memset(&c, 0, sizeof(c));
	c.sub = sub;
	snprintf(c.role, sizeof(c.role), "%s", role);
	c.iat = iat;
	c.nbf = nbf;
	c.exp = exp;
	return c;
}

/* Claims and the token the service signs for them under SECRET. */
struct signed_tok {
	struct users_claims	c;
	char			tok[1024];
};

/* Signs s->c into s->tok; it must fit. */
static void
resign(struct signed_tok *s)
{
	assert_int_equal(users_jwt_sign(&s->c, SECRET, s->tok, sizeof(s->tok)), 0);
}

/* s gets these claims and their token. */
static void
sign_as(struct signed_tok *s, int64_t sub, const char *role, int64_t iat, int64_t nbf,
    int64_t exp)
{
	s->c = claims_of(sub, role, iat, nbf, exp);
	resign(s);
}

static void
test_jwt_sign_fixed_vectors(void **state)
{
	struct signed_tok s;

	(void)state;
	sign_as(&s, 42, "customer", 1700000000, 1700000000, 1700003600);
	assert_string_equal(s.tok, TOKEN_42);

	sign_as(&s, 1, "admin", 1000, 1000, 2000);
	assert_string_equal(s.tok, TOKEN_1);

	/* Another secret, another signature; same header and payload. */
	assert_int_equal(users_jwt_sign(&s.c, SECRET "x", s.tok, sizeof(s.tok)), 0);
	assert_string_not_equal(s.tok, TOKEN_1);
	assert_memory_equal(s.tok, TOKEN_1, strlen(TOKEN_1) - 43);
}

static void
test_jwt_sign_small_buffer(void **state)
{
	struct users_claims	c;
	char			tok[1024];
	size_t			len = strlen(TOKEN_42), n;

	(void)state;
	c = claims_of(42, "customer", 1700000000, 1700000000, 1700003600);
	/* No room for the terminating NUL, or far less: refused, never overrun. */
	for (n = 0; n <= len; n++) {
		memset(tok, 'Z', sizeof(tok));
		size_t k;

		assert_int_equal(users_jwt_sign(&c, SECRET, tok, n), -1);
		for (k = n; k < sizeof(tok); k++)
			assert_int_equal(tok[k], 'Z');
	}
	/* With a little slack it fits. */
	assert_int_equal(users_jwt_sign(&c, SECRET, tok, len + 8), 0);
	assert_string_equal(tok, TOKEN_42);
}

/* ---- users_jwt_verify ---- */

static void
test_jwt_verify_round_trip(void **state)
{
	struct users_claims	in, out;
	char			tok[1024];

	(void)state;
	memset(&in, 0, sizeof(in));
	in.sub = 9007199254740993LL;	/* more than a double holds exactly */
	snprintf(in.role, sizeof(in.role), "admin");
	in.iat = NOW - 5;
	in.nbf = NOW - 5;
	in.exp = NOW + 60;
	assert_int_equal(users_jwt_sign(&in, SECRET, tok, sizeof(tok)), 0);
	assert_int_equal(users_jwt_verify(tok, SECRET, NOW, &out), USERS_JWT_OK);
	assert_int_equal(out.sub, in.sub);
	assert_string_equal(out.role, "admin");
	assert_int_equal(out.iat, in.iat);
	assert_int_equal(out.nbf, in.nbf);
	assert_int_equal(out.exp, in.exp);

	/* The fixed vector verifies too, and a token of our own builder is accepted. */
	assert_int_equal(users_jwt_verify(TOKEN_42, SECRET, 1700000001, &out), USERS_JWT_OK);
	assert_int_equal(out.sub, 42);
	assert_string_equal(out.role, "customer");
	assert_int_equal(verify_parts(HDR_HS256, GOOD_CLAIMS), USERS_JWT_OK);
	/* typ is optional; nbf and iat are optional. */
	assert_int_equal(verify_parts("{\"alg\":\"HS256\"}", GOOD_CLAIMS), USERS_JWT_OK);
	assert_int_equal(verify_parts(HDR_HS256,
	    "{\"iss\":\"shoplab\",\"sub\":\"7\",\"role\":\"customer\",\"exp\":1700003600}"), USERS_JWT_OK);
	/* Under another secret: a bad signature. */
	assert_int_equal(users_jwt_verify(tok, SECRET "x", NOW, &out), USERS_JWT_SIGNATURE);
}

static void
test_jwt_verify_malformed(void **state)
{
	char		tok[2048], good[1024], hb[256], pb[512];
	const char	*dot;

	(void)state;
	make_token(HDR_HS256, GOOD_CLAIMS, SECRET, good);
	assert_int_equal(verify_at(good, NOW), USERS_JWT_OK);

	assert_int_equal(verify_at(NULL, NOW), USERS_JWT_MALFORMED);
	assert_int_equal(verify_at("", NOW), USERS_JWT_MALFORMED);
	assert_int_equal(verify_at("abc", NOW), USERS_JWT_MALFORMED);

	/* Two parts: the signature dropped. */
	dot = strrchr(good, '.');
	snprintf(tok, sizeof(tok), "%.*s", (int)(dot - good), good);
	assert_int_equal(verify_at(tok, NOW), USERS_JWT_MALFORMED);
	/* Four parts. */
	snprintf(tok, sizeof(tok), "%s.AAAA", good);
	assert_int_equal(verify_at(tok, NOW), USERS_JWT_MALFORMED);
	snprintf(tok, sizeof(tok), "%s.", good);
	assert_int_equal(verify_at(tok, NOW), USERS_JWT_MALFORMED);

	b64url((const unsigned char *)HDR_HS256, strlen(HDR_HS256), hb);
	b64url((const unsigned char *)GOOD_CLAIMS, strlen(GOOD_CLAIMS), pb);

	/* Bad base64 in the header (standard alphabet's '+', '/'; a stray '*'). */
	snprintf(tok, sizeof(tok), "+%s.%s", hb + 1, pb);
	sign_raw(tok, SECRET);
	assert_int_equal(verify_at(tok, NOW), USERS_JWT_MALFORMED);
	snprintf(tok, sizeof(tok), "%s.%s", hb, pb);
	tok[4] = '*';
	sign_raw(tok, SECRET);
	assert_int_equal(verify_at(tok, NOW), USERS_JWT_MALFORMED);
	/* Bad base64 in the payload, under a valid signature. */
	snprintf(tok, sizeof(tok), "%s.%s", hb, pb);
	tok[strlen(hb) + 3] = '/';
	sign_raw(tok, SECRET);
	assert_int_equal(verify_at(tok, NOW), USERS_JWT_MALFORMED);
	/* A length no base64 has (4k+1 characters). */
	snprintf(tok, sizeof(tok), "%s.%s", hb, pb);
	while ((strlen(tok) - strlen(hb) - 1) % 4 != 1)
		strcat(tok, "A");
	sign_raw(tok, SECRET);
	assert_int_equal(verify_at(tok, NOW), USERS_JWT_MALFORMED);

	/* Padding '=' (base64url in JWTs has none), in the header and in the payload. */
	snprintf(tok, sizeof(tok), "%s==.%s", hb, pb);
	sign_raw(tok, SECRET);
	assert_int_equal(verify_at(tok, NOW), USERS_JWT_MALFORMED);
	snprintf(tok, sizeof(tok), "%s.%s=", hb, pb);
	sign_raw(tok, SECRET);
	assert_int_equal(verify_at(tok, NOW), USERS_JWT_MALFORMED);
	/* ... and in the signature. */
	snprintf(tok, sizeof(tok), "%s=", good);
	assert_int_equal(verify_at(tok, NOW), USERS_JWT_SIGNATURE);

	/* A header whose last character has spare bits set: not the canonical encoding. */
	{
		static const char tab[] =
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
		/* 16 bytes: 22 characters, the last with 2 bits of data and 4 spare. */
		static const char hdr[] = "{\"alg\": \"HS256\"}";
		char	hb2[64];
		int	v;

		b64url((const unsigned char *)hdr, sizeof(hdr) - 1, hb2);
		assert_int_equal(strlen(hb2), 22);
		v = (int)(strchr(tab, hb2[21]) - tab);
		assert_int_equal(v & 15, 0);
		snprintf(tok, sizeof(tok), "%s.%s", hb2, pb);
		sign_raw(tok, SECRET);
		assert_int_equal(verify_at(tok, NOW), USERS_JWT_OK);
		hb2[21] = tab[v | 3];
		snprintf(tok, sizeof(tok), "%s.%s", hb2, pb);
		sign_raw(tok, SECRET);
		assert_int_equal(verify_at(tok, NOW), USERS_JWT_MALFORMED);
	}

	/* Empty parts. */
	snprintf(tok, sizeof(tok), ".%s", pb);
	sign_raw(tok, SECRET);
	assert_int_equal(verify_at(tok, NOW), USERS_JWT_MALFORMED);
	snprintf(tok, sizeof(tok), "%s.", hb);
	sign_raw(tok, SECRET);
	assert_int_equal(verify_at(tok, NOW), USERS_JWT_MALFORMED);

	/* Not JSON, in the header and (validly signed) in the payload. */
	assert_int_equal(verify_parts("not json at all", GOOD_CLAIMS), USERS_JWT_MALFORMED);
	assert_int_equal(verify_parts("{\"alg\":\"HS256\"", GOOD_CLAIMS), USERS_JWT_MALFORMED);
	assert_int_equal(verify_parts(HDR_HS256, "not json"), USERS_JWT_MALFORMED);
	assert_int_equal(verify_parts(HDR_HS256, "{\"sub\":"), USERS_JWT_MALFORMED);
	/* One JSON value per part, nothing after it. */
	assert_int_equal(verify_parts("{\"alg\":\"HS256\"} x", GOOD_CLAIMS), USERS_JWT_MALFORMED);
	assert_int_equal(verify_parts("{\"alg\":\"HS256\"}{\"x\":1}", GOOD_CLAIMS),
	    USERS_JWT_MALFORMED);
	assert_int_equal(verify_parts(HDR_HS256, GOOD_CLAIMS "[]"), USERS_JWT_MALFORMED);
	/* JSON, but not an object. */
	assert_int_equal(verify_parts("[\"HS256\"]", GOOD_CLAIMS), USERS_JWT_MALFORMED);
	assert_int_equal(verify_parts("\"HS256\"", GOOD_CLAIMS), USERS_JWT_MALFORMED);
	assert_int_equal(verify_parts(HDR_HS256, "[1,2,3]"), USERS_JWT_MALFORMED);
	assert_int_equal(verify_parts(HDR_HS256, "42"), USERS_JWT_MALFORMED);
	/* A NUL inside a part. */
	{
		static const unsigned char nul_hdr[] = "{\"alg\":\"HS256\"}\0x";

		b64url(nul_hdr, sizeof(nul_hdr) - 1, tok);
		snprintf(tok + strlen(tok), sizeof(tok) - strlen(tok), ".%s", pb);
		sign_raw(tok, SECRET);
		assert_int_equal(verify_at(tok, NOW), USERS_JWT_MALFORMED);
	}
	/* typ, when present, must be "JWT". */
	assert_int_equal(verify_parts("{\"alg\":\"HS256\",\"typ\":\"JWS\"}", GOOD_CLAIMS),
	    USERS_JWT_MALFORMED);
	assert_int_equal(verify_parts("{\"alg\":\"HS256\",\"typ\":1}", GOOD_CLAIMS),
	    USERS_JWT_MALFORMED);

	/* Longer than USERS_TOKEN_MAX. */
	{
		static char big[USERS_TOKEN_MAX + 64];

		memset(big, 'A', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		big[10] = '.';
		big[20] = '.';
		assert_int_equal(verify_at(big, NOW), USERS_JWT_MALFORMED);
	}
}

static void
test_jwt_verify_alg(void **state)
{
	char tok[2048], hb[256], pb[512];

	(void)state;
	assert_int_equal(verify_parts("{\"alg\":\"none\",\"typ\":\"JWT\"}", GOOD_CLAIMS),
	    USERS_JWT_ALG);
	assert_int_equal(verify_parts("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", GOOD_CLAIMS),
	    USERS_JWT_ALG);
	assert_int_equal(verify_parts("{\"alg\":\"RS256\"}", GOOD_CLAIMS), USERS_JWT_ALG);
	assert_int_equal(verify_parts("{\"alg\":\"hs256\"}", GOOD_CLAIMS), USERS_JWT_ALG);
	assert_int_equal(verify_parts("{\"alg\":\"HS256 \"}", GOOD_CLAIMS), USERS_JWT_ALG);
	assert_int_equal(verify_parts("{\"alg\":\"\"}", GOOD_CLAIMS), USERS_JWT_ALG);
	/* Missing alg. */
	assert_int_equal(verify_parts("{\"typ\":\"JWT\"}", GOOD_CLAIMS), USERS_JWT_ALG);
	assert_int_equal(verify_parts("{}", GOOD_CLAIMS), USERS_JWT_ALG);
	/* alg not a string. */
	assert_int_equal(verify_parts("{\"alg\":256}", GOOD_CLAIMS), USERS_JWT_ALG);
	assert_int_equal(verify_parts("{\"alg\":null}", GOOD_CLAIMS), USERS_JWT_ALG);
	assert_int_equal(verify_parts("{\"alg\":[\"HS256\"]}", GOOD_CLAIMS), USERS_JWT_ALG);
	assert_int_equal(verify_parts("{\"alg\":{\"HS256\":1}}", GOOD_CLAIMS), USERS_JWT_ALG);

	/* The classic alg-none token: an empty signature part. */
	b64url((const unsigned char *)"{\"alg\":\"none\"}", 14, hb);
	b64url((const unsigned char *)GOOD_CLAIMS, strlen(GOOD_CLAIMS), pb);
	snprintf(tok, sizeof(tok), "%s.%s.", hb, pb);
	assert_int_equal(verify_at(tok, NOW), USERS_JWT_ALG);
	/* An HS256 header with no signature is a bad signature, not a pass. */
	b64url((const unsigned char *)HDR_HS256, strlen(HDR_HS256), hb);
	snprintf(tok, sizeof(tok), "%s.%s.", hb, pb);
	assert_int_equal(verify_at(tok, NOW), USERS_JWT_SIGNATURE);
}

static void
test_jwt_verify_signature(void **state)
{
	char	tok[2048], *sig;
	size_t	i, n;

	(void)state;
	/* Every single-character change of the signature is caught. */
	make_token(HDR_HS256, GOOD_CLAIMS, SECRET, tok);
	sig = strrchr(tok, '.') + 1;
	n = strlen(sig);
	assert_int_equal(n, 43);
	for (i = 0; i < n; i++) {
		char was = sig[i];

		sig[i] = was == 'A' ? 'B' : 'A';
		assert_int_equal(verify_at(tok, NOW), USERS_JWT_SIGNATURE);
		sig[i] = was;
	}
	assert_int_equal(verify_at(tok, NOW), USERS_JWT_OK);
	/*
	 * One token, one encoding: the last of 43 characters carries 4 bits of the MAC and 2
	 * spare bits. Setting a spare bit decodes to the same MAC and must still be refused.
	 */
	{
		static const char tab[] =
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
		char	*last = &sig[n - 1];
		int	 v = (int)(strchr(tab, *last) - tab);

		assert_int_equal(v & 3, 0);
		*last = tab[v | 1];
		assert_int_equal(verify_at(tok, NOW), USERS_JWT_SIGNATURE);
		*last = tab[v | 2];
		assert_int_equal(verify_at(tok, NOW), USERS_JWT_SIGNATURE);
		*last = tab[v];
		assert_int_equal(verify_at(tok, NOW), USERS_JWT_OK);
	}
	/* Truncated or lengthened signatures. */
	sig[n - 1] = '\0';
	assert_int_equal(verify_at(tok, NOW), USERS_JWT_SIGNATURE);
	make_token(HDR_HS256, GOOD_CLAIMS, SECRET, tok);
	strcat(tok, "AAAA");
	assert_int_equal(verify_at(tok, NOW), USERS_JWT_SIGNATURE);
	/* A changed payload under the old signature. */
	make_token(HDR_HS256, GOOD_CLAIMS, SECRET, tok);
	sig = strchr(tok, '.') + 5;
	*sig = *sig == 'A' ? 'B' : 'A';
	assert_int_equal(verify_at(tok, NOW), USERS_JWT_SIGNATURE);
	/* Signed under another secret. */
	make_token(HDR_HS256, GOOD_CLAIMS, "another-secret-0123456789abcdefgh", tok);
	assert_int_equal(verify_at(tok, NOW), USERS_JWT_SIGNATURE);
	make_token(HDR_HS256, GOOD_CLAIMS, SECRET "!", tok);
	assert_int_equal(verify_at(tok, NOW), USERS_JWT_SIGNATURE);
}

static void
test_jwt_verify_times(void **state)
{
	struct signed_tok s;

	(void)state;
	sign_as(&s, 5, "customer", 100, 200, 300);
	/* exp is exclusive: now == exp has expired, exp - 1 has not. */
	assert_int_equal(verify_at(s.tok, 300), USERS_JWT_EXPIRED);
	assert_int_equal(verify_at(s.tok, 301), USERS_JWT_EXPIRED);
	assert_int_equal(verify_at(s.tok, 299), USERS_JWT_OK);
	/* nbf is inclusive: now == nbf is valid, nbf - 1 is not yet. */
	assert_int_equal(verify_at(s.tok, 200), USERS_JWT_OK);
	assert_int_equal(verify_at(s.tok, 199), USERS_JWT_NOT_YET);
	assert_int_equal(verify_at(s.tok, 0), USERS_JWT_NOT_YET);

	/* nbf = now + 1 at a fixed now. */
	s.c.nbf = NOW + 1;
	s.c.exp = NOW + 100;
	resign(&s);
	assert_int_equal(verify_at(s.tok, NOW), USERS_JWT_NOT_YET);
	assert_int_equal(verify_at(s.tok, NOW + 1), USERS_JWT_OK);
	s.c.nbf = NOW;
	resign(&s);
	assert_int_equal(verify_at(s.tok, NOW), USERS_JWT_OK);
	s.c.exp = NOW;
	resign(&s);
	assert_int_equal(verify_at(s.tok, NOW), USERS_JWT_EXPIRED);
	s.c.exp = NOW + 1;
	resign(&s);
	assert_int_equal(verify_at(s.tok, NOW), USERS_JWT_OK);
}

static void
test_jwt_verify_claims(void **state)
{
	static const char *const bad[] = {
		/* missing sub */
		"{\"iss\":\"shoplab\",\"role\":\"customer\",\"exp\":1700003600}",
		/* iss missing or not ours */
		"{\"sub\":\"7\",\"role\":\"customer\",\"exp\":1700003600}",
		"{\"iss\":\"other\",\"sub\":\"7\",\"role\":\"customer\",\"exp\":1700003600}",
		/* sub "0", negative, empty, leading zero, not digits, too big */
		"{\"iss\":\"shoplab\",\"sub\":\"0\",\"role\":\"customer\",\"exp\":1700003600}",
		"{\"iss\":\"shoplab\",\"sub\":\"-1\",\"role\":\"customer\",\"exp\":1700003600}",
		"{\"iss\":\"shoplab\",\"sub\":\"\",\"role\":\"customer\",\"exp\":1700003600}",
		"{\"iss\":\"shoplab\",\"sub\":\"07\",\"role\":\"customer\",\"exp\":1700003600}",
		"{\"iss\":\"shoplab\",\"sub\":\"7x\",\"role\":\"customer\",\"exp\":1700003600}",
		"{\"iss\":\"shoplab\",\"sub\":\"99999999999999999999\",\"role\":\"customer\",\"exp\":1700003600}",
		/* sub not a string */
		"{\"iss\":\"shoplab\",\"sub\":7,\"role\":\"customer\",\"exp\":1700003600}",
		"{\"iss\":\"shoplab\",\"sub\":null,\"role\":\"customer\",\"exp\":1700003600}",
		"{\"iss\":\"shoplab\",\"sub\":[\"7\"],\"role\":\"customer\",\"exp\":1700003600}",
		/* role not one of ours, missing, not a string */
		"{\"iss\":\"shoplab\",\"sub\":\"7\",\"role\":\"root\",\"exp\":1700003600}",
		"{\"iss\":\"shoplab\",\"sub\":\"7\",\"role\":\"Admin\",\"exp\":1700003600}",
		"{\"iss\":\"shoplab\",\"sub\":\"7\",\"role\":\"\",\"exp\":1700003600}",
		"{\"iss\":\"shoplab\",\"sub\":\"7\",\"exp\":1700003600}",
		"{\"iss\":\"shoplab\",\"sub\":\"7\",\"role\":1,\"exp\":1700003600}",
		/* exp missing or not an integer; nbf, iat not integers */
		"{\"iss\":\"shoplab\",\"sub\":\"7\",\"role\":\"customer\"}",
		"{\"iss\":\"shoplab\",\"sub\":\"7\",\"role\":\"customer\",\"exp\":\"1700003600\"}",
		"{\"iss\":\"shoplab\",\"sub\":\"7\",\"role\":\"customer\",\"exp\":1700003600.5}",
		"{\"iss\":\"shoplab\",\"sub\":\"7\",\"role\":\"customer\",\"exp\":null}",
		"{\"iss\":\"shoplab\",\"sub\":\"7\",\"role\":\"customer\",\"exp\":1700003600,\"nbf\":\"0\"}",
		"{\"iss\":\"shoplab\",\"sub\":\"7\",\"role\":\"customer\",\"exp\":1700003600,\"iat\":true}",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum users_jwt_err e = verify_parts(HDR_HS256, bad[i]);

		if (e != USERS_JWT_CLAIMS)
			fprintf(stderr, "claims %s -> %s\n", bad[i], users_jwt_strerror(e));
		assert_int_equal(e, USERS_JWT_CLAIMS);
	}
	/* The good neighbours of the cases above. */
	assert_int_equal(verify_parts(HDR_HS256,
	    "{\"iss\":\"shoplab\",\"sub\":\"9223372036854775807\",\"role\":\"admin\",\"exp\":1700003600}"),
	    USERS_JWT_OK);
	assert_int_equal(verify_parts(HDR_HS256,
	    "{\"iss\":\"shoplab\",\"sub\":\"1\",\"role\":\"customer\",\"exp\":1700003600,\"extra\":[1]}"),
	    USERS_JWT_OK);
}

static void
test_jwt_strerror(void **state)
{
	static const enum users_jwt_err all[] = {
		USERS_JWT_OK, USERS_JWT_MALFORMED, USERS_JWT_ALG, USERS_JWT_SIGNATURE,
		USERS_JWT_EXPIRED, USERS_JWT_NOT_YET, USERS_JWT_CLAIMS,
	};
	size_t i, j, n = sizeof(all) / sizeof(all[0]);

	(void)state;
	for (i = 0; i < n; i++) {
		assert_non_null(users_jwt_strerror(all[i]));
		assert_true(strlen(users_jwt_strerror(all[i])) > 0);
		for (j = 0; j < i; j++)
			assert_string_not_equal(users_jwt_strerror(all[i]),
			    users_jwt_strerror(all[j]));
	}
}

/* ---- users_email_normalize ---- */

static void
test_email_valid(void **state)
{
	static const struct {
		const char *in, *want;
	} ok[] = {
		{ "alice@example.com", "alice@example.com" },
		{ "  Alice.Smith+Tag@Example.COM \t", "alice.smith+tag@example.com" },
		{ "\tBOB@SUB.Example.Org", "bob@sub.example.org" },
		{ "a@b.c", "a@b.c" },
		{ "o'neil_x-y!#$%&*/=?^`{|}~@a-b.c0", "o'neil_x-y!#$%&*/=?^`{|}~@a-b.c0" },
		{ "x@1.2.3", "x@1.2.3" },
	};
	char	out[USERS_EMAIL_MAX + 1], in[400];
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		memset(out, 'Z', sizeof(out));
		if (users_email_normalize(ok[i].in, out, sizeof(out)) != 0)
			fprintf(stderr, "email rejected: \"%s\"\n", ok[i].in);
		assert_int_equal(users_email_normalize(ok[i].in, out, sizeof(out)), 0);
		assert_string_equal(out, ok[i].want);
	}
	/* The limits themselves: a 64-character local part, 254 characters in all. */
	memset(in, 'a', 64);
	snprintf(in + 64, sizeof(in) - 64, "@example.com");
	assert_int_equal(users_email_normalize(in, out, sizeof(out)), 0);
	assert_string_equal(out, in);
	/* 254: "a@", three 63-character labels and dots, then 60 */
	snprintf(in, sizeof(in), "a@%063d.%063d.%063d.%060d", 0, 0, 0, 0);
	assert_int_equal(strlen(in), 254);
	assert_int_equal(users_email_normalize(in, out, sizeof(out)), 0);
	assert_string_equal(out, in);
	/* Trimmed length is what counts. */
	snprintf(in, sizeof(in), "  a@%063d.%063d.%063d.%060d  ", 0, 0, 0, 0);
	assert_int_equal(users_email_normalize(in, out, sizeof(out)), 0);
	assert_int_equal(strlen(out), 254);
	/* The output buffer is respected. */
	assert_int_equal(users_email_normalize("alice@example.com", out, 18), 0);
	assert_int_equal(users_email_normalize("alice@example.com", out, 17), -1);
}

static void
test_email_invalid(void **state)
{
	static const char *const bad[] = {
		"", "   ", "a@", "@", "@b.c", "ab",
		"alice.example.com",			/* no @ */
		"alice@@example.com", "a@b@example.com",	/* two @ */
		".alice@example.com",			/* leading dot */
		"alice.@example.com",			/* dot before @ */
		"al..ice@example.com", "alice@example..com",	/* .. */
		"alice@localhost",			/* no dot in the domain */
		"alice@-example.com", "alice@example.-com",	/* label starting with '-' */
		"alice@example-.com",			/* label ending with '-' */
		"alice@.example.com", "alice@example.com.",	/* empty labels */
		"alice@exa_mple.com", "alice@exa+mple.com",	/* not [a-z0-9-] in the domain */
		"al ice@example.com", "alice@exa mple.com",	/* space inside */
		"al\tice@example.com", "alice\n@example.com", "alice@example.com\r",
		"al\x7f" "ice@example.com",		/* DEL */
		"al(ice)@example.com", "al\"ice@example.com", "al,ice@example.com",
		"al<ice>@example.com", "a\\b@example.com", "al:ice@example.com",
		"j\xc3\xb6rg@example.com", "jorg@ex\xc3\xa4mple.com",	/* non-ASCII */
		"alice@example.com\xe2\x80\x8b",		/* zero-width space */
	};
	char	out[USERS_EMAIL_MAX + 1], in[400];
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (users_email_normalize(bad[i], out, sizeof(out)) != -1)
			fprintf(stderr, "email accepted: \"%s\" -> \"%s\"\n", bad[i], out);
		assert_int_equal(users_email_normalize(bad[i], out, sizeof(out)), -1);
	}
	/* A 65-character local part. */
	memset(in, 'a', 65);
	snprintf(in + 65, sizeof(in) - 65, "@example.com");
	assert_int_equal(users_email_normalize(in, out, sizeof(out)), -1);
	/* 255 characters in all (each part within its own limit), even with room to spare. */
	snprintf(in, sizeof(in), "a@%063d.%063d.%063d.%061d", 0, 0, 0, 0);
	assert_int_equal(strlen(in), 255);
	assert_int_equal(users_email_normalize(in, out, sizeof(out)), -1);
	{
		char roomy[512];

		assert_int_equal(users_email_normalize(in, roomy, sizeof(roomy)), -1);
		in[254] = '\0';	/* 254: fine */
		assert_int_equal(users_email_normalize(in, roomy, sizeof(roomy)), 0);
	}
	/* A 64-character domain label. */
	snprintf(in, sizeof(in), "a@%064d.com", 0);
	assert_int_equal(users_email_normalize(in, out, sizeof(out)), -1);
	snprintf(in, sizeof(in), "a@%063d.com", 0);
	assert_int_equal(users_email_normalize(in, out, sizeof(out)), 0);
}

/* ---- users_utf8_len ---- */

static void
test_utf8_len(void **state)
{
	(void)state;
	assert_int_equal(users_utf8_len(""), 0);
	assert_int_equal(users_utf8_len("a"), 1);
	assert_int_equal(users_utf8_len("password"), 8);
	assert_int_equal(users_utf8_len("h\xc3\xa9llo"), 5);			/* é: 2 bytes */
	assert_int_equal(users_utf8_len("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"), 3);	/* 日本語 */
	assert_int_equal(users_utf8_len("\xf0\x9f\x98\x80"), 1);		/* 😀: 4 bytes */
	assert_int_equal(users_utf8_len("a\xf0\x9f\x98\x80" "b\xc3\xa9"), 4);
	/* Seven two-byte characters are seven, not fourteen. */
	assert_int_equal(users_utf8_len("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"),
	    7);
}

/* ---- password hashing ---- */

static void
test_password_hash(void **state)
{
	char h1[128], h2[128], small[16];

	(void)state;
	assert_int_equal(users_hash_password("correct horse battery", 1, h1, sizeof(h1)), 0);
	assert_memory_equal(h1, "$y$", 3);
	assert_true(strlen(h1) > 40);
	assert_int_equal(users_check_password("correct horse battery", h1), 1);
	assert_int_equal(users_check_password("correct horse batterY", h1), 0);
	assert_int_equal(users_check_password("correct horse battery ", h1), 0);
	assert_int_equal(users_check_password("", h1), 0);

	/* A fresh salt each time: same password, different hashes, both match. */
	assert_int_equal(users_hash_password("correct horse battery", 1, h2, sizeof(h2)), 0);
	assert_memory_equal(h2, "$y$", 3);
	assert_string_not_equal(h1, h2);
	assert_int_equal(users_check_password("correct horse battery", h2), 1);

	/* Non-ASCII and long passwords. */
	assert_int_equal(users_hash_password("p\xc3\xa4ssw\xc3\xb6rd", 1, h2, sizeof(h2)), 0);
	assert_int_equal(users_check_password("p\xc3\xa4ssw\xc3\xb6rd", h2), 1);
	assert_int_equal(users_check_password("passwrd", h2), 0);

	/* Garbage hashes never match. */
	assert_int_equal(users_check_password("x", "*0"), 0);
	assert_int_equal(users_check_password("x", ""), 0);
	assert_int_equal(users_check_password("x", "$y$"), 0);
	assert_int_equal(users_check_password("correct horse battery", "$y$j9T$garbage"), 0);

	/* Too small an output buffer is a failure, not a truncation. */
	assert_int_equal(users_hash_password("correct horse battery", 1, small, sizeof(small)),
	    -1);
}

SVC_UNIT_MAIN("users",
    cmocka_unit_test(test_jwt_sign_fixed_vectors),
    cmocka_unit_test(test_jwt_sign_small_buffer),
    cmocka_unit_test(test_jwt_verify_round_trip),
    cmocka_unit_test(test_jwt_verify_malformed),
    cmocka_unit_test(test_jwt_verify_alg),
    cmocka_unit_test(test_jwt_verify_signature),
    cmocka_unit_test(test_jwt_verify_times),
    cmocka_unit_test(test_jwt_verify_claims),
    cmocka_unit_test(test_jwt_strerror),
    cmocka_unit_test(test_email_valid),
    cmocka_unit_test(test_email_invalid),
    cmocka_unit_test(test_utf8_len),
    cmocka_unit_test(test_password_hash))
