/* test_dbnodes.c - the database node list: parsing SHOPLAB_DB_HOSTS, the try order with an injected clock, failover counting, readiness */
#include <stdlib.h>

#include "svc_test.h"

#define S 1000000LL	/* one second in microseconds */

static void
test_parse_list(void **state)
{
	struct svc_dbnodes	ns;
	char			err[256];

	(void)state;
	assert_int_equal(svc_dbnodes_init(&ns, "10.0.0.1:3307,db-2.lab:3308,db_3:1", "x", 1,
	    err, sizeof(err)), 0);
	assert_int_equal(ns.n, 3);
	assert_string_equal(ns.node[0].host, "10.0.0.1");
	assert_int_equal(ns.node[0].port, 3307);
	assert_string_equal(ns.node[1].label, "db-2.lab:3308");
	assert_int_equal(ns.node[2].port, 1);
	svc_dbnodes_free(&ns);
}

static void
test_one_node_form(void **state)
{
	struct svc_dbnodes	ns;
	char			err[256];

	(void)state;
	assert_int_equal(svc_dbnodes_init(&ns, "", "127.0.0.1", 3307, err, sizeof(err)), 0);
	assert_int_equal(ns.n, 1);
	assert_string_equal(ns.node[0].label, "127.0.0.1:3307");
	svc_dbnodes_free(&ns);
	assert_int_equal(svc_dbnodes_init(&ns, NULL, "db", 3310, err, sizeof(err)), 0);
	assert_string_equal(ns.node[0].label, "db:3310");
	svc_dbnodes_free(&ns);
}

static void
test_bad_lists(void **state)
{
	static const char *const bad[] = {
		"10.0.0.1", "10.0.0.1:", ":3307", "a:0", "a:65536", "a:33o7", "a:3307,", ",a:1",
		"a:1,,b:2", "a b:1", "a:1;b:2", "a:-1", "a:1234567",
		"a:1,a:2,a:3,a:4,a:5,a:6,a:7,a:8,a:9",
	};
	struct svc_dbnodes	ns;
	char			err[256], big[400];
	size_t			i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(svc_dbnodes_init(&ns, bad[i], "x", 1, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "SHOPLAB_DB_HOSTS"));
		assert_int_equal(ns.n, 0);
		svc_dbnodes_free(&ns);
	}
	memset(big, 'h', sizeof(big));
	memcpy(big + sizeof(big) - 6, ":3307", 6);
	assert_int_equal(svc_dbnodes_init(&ns, big, "x", 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "longer than"));
	svc_dbnodes_free(&ns);
}

static void
assert_order(struct svc_dbnodes *ns, int64_t now, size_t a, size_t b, size_t c)
{
	size_t order[SVC_DBNODES_MAX];

	assert_int_equal(svc_dbnodes_order(ns, now, order), 3);
	assert_int_equal(order[0], a);
	assert_int_equal(order[1], b);
	assert_int_equal(order[2], c);
}

static void
test_order_and_hold(void **state)
{
	struct svc_dbnodes	ns;
	char			err[256];
	int64_t			t0 = 1000 * S;

	(void)state;
	assert_int_equal(svc_dbnodes_init(&ns, "a:1,b:2,c:3", "x", 1, err, sizeof(err)), 0);
	/* The preferred node first, then the list's order. */
	assert_order(&ns, t0, 0, 1, 2);
	/* The preferred node fails: tried last for the hold time, first again after it. */
	svc_dbnodes_failed(&ns, 0, t0);
	assert_order(&ns, t0 + 1, 1, 2, 0);
	assert_order(&ns, t0 + SVC_DBNODES_HOLD_US - 1, 1, 2, 0);
	assert_order(&ns, t0 + SVC_DBNODES_HOLD_US, 0, 1, 2);
	/* Two fail: the healthy one first, the failed ones after it in the list's order. */
	svc_dbnodes_failed(&ns, 0, t0);
	svc_dbnodes_failed(&ns, 1, t0 + S);
	assert_order(&ns, t0 + 2 * S, 2, 0, 1);
	/* All failed: still every node, in the list's order (a node may be back). */
	svc_dbnodes_failed(&ns, 2, t0 + 2 * S);
	assert_order(&ns, t0 + 3 * S, 0, 1, 2);
	/* A success clears the node's hold at once. */
	svc_dbnodes_used(&ns, 1);
	assert_order(&ns, t0 + 3 * S, 1, 0, 2);
	svc_dbnodes_failed(&ns, 7, t0);		/* out of range: ignored */
	svc_dbnodes_free(&ns);
}

