/* catalog_products.c - list, search, get and create products */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "catalog.h"
#include "svc_events.h"

#define CATALOG_COLS "id, sku, name, description, price_cents, currency"

const char *const catalog_stmts[CATALOG_NSTMTS] = {
	[CATALOG_LIST] =
	    "SELECT " CATALOG_COLS " FROM products WHERE id > ? ORDER BY id LIMIT ?",
	[CATALOG_SEARCH] =
	    "SELECT " CATALOG_COLS " FROM products WHERE id > ? AND (name LIKE ? OR sku LIKE ?)"
	    " ORDER BY id LIMIT ?",
	[CATALOG_GET] =
	    "SELECT " CATALOG_COLS " FROM products WHERE id = ?",
	[CATALOG_INSERT] =
	    "INSERT INTO products (sku, name, description, price_cents, currency)"
	    " VALUES (?, ?, ?, ?, ?)",
	[CATALOG_LOCK] =
	    "SELECT price_cents, currency FROM products WHERE id = ? FOR UPDATE",
	[CATALOG_SET_PRICE] =
	    "UPDATE products SET price_cents = ? WHERE id = ?",
};

int
catalog_like_pattern(const char *q, char *out, size_t outlen)
{
	size_t o = 0;

	if (outlen < 3)
		return -1;
	out[o++] = '%';
	for (; *q != '\0'; q++) {
		if (*q == '\\' || *q == '%' || *q == '_') {
			if (o + 1 >= outlen)
				return -1;
			out[o++] = '\\';
		}
		if (o + 1 >= outlen)
			return -1;
		out[o++] = *q;
	}
	if (o + 2 > outlen)
		return -1;
	out[o++] = '%';
	out[o] = '\0';
	return 0;
}

int
catalog_list(struct svc_req *r)
{
	char		 q[CATALOG_Q_MAX + 1], like[2 * CATALOG_Q_MAX + 3];
	struct svc_rows	*rows = NULL;
	int64_t		 limit, after;
	int		 rc, hasq;

	if ((rc = svc_query_int_or_reply(r, "limit", 1, 100, 20, &limit)) != SVC_OK ||
	    (rc = svc_query_int_or_reply(r, "after", 0, INT64_MAX - 1, 0, &after)) != SVC_OK)
		return rc;
	hasq = svc_req_query(r, "q", q, sizeof(q));
	if (hasq == SVC_QUERY_NUL)
		return svc_reply_field_error(r, "q", "q must not contain a NUL byte (%%00)");
	if (hasq == SVC_QUERY_BAD_ESCAPE)
		return svc_reply_field_error(r, "q", "q has a malformed %%-escape");
	if (hasq < 0)
		return svc_reply_field_error(r, "q", "q must be at most %d bytes", CATALOG_Q_MAX);
	/* One row more than asked says whether there is a next page. */
	if (hasq == 1 && q[0] != '\0') {
		if (catalog_like_pattern(q, like, sizeof(like)) == -1)
			return svc_reply_field_error(r, "q", "q is too long");
		rc = svc_db_query(r, CATALOG_SEARCH, &rows, "issi", after, like, like, limit + 1);
	} else
		rc = svc_db_query(r, CATALOG_LIST, &rows, "ii", after, limit + 1);
	if (rc != SVC_OK)
		return svc_reply_err(r, rc);

	return svc_reply_page(r, rows, limit);
}

int
catalog_etag_matches(const char *header, const char *etag)
{
	size_t		 elen = strlen(etag);
	const char	*p = header;

	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '*')
			return 1;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		if (strncmp(p, etag, elen) == 0 && (p[elen] == '\0' || p[elen] == ',' ||
		    p[elen] == ' ' || p[elen] == '\t'))
			return 1;
		while (*p != '\0' && *p != ',')
			p++;
	}
	return 0;
}

/* The product's representation and its strong ETag (the hash of the exact bytes sent). */
static void
catalog_etag(const struct svc_buf *body, char etag[CATALOG_ETAG_MAX])
{
	char hash[65];

	svc_sha256_hex(body->data, body->len, hash);
	snprintf(etag, CATALOG_ETAG_MAX, "\"%.20s\"", hash);
}

