/* svc_req.c - request accessors, query and body input, and every kind of response */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svc_internal.h"

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
	return r->srv->svc->state;
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
	s = svc_req_param(r, "SHOPLAB_USER_ID");
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
	s = svc_req_param(r, "SHOPLAB_USER_ROLE");
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

/* URL-decodes src[0..n) into out; returns -1 when it does not fit or is malformed. */
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
				return -1;
			hi = svc_hexval((unsigned char)src[i + 1]);
			lo = svc_hexval((unsigned char)src[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = hi * 16 + lo;
			i += 2;
		}
		if (c == '\0' || o + 1 >= outlen)
			return -1;
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
			if (svc_urldecode(eq + 1, (size_t)(amp - eq - 1), out, outlen) == -1)
				return -1;
			return 1;
		}
		q = *amp ? amp + 1 : amp;
	}
	return 0;
}

static const char *
svc_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 402: return "Payment Required";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default:  return "Unknown";
	}
}

int
svc_reply_header(struct svc_req *r, const char *name, const char *value)
{
	/* Refuse anything that could split the header block. */
	if (strpbrk(name, "\r\n:") != NULL || strpbrk(value, "\r\n") != NULL)
		return SVC_ERR_INTERNAL;
	if (svc_buf_printf(&r->headers, "%s: %s\r\n", name, value) == -1)
		return SVC_ERR_NOMEM;
	return SVC_OK;
}

int
svc_reply_raw(struct svc_req *r, int status, const char *ctype, const char *body, size_t len)
{
	char	head[512];
	int	n;

	if (r->status != 0)
		return SVC_ERR_INTERNAL;
	r->status = status;
	n = snprintf(head, sizeof(head),
	    "Status: %d %s\r\nX-Request-Id: %s\r\n%s%s%sContent-Length: %zu\r\n",
	    status, svc_reason(status), r->rid,
	    ctype ? "Content-Type: " : "", ctype ? ctype : "", ctype ? "\r\n" : "", len);
	if (n < 0 || (size_t)n >= sizeof(head))
		return SVC_ERR_INTERNAL;
	if (r->fcgx == NULL || r->fcgx->out == NULL) {
		if (r->capture != NULL) {
			svc_buf_append(r->capture, head, (size_t)n);
			svc_buf_append(r->capture, r->headers.data ? r->headers.data : "",
			    r->headers.len);
			svc_buf_append(r->capture, "\r\n", 2);
			svc_buf_append(r->capture, body, len);
		}
		return SVC_OK;
	}
	FCGX_PutStr(head, n, r->fcgx->out);
	if (r->headers.len > 0)
		FCGX_PutStr(r->headers.data, (int)r->headers.len, r->fcgx->out);
	FCGX_PutStr("\r\n", 2, r->fcgx->out);
	if (len > 0 && strcmp(r->method, "HEAD") != 0)
		FCGX_PutStr(body, (int)len, r->fcgx->out);
	return SVC_OK;
}

int
svc_reply_empty(struct svc_req *r, int status)
{
	return svc_reply_raw(r, status, NULL, NULL, 0);
}

int
svc_reply_json(struct svc_req *r, int status, json_object *obj)
{
	const char	*s;
	size_t		 len;
	int		 rc;

	if (obj == NULL)
		return svc_reply_err(r, SVC_ERR_NOMEM);
	s = json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	rc = s == NULL ? SVC_ERR_NOMEM :
	    svc_reply_raw(r, status, "application/json", s, len);
	json_object_put(obj);
	return rc;
}

/* The contract's error shape; field names the offending input when there is one. */
static int
svc_reply_verror(struct svc_req *r, int status, const char *code, const char *field,
    const char *fmt, va_list ap)
{
	char		 msg[256];
	json_object	*root = NULL, *err = NULL;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if ((root = json_object_new_object()) == NULL ||
	    (err = json_object_new_object()) == NULL)
		goto fallback;
	json_object_object_add(err, "code", json_object_new_string(code));
	json_object_object_add(err, "message", json_object_new_string(msg));
	if (field != NULL)
		json_object_object_add(err, "field", json_object_new_string(field));
	json_object_object_add(err, "request_id", json_object_new_string(r->rid));
	json_object_object_add(root, "error", err);
	svc_reply_json(r, status, root);
	return SVC_ERR_REPLIED;
fallback:
	json_object_put(err);
	json_object_put(root);
	svc_reply_raw(r, 500, "application/json",
	    "{\"error\":{\"code\":\"internal_error\",\"message\":\"out of memory\"}}", 61);
	return SVC_ERR_REPLIED;
}

int
svc_reply_error(struct svc_req *r, int status, const char *code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	svc_reply_verror(r, status, code, NULL, fmt, ap);
	va_end(ap);
	return SVC_ERR_REPLIED;
}

