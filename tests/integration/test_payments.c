/* test_payments.c - payments on the internal gateway: charges, declines, replays, voids, races */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mysql.h>

#include "itest.h"

#define CARD_OK		"4242 4242 4242 4242"
#define CARD_DECLINED	"4000000000000002"
#define CARD_NO_FUNDS	"4000000000009995"

/* Order ids of this run: unique across runs against one database. */
static int64_t
next_order(void)
{
	static int64_t base, n;

	if (base == 0)
		base = ((int64_t)time(NULL) << 20) | ((int64_t)(getpid() & 0xfff) << 8);
	return base + n++;
}

static const char *const *
token(void)
{
	static char		 line[512];
	static const char	*hdrs[2] = { line, NULL };

	if (line[0] == '\0')
		snprintf(line, sizeof(line), "X-Service-Token: %s", it_env("SHOPLAB_SERVICE_TOKEN"));
	return hdrs;
}

static void
charge_body(char *out, size_t outlen, int64_t order, int64_t amount, const char *number,
    int month, int year, const char *cvc)
{
	snprintf(out, outlen, "{\"order_id\":%lld,\"amount_cents\":%lld,\"currency\":\"EUR\","
	    "\"card\":{\"number\":\"%s\",\"exp_month\":%d,\"exp_year\":%d,\"cvc\":\"%s\"}}",
	    (long long)order, (long long)amount, number, month, year, cvc);
}

static void
post(const char *path, const char *body, struct it_resp *r)
{
	assert_int_equal(it_request("POST", it_internal(), path, token(), body, r), 0);
}

static void
charge(int64_t order, int64_t amount, const char *number, struct it_resp *r)
{
	char body[512];

	charge_body(body, sizeof(body), order, amount, number, 12, 2099, "123");
	post("/internal/payments/charges", body, r);
}

static void
void_order(int64_t order, struct it_resp *r)
{
	char path[128];

	snprintf(path, sizeof(path), "/internal/payments/charges/%lld/void", (long long)order);
	post(path, "", r);
}

/* A connection to the payments database as its service user. */
static MYSQL *
db_open(void)
{
	MYSQL *db = it_db("payments");

	assert_non_null(db);
	return db;
}

static long long
db_count(MYSQL *db, int64_t order)
{
	char		 q[128];
	MYSQL_RES	*res;
	MYSQL_ROW	 row;
	long long	 n;

	snprintf(q, sizeof(q), "SELECT COUNT(*) FROM charges WHERE order_id = %lld",
	    (long long)order);
	assert_int_equal(mysql_query(db, q), 0);
	assert_non_null(res = mysql_store_result(db));
	assert_non_null(row = mysql_fetch_row(res));
	n = atoll(row[0]);
	mysql_free_result(res);
	return n;
}

static void
test_token_required(void **state)
{
	struct it_resp	r;
	char		body[512];

	(void)state;
	charge_body(body, sizeof(body), next_order(), 100, CARD_OK, 12, 2099, "123");
	it_expect_token_required("/internal/payments/charges", body,
	    "/internal/payments/charges/1");
	/* Not on the public listener at all. */
	assert_int_equal(it_request("POST", it_gateway(), "/internal/payments/charges", token(),
	    body, &r), 0);
	assert_true(r.status == 404 || r.status == 401);
	it_resp_free(&r);
}

