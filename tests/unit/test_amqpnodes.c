/* test_amqpnodes.c - the broker list: SHOPLAB_AMQP_HOSTS parsing, which node a connection tries, failover with an injected clock, shoplab_amqp_node */
#include <stdlib.h>

#include "svc_test.h"

#define S 1000000LL	/* one second in microseconds */

/* The injected clock, and the fake brokers: up[i] says whether node i takes a connection. */
static int64_t	fake_now;
static int	up[3];
static size_t	tried[16];
static size_t	ntried;

static int64_t
fake_clock(void)
{
	return fake_now;
}

/* A connection attempt: recorded; each one takes a second (a connect timeout). */
static int
fake_try(void *arg, size_t i)
{
	(void)arg;
	if (ntried < sizeof(tried) / sizeof(tried[0]))
		tried[ntried] = i;
	ntried++;
	fake_now += S;
	return up[i] ? 0 : -1;
}

static void
reset(int a, int b, int c)
{
	up[0] = a;
	up[1] = b;
	up[2] = c;
	ntried = 0;
}

static void
test_parse(void **state)
{
	struct svc_dbnodes	ns;
	char			err[256];

	(void)state;
	assert_int_equal(svc_nodes_init(&ns, "SHOPLAB_AMQP_HOSTS", "SHOPLAB_AMQP_HOST",
	    "10.232.0.21:5672,10.232.0.22:5672,br3:5673", "127.0.0.1", 5673, err, sizeof(err)), 0);
	assert_int_equal(ns.n, 3);
	assert_string_equal(ns.node[2].label, "br3:5673");
	svc_dbnodes_free(&ns);
	/* The one-broker form (SHOPLAB_AMQP_HOST and _PORT) keeps working. */
	assert_int_equal(svc_nodes_init(&ns, "SHOPLAB_AMQP_HOSTS", "SHOPLAB_AMQP_HOST", "",
	    "127.0.0.1", 5673, err, sizeof(err)), 0);
	assert_int_equal(ns.n, 1);
	assert_string_equal(ns.node[0].label, "127.0.0.1:5673");
	svc_dbnodes_free(&ns);
	/* A bad list names the broker setting, not the database one. */
	assert_int_equal(svc_nodes_init(&ns, "SHOPLAB_AMQP_HOSTS", "SHOPLAB_AMQP_HOST",
	    "10.232.0.21:5672,,x:1", "h", 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "SHOPLAB_AMQP_HOSTS"));
	assert_null(strstr(err, "SHOPLAB_DB"));
	svc_dbnodes_free(&ns);
	assert_int_equal(svc_nodes_init(&ns, "SHOPLAB_AMQP_HOSTS", "SHOPLAB_AMQP_HOST",
	    "10.232.0.21", "h", 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "SHOPLAB_AMQP_HOSTS"));
	svc_dbnodes_free(&ns);
}

static void
test_failover_and_back(void **state)
{
	struct svc_dbnodes	ns;
	char			err[256];
	size_t			used = 99;

	(void)state;
	fake_now = 1000 * S;
	assert_int_equal(svc_nodes_init(&ns, "SHOPLAB_AMQP_HOSTS", "SHOPLAB_AMQP_HOST",
	    "a:1,b:2,c:3", "x", 1, err, sizeof(err)), 0);
	/* All up: the first node, one attempt. */
	reset(1, 1, 1);
	assert_int_equal(svc_nodes_try(&ns, fake_clock, fake_try, NULL, &used), 0);
	assert_int_equal(used, 0);
	assert_int_equal(ntried, 1);
	/* a is killed: the reconnection goes on to b. */
	reset(0, 1, 1);
	assert_int_equal(svc_nodes_try(&ns, fake_clock, fake_try, NULL, &used), 0);
	assert_int_equal(used, 1);
	assert_int_equal(ntried, 2);
	assert_int_equal(tried[0], 0);
	assert_int_equal(tried[1], 1);
	/* The other thread connects within the hold time: straight to b, a is not tried. */
	reset(0, 1, 1);
	assert_int_equal(svc_nodes_try(&ns, fake_clock, fake_try, NULL, &used), 0);
	assert_int_equal(used, 1);
	assert_int_equal(ntried, 1);
	/* b is lost too (the thread marks it as svc_ev_broker.c does): c, a still held last. */
	svc_dbnodes_failed(&ns, 1, fake_now);
	reset(0, 0, 1);
	assert_int_equal(svc_nodes_try(&ns, fake_clock, fake_try, NULL, &used), 0);
	assert_int_equal(used, 2);
	assert_int_equal(ntried, 1);
	/* Every node down: each tried once, -1, and every one is held for the hold time. */
	reset(0, 0, 0);
	used = 99;
	assert_int_equal(svc_nodes_try(&ns, fake_clock, fake_try, NULL, &used), -1);
	assert_int_equal(ntried, 3);
	assert_int_equal(used, 99);
	/* a comes back: after the hold time it is first again (the list's order). */
	fake_now += SVC_DBNODES_HOLD_US;
	reset(1, 0, 0);
	assert_int_equal(svc_nodes_try(&ns, fake_clock, fake_try, NULL, &used), 0);
	assert_int_equal(used, 0);
	assert_int_equal(ntried, 1);
	svc_dbnodes_free(&ns);
}

