/* test_proxy_toxics.c - connection toxics, measured on real sockets: delays, rates, closes, shares */
#include <errno.h>
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "simtest.h"

enum { ECHO, SOURCE, BIG };      /* the rig's upstreams */
static const struct simtest_rig_spec rig = { .seed = 7, .nup = 3, .up = {
	[ECHO] = { UP_ECHO, 0 }, [SOURCE] = { UP_SOURCE, 100000 }, [BIG] = { UP_SOURCE, 64u << 20 } } };

/* ms from connect to the banner, and the round trip of "ping\n" after it */
static void banner_and_rtt(int port, long *banner_ms, long *rtt_ms)
{
	char buf[16];
	uint64_t t0 = simtest_now_ms();
	int fd = simtest_connect(port);

	assert_true(fd >= 0);
	assert_int_equal(simtest_read(fd, buf, 6, 3000, NULL), 6);
	*banner_ms = (long)(simtest_now_ms() - t0);
	t0 = simtest_now_ms();
	assert_int_equal(simtest_write_all(fd, "ping\n", 5), 0);
	assert_int_equal(simtest_read(fd, buf, 5, 3000, NULL), 5);
	assert_memory_equal(buf, "ping\n", 5);
	*rtt_ms = (long)(simtest_now_ms() - t0);
	close(fd);
}

static void test_no_toxic_is_fast(void **state)
{
	struct simtest_rig *f = *state;
	int port = simtest_proxy(&f->srv, "p", f->up[ECHO].port);
	long b, r;

	assert_true(port > 0);
	banner_and_rtt(port, &b, &r);
	assert_true(b < 100);
	assert_true(r < 100);
}

/* A connection opened while no toxic is on moves bytes on the fast path; a toxic added later
 * applies to that same connection from the next byte it reads, and once removed the
 * connection is fast again. */
static void test_toxic_on_live_connection(void **state)
{
	struct simtest_rig *f = *state;
	int port = simtest_proxy(&f->srv, "p", f->up[ECHO].port);
	char buf[16], path[64], resp[256];
	int fd;
	uint64_t t0;
	long ms;

	assert_true(port > 0);
	fd = simtest_connect(port);
	assert_true(fd >= 0);
	assert_int_equal(simtest_read(fd, buf, 6, 3000, NULL), 6);
	t0 = simtest_now_ms();
	assert_int_equal(simtest_write_all(fd, "ping\n", 5), 0);
	assert_int_equal(simtest_read(fd, buf, 5, 3000, NULL), 5);
	assert_true(simtest_now_ms() - t0 < 100);

	assert_int_equal(simtest_toxic(&f->srv, "p",
	                               "{\"type\":\"latency\",\"attributes\":{\"latency\":300}}"), 200);
	t0 = simtest_now_ms();
	assert_int_equal(simtest_write_all(fd, "pong\n", 5), 0);
	assert_int_equal(simtest_read(fd, buf, 5, 3000, NULL), 5);
	assert_memory_equal(buf, "pong\n", 5);
	ms = (long)(simtest_now_ms() - t0);
	assert_in_range(ms, 290, 1000);

	snprintf(path, sizeof(path), "/proxies/p/toxics/latency_downstream");
	assert_int_equal(simtest_http(f->srv.port, "DELETE", path, NULL, resp, sizeof(resp)), 204);
	t0 = simtest_now_ms();
	assert_int_equal(simtest_write_all(fd, "ping\n", 5), 0);
	assert_int_equal(simtest_read(fd, buf, 5, 3000, NULL), 5);
	assert_true(simtest_now_ms() - t0 < 100);
	close(fd);
}

/* Connections are spread over the loops (two in these tests): a toxic added, then removed,
 * through the API reaches every live one, whichever loop owns it. */
