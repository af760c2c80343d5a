/* simtest.c - helpers for the sim proxy tests: in-process server, upstreams, HTTP and FastCGI clients */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "simtest.h"
#include "simtest_api.h"
#include "simtest_text.h"

#define MAX_UP_CONNS 1024

uint64_t simtest_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

bool simtest_has(const char *haystack, const char *needle)
{
	return strstr(haystack, needle) != NULL;
}

const char *simtest_missing(const char *text, const char *const *needles)
{
	for (; *needles != NULL; needles++)
		if (strstr(text, *needles) == NULL)
			return *needles;
	return "";
}

static void *server_main(void *arg)
{
	struct simtest_server *t = arg;

	(void)sim_server_run(&t->srv);
	return NULL;
}

int simtest_server_start(struct simtest_server *t, uint64_t seed, const char *fault_log)
{
	/* Two loops, as a 2-CPU machine runs it: the toxics are checked across threads.
	 * SIM_TEST_LOOPS=1 runs the suites on one loop. */
	const char *nl = getenv("SIM_TEST_LOOPS");
	struct sim_proxy_opts o = { .host = "127.0.0.1", .port = 0, .seed = seed,
	                            .fault_log = fault_log,
	                            .loops = nl != NULL && atoi(nl) > 0 ? atoi(nl) : 2 };

	signal(SIGPIPE, SIG_IGN);
	if (sim_server_init(&t->srv, &o) != 0)
		return -1;
	t->port = t->srv.port;
	if (pthread_create(&t->th, NULL, server_main, t) != 0) {
		sim_server_free(&t->srv);
		return -1;
	}
	return 0;
}

void simtest_server_stop(struct simtest_server *t)
{
	sim_server_stop(&t->srv);
	pthread_join(t->th, NULL);
	sim_server_free(&t->srv);
}

static int listen_any(int *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 512) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

int simtest_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pf = { .fd = fd, .events = POLLOUT };

			(void)poll(&pf, 1, 100);
			continue;
		}
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* ---- fake upstreams ------------------------------------------------------------------------ */

struct up_conn {
	int fd;
	unsigned char buf[70000];
	size_t len;
	size_t sent;            /* UP_SOURCE: bytes sent so far */
	char rid[64];           /* UP_FCGI: the current request's X-Request-Id */
	int keep;               /* UP_FCGI: FCGI_KEEP_CONN of the current request */
};

static void put_record(unsigned char *out, size_t *n, int type, uint16_t id, const void *data,
                       size_t len)
{
	unsigned char *h = out + *n;

	h[0] = 1;
	h[1] = (unsigned char)type;
	h[2] = (unsigned char)(id >> 8);
	h[3] = (unsigned char)id;
	h[4] = (unsigned char)(len >> 8);
	h[5] = (unsigned char)len;
	h[6] = 0;
	h[7] = 0;
	if (len > 0)
		memcpy(h + 8, data, len);
	*n += 8 + len;
}

/* Finds a name-value pair's value in PARAMS content (1-byte lengths only: enough here). */
static void params_find(const unsigned char *p, size_t len, const char *name, char *out,
                        size_t outsz)
{
	size_t pos = 0, want = strlen(name);

	while (pos + 2 <= len) {
		size_t nl = p[pos], vl = p[pos + 1];

		pos += 2;
		if (pos + nl + vl > len)
			return;
		if (nl == want && memcmp(p + pos, name, nl) == 0) {
			size_t n = vl < outsz - 1 ? vl : outsz - 1;

			memcpy(out, p + pos + nl, n);
			out[n] = '\0';
			return;
		}
		pos += nl + vl;
	}
}

/* Handles the FastCGI records in c->buf; returns -1 to close the connection. */
static int fcgi_serve(struct simtest_upstream *u, struct up_conn *c)
{
	while (c->len >= 8) {
		size_t clen = ((size_t)c->buf[4] << 8) | c->buf[5];
		size_t total = 8 + clen + c->buf[6];
		int type = c->buf[1];
		uint16_t id = (uint16_t)((c->buf[2] << 8) | c->buf[3]);

		if (c->len < total)
			return 0;
		if (type == 1) {
			c->keep = clen >= 3 ? (c->buf[10] & 1) : 0;
			c->rid[0] = '\0';
		} else if (type == 4 && clen > 0) {
			params_find(c->buf + 8, clen, "HTTP_X_REQUEST_ID", c->rid, sizeof(c->rid));
		} else if (type == 5 && clen == 0) {
			unsigned char out[512];
			char body[160];
			size_t n = 0;
			static const unsigned char end[8] = { 0 };
			int bl = snprintf(body, sizeof(body),
			                  "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nok %s", c->rid);

			put_record(out, &n, 6, id, body, (size_t)bl);
			put_record(out, &n, 6, id, NULL, 0);
			put_record(out, &n, 3, id, end, 8);
			atomic_fetch_add(&u->requests, 1);
			if (simtest_write_all(c->fd, out, n) != 0 || !c->keep)
				return -1;
		}
		memmove(c->buf, c->buf + total, c->len - total);
		c->len -= total;
	}
	return 0;
}

