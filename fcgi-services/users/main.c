/* main.c - the users service: registration, login, the caller's account, token checks */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "users.h"

static const struct svc_route users_routes[] = {
	{ "POST", "/api/v1/users",	users_register },
	{ "POST", "/api/v1/auth/login",	users_login },
	{ "GET",  "/api/v1/users/me",	users_me },
	/* nginx's auth subrequest keeps the method of the request it guards. */
	{ "*",    "/auth/verify",	users_verify },
};

#define USERS_OFF(f) offsetof(struct users_state, f)

static const struct svc_conf_def users_conf[] = {
	{ "SHOPLAB_JWT_SECRET",		SVC_CONF_STR, NULL,   0, USERS_SECRET_MAX, USERS_OFF(jwt_secret) },
	{ "SHOPLAB_TOKEN_TTL",		SVC_CONF_INT, "3600", 60, 86400 * 30,	USERS_OFF(token_ttl) },
	{ "SHOPLAB_VERIFY_CACHE",	SVC_CONF_INT, "30",   0, 3600,		USERS_OFF(verify_cache) },
	{ "SHOPLAB_KDF_COST",		SVC_CONF_INT, "5",    1, 11,		USERS_OFF(kdf_cost) },
	{ "SHOPLAB_ADMIN_EMAIL",	SVC_CONF_STR, "",     0, 1024,		USERS_OFF(admin_email) },
	{ "SHOPLAB_ADMIN_PASSWORD",	SVC_CONF_STR, "",     0, USERS_PASSWORD_MAX, USERS_OFF(admin_password) },
	{ "SHOPLAB_LOGIN_FAILURES",	SVC_CONF_INT, "10",   1, USERS_LIMIT_MAX,	USERS_OFF(login_failures) },
	{ "SHOPLAB_LOGIN_WINDOW",	SVC_CONF_INT, "60",   1, 3600,		USERS_OFF(login_window) },
	{ "SHOPLAB_ADMIN_PROMOTE",	SVC_CONF_BOOL, "off", 0, 0,		USERS_OFF(admin_promote) },
};

static int
users_init(void *state)
{
	struct users_state *st = state;

	if (strlen(st->jwt_secret) < 32) {
		fprintf(stderr, "users: SHOPLAB_JWT_SECRET must be at least 32 bytes\n");
		return -1;
	}
	if (users_hash_password("not a real password", st->kdf_cost, st->dummy_hash,
	    sizeof(st->dummy_hash)) == -1) {
		fprintf(stderr, "users: the KDF is not available\n");
		return -1;
	}
	if (users_limit_init(&st->limiter, st->login_failures, st->login_window) == -1) {
		fprintf(stderr, "users: cannot set up the per-account login limit\n");
		return -1;
	}
	return 0;
}

static void
users_fini(void *state)
{
	struct users_state *st = state;

	users_limit_free(&st->limiter);
}

static const struct svc_service users_service = {
	.name = "users",
	SVC_ARRAY(routes, users_routes),
	SVC_ARRAY(stmts, users_stmts),
	SVC_ARRAY(conf, users_conf),
	.init = users_init,
	.fini = users_fini,
	.startup = users_startup,
	.state_size = sizeof(struct users_state),
};

SVC_MAIN(users_service)
