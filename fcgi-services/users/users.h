/* users.h - the users service: accounts, password hashing, signed tokens and their check */
#ifndef USERS_H
#define USERS_H

#include <pthread.h>
#include <stdint.h>

#include "svc.h"

enum users_stmt {
	USERS_INSERT,
	USERS_BY_EMAIL,
	USERS_BY_ID,
	USERS_ADMIN_INSERT,
	USERS_ADMIN_PROMOTE,
	USERS_NSTMTS
};

extern const char *const users_stmts[USERS_NSTMTS];

#define USERS_EMAIL_MAX		254
#define USERS_NAME_MAX		100
#define USERS_PASSWORD_MIN	8	/* characters */
#define USERS_PASSWORD_MAX	256	/* bytes: bounds the work a login can ask of the KDF */
#define USERS_TOKEN_MAX		4096
#define USERS_SECRET_MAX	256

#define USERS_LIMIT_MAX		32	/* most failures a window may allow */

/* One account's last failed logins (a ring of `failures` times, in microseconds). */
struct users_limit_slot {
	uint64_t	key;		/* keyed hash of the email; 0: free */
	unsigned	head;		/* oldest entry once full */
	unsigned	n;
	int64_t		t[USERS_LIMIT_MAX];
};

/*
 * Failed logins per account, over a sliding window: the one mutable part of the users
 * state, shared by every worker behind its lock.
 */
struct users_limiter {
	pthread_mutex_t		 lock;
	struct users_limit_slot	*slots;
	unsigned		 failures;	/* allowed per window */
	int64_t			 window_us;
	unsigned char		 key[32];
};

int  users_limit_init(struct users_limiter *l, long long failures, long long window_s);
void users_limit_free(struct users_limiter *l);
/* Seconds until email may try again (0: now); attempts while limited are not counted. */
long long users_limit_check(struct users_limiter *l, const char *email, int64_t now);
void users_limit_fail(struct users_limiter *l, const char *email, int64_t now);
void users_limit_clear(struct users_limiter *l, const char *email);

/* The service's own state: read once at start, then read-only (but the limiter). */
struct users_state {
	char		*jwt_secret;
	long long	 token_ttl;	/* seconds */
	long long	 verify_cache;	/* seconds the gateway may cache a verify answer */
	long long	 kdf_cost;	/* yescrypt cost factor */
	char		*admin_email;
	char		*admin_password;
	int		 admin_promote;	/* SHOPLAB_ADMIN_PROMOTE: may make an existing customer admin */
	char		 dummy_hash[128];	/* verified against when the email is unknown */
	long long	 login_failures;	/* SHOPLAB_LOGIN_FAILURES per account per window */
	long long	 login_window;		/* SHOPLAB_LOGIN_WINDOW, seconds */
	struct users_limiter limiter;
};

int users_register(struct svc_req *r);
int users_me(struct svc_req *r);
int users_login(struct svc_req *r);
int users_verify(struct svc_req *r);
int users_startup(struct svc_req *r);

/* Lower-cases and trims email into out; -1 when it is not a plausible address. */
int users_email_normalize(const char *email, char *out, size_t outlen);
/* Number of UTF-8 characters in s (its bytes are valid UTF-8: json-c checked them). */
size_t users_utf8_len(const char *s);

/* Hashes password with yescrypt at cost into out; -1 on failure. */
int users_hash_password(const char *password, long long cost, char *out, size_t outlen);
/* 1 when password matches hash, 0 when not (constant-time compare). */
int users_check_password(const char *password, const char *hash);

/* A token's claims. */
struct users_claims {
	int64_t	sub;
	char	role[16];
	int64_t	iat;
	int64_t	nbf;
	int64_t	exp;
};

/* Signs claims as an HS256 JWT into out; -1 if it does not fit. */
int users_jwt_sign(const struct users_claims *c, const char *secret, char *out,
	size_t outlen);

enum users_jwt_err {
	USERS_JWT_OK = 0,
	USERS_JWT_MALFORMED,	/* not three base64url parts of JSON */
	USERS_JWT_ALG,		/* alg is not HS256 (none included) */
	USERS_JWT_SIGNATURE,	/* wrong signature */
	USERS_JWT_EXPIRED,	/* now >= exp */
	USERS_JWT_NOT_YET,	/* now < nbf */
	USERS_JWT_CLAIMS,	/* sub, role or exp missing or of the wrong type */
};

/* Verifies token at time now (Unix seconds); fills c on success. */
enum users_jwt_err users_jwt_verify(const char *token, const char *secret, int64_t now,
	struct users_claims *c);
const char *users_jwt_strerror(enum users_jwt_err e);

#endif /* USERS_H */
