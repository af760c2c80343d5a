/* test_inventory.c - inventory through the real gateways: stock, admin sets, reservations, races */
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

/*
 * Products 950..999 belong to this suite. Order ids are unique per run (time and pid), so
 * the suite can run again against the same database; the teardown releases whatever is
 * still held. Its reservations stay: the stock they moved is checked against them, and the
 * invariant checks of the other suites end at the highest real order id.
 */
#define P_ADMIN		950
#define P_A		960
#define P_B		961
#define P_SHORT		970
#define P_RACE		990
#define P_EXPIRE	975
#define P_NOSTOCK	999999999LL
#define BUYERS		50
#define RACE_STOCK	10

static int64_t	order_base, order_next;

static int64_t
new_order(void)
{
	return order_base + order_next++;
}

/* The internal gateway's service token header, or a wrong one. */
static const char *const *
svc_hdr(void)
{
	static char		 line[256];
	static const char	*hdrs[2] = { line, NULL };

	snprintf(line, sizeof(line), "X-Service-Token: %s", it_env("SHOPLAB_SERVICE_TOKEN"));
	return hdrs;
}

/* "Authorization: Bearer <token>" for email/password, registering the user first if asked. */
static void
login(const char *email, const char *password, int do_register, char *line, size_t linelen)
{
	char		body[512];
	struct it_resp	r;

	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\",\"name\":\"Inv Test\"}",
	    email, password);
	if (do_register) {
		assert_int_equal(it_request("POST", it_gateway(), "/api/v1/users", NULL, body, &r), 0);
		if (r.status != 201)
			fprintf(stderr, "register %s -> %ld %s\n", email, r.status, r.body);
		assert_int_equal(r.status, 201);
		it_resp_free(&r);
	}
	assert_int_equal(it_request("POST", it_gateway(), "/api/v1/auth/login", NULL, body, &r), 0);
	if (r.status != 200)
		fprintf(stderr, "login %s -> %ld %s\n", email, r.status, r.body);
	assert_int_equal(r.status, 200);
	assert_non_null(it_str(&r, "token"));
	snprintf(line, linelen, "Authorization: Bearer %s", it_str(&r, "token"));
	it_resp_free(&r);
}

static const char *const *
admin_auth(void)
{
	static char		 line[2048];
	static const char	*hdrs[2] = { line, NULL };

	if (line[0] == '\0')
		login(it_env("SHOPLAB_ADMIN_EMAIL"), it_env("SHOPLAB_ADMIN_PASSWORD"), 0, line,
		    sizeof(line));
	return hdrs;
}

static const char *const *
customer_auth(void)
{
	static char		 line[2048];
	static const char	*hdrs[2] = { line, NULL };
	char			 email[128];

	if (line[0] == '\0') {
		snprintf(email, sizeof(email), "inv-%lld@shoplab.test", (long long)order_base);
		login(email, "customer-password", 1, line, sizeof(line));
	}
	return hdrs;
}

/* The stock table, read directly as the inventory service's DB user. */
static MYSQL *
db_open(void)
{
	MYSQL *db = it_db("inventory");

	assert_non_null(db);
	return db;
}

/* The first column of the first row of sql as an integer; a query that fails fails the test. */
static int64_t
db_int(MYSQL *db, const char *sql)
{
	int64_t v = it_db_int(db, "%s", sql);

	if (v == INT64_MIN && mysql_errno(db) != 0)
		fail_msg("%s: %s", sql, mysql_error(db));
	return v;
}

static int64_t
db_stock(MYSQL *db, const char *col, int64_t product)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "SELECT %s FROM stock WHERE product_id = %lld", col,
	    (long long)product);
	return db_int(db, sql);
}

/* available + held + sold equals the product's ledger. */
static void
assert_ledger(MYSQL *db, int64_t product)
{
	char sql[512];

	snprintf(sql, sizeof(sql), "SELECT (SELECT available + held + sold FROM stock WHERE"
	    " product_id = %lld) - (SELECT COALESCE(SUM(delta), 0) FROM adjustments WHERE"
	    " product_id = %lld)", (long long)product, (long long)product);
	assert_int_equal(db_int(db, sql), 0);
	assert_true(db_stock(db, "available", product) >= 0);
}

