/* test_shipping.c - the shipping service through the real broker: confirmed -> shipment -> shipped, duplicates, prices, crashes, its database away */
#include <sys/types.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <mysql.h>

#include "itest.h"

/* Starts the broker again where the stack runs it: the db host's namespace in the netns lab. */
#define BROKER_RESTART \
	"${DB_NETNS:+ip netns exec $DB_NETNS} \"$SHOPLAB_TOP/scripts/broker.sh\" start && " \
	"${DB_NETNS:+ip netns exec $DB_NETNS} \"$SHOPLAB_TOP/scripts/broker.sh\" wait"

static char	auth_a[2048], auth_b[2048], auth_admin[2048];
static long	run_id;
static int64_t	product;	/* a product of this run's own, with plenty of stock */
static int64_t	delay_ms;	/* SHOPLAB_SHIPPING_DELAY_MS of the stack */

/* An AMQP connection to the stack's broker as user with the password in env var pw_var. */
static amqp_connection_state_t
amqp_as(const char *user, const char *pw_var, int confirm)
{
	amqp_connection_state_t	 c;
	amqp_socket_t		*s;

	assert_non_null(c = amqp_new_connection());
	assert_non_null(s = amqp_tcp_socket_new(c));
	assert_int_equal(amqp_socket_open(s, it_env("SHOPLAB_AMQP_HOST"),
	    atoi(it_env("SHOPLAB_AMQP_PORT"))), 0);
	assert_int_equal(amqp_login(c, "shoplab", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, user,
	    it_env(pw_var)).reply_type, AMQP_RESPONSE_NORMAL);
	assert_non_null(amqp_channel_open(c, 1));
	assert_int_equal(amqp_get_rpc_reply(c).reply_type, AMQP_RESPONSE_NORMAL);
	if (confirm) {
		assert_non_null(amqp_confirm_select(c, 1));
		assert_int_equal(amqp_get_rpc_reply(c).reply_type, AMQP_RESPONSE_NORMAL);
	}
	return c;
}

