/* sim_scenario.c - parses and validates scenario files; every error names its JSON path */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "sim_scenario.h"

const char *const sim_journey_names[SIM_J_COUNT] = { "browse", "register_login", "checkout" };
static const char *const sim_journey_names_null[SIM_J_COUNT + 1] = { "browse", "register_login", "checkout", NULL };
const char *const sim_fault_kind_names[] = { "toxic", "kill", "stop", "restart", "deploy", "host_kill", "partition", "broker_kill",
					      "consumer_stop", "broker_partition", "duplicate_delivery" };

/* A lab host (gw, svc1, db2, ...): lower-case letters then digits; the lab's script checks
 * that it exists when the fault applies (and the run is invalid when it does not). */
static bool
sim_sc_host_ok(const char *t)
{
	size_t i = 0;

	while (t[i] >= 'a' && t[i] <= 'z')
		i++;
	if (i == 0 || i > 8)
		return false;
	while (t[i] >= '0' && t[i] <= '9')
		i++;
	return t[i] == '\0' && i <= 10;
}

/*
 * A process a fault may target: the stack's own processes, or one of its services as the one
 * list names them (SHOPLAB_SERVICES in run/shoplab.env); the run checks its pid file too.
 */
static bool
sim_sc_target_ok(const char *t)
{
	static const char *const processes[] = { "nginx", "mariadb", "rabbitmq", NULL };
	const char *v = getenv("SHOPLAB_SERVICES"), *p;
	size_t n = strlen(t);

	for (size_t i = 0; processes[i] != NULL; i++)
		if (strcmp(processes[i], t) == 0)
			return true;
	if (n == 0 || n > 31)
		return false;
	/* Without the stack's list (a scenario read before the stack is known): a well-formed
	 * name; sim run then checks the target's pid file on the live stack before any load. */
	if (v == NULL) {
		if (t[0] < 'a' || t[0] > 'z')
			return false;
		for (p = t; *p != '\0'; p++)
			if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
				return false;
		return true;
	}
	for (p = strstr(v, t); p != NULL; p = strstr(p + 1, t))
		if ((p == v || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' '))
			return true;
	return false;
}

struct ctx {
	char *err;
	size_t errsz;
};