/* The bytes every upstream thread sends as its source: filled once, read-only after. */
static char source_block[65536];
static pthread_once_t source_filled = PTHREAD_ONCE_INIT;

static void fill_source_block(void)
{
	memset(source_block, 'x', sizeof(source_block));
}

static void *upstream_main(void *arg)
{
	struct simtest_upstream *u = arg;
	struct pollfd pf[MAX_UP_CONNS + 2];
	struct up_conn *conns[MAX_UP_CONNS] = { NULL };
	int n = 0;

	pthread_once(&source_filled, fill_source_block);
	for (;;) {
		int np = 0;

		pf[np++] = (struct pollfd){ .fd = u->stop_pipe[0], .events = POLLIN };
		pf[np++] = (struct pollfd){ .fd = u->lfd, .events = POLLIN };
		for (int i = 0; i < n; i++)
			pf[np++] = (struct pollfd){ .fd = conns[i]->fd,
			                            .events = (short)(POLLIN |
			                                              (u->mode == UP_SOURCE ? POLLOUT : 0)) };
		if (poll(pf, (nfds_t)np, 200) < 0 && errno != EINTR)
			break;
		if (pf[0].revents != 0)
			break;
		if ((pf[1].revents & POLLIN) && n < MAX_UP_CONNS) {
			int fd = accept4(u->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

			if (fd >= 0) {
				struct up_conn *c = calloc(1, sizeof(*c));
				int one = 1;

				(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				atomic_fetch_add(&u->accepted, 1);
				c->fd = fd;
				conns[n++] = c;
				if (u->mode == UP_ECHO)
					(void)simtest_write_all(fd, "hello\n", 6);
			}
		}
		for (int i = 2; i < np; i++) {
			struct up_conn *c = conns[i - 2];
			bool drop = false;

			if (c == NULL || pf[i].revents == 0)
				continue;
			if (u->mode == UP_SOURCE && (pf[i].revents & POLLOUT)) {
				size_t left = u->source_len - c->sent;
				ssize_t w = left == 0 ? 0 : send(c->fd, source_block,
				                                 left < sizeof(source_block) ? left
				                                                             : sizeof(source_block),
				                                 MSG_NOSIGNAL);

				if (w > 0)
					c->sent += (size_t)w;
				if (c->sent >= u->source_len || (w < 0 && errno != EAGAIN))
					drop = true;
			}
			if (!drop && (pf[i].revents & (POLLIN | POLLHUP | POLLERR))) {
				ssize_t r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);

				if (r <= 0 && !(r < 0 && errno == EAGAIN)) {
					drop = true;
				} else if (r > 0 && u->mode == UP_ECHO) {
					drop = simtest_write_all(c->fd, c->buf, (size_t)r) != 0;
				} else if (r > 0 && u->mode == UP_FCGI) {
					c->len += (size_t)r;
					drop = fcgi_serve(u, c) != 0;
				}
			}
			if (drop) {
				close(c->fd);
				free(c);
				conns[i - 2] = NULL;
			}
		}
		int m = 0;

		for (int i = 0; i < n; i++)
			if (conns[i] != NULL)
				conns[m++] = conns[i];
		n = m;
	}
	for (int i = 0; i < n; i++) {
		close(conns[i]->fd);
		free(conns[i]);
	}
	return NULL;
}

int simtest_upstream_start(struct simtest_upstream *u, enum simtest_mode mode, size_t source_len)
{
	memset(u, 0, sizeof(*u));
	u->mode = mode;
	u->source_len = source_len;
	u->lfd = listen_any(&u->port);
	if (u->lfd < 0)
		return -1;
	if (pipe(u->stop_pipe) != 0) {
		close(u->lfd);
		return -1;
	}
	if (pthread_create(&u->th, NULL, upstream_main, u) != 0) {
		close(u->lfd);
		close(u->stop_pipe[0]);
		close(u->stop_pipe[1]);
		return -1;
	}
	return 0;
}

void simtest_upstream_stop(struct simtest_upstream *u)
{
	if (write(u->stop_pipe[1], "x", 1) != 1)
		perror("simtest: stop upstream");
	pthread_join(u->th, NULL);
	close(u->lfd);
	close(u->stop_pipe[0]);
	close(u->stop_pipe[1]);
}

/* ---- clients ------------------------------------------------------------------------------- */

int simtest_connect(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
	                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

long simtest_read(int fd, void *buf, size_t len, int timeout_ms, int *got_eof)
{
	uint64_t deadline = simtest_now_ms() + (uint64_t)timeout_ms;
	size_t got = 0;

	if (got_eof != NULL)
		*got_eof = 0;
	while (got < len) {
		uint64_t now = simtest_now_ms();
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (now >= deadline)
			break;
		if (poll(&pf, 1, (int)(deadline - now)) <= 0)
			continue;
		r = recv(fd, (char *)buf + got, len - got, 0);
		if (r == 0) {
			if (got_eof != NULL)
				*got_eof = 1;
			break;
		}
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		got += (size_t)r;
	}
	return (long)got;
}

int simtest_wait_close(int fd, int timeout_ms)
{
	char b[4096];
	uint64_t deadline = simtest_now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		uint64_t now = simtest_now_ms();
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (now >= deadline)
			return 1;
		if (poll(&pf, 1, (int)(deadline - now)) <= 0)
			continue;
		r = recv(fd, b, sizeof(b), 0);
		if (r == 0)
			return 0;
		if (r < 0)
			return -errno;
		return 1;
	}
}

int simtest_http(int port, const char *method, const char *path, const char *body, char *out,
                 size_t outsz)
{
	char req[8192], resp[65536];
	int fd = simtest_connect(port), status = -1, eof;
	size_t blen = body != NULL ? strlen(body) : 0;
	int n;
	long got;
	char *sep;

	if (fd < 0)
		return -1;
	n = snprintf(req, sizeof(req),
	             "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\nUser-Agent: simtest\r\n"
	             "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
	             method, path, blen);
	if (n < 0 || (size_t)n >= sizeof(req) || simtest_write_all(fd, req, (size_t)n) != 0 ||
	    (blen > 0 && simtest_write_all(fd, body, blen) != 0))
		goto out;
	got = simtest_read(fd, resp, sizeof(resp) - 1, 5000, &eof);
	if (got <= 0)
		goto out;
	resp[got] = '\0';
	if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1)
		status = -1;
	sep = strstr(resp, "\r\n\r\n");
	if (out != NULL && outsz > 0)
		snprintf(out, outsz, "%s", sep != NULL ? sep + 4 : "");
out:
	close(fd);
	return status;
}