static void test_toxic_on_every_loop(void **state)
{
	struct simtest_rig *f = *state;
	int port = simtest_proxy(&f->srv, "p", f->up[ECHO].port);
	char buf[16], resp[4096];
	int fd[6];
	uint64_t t0;
	size_t i;

	assert_true(port > 0);
	for (i = 0; i < 6; i++) {
		fd[i] = simtest_connect(port);
		assert_true(fd[i] >= 0);
		assert_int_equal(simtest_read(fd[i], buf, 6, 3000, NULL), 6);
	}
	assert_int_equal(simtest_toxic(&f->srv, "p",
	                               "{\"type\":\"latency\",\"attributes\":{\"latency\":300}}"), 200);
	for (i = 0; i < 6; i++) {
		t0 = simtest_now_ms();
		assert_int_equal(simtest_write_all(fd[i], "ping\n", 5), 0);
		assert_int_equal(simtest_read(fd[i], buf, 5, 3000, NULL), 5);
		assert_memory_equal(buf, "ping\n", 5);
		assert_true(simtest_now_ms() - t0 >= 290);
	}
	assert_int_equal(simtest_http(f->srv.port, "DELETE", "/proxies/p/toxics/latency_downstream",
	                              NULL, resp, sizeof(resp)), 204);
	for (i = 0; i < 6; i++) {
		assert_int_equal(simtest_write_all(fd[i], "pong\n", 5), 0);
		assert_int_equal(simtest_read(fd[i], buf, 5, 3000, NULL), 5);
		assert_memory_equal(buf, "pong\n", 5);
	}
	/* Every connection counted once, from whichever loop. */
	assert_int_equal(simtest_http(f->srv.port, "GET", "/metrics", NULL, resp, sizeof(resp)), 200);
	assert_true(simtest_has(resp, "sim_proxy_connections_active{proxy=\"p\"} 6"));
	for (i = 0; i < 6; i++)
		close(fd[i]);
}

static void test_latency_downstream_only(void **state)
{
	struct simtest_rig *f = *state;
	int port = simtest_proxy(&f->srv, "p", f->up[ECHO].port);
	long b, r;

	assert_int_equal(simtest_toxic(&f->srv, "p", "{\"type\":\"latency\",\"attributes\":{\"latency\":200}}"), 200);
	banner_and_rtt(port, &b, &r);
	assert_in_range(b, 190, 400);   /* the banner travels downstream: delayed */
	assert_in_range(r, 190, 400);   /* the echo comes back downstream: delayed once */
}

static void test_latency_upstream_only(void **state)
{
	struct simtest_rig *f = *state;
	int port = simtest_proxy(&f->srv, "p", f->up[ECHO].port);
	long b, r;

	assert_int_equal(simtest_toxic(&f->srv, "p", "{\"type\":\"latency\",\"stream\":\"upstream\","
	                                             "\"attributes\":{\"latency\":200,\"jitter\":20}}"), 200);
	banner_and_rtt(port, &b, &r);
	assert_true(b < 100);           /* nothing on the downstream stream */
	assert_in_range(r, 175, 420);   /* 200 ± 20 on the way up */
}

static void test_bandwidth(void **state)
{
	struct simtest_rig *f = *state;
	int port = simtest_proxy(&f->srv, "p", f->up[SOURCE].port);
	static char buf[100000];
	int eof, fd;
	uint64_t t0;
	long ms;

	/* 100000 bytes at 200 KB/s: half a second */
	assert_int_equal(simtest_toxic(&f->srv, "p", "{\"type\":\"bandwidth\",\"attributes\":{\"rate\":200}}"), 200);
	t0 = simtest_now_ms();
	fd = simtest_connect(port);
	assert_true(fd >= 0);
	assert_int_equal(simtest_read(fd, buf, sizeof(buf), 5000, &eof), (long)sizeof(buf));
	ms = (long)(simtest_now_ms() - t0);
	close(fd);
	assert_in_range(ms, 440, 800);
}

