/* svc_dep.c - a dependency: settings, breaker, bulkhead, retry budget, metrics, and the call loop */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "svc_conf_int.h"
#include "svc_req_int.h"
#include "svc_server_int.h"
#include "svc_util_int.h"

/* Upper bounds in microseconds of the call latency histogram; +Inf implied. */
static const int64_t svc_dep_buckets_us[SVC_DEP_NBUCKETS] = {
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000,
	5000000, 10000000,
};

static const char *const svc_dep_attempt_names[SVC_DEP_NATTEMPTS] = {
	[SVC_DEP_A_SUCCESS] = "success",
	[SVC_DEP_A_DEFINITE] = "definite",
	[SVC_DEP_A_FAILURE] = "failure",
	[SVC_DEP_A_UNKNOWN] = "unknown",
	[SVC_DEP_A_REJECTED_BREAKER] = "rejected_breaker",
	[SVC_DEP_A_REJECTED_BULKHEAD] = "rejected_bulkhead",
	[SVC_DEP_A_BUDGET_EXHAUSTED] = "budget_exhausted",
	[SVC_DEP_A_DEADLINE] = "deadline_exceeded",
};

/* Settings as loaded: the dependency's own plus the master switch. */
struct svc_dep_load {
	struct svc_dep_conf	c;
	int			resilience;
};

enum svc_dep_ctype {
	SVC_DEP_INT,		/* int between min and max */
	SVC_DEP_MS,		/* milliseconds between min and max, stored as int64_t microseconds */
	SVC_DEP_RATE,		/* a fraction, stored as double; min and max in millionths */
	SVC_DEP_SWITCH,		/* on/off, also read from SHOPLAB_<KEY> for every dependency */
};

struct svc_dep_def {
	const char		*key;	/* SHOPLAB_DEP_<NAME>_<key>, then SHOPLAB_DEP_<key> */
	enum svc_dep_ctype	 type;
	const char		*def;
	long long		 min, max;
	size_t			 offset;
};

#define SVC_DEP_OFF(f) offsetof(struct svc_dep_load, f)

