/* test_shipping_time.c - the shipping service's clock helpers: DATETIME(6) text and the due cutoff */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "svc_unit.h"

#include "shipping.h"

static void
test_sql_time(void **state)
{
	char out[32];

	(void)state;
	assert_int_equal(shipping_sql_time(1796119200123456LL, out, sizeof(out)), 0);
	assert_string_equal(out, "2026-12-01 10:00:00.123456");
	assert_int_equal(shipping_sql_time(0, out, sizeof(out)), 0);
	assert_string_equal(out, "1970-01-01 00:00:00.000000");
	/* Too small a buffer, a negative time, a year past 9999: refused, never cut. */
	assert_int_equal(shipping_sql_time(1796119200123456LL, out, 26), -1);
	assert_int_equal(shipping_sql_time(-1, out, sizeof(out)), -1);
	assert_int_equal(shipping_sql_time(253402300800LL * 1000000, out, sizeof(out)), -1);
}

/* A shipment created at c is due at now when c <= now - delay: exactly at the delay, not before. */
static void
test_due_before(void **state)
{
	int64_t now = 1796119200000000LL, created = now - 2000000;

	(void)state;
	assert_true(shipping_due_before(now, 2000) == created);
	assert_true(created <= shipping_due_before(now, 2000));
	assert_false(created <= shipping_due_before(now - 1, 2000));
	assert_true(shipping_due_before(now, 0) == now);
	assert_true(shipping_due_before(1000, 2000) == 0);
}

/* The next-due column is the span from now: kept, at least 1 µs; a negative one is none. */
static void
test_next_in(void **state)
{
	(void)state;
	assert_true(shipping_next_in(1500000) == 1500000);
	assert_true(shipping_next_in(1) == 1);
	assert_true(shipping_next_in(0) == 1);
	assert_true(shipping_next_in(-1) == -1);
	assert_true(shipping_next_in(-2000000) == -1);
}

SVC_UNIT_MAIN("shipping_time",
    cmocka_unit_test(test_sql_time),
    cmocka_unit_test(test_due_before),
    cmocka_unit_test(test_next_in))