static void test_timeout_closes_after_timeout(void **state)
{
	struct simtest_rig *f = *state;
	int port = simtest_proxy(&f->srv, "p", f->up[ECHO].port);
	uint64_t t0;
	int fd;
	long ms;

	assert_int_equal(simtest_toxic(&f->srv, "p", "{\"type\":\"timeout\",\"attributes\":{\"timeout\":300}}"), 200);
	t0 = simtest_now_ms();
	fd = simtest_connect(port);
	assert_true(fd >= 0);
	assert_int_equal(simtest_write_all(fd, "ping\n", 5), 0);
	/* no data (the banner is swallowed), then a plain close */
	assert_int_equal(simtest_wait_close(fd, 2000), 0);
	ms = (long)(simtest_now_ms() - t0);
	close(fd);
	/* Never before the timeout; the upper bound only allows for a loaded machine. */
	assert_in_range(ms, 280, 1500);
}

/* As in Toxiproxy, an idle connection that was open before the toxic came is closed once the
 * timeout passes after the toxic was added, with no byte moving (an idle AMQP consumer link).
 * stream: the toxic's stream, NULL for the default (downstream). */
static void timeout_closes_idle(void **state, const char *stream)
{
	struct simtest_rig *f = *state;
	int port = simtest_proxy(&f->srv, "p", f->up[ECHO].port);
	char buf[16], toxic[128];
	uint64_t t0;
	int fd;
	long ms;

	snprintf(toxic, sizeof(toxic),
	    "{\"type\":\"timeout\",%s%s%s\"attributes\":{\"timeout\":300}}",
	    stream ? "\"stream\":\"" : "", stream ? stream : "", stream ? "\"," : "");
	fd = simtest_connect(port);
	assert_true(fd >= 0);
	assert_int_equal(simtest_read(fd, buf, 6, 2000, NULL), 6);     /* the banner: established */
	assert_int_equal(simtest_toxic(&f->srv, "p", toxic), 200);
	t0 = simtest_now_ms();
	assert_int_equal(simtest_wait_close(fd, 3000), 0);
	ms = (long)(simtest_now_ms() - t0);
	close(fd);
	assert_in_range(ms, 250, 1500);
}

static void test_timeout_closes_idle_connection(void **state)
{
	timeout_closes_idle(state, NULL);
}

/* The same with the toxic on the upstream stream, where an idle consumer sends nothing. */
static void test_timeout_upstream_closes_idle_connection(void **state)
{
	timeout_closes_idle(state, "upstream");
}

static void test_timeout_zero_holds(void **state)
{
	struct simtest_rig *f = *state;
	int port = simtest_proxy(&f->srv, "p", f->up[ECHO].port);
	int fd;

	assert_int_equal(simtest_toxic(&f->srv, "p", "{\"type\":\"timeout\",\"attributes\":{\"timeout\":0}}"), 200);
	fd = simtest_connect(port);
	assert_true(fd >= 0);
	assert_int_equal(simtest_write_all(fd, "ping\n", 5), 0);
	assert_int_equal(simtest_wait_close(fd, 500), 1); /* still open, nothing came */
	/* removing the toxic lets data flow again */
	assert_int_equal(simtest_http(f->srv.port, "DELETE", "/proxies/p/toxics/timeout_downstream",
	                              NULL, NULL, 0), 204);
	assert_int_equal(simtest_write_all(fd, "pong\n", 5), 0);
	{
		char buf[5];

		assert_int_equal(simtest_read(fd, buf, 5, 2000, NULL), 5);
		assert_memory_equal(buf, "pong\n", 5);
	}
	close(fd);
}

static void test_reset_peer(void **state)
{
	struct simtest_rig *f = *state;
	int port = simtest_proxy(&f->srv, "p", f->up[ECHO].port);
	char buf[16];
	uint64_t t0;
	int fd, rc;
	long ms;

	assert_int_equal(simtest_toxic(&f->srv, "p", "{\"type\":\"reset_peer\",\"stream\":\"upstream\","
	                                             "\"attributes\":{\"timeout\":150}}"), 200);
	fd = simtest_connect(port);
	assert_true(fd >= 0);
	assert_int_equal(simtest_read(fd, buf, 6, 2000, NULL), 6); /* downstream untouched */
	t0 = simtest_now_ms();
	assert_int_equal(simtest_write_all(fd, "ping\n", 5), 0);
	rc = simtest_wait_close(fd, 2000);
	ms = (long)(simtest_now_ms() - t0);
	close(fd);
	assert_int_equal(rc, -ECONNRESET);  /* RST, as SO_LINGER 0 gives, not FIN */
	assert_in_range(ms, 140, 600);
}

