/* shipping_shipments.c - the shipments table's statements and GET /api/v1/shipments?order_id=N */
#include <string.h>

#include "shipping.h"

#define SHIP_TS(col) "DATE_FORMAT(" col ", '%Y-%m-%dT%H:%i:%s.%fZ') AS " col

const char *const shipping_stmts[SHIP_NSTMTS] = {
	/* UNIQUE order_id: a second order.confirmed for the order changes nothing (0 rows). */
	[SHIP_INSERT] =
	    "INSERT INTO shipments (order_id, user_id, status, created_at)"
	    " VALUES (?, ?, 'created', ?) ON DUPLICATE KEY UPDATE id = id",
	[SHIP_BY_ORDER] =
	    "SELECT id, order_id, user_id, status, " SHIP_TS("created_at") ", "
	    SHIP_TS("dispatched_at") " FROM shipments WHERE order_id = ?",
	/*
	 * SKIP LOCKED: two instances never dispatch the same shipment; each takes its own. The
	 * due rows (id > 0), then one row with id 0 whose third column is how long after the
	 * cutoff the next shipment not yet due was created (µs; NULL: none), which is how long
	 * from now it becomes due: the dispatcher sleeps until then. Both halves are ranges of
	 * shipments_due (status, created_at); TIMESTAMPDIFF of two DATETIMEs needs no time zone.
	 */
	[SHIP_DUE] =
	    "(SELECT id, order_id, 0 FROM shipments WHERE status = 'created' AND created_at <= ?"
	    " ORDER BY created_at, id LIMIT ? FOR UPDATE SKIP LOCKED)"
	    " UNION ALL"
	    " (SELECT 0, 0, TIMESTAMPDIFF(MICROSECOND, ?, MIN(created_at)) FROM shipments"
	    " WHERE status = 'created' AND created_at > ?)",
	[SHIP_DISPATCH] =
	    "UPDATE shipments SET status = 'dispatched', dispatched_at = ?"
	    " WHERE id = ? AND status = 'created'",
};

int
shipping_get(struct svc_req *r)
{
	struct svc_rows	*rows = NULL;
	json_object	*o;
	const char	*role;
	int64_t		 uid = svc_req_user_id(r), order_id;
	int		 rc;

	if (uid == 0)
		return svc_reply_error(r, 401, "unauthorized", "a valid bearer token is required");
	if ((rc = svc_query_int_or_reply(r, "order_id", 1, INT64_MAX, 0, &order_id)) != SVC_OK)
		return rc;
	if (order_id == 0)
		return svc_reply_field_error(r, "order_id", "order_id is required");
	if ((rc = svc_db_query(r, SHIP_BY_ORDER, &rows, "i", order_id)) != SVC_OK)
		return svc_reply_err(r, rc);
	/* Another user's shipment is not found, not forbidden: ids tell nothing. An admin sees all. */
	if (svc_rows_next(rows) != 1 || (svc_rows_int(rows, 2) != uid &&
	    ((role = svc_req_user_role(r)) == NULL || strcmp(role, "admin") != 0))) {
		svc_rows_free(rows);
		return svc_reply_error(r, 404, "not_found", "no shipment for order %lld",
		    (long long)order_id);
	}
	o = svc_rows_json(rows);
	svc_rows_free(rows);
	if (o == NULL)
		return svc_reply_err(r, SVC_ERR_NOMEM);
	return svc_reply_json(r, 200, o);
}