static void
test_capture_and_replay(void **state)
{
	struct it_resp	r;
	int64_t		order = next_order(), id;
	char		path[128];

	(void)state;
	charge(order, 1999, CARD_OK, &r);
	it_assert_status(&r, 201);
	id = it_int(&r, "id");
	assert_true(id > 0);
	assert_int_equal(it_int(&r, "order_id"), order);
	assert_string_equal(it_str(&r, "status"), "captured");
	assert_int_equal(it_int(&r, "amount_cents"), 1999);
	assert_string_equal(it_str(&r, "currency"), "EUR");
	assert_string_equal(it_str(&r, "last4"), "4242");
	it_resp_free(&r);

	/* The same request again: the stored charge, 200, same id. */
	charge(order, 1999, CARD_OK, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(it_int(&r, "id"), id);
	assert_string_equal(it_str(&r, "status"), "captured");
	assert_int_equal(it_int(&r, "amount_cents"), 1999);
	assert_string_equal(it_str(&r, "last4"), "4242");
	it_resp_free(&r);

	/* Another amount for the same order is a conflict, never a second charge. */
	charge(order, 2000, CARD_OK, &r);
	it_refused(&r, 409, "charge_mismatch");

	snprintf(path, sizeof(path), "/internal/payments/charges/%lld", (long long)order);
	assert_int_equal(it_request("GET", it_internal(), path, token(), NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(it_int(&r, "id"), id);
	assert_string_equal(it_str(&r, "status"), "captured");
	it_resp_free(&r);

	snprintf(path, sizeof(path), "/internal/payments/charges/%lld", (long long)next_order());
	it_expect("GET", it_internal(), path, token(), NULL, 404, "not_found");
	it_expect("GET", it_internal(), "/internal/payments/charges/abc", token(), NULL, 404,
	    "not_found");
}

static void
test_declines_are_stored(void **state)
{
	static const struct { const char *number, *code; } cards[] = {
		{ CARD_DECLINED, "payment_declined" },
		{ CARD_NO_FUNDS, "insufficient_funds" },
	};
	struct it_resp	r;
	size_t		i;
	int		k;

	(void)state;
	for (i = 0; i < sizeof(cards) / sizeof(cards[0]); i++) {
		int64_t order = next_order();

		for (k = 0; k < 2; k++) {
			charge(order, 500, cards[i].number, &r);
			it_assert_error(&r, 402, cards[i].code);
			it_resp_free(&r);
		}
		/* Even a good card later gets the stored answer. */
		charge(order, 500, CARD_OK, &r);
		it_assert_error(&r, 402, cards[i].code);
		it_resp_free(&r);
	}
}

static void
test_bad_input(void **state)
{
	static const struct { const char *body, *field; } bad[] = {
		{ "{\"order_id\":%lld,\"amount_cents\":100,\"currency\":\"EUR\",\"card\":{"
		  "\"number\":\"4242424242424241\",\"exp_month\":12,\"exp_year\":2099,\"cvc\":\"123\"}}",
		  "card.number" },
		{ "{\"order_id\":%lld,\"amount_cents\":100,\"currency\":\"EUR\",\"card\":{"
		  "\"number\":\"4242424242424242\",\"exp_month\":13,\"exp_year\":2099,\"cvc\":\"123\"}}",
		  "card.exp_month" },
		{ "{\"order_id\":%lld,\"amount_cents\":100,\"currency\":\"EUR\",\"card\":{"
		  "\"number\":\"4242424242424242\",\"exp_month\":0,\"exp_year\":2099,\"cvc\":\"123\"}}",
		  "card.exp_month" },
		{ "{\"order_id\":%lld,\"amount_cents\":100,\"currency\":\"EUR\",\"card\":{"
		  "\"number\":\"42424242424242424242\",\"exp_month\":1,\"exp_year\":2099,\"cvc\":\"123\"}}",
		  "card.number" },
		{ "{\"order_id\":%lld,\"amount_cents\":100,\"currency\":\"EUR\",\"card\":{"
		  "\"number\":\"4242-4242-4242-4242\",\"exp_month\":1,\"exp_year\":2099,\"cvc\":\"123\"}}",
		  "card.number" },
		{ "{\"order_id\":%lld,\"amount_cents\":100,\"currency\":\"EUR\",\"card\":{"
		  "\"number\":4242424242424242,\"exp_month\":1,\"exp_year\":2099,\"cvc\":\"123\"}}",
		  "card.number" },
		{ "{\"order_id\":%lld,\"amount_cents\":100,\"currency\":\"EUR\",\"card\":{"
		  "\"number\":\"4242424242424242\",\"exp_month\":1,\"exp_year\":2099,\"cvc\":\"12a\"}}",
		  "card.cvc" },
		{ "{\"order_id\":%lld,\"amount_cents\":100,\"currency\":\"EUR\",\"card\":{"
		  "\"number\":\"4242424242424242\",\"exp_month\":1,\"exp_year\":2101,\"cvc\":\"123\"}}",
		  "card.exp_year" },
		{ "{\"order_id\":%lld,\"amount_cents\":100,\"currency\":\"EUR\",\"card\":{"
		  "\"number\":\"4242424242424242\",\"exp_month\":1,\"exp_year\":2099}}",
		  "card.cvc" },
		{ "{\"order_id\":%lld,\"amount_cents\":100,\"currency\":\"EUR\"}", "card" },
		{ "{\"order_id\":%lld,\"amount_cents\":100,\"currency\":\"EUR\",\"card\":[]}", "card" },
		{ "{\"order_id\":%lld,\"amount_cents\":0,\"currency\":\"EUR\",\"card\":{}}",
		  "amount_cents" },
		{ "{\"order_id\":%lld,\"amount_cents\":100000000001,\"currency\":\"EUR\",\"card\":{}}",
		  "amount_cents" },
		{ "{\"order_id\":%lld,\"amount_cents\":100,\"currency\":\"eur\",\"card\":{"
		  "\"number\":\"4242424242424242\",\"exp_month\":1,\"exp_year\":2099,\"cvc\":\"123\"}}",
		  "currency" },
		{ "{\"order_id\":-%lld,\"amount_cents\":100,\"currency\":\"EUR\",\"card\":{}}",
		  "order_id" },
	};
	struct it_resp	r;
	char		body[512];
	size_t		i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(body, sizeof(body), bad[i].body, (long long)next_order());
		post("/internal/payments/charges", body, &r);
		if (r.status != 400)
			fprintf(stderr, "case %zu: %s -> %ld %s\n", i, body, r.status, r.body);
		it_assert_error(&r, 400, "validation_failed");
		assert_string_equal(it_str(&r, "error.field"), bad[i].field);
		/* The card number is never echoed back. */
		assert_null(strstr(r.body, "424242424242"));
		it_resp_free(&r);
	}
	post("/internal/payments/charges", "{\"order_id\":", &r);
	it_refused(&r, 400, "invalid_json");
}

static void
test_expired_card(void **state)
{
	struct it_resp	r;
	char		body[512];
	int64_t		order = next_order();

	(void)state;
	charge_body(body, sizeof(body), order, 100, CARD_OK, 1, 2020, "1234");
	post("/internal/payments/charges", body, &r);
	it_refused(&r, 402, "card_expired");
	post("/internal/payments/charges", body, &r);
	it_refused(&r, 402, "card_expired");
}

static void
test_void(void **state)
{
	struct it_resp	r;
	int64_t		order = next_order(), declined = next_order();
	int		k;

	(void)state;
	charge(order, 700, CARD_OK, &r);
	assert_int_equal(r.status, 201);
	it_resp_free(&r);
	for (k = 0; k < 2; k++) {
		void_order(order, &r);
		assert_int_equal(r.status, 200);
		assert_int_equal(it_int(&r, "order_id"), order);
		assert_string_equal(it_str(&r, "status"), "voided");
		assert_int_equal(it_int(&r, "refunded_cents"), 700);
		it_resp_free(&r);
	}
	/* A voided charge is not charged again. */
	charge(order, 700, CARD_OK, &r);
	it_refused(&r, 409, "charge_voided");

	/* A declined charge has nothing to give back. */
	charge(declined, 700, CARD_DECLINED, &r);
	it_refused(&r, 402, "payment_declined");
	void_order(declined, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(it_str(&r, "status"), "declined");
	it_resp_free(&r);
}

/* The saga's compensation of an unknown outcome: a void first, then the late charge. */
static void
test_void_before_charge(void **state)
{
	struct it_resp	r;
	int64_t		order = next_order();
	MYSQL		*db;

	(void)state;
	void_order(order, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(it_str(&r, "status"), "voided");
	assert_int_equal(it_int(&r, "refunded_cents"), 0);
	it_resp_free(&r);
	void_order(order, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(it_str(&r, "status"), "voided");
	it_resp_free(&r);
	charge(order, 900, CARD_OK, &r);
	it_refused(&r, 409, "charge_voided");
	db = db_open();
	assert_int_equal(db_count(db, order), 1);
	mysql_close(db);
}

struct racer {
	int64_t	order;
	long	status;
	int64_t	id;
};

static void *
race_one(void *arg)
{
	struct racer	*x = arg;
	struct it_resp	 r;
	char		 body[512];

	charge_body(body, sizeof(body), x->order, 4321, CARD_OK, 12, 2099, "123");
	if (it_request("POST", it_internal(), "/internal/payments/charges", token(), body,
	    &r) == 0) {
		x->status = r.status;
		x->id = it_int(&r, "id");
	}
	it_resp_free(&r);
	return NULL;
}

static void
test_concurrent_duplicates(void **state)
{
	struct racer	x[20];
	int64_t		order = next_order();
	int		i, created = 0;
	MYSQL		*db;

	(void)state;
	for (i = 0; i < (int)IT_N(x); i++) {
		x[i].order = order;
		x[i].status = 0;
		x[i].id = 0;
	}
	it_parallel(race_one, x, IT_N(x), sizeof(x[0]));
	for (i = 0; i < (int)IT_N(x); i++) {
		if (x[i].status != 200 && x[i].status != 201)
			fprintf(stderr, "racer %d: %ld\n", i, x[i].status);
		assert_true(x[i].status == 200 || x[i].status == 201);
		created += x[i].status == 201;
		assert_true(x[i].id > 0);
		assert_int_equal(x[i].id, x[0].id);
	}
	assert_int_equal(created, 1);
	db = db_open();
	assert_int_equal(db_count(db, order), 1);
	mysql_close(db);
}

/* Only the last four digits reach the table: no column holds the number. */
static void
test_stores_last4_only(void **state)
{
	struct it_resp	 r;
	int64_t		 order = next_order();
	char		 q[128];
	MYSQL		*db;
	MYSQL_RES	*res;
	MYSQL_ROW	 row;
	MYSQL_FIELD	*f;
	unsigned	 i, n;
	int		 saw_last4 = 0;

	(void)state;
	charge(order, 1234, "5555 5555 5555 4444", &r);
	assert_int_equal(r.status, 201);
	assert_string_equal(it_str(&r, "last4"), "4444");
	assert_null(strstr(r.body, "5555555555"));
	it_resp_free(&r);

	db = db_open();
	snprintf(q, sizeof(q), "SELECT * FROM charges WHERE order_id = %lld", (long long)order);
	assert_int_equal(mysql_query(db, q), 0);
	assert_non_null(res = mysql_store_result(db));
	assert_int_equal(mysql_num_rows(res), 1);
	assert_non_null(row = mysql_fetch_row(res));
	n = mysql_num_fields(res);
	f = mysql_fetch_fields(res);
	for (i = 0; i < n; i++) {
		if (row[i] == NULL)
			continue;
		assert_null(strstr(row[i], "5555555555554444"));
		assert_null(strstr(row[i], "555555555555"));
		assert_null(strstr(row[i], "5555 5555"));
		if (strcmp(f[i].name, "last4") == 0) {
			assert_string_equal(row[i], "4444");
			saw_last4 = 1;
		}
		if (strcmp(f[i].name, "status") == 0)
			assert_string_equal(row[i], "captured");
	}
	assert_true(saw_last4);
	mysql_free_result(res);
	mysql_close(db);
}

IT_MAIN("integration/payments", NULL, NULL,
    cmocka_unit_test(test_token_required),
    cmocka_unit_test(test_capture_and_replay),
    cmocka_unit_test(test_declines_are_stored),
    cmocka_unit_test(test_bad_input),
    cmocka_unit_test(test_expired_card),
    cmocka_unit_test(test_void),
    cmocka_unit_test(test_void_before_charge),
    cmocka_unit_test(test_concurrent_duplicates),
    cmocka_unit_test(test_stores_last4_only))
