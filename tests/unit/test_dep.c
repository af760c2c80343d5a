/* test_dep.c - svc_dep_call's loop over a fake transport and sleeper, settings, and metrics text */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "svc_unit.h"

#include "svc_req_int.h"
#include "svc_resilience.h"
#include "svc_util_int.h"

#define MAXCALLS 32

/* The world a test controls: its clock, what the dependency answers, and the sleeps asked for. */
struct world {
	int64_t			now;
	struct svc_clock	clock;
	enum svc_http_class	script[MAXCALLS];	/* answer to call i; the last repeats */
	int			nscript;
	int64_t			call_us;		/* how long each call takes */
	int			calls;
	int64_t			remaining[MAXCALLS];	/* opts->remaining_us seen by call i */
	int64_t			started[MAXCALLS];
	int64_t			sleeps[MAXCALLS];
	int			nsleeps;
	int64_t			slept;
	int64_t			free_slot_after;	/* > 0: a bulkhead slot frees once slept this long */
	struct svc_dep		dep;
	struct svc_dep_caller	caller;
};

static int64_t
fake_now(void *ctx)
{
	return ((struct world *)ctx)->now;
}

static int
fake_transport(void *ctx, const struct svc_http_call *call, const struct svc_http_opts *opts,
    struct svc_http_result *res)
{
	struct world		*w = ctx;
	enum svc_http_class	 cls = w->script[w->calls < w->nscript ? w->calls : w->nscript - 1];
	static const int	 status[] = { 200, 404, 503, 0 };

	(void)call;
	svc_http_result_reset(res);
	if (w->calls < MAXCALLS) {
		w->remaining[w->calls] = opts->remaining_us;
		w->started[w->calls] = w->now;
	}
	w->calls++;
	w->now += w->call_us;
	res->cls = cls;
	res->status = status[cls];
	res->sent = cls != SVC_HTTP_RETRYABLE;
	return 0;
}

static void
fake_sleep(void *ctx, int64_t us)
{
	struct world *w = ctx;

	assert_true(us >= 0);
	if (w->nsleeps < MAXCALLS)
		w->sleeps[w->nsleeps++] = us;
	w->now += us;
	w->slept += us;
	if (w->free_slot_after > 0 && w->slept >= w->free_slot_after) {
		svc_bulkhead_leave(&w->dep.bulkhead);
		w->free_slot_after = 0;
	}
}

static struct svc_dep_conf
test_conf(void)
{
	struct svc_dep_conf c = svc_unit_dep_conf(3, 10000, 25000, 4, 500000, 100000, 65536);

	c.breaker.enabled = 1;
	c.breaker.window = 20;
	c.breaker.min_calls = 10;
	c.breaker.failure_rate = 0.5;
	c.breaker.slow_rate = 1.0;
	c.breaker.slow_call_us = 10000000;
	c.breaker.open_wait_us = 1000000;
	c.breaker.probes = 2;
	c.budget.enabled = 1;
	c.budget.ratio = 0.2;
	c.budget.min_per_sec = 100;
	c.budget.cap = 100;
	return c;
}

static struct world *
world_new(const struct svc_dep_conf *c)
{
	struct world	*w = test_calloc(1, sizeof(*w));
	char		 err[160];

	assert_non_null(w);
	w->now = 1000000000;
	w->clock.now_us = fake_now;
	w->clock.ctx = w;
	w->nscript = 1;
	w->script[0] = SVC_HTTP_OK;
	w->call_us = 1000;
	assert_int_equal(svc_dep_init(&w->dep, "payments", c, &w->clock, err, sizeof(err)), 0);
	/* No curl here: the caller is built by hand with the fakes in place. */
	memset(&w->caller, 0, sizeof(w->caller));
	w->caller.rng = 12345;
	w->caller.transport = fake_transport;
	w->caller.transport_ctx = w;
	w->caller.sleep = fake_sleep;
	w->caller.sleep_ctx = w;
	return w;
}

static void
world_free(struct world *w)
{
	svc_dep_free(&w->dep);
	test_free(w);
}

static struct svc_http_call
test_call(struct world *w, int idempotent, const char *key)
{
	struct svc_http_call c = {
		.method = "POST", .base_url = "http://127.0.0.1:1", .path = "/charges",
		.body = "{}", .request_id = "rid-1", .service_token = "tok",
		.idempotency_key = key, .idempotent = idempotent,
		.deadline_us = w->now + 2000000,
	};

	return c;
}

static unsigned long long
attempts(struct world *w, enum svc_dep_attempt a)
{
	return atomic_load(&w->dep.attempts[a]);
}

