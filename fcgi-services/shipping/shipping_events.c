/* shipping_events.c - order.confirmed makes a shipment (shipment.created); the dispatcher sends it */
#include <stdio.h>
#include <string.h>

#include "shipping.h"

/*
 * order.confirmed {order_id, user_id, ...}, inside the consumer's transaction (the inbox row
 * is in it): the shipment and its shipment.created event commit together, or neither does.
 * An order that has its shipment already (another message for the same order) changes
 * nothing. Data that can never apply is SVC_ERR_INVALID: dead-lettered.
 */
int
shipping_on_confirmed(struct svc_req *r, const struct svc_event *ev)
{
	struct shipping_state	*st = svc_req_state(r);
	json_object		*d;
	int64_t			 order_id, user_id, now, id;
	char			 sqlt[32], at[32];
	int			 rc, bad = 0;

	if ((order_id = svc_event_data_id(ev, "order_id")) == 0 ||
	    (user_id = svc_event_data_id(ev, "user_id")) == 0)
		return SVC_ERR_INVALID;
	now = st->clock.now_us(st->clock.ctx);
	if (shipping_sql_time(now, sqlt, sizeof(sqlt)) != 0)
		return SVC_ERR_INTERNAL;
	svc_event_time(now, at);
	if ((rc = svc_db_exec(r, SHIP_INSERT, "iis", order_id, user_id, sqlt)) != SVC_OK)
		return rc;
	if (svc_db_affected(r) != 1) {
		svc_log(r, "info", "order %lld has its shipment already: unchanged",
		    (long long)order_id);
		return SVC_OK;
	}
	id = (int64_t)svc_db_insert_id(r);
	/* Due delay_ms from now: the dispatcher is woken then, once this transaction commits. */
	svc_bg_due(r, svc_now_us() + st->delay_ms * 1000);
	d = json_object_new_object();	/* NULL: the adds and svc_outbox_add_json fail */
	bad |= svc_json_add(d, "shipment_id", json_object_new_int64(id));
	bad |= svc_json_add(d, "order_id", json_object_new_int64(order_id));
	bad |= svc_json_add(d, "user_id", json_object_new_int64(user_id));
	bad |= svc_json_add(d, "created_at", json_object_new_string(at));
	if ((rc = svc_outbox_add_json(r, "shipment.created", order_id, d, bad)) == SVC_OK)
		svc_log(r, "info", "order %lld: shipment %lld created", (long long)order_id,
		    (long long)id);
	return rc;
}

struct shipping_round {
	int64_t	cutoff;		/* wall µs: created at or before it is due */
	int64_t	now;
	int64_t	next_in;	/* µs from now until the next shipment is due; -1: none */
	int	n;		/* dispatched in this round */
	int	due;		/* due rows the round read */
};

/* One transaction: lock due shipments nobody else holds, dispatch each with its event. */
static int
shipping_dispatch_tx(struct svc_req *r, void *arg)
{
	struct shipping_state	*st = svc_req_state(r);
	struct shipping_round	*rd = arg;
	struct svc_rows		*rows = NULL;
	json_object		*d;
	int64_t			 id, order_id;
	char			 cut[32], sqlt[32], at[32];
	int			 rc, bad;

	rd->n = 0;
	rd->due = 0;
	rd->next_in = -1;
	if (shipping_sql_time(rd->cutoff, cut, sizeof(cut)) != 0 ||
	    shipping_sql_time(rd->now, sqlt, sizeof(sqlt)) != 0)
		return SVC_ERR_INTERNAL;
	svc_event_time(rd->now, at);
	if ((rc = svc_db_query(r, SHIP_DUE, &rows, "siss", cut, (int64_t)st->batch, cut, cut)) !=
	    SVC_OK)
		return rc;
	while (svc_rows_next(rows) == 1) {
		id = svc_rows_int(rows, 0);
		order_id = svc_rows_int(rows, 1);
		if (id == 0) {	/* the next due time's row */
			if (!svc_rows_isnull(rows, 2))
				rd->next_in = shipping_next_in(svc_rows_int(rows, 2));
			continue;
		}
		rd->due++;
		if ((rc = svc_db_exec(r, SHIP_DISPATCH, "si", sqlt, id)) != SVC_OK)
			goto out_free_rows;
		if (svc_db_affected(r) != 1)
			continue;
		bad = 0;
		d = json_object_new_object();
		bad |= svc_json_add(d, "shipment_id", json_object_new_int64(id));
		bad |= svc_json_add(d, "order_id", json_object_new_int64(order_id));
		bad |= svc_json_add(d, "dispatched_at", json_object_new_string(at));
		if ((rc = svc_outbox_add_json(r, "shipment.dispatched", order_id, d, bad)) != SVC_OK)
			goto out_free_rows;
		rd->n++;
	}
	rc = SVC_OK;
out_free_rows:
	svc_rows_free(rows);
	return rc;
}

int
shipping_dispatch(struct svc_req *r)
{
	struct shipping_state	*st = svc_req_state(r);
	struct shipping_round	 rd;
	int64_t			 mono;
	int			 rc;

	memset(&rd, 0, sizeof(rd));
	rd.now = st->clock.now_us(st->clock.ctx);
	mono = svc_now_us();	/* the same instant on the clock the background thread sleeps on */
	rd.cutoff = shipping_due_before(rd.now, st->delay_ms);
	if ((rc = svc_db_tx(r, shipping_dispatch_tx, &rd)) != SVC_OK) {
		svc_log(r, "warn", "dispatching shipments failed: %s", svc_err_name(rc));
		/* An error: the background thread waits longer after each failed round in a row. */
		return rc == 1 ? SVC_ERR_INTERNAL : rc;	/* 1 would say "more" */
	}
	if (rd.n > 0)
		svc_log(r, "info", "%d shipment(s) dispatched", rd.n);
	/* A full batch, some of it dispatched: there may be more due now. */
	if (svc_bg_more((size_t)rd.due, (size_t)rd.n, (size_t)st->batch))
		return 1;
	/*
	 * Else sleep until the next shipment is due (wall time, read as a span from now, so a
	 * wall-clock step after this does not move the monotonic sleep), or a new shipment's
	 * commit (shipping_on_confirmed), or the cap (bg_max_ms).
	 */
	svc_bg_next(r, rd.next_in >= 0 ? mono + rd.next_in : 0);
	return SVC_OK;
}
