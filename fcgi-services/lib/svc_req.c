/* svc_req.c - a request as a handler sees it: accessors, identity, path and query arguments */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svc_conf_int.h"
#include "svc_req_int.h"
#include "svc_server_int.h"

const char *
svc_req_method(const struct svc_req *r)
{
	return r->method;
}

const char *
svc_req_path(const struct svc_req *r)
{
	return r->path;
}

const char *
svc_req_id(const struct svc_req *r)
{
	return r->rid;
}

void *
svc_req_state(const struct svc_req *r)
{
	return r->srv->state;
}

const struct svc_config *
svc_req_config(const struct svc_req *r)
{
	return &r->srv->cfg;
}

int64_t
svc_req_deadline_us(const struct svc_req *r)
{
	return r->deadline_us;
}

int
svc_req_stopping(const struct svc_req *r)
{
	return atomic_load(&r->srv->stopping);
}

const char *
svc_req_param(const struct svc_req *r, const char *name)
{
	if (r->fcgx == NULL || r->fcgx->envp == NULL)
		return NULL;
	return FCGX_GetParam(name, r->fcgx->envp);
}

static const struct {
	const char	*name;
	size_t		 len;
} svc_rparams[SVC_NRPARAMS] = {
#define P(k, s) [k] = { s, sizeof(s) - 1 }
	P(SVC_P_METHOD,		"REQUEST_METHOD"),
	P(SVC_P_SHOPLAB_PATH,	"SHOPLAB_PATH"),
	P(SVC_P_DOCUMENT_URI,	"DOCUMENT_URI"),
	P(SVC_P_SCRIPT_NAME,	"SCRIPT_NAME"),
	P(SVC_P_QUERY,		"QUERY_STRING"),
	P(SVC_P_REQUEST_ID,	"REQUEST_ID"),
	P(SVC_P_X_REQUEST_ID,	"HTTP_X_REQUEST_ID"),
	P(SVC_P_X_DEADLINE_MS,	"HTTP_X_DEADLINE_MS"),
	P(SVC_P_GATEWAY_SECRET,	"SHOPLAB_GATEWAY_SECRET"),
	P(SVC_P_USER_ID,	"SHOPLAB_USER_ID"),
	P(SVC_P_USER_ROLE,	"SHOPLAB_USER_ROLE"),
	P(SVC_P_CONTENT_LENGTH,	"CONTENT_LENGTH"),
	P(SVC_P_CONTENT_TYPE,	"CONTENT_TYPE"),
#undef P
};

void
svc_req_scan_params(struct svc_req *r)
{
	char		**e;
	const char	 *eq;
	size_t		  k, len;

	memset(r->rparam, 0, sizeof(r->rparam));
	r->scanned = r->fcgx != NULL && r->fcgx->envp != NULL;
	for (e = r->scanned ? r->fcgx->envp : NULL; e != NULL && *e != NULL; e++) {
		if ((eq = strchr(*e, '=')) == NULL)
			continue;
		len = (size_t)(eq - *e);
		/* The length first: most params are none of ours. */
		for (k = 0; k < SVC_NRPARAMS; k++)
			if (len == svc_rparams[k].len && memcmp(*e, svc_rparams[k].name, len) == 0) {
				/* As FCGX_GetParam: the first of a repeated name wins. */
				if (r->rparam[k] == NULL)
					r->rparam[k] = eq + 1;
				break;
			}
	}
}

const char *
svc_req_rparam(const struct svc_req *r, enum svc_rparam which)
{
	if (r->scanned)
		return r->rparam[which];
	return svc_req_param(r, svc_rparams[which].name);
}

const char *
svc_req_header(const struct svc_req *r, const char *name)
{
	char	 key[128];
	size_t	 i;

	if (strlen(name) > sizeof(key) - 6)
		return NULL;
	memcpy(key, "HTTP_", 5);
	for (i = 0; name[i] != '\0'; i++)
		key[5 + i] = name[i] == '-' ? '_' : (char)toupper((unsigned char)name[i]);
	key[5 + i] = '\0';
	return svc_req_param(r, key);
}

