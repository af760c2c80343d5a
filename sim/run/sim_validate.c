/* sim_validate.c - checks a scenario's names (proxies, toxic types and attributes, targets, products) on the live stack */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "sim_faults.h"
#include "sim_http.h"
#include "sim_validate.h"

#define ANSWER_MAX (256 * 1024)

struct vctx {
	const struct sim_scenario *sc;
	const char *top;                /* the checkout, for service.conf (NULL: not checked) */
	FILE *out;
	int mistakes;
};

static void sim_val_mistake(struct vctx *v, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
sim_val_mistake(struct vctx *v, const char *path, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int line = v->sc->text ? sim_scenario_line(v->sc->text, sim_scenario_offset(v->sc->text, path)) : 0;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(v->out, "sim run: %s:%d: %s: %s\n", v->sc->file[0] ? v->sc->file : "(scenario)", line, path, msg);
	v->mistakes++;
}

/* Copies the keys of an object, comma separated, for "it has: ..." hints. */
static void
sim_val_keys_of(json_object *o, char *buf, size_t bufsz)
{
	size_t len = 0;

	buf[0] = '\0';
	json_object_object_foreach(o, key, val) {
		int n = snprintf(buf + len, bufsz - len, "%s%s", len ? ", " : "", key);

		(void)val;
		if (n < 0 || (size_t)n >= bufsz - len)
			break;
		len += (size_t)n;
	}
}

/* GETs url and parses the answer as a JSON object; NULL (with why in err) otherwise. */
static json_object *
sim_val_get_json(const char *url, long *status, char *err, size_t errsz)
{
	char *buf = malloc(ANSWER_MAX);
	json_object *o = NULL;

	if (buf == NULL) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	*status = sim_http("GET", url, NULL, NULL, 3000, buf, ANSWER_MAX);
	if (*status != 200) {
		snprintf(err, errsz, "GET %s answered %ld%s%.200s", url, *status, *status < 0 ? " (" : ": ", buf);
		if (*status < 0)
			snprintf(err + strlen(err), errsz - strlen(err), ")");
		goto out;
	}
	o = json_tokener_parse(buf);
	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
		snprintf(err, errsz, "GET %s: not a JSON object", url);
	}
out:
	free(buf);
	return o;
}

/* Each integer attribute's value as the proxy will use it (given, else its default) must be in
 * the range the proxy's /toxic-types states ("limits"; an older proxy states none). */
static void
sim_val_check_limits(struct vctx *v, size_t i, const struct sim_fault *ft, json_object *type,
    json_object *given)
{
	json_object *limits;
	char path[128];

	if (!json_object_object_get_ex(type, "limits", &limits) || !json_object_is_type(limits, json_type_object))
		return;
	json_object_object_foreach(limits, key, r) {
		json_object *val = NULL, *lo, *hi, *def;
		int64_t x;

		if (!json_object_object_get_ex(r, "min", &lo) || !json_object_object_get_ex(r, "max", &hi))
			continue;
		if (json_object_object_get_ex(given, key, &val) && val != NULL) {
			if (!json_object_is_type(val, json_type_int))
				continue;       /* said above: must be an integer */
			snprintf(path, sizeof(path), "faults[%zu].attributes.%s", i, key);
			x = json_object_get_int64(val);
		} else if (json_object_object_get_ex(r, "default", &def)) {
			val = NULL;
			snprintf(path, sizeof(path), "faults[%zu].attributes", i);
			x = json_object_get_int64(def);
		} else {
			continue;
		}
		if (x < json_object_get_int64(lo))
			sim_val_mistake(v, path, "%s.%s must be >= %lld (got %lld%s)", ft->type, key,
				(long long)json_object_get_int64(lo), (long long)x, val == NULL ? ", the default" : "");
		else if (x > json_object_get_int64(hi))
			sim_val_mistake(v, path, "%s.%s must be <= %lld (got %lld%s)", ft->type, key,
				(long long)json_object_get_int64(hi), (long long)x, val == NULL ? ", the default" : "");
	}
}

