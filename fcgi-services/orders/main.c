/* main.c - the orders service: checkout (a saga over inventory and payments) and recovery */
#include <stdio.h>
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
	SVC_ARRAY(subs, orders_subs),
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
}

static const struct svc_service orders_service = {
	.name = "orders",
	SVC_ARRAY(routes, orders_routes),
	SVC_ARRAY(stmts, orders_stmts),
	SVC_ARRAY(deps, orders_deps),
	SVC_ARRAY(conf, orders_conf),
	.init = orders_init,
	.fini = orders_fini,
	.background = orders_recover,
	.bg_interval_ms = 500,
	.state_size = sizeof(struct orders_state),
	.events = &orders_events,
	.metrics = orders_metrics,
};

SVC_MAIN(orders_service)
