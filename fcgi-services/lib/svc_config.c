/* svc_config.c - settings from the environment: a table of definitions, parsed once at start */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "svc_conf_int.h"

int
svc_conf_parse_bool(const char *s, int *out)
{
	static const char *const yes[] = { "1", "on", "true", "yes" };
	static const char *const no[] = { "0", "off", "false", "no" };
	size_t i;

	for (i = 0; i < SVC_NELEM(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

int
svc_conf_set_bool(const char *v, const char *used, void *field, char *err, size_t errlen)
{
	int b;

	if (svc_conf_parse_bool(v, &b) == -1) {
		snprintf(err, errlen, "%s=\"%.40s\": want on or off", used, v);
		return -1;
	}
	memcpy(field, &b, sizeof(b));
	return 0;
}

int
svc_conf_parse_ll(const char *s, long long min, long long max, long long *out)
{
	char		*end;
	long long	 v;

	if (*s == '\0' || isspace((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/*
 * Resolves a definition's variable name: "{SVC}" is replaced by the upper-cased scope;
 * a name without it is looked up first as SHOPLAB_<SCOPE>_<rest>, then as itself.
 */
static const char *
svc_conf_lookup(const char *name, const char *scope, char *used, size_t usedlen)
{
	char		 up[64];
	const char	*mark, *v;
	size_t		 i;

	for (i = 0; scope != NULL && scope[i] != '\0' && i < sizeof(up) - 1; i++)
		up[i] = (char)toupper((unsigned char)scope[i]);
	up[i] = '\0';

	if ((mark = strstr(name, "{SVC}")) != NULL) {
		snprintf(used, usedlen, "%.*s%s%s", (int)(mark - name), name, up, mark + 5);
		return getenv(used);
	}
	if (scope != NULL && strncmp(name, "SHOPLAB_", 8) == 0) {
		snprintf(used, usedlen, "SHOPLAB_%s_%s", up, name + 8);
		if ((v = getenv(used)) != NULL)
			return v;
	}
	snprintf(used, usedlen, "%s", name);
	return getenv(used);
}

int
svc_conf_load(const struct svc_conf_def *defs, size_t n, void *target, char *err,
    size_t errlen)
{
	return svc_conf_load_scoped(defs, n, NULL, target, err, errlen);
}

int
svc_conf_load_scoped(const struct svc_conf_def *defs, size_t n, const char *scope,
    void *target, char *err, size_t errlen)
{
	char		 used[128];
	const char	*v;
	long long	 ll;
	size_t		 i;
	char		*s;

	for (i = 0; i < n; i++) {
		const struct svc_conf_def *d = &defs[i];
		char *field = (char *)target + d->offset;

		v = svc_conf_lookup(d->name, scope, used, sizeof(used));
		if (v == NULL)
			v = d->def;
		if (v == NULL) {
			snprintf(err, errlen, "%s is required", used);
			return -1;
		}
		switch (d->type) {
		case SVC_CONF_INT:
			if (svc_conf_parse_ll(v, d->min, d->max, &ll) == -1) {
				snprintf(err, errlen, "%s=\"%.40s\": want an integer in %lld..%lld",
				    used, v, d->min, d->max);
				return -1;
			}
			memcpy(field, &ll, sizeof(ll));
			break;
		case SVC_CONF_BOOL:
			if (svc_conf_set_bool(v, used, field, err, errlen) == -1)
				return -1;
			break;
		case SVC_CONF_STR:
			if ((long long)strlen(v) > d->max) {
				snprintf(err, errlen, "%s: longer than %lld bytes", used, d->max);
				return -1;
			}
			if ((s = strdup(v)) == NULL) {
				snprintf(err, errlen, "%s: out of memory", used);
				return -1;
			}
			free(*(char **)(void *)field);
			memcpy(field, &s, sizeof(s));
			break;
		}
	}
	return 0;
}

#define SVC_CONF_OFF(f) offsetof(struct svc_config, f)

static const struct svc_conf_def svc_runtime_defs[] = {
	{ "SHOPLAB_LISTEN",		SVC_CONF_STR,  "127.0.0.1:9100", 0, 255, SVC_CONF_OFF(listen) },
	{ "SHOPLAB_THREADS",		SVC_CONF_INT,  "16",	1, 1024,	SVC_CONF_OFF(threads) },
	{ "SHOPLAB_BACKLOG",		SVC_CONF_INT,  "1024",	1, 65535,	SVC_CONF_OFF(backlog) },
	{ "SHOPLAB_MAX_BODY",		SVC_CONF_INT,  "65536",	64, 16777216,	SVC_CONF_OFF(max_body) },
	{ "SHOPLAB_SHUTDOWN_GRACE_MS",	SVC_CONF_INT,  "5000",	0, 600000,	SVC_CONF_OFF(shutdown_grace_ms) },
	{ "SHOPLAB_DB_HOST",		SVC_CONF_STR,  "127.0.0.1", 0, 255,	SVC_CONF_OFF(db_host) },
	{ "SHOPLAB_DB_PORT",		SVC_CONF_INT,  "3307",	1, 65535,	SVC_CONF_OFF(db_port) },
	{ "SHOPLAB_DB_HOSTS",		SVC_CONF_STR,  "",	0, 2047,	SVC_CONF_OFF(db_hosts) },
	{ "SHOPLAB_DB_SOCKET",		SVC_CONF_STR,  "",	0, 255,		SVC_CONF_OFF(db_socket) },
	{ "SHOPLAB_DB_{SVC}_NAME",	SVC_CONF_STR,  "",	0, 64,		SVC_CONF_OFF(db_name) },
	{ "SHOPLAB_DB_{SVC}_USER",	SVC_CONF_STR,  "",	0, 80,		SVC_CONF_OFF(db_user) },
	{ "SHOPLAB_DB_{SVC}_PASSWORD",	SVC_CONF_STR,  "",	0, 255,		SVC_CONF_OFF(db_password) },
	{ "SHOPLAB_DB_CONNECT_TIMEOUT",	SVC_CONF_INT,  "2",	1, 60,		SVC_CONF_OFF(db_connect_timeout) },
	{ "SHOPLAB_DB_RW_TIMEOUT",	SVC_CONF_INT,  "5",	1, 600,		SVC_CONF_OFF(db_rw_timeout) },
	{ "SHOPLAB_DB_TLS_CA",		SVC_CONF_STR,  "",	0, 255,		SVC_CONF_OFF(db_tls_ca) },
	{ "SHOPLAB_LOG_REQUESTS",	SVC_CONF_BOOL, "on",	0, 0,		SVC_CONF_OFF(log_requests) },
	{ "SHOPLAB_LOG_FLUSH_MS",	SVC_CONF_INT,  "200",	0, 10000,	SVC_CONF_OFF(log_flush_ms) },
	{ "SHOPLAB_GATEWAY_INTERNAL",	SVC_CONF_STR,  "http://127.0.0.1:8081", 0, 255, SVC_CONF_OFF(gateway_internal) },
	{ "SHOPLAB_SERVICE_TOKEN",	SVC_CONF_STR,  "",	0, 255,		SVC_CONF_OFF(service_token) },
	{ "SHOPLAB_REQUEST_DEADLINE_MS", SVC_CONF_INT, "10000",	1, 600000,	SVC_CONF_OFF(request_deadline_ms) },
	{ "SHOPLAB_GATEWAY_SECRET",	SVC_CONF_STR,  "",	0, 255,		SVC_CONF_OFF(gateway_secret) },
};

int
svc_config_load(struct svc_config *cfg, const char *service, char *err, size_t errlen)
{
	memset(cfg, 0, sizeof(*cfg));
	if (svc_conf_load_scoped(svc_runtime_defs, SVC_NELEM(svc_runtime_defs), service, cfg,
	    err, errlen) == -1)
		return -1;
	/* A TCP listener is reachable by any local process: the gateway must prove itself. */
	if (strncmp(cfg->listen, "unix:", 5) != 0 && strlen(cfg->gateway_secret) < 32) {
		snprintf(err, errlen, "SHOPLAB_GATEWAY_SECRET (32 bytes or more) is required when "
		    "SHOPLAB_LISTEN=%.100s is TCP; or listen on unix:/path", cfg->listen);
		return -1;
	}
	if (cfg->gateway_secret[0] != '\0' && strlen(cfg->gateway_secret) < 32) {
		snprintf(err, errlen, "SHOPLAB_GATEWAY_SECRET must be at least 32 bytes");
		return -1;
	}
	/* A CA that cannot be read would fail every connection later, as "database down". */
	if (cfg->db_tls_ca[0] != '\0' && access(cfg->db_tls_ca, R_OK) != 0) {
		snprintf(err, errlen, "SHOPLAB_DB_TLS_CA=%.200s: %s", cfg->db_tls_ca, strerror(errno));
		return -1;
	}
	if (cfg->db_name[0] == '\0') {
		free(cfg->db_name);
		if ((cfg->db_name = strdup(service)) == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	return 0;
}

void
svc_conf_free(const struct svc_conf_def *defs, size_t n, void *target)
{
	char	*s;
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (defs[i].type != SVC_CONF_STR)
			continue;
		memcpy(&s, (char *)target + defs[i].offset, sizeof(s));
		if (s != NULL)
			explicit_bzero(s, strlen(s));
		free(s);
		s = NULL;
		memcpy((char *)target + defs[i].offset, &s, sizeof(s));
	}
}

void
svc_config_free(struct svc_config *cfg)
{
	svc_conf_free(svc_runtime_defs, SVC_NELEM(svc_runtime_defs), cfg);
	memset(cfg, 0, sizeof(*cfg));
}