static void
sim_val_check_attributes(struct vctx *v, size_t i, const struct sim_fault *ft, json_object *type)
{
	json_object *attrs, *given, *kind;
	char path[128], have[512];

	if (!json_object_object_get_ex(type, "attributes", &attrs) || ft->attributes == NULL)
		return;
	if ((given = json_tokener_parse(ft->attributes)) == NULL)
		return;
	sim_val_keys_of(attrs, have, sizeof(have));
	json_object_object_foreach(given, key, val) {
		snprintf(path, sizeof(path), "faults[%zu].attributes.%s", i, key);
		if (!json_object_object_get_ex(attrs, key, &kind)) {
			sim_val_mistake(v, path, "%s has no attribute \"%s\" (it has: %s)", ft->type, key, have[0] ? have : "none");
			continue;
		}
		if (strcmp(json_object_get_string(kind), "int") == 0 ? !json_object_is_type(val, json_type_int)
								     : !json_object_is_type(val, json_type_string))
			sim_val_mistake(v, path, "must be %s", strcmp(json_object_get_string(kind), "int") == 0 ? "an integer" : "a string");
	}
	sim_val_check_limits(v, i, ft, type, given);
	json_object_put(given);
}

static void
sim_val_check_stream(struct vctx *v, size_t i, const struct sim_fault *ft, json_object *type)
{
	json_object *streams;
	char path[64];

	if (!json_object_object_get_ex(type, "streams", &streams) || !json_object_is_type(streams, json_type_array))
		return;
	for (size_t k = 0; k < json_object_array_length(streams); k++)
		if (strcmp(json_object_get_string(json_object_array_get_idx(streams, k)), ft->stream) == 0)
			return;
	snprintf(path, sizeof(path), "faults[%zu].stream", i);
	sim_val_mistake(v, path, "%s works on the upstream stream only", ft->type);
}

/* Checks toxic i against the proxy API it names (its proxy_api, else the stack's). */
static void
sim_val_check_toxic(struct vctx *v, size_t i)
{
	const struct sim_fault *ft = &v->sc->faults[i];
	json_object *proxies = NULL, *types = NULL, *t;
	char api[256], url[512], err[768], have[1024], path[64];
	bool broker = ft->kind == SIM_FAULT_BROKER_PARTITION || ft->kind == SIM_FAULT_DUPLICATE_DELIVERY;
	long st;

	if (sim_fault_proxy_api(ft, api, sizeof(api)) != 0) {
		snprintf(api, sizeof(api), "%s", ft->proxy_api);
		for (char *c = api; *c; c++)
			if (*c >= 'a' && *c <= 'z')
				*c = (char)(*c - 'a' + 'A');
		snprintf(path, sizeof(path), "faults[%zu].proxy_api", i);
		sim_val_mistake(v, path, "\"%s\" names no proxy API: SHOPLAB_PROXY_API_%s is not set (the HA lab writes it "
			"into shoplab.env with LAB_PROXY=1: scripts/lab-ha.sh, docs/lab.md)", ft->proxy_api, api);
		return;
	}
	snprintf(url, sizeof(url), "%s/proxies", api);
	if ((proxies = sim_val_get_json(url, &st, err, sizeof(err))) == NULL) {
		snprintf(path, sizeof(path), "faults[%zu].%s", i, broker ? "service" : ft->proxy_api[0] ? "proxy_api" : "proxy");
		sim_val_mistake(v, path, "the sim proxy did not answer: %s; %s", err, ft->proxy_api[0] ?
			"is the HA lab up with LAB_PROXY=1?" : "start the stack with SHOPLAB_PROXY=1 (or set SHOPLAB_PROXY_API)");
		return;
	}
	if (broker) {
		/* The service's AMQP link must run through the proxy: <svc>-broker. */
		if (!json_object_object_get_ex(proxies, ft->proxy, NULL)) {
			snprintf(path, sizeof(path), "faults[%zu].service", i);
			sim_val_mistake(v, path, "the sim proxy at %s has no proxy \"%s\": %s does not talk to the broker, or the "
				"stack was started before the broker proxies existed (restart it with SHOPLAB_PROXY=1)",
				api, ft->proxy, ft->target);
		}
		goto out;
	}
	snprintf(url, sizeof(url), "%s/toxic-types", api);
	if ((types = sim_val_get_json(url, &st, err, sizeof(err))) == NULL)
		fprintf(v->out, "sim run: warning: %s; toxic types and attributes are checked only when applied\n", err);
	if (!json_object_object_get_ex(proxies, ft->target, NULL)) {
		sim_val_keys_of(proxies, have, sizeof(have));
		snprintf(path, sizeof(path), "faults[%zu].proxy", i);
		sim_val_mistake(v, path, "the sim proxy at %s has no proxy \"%s\" (it has: %s)", api, ft->target,
			have[0] ? have : "none");
	}
	if (types == NULL)
		goto out;
	if (!json_object_object_get_ex(types, ft->type, &t)) {
		sim_val_keys_of(types, have, sizeof(have));
		snprintf(path, sizeof(path), "faults[%zu].type", i);
		sim_val_mistake(v, path, "the sim proxy has no toxic type \"%s\" (it has: %s)", ft->type, have);
		goto out;
	}
	sim_val_check_stream(v, i, ft, t);
	sim_val_check_attributes(v, i, ft, t);
out:
	json_object_put(proxies);
	json_object_put(types);
}