static const struct svc_dep_def svc_dep_defs[] = {
	{ "RESILIENCE",		  SVC_DEP_SWITCH, "on",	  0, 0,		SVC_DEP_OFF(resilience) },
	{ "BREAKER",		  SVC_DEP_SWITCH, "on",	  0, 0,		SVC_DEP_OFF(c.breaker.enabled) },
	{ "BULKHEAD",		  SVC_DEP_SWITCH, "on",	  0, 0,		SVC_DEP_OFF(c.bulkhead_enabled) },
	{ "RETRY",		  SVC_DEP_SWITCH, "on",	  0, 0,		SVC_DEP_OFF(c.retry) },
	{ "RETRY_BUDGET",	  SVC_DEP_SWITCH, "on",	  0, 0,		SVC_DEP_OFF(c.budget.enabled) },
	{ "BREAKER_WINDOW",	  SVC_DEP_INT,	  "20",	  1, SVC_BREAKER_MAX_WINDOW, SVC_DEP_OFF(c.breaker.window) },
	{ "BREAKER_MIN_CALLS",	  SVC_DEP_INT,	  "10",	  1, SVC_BREAKER_MAX_WINDOW, SVC_DEP_OFF(c.breaker.min_calls) },
	{ "BREAKER_FAILURE_RATE", SVC_DEP_RATE,	  "0.5",  1, 1000000,	SVC_DEP_OFF(c.breaker.failure_rate) },
	{ "BREAKER_SLOW_RATE",	  SVC_DEP_RATE,	  "0.8",  1, 1000000,	SVC_DEP_OFF(c.breaker.slow_rate) },
	{ "BREAKER_SLOW_MS",	  SVC_DEP_MS,	  "1000", 1, 600000,	SVC_DEP_OFF(c.breaker.slow_call_us) },
	{ "BREAKER_OPEN_MS",	  SVC_DEP_MS,	  "5000", 1, 600000,	SVC_DEP_OFF(c.breaker.open_wait_us) },
	{ "BREAKER_PROBES",	  SVC_DEP_INT,	  "3",	  1, 100,	SVC_DEP_OFF(c.breaker.probes) },
	{ "BULKHEAD_MAX",	  SVC_DEP_INT,	  "8",	  1, 100000,	SVC_DEP_OFF(c.bulkhead) },
	{ "BULKHEAD_WAIT_MS",	  SVC_DEP_MS,	  "500",  0, 60000,	SVC_DEP_OFF(c.bulkhead_wait_us) },
	{ "RETRIES",		  SVC_DEP_INT,	  "2",	  0, 10,	SVC_DEP_OFF(c.retries) },
	{ "BACKOFF_BASE_MS",	  SVC_DEP_MS,	  "25",	  1, 60000,	SVC_DEP_OFF(c.backoff_base_us) },
	{ "BACKOFF_CAP_MS",	  SVC_DEP_MS,	  "1000", 1, 600000,	SVC_DEP_OFF(c.backoff_cap_us) },
	{ "BUDGET_RATIO",	  SVC_DEP_RATE,	  "0.2",  0, 1000000,	SVC_DEP_OFF(c.budget.ratio) },
	{ "BUDGET_MIN_PER_SEC",	  SVC_DEP_INT,	  "5",	  0, 100000,	SVC_DEP_OFF(c.budget.min_per_sec) },
	{ "BUDGET_CAP",		  SVC_DEP_INT,	  "50",	  1, 100000,	SVC_DEP_OFF(c.budget.cap) },
	{ "TIMEOUT_MS",		  SVC_DEP_MS,	  "2000", 1, 600000,	SVC_DEP_OFF(c.timeout_us) },
	{ "CONNECT_TIMEOUT_MS",	  SVC_DEP_MS,	  "500",  1, 600000,	SVC_DEP_OFF(c.connect_timeout_us) },
	{ "MAX_RESPONSE_BYTES",	  SVC_DEP_INT,	  "1048576", 1024, 67108864, SVC_DEP_OFF(c.max_body) },
};

/* Names are lower-case words: they become label values and parts of variable names. */
static int
svc_dep_name_ok(const char *name)
{
	size_t i;

	for (i = 0; name[i] != '\0'; i++)
		if (i >= 31 || !(islower((unsigned char)name[i]) ||
		    isdigit((unsigned char)name[i]) || name[i] == '_'))
			return 0;
	return i > 0;
}

static const char *
svc_dep_lookup(const struct svc_dep_def *d, const char *up, char *used, size_t usedlen)
{
	const char *v;

	snprintf(used, usedlen, "SHOPLAB_DEP_%s_%s", up, d->key);
	if ((v = getenv(used)) != NULL)
		return v;
	snprintf(used, usedlen, "SHOPLAB_DEP_%s", d->key);
	if ((v = getenv(used)) != NULL)
		return v;
	if (d->type == SVC_DEP_SWITCH) {
		snprintf(used, usedlen, "SHOPLAB_%s", d->key);
		if ((v = getenv(used)) != NULL)
			return v;
	}
	snprintf(used, usedlen, "SHOPLAB_DEP_%s_%s", up, d->key);
	return NULL;
}

