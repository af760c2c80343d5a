/* main.c - the catalog service: products, listed with keyset paging and search, by id with ETags */
#include <stddef.h>
#include <stdio.h>

#include "catalog.h"
#include "svc_events.h"

/* Publishes product.* (the relay); consumes nothing. */
static const struct svc_events catalog_events = { .publishes = 1 };

static const struct svc_route catalog_routes[] = {
	{ "GET",  "/api/v1/products",		catalog_list },
	{ "GET",  "/api/v1/products/{id}",	catalog_get },
	{ "POST", "/api/v1/products",		catalog_create },
	{ "PATCH", "/api/v1/products/{id}",	catalog_patch },
	/* The same answer for other services, on the internal gateway. */
	{ "GET",  "/internal/catalog/products/{id}", catalog_get_current },
};

#define CATALOG_OFF(f) offsetof(struct catalog_state, f)

static const struct svc_conf_def catalog_conf[] = {
	/* As long as the gateway's micro-cache keeps a read: the bound with several instances. */
	{ "SHOPLAB_CATALOG_MODEL_TTL_MS", SVC_CONF_INT, "0", 0, 60000,	CATALOG_OFF(model_ttl_ms) },
	{ "SHOPLAB_CATALOG_MODEL_MAX",	SVC_CONF_INT, "16384", 0, 1048576,	CATALOG_OFF(model_max) },
};

static int
catalog_init(void *state)
{
	struct catalog_state *st = state;

	if (catalog_model_init(&st->model, (size_t)st->model_max, st->model_ttl_ms * 1000) == -1) {
		fprintf(stderr, "catalog: the read model: out of memory\n");
		return -1;
	}
	return 0;
}

static void
catalog_fini(void *state)
{
	struct catalog_state *st = state;

	catalog_model_free(&st->model);
}

static const struct svc_service catalog_service = {
	.events = &catalog_events,
	SVC_ARRAY(conf, catalog_conf),
	.init = catalog_init,
	.fini = catalog_fini,
	.state_size = sizeof(struct catalog_state),
	.metrics = catalog_metrics,
	.name = "catalog",
	SVC_ARRAY(routes, catalog_routes),
	SVC_ARRAY(stmts, catalog_stmts),
};

SVC_MAIN(catalog_service)