static void
test_retries_retryable_up_to_limit(void **state)
{
	struct svc_dep_conf	c = test_conf();
	struct world		*w = world_new(&c);
	struct svc_http_call	 call = test_call(w, 1, NULL);
	struct svc_dep_result	 res;
	int			 k;

	(void)state;
	w->script[0] = SVC_HTTP_RETRYABLE;
	svc_dep_result_init(&res);
	assert_int_equal(svc_dep_call(&w->dep, &w->caller, &call, &res), 0);
	assert_int_equal(res.outcome, SVC_DEP_UNAVAILABLE);
	assert_int_equal(res.reason, SVC_DEP_R_FAILED);
	assert_int_equal(res.attempts, 4);
	assert_int_equal(w->calls, 4);
	assert_int_equal(w->nsleeps, 3);
	for (k = 0; k < 3; k++) {
		int64_t ceiling = c.backoff_base_us << k;

		ceiling = ceiling < c.backoff_cap_us ? ceiling : c.backoff_cap_us;
		assert_true(w->sleeps[k] >= 0 && w->sleeps[k] <= ceiling);
		/* Each retry starts after the previous call and its sleep, not before. */
		assert_int_equal(w->started[k + 1], w->started[k] + w->call_us + w->sleeps[k]);
	}
	assert_int_equal(attempts(w, SVC_DEP_A_FAILURE), 4);
	assert_int_equal(atomic_load(&w->dep.retries), 3);
	/* X-Deadline-Ms is worked out afresh for every attempt. */
	assert_int_equal(w->remaining[0], 2000000);
	assert_int_equal(w->remaining[1], 2000000 - w->call_us - w->sleeps[0]);
	svc_dep_result_free(&res);
	world_free(w);
}

static void
test_success_after_failures(void **state)
{
	struct svc_dep_conf	c = test_conf();
	struct world		*w = world_new(&c);
	struct svc_http_call	 call = test_call(w, 0, "order-7");
	struct svc_dep_result	 res;

	(void)state;
	w->script[0] = SVC_HTTP_UNKNOWN;
	w->script[1] = SVC_HTTP_RETRYABLE;
	w->script[2] = SVC_HTTP_OK;
	w->nscript = 3;
	svc_dep_result_init(&res);
	assert_int_equal(svc_dep_call(&w->dep, &w->caller, &call, &res), 0);
	assert_int_equal(res.outcome, SVC_DEP_OK);
	assert_int_equal(res.http.status, 200);
	assert_int_equal(res.attempts, 3);
	assert_int_equal(attempts(w, SVC_DEP_A_UNKNOWN), 1);
	assert_int_equal(attempts(w, SVC_DEP_A_FAILURE), 1);
	assert_int_equal(attempts(w, SVC_DEP_A_SUCCESS), 1);
	svc_dep_result_free(&res);
	world_free(w);
}

static void
test_non_idempotent_not_retried(void **state)
{
	struct svc_dep_conf	c = test_conf();
	struct world		*w = world_new(&c);
	struct svc_http_call	 call = test_call(w, 0, NULL);
	struct svc_dep_result	 res;

	(void)state;
	w->script[0] = SVC_HTTP_RETRYABLE;
	svc_dep_result_init(&res);
	assert_int_equal(svc_dep_call(&w->dep, &w->caller, &call, &res), 0);
	assert_int_equal(res.outcome, SVC_DEP_UNAVAILABLE);
	assert_int_equal(w->calls, 1);
	/* A timeout of a call that cannot be repeated is reported as unknown, never as failed. */
	w->script[0] = SVC_HTTP_UNKNOWN;
	assert_int_equal(svc_dep_call(&w->dep, &w->caller, &call, &res), 0);
	assert_int_equal(res.outcome, SVC_DEP_UNKNOWN);
	assert_int_equal(w->calls, 2);
	assert_int_equal(w->nsleeps, 0);
	assert_int_equal(atomic_load(&w->dep.retries), 0);
	svc_dep_result_free(&res);
	world_free(w);
}

static void
test_definite_not_retried_and_healthy(void **state)
{
	struct svc_dep_conf	c = test_conf();
	struct world		*w = world_new(&c);
	struct svc_http_call	 call = test_call(w, 1, "k");
	struct svc_dep_result	 res;
	int			 i;

	(void)state;
	w->script[0] = SVC_HTTP_DEFINITE;
	svc_dep_result_init(&res);
	for (i = 0; i < 30; i++) {
		assert_int_equal(svc_dep_call(&w->dep, &w->caller, &call, &res), 0);
		assert_int_equal(res.outcome, SVC_DEP_DEFINITE);
		assert_int_equal(res.http.status, 404);
	}
	assert_int_equal(w->calls, 30);
	assert_int_equal(w->nsleeps, 0);
	/* 4xx are answers: thirty of them leave the breaker closed. */
	assert_int_equal(svc_breaker_state(&w->dep.breaker), SVC_BREAKER_CLOSED);
	assert_int_equal(attempts(w, SVC_DEP_A_DEFINITE), 30);
	svc_dep_result_free(&res);
	world_free(w);
}