static int
sim_sc_fail(struct ctx *c, const char *path, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	n = (size_t)snprintf(c->err, c->errsz, "%s: ", path);
	if (n < c->errsz) {
		va_start(ap, fmt);
		vsnprintf(c->err + n, c->errsz - n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Rejects members not in allowed (typos would otherwise be silently ignored). */
static int
sim_sc_only_keys(struct ctx *c, const char *path, json_object *o, const char *const *allowed)
{
	char sub[160];

	json_object_object_foreach(o, key, val) {
		bool ok = false;

		(void)val;
		for (size_t i = 0; allowed[i]; i++)
			if (strcmp(key, allowed[i]) == 0)
				ok = true;
		if (!ok) {
			snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", key);
			return sim_sc_fail(c, sub, "unknown field");
		}
	}
	return 0;
}

static void
sim_sc_join(char *out, size_t outsz, const char *path, const char *key)
{
	snprintf(out, outsz, "%s%s%s", path, *path ? "." : "", key);
}

/* A number member: required (def ignored) or optional (def used when absent). */
static int
sim_sc_num(struct ctx *c, json_object *o, const char *path, const char *key, bool required,
    double def, double lo, double hi, double *out)
{
	json_object *v;
	char p[160];
	double d;

	sim_sc_join(p, sizeof(p), path, key);
	if (!json_object_object_get_ex(o, key, &v) || v == NULL) {
		if (required)
			return sim_sc_fail(c, p, "is required");
		*out = def;
		return 0;
	}
	if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
		return sim_sc_fail(c, p, "must be a number");
	d = json_object_get_double(v);
	if (!isfinite(d) || d < lo || d > hi)
		return sim_sc_fail(c, p, "must be between %g and %g", lo, hi);
	*out = d;
	return 0;
}

static int
sim_sc_str(struct ctx *c, json_object *o, const char *path, const char *key, bool required,
    const char *def, char *out, size_t outsz)
{
	json_object *v;
	char p[160];
	const char *s;

	sim_sc_join(p, sizeof(p), path, key);
	if (!json_object_object_get_ex(o, key, &v) || v == NULL) {
		if (required)
			return sim_sc_fail(c, p, "is required");
		snprintf(out, outsz, "%s", def);
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		return sim_sc_fail(c, p, "must be a string");
	s = json_object_get_string(v);
	if (*s == '\0' || strlen(s) >= outsz)
		return sim_sc_fail(c, p, "must be 1 to %zu characters", outsz - 1);
	snprintf(out, outsz, "%s", s);
	return 0;
}

static int
sim_sc_parse_phases(struct ctx *c, json_object *root, struct sim_scenario *sc)
{
	static const char *const keys[] = { "at_s", "rate", NULL };
	json_object *a;
	char p[64];

	if (!json_object_object_get_ex(root, "phases", &a) || !json_object_is_type(a, json_type_array))
		return sim_sc_fail(c, "phases", "is required and must be an array");
	sc->nphases = json_object_array_length(a);
	if (sc->nphases < 1 || sc->nphases > SIM_MAX_PHASES)
		return sim_sc_fail(c, "phases", "must hold 1 to %d phases", SIM_MAX_PHASES);
	for (size_t i = 0; i < sc->nphases; i++) {
		json_object *ph = json_object_array_get_idx(a, i);
		struct sim_phase *f = &sc->phases[i];

		snprintf(p, sizeof(p), "phases[%zu]", i);
		if (!json_object_is_type(ph, json_type_object))
			return sim_sc_fail(c, p, "must be an object");
		if (sim_sc_only_keys(c, p, ph, keys) || sim_sc_num(c, ph, p, "at_s", true, 0, 0, 86400, &f->at_s) ||
		    sim_sc_num(c, ph, p, "rate", true, 0, 0, 1e6, &f->rate))
			return -1;
		if (i == 0 && f->at_s != 0) {
			snprintf(p, sizeof(p), "phases[0].at_s");
			return sim_sc_fail(c, p, "the first phase must start at 0");
		}
		if (i > 0 && f->at_s <= sc->phases[i - 1].at_s) {
			snprintf(p, sizeof(p), "phases[%zu].at_s", i);
			return sim_sc_fail(c, p, "must be greater than the previous phase's");
		}
		if (f->at_s >= sc->duration_s) {
			snprintf(p, sizeof(p), "phases[%zu].at_s", i);
			return sim_sc_fail(c, p, "must be less than duration_s");
		}
	}
	return 0;
}

static int
sim_sc_parse_mix(struct ctx *c, json_object *root, struct sim_scenario *sc)
{
	static const char *const keys[] = { "browse", "register_login", "checkout", NULL };
	json_object *m;

	if (!json_object_object_get_ex(root, "mix", &m) || !json_object_is_type(m, json_type_object))
		return sim_sc_fail(c, "mix", "is required and must be an object");
	if (sim_sc_only_keys(c, "mix", m, keys))
		return -1;
	for (int j = 0; j < SIM_J_COUNT; j++)
		if (sim_sc_num(c, m, "mix", sim_journey_names[j], false, 0, 0, 1e6, &sc->mix[j]))
			return -1;
	if (sc->mix[0] + sc->mix[1] + sc->mix[2] <= 0)
		return sim_sc_fail(c, "mix", "at least one weight must be positive");
	return 0;
}

static int
sim_sc_parse_data(struct ctx *c, json_object *root, struct sim_scenario *sc)
{
	static const char *const keys[] = { "users", "products", "stock", "cards", "login_rate", NULL };
	static const char *const ckeys[] = { "decline", "insufficient", NULL };
	json_object *d, *pr, *cards;
	double v;

	if (!json_object_object_get_ex(root, "data", &d) || !json_object_is_type(d, json_type_object))
		return sim_sc_fail(c, "data", "is required and must be an object");
	if (sim_sc_only_keys(c, "data", d, keys))
		return -1;
	if (sim_sc_num(c, d, "data", "users", true, 0, 1, 100000, &v))
		return -1;
	sc->users = (int)v;
	if (!json_object_object_get_ex(d, "products", &pr) || !json_object_is_type(pr, json_type_array) ||
	    json_object_array_length(pr) != 2 ||
	    !json_object_is_type(json_object_array_get_idx(pr, 0), json_type_int) ||
	    !json_object_is_type(json_object_array_get_idx(pr, 1), json_type_int))
		return sim_sc_fail(c, "data.products", "must be [first_id, last_id] (integers)");
	sc->product_lo = json_object_get_int64(json_object_array_get_idx(pr, 0));
	sc->product_hi = json_object_get_int64(json_object_array_get_idx(pr, 1));
	if (sc->product_lo < 1 || sc->product_hi < sc->product_lo || sc->product_hi - sc->product_lo >= 100000)
		return sim_sc_fail(c, "data.products", "must satisfy 1 <= first <= last, at most 100000 ids");
	if (sim_sc_num(c, d, "data", "stock", false, -1, -1, 1e9, &v))
		return -1;
	sc->stock = (int64_t)v;
	if (sim_sc_num(c, d, "data", "login_rate", false, 4, 0.1, 10000, &sc->login_rate))
		return -1;
	if (json_object_object_get_ex(d, "cards", &cards)) {
		if (!json_object_is_type(cards, json_type_object))
			return sim_sc_fail(c, "data.cards", "must be an object");
		if (sim_sc_only_keys(c, "data.cards", cards, ckeys) ||
		    sim_sc_num(c, cards, "data.cards", "decline", false, 0, 0, 1, &sc->decline_share) ||
		    sim_sc_num(c, cards, "data.cards", "insufficient", false, 0, 0, 1, &sc->insufficient_share))
			return -1;
		if (sc->decline_share + sc->insufficient_share > 1)
			return sim_sc_fail(c, "data.cards", "decline + insufficient must not exceed 1");
	}
	return 0;
}

static int
sim_sc_lookup(const char *const *names, const char *s)
{
	for (int i = 0; names[i]; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -1;
}

/* A proxy API: "http://..." as is, or a host's name to look up as SHOPLAB_PROXY_API_<NAME>. */
static bool
sim_sc_proxy_api_ok(const char *s)
{
	size_t n = strlen(s);

	if (strncmp(s, "http://", 7) == 0)
		return n > 7 && strpbrk(s, " \t\r\n\"\\") == NULL;
	if (n == 0 || n > 32 || !(s[0] >= 'a' && s[0] <= 'z'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

static int
sim_sc_parse_fault(struct ctx *c, json_object *f, size_t i, struct sim_scenario *sc)
{
	static const char *const kinds[] = { "toxic", "kill", "stop", "restart", "deploy", "host_kill", "partition",
					     "broker_kill", "consumer_stop", "broker_partition", "duplicate_delivery", NULL };
	static const char *const tkeys[] = { "at_s", "until_s", "kind", "proxy", "proxy_api", "type", "stream",
					     "attributes", "toxicity", NULL };
	static const char *const pkeys[] = { "at_s", "until_s", "kind", "target", NULL };
	static const char *const bkeys[] = { "at_s", "until_s", "kind", NULL };
	static const char *const skeys[] = { "at_s", "until_s", "kind", "service", NULL };
	const char *const *keys;
	struct sim_fault *ft = &sc->faults[i];
	char p[64], q[96], kind[32];
	json_object *attrs;
	int k;

	snprintf(p, sizeof(p), "faults[%zu]", i);
	if (!json_object_is_type(f, json_type_object))
		return sim_sc_fail(c, p, "must be an object");
	if (sim_sc_str(c, f, p, "kind", true, "", kind, sizeof(kind)))
		return -1;
	if ((k = sim_sc_lookup(kinds, kind)) < 0) {
		snprintf(q, sizeof(q), "%s.kind", p);
		return sim_sc_fail(c, q, "must be one of toxic, kill, stop, restart, deploy, host_kill, partition, "
			"broker_kill, consumer_stop, broker_partition, duplicate_delivery");
	}
	ft->kind = (enum sim_fault_kind)k;
	keys = ft->kind == SIM_FAULT_TOXIC ? tkeys : ft->kind == SIM_FAULT_BROKER_KILL ? bkeys :
	       ft->kind >= SIM_FAULT_CONSUMER_STOP ? skeys : pkeys;
	/* Every broker fault has an end: the run must see the broker (or the link) come back. */
	if (sim_sc_only_keys(c, p, f, keys) ||
	    sim_sc_num(c, f, p, "at_s", true, 0, 0, sc->duration_s, &ft->at_s) ||
	    sim_sc_num(c, f, p, "until_s", ft->kind == SIM_FAULT_TOXIC || ft->kind == SIM_FAULT_STOP ||
		ft->kind == SIM_FAULT_PARTITION || ft->kind >= SIM_FAULT_BROKER_KILL, -1, 0,
		sc->duration_s, &ft->until_s))
		return -1;
	if (ft->until_s >= 0 && ft->until_s <= ft->at_s) {
		snprintf(q, sizeof(q), "%s.until_s", p);
		return sim_sc_fail(c, q, "must be greater than at_s");
	}
	snprintf(ft->name, sizeof(ft->name), "sim-%zu", i);
	if (ft->kind == SIM_FAULT_BROKER_KILL) {
		snprintf(ft->target, sizeof(ft->target), "rabbitmq");
		return 0;
	}
	if (ft->kind >= SIM_FAULT_CONSUMER_STOP) {
		if (sim_sc_str(c, f, p, "service", true, "", ft->target, sizeof(ft->target)))
			return -1;
		if (!sim_sc_target_ok(ft->target) || strcmp(ft->target, "nginx") == 0 || strcmp(ft->target, "mariadb") == 0 ||
		    strcmp(ft->target, "rabbitmq") == 0) {
			snprintf(q, sizeof(q), "%s.service", p);
			return sim_sc_fail(c, q, "must be a service of the stack (SHOPLAB_SERVICES)");
		}
		snprintf(ft->proxy, sizeof(ft->proxy), "%s-broker", ft->target);
		if (ft->kind == SIM_FAULT_DUPLICATE_DELIVERY) {
			/* The first bytes the service sends (the ack of a delivery it applied) never
			 * reach the broker: the link is reset at once, the broker requeues what it
			 * delivered and was not acked, and redelivers it when the service is back. */
			snprintf(ft->type, sizeof(ft->type), "reset_peer");
			snprintf(ft->stream, sizeof(ft->stream), "upstream");
			ft->toxicity = 1;
			if ((ft->attributes = strdup("{\"timeout\":0}")) == NULL)
				return sim_sc_fail(c, p, "out of memory");
		}
		return 0;
	}
	if (ft->kind != SIM_FAULT_TOXIC) {
		if (sim_sc_str(c, f, p, "target", true, "", ft->target, sizeof(ft->target)))
			return -1;
		if (ft->kind == SIM_FAULT_HOST_KILL || ft->kind == SIM_FAULT_PARTITION) {
			if (sim_sc_host_ok(ft->target))
				return 0;
			snprintf(q, sizeof(q), "%s.target", p);
			return sim_sc_fail(c, q, "must be a host of the HA lab (gw, svc1, svc2, db1, db2, db3, br1, br2, br3)");
		}
		if (!sim_sc_target_ok(ft->target)) {
			snprintf(q, sizeof(q), "%s.target", p);
			return sim_sc_fail(c, q, "must be a service of the stack (SHOPLAB_SERVICES), nginx, mariadb or rabbitmq");
		}
		if (ft->kind == SIM_FAULT_DEPLOY && (ft->until_s >= 0 || strcmp(ft->target, "nginx") == 0 ||
		    strcmp(ft->target, "mariadb") == 0 || strcmp(ft->target, "rabbitmq") == 0)) {
			snprintf(q, sizeof(q), "%s", p);
			return sim_sc_fail(c, q, "a deploy takes a service as target and no until_s");
		}
		return 0;
	}
	if (sim_sc_str(c, f, p, "proxy", true, "", ft->target, sizeof(ft->target)) ||
	    sim_sc_str(c, f, p, "proxy_api", false, "", ft->proxy_api, sizeof(ft->proxy_api)))
		return -1;
	if (ft->proxy_api[0] && !sim_sc_proxy_api_ok(ft->proxy_api)) {
		snprintf(q, sizeof(q), "%s.proxy_api", p);
		return sim_sc_fail(c, q, "must be a proxy API's URL (http://host:port) or the name of a host with one "
			    "(lowercase letters, digits, '_', at most 32: svc1, svc2 in the HA lab)");
	}
	if (sim_sc_str(c, f, p, "type", true, "", ft->type, sizeof(ft->type)) ||
	    sim_sc_num(c, f, p, "toxicity", false, 1, 0, 1, &ft->toxicity))
		return -1;
	if (sim_sc_str(c, f, p, "stream", false, strncmp(ft->type, "fcgi_", 5) == 0 ? "upstream" : "downstream",
		ft->stream, sizeof(ft->stream)))
		return -1;
	if (strcmp(ft->stream, "upstream") != 0 && strcmp(ft->stream, "downstream") != 0) {
		snprintf(q, sizeof(q), "%s.stream", p);
		return sim_sc_fail(c, q, "must be upstream or downstream");
	}
	if (json_object_object_get_ex(f, "attributes", &attrs)) {
		if (!json_object_is_type(attrs, json_type_object)) {
			snprintf(q, sizeof(q), "%s.attributes", p);
			return sim_sc_fail(c, q, "must be an object");
		}
		ft->attributes = strdup(json_object_to_json_string_ext(attrs, JSON_C_TO_STRING_PLAIN));
	} else {
		ft->attributes = strdup("{}");
	}
	if (ft->attributes == NULL)
		return sim_sc_fail(c, p, "out of memory");
	return 0;
}

static int
sim_sc_parse_faults(struct ctx *c, json_object *root, struct sim_scenario *sc)
{
	json_object *a;
	size_t n;

	if (!json_object_object_get_ex(root, "faults", &a))
		return 0;
	if (!json_object_is_type(a, json_type_array))
		return sim_sc_fail(c, "faults", "must be an array");
	n = json_object_array_length(a);
	if (n > SIM_MAX_FAULTS)
		return sim_sc_fail(c, "faults", "at most %d faults", SIM_MAX_FAULTS);
	for (size_t i = 0; i < n; i++) {
		sc->nfaults = i + 1;
		if (sim_sc_parse_fault(c, json_object_array_get_idx(a, i), i, sc))
			return -1;
	}
	return 0;
}

/* The defaults of a scenario that states no hypothesis (sim/README.md). */
static void
sim_sc_hypothesis_defaults(struct sim_scenario *sc)
{
	struct sim_hypothesis *h = &sc->hy;
	double p99 = SIM_HY_DEFAULT_P99_MS;

	if (p99 > sc->timeout_s * 1000)
		p99 = sc->timeout_s * 1000;
	memset(h, 0, sizeof(*h));
	for (int j = 0; j < SIM_J_COUNT; j++) {
		h->has[j] = sc->mix[j] > 0;
		h->success[j] = SIM_HY_DEFAULT_SUCCESS;
		h->p99_ms[j] = p99;
	}
	h->within_s = SIM_HY_DEFAULT_WITHIN_S;
	h->band = SIM_HY_DEFAULT_BAND;
}

/*
 * "hypothesis": {"journeys": {"<journey>": {"success": 0.99, "p99_ms": 800}, ...},
 *                "recovery": {"within_s": 20, "band": 0.3}}
 * journeys names exactly the journeys the mix starts; recovery is optional.
 */
static int
sim_sc_parse_hypothesis(struct ctx *c, json_object *root, struct sim_scenario *sc)
{
	static const char *const keys[] = { "journeys", "recovery", NULL };
	static const char *const jkeys[] = { "success", "p99_ms", NULL };
	static const char *const rkeys[] = { "within_s", "band", NULL };
	struct sim_hypothesis *h = &sc->hy;
	json_object *o, *js, *jj, *rec;
	char p[96];

	sim_sc_hypothesis_defaults(sc);
	if (!json_object_object_get_ex(root, "hypothesis", &o))
		return 0;
	if (!json_object_is_type(o, json_type_object))
		return sim_sc_fail(c, "hypothesis", "must be an object");
	if (sim_sc_only_keys(c, "hypothesis", o, keys))
		return -1;
	h->stated = true;
	if (!json_object_object_get_ex(o, "journeys", &js) || !json_object_is_type(js, json_type_object))
		return sim_sc_fail(c, "hypothesis.journeys", "is required and must be an object (one member per journey of the mix)");
	if (sim_sc_only_keys(c, "hypothesis.journeys", js, sim_journey_names_null))
		return -1;
	for (int j = 0; j < SIM_J_COUNT; j++) {
		bool listed = json_object_object_get_ex(js, sim_journey_names[j], &jj);

		snprintf(p, sizeof(p), "hypothesis.journeys.%s", sim_journey_names[j]);
		h->has[j] = listed;
		if (listed && sc->mix[j] <= 0)
			return sim_sc_fail(c, p, "the mix starts no %s journey (its weight is 0)", sim_journey_names[j]);
		if (!listed && sc->mix[j] > 0)
			return sim_sc_fail(c, p, "is required: the mix starts %s journeys", sim_journey_names[j]);
		if (!listed)
			continue;
		if (!json_object_is_type(jj, json_type_object))
			return sim_sc_fail(c, p, "must be an object {\"success\": 0..1, \"p99_ms\": ms}");
		if (sim_sc_only_keys(c, p, jj, jkeys) ||
		    sim_sc_num(c, jj, p, "success", true, 0, 0, 1, &h->success[j]) ||
		    sim_sc_num(c, jj, p, "p99_ms", true, 0, 1, 600000, &h->p99_ms[j]))
			return -1;
	}
	if (json_object_object_get_ex(o, "recovery", &rec)) {
		if (!json_object_is_type(rec, json_type_object))
			return sim_sc_fail(c, "hypothesis.recovery", "must be an object {\"within_s\": s, \"band\": 0..1}");
		if (sim_sc_only_keys(c, "hypothesis.recovery", rec, rkeys) ||
		    sim_sc_num(c, rec, "hypothesis.recovery", "within_s", false, SIM_HY_DEFAULT_WITHIN_S, 1, 3600, &h->within_s) ||
		    sim_sc_num(c, rec, "hypothesis.recovery", "band", false, SIM_HY_DEFAULT_BAND, 0, 0.99, &h->band))
			return -1;
	}
	return 0;
}

/* A small scanner that finds where a JSON path's value starts in the text, for line numbers. */
static const char *
sim_sc_skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

static const char *
sim_sc_skip_string(const char *p)
{
	for (p++; *p && *p != '"'; p++)
		if (*p == '\\' && p[1])
			p++;
	return *p ? p + 1 : p;
}

/* Skips one value; returns where it ends (or the end of the text). */
static const char *
sim_sc_skip_value(const char *p)
{
	int depth = 0;

	p = sim_sc_skip_ws(p);
	if (*p == '"')
		return sim_sc_skip_string(p);
	if (*p != '{' && *p != '[') {
		while (*p && strchr(",}] \t\r\n", *p) == NULL)
			p++;
		return p;
	}
	for (; *p; p++) {
		if (*p == '"')
			p = sim_sc_skip_string(p) - 1;
		else if (*p == '{' || *p == '[')
			depth++;
		else if ((*p == '}' || *p == ']') && --depth == 0)
			return p + 1;
	}
	return p;
}

/* The member key of an object (p at '{'); returns its value's start or NULL. */
static const char *
sim_sc_find_member(const char *p, const char *key, size_t keylen)
{
	p = sim_sc_skip_ws(p + 1);
	while (*p == '"') {
		const char *k = p + 1, *e = sim_sc_skip_string(p);
		bool hit = (size_t)(e - 1 - k) == keylen && strncmp(k, key, keylen) == 0;

		p = sim_sc_skip_ws(e);
		if (*p != ':')
			return NULL;
		p = sim_sc_skip_ws(p + 1);
		if (hit)
			return p;
		p = sim_sc_skip_ws(sim_sc_skip_value(p));
		if (*p != ',')
			return NULL;
		p = sim_sc_skip_ws(p + 1);
	}
	return NULL;
}

size_t
sim_scenario_offset(const char *text, const char *path)
{
	const char *p = sim_sc_skip_ws(text), *best = p, *q = path;

	while (*q && *q != ':' && *q != ' ') {
		if (*q == '[') {
			long n = strtol(q + 1, (char **)&q, 10);

			if (*q != ']' || *p != '[')
				break;
			q++;
			p = sim_sc_skip_ws(p + 1);
			for (; n > 0 && *p && *p != ']'; n--) {
				p = sim_sc_skip_ws(sim_sc_skip_value(p));
				if (*p != ',')
					break;
				p = sim_sc_skip_ws(p + 1);
			}
			if (n > 0 || *p == ']' || *p == '\0')
				break;
		} else {
			size_t len = strcspn(q, ".[: ");

			if (*p != '{' || (p = sim_sc_find_member(p, q, len)) == NULL)
				break;
			q += len;
		}
		best = p;
		if (*q == '.')
			q++;
	}
	return (size_t)(best - text);
}

int
sim_scenario_line(const char *text, size_t offset)
{
	int line = 1;

	for (size_t i = 0; i < offset && text[i]; i++)
		line += text[i] == '\n';
	return line;
}

int
sim_scenario_parse(const char *text, struct sim_scenario *sc, char *err, size_t errsz)
{
	static const char *const keys[] = { "name", "seed", "duration_s", "drain_s", "events_drain_s", "timeout_s",
					    "replay_share", "phases", "mix", "data", "faults",
					    "description", "hypothesis", NULL };
	struct ctx c = { err, errsz };
	enum json_tokener_error jerr;
	json_tokener *tok = NULL;
	json_object *root, *seed, *desc;
	int rc = -1;

	memset(sc, 0, sizeof(*sc));
	if ((sc->text = strdup(text)) == NULL) {
		sim_sc_fail(&c, "(document)", "out of memory");
		goto out;
	}
	if ((tok = json_tokener_new()) == NULL) {
		sim_sc_fail(&c, "(document)", "out of memory");
		goto out;
	}
	root = json_tokener_parse_ex(tok, text, -1);
	if (root == NULL) {
		jerr = json_tokener_get_error(tok);
		if (jerr == json_tokener_continue)
			jerr = json_tokener_error_parse_eof;
		sc->error_offset = json_tokener_get_parse_end(tok);
		sim_sc_fail(&c, "(document)", "not valid JSON: %s", json_tokener_error_desc(jerr));
		goto out;
	}
	if (!json_object_is_type(root, json_type_object)) {
		sim_sc_fail(&c, "(document)", "must be a JSON object");
		goto out_put;
	}
	if (sim_sc_only_keys(&c, "", root, keys) || sim_sc_str(&c, root, "", "name", true, "", sc->name, sizeof(sc->name)))
		goto out_put;
	if (!json_object_object_get_ex(root, "seed", &seed) || !json_object_is_type(seed, json_type_int) ||
	    json_object_get_int64(seed) < 0) {
		sim_sc_fail(&c, "seed", "is required and must be a non-negative integer");
		goto out_put;
	}
	sc->seed = (uint64_t)json_object_get_int64(seed);
	if (sim_sc_num(&c, root, "", "duration_s", true, 0, 1, 86400, &sc->duration_s) ||
	    sim_sc_num(&c, root, "", "drain_s", false, 10, 0, 3600, &sc->drain_s) ||
	    sim_sc_num(&c, root, "", "events_drain_s", false, 60, 0, 3600, &sc->events_drain_s) ||
	    sim_sc_num(&c, root, "", "timeout_s", false, 10, 0.1, 600, &sc->timeout_s) ||
	    sim_sc_num(&c, root, "", "replay_share", false, 0.1, 0, 1, &sc->replay_share) ||
	    sim_sc_parse_phases(&c, root, sc) || sim_sc_parse_mix(&c, root, sc) || sim_sc_parse_data(&c, root, sc) ||
	    sim_sc_parse_faults(&c, root, sc) || sim_sc_parse_hypothesis(&c, root, sc))
		goto out_put;
	if (json_object_object_get_ex(root, "description", &desc)) {
		if (!json_object_is_type(desc, json_type_string)) {
			sim_sc_fail(&c, "description", "must be a string");
			goto out_put;
		}
		snprintf(sc->description, sizeof(sc->description), "%s", json_object_get_string(desc));
	}
	rc = 0;
out_put:
	json_object_put(root);
out:
	json_tokener_free(tok);
	if (rc != 0 && sc->error_offset == 0)
		sc->error_offset = sim_scenario_offset(text, err);
	if (rc != 0) {
		size_t off = sc->error_offset;

		sim_scenario_free(sc);
		sc->error_offset = off;
	}
	return rc;
}

int
sim_scenario_load(const char *path, struct sim_scenario *sc, char *err, size_t errsz)
{
	char msg[512], *buf = NULL;
	size_t len = 0, cap = 0, n;
	FILE *f;
	int rc = -1;

	memset(sc, 0, sizeof(*sc));
	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (len + 4096 + 1 > cap) {
			char *nb;

			cap = cap ? cap * 2 : 8192;
			if (cap > (1u << 24) || (nb = realloc(buf, cap)) == NULL) {
				snprintf(err, errsz, "%s: too large or out of memory", path);
				goto out_close;
			}
			buf = nb;
		}
		n = fread(buf + len, 1, 4096, f);
		len += n;
		if (n < 4096)
			break;
	}
	if (ferror(f)) {
		snprintf(err, errsz, "%s: read error", path);
		goto out_close;
	}
	buf[len] = '\0';
	if (sim_scenario_parse(buf, sc, msg, sizeof(msg)) != 0) {
		snprintf(err, errsz, "%s:%d: %s", path, sim_scenario_line(buf, sc->error_offset), msg);
		goto out_close;
	}
	snprintf(sc->file, sizeof(sc->file), "%s", path);
	rc = 0;
out_close:
	fclose(f);
	free(buf);
	return rc;
}

void
sim_scenario_free(struct sim_scenario *sc)
{
	free(sc->text);
	sc->text = NULL;
	for (size_t i = 0; i < SIM_MAX_FAULTS; i++) {
		free(sc->faults[i].attributes);
		sc->faults[i].attributes = NULL;
	}
}

double
sim_scenario_rate_at(const struct sim_scenario *sc, double t)
{
	double r = 0;

	for (size_t i = 0; i < sc->nphases; i++)
		if (t >= sc->phases[i].at_s)
			r = sc->phases[i].rate;
	return t < sc->duration_s ? r : 0;
}