static void
test_return_to_preferred(void **state)
{
	struct svc_dbnodes	ns;
	char			err[256];
	int64_t			t0 = 1000 * S, hold = SVC_DBNODES_HOLD_US;

	(void)state;
	assert_int_equal(svc_dbnodes_init(&ns, "a:1,b:2,c:3", "x", 1, err, sizeof(err)), 0);
	/* On the preferred node already: stay. */
	assert_false(svc_dbnodes_should_return(&ns, 0, t0, t0 + 100 * S));
	/* Failed over to b at t0 because a failed then: not before the hold time has passed... */
	svc_dbnodes_failed(&ns, 0, t0);
	assert_false(svc_dbnodes_should_return(&ns, 1, t0, t0 + hold - 1));
	/* ... then back. */
	assert_true(svc_dbnodes_should_return(&ns, 1, t0, t0 + hold));
	/* a failed again (a worker tried it): every worker stays away for another hold time. */
	svc_dbnodes_failed(&ns, 0, t0 + hold);
	assert_false(svc_dbnodes_should_return(&ns, 2, t0, t0 + hold + 1));
	assert_true(svc_dbnodes_should_return(&ns, 2, t0, t0 + 2 * hold));
	/* A worker that arrived on c recently waits its own hold time. */
	assert_false(svc_dbnodes_should_return(&ns, 2, t0 + 2 * hold - 1, t0 + 2 * hold));
	svc_dbnodes_free(&ns);
	/* One node: nowhere to return to. */
	assert_int_equal(svc_dbnodes_init(&ns, "", "h", 1, err, sizeof(err)), 0);
	assert_false(svc_dbnodes_should_return(&ns, 0, 0, 100 * S));
	svc_dbnodes_free(&ns);
}

static const char *const metrics_want[] = {
	"shoplab_db_node{service=\"orders\",node=\"10.1.0.1:3307\",preferred=\"yes\"} 0\n",
	"shoplab_db_node{service=\"orders\",node=\"10.1.0.2:3307\",preferred=\"no\"} 1\n",
	"shoplab_db_failovers_total{service=\"orders\"} 3\n",
};

static void
test_failovers_and_metrics(void **state)
{
	struct svc_dbnodes	ns;
	struct svc_buf		b;
	char			err[256];
	uint64_t		fo;
	size_t			cur;

	(void)state;
	assert_int_equal(svc_dbnodes_init(&ns, "10.1.0.1:3307,10.1.0.2:3307", "x", 1, err,
	    sizeof(err)), 0);
	assert_int_equal(svc_dbnodes_current(&ns, &cur, &fo), 0);
	svc_dbnodes_used(&ns, 0);
	svc_dbnodes_used(&ns, 0);
	assert_int_equal(svc_dbnodes_current(&ns, &cur, &fo), 1);
	assert_int_equal(cur, 0);
	assert_int_equal(fo, 0);
	svc_dbnodes_used(&ns, 1);
	svc_dbnodes_used(&ns, 0);
	assert_int_equal(svc_dbnodes_current(&ns, &cur, &fo), 1);
	assert_int_equal(fo, 2);
	svc_dbnodes_used(&ns, 1);
	svc_buf_init(&b);
	assert_int_equal(svc_dbnodes_metrics_write(&ns, "orders", &b), 0);
	svc_unit_has(b.data, metrics_want, SVC_UNIT_N(metrics_want));
	svc_buf_free(&b);
	svc_dbnodes_free(&ns);
}

