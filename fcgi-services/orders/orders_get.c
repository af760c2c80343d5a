/* orders_get.c - GET /api/v1/orders/{id} and GET /api/v1/orders: the caller's own orders */
#include "orders.h"

int
orders_get(struct svc_req *r)
{
	struct orders_saga	 s;
	int64_t			 id, uid = svc_req_user_id(r);
	int			 rc;

	if (uid == 0)
		return svc_reply_error(r, 401, "unauthorized", "a valid bearer token is required");
	if ((rc = svc_path_id_or_reply(r, "id", "order", &id)) != SVC_OK)
		return rc;
	/* Another user's order is not found, not forbidden: ids tell nothing. */
	rc = orders_load(r, id, uid, &s);
	if (rc == SVC_ERR_NOT_FOUND)
		return svc_reply_error(r, 404, "not_found", "no order with id %lld", (long long)id);
	if (rc != SVC_OK)
		return svc_reply_err(r, rc);
	rc = svc_reply_json(r, 200, orders_json(&s));
	orders_saga_free(&s);
	return rc;
}

int
orders_list(struct svc_req *r)
{
	struct svc_rows	*rows = NULL;
	int64_t		 uid = svc_req_user_id(r), limit, after;
	int		 rc;

	if (uid == 0)
		return svc_reply_error(r, 401, "unauthorized", "a valid bearer token is required");
	if ((rc = svc_query_int_or_reply(r, "limit", 1, 100, 20, &limit)) != SVC_OK ||
	    (rc = svc_query_int_or_reply(r, "after", 0, INT64_MAX - 1, 0, &after)) != SVC_OK)
		return rc;
	if ((rc = svc_db_query(r, ORD_LIST, &rows, "iii", uid, after, limit + 1)) != SVC_OK)
		return svc_reply_err(r, rc);
	return svc_reply_page(r, rows, limit);
}