const char *
svc_req_path_arg(const struct svc_req *r, const char *name)
{
	size_t i, len = strlen(name);

	for (i = 0; i < r->match.nargs; i++)
		if (r->match.args[i].namelen == len &&
		    memcmp(r->match.args[i].name, name, len) == 0)
			return r->match.args[i].value;
	return NULL;
}

int64_t
svc_req_user_id(const struct svc_req *r)
{
	const char	*s;
	int64_t		 id;

	if (r->untrusted)
		return 0;
	s = svc_req_rparam(r, SVC_P_USER_ID);
	if (s == NULL || svc_parse_id(s, &id) == -1)
		return 0;
	return id;
}

const char *
svc_req_user_role(const struct svc_req *r)
{
	const char *s;

	if (r->untrusted)
		return NULL;
	s = svc_req_rparam(r, SVC_P_USER_ROLE);
	return s != NULL && s[0] != '\0' ? s : NULL;
}

int
svc_req_id_sane(const char *s)
{
	size_t i;

	if (s == NULL)
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (i >= SVC_RID_MAX || !(isalnum((unsigned char)s[i]) || s[i] == '-' ||
		    s[i] == '_' || s[i] == '.'))
			return 0;
	return i > 0;
}

int
svc_req_defer(struct svc_req *r, void (*fn)(void *), void *arg)
{
	if (r->ndefer == SVC_MAX_DEFER)
		return -1;
	r->defer[r->ndefer].fn = fn;
	r->defer[r->ndefer].arg = arg;
	r->ndefer++;
	return 0;
}

void
svc_req_run_deferred(struct svc_req *r)
{
	while (r->ndefer > 0) {
		r->ndefer--;
		r->defer[r->ndefer].fn(r->defer[r->ndefer].arg);
	}
}

static int
svc_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * URL-decodes src[0..n) into out; returns 0, or SVC_QUERY_TOO_LONG when it does not fit,
 * SVC_QUERY_NUL for a NUL byte (%00), SVC_QUERY_BAD_ESCAPE for a malformed %-escape.
 */
static int
svc_urldecode(const char *src, size_t n, char *out, size_t outlen)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		int c = (unsigned char)src[i];

		if (c == '+')
			c = ' ';
		else if (c == '%') {
			int hi, lo;
			if (i + 2 >= n)
				return SVC_QUERY_BAD_ESCAPE;
			hi = svc_hexval((unsigned char)src[i + 1]);
			lo = svc_hexval((unsigned char)src[i + 2]);
			if (hi < 0 || lo < 0)
				return SVC_QUERY_BAD_ESCAPE;
			c = hi * 16 + lo;
			i += 2;
		}
		if (c == '\0')
			return SVC_QUERY_NUL;
		if (o + 1 >= outlen)
			return SVC_QUERY_TOO_LONG;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

int
svc_req_query(const struct svc_req *r, const char *name, char *out, size_t outlen)
{
	const char	*q = r->query, *amp, *eq;
	size_t		 namelen = strlen(name);

	while (q != NULL && *q != '\0') {
		amp = strchr(q, '&');
		if (amp == NULL)
			amp = q + strlen(q);
		eq = memchr(q, '=', (size_t)(amp - q));
		if (eq == NULL)
			eq = amp;
		if ((size_t)(eq - q) == namelen && memcmp(q, name, namelen) == 0) {
			if (eq == amp) {
				out[0] = '\0';
				return 1;
			}
			int rc = svc_urldecode(eq + 1, (size_t)(amp - eq - 1), out, outlen);

			return rc < 0 ? rc : 1;
		}
		q = *amp ? amp + 1 : amp;
	}
	return 0;
}
