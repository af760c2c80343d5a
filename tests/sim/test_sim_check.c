/* test_sim_check.c - the invariant checker's pure logic: clean data passes, each planted violation is named */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sim_check.h"

/* A consistent little world: orders 10 (confirmed: 2 of product 1), 11 (rejected, declined),
 * 12 (rejected, voided); product 1 sold 2, product 2 untouched. */
static struct sim_ck_order orders[8];
static struct sim_ck_charge charges[8];
static struct sim_ck_stock stock[4];
static struct sim_ck_resv resv[8];
static struct sim_ck_client clients[8];
static struct sim_ck_window windows[2];
static struct sim_ck_line items[4], lines[4];
static struct sim_ck_data d;

static int setup(void **state)
{
	(void)state;
	memset(orders, 0, sizeof(orders));
	orders[0] = (struct sim_ck_order){ 10, 1, 2000, SIM_O_CONFIRMED, "k10", false };
	orders[1] = (struct sim_ck_order){ 11, 1, 500, SIM_O_REJECTED, "k11", false };
	orders[2] = (struct sim_ck_order){ 12, 2, 700, SIM_O_REJECTED, "k12", false };
	orders[3] = (struct sim_ck_order){ 3, 2, 100, SIM_O_PENDING, "old", false };   /* before the run */
	charges[0] = (struct sim_ck_charge){ 100, 10, 2000, 0, SIM_C_CAPTURED };
	charges[1] = (struct sim_ck_charge){ 101, 11, 500, 0, SIM_C_DECLINED };
	charges[2] = (struct sim_ck_charge){ 102, 12, 700, 700, SIM_C_VOIDED };
	stock[0] = (struct sim_ck_stock){ 1, 98, 0, 2, 100, true, 0, 2 };
	stock[1] = (struct sim_ck_stock){ 2, 100, 0, 0, 100, true, 0, 0 };
	items[0] = (struct sim_ck_line){ 10, 1, 2 };
	items[1] = (struct sim_ck_line){ 11, 2, 1 };
	items[2] = (struct sim_ck_line){ 12, 1, 1 };
	lines[0] = (struct sim_ck_line){ 10, 1, 2 };
	resv[0] = (struct sim_ck_resv){ 10, SIM_R_COMMITTED, "" };
	resv[1] = (struct sim_ck_resv){ 11, SIM_R_RELEASED, "" };
	resv[2] = (struct sim_ck_resv){ 12, SIM_R_RELEASED, "" };
	memset(clients, 0, sizeof(clients));
	clients[0] = (struct sim_ck_client){ "k10", SIM_CK_ACKED, 201, 10, true, true, 201 };
	clients[1] = (struct sim_ck_client){ "k11", SIM_CK_REFUSED, 402, 0, false, false, 0 };
	clients[2] = (struct sim_ck_client){ "k12", SIM_CK_UNKNOWN, 0, 0, false, false, 0 };
	clients[3] = (struct sim_ck_client){ "k13", SIM_CK_UNKNOWN, 0, 0, false, false, 0 };
	windows[0] = (struct sim_ck_window){ "payments stop 10-20 s", false, 500, 2 };
	windows[1] = (struct sim_ck_window){ "mariadb restart 30 s", true, 10, 90 };
	d = (struct sim_ck_data){ orders, 4, charges, 3, stock, 2, resv, 3, clients, 4, windows, 2, 10, true,
				  items, 3, lines, 1, 0, { 0 } };
	return 0;
}

static const struct sim_ck_inv *eval(struct sim_ck_result *r)
{
	assert_int_equal(sim_check_eval(&d, r), 0);
	return r->inv;
}

/* Exactly invariant `which` fails, and its first message contains `want`. */
static void expect_only(enum sim_inv which, const char *want)
{
	struct sim_ck_result r;
	const struct sim_ck_inv *inv = eval(&r);

	assert_false(r.ok);
	for (int i = 0; i < SIM_INV_COUNT; i++) {
		if (i == (int)which) {
			assert_true(inv[i].violations > 0);
			if (strstr(inv[i].msgs[0], want) == NULL)
				fail_msg("%s: \"%s\" lacks \"%s\"", inv[i].name, inv[i].msgs[0], want);
		} else if (inv[i].violations) {
			fail_msg("unexpected %s: %s", inv[i].name, inv[i].msgs[0]);
		}
	}
}

