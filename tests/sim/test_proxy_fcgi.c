/* test_proxy_fcgi.c - per-request FastCGI toxics on one kept-alive connection, fault log, seeds */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "simtest.h"

/* up[0]: a FastCGI responder; the server logs its faults to log_path */
static const struct simtest_rig_spec rig = { .seed = 11, .fault_log = true, .nup = 1,
                                             .up = { { UP_FCGI, 0 } } };

/* Sends n requests on one kept-alive connection; marks[i] = 'A' aborted (503 from the proxy),
 * '.' answered by the responder, 'X' connection failed. */
static void run_requests(int port, int n, char *marks, long *ms)
{
	int fd = simtest_connect(port);
	char body[1024], rid[32];

	assert_true(fd >= 0);
	for (int i = 0; i < n; i++) {
		uint64_t t0 = simtest_now_ms();
		int st;

		snprintf(rid, sizeof(rid), "req-%d", i + 1);
		st = simtest_fcgi_request(fd, 1, rid, true, body, sizeof(body), 3000);
		if (ms != NULL)
			ms[i] = (long)(simtest_now_ms() - t0);
		if (st == 200) {
			char want[48];

			snprintf(want, sizeof(want), "ok %s", rid);
			assert_true(simtest_has(body, want));
			marks[i] = '.';
		} else if (st == 503) {
			char want[160];

			snprintf(want, sizeof(want),
			         "{\"error\":{\"code\":\"service_unavailable\",\"message\":\"fault injected by "
			         "sim proxy\",\"request_id\":\"%s\"}}", rid);
			assert_true(simtest_has(body, "Content-Type: application/json\r\n"));
			assert_true(simtest_has(body, want));
			marks[i] = 'A';
		} else {
			marks[i] = 'X';
			close(fd);
			fd = simtest_connect(port);
			assert_true(fd >= 0);
		}
	}
	marks[n] = '\0';
	close(fd);
}

static int count(const char *s, char c)
{
	int n = 0;

	for (; *s != '\0'; s++)
		n += *s == c;
	return n;
}

/* A proxy "svc" in front of the responder with the toxic json on it; then run_requests on it. */
static void run_with_toxic(struct simtest_rig *f, const char *json, int n, char *marks, long *ms)
{
	int port = simtest_proxy(&f->srv, "svc", f->up[0].port);

	assert_true(port > 0);
	assert_int_equal(simtest_toxic(&f->srv, "svc", json), 200);
	run_requests(port, n, marks, ms);
}

static void test_abort_share(void **state)
{
	struct simtest_rig *f = *state;
	char marks[201];
	int aborted;

	run_with_toxic(f, "{\"type\":\"fcgi_abort\",\"toxicity\":0.25}", 200, marks, NULL);
	aborted = count(marks, 'A');
	assert_int_equal(count(marks, 'X'), 0);
	assert_in_range(aborted, 32, 68);       /* 50 expected, ±3 sigma */
	/* aborted requests never reached the responder */
	assert_int_equal(atomic_load(&f->up[0].requests), 200 - aborted);
	assert_int_equal(atomic_load(&f->up[0].accepted), 1); /* one kept-alive connection */
}

static void test_abort_first_n(void **state)
{
	struct simtest_rig *f = *state;
	char marks[21];

	run_with_toxic(f, "{\"type\":\"fcgi_abort\",\"attributes\":{\"first\":3}}", 20, marks, NULL);
	assert_string_equal(marks, "AAA.................");
	assert_int_equal(atomic_load(&f->up[0].requests), 17);
}

static void test_abort_every_n(void **state)
{
	struct simtest_rig *f = *state;
	char marks[13];

	run_with_toxic(f, "{\"type\":\"fcgi_abort\",\"attributes\":{\"every\":4,\"status\":503}}", 12, marks, NULL);
	assert_string_equal(marks, "...A...A...A");
}

static void test_latency_first_n(void **state)
{
	struct simtest_rig *f = *state;
	char marks[7];
	long ms[6];

	run_with_toxic(f, "{\"type\":\"fcgi_latency\",\"attributes\":{\"latency\":150,\"first\":2}}", 6, marks, ms);
	assert_string_equal(marks, "......");
	assert_in_range(ms[0], 145, 400);
	assert_in_range(ms[1], 145, 400);
	for (int i = 2; i < 6; i++)
		assert_true(ms[i] < 100);
}

static void test_reset_before_forward(void **state)
{
	struct simtest_rig *f = *state;
	char marks[5];

	run_with_toxic(f, "{\"type\":\"fcgi_reset\",\"attributes\":{\"first\":1}}", 4, marks, NULL);
	assert_string_equal(marks, "X...");
	assert_int_equal(atomic_load(&f->up[0].requests), 3); /* the cut one never went upstream */
}

static void test_reset_after_forward(void **state)
{
	struct simtest_rig *f = *state;
	char marks[5];

	run_with_toxic(f, "{\"type\":\"fcgi_reset\",\"attributes\":{\"first\":1,\"forward\":1}}", 4, marks, NULL);
	assert_string_equal(marks, "X...");
	assert_int_equal(atomic_load(&f->up[0].requests), 4); /* done upstream, answer lost */
}

