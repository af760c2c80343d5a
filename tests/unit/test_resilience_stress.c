/* test_resilience_stress.c - breaker, bulkhead and budget under 8 threads; BENCH=1 times them */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "svc.h"
#include "svc_unit.h"
#include "svc_resilience.h"
#include "svc_util_int.h"

#define NTHREADS	8
#define CAP		3

/* What every thread shares: the dependency and the counters that check it. */
struct shared {
	struct svc_dep		dep;
	atomic_llong		clock_us;	/* logical time: every look moves it on */
	struct svc_clock	clock;
	atomic_int		inside;		/* threads inside the transport now */
	atomic_int		peak;
	atomic_ullong		transported;
	atomic_ullong		calls;
	atomic_ullong		outcomes[4];	/* by enum svc_dep_outcome */
	int			ncalls;
};

struct worker {
	struct shared		*sh;
	struct svc_dep_caller	 caller;
	uint64_t		 rng;
	int			 i;
	pthread_t		 tid;
};

/*
 * The calls take no real time, so real time would keep the breaker open for thousands of
 * calls. Logical time flows with activity instead: 1 us per look at the clock, 20 per request.
 */
static int64_t
fake_now(void *ctx)
{
	return atomic_fetch_add(&((struct shared *)ctx)->clock_us, 1);
}

static int
fake_transport(void *ctx, const struct svc_http_call *call, const struct svc_http_opts *opts,
    struct svc_http_result *res)
{
	struct worker	*w = ctx;
	struct shared	*sh = w->sh;
	int		 now = atomic_fetch_add(&sh->inside, 1) + 1, peak, fail_pct, r;

	(void)call;
	(void)opts;
	peak = atomic_load(&sh->peak);
	while (now > peak && !atomic_compare_exchange_weak(&sh->peak, &peak, now))
		;
	/* Phases of trouble and calm, so the breaker goes round its states many times. */
	fail_pct = w->i % 4000 < 1200 ? 85 : 5;
	r = (int)(svc_rand64(&w->rng) % 100);
	svc_http_result_reset(res);
	if (r < fail_pct)
		res->cls = r % 2 ? SVC_HTTP_RETRYABLE : SVC_HTTP_UNKNOWN;
	else
		res->cls = r % 10 == 0 ? SVC_HTTP_DEFINITE : SVC_HTTP_OK;
	/* Hold the slot across a reschedule so that callers really overlap in here. */
	sched_yield();
	atomic_fetch_add(&sh->transported, 1);
	atomic_fetch_add(&sh->clock_us, 20);
	atomic_fetch_sub(&sh->inside, 1);
	return 0;
}

static void
no_sleep(void *ctx, int64_t us)
{
	(void)ctx;
	(void)us;
}

static void *
run(void *arg)
{
	struct worker		*w = arg;
	struct svc_dep_result	 res;
	struct svc_http_call	 call = {
		.method = "POST", .base_url = "http://127.0.0.1:1", .path = "/x",
		.idempotency_key = "k",
	};

	svc_dep_result_init(&res);
	for (w->i = 0; w->i < w->sh->ncalls; w->i++) {
		call.deadline_us = INT64_MAX;
		if (svc_dep_call(&w->sh->dep, &w->caller, &call, &res) != 0)
			break;
		atomic_fetch_add(&w->sh->outcomes[res.outcome], 1);
		atomic_fetch_add(&w->sh->calls, 1);
	}
	svc_dep_result_free(&res);
	return NULL;
}

static unsigned long long
tr(struct svc_breaker *b, enum svc_breaker_transition t)
{
	return atomic_load(&b->transitions[t]);
}

