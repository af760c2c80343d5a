/* test_orders.c - checkout through the real gateway, faults included, invariants read from the databases */
#include <sys/types.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mysql.h>

#include "itest.h"

#define CARD_OK		"4242424242424242"
#define CARD_DECLINED	"4000000000000002"
#define CARD_NOFUNDS	"4000000000009995"

static char	 auth_a[2048], auth_b[2048], auth_admin[2048];
static const char *hdr_a[4], *hdr_b[4];
static long	 run_id;

/* Headers for user a or b with an Idempotency-Key line (static buffers per slot). */
static const char *const *
headers(const char *auth, const char *key, char keyline[96])
{
	static _Thread_local const char *h[3];

	snprintf(keyline, 96, "Idempotency-Key: %s", key);
	h[0] = auth;
	h[1] = key ? keyline : NULL;
	h[2] = NULL;
	return h;
}

static void
order_body(char *out, size_t outlen, int64_t product, int qty, const char *card)
{
	snprintf(out, outlen, "{\"items\":[{\"product_id\":%lld,\"quantity\":%d}],\"card\":"
	    "{\"number\":\"%s\",\"exp_month\":12,\"exp_year\":2031,\"cvc\":\"123\"}}",
	    (long long)product, qty, card);
}

/* Sets a product's stock through the admin API. */
static void
set_stock(int64_t product, int64_t available)
{
	const char	*h[2] = { auth_admin, NULL };
	char		 path[64], body[64];
	struct it_resp	 r;

	snprintf(path, sizeof(path), "/api/v1/inventory/%lld", (long long)product);
	snprintf(body, sizeof(body), "{\"available\":%lld}", (long long)available);
	assert_int_equal(it_request("PUT", it_gateway(), path, h, body, &r), 0);
	if (r.status != 200)
		fprintf(stderr, "set_stock: %ld %s\n", r.status, r.body);
	assert_int_equal(r.status, 200);
	it_resp_free(&r);
}

