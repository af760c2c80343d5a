/* payments_card.c - the fake processor's decisions: test cards' fate, expiry, currency */
#include <string.h>

#include "payments.h"

int
pay_currency_ok(const char *cur)
{
	size_t i;

	for (i = 0; i < 3; i++)
		if (cur[i] < 'A' || cur[i] > 'Z')
			return 0;
	return cur[3] == '\0';
}

enum pay_decision
pay_decide(const char *digits, int exp_month, int exp_year, int now_month, int now_year)
{
	if (svc_card_expired(exp_month, exp_year, now_month, now_year))
		return PAY_EXPIRED;
	if (strcmp(digits, "4000000000000002") == 0)
		return PAY_DECLINED;
	if (strcmp(digits, "4000000000009995") == 0)
		return PAY_NO_FUNDS;
	return PAY_CAPTURE;
}

const char *
pay_decline_code(enum pay_decision d)
{
	switch (d) {
	case PAY_DECLINED:	return "payment_declined";
	case PAY_NO_FUNDS:	return "insufficient_funds";
	case PAY_EXPIRED:	return "card_expired";
	case PAY_CAPTURE:	break;
	}
	return NULL;
}