static int64_t
available(int64_t product)
{
	struct it_resp	r;
	char		path[64];
	int64_t		v;

	snprintf(path, sizeof(path), "/api/v1/inventory/%lld", (long long)product);
	assert_int_equal(it_request("GET", it_gateway(), path, NULL, NULL, &r), 0);
	if (r.status != 200)
		fprintf(stderr, "GET %s -> %ld %s\n", path, r.status, r.body);
	assert_int_equal(r.status, 200);
	assert_int_equal(it_int(&r, "product_id"), product);
	v = it_int(&r, "available");
	it_resp_free(&r);
	return v;
}

static void
put_stock(int64_t product, int64_t n, const char *const *auth, struct it_resp *r)
{
	char path[64], body[64];

	snprintf(path, sizeof(path), "/api/v1/inventory/%lld", (long long)product);
	snprintf(body, sizeof(body), "{\"available\":%lld}", (long long)n);
	assert_int_equal(it_request("PUT", it_gateway(), path, auth, body, r), 0);
}

static void
set_stock(int64_t product, int64_t n)
{
	struct it_resp r;

	put_stock(product, n, admin_auth(), &r);
	if (r.status != 200)
		fprintf(stderr, "PUT %lld -> %ld %s\n", (long long)product, r.status, r.body);
	assert_int_equal(r.status, 200);
	assert_int_equal(it_int(&r, "available"), n);
	it_resp_free(&r);
}

/* POST an internal path with the service token; body may be NULL. */
static void
internal_post(const char *path, const char *body, struct it_resp *r)
{
	assert_int_equal(it_request("POST", it_internal(), path, svc_hdr(), body ? body : "{}",
	    r), 0);
}

/* Reserves items (a JSON array's text) for order. */
static void
reserve(int64_t order, const char *items, struct it_resp *r)
{
	char body[4096];

	snprintf(body, sizeof(body), "{\"order_id\":%lld,\"items\":%s}", (long long)order, items);
	internal_post("/internal/inventory/reservations", body, r);
}

/* Reserves items for order: 201, held. */
static void
reserved(int64_t order, const char *items)
{
	struct it_resp r;

	reserve(order, items, &r);
	it_assert_status(&r, 201);
	it_resp_free(&r);
}

/* POST .../reservations/{order}/{action}; asserts status (and the body's status on 200). */
static void
act(int64_t order, const char *action, long want, const char *code)
{
	struct it_resp	r;
	char		path[128];

	snprintf(path, sizeof(path), "/internal/inventory/reservations/%lld/%s",
	    (long long)order, action);
	internal_post(path, NULL, &r);
	if (want == 200) {
		if (r.status != 200)
			fprintf(stderr, "%s -> %ld %s\n", path, r.status, r.body);
		assert_int_equal(r.status, 200);
		assert_int_equal(it_int(&r, "order_id"), order);
		assert_string_equal(it_str(&r, "status"), code);
	} else
		it_assert_error(&r, want, code);
	it_resp_free(&r);
}

static void
get_reservation(int64_t order, struct it_resp *r)
{
	char path[128];

	snprintf(path, sizeof(path), "/internal/inventory/reservations/%lld", (long long)order);
	assert_int_equal(it_request("GET", it_internal(), path, svc_hdr(), NULL, r), 0);
}

/* The items array of r as compact text. */
static const char *
items_text(const struct it_resp *r)
{
	json_object *items = it_get(r, "items");

	assert_non_null(items);
	return json_object_to_json_string_ext(items, JSON_C_TO_STRING_PLAIN);
}

static void
test_public_get(void **state)
{
	static const char *const missing[] = {
		"/api/v1/inventory/abc", "/api/v1/inventory/0", "/api/v1/inventory/-3",
		"/api/v1/inventory/007", "/api/v1/inventory/99999999999999999999",
		"/api/v1/inventory/999999999",
	};
	struct it_resp	r;
	size_t		i;

	(void)state;
	assert_true(available(1) >= 0);
	for (i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
		it_expect("GET", it_gateway(), missing[i], NULL, NULL, 404, "not_found");
	}
	assert_int_equal(it_request("GET", it_gateway(), "/api/v1/inventory/1/x", NULL, NULL,
	    &r), 0);
	it_refused(&r, 404, "not_found");
}

