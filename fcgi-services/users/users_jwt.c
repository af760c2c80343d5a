/* users_jwt.c - HS256 JSON Web Tokens: sign and verify with OpenSSL's HMAC, nothing else */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "users.h"

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Encodes n bytes without padding; returns the length written or -1 if out is too small. */
static int
users_b64url_encode(const unsigned char *in, size_t n, char *out, size_t outlen)
{
	size_t i, o = 0;

	if (n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0) + 1 > outlen)
		return -1;
	for (i = 0; i + 2 < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64url[v >> 18 & 63];
		out[o++] = b64url[v >> 12 & 63];
		out[o++] = b64url[v >> 6 & 63];
		out[o++] = b64url[v & 63];
	}
	if (n - i == 1) {
		unsigned v = (unsigned)in[i] << 16;
		out[o++] = b64url[v >> 18 & 63];
		out[o++] = b64url[v >> 12 & 63];
	} else if (n - i == 2) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
		out[o++] = b64url[v >> 18 & 63];
		out[o++] = b64url[v >> 12 & 63];
		out[o++] = b64url[v >> 6 & 63];
	}
	out[o] = '\0';
	return (int)o;
}

static int
users_b64url_val(int c)
{
	const char *p = c ? strchr(b64url, c) : NULL;

	return p ? (int)(p - b64url) : -1;
}

/* Decodes n characters (no padding allowed); returns the byte count or -1. */
static int
users_b64url_decode(const char *in, size_t n, unsigned char *out, size_t outlen)
{
	size_t		i, o = 0;
	unsigned	acc = 0;
	int		bits = 0, v;

	if (n % 4 == 1)
		return -1;
	for (i = 0; i < n; i++) {
		if ((v = users_b64url_val((unsigned char)in[i])) < 0)
			return -1;
		acc = acc << 6 | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= outlen)
				return -1;
			out[o++] = (unsigned char)(acc >> bits & 0xff);
		}
	}
	/* Leftover bits must be zero: one token, one encoding. */
	if ((acc & ((1u << bits) - 1)) != 0)
		return -1;
	return (int)o;
}

static int
users_hmac(const char *secret, const char *data, size_t len, unsigned char mac[32])
{
	unsigned int maclen = 0;

	if (HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)data, len,
	    mac, &maclen) == NULL || maclen != 32)
		return -1;
	return 0;
}

int
users_jwt_sign(const struct users_claims *c, const char *secret, char *out, size_t outlen)
{
	static const char	 header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	char			 payload[256];
	unsigned char		 mac[32];
	int			 n, o, p;

	n = snprintf(payload, sizeof(payload),
	    "{\"iss\":\"shoplab\",\"sub\":\"%lld\",\"role\":\"%s\",\"iat\":%lld,\"nbf\":%lld,"
	    "\"exp\":%lld}", (long long)c->sub, c->role, (long long)c->iat, (long long)c->nbf,
	    (long long)c->exp);
	if (n < 0 || (size_t)n >= sizeof(payload))
		return -1;
	if ((o = users_b64url_encode((const unsigned char *)header, sizeof(header) - 1, out,
	    outlen)) < 0 || (size_t)o + 2 > outlen)
		return -1;
	out[o++] = '.';
	if ((p = users_b64url_encode((const unsigned char *)payload, (size_t)n, out + o,
	    outlen - (size_t)o)) < 0)
		return -1;
	o += p;
	if (users_hmac(secret, out, (size_t)o, mac) == -1 || (size_t)o + 2 > outlen)
		return -1;
	out[o++] = '.';
	if (users_b64url_encode(mac, sizeof(mac), out + o, outlen - (size_t)o) < 0)
		return -1;
	return 0;
}

