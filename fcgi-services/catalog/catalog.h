/* catalog.h - the catalog service's handlers and statements */
#ifndef CATALOG_H
#define CATALOG_H

#include "svc.h"

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

#define CATALOG_Q_MAX	100	/* bytes of a search text */

int catalog_list(struct svc_req *r);
int catalog_get(struct svc_req *r);
int catalog_create(struct svc_req *r);
/* PATCH /api/v1/products/{id} {price_cents}: an admin changes a price (product.price_changed). */
int catalog_patch(struct svc_req *r);

/* Escapes LIKE metacharacters (\ % _) in q and wraps it in %...%; -1 if it does not fit. */
int catalog_like_pattern(const char *q, char *out, size_t outlen);
/* True when the If-None-Match header value matches etag (a list, weak forms, or *). */
int catalog_etag_matches(const char *header, const char *etag);

#endif /* CATALOG_H */
