/* svc_bulkhead.c - a cap on concurrent calls to one dependency, without a lock */
#include "svc.h"
#include "svc_resilience.h"

void
svc_bulkhead_init(struct svc_bulkhead *h, int enabled, int max)
{
	h->enabled = enabled;
	h->max = max;
	atomic_init(&h->inuse, 0);
	atomic_init(&h->rejections, 0);
}

/*
 * A compare-and-swap loop rather than add-then-undo: the count never goes above max, not
 * even for a moment, so a caller never sees a slot taken by someone who is about to fail.
 */
int
svc_bulkhead_try(struct svc_bulkhead *h)
{
	int cur;

	if (!h->enabled)
		return 0;
	cur = atomic_load_explicit(&h->inuse, memory_order_relaxed);
	do {
		if (cur >= h->max)
			return -1;
	} while (!atomic_compare_exchange_weak_explicit(&h->inuse, &cur, cur + 1,
	    memory_order_acquire, memory_order_relaxed));
	return 0;
}

int
svc_bulkhead_enter(struct svc_bulkhead *h)
{
	if (svc_bulkhead_try(h) == 0)
		return 0;
	atomic_fetch_add_explicit(&h->rejections, 1, memory_order_relaxed);
	return -1;
}

void
svc_bulkhead_leave(struct svc_bulkhead *h)
{
	if (h->enabled)
		atomic_fetch_sub_explicit(&h->inuse, 1, memory_order_release);
}
