/* shipping.h - the shipping service: one shipment per confirmed order, dispatched after a delay */
#ifndef SHIPPING_H
#define SHIPPING_H

#include <stddef.h>
#include <stdint.h>

#include "svc.h"
#include "svc_events.h"

enum shipping_stmt {
	SHIP_INSERT,
	SHIP_BY_ORDER,
	SHIP_DUE,
	SHIP_DISPATCH,
	SHIP_NSTMTS
};

extern const char *const shipping_stmts[SHIP_NSTMTS];

/* A wall clock (µs since the epoch), injectable for tests. */
struct shipping_state {
	long long		 delay_ms;	/* created -> dispatched */
	long long		 batch;		/* shipments dispatched per transaction */
	struct svc_clock	 clock;		/* wall time: created_at, dispatched_at, the cutoff */
};

/* GET /api/v1/shipments?order_id=N: the order's shipment, for its owner or an admin. */
int shipping_get(struct svc_req *r);
/* order.confirmed: creates the order's one shipment and its shipment.created event. */
int shipping_on_confirmed(struct svc_req *r, const struct svc_event *ev);
/* Background: dispatches shipments older than the delay (shipment.dispatched). 1: more due. */
int shipping_dispatch(struct svc_req *r);

/*
 * Pure parts (shipping_time.c), unit-tested. wall_us as "2026-12-01 10:00:00.123456" for a
 * DATETIME(6) column (27 bytes with NUL); -1 when it does not fit or is out of range.
 */
int shipping_sql_time(int64_t wall_us, char *out, size_t outlen);
/* The newest created_at (wall µs) that is due at now_us: now_us - delay_ms, never negative. */
int64_t shipping_due_before(int64_t now_us, long long delay_ms);
/*
 * The dispatcher's next wake from the next-due column (µs by which the oldest shipment not yet
 * due was created after the cutoff, i.e. from now until it is due): at least 1 µs ahead, since
 * it is not due yet; -1 for a negative span (a wall clock that stepped back while the
 * transaction ran: the cap finds it).
 */
int64_t shipping_next_in(int64_t after_cutoff_us);

#endif /* SHIPPING_H */