int
svc_reply_field_error(struct svc_req *r, const char *field, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	svc_reply_verror(r, 400, "validation_failed", field, fmt, ap);
	va_end(ap);
	return SVC_ERR_REPLIED;
}

int
svc_reply_err(struct svc_req *r, enum svc_err err)
{
	static const char *const msgs[] = {
		[SVC_ERR_INVALID]	 = "the request is not valid",
		[SVC_ERR_NOT_FOUND]	 = "not found",
		[SVC_ERR_CONFLICT]	 = "conflicts with the current state",
		[SVC_ERR_TOO_LARGE]	 = "the request body is too large",
		[SVC_ERR_DB_UNAVAILABLE] = "the database cannot be reached; try again later",
		[SVC_ERR_DB_RETRY]	 = "the database is busy; try again",
		[SVC_ERR_UNAVAILABLE]	 = "a dependency is unavailable; try again later",
		[SVC_ERR_TIMEOUT]	 = "the request ran out of time",
		[SVC_ERR_NOMEM]		 = "out of memory",
		[SVC_ERR_INTERNAL]	 = "internal error",
	};
	const char *msg;

	if (err == SVC_ERR_REPLIED || r->status != 0)
		return SVC_ERR_REPLIED;
	msg = (size_t)err < sizeof(msgs) / sizeof(msgs[0]) && msgs[err] ? msgs[err] : "error";
	if (err == SVC_ERR_DB_UNAVAILABLE || err == SVC_ERR_DB_RETRY ||
	    err == SVC_ERR_UNAVAILABLE)
		svc_reply_header(r, "Retry-After", "1");
	return svc_reply_error(r, svc_err_status(err), svc_err_name(err), "%s", msg);
}

int
svc_req_body(struct svc_req *r, const char **body, size_t *len)
{
	struct svc_worker	*w = r->w;
	const char		*cl = svc_req_param(r, "CONTENT_LENGTH");
	long long		 n = 0;
	size_t			 got = 0;
	int			 k;

	if (cl != NULL && cl[0] != '\0' &&
	    svc_conf_parse_ll(cl, 0, (long long)1 << 40, &n) == -1)
		return svc_reply_error(r, 400, "bad_request", "Content-Length is not valid");
	if (n > r->srv->cfg.max_body)
		return svc_reply_error(r, 413, "payload_too_large",
		    "the request body is larger than %lld bytes", r->srv->cfg.max_body);
	if ((size_t)n + 1 > w->bodycap) {
		char *p = realloc(w->body, (size_t)n + 1);
		if (p == NULL)
			return svc_reply_err(r, SVC_ERR_NOMEM);
		w->body = p;
		w->bodycap = (size_t)n + 1;
	}
	while (got < (size_t)n) {
		k = FCGX_GetStr(w->body + got, (int)((size_t)n - got), r->fcgx->in);
		if (k <= 0)
			return svc_reply_error(r, 400, "bad_request",
			    "the request body ended early");
		got += (size_t)k;
	}
	w->body[got] = '\0';
	*body = w->body;
	*len = got;
	return SVC_OK;
}

static void
svc_json_put(void *p)
{
	json_object_put(p);
}

int
svc_json_parse_or_reply(struct svc_req *r, const char *body, size_t len, json_object **out)
{
	struct json_tokener	*tok;
	json_object		*obj = NULL;
	size_t			 end;

	*out = NULL;
	if ((tok = json_tokener_new_ex(32)) == NULL)
		return svc_reply_err(r, SVC_ERR_NOMEM);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	if (len > 0)
		obj = json_tokener_parse_ex(tok, body, (int)len);
	if (obj == NULL || json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(obj);
		obj = NULL;
		goto bad;
	}
	for (end = json_tokener_get_parse_end(tok); end < len; end++)
		if (!isspace((unsigned char)body[end])) {
			json_object_put(obj);
			obj = NULL;
			goto bad;
		}
	json_tokener_free(tok);
	if (!json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		return svc_reply_error(r, 400, "invalid_json", "the body must be a JSON object");
	}
	if (svc_req_defer(r, svc_json_put, obj) == -1) {
		json_object_put(obj);
		return svc_reply_err(r, SVC_ERR_INTERNAL);
	}
	*out = obj;
	return SVC_OK;
bad:
	json_tokener_free(tok);
	return svc_reply_error(r, 400, "invalid_json", "the body is not valid JSON");
}

int
svc_body_json_or_reply(struct svc_req *r, json_object **out)
{
	const char	*ctype = svc_req_param(r, "CONTENT_TYPE");
	const char	*body;
	size_t		 len;
	int		 rc;

	*out = NULL;
	if (ctype == NULL || strncasecmp(ctype, "application/json", 16) != 0 ||
	    (ctype[16] != '\0' && ctype[16] != ';' && ctype[16] != ' '))
		return svc_reply_error(r, 415, "unsupported_media_type",
		    "send the body as application/json");
	if ((rc = svc_req_body(r, &body, &len)) != SVC_OK)
		return rc;
	return svc_json_parse_or_reply(r, body, len, out);
}

