/* svc_util.c - error mapping, clocks, ids and hashing shared by the runtime */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "svc_util_int.h"

static const struct {
	int		 status;
	const char	*code;
} svc_errs[] = {
	[SVC_OK]		= { 200, "ok" },
	[SVC_ERR_INVALID]	= { 400, "validation_failed" },
	[SVC_ERR_NOT_FOUND]	= { 404, "not_found" },
	[SVC_ERR_CONFLICT]	= { 409, "conflict" },
	[SVC_ERR_TOO_LARGE]	= { 413, "payload_too_large" },
	[SVC_ERR_DB_UNAVAILABLE] = { 503, "database_unavailable" },
	[SVC_ERR_DB_RETRY]	= { 503, "database_busy" },
	[SVC_ERR_UNAVAILABLE]	= { 503, "service_unavailable" },
	[SVC_ERR_TIMEOUT]	= { 504, "deadline_exceeded" },
	[SVC_ERR_NOMEM]		= { 500, "internal_error" },
	[SVC_ERR_INTERNAL]	= { 500, "internal_error" },
	[SVC_ERR_REPLIED]	= { 500, "internal_error" },
};

int
svc_err_status(enum svc_err err)
{
	if ((size_t)err >= SVC_NELEM(svc_errs))
		return 500;
	return svc_errs[err].status;
}

const char *
svc_err_name(enum svc_err err)
{
	if ((size_t)err >= SVC_NELEM(svc_errs))
		return "internal_error";
	return svc_errs[err].code;
}

size_t
svc_fmt_ll(char b[SVC_LL_DIGITS], long long v)
{
	size_t			 i = SVC_LL_DIGITS;
	unsigned long long	 u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

	do {
		b[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u > 0);
	if (v < 0)
		b[--i] = '-';
	return i;
}

int64_t
svc_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
svc_wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t
svc_clock_system_now(void *ctx)
{
	(void)ctx;
	return svc_now_us();
}

const struct svc_clock svc_clock_system = { svc_clock_system_now, NULL };

int
svc_parse_id(const char *s, int64_t *out)
{
	int64_t	 v = 0;
	size_t	 i;

	if (s == NULL || s[0] < '1' || s[0] > '9')
		return -1;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (INT64_MAX - (s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/*
 * The SHA-256 implementation, fetched once by the first hash and read-only after that (the
 * only process-wide state here, set under pthread_once). It is never freed: it lives as
 * long as the library that provides it.
 */
static pthread_once_t	 svc_sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD		*svc_sha256_md;

static void
svc_sha256_fetch(void)
{
	svc_sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void
svc_sha256_hex(const void *data, size_t len, char out[65])
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 md[SHA256_DIGEST_LENGTH];
	size_t			 i;

	/* SHA256() looks the algorithm up by name on every call (OpenSSL 3): a third of a
	 * product read went there. Fetched once; without it, the slow way. */
	pthread_once(&svc_sha256_once, svc_sha256_fetch);
	if (svc_sha256_md == NULL || EVP_Digest(data, len, md, NULL, svc_sha256_md, NULL) != 1)
		SHA256(data, len, md);
	for (i = 0; i < SHA256_DIGEST_LENGTH; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[64] = '\0';
}
