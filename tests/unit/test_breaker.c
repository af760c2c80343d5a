/* test_breaker.c - the circuit breaker's thresholds, timing, probes and counters, on a fake clock */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "svc_unit.h"

#include "svc.h"
#include "svc_resilience.h"
#include "svc_util_int.h"

static int64_t
fake_now(void *ctx)
{
	return *(int64_t *)ctx;
}

struct fixture {
	int64_t			now;
	struct svc_clock	clock;
	struct svc_breaker	b;
};

static const struct svc_breaker_conf base_conf = {
	.enabled = 1,
	.window = 20,
	.min_calls = 10,
	.failure_rate = 0.5,
	.slow_rate = 0.8,
	.slow_call_us = 1000,
	.open_wait_us = 5000000,
	.probes = 3,
};

static struct fixture *
fixture_new(const struct svc_breaker_conf *conf)
{
	struct fixture	*f = test_calloc(1, sizeof(*f));
	char		 err[128];

	assert_non_null(f);
	f->now = 1000000;
	f->clock.now_us = fake_now;
	f->clock.ctx = &f->now;
	assert_int_equal(svc_breaker_init(&f->b, "test", conf, &f->clock, err, sizeof(err)), 0);
	return f;
}

static void
fixture_free(struct fixture *f)
{
	svc_breaker_free(&f->b);
	test_free(f);
}

/* Makes one call through the breaker; returns 0 if it was admitted. */
static int
call(struct fixture *f, int success, int64_t dur)
{
	int permit = svc_breaker_allow(&f->b);

	if (permit == SVC_BREAKER_REJECT)
		return -1;
	svc_breaker_record(&f->b, permit, success, dur);
	return 0;
}

/* n calls through the breaker, all alike, each admitted. */
static void
calls(struct fixture *f, int n, int success, int64_t dur)
{
	int i;

	for (i = 0; i < n; i++) {
		if (call(f, success, dur) != 0)
			fail_msg("call %d of %d (success %d) was not admitted", i + 1, n, success);
	}
}

static void
trip(struct fixture *f)
{
	calls(f, 10, 0, 10);
	assert_int_equal(svc_breaker_state(&f->b), SVC_BREAKER_OPEN);
}

static void
test_opens_at_threshold_not_before(void **state)
{
	struct fixture	*f = fixture_new(&base_conf);

	(void)state;
	/* 4 failures among 9 calls: under min_calls, whatever the rate. */
	calls(f, 4, 0, 10);
	calls(f, 5, 1, 10);
	assert_int_equal(svc_breaker_state(&f->b), SVC_BREAKER_CLOSED);
	/* The 10th call, a failure: 5 of 10 is exactly 50%. */
	assert_int_equal(call(f, 0, 10), 0);
	assert_int_equal(svc_breaker_state(&f->b), SVC_BREAKER_OPEN);
	assert_int_equal(atomic_load(&f->b.transitions[SVC_BREAKER_CLOSED_OPEN]), 1);
	assert_int_equal(call(f, 1, 10), -1);
	assert_int_equal(atomic_load(&f->b.rejections), 1);
	fixture_free(f);
}

static void
test_below_threshold_stays_closed(void **state)
{
	struct fixture	*f = fixture_new(&base_conf);
	int		 i;

	(void)state;
	/* 4 of 10, then the window slides: the oldest failure drops out, the rate never reaches 50%. */
	calls(f, 4, 0, 10);
	calls(f, 6, 1, 10);
	assert_int_equal(svc_breaker_state(&f->b), SVC_BREAKER_CLOSED);
	for (i = 0; i < 100; i++) {
		assert_int_equal(call(f, i % 3 != 0, 10), 0);
		assert_int_equal(svc_breaker_state(&f->b), SVC_BREAKER_CLOSED);
	}
	fixture_free(f);
}

static void
test_window_slides(void **state)
{
	struct fixture	*f = fixture_new(&base_conf);
	int		 i;

	(void)state;
	/* One failure in four (25%), then 20 successes push them all out of the window of 20. */
	for (i = 0; i < 20; i++)
		assert_int_equal(call(f, i % 4 != 0, 10), 0);
	assert_int_equal(f->b.nfail, 5);
	calls(f, 20, 1, 10);
	assert_int_equal(f->b.nfail, 0);
	assert_int_equal(f->b.n, 20);
	/* Now 9 failures in 20 (45%) keep it closed, the 10th (50%) opens it. */
	calls(f, 9, 0, 10);
	assert_int_equal(svc_breaker_state(&f->b), SVC_BREAKER_CLOSED);
	assert_int_equal(call(f, 0, 10), 0);
	assert_int_equal(svc_breaker_state(&f->b), SVC_BREAKER_OPEN);
	fixture_free(f);
}