static void
test_stops_at_deadline(void **state)
{
	struct svc_dep_conf	c = test_conf();
	struct world		*w = world_new(&c);
	struct svc_http_call	 call = test_call(w, 1, NULL);
	struct svc_dep_result	 res;
	int			 i;

	(void)state;
	c.retries = 10;
	svc_dep_free(&w->dep);
	{
		char err[128];
		assert_int_equal(svc_dep_init(&w->dep, "payments", &c, &w->clock, err,
		    sizeof(err)), 0);
	}
	w->script[0] = SVC_HTTP_UNKNOWN;
	w->call_us = 40000;
	call.deadline_us = w->now + 100000;
	svc_dep_result_init(&res);
	assert_int_equal(svc_dep_call(&w->dep, &w->caller, &call, &res), 0);
	assert_int_equal(res.outcome, SVC_DEP_UNKNOWN);
	assert_int_equal(res.reason, SVC_DEP_R_DEADLINE);
	assert_true(w->calls >= 2 && w->calls <= 3);
	for (i = 0; i < w->calls; i++)
		assert_true(w->started[i] < call.deadline_us);
	assert_int_equal(attempts(w, SVC_DEP_A_DEADLINE), 1);

	/* Past the deadline nothing is sent at all. */
	call.deadline_us = w->now;
	i = w->calls;
	assert_int_equal(svc_dep_call(&w->dep, &w->caller, &call, &res), 0);
	assert_int_equal(res.outcome, SVC_DEP_UNAVAILABLE);
	assert_int_equal(res.reason, SVC_DEP_R_DEADLINE);
	assert_int_equal(res.attempts, 0);
	assert_int_equal(w->calls, i);
	svc_dep_result_free(&res);
	world_free(w);
}

static void
test_budget_exhaustion_counted(void **state)
{
	struct svc_dep_conf	c = test_conf();
	struct world		*w;
	struct svc_http_call	 call;
	struct svc_dep_result	 res;

	(void)state;
	c.budget.ratio = 0.5;
	c.budget.min_per_sec = 0;
	w = world_new(&c);
	call = test_call(w, 1, NULL);
	w->script[0] = SVC_HTTP_RETRYABLE;
	svc_dep_result_init(&res);
	/* First call: half a token, no retry. Second: a whole one, one retry, then none. */
	assert_int_equal(svc_dep_call(&w->dep, &w->caller, &call, &res), 0);
	assert_int_equal(res.reason, SVC_DEP_R_BUDGET);
	assert_int_equal(w->calls, 1);
	assert_int_equal(svc_dep_call(&w->dep, &w->caller, &call, &res), 0);
	assert_int_equal(res.reason, SVC_DEP_R_BUDGET);
	assert_int_equal(res.attempts, 2);
	assert_int_equal(w->calls, 3);
	assert_int_equal(atomic_load(&w->dep.budget.exhausted), 2);
	assert_int_equal(attempts(w, SVC_DEP_A_BUDGET_EXHAUSTED), 2);
	assert_int_equal(atomic_load(&w->dep.retries), 1);
	svc_dep_result_free(&res);
	world_free(w);
}

static void
test_breaker_opens_then_fails_fast(void **state)
{
	struct svc_dep_conf	c = test_conf();
	struct world		*w;
	struct svc_http_call	 call;
	struct svc_dep_result	 res;
	int			 i;

	(void)state;
	c.retries = 0;
	w = world_new(&c);
	call = test_call(w, 1, NULL);
	w->script[0] = SVC_HTTP_RETRYABLE;
	svc_dep_result_init(&res);
	for (i = 0; i < 10; i++) {
		assert_int_equal(svc_dep_call(&w->dep, &w->caller, &call, &res), 0);
		assert_int_equal(res.reason, SVC_DEP_R_FAILED);
	}
	assert_int_equal(svc_breaker_state(&w->dep.breaker), SVC_BREAKER_OPEN);
	for (i = 0; i < 5; i++) {
		assert_int_equal(svc_dep_call(&w->dep, &w->caller, &call, &res), 0);
		assert_int_equal(res.outcome, SVC_DEP_UNAVAILABLE);
		assert_int_equal(res.reason, SVC_DEP_R_BREAKER);
		assert_int_equal(res.attempts, 0);
	}
	assert_int_equal(w->calls, 10);
	assert_int_equal(attempts(w, SVC_DEP_A_REJECTED_BREAKER), 5);
	/* The bulkhead slot taken before the breaker said no was given back. */
	assert_int_equal(atomic_load(&w->dep.bulkhead.inuse), 0);
	/* After the wait, two good probes close it again. */
	w->now += c.breaker.open_wait_us;
	w->script[0] = SVC_HTTP_OK;
	for (i = 0; i < 2; i++) {
		assert_int_equal(svc_dep_call(&w->dep, &w->caller, &call, &res), 0);
		assert_int_equal(res.outcome, SVC_DEP_OK);
	}
	assert_int_equal(svc_breaker_state(&w->dep.breaker), SVC_BREAKER_CLOSED);
	svc_dep_result_free(&res);
	world_free(w);
}

