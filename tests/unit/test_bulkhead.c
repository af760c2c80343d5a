/* test_bulkhead.c - the bulkhead admits up to its cap, rejects past it, admits again after a leave */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "svc_unit.h"

#include "svc.h"
#include "svc_resilience.h"

/* Sets h up (on or off, cap) and has n calls enter it, each admitted. */
static void
admit(struct svc_bulkhead *h, int enabled, int cap, int n)
{
	int i;

	svc_bulkhead_init(h, enabled, cap);
	for (i = 0; i < n; i++) {
		if (svc_bulkhead_enter(h) != 0)
			fail_msg("call %d of %d refused under a cap of %d", i + 1, n, cap);
	}
}

/* n calls leave h. */
static void
leave(struct svc_bulkhead *h, int n)
{
	while (n-- > 0)
		svc_bulkhead_leave(h);
}

static void
test_rejects_past_cap(void **state)
{
	struct svc_bulkhead h;

	(void)state;
	admit(&h, 1, 4, 4);
	assert_int_equal(atomic_load(&h.inuse), 4);
	assert_int_equal(svc_bulkhead_enter(&h), -1);
	assert_int_equal(svc_bulkhead_enter(&h), -1);
	assert_int_equal(atomic_load(&h.rejections), 2);
	assert_int_equal(atomic_load(&h.inuse), 4);
	svc_bulkhead_leave(&h);
	assert_int_equal(svc_bulkhead_enter(&h), 0);
	assert_int_equal(svc_bulkhead_enter(&h), -1);
	leave(&h, 4);
	assert_int_equal(atomic_load(&h.inuse), 0);
	assert_int_equal(atomic_load(&h.rejections), 3);
}

static void
test_cap_of_one(void **state)
{
	struct svc_bulkhead h;

	(void)state;
	svc_bulkhead_init(&h, 1, 1);
	assert_int_equal(svc_bulkhead_enter(&h), 0);
	assert_int_equal(svc_bulkhead_enter(&h), -1);
	svc_bulkhead_leave(&h);
	assert_int_equal(svc_bulkhead_enter(&h), 0);
	svc_bulkhead_leave(&h);
}

static void
test_disabled_admits_everything(void **state)
{
	struct svc_bulkhead h;

	(void)state;
	/* Off: a hundred calls over a cap of one, none refused. */
	admit(&h, 0, 1, 100);
	leave(&h, 100);
	assert_int_equal(atomic_load(&h.inuse), 0);
	assert_int_equal(atomic_load(&h.rejections), 0);
}

SVC_UNIT_MAIN("bulkhead",
    cmocka_unit_test(test_rejects_past_cap),
    cmocka_unit_test(test_cap_of_one),
    cmocka_unit_test(test_disabled_admits_everything))
