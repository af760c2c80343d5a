/* main.c - the shipping service: a shipment per confirmed order, dispatched after a handling delay */
#include <stddef.h>
#include <stdio.h>

#include "shipping.h"

static const struct svc_route shipping_routes[] = {
	{ "GET", "/api/v1/shipments",	shipping_get },
};

/* Publishes shipment.*; consumes its queue shipping.events (bound to order.confirmed). */
static const struct svc_event_sub shipping_subs[] = {
	{ "order.confirmed", shipping_on_confirmed },
};
static const struct svc_events shipping_events = {
	.publishes = 1,
	.subs = shipping_subs,
	.nsubs = sizeof(shipping_subs) / sizeof(shipping_subs[0]),
};

#define SHIP_OFF(f) offsetof(struct shipping_state, f)

static const struct svc_conf_def shipping_conf[] = {
	{ "SHOPLAB_SHIPPING_DELAY_MS",	SVC_CONF_INT, "2000",	0, 86400000,	SHIP_OFF(delay_ms) },
	{ "SHOPLAB_SHIPPING_BATCH",	SVC_CONF_INT, "100",	1, 1000,	SHIP_OFF(batch) },
};

static int64_t
shipping_wall(void *ctx)
{
	(void)ctx;
	return svc_wall_us();
}

static int
shipping_init(void *state)
{
	struct shipping_state	*st = state;
	char			 err[256];

	if (svc_conf_load(shipping_conf, sizeof(shipping_conf) / sizeof(shipping_conf[0]), st,
	    err, sizeof(err)) == -1) {
		fprintf(stderr, "shipping: %s\n", err);
		return -1;
	}
	st->clock.now_us = shipping_wall;
	st->clock.ctx = NULL;
	return 0;
}

int
main(int argc, char **argv)
{
	static struct shipping_state state;
	static const struct svc_service svc = {
		.name = "shipping",
		.routes = shipping_routes,
		.nroutes = sizeof(shipping_routes) / sizeof(shipping_routes[0]),
		.stmts = shipping_stmts,
		.nstmts = SHIP_NSTMTS,
		.init = shipping_init,
		/* The dispatcher: every 100 ms, so a shipment leaves at most ~0.1 s after its delay. */
		.background = shipping_dispatch,
		.bg_interval_ms = 100,
		.state = &state,
		.events = &shipping_events,
	};

	return svc_main(argc, argv, &svc);
}