static void
test_unknown_stays_unknown_when_breaker_opens(void **state)
{
	struct svc_dep_conf	c = test_conf();
	struct world		*w;
	struct svc_http_call	 call;
	struct svc_dep_result	 res;
	int			 permits[10], i;

	(void)state;
	w = world_new(&c);
	call = test_call(w, 0, "charge-1");
	/* Nine failures already in the window: the next failure opens the breaker. */
	for (i = 0; i < 9; i++)
		permits[i] = svc_breaker_allow(&w->dep.breaker);
	for (i = 0; i < 9; i++)
		svc_breaker_record(&w->dep.breaker, permits[i], 0, 10);
	w->script[0] = SVC_HTTP_UNKNOWN;
	svc_dep_result_init(&res);
	assert_int_equal(svc_dep_call(&w->dep, &w->caller, &call, &res), 0);
	assert_int_equal(w->calls, 1);
	assert_int_equal(res.reason, SVC_DEP_R_BREAKER);
	assert_int_equal(res.outcome, SVC_DEP_UNKNOWN);
	svc_dep_result_free(&res);
	world_free(w);
}

static void
test_bulkhead_full_fails_fast(void **state)
{
	struct svc_dep_conf	c = test_conf();
	struct world		*w;
	struct svc_http_call	 call;
	struct svc_dep_result	 res;
	int			 i;

	(void)state;
	c.bulkhead = 2;
	w = world_new(&c);
	call = test_call(w, 1, NULL);
	for (i = 0; i < 2; i++)
		assert_int_equal(svc_bulkhead_enter(&w->dep.bulkhead), 0);
	svc_dep_result_init(&res);
	assert_int_equal(svc_dep_call(&w->dep, &w->caller, &call, &res), 0);
	assert_int_equal(res.outcome, SVC_DEP_UNAVAILABLE);
	assert_int_equal(res.reason, SVC_DEP_R_BULKHEAD);
	assert_int_equal(w->calls, 0);
	assert_int_equal(atomic_load(&w->dep.bulkhead.rejections), 1);
	svc_bulkhead_leave(&w->dep.bulkhead);
	assert_int_equal(svc_dep_call(&w->dep, &w->caller, &call, &res), 0);
	assert_int_equal(res.outcome, SVC_DEP_OK);
	assert_int_equal(w->calls, 1);
	svc_bulkhead_leave(&w->dep.bulkhead);
	svc_dep_result_free(&res);
	world_free(w);
}

/* A healthy dependency's full bulkhead: the call waits (exactly, by the injected clock). */
static void
test_bulkhead_waits_for_a_slot_when_healthy(void **state)
{
	struct svc_dep_conf	c = test_conf();
	struct world		*w;
	struct svc_http_call	 call;
	struct svc_dep_result	 res;

	(void)state;
	c.bulkhead = 1;
	c.bulkhead_wait_us = 100000;
	w = world_new(&c);
	call = test_call(w, 1, NULL);
	assert_int_equal(svc_bulkhead_enter(&w->dep.bulkhead), 0);
	w->free_slot_after = 3000;
	svc_dep_result_init(&res);
	assert_int_equal(svc_dep_call(&w->dep, &w->caller, &call, &res), 0);
	assert_int_equal(res.outcome, SVC_DEP_OK);
	assert_int_equal(w->calls, 1);
	/* 250 us, doubling to 2 ms: the slot freed during the fourth sleep. */
	assert_int_equal(w->nsleeps, 4);
	assert_int_equal(w->sleeps[0], 250);
	assert_int_equal(w->sleeps[3], 2000);
	assert_int_equal(atomic_load(&w->dep.bulkhead_waits), 1);
	assert_int_equal(atomic_load(&w->dep.bulkhead.rejections), 0);
	assert_int_equal(atomic_load(&w->dep.bulkhead.inuse), 0);
	svc_dep_result_free(&res);
	world_free(w);
}

