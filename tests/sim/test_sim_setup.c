/* test_sim_setup.c - sim's set-up waits out a gateway that answers 503 or nothing for a while, and stops at a definite no */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sim_load.h"

/* A gateway stand-in: answers each login with the next status of a script, accounts with 201. */
struct fake_gw {
	int lfd, port;
	pthread_t th;
	const long *script;	/* login answers in order; the last one repeats; -1: close, no answer */
	size_t nscript;
	atomic_int logins, accounts;
	atomic_int stop;
};

static void answer(int fd, long status, const char *body)
{
	char head[256];
	int n = snprintf(head, sizeof(head), "HTTP/1.1 %ld X\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n", status, strlen(body));

	if (n > 0 && write(fd, head, (size_t)n) == n && write(fd, body, strlen(body)) < 0)
		return;
}

static void *fake_gw_main(void *arg)
{
	struct fake_gw *g = arg;
	char req[4096];

	while (!atomic_load(&g->stop)) {
		int fd = accept(g->lfd, NULL, NULL);
		ssize_t got;
		size_t len = 0;

		if (fd < 0)
			continue;
		/* The head and the small JSON body: read until the body's closing brace. */
		while (len < sizeof(req) - 1 && (got = read(fd, req + len, sizeof(req) - 1 - len)) > 0) {
			len += (size_t)got;
			req[len] = '\0';
			if (strstr(req, "\r\n\r\n") != NULL && strchr(strstr(req, "\r\n\r\n"), '}') != NULL)
				break;
		}
		req[len] = '\0';
		if (strncmp(req, "POST /api/v1/auth/login ", 24) == 0) {
			size_t k = (size_t)atomic_fetch_add(&g->logins, 1);
			long st = g->script[k < g->nscript ? k : g->nscript - 1];

			if (st == 200)
				answer(fd, 200, "{\"token\":\"tok-1\"}");
			else if (st > 0)
				answer(fd, st, "{\"error\":{\"code\":\"x\"}}");
		} else if (strncmp(req, "POST /api/v1/users ", 19) == 0) {
			atomic_fetch_add(&g->accounts, 1);
			answer(fd, 201, "{\"id\":1}");
		} else {
			answer(fd, 404, "{}");
		}
		close(fd);
	}
	return NULL;
}

static void fake_gw_start(struct fake_gw *g, const long *script, size_t n)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	struct timeval tv = { 0, 100000 };

	memset(g, 0, sizeof(*g));
	g->script = script;
	g->nscript = n;
	assert_true((g->lfd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(bind(g->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(g->lfd, 16), 0);
	assert_int_equal(getsockname(g->lfd, (struct sockaddr *)&a, &alen), 0);
	/* accept wakes every 100 ms, so that stop is seen. */
	assert_int_equal(setsockopt(g->lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	g->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&g->th, NULL, fake_gw_main, g), 0);
}

static void fake_gw_stop(struct fake_gw *g)
{
	atomic_store(&g->stop, 1);
	pthread_join(g->th, NULL);
	close(g->lfd);
}

static int setup_one_user(const struct fake_gw *g, struct sim_user *u, char *err, size_t errsz)
{
	struct sim_scenario sc;
	char gw[64];

	memset(&sc, 0, sizeof(sc));
	sc.users = 1;
	sc.stock = -1;
	sc.login_rate = 1000;
	snprintf(gw, sizeof(gw), "http://127.0.0.1:%d", g->port);
	memset(u, 0, sizeof(*u));
	return sim_setup_data(&sc, gw, "t", u, NULL, err, errsz);
}

/* Users restarting: two 503s and a closed connection, then the login works. */
static void test_login_waits_out_a_restart(void **state)
{
	static const long script[] = { 503, 503, -1, 200 };
	struct fake_gw g;
	struct sim_user u;
	char err[256] = "";

	(void)state;
	fake_gw_start(&g, script, 4);
	assert_int_equal(setup_one_user(&g, &u, err, sizeof(err)), 0);
	assert_string_equal(u.token, "tok-1");
	assert_int_equal(atomic_load(&g.logins), 4);
	assert_int_equal(atomic_load(&g.accounts), 1);
	fake_gw_stop(&g);
}

/* A definite no (401) is not tried again. */
static void test_login_stops_at_a_definite_no(void **state)
{
	static const long script[] = { 401, 200 };
	struct fake_gw g;
	struct sim_user u;
	char err[256] = "";

	(void)state;
	fake_gw_start(&g, script, 2);
	assert_int_equal(setup_one_user(&g, &u, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "answered 401"));
	assert_int_equal(atomic_load(&g.logins), 1);
	fake_gw_stop(&g);
}

static void test_transient_answers(void **state)
{
	(void)state;
	assert_true(sim_setup_transient(-1));
	assert_true(sim_setup_transient(429));
	assert_true(sim_setup_transient(502));
	assert_true(sim_setup_transient(503));
	assert_true(sim_setup_transient(504));
	assert_false(sim_setup_transient(200));
	assert_false(sim_setup_transient(400));
	assert_false(sim_setup_transient(401));
	assert_false(sim_setup_transient(409));
	assert_false(sim_setup_transient(500));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_login_waits_out_a_restart),
		cmocka_unit_test(test_login_stops_at_a_definite_no),
		cmocka_unit_test(test_transient_answers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
