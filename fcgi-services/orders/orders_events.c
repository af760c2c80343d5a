/* orders_events.c - the events orders publishes (order.confirmed, order.rejected) and consumes */
#include <stdio.h>
#include <string.h>

#include "orders.h"

int
orders_outbox_terminal(struct svc_req *r, const struct orders_saga *s)
{
	json_object	*d, *items, *it;
	const char	*type;
	char		 key[32];
	size_t		 i;
	int		 bad = 0, rc;

	if (strcmp(s->status, "confirmed") != 0 && strcmp(s->status, "rejected") != 0)
		return SVC_OK;
	type = s->status[0] == 'c' ? "order.confirmed" : "order.rejected";
	if ((d = json_object_new_object()) == NULL)
		return SVC_ERR_NOMEM;
	bad |= svc_json_add(d, "order_id", json_object_new_int64(s->id));
	bad |= svc_json_add(d, "user_id", json_object_new_int64(s->user_id));
	bad |= svc_json_add(d, "total_cents", json_object_new_int64(s->total_cents));
	bad |= svc_json_add(d, "currency", json_object_new_string(s->currency));
	if (s->status[0] == 'c') {
		items = json_object_new_array();
		for (i = 0; i < s->nitems; i++) {
			it = json_object_new_object();
			bad |= svc_json_add(it, "product_id",
			    json_object_new_int64(s->items[i].product_id));
			bad |= svc_json_add(it, "quantity", json_object_new_int64(s->items[i].quantity));
			bad |= svc_json_push(items, it);
		}
		bad |= svc_json_add(d, "items", items);
	} else
		bad |= svc_json_add(d, "reason", json_object_new_string(s->reason));
	if (bad) {
		json_object_put(d);
		return SVC_ERR_NOMEM;
	}
	snprintf(key, sizeof(key), "%lld", (long long)s->id);
	rc = svc_outbox_add(r, type, key,
	    json_object_to_json_string_ext(d, JSON_C_TO_STRING_PLAIN));
	json_object_put(d);
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
	struct svc_rows	*rows = NULL;
	int64_t		 order_id, shipment_id;
	const char	*at;
	int		 rc;

	if (!json_object_object_get_ex(ev->data, "order_id", &v) ||
	    !json_object_is_type(v, json_type_int) || (order_id = json_object_get_int64(v)) < 1 ||
	    !json_object_object_get_ex(ev->data, "shipment_id", &v) ||
	    !json_object_is_type(v, json_type_int) || (shipment_id = json_object_get_int64(v)) < 1 ||
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
	if ((rc = svc_db_query(r, ORD_EXISTS, &rows, "i", order_id)) != SVC_OK)
		return rc;
	rc = svc_rows_next(rows) == 1 ? SVC_OK : SVC_ERR_INVALID;
	if (rc == SVC_OK)
		svc_log(r, "info", "order %lld: shipment.dispatched while %s: unchanged",
		    (long long)order_id, svc_rows_str(rows, 0, NULL));
	svc_rows_free(rows);
	return rc;
}

/*
 * shipment.created {shipment_id, order_id, user_id, created_at}: a confirmed order without a
 * shipment gets its id (GET shows shipment:{id, dispatched_at:null}). Monotonic: a created
 * that arrives after the dispatched one (the order is shipped already) changes nothing.
 */
int
orders_on_shipment_created(struct svc_req *r, const struct svc_event *ev)
{
	json_object	*v;
	struct svc_rows	*rows = NULL;
	int64_t		 order_id, shipment_id;
	int		 rc;

	if (!json_object_object_get_ex(ev->data, "order_id", &v) ||
	    !json_object_is_type(v, json_type_int) || (order_id = json_object_get_int64(v)) < 1 ||
	    !json_object_object_get_ex(ev->data, "shipment_id", &v) ||
	    !json_object_is_type(v, json_type_int) || (shipment_id = json_object_get_int64(v)) < 1)
		return SVC_ERR_INVALID;
	if ((rc = svc_db_exec(r, ORD_SHIP_CREATED, "ii", shipment_id, order_id)) != SVC_OK)
		return rc;
	if (svc_db_affected(r) == 1)
		return SVC_OK;
	if ((rc = svc_db_query(r, ORD_EXISTS, &rows, "i", order_id)) != SVC_OK)
		return rc;
	rc = svc_rows_next(rows) == 1 ? SVC_OK : SVC_ERR_INVALID;
	svc_rows_free(rows);
	return rc;
}