static void
test_put_as_admin(void **state)
{
	MYSQL		*db = db_open();
	struct it_resp	 r;
	int64_t		 fresh = 2000000001LL;
	char		 sql[256];

	(void)state;
	set_stock(P_ADMIN, 123);
	assert_int_equal(available(P_ADMIN), 123);
	set_stock(P_ADMIN, 120);
	assert_int_equal(available(P_ADMIN), 120);
	snprintf(sql, sizeof(sql), "SELECT delta FROM adjustments WHERE product_id = %d"
	    " AND reason = 'admin' ORDER BY id DESC LIMIT 1", P_ADMIN);
	assert_int_equal(db_int(db, sql), -3);
	snprintf(sql, sizeof(sql), "SELECT actor IS NOT NULL FROM adjustments WHERE"
	    " product_id = %d ORDER BY id DESC LIMIT 1", P_ADMIN);
	assert_int_equal(db_int(db, sql), 1);
	assert_ledger(db, P_ADMIN);

	/* A product without a stock row gets one. */
	set_stock(fresh, 7);
	assert_int_equal(available(fresh), 7);
	assert_ledger(db, fresh);

	/* Bad bodies name the field. */
	put_stock(P_ADMIN, -1, admin_auth(), &r);
	it_assert_error(&r, 400, "validation_failed");
	assert_string_equal(it_str(&r, "error.field"), "available");
	it_resp_free(&r);
	put_stock(P_ADMIN, 1000000001, admin_auth(), &r);
	it_refused(&r, 400, "validation_failed");
	it_expect("PUT", it_gateway(), "/api/v1/inventory/950", admin_auth(),
	    "{\"available\":\"5\"}", 400, "validation_failed");
	it_expect("PUT", it_gateway(), "/api/v1/inventory/950", admin_auth(), "{\"available\":",
	    400, "invalid_json");
	assert_int_equal(available(P_ADMIN), 120);
	mysql_close(db);
}

static void
test_put_needs_admin(void **state)
{
	static const char *const spoof[] = { "X-User-Id: 1", "X-User-Role: admin", NULL };
	struct it_resp r;

	(void)state;
	put_stock(P_ADMIN, 5, NULL, &r);
	it_refused(&r, 401, "unauthorized");
	put_stock(P_ADMIN, 5, spoof, &r);
	it_refused(&r, 401, "unauthorized");
	put_stock(P_ADMIN, 5, customer_auth(), &r);
	it_refused(&r, 403, "forbidden");
	assert_int_equal(available(P_ADMIN), 120);
}

static void
test_internal_needs_token(void **state)
{
	const char *body = "{\"order_id\":1,\"items\":[{\"product_id\":960,\"quantity\":1}]}";

	(void)state;
	it_expect_token_required("/internal/inventory/reservations", body,
	    "/internal/inventory/reservations/1");
	/* Not on the public listener at all. */
	it_expect("POST", it_gateway(), "/internal/inventory/reservations", svc_hdr(), body, 404,
	    "not_found");
}

