/* payments_card.c - card rules: number normalisation, Luhn, expiry and the test cards' fate */
#include <string.h>
#include <time.h>

#include "payments.h"

int
pay_card_normalize(const char *in, char *out, size_t outlen)
{
	size_t n = 0;

	for (; *in != '\0'; in++) {
		if (*in == ' ')
			continue;
		if (*in < '0' || *in > '9')
			return -1;
		if (n + 1 >= outlen || n == PAY_NUMBER_MAX)
			return -1;
		out[n++] = *in;
	}
	if (n < PAY_NUMBER_MIN || n >= outlen)
		return -1;
	out[n] = '\0';
	return 0;
}

int
pay_luhn_ok(const char *digits)
{
	size_t	len = strlen(digits), i;
	int	sum = 0, d;

	if (len == 0)
		return 0;
	/* From the right, every second digit is doubled; a doubled digit over 9 loses 9. */
	for (i = 0; i < len; i++) {
		d = digits[len - 1 - i] - '0';
		if (d < 0 || d > 9)
			return 0;
		if (i % 2 == 1 && (d *= 2) > 9)
			d -= 9;
		sum += d;
	}
	return sum % 10 == 0;
}

int
pay_cvc_ok(const char *cvc)
{
	size_t i;

	for (i = 0; cvc[i] != '\0'; i++)
		if (i >= 4 || cvc[i] < '0' || cvc[i] > '9')
			return 0;
	return i >= 3;
}

int
pay_currency_ok(const char *cur)
{
	size_t i;

	for (i = 0; i < 3; i++)
		if (cur[i] < 'A' || cur[i] > 'Z')
			return 0;
	return cur[3] == '\0';
}

int
pay_card_expired(int exp_month, int exp_year, int now_month, int now_year)
{
	/* A card is good through the last day of its expiry month. */
	return exp_year < now_year || (exp_year == now_year && exp_month < now_month);
}

void
pay_month_of(int64_t t, int *month, int *year)
{
	time_t		tt = (time_t)t;
	struct tm	tm;

	if (gmtime_r(&tt, &tm) == NULL) {
		*month = 1;
		*year = 1970;
		return;
	}
	*month = tm.tm_mon + 1;
	*year = tm.tm_year + 1900;
}

enum pay_decision
pay_decide(const char *digits, int exp_month, int exp_year, int now_month, int now_year)
{
	if (pay_card_expired(exp_month, exp_year, now_month, now_year))
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