static void test_clean(void **state)
{
	struct sim_ck_result r;

	(void)state;
	eval(&r);
	for (int i = 0; i < SIM_INV_COUNT; i++)
		if (r.inv[i].violations)
			fail_msg("%s: %s", r.inv[i].name, r.inv[i].msgs[0]);
	assert_true(r.ok);
	assert_int_equal(r.unknown_total, 2);
	assert_int_equal(r.unknown_became_order, 1);
	assert_int_equal(r.unknown_no_order, 1);
	assert_int_equal(r.inv[SIM_INV_UNTOUCHED].checked, 1);
}

static void test_lost_acked_order(void **state)
{
	(void)state;
	clients[4] = (struct sim_ck_client){ "k14", SIM_CK_ACKED, 201, 14, false, false, 0 };
	d.nclients = 5;
	expect_only(SIM_INV_ACKED_EXIST, "order 14 (key k14) was acknowledged");
}

static void test_double_charge(void **state)
{
	(void)state;
	charges[3] = (struct sim_ck_charge){ 103, 10, 2000, 2000, SIM_C_VOIDED };
	d.ncharges = 4;
	expect_only(SIM_INV_ONE_CHARGE, "order 10 has 2 charges (ids 100, 103)");
}

static void test_captured_on_rejected(void **state)
{
	(void)state;
	charges[2].status = SIM_C_CAPTURED;
	charges[2].refunded_cents = 0;
	charges[0].amount_cents = 1300; /* keeps the money balanced: only the status rule breaks */
	{
		struct sim_ck_result r;

		eval(&r);
		assert_int_equal(r.inv[SIM_INV_MONEY].violations, 0);
		assert_non_null(strstr(r.inv[SIM_INV_CHARGE_MATCHES].msgs[0], "order 10 totals 2000 cents but charge 100 nets 1300"));
		assert_non_null(strstr(r.inv[SIM_INV_CHARGE_MATCHES].msgs[1], "order 12 is rejected but charge 102 is captured"));
	}
}

static void test_money(void **state)
{
	(void)state;
	charges[2].refunded_cents = 600;
	{
		struct sim_ck_result r;

		eval(&r);
		assert_true(r.inv[SIM_INV_MONEY].violations == 1);
		assert_non_null(strstr(r.inv[SIM_INV_MONEY].msgs[0], "difference 100"));
		assert_non_null(strstr(r.inv[SIM_INV_CHARGE_MATCHES].msgs[0], "voided charge 102 refunded 600 of 700"));
	}
}

static void test_negative_stock(void **state)
{
	(void)state;
	stock[1].available = -1;
	stock[1].sold = 101;
	stock[1].sold_lines = 101;
	expect_only(SIM_INV_STOCK_NONNEG, "product 2: available -1");
}

static void test_ledger(void **state)
{
	(void)state;
	stock[0].sold = 3;
	stock[0].sold_lines = 3;        /* the reservations agree: only the ledger is off */
	expect_only(SIM_INV_STOCK_LEDGER, "product 1: adjustments sum to 100 but available+held+sold = 101");
}

static void test_held_leftover(void **state)
{
	(void)state;
	stock[0].available = 97;
	stock[0].held = 1;
	stock[0].held_lines = 1;
	expect_only(SIM_INV_NO_HELD, "product 1 has held = 1 after the drain");
}

static void test_pending_after_drain(void **state)
{
	struct sim_ck_result r;

	(void)state;
	orders[4] = (struct sim_ck_order){ 15, 1, 100, SIM_O_PENDING, "k15", false };
	resv[3] = (struct sim_ck_resv){ 15, SIM_R_RELEASED, "" };
	d.norders = 5;
	d.nresv = 4;
	expect_only(SIM_INV_NO_PENDING, "order 15 is still pending after the drain");
	d.after_drain = false;          /* during the load, pending is fine; order 3 is out of scope */
	eval(&r);
	assert_true(r.ok);
}

static void test_unknown_two_orders(void **state)
{
	(void)state;
	orders[4] = (struct sim_ck_order){ 16, 2, 700, SIM_O_REJECTED, "k12", false };
	resv[3] = (struct sim_ck_resv){ 16, SIM_R_RELEASED, "" };
	d.norders = 5;
	d.nresv = 4;
	expect_only(SIM_INV_NO_DUPLICATES, "key k12 became 2 orders");
}

static void test_commit_iff(void **state)
{
	(void)state;
	resv[1].status = SIM_R_COMMITTED;
	expect_only(SIM_INV_COMMIT_IFF, "order 11 is rejected but its reservation is committed");
}