/* The wait is bounded by its setting, then the call is shed as before. */
static void
test_bulkhead_wait_is_bounded(void **state)
{
	struct svc_dep_conf	c = test_conf();
	struct world		*w;
	struct svc_http_call	 call;
	struct svc_dep_result	 res;
	int64_t			 t0;

	(void)state;
	c.bulkhead = 1;
	c.bulkhead_wait_us = 10000;
	w = world_new(&c);
	call = test_call(w, 1, NULL);
	assert_int_equal(svc_bulkhead_enter(&w->dep.bulkhead), 0);
	t0 = w->now;
	svc_dep_result_init(&res);
	assert_int_equal(svc_dep_call(&w->dep, &w->caller, &call, &res), 0);
	assert_int_equal(res.outcome, SVC_DEP_UNAVAILABLE);
	assert_int_equal(res.reason, SVC_DEP_R_BULKHEAD);
	assert_int_equal(w->now - t0, 10000);
	assert_int_equal(w->slept, 10000);
	assert_int_equal(w->calls, 0);
	assert_int_equal(atomic_load(&w->dep.bulkhead.rejections), 1);
	assert_int_equal(atomic_load(&w->dep.bulkhead_waits), 0);
	/* Never past the call's deadline either. */
	c.bulkhead_wait_us = 5000000;
	svc_dep_free(&w->dep);
	{
		char err[160];

		assert_int_equal(svc_dep_init(&w->dep, "payments", &c, &w->clock, err,
		    sizeof(err)), 0);
	}
	assert_int_equal(svc_bulkhead_enter(&w->dep.bulkhead), 0);
	call = test_call(w, 1, NULL);
	t0 = w->now;
	assert_int_equal(svc_dep_call(&w->dep, &w->caller, &call, &res), 0);
	assert_int_equal(res.reason, SVC_DEP_R_BULKHEAD);
	assert_true(w->now - t0 <= 2000000);
	svc_dep_result_free(&res);
	world_free(w);
}

/* A dependency that failed lately is not waited for: shedding stays immediate. */
static void
test_bulkhead_sheds_at_once_when_unhealthy(void **state)
{
	struct svc_dep_conf	c = test_conf();
	struct world		*w;
	struct svc_http_call	 call;
	struct svc_dep_result	 res;

	(void)state;
	c.bulkhead = 1;
	c.bulkhead_wait_us = 100000;
	c.retry = 0;
	w = world_new(&c);
	call = test_call(w, 1, NULL);
	w->script[0] = SVC_HTTP_RETRYABLE;
	svc_dep_result_init(&res);
	assert_int_equal(svc_dep_call(&w->dep, &w->caller, &call, &res), 0);
	assert_int_equal(res.outcome, SVC_DEP_UNAVAILABLE);
	assert_false(svc_breaker_healthy(&w->dep.breaker));
	assert_int_equal(svc_breaker_state(&w->dep.breaker), SVC_BREAKER_CLOSED);
	assert_int_equal(svc_bulkhead_enter(&w->dep.bulkhead), 0);
	w->nsleeps = 0;
	assert_int_equal(svc_dep_call(&w->dep, &w->caller, &call, &res), 0);
	assert_int_equal(res.reason, SVC_DEP_R_BULKHEAD);
	assert_int_equal(w->nsleeps, 0);
	svc_bulkhead_leave(&w->dep.bulkhead);
	svc_dep_result_free(&res);
	world_free(w);
}

static void
test_retry_off_means_one_attempt(void **state)
{
	struct svc_dep_conf	c = test_conf();
	struct world		*w;
	struct svc_http_call	 call;
	struct svc_dep_result	 res;

	(void)state;
	c.retry = 0;
	w = world_new(&c);
	call = test_call(w, 1, "k");
	w->script[0] = SVC_HTTP_RETRYABLE;
	svc_dep_result_init(&res);
	assert_int_equal(svc_dep_call(&w->dep, &w->caller, &call, &res), 0);
	assert_int_equal(w->calls, 1);
	svc_dep_result_free(&res);
	world_free(w);
}

static void
test_bad_call_is_local_error(void **state)
{
	struct svc_dep_conf	c = test_conf();
	struct world		*w = world_new(&c);
	struct svc_http_call	 call = test_call(w, 1, "key\r\nX-Evil: 1");
	struct svc_dep_result	 res;

	(void)state;
	svc_dep_result_init(&res);
	assert_int_equal(svc_dep_call(&w->dep, &w->caller, &call, &res), -1);
	assert_int_equal(w->calls, 0);
	assert_string_equal(res.http.error, "bad header value");
	svc_dep_result_free(&res);
	world_free(w);
}

