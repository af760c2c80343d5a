/* proxy_json.c - JSON in and out for the control API, shaped like Toxiproxy's encoding/json */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "proxy.h"
#include "proxy_api.h"

static const char *
sim_json_kind(const json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_boolean: return "bool";
	case json_type_double:
	case json_type_int: return "number";
	case json_type_object: return "object";
	case json_type_array: return "array";
	case json_type_string: return "string";
	default: return "null";
	}
}

/* Whether o is a JSON object; if not, Toxiproxy's 400 for a body Go cannot unmarshal into go_type. */
int
sim_json_want_object(json_object *o, const char *go_type, struct sim_err *err)
{
	if (json_object_is_type(o, json_type_object))
		return 0;
	sim_err_set(err, 400, "bad request body: json: cannot unmarshal %s into Go value of type %s",
	            json_object_is_type(o, json_type_array) ? "array" : "value", go_type);
	return -1;
}

/* Parses a request body strictly; a missing or broken body is Toxiproxy's 400. */
json_object *
sim_json_parse(const char *body, size_t len, struct sim_err *err)
{
	json_tokener *tok;
	json_object *v = NULL;
	enum json_tokener_error jerr;
	size_t i = 0;

	while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
		i++;
	if (i == len) {
		sim_err_set(err, 400, "bad request body: EOF");
		return NULL;
	}
	if (len > SIM_BODY_MAX) {
		sim_err_set(err, 400, "bad request body: too large");
		return NULL;
	}
	tok = json_tokener_new_ex(64);
	if (tok == NULL) {
		sim_err_set(err, 500, "out of memory");
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	v = json_tokener_parse_ex(tok, body, (int)len);
	jerr = json_tokener_get_error(tok);
	if (v == NULL) {
		if (jerr == json_tokener_continue || jerr == json_tokener_success)
			sim_err_set(err, 400, "bad request body: unexpected EOF");
		else
			sim_err_set(err, 400, "bad request body: %s", json_tokener_error_desc(jerr));
	}
	json_tokener_free(tok);
	return v;
}

static int
sim_json_type_error(struct sim_err *err, const json_object *v, const char *where,
    const char *field, const char *want)
{
	sim_err_set(err, 400, "bad request body: json: cannot unmarshal %s into Go struct field %s.%s of type %s",
	            sim_json_kind(v), where, field, want);
	return -1;
}

/* Copies a string member into out; absent or null leaves out alone. */
int
sim_json_get_str(json_object *obj, const char *key, char *out, size_t outsz,
    const char *where, struct sim_err *err)
{
	json_object *v;
	const char *s;
	size_t n;

	if (!json_object_object_get_ex(obj, key, &v) || v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return sim_json_type_error(err, v, where, key, "string");
	s = json_object_get_string(v);
	n = (size_t)json_object_get_string_len(v);
	if (n >= outsz || memchr(s, '\0', n) != NULL) {
		sim_err_set(err, 400, "bad request body: %s is too long or has a NUL (max %zu bytes)",
		            key, outsz - 1);
		return -1;
	}
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

int
sim_json_get_bool(json_object *obj, const char *key, bool *out, const char *where,
    struct sim_err *err)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) || v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_boolean))
		return sim_json_type_error(err, v, where, key, "bool");
	*out = json_object_get_boolean(v);
	return 0;
}

int
sim_json_get_float(json_object *obj, const char *key, float *out, const char *where,
    struct sim_err *err)
{
	json_object *v;
	double d;