static void
test_invariants_under_threads(void **state)
{
	struct shared		*sh = test_calloc(1, sizeof(*sh));
	struct worker		 w[NTHREADS];
	struct svc_dep_conf	 c;
	struct svc_breaker	*b;
	unsigned long long	 sum = 0, made;
	const char		*env = getenv("STRESS_CALLS");
	char			 err[160];
	int			 i, st;

	(void)state;
	assert_non_null(sh);
	c = svc_unit_dep_conf(2, 10, 100, CAP, 1000000, 1000000, 1024);
	c.breaker = (struct svc_breaker_conf){ 1, 20, 10, 0.5, 1.0, 1000000000, 500, 2 };
	c.budget = (struct svc_budget_conf){ 1, 0.05, 0, 5 };
	atomic_init(&sh->clock_us, 1000000);
	sh->clock.now_us = fake_now;
	sh->clock.ctx = sh;
	assert_int_equal(svc_dep_init(&sh->dep, "stress", &c, &sh->clock, err,
	    sizeof(err)), 0);
	sh->ncalls = env != NULL ? atoi(env) : 20000;
	for (i = 0; i < NTHREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].sh = sh;
		w[i].rng = (uint64_t)i * 7919 + 1;
		w[i].caller.rng = (uint64_t)i + 100;
		w[i].caller.transport = fake_transport;
		w[i].caller.transport_ctx = &w[i];
		w[i].caller.sleep = no_sleep;
		assert_int_equal(pthread_create(&w[i].tid, NULL, run, &w[i]), 0);
	}
	for (i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_join(w[i].tid, NULL), 0);

	b = &sh->dep.breaker;
	assert_int_equal(atomic_load(&sh->calls), (unsigned long long)NTHREADS * sh->ncalls);
	assert_true(atomic_load(&sh->peak) <= CAP);
	assert_true(atomic_load(&sh->peak) > 1);
	assert_int_equal(atomic_load(&sh->dep.bulkhead.inuse), 0);
	/* Every trip through the loop counted once: first tries, retries, refused retries. */
	for (i = 0; i < SVC_DEP_NATTEMPTS; i++)
		sum += atomic_load(&sh->dep.attempts[i]);
	assert_int_equal(sum, atomic_load(&sh->calls) + atomic_load(&sh->dep.retries) +
	    atomic_load(&sh->dep.attempts[SVC_DEP_A_BUDGET_EXHAUSTED]));
	made = atomic_load(&sh->dep.attempts[SVC_DEP_A_SUCCESS]) +
	    atomic_load(&sh->dep.attempts[SVC_DEP_A_DEFINITE]) +
	    atomic_load(&sh->dep.attempts[SVC_DEP_A_FAILURE]) +
	    atomic_load(&sh->dep.attempts[SVC_DEP_A_UNKNOWN]);
	assert_int_equal(made, atomic_load(&sh->transported));
	assert_int_equal(atomic_load(&sh->dep.attempts[SVC_DEP_A_DEADLINE]), 0);
	assert_int_equal(atomic_load(&sh->dep.attempts[SVC_DEP_A_BUDGET_EXHAUSTED]),
	    atomic_load(&sh->dep.budget.exhausted));
	assert_int_equal(atomic_load(&sh->dep.attempts[SVC_DEP_A_REJECTED_BULKHEAD]),
	    atomic_load(&sh->dep.bulkhead.rejections));
	assert_int_equal(atomic_load(&sh->dep.attempts[SVC_DEP_A_REJECTED_BREAKER]),
	    atomic_load(&b->rejections));
	/* Histogram count (the +Inf bucket) is the number of requests made. */
	{
		unsigned long long n = 0;

		for (i = 0; i <= SVC_DEP_NBUCKETS; i++)
			n += atomic_load(&sh->dep.bucket[i]);
		assert_int_equal(n, made);
	}
	/* Transitions balance: what entered a state and left it leaves it in the final state. */
	st = svc_breaker_state(b);
	assert_int_equal(tr(b, SVC_BREAKER_CLOSED_OPEN) + tr(b, SVC_BREAKER_HALF_OPEN_OPEN) -
	    tr(b, SVC_BREAKER_OPEN_HALF_OPEN), st == SVC_BREAKER_OPEN);
	assert_int_equal(tr(b, SVC_BREAKER_OPEN_HALF_OPEN) - tr(b, SVC_BREAKER_HALF_OPEN_CLOSED) -
	    tr(b, SVC_BREAKER_HALF_OPEN_OPEN), st == SVC_BREAKER_HALF_OPEN);
	assert_int_equal(1 + tr(b, SVC_BREAKER_HALF_OPEN_CLOSED) - tr(b, SVC_BREAKER_CLOSED_OPEN),
	    st == SVC_BREAKER_CLOSED);
	fprintf(stderr, "stress: %llu calls, %llu requests, %llu retries, peak %d/%d, "
	    "breaker opened %llu times, %llu bulkhead and %llu breaker rejections, "
	    "%llu budget refusals\n", atomic_load(&sh->calls), made,
	    atomic_load(&sh->dep.retries), atomic_load(&sh->peak), CAP,
	    tr(b, SVC_BREAKER_CLOSED_OPEN), atomic_load(&sh->dep.bulkhead.rejections),
	    atomic_load(&b->rejections), atomic_load(&sh->dep.budget.exhausted));
	/* The run must have exercised what it claims to check. */
	assert_true(tr(b, SVC_BREAKER_CLOSED_OPEN) > 0);
	assert_true(tr(b, SVC_BREAKER_HALF_OPEN_CLOSED) > 0);
	assert_true(atomic_load(&sh->dep.retries) > 0);
	assert_true(atomic_load(&sh->dep.budget.exhausted) > 0);
	assert_true(atomic_load(&sh->outcomes[SVC_DEP_OK]) > 0);
	svc_dep_free(&sh->dep);
	test_free(sh);
}

