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
	SVC_ARRAY(subs, shipping_subs),
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

static const struct svc_service shipping_service = {
	.name = "shipping",
	SVC_ARRAY(routes, shipping_routes),
	SVC_ARRAY(stmts, shipping_stmts),
	SVC_ARRAY(conf, shipping_conf),
	.init = shipping_init,
	/*
	 * The dispatcher, woken rather than polled: when the next shipment is due (a new one's
	 * commit tells it, the round reads the rest), at most every 100 ms under load (rounds
	 * coalesce; errors back off from 100 ms), and at least every 1000 ms: shipments nobody
	 * told this process about (another instance's, one that died) leave <= ~1 s late.
	 */
	.background = shipping_dispatch,
	.bg_interval_ms = 100,
	.bg_max_ms = 1000,
	.state_size = sizeof(struct shipping_state),
	.events = &shipping_events,
};

SVC_MAIN(shipping_service)