static void
clear_env(void)
{
	char		**e;
	char		 name[128];

	/* Unsets every SHOPLAB_* variable, so that the machine's environment cannot leak in. */
	for (e = environ; *e != NULL;) {
		const char *eq = strchr(*e, '=');

		if (strncmp(*e, "SHOPLAB_", 8) == 0 && eq != NULL &&
		    (size_t)(eq - *e) < sizeof(name)) {
			snprintf(name, sizeof(name), "%.*s", (int)(eq - *e), *e);
			unsetenv(name);
			e = environ;
		} else
			e++;
	}
}

static void
test_conf_defaults_and_overrides(void **state)
{
	struct svc_dep_conf	c;
	char			err[200];

	(void)state;
	clear_env();
	assert_int_equal(svc_dep_conf_load(&c, "payments", err, sizeof(err)), 0);
	assert_int_equal(c.breaker.enabled, 1);
	assert_int_equal(c.breaker.window, 20);
	assert_int_equal(c.breaker.min_calls, 10);
	assert_true(c.breaker.failure_rate == 0.5);
	assert_int_equal(c.breaker.open_wait_us, 5000000);
	assert_int_equal(c.retries, 2);
	assert_int_equal(c.timeout_us, 2000000);
	assert_int_equal(c.bulkhead, 8);
	assert_int_equal(c.bulkhead_wait_us, 500000);

	/* Every dependency's default, then one dependency's own value. */
	setenv("SHOPLAB_DEP_TIMEOUT_MS", "1500", 1);
	setenv("SHOPLAB_DEP_PAYMENTS_TIMEOUT_MS", "3000", 1);
	setenv("SHOPLAB_DEP_BREAKER_FAILURE_RATE", "0.25", 1);
	assert_int_equal(svc_dep_conf_load(&c, "payments", err, sizeof(err)), 0);
	assert_int_equal(c.timeout_us, 3000000);
	assert_true(c.breaker.failure_rate == 0.25);
	assert_int_equal(svc_dep_conf_load(&c, "inventory", err, sizeof(err)), 0);
	assert_int_equal(c.timeout_us, 1500000);

	/* Switches: global, per dependency, and the master switch. */
	setenv("SHOPLAB_BREAKER", "off", 1);
	assert_int_equal(svc_dep_conf_load(&c, "inventory", err, sizeof(err)), 0);
	assert_int_equal(c.breaker.enabled, 0);
	assert_int_equal(c.retry, 1);
	setenv("SHOPLAB_DEP_PAYMENTS_BREAKER", "on", 1);
	setenv("SHOPLAB_DEP_PAYMENTS_RETRY", "off", 1);
	assert_int_equal(svc_dep_conf_load(&c, "payments", err, sizeof(err)), 0);
	assert_int_equal(c.breaker.enabled, 1);
	assert_int_equal(c.retry, 0);
	assert_int_equal(c.bulkhead_enabled, 1);
	setenv("SHOPLAB_RESILIENCE", "off", 1);
	assert_int_equal(svc_dep_conf_load(&c, "payments", err, sizeof(err)), 0);
	assert_int_equal(c.breaker.enabled | c.retry | c.bulkhead_enabled | c.budget.enabled, 0);
	assert_int_equal(c.timeout_us, 3000000);
	clear_env();
}

static void
test_conf_errors_name_the_variable(void **state)
{
	struct svc_dep_conf	c;
	char			err[200];

	(void)state;
	clear_env();
	setenv("SHOPLAB_DEP_PAYMENTS_BREAKER_FAILURE_RATE", "1.5", 1);
	assert_int_equal(svc_dep_conf_load(&c, "payments", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "SHOPLAB_DEP_PAYMENTS_BREAKER_FAILURE_RATE"));
	clear_env();
	setenv("SHOPLAB_DEP_RETRIES", "lots", 1);
	assert_int_equal(svc_dep_conf_load(&c, "payments", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "SHOPLAB_DEP_RETRIES"));
	clear_env();
	setenv("SHOPLAB_BULKHEAD", "maybe", 1);
	assert_int_equal(svc_dep_conf_load(&c, "payments", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "SHOPLAB_BULKHEAD"));
	clear_env();
	setenv("SHOPLAB_DEP_PAYMENTS_BREAKER_MIN_CALLS", "50", 1);
	assert_int_equal(svc_dep_conf_load(&c, "payments", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "MIN_CALLS"));
	clear_env();
	setenv("SHOPLAB_DEP_BUDGET_RATIO", " 0.1", 1);
	assert_int_equal(svc_dep_conf_load(&c, "payments", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "SHOPLAB_DEP_BUDGET_RATIO"));
	clear_env();
	assert_int_equal(svc_dep_conf_load(&c, "Pay-ments", err, sizeof(err)), -1);
}

