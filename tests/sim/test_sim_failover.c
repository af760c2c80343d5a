/* test_sim_failover.c - failover time and requests lost from failure times: bursts, windows, none */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sim_failover.h"

static void test_one_burst(void **state)
{
	/* Before the fault (ignored), a burst from 20.1 to 23.0, a straggler at 40, after the window. */
	const double t[] = { 5.0, 20.1, 20.5, 21.9, 23.0, 40.0, 70.0 };
	struct sim_failover fo;

	(void)state;
	sim_failover_of(t, sizeof(t) / sizeof(t[0]), 20.0, 60.0, 2.0, &fo);
	assert_true(fo.errors);
	assert_true(fo.first_error_s == 20.1);
	assert_true(fo.recovered_s == 23.0);
	assert_true(fo.failover_s > 2.89 && fo.failover_s < 2.91);
	assert_int_equal(fo.burst_failed, 4);
	assert_int_equal(fo.failed, 5);
}

static void test_gap_ends_the_burst(void **state)
{
	const double t[] = { 10.0, 12.5, 12.6 };
	struct sim_failover fo;

	(void)state;
	sim_failover_of(t, 3, 10.0, 20.0, 2.0, &fo);
	assert_true(fo.failover_s == 0.0);
	assert_int_equal(fo.burst_failed, 1);
	assert_int_equal(fo.failed, 3);
}

static void test_no_errors(void **state)
{
	const double t[] = { 1.0, 2.0, 50.0 };
	struct sim_failover fo;

	(void)state;
	sim_failover_of(t, 3, 10.0, 50.0, 2.0, &fo);
	assert_false(fo.errors);
	assert_int_equal(fo.failed, 0);
	sim_failover_of(NULL, 0, 0.0, 50.0, 2.0, &fo);
	assert_false(fo.errors);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_burst),
		cmocka_unit_test(test_gap_ends_the_burst),
		cmocka_unit_test(test_no_errors),
	};

	return cmocka_run_group_tests_name("sim_failover", tests, NULL, NULL);
}
