/* svc_reply.c - every kind of response, and the contract's error shape */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svc_req_int.h"
#include "svc_server_int.h"
#include "svc_util_int.h"

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

/* The CGI response head: Status, X-Request-Id, Content-Type, Content-Length, the handler's
 * headers and the blank line, appended to out without stdio. */
static void
svc_reply_head(struct svc_req *r, struct svc_buf *out, int status, const char *ctype, size_t len)
{
	char	num[24];
	size_t	i = sizeof(num) - 2;

	num[0] = (char)('0' + status / 100);
	num[1] = (char)('0' + status / 10 % 10);
	num[2] = (char)('0' + status % 10);
	num[3] = ' ';
	svc_buf_append(out, "Status: ", 8);
	svc_buf_append(out, num, 4);
	svc_buf_puts(out, svc_reason(status));
	svc_buf_append(out, "\r\nX-Request-Id: ", 16);
	svc_buf_puts(out, r->rid);
	if (ctype != NULL) {
		svc_buf_append(out, "\r\nContent-Type: ", 16);
		svc_buf_puts(out, ctype);
	}
	svc_buf_append(out, "\r\nContent-Length: ", 18);
	num[sizeof(num) - 2] = '\r';
	num[sizeof(num) - 1] = '\n';
	do {
		num[--i] = (char)('0' + len % 10);
		len /= 10;
	} while (len > 0);
	svc_buf_append(out, num + i, sizeof(num) - i);
	if (r->headers.len > 0)
		svc_buf_append(out, r->headers.data, r->headers.len);
	svc_buf_append(out, "\r\n", 2);
}

int
svc_reply_raw(struct svc_req *r, int status, const char *ctype, const char *body, size_t len)
{
	struct svc_buf	*head;

	if (r->status != 0 || status < 100 || status > 999)
		return SVC_ERR_INTERNAL;
	r->status = status;
	if (r->fcgx == NULL || r->fcgx->out == NULL) {
		if (r->capture != NULL) {
			svc_reply_head(r, r->capture, status, ctype, len);
			svc_buf_append(r->capture, body, len);
		}
		return SVC_OK;
	}
	/* The head in one piece, then the body: two copies into libfcgi's stream buffer. */
	head = &r->w->head;
	svc_buf_reset(head);
	svc_reply_head(r, head, status, ctype, len);
	if (head->failed)
		return SVC_ERR_NOMEM;
	if (FCGX_PutStr(head->data, (int)head->len, r->fcgx->out) != (int)head->len ||
	    (len > 0 && strcmp(r->method, "HEAD") != 0 &&
	    FCGX_PutStr(body, (int)len, r->fcgx->out) != (int)len))
		return SVC_ERR_INTERNAL;	/* the connection is gone: nobody to tell */
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
	msg = (size_t)err < SVC_NELEM(msgs) && msgs[err] ? msgs[err] : "error";
	if (err == SVC_ERR_DB_UNAVAILABLE || err == SVC_ERR_DB_RETRY ||
	    err == SVC_ERR_UNAVAILABLE)
		svc_reply_header(r, "Retry-After", "1");
	return svc_reply_error(r, svc_err_status(err), svc_err_name(err), "%s", msg);
}

int
svc_json_append_str(struct svc_buf *out, const char *s, size_t len)
{
	static const char	 hex[] = "0123456789abcdef";
	size_t			 i, run = 0;
	char			 esc[6];

	svc_buf_append(out, "\"", 1);
	for (i = 0; i < len; i++) {
		unsigned char	c = (unsigned char)s[i];
		size_t		n = 2;

		switch (c) {
		case '\b': esc[1] = 'b'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		case '\f': esc[1] = 'f'; break;
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		default:
			if (c >= 0x20)
				continue;	/* part of the run copied as it is */
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 0xf];
			n = 6;
		}
		esc[0] = '\\';
		svc_buf_append(out, s + run, i - run);
		svc_buf_append(out, esc, n);
		run = i + 1;
	}
	svc_buf_append(out, s + run, len - run);
	svc_buf_append(out, "\"", 1);
	return out->failed ? -1 : 0;
}

int
svc_buf_append_ll(struct svc_buf *out, long long v)
{
	char	b[SVC_LL_DIGITS];
	size_t	i = svc_fmt_ll(b, v);

	return svc_buf_append(out, b + i, sizeof(b) - i);
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
