/* inv_reservations.c - hold, commit and release stock per order: idempotent, all-or-nothing */
#include <stdio.h>
#include <string.h>

#include "inventory.h"

#define INV_STATUS_MAX	16

enum inv_outcome {
	INV_HELD,		/* a new reservation holds every line */
	INV_REPLAY,		/* the order's reservation exists with the same lines */
	INV_MISMATCH,		/* it exists with other lines */
	INV_RELEASED,		/* it was released (or a release came first): refused */
	INV_EXPIRED,		/* it expired before anyone committed or released it: refused */
	INV_SHORT,		/* a line lacks stock: nothing is held */
};

/* A reserve request and what its transaction found. */
struct inv_reserve {
	int64_t			order_id;
	struct inv_items	want;
	struct inv_items	have;
	char			status[INV_STATUS_MAX];
	enum inv_outcome	outcome;
	int64_t			short_id;	/* INV_SHORT: the first product lacking stock */
};

/* A commit or release of one order's reservation. */
struct inv_move {
	int64_t		 order_id;
	const char	*to;			/* "committed" or "released" */
	int		 found;
	char		 status[INV_STATUS_MAX];	/* the status it has afterwards */
};

/* Reads order_id's status with stmt into status; *found says whether there is a row. */
static int
inv_status_load(struct svc_req *r, int stmt, int64_t order_id, char *status, int *found)
{
	struct svc_rows	*rows = NULL;
	const char	*s;
	int		 rc;

	*found = 0;
	status[0] = '\0';
	if ((rc = svc_db_query(r, stmt, &rows, "i", order_id)) != SVC_OK)
		return rc;
	if (svc_rows_next(rows) && (s = svc_rows_str(rows, 0, NULL)) != NULL) {
		snprintf(status, INV_STATUS_MAX, "%s", s);
		*found = 1;
	}
	svc_rows_free(rows);
	return SVC_OK;
}

/* Reads order_id's lines with stmt (they come ordered by product_id). */
static int
inv_items_load(struct svc_req *r, int stmt, int64_t order_id, struct inv_items *items)
{
	struct svc_rows	*rows = NULL;
	int		 rc;

	items->n = 0;
	if ((rc = svc_db_query(r, stmt, &rows, "i", order_id)) != SVC_OK)
		return rc;
	while (svc_rows_next(rows) && items->n < INV_ITEMS_MAX) {
		items->v[items->n].product_id = svc_rows_int(rows, 0);
		items->v[items->n].quantity = svc_rows_int(rows, 1);
		items->n++;
	}
	svc_rows_free(rows);
	return SVC_OK;
}

/* {"order_id","status"[,"items"]}; items may be NULL. */
static int
inv_reply_reservation(struct svc_req *r, int status, int64_t order_id, const char *st,
    const struct inv_items *items)
{
	json_object	*obj;
	int		 bad = 0;

	obj = json_object_new_object();
	bad |= svc_json_add(obj, "order_id", json_object_new_int64(order_id));
	bad |= svc_json_add(obj, "status", json_object_new_string(st));
	if (items != NULL)
		bad |= svc_json_add(obj, "items", inv_items_json(items));
	return svc_reply_json(r, status, svc_json_checked(obj, bad));
}

/* 409 out_of_stock in the contract's error shape, plus the product that is short. */
static int
inv_reply_out_of_stock(struct svc_req *r, int64_t product_id)
{
	json_object	*root, *err;
	char		 msg[96];
	int		 bad = 0;

	root = json_object_new_object();
	snprintf(msg, sizeof(msg), "product %lld does not have enough stock",
	    (long long)product_id);
	err = json_object_new_object();
	bad |= svc_json_add(err, "code", json_object_new_string("out_of_stock"));
	bad |= svc_json_add(err, "message", json_object_new_string(msg));
	bad |= svc_json_add(err, "request_id", json_object_new_string(svc_req_id(r)));
	bad |= svc_json_add(err, "product_id", json_object_new_int64(product_id));
	bad |= svc_json_add(root, "error", err);
	return svc_reply_json(r, 409, svc_json_checked(root, bad));
}

