/* main.c - the inventory service: stock per product and the reservations orders hold on it */
#include <stddef.h>
#include <stdio.h>

#include "inventory.h"
#include "svc_events.h"

/* Consumes inventory.events (product.created); publishes nothing. */
static const struct svc_event_sub inv_subs[] = {
	{ "product.created", inv_on_product_created },
};
static const struct svc_events inv_events = {
	.subs = inv_subs,
	.nsubs = sizeof(inv_subs) / sizeof(inv_subs[0]),
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

static int
inv_init(void *state)
{
	char err[256];

	if (svc_conf_load(inv_conf, sizeof(inv_conf) / sizeof(inv_conf[0]), state, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "inventory: %s\n", err);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static struct inv_state state;
	static const struct svc_service svc = {
		.name = "inventory",
		.routes = inv_routes,
		.nroutes = sizeof(inv_routes) / sizeof(inv_routes[0]),
		.stmts = inv_stmts,
		.nstmts = INV_NSTMTS,
		.init = inv_init,
		.background = inv_reap,
		.bg_interval_ms = 1000,
		.state = &state,
		.events = &inv_events,
	};

	return svc_main(argc, argv, &svc);
}
