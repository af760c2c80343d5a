/* test_proxy_mysql.c - mysql_commit_lost: the COMMIT reaches the server, its answer never comes back */
#include <errno.h>
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "proxy.h"
#include "simtest.h"

struct fixture {
	struct simtest_server	srv;
	struct simtest_upstream	echo;	/* stands in for MariaDB: a greeting, then answers */
};

static int
setup(void **state)
{
	static struct fixture f;

	memset(&f, 0, sizeof(f));
	if (simtest_upstream_start(&f.echo, UP_ECHO, 0) != 0 ||
	    simtest_server_start(&f.srv, 11, NULL) != 0)
		return -1;
	*state = &f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	simtest_server_stop(&f->srv);
	simtest_upstream_stop(&f->echo);
	return 0;
}

/* A COM_QUERY packet of sql into out; returns its length. */
static size_t
query_packet(const char *sql, unsigned char *out, size_t outlen)
{
	size_t n = strlen(sql) + 1;

	assert_true(n + 4 <= outlen);
	out[0] = (unsigned char)(n & 0xff);
	out[1] = (unsigned char)(n >> 8 & 0xff);
	out[2] = (unsigned char)(n >> 16 & 0xff);
	out[3] = 0;
	out[4] = 0x03;
	memcpy(out + 5, sql, n - 1);
	return n + 4;
}

/*
 * Sends sql as a query on a new connection through port (after the greeting) and says
 * whether its answer (the echo) came back: 1 answered, 0 cut before any answer byte.
 */
static int
query_answered(int port, const char *sql)
{
	unsigned char	pkt[256], buf[256];
	size_t		n = query_packet(sql, pkt, sizeof(pkt));
	long		got;
	int		fd = simtest_connect(port), eof = 0;

	assert_true(fd >= 0);
	assert_int_equal(simtest_read(fd, buf, 6, 3000, NULL), 6);	/* the greeting */
	assert_int_equal(simtest_write_all(fd, pkt, n), 0);
	got = simtest_read(fd, buf, n, 3000, &eof);
	close(fd);
	if (got == (long)n) {
		assert_memory_equal(buf, pkt, n);
		return 1;
	}
	/* Cut: a reset (or EOF) with no byte of the answer. */
	assert_true(got <= 0);
	return 0;
}

static void
test_is_commit(void **state)
{
	unsigned char p[64];
	size_t n;

	(void)state;
	n = query_packet("COMMIT", p, sizeof(p));
	assert_true(sim_mysql_is_commit(p, n));
	n = query_packet("  commit ;", p, sizeof(p));
	assert_true(sim_mysql_is_commit(p, n));
	n = query_packet("COMMIT WORK", p, sizeof(p));
	assert_false(sim_mysql_is_commit(p, n));
	n = query_packet("COMMITTED", p, sizeof(p));
	assert_false(sim_mysql_is_commit(p, n));
	n = query_packet("SELECT 1", p, sizeof(p));
	assert_false(sim_mysql_is_commit(p, n));
	n = query_packet("COMMIT", p, sizeof(p));
	p[4] = 0x16;	/* COM_STMT_PREPARE, not a query */
	assert_false(sim_mysql_is_commit(p, n));
	assert_false(sim_mysql_is_commit(p, 4));
	p[0] = 200;	/* a length longer than what is there */
	p[4] = 0x03;
	assert_false(sim_mysql_is_commit(p, n));
}

/* Every COMMIT is cut after reaching the server; other statements are answered. */
static void
test_commit_answer_lost(void **state)
{
	struct fixture	*f = *state;
	int		 port = simtest_proxy(&f->srv, "db", f->echo.port);

	assert_int_equal(simtest_toxic(&f->srv, "db", "{\"type\":\"mysql_commit_lost\"}"), 200);
	assert_int_equal(query_answered(port, "SELECT 1"), 1);
	assert_int_equal(query_answered(port, "COMMIT"), 0);
	assert_int_equal(query_answered(port, "commit"), 0);
	assert_int_equal(query_answered(port, "UPDATE t SET a = 1"), 1);
}

/* first: 2 loses exactly the first two COMMITs; toxicity 0 loses none. */
static void
test_first_and_toxicity(void **state)
{
	struct fixture	*f = *state;
	int		 port = simtest_proxy(&f->srv, "db2", f->echo.port);
	int		 port0 = simtest_proxy(&f->srv, "db3", f->echo.port);

	assert_int_equal(simtest_toxic(&f->srv, "db2",
	    "{\"type\":\"mysql_commit_lost\",\"attributes\":{\"first\":2}}"), 200);
	assert_int_equal(query_answered(port, "COMMIT"), 0);
	assert_int_equal(query_answered(port, "COMMIT"), 0);
	assert_int_equal(query_answered(port, "COMMIT"), 1);
	assert_int_equal(query_answered(port, "COMMIT"), 1);
	assert_int_equal(simtest_toxic(&f->srv, "db3",
	    "{\"type\":\"mysql_commit_lost\",\"toxicity\":0}"), 200);
	assert_int_equal(query_answered(port0, "COMMIT"), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_is_commit),
		cmocka_unit_test_setup_teardown(test_commit_answer_lost, setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_and_toxicity, setup, teardown),
	};

	return cmocka_run_group_tests_name("sim/mysql", tests, NULL, NULL);
}
