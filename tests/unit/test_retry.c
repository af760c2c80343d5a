/* test_retry.c - backoff with full jitter stays in its bounds and the deadline; the retry budget; background rounds */
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

static void
test_backoff_within_bounds_and_jittered(void **state)
{
	const int64_t	base = 10000, cap = 300000;
	uint64_t	rng = 42;
	int		k, i;

	(void)state;
	for (k = 0; k < 10; k++) {
		int64_t ceiling = base << k < cap ? base << k : cap;
		int64_t lo = INT64_MAX, hi = -1, sum = 0;

		for (i = 0; i < 5000; i++) {
			int64_t d = svc_backoff_delay(base, cap, k, INT64_MAX, &rng);

			assert_true(d >= 0 && d <= ceiling);
			lo = d < lo ? d : lo;
			hi = d > hi ? d : hi;
			sum += d;
		}
		/* Full jitter: draws spread over the whole range, centred on its middle. */
		assert_true(lo < ceiling / 20);
		assert_true(hi > ceiling - ceiling / 20);
		assert_true(sum / 5000 > ceiling * 2 / 5 && sum / 5000 < ceiling * 3 / 5);
	}
}

static void
test_backoff_huge_attempt_is_capped(void **state)
{
	uint64_t	rng = 7;
	int		i;

	(void)state;
	for (i = 0; i < 1000; i++) {
		int64_t d = svc_backoff_delay(1000, 50000, 40 + i % 100, INT64_MAX, &rng);

		assert_true(d >= 0 && d <= 50000);
	}
}

static void
test_backoff_never_past_deadline(void **state)
{
	uint64_t	rng = 1;
	int		i, none = 0, some = 0;

	(void)state;
	assert_int_equal(svc_backoff_delay(1000, 1000, 0, 0, &rng), SVC_BACKOFF_NO_TIME);
	assert_int_equal(svc_backoff_delay(1000, 1000, 0, -5, &rng), SVC_BACKOFF_NO_TIME);
	for (i = 0; i < 5000; i++) {
		int64_t d = svc_backoff_delay(100000, 100000, 3, 30000, &rng);

		if (d == SVC_BACKOFF_NO_TIME)
			none++;
		else {
			assert_true(d >= 0 && d < 30000);
			some++;
		}
	}
	/* About 30% of draws fit in the 30 ms left, the rest say there is no time. */
	assert_true(some > 1000 && none > 2500);
	/* A sleep of exactly the time left is refused too: it would leave none for the call. */
	some = none = 0;
	for (i = 0; i < 200; i++) {
		int64_t d = svc_backoff_delay(1, 1, 0, 1, &rng);

		assert_true(d == 0 || d == SVC_BACKOFF_NO_TIME);
		some += d == 0;
		none += d == SVC_BACKOFF_NO_TIME;
	}
	assert_true(some > 0 && none > 0);
}

static void
test_backoff_same_seed_same_draws(void **state)
{
	uint64_t	a = 99, b = 99, c = 100;
	int		i, differ = 0;

	(void)state;
	for (i = 0; i < 100; i++) {
		int64_t x = svc_backoff_delay(1000, 1000000, 5, INT64_MAX, &a);
		int64_t y = svc_backoff_delay(1000, 1000000, 5, INT64_MAX, &b);
		int64_t z = svc_backoff_delay(1000, 1000000, 5, INT64_MAX, &c);

		assert_int_equal(x, y);
		differ += x != z;
	}
	assert_true(differ > 90);
}

struct bfix {
	int64_t			now;
	struct svc_clock	clock;
	struct svc_budget	bg;
};

static void
bfix_init(struct bfix *f, double ratio, int min_per_sec, int cap)
{
	struct svc_budget_conf	c = { .enabled = 1, .ratio = ratio, .min_per_sec = min_per_sec,
	    .cap = cap };
	char			err[128];

	f->now = 5000000;
	f->clock.now_us = fake_now;
	f->clock.ctx = &f->now;
	assert_int_equal(svc_budget_init(&f->bg, &c, &f->clock, err, sizeof(err)), 0);
}

/* Exactly n retries are in the budget: n withdrawals pass, the next one is refused. */
static void
budget_holds(struct bfix *f, int n)
{
	int i, rc;

	for (i = 0; i <= n; i++) {
		rc = svc_budget_withdraw(&f->bg);
		if (rc != (i < n ? 0 : -1))
			fail_msg("withdrawal %d with %d in the budget gave %d", i + 1, n, rc);
	}
}

static void
test_budget_starts_with_one_second_floor_then_exhausts(void **state)
{
	struct bfix f;

	(void)state;
	bfix_init(&f, 0.1, 3, 10);
	budget_holds(&f, 3);
	assert_int_equal(svc_budget_withdraw(&f.bg), -1);
	assert_int_equal(atomic_load(&f.bg.exhausted), 2);
	svc_budget_free(&f.bg);
}