static void test_replay(void **state)
{
	(void)state;
	clients[0].replay_same = false;
	clients[0].replay_status = 500;
	expect_only(SIM_INV_REPLAY, "key k10: first answer 201, replay answered 500");
}

static void test_untouched(void **state)
{
	(void)state;
	windows[0].failed = 50;
	expect_only(SIM_INV_UNTOUCHED, "browse failed 50 of 550 during payments stop");
}

/*
 * An order that vanished with its items, its charge, its reservation and the reservation's
 * lines: money still balances, the ledger still adds up, nothing names the order any more.
 * Without the client's record (sim check alone) only the units the stock says were sold show it.
 */
static void test_vanished_order(void **state)
{
	(void)state;
	d.orders = orders + 1;
	d.norders = 3;
	d.charges = charges + 1;
	d.ncharges = 2;
	d.resv = resv + 1;
	d.nresv = 2;
	d.items = items + 1;
	d.nitems = 2;
	d.nlines = 0;
	d.nclients = 0;
	stock[0].sold_lines = 0;
	expect_only(SIM_INV_STOCK_RESV, "product 1: sold 2 but committed reservations account for 0");
}

static void test_held_units(void **state)
{
	(void)state;
	stock[1].held_lines = 3;
	expect_only(SIM_INV_STOCK_RESV, "product 2: held 0 but held reservations account for 3");
}

/* The orders database says order 10 bought more than its reservation sold. */
static void test_sold_matches_order(void **state)
{
	struct sim_ck_result r;

	(void)state;
	items[0].quantity = 3;
	expect_only(SIM_INV_SOLD_ORDERS, "order 10 ordered 3 of product 1 but its reservation sold 2");
	items[0].quantity = 2;
	lines[1] = (struct sim_ck_line){ 10, 2, 1 };     /* sold a product it never ordered */
	d.nlines = 2;
	expect_only(SIM_INV_SOLD_ORDERS, "order 10 ordered 0 of product 2 but its reservation sold 1");
	d.nlines = 1;
	d.nitems = 0;                                   /* lost its items */
	eval(&r);
	assert_int_equal(r.inv[SIM_INV_SOLD_ORDERS].violations, 1);
	assert_non_null(strstr(r.inv[SIM_INV_SOLD_ORDERS].msgs[0], "order 10 ordered 0 of product 1"));
}

/* Statuses the checker does not know yet (a reservation that expired, an order that shipped). */
static void test_statuses(void **state)
{
	struct sim_ck_result r;

	(void)state;
	assert_int_equal(sim_check_resv_status("held"), SIM_R_HELD);
	assert_int_equal(sim_check_resv_status("committed"), SIM_R_COMMITTED);
	assert_int_equal(sim_check_resv_status("released"), SIM_R_RELEASED);
	assert_int_equal(sim_check_resv_status("expired"), SIM_R_RELEASED);
	assert_int_equal(sim_check_resv_status(""), SIM_R_RELEASED);
	assert_int_equal(sim_check_order_status("pending"), SIM_O_PENDING);
	assert_int_equal(sim_check_order_status("confirmed"), SIM_O_CONFIRMED);
	assert_int_equal(sim_check_order_status("shipped"), SIM_O_CONFIRMED);
	assert_int_equal(sim_check_order_status("rejected"), SIM_O_REJECTED);
	assert_int_equal(sim_check_order_status("on_hold"), SIM_O_PENDING);
	/* an expired hold holds nothing and sold nothing: a clean world stays clean */
	resv[1] = (struct sim_ck_resv){ 11, sim_check_resv_status("expired"), "expired" };
	eval(&r);
	assert_true(r.ok);
	/* ... and a confirmed order whose reservation expired is named with that status */
	resv[0] = (struct sim_ck_resv){ 10, sim_check_resv_status("expired"), "expired" };
	d.nlines = 0;
	stock[0].sold_lines = 0;
	stock[0].sold = 0;
	stock[0].available = 100;
	expect_only(SIM_INV_COMMIT_IFF, "order 10 is confirmed but its reservation is expired");
}

/* Ids a test made up calling payments or inventory directly lie above max_order_id. */
static void test_max_order_id(void **state)
{
	struct sim_ck_result r;

	(void)state;
	charges[3] = (struct sim_ck_charge){ 103, 1000000000000001LL, 500, 0, SIM_C_CAPTURED };
	resv[3] = (struct sim_ck_resv){ 1000000000000001LL, SIM_R_COMMITTED, "" };
	lines[1] = (struct sim_ck_line){ 1000000000000001LL, 2, 1 };
	d.ncharges = 4;
	d.nresv = 4;
	d.nlines = 2;
	eval(&r);
	assert_false(r.ok);
	assert_true(r.inv[SIM_INV_ONE_CHARGE].violations == 1);
	assert_true(r.inv[SIM_INV_COMMIT_IFF].violations == 1);
	d.max_order_id = 12;
	eval(&r);
	assert_true(r.ok);
}