	if (!json_object_object_get_ex(obj, key, &v) || v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
		return sim_json_type_error(err, v, where, key, "float32");
	d = json_object_get_double(v);
	if (!isfinite(d) || fabs(d) > 3.4e38) {
		sim_err_set(err, 400, "bad request body: json: cannot unmarshal number into Go struct field %s.%s of type float32",
		            where, key);
		return -1;
	}
	*out = (float)d;
	return 0;
}

/* Decodes "attributes" into t (merging, as encoding/json does into an existing struct). */
int
sim_json_get_attrs(json_object *obj, struct sim_toxic *t, struct sim_err *err)
{
	json_object *attrs;
	struct sim_toxic tmp = *t;

	if (!json_object_object_get_ex(obj, "attributes", &attrs) || attrs == NULL)
		return 0;
	if (!json_object_is_type(attrs, json_type_object)) {
		sim_err_set(err, 400, "bad request body: json: cannot unmarshal %s into Go struct field .attributes of type toxics.Toxic",
		            sim_json_kind(attrs));
		return -1;
	}
	/* Toxiproxy ignores an attribute its toxic does not have; a misspelt one would give a
	 * toxic that does nothing, so it is refused here. */
	json_object_object_foreach(attrs, key, val) {
		char have[256] = "";
		size_t n = 0;

		(void)val;
		if (sim_toxic_attr_index(t->type, key) >= 0)
			continue;
		for (size_t i = 0; i < t->type->nattrs && n < sizeof(have); i++) {
			int w = snprintf(have + n, sizeof(have) - n, "%s%s", i ? ", " : "",
			                 t->type->attrs[i].name);

			if (w < 0)
				break;
			n += (size_t)w;
		}
		sim_err_set(err, 400, "invalid attribute: %s has no attribute \"%.100s\" (it has: %s)",
		            t->type->name, key, t->type->nattrs > 0 ? have : "none");
		return -1;
	}
	for (size_t i = 0; i < t->type->nattrs; i++) {
		const struct sim_attr_def *d = &t->type->attrs[i];
		json_object *v;

		if (!json_object_object_get_ex(attrs, d->name, &v) || v == NULL)
			continue;
		if (d->kind == SIM_ATTR_INT) {
			if (!json_object_is_type(v, json_type_int))
				return sim_json_type_error(err, v, t->type->name, d->name, "int64");
			errno = 0;
			tmp.ival[i] = json_object_get_int64(v);
			if (errno != 0)
				return sim_json_type_error(err, v, t->type->name, d->name, "int64");
		} else if (sim_json_get_str(attrs, d->name, tmp.sval[i], sizeof(tmp.sval[i]),
		                            t->type->name, err) != 0) {
			return -1;
		}
	}
	memcpy(t->ival, tmp.ival, sizeof(t->ival));
	memcpy(t->sval, tmp.sval, sizeof(t->sval));
	return 0;
}

/* Adds v (a new reference, NULL when its making failed) to o under k; on failure v is released
 * and -1 returned. */
int
sim_json_add(json_object *o, const char *k, json_object *v)
{
	if (v == NULL)
		return -1;
	if (json_object_object_add(o, k, v) != 0) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

/* Returns a new reference: the toxic as Toxiproxy shows it. */
json_object *
sim_json_toxic(const struct sim_toxic *t)
{
	json_object *o = json_object_new_object();
	json_object *a = json_object_new_object();
	char num[32];

	if (o == NULL || a == NULL)
		goto out_fail;
	for (size_t i = 0; i < t->type->nattrs; i++) {
		const struct sim_attr_def *d = &t->type->attrs[i];

		if (sim_json_add(a, d->name, d->kind == SIM_ATTR_INT ? json_object_new_int64(t->ival[i])
		                                            : json_object_new_string(t->sval[i])) != 0)
			goto out_fail;
	}
	if (sim_json_add(o, "attributes", a) != 0) {
		a = NULL;
		goto out_fail;
	}
	a = NULL;
	snprintf(num, sizeof(num), "%.7g", (double)t->toxicity);
	if (sim_json_add(o, "name", json_object_new_string(t->name)) != 0 ||
	    sim_json_add(o, "type", json_object_new_string(t->type->name)) != 0 ||
	    sim_json_add(o, "stream", json_object_new_string(t->stream)) != 0 ||
	    sim_json_add(o, "toxicity", json_object_new_double_s((double)t->toxicity, num)) != 0)
		goto out_fail;
	return o;
out_fail:
	json_object_put(a);
	json_object_put(o);
	return NULL;
}

/* Returns a new reference: upstream toxics first, then downstream, each in creation order. */
json_object *
sim_json_toxics(const struct sim_proxy *p)
{
	json_object *arr = json_object_new_array();

	if (arr == NULL)
		return NULL;
	for (int dir = SIM_UP; dir <= SIM_DOWN; dir++) {
		for (const struct sim_toxic *t = p->toxics; t != NULL; t = t->next) {
			json_object *v;

			if ((int)t->dir != dir)
				continue;
			v = sim_json_toxic(t);
			if (v == NULL || json_object_array_add(arr, v) != 0) {
				json_object_put(v);
				json_object_put(arr);
				return NULL;
			}
		}
	}
	return arr;
}

/* Returns a new reference: the proxy with its toxics. */
json_object *
sim_json_proxy(const struct sim_proxy *p)
{
	json_object *o = json_object_new_object();

	if (o == NULL)
		return NULL;
	if (sim_json_add(o, "name", json_object_new_string(p->name)) != 0 ||
	    sim_json_add(o, "listen", json_object_new_string(p->listen)) != 0 ||
	    sim_json_add(o, "upstream", json_object_new_string(p->upstream)) != 0 ||
	    sim_json_add(o, "enabled", json_object_new_boolean(p->enabled)) != 0 ||
	    sim_json_add(o, "toxics", sim_json_toxics(p)) != 0) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

int
sim_json_write(struct evbuffer *out, json_object *v)
{
	const char *s = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
	                                                  JSON_C_TO_STRING_NOSLASHESCAPE);

	if (s == NULL)
		return -1;
	return evbuffer_add(out, s, strlen(s));
}