/* Every fault that lives on a proxy: toxics (on their proxy API) and the broker links. */
static void
sim_val_check_toxics(struct vctx *v)
{
	for (size_t i = 0; i < v->sc->nfaults; i++) {
		enum sim_fault_kind k = v->sc->faults[i].kind;

		if (k == SIM_FAULT_TOXIC || k == SIM_FAULT_BROKER_PARTITION || k == SIM_FAULT_DUPLICATE_DELIVERY)
			sim_val_check_toxic(v, i);
	}
}

static void
sim_val_check_targets(struct vctx *v, const char *run_dir)
{
	const struct sim_scenario *sc = v->sc;
	char path[64];

	for (size_t i = 0; i < sc->nfaults; i++) {
		const struct sim_fault *ft = &sc->faults[i];
		pid_t pid;
		char state;

		if (ft->kind == SIM_FAULT_TOXIC)
			continue;
		snprintf(path, sizeof(path), "faults[%zu].%s", i, ft->kind == SIM_FAULT_BROKER_KILL ? "kind" :
			 ft->kind >= SIM_FAULT_CONSUMER_STOP ? "service" : "target");
		if ((ft->kind == SIM_FAULT_CONSUMER_STOP || ft->kind == SIM_FAULT_DUPLICATE_DELIVERY) && v->top &&
		    !sim_service_consumes(v->top, ft->target))
			sim_val_mistake(v, path, "%s consumes no events (no consumes= in %s/fcgi-services/%s/service.conf)",
				ft->target, v->top, ft->target);
		if (ft->kind == SIM_FAULT_HOST_KILL || ft->kind == SIM_FAULT_PARTITION) {
			if (getenv("SHOPLAB_LAB_CTL") == NULL)
				sim_val_mistake(v, path, "%s faults need the HA lab (make lab-netns LAB=ha): this stack has no SHOPLAB_LAB_CTL",
					sim_fault_kind_names[ft->kind]);
			continue;
		}
		if ((pid = sim_faults_pid(run_dir, ft->target)) < 0) {
			sim_val_mistake(v, path, "%s is not part of this stack (no pid file %s/%s.pid)", ft->target, run_dir, ft->target);
			continue;
		}
		state = sim_proc_state(pid);
		if (state == 0 || state == 'Z' || state == 'X')
			sim_val_mistake(v, path, "%s (pid %d from %s/%s.pid) is not running", ft->target, (int)pid, run_dir, ft->target);
		else if (state == 'T')
			sim_val_mistake(v, path, "%s (pid %d) is stopped (SIGSTOP) already", ft->target, (int)pid);
	}
}

static void
sim_val_check_products(struct vctx *v, const char *gateway)
{
	const struct sim_scenario *sc = v->sc;
	int64_t ids[2] = { sc->product_lo, sc->product_hi };
	char url[512], out[256];

	for (int k = 0; k < 2 && (k == 0 || ids[1] != ids[0]); k++) {
		long st;

		snprintf(url, sizeof(url), "%s/api/v1/products/%lld", gateway, (long long)ids[k]);
		st = sim_http("GET", url, NULL, NULL, 5000, out, sizeof(out));
		if (st == 404)
			sim_val_mistake(v, "data.products", "product %lld does not exist on this stack (GET %s answered 404)",
				(long long)ids[k], url);
		else if (st != 200)
			sim_val_mistake(v, "data.products", "GET %s answered %ld: %.120s", url, st, out);
	}
}

int
sim_validate_live(const struct sim_scenario *sc, const char *gateway, const char *proxy_api,
    const char *run_dir, FILE *out)
{
	char top[960], err[256];
	struct vctx v = { sc, NULL, out, 0 };

	if (sim_top_dir(top, sizeof(top), err, sizeof(err)) == 0)
		v.top = top;

	(void)proxy_api;        /* each toxic names its own (sim_fault_proxy_api), this by default */
	sim_val_check_toxics(&v);
	sim_val_check_targets(&v, run_dir);
	sim_val_check_products(&v, gateway);
	return v.mistakes;
}
