/* orders_events.c - the events orders publishes (order.confirmed, order.rejected) and consumes */
#include <stdio.h>
#include <string.h>

#include "orders.h"

int
orders_outbox_terminal(struct svc_req *r, const struct orders_saga *s)
{
	json_object	*d;
	const char	*type;
	int		 bad = 0;

	if (strcmp(s->status, "confirmed") != 0 && strcmp(s->status, "rejected") != 0)
		return SVC_OK;
	type = s->status[0] == 'c' ? "order.confirmed" : "order.rejected";
	d = json_object_new_object();	/* NULL: the adds and svc_outbox_add_json fail */
	bad |= svc_json_add(d, "order_id", json_object_new_int64(s->id));
	bad |= svc_json_add(d, "user_id", json_object_new_int64(s->user_id));
	bad |= svc_json_add(d, "total_cents", json_object_new_int64(s->total_cents));
	bad |= svc_json_add(d, "currency", json_object_new_string(s->currency));
	if (s->status[0] == 'c')
		bad |= svc_json_add(d, "items", orders_items_json(s));
	else
		bad |= svc_json_add(d, "reason", json_object_new_string(s->reason));
	return svc_outbox_add_json(r, type, s->id, d, bad);
}

/*
 * After an update for order_id that changed no row: SVC_OK when the order exists (it was
 * past the change already; logged with what, unless NULL), SVC_ERR_INVALID when it does not.
 */
static int
orders_unchanged(struct svc_req *r, int64_t order_id, const char *what)
{
	struct svc_rows	*rows = NULL;
	int		 rc;

	if ((rc = svc_db_query(r, ORD_EXISTS, &rows, "i", order_id)) != SVC_OK)
		return rc;
	rc = svc_rows_next(rows) == 1 ? SVC_OK : SVC_ERR_INVALID;
	if (rc == SVC_OK && what != NULL)
		svc_log(r, "info", "order %lld: %s while %s: unchanged", (long long)order_id, what,
		    svc_rows_str(rows, 0, NULL));
	svc_rows_free(rows);
	return rc;
}

/*
 * shipment.dispatched {shipment_id, order_id, dispatched_at}: a confirmed order becomes
 * shipped; an order already shipped (or not confirmed) stays as it is. An unknown order or
 * a malformed event can never apply: SVC_ERR_INVALID dead-letters it.
 */
int
orders_on_dispatched(struct svc_req *r, const struct svc_event *ev)
{
	json_object	*v;
	int64_t		 order_id, shipment_id;
	const char	*at;
	int		 rc;

	if ((order_id = svc_event_data_id(ev, "order_id")) == 0 ||
	    (shipment_id = svc_event_data_id(ev, "shipment_id")) == 0 ||
	    !json_object_object_get_ex(ev->data, "dispatched_at", &v) ||
	    !json_object_is_type(v, json_type_string) || strlen(at = json_object_get_string(v)) > 32)
		return SVC_ERR_INVALID;
	if ((rc = svc_db_exec(r, ORD_SHIPPED, "isi", shipment_id, at, order_id)) != SVC_OK)
		return rc;
	if (svc_db_affected(r) == 1) {
		svc_log(r, "info", "order %lld: shipped (shipment %lld)", (long long)order_id,
		    (long long)shipment_id);
		return SVC_OK;
	}
	return orders_unchanged(r, order_id, "shipment.dispatched");
}

/*
 * shipment.created {shipment_id, order_id, user_id, created_at}: a confirmed order without a
 * shipment gets its id (GET shows shipment:{id, dispatched_at:null}). Monotonic: a created
 * that arrives after the dispatched one (the order is shipped already) changes nothing.
 */
int
orders_on_shipment_created(struct svc_req *r, const struct svc_event *ev)
{
	int64_t	order_id, shipment_id;
	int	rc;

	if ((order_id = svc_event_data_id(ev, "order_id")) == 0 ||
	    (shipment_id = svc_event_data_id(ev, "shipment_id")) == 0)
		return SVC_ERR_INVALID;
	if ((rc = svc_db_exec(r, ORD_SHIP_CREATED, "ii", shipment_id, order_id)) != SVC_OK)
		return rc;
	return svc_db_affected(r) == 1 ? SVC_OK : orders_unchanged(r, order_id, NULL);
}
