/* main.c - the inventory service: stock per product and the reservations orders hold on it */
#include <stddef.h>

#include "inventory.h"
#include "svc_events.h"

/* Consumes inventory.events (product.created); publishes nothing. */
static const struct svc_event_sub inv_subs[] = {
	{ "product.created", inv_on_product_created },
};
static const struct svc_events inv_events = {
	SVC_ARRAY(subs, inv_subs),
};

static const struct svc_route inv_routes[] = {
	{ "GET",  "/api/v1/inventory/{product_id}",			inv_stock_get },
	{ "PUT",  "/api/v1/inventory/{product_id}",			inv_stock_put },
	/* For the orders saga, on the internal gateway (service token checked by nginx). */
	{ "POST", "/internal/inventory/reservations",			inv_reserve },
	{ "GET",  "/internal/inventory/reservations/{order_id}",	inv_reservation_get },
	{ "POST", "/internal/inventory/reservations/{order_id}/commit",	inv_commit },
	{ "POST", "/internal/inventory/reservations/{order_id}/release", inv_release },
};

#define INV_OFF(f) offsetof(struct inv_state, f)

static const struct svc_conf_def inv_conf[] = {
	/* 15 minutes: past the orders give-up (10 minutes) and its last step (docs/resilience.md). */
	{ "SHOPLAB_RESERVATION_TTL_S",	SVC_CONF_INT, "900",	1, 86400 * 7,	INV_OFF(ttl_s) },
	{ "SHOPLAB_INVENTORY_REAP_BATCH", SVC_CONF_INT, "100",	1, 256,		INV_OFF(batch) },
};

static const struct svc_service inv_service = {
	.name = "inventory",
	SVC_ARRAY(routes, inv_routes),
	SVC_ARRAY(stmts, inv_stmts),
	SVC_ARRAY(conf, inv_conf),
	.background = inv_reap,
	.bg_interval_ms = 1000,
	.state_size = sizeof(struct inv_state),
	.events = &inv_events,
};

SVC_MAIN(inv_service)