static void
test_budget_deposits_refill(void **state)
{
	struct bfix	f;
	int		i;

	(void)state;
	bfix_init(&f, 0.1, 0, 10);
	assert_int_equal(svc_budget_withdraw(&f.bg), -1);
	/* Nine first calls are 0.9 of a token: not enough. The tenth makes one. */
	for (i = 0; i < 9; i++)
		svc_budget_deposit(&f.bg);
	assert_int_equal(svc_budget_withdraw(&f.bg), -1);
	svc_budget_deposit(&f.bg);
	budget_holds(&f, 1);
	/* Capped: a thousand calls buy ten retries, not a hundred. */
	for (i = 0; i < 1000; i++)
		svc_budget_deposit(&f.bg);
	budget_holds(&f, 10);
	assert_int_equal(atomic_load(&f.bg.exhausted), 4);
	svc_budget_free(&f.bg);
}

static void
test_budget_floor_refills_with_time(void **state)
{
	struct bfix f;

	(void)state;
	bfix_init(&f, 0.0, 4, 8);
	budget_holds(&f, 4);
	/* 4 per second: one token every 250 ms, to the microsecond. */
	f.now += 249999;
	assert_int_equal(svc_budget_withdraw(&f.bg), -1);
	f.now += 1;
	budget_holds(&f, 1);
	/* A long quiet spell fills it to the cap and no further. */
	f.now += 3600LL * 1000000;
	assert_true(svc_budget_tokens(&f.bg) == 8.0);
	budget_holds(&f, 8);
	svc_budget_free(&f.bg);
}

static void
test_budget_disabled_allows_all(void **state)
{
	struct svc_budget_conf	c = { .enabled = 0, .ratio = 0.1, .min_per_sec = 0, .cap = 1 };
	struct svc_budget	bg;
	char			err[128];
	int			i;

	(void)state;
	assert_int_equal(svc_budget_init(&bg, &c, &svc_clock_system, err, sizeof(err)), 0);
	for (i = 0; i < 100; i++)
		assert_int_equal(svc_budget_withdraw(&bg), 0);
	assert_int_equal(atomic_load(&bg.exhausted), 0);
	svc_budget_free(&bg);
}

static void
test_budget_bad_conf(void **state)
{
	struct svc_budget_conf	c = { .enabled = 1, .ratio = 1.5, .min_per_sec = 0, .cap = 1 };
	struct svc_budget	bg;
	char			err[128];

	(void)state;
	assert_int_equal(svc_budget_init(&bg, &c, &svc_clock_system, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "ratio"));
	c.ratio = 0.1;
	c.cap = 0;
	assert_int_equal(svc_budget_init(&bg, &c, &svc_clock_system, err, sizeof(err)), -1);
}

/* A background round that fails waits longer each time in a row, up to the cap; one that works resets it. */
static void
test_bg_pause_backs_off_on_failures(void **state)
{
	unsigned	f = 0;
	long		want[] = { 100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000 };
	size_t		i;

	(void)state;
	assert_int_equal(svc_bg_pause_ms(0, 100, &f), 100);
	assert_int_equal(svc_bg_pause_ms(1, 100, &f), 0);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_int_equal(svc_bg_pause_ms(-1, 100, &f), want[i]);
	assert_int_equal(f, 9);
	/* A round that worked, or had more: back to the interval. */
	assert_int_equal(svc_bg_pause_ms(0, 100, &f), 100);
	assert_int_equal(f, 0);
	assert_int_equal(svc_bg_pause_ms(-1, 100, &f), 100);
	assert_int_equal(svc_bg_pause_ms(-1, 100, &f), 200);
	assert_int_equal(svc_bg_pause_ms(1, 100, &f), 0);
	assert_int_equal(svc_bg_pause_ms(-1, 100, &f), 100);
	/* Thousands of failures in a row: capped, no overflow. */
	for (i = 0; i < 5000; i++)
		assert_int_equal(svc_bg_pause_ms(-1, 100, &f), i + 1 < 9 ? want[i + 1] : 5000);
}

/* An interval above the cap is the cap; a zero interval still waits after an error. */
static void
test_bg_pause_interval_bounds(void **state)
{
	unsigned f = 0;

	(void)state;
	assert_int_equal(svc_bg_pause_ms(-1, 20000, &f), 20000);
	assert_int_equal(svc_bg_pause_ms(-1, 20000, &f), 20000);
	f = 0;
	assert_int_equal(svc_bg_pause_ms(0, 0, &f), 0);
	assert_true(svc_bg_pause_ms(-1, 0, &f) >= 1);
	assert_true(svc_bg_pause_ms(-1, 0, &f) >= 1);
}

/* "More" only for a full batch that moved: a full batch of failures must not spin. */
static void
test_bg_more_needs_progress(void **state)
{
	(void)state;
	assert_true(svc_bg_more(100, 100, 100));
	assert_true(svc_bg_more(100, 1, 100));
	assert_false(svc_bg_more(100, 0, 100));	/* every row failed: wait, do not spin */
	assert_false(svc_bg_more(99, 99, 100));	/* not full: nothing more is due */
	assert_false(svc_bg_more(0, 0, 100));
	assert_false(svc_bg_more(0, 0, 0));
}