/* 200 with the body, or 304 when the client holds this representation already. */
static int
catalog_send(struct svc_req *r, const struct svc_buf *body, const char *etag)
{
	const char *inm;

	svc_reply_header(r, "ETag", etag);
	svc_reply_header(r, "Cache-Control", "no-cache");
	if ((inm = svc_req_header(r, "If-None-Match")) != NULL && catalog_etag_matches(inm, etag))
		return svc_reply_empty(r, 304);
	return svc_reply_raw(r, 200, "application/json", body->data, body->len);
}

/*
 * Reads product id from the database into body and etag; stores it in the model when one
 * is given. SVC_ERR_NOT_FOUND when there is no such product.
 */
static int
catalog_read(struct svc_req *r, int64_t id, struct catalog_model *m, struct svc_buf *body,
    char etag[CATALOG_ETAG_MAX])
{
	struct svc_rows	*rows = NULL;
	uint64_t	 gen = m != NULL ? catalog_model_gen(m) : 0;
	int		 rc;

	if ((rc = svc_db_query(r, CATALOG_GET, &rows, "i", id)) != SVC_OK)
		return rc;
	if (!svc_rows_next(rows)) {
		svc_rows_free(rows);
		return SVC_ERR_NOT_FOUND;
	}
	/* The row's JSON straight from its columns: the same bytes json-c would print. */
	rc = svc_rows_json_append(rows, body);
	svc_rows_free(rows);
	if (rc == -1)
		return SVC_ERR_NOMEM;
	catalog_etag(body, etag);
	/* Not kept (full, or written meanwhile) is fine: the next read asks the database again. */
	if (m != NULL && catalog_model_put(m, id, gen, svc_now_us(), body->data, body->len,
	    etag) == -1)
		svc_log(r, "warn", "read model: out of memory; product %lld not kept", (long long)id);
	return SVC_OK;
}

static int
catalog_get_from(struct svc_req *r, struct catalog_model *m)
{
	struct svc_buf	 body;
	char		 etag[CATALOG_ETAG_MAX];
	int64_t		 id;
	int		 rc;

	if ((rc = svc_path_id_or_reply(r, "id", "product", &id)) != SVC_OK)
		return rc;
	svc_buf_init(&body);
	if (m != NULL && (rc = catalog_model_get(m, id, svc_now_us(), &body, etag)) == 1) {
		rc = catalog_send(r, &body, etag);
		goto out;
	}
	svc_buf_reset(&body);
	if (rc == -1)
		rc = svc_reply_err(r, SVC_ERR_NOMEM);
	else if ((rc = catalog_read(r, id, m, &body, etag)) == SVC_ERR_NOT_FOUND)
		rc = svc_reply_error(r, 404, "not_found", "no product with id %lld", (long long)id);
	else if (rc != SVC_OK)
		rc = svc_reply_err(r, rc);
	else
		rc = catalog_send(r, &body, etag);
out:
	svc_buf_free(&body);
	return rc;
}

int
catalog_get(struct svc_req *r)
{
	struct catalog_state *st = svc_req_state(r);

	return catalog_get_from(r, catalog_model_on(&st->model) ? &st->model : NULL);
}

int
catalog_get_current(struct svc_req *r)
{
	return catalog_get_from(r, NULL);
}

struct catalog_new {
	const char	*sku, *name, *desc, *cur;
	int64_t		 price, id;
};

/* The product and its product.created event, in one transaction (the outbox). */
static int
catalog_insert_tx(struct svc_req *r, void *arg)
{
	struct catalog_new	*p = arg;
	json_object		*d;
	int			 rc, bad = 0;

	if ((rc = svc_db_exec(r, CATALOG_INSERT, "sssis", p->sku, p->name, p->desc, p->price,
	    p->cur)) != SVC_OK)
		return rc;
	p->id = (int64_t)svc_db_insert_id(r);
	d = json_object_new_object();	/* NULL: the adds and svc_outbox_add_json fail */
	bad |= svc_json_add(d, "product_id", json_object_new_int64(p->id));
	bad |= svc_json_add(d, "sku", json_object_new_string(p->sku));
	bad |= svc_json_add(d, "name", json_object_new_string(p->name));
	bad |= svc_json_add(d, "price_cents", json_object_new_int64(p->price));
	bad |= svc_json_add(d, "currency", json_object_new_string(p->cur));
	return svc_outbox_add_json(r, "product.created", p->id, d, bad);
}