/* Decodes one base64url part that must hold a JSON object; the caller puts it. */
static json_object *
users_jwt_part(const char *s, size_t n)
{
	unsigned char		 buf[USERS_TOKEN_MAX];
	struct json_tokener	*tok;
	json_object		*o;
	int			 len;

	if ((len = users_b64url_decode(s, n, buf, sizeof(buf) - 1)) <= 0)
		return NULL;
	buf[len] = '\0';
	if (strlen((char *)buf) != (size_t)len)
		return NULL;
	/* One JSON object and nothing after it. */
	if ((tok = json_tokener_new()) == NULL)
		return NULL;
	o = json_tokener_parse_ex(tok, (char *)buf, len);
	if (o != NULL && (json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != (size_t)len ||
	    !json_object_is_type(o, json_type_object))) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

static int
users_claim_int(json_object *p, const char *name, int required, int64_t *out)
{
	json_object *v;

	if (!json_object_object_get_ex(p, name, &v))
		return required ? -1 : 0;
	if (!json_object_is_type(v, json_type_int))
		return -1;
	*out = json_object_get_int64(v);
	return 0;
}

enum users_jwt_err
users_jwt_verify(const char *token, const char *secret, int64_t now, struct users_claims *c)
{
	const char		*dot1, *dot2, *s;
	json_object		*h = NULL, *p = NULL, *v;
	unsigned char		 mac[32], got[33];
	enum users_jwt_err	 rc = USERS_JWT_MALFORMED;
	size_t			 len;

	memset(c, 0, sizeof(*c));
	if (token == NULL || (len = strlen(token)) == 0 || len > USERS_TOKEN_MAX)
		return USERS_JWT_MALFORMED;
	if ((dot1 = strchr(token, '.')) == NULL || (dot2 = strchr(dot1 + 1, '.')) == NULL ||
	    strchr(dot2 + 1, '.') != NULL)
		return USERS_JWT_MALFORMED;
	if ((h = users_jwt_part(token, (size_t)(dot1 - token))) == NULL)
		goto out;
	/* The algorithm is ours to choose, never the token's: HS256 or nothing. */
	rc = USERS_JWT_ALG;
	if (!json_object_object_get_ex(h, "alg", &v) || !json_object_is_type(v, json_type_string) ||
	    strcmp(json_object_get_string(v), "HS256") != 0)
		goto out;
	if (json_object_object_get_ex(h, "typ", &v) && (!json_object_is_type(v, json_type_string) ||
	    strcmp(json_object_get_string(v), "JWT") != 0)) {
		rc = USERS_JWT_MALFORMED;
		goto out;
	}
	rc = USERS_JWT_SIGNATURE;
	if (users_hmac(secret, token, (size_t)(dot2 - token), mac) == -1 ||
	    users_b64url_decode(dot2 + 1, strlen(dot2 + 1), got, sizeof(got)) != 32 ||
	    CRYPTO_memcmp(mac, got, 32) != 0)
		goto out;
	rc = USERS_JWT_MALFORMED;
	if ((p = users_jwt_part(dot1 + 1, (size_t)(dot2 - dot1 - 1))) == NULL)
		goto out;
	rc = USERS_JWT_CLAIMS;
	if (!json_object_object_get_ex(p, "iss", &v) || !json_object_is_type(v, json_type_string) ||
	    strcmp(json_object_get_string(v), "shoplab") != 0)
		goto out;
	if (!json_object_object_get_ex(p, "sub", &v) || !json_object_is_type(v, json_type_string) ||
	    svc_parse_id(json_object_get_string(v), &c->sub) == -1)
		goto out;
	if (!json_object_object_get_ex(p, "role", &v) || !json_object_is_type(v, json_type_string))
		goto out;
	s = json_object_get_string(v);
	if (strcmp(s, "customer") != 0 && strcmp(s, "admin") != 0)
		goto out;
	snprintf(c->role, sizeof(c->role), "%s", s);
	if (users_claim_int(p, "exp", 1, &c->exp) == -1 ||
	    users_claim_int(p, "nbf", 0, &c->nbf) == -1 ||
	    users_claim_int(p, "iat", 0, &c->iat) == -1)
		goto out;
	rc = USERS_JWT_EXPIRED;
	if (now >= c->exp)
		goto out;
	rc = USERS_JWT_NOT_YET;
	if (now < c->nbf)
		goto out;
	rc = USERS_JWT_OK;
out:
	json_object_put(h);
	json_object_put(p);
	if (rc != USERS_JWT_OK)
		memset(c, 0, sizeof(*c));
	return rc;
}

const char *
users_jwt_strerror(enum users_jwt_err e)
{
	switch (e) {
	case USERS_JWT_OK:		return "ok";
	case USERS_JWT_MALFORMED:	return "malformed token";
	case USERS_JWT_ALG:		return "algorithm not accepted";
	case USERS_JWT_SIGNATURE:	return "bad signature";
	case USERS_JWT_EXPIRED:		return "token expired";
	case USERS_JWT_NOT_YET:		return "token not yet valid";
	case USERS_JWT_CLAIMS:		return "bad claims";
	}
	return "invalid token";
}
