/* svc_card.c - card rules: shape, normalisation, Luhn, cvc and expiry (see svc_card.h) */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "svc_card.h"

int
svc_card_normalize(const char *in, char *out, size_t outlen)
{
	size_t n = 0;

	for (; *in != '\0'; in++) {
		if (*in == ' ')
			continue;
		if (*in < '0' || *in > '9')
			return -1;
		if (n + 1 >= outlen || n == SVC_CARD_DIGITS_MAX)
			return -1;
		out[n++] = *in;
	}
	if (n < SVC_CARD_DIGITS_MIN || n >= outlen)
		return -1;
	out[n] = '\0';
	return 0;
}

int
svc_card_luhn_ok(const char *digits)
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
svc_card_cvc_ok(const char *cvc)
{
	size_t i;

	for (i = 0; cvc[i] != '\0'; i++)
		if (i >= 4 || cvc[i] < '0' || cvc[i] > '9')
			return 0;
	return i >= 3;
}

int
svc_card_expired(int exp_month, int exp_year, int now_month, int now_year)
{
	/* A card is good through the last day of its expiry month. */
	return exp_year < now_year || (exp_year == now_year && exp_month < now_month);
}

void
svc_card_month_of(int64_t t, int *month, int *year)
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

void
svc_card_wipe(struct svc_card *c)
{
	explicit_bzero(c, sizeof(*c));
}

/* The string member name of card, or NULL with field and msg set. */
static const char *
svc_card_str(json_object *card, const char *name, size_t maxlen, char *field, size_t fieldlen,
    char *msg, size_t msglen)
{
	json_object	*v;
	size_t		 len;

	snprintf(field, fieldlen, "card.%s", name);
	if (!json_object_object_get_ex(card, name, &v) || json_object_is_type(v, json_type_null)) {
		snprintf(msg, msglen, "card.%s is required", name);
		return NULL;
	}
	if (!json_object_is_type(v, json_type_string)) {
		snprintf(msg, msglen, "card.%s must be a string", name);
		return NULL;
	}
	len = (size_t)json_object_get_string_len(v);
	if (len == 0 || len > maxlen || strlen(json_object_get_string(v)) != len) {
		snprintf(msg, msglen, "card.%s must be 1 to %zu characters", name, maxlen);
		return NULL;
	}
	return json_object_get_string(v);
}

/* The integer member name of card within min..max into *out; -1 with field and msg set. */
static int
svc_card_int(json_object *card, const char *name, int min, int max, int *out, char *field,
    size_t fieldlen, char *msg, size_t msglen)
{
	json_object	*v;
	int64_t		 n;

	snprintf(field, fieldlen, "card.%s", name);
	if (!json_object_object_get_ex(card, name, &v) || json_object_is_type(v, json_type_null)) {
		snprintf(msg, msglen, "card.%s is required", name);
		return -1;
	}
	if (!json_object_is_type(v, json_type_int)) {
		snprintf(msg, msglen, "card.%s must be an integer", name);
		return -1;
	}
	n = json_object_get_int64(v);
	if (n < min || n > max) {
		snprintf(msg, msglen, "card.%s must be between %d and %d", name, min, max);
		return -1;
	}
	*out = (int)n;
	return 0;
}

int
svc_card_check(json_object *card, struct svc_card *out, char *field, size_t fieldlen,
    char *msg, size_t msglen)
{
	static const char *const members[] = { "number", "exp_month", "exp_year", "cvc" };
	const char	*number, *cvc;
	size_t		 i;

	memset(out, 0, sizeof(*out));
	if (card == NULL || !json_object_is_type(card, json_type_object)) {
		snprintf(field, fieldlen, "card");
		snprintf(msg, msglen, "card must be an object");
		return -1;
	}
	/* Nothing but the four members: an unknown one is refused, never stored. */
	json_object_object_foreach(card, key, val) {
		(void)val;
		for (i = 0; i < sizeof(members) / sizeof(members[0]); i++)
			if (strcmp(key, members[i]) == 0)
				break;
		if (i == sizeof(members) / sizeof(members[0])) {
			snprintf(field, fieldlen, "card");
			snprintf(msg, msglen, "card has an unknown member (allowed: number, "
			    "exp_month, exp_year, cvc)");
			return -1;
		}
	}
	if ((number = svc_card_str(card, "number", SVC_CARD_NUMBER_IN_MAX, field, fieldlen, msg,
	    msglen)) == NULL ||
	    svc_card_int(card, "exp_month", 1, 12, &out->exp_month, field, fieldlen, msg,
	    msglen) == -1 ||
	    svc_card_int(card, "exp_year", SVC_CARD_YEAR_MIN, SVC_CARD_YEAR_MAX, &out->exp_year,
	    field, fieldlen, msg, msglen) == -1 ||
	    (cvc = svc_card_str(card, "cvc", 4, field, fieldlen, msg, msglen)) == NULL)
		goto fail;
	if (svc_card_normalize(number, out->digits, sizeof(out->digits)) == -1) {
		snprintf(field, fieldlen, "card.number");
		snprintf(msg, msglen, "card.number must be %d to %d digits (spaces allowed)",
		    SVC_CARD_DIGITS_MIN, SVC_CARD_DIGITS_MAX);
		goto fail;
	}
	if (!svc_card_luhn_ok(out->digits)) {
		snprintf(field, fieldlen, "card.number");
		snprintf(msg, msglen, "card.number is not a valid card number");
		goto fail;
	}
	if (!svc_card_cvc_ok(cvc)) {
		snprintf(field, fieldlen, "card.cvc");
		snprintf(msg, msglen, "card.cvc must be 3 or 4 digits");
		goto fail;
	}
	memcpy(out->cvc, cvc, strlen(cvc) + 1);
	return 0;
fail:
	svc_card_wipe(out);
	return -1;
}
