/* inv_stock.c - stock levels: anyone reads what is available, an admin sets it (an adjustment) */
#include <stdio.h>
#include <string.h>

#include "inventory.h"

/* An admin's new level for one product, and who set it. */
struct inv_put {
	int64_t	product_id;
	int64_t	available;
	int64_t	actor;
};

static int
inv_reply_stock(struct svc_req *r, int status, int64_t product_id, int64_t available)
{
	json_object	*obj;
	int		 bad = 0;

	obj = json_object_new_object();
	bad |= svc_json_add(obj, "product_id", json_object_new_int64(product_id));
	bad |= svc_json_add(obj, "available", json_object_new_int64(available));
	return svc_reply_json(r, status, svc_json_checked(obj, bad));
}

int
inv_stock_get(struct svc_req *r)
{
	struct svc_rows	*rows = NULL;
	int64_t		 id, available;
	int		 rc;

	if ((rc = svc_path_id_or_reply(r, "product_id", "stock for a product", &id)) != SVC_OK)
		return rc;
	if ((rc = svc_db_query(r, INV_STOCK_GET, &rows, "i", id)) != SVC_OK)
		return svc_reply_err(r, rc);
	if (!svc_rows_next(rows)) {
		svc_rows_free(rows);
		return svc_reply_error(r, 404, "not_found", "no stock for product %lld",
		    (long long)id);
	}
	available = svc_rows_int(rows, 0);
	svc_rows_free(rows);
	return inv_reply_stock(r, 200, id, available);
}

/*
 * Sets the level under the row's lock and records the difference as an adjustment in the
 * same transaction, so the ledger always explains the stock.
 */
static int
inv_put_tx(struct svc_req *r, void *arg)
{
	const struct inv_put	*p = arg;
	struct svc_rows		*rows = NULL;
	int64_t			 old = 0;
	int			 found, rc;

	if ((rc = svc_db_query(r, INV_STOCK_LOCK, &rows, "i", p->product_id)) != SVC_OK)
		return rc;
	if ((found = svc_rows_next(rows)) == 1)
		old = svc_rows_int(rows, 0);
	svc_rows_free(rows);
	if (found)
		rc = svc_db_exec(r, INV_STOCK_SET, "ii", p->available, p->product_id);
	else {
		rc = svc_db_exec(r, INV_STOCK_INSERT, "ii", p->product_id, p->available);
		/* Someone created the row meanwhile: run again and adjust theirs. */
		if (rc == SVC_ERR_CONFLICT)
			rc = SVC_ERR_DB_RETRY;
	}
	if (rc != SVC_OK)
		return rc;
	return svc_db_exec(r, INV_ADJUST, "iisi", p->product_id, p->available - old, "admin",
	    p->actor);
}

int
inv_stock_put(struct svc_req *r)
{
	struct inv_put	 p;
	json_object	*body;
	const char	*role;
	int		 rc;

	if ((p.actor = svc_req_user_id(r)) == 0)
		return svc_reply_error(r, 401, "unauthorized", "log in first");
	if ((role = svc_req_user_role(r)) == NULL || strcmp(role, "admin") != 0)
		return svc_reply_error(r, 403, "forbidden", "only an admin can set stock");
	if ((rc = svc_path_id_or_reply(r, "product_id", "product", &p.product_id)) != SVC_OK ||
	    (rc = svc_body_json_or_reply(r, &body)) != SVC_OK ||
	    (rc = svc_json_int_or_reply(r, body, "available", 0, INV_AVAILABLE_MAX, 1,
	    &p.available)) != SVC_OK)
		return rc;
	if ((rc = svc_db_tx(r, inv_put_tx, &p)) != SVC_OK)
		return svc_reply_err(r, rc);
	svc_log(r, "info", "stock of product %lld set to %lld by user %lld",
	    (long long)p.product_id, (long long)p.available, (long long)p.actor);
	return inv_reply_stock(r, 200, p.product_id, p.available);
}

/*
 * product.created {product_id, ...}: the stock row with nothing available, unless one is
 * there already (an admin set the stock first). A malformed event never applies.
 */
int
inv_on_product_created(struct svc_req *r, const struct svc_event *ev)
{
	json_object	*v;
	int64_t		 id;
	int		 rc;

	if (!json_object_object_get_ex(ev->data, "product_id", &v) ||
	    !json_object_is_type(v, json_type_int) || (id = json_object_get_int64(v)) < 1)
		return SVC_ERR_INVALID;
	rc = svc_db_exec(r, INV_STOCK_INSERT, "ii", id, (int64_t)0);
	return rc == SVC_ERR_CONFLICT ? SVC_OK : rc;
}
