/* main.c - the shipping service: a shipment per confirmed order, dispatched after a handling delay */
#include <stddef.h>

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
	.nsubs = SVC_NELEM(shipping_subs),
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
	struct shipping_state *st = state;

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
		.nroutes = SVC_NELEM(shipping_routes),
		.stmts = shipping_stmts,
		.nstmts = SHIP_NSTMTS,
		.conf = shipping_conf,
		.nconf = SVC_NELEM(shipping_conf),
		.init = shipping_init,
		/* The dispatcher: every 100 ms, so a shipment leaves at most ~0.1 s after its delay. */
		.background = shipping_dispatch,
		.bg_interval_ms = 100,
		.state = &state,
		.events = &shipping_events,
	};

	return svc_main(argc, argv, &svc);
}