struct bench {
	struct svc_breaker	*b;
	struct svc_bulkhead	*h;
	long			 n;
	pthread_t		 tid;
};

static void *
bench_loop(void *arg)
{
	struct bench	*bn = arg;
	long		 i;

	for (i = 0; i < bn->n; i++) {
		int permit;

		if (svc_bulkhead_enter(bn->h) == -1)
			continue;
		if ((permit = svc_breaker_allow(bn->b)) != SVC_BREAKER_REJECT)
			svc_breaker_record(bn->b, permit, 1, 100);
		svc_bulkhead_leave(bn->h);
	}
	return NULL;
}

/* Not a test: the cost of the checks on each call, alone and with 8 threads contending. */
static void
bench(void)
{
	struct svc_breaker_conf	 bc = { 1, 20, 10, 0.5, 1.0, 1000000, 1000000, 2 };
	struct svc_breaker	 b;
	struct svc_bulkhead	 h;
	struct bench		 bn[NTHREADS];
	char			 err[128];
	long			 n = 10000000;
	int64_t			 t0, el;
	int			 i;

	if (svc_breaker_init(&b, "bench", &bc, &svc_clock_system, err, sizeof(err)) == -1)
		return;
	svc_bulkhead_init(&h, 1, 1000);
	bn[0] = (struct bench){ &b, &h, n, 0 };
	t0 = svc_now_us();
	bench_loop(&bn[0]);
	el = svc_now_us() - t0;
	printf("bench: breaker allow+record + bulkhead enter+leave: %.1f ns per call, 1 thread\n",
	    (double)el * 1000 / (double)n);
	n = 1000000;
	t0 = svc_now_us();
	for (i = 0; i < NTHREADS; i++) {
		bn[i] = (struct bench){ &b, &h, n, 0 };
		if (pthread_create(&bn[i].tid, NULL, bench_loop, &bn[i]) != 0)
			return;
	}
	for (i = 0; i < NTHREADS; i++)
		pthread_join(bn[i].tid, NULL);
	el = svc_now_us() - t0;
	printf("bench: same, %d threads on one dependency: %.1f ns per call (wall / all calls)\n",
	    NTHREADS, (double)el * 1000 / (double)(n * NTHREADS));
	svc_breaker_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_invariants_under_threads),
	};
	const char *b = getenv("BENCH");

	if (b != NULL && strcmp(b, "1") == 0)
		bench();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