static int64_t
stock_of(int64_t product)
{
	char		path[64];
	struct it_resp	r;
	int64_t		v;

	snprintf(path, sizeof(path), "/api/v1/inventory/%lld", (long long)product);
	assert_int_equal(it_request("GET", it_gateway(), path, NULL, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	v = it_int(&r, "available");
	it_resp_free(&r);
	return v;
}

/* Polls the order until it leaves pending; returns its final status (static). */
static const char *
wait_terminal(const char *auth, int64_t id, int seconds)
{
	static char	 status[16];
	const char	*h[2] = { auth, NULL };
	char		 path[64];
	struct it_resp	 r;
	int		 i;

	snprintf(path, sizeof(path), "/api/v1/orders/%lld", (long long)id);
	for (i = 0; i < seconds * 10; i++) {
		assert_int_equal(it_request("GET", it_gateway(), path, h, NULL, &r), 0);
		assert_int_equal(r.status, 200);
		snprintf(status, sizeof(status), "%s", it_str(&r, "status"));
		it_resp_free(&r);
		if (strcmp(status, "pending") != 0)
			return status;
		usleep(100000);
	}
	return status;
}

static int
setup(void **state)
{
	char email[128];

	(void)state;
	run_id = (long)time(NULL) * 100 + getpid() % 100;
	snprintf(email, sizeof(email), "buyer-a-%ld@example.com", run_id);
	assert_non_null(it_login(email, "password-a", auth_a, sizeof(auth_a)));
	snprintf(email, sizeof(email), "buyer-b-%ld@example.com", run_id);
	assert_non_null(it_login(email, "password-b", auth_b, sizeof(auth_b)));
	assert_non_null(it_login(it_env("SHOPLAB_ADMIN_EMAIL"), it_env("SHOPLAB_ADMIN_PASSWORD"),
	    auth_admin, sizeof(auth_admin)));
	hdr_a[0] = auth_a;
	hdr_b[0] = auth_b;
	return 0;
}

static void
test_happy_path(void **state)
{
	char		 body[512], key[64], kl[96];
	struct it_resp	 r;
	int64_t		 before;

	(void)state;
	set_stock(101, 20);
	before = stock_of(101);
	order_body(body, sizeof(body), 101, 3, CARD_OK);
	snprintf(key, sizeof(key), "happy-%ld", run_id);
	assert_int_equal(it_request("POST", it_gateway(), "/api/v1/orders",
	    headers(auth_a, key, kl), body, &r), 0);
	if (r.status != 201)
		fprintf(stderr, "happy: %ld %s\n", r.status, r.body);
	assert_int_equal(r.status, 201);
	assert_string_equal(it_str(&r, "status"), "confirmed");
	assert_true(it_int(&r, "id") > 0);
	assert_true(it_int(&r, "total_cents") > 0);
	it_resp_free(&r);
	assert_int_equal(stock_of(101), before - 3);
	it_check_invariants();
}

static void
test_needs_key_and_identity(void **state)
{
	char		body[512], kl[96];
	struct it_resp	r;

	(void)state;
	order_body(body, sizeof(body), 101, 1, CARD_OK);
	assert_int_equal(it_request("POST", it_gateway(), "/api/v1/orders", hdr_a, body, &r), 0);
	it_assert_error(&r, 400, "validation_failed");
	assert_string_equal(it_str(&r, "error.field"), "Idempotency-Key");
	it_resp_free(&r);
	assert_int_equal(it_request("POST", it_gateway(), "/api/v1/orders",
	    headers(auth_a, "has space", kl), body, &r), 0);
	it_assert_error(&r, 400, "validation_failed");
	it_resp_free(&r);
	assert_int_equal(it_request("POST", it_gateway(), "/api/v1/orders",
	    headers("X-User-Id: 1", "no-token", kl), body, &r), 0);
	it_assert_error(&r, 401, "unauthorized");
	it_resp_free(&r);
}

static void
test_bad_bodies(void **state)
{
	static const char *const bad[] = {
		"{}", "{\"items\":[]}", "{\"items\":{}}",
		"{\"items\":[{\"product_id\":1,\"quantity\":0}],\"card\":{}}",
		"{\"items\":[{\"product_id\":1,\"quantity\":1},{\"product_id\":1,\"quantity\":1}]}",
		"{\"items\":[{\"product_id\":\"1\",\"quantity\":1}]}",
		"{\"items\":[{\"product_id\":1,\"quantity\":1}]}",
		"{\"items\":[{\"product_id\":1,\"quantity\":1}],\"card\":{\"number\":\"4242\"}}",
		"{\"items\":[{\"product_id\":99999999,\"quantity\":1}],\"card\":{\"number\":"
		    "\"4242424242424242\",\"exp_month\":1,\"exp_year\":2030,\"cvc\":\"123\"}}",
	};
	char		key[64], kl[96];
	struct it_resp	r;
	size_t		i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(key, sizeof(key), "bad-%ld-%zu", run_id, i);
		assert_int_equal(it_request("POST", it_gateway(), "/api/v1/orders",
		    headers(auth_a, key, kl), bad[i], &r), 0);
		it_assert_error(&r, 400, "validation_failed");
		it_resp_free(&r);
	}
}

static void
test_out_of_stock(void **state)
{
	char		body[512], key[64], kl[96];
	struct it_resp	r;

	(void)state;
	set_stock(102, 2);
	order_body(body, sizeof(body), 102, 3, CARD_OK);
	snprintf(key, sizeof(key), "oos-%ld", run_id);
	assert_int_equal(it_request("POST", it_gateway(), "/api/v1/orders",
	    headers(auth_a, key, kl), body, &r), 0);
	it_assert_error(&r, 409, "out_of_stock");
	it_resp_free(&r);
	assert_int_equal(stock_of(102), 2);
	it_check_invariants();
}

static void
test_declined_and_insufficient(void **state)
{
	const char	*cards[] = { CARD_DECLINED, CARD_NOFUNDS };
	char		 body[512], key[64], kl[96];
	struct it_resp	 r;
	size_t		 i;

	(void)state;
	set_stock(103, 10);
	for (i = 0; i < 2; i++) {
		order_body(body, sizeof(body), 103, 1, cards[i]);
		snprintf(key, sizeof(key), "declined-%ld-%zu", run_id, i);
		assert_int_equal(it_request("POST", it_gateway(), "/api/v1/orders",
		    headers(auth_a, key, kl), body, &r), 0);
		it_assert_error(&r, 402, "payment_declined");
		assert_string_equal(it_str(&r, "error.order.status"), "rejected");
		it_resp_free(&r);
	}
	/* The reservations were released. */
	assert_int_equal(stock_of(103), 10);
	it_check_invariants();
}

static void
test_idempotent_replay_and_reuse(void **state)
{
	char		 body[512], body2[512], key[64], kl[96], loc[128];
	struct it_resp	 r1, r2;

	(void)state;
	set_stock(104, 10);
	order_body(body, sizeof(body), 104, 1, CARD_OK);
	snprintf(key, sizeof(key), "replay-%ld", run_id);
	assert_int_equal(it_request("POST", it_gateway(), "/api/v1/orders",
	    headers(auth_a, key, kl), body, &r1), 0);
	assert_int_equal(r1.status, 201);
	assert_int_equal(it_request("POST", it_gateway(), "/api/v1/orders",
	    headers(auth_a, key, kl), body, &r2), 0);
	assert_int_equal(r2.status, r1.status);
	assert_string_equal(r2.body, r1.body);
	assert_true(it_header(&r2, "Idempotent-Replayed", loc, sizeof(loc)));
	it_resp_free(&r2);
	/* Only one unit was taken. */
	assert_int_equal(stock_of(104), 9);
	/* The same key with another body is refused. */
	order_body(body2, sizeof(body2), 104, 2, CARD_OK);
	assert_int_equal(it_request("POST", it_gateway(), "/api/v1/orders",
	    headers(auth_a, key, kl), body2, &r2), 0);
	it_assert_error(&r2, 409, "idempotency_key_reused");
	it_resp_free(&r2);
	/* Another user may use the same key: keys are per user. */
	assert_int_equal(it_request("POST", it_gateway(), "/api/v1/orders",
	    headers(auth_b, key, kl), body, &r2), 0);
	assert_int_equal(r2.status, 201);
	assert_int_not_equal(it_int(&r2, "id"), it_int(&r1, "id"));
	it_resp_free(&r2);
	it_resp_free(&r1);
	it_check_invariants();
}

static void
test_owner_only(void **state)
{
	char		 body[512], key[64], kl[96], path[64];
	const char	*hb[2] = { auth_b, NULL }, *ha[2] = { auth_a, NULL };
	struct it_resp	 r;
	int64_t		 id;

	(void)state;
	set_stock(105, 5);
	order_body(body, sizeof(body), 105, 1, CARD_OK);
	snprintf(key, sizeof(key), "owner-%ld", run_id);
	assert_int_equal(it_request("POST", it_gateway(), "/api/v1/orders",
	    headers(auth_a, key, kl), body, &r), 0);
	assert_int_equal(r.status, 201);
	id = it_int(&r, "id");
	it_resp_free(&r);
	snprintf(path, sizeof(path), "/api/v1/orders/%lld", (long long)id);
	assert_int_equal(it_request("GET", it_gateway(), path, hb, NULL, &r), 0);
	it_assert_error(&r, 404, "not_found");
	it_resp_free(&r);
	assert_int_equal(it_request("GET", it_gateway(), path, ha, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(it_int(&r, "id"), id);
	assert_int_equal(json_object_array_length(it_get(&r, "items")), 1);
	it_resp_free(&r);
	/* The list holds the caller's orders only. */
	assert_int_equal(it_request("GET", it_gateway(), "/api/v1/orders?limit=100", hb, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	{
		json_object *items = it_get(&r, "items");
		size_t i;

		for (i = 0; i < json_object_array_length(items); i++)
			assert_int_not_equal(json_object_get_int64(json_object_object_get(
			    json_object_array_get_idx(items, i), "id")), id);
	}
	it_resp_free(&r);
}

struct buyer {
	int	idx;
	long	status;
};

static void *
buy_one(void *arg)
{
	struct buyer	*b = arg;
	char		 body[512], key[64], kl[96];
	struct it_resp	 r;

	order_body(body, sizeof(body), 106, 1, CARD_OK);
	snprintf(key, sizeof(key), "rush-%ld-%d", run_id, b->idx);
	if (it_request("POST", it_gateway(), "/api/v1/orders",
	    headers(b->idx % 2 ? auth_a : auth_b, key, kl), body, &r) == 0)
		b->status = r.status;
	it_resp_free(&r);
	return NULL;
}

/* 50 buyers for the last 10 units: exactly 10 confirmed, stock 0, never negative. */
static void
test_last_ten_units(void **state)
{
	enum { N = 50 };
	pthread_t	t[N];
	struct buyer	b[N];
	int		i, ok = 0, oos = 0;
	MYSQL		*o;

	(void)state;
	set_stock(106, 10);
	for (i = 0; i < N; i++) {
		b[i].idx = i;
		b[i].status = 0;
		assert_int_equal(pthread_create(&t[i], NULL, buy_one, &b[i]), 0);
	}
	for (i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		ok += b[i].status == 201;
		oos += b[i].status == 409;
	}
	fprintf(stderr, "last ten units: %d confirmed, %d out of stock\n", ok, oos);
	assert_int_equal(ok, 10);
	assert_int_equal(oos, N - 10);
	assert_int_equal(stock_of(106), 0);
	o = it_db("orders");
	assert_int_equal(it_db_int(o, "SELECT COUNT(*) FROM orders o JOIN order_items i ON"
	    " i.order_id = o.id WHERE i.product_id = 106 AND o.status = 'confirmed'"
	    " AND o.idempotency_key LIKE 'rush-%ld-%%'", run_id), 10);
	mysql_close(o);
	it_check_invariants();
}

/* Payments stops mid-checkout: 202 pending; when it returns the order ends, charged once. */
static void
test_payments_stopped(void **state)
{
	char		 body[512], key[64], kl[96];
	struct it_resp	 r;
	pid_t		 pay = it_pid("payments");
	int64_t		 id;
	const char	*final;
	MYSQL		*p;

	(void)state;
	assert_true(pay > 0);
	set_stock(107, 5);
	assert_int_equal(kill(pay, SIGSTOP), 0);
	order_body(body, sizeof(body), 107, 1, CARD_OK);
	snprintf(key, sizeof(key), "paystop-%ld", run_id);
	assert_int_equal(it_request("POST", it_gateway(), "/api/v1/orders",
	    headers(auth_a, key, kl), body, &r), 0);
	kill(pay, SIGCONT);
	if (r.status != 202)
		fprintf(stderr, "payments stopped: %ld %s\n", r.status, r.body);
	assert_int_equal(r.status, 202);
	assert_string_equal(it_str(&r, "status"), "pending");
	id = it_int(&r, "id");
	it_resp_free(&r);
	final = wait_terminal(auth_a, id, 60);
	assert_true(strcmp(final, "confirmed") == 0 || strcmp(final, "rejected") == 0);
	p = it_db("payments");
	assert_true(it_db_int(p, "SELECT COUNT(*) FROM charges WHERE order_id = %lld"
	    " AND status = 'captured'", (long long)id) <= 1);
	mysql_close(p);
	/* The replay of the key still answers what the client was told. */
	assert_int_equal(it_request("POST", it_gateway(), "/api/v1/orders",
	    headers(auth_a, key, kl), body, &r), 0);
	assert_int_equal(r.status, 202);
	it_resp_free(&r);
	it_check_invariants();
}

/*
 * orders dies between charge and confirm: its saga is left "charged" with the money taken.
 * Restarted, the recovery worker commits the reservation; exactly one charge exists.
 */
static void
test_orders_killed_after_charge(void **state)
{
	char		 body[512], key[64], kl[96];
	struct it_resp	 r;
	pid_t		 pay = it_pid("payments"), inv = it_pid("inventory"), ord = it_pid("orders");
	int64_t		 id;
	int		 i;
	MYSQL		*o, *p;

	(void)state;
	set_stock(108, 5);
	/* 1. Payments stopped: the request leaves the saga reserved, answered 202. */
	assert_int_equal(kill(pay, SIGSTOP), 0);
	order_body(body, sizeof(body), 108, 1, CARD_OK);
	snprintf(key, sizeof(key), "crash-%ld", run_id);
	assert_int_equal(it_request("POST", it_gateway(), "/api/v1/orders",
	    headers(auth_a, key, kl), body, &r), 0);
	assert_int_equal(r.status, 202);
	id = it_int(&r, "id");
	it_resp_free(&r);
	/* 2. Inventory stopped, payments back: recovery charges, then cannot commit. */
	assert_int_equal(kill(inv, SIGSTOP), 0);
	kill(pay, SIGCONT);
	o = it_db("orders");
	for (i = 0; i < 300; i++) {
		if (it_db_int(o, "SELECT saga_state = 'charged' FROM orders WHERE id = %lld",
		    (long long)id) == 1)
			break;
		usleep(100000);
	}
	assert_int_equal(it_db_int(o, "SELECT saga_state = 'charged' FROM orders WHERE id = %lld",
	    (long long)id), 1);
	/* 3. orders dies; inventory comes back; orders restarts and finishes the saga. */
	assert_int_equal(kill(ord, SIGKILL), 0);
	kill(inv, SIGCONT);
	usleep(200000);
	assert_int_equal(it_sh("\"$SHOPLAB_TOP/scripts/stack.sh\" up >&2"), 0);
	assert_string_equal(wait_terminal(auth_a, id, 60), "confirmed");
	p = it_db("payments");
	assert_int_equal(it_db_int(p, "SELECT COUNT(*) FROM charges WHERE order_id = %lld"
	    " AND status = 'captured'", (long long)id), 1);
	mysql_close(p);
	mysql_close(o);
	it_check_invariants();
}

struct inflight {
	char	body[512];
	char	key[64];
	long	status;
	int64_t	id;
};

static void *
checkout_in_flight(void *arg)
{
	struct inflight	*f = arg;
	char		 kl[96];
	struct it_resp	 r;

	if (it_request("POST", it_gateway(), "/api/v1/orders", headers(auth_a, f->key, kl),
	    f->body, &r) == 0) {
		f->status = r.status;
		f->id = it_int(&r, "id");
	}
	it_resp_free(&r);
	return NULL;
}

/* SIGTERM while a checkout is in flight: that request is finished and answered, then exit. */
static void
test_graceful_shutdown(void **state)
{
	struct inflight	 f;
	pthread_t	 t;
	pid_t		 pay = it_pid("payments"), ord = it_pid("orders");
	int		 i;

	(void)state;
	set_stock(109, 5);
	memset(&f, 0, sizeof(f));
	order_body(f.body, sizeof(f.body), 109, 1, CARD_OK);
	snprintf(f.key, sizeof(f.key), "graceful-%ld", run_id);
	/* Payments stopped keeps the checkout busy for its whole deadline. */
	assert_int_equal(kill(pay, SIGSTOP), 0);
	assert_int_equal(pthread_create(&t, NULL, checkout_in_flight, &f), 0);
	usleep(700000);
	assert_int_equal(kill(ord, SIGTERM), 0);
	pthread_join(t, NULL);
	kill(pay, SIGCONT);
	if (f.status != 202)
		fprintf(stderr, "graceful: %ld\n", f.status);
	assert_int_equal(f.status, 202);
	for (i = 0; i < 100 && kill(ord, 0) == 0; i++)
		usleep(100000);
	assert_int_not_equal(kill(ord, 0), 0);
	/* Back up, the recovery worker finishes the saga the stopped process left. */
	assert_int_equal(it_sh("\"$SHOPLAB_TOP/scripts/stack.sh\" up >&2"), 0);
	assert_string_equal(wait_terminal(auth_a, f.id, 60), "confirmed");
	it_check_invariants();
}

/*
 * The nastiest unknown outcome: orders' COMMIT of a new order reaches MariaDB, and the
 * answer is lost on the way back (the sim proxy's mysql_commit_lost on orders-db). The
 * client gets a 503; its retry with the same Idempotency-Key must find the one order that
 * exists, which recovery finishes: one order, one charge, never two.
 */
static void
test_commit_answer_lost(void **state)
{
	const char	*proxy = getenv("SHOPLAB_PROXY_API"), *on = getenv("SHOPLAB_PROXY");
	char		 body[512], key[64], kl[96];
	struct it_resp	 r;
	MYSQL		*o, *p;
	int64_t		 id = 0;
	int		 i;

	(void)state;
	if (proxy == NULL || on == NULL || strcmp(on, "1") != 0)
		skip();
	set_stock(110, 5);
	assert_int_equal(it_request("POST", proxy, "/proxies/orders-db/toxics", NULL,
	    "{\"type\":\"mysql_commit_lost\",\"attributes\":{\"first\":1}}", &r), 0);
	assert_int_equal(r.status, 200);
	it_resp_free(&r);
	order_body(body, sizeof(body), 110, 1, CARD_OK);
	snprintf(key, sizeof(key), "commit-lost-%ld", run_id);
	assert_int_equal(it_request("POST", it_gateway(), "/api/v1/orders",
	    headers(auth_a, key, kl), body, &r), 0);
	it_assert_error(&r, 503, "database_unavailable");
	it_resp_free(&r);
	assert_int_equal(it_request("DELETE", proxy,
	    "/proxies/orders-db/toxics/mysql_commit_lost_upstream", NULL, NULL, &r), 0);
	assert_int_equal(r.status, 204);
	it_resp_free(&r);
	/* The order was committed all the same; retries wait for it, then get its answer. */
	for (i = 0; i < 300; i++) {
		assert_int_equal(it_request("POST", it_gateway(), "/api/v1/orders",
		    headers(auth_a, key, kl), body, &r), 0);
		if (r.status != 409) {
			assert_int_equal(r.status, 201);
			assert_string_equal(it_str(&r, "status"), "confirmed");
			id = it_int(&r, "id");
			it_resp_free(&r);
			break;
		}
		assert_string_equal(it_str(&r, "error.code"), "request_in_progress");
		it_resp_free(&r);
		usleep(100000);
	}
	assert_true(id > 0);
	o = it_db("orders");
	p = it_db("payments");
	assert_int_equal(it_db_int(o, "SELECT COUNT(*) FROM orders WHERE idempotency_key = '%s'",
	    key), 1);
	assert_int_equal(it_db_int(p, "SELECT COUNT(*) FROM charges WHERE order_id = %lld AND"
	    " status = 'captured'", (long long)id), 1);
	mysql_close(o);
	mysql_close(p);
	it_check_invariants();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_happy_path),
		cmocka_unit_test(test_needs_key_and_identity),
		cmocka_unit_test(test_bad_bodies),
		cmocka_unit_test(test_out_of_stock),
		cmocka_unit_test(test_declined_and_insufficient),
		cmocka_unit_test(test_idempotent_replay_and_reuse),
		cmocka_unit_test(test_owner_only),
		cmocka_unit_test(test_last_ten_units),
		cmocka_unit_test(test_payments_stopped),
		cmocka_unit_test(test_orders_killed_after_charge),
		cmocka_unit_test(test_graceful_shutdown),
		cmocka_unit_test(test_commit_answer_lost),
	};

	return cmocka_run_group_tests_name("integration/orders", tests, setup, NULL);
}