static void
test_hold_is_taken_after_the_attempt(void **state)
{
	struct svc_dbnodes	ns;
	char			err[256];
	size_t			order[SVC_DBNODES_MAX], used;
	int64_t			t0;

	(void)state;
	fake_now = t0 = 50 * S;
	assert_int_equal(svc_nodes_init(&ns, "SHOPLAB_AMQP_HOSTS", "SHOPLAB_AMQP_HOST", "a:1,b:2",
	    "x", 1, err, sizeof(err)), 0);
	reset(0, 1, 0);
	assert_int_equal(svc_nodes_try(&ns, fake_clock, fake_try, NULL, &used), 0);
	/* a failed at t0 + 1 s (its attempt took a second): still held until t0 + 1 s + hold. */
	assert_int_equal(svc_dbnodes_order(&ns, t0 + SVC_DBNODES_HOLD_US + S - 1, order), 2);
	assert_int_equal(order[0], 1);
	assert_int_equal(svc_dbnodes_order(&ns, t0 + SVC_DBNODES_HOLD_US + S, order), 2);
	assert_int_equal(order[0], 0);
	svc_dbnodes_free(&ns);
}

static const char *const metrics_want[] = {
	"# TYPE shoplab_amqp_node gauge\n",
	"shoplab_amqp_node{service=\"orders\",node=\"10.232.0.21:5672\"} 0\n",
	"shoplab_amqp_node{service=\"orders\",node=\"10.232.0.22:5672\"} 1\n",
	"shoplab_amqp_node{service=\"orders\",node=\"10.232.0.23:5672\"} 0\n",
	"shoplab_amqp_failovers_total{service=\"orders\"} 1\n",
};

static void
test_metrics(void **state)
{
	struct svc_dbnodes	ns;
	struct svc_buf		b;
	char			err[256];
	int			node_of[2] = { 1, -1 };

	(void)state;
	assert_int_equal(svc_nodes_init(&ns, "SHOPLAB_AMQP_HOSTS", "SHOPLAB_AMQP_HOST",
	    "10.232.0.21:5672,10.232.0.22:5672,10.232.0.23:5672", "x", 1, err, sizeof(err)), 0);
	svc_dbnodes_used(&ns, 0);
	svc_dbnodes_used(&ns, 1);
	svc_buf_init(&b);
	assert_int_equal(svc_amqpnodes_metrics_write(&ns, "orders", node_of, 2, &b), 0);
	svc_unit_has(b.data, metrics_want, SVC_UNIT_N(metrics_want));
	svc_buf_free(&b);
	/* Relay on one node, consumer on another: both are 1; no connection: all 0. */
	node_of[1] = 2;
	svc_buf_init(&b);
	assert_int_equal(svc_amqpnodes_metrics_write(&ns, "orders", node_of, 2, &b), 0);
	assert_non_null(strstr(b.data, "node=\"10.232.0.23:5672\"} 1\n"));
	svc_buf_free(&b);
	node_of[0] = node_of[1] = -1;
	svc_buf_init(&b);
	assert_int_equal(svc_amqpnodes_metrics_write(&ns, "orders", node_of, 2, &b), 0);
	assert_null(strstr(b.data, "5672\"} 1\n"));
	assert_non_null(strstr(b.data, "node=\"10.232.0.21:5672\"} 0\n"));
	svc_buf_free(&b);
	svc_dbnodes_free(&ns);
}

SVC_UNIT_MAIN("amqpnodes",
    cmocka_unit_test(test_parse),
    cmocka_unit_test(test_failover_and_back),
    cmocka_unit_test(test_hold_is_taken_after_the_attempt),
    cmocka_unit_test(test_metrics))