/* The order already has a reservation row: compare it with the request, change nothing. */
static int
inv_reserve_existing(struct svc_req *r, struct inv_reserve *x)
{
	int rc, found;

	if ((rc = inv_status_load(r, INV_RES_SHARE, x->order_id, x->status, &found)) != SVC_OK)
		return rc;
	/* The row we collided with is gone again (rolled back): start over. */
	if (!found)
		return SVC_ERR_DB_RETRY;
	if (strcmp(x->status, "released") == 0 || strcmp(x->status, "expired") == 0) {
		x->outcome = x->status[0] == 'r' ? INV_RELEASED : INV_EXPIRED;
		return SVC_OK;
	}
	if ((rc = inv_items_load(r, INV_ITEMS_SHARE, x->order_id, &x->have)) != SVC_OK)
		return rc;
	x->outcome = inv_items_equal(&x->want, &x->have) ? INV_REPLAY : INV_MISMATCH;
	return SVC_OK;
}

/*
 * Claims the order id with the reservation row (its primary key makes a concurrent
 * duplicate wait for us, then find our row), then holds each line in product_id order
 * with a conditional update. A short line returns SVC_ERR_CONFLICT: everything rolls back.
 */
static int
inv_reserve_tx(struct svc_req *r, void *arg)
{
	struct inv_reserve	*x = arg;
	const struct inv_state	*st = svc_req_state(r);
	const struct inv_item	*it;
	size_t			 i;
	int			 rc;

	x->outcome = INV_HELD;
	rc = svc_db_exec(r, INV_RES_INSERT, "isii", x->order_id, "held", (int64_t)st->ttl_s,
	    (int64_t)st->ttl_s);
	if (rc == SVC_ERR_CONFLICT)
		return inv_reserve_existing(r, x);
	if (rc != SVC_OK)
		return rc;
	for (i = 0; i < x->want.n; i++) {
		it = &x->want.v[i];
		if ((rc = svc_db_exec(r, INV_STOCK_HOLD, "iiii", it->quantity, it->quantity,
		    it->product_id, it->quantity)) != SVC_OK)
			return rc;
		if (svc_db_affected(r) != 1) {
			x->outcome = INV_SHORT;
			x->short_id = it->product_id;
			return SVC_ERR_CONFLICT;
		}
		if ((rc = svc_db_exec(r, INV_ITEM_INSERT, "iii", x->order_id, it->product_id,
		    it->quantity)) != SVC_OK)
			return rc;
	}
	snprintf(x->status, sizeof(x->status), "held");
	return SVC_OK;
}

int
inv_reserve(struct svc_req *r)
{
	struct inv_reserve	 x;
	json_object		*body, *items;
	char			 field[48], msg[96];
	int			 rc;

	memset(&x, 0, sizeof(x));
	if ((rc = svc_body_json_or_reply(r, &body)) != SVC_OK ||
	    (rc = svc_json_int_or_reply(r, body, "order_id", 1, INT64_MAX - 1, 1,
	    &x.order_id)) != SVC_OK ||
	    (rc = svc_json_obj_or_reply(r, body, "items", json_type_array, &items)) != SVC_OK)
		return rc;
	if (inv_items_parse(items, &x.want, field, sizeof(field), msg, sizeof(msg)) == -1)
		return svc_reply_field_error(r, field, "%s", msg);

	rc = svc_db_tx(r, inv_reserve_tx, &x);
	if (rc == SVC_ERR_CONFLICT && x.outcome == INV_SHORT)
		return inv_reply_out_of_stock(r, x.short_id);
	if (rc != SVC_OK)
		return svc_reply_err(r, rc);
	switch (x.outcome) {
	case INV_HELD:
		return inv_reply_reservation(r, 201, x.order_id, "held", &x.want);
	case INV_REPLAY:
		return inv_reply_reservation(r, 200, x.order_id, x.status, &x.have);
	case INV_MISMATCH:
		return svc_reply_error(r, 409, "reservation_mismatch",
		    "order %lld already holds other items", (long long)x.order_id);
	case INV_RELEASED:
		return svc_reply_error(r, 409, "reservation_released",
		    "the reservation of order %lld was released", (long long)x.order_id);
	case INV_EXPIRED:
		return svc_reply_error(r, 409, "reservation_expired",
		    "the reservation of order %lld expired", (long long)x.order_id);
	default:
		return svc_reply_err(r, SVC_ERR_INTERNAL);
	}
}