int
svc_json_str_or_reply(struct svc_req *r, json_object *obj, const char *field,
    size_t minlen, size_t maxlen, int required, const char **out)
{
	json_object	*v;
	const char	*s;
	size_t		 len;

	*out = NULL;
	if (!json_object_object_get_ex(obj, field, &v) || json_object_is_type(v, json_type_null)) {
		if (!required)
			return SVC_OK;
		return svc_reply_field_error(r, field, "%s is required", field);
	}
	if (!json_object_is_type(v, json_type_string))
		return svc_reply_field_error(r, field, "%s must be a string", field);
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (strlen(s) != len)
		return svc_reply_field_error(r, field, "%s must not contain NUL", field);
	if (len < minlen || len > maxlen)
		return svc_reply_field_error(r, field, "%s must be %zu to %zu bytes long",
		    field, minlen, maxlen);
	*out = s;
	return SVC_OK;
}

int
svc_json_int_or_reply(struct svc_req *r, json_object *obj, const char *field,
    int64_t min, int64_t max, int required, int64_t *out)
{
	json_object	*v;
	int64_t		 n;

	if (!json_object_object_get_ex(obj, field, &v) || json_object_is_type(v, json_type_null)) {
		if (!required)
			return SVC_OK;
		return svc_reply_field_error(r, field, "%s is required", field);
	}
	if (!json_object_is_type(v, json_type_int))
		return svc_reply_field_error(r, field, "%s must be an integer", field);
	n = json_object_get_int64(v);
	/* json-c saturates out-of-range numbers; treat the saturated edges as out of range. */
	if (n == INT64_MAX || n == INT64_MIN || n < min || n > max)
		return svc_reply_field_error(r, field, "%s must be between %lld and %lld",
		    field, (long long)min, (long long)max);
	*out = n;
	return SVC_OK;
}

int
svc_json_obj_or_reply(struct svc_req *r, json_object *obj, const char *field,
    json_type type, json_object **out)
{
	json_object *v;

	*out = NULL;
	if (!json_object_object_get_ex(obj, field, &v) || json_object_is_type(v, json_type_null))
		return svc_reply_field_error(r, field, "%s is required", field);
	if (!json_object_is_type(v, type))
		return svc_reply_field_error(r, field, "%s must be %s %s", field,
		    type == json_type_array ? "an" : "a", json_type_to_name(type));
	*out = v;
	return SVC_OK;
}

int
svc_path_id_or_reply(struct svc_req *r, const char *name, const char *what, int64_t *out)
{
	const char *s = svc_req_path_arg(r, name);

	if (s == NULL || svc_parse_id(s, out) == -1)
		return svc_reply_error(r, 404, "not_found", "no %s with that id", what);
	return SVC_OK;
}

int
svc_query_int_or_reply(struct svc_req *r, const char *name, int64_t min, int64_t max,
    int64_t def, int64_t *out)
{
	char		 buf[32];
	long long	 v;
	int		 rc = svc_req_query(r, name, buf, sizeof(buf));

	if (rc == 0) {
		*out = def;
		return SVC_OK;
	}
	if (rc == -1 || svc_conf_parse_ll(buf, min, max, &v) == -1)
		return svc_reply_field_error(r, name, "%s must be an integer between %lld and %lld",
		    name, (long long)min, (long long)max);
	*out = v;
	return SVC_OK;
}

int
svc_call(struct svc_req *r, const char *dep, const char *method, const char *path,
    const char *body, const char *idempotency_key, int idempotent, struct svc_dep_result *res)
{
	struct svc_http_call	 call;
	struct svc_dep		*d;

	if ((d = svc_dep_find(r->srv->deps, r->srv->ndeps, dep)) == NULL || r->w == NULL) {
		svc_log(r, "error", "svc_call: %s is not a dependency of this service", dep);
		return SVC_ERR_INTERNAL;
	}
	memset(&call, 0, sizeof(call));
	call.method = method;
	call.base_url = r->srv->cfg.gateway_internal;
	call.path = path;
	call.body = body;
	call.request_id = r->rid;
	call.service_token = r->srv->cfg.service_token[0] ? r->srv->cfg.service_token : NULL;
	call.idempotency_key = idempotency_key;
	call.idempotent = idempotent;
	call.deadline_us = r->deadline_us;
	if (svc_dep_call(d, &r->w->caller, &call, res) != 0)
		return SVC_ERR_INTERNAL;
	return SVC_OK;
}