static int
svc_dep_parse_rate(const char *s, long long min, long long max, double *out)
{
	char	*end;
	double	 v;

	if (*s == '\0' || isspace((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !isfinite(v) || v * 1e6 < (double)min ||
	    v * 1e6 > (double)max)
		return -1;
	*out = v;
	return 0;
}

int
svc_dep_conf_load(struct svc_dep_conf *c, const char *name, char *err, size_t errlen)
{
	struct svc_dep_load	 l;
	char			 up[32], used[128];
	const char		*v;
	long long		 ll;
	int64_t			 us;
	double			 rate;
	int			 iv;
	size_t			 i, sz;

	if (!svc_dep_name_ok(name)) {
		snprintf(err, errlen, "dependency name \"%.40s\": want 1-31 of a-z, 0-9, _", name);
		return -1;
	}
	for (i = 0; name[i] != '\0'; i++)
		up[i] = (char)toupper((unsigned char)name[i]);
	up[i] = '\0';
	memset(&l, 0, sizeof(l));
	for (i = 0; i < SVC_NELEM(svc_dep_defs); i++) {
		const struct svc_dep_def *d = &svc_dep_defs[i];
		char *field = (char *)&l + d->offset;

		if ((v = svc_dep_lookup(d, up, used, sizeof(used))) == NULL)
			v = d->def;
		switch (d->type) {
		case SVC_DEP_SWITCH:
			if (svc_conf_set_bool(v, used, field, err, errlen) == -1)
				return -1;
			break;
		case SVC_DEP_INT:
		case SVC_DEP_MS:
			if (svc_conf_parse_ll(v, d->min, d->max, &ll) == -1) {
				snprintf(err, errlen, "%s=\"%.40s\": want an integer in %lld..%lld",
				    used, v, d->min, d->max);
				return -1;
			}
			if (d->type == SVC_DEP_MS) {
				us = (int64_t)ll * 1000;
				memcpy(field, &us, sizeof(us));
			} else if (d->offset == SVC_DEP_OFF(c.max_body)) {
				sz = (size_t)ll;
				memcpy(field, &sz, sizeof(sz));
			} else {
				iv = (int)ll;
				memcpy(field, &iv, sizeof(iv));
			}
			break;
		case SVC_DEP_RATE:
			if (svc_dep_parse_rate(v, d->min, d->max, &rate) == -1) {
				snprintf(err, errlen, "%s=\"%.40s\": want a fraction in %g..1 such as 0.5",
				    used, v, (double)d->min / 1e6);
				return -1;
			}
			memcpy(field, &rate, sizeof(rate));
			break;
		}
	}
	if (l.c.breaker.min_calls > l.c.breaker.window) {
		snprintf(err, errlen, "SHOPLAB_DEP_%s_BREAKER_MIN_CALLS (%d) is more than "
		    "SHOPLAB_DEP_%s_BREAKER_WINDOW (%d)", up, l.c.breaker.min_calls, up,
		    l.c.breaker.window);
		return -1;
	}
	if (l.c.backoff_base_us > l.c.backoff_cap_us) {
		snprintf(err, errlen, "SHOPLAB_DEP_%s_BACKOFF_BASE_MS is more than "
		    "SHOPLAB_DEP_%s_BACKOFF_CAP_MS", up, up);
		return -1;
	}
	if (!l.resilience)
		l.c.breaker.enabled = l.c.bulkhead_enabled = l.c.retry = l.c.budget.enabled = 0;
	*c = l.c;
	return 0;
}

int
svc_dep_init(struct svc_dep *d, const char *name, const struct svc_dep_conf *conf,
    const struct svc_clock *clock, char *err, size_t errlen)
{
	size_t i;

	memset(d, 0, sizeof(*d));
	if (!svc_dep_name_ok(name)) {
		snprintf(err, errlen, "dependency name \"%.40s\": want 1-31 of a-z, 0-9, _", name);
		return -1;
	}
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->conf = *conf;
	d->clock = clock;
	if (svc_breaker_init(&d->breaker, name, &conf->breaker, clock, err, errlen) == -1)
		return -1;
	if (svc_budget_init(&d->budget, &conf->budget, clock, err, errlen) == -1)
		goto out_free_breaker;
	svc_bulkhead_init(&d->bulkhead, conf->bulkhead_enabled, conf->bulkhead);
	for (i = 0; i < SVC_DEP_NATTEMPTS; i++)
		atomic_init(&d->attempts[i], 0);
	for (i = 0; i <= SVC_DEP_NBUCKETS; i++)
		atomic_init(&d->bucket[i], 0);
	atomic_init(&d->retries, 0);
	atomic_init(&d->bulkhead_waits, 0);
	atomic_init(&d->sum_us, 0);
	return 0;
out_free_breaker:
	svc_breaker_free(&d->breaker);
	return -1;
}

void
svc_dep_free(struct svc_dep *d)
{
	svc_budget_free(&d->budget);
	svc_breaker_free(&d->breaker);
}

struct svc_dep *
svc_dep_array_new(const char *const *names, size_t n, const struct svc_clock *clock, char *err,
    size_t errlen)
{
	struct svc_dep_conf	 conf;
	struct svc_dep		*deps;
	size_t			 i;

	if ((deps = calloc(n > 0 ? n : 1, sizeof(*deps))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (i = 0; i < n; i++)
		if (svc_dep_conf_load(&conf, names[i], err, errlen) == -1 ||
		    svc_dep_init(&deps[i], names[i], &conf, clock, err, errlen) == -1)
			goto out_free_deps;
	return deps;
out_free_deps:
	svc_dep_array_free(deps, i);
	return NULL;
}

void
svc_dep_array_free(struct svc_dep *deps, size_t n)
{
	size_t i;

	if (deps == NULL)
		return;
	for (i = 0; i < n; i++)
		svc_dep_free(&deps[i]);
	free(deps);
}

struct svc_dep *
svc_dep_find(struct svc_dep *deps, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(deps[i].name, name) == 0)
			return &deps[i];
	return NULL;
}

void
svc_sleep_us(void *ctx, int64_t us)
{
	struct timespec ts;

	(void)ctx;
	if (us <= 0)
		return;
	ts.tv_sec = (time_t)(us / 1000000);
	ts.tv_nsec = (long)(us % 1000000) * 1000;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static int
svc_dep_http_transport(void *ctx, const struct svc_http_call *call,
    const struct svc_http_opts *opts, struct svc_http_result *res)
{
	return svc_http_perform(ctx, call, opts, res);
}

int
svc_dep_caller_init(struct svc_dep_caller *c, uint64_t seed)
{
	memset(c, 0, sizeof(*c));
	if (svc_http_client_init(&c->http) == -1)
		return -1;
	c->rng = seed;
	c->transport = svc_dep_http_transport;
	c->transport_ctx = &c->http;
	c->sleep = svc_sleep_us;
	return 0;
}

void
svc_dep_caller_free(struct svc_dep_caller *c)
{
	svc_http_client_free(&c->http);
}

void
svc_dep_result_init(struct svc_dep_result *res)
{
	memset(res, 0, sizeof(*res));
	svc_http_result_init(&res->http);
}

void
svc_dep_result_free(struct svc_dep_result *res)
{
	svc_http_result_free(&res->http);
}

const char *
svc_dep_outcome_name(enum svc_dep_outcome o)
{
	static const char *const names[] = { "ok", "definite", "unknown", "unavailable" };

	return (size_t)o < SVC_NELEM(names) ? names[o] : "invalid";
}

const char *
svc_dep_reason_name(enum svc_dep_reason r)
{
	static const char *const names[] = { "none", "failed", "breaker_open", "bulkhead_full",
	    "budget_exhausted", "deadline_exceeded" };

	return (size_t)r < SVC_NELEM(names) ? names[r] : "invalid";
}

static void
svc_dep_count(struct svc_dep *d, enum svc_dep_attempt a)
{
	atomic_fetch_add_explicit(&d->attempts[a], 1, memory_order_relaxed);
}

static void
svc_dep_observe(struct svc_dep *d, int64_t dur_us)
{
	size_t b;

	if (dur_us < 0)
		dur_us = 0;
	for (b = 0; b < SVC_DEP_NBUCKETS && dur_us > svc_dep_buckets_us[b]; b++)
		;
	atomic_fetch_add_explicit(&d->bucket[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&d->sum_us, (unsigned long long)dur_us, memory_order_relaxed);
}

/*
 * A full bulkhead: a healthy dependency (breaker closed, nothing failed or slow in its
 * window) is only busy, so wait for a slot up to bulkhead_wait_us and never past the
 * call's deadline, polling with the caller's clock and sleeper (250 us, doubling to 2 ms:
 * waits are rare and short, and the polling keeps them exact under an injected clock).
 * A slow or failing one is shed at once. Returns 0 with a slot, -1 without (counted).
 */
static int
svc_dep_bulkhead_enter(struct svc_dep *d, struct svc_dep_caller *caller,
    const struct svc_http_call *call)
{
	const struct svc_clock	*clk = d->clock;
	int64_t			 now, until, step = 250;

	if (svc_bulkhead_try(&d->bulkhead) == 0)
		return 0;
	if (d->conf.bulkhead_wait_us > 0 && svc_breaker_healthy(&d->breaker)) {
		now = clk->now_us(clk->ctx);
		until = now + d->conf.bulkhead_wait_us;
		if (until > call->deadline_us)
			until = call->deadline_us;
		while (now < until) {
			caller->sleep(caller->sleep_ctx, step < until - now ? step : until - now);
			if (svc_bulkhead_try(&d->bulkhead) == 0) {
				atomic_fetch_add_explicit(&d->bulkhead_waits, 1, memory_order_relaxed);
				return 0;
			}
			if (step < 2000)
				step *= 2;
			now = clk->now_us(clk->ctx);
		}
	}
	atomic_fetch_add_explicit(&d->bulkhead.rejections, 1, memory_order_relaxed);
	return -1;
}

/*
 * One trip through the loop is one attempt, counted once by what became of it. A retry is
 * only for calls that are safe to repeat, only after an answer that did not say no, and
 * only when the budget and the deadline both leave room for it.
 */
int
svc_dep_call(struct svc_dep *d, struct svc_dep_caller *caller, const struct svc_http_call *call,
    struct svc_dep_result *res)
{
	struct svc_http_opts	 opts;
	const struct svc_clock	*clk = d->clock;
	int			 repeatable = call->idempotent || call->idempotency_key != NULL;
	int			 attempt, permit, seen_unknown = 0, made = 0, rc = -1;
	int64_t			 now, t0, dur, delay;
	enum svc_http_class	 last = SVC_HTTP_RETRYABLE;

	svc_http_result_reset(&res->http);
	res->outcome = SVC_DEP_UNAVAILABLE;
	res->reason = SVC_DEP_R_FAILED;
	res->attempts = 0;
	if (svc_http_call_check(call, res->http.error, sizeof(res->http.error)) == -1)
		goto out;
	svc_budget_deposit(&d->budget);
	for (attempt = 0;; attempt++) {
		if (attempt > 0) {
			delay = svc_backoff_delay(d->conf.backoff_base_us, d->conf.backoff_cap_us,
			    attempt - 1, call->deadline_us - clk->now_us(clk->ctx), &caller->rng);
			if (delay == SVC_BACKOFF_NO_TIME) {
				svc_dep_count(d, SVC_DEP_A_DEADLINE);
				res->reason = SVC_DEP_R_DEADLINE;
				break;
			}
			if (svc_budget_withdraw(&d->budget) == -1) {
				svc_dep_count(d, SVC_DEP_A_BUDGET_EXHAUSTED);
				res->reason = SVC_DEP_R_BUDGET;
				break;
			}
			caller->sleep(caller->sleep_ctx, delay);
			atomic_fetch_add_explicit(&d->retries, 1, memory_order_relaxed);
		}
		now = clk->now_us(clk->ctx);
		if (now >= call->deadline_us) {
			svc_dep_count(d, SVC_DEP_A_DEADLINE);
			res->reason = SVC_DEP_R_DEADLINE;
			break;
		}
		if (svc_dep_bulkhead_enter(d, caller, call) == -1) {
			svc_dep_count(d, SVC_DEP_A_REJECTED_BULKHEAD);
			res->reason = SVC_DEP_R_BULKHEAD;
			break;
		}
		if ((permit = svc_breaker_allow(&d->breaker)) == SVC_BREAKER_REJECT) {
			svc_bulkhead_leave(&d->bulkhead);
			svc_dep_count(d, SVC_DEP_A_REJECTED_BREAKER);
			res->reason = SVC_DEP_R_BREAKER;
			break;
		}
		opts.timeout_us = d->conf.timeout_us;
		opts.connect_timeout_us = d->conf.connect_timeout_us;
		opts.remaining_us = call->deadline_us - now;
		opts.max_body = d->conf.max_body;
		t0 = clk->now_us(clk->ctx);
		if (caller->transport(caller->transport_ctx, call, &opts, &res->http) == -1) {
			svc_breaker_release(&d->breaker, permit);
			svc_bulkhead_leave(&d->bulkhead);
			goto out;
		}
		dur = clk->now_us(clk->ctx) - t0;
		last = res->http.cls;
		made++;
		/* A 4xx is the dependency working as it should: only the breaker's business is health. */
		svc_breaker_record(&d->breaker, permit,
		    last == SVC_HTTP_OK || last == SVC_HTTP_DEFINITE, dur);
		svc_bulkhead_leave(&d->bulkhead);
		svc_dep_observe(d, dur);
		if (last == SVC_HTTP_OK || last == SVC_HTTP_DEFINITE) {
			svc_dep_count(d, last == SVC_HTTP_OK ? SVC_DEP_A_SUCCESS : SVC_DEP_A_DEFINITE);
			break;
		}
		if (last == SVC_HTTP_UNKNOWN) {
			svc_dep_count(d, SVC_DEP_A_UNKNOWN);
			seen_unknown = 1;
		} else
			svc_dep_count(d, SVC_DEP_A_FAILURE);
		res->reason = SVC_DEP_R_FAILED;
		if (!d->conf.retry || !repeatable || attempt >= d->conf.retries)
			break;
	}
	res->attempts = made;
	if (made > 0 && last == SVC_HTTP_OK) {
		res->outcome = SVC_DEP_OK;
		res->reason = SVC_DEP_R_NONE;
	} else if (made > 0 && last == SVC_HTTP_DEFINITE) {
		res->outcome = SVC_DEP_DEFINITE;
		res->reason = SVC_DEP_R_NONE;
	} else if (seen_unknown)
		/* An earlier attempt may have done the work: saying "unavailable" would be a lie. */
		res->outcome = SVC_DEP_UNKNOWN;
	else
		res->outcome = SVC_DEP_UNAVAILABLE;
	rc = 0;
out:
	return rc;
}

/* Writes s as a Prometheus label value: backslash, quote and newline escaped. */
static void
svc_dep_label(struct svc_buf *out, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			svc_buf_printf(out, "\\%c", *s);
		else if (*s == '\n')
			svc_buf_puts(out, "\\n");
		else
			svc_buf_append(out, s, 1);
	}
}

static void
svc_dep_family(struct svc_buf *out, const char *name, const char *type, const char *help)
{
	svc_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Starts a sample: name{service="...",dep="..." (the caller adds labels and the value). */
static void
svc_dep_sample(struct svc_buf *out, const char *name, const char *service,
    const struct svc_dep *d)
{
	svc_buf_printf(out, "%s{service=\"", name);
	svc_dep_label(out, service);
	svc_buf_printf(out, "\",dep=\"%s\"", d->name);
}

/* The series with one sample per dependency, by what they read (svc_dep_value). */
enum svc_dep_what {
	SVC_DEP_RETRIES, SVC_DEP_WAITS, SVC_DEP_EXHAUSTED, SVC_DEP_STATE, SVC_DEP_REJECTIONS,
	SVC_DEP_INUSE,
};

static const struct svc_dep_series {
	const char		*name, *type, *help;
	enum svc_dep_what	 what;
} svc_dep_series_before[] = {
	{ "shoplab_dep_retries_total", "counter", "Retries sent to a dependency.",
	    SVC_DEP_RETRIES },
	{ "shoplab_dep_bulkhead_waits_total", "counter",
	    "Calls admitted by a full bulkhead after a short wait for a slot.", SVC_DEP_WAITS },
	{ "shoplab_dep_budget_exhausted_total", "counter",
	    "Retries refused because the retry budget was empty.", SVC_DEP_EXHAUSTED },
	{ "shoplab_dep_breaker_state", "gauge",
	    "Circuit breaker state: 0 closed, 1 open, 2 half-open.", SVC_DEP_STATE },
}, svc_dep_series_after[] = {
	{ "shoplab_dep_bulkhead_rejections_total", "counter",
	    "Calls refused because the dependency's bulkhead was full.", SVC_DEP_REJECTIONS },
	{ "shoplab_dep_bulkhead_in_use", "gauge",
	    "Calls to the dependency in progress now.", SVC_DEP_INUSE },
};

static unsigned long long
svc_dep_value(const struct svc_dep *d, enum svc_dep_what what)
{
	switch (what) {
	case SVC_DEP_RETRIES:
		return atomic_load(&d->retries);
	case SVC_DEP_WAITS:
		return atomic_load(&d->bulkhead_waits);
	case SVC_DEP_EXHAUSTED:
		return atomic_load(&d->budget.exhausted);
	case SVC_DEP_STATE:
		return (unsigned long long)atomic_load(&d->breaker.state_pub);
	case SVC_DEP_REJECTIONS:
		return atomic_load(&d->bulkhead.rejections);
	case SVC_DEP_INUSE:
		return (unsigned long long)atomic_load(&d->bulkhead.inuse);
	}
	return 0;
}

/* Each series of s[0..ns): its family, then a sample per dependency. */
static void
svc_dep_series_write(const struct svc_dep_series *s, size_t ns, const struct svc_dep *deps,
    size_t n, const char *service, struct svc_buf *out)
{
	size_t i, k;

	for (k = 0; k < ns; k++) {
		svc_dep_family(out, s[k].name, s[k].type, s[k].help);
		for (i = 0; i < n; i++) {
			svc_dep_sample(out, s[k].name, service, &deps[i]);
			svc_buf_printf(out, "} %llu\n", svc_dep_value(&deps[i], s[k].what));
		}
	}
}

int
svc_dep_metrics_write(const struct svc_dep *deps, size_t n, const char *service,
    struct svc_buf *out)
{
	static const struct {
		enum svc_breaker_transition	t;
		const char			*from, *to;
	} trans[] = {
		{ SVC_BREAKER_CLOSED_OPEN, "closed", "open" },
		{ SVC_BREAKER_OPEN_HALF_OPEN, "open", "half_open" },
		{ SVC_BREAKER_HALF_OPEN_CLOSED, "half_open", "closed" },
		{ SVC_BREAKER_HALF_OPEN_OPEN, "half_open", "open" },
	};
	size_t i, j;

	if (n == 0)
		return out->failed ? -1 : 0;
	svc_dep_family(out, "shoplab_dep_calls_total", "counter",
	    "Attempts at calling a dependency, made or refused, by outcome.");
	for (i = 0; i < n; i++)
		for (j = 0; j < SVC_DEP_NATTEMPTS; j++) {
			svc_dep_sample(out, "shoplab_dep_calls_total", service, &deps[i]);
			svc_buf_printf(out, ",outcome=\"%s\"} %llu\n", svc_dep_attempt_names[j],
			    atomic_load(&deps[i].attempts[j]));
		}
	svc_dep_series_write(svc_dep_series_before, SVC_NELEM(svc_dep_series_before), deps, n,
	    service, out);
	svc_dep_family(out, "shoplab_dep_breaker_transitions_total", "counter",
	    "Circuit breaker state changes.");
	for (i = 0; i < n; i++)
		for (j = 0; j < SVC_NELEM(trans); j++) {
			svc_dep_sample(out, "shoplab_dep_breaker_transitions_total", service,
			    &deps[i]);
			svc_buf_printf(out, ",from=\"%s\",to=\"%s\"} %llu\n", trans[j].from,
			    trans[j].to, atomic_load(&deps[i].breaker.transitions[trans[j].t]));
		}
	svc_dep_series_write(svc_dep_series_after, SVC_NELEM(svc_dep_series_after), deps, n,
	    service, out);
	svc_dep_family(out, "shoplab_dep_call_duration_seconds", "histogram",
	    "Time of each request to a dependency, retries counted apart.");
	for (i = 0; i < n; i++) {
		unsigned long long cum = 0;

		for (j = 0; j <= SVC_DEP_NBUCKETS; j++) {
			cum += atomic_load(&deps[i].bucket[j]);
			svc_dep_sample(out, "shoplab_dep_call_duration_seconds_bucket", service,
			    &deps[i]);
			if (j < SVC_DEP_NBUCKETS)
				svc_buf_printf(out, ",le=\"%g\"} %llu\n",
				    (double)svc_dep_buckets_us[j] / 1e6, cum);
			else
				svc_buf_printf(out, ",le=\"+Inf\"} %llu\n", cum);
		}
		svc_dep_sample(out, "shoplab_dep_call_duration_seconds_sum", service, &deps[i]);
		svc_buf_printf(out, "} %.6f\n", (double)atomic_load(&deps[i].sum_us) / 1e6);
		svc_dep_sample(out, "shoplab_dep_call_duration_seconds_count", service, &deps[i]);
		svc_buf_printf(out, "} %llu\n", cum);
	}
	return out->failed ? -1 : 0;
}

/* The error code of a JSON error answer ({"error":{"code":...}}), or "". */
static void
svc_call_code(json_object *json, char *out, size_t outlen)
{
	json_object *e, *c;

	out[0] = '\0';
	if (json != NULL && json_object_object_get_ex(json, "error", &e) &&
	    json_object_object_get_ex(e, "code", &c) && json_object_is_type(c, json_type_string))
		snprintf(out, outlen, "%s", json_object_get_string(c));
}

int
svc_call(struct svc_req *r, const char *dep, const char *method, const char *path,
    const char *body, const char *idempotency_key, int idempotent, struct svc_call_result *res)
{
	struct svc_http_call	 call;
	struct svc_dep_result	 dr;
	struct svc_dep		*d;
	int			 rc = SVC_ERR_INTERNAL;

	memset(res, 0, sizeof(*res));
	res->outcome = SVC_CALL_UNAVAILABLE;
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
	svc_dep_result_init(&dr);
	if (svc_dep_call(d, &r->w->caller, &call, &dr) != 0)
		goto out;
	switch (dr.outcome) {
	case SVC_DEP_OK:	res->outcome = SVC_CALL_OK; break;
	case SVC_DEP_DEFINITE:	res->outcome = SVC_CALL_NO; break;
	case SVC_DEP_UNKNOWN:	res->outcome = SVC_CALL_UNKNOWN; break;
	default:		res->outcome = SVC_CALL_UNAVAILABLE; break;
	}
	if (dr.attempts > 0) {
		res->status = (int)dr.http.status;
		res->json = dr.http.json != NULL ? json_object_get(dr.http.json) : NULL;
		svc_call_code(res->json, res->code, sizeof(res->code));
	}
	rc = SVC_OK;
out:
	svc_dep_result_free(&dr);
	return rc;
}

void
svc_call_result_free(struct svc_call_result *res)
{
	json_object_put(res->json);
	res->json = NULL;
}