static void nv(unsigned char *p, size_t *n, const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value);

	p[(*n)++] = (unsigned char)nl;
	p[(*n)++] = (unsigned char)vl;
	memcpy(p + *n, name, nl);
	*n += nl;
	memcpy(p + *n, value, vl);
	*n += vl;
}

int simtest_fcgi_request(int fd, uint16_t id, const char *request_id, bool keep_conn, char *body,
                         size_t bodysz, int timeout_ms)
{
	unsigned char out[1024], params[512], in[70000];
	unsigned char begin[8] = { 0, 1, (unsigned char)(keep_conn ? 1 : 0), 0, 0, 0, 0, 0 };
	size_t n = 0, pn = 0, have = 0, blen = 0;
	uint64_t deadline = simtest_now_ms() + (uint64_t)timeout_ms;
	int status = 200;

	nv(params, &pn, "REQUEST_METHOD", "GET");
	nv(params, &pn, "HTTP_X_REQUEST_ID", request_id);
	nv(params, &pn, "SCRIPT_NAME", "/x");
	put_record(out, &n, 1, id, begin, 8);
	put_record(out, &n, 4, id, params, pn);
	put_record(out, &n, 4, id, NULL, 0);
	put_record(out, &n, 5, id, NULL, 0);
	if (simtest_write_all(fd, out, n) != 0)
		return -1;
	if (body != NULL && bodysz > 0)
		body[0] = '\0';
	for (;;) {
		while (have >= 8) {
			size_t clen = ((size_t)in[4] << 8) | in[5];
			size_t total = 8 + clen + in[6];

			if (have < total)
				break;
			if (in[1] == 6 && body != NULL && blen + clen < bodysz) {
				memcpy(body + blen, in + 8, clen);
				blen += clen;
				body[blen] = '\0';
			}
			if (in[1] == 3) {
				const char *st = body != NULL ? strstr(body, "Status: ") : NULL;

				if (st != NULL)
					status = atoi(st + 8);
				return status;
			}
			memmove(in, in + total, have - total);
			have -= total;
		}
		uint64_t now = simtest_now_ms();
		long r;
		int eof;

		if (now >= deadline)
			return -1;
		r = simtest_read(fd, in + have, 1, (int)(deadline - now), &eof);
		if (r <= 0)
			return -1;
		have += (size_t)r;
		/* drain what else is there without waiting */
		{
			struct pollfd pf = { .fd = fd, .events = POLLIN };

			if (poll(&pf, 1, 0) > 0) {
				ssize_t m = recv(fd, in + have, sizeof(in) - have, MSG_DONTWAIT);

				if (m > 0)
					have += (size_t)m;
			}
		}
	}
}

