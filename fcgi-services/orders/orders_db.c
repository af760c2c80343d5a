/* orders_db.c - the orders service's statements, and loading an order with its items */
#include <stdio.h>
#include <string.h>

#include "orders.h"

#define ORD_TS(col) "DATE_FORMAT(" col ", '%Y-%m-%dT%H:%i:%s.%fZ')"

const char *const orders_stmts[ORD_NSTMTS] = {
	[ORD_FIND_KEY] =
	    "SELECT id, request_hash, response_status, response_body FROM orders"
	    " WHERE user_id = ? AND idempotency_key = ?",
	/* What the saga needs of the new row comes back with it: no read after the write. */
	[ORD_INSERT] =
	    "INSERT INTO orders (user_id, total_cents, currency, idempotency_key, request_hash,"
	    " card_enc, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?,"
	    " NOW(3) + INTERVAL ? MICROSECOND) RETURNING id, " ORD_TS("created_at"),
	[ORD_INSERT_ITEM] =
	    "INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents)"
	    " VALUES (?, ?, ?, ?)",
	/* The order and its lines in one statement: one row per line, the order's columns on each. */
	[ORD_GET] =
	    "SELECT o.id, o.user_id, o.status, o.saga_state, o.reject_reason, o.total_cents,"
	    " o.currency, o.idempotency_key, o.card_enc,"
	    " TIMESTAMPDIFF(SECOND, o.created_at, NOW(3)), " ORD_TS("o.created_at") ","
	    " o.shipment_id, o.shipped_at, i.product_id, i.quantity, i.unit_price_cents"
	    " FROM orders o LEFT JOIN order_items i ON i.order_id = o.id WHERE o.id = ?"
	    " ORDER BY i.product_id",
	[ORD_GET_OWNED] =
	    "SELECT o.id, o.user_id, o.status, o.saga_state, o.reject_reason, o.total_cents,"
	    " o.currency, o.idempotency_key, o.card_enc,"
	    " TIMESTAMPDIFF(SECOND, o.created_at, NOW(3)), " ORD_TS("o.created_at") ","
	    " o.shipment_id, o.shipped_at, i.product_id, i.quantity, i.unit_price_cents"
	    " FROM orders o LEFT JOIN order_items i ON i.order_id = o.id"
	    " WHERE o.id = ? AND o.user_id = ? ORDER BY i.product_id",
	/* Monotonic: only a confirmed order ships; a late or repeated event changes nothing. */
	[ORD_SHIPPED] =
	    "UPDATE orders SET status = 'shipped', shipment_id = ?, shipped_at = ?"
	    " WHERE id = ? AND status = 'confirmed'",
	[ORD_EXISTS] =
	    "SELECT status FROM orders WHERE id = ?",
	/* Monotonic too: only a confirmed order without a shipment learns its id this way. */
	[ORD_SHIP_CREATED] =
	    "UPDATE orders SET shipment_id = ? WHERE id = ? AND status = 'confirmed'"
	    " AND shipment_id IS NULL",
	/* Pending sagas and the age of the oldest, in microseconds (0 when none); orders_due. */
	[ORD_SAGA_GAUGE] =
	    "SELECT COUNT(*), COALESCE(TIMESTAMPDIFF(MICROSECOND, MIN(created_at), NOW(3)), 0)"
	    " FROM orders WHERE status = 'pending'",
	[ORD_SET_STATE] =
	    /*
	     * Assignments run left to right: a confirmed order carries no reject reason. The
	     * sealed card goes in the same statement when the move leaves the charge behind,
	     * and the request's reply with the move that ends the saga (NULL: none; a stored
	     * reply is never replaced).
	     */
	    "UPDATE orders SET saga_state = ?, status = ?,"
	    " reject_reason = IF(status = 'confirmed', NULL, COALESCE(?, reject_reason)),"
	    " card_enc = IF(? = 1, NULL, card_enc),"
	    " response_body = IF(response_status IS NULL, ?, response_body),"
	    " response_status = COALESCE(response_status, ?)"
	    " WHERE id = ? AND saga_state = ?",
	[ORD_SWEEP_CARDS] =
	    /* Cards an older version kept past the charge's answer. */
	    "UPDATE orders SET card_enc = NULL WHERE card_enc IS NOT NULL"
	    " AND saga_state NOT IN ('pending', 'reserved')",
	[ORD_STORE_RESPONSE] =
	    "UPDATE orders SET response_status = ?, response_body = ?"
	    " WHERE id = ? AND response_status IS NULL",
	[ORD_RESCHEDULE] =
	    "UPDATE orders SET next_attempt_at = NOW(3) + INTERVAL ? MICROSECOND WHERE id = ?",
	[ORD_DUE] =
	    "SELECT id FROM orders WHERE status = 'pending' AND next_attempt_at <= NOW(3)"
	    " ORDER BY next_attempt_at LIMIT ?",
	[ORD_CLAIM] =
	    "UPDATE orders SET next_attempt_at = NOW(3) + INTERVAL ? MICROSECOND,"
	    " attempts = attempts + 1"
	    " WHERE id = ? AND status = 'pending' AND next_attempt_at <= NOW(3)",
	[ORD_LIST] =
	    "SELECT id, status, total_cents, currency, " ORD_TS("created_at") " AS created_at"
	    " FROM orders WHERE user_id = ? AND id > ? ORDER BY id LIMIT ?",
};

