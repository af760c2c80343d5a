/* main.c - the payments service: charges, voids and lookups on the internal gateway */
#include <stddef.h>

#include "payments.h"

static const struct svc_route pay_routes[] = {
	{ "POST", "/internal/payments/charges",			pay_charge },
	{ "POST", "/internal/payments/charges/{order_id}/void",	pay_void },
	{ "GET",  "/internal/payments/charges/{order_id}",		pay_get },
};

int
main(int argc, char **argv)
{
	static const struct svc_service svc = {
		.name = "payments",
		.routes = pay_routes,
		.nroutes = SVC_NELEM(pay_routes),
		.stmts = pay_stmts,
		.nstmts = PAY_NSTMTS,
	};

	return svc_main(argc, argv, &svc);
}
