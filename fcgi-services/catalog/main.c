/* main.c - the catalog service: products, listed with keyset paging and search, by id with ETags */
#include <stddef.h>

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
	{ "GET",  "/internal/catalog/products/{id}", catalog_get },
};

int
main(int argc, char **argv)
{
	static const struct svc_service svc = {
		.events = &catalog_events,
		.name = "catalog",
		.routes = catalog_routes,
		.nroutes = sizeof(catalog_routes) / sizeof(catalog_routes[0]),
		.stmts = catalog_stmts,
		.nstmts = CATALOG_NSTMTS,
	};

	return svc_main(argc, argv, &svc);
}
