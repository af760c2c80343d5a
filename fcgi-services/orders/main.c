/* main.c - the orders service: checkout (a saga over inventory and payments) and recovery */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "orders.h"

static const struct svc_route orders_routes[] = {
	{ "POST", "/api/v1/orders",		orders_create },
	{ "GET",  "/api/v1/orders",		orders_list },
	{ "GET",  "/api/v1/orders/{id}",	orders_get },
};

/* Publishes order.*; consumes its queue orders.events (bound to shipment.created and shipment.dispatched). */
static const struct svc_event_sub orders_subs[] = {
	{ "shipment.dispatched", orders_on_dispatched },
	{ "shipment.created", orders_on_shipment_created },
};
static const struct svc_events orders_events = {
	.publishes = 1,
	.subs = orders_subs,
	.nsubs = SVC_NELEM(orders_subs),
};

static const char *const orders_deps[] = { "catalog", "inventory", "payments" };

#define ORDERS_OFF(f) offsetof(struct orders_state, f)

static const struct svc_conf_def orders_conf[] = {
	{ "SHOPLAB_CARD_KEY",		SVC_CONF_STR, NULL,	0, 256,		ORDERS_OFF(card_key) },
	{ "SHOPLAB_ORDERS_LEASE_MS",	SVC_CONF_INT, "5000",	100, 600000,	ORDERS_OFF(lease_ms) },
	{ "SHOPLAB_ORDERS_BATCH",	SVC_CONF_INT, "100",	1, 256,		ORDERS_OFF(batch) },
	{ "SHOPLAB_ORDERS_GIVE_UP_S",	SVC_CONF_INT, "600",	1, 86400 * 7,	ORDERS_OFF(give_up_s) },
};

static int
orders_init(void *state)
{
	struct orders_state *st = state;

	if (strlen(st->card_key) < ORDERS_CARD_KEY_MIN) {
		fprintf(stderr, "orders: SHOPLAB_CARD_KEY must be at least %d bytes\n",
		    ORDERS_CARD_KEY_MIN);
		return -1;
	}
	SHA256((const unsigned char *)st->card_key, strlen(st->card_key), st->aes_key);
	return 0;
}

static void
orders_fini(void *state)
{
	struct orders_state *st = state;

	explicit_bzero(st->aes_key, sizeof(st->aes_key));
	free(st->card_key);
}

int
main(int argc, char **argv)
{
	static struct orders_state state;
	static const struct svc_service svc = {
		.name = "orders",
		.routes = orders_routes,
		.nroutes = SVC_NELEM(orders_routes),
		.stmts = orders_stmts,
		.nstmts = ORD_NSTMTS,
		.deps = orders_deps,
		.ndeps = SVC_NELEM(orders_deps),
		.conf = orders_conf,
		.nconf = SVC_NELEM(orders_conf),
		.init = orders_init,
		.fini = orders_fini,
		.background = orders_recover,
		.bg_interval_ms = 500,
		.state = &state,
		.events = &orders_events,
		.metrics = orders_metrics,
	};

	return svc_main(argc, argv, &svc);
}