static void
test_open_wait_is_exact(void **state)
{
	struct fixture	*f = fixture_new(&base_conf);
	int64_t		 opened;

	(void)state;
	trip(f);
	opened = f->now;
	f->now = opened + base_conf.open_wait_us - 1;
	assert_int_equal(svc_breaker_allow(&f->b), SVC_BREAKER_REJECT);
	assert_int_equal(svc_breaker_state(&f->b), SVC_BREAKER_OPEN);
	f->now = opened + base_conf.open_wait_us;
	assert_true(svc_breaker_allow(&f->b) >= 0);
	assert_int_equal(svc_breaker_state(&f->b), SVC_BREAKER_HALF_OPEN);
	assert_int_equal(atomic_load(&f->b.transitions[SVC_BREAKER_OPEN_HALF_OPEN]), 1);
	fixture_free(f);
}

static void
test_half_open_admits_exactly_probes_then_closes(void **state)
{
	struct fixture	*f = fixture_new(&base_conf);
	int		 permits[3], i;

	(void)state;
	trip(f);
	f->now += base_conf.open_wait_us;
	for (i = 0; i < 3; i++)
		assert_true((permits[i] = svc_breaker_allow(&f->b)) >= 0);
	assert_int_equal(svc_breaker_allow(&f->b), SVC_BREAKER_REJECT);
	svc_breaker_record(&f->b, permits[0], 1, 10);
	svc_breaker_record(&f->b, permits[1], 1, 10);
	assert_int_equal(svc_breaker_state(&f->b), SVC_BREAKER_HALF_OPEN);
	assert_int_equal(svc_breaker_allow(&f->b), SVC_BREAKER_REJECT);
	svc_breaker_record(&f->b, permits[2], 1, 10);
	assert_int_equal(svc_breaker_state(&f->b), SVC_BREAKER_CLOSED);
	assert_int_equal(atomic_load(&f->b.transitions[SVC_BREAKER_HALF_OPEN_CLOSED]), 1);
	/* The window starts empty: 9 failures are under min_calls again. */
	assert_int_equal(f->b.n, 0);
	calls(f, 9, 0, 10);
	assert_int_equal(svc_breaker_state(&f->b), SVC_BREAKER_CLOSED);
	fixture_free(f);
}

static void
test_failed_probe_reopens(void **state)
{
	struct fixture	*f = fixture_new(&base_conf);
	int		 p1, p2;

	(void)state;
	trip(f);
	f->now += base_conf.open_wait_us;
	p1 = svc_breaker_allow(&f->b);
	p2 = svc_breaker_allow(&f->b);
	assert_true(p1 >= 0 && p2 >= 0);
	svc_breaker_record(&f->b, p1, 1, 10);
	svc_breaker_record(&f->b, p2, 0, 10);
	assert_int_equal(svc_breaker_state(&f->b), SVC_BREAKER_OPEN);
	assert_int_equal(atomic_load(&f->b.transitions[SVC_BREAKER_HALF_OPEN_OPEN]), 1);
	/* The wait starts again from the failed probe. */
	f->now += base_conf.open_wait_us - 1;
	assert_int_equal(svc_breaker_allow(&f->b), SVC_BREAKER_REJECT);
	f->now += 1;
	assert_true(svc_breaker_allow(&f->b) >= 0);
	fixture_free(f);
}

static void
test_slow_probe_reopens(void **state)
{
	struct fixture *f = fixture_new(&base_conf);

	(void)state;
	trip(f);
	f->now += base_conf.open_wait_us;
	assert_int_equal(call(f, 1, base_conf.slow_call_us + 1), 0);
	assert_int_equal(svc_breaker_state(&f->b), SVC_BREAKER_OPEN);
	fixture_free(f);
}

static void
test_slow_calls_open(void **state)
{
	struct svc_breaker_conf	 c = base_conf;
	struct fixture		*f;

	(void)state;
	c.window = 10;
	f = fixture_new(&c);
	/* A call of exactly the limit is not slow: ten of them leave it closed. */
	calls(f, 10, 1, 1000);
	assert_int_equal(svc_breaker_state(&f->b), SVC_BREAKER_CLOSED);
	/* Each slow call pushes a fast one out: 7 of 10 slow stays closed, 8 of 10 (80%) opens. */
	calls(f, 7, 1, 1001);
	assert_int_equal(svc_breaker_state(&f->b), SVC_BREAKER_CLOSED);
	assert_int_equal(f->b.nslow, 7);
	assert_int_equal(call(f, 1, 1001), 0);
	assert_int_equal(svc_breaker_state(&f->b), SVC_BREAKER_OPEN);
	assert_int_equal(f->b.nfail, 0);
	fixture_free(f);
}