/*
 * Moves a held reservation to x->to under the row's lock, and its stock with it. A
 * release of an unknown order leaves a tombstone (released, no lines) so that a reserve
 * arriving late for it is refused.
 */
static int
inv_move_tx(struct svc_req *r, void *arg)
{
	struct inv_move	*x = arg;
	int		 rc, release = strcmp(x->to, "released") == 0;

	/*
	 * A held reservation (the usual case) moves with one statement that locks its row as
	 * the locking read below would (the same lock order: reservation, then stock), and
	 * its stock follows; anything else is read under the lock and answered as it is.
	 */
	if ((rc = svc_db_exec(r, INV_RES_MOVE_HELD, "si", x->to, x->order_id)) != SVC_OK)
		return rc;
	if (svc_db_affected(r) == 1) {
		if ((rc = svc_db_exec(r, release ? INV_STOCK_RELEASE : INV_STOCK_COMMIT, "i",
		    x->order_id)) != SVC_OK)
			return rc;
		x->found = 1;
		snprintf(x->status, sizeof(x->status), "%s", x->to);
		return SVC_OK;
	}
	if ((rc = inv_status_load(r, INV_RES_LOCK, x->order_id, x->status, &x->found)) != SVC_OK)
		return rc;
	if (!x->found) {
		if (!release)
			return SVC_OK;
		rc = svc_db_exec(r, INV_RES_INSERT, "isii", x->order_id, "released", (int64_t)0,
		    (int64_t)0);
		/* A reserve got there first: run again and release it. */
		if (rc == SVC_ERR_CONFLICT)
			return SVC_ERR_DB_RETRY;
		if (rc != SVC_OK)
			return rc;
		x->found = 1;
		snprintf(x->status, sizeof(x->status), "released");
		return SVC_OK;
	}
	if (strcmp(x->status, "held") != 0)
		return SVC_OK;
	if ((rc = svc_db_exec(r, release ? INV_STOCK_RELEASE : INV_STOCK_COMMIT, "i",
	    x->order_id)) != SVC_OK ||
	    (rc = svc_db_exec(r, INV_RES_SET, "si", x->to, x->order_id)) != SVC_OK)
		return rc;
	snprintf(x->status, sizeof(x->status), "%s", x->to);
	return SVC_OK;
}

static int
inv_move(struct svc_req *r, const char *to)
{
	struct inv_move	x;
	int		rc;

	memset(&x, 0, sizeof(x));
	x.to = to;
	if ((rc = svc_path_id_or_reply(r, "order_id", "reservation", &x.order_id)) != SVC_OK)
		return rc;
	if ((rc = svc_db_tx(r, inv_move_tx, &x)) != SVC_OK)
		return svc_reply_err(r, rc);
	if (!x.found)
		return svc_reply_error(r, 404, "not_found", "no reservation for order %lld",
		    (long long)x.order_id);
	/* Already where it was asked to go (an expired hold is released): answer as the first time. */
	if (strcmp(x.status, to) == 0 ||
	    (strcmp(to, "released") == 0 && strcmp(x.status, "expired") == 0))
		return inv_reply_reservation(r, 200, x.order_id, x.status, NULL);
	return svc_reply_error(r, 409, strcmp(x.status, "committed") == 0 ?
	    "reservation_committed" : strcmp(x.status, "expired") == 0 ? "reservation_expired" :
	    "reservation_released",
	    "the reservation of order %lld is %s", (long long)x.order_id, x.status);
}

