/* svc_ev_envelope.c - event envelopes (build, parse, check), ids and times */
#include <sys/random.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "svc_util_int.h"
#include "svc_events.h"

int
svc_event_uuid(char out[37])
{
	unsigned char	b[16];
	size_t		got = 0;
	ssize_t		n;

	while (got < sizeof(b)) {
		n = getrandom(b + got, sizeof(b) - got, 0);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)n;
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
	    b[13], b[14], b[15]);
	return 0;
}

void
svc_event_time(int64_t wall_us, char out[32])
{
	struct tm	tm;
	time_t		t = (time_t)(wall_us / 1000000);
	size_t		n;

	if (wall_us < 0 || gmtime_r(&t, &tm) == NULL ||
	    (n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm)) == 0 || n > 19) {
		memcpy(out, "1970-01-01T00:00:00", 20);
		n = 19;
		wall_us = 0;
	}
	snprintf(out + n, 32 - n, ".%06dZ", (int)(wall_us % 1000000));
}

int
svc_event_time_parse(const char *s, int64_t *wall_us)
{
	struct tm	 tm;
	const char	*p;
	time_t		 t;
	int64_t		 frac = 0;
	int		 digits = 0;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || (p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return -1;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, digits++)
			if (digits < 6)
				frac = frac * 10 + (*p - '0');
		if (digits == 0)
			return -1;
		for (; digits < 6; digits++)
			frac *= 10;
	}
	if (p[0] != 'Z' || p[1] != '\0' || (t = timegm(&tm)) == (time_t)-1 || t < 0)
		return -1;
	*wall_us = (int64_t)t * 1000000 + frac;
	return 0;
}

int64_t
svc_event_data_id(const struct svc_event *ev, const char *name)
{
	json_object	*v;
	int64_t		 id;

	if (!json_object_object_get_ex(ev->data, name, &v) || !json_object_is_type(v, json_type_int))
		return 0;
	id = json_object_get_int64(v);
	return id > 0 ? id : 0;
}

int
svc_event_type_valid(const char *type)
{
	size_t	i, n;
	int	dot = 0;

	if (type == NULL || (n = strlen(type)) == 0 || n > SVC_EVENT_TYPE_MAX ||
	    type[0] == '.' || type[n - 1] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		char c = type[i];

		if (c == '.')
			dot = 1;
		else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return 0;
	}
	return dot;
}

/* 1 when id is 1..64 of [A-Za-z0-9-] (our UUIDs, or a test's own ids). */
static int
svc_event_id_valid(const char *id)
{
	size_t i, n;

	if (id == NULL || (n = strlen(id)) == 0 || n > SVC_EVENT_ID_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		char c = id[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-'))
			return 0;
	}
	return 1;
}

int
svc_event_build(const char *id, const char *type, int version, const char *occurred_at,
    const char *source, const char *key, const char *data_json, struct svc_buf *out)
{
	json_object	*root = NULL, *data = NULL;
	const char	*s;
	int		 rc = SVC_ERR_INVALID;

	svc_buf_reset(out);
	if (!svc_event_id_valid(id) || !svc_event_type_valid(type) || version < 1 ||
	    key == NULL || strlen(key) > SVC_EVENT_KEY_MAX || source == NULL ||
	    occurred_at == NULL || data_json == NULL)
		goto out;
	if ((data = json_tokener_parse(data_json)) == NULL ||
	    !json_object_is_type(data, json_type_object))
		goto out;
	rc = SVC_ERR_NOMEM;
	if ((root = json_object_new_object()) == NULL ||
	    json_object_object_add(root, "id", json_object_new_string(id)) != 0 ||
	    json_object_object_add(root, "type", json_object_new_string(type)) != 0 ||
	    json_object_object_add(root, "version", json_object_new_int(version)) != 0 ||
	    json_object_object_add(root, "occurred_at", json_object_new_string(occurred_at)) != 0 ||
	    json_object_object_add(root, "source", json_object_new_string(source)) != 0 ||
	    json_object_object_add(root, "key", json_object_new_string(key)) != 0)
		goto out;
	if (json_object_object_add(root, "data", data) != 0)
		goto out;
	data = NULL;	/* root owns it now */
	if ((s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN)) == NULL)
		goto out;
	if (strlen(s) > SVC_EVENT_BODY_MAX) {
		rc = SVC_ERR_INVALID;
		goto out;
	}
	if (svc_buf_puts(out, s) != 0 || out->failed)
		goto out;
	rc = SVC_OK;
out:
	json_object_put(data);
	json_object_put(root);
	return rc;
}

/* The string member name of o, or NULL. */
static const char *
svc_event_str(json_object *o, const char *name)
{
	json_object *v;

	if (!json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

int
svc_event_parse(const char *body, size_t len, struct svc_event *ev)
{
	json_tokener	*tok = NULL;
	json_object	*v;
	int		 rc = SVC_ERR_INVALID;

	memset(ev, 0, sizeof(*ev));
	if (body == NULL || len == 0 || len > SVC_EVENT_BODY_MAX || memchr(body, '\0', len) != NULL)
		goto out;
	if ((tok = json_tokener_new_ex(16)) == NULL) {
		rc = SVC_ERR_NOMEM;
		goto out;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	ev->root = json_tokener_parse_ex(tok, body, (int)len);
	if (ev->root == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len ||
	    !json_object_is_type(ev->root, json_type_object))
		goto out;
	ev->id = svc_event_str(ev->root, "id");
	ev->type = svc_event_str(ev->root, "type");
	ev->occurred_at = svc_event_str(ev->root, "occurred_at");
	ev->source = svc_event_str(ev->root, "source");
	ev->key = svc_event_str(ev->root, "key");
	if (!svc_event_id_valid(ev->id) || !svc_event_type_valid(ev->type) ||
	    ev->occurred_at == NULL || ev->source == NULL || ev->key == NULL)
		goto out;
	if (!json_object_object_get_ex(ev->root, "version", &v) ||
	    !json_object_is_type(v, json_type_int) || (ev->version = json_object_get_int64(v)) < 1)
		goto out;
	if (!json_object_object_get_ex(ev->root, "data", &ev->data) ||
	    !json_object_is_type(ev->data, json_type_object))
		goto out;
	rc = SVC_OK;
out:
	if (tok != NULL)
		json_tokener_free(tok);
	if (rc != SVC_OK)
		svc_event_free(ev);
	return rc;
}

void
svc_event_free(struct svc_event *ev)
{
	json_object_put(ev->root);
	memset(ev, 0, sizeof(*ev));
}