int simtest_proxy(struct simtest_server *s, const char *name, int upstream_port)
{
	char body[512], resp[4096];
	const char *l;

	snprintf(body, sizeof(body),
	         "{\"name\":\"%s\",\"listen\":\"127.0.0.1:0\",\"upstream\":\"127.0.0.1:%d\"}", name,
	         upstream_port);
	if (simtest_http(s->port, "POST", "/proxies", body, resp, sizeof(resp)) != 201)
		return -1;
	l = strstr(resp, "\"listen\":\"127.0.0.1:");
	return l != NULL ? atoi(l + strlen("\"listen\":\"127.0.0.1:")) : -1;
}

int simtest_toxic(struct simtest_server *s, const char *name, const char *json)
{
	char path[300], resp[4096];

	snprintf(path, sizeof(path), "/proxies/%s/toxics", name);
	return simtest_http(s->port, "POST", path, json, resp, sizeof(resp));
}

int simtest_rig_start(struct simtest_rig *r, const struct simtest_rig_spec *spec)
{
	int fd;

	memset(r, 0, sizeof(*r));
	if (spec->nup > SIMTEST_RIG_UPS || (spec->proxy != NULL && spec->nup == 0))
		return -1;
	if (spec->fault_log) {
		snprintf(r->log_path, sizeof(r->log_path), "/tmp/sim-fault-XXXXXX");
		fd = mkstemp(r->log_path);
		if (fd < 0)
			goto fail;
		close(fd);
	}
	for (; r->nup < spec->nup; r->nup++)
		if (simtest_upstream_start(&r->up[r->nup], spec->up[r->nup].mode,
		                           spec->up[r->nup].source_len) != 0)
			goto fail;
	if (simtest_server_start(&r->srv, spec->seed,
	                         r->log_path[0] != '\0' ? r->log_path : NULL) != 0)
		goto fail;
	if (spec->proxy != NULL) {
		r->proxy_port = simtest_proxy(&r->srv, spec->proxy, r->up[0].port);
		if (r->proxy_port <= 0) {
			simtest_server_stop(&r->srv);
			goto fail;
		}
	}
	return 0;
fail:
	while (r->nup > 0)
		simtest_upstream_stop(&r->up[--r->nup]);
	if (r->log_path[0] != '\0')
		unlink(r->log_path);
	return -1;
}

void simtest_rig_stop(struct simtest_rig *r)
{
	simtest_server_stop(&r->srv);
	while (r->nup > 0)
		simtest_upstream_stop(&r->up[--r->nup]);
	if (r->log_path[0] != '\0')
		unlink(r->log_path);
}

int simtest_rig_setup(void **state)
{
	const struct simtest_rig_spec *spec = *state;
	struct simtest_rig *r = malloc(sizeof(*r));

	if (r == NULL)
		return -1;
	if (simtest_rig_start(r, spec) != 0) {
		free(r);
		return -1;
	}
	*state = r;
	return 0;
}

int simtest_rig_teardown(void **state)
{
	simtest_rig_stop(*state);
	free(*state);
	return 0;
}

int simtest_call(struct simtest_rig *r, const char *method, const char *path, const char *fmt,
                    ...)
{
	char body[4096];
	va_list ap;
	int n;

	if (fmt != NULL) {
		va_start(ap, fmt);
		n = vsnprintf(body, sizeof(body), fmt, ap);
		va_end(ap);
		if (n < 0 || (size_t)n >= sizeof(body))
			return -1;
	}
	return simtest_http(r->srv.port, method, path, fmt != NULL ? body : NULL, r->body,
	                    sizeof(r->body));
}

/* An in-process proxy behind an opaque handle (simtest_api.h): a rig with its echo upstream. */
struct simtest_server *simtest_api_start(const char *name, int *port)
{
	const struct simtest_rig_spec spec = { .seed = 1, .proxy = name, .nup = 1,
	                                       .up = { { UP_ECHO, 0 } } };
	struct simtest_rig *r = malloc(sizeof(*r));

	if (r == NULL)
		return NULL;
	if (simtest_rig_start(r, &spec) != 0) {
		free(r);
		return NULL;
	}
	*port = r->srv.port;
	return &r->srv;
}

void simtest_api_stop(struct simtest_server *s)
{
	struct simtest_rig *r = (struct simtest_rig *)s;

	simtest_rig_stop(r);
	free(r);
}