static void test_fault_log_lines(void **state)
{
	struct simtest_rig *f = *state;
	int port = simtest_proxy(&f->srv, "svc", f->up[0].port);
	char marks[6], line[1024];
	FILE *log;
	int n = 0;

	assert_int_equal(simtest_toxic(&f->srv, "svc", "{\"name\":\"boom\",\"type\":\"fcgi_abort\","
	                                               "\"attributes\":{\"every\":2,\"status\":502,"
	                                               "\"code\":\"bad_gateway\"}}"), 200);
	{
		int fd = simtest_connect(port);
		char body[1024];

		assert_true(fd >= 0);
		for (int i = 0; i < 5; i++) {
			char rid[16];
			int st;

			snprintf(rid, sizeof(rid), "req-%d", i + 1);
			st = simtest_fcgi_request(fd, 1, rid, true, body, sizeof(body), 3000);
			marks[i] = st == 502 ? 'A' : st == 200 ? '.' : 'X';
			if (st == 502)
				assert_true(simtest_has(body, "Status: 502 Bad Gateway\r\n"));
		}
		marks[5] = '\0';
		close(fd);
	}
	assert_string_equal(marks, ".A.A.");
	log = fopen(f->log_path, "r");
	assert_non_null(log);
	while (fgets(line, sizeof(line), log) != NULL) {
		n++;
		assert_true(simtest_has(line, "{\"time\":\""));
		assert_true(simtest_has(line, "\"proxy\":\"svc\",\"toxic\":\"boom\",\"type\":\"fcgi_abort\","
		                              "\"stream\":\"upstream\",\"conn\":1,\"fcgi_request_id\":1"));
		assert_true(simtest_has(line, n == 1 ? "\"request_seq\":2,\"request_id\":\"req-2\""
		                                     : "\"request_seq\":4,\"request_id\":\"req-4\""));
		assert_true(simtest_has(line, "\"forwarded\":false,\"status\":502}"));
	}
	fclose(log);
	assert_int_equal(n, 2);
}

static void test_same_seed_same_requests(void **state)
{
	struct simtest_rig *f = *state;
	char runs[3][61];
	const uint64_t seeds[3] = { 5, 5, 6 };

	for (int r = 0; r < 3; r++) {
		struct simtest_server s;
		int port;

		assert_int_equal(simtest_server_start(&s, seeds[r], NULL), 0);
		port = simtest_proxy(&s, "svc", f->up[0].port);
		assert_int_equal(simtest_toxic(&s, "svc", "{\"type\":\"fcgi_abort\",\"toxicity\":0.5}"), 200);
		run_requests(port, 60, runs[r], NULL);
		simtest_server_stop(&s);
	}
	assert_string_equal(runs[0], runs[1]);
	assert_string_not_equal(runs[0], runs[2]);
}

static void test_abort_without_keep_conn_closes(void **state)
{
	struct simtest_rig *f = *state;
	int port = simtest_proxy(&f->srv, "svc", f->up[0].port);
	char body[512];
	int fd;

	assert_int_equal(simtest_toxic(&f->srv, "svc", "{\"type\":\"fcgi_abort\"}"), 200);
	fd = simtest_connect(port);
	assert_true(fd >= 0);
	assert_int_equal(simtest_fcgi_request(fd, 7, "r", false, body, sizeof(body), 2000), 503);
	assert_int_equal(simtest_wait_close(fd, 2000), 0); /* as a responder would: closed */
	close(fd);
}

/* A kept-alive FastCGI connection that began with no toxic on the proxy (the fast path): a
 * fcgi_abort added now applies to its next request, and after the toxic is removed its
 * requests reach the responder again. */
static void test_abort_added_to_live_connection(void **state)
{
	struct simtest_rig *f = *state;
	int port = simtest_proxy(&f->srv, "svc", f->up[0].port);
	char body[1024], resp[256];
	int fd = simtest_connect(port);

	assert_true(fd >= 0);
	assert_int_equal(simtest_fcgi_request(fd, 1, "a", true, body, sizeof(body), 2000), 200);
	assert_int_equal(simtest_toxic(&f->srv, "svc", "{\"type\":\"fcgi_abort\"}"), 200);
	assert_int_equal(simtest_fcgi_request(fd, 1, "b", true, body, sizeof(body), 2000), 503);
	assert_true(simtest_has(body, "\"request_id\":\"b\""));
	assert_int_equal(simtest_fcgi_request(fd, 1, "c", true, body, sizeof(body), 2000), 503);
	assert_int_equal(simtest_http(f->srv.port, "DELETE", "/proxies/svc/toxics/fcgi_abort_upstream",
	                              NULL, resp, sizeof(resp)), 204);
	assert_int_equal(simtest_fcgi_request(fd, 1, "d", true, body, sizeof(body), 2000), 200);
	assert_true(simtest_has(body, "ok d"));
	assert_int_equal(atomic_load(&f->up[0].requests), 2);
	assert_int_equal(atomic_load(&f->up[0].accepted), 1);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		SIMTEST_RIG_TEST(test_abort_share, rig),
		SIMTEST_RIG_TEST(test_abort_first_n, rig),
		SIMTEST_RIG_TEST(test_abort_every_n, rig),
		SIMTEST_RIG_TEST(test_latency_first_n, rig),
		SIMTEST_RIG_TEST(test_reset_before_forward, rig),
		SIMTEST_RIG_TEST(test_reset_after_forward, rig),
		SIMTEST_RIG_TEST(test_fault_log_lines, rig),
		SIMTEST_RIG_TEST(test_same_seed_same_requests, rig),
		SIMTEST_RIG_TEST(test_abort_without_keep_conn_closes, rig),
		SIMTEST_RIG_TEST(test_abort_added_to_live_connection, rig),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
