/* test_payments_card.c - the card rules: normalisation, Luhn, cvc, expiry and test-card fates */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>

#include <cmocka.h>

#include "svc_unit.h"

#include "payments.h"
#include "svc_card.h"

static void
test_luhn(void **state)
{
	static const char *const valid[] = {
		"4242424242424242", "4111111111111111", "5555555555554444", "378282246310005",
		"6011111111111117", "4000000000000002", "4000000000009995", "4222222222222",
		"79927398713", "0",
	};
	static const char *const invalid[] = {
		"4242424242424241", "4111111111111112", "1234567812345678", "79927398710",
		"378282246310006", "", "42424242x4242424",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
		assert_true(svc_card_luhn_ok(valid[i]));
	for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
		assert_false(svc_card_luhn_ok(invalid[i]));
}

#define CARD_OUT	(SVC_CARD_DIGITS_MAX + 1)

/* { input, the size of out, what it returns, what out holds (NULL: not looked at) } */
static const struct svc_unit_conv normalize_cases[] = {
	{ "4242 4242 4242 4242", CARD_OUT, 0, "4242424242424242" },
	{ "  4242424242424242  ", CARD_OUT, 0, "4242424242424242" },
	/* 13 and 19 digits are the bounds. */
	{ "4222222222222", CARD_OUT, 0, "4222222222222" },
	{ "4242424242424242424", CARD_OUT, 0, "4242424242424242424" },
	{ "422222222222", CARD_OUT, -1, NULL },
	{ "42424242424242424242", CARD_OUT, -1, NULL },
	{ "4242 4242 4242 4242 4242", CARD_OUT, -1, NULL },
	/* Anything but digits and spaces. */
	{ "4242-4242-4242-4242", CARD_OUT, -1, NULL },
	{ "4242\t4242424242424", CARD_OUT, -1, NULL },
	{ "424242424242424a", CARD_OUT, -1, NULL },
	{ "+4242424242424242", CARD_OUT, -1, NULL },
	{ "\xd9\xa4" "242424242424242", CARD_OUT, -1, NULL },
	{ "", CARD_OUT, -1, NULL },
	{ "             ", CARD_OUT, -1, NULL },
	/* Never past the end of out. */
	{ "4242424242424242", 8, -1, NULL },
};

static void
test_normalize(void **state)
{
	(void)state;
	svc_unit_conv("svc_card_normalize", svc_card_normalize, normalize_cases,
	    SVC_UNIT_N(normalize_cases));
}

static const struct svc_unit_yesno cvc_cases[] = {
	{ "123", 1 },
	{ "0000", 1 },
	{ "12", 0 },
	{ "12345", 0 },
	{ "12a", 0 },
	{ "abc", 0 },
	{ " 123", 0 },
	{ "", 0 },
};

static const struct svc_unit_yesno currency_cases[] = {
	{ "EUR", 1 },
	{ "USD", 1 },
	{ "eur", 0 },
	{ "EU", 0 },
	{ "EURO", 0 },
	{ "E1R", 0 },
	{ "", 0 },
};

static void
test_cvc_and_currency(void **state)
{
	(void)state;
	svc_unit_yesno("svc_card_cvc_ok", svc_card_cvc_ok, cvc_cases,
	    SVC_UNIT_N(cvc_cases));
	svc_unit_yesno("pay_currency_ok", pay_currency_ok, currency_cases,
	    SVC_UNIT_N(currency_cases));
}

static void
test_expiry(void **state)
{
	int m, y;

	(void)state;
	/* "Now" is May 2030. A card is good through the end of its month. */
	assert_false(svc_card_expired(5, 2030, 5, 2030));
	assert_false(svc_card_expired(6, 2030, 5, 2030));
	assert_false(svc_card_expired(1, 2031, 5, 2030));
	assert_true(svc_card_expired(4, 2030, 5, 2030));
	assert_true(svc_card_expired(12, 2029, 5, 2030));
	assert_true(svc_card_expired(12, 2000, 1, 2001));
	assert_false(svc_card_expired(1, 2001, 1, 2001));

	/* The UTC month of a fixed instant, at both edges of a month. */
	svc_card_month_of(1893455999, &m, &y);	/* 2029-12-31T23:59:59Z */
	assert_int_equal(m, 12);
	assert_int_equal(y, 2029);
	svc_card_month_of(1893456000, &m, &y);	/* 2030-01-01T00:00:00Z */
	assert_int_equal(m, 1);
	assert_int_equal(y, 2030);
	svc_card_month_of(0, &m, &y);
	assert_int_equal(m, 1);
	assert_int_equal(y, 1970);
}

static void
test_decisions(void **state)
{
	(void)state;
	assert_int_equal(pay_decide("4242424242424242", 12, 2031, 5, 2030), PAY_CAPTURE);
	assert_int_equal(pay_decide("5555555555554444", 5, 2030, 5, 2030), PAY_CAPTURE);
	assert_int_equal(pay_decide("4000000000000002", 12, 2031, 5, 2030), PAY_DECLINED);
	assert_int_equal(pay_decide("4000000000009995", 12, 2031, 5, 2030), PAY_NO_FUNDS);
	/* Expiry is decided first, for every card. */
	assert_int_equal(pay_decide("4242424242424242", 4, 2030, 5, 2030), PAY_EXPIRED);
	assert_int_equal(pay_decide("4000000000000002", 1, 2020, 5, 2030), PAY_EXPIRED);
	/* Only the exact test numbers are special. */
	assert_int_equal(pay_decide("40000000000000028", 12, 2031, 5, 2030), PAY_CAPTURE);

	assert_null(pay_decline_code(PAY_CAPTURE));
	assert_string_equal(pay_decline_code(PAY_DECLINED), "payment_declined");
	assert_string_equal(pay_decline_code(PAY_NO_FUNDS), "insufficient_funds");
	assert_string_equal(pay_decline_code(PAY_EXPIRED), "card_expired");
}

/* svc_card_check: the one definition of a valid card that orders and payments both apply. */
static void
test_check(void **state)
{
	static const struct { const char *json, *field; } bad[] = {
		{ "{\"number\":\"4242424242424241\",\"exp_month\":12,\"exp_year\":2030,\"cvc\":\"123\"}", "card.number" },
		{ "{\"number\":\"424242424242\",\"exp_month\":12,\"exp_year\":2030,\"cvc\":\"123\"}", "card.number" },
		{ "{\"number\":\"4242x24242424242\",\"exp_month\":12,\"exp_year\":2030,\"cvc\":\"123\"}", "card.number" },
		{ "{\"number\":4242424242424242,\"exp_month\":12,\"exp_year\":2030,\"cvc\":\"123\"}", "card.number" },
		{ "{\"number\":\"4242424242424242\",\"exp_month\":12,\"exp_year\":2030,\"cvc\":\"12a\"}", "card.cvc" },
		{ "{\"number\":\"4242424242424242\",\"exp_month\":12,\"exp_year\":2030,\"cvc\":\"12345\"}", "card.cvc" },
		{ "{\"number\":\"4242424242424242\",\"exp_month\":13,\"exp_year\":2030,\"cvc\":\"123\"}", "card.exp_month" },
		{ "{\"number\":\"4242424242424242\",\"exp_month\":\"12\",\"exp_year\":2030,\"cvc\":\"123\"}", "card.exp_month" },
		{ "{\"number\":\"4242424242424242\",\"exp_month\":12,\"exp_year\":1999,\"cvc\":\"123\"}", "card.exp_year" },
		{ "{\"number\":\"4242424242424242\",\"exp_month\":12,\"cvc\":\"123\"}", "card.exp_year" },
		{ "{\"number\":\"4242424242424242\",\"exp_month\":12,\"exp_year\":2030,\"cvc\":\"123\",\"name\":\"x\"}", "card" },
		{ "[1,2]", "card" },
	};
	struct svc_card	 k;
	json_object	*o;
	char		 field[32], msg[128];
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_non_null(o = json_tokener_parse(bad[i].json));
		assert_int_equal(svc_card_check(o, &k, field, sizeof(field), msg, sizeof(msg)), -1);
		assert_string_equal(field, bad[i].field);
		assert_true(msg[0] != '\0');
		assert_string_equal(k.digits, "");	/* wiped */
		json_object_put(o);
	}
	assert_non_null(o = json_tokener_parse("{\"number\":\"4242 4242 4242 4242\","
	    "\"exp_month\":7,\"exp_year\":2031,\"cvc\":\"0123\"}"));
	assert_int_equal(svc_card_check(o, &k, field, sizeof(field), msg, sizeof(msg)), 0);
	assert_string_equal(k.digits, "4242424242424242");
	assert_string_equal(k.cvc, "0123");
	assert_int_equal(k.exp_month, 7);
	assert_int_equal(k.exp_year, 2031);
	json_object_put(o);
}

SVC_UNIT_MAIN("payments/card",
    cmocka_unit_test(test_luhn),
    cmocka_unit_test(test_normalize),
    cmocka_unit_test(test_cvc_and_currency),
    cmocka_unit_test(test_expiry),
    cmocka_unit_test(test_decisions),
    cmocka_unit_test(test_check))
