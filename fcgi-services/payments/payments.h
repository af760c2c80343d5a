/* payments.h - the payments service: a fake card processor, idempotent per order id */
#ifndef PAYMENTS_H
#define PAYMENTS_H

#include <stddef.h>
#include <stdint.h>

#include "svc.h"

enum pay_stmt {
	PAY_GET,		/* a charge by order id */
	PAY_GET_LOCKED,		/* the same, FOR UPDATE (inside a transaction) */
	PAY_INSERT,		/* a captured or declined charge */
	PAY_INSERT_TOMBSTONE,	/* a void for an order that was never charged */
	PAY_SET_VOIDED,		/* gives a captured charge back in full */
	PAY_NSTMTS
};

extern const char *const pay_stmts[PAY_NSTMTS];

#define PAY_AMOUNT_MAX		100000000000LL	/* cents */
#define PAY_NUMBER_MIN		13		/* digits of a card number */
#define PAY_NUMBER_MAX		19
#define PAY_NUMBER_IN_MAX	64		/* bytes of a number as sent, spaces included */

int pay_charge(struct svc_req *r);
int pay_void(struct svc_req *r);
int pay_get(struct svc_req *r);

/*
 * Card rules: pure functions with no I/O, so they are unit tested on their own.
 */

/* Copies the digits of in into out with spaces removed; -1 on any other character, on a
 * length outside 13..19 digits, or when out is too small. */
int pay_card_normalize(const char *in, char *out, size_t outlen);
/* 1 when the string of digits passes the Luhn check, 0 when not (or it is empty). */
int pay_luhn_ok(const char *digits);
/* 1 when cvc is 3 or 4 ASCII digits. */
int pay_cvc_ok(const char *cvc);
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
/* 1 when a card expiring at the end of exp_month/exp_year is expired in now_month/now_year. */
int pay_card_expired(int exp_month, int exp_year, int now_month, int now_year);
/* The UTC calendar month (1..12) and year of Unix time t. */
void pay_month_of(int64_t t, int *month, int *year);

#endif /* PAYMENTS_H */
