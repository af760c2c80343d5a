/* test_sim_hist.c - histogram percentiles on known data, merging, per-second series, and the scheduler */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sim_hist.h"
#include "sim_sched.h"

static void test_exact_1_to_1000(void **state)
{
	struct sim_hist h;

	(void)state;
	assert_int_equal(sim_hist_init(&h, 10), 0);
	for (uint64_t v = 1000; v >= 1; v--)
		sim_hist_record(&h, v);
	assert_int_equal(h.total, 1000);
	assert_int_equal(sim_hist_percentile(&h, 0), 1);
	assert_int_equal(sim_hist_percentile(&h, 50), 500);
	assert_int_equal(sim_hist_percentile(&h, 90), 900);
	assert_int_equal(sim_hist_percentile(&h, 99), 990);
	assert_int_equal(sim_hist_percentile(&h, 99.9), 999);
	assert_int_equal(sim_hist_percentile(&h, 100), 1000);
	assert_true(sim_hist_mean(&h) == 500.5);
	sim_hist_free(&h);
}

static void test_relative_error(void **state)
{
	struct sim_hist h;

	(void)state;
	assert_int_equal(sim_hist_init(&h, 10), 0);
	for (uint64_t v = 1; v < ((uint64_t)1 << 38); v = v * 3 + 1) {
		size_t i = sim_hist_index(10, v);
		uint64_t hi = sim_hist_highest(10, i);

		assert_true(hi >= v);
		assert_true((double)(hi - v) <= (double)v / 512.0);
		assert_true(i < h.nbuckets);
		if (i > 0)
			assert_true(sim_hist_highest(10, i - 1) < v);
	}
	sim_hist_record(&h, 5000000);
	assert_true(sim_hist_percentile(&h, 50) >= 5000000);
	assert_true(sim_hist_percentile(&h, 50) <= 5000000 + 5000000 / 512);
	sim_hist_free(&h);
}

static void test_merge(void **state)
{
	struct sim_hist a, b, c;

	(void)state;
	assert_int_equal(sim_hist_init(&a, 10), 0);
	assert_int_equal(sim_hist_init(&b, 10), 0);
	assert_int_equal(sim_hist_init(&c, 6), 0);
	for (uint64_t v = 1; v <= 500; v++)
		sim_hist_record(&a, v);
	for (uint64_t v = 501; v <= 1000; v++)
		sim_hist_record(&b, v);
	assert_int_equal(sim_hist_merge(&a, &b), 0);
	assert_int_equal(a.total, 1000);
	assert_int_equal(a.min, 1);
	assert_int_equal(a.max, 1000);
	assert_int_equal(sim_hist_percentile(&a, 99), 990);
	assert_int_equal(sim_hist_merge(&a, &c), -1);
	sim_hist_free(&a);
	sim_hist_free(&b);
	sim_hist_free(&c);
}

static void test_series(void **state)
{
	struct sim_series s;

	(void)state;
	sim_series_init(&s, 6);
	for (uint64_t v = 1; v <= 10; v++)
		assert_int_equal(sim_series_record(&s, 0, v), 0);
	assert_int_equal(sim_series_record(&s, 40, 7), 0);
	assert_non_null(sim_series_at(&s, 0));
	assert_null(sim_series_at(&s, 1));
	assert_null(sim_series_at(&s, 4000));
	assert_int_equal(sim_series_at(&s, 0)->total, 10);
	assert_int_equal(sim_hist_percentile(sim_series_at(&s, 0), 50), 5);
	assert_int_equal(sim_hist_percentile(sim_series_at(&s, 40), 99), 7);
	sim_series_free(&s);
}

/* The arrival times are exact and do not depend on how often, or how late, the clock looks. */
static void test_sched_exact(void **state)
{
	static const struct sim_phase ph[] = { { 0, 4 }, { 1, 0 }, { 2, 2 } };
	static const int64_t want[] = { 0, 250000000, 500000000, 750000000, 2000000000, 2500000000 };
	int64_t got[16], fake_clock = 0;
	size_t n = 0;
	struct sim_sched s;

	(void)state;
	sim_sched_init(&s, ph, 3, 3.0);
	assert_int_equal(sim_sched_peek(&s), 0);
	/* An irregular clock: steps of 0.1 s, one stall of 1.7 s (a slow response elsewhere). */
	while (sim_sched_peek(&s) >= 0 && n < 16) {
		fake_clock += fake_clock == 300000000 ? 1700000000 : 100000000;
		n += sim_sched_due(&s, fake_clock, got + n, 16 - n);
	}
	assert_int_equal(n, 6);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(got[i], want[i]);
	assert_int_equal(s.issued, 6);
	assert_int_equal(sim_sched_due(&s, INT64_MAX, got, 16), 0);
}

static void test_sched_rate(void **state)
{
	static const struct sim_phase ph[] = { { 0, 1000 } };
	int64_t buf[64];
	size_t total = 0, n;
	struct sim_sched s;

	(void)state;
	sim_sched_init(&s, ph, 1, 2.0);
	while ((n = sim_sched_due(&s, INT64_MAX, buf, 64)) > 0) {
		assert_int_equal(buf[0], (int64_t)total * 1000000);
		total += n;
	}
	assert_int_equal(total, 2000);
}

static void test_rand(void **state)
{
	uint64_t a = 42, b = 42;

	(void)state;
	for (int i = 0; i < 100; i++) {
		double u = sim_rand_unit(&a);

		assert_true(u >= 0 && u < 1);
		assert_true(u == sim_rand_unit(&b));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact_1_to_1000),
		cmocka_unit_test(test_relative_error),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_series),
		cmocka_unit_test(test_sched_exact),
		cmocka_unit_test(test_sched_rate),
		cmocka_unit_test(test_rand),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
