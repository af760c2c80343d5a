/* payments.h - the payments service: a fake card processor, idempotent per order id */
#ifndef PAYMENTS_H
#define PAYMENTS_H

#include <stddef.h>
#include <stdint.h>

#include "svc.h"
#include "svc_card.h"

enum pay_stmt {
	PAY_GET,		/* a charge by order id */
	PAY_GET_LOCKED,		/* the same, FOR UPDATE (inside a transaction) */
	PAY_INSERT,		/* a captured or declined charge */
	PAY_INSERT_TOMBSTONE,	/* a void for an order that was never charged */
	PAY_SET_VOIDED,		/* gives a captured charge back in full */
	PAY_NSTMTS
};

extern const char *const pay_stmts[PAY_NSTMTS];

#define PAY_AMOUNT_MAX		SVC_CARD_AMOUNT_MAX	/* cents */

int pay_charge(struct svc_req *r);
int pay_void(struct svc_req *r);
int pay_get(struct svc_req *r);

/*
 * The card's shape, Luhn, cvc and expiry rules are svc_card.h's (shared with orders, which
 * checks a card where it enters). The processor's own decisions are pure functions here.
 */

/* 1 when cur is three upper-case ASCII letters. */
int pay_currency_ok(const char *cur);

/* What the fake processor decides for a valid card. */
enum pay_decision {
	PAY_CAPTURE,
	PAY_DECLINED,		/* 4000000000000002 */
	PAY_NO_FUNDS,		/* 4000000000009995 */
	PAY_EXPIRED,		/* the expiry month is over */
};

/* Decides for the normalised number digits, expiring at the end of exp_month/exp_year,
 * at a time whose calendar month is now_month/now_year (UTC). */
enum pay_decision pay_decide(const char *digits, int exp_month, int exp_year,
	int now_month, int now_year);
/* The decline code stored and answered for a decision; NULL for PAY_CAPTURE. */
const char *pay_decline_code(enum pay_decision d);

#endif /* PAYMENTS_H */