/* ---- events ------------------------------------------------------------------------- */

static struct sim_ck_shipment ships[4];
static struct sim_ck_dead deads[2];

/* The little world with its events read: order 10 shipped, its shipment dispatched, every
 * outbox empty, no dead letter. */
static int setup_events(void **state)
{
	setup(state);
	orders[0].shipped = true;
	ships[0] = (struct sim_ck_shipment){ 500, 10, 1, true };
	memset(&d.ev, 0, sizeof(d.ev));
	d.ev.read = true;
	d.ev.shipments = ships;
	d.ev.nshipments = 1;
	d.ev.noutboxes = 2;
	snprintf(d.ev.outboxes[0].service, sizeof(d.ev.outboxes[0].service), "orders");
	snprintf(d.ev.outboxes[1].service, sizeof(d.ev.outboxes[1].service), "shipping");
	d.ev.nconsumers = 2;
	return 0;
}

static void test_events_not_read(void **state)
{
	struct sim_ck_result r;

	(void)state;
	eval(&r);
	assert_true(r.ok);
	for (int i = SIM_INV_SHIP_ONE; i <= SIM_INV_DEAD; i++) {
		assert_int_equal(r.inv[i].checked, 0);
		assert_non_null(strstr(r.inv[i].na, "not read"));
	}
	/* The reader says why it read nothing. */
	snprintf(d.ev.na_events, sizeof(d.ev.na_events), "SHOPLAB_SERVICES is not set");
	eval(&r);
	assert_true(r.ok);
	assert_string_equal(r.inv[SIM_INV_DEAD].na, "SHOPLAB_SERVICES is not set");
	d.ev.na_events[0] = '\0';
}

static void test_events_clean(void **state)
{
	struct sim_ck_result r;

	(void)state;
	eval(&r);
	for (int i = 0; i < SIM_INV_COUNT; i++) {
		if (r.inv[i].violations)
			fail_msg("%s: %s", r.inv[i].name, r.inv[i].msgs[0]);
		if (i >= SIM_INV_SHIP_ONE && r.inv[i].na[0])
			fail_msg("%s is not applicable: %s", r.inv[i].name, r.inv[i].na);
	}
	assert_true(r.ok);
	assert_int_equal(r.inv[SIM_INV_SHIP_ONE].checked, 1);
	assert_int_equal(r.inv[SIM_INV_SHIP_ORDER].checked, 1);
	assert_int_equal(r.inv[SIM_INV_OUTBOX].checked, 2);
}

static void test_shipment_missing(void **state)
{
	struct sim_ck_result r;

	(void)state;
	d.ev.nshipments = 0;
	orders[0].shipped = false;
	eval(&r);
	assert_false(r.ok);
	assert_non_null(strstr(r.inv[SIM_INV_SHIP_ONE].msgs[0], "order 10 is confirmed but has no shipment"));
	assert_non_null(strstr(r.inv[SIM_INV_SHIPPED].msgs[0], "order 10 is still confirmed, not shipped, after the drain (its shipment: none)"));
	/* During load a shipment may still be on its way. */
	d.after_drain = false;
	eval(&r);
	assert_int_equal(r.inv[SIM_INV_SHIP_ONE].violations, 0);
	assert_int_equal(r.inv[SIM_INV_SHIPPED].violations, 0);
}

static void test_shipped_not_dispatched(void **state)
{
	(void)state;
	ships[0].dispatched = false;
	expect_only(SIM_INV_SHIPPED, "order 10 is shipped but its shipment is not dispatched");
}

static void test_shipment_for_rejected(void **state)
{
	(void)state;
	ships[1] = (struct sim_ck_shipment){ 501, 11, 1, false };
	d.ev.nshipments = 2;
	expect_only(SIM_INV_SHIP_ORDER, "shipment 501 is for order 11, which is rejected");
}

static void test_shipment_of_another_user(void **state)
{
	(void)state;
	ships[0].user_id = 2;
	expect_only(SIM_INV_SHIP_ORDER, "shipment 500 is for user 2 but order 10 is user 1's");
}

