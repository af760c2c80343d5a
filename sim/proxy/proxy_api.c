/* proxy_api.c - the Toxiproxy-compatible control API: routes, handlers, status codes */
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <json-c/json.h>

#include "proxy.h"
#include "proxy_api.h"

#define MAX_SEGS 4

/* One API request once routed: the path's segments and what its names resolved to. */
struct api_req {
	struct sim_ctx *ctx;
	const char *body;
	size_t blen;
	struct sim_proxy *proxy;        /* routes with a proxy name: that proxy, found */
	struct sim_toxic *toxic;        /* routes with a toxic name: that toxic, found */
};

static void
sim_pa_reply_json(struct sim_reply *rep, int status, json_object *v)
{
	rep->status = status;
	rep->content_type = "application/json";
	if (v == NULL || sim_json_write(rep->body, v) != 0) {
		rep->status = 500;
		(void)evbuffer_add_printf(rep->body, "{\"error\":\"out of memory\",\"status\":500}\n");
	}
	json_object_put(v);
}

/* Toxiproxy's error body: {"error":"...","status":N} and a newline (http.Error's). */
static void
sim_pa_reply_err(struct sim_reply *rep, const struct sim_err *e)
{
	json_object *o = json_object_new_object();

	rep->status = e->status;
	rep->content_type = "application/json";
	if (o != NULL && json_object_object_add(o, "error", json_object_new_string(e->msg)) == 0 &&
	    json_object_object_add(o, "status", json_object_new_int(e->status)) == 0 &&
	    sim_json_write(rep->body, o) == 0)
		(void)evbuffer_add(rep->body, "\n", 1);
	json_object_put(o);
}

static void
sim_pa_reply_status(struct sim_reply *rep, int status, const char *msg)
{
	struct sim_err e;

	sim_err_set(&e, status, "%s", msg);
	sim_pa_reply_err(rep, &e);
}

