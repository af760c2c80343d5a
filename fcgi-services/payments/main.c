/* main.c - the payments service: charges, voids and lookups on the internal gateway */
#include <stddef.h>

#include "payments.h"

static const struct svc_route pay_routes[] = {
	{ "POST", "/internal/payments/charges",			pay_charge },
	{ "POST", "/internal/payments/charges/{order_id}/void",	pay_void },
	{ "GET",  "/internal/payments/charges/{order_id}",		pay_get },
};

static const struct svc_service pay_service = {
	.name = "payments",
	SVC_ARRAY(routes, pay_routes),
	SVC_ARRAY(stmts, pay_stmts),
};

SVC_MAIN(pay_service)