static void
test_ready(void **state)
{
	(void)state;
	/* A plain MariaDB: no wsrep, always ready. */
	assert_true(svc_dbnodes_ready("0", NULL, NULL));
	assert_true(svc_dbnodes_ready(NULL, NULL, NULL));
	assert_true(svc_dbnodes_ready("0", "OFF", "0"));
	/* Galera: ready only when Synced. */
	assert_true(svc_dbnodes_ready("1", "ON", "4"));
	assert_false(svc_dbnodes_ready("1", "OFF", "4"));	/* non-primary */
	assert_false(svc_dbnodes_ready("1", "ON", "2"));	/* a donor */
	assert_false(svc_dbnodes_ready("1", "ON", "1"));	/* joining */
	assert_false(svc_dbnodes_ready("1", NULL, "4"));
	assert_false(svc_dbnodes_ready("1", "ON", NULL));
}

static void
test_galera_errors(void **state)
{
	(void)state;
	/* A certification failure is a deadlock: retried as one. */
	assert_int_equal(svc_db_classify(1213), SVC_ERR_DB_RETRY);
	/* A node out of the primary component: unavailable, so the worker moves to another node. */
	assert_int_equal(svc_db_classify(1047), SVC_ERR_DB_UNAVAILABLE);
	assert_int_equal(svc_db_classify(1180), SVC_ERR_DB_UNAVAILABLE);
	assert_int_equal(svc_db_classify(2013), SVC_ERR_DB_UNAVAILABLE);
}

/*
 * A transaction whose connection is lost is over: its remaining statements must fail, never run
 * on a new connection in autocommit mode (each would commit alone). Nothing listens on
 * 127.0.0.1:1, so a connection attempt shows as a database error in the metrics.
 */
static void
test_lost_connection_ends_the_transaction(void **state)
{
	static const char *const stmts[] = { "SELECT 1" };
	struct svc_test_req	t;
	struct svc_worker	w;
	char			err[256], empty[1] = "";

	(void)state;
	svc_test_req_init(&t, "POST", NULL, NULL);
	t.svc.stmts = stmts;
	t.svc.nstmts = 1;
	t.srv.cfg.db_user = t.srv.cfg.db_password = t.srv.cfg.db_name = t.srv.cfg.db_socket = empty;
	t.srv.cfg.db_tls_ca = empty;
	t.srv.cfg.db_connect_timeout = 1;
	t.srv.cfg.db_rw_timeout = 1;
	assert_int_equal(svc_dbnodes_init(&t.srv.dbnodes, "127.0.0.1:1", "x", 1, err, sizeof(err)), 0);
	memset(&w, 0, sizeof(w));
	w.srv = &t.srv;
	t.r.w = &w;

	/* In a transaction, the connection is lost (svc_db_fail closes it). */
	w.in_tx = 1;
	svc_db_close(&w);
	assert_int_equal(w.in_tx, 1);
	assert_int_equal(svc_db_exec(&t.r, 0, ""), SVC_ERR_DB_UNAVAILABLE);
	assert_int_equal(atomic_load(&t.srv.metrics.db_errors), 0);	/* no reconnect tried */
	/* Its COMMIT cannot succeed, and it ends the transaction. */
	assert_int_equal(svc_db_end(&t.r, SVC_DB_COMMIT), SVC_ERR_DB_UNAVAILABLE);
	assert_int_equal(w.in_tx, 0);
	/* The same after a rollback. */
	w.in_tx = 1;
	assert_int_equal(svc_db_end(&t.r, SVC_DB_ROLLBACK), SVC_OK);
	assert_int_equal(w.in_tx, 0);
	/* Outside a transaction a statement may reconnect (and fails here: nothing listens). */
	assert_int_equal(svc_db_exec(&t.r, 0, ""), SVC_ERR_DB_UNAVAILABLE);
	assert_true(atomic_load(&t.srv.metrics.db_errors) > 0);

	svc_db_close(&w);
	free(w.stmts);
	svc_dbnodes_free(&t.srv.dbnodes);
	svc_test_req_free(&t);
}

SVC_UNIT_MAIN("dbnodes",
    cmocka_unit_test(test_parse_list),
    cmocka_unit_test(test_one_node_form),
    cmocka_unit_test(test_bad_lists),
    cmocka_unit_test(test_order_and_hold),
    cmocka_unit_test(test_return_to_preferred),
    cmocka_unit_test(test_failovers_and_metrics),
    cmocka_unit_test(test_ready),
    cmocka_unit_test(test_galera_errors),
    cmocka_unit_test(test_lost_connection_ends_the_transaction))