static void
amqp_done(amqp_connection_state_t c)
{
	amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
	amqp_connection_close(c, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(c);
}

/* Publishes body with routing key rkey as orders (its own credentials), confirmed. */
static void
publish_as_orders(const char *rkey, const char *body)
{
	it_amqp_publish("orders", "SHOPLAB_AMQP_ORDERS_PASSWORD", rkey, body);
}

/* The first column of sql on svc's database now (INT64_MIN when none). */
static int64_t
db_val(const char *svc, const char *fmt, int64_t arg)
{
	MYSQL	*db = it_db(svc);
	int64_t	 v;

	assert_non_null(db);
	v = it_db_int(db, fmt, (long long)arg);
	mysql_close(db);
	return v;
}

/* Checks out qty of product as auth; returns the order id (201 confirmed expected). */
static int64_t
checkout(const char *auth, int64_t prod, int qty, const char *key)
{
	char		 body[256], keyline[96];
	const char	*h[4] = { auth, keyline, "Content-Type: application/json", NULL };
	struct it_resp	 r;
	int64_t		 id;

	snprintf(keyline, sizeof(keyline), "Idempotency-Key: %s", key);
	snprintf(body, sizeof(body), "{\"items\":[{\"product_id\":%lld,\"quantity\":%d}],\"card\":"
	    "{\"number\":\"4242424242424242\",\"exp_month\":12,\"exp_year\":2031,\"cvc\":\"123\"}}",
	    (long long)prod, qty);
	assert_int_equal(it_request("POST", it_gateway(), "/api/v1/orders", h, body, &r), 0);
	it_assert_status(&r, 201);
	assert_string_equal(it_str(&r, "status"), "confirmed");
	id = it_int(&r, "id");
	it_resp_free(&r);
	return id;
}

/* GET /api/v1/shipments?order_id=q as auth (or none) into r. */
static void
get_shipment(const char *auth, const char *q, struct it_resp *r)
{
	const char	*h[2] = { auth, NULL };
	char		 path[128];

	snprintf(path, sizeof(path), "/api/v1/shipments?%s", q);
	assert_int_equal(it_request("GET", it_gateway(), path, auth ? h : NULL, NULL, r), 0);
}

/* Polls the order until its status is want (at most secs); returns 1 when it got there. */
static int
wait_order(const char *auth, int64_t id, const char *want, int secs)
{
	const char	*h[2] = { auth, NULL };
	char		 path[64];
	struct it_resp	 r;
	int		 i, ok = 0;

	snprintf(path, sizeof(path), "/api/v1/orders/%lld", (long long)id);
	for (i = 0; i < secs * 10 && !ok; i++) {
		assert_int_equal(it_request("GET", it_gateway(), path, h, NULL, &r), 0);
		assert_int_equal(r.status, 200);
		ok = it_str(&r, "status") != NULL && strcmp(it_str(&r, "status"), want) == 0;
		it_resp_free(&r);
		if (!ok)
			usleep(100000);
	}
	return ok;
}

/* An admin creates a product priced price; its stock is set to available. Returns its id. */
static int64_t
new_product(const char *tag, int64_t price, int64_t available)
{
	const char	*h[3] = { auth_admin, "Content-Type: application/json", NULL };
	char		 body[256], path[64];
	struct it_resp	 r;
	int64_t		 id;

	snprintf(body, sizeof(body), "{\"sku\":\"SHIP-%s-%ld\",\"name\":\"shipping %s\","
	    "\"price_cents\":%lld}", tag, run_id, tag, (long long)price);
	assert_int_equal(it_request("POST", it_gateway(), "/api/v1/products", h, body, &r), 0);
	assert_int_equal(r.status, 201);
	id = it_int(&r, "id");
	it_resp_free(&r);
	snprintf(path, sizeof(path), "/api/v1/inventory/%lld", (long long)id);
	snprintf(body, sizeof(body), "{\"available\":%lld}", (long long)available);
	it_expect("PUT", it_gateway(), path, h, body, 200, NULL);
	return id;
}

static int
setup(void **state)
{
	const char *d;

	(void)state;
	run_id = it_run_id();
	it_login_new("ship-a", run_id, "password-a", auth_a, sizeof(auth_a));
	it_login_new("ship-b", run_id, "password-b", auth_b, sizeof(auth_b));
	it_login_admin(auth_admin, sizeof(auth_admin));
	d = getenv("SHOPLAB_SHIPPING_DELAY_MS");
	delay_ms = d != NULL && *d != '\0' ? atoll(d) : 2000;
	product = new_product("stock", 250, 100000);
	return 0;
}

/* Shipment queries refused to the owner: not a number, zero, none; a number no order has. */
static const struct {
	const char	*q;
	long		 status;
	const char	*code;
} bad_queries[] = {
	{ "order_id=abc", 400, "validation_failed" },
	{ "order_id=0", 400, "validation_failed" },
	{ "", 400, "validation_failed" },
	{ "order_id=9223372036854775807", 404, "not_found" },
};

/*
 * A checkout: order.confirmed -> one shipment (created) -> after the delay dispatched ->
 * shipment.dispatched -> the order is shipped and shows the shipment; the owner reads the
 * shipment, another user cannot, an admin can; bad ids are 400, none 404, no token 401.
 */
static void
test_checkout_ships(void **state)
{
	struct it_resp	 r;
	char		 key[64], q[64], disp[40];
	int64_t		 order, ship_id;
	int		 i;

	(void)state;
	snprintf(key, sizeof(key), "ship-flow-%ld", run_id);
	order = checkout(auth_a, product, 1, key);
	snprintf(q, sizeof(q), "order_id=%lld", (long long)order);
	for (i = 0; i < 150; i++) {
		get_shipment(auth_a, q, &r);
		if (r.status == 200)
			break;
		it_refused(&r, 404, "not_found");
		usleep(100000);
	}
	assert_int_equal(r.status, 200);
	assert_true(it_int(&r, "order_id") == order);
	ship_id = it_int(&r, "id");
	it_resp_free(&r);
	assert_true(wait_order(auth_a, order, "shipped", 30 + (int)(delay_ms / 1000)));

	get_shipment(auth_a, q, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(it_str(&r, "status"), "dispatched");
	assert_true(it_int(&r, "id") == ship_id);
	assert_non_null(it_str(&r, "dispatched_at"));
	snprintf(disp, sizeof(disp), "%s", it_str(&r, "dispatched_at"));
	it_resp_free(&r);
	/* The order shows the same shipment, with the same dispatch time. */
	{
		const char	*h[2] = { auth_a, NULL };
		char		 path[64];

		snprintf(path, sizeof(path), "/api/v1/orders/%lld", (long long)order);
		assert_int_equal(it_request("GET", it_gateway(), path, h, NULL, &r), 0);
		assert_true(it_int(&r, "shipment.id") == ship_id);
		assert_string_equal(it_str(&r, "shipment.dispatched_at"), disp);
		it_resp_free(&r);
	}
	/* Never dispatched before its delay (one clock wrote both times). */
	assert_int_equal(it_wait_db("shipping", 1, 1, "SELECT TIMESTAMPDIFF(MICROSECOND, created_at, "
	    "dispatched_at) >= %lld FROM shipments WHERE order_id = %lld", (long long)delay_ms * 1000,
	    (long long)order), 1);

	get_shipment(auth_b, q, &r);			/* another user: not found */
	it_refused(&r, 404, "not_found");
	get_shipment(auth_admin, q, &r);		/* an admin reads any */
	assert_int_equal(r.status, 200);
	assert_true(it_int(&r, "user_id") > 0);
	it_resp_free(&r);
	get_shipment(NULL, q, &r);
	assert_int_equal(r.status, 401);
	it_resp_free(&r);
	for (i = 0; i < (int)(sizeof(bad_queries) / sizeof(bad_queries[0])); i++) {
		get_shipment(auth_a, bad_queries[i].q, &r);
		it_refused(&r, bad_queries[i].status, bad_queries[i].code);
	}
	/* Every outbox drained. */
	assert_int_equal(it_wait_db("orders", 0, 10, "SELECT COUNT(*) FROM outbox"), 0);
	assert_int_equal(it_wait_db("shipping", 0, 10, "SELECT COUNT(*) FROM outbox"), 0);
}

/*
 * The dispatcher is woken when a shipment is due (its consumer's commit tells it), not found
 * by the next poll: three checkouts a third of a second apart, each dispatched within its
 * delay + 300 ms (rounds are at least 100 ms apart; the rest is this shared box). A dispatcher
 * that only ran at its 1 s cap would miss that for most of them.
 */
#define SHIP_LATE_MAX_US	300000
static void
test_dispatched_when_due(void **state)
{
	MYSQL	*db;
	char	 key[64];
	int64_t	 order[3], late;
	int	 i;

	(void)state;
	for (i = 0; i < 3; i++) {
		snprintf(key, sizeof(key), "ship-due-%ld-%d", run_id, i);
		order[i] = checkout(auth_a, product, 1, key);
		usleep(333000);
	}
	for (i = 0; i < 3; i++)
		assert_true(wait_order(auth_a, order[i], "shipped", 30 + (int)(delay_ms / 1000)));
	assert_non_null(db = it_db("shipping"));
	for (i = 0; i < 3; i++) {
		late = it_db_int(db, "SELECT TIMESTAMPDIFF(MICROSECOND, created_at, dispatched_at) - "
		    "%lld FROM shipments WHERE order_id = %lld", (long long)delay_ms * 1000,
		    (long long)order[i]);
		print_message("shipment of order %lld: dispatched %lld µs after its delay\n",
		    (long long)order[i], (long long)late);
		assert_true(late >= 0 && late <= SHIP_LATE_MAX_US);
	}
	mysql_close(db);
}

/*
 * Idle, the dispatcher does not poll: over 3 s with no shipment pending it runs about once a
 * second (its cap, bg_max_ms), not ten times as a 100 ms poll would. At most 6 rounds.
 */
static void
test_idle_dispatcher_does_not_poll(void **state)
{
	double	before, after;

	(void)state;
	/* Nothing pending (every earlier test waited for its shipments). */
	assert_int_equal(it_wait_db("shipping", 0, 30, "SELECT COUNT(*) FROM shipments WHERE "
	    "status = 'created'"), 0);
	assert_true((before = it_metric("shipping", "shoplab_background_rounds_total")) >= 0);
	sleep(3);
	assert_true((after = it_metric("shipping", "shoplab_background_rounds_total")) >= before);
	print_message("idle dispatcher: %.0f rounds in 3 s\n", after - before);
	assert_true(after - before <= 6);
}

static void
confirmed_envelope(char *out, size_t len, const char *id, int64_t order, int64_t user)
{
	snprintf(out, len, "{\"id\":\"%s\",\"type\":\"order.confirmed\",\"version\":1,"
	    "\"occurred_at\":\"2026-12-01T00:00:00.000000Z\",\"source\":\"orders\",\"key\":\"%lld\","
	    "\"data\":{\"order_id\":%lld,\"user_id\":%lld,\"total_cents\":250,\"currency\":\"EUR\","
	    "\"items\":[{\"product_id\":1,\"quantity\":1}]}}", id, (long long)order,
	    (long long)order, (long long)user);
}

/*
 * The same order.confirmed delivered twice, and another message for the same order: one
 * shipment, one shipment.created. Data that can never apply is dead-lettered, not retried.
 */
static void
test_duplicate_confirmed_makes_one_shipment(void **state)
{
	char	key[64], id[64], id2[64], body[1024];
	int64_t	order, user, ship;
	double	dup0 = it_metric("shipping", "shoplab_events_duplicates_total");
	double	dead0 = it_metric("shipping", "shoplab_events_dead_letters_total");
	int	i;

	(void)state;
	snprintf(key, sizeof(key), "ship-dup-%ld", run_id);
	order = checkout(auth_a, product, 1, key);
	assert_int_equal(it_wait_db("shipping", 1, 15, "SELECT COUNT(*) FROM shipments WHERE "
	    "order_id = %lld", (long long)order), 1);
	user = db_val("shipping", "SELECT user_id FROM shipments WHERE order_id = %lld", order);
	ship = db_val("shipping", "SELECT id FROM shipments WHERE order_id = %lld", order);
	snprintf(id, sizeof(id), "it-ship-dup-%ld", run_id);
	confirmed_envelope(body, sizeof(body), id, order, user);
	publish_as_orders("order.confirmed", body);
	publish_as_orders("order.confirmed", body);
	snprintf(id2, sizeof(id2), "it-ship-dup2-%ld", run_id);
	confirmed_envelope(body, sizeof(body), id2, order, user);
	publish_as_orders("order.confirmed", body);
	assert_int_equal(it_wait_db("shipping", 2, 15, "SELECT COUNT(*) FROM inbox WHERE id IN "
	    "('%s', '%s')", id, id2), 2);
	for (i = 0; i < 100 && it_metric("shipping", "shoplab_events_duplicates_total") < dup0 + 1; i++)
		usleep(100000);
	assert_true(it_metric("shipping", "shoplab_events_duplicates_total") >= dup0 + 1);
	assert_int_equal(it_wait_db("shipping", 1, 1, "SELECT COUNT(*) FROM shipments WHERE "
	    "order_id = %lld", (long long)order), 1);
	assert_true(wait_order(auth_a, order, "shipped", 30 + (int)(delay_ms / 1000)));
	/* One shipment.created and one shipment.dispatched reached orders for it. */
	assert_true(db_val("orders", "SELECT shipment_id FROM orders WHERE id = %lld", order) == ship);

	/* order_id a string: can never apply. */
	snprintf(id, sizeof(id), "it-ship-bad-%ld", run_id);
	snprintf(body, sizeof(body), "{\"id\":\"%s\",\"type\":\"order.confirmed\",\"version\":1,"
	    "\"occurred_at\":\"2026-12-01T00:00:00.000000Z\",\"source\":\"orders\",\"key\":\"x\","
	    "\"data\":{\"order_id\":\"x\",\"user_id\":1}}", id);
	publish_as_orders("order.confirmed", body);
	assert_int_equal(it_wait_db("shipping", 1, 15, "SELECT COUNT(*) FROM dead_letters WHERE "
	    "msg_id = '%s' AND attempts = 1", id), 1);
	/* The counter moves just after the commit the query above saw: give it a moment. */
	for (i = 0; i < 100 && it_metric("shipping", "shoplab_events_dead_letters_total") < dead0 + 1; i++)
		usleep(100000);
	assert_true(it_metric("shipping", "shoplab_events_dead_letters_total") >= dead0 + 1);
}

/*
 * An admin changes a price: product.price_changed goes out (read from a queue of the test's
 * own, bound as the broker's admin) and the next checkout charges the new price.
 */
static void
test_price_change_publishes_and_charges(void **state)
{
	amqp_connection_state_t	 c;
	amqp_queue_declare_ok_t	*qd;
	amqp_bytes_t		 qname;
	amqp_envelope_t		 env;
	amqp_rpc_reply_t	 x;
	struct timeval		 tv;
	struct it_resp		 r;
	json_object		*ev = NULL, *d, *v;
	json_tokener		*tok;
	const char		*h[3] = { auth_admin, "Content-Type: application/json", NULL };
	const char		*hu[3] = { auth_a, "Content-Type: application/json", NULL };
	char			 path[64], key[64];
	int64_t			 p, order;
	int			 i;

	(void)state;
	p = new_product("price", 1000, 1000);
	c = amqp_as("shoplab-admin", "SHOPLAB_AMQP_ADMIN_PASSWORD", 0);
	assert_non_null(qd = amqp_queue_declare(c, 1, amqp_empty_bytes, 0, 0, 1, 1,
	    amqp_empty_table));
	assert_int_equal(amqp_get_rpc_reply(c).reply_type, AMQP_RESPONSE_NORMAL);
	qname = amqp_bytes_malloc_dup(qd->queue);
	assert_non_null(amqp_queue_bind(c, 1, qname, amqp_cstring_bytes("shoplab.events"),
	    amqp_cstring_bytes("product.price_changed"), amqp_empty_table));
	assert_int_equal(amqp_get_rpc_reply(c).reply_type, AMQP_RESPONSE_NORMAL);
	assert_non_null(amqp_basic_consume(c, 1, qname, amqp_empty_bytes, 0, 1, 0,
	    amqp_empty_table));
	assert_int_equal(amqp_get_rpc_reply(c).reply_type, AMQP_RESPONSE_NORMAL);

	snprintf(path, sizeof(path), "/api/v1/products/%lld", (long long)p);
	it_expect("PATCH", it_gateway(), path, hu, "{\"price_cents\":1}", 403, "forbidden");
	it_expect("PATCH", it_gateway(), path, h, "{\"price_cents\":-1}", 400,
	    "validation_failed");
	it_expect("PATCH", it_gateway(), path, h, "{\"price\":1}", 400, "validation_failed");
	it_expect("PATCH", it_gateway(), "/api/v1/products/999999999999", h, "{\"price_cents\":1}",
	    404, "not_found");
	assert_int_equal(it_request("PATCH", it_gateway(), path, h, "{\"price_cents\":1234}", &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(it_int(&r, "price_cents"), 1234);
	it_resp_free(&r);

	/* The event (other products' price changes from other runs may come first: skip them). */
	for (i = 0; i < 20 && ev == NULL; i++) {
		tv.tv_sec = 1;
		tv.tv_usec = 0;
		amqp_maybe_release_buffers(c);
		x = amqp_consume_message(c, &env, &tv, 0);
		if (x.reply_type != AMQP_RESPONSE_NORMAL)
			continue;
		/* The body is not NUL-terminated: parse it by its length. */
		assert_non_null(tok = json_tokener_new());
		v = json_tokener_parse_ex(tok, (const char *)env.message.body.bytes,
		    (int)env.message.body.len);
		json_tokener_free(tok);
		amqp_destroy_envelope(&env);
		assert_non_null(v);
		if (json_object_object_get_ex(v, "data", &d) &&
		    json_object_object_get_ex(d, "product_id", &d) &&
		    json_object_get_int64(d) == p)
			ev = v;
		else
			json_object_put(v);
	}
	amqp_bytes_free(qname);
	amqp_done(c);
	assert_non_null(ev);
	assert_string_equal(json_object_get_string(json_object_object_get(ev, "type")),
	    "product.price_changed");
	assert_string_equal(json_object_get_string(json_object_object_get(ev, "source")), "catalog");
	d = json_object_object_get(ev, "data");
	assert_int_equal(json_object_get_int64(json_object_object_get(d, "old_price_cents")), 1000);
	assert_int_equal(json_object_get_int64(json_object_object_get(d, "new_price_cents")), 1234);
	assert_string_equal(json_object_get_string(json_object_object_get(d, "currency")), "EUR");
	json_object_put(ev);

	/* The next checkout charges the new price. */
	snprintf(key, sizeof(key), "ship-price-%ld", run_id);
	order = checkout(auth_a, p, 2, key);
	assert_int_equal(it_wait_db("orders", 2468, 1, "SELECT total_cents FROM orders WHERE id = %lld",
	    (long long)order), 2468);
	assert_int_equal(it_wait_db("payments", 2468, 1, "SELECT SUM(amount_cents) FROM charges WHERE "
	    "order_id = %lld", (long long)order), 2468);
}

/*
 * shipping dies after committing the shipment (and its inbox row) and before the ack: the
 * broker redelivers order.confirmed to the restarted service, which finds it in its inbox.
 * One shipment, and the order still ends shipped.
 */
static void
test_consumer_crash_before_ack_no_duplicate(void **state)
{
	char	key[64];
	pid_t	pid;
	int64_t	order;
	int	i;

	(void)state;
	if (!it_test_hooks("shipping")) {
		fprintf(stderr, "skipped: %s has no test hooks (make test builds them: build-test/)\n",
		    "shipping");
		skip();
	}
	/*
	 * An order.confirmed of an earlier test still on its way would make the restarted
	 * service crash before stack.sh sees it ready: first every confirmed order is shipped.
	 */
	for (i = 0; i < 150 && db_val("orders", "SELECT COUNT(*) FROM orders WHERE status IN "
	    "('confirmed', 'shipped') AND id > %lld", 0) !=
	    db_val("shipping", "SELECT COUNT(*) FROM shipments WHERE order_id > %lld", 0); i++)
		usleep(100000);
	it_restart("shipping", "SHOPLAB_SHIPPING_EVENTS_CRASH_BEFORE_ACK=1");
	pid = it_pid("shipping");
	assert_true(pid > 0);
	snprintf(key, sizeof(key), "ship-crash-%ld", run_id);
	order = checkout(auth_a, product, 1, key);
	for (i = 0; i < 200 && it_running(pid); i++)
		usleep(100000);
	assert_false(it_running(pid));
	/* It died after the commit: the shipment is there. */
	assert_int_equal(it_wait_db("shipping", 1, 5, "SELECT COUNT(*) FROM shipments WHERE "
	    "order_id = %lld", (long long)order), 1);
	assert_int_equal(it_sh("\"$SHOPLAB_TOP/scripts/stack.sh\" up >&2"), 0);
	for (i = 0; i < 150 && it_metric("shipping", "shoplab_events_duplicates_total") < 1; i++)
		usleep(100000);
	assert_true(it_metric("shipping", "shoplab_events_duplicates_total") >= 1);
	assert_true(wait_order(auth_a, order, "shipped", 30 + (int)(delay_ms / 1000)));
	assert_int_equal(it_wait_db("shipping", 1, 1, "SELECT COUNT(*) FROM shipments WHERE "
	    "order_id = %lld", (long long)order), 1);
}

struct load {
	int	 from, n;
	int64_t	 ids[64];
	int	 got, bad;
};

/*
 * Checkouts one after another; each is confirmed without the broker (the outbox holds it).
 * No cmocka asserts off the main thread: answers other than 201 confirmed are counted.
 */
static void *
load_run(void *arg)
{
	struct load	*l = arg;
	char		 key[64], keyline[96], body[256];
	const char	*h[4] = { auth_b, keyline, "Content-Type: application/json", NULL };
	struct it_resp	 r;
	int		 i;

	snprintf(body, sizeof(body), "{\"items\":[{\"product_id\":%lld,\"quantity\":1}],"
	    "\"card\":{\"number\":\"4242424242424242\",\"exp_month\":12,\"exp_year\":2031,"
	    "\"cvc\":\"123\"}}", (long long)product);
	for (i = 0; i < l->n; i++) {
		snprintf(key, sizeof(key), "ship-load-%ld-%d", run_id, l->from + i);
		snprintf(keyline, sizeof(keyline), "Idempotency-Key: %s", key);
		if (it_request("POST", it_gateway(), "/api/v1/orders", h, body, &r) == 0 &&
		    r.status == 201 && it_str(&r, "status") != NULL &&
		    strcmp(it_str(&r, "status"), "confirmed") == 0)
			l->ids[l->got++] = it_int(&r, "id");
		else
			l->bad++;
		it_resp_free(&r);
		usleep(50000);
	}
	return NULL;
}

/*
 * kill -9 the broker in the middle of a stream of checkouts, start it again: every order
 * confirmed meanwhile ends shipped with exactly one shipment, and every outbox empties.
 */
static void
test_broker_kill_mid_load_loses_nothing(void **state)
{
	struct load	 l[2];
	pthread_t	 t[2];
	pid_t		 pid = it_pid("rabbitmq");
	char		 list[2048];
	size_t		 off = 0;
	int		 i, k, total = 0;

	(void)state;
	assert_true(pid > 0);
	memset(l, 0, sizeof(l));
	for (k = 0; k < 2; k++) {
		l[k].from = k * 100;
		l[k].n = 20;
		assert_int_equal(pthread_create(&t[k], NULL, load_run, &l[k]), 0);
	}
	usleep(500000);
	assert_int_equal(kill(pid, SIGKILL), 0);
	for (i = 0; i < 100 && kill(pid, 0) == 0; i++)
		usleep(50000);
	usleep(1500000);
	assert_int_equal(it_sh(BROKER_RESTART), 0);
	for (k = 0; k < 2; k++)
		assert_int_equal(pthread_join(t[k], NULL), 0);
	for (k = 0; k < 2; k++)
		for (i = 0; i < l[k].got; i++) {
			off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%lld",
			    total ? "," : "", (long long)l[k].ids[i]);
			total++;
		}
	assert_int_equal(l[0].bad + l[1].bad, 0);
	assert_int_equal(total, 40);
	assert_int_equal(it_wait_db("orders", total, 90, "SELECT COUNT(*) FROM orders WHERE id IN (%s) "
	    "AND status = 'shipped'", list), total);
	assert_int_equal(it_wait_db("shipping", total, 1, "SELECT COUNT(*) FROM shipments WHERE "
	    "order_id IN (%s)", list), total);
	assert_int_equal(it_wait_db("orders", 0, 30, "SELECT COUNT(*) FROM outbox"), 0);
	assert_int_equal(it_wait_db("shipping", 0, 30, "SELECT COUNT(*) FROM outbox"), 0);
	assert_int_equal(it_wait_db("catalog", 0, 30, "SELECT COUNT(*) FROM outbox"), 0);
	it_check_invariants();
}

/*
 * The outside tester's case: shipping's database away while checkouts go on (it lost 2 of 70
 * shipments at 2 checkouts/s with a 15 s cut). shipping's link to MariaDB (the sim proxy's
 * shipping-db) is off for SHOPLAB_IT_OUTAGE_S (20) seconds at about 2 checkouts a second:
 * shipping pauses its consumer and retries; once the database is back every order is
 * shipped, one shipment each, and shipping dead-lettered nothing.
 */
static void
test_shipping_db_away_every_order_ships(void **state)
{
	const char	*api = getenv("SHOPLAB_PROXY_API"), *px = getenv("SHOPLAB_PROXY");
	const char	*env = getenv("SHOPLAB_IT_OUTAGE_S");
	int		 outage = env != NULL && atoi(env) > 0 ? atoi(env) : 20;
	char		 key[64], list[8192];
	int64_t		 dead0, id;
	size_t		 off = 0;
	int		 n = 0, paused = 0;
	time_t		 t0;

	(void)state;
	if (api == NULL || px == NULL || strcmp(px, "1") != 0)
		skip();
	dead0 = db_val("shipping", "SELECT COUNT(*) FROM dead_letters WHERE seq > %lld", 0);
	it_expect("POST", api, "/proxies/shipping-db", NULL, "{\"enabled\":false}", 200, NULL);
	t0 = time(NULL);
	while (time(NULL) - t0 < outage && n < 60) {
		snprintf(key, sizeof(key), "ship-away-%ld-%d", run_id, n);
		id = checkout(auth_a, product, 1, key);
		off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%lld", n ? "," : "",
		    (long long)id);
		n++;
		paused |= it_metric("shipping", "shoplab_events_consumer_paused") == 1;
		usleep(500000);
	}
	it_expect("POST", api, "/proxies/shipping-db", NULL, "{\"enabled\":true}", 200, NULL);
	printf("# shipping's database away %d s: %d checkouts, consumer paused: %s\n", outage, n,
	    paused ? "yes" : "no");
	assert_true(paused);
	assert_int_equal(it_wait_db("orders", n, 120, "SELECT COUNT(*) FROM orders WHERE id IN (%s) "
	    "AND status = 'shipped'", list), n);
	assert_int_equal(it_wait_db("shipping", n, 1, "SELECT COUNT(*) FROM shipments WHERE "
	    "order_id IN (%s)", list), n);
	assert_int_equal(db_val("shipping", "SELECT COUNT(*) FROM dead_letters WHERE seq > %lld", 0),
	    dead0);
	assert_int_equal(it_metric("shipping", "shoplab_events_consumer_paused"), 0);
	it_check_invariants();
}

IT_MAIN("integration/shipping", setup, NULL,
    cmocka_unit_test(test_checkout_ships),
    cmocka_unit_test(test_dispatched_when_due),
    cmocka_unit_test(test_idle_dispatcher_does_not_poll),
    cmocka_unit_test(test_duplicate_confirmed_makes_one_shipment),
    cmocka_unit_test(test_price_change_publishes_and_charges),
    cmocka_unit_test(test_consumer_crash_before_ack_no_duplicate),
    cmocka_unit_test(test_broker_kill_mid_load_loses_nothing),
    cmocka_unit_test(test_shipping_db_away_every_order_ships))
