/* test_orders_rules.c - the saga's rules, one case per (state, answer, age) rule */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "svc_unit.h"

#include "orders.h"

#define G	600	/* give_up_s in every case */

struct rule_case {
	const char		*name;
	enum orders_sstate	 st;
	enum orders_aclass	 cls;
	int			 status;
	const char		*code;
	int64_t			 age_s;
	/* expected */
	enum orders_sstate	 next;
	const char		*order_status;
	enum orders_act		 act;
	const char		*reason;	/* "" keeps the stored one */
	int			 drop_card;
	int			 alarm;
};

static const struct rule_case cases[] = {
	/* reserve */
	{ "reserve ok", ORD_S_PENDING, ORD_A_OK, 201, NULL, 1,
	  ORD_S_RESERVED, "pending", ORD_GO, "", 0, 0 },
	{ "reserve out of stock", ORD_S_PENDING, ORD_A_NO, 409, "out_of_stock", 1,
	  ORD_S_DONE, "rejected", ORD_END, "out_of_stock", 1, 0 },
	{ "reserve released before", ORD_S_PENDING, ORD_A_NO, 409, "reservation_released", 1,
	  ORD_S_COMPENSATING, "pending", ORD_GO, "reserve:409:reservation_released", 1, 1 },
	{ "reserve unexpected 400", ORD_S_PENDING, ORD_A_NO, 400, "validation_failed", 1,
	  ORD_S_COMPENSATING, "pending", ORD_GO, "reserve:400:validation_failed", 1, 1 },
	{ "reserve 404 without a code", ORD_S_PENDING, ORD_A_NO, 404, "", 1,
	  ORD_S_COMPENSATING, "pending", ORD_GO, "reserve:404:no_code", 1, 1 },
	{ "reserve unknown waits", ORD_S_PENDING, ORD_A_UNKNOWN, 0, NULL, G,
	  ORD_S_PENDING, "pending", ORD_WAIT, "", 0, 0 },
	{ "reserve unknown gives up", ORD_S_PENDING, ORD_A_UNKNOWN, 0, NULL, G + 1,
	  ORD_S_COMPENSATING, "pending", ORD_GO, "inventory_unavailable", 1, 1 },
	/* charge */
	{ "charge ok", ORD_S_RESERVED, ORD_A_OK, 201, NULL, 1,
	  ORD_S_CHARGED, "pending", ORD_GO, "", 1, 0 },
	{ "charge declined", ORD_S_RESERVED, ORD_A_NO, 402, "payment_declined", 1,
	  ORD_S_COMPENSATING, "pending", ORD_GO, "payment_declined", 1, 0 },
	{ "charge no funds", ORD_S_RESERVED, ORD_A_NO, 402, "insufficient_funds", 1,
	  ORD_S_COMPENSATING, "pending", ORD_GO, "payment_declined", 1, 0 },
	{ "charge voided first", ORD_S_RESERVED, ORD_A_NO, 409, "charge_voided", 1,
	  ORD_S_COMPENSATING, "pending", ORD_GO, "payment_failed", 1, 0 },
	{ "charge unexpected 400", ORD_S_RESERVED, ORD_A_NO, 400, "validation_failed", 1,
	  ORD_S_COMPENSATING, "pending", ORD_GO, "charge:400:validation_failed", 1, 1 },
	{ "charge mismatch", ORD_S_RESERVED, ORD_A_NO, 409, "charge_mismatch", 1,
	  ORD_S_COMPENSATING, "pending", ORD_GO, "charge:409:charge_mismatch", 1, 1 },
	{ "charge without card", ORD_S_RESERVED, ORD_A_NO_CARD, 0, NULL, 1,
	  ORD_S_COMPENSATING, "pending", ORD_GO, "payment_unavailable", 1, 1 },
	{ "charge unknown waits", ORD_S_RESERVED, ORD_A_UNKNOWN, 0, NULL, G,
	  ORD_S_RESERVED, "pending", ORD_WAIT, "", 0, 0 },
	{ "charge unknown gives up", ORD_S_RESERVED, ORD_A_UNKNOWN, 0, NULL, G + 1,
	  ORD_S_COMPENSATING, "pending", ORD_GO, "payment_unavailable", 1, 1 },
	/* commit */
	{ "commit ok", ORD_S_CHARGED, ORD_A_OK, 200, NULL, 1,
	  ORD_S_DONE, "confirmed", ORD_END, "", 1, 0 },
	{ "commit of a released reservation", ORD_S_CHARGED, ORD_A_NO, 409, "reservation_released", 1,
	  ORD_S_COMPENSATING, "pending", ORD_GO, "reservation_lost", 1, 1 },
	{ "commit of an expired reservation", ORD_S_CHARGED, ORD_A_NO, 409, "reservation_expired", 1,
	  ORD_S_COMPENSATING, "pending", ORD_GO, "reservation_lost", 1, 1 },
	{ "commit unexpected 404", ORD_S_CHARGED, ORD_A_NO, 404, "not_found", 1,
	  ORD_S_UNCOMMITTING, "pending", ORD_GO, "commit:404:not_found", 1, 1 },
	{ "commit unknown waits", ORD_S_CHARGED, ORD_A_UNKNOWN, 0, NULL, G,
	  ORD_S_CHARGED, "pending", ORD_WAIT, "", 1, 0 },
	{ "commit unknown gives up", ORD_S_CHARGED, ORD_A_UNKNOWN, 0, NULL, G + 1,
	  ORD_S_UNCOMMITTING, "pending", ORD_GO, "commit_gave_up", 1, 1 },
	/* release after a charge */
	{ "uncommit released", ORD_S_UNCOMMITTING, ORD_A_OK, 200, NULL, G + 2,
	  ORD_S_VOIDING, "pending", ORD_GO, "", 1, 0 },
	{ "uncommit finds it committed", ORD_S_UNCOMMITTING, ORD_A_NO, 409, "reservation_committed", G + 2,
	  ORD_S_DONE, "confirmed", ORD_END, "", 1, 0 },
	{ "uncommit unexpected waits", ORD_S_UNCOMMITTING, ORD_A_NO, 400, "x", G + 2,
	  ORD_S_UNCOMMITTING, "pending", ORD_WAIT, "", 1, 1 },
	{ "uncommit unknown waits", ORD_S_UNCOMMITTING, ORD_A_UNKNOWN, 0, NULL, 2 * G,
	  ORD_S_UNCOMMITTING, "pending", ORD_WAIT, "", 1, 0 },
	{ "uncommit unknown gives up", ORD_S_UNCOMMITTING, ORD_A_UNKNOWN, 0, NULL, 2 * G + 1,
	  ORD_S_DONE, "rejected", ORD_END, "release_gave_up", 1, 1 },
	/* compensation: release, then void */
	{ "release ok", ORD_S_COMPENSATING, ORD_A_OK, 200, NULL, 1,
	  ORD_S_VOIDING, "pending", ORD_GO, "", 1, 0 },
	{ "release committed is not ours to confirm", ORD_S_COMPENSATING, ORD_A_NO, 409,
	  "reservation_committed", 1,
	  ORD_S_COMPENSATING, "pending", ORD_WAIT, "", 1, 1 },
	{ "release unexpected gives up", ORD_S_COMPENSATING, ORD_A_NO, 409, "reservation_committed",
	  2 * G + 1,
	  ORD_S_DONE, "rejected", ORD_END, "release:409:reservation_committed", 1, 1 },
	{ "release unknown waits", ORD_S_COMPENSATING, ORD_A_UNKNOWN, 0, NULL, 5,
	  ORD_S_COMPENSATING, "pending", ORD_WAIT, "", 1, 0 },
	{ "release unknown gives up", ORD_S_COMPENSATING, ORD_A_UNKNOWN, 0, NULL, 2 * G + 1,
	  ORD_S_DONE, "rejected", ORD_END, "release_gave_up", 1, 1 },
	{ "void ok", ORD_S_VOIDING, ORD_A_OK, 200, NULL, 1,
	  ORD_S_DONE, "rejected", ORD_END, "", 1, 0 },
	{ "void unexpected 400 waits", ORD_S_VOIDING, ORD_A_NO, 400, "bad", 30,
	  ORD_S_VOIDING, "pending", ORD_WAIT, "", 1, 1 },
	{ "void unexpected 400 gives up", ORD_S_VOIDING, ORD_A_NO, 400, "bad", 2 * G + 1,
	  ORD_S_DONE, "rejected", ORD_END, "void:400:bad", 1, 1 },
	{ "void unknown gives up", ORD_S_VOIDING, ORD_A_UNKNOWN, 0, NULL, 2 * G + 1,
	  ORD_S_DONE, "rejected", ORD_END, "void_gave_up", 1, 1 },
	/* done stays done */
	{ "done", ORD_S_DONE, ORD_A_OK, 200, NULL, 1,
	  ORD_S_DONE, NULL, ORD_END, "", 1, 0 },
};

