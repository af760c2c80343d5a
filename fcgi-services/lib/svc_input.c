/* svc_input.c - request bodies and JSON input checked field by field (*_or_reply) */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svc_conf_int.h"
#include "svc_req_int.h"
#include "svc_server_int.h"

int
svc_req_body(struct svc_req *r, const char **body, size_t *len)
{
	struct svc_worker	*w = r->w;
	const char		*cl = svc_req_rparam(r, SVC_P_CONTENT_LENGTH);
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
	const char	*ctype = svc_req_rparam(r, SVC_P_CONTENT_TYPE);
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

/*
 * The member field of obj, of type (what: "a string"), in *v: SVC_OK, *v NULL when it is
 * absent or null and not required; else the 400 is sent.
 */
static int
svc_json_member_or_reply(struct svc_req *r, json_object *obj, const char *field,
    json_type type, const char *what, int required, json_object **v)
{
	if (!json_object_object_get_ex(obj, field, v) || json_object_is_type(*v, json_type_null)) {
		*v = NULL;
		return required ? svc_reply_field_error(r, field, "%s is required", field) : SVC_OK;
	}
	if (!json_object_is_type(*v, type))
		return svc_reply_field_error(r, field, "%s must be %s", field, what);
	return SVC_OK;
}

int
svc_json_str_or_reply(struct svc_req *r, json_object *obj, const char *field,
    size_t minlen, size_t maxlen, int required, const char **out)
{
	json_object	*v;
	const char	*s;
	size_t		 len;
	int		 rc;

	*out = NULL;
	if ((rc = svc_json_member_or_reply(r, obj, field, json_type_string, "a string", required,
	    &v)) != SVC_OK || v == NULL)
		return rc;
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
	int		 rc;

	if ((rc = svc_json_member_or_reply(r, obj, field, json_type_int, "an integer", required,
	    &v)) != SVC_OK || v == NULL)
		return rc;
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
	json_object	*v;
	char		 what[32];
	int		 rc;

	*out = NULL;
	snprintf(what, sizeof(what), "%s %s", type == json_type_array ? "an" : "a",
	    json_type_to_name(type));
	if ((rc = svc_json_member_or_reply(r, obj, field, type, what, 1, &v)) == SVC_OK)
		*out = v;
	return rc;
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
	if (rc < 0 || svc_conf_parse_ll(buf, min, max, &v) == -1)
		return svc_reply_field_error(r, name, "%s must be an integer between %lld and %lld",
		    name, (long long)min, (long long)max);
	*out = v;
	return SVC_OK;
}