void
orders_saga_free(struct orders_saga *s)
{
	json_object_put(s->card);
	s->card = NULL;
	json_object_put(s->reply);
	s->reply = NULL;
}

int
orders_load(struct svc_req *r, int64_t id, int64_t user_id, struct orders_saga *s)
{
	struct orders_state	*st = svc_req_state(r);
	struct svc_rows		*rows = NULL;
	const unsigned char	*enc;
	char			 key[ORDERS_KEY_MAX + 1], card[512];
	size_t			 enclen;
	int			 rc;

	memset(s, 0, sizeof(*s));
	rc = user_id ? svc_db_query(r, ORD_GET_OWNED, &rows, "ii", id, user_id) :
	    svc_db_query(r, ORD_GET, &rows, "i", id);
	if (rc != SVC_OK)
		return rc;
	if (!svc_rows_next(rows)) {
		svc_rows_free(rows);
		return SVC_ERR_NOT_FOUND;
	}
	s->id = svc_rows_int(rows, 0);
	s->user_id = svc_rows_int(rows, 1);
	svc_rows_copy(rows, 2, s->status, sizeof(s->status));
	if (orders_state_parse(svc_rows_str(rows, 3, NULL) ? svc_rows_str(rows, 3, NULL) : "",
	    &s->state) == -1) {
		svc_rows_free(rows);
		svc_log(r, "error", "order %lld: unknown saga state", (long long)id);
		return SVC_ERR_INTERNAL;
	}
	svc_rows_copy(rows, 4, s->reason, sizeof(s->reason));
	s->total_cents = svc_rows_int(rows, 5);
	svc_rows_copy(rows, 6, s->currency, sizeof(s->currency));
	svc_rows_copy(rows, 7, key, sizeof(key));
	enc = (const unsigned char *)svc_rows_str(rows, 8, &enclen);
	if (enc != NULL && orders_card_open(st->aes_key, key, enc, enclen, card,
	    sizeof(card)) == 0) {
		s->card = json_tokener_parse(card);
		explicit_bzero(card, sizeof(card));
	}
	s->age_s = svc_rows_int(rows, 9);
	svc_rows_copy(rows, 10, s->created_at, sizeof(s->created_at));
	s->shipment_id = svc_rows_isnull(rows, 11) ? 0 : svc_rows_int(rows, 11);
	svc_rows_copy(rows, 12, s->shipped_at, sizeof(s->shipped_at));
	/* The lines, one per row (none: a NULL line from the LEFT JOIN). */
	do {
		if (svc_rows_isnull(rows, 13) || s->nitems >= ORDERS_MAX_ITEMS)
			continue;
		s->items[s->nitems].product_id = svc_rows_int(rows, 13);
		s->items[s->nitems].quantity = svc_rows_int(rows, 14);
		s->items[s->nitems].unit_price_cents = svc_rows_int(rows, 15);
		s->nitems++;
	} while (svc_rows_next(rows));
	svc_rows_free(rows);
	return SVC_OK;
}

json_object *
orders_json(const struct orders_saga *s)
{
	json_object	*o, *items, *it;
	size_t		 i;
	int		 bad = 0;

	o = json_object_new_object();
	items = json_object_new_array();
	bad |= svc_json_add(o, "id", json_object_new_int64(s->id));
	bad |= svc_json_add(o, "status", json_object_new_string(s->status));
	bad |= svc_json_add(o, "total_cents", json_object_new_int64(s->total_cents));
	bad |= svc_json_add(o, "currency", json_object_new_string(s->currency));
	for (i = 0; i < s->nitems; i++) {
		it = json_object_new_object();
		bad |= svc_json_add(it, "product_id", json_object_new_int64(s->items[i].product_id));
		bad |= svc_json_add(it, "quantity", json_object_new_int64(s->items[i].quantity));
		bad |= svc_json_add(it, "unit_price_cents",
		    json_object_new_int64(s->items[i].unit_price_cents));
		bad |= svc_json_push(items, it);
	}
	bad |= svc_json_add(o, "items", items);
	if (strcmp(s->status, "rejected") == 0)
		bad |= svc_json_add(o, "reject_reason", json_object_new_string(s->reason));
	bad |= svc_json_add(o, "created_at", json_object_new_string(s->created_at));
	if (s->shipment_id > 0) {
		json_object *sh = json_object_new_object();

		bad |= svc_json_add(sh, "id", json_object_new_int64(s->shipment_id));
		/* Created, not dispatched yet: dispatched_at is null. */
		if (s->shipped_at[0] != '\0')
			bad |= svc_json_add(sh, "dispatched_at",
			    json_object_new_string(s->shipped_at));
		else if (sh != NULL && json_object_object_add(sh, "dispatched_at", NULL) != 0)
			bad = 1;
		bad |= svc_json_add(o, "shipment", sh);
	}
	return svc_json_checked(o, bad);
}