/* "None" is 0: the earlier of two times ignores it; two nones stay none. */
static void
test_bg_earliest(void **state)
{
	(void)state;
	assert_true(svc_bg_earliest(0, 0) == 0);
	assert_true(svc_bg_earliest(5, 0) == 5);
	assert_true(svc_bg_earliest(0, 5) == 5);
	assert_true(svc_bg_earliest(7, 5) == 5);
	assert_true(svc_bg_earliest(5, 7) == 5);
	assert_true(svc_bg_earliest(-3, 7) == 7);
}

/*
 * The woken task's wait (min 100 ms, cap 1000 ms, last round ended at L): the earliest of the
 * round's next and the posted due, never sooner than L + 100 ms nor later than L + 1000 ms.
 */
static void
test_bg_until_earliest_within_bounds(void **state)
{
	const int64_t	L = 5000000000LL;	/* a monotonic µs */

	(void)state;
	/* Nothing known: the cap. */
	assert_int_equal(svc_bg_until_ms(L, L, 0, 0, 100, 1000), 1000);
	/* The round's next, 400 ms ahead; a posted due 250 ms ahead wins; then the other way. */
	assert_int_equal(svc_bg_until_ms(L, L, L + 400000, 0, 100, 1000), 400);
	assert_int_equal(svc_bg_until_ms(L, L, L + 400000, L + 250000, 100, 1000), 250);
	assert_int_equal(svc_bg_until_ms(L, L, L + 250000, L + 400000, 100, 1000), 250);
	/* A due beyond the cap: the cap (2 s delay, nothing else known). */
	assert_int_equal(svc_bg_until_ms(L, L, 0, L + 2000000, 100, 1000), 1000);
	/* Due now or past (delay 0): not before the minimum spacing after the round... */
	assert_int_equal(svc_bg_until_ms(L, L, 0, L, 100, 1000), 100);
	assert_int_equal(svc_bg_until_ms(L, L, L - 7000000, 0, 100, 1000), 100);
	/* ...counted from the round's end, so a post woken later waits only what is left... */
	assert_int_equal(svc_bg_until_ms(L + 60000, L, 0, L + 10000, 100, 1000), 40);
	/* ...and once that has passed, at once. */
	assert_int_equal(svc_bg_until_ms(L + 100000, L, 0, L + 10000, 100, 1000), 0);
	assert_int_equal(svc_bg_until_ms(L + 300000, L, 0, L + 250000, 100, 1000), 0);
	/* Woken after the cap (a late wake-up): at once, never negative. */
	assert_int_equal(svc_bg_until_ms(L + 5000000, L, 0, 0, 100, 1000), 0);
	/* Rounded up to whole ms: never woken a fraction early. */
	assert_int_equal(svc_bg_until_ms(L, L, L + 250001, 0, 100, 1000), 251);
	assert_int_equal(svc_bg_until_ms(L + 1, L, L + 250000, 0, 100, 1000), 250);
}

/* Odd bounds: a cap below the minimum is the minimum; a zero minimum runs a past due at once. */
static void
test_bg_until_odd_bounds(void **state)
{
	const int64_t	L = 1000000;

	(void)state;
	assert_int_equal(svc_bg_until_ms(L, L, 0, 0, 500, 200), 500);
	assert_int_equal(svc_bg_until_ms(L, L, 0, L + 900000, 500, 200), 500);
	assert_int_equal(svc_bg_until_ms(L, L, 0, L - 1, 0, 1000), 0);
	assert_int_equal(svc_bg_until_ms(L, L, 0, L + 3000, 0, 1000), 3);
	assert_int_equal(svc_bg_until_ms(L, L, 0, 0, -5, 0), 0);
}

SVC_UNIT_MAIN("retry",
    cmocka_unit_test(test_backoff_within_bounds_and_jittered),
    cmocka_unit_test(test_backoff_huge_attempt_is_capped),
    cmocka_unit_test(test_backoff_never_past_deadline),
    cmocka_unit_test(test_backoff_same_seed_same_draws),
    cmocka_unit_test(test_budget_starts_with_one_second_floor_then_exhausts),
    cmocka_unit_test(test_budget_deposits_refill),
    cmocka_unit_test(test_budget_floor_refills_with_time),
    cmocka_unit_test(test_budget_disabled_allows_all),
    cmocka_unit_test(test_budget_bad_conf),
    cmocka_unit_test(test_bg_pause_backs_off_on_failures),
    cmocka_unit_test(test_bg_pause_interval_bounds),
    cmocka_unit_test(test_bg_more_needs_progress),
    cmocka_unit_test(test_bg_earliest),
    cmocka_unit_test(test_bg_until_earliest_within_bounds),
    cmocka_unit_test(test_bg_until_odd_bounds))
