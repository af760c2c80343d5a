/* inventory.h - the inventory service: stock levels, admin adjustments, reservations for orders */
#ifndef INVENTORY_H
#define INVENTORY_H

#include <stddef.h>
#include <stdint.h>

#include "svc.h"
#include "svc_events.h"

enum inv_stmt {
	INV_STOCK_GET,
	INV_STOCK_LOCK,
	INV_STOCK_INSERT,
	INV_STOCK_SET,
	INV_STOCK_HOLD,
	INV_STOCK_COMMIT,
	INV_STOCK_RELEASE,
	INV_ADJUST,
	INV_RES_INSERT,
	INV_RES_DUE,
	INV_RES_LOCK_DUE,
	INV_ADJUST_EXPIRED,
	INV_RES_GET,
	INV_RES_LOCK,
	INV_RES_SHARE,
	INV_RES_SET,
	INV_RES_MOVE_HELD,
	INV_ITEM_INSERT,
	INV_ITEMS_GET,
	INV_ITEMS_SHARE,
	INV_NSTMTS
};

extern const char *const inv_stmts[INV_NSTMTS];

#define INV_ITEMS_MAX		50		/* lines of one reservation */
#define INV_QUANTITY_MAX	1000		/* units of one line */
#define INV_AVAILABLE_MAX	1000000000LL	/* what an admin may set */

struct inv_item {
	int64_t	product_id;
	int64_t	quantity;
};

/* A reservation's lines, sorted by product_id (the order rows are locked in). */
struct inv_items {
	struct inv_item	v[INV_ITEMS_MAX];
	size_t		n;
};

/*
 * Validates a JSON array of {"product_id","quantity"} objects into out, sorted by
 * product_id: 1..INV_ITEMS_MAX lines, integer ids >= 1, quantities 1..INV_QUANTITY_MAX,
 * each product at most once. On error returns -1 with the offending field ("items",
 * "items[2].quantity") in field and a sentence in msg; both are always NUL-terminated.
 */
int inv_items_parse(json_object *arr, struct inv_items *out, char *field, size_t fieldlen,
	char *msg, size_t msglen);
/* Sorts items by product_id. */
void inv_items_sort(struct inv_items *items);
/* 1 when a and b (both sorted) hold the same lines. */
int inv_items_equal(const struct inv_items *a, const struct inv_items *b);
/* A new JSON array of the lines; NULL when out of memory. */
json_object *inv_items_json(const struct inv_items *items);

/* Public: stock levels. */
int inv_stock_get(struct svc_req *r);
int inv_stock_put(struct svc_req *r);

/* Internal: reservations, idempotent per order id. */
int inv_reserve(struct svc_req *r);
int inv_commit(struct svc_req *r);
int inv_release(struct svc_req *r);
int inv_reservation_get(struct svc_req *r);
/* Background: releases holds past their expiry (the saga's backstop). */
int inv_reap(struct svc_req *r);

struct inv_state {
	long long	ttl_s;		/* a hold not committed or released by then is released */
	long long	batch;		/* holds the reaper takes per round */
};

/* product.created: the product's stock row, 0 available (inv_stock.c). */
int inv_on_product_created(struct svc_req *r, const struct svc_event *ev);

#endif /* INVENTORY_H */