int
catalog_create(struct svc_req *r)
{
	struct catalog_new	 p;
	json_object	*body, *obj;
	const char	*sku, *name, *desc, *cur, *role;
	int64_t		 price, id;
	char		 loc[64];
	int		 rc, bad = 0;

	if (svc_req_user_id(r) == 0)
		return svc_reply_error(r, 401, "unauthorized", "log in first");
	if ((role = svc_req_user_role(r)) == NULL || strcmp(role, "admin") != 0)
		return svc_reply_error(r, 403, "forbidden", "only an admin can create products");
	if ((rc = svc_body_json_or_reply(r, &body)) != SVC_OK ||
	    (rc = svc_json_str_or_reply(r, body, "sku", 1, 64, 1, &sku)) != SVC_OK ||
	    (rc = svc_json_str_or_reply(r, body, "name", 1, 200, 1, &name)) != SVC_OK ||
	    (rc = svc_json_str_or_reply(r, body, "description", 0, 2000, 0, &desc)) != SVC_OK ||
	    (rc = svc_json_int_or_reply(r, body, "price_cents", 0, 100000000000LL, 1,
	    &price)) != SVC_OK ||
	    (rc = svc_json_str_or_reply(r, body, "currency", 3, 3, 0, &cur)) != SVC_OK)
		return rc;
	if (cur == NULL)
		cur = "EUR";
	if (cur[0] < 'A' || cur[0] > 'Z' || cur[1] < 'A' || cur[1] > 'Z' || cur[2] < 'A' ||
	    cur[2] > 'Z')
		return svc_reply_field_error(r, "currency", "currency must be an ISO 4217 code");
	p.sku = sku;
	p.name = name;
	p.desc = desc ? desc : "";
	p.price = price;
	p.cur = cur;
	rc = svc_db_tx(r, catalog_insert_tx, &p);
	if (rc == SVC_ERR_CONFLICT)
		return svc_reply_error(r, 409, "sku_taken", "a product with this sku exists");
	if (rc != SVC_OK)
		return svc_reply_err(r, rc);
	id = p.id;
	snprintf(loc, sizeof(loc), "/api/v1/products/%lld", (long long)id);
	svc_reply_header(r, "Location", loc);
	obj = json_object_new_object();
	bad |= svc_json_add(obj, "id", json_object_new_int64(id));
	bad |= svc_json_add(obj, "sku", json_object_new_string(sku));
	bad |= svc_json_add(obj, "name", json_object_new_string(name));
	bad |= svc_json_add(obj, "description", json_object_new_string(desc ? desc : ""));
	bad |= svc_json_add(obj, "price_cents", json_object_new_int64(price));
	bad |= svc_json_add(obj, "currency", json_object_new_string(cur));
	return svc_reply_json(r, 201, svc_json_checked(obj, bad));
}

struct catalog_price {
	int64_t	id, price, old;
	char	cur[4];
	int	changed;
};