static void
test_stale_outcomes_ignored(void **state)
{
	struct fixture	*f = fixture_new(&base_conf);
	int		 old, probe;

	(void)state;
	/* A call admitted while closed comes back failing after the breaker went half-open. */
	old = svc_breaker_allow(&f->b);
	trip(f);
	f->now += base_conf.open_wait_us;
	probe = svc_breaker_allow(&f->b);
	svc_breaker_record(&f->b, old, 0, 10);
	assert_int_equal(svc_breaker_state(&f->b), SVC_BREAKER_HALF_OPEN);
	svc_breaker_record(&f->b, probe, 1, 10);
	assert_int_equal(f->b.succeeded, 1);
	fixture_free(f);
}

static void
test_release_gives_probe_back(void **state)
{
	struct fixture	*f = fixture_new(&base_conf);
	int		 p[3], i;

	(void)state;
	trip(f);
	f->now += base_conf.open_wait_us;
	for (i = 0; i < 3; i++)
		p[i] = svc_breaker_allow(&f->b);
	assert_int_equal(svc_breaker_allow(&f->b), SVC_BREAKER_REJECT);
	svc_breaker_release(&f->b, p[2]);
	assert_true(svc_breaker_allow(&f->b) >= 0);
	assert_int_equal(svc_breaker_allow(&f->b), SVC_BREAKER_REJECT);
	(void)p;
	fixture_free(f);
}

static void
test_counters_full_cycle(void **state)
{
	struct fixture	*f = fixture_new(&base_conf);
	int		 i;

	(void)state;
	trip(f);
	assert_int_equal(call(f, 1, 10), -1);
	assert_int_equal(call(f, 1, 10), -1);
	f->now += base_conf.open_wait_us;
	assert_int_equal(call(f, 0, 10), 0);		/* half-open -> open */
	f->now += base_conf.open_wait_us;
	for (i = 0; i < 3; i++)
		assert_int_equal(call(f, 1, 10), 0);	/* half-open -> closed */
	assert_int_equal(atomic_load(&f->b.transitions[SVC_BREAKER_CLOSED_OPEN]), 1);
	assert_int_equal(atomic_load(&f->b.transitions[SVC_BREAKER_OPEN_HALF_OPEN]), 2);
	assert_int_equal(atomic_load(&f->b.transitions[SVC_BREAKER_HALF_OPEN_OPEN]), 1);
	assert_int_equal(atomic_load(&f->b.transitions[SVC_BREAKER_HALF_OPEN_CLOSED]), 1);
	assert_int_equal(atomic_load(&f->b.rejections), 2);
	fixture_free(f);
}

static void
test_disabled_admits_everything(void **state)
{
	struct svc_breaker_conf	 c = base_conf;
	struct fixture		*f;

	(void)state;
	c.enabled = 0;
	f = fixture_new(&c);
	calls(f, 100, 0, 10);
	assert_int_equal(svc_breaker_state(&f->b), SVC_BREAKER_CLOSED);
	fixture_free(f);
}

static void
test_bad_conf_rejected(void **state)
{
	struct svc_breaker_conf	c = base_conf;
	struct svc_breaker	b;
	char			err[128];

	(void)state;
	c.min_calls = 21;
	assert_int_equal(svc_breaker_init(&b, "x", &c, &svc_clock_system, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "min_calls"));
	c = base_conf;
	c.failure_rate = 0;
	assert_int_equal(svc_breaker_init(&b, "x", &c, &svc_clock_system, err, sizeof(err)), -1);
	c = base_conf;
	c.window = SVC_BREAKER_MAX_WINDOW + 1;
	assert_int_equal(svc_breaker_init(&b, "x", &c, &svc_clock_system, err, sizeof(err)), -1);
}

SVC_UNIT_MAIN("breaker",
    cmocka_unit_test(test_opens_at_threshold_not_before),
    cmocka_unit_test(test_below_threshold_stays_closed),
    cmocka_unit_test(test_window_slides),
    cmocka_unit_test(test_open_wait_is_exact),
    cmocka_unit_test(test_half_open_admits_exactly_probes_then_closes),
    cmocka_unit_test(test_failed_probe_reopens),
    cmocka_unit_test(test_slow_probe_reopens),
    cmocka_unit_test(test_slow_calls_open),
    cmocka_unit_test(test_stale_outcomes_ignored),
    cmocka_unit_test(test_release_gives_probe_back),
    cmocka_unit_test(test_counters_full_cycle),
    cmocka_unit_test(test_disabled_admits_everything),
    cmocka_unit_test(test_bad_conf_rejected))