static void test_limit_data(void **state)
{
	struct simtest_rig *f = *state;
	int port = simtest_proxy(&f->srv, "p", f->up[SOURCE].port);
	static char buf[5000];
	int eof = 0, fd;

	assert_int_equal(simtest_toxic(&f->srv, "p", "{\"type\":\"limit_data\",\"attributes\":{\"bytes\":1000}}"), 200);
	fd = simtest_connect(port);
	assert_true(fd >= 0);
	assert_int_equal(simtest_read(fd, buf, sizeof(buf), 3000, &eof), 1000);
	assert_true(eof);
	close(fd);
}

static void test_slow_close(void **state)
{
	struct simtest_rig *f = *state;
	struct simtest_upstream small;
	static char buf[64];
	int eof = 0, fd, port;
	uint64_t t0;
	long ms;

	assert_int_equal(simtest_upstream_start(&small, UP_SOURCE, 10), 0);
	port = simtest_proxy(&f->srv, "p", small.port);
	assert_int_equal(simtest_toxic(&f->srv, "p", "{\"type\":\"slow_close\",\"attributes\":{\"delay\":300}}"), 200);
	t0 = simtest_now_ms();
	fd = simtest_connect(port);
	assert_true(fd >= 0);
	assert_int_equal(simtest_read(fd, buf, 10, 2000, NULL), 10);
	assert_true(simtest_now_ms() - t0 < 150); /* data is not held */
	assert_int_equal(simtest_read(fd, buf, sizeof(buf), 2000, &eof), 0);
	assert_true(eof);
	ms = (long)(simtest_now_ms() - t0);
	close(fd);
	simtest_upstream_stop(&small);
	assert_in_range(ms, 290, 700);
}

static void test_slicer_keeps_bytes(void **state)
{
	struct simtest_rig *f = *state;
	int port = simtest_proxy(&f->srv, "p", f->up[ECHO].port);
	static char out[4000], in[4000];
	int fd;
	uint64_t t0;
	long ms;

	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (char)('a' + i % 26);
	assert_int_equal(simtest_toxic(&f->srv, "p", "{\"type\":\"slicer\",\"attributes\":{\"average_size\":100,"
	                                             "\"size_variation\":20,\"delay\":2000}}"), 200);
	fd = simtest_connect(port);
	assert_true(fd >= 0);
	assert_int_equal(simtest_read(fd, in, 6, 2000, NULL), 6);
	t0 = simtest_now_ms();
	assert_int_equal(simtest_write_all(fd, out, sizeof(out)), 0);
	assert_int_equal(simtest_read(fd, in, sizeof(in), 5000, NULL), (long)sizeof(in));
	ms = (long)(simtest_now_ms() - t0);
	close(fd);
	assert_memory_equal(in, out, sizeof(out));
	assert_true(ms >= 50); /* about 40 pieces 2 ms apart */
}

/* one connection against a limit_data 1 toxic: 1 if it was cut, 0 if the banner came whole */
static int cut_connection(int port)
{
	char buf[8];
	int eof = 0, fd = simtest_connect(port);
	long n;

	assert_true(fd >= 0);
	n = simtest_read(fd, buf, 6, 2000, &eof);
	close(fd);
	assert_true(n == 6 || (n == 1 && eof));
	return n == 1;
}

static void test_toxicity_share(void **state)
{
	struct simtest_rig *f = *state;
	int port = simtest_proxy(&f->srv, "p", f->up[ECHO].port);
	int hits = 0;

	assert_int_equal(simtest_toxic(&f->srv, "p", "{\"type\":\"limit_data\",\"toxicity\":0.3,"
	                                             "\"attributes\":{\"bytes\":1}}"), 200);
	for (int i = 0; i < 300; i++)
		hits += cut_connection(port);
	assert_in_range(hits, 65, 115); /* 90 expected; ±3 sigma */
}

