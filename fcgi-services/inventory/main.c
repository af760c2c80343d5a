/* main.c - the inventory service: stock per product and the reservations orders hold on it */
#include <stddef.h>

#include "inventory.h"

static const struct svc_route inv_routes[] = {
	{ "GET",  "/api/v1/inventory/{product_id}",			inv_stock_get },
	{ "PUT",  "/api/v1/inventory/{product_id}",			inv_stock_put },
	/* For the orders saga, on the internal gateway (service token checked by nginx). */
	{ "POST", "/internal/inventory/reservations",			inv_reserve },
	{ "GET",  "/internal/inventory/reservations/{order_id}",	inv_reservation_get },
	{ "POST", "/internal/inventory/reservations/{order_id}/commit",	inv_commit },
	{ "POST", "/internal/inventory/reservations/{order_id}/release", inv_release },
};

int
main(int argc, char **argv)
{
	static const struct svc_service svc = {
		.name = "inventory",
		.routes = inv_routes,
		.nroutes = sizeof(inv_routes) / sizeof(inv_routes[0]),
		.stmts = inv_stmts,
		.nstmts = INV_NSTMTS,
	};

	return svc_main(argc, argv, &svc);
}