/* The new price and its product.price_changed event, in one transaction (the outbox). */
static int
catalog_price_tx(struct svc_req *r, void *arg)
{
	struct catalog_price	*p = arg;
	struct svc_rows		*rows = NULL;
	json_object		*d;
	int			 rc, bad = 0;

	p->changed = 0;
	if ((rc = svc_db_query(r, CATALOG_LOCK, &rows, "i", p->id)) != SVC_OK)
		return rc;
	if (svc_rows_next(rows) != 1) {
		svc_rows_free(rows);
		return SVC_ERR_NOT_FOUND;
	}
	p->old = svc_rows_int(rows, 0);
	svc_rows_copy(rows, 1, p->cur, sizeof(p->cur));
	svc_rows_free(rows);
	/* The same price again is no change: no event. */
	if (p->old == p->price)
		return SVC_OK;
	if ((rc = svc_db_exec(r, CATALOG_SET_PRICE, "ii", p->price, p->id)) != SVC_OK)
		return rc;
	d = json_object_new_object();
	bad |= svc_json_add(d, "product_id", json_object_new_int64(p->id));
	bad |= svc_json_add(d, "old_price_cents", json_object_new_int64(p->old));
	bad |= svc_json_add(d, "new_price_cents", json_object_new_int64(p->price));
	bad |= svc_json_add(d, "currency", json_object_new_string(p->cur));
	if ((rc = svc_outbox_add_json(r, "product.price_changed", p->id, d, bad)) == SVC_OK)
		p->changed = 1;
	return rc;
}

int
catalog_patch(struct svc_req *r)
{
	struct catalog_price	 p;
	json_object		*body;
	const char		*role;
	int64_t			 price;
	int			 rc;

	if (svc_req_user_id(r) == 0)
		return svc_reply_error(r, 401, "unauthorized", "log in first");
	if ((role = svc_req_user_role(r)) == NULL || strcmp(role, "admin") != 0)
		return svc_reply_error(r, 403, "forbidden", "only an admin can change a price");
	memset(&p, 0, sizeof(p));
	if ((rc = svc_path_id_or_reply(r, "id", "product", &p.id)) != SVC_OK ||
	    (rc = svc_body_json_or_reply(r, &body)) != SVC_OK)
		return rc;
	/* price_cents is the one field that can change: anything else is a mistake, said so. */
	json_object_object_foreach(body, k, v) {
		(void)v;
		if (strcmp(k, "price_cents") != 0)
			return svc_reply_field_error(r, strlen(k) <= 64 ? k : "(a long name)",
			    "only price_cents can be changed");
	}
	if ((rc = svc_json_int_or_reply(r, body, "price_cents", 0, 100000000000LL, 1,
	    &price)) != SVC_OK)
		return rc;
	p.price = price;
	rc = svc_db_tx(r, catalog_price_tx, &p);
	/* Committed, or perhaps (a lost COMMIT answer): either way the model lets it go. */
	catalog_model_forget(&((struct catalog_state *)svc_req_state(r))->model, p.id);
	if (rc == SVC_ERR_NOT_FOUND)
		return svc_reply_error(r, 404, "not_found", "no product with id %lld",
		    (long long)p.id);
	if (rc != SVC_OK)
		return svc_reply_err(r, rc);
	if (p.changed)
		svc_log(r, "info", "product %lld: price %lld -> %lld", (long long)p.id,
		    (long long)p.old, (long long)p.price);
	/* The product as GET shows it now (with its new ETag), from the database. */
	return catalog_get_current(r);
}

int
catalog_metrics(struct svc_req *r, struct svc_buf *out)
{
	struct catalog_state *st = svc_req_state(r);

	svc_buf_printf(out,
	    "# HELP shoplab_catalog_model_hits_total Product reads by id the read model answered.\n"
	    "# TYPE shoplab_catalog_model_hits_total counter\n"
	    "shoplab_catalog_model_hits_total{service=\"catalog\"} %" PRIuFAST64 "\n"
	    "# HELP shoplab_catalog_model_misses_total Product reads by id that went to the database.\n"
	    "# TYPE shoplab_catalog_model_misses_total counter\n"
	    "shoplab_catalog_model_misses_total{service=\"catalog\"} %" PRIuFAST64 "\n"
	    "# HELP shoplab_catalog_model_products Products the read model holds (SHOPLAB_CATALOG_MODEL_MAX at most).\n"
	    "# TYPE shoplab_catalog_model_products gauge\n"
	    "shoplab_catalog_model_products{service=\"catalog\"} %zu\n",
	    atomic_load(&st->model.hits), atomic_load(&st->model.misses),
	    catalog_model_size(&st->model));
	return out->failed ? -1 : 0;
}
