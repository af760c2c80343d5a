/* catalog.h - the catalog service's handlers and statements */
#ifndef CATALOG_H
#define CATALOG_H

#include "svc.h"
#include "catalog_model.h"

enum catalog_stmt {
	CATALOG_LIST,
	CATALOG_SEARCH,
	CATALOG_GET,
	CATALOG_INSERT,
	CATALOG_LOCK,
	CATALOG_SET_PRICE,
	CATALOG_NSTMTS
};

extern const char *const catalog_stmts[CATALOG_NSTMTS];

/* The service's own state (svc_req_state). */
struct catalog_state {
	long long		model_ttl_ms;	/* SHOPLAB_CATALOG_MODEL_TTL_MS: 0 (the default) turns the model off */
	long long		model_max;	/* SHOPLAB_CATALOG_MODEL_MAX: products kept at most */
	struct catalog_model	model;
};

#define CATALOG_Q_MAX	100	/* bytes of a search text */

int catalog_list(struct svc_req *r);
/* GET /api/v1/products/{id}: from the read model when it holds the product, else the database. */
int catalog_get(struct svc_req *r);
/* The same answer, always from the database: checkout's price lookups and a write's answer. */
int catalog_get_current(struct svc_req *r);
int catalog_create(struct svc_req *r);
/* PATCH /api/v1/products/{id} {price_cents}: an admin changes a price (product.price_changed). */
int catalog_patch(struct svc_req *r);
/* The read model's series for GET /metrics. */
int catalog_metrics(struct svc_req *r, struct svc_buf *out);

/* Escapes LIKE metacharacters (\ % _) in q and wraps it in %...%; -1 if it does not fit. */
int catalog_like_pattern(const char *q, char *out, size_t outlen);
/* True when the If-None-Match header value matches etag (a list, weak forms, or *). */
int catalog_etag_matches(const char *header, const char *etag);

#endif /* CATALOG_H */