int
inv_commit(struct svc_req *r)
{
	return inv_move(r, "committed");
}

int
inv_release(struct svc_req *r)
{
	return inv_move(r, "released");
}

int
inv_reservation_get(struct svc_req *r)
{
	struct inv_items	items;
	char			status[INV_STATUS_MAX];
	int64_t			order_id;
	int			rc, found;

	if ((rc = svc_path_id_or_reply(r, "order_id", "reservation", &order_id)) != SVC_OK)
		return rc;
	if ((rc = inv_status_load(r, INV_RES_GET, order_id, status, &found)) != SVC_OK)
		return svc_reply_err(r, rc);
	if (!found)
		return svc_reply_error(r, 404, "not_found", "no reservation for order %lld",
		    (long long)order_id);
	if ((rc = inv_items_load(r, INV_ITEMS_GET, order_id, &items)) != SVC_OK)
		return svc_reply_err(r, rc);
	return inv_reply_reservation(r, 200, order_id, status, &items);
}

/*
 * Expires one hold under its row's lock: only if it is still held and past its expiry, so
 * a commit that got the lock first wins and a confirmed order never loses its stock.
 */
static int
inv_expire_tx(struct svc_req *r, void *arg)
{
	const int64_t	*order_id = arg;
	char		 status[INV_STATUS_MAX];
	int		 rc, found;

	if ((rc = inv_status_load(r, INV_RES_LOCK_DUE, *order_id, status, &found)) != SVC_OK)
		return rc;
	if (!found)
		return SVC_ERR_NOT_FOUND;
	if ((rc = svc_db_exec(r, INV_STOCK_RELEASE, "i", *order_id)) != SVC_OK ||
	    (rc = svc_db_exec(r, INV_RES_SET, "si", "expired", *order_id)) != SVC_OK ||
	    (rc = svc_db_exec(r, INV_ADJUST_EXPIRED, "i", *order_id)) != SVC_OK)
		return rc;
	return SVC_OK;
}

/*
 * The reaper, a background round: every hold past its expiry goes back to available, with
 * a ledger row per line. The saga gives up well before (docs/resilience.md): this is the
 * backstop for a saga that cannot reach inventory, or an orders service that is gone.
 */
int
inv_reap(struct svc_req *r)
{
	const struct inv_state	*st = svc_req_state(r);
	int64_t			 ids[256];
	size_t			 n, i, moved = 0;
	int			 rc;

	if ((rc = svc_db_query_ids(r, INV_RES_DUE, st->batch, ids, SVC_NELEM(ids), &n)) != SVC_OK)
		return rc;
	for (i = 0; i < n && !svc_req_stopping(r); i++) {
		rc = svc_db_tx(r, inv_expire_tx, &ids[i]);
		if (rc == SVC_OK)
			svc_log(r, "warn", "reservation of order %lld expired: its stock is available "
			    "again", (long long)ids[i]);
		else if (rc != SVC_ERR_NOT_FOUND)
			svc_log(r, "error", "reservation of order %lld: expiry failed: %s",
			    (long long)ids[i], svc_err_name(rc));
		/* Expired, or no longer held (committed or released meanwhile): out of the due set. */
		if (rc == SVC_OK || rc == SVC_ERR_NOT_FOUND)
			moved++;
	}
	/*
	 * A full batch means more may be due: go again without waiting, unless none of it moved
	 * (failing rows come back first, unchanged): then wait, retry them next round.
	 */
	return svc_bg_more(n, moved, (size_t)st->batch) ? 1 : SVC_OK;
}
