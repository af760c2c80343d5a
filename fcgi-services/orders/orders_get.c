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
	json_object	*root = NULL, *items, *row;
	int64_t		 uid = svc_req_user_id(r), limit, after, last = 0;
	size_t		 n = 0;
	int		 rc;

	if (uid == 0)
		return svc_reply_error(r, 401, "unauthorized", "a valid bearer token is required");
	if ((rc = svc_query_int_or_reply(r, "limit", 1, 100, 20, &limit)) != SVC_OK ||
	    (rc = svc_query_int_or_reply(r, "after", 0, INT64_MAX - 1, 0, &after)) != SVC_OK)
		return rc;
	if ((rc = svc_db_query(r, ORD_LIST, &rows, "iii", uid, after, limit + 1)) != SVC_OK)
		return svc_reply_err(r, rc);
	rc = SVC_ERR_NOMEM;
	if ((root = json_object_new_object()) == NULL || (items = json_object_new_array()) == NULL)
		goto out;
	json_object_object_add(root, "items", items);
	while (svc_rows_next(rows)) {
		if (++n > (size_t)limit)
			break;
		if ((row = svc_rows_json(rows)) == NULL)
			goto out;
		json_object_array_add(items, row);
		last = svc_rows_int(rows, 0);
	}
	json_object_object_add(root, "next", n > (size_t)limit ? json_object_new_int64(last) : NULL);
	rc = svc_reply_json(r, 200, root);
	root = NULL;
out:
	json_object_put(root);
	svc_rows_free(rows);
	return rc == SVC_OK ? SVC_OK : svc_reply_err(r, rc);
}
