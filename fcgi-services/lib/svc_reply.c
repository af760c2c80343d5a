/* svc_reply.c - every kind of response, and the contract's error shape */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svc_internal.h"

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
svc_json_add(json_object *o, const char *key, json_object *v)
{
	if (v == NULL)
		return -1;
	if (o == NULL || json_object_object_add(o, key, v) != 0) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

int
svc_json_push(json_object *a, json_object *v)
{
	if (v == NULL)
		return -1;
	if (a == NULL || json_object_array_add(a, v) != 0) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

json_object *
svc_json_checked(json_object *o, int bad)
{
	if (!bad)
		return o;
	json_object_put(o);
	return NULL;
}