static void
test_array_new_and_find(void **state)
{
	const char *const	 names[] = { "inventory", "payments" };
	struct svc_dep		*deps;
	char			 err[200];

	(void)state;
	clear_env();
	deps = svc_dep_array_new(names, 2, &svc_clock_system, err, sizeof(err));
	assert_non_null(deps);
	assert_ptr_equal(svc_dep_find(deps, 2, "payments"), &deps[1]);
	assert_null(svc_dep_find(deps, 2, "users"));
	svc_dep_array_free(deps, 2);
	setenv("SHOPLAB_DEP_PAYMENTS_OPEN_MS", "x", 1);
	setenv("SHOPLAB_DEP_PAYMENTS_BREAKER_OPEN_MS", "x", 1);
	assert_null(svc_dep_array_new(names, 2, &svc_clock_system, err, sizeof(err)));
	assert_non_null(strstr(err, "SHOPLAB_DEP_PAYMENTS_BREAKER_OPEN_MS"));
	clear_env();
}

/*
 * Checks the Prometheus text exposition format: HELP and TYPE once per family and before its
 * samples, sample names that belong to the family, well-formed labels, numeric values, and
 * histogram buckets that never decrease and end at +Inf equal to _count.
 */
static int
prom_check(const char *text, char *why, size_t whylen)
{
	char		 fam[128] = "", type[32] = "", seen[4096] = " ", line[1024];
	const char	*p = text, *nl;
	double		 lastbucket = -1, inf = -1;
	int		 lineno = 0;

	while (*p != '\0') {
		char name[128], *q, *end;
		size_t len;
		double v;

		lineno++;
		if ((nl = strchr(p, '\n')) == NULL)
			return snprintf(why, whylen, "no final newline"), -1;
		len = (size_t)(nl - p);
		if (len >= sizeof(line))
			return snprintf(why, whylen, "line %d too long", lineno), -1;
		memcpy(line, p, len);
		line[len] = '\0';
		p = nl + 1;
		if (strncmp(line, "# HELP ", 7) == 0) {
			char key[140];

			if (sscanf(line + 7, "%127s", fam) != 1)
				return snprintf(why, whylen, "line %d: bad HELP", lineno), -1;
			snprintf(key, sizeof(key), " %s ", fam);
			if (strstr(seen, key) != NULL)
				return snprintf(why, whylen, "family %s twice", fam), -1;
			if (strlen(seen) + strlen(key) >= sizeof(seen))
				return snprintf(why, whylen, "too many families"), -1;
			snprintf(seen + strlen(seen), sizeof(seen) - strlen(seen), "%s", key + 1);
			type[0] = '\0';
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0) {
			if (sscanf(line + 7, "%127s %31s", name, type) != 2 || strcmp(name, fam) != 0)
				return snprintf(why, whylen, "line %d: TYPE not after HELP", lineno), -1;
			if (strcmp(type, "counter") != 0 && strcmp(type, "gauge") != 0 &&
			    strcmp(type, "histogram") != 0)
				return snprintf(why, whylen, "line %d: type %s", lineno, type), -1;
			lastbucket = -1;
			continue;
		}
		if (line[0] == '#' || type[0] == '\0')
			return snprintf(why, whylen, "line %d: sample outside a family", lineno), -1;
		len = strspn(line, "abcdefghijklmnopqrstuvwxyz_:ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
		if (len == 0 || len >= sizeof(name) || line[len] != '{')
			return snprintf(why, whylen, "line %d: bad name", lineno), -1;
		memcpy(name, line, len);
		name[len] = '\0';
		if (strcmp(type, "histogram") == 0) {
			size_t fl = strlen(fam);

			if (strncmp(name, fam, fl) != 0 || (strcmp(name + fl, "_bucket") != 0 &&
			    strcmp(name + fl, "_sum") != 0 && strcmp(name + fl, "_count") != 0))
				return snprintf(why, whylen, "line %d: %.40s not in %.40s", lineno, name,
				    fam), -1;
		} else if (strcmp(name, fam) != 0)
			return snprintf(why, whylen, "line %d: %.40s not in %.40s", lineno, name, fam), -1;
		/* Labels: name="value" pairs separated by commas. */
		for (q = line + len + 1; *q != '}';) {
			size_t ln = strspn(q, "abcdefghijklmnopqrstuvwxyz_");

			if (ln == 0 || q[ln] != '=' || q[ln + 1] != '"')
				return snprintf(why, whylen, "line %d: bad label", lineno), -1;
			for (q += ln + 2; *q != '"'; q++) {
				if (*q == '\0' || *q == '\n')
					return snprintf(why, whylen, "line %d: open label", lineno), -1;
				if (*q == '\\')
					q++;
			}
			q++;
			if (*q == ',')
				q++;
			else if (*q != '}')
				return snprintf(why, whylen, "line %d: after label", lineno), -1;
		}
		if (q[1] != ' ')
			return snprintf(why, whylen, "line %d: no space before value", lineno), -1;
		v = strtod(q + 2, &end);
		if (end == q + 2 || *end != '\0')
			return snprintf(why, whylen, "line %d: bad value", lineno), -1;
		if (strstr(name, "_bucket") != NULL) {
			if (v < lastbucket)
				return snprintf(why, whylen, "line %d: bucket decreases", lineno), -1;
			lastbucket = v;
			if (strstr(line, "le=\"+Inf\"") != NULL)
				inf = v;
		} else if (strstr(name, "_count") != NULL && strcmp(type, "histogram") == 0) {
			if (v != inf)
				return snprintf(why, whylen, "line %d: count != +Inf", lineno), -1;
			lastbucket = -1;
		}
	}
	return 0;
}

static const char *const metrics_want[] = {
	"shoplab_dep_calls_total{service=\"or\\\"ders\",dep=\"payments\",outcome=\"failure\"} 1\n",
	"outcome=\"success\"} 1\n",
	"shoplab_dep_retries_total{service=\"or\\\"ders\",dep=\"payments\"} 1\n",
	"shoplab_dep_breaker_state{service=\"or\\\"ders\",dep=\"payments\"} 0\n",
	"from=\"closed\",to=\"open\"} 0\n",
	"le=\"0.025\"} 0\n",
	"le=\"0.05\"} 2\n",
	"shoplab_dep_call_duration_seconds_count{service=\"or\\\"ders\",dep=\"payments\"} 2\n",
	"shoplab_dep_call_duration_seconds_sum{service=\"or\\\"ders\",dep=\"payments\"} 0.060000\n",
};

static void
test_metrics_text_is_valid(void **state)
{
	struct svc_dep_conf	c = test_conf();
	struct world		*w = world_new(&c);
	struct svc_http_call	 call = test_call(w, 1, NULL);
	struct svc_dep_result	 res;
	struct svc_buf		 out;
	char			 why[256];

	(void)state;
	svc_dep_result_init(&res);
	w->script[0] = SVC_HTTP_RETRYABLE;
	w->script[1] = SVC_HTTP_OK;
	w->nscript = 2;
	w->call_us = 30000;
	assert_int_equal(svc_dep_call(&w->dep, &w->caller, &call, &res), 0);
	svc_buf_init(&out);
	assert_int_equal(svc_dep_metrics_write(&w->dep, 1, "or\"ders", &out), 0);
	if (prom_check(out.data, why, sizeof(why)) != 0)
		fail_msg("%s\n%s", why, out.data);
	svc_unit_has(out.data, metrics_want, SVC_UNIT_N(metrics_want));
	/* The checker itself must catch a broken line. */
	svc_buf_puts(&out, "shoplab_dep_calls_total{dep=\"x} 1\n");
	assert_int_equal(prom_check(out.data, why, sizeof(why)), -1);
	svc_buf_free(&out);
	svc_dep_result_free(&res);
	world_free(w);
}

SVC_UNIT_MAIN("dep",
    cmocka_unit_test(test_retries_retryable_up_to_limit),
    cmocka_unit_test(test_success_after_failures),
    cmocka_unit_test(test_non_idempotent_not_retried),
    cmocka_unit_test(test_definite_not_retried_and_healthy),
    cmocka_unit_test(test_stops_at_deadline),
    cmocka_unit_test(test_budget_exhaustion_counted),
    cmocka_unit_test(test_breaker_opens_then_fails_fast),
    cmocka_unit_test(test_unknown_stays_unknown_when_breaker_opens),
    cmocka_unit_test(test_bulkhead_full_fails_fast),
    cmocka_unit_test(test_bulkhead_waits_for_a_slot_when_healthy),
    cmocka_unit_test(test_bulkhead_wait_is_bounded),
    cmocka_unit_test(test_bulkhead_sheds_at_once_when_unhealthy),
    cmocka_unit_test(test_retry_off_means_one_attempt),
    cmocka_unit_test(test_bad_call_is_local_error),
    cmocka_unit_test(test_conf_defaults_and_overrides),
    cmocka_unit_test(test_conf_errors_name_the_variable),
    cmocka_unit_test(test_array_new_and_find),
    cmocka_unit_test(test_metrics_text_is_valid))