static int
sim_pa_cmp_proxy(const void *a, const void *b)
{
	const struct sim_proxy *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

/* GET /proxies: an object keyed by name (Go sorts map keys). */
static void
sim_pa_proxy_index(struct api_req *q, struct sim_reply *rep)
{
	struct sim_ctx *ctx = q->ctx;
	size_t n = 0, i = 0;
	struct sim_proxy **v;
	json_object *o = json_object_new_object();

	for (struct sim_proxy *p = ctx->proxies; p != NULL; p = p->next)
		n++;
	v = calloc(n + 1, sizeof(*v));
	if (v == NULL || o == NULL)
		goto out_fail;
	for (struct sim_proxy *p = ctx->proxies; p != NULL; p = p->next)
		v[i++] = p;
	qsort(v, n, sizeof(*v), sim_pa_cmp_proxy);
	for (i = 0; i < n; i++) {
		json_object *po = sim_json_proxy(v[i]);

		if (po == NULL || json_object_object_add(o, v[i]->name, po) != 0) {
			json_object_put(po);
			goto out_fail;
		}
	}
	free(v);
	sim_pa_reply_json(rep, 200, o);
	return;
out_fail:
	free(v);
	sim_pa_reply_json(rep, 500, NULL);
	json_object_put(o);
}

struct proxy_input {
	char name[SIM_NAME_MAX], listen[SIM_ADDR_MAX], upstream[SIM_ADDR_MAX];
	bool enabled;
};

static int
sim_pa_proxy_input_read(json_object *o, struct proxy_input *in, struct sim_err *err)
{
	if (sim_json_want_object(o, "toxiproxy.Proxy", err) != 0 ||
	    sim_json_get_str(o, "name", in->name, sizeof(in->name), "Proxy", err) != 0 ||
	    sim_json_get_str(o, "listen", in->listen, sizeof(in->listen), "Proxy", err) != 0 ||
	    sim_json_get_str(o, "upstream", in->upstream, sizeof(in->upstream), "Proxy", err) != 0 ||
	    sim_json_get_bool(o, "enabled", &in->enabled, "Proxy", err) != 0)
		return -1;
	return 0;
}

static void
sim_pa_proxy_create(struct api_req *q, struct sim_reply *rep)
{
	struct sim_ctx *ctx = q->ctx;
	struct proxy_input in = { .enabled = true };
	struct sim_err err;
	json_object *o = sim_json_parse(q->body, q->blen, &err);
	struct sim_proxy *p = NULL;

	if (o == NULL || sim_pa_proxy_input_read(o, &in, &err) != 0)
		goto out_err;
	if (in.name[0] == '\0') {
		sim_err_set(&err, 400, "missing required field: name");
		goto out_err;
	}
	if (in.upstream[0] == '\0') {
		sim_err_set(&err, 400, "missing required field: upstream");
		goto out_err;
	}
	if (sim_proxy_find(ctx, in.name) != NULL) {
		sim_err_set(&err, 409, "proxy already exists");
		goto out_err;
	}
	p = sim_proxy_new(ctx, in.name, in.listen, in.upstream);
	if (p == NULL) {
		sim_err_set(&err, 500, "out of memory");
		goto out_err;
	}
	if (in.enabled && sim_proxy_start(p, &err) < 0)
		goto out_free_proxy;
	sim_proxy_link_in(ctx, p);
	json_object_put(o);
	sim_pa_reply_json(rep, 201, sim_json_proxy(p));
	return;
out_free_proxy:
	sim_proxy_free(p);
out_err:
	json_object_put(o);
	sim_pa_reply_err(rep, &err);
}

/* Creates or replaces the proxies listed in body (a JSON array). Sets *list to a new array of
 * the proxies done so far (NULL when none, like Go's nil slice). Returns 0 or -1 with err. */
int
sim_api_populate(struct sim_ctx *ctx, const char *body, size_t blen, json_object **list,
    struct sim_err *err)
{
	json_object *o = sim_json_parse(body, blen, err);
	struct proxy_input *in = NULL;
	size_t n = 0;
	int rc = -1;

	*list = NULL;
	if (o == NULL)
		goto out;
	if (!json_object_is_type(o, json_type_array)) {
		sim_err_set(err, 400, "bad request body: json: cannot unmarshal %s into Go value of type []struct { toxiproxy.Proxy; Enabled *bool \"json:\\\"enabled\\\"\" }",
		            json_object_is_type(o, json_type_object) ? "object" : "value");
		goto out_put;
	}
	n = json_object_array_length(o);
	in = calloc(n + 1, sizeof(*in));
	if (in == NULL) {
		sim_err_set(err, 500, "out of memory");
		goto out_put;
	}
	for (size_t i = 0; i < n; i++) {
		in[i].enabled = true;
		if (sim_pa_proxy_input_read(json_object_array_get_idx(o, i), &in[i], err) != 0)
			goto out_free_in;
	}
	for (size_t i = 0; i < n; i++) {
		if (in[i].name[0] == '\0') {
			sim_err_set(err, 400, "missing required field: name at proxy %zu", i + 1);
			goto out_free_in;
		}
		if (in[i].upstream[0] == '\0') {
			sim_err_set(err, 400, "missing required field: upstream at proxy %zu", i + 1);
			goto out_free_in;
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct sim_proxy *old = sim_proxy_find(ctx, in[i].name);
		struct sim_proxy *p;
		bool differs = true;

		if (old != NULL) {
			if (sim_proxy_differs(old, in[i].listen, in[i].upstream, &differs, err) != 0)
				goto out_free_in;
			if (!differs) {
				p = old;
				goto add_to_list;
			}
			sim_proxy_stop(old);
		}
		p = sim_proxy_new(ctx, in[i].name, in[i].listen, in[i].upstream);
		if (p == NULL) {
			sim_err_set(err, 500, "out of memory");
			goto out_free_in;
		}
		if (in[i].enabled && sim_proxy_start(p, err) < 0) {
			sim_proxy_free(p);
			goto out_free_in;
		}
		if (old != NULL) {
			sim_proxy_unlink(ctx, old);
			sim_proxy_free(old);
		}
		sim_proxy_link_in(ctx, p);
add_to_list:
		if (*list == NULL)
			*list = json_object_new_array();
		if (*list == NULL || json_object_array_add(*list, sim_json_proxy(p)) != 0) {
			sim_err_set(err, 500, "out of memory");
			goto out_free_in;
		}
	}
	rc = 0;
out_free_in:
	free(in);
out_put:
	json_object_put(o);
out:
	return rc;
}

static void
sim_pa_populate(struct api_req *q, struct sim_reply *rep)
{
	struct sim_err err = { 0, "" };
	json_object *list = NULL;
	json_object *o = json_object_new_object();
	int rc = sim_api_populate(q->ctx, q->body, q->blen, &list, &err);

	if (o == NULL) {
		json_object_put(list);
		sim_pa_reply_json(rep, 500, NULL);
		return;
	}
	if (rc != 0) {
		(void)json_object_object_add(o, "error", json_object_new_string(err.msg));
		(void)json_object_object_add(o, "status", json_object_new_int(err.status));
	}
	(void)json_object_object_add(o, "proxies", list);
	sim_pa_reply_json(rep, rc != 0 ? err.status : 201, o);
}

static void
sim_pa_reset_all(struct api_req *q, struct sim_reply *rep)
{
	struct sim_err err;

	for (struct sim_proxy *p = q->ctx->proxies; p != NULL; p = p->next) {
		if (sim_proxy_start(p, &err) < 0) {
			sim_pa_reply_err(rep, &err);
			return;
		}
		while (p->toxics != NULL)
			sim_toxic_remove(p, p->toxics);
	}
	rep->status = 204;
}

static void
sim_pa_proxy_update(struct api_req *q, struct sim_reply *rep)
{
	struct sim_proxy *p = q->proxy;
	struct proxy_input in;
	struct sim_err err;
	json_object *o = sim_json_parse(q->body, q->blen, &err);
	bool differs = false;

	memset(&in, 0, sizeof(in));
	snprintf(in.listen, sizeof(in.listen), "%s", p->listen);
	snprintf(in.upstream, sizeof(in.upstream), "%s", p->upstream);
	in.enabled = p->enabled;
	if (o == NULL || sim_pa_proxy_input_read(o, &in, &err) != 0)
		goto out_err;
	if (sim_proxy_differs(p, in.listen, in.upstream, &differs, &err) != 0)
		goto out_err;
	if (differs) {
		sim_proxy_stop(p);
		snprintf(p->listen, sizeof(p->listen), "%s", in.listen);
		snprintf(p->upstream, sizeof(p->upstream), "%s", in.upstream);
		p->up_len = 0;
	}
	if (in.enabled != p->enabled) {
		if (in.enabled) {
			if (sim_proxy_start(p, &err) < 0)
				goto out_err;
		} else {
			sim_proxy_stop(p);
		}
	}
	json_object_put(o);
	sim_pa_reply_json(rep, 200, sim_json_proxy(p));
	return;
out_err:
	json_object_put(o);
	sim_pa_reply_err(rep, &err);
}

static void
sim_pa_proxy_get(struct api_req *q, struct sim_reply *rep)
{
	sim_pa_reply_json(rep, 200, sim_json_proxy(q->proxy));
}

static void
sim_pa_proxy_delete(struct api_req *q, struct sim_reply *rep)
{
	sim_proxy_unlink(q->ctx, q->proxy);
	sim_proxy_free(q->proxy);
	rep->status = 204;
}

static void
sim_pa_toxic_index(struct api_req *q, struct sim_reply *rep)
{
	sim_pa_reply_json(rep, 200, sim_json_toxics(q->proxy));
}

static void
sim_pa_toxic_create(struct api_req *q, struct sim_reply *rep)
{
	struct sim_proxy *p = q->proxy;
	struct sim_err err;
	json_object *o = sim_json_parse(q->body, q->blen, &err);
	struct sim_toxic *t = calloc(1, sizeof(*t));
	char type[64] = "", msg[256];
	bool stream_given;

	if (t == NULL) {
		sim_err_set(&err, 500, "out of memory");
		goto out_err;
	}
	t->toxicity = 1.0f;
	if (o == NULL || sim_json_want_object(o, "toxics.ToxicWrapper", &err) != 0)
		goto out_err;
	stream_given = json_object_object_get_ex(o, "stream", NULL);
	if (sim_json_get_str(o, "name", t->name, sizeof(t->name), "ToxicWrapper", &err) != 0 ||
	    sim_json_get_str(o, "type", type, sizeof(type), "ToxicWrapper", &err) != 0 ||
	    sim_json_get_str(o, "stream", t->stream, sizeof(t->stream), "ToxicWrapper", &err) != 0 ||
	    sim_json_get_float(o, "toxicity", &t->toxicity, "ToxicWrapper", &err) != 0)
		goto out_err;
	t->type = sim_toxic_type_find(type);
	if (!stream_given || t->stream[0] == '\0')
		snprintf(t->stream, sizeof(t->stream), "%s",
		         t->type != NULL && t->type->fcgi ? "upstream" : "downstream");
	if (strcasecmp(t->stream, "upstream") == 0) {
		t->dir = SIM_UP;
	} else if (strcasecmp(t->stream, "downstream") == 0) {
		t->dir = SIM_DOWN;
	} else {
		sim_err_set(&err, 400, "stream was invalid, can be either upstream or downstream");
		goto out_err;
	}
	if (t->name[0] == '\0') {
		int n = snprintf(t->name, sizeof(t->name), "%s_%s", type, t->stream);

		if (n < 0 || (size_t)n >= sizeof(t->name)) {
			sim_err_set(&err, 400, "bad request body: name too long");
			goto out_err;
		}
	}
	if (t->type == NULL) {
		sim_err_set(&err, 400, "invalid toxic type");
		goto out_err;
	}
	if (t->type->fcgi && t->dir != SIM_UP) {
		sim_err_set(&err, 400, "stream was invalid, FastCGI toxics work on the upstream stream only");
		goto out_err;
	}
	if (sim_toxic_find(p, t->name) != NULL) {
		sim_err_set(&err, 409, "toxic already exists");
		goto out_err;
	}
	sim_toxic_set_defaults(t);
	if (sim_json_get_attrs(o, t, &err) != 0)
		goto out_err;
	if (sim_toxic_check(t, msg, sizeof(msg)) != 0) {
		sim_err_set(&err, 400, "%s", msg);
		goto out_err;
	}
	json_object_put(o);
	sim_toxic_attach(p, t);
	sim_pa_reply_json(rep, 200, sim_json_toxic(t));
	return;
out_err:
	free(t);
	json_object_put(o);
	sim_pa_reply_err(rep, &err);
}

static void
sim_pa_toxic_get(struct api_req *q, struct sim_reply *rep)
{
	sim_pa_reply_json(rep, 200, sim_json_toxic(q->toxic));
}

static void
sim_pa_toxic_delete(struct api_req *q, struct sim_reply *rep)
{
	sim_toxic_remove(q->proxy, q->toxic);
	rep->status = 204;
}

static void
sim_pa_toxic_update(struct api_req *q, struct sim_reply *rep)
{
	struct sim_proxy *p = q->proxy;
	struct sim_toxic *t = q->toxic;
	struct sim_err err;
	json_object *o = sim_json_parse(q->body, q->blen, &err);
	struct sim_toxic tmp;
	char msg[256];

	if (o == NULL ||
	    sim_json_want_object(o, "struct { Attributes interface {} \"json:\\\"attributes\\\"\"; "
	                         "Toxicity float32 \"json:\\\"toxicity\\\"\" }", &err) != 0)
		goto out_err;
	tmp = *t;
	if (sim_json_get_attrs(o, &tmp, &err) != 0 ||
	    sim_json_get_float(o, "toxicity", &tmp.toxicity, "", &err) != 0)
		goto out_err;
	if (sim_toxic_check(&tmp, msg, sizeof(msg)) != 0) {
		sim_err_set(&err, 400, "%s", msg);
		goto out_err;
	}
	memcpy(t->ival, tmp.ival, sizeof(t->ival));
	memcpy(t->sval, tmp.sval, sizeof(t->sval));
	t->toxicity = tmp.toxicity;
	json_object_put(o);
	sim_toxic_updated(p, t);
	sim_pa_reply_json(rep, 200, sim_json_toxic(t));
	return;
out_err:
	json_object_put(o);
	sim_pa_reply_err(rep, &err);
}

/* Splits the escaped path into up to MAX_SEGS decoded segments. Returns the count, or -1
 * when there are more or one is too long. */
static int
sim_pa_split_path(const char *path, char seg[MAX_SEGS][SIM_NAME_MAX])
{
	int n = 0;
	const char *s = path;

	if (*s == '/')
		s++;
	while (*s != '\0') {
		const char *e = strchr(s, '/');
		size_t len = e != NULL ? (size_t)(e - s) : strlen(s);
		char raw[3 * SIM_NAME_MAX];
		char *dec;
		size_t dlen = 0;

		if (n == MAX_SEGS || len >= sizeof(raw))
			return -1;
		memcpy(raw, s, len);
		raw[len] = '\0';
		dec = evhttp_uridecode(raw, 0, &dlen);
		if (dec == NULL || dlen >= SIM_NAME_MAX || strlen(dec) != dlen) {
			free(dec);
			return -1;
		}
		memcpy(seg[n++], dec, dlen + 1);
		free(dec);
		if (e == NULL)
			break;
		s = e + 1;
		if (*s == '\0')
			return -1; /* trailing slash: no such route */
	}
	return n;
}

static void
sim_pa_version(struct api_req *q, struct sim_reply *rep)
{
	(void)q;
	rep->content_type = "application/json;charset=utf-8";
	(void)evbuffer_add_printf(rep->body, "{\"version\": \"%s\"}\n", SIM_PROXY_VERSION);
}

static void
sim_pa_metrics(struct api_req *q, struct sim_reply *rep)
{
	rep->content_type = "text/plain; version=0.0.4; charset=utf-8";
	if (sim_metrics_render(q->ctx, rep->body) != 0)
		rep->status = 500;
}

/* Adds "limits": {attr: {"min", "max", "default"}} for the integer attributes of type t. */
static int
sim_pa_add_limits(json_object *to, const struct sim_toxic_type *t)
{
	json_object *l = json_object_new_object();

	if (l == NULL || json_object_object_add(to, "limits", l) != 0) {
		json_object_put(l);
		return -1;
	}
	for (size_t k = 0; k < t->nattrs; k++) {
		const struct sim_attr_def *d = &t->attrs[k];
		json_object *r;

		if (d->kind != SIM_ATTR_INT)
			continue;
		if ((r = json_object_new_object()) == NULL)
			return -1;
		if (json_object_object_add(l, d->name, r) != 0) {
			json_object_put(r);
			return -1;
		}
		if (json_object_object_add(r, "min", json_object_new_int64(d->min)) != 0 ||
		    json_object_object_add(r, "max", json_object_new_int64(d->max)) != 0 ||
		    json_object_object_add(r, "default", json_object_new_int64(d->idef)) != 0)
			return -1;
	}
	return 0;
}

/* GET /toxic-types (an extension): every toxic type, its attributes with their kind, the range
 * of each integer one, and the streams it may sit on, so that a client can check a scenario
 * before it runs it. */
static void
sim_pa_toxic_types(struct api_req *q, struct sim_reply *rep)
{
	json_object *o = json_object_new_object();
	const struct sim_toxic_type *t;

	(void)q;
	if (o == NULL)
		goto out_fail;
	for (size_t i = 0; (t = sim_toxic_type_at(i)) != NULL; i++) {
		json_object *to = json_object_new_object(), *a = json_object_new_object(),
			    *st = json_object_new_array();

		if (to == NULL || a == NULL || st == NULL ||
		    json_object_object_add(to, "attributes", a) != 0) {
			json_object_put(to);
			json_object_put(a);
			json_object_put(st);
			goto out_fail;
		}
		if (json_object_object_add(to, "streams", st) != 0) {
			json_object_put(to);
			json_object_put(st);
			goto out_fail;
		}
		if (json_object_object_add(o, t->name, to) != 0) {
			json_object_put(to);
			goto out_fail;
		}
		for (size_t k = 0; k < t->nattrs; k++)
			if (json_object_object_add(a, t->attrs[k].name, json_object_new_string(
				t->attrs[k].kind == SIM_ATTR_INT ? "int" : "string")) != 0)
				goto out_fail;
		if (sim_pa_add_limits(to, t) != 0)
			goto out_fail;
		if (json_object_array_add(st, json_object_new_string("upstream")) != 0 ||
		    (!t->fcgi && json_object_array_add(st, json_object_new_string("downstream")) != 0))
			goto out_fail;
	}
	sim_pa_reply_json(rep, 200, o);
	return;
out_fail:
	json_object_put(o);
	sim_pa_reply_json(rep, 500, NULL);
}

enum method { M_GET, M_POST, M_PATCH, M_DELETE, M_COUNT };

typedef void (*api_handler)(struct api_req *q, struct sim_reply *rep);

/*
 * The routes, as Toxiproxy's router has them: a path of literal segments, where "{proxy}"
 * and "{toxic}" stand for a name that must exist (404 otherwise), and a handler per method
 * (none: 405, checked before the names are looked up).
 */
static const struct route {
	const char *segs[MAX_SEGS];
	int nsegs;
	api_handler on[M_COUNT];
} routes[] = {
	{ { "version" }, 1, { [M_GET] = sim_pa_version } },
	{ { "toxic-types" }, 1, { [M_GET] = sim_pa_toxic_types } },
	{ { "metrics" }, 1, { [M_GET] = sim_pa_metrics } },
	{ { "reset" }, 1, { [M_POST] = sim_pa_reset_all } },
	{ { "populate" }, 1, { [M_POST] = sim_pa_populate } },
	{ { "proxies" }, 1, { [M_GET] = sim_pa_proxy_index, [M_POST] = sim_pa_proxy_create } },
	{ { "proxies", "{proxy}" }, 2,
	  { [M_GET] = sim_pa_proxy_get, [M_POST] = sim_pa_proxy_update, [M_PATCH] = sim_pa_proxy_update,
	    [M_DELETE] = sim_pa_proxy_delete } },
	{ { "proxies", "{proxy}", "toxics" }, 3, { [M_GET] = sim_pa_toxic_index, [M_POST] = sim_pa_toxic_create } },
	{ { "proxies", "{proxy}", "toxics", "{toxic}" }, 4,
	  { [M_GET] = sim_pa_toxic_get, [M_POST] = sim_pa_toxic_update, [M_PATCH] = sim_pa_toxic_update,
	    [M_DELETE] = sim_pa_toxic_delete } },
};

static int
sim_pa_method_index(const char *method)
{
	static const char *const names[M_COUNT] = {
		[M_GET] = "GET", [M_POST] = "POST", [M_PATCH] = "PATCH", [M_DELETE] = "DELETE",
	};

	for (int m = 0; m < M_COUNT; m++)
		if (strcmp(method, names[m]) == 0)
			return m;
	return -1;
}

static const struct route *
sim_pa_route_find(char seg[MAX_SEGS][SIM_NAME_MAX], int n)
{
	for (size_t r = 0; r < sizeof(routes) / sizeof(routes[0]); r++) {
		int i;

		if (routes[r].nsegs != n)
			continue;
		for (i = 0; i < n; i++)
			if (routes[r].segs[i][0] != '{' && strcmp(routes[r].segs[i], seg[i]) != 0)
				break;
		if (i == n)
			return &routes[r];
	}
	return NULL;
}

void
sim_api_handle(struct sim_ctx *ctx, const char *method, const char *path,
    const char *body, size_t blen, const char *user_agent,
    struct sim_reply *rep)
{
	char seg[MAX_SEGS][SIM_NAME_MAX];
	int n = sim_pa_split_path(path, seg);
	int m = sim_pa_method_index(method);
	const struct route *r;
	struct api_req q = { .ctx = ctx, .body = body, .blen = blen };

	rep->status = 200;
	rep->content_type = "application/json";
	if (user_agent != NULL && strncmp(user_agent, "Mozilla/", 8) == 0) {
		rep->status = 403;
		rep->content_type = "text/plain; charset=utf-8";
		(void)evbuffer_add_printf(rep->body, "User agent not allowed\n");
		return;
	}
	if (n < 1 || (r = sim_pa_route_find(seg, n)) == NULL) {
		rep->status = 404;
		rep->content_type = "text/plain; charset=utf-8";
		(void)evbuffer_add_printf(rep->body, "404 page not found\n");
		return;
	}
	if (m < 0 || r->on[m] == NULL) {
		rep->status = 405;
		rep->content_type = "text/plain; charset=utf-8";
		return;
	}
	for (int i = 0; i < n; i++) {
		if (strcmp(r->segs[i], "{proxy}") == 0 &&
		    (q.proxy = sim_proxy_find(ctx, seg[i])) == NULL) {
			sim_pa_reply_status(rep, 404, "proxy not found");
			return;
		}
		if (strcmp(r->segs[i], "{toxic}") == 0 &&
		    (q.toxic = sim_toxic_find(q.proxy, seg[i])) == NULL) {
			sim_pa_reply_status(rep, 404, "toxic not found");
			return;
		}
	}
	r->on[m](&q, rep);
}