static void test_two_shipments(void **state)
{
	(void)state;
	ships[1] = (struct sim_ck_shipment){ 502, 10, 1, true };
	d.ev.nshipments = 2;
	expect_only(SIM_INV_APPLIED_ONCE, "order 10 has 2 shipments (ids 500, 502)");
}

static void test_outbox_left(void **state)
{
	struct sim_ck_result r;

	(void)state;
	d.ev.outboxes[1].depth = 3;
	d.ev.outboxes[1].oldest_s = 12.5;
	expect_only(SIM_INV_OUTBOX, "shipping: 3 events still in the outbox, the oldest 12.5 s old");
	d.after_drain = false;
	eval(&r);
	assert_true(r.ok);
}

static void test_dead_letter_named(void **state)
{
	(void)state;
	deads[0] = (struct sim_ck_dead){ "shipping", "m-1", "order.confirmed", "poison", 5, "2026-12-01 03:00:00", false };
	d.ev.dead = deads;
	d.ev.ndead = 1;
	expect_only(SIM_INV_DEAD, "shipping: dead letter m-1 (order.confirmed) after 5 attempts at 2026-12-01 03:00:00: poison");
}

static void test_applied_and_dead(void **state)
{
	struct sim_ck_result r;

	(void)state;
	deads[0] = (struct sim_ck_dead){ "orders", "m-2", "shipment.dispatched", "x", 1, "t", true };
	deads[1] = (struct sim_ck_dead){ "orders", "m-2", "shipment.dispatched", "x", 1, "t", false };
	d.ev.dead = deads;
	d.ev.ndead = 2;
	eval(&r);
	assert_non_null(strstr(r.inv[SIM_INV_APPLIED_ONCE].msgs[0], "orders: message m-2 (shipment.dispatched) was applied (inbox) and dead-lettered both"));
	assert_int_equal(r.inv[SIM_INV_DEAD].violations, 1);
}

static void test_no_shipping_not_applicable(void **state)
{
	struct sim_ck_result r;

	(void)state;
	d.ev.nshipments = 0;
	snprintf(d.ev.na_shipping, sizeof(d.ev.na_shipping), "no shipping database here (an older stack)");
	eval(&r);
	assert_true(r.ok);
	for (int i = SIM_INV_SHIP_ONE; i <= SIM_INV_SHIPPED; i++) {
		assert_non_null(strstr(r.inv[i].na, "an older stack"));
		assert_int_equal(r.inv[i].checked, 0);
	}
	assert_int_equal(r.inv[SIM_INV_OUTBOX].na[0], '\0');
	assert_int_equal(r.inv[SIM_INV_OUTBOX].checked, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_clean, setup),
		cmocka_unit_test_setup(test_lost_acked_order, setup),
		cmocka_unit_test_setup(test_double_charge, setup),
		cmocka_unit_test_setup(test_captured_on_rejected, setup),
		cmocka_unit_test_setup(test_money, setup),
		cmocka_unit_test_setup(test_negative_stock, setup),
		cmocka_unit_test_setup(test_ledger, setup),
		cmocka_unit_test_setup(test_held_leftover, setup),
		cmocka_unit_test_setup(test_pending_after_drain, setup),
		cmocka_unit_test_setup(test_unknown_two_orders, setup),
		cmocka_unit_test_setup(test_commit_iff, setup),
		cmocka_unit_test_setup(test_replay, setup),
		cmocka_unit_test_setup(test_untouched, setup),
		cmocka_unit_test_setup(test_vanished_order, setup),
		cmocka_unit_test_setup(test_held_units, setup),
		cmocka_unit_test_setup(test_sold_matches_order, setup),
		cmocka_unit_test_setup(test_statuses, setup),
		cmocka_unit_test_setup(test_max_order_id, setup),
		cmocka_unit_test_setup(test_events_not_read, setup),
		cmocka_unit_test_setup(test_events_clean, setup_events),
		cmocka_unit_test_setup(test_shipment_missing, setup_events),
		cmocka_unit_test_setup(test_shipped_not_dispatched, setup_events),
		cmocka_unit_test_setup(test_shipment_for_rejected, setup_events),
		cmocka_unit_test_setup(test_shipment_of_another_user, setup_events),
		cmocka_unit_test_setup(test_two_shipments, setup_events),
		cmocka_unit_test_setup(test_outbox_left, setup_events),
		cmocka_unit_test_setup(test_dead_letter_named, setup_events),
		cmocka_unit_test_setup(test_applied_and_dead, setup_events),
		cmocka_unit_test_setup(test_no_shipping_not_applicable, setup_events),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
