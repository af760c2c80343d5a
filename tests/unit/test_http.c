/* test_http.c - the libcurl client against a tiny HTTP server on 127.0.0.1 run in a thread */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "svc.h"
#include "svc_resilience.h"
#include "svc_unit.h"
#include "svc_util_int.h"

enum mode { M_JSON, M_404, M_503, M_HANG, M_BIG };

struct server {
	int		 fd;
	int		 port;
	pthread_t	 tid;
	atomic_int	 mode;
	atomic_int	 stop;
	atomic_int	 accepted;
	pthread_mutex_t	 lock;
	char		 last[4096];	/* the last request, head and body */
};

static int
wait_readable(struct server *s, int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	while (!atomic_load(&s->stop)) {
		int n = poll(&pfd, 1, 20);

		if (n > 0)
			return 0;
		if (n < 0)
			return -1;
	}
	return -1;
}

/* Reads one request (head and Content-Length body) into buf; -1 on EOF or error. */
static int
read_request(struct server *s, int fd, char *buf, size_t cap)
{
	size_t		 len = 0;
	char		*end, *cl;
	long		 want = 0;
	ssize_t		 n;

	for (;;) {
		if (wait_readable(s, fd) == -1)
			return -1;
		if ((n = read(fd, buf + len, cap - 1 - len)) <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = '\0';
		if ((end = strstr(buf, "\r\n\r\n")) == NULL) {
			if (len == cap - 1)
				return -1;
			continue;
		}
		if ((cl = strcasestr(buf, "\r\nContent-Length:")) != NULL && cl < end)
			want = strtol(cl + 17, NULL, 10);
		if ((long)(len - (size_t)(end + 4 - buf)) >= want)
			return 0;
		if (len == cap - 1)
			return -1;
	}
}

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
respond(int fd, int mode)
{
	char		 big[4096], out[8192];
	const char	*status, *body;
	int		 n;

	switch (mode) {
	case M_JSON:
		status = "200 OK";
		body = "{\"ok\":true,\"n\":3}";
		break;
	case M_404:
		status = "404 Not Found";
		body = "{\"error\":{\"code\":\"not_found\"}}";
		break;
	case M_503:
		status = "503 Service Unavailable";
		body = "{\"error\":{\"code\":\"service_unavailable\"}}";
		break;
	default:
		memset(big, 'x', sizeof(big) - 1);
		big[0] = '"';
		big[sizeof(big) - 2] = '"';
		big[sizeof(big) - 1] = '\0';
		status = "200 OK";
		body = big;
		break;
	}
	n = snprintf(out, sizeof(out), "HTTP/1.1 %s\r\nContent-Type: application/json\r\n"
	    "Content-Length: %zu\r\n\r\n%s", status, strlen(body), body);
	if (n < 0 || (size_t)n >= sizeof(out))
		return -1;
	return write_all(fd, out, (size_t)n);
}

static void *
serve(void *arg)
{
	struct server	*s = arg;
	char		 req[4096];
	int		 c, mode;

	while (!atomic_load(&s->stop)) {
		if (wait_readable(s, s->fd) == -1)
			break;
		if ((c = accept(s->fd, NULL, NULL)) == -1)
			continue;
		atomic_fetch_add(&s->accepted, 1);
		/* Keep-alive: requests on one connection until the client closes it. */
		while (read_request(s, c, req, sizeof(req)) == 0) {
			pthread_mutex_lock(&s->lock);
			snprintf(s->last, sizeof(s->last), "%s", req);
			pthread_mutex_unlock(&s->lock);
			mode = atomic_load(&s->mode);
			if (mode == M_HANG) {
				/* Read the request, never answer: wait for the client to give up. */
				while (wait_readable(s, c) == 0 && read(c, req, sizeof(req)) > 0)
					;
				break;
			}
			if (respond(c, mode) == -1)
				break;
		}
		close(c);
	}
	return NULL;
}

static int
server_start(void **state)
{
	struct server		*s = calloc(1, sizeof(*s));
	struct sockaddr_in	 sa;
	socklen_t		 salen = sizeof(sa);

	if (s == NULL)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = 0;
	if ((s->fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		goto out_free;
	if (bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 || listen(s->fd, 16) == -1 ||
	    getsockname(s->fd, (struct sockaddr *)&sa, &salen) == -1)
		goto out_close;
	s->port = ntohs(sa.sin_port);
	atomic_init(&s->mode, M_JSON);
	atomic_init(&s->stop, 0);
	atomic_init(&s->accepted, 0);
	if (pthread_mutex_init(&s->lock, NULL) != 0)
		goto out_close;
	if (pthread_create(&s->tid, NULL, serve, s) != 0)
		goto out_mutex;
	*state = s;
	return 0;
out_mutex:
	pthread_mutex_destroy(&s->lock);
out_close:
	close(s->fd);
out_free:
	free(s);
	return -1;
}

static int
server_stop(void **state)
{
	struct server *s = *state;

	atomic_store(&s->stop, 1);
	pthread_join(s->tid, NULL);
	close(s->fd);
	pthread_mutex_destroy(&s->lock);
	free(s);
	return 0;
}

struct client {
	struct svc_http_client	c;
	struct svc_http_result	res;
	struct svc_http_call	call;
	struct svc_http_opts	opts;
	char			base[64];
};

static void
client_init(struct client *cl, struct server *s, const char *method, const char *path)
{
	memset(cl, 0, sizeof(*cl));
	assert_int_equal(svc_http_client_init(&cl->c), 0);
	svc_http_result_init(&cl->res);
	snprintf(cl->base, sizeof(cl->base), "http://127.0.0.1:%d", s != NULL ? s->port : 1);
	cl->call.method = method;
	cl->call.base_url = cl->base;
	cl->call.path = path;
	cl->call.request_id = "rid-42";
	cl->call.service_token = "secret-token";
	cl->opts.timeout_us = 2000000;
	cl->opts.connect_timeout_us = 500000;
	cl->opts.remaining_us = 1500000;
	cl->opts.max_body = 65536;
}

/* The client's call, once: svc_http_perform's result. */
static int
perform(struct client *cl)
{
	return svc_http_perform(&cl->c, &cl->call, &cl->opts, &cl->res);
}

static void
client_free(struct client *cl)
{
	svc_http_result_free(&cl->res);
	svc_http_client_free(&cl->c);
}

/* What the server must have received for test_200_json_and_headers' call. */
static const char *const charge_request[] = {
	"POST /internal/charges HTTP/1.1\r\n",
	"\r\nX-Request-Id: rid-42\r\n",
	"\r\nX-Deadline-Ms: 1500\r\n",
	"\r\nX-Service-Token: secret-token\r\n",
	"\r\nContent-Type: application/json\r\n",
	"\r\nIdempotency-Key: order-9\r\n",
	"\r\n\r\n{\"amount\":1200}",
};

static void
test_200_json_and_headers(void **state)
{
	struct server	*s = *state;
	struct client	 cl;
	json_object	*n;

	atomic_store(&s->mode, M_JSON);
	client_init(&cl, s, "POST", "/internal/charges");
	cl.call.body = "{\"amount\":1200}";
	cl.call.idempotency_key = "order-9";
	assert_int_equal(perform(&cl), 0);
	assert_int_equal(cl.res.cls, SVC_HTTP_OK);
	assert_int_equal(cl.res.status, 200);
	assert_true(cl.res.sent);
	assert_non_null(cl.res.json);
	assert_true(json_object_object_get_ex(cl.res.json, "n", &n));
	assert_int_equal(json_object_get_int(n), 3);
	pthread_mutex_lock(&s->lock);
	svc_unit_has(s->last, charge_request, SVC_UNIT_N(charge_request));
	pthread_mutex_unlock(&s->lock);
	client_free(&cl);
}

static void
test_keep_alive_reuses_connection(void **state)
{
	struct server	*s = *state;
	struct client	 cl;
	int		 before, i;

	atomic_store(&s->mode, M_JSON);
	client_init(&cl, s, "GET", "/a");
	before = atomic_load(&s->accepted);
	for (i = 0; i < 3; i++) {
		assert_int_equal(perform(&cl), 0);
		assert_int_equal(cl.res.cls, SVC_HTTP_OK);
	}
	assert_int_equal(atomic_load(&s->accepted), before + 1);
	pthread_mutex_lock(&s->lock);
	assert_non_null(strstr(s->last, "GET /a HTTP/1.1\r\n"));
	assert_null(strstr(s->last, "Idempotency-Key"));
	pthread_mutex_unlock(&s->lock);
	client_free(&cl);
}

static void
test_404_is_definite(void **state)
{
	struct server	*s = *state;
	struct client	 cl;

	atomic_store(&s->mode, M_404);
	client_init(&cl, s, "GET", "/missing");
	assert_int_equal(perform(&cl), 0);
	assert_int_equal(cl.res.cls, SVC_HTTP_DEFINITE);
	assert_int_equal(cl.res.status, 404);
	assert_non_null(cl.res.json);
	client_free(&cl);
}

static void
test_503_is_retryable(void **state)
{
	struct server	*s = *state;
	struct client	 cl;

	atomic_store(&s->mode, M_503);
	client_init(&cl, s, "PUT", "/x");
	cl.call.body = "{}";
	assert_int_equal(perform(&cl), 0);
	assert_int_equal(cl.res.cls, SVC_HTTP_RETRYABLE);
	assert_int_equal(cl.res.status, 503);
	pthread_mutex_lock(&s->lock);
	assert_non_null(strstr(s->last, "PUT /x HTTP/1.1\r\n"));
	pthread_mutex_unlock(&s->lock);
	client_free(&cl);
}

static void
test_refused_is_retryable(void **state)
{
	struct sockaddr_in	sa;
	socklen_t		salen = sizeof(sa);
	struct client		cl;
	char			base[64];
	int			fd;

	(void)state;
	/* A port that was just bound and closed: nobody listens there. */
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_not_equal(fd = socket(AF_INET, SOCK_STREAM, 0), -1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &salen), 0);
	close(fd);
	client_init(&cl, NULL, "POST", "/x");
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", ntohs(sa.sin_port));
	cl.call.base_url = base;
	assert_int_equal(perform(&cl), 0);
	assert_int_equal(cl.res.cls, SVC_HTTP_RETRYABLE);
	assert_int_equal(cl.res.status, 0);
	assert_false(cl.res.sent);
	assert_true(cl.res.error[0] != '\0');
	client_free(&cl);
}

static void
test_no_answer_is_unknown_after_timeout(void **state)
{
	struct server	*s = *state;
	struct client	 cl;
	int64_t		 t0, el;

	atomic_store(&s->mode, M_HANG);
	client_init(&cl, s, "POST", "/charges");
	cl.call.body = "{}";
	cl.opts.timeout_us = 200000;
	t0 = svc_now_us();
	assert_int_equal(perform(&cl), 0);
	el = svc_now_us() - t0;
	assert_int_equal(cl.res.cls, SVC_HTTP_UNKNOWN);
	assert_true(cl.res.sent);
	assert_true(el >= 190000 && el < 1500000);
	/* The deadline, when shorter than the timeout, is what limits the wait. */
	cl.opts.timeout_us = 2000000;
	cl.opts.remaining_us = 150000;
	t0 = svc_now_us();
	assert_int_equal(perform(&cl), 0);
	el = svc_now_us() - t0;
	assert_int_equal(cl.res.cls, SVC_HTTP_UNKNOWN);
	assert_true(el >= 140000 && el < 1000000);
	client_free(&cl);
}

static void
test_body_over_cap(void **state)
{
	struct server	*s = *state;
	struct client	 cl;

	atomic_store(&s->mode, M_BIG);
	client_init(&cl, s, "GET", "/big");
	cl.opts.max_body = 1024;
	assert_int_equal(perform(&cl), 0);
	assert_int_equal(cl.res.cls, SVC_HTTP_UNKNOWN);
	assert_non_null(strstr(cl.res.error, "over 1024 bytes"));
	assert_null(cl.res.json);
	cl.opts.max_body = 65536;
	assert_int_equal(perform(&cl), 0);
	assert_int_equal(cl.res.cls, SVC_HTTP_OK);
	assert_int_equal(cl.res.body.len, 4095);
	client_free(&cl);
}

static void
test_bad_calls_refused_locally(void **state)
{
	struct server	*s = *state;
	struct client	 cl;
	int		 before = atomic_load(&s->accepted);

	client_init(&cl, s, "GET", "/x");
	cl.call.request_id = "a\r\nX-Evil: 1";
	assert_int_equal(perform(&cl), -1);
	cl.call.request_id = "ok";
	cl.call.path = "no-slash";
	assert_int_equal(perform(&cl), -1);
	cl.call.path = "/x";
	cl.call.method = "get";
	assert_int_equal(perform(&cl), -1);
	assert_int_equal(atomic_load(&s->accepted), before);
	client_free(&cl);
}

static void
test_dep_call_over_real_client(void **state)
{
	struct server		*s = *state;
	struct svc_dep_conf	 c;
	struct svc_dep		 dep;
	struct svc_dep_caller	 caller;
	struct svc_dep_result	 res;
	struct svc_http_call	 call;
	char			 err[200], base[64];

	c = svc_unit_dep_conf(2, 1000, 2000, 2, 1000000, 500000, 65536);
	c.breaker = (struct svc_breaker_conf){ 1, 20, 10, 0.5, 1.0, 1000000, 1000000, 1 };
	c.budget = (struct svc_budget_conf){ 1, 0.2, 10, 10 };
	assert_int_equal(svc_dep_init(&dep, "payments", &c, &svc_clock_system, err,
	    sizeof(err)), 0);
	assert_int_equal(svc_dep_caller_init(&caller, 1), 0);
	svc_dep_result_init(&res);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", s->port);
	memset(&call, 0, sizeof(call));
	call.method = "GET";
	call.base_url = base;
	call.path = "/stock/1";
	call.idempotent = 1;
	call.deadline_us = svc_now_us() + 2000000;
	atomic_store(&s->mode, M_503);
	assert_int_equal(svc_dep_call(&dep, &caller, &call, &res), 0);
	assert_int_equal(res.outcome, SVC_DEP_UNAVAILABLE);
	assert_int_equal(res.attempts, 3);
	assert_int_equal(res.http.status, 503);
	atomic_store(&s->mode, M_JSON);
	assert_int_equal(svc_dep_call(&dep, &caller, &call, &res), 0);
	assert_int_equal(res.outcome, SVC_DEP_OK);
	assert_non_null(res.http.json);
	svc_dep_result_free(&res);
	svc_dep_caller_free(&caller);
	svc_dep_free(&dep);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_200_json_and_headers),
		cmocka_unit_test(test_keep_alive_reuses_connection),
		cmocka_unit_test(test_404_is_definite),
		cmocka_unit_test(test_503_is_retryable),
		cmocka_unit_test(test_refused_is_retryable),
		cmocka_unit_test(test_no_answer_is_unknown_after_timeout),
		cmocka_unit_test(test_body_over_cap),
		cmocka_unit_test(test_bad_calls_refused_locally),
		cmocka_unit_test(test_dep_call_over_real_client),
	};
	int rc;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return 1;
	rc = cmocka_run_group_tests(tests, server_start, server_stop);
	curl_global_cleanup();
	return rc;
}