static void
test_reserve_commit(void **state)
{
	MYSQL		*db = db_open();
	struct it_resp	 r;
	int64_t		 o = new_order(), sold_a;
	const char	*want = "[{\"product_id\":960,\"quantity\":3},{\"product_id\":961,\"quantity\":2}]";

	(void)state;
	set_stock(P_A, 100);
	set_stock(P_B, 100);
	sold_a = db_stock(db, "sold", P_A);
	reserve(o, "[{\"product_id\":961,\"quantity\":2},{\"product_id\":960,\"quantity\":3}]", &r);
	it_assert_status(&r, 201);
	assert_int_equal(it_int(&r, "order_id"), o);
	assert_string_equal(it_str(&r, "status"), "held");
	assert_string_equal(items_text(&r), want);
	it_resp_free(&r);
	assert_int_equal(available(P_A), 97);
	assert_int_equal(available(P_B), 98);
	assert_int_equal(db_stock(db, "held", P_A), 3);

	/* The replay, items in any order, returns the same reservation and holds no more. */
	reserve(o, want, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(it_str(&r, "status"), "held");
	assert_string_equal(items_text(&r), want);
	it_resp_free(&r);
	assert_int_equal(available(P_A), 97);

	get_reservation(o, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(it_str(&r, "status"), "held");
	assert_string_equal(items_text(&r), want);
	it_resp_free(&r);

	act(o, "commit", 200, "committed");
	act(o, "commit", 200, "committed");
	assert_int_equal(available(P_A), 97);
	assert_int_equal(db_stock(db, "held", P_A), 0);
	assert_int_equal(db_stock(db, "sold", P_A), sold_a + 3);
	act(o, "release", 409, "reservation_committed");

	reserve(o, want, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(it_str(&r, "status"), "committed");
	it_resp_free(&r);
	get_reservation(o, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(it_str(&r, "status"), "committed");
	it_resp_free(&r);
	assert_ledger(db, P_A);
	assert_ledger(db, P_B);
	mysql_close(db);
}

static void
test_reserve_release(void **state)
{
	MYSQL		*db = db_open();
	struct it_resp	 r;
	int64_t		 o = new_order(), before;

	(void)state;
	before = available(P_A);
	reserved(o, "[{\"product_id\":960,\"quantity\":5}]");
	assert_int_equal(available(P_A), before - 5);
	act(o, "release", 200, "released");
	assert_int_equal(available(P_A), before);
	act(o, "release", 200, "released");
	assert_int_equal(available(P_A), before);
	act(o, "commit", 409, "reservation_released");
	reserve(o, "[{\"product_id\":960,\"quantity\":5}]", &r);
	it_refused(&r, 409, "reservation_released");
	assert_int_equal(available(P_A), before);
	get_reservation(o, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(it_str(&r, "status"), "released");
	it_resp_free(&r);
	assert_ledger(db, P_A);
	mysql_close(db);
}

static void
test_reserve_mismatch(void **state)
{
	struct it_resp	r;
	int64_t		o = new_order(), before;

	(void)state;
	before = available(P_A);
	reserved(o, "[{\"product_id\":960,\"quantity\":1}]");
	reserve(o, "[{\"product_id\":960,\"quantity\":2}]", &r);
	it_refused(&r, 409, "reservation_mismatch");
	reserve(o, "[{\"product_id\":960,\"quantity\":1},{\"product_id\":961,\"quantity\":1}]", &r);
	it_refused(&r, 409, "reservation_mismatch");
	assert_int_equal(available(P_A), before - 1);
	act(o, "release", 200, "released");
	assert_int_equal(available(P_A), before);
}

static void
test_out_of_stock_holds_nothing(void **state)
{
	MYSQL		*db = db_open();
	struct it_resp	 r;
	int64_t		 o = new_order(), a, held;
	char		 items[128];

	(void)state;
	set_stock(P_SHORT, 2);
	a = available(P_A);
	held = db_stock(db, "held", P_A);
	reserve(o, "[{\"product_id\":960,\"quantity\":1},{\"product_id\":970,\"quantity\":5}]", &r);
	it_assert_error(&r, 409, "out_of_stock");
	assert_int_equal(it_int(&r, "error.product_id"), P_SHORT);
	it_resp_free(&r);
	assert_int_equal(available(P_A), a);
	assert_int_equal(db_stock(db, "held", P_A), held);
	assert_int_equal(available(P_SHORT), 2);
	get_reservation(o, &r);
	it_refused(&r, 404, "not_found");

	/* A product without a stock row has none to give. */
	snprintf(items, sizeof(items), "[{\"product_id\":%lld,\"quantity\":1}]",
	    (long long)P_NOSTOCK);
	reserve(o, items, &r);
	it_assert_error(&r, 409, "out_of_stock");
	assert_int_equal(it_int(&r, "error.product_id"), P_NOSTOCK);
	it_resp_free(&r);

	/* Nothing was recorded for the order: it can still reserve what there is. */
	reserved(o, "[{\"product_id\":970,\"quantity\":2}]");
	assert_int_equal(available(P_SHORT), 0);
	reserve(new_order(), "[{\"product_id\":970,\"quantity\":1}]", &r);
	it_refused(&r, 409, "out_of_stock");
	act(o, "release", 200, "released");
	assert_int_equal(available(P_SHORT), 2);
	assert_ledger(db, P_SHORT);
	mysql_close(db);
}

/* A release that overtakes its reserve leaves a tombstone: the late reserve is refused. */
static void
test_release_before_reserve(void **state)
{
	struct it_resp	r;
	int64_t		o = new_order(), unknown = new_order(), before;

	(void)state;
	before = available(P_A);
	act(o, "release", 200, "released");
	act(o, "release", 200, "released");
	get_reservation(o, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(it_str(&r, "status"), "released");
	assert_string_equal(items_text(&r), "[]");
	it_resp_free(&r);
	reserve(o, "[{\"product_id\":960,\"quantity\":1}]", &r);
	it_refused(&r, 409, "reservation_released");
	act(o, "commit", 409, "reservation_released");
	assert_int_equal(available(P_A), before);

	act(unknown, "commit", 404, "not_found");
	get_reservation(unknown, &r);
	it_refused(&r, 404, "not_found");
}

struct buyer {
	int64_t	order;
	long	status;
	char	code[32];
};

static void *
buyer_run(void *arg)
{
	struct buyer	*b = arg;
	struct it_resp	 r;
	char		 body[128];
	const char	*code;

	snprintf(body, sizeof(body), "{\"order_id\":%lld,\"items\":[{\"product_id\":%d,"
	    "\"quantity\":1}]}", (long long)b->order, P_RACE);
	b->status = -1;
	if (it_request("POST", it_internal(), "/internal/inventory/reservations", svc_hdr(), body,
	    &r) == 0) {
		b->status = r.status;
		if ((code = it_str(&r, "error.code")) != NULL)
			snprintf(b->code, sizeof(b->code), "%s", code);
		it_resp_free(&r);
	}
	return NULL;
}

/* 50 buyers race for 10 units: exactly 10 win, nothing goes below zero. */
static void
test_concurrent_buyers(void **state)
{
	MYSQL		*db = db_open();
	struct buyer	 b[BUYERS];
	int		 i, won = 0, short_ = 0;

	(void)state;
	svc_hdr();
	set_stock(P_RACE, RACE_STOCK);
	assert_int_equal(db_stock(db, "held", P_RACE), 0);
	for (i = 0; i < BUYERS; i++) {
		memset(&b[i], 0, sizeof(b[i]));
		b[i].order = new_order();
	}
	it_parallel(buyer_run, b, BUYERS, sizeof(b[0]));
	for (i = 0; i < BUYERS; i++) {
		if (b[i].status == 201)
			won++;
		else if (b[i].status == 409 && strcmp(b[i].code, "out_of_stock") == 0)
			short_++;
		else
			fprintf(stderr, "buyer %d: %ld %s\n", i, b[i].status, b[i].code);
	}
	assert_int_equal(won, RACE_STOCK);
	assert_int_equal(short_, BUYERS - RACE_STOCK);
	assert_int_equal(available(P_RACE), 0);
	assert_int_equal(db_stock(db, "available", P_RACE), 0);
	assert_int_equal(db_stock(db, "held", P_RACE), RACE_STOCK);
	assert_ledger(db, P_RACE);

	for (i = 0; i < BUYERS; i++)
		if (b[i].status == 201)
			act(b[i].order, "release", 200, "released");
	assert_int_equal(available(P_RACE), RACE_STOCK);
	assert_int_equal(db_stock(db, "held", P_RACE), 0);
	assert_ledger(db, P_RACE);
	mysql_close(db);
}

static void
test_bad_input(void **state)
{
	static const struct {
		const char	*body;
		const char	*code;
		const char	*field;
	} bad[] = {
		{ "{", "invalid_json", NULL },
		{ "[]", "invalid_json", NULL },
		{ "{\"items\":[{\"product_id\":960,\"quantity\":1}]}", "validation_failed", "order_id" },
		{ "{\"order_id\":\"abc\",\"items\":[{\"product_id\":960,\"quantity\":1}]}",
		  "validation_failed", "order_id" },
		{ "{\"order_id\":1.5,\"items\":[{\"product_id\":960,\"quantity\":1}]}",
		  "validation_failed", "order_id" },
		{ "{\"order_id\":0,\"items\":[{\"product_id\":960,\"quantity\":1}]}",
		  "validation_failed", "order_id" },
		{ "{\"order_id\":-7,\"items\":[{\"product_id\":960,\"quantity\":1}]}",
		  "validation_failed", "order_id" },
		{ "{\"order_id\":77}", "validation_failed", "items" },
		{ "{\"order_id\":77,\"items\":{}}", "validation_failed", "items" },
		{ "{\"order_id\":77,\"items\":[]}", "validation_failed", "items" },
		{ "{\"order_id\":77,\"items\":[{\"product_id\":960,\"quantity\":0}]}",
		  "validation_failed", "items[0].quantity" },
		{ "{\"order_id\":77,\"items\":[{\"product_id\":960,\"quantity\":1001}]}",
		  "validation_failed", "items[0].quantity" },
		{ "{\"order_id\":77,\"items\":[{\"product_id\":\"960\",\"quantity\":1}]}",
		  "validation_failed", "items[0].product_id" },
		{ "{\"order_id\":77,\"items\":[{\"product_id\":960.5,\"quantity\":1}]}",
		  "validation_failed", "items[0].product_id" },
		{ "{\"order_id\":77,\"items\":[{\"product_id\":960,\"quantity\":1},"
		  "{\"product_id\":960,\"quantity\":2}]}", "validation_failed", "items" },
	};
	struct it_resp	r;
	char		body[4096];
	size_t		i, n;
	int		k;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		internal_post("/internal/inventory/reservations", bad[i].body, &r);
		if (r.status != 400)
			fprintf(stderr, "%s -> %ld %s\n", bad[i].body, r.status, r.body);
		it_assert_error(&r, 400, bad[i].code);
		if (bad[i].field != NULL)
			assert_string_equal(it_str(&r, "error.field"), bad[i].field);
		it_resp_free(&r);
	}
	/* 51 lines. */
	n = (size_t)snprintf(body, sizeof(body), "{\"order_id\":77,\"items\":[");
	for (k = 0; k < 51; k++)
		n += (size_t)snprintf(body + n, sizeof(body) - n, "%s{\"product_id\":%d,"
		    "\"quantity\":1}", k ? "," : "", 900 + k);
	snprintf(body + n, sizeof(body) - n, "]}");
	internal_post("/internal/inventory/reservations", body, &r);
	it_assert_error(&r, 400, "validation_failed");
	assert_string_equal(it_str(&r, "error.field"), "items");
	it_resp_free(&r);
	/* Nothing of the refused order 77 was recorded. */
	get_reservation(77, &r);
	it_refused(&r, 404, "not_found");
	/* A path id that cannot be an order. */
	internal_post("/internal/inventory/reservations/abc/commit", NULL, &r);
	it_refused(&r, 404, "not_found");
}

static int
setup(void **state)
{
	(void)state;
	order_base = 1000000000000000LL + ((int64_t)time(NULL) % 10000000) * 100000 +
	    (int64_t)(getpid() % 100) * 1000;
	order_next = 0;
	return 0;
}

/* Leaves nothing held and removes this run's reservation rows; the stock stays consistent. */
/*
 * The saga's backstop: a hold nobody commits or releases expires, its stock goes back with
 * a ledger row, and a late commit is refused with reservation_expired; a committed
 * reservation never expires.
 */
static void
test_hold_expires(void **state)
{
	MYSQL		*db = db_open();
	struct it_resp	 r;
	char		 items[128], sql[256];
	int64_t		 held = new_order(), sold = new_order();
	int		 i;

	(void)state;
	set_stock(P_EXPIRE, 5);
	it_restart("inventory", "SHOPLAB_RESERVATION_TTL_S=2");
	snprintf(items, sizeof(items), "[{\"product_id\":%d,\"quantity\":2}]", P_EXPIRE);
	reserved(held, items);
	snprintf(items, sizeof(items), "[{\"product_id\":%d,\"quantity\":1}]", P_EXPIRE);
	reserved(sold, items);
	act(sold, "commit", 200, "committed");
	assert_int_equal(available(P_EXPIRE), 2);
	snprintf(sql, sizeof(sql), "SELECT status = 'expired' FROM reservations WHERE order_id = %lld",
	    (long long)held);
	for (i = 0; i < 100 && db_int(db, sql) != 1; i++)
		usleep(100000);
	assert_int_equal(db_int(db, sql), 1);
	assert_int_equal(available(P_EXPIRE), 4);
	assert_int_equal(db_stock(db, "held", P_EXPIRE), 0);
	assert_int_equal(db_stock(db, "sold", P_EXPIRE), 1);
	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM adjustments WHERE product_id = %d AND"
	    " reason = 'hold_expired' AND actor = %lld AND delta = 0", P_EXPIRE, (long long)held);
	assert_int_equal(db_int(db, sql), 1);
	assert_ledger(db, P_EXPIRE);
	act(held, "commit", 409, "reservation_expired");
	act(held, "release", 200, "expired");
	snprintf(items, sizeof(items), "[{\"product_id\":%d,\"quantity\":2}]", P_EXPIRE);
	reserve(held, items, &r);
	it_refused(&r, 409, "reservation_expired");
	/* Committed stock stays sold however long it is left. */
	sleep(3);
	act(sold, "commit", 200, "committed");
	assert_int_equal(db_stock(db, "sold", P_EXPIRE), 1);
	assert_ledger(db, P_EXPIRE);
	it_restart("inventory", "");
	mysql_close(db);
}

static int
teardown(void **state)
{
	MYSQL		*db;
	MYSQL_RES	*res;
	MYSQL_ROW	 row;
	char		 sql[512], path[128];
	struct it_resp	 r;

	(void)state;
	if ((db = mysql_init(NULL)) == NULL || mysql_real_connect(db,
	    it_env("SHOPLAB_DB_HOST"), it_env("SHOPLAB_DB_INVENTORY_USER"),
	    it_env("SHOPLAB_DB_INVENTORY_PASSWORD"), "inventory",
	    (unsigned)atoi(it_env("SHOPLAB_DB_PORT")), NULL, 0) == NULL)
		return -1;
	snprintf(sql, sizeof(sql), "SELECT order_id FROM reservations WHERE status = 'held'"
	    " AND order_id BETWEEN %lld AND %lld", (long long)order_base,
	    (long long)(order_base + 999));
	if (mysql_query(db, sql) == 0 && (res = mysql_store_result(db)) != NULL) {
		while ((row = mysql_fetch_row(res)) != NULL) {
			snprintf(path, sizeof(path), "/internal/inventory/reservations/%s/release",
			    row[0]);
			if (it_request("POST", it_internal(), path, svc_hdr(), "{}", &r) == 0)
				it_resp_free(&r);
		}
		mysql_free_result(res);
	}
	mysql_close(db);
	return 0;
}

IT_MAIN("integration/inventory", setup, teardown,
    cmocka_unit_test(test_public_get),
    cmocka_unit_test(test_put_as_admin),
    cmocka_unit_test(test_put_needs_admin),
    cmocka_unit_test(test_internal_needs_token),
    cmocka_unit_test(test_reserve_commit),
    cmocka_unit_test(test_reserve_release),
    cmocka_unit_test(test_reserve_mismatch),
    cmocka_unit_test(test_out_of_stock_holds_nothing),
    cmocka_unit_test(test_release_before_reserve),
    cmocka_unit_test(test_concurrent_buyers),
    cmocka_unit_test(test_bad_input),
    cmocka_unit_test(test_hold_expires))