static void
test_each_rule(void **state)
{
	const struct rule_case	*c;
	struct orders_answer	 a;
	struct orders_rule	 out;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		c = &cases[i];
		a.cls = c->cls;
		a.status = c->status;
		a.code = c->code;
		out = orders_rule(c->st, &a, c->age_s, G);
		if (out.next != c->next || out.act != c->act || strcmp(out.reason, c->reason) != 0 ||
		    out.drop_card != c->drop_card || out.alarm != c->alarm)
			print_message("failing rule: %s\n", c->name);
		assert_int_equal(out.next, c->next);
		if (c->order_status == NULL)
			assert_null(out.status);
		else
			assert_string_equal(out.status, c->order_status);
		assert_int_equal(out.act, c->act);
		assert_string_equal(out.reason, c->reason);
		assert_int_equal(out.drop_card, c->drop_card);
		assert_int_equal(out.alarm, c->alarm);
	}
}

/*
 * Totality: from every state, every class of answer, young or past either give-up, the
 * rule goes somewhere valid; a wait keeps the state; and past the compensation give-up
 * nothing waits any more, so no saga can wait for ever.
 */
static void
test_total_and_ending(void **state)
{
	static const int statuses[] = { 0, 200, 400, 402, 404, 409, 422 };
	static const char *const codes[] = { NULL, "", "out_of_stock", "reservation_released",
	    "reservation_expired", "reservation_committed", "charge_voided", "other" };
	static const int64_t ages[] = { 0, G, G + 1, 2 * G, 2 * G + 1 };
	struct orders_answer	a;
	struct orders_rule	out;
	int			st, cls;
	size_t			i, j, k;

	(void)state;
	for (st = 0; st < ORD_S_N; st++)
		for (cls = ORD_A_OK; cls <= ORD_A_NO_CARD; cls++)
			for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
				for (j = 0; j < sizeof(codes) / sizeof(codes[0]); j++)
					for (k = 0; k < sizeof(ages) / sizeof(ages[0]); k++) {
		a.cls = (enum orders_aclass)cls;
		a.status = statuses[i];
		a.code = codes[j];
		out = orders_rule((enum orders_sstate)st, &a, ages[k], G);
		assert_true(out.next >= 0 && out.next < ORD_S_N);
		if (out.act == ORD_WAIT)
			assert_int_equal(out.next, st);
		if (out.act == ORD_END)
			assert_int_equal(out.next, ORD_S_DONE);
		if (out.next == ORD_S_DONE && st != ORD_S_DONE)
			assert_true(strcmp(out.status, "confirmed") == 0 ||
			    strcmp(out.status, "rejected") == 0);
		if (ages[k] > 2 * G)
			assert_int_not_equal(out.act, ORD_WAIT);
		/* Confirmed only on a commit's success or a release that found it committed. */
		if (out.status != NULL && strcmp(out.status, "confirmed") == 0)
			assert_true((st == ORD_S_CHARGED && cls == ORD_A_OK) ||
			    (st == ORD_S_UNCOMMITTING && cls == ORD_A_NO));
		/* Every reject after a charge goes through a release and a void first. */
		if (out.status != NULL && strcmp(out.status, "rejected") == 0 &&
		    st != ORD_S_VOIDING && !(st == ORD_S_PENDING && cls == ORD_A_NO))
			assert_true(ages[k] > 2 * G);
					}
}

static void
test_state_names(void **state)
{
	enum orders_sstate	s;
	int			i;

	(void)state;
	for (i = 0; i < ORD_S_N; i++) {
		assert_int_equal(orders_state_parse(orders_state_name((enum orders_sstate)i), &s), 0);
		assert_int_equal(s, i);
	}
	assert_int_equal(orders_state_parse("bogus", &s), -1);
	assert_string_equal(orders_step_name(ORD_S_VOIDING), "void");
	assert_string_equal(orders_state_name(ORD_S_N), "unknown");
}

SVC_UNIT_MAIN("orders/rules",
    cmocka_unit_test(test_each_rule),
    cmocka_unit_test(test_total_and_ending),
    cmocka_unit_test(test_state_names))