static void test_same_seed_same_connections(void **state)
{
	struct simtest_rig *f = *state;
	char runs[3][41];
	const uint64_t seeds[3] = { 42, 42, 43 };

	for (int r = 0; r < 3; r++) {
		struct simtest_server s;
		int port;

		assert_int_equal(simtest_server_start(&s, seeds[r], NULL), 0);
		port = simtest_proxy(&s, "db", f->up[ECHO].port);
		assert_int_equal(simtest_toxic(&s, "db", "{\"type\":\"limit_data\",\"toxicity\":0.5,"
		                                         "\"attributes\":{\"bytes\":1}}"), 200);
		for (int i = 0; i < 40; i++)
			runs[r][i] = cut_connection(port) ? 'X' : '.';
		runs[r][40] = '\0';
		simtest_server_stop(&s);
	}
	assert_string_equal(runs[0], runs[1]);
	assert_string_not_equal(runs[0], runs[2]);
}

/* A reader that does not read: the proxy must stop reading the upstream, not buffer 64 MB. */
static void slow_reader(struct simtest_rig *f, const char *toxic)
{
	int port = simtest_proxy(&f->srv, "p", f->up[BIG].port);
	char metrics[16384];
	const char *m;
	unsigned long long got;
	int fd;

	if (toxic != NULL)
		assert_int_equal(simtest_toxic(&f->srv, "p", toxic), 200);
	fd = simtest_connect(port);
	assert_true(fd >= 0);
	usleep(800 * 1000);
	assert_int_equal(simtest_http(f->srv.port, "GET", "/metrics", NULL, metrics, sizeof(metrics)),
	                 200);
	close(fd);
	m = strstr(metrics, "sim_proxy_received_bytes_total{proxy=\"p\",stream=\"downstream\"} ");
	assert_non_null(m);
	got = strtoull(strchr(m, '}') + 2, NULL, 10);
	/* kernel socket buffers on both sides hold a few MB; the proxy adds at most its marks */
	assert_true(got > 0);
	assert_true(got < (24ull << 20));
}

static void test_backpressure_plain(void **state)
{
	slow_reader(*state, NULL);
}

static void test_backpressure_through_toxic(void **state)
{
	slow_reader(*state, "{\"type\":\"latency\",\"attributes\":{\"latency\":5}}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		SIMTEST_RIG_TEST(test_no_toxic_is_fast, rig),
		SIMTEST_RIG_TEST(test_toxic_on_live_connection, rig),
		SIMTEST_RIG_TEST(test_toxic_on_every_loop, rig),
		SIMTEST_RIG_TEST(test_latency_downstream_only, rig),
		SIMTEST_RIG_TEST(test_latency_upstream_only, rig),
		SIMTEST_RIG_TEST(test_bandwidth, rig),
		SIMTEST_RIG_TEST(test_timeout_closes_after_timeout, rig),
		SIMTEST_RIG_TEST(test_timeout_closes_idle_connection, rig),
		SIMTEST_RIG_TEST(test_timeout_upstream_closes_idle_connection, rig),
		SIMTEST_RIG_TEST(test_timeout_zero_holds, rig),
		SIMTEST_RIG_TEST(test_reset_peer, rig),
		SIMTEST_RIG_TEST(test_limit_data, rig),
		SIMTEST_RIG_TEST(test_slow_close, rig),
		SIMTEST_RIG_TEST(test_slicer_keeps_bytes, rig),
		SIMTEST_RIG_TEST(test_toxicity_share, rig),
		SIMTEST_RIG_TEST(test_same_seed_same_connections, rig),
		SIMTEST_RIG_TEST(test_backpressure_plain, rig),
		SIMTEST_RIG_TEST(test_backpressure_through_toxic, rig),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
