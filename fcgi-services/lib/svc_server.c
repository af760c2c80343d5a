/* svc_server.c - the FastCGI server: worker threads, dispatch, builtin routes, shutdown */
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "svc_conf_int.h"
#include "svc_db_int.h"
#include "svc_handover_int.h"
#include "svc_log_int.h"
#include "svc_metrics_int.h"
#include "svc_nodes_int.h"
#include "svc_req_int.h"
#include "svc_router_int.h"
#include "svc_server_int.h"
#include "svc_util_int.h"
#include "svc_events.h"

static const struct svc_route svc_builtins[SVC_NBUILTIN] = {
	[SVC_BUILTIN_HEALTHZ] = { "GET", "/healthz", NULL },
	[SVC_BUILTIN_READYZ]  = { "GET", "/readyz", NULL },
	[SVC_BUILTIN_METRICS] = { "GET", "/metrics", NULL },
	[SVC_BUILTIN_DEADLETTERS] = { "GET", "/deadletters", NULL },
	[SVC_BUILTIN_DEADLETTER_SHOW] = { "GET", "/deadletters/{seq}", NULL },
	[SVC_BUILTIN_DEADLETTER_REPLAY] = { "POST", "/deadletters/{seq}/replay", NULL },
	[SVC_BUILTIN_DEADLETTERS_REPLAY] = { "POST", "/deadletters/replay", NULL },
};

/* Opens the listening socket: "host:port" (TCP) or "unix:/path". Returns fd or -1. */
static int
svc_listen(const char *spec, int backlog, char *err, size_t errlen)
{
	struct addrinfo		 hints, *res = NULL, *ai;
	struct sockaddr_un	 sun;
	char			 host[256];
	const char		*colon;
	mode_t			 old;
	int			 fd = -1, on = 1, gai, rc;

	if (strncmp(spec, "unix:", 5) == 0) {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if (strlen(spec + 5) >= sizeof(sun.sun_path)) {
			snprintf(err, errlen, "unix socket path too long: %s", spec + 5);
			return -1;
		}
		memcpy(sun.sun_path, spec + 5, strlen(spec + 5) + 1);
		if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
			goto fail_errno;
		if (unlink(sun.sun_path) == -1 && errno != ENOENT)
			goto fail_errno;
		/*
		 * Owner and group only, from the first moment: the group is the one nginx shares
		 * (the directory's, when it is setgid: scripts/stack.sh makes run/sock so). Still
		 * one thread here, so the process-wide umask is safe to change.
		 */
		old = umask(0117);
		rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
		umask(old);
		if (rc == -1 || chmod(sun.sun_path, 0660) == -1)
			goto fail_errno;
		goto listen;
	}
	if ((colon = strrchr(spec, ':')) == NULL || (size_t)(colon - spec) >= sizeof(host)) {
		snprintf(err, errlen, "SHOPLAB_LISTEN=%s: want host:port or unix:/path", spec);
		return -1;
	}
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = '\0';
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((gai = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &res)) != 0) {
		snprintf(err, errlen, "SHOPLAB_LISTEN=%s: %s", spec, gai_strerror(gai));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol)) == -1)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1)
		goto fail_errno;
listen:
	if (listen(fd, backlog) == -1)
		goto fail_errno;
	return fd;
fail_errno:
	snprintf(err, errlen, "cannot listen on %s: %s", spec, strerror(errno));
	if (fd != -1)
		close(fd);
	return -1;
}

static void
svc_new_request_id(char *out, size_t outlen)
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 rnd[8];
	size_t			 i;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		int64_t t = svc_now_us();
		memcpy(rnd, &t, sizeof(rnd));
	}
	for (i = 0; i < sizeof(rnd) && 2 * i + 2 < outlen; i++) {
		out[2 * i] = hex[rnd[i] >> 4];
		out[2 * i + 1] = hex[rnd[i] & 0xf];
	}
	out[2 * i] = '\0';
}

/* 1 when a and b are equal; the time taken depends on their lengths only. */
static int
svc_secret_equal(const char *got, const char *want)
{
	size_t			 glen = strlen(got), wlen = strlen(want), i;
	volatile unsigned char	 diff = glen != wlen;

	for (i = 0; i < wlen; i++)
		diff |= (unsigned char)(want[i] ^ (i < glen ? got[i] : 0));
	return diff == 0;
}

/*
 * The gateway proves itself with the per-stack secret in the FastCGI param
 * SHOPLAB_GATEWAY_SECRET; nginx builds params from its config only (a client's headers
 * all become HTTP_*), so no client can set it. Checked before any identity param is read:
 * without it the request is answered 403 and its identity params are never looked at.
 */
static int
svc_gateway_proved(struct svc_req *r)
{
	const char *secret = r->srv->cfg.gateway_secret, *got;

	if (secret == NULL || secret[0] == '\0')
		return 1;
	if ((got = svc_req_rparam(r, SVC_P_GATEWAY_SECRET)) != NULL &&
	    svc_secret_equal(got, secret))
		return 1;
	r->untrusted = 1;
	svc_log(r, "warn", "refused a request without the gateway's secret (%s %.200s)",
	    r->method, r->path);
	svc_reply_error(r, 403, "gateway_secret_required",
	    "only the gateway may call this service");
	return 0;
}

static int
svc_builtin(struct svc_req *r, int which)
{
	struct svc_buf	b;
	int		rc;

	switch (which) {
	case SVC_BUILTIN_HEALTHZ:
		return svc_reply_raw(r, 200, "application/json", "{\"status\":\"ok\"}", 15);
	case SVC_BUILTIN_READYZ:
		if (r->srv->svc->nstmts == 0 || svc_db_ping(r) == SVC_OK)
			return svc_reply_raw(r, 200, "application/json",
			    "{\"status\":\"ready\"}", 18);
		return svc_reply_error(r, 503, "database_unavailable",
		    "the database cannot be reached");
	case SVC_BUILTIN_METRICS:
		svc_buf_init(&b);
		if (svc_metrics_write(&r->srv->metrics, r->srv->svc->name,
		    r->srv->route_names, &b) == -1) {
			svc_buf_free(&b);
			return svc_reply_err(r, SVC_ERR_NOMEM);
		}
		if (svc_dep_metrics_write(r->srv->deps, r->srv->ndeps, r->srv->svc->name, &b) == -1 ||
		    (r->srv->svc->nstmts > 0 &&
		    svc_dbnodes_metrics_write(&r->srv->dbnodes, r->srv->svc->name, &b) == -1) ||
		    svc_events_metrics_write(r->srv, &b) == -1 ||
		    (r->srv->svc->metrics != NULL && r->srv->svc->metrics(r, &b) == -1)) {
			svc_buf_free(&b);
			return svc_reply_err(r, SVC_ERR_NOMEM);
		}
		rc = svc_reply_raw(r, 200, "text/plain; version=0.0.4; charset=utf-8", b.data,
		    b.len);
		svc_buf_free(&b);
		return rc;
	case SVC_BUILTIN_DEADLETTERS:
		return svc_events_deadletters(r);
	case SVC_BUILTIN_DEADLETTER_SHOW:
		return svc_events_deadletter_show(r);
	case SVC_BUILTIN_DEADLETTER_REPLAY:
		return svc_events_deadletter_replay(r);
	case SVC_BUILTIN_DEADLETTERS_REPLAY:
		return svc_events_deadletter_replay_all(r);
	default:
		return svc_reply_err(r, SVC_ERR_INTERNAL);
	}
}

/* Index of the metrics slot: service routes, then builtins, then "unmatched". */
static size_t
svc_dispatch(struct svc_req *r)
{
	const struct svc_service	*svc = r->srv->svc;
	char				 allow[128];
	int				 m, rc;

	m = svc_route_match(svc->routes, svc->nroutes, r->method, r->path, &r->match,
	    allow, sizeof(allow));
	if (m >= 0) {
		rc = svc->routes[m].fn(r);
		if (r->status == 0)
			svc_reply_err(r, rc == SVC_OK ? SVC_ERR_INTERNAL : (enum svc_err)rc);
		return (size_t)m;
	}
	if (m == SVC_MATCH_NONE) {
		int b = svc_route_match(svc_builtins, SVC_NBUILTIN, r->method, r->path,
		    &r->match, allow, sizeof(allow));
		if (b >= 0) {
			svc_builtin(r, b);
			return svc->nroutes + (size_t)b;
		}
		m = b;
	}
	if (m == SVC_MATCH_METHOD) {
		svc_reply_header(r, "Allow", allow);
		svc_reply_error(r, 405, "method_not_allowed", "%s is not allowed here; use %s",
		    r->method, allow);
	} else
		svc_reply_error(r, 404, "not_found", "no route for this path");
	return svc->nroutes + SVC_NBUILTIN;
}

static void
svc_log_request(struct svc_req *r, size_t route, int64_t dur_us)
{
	char	line[1024];
	size_t	n;

	/* The path is cut to fit (svc_json_escape); the rest is short by construction. */
	if ((n = svc_log_request_line(&r->w->log, line, sizeof(line), r->srv->svc->name, r->rid,
	    r->srv->route_names[route], r->path, r->status, dur_us, svc_req_user_id(r))) == 0)
		return;
	/* A server error is written at once; the rest waits for its worker's next flush. */
	svc_logbuf_add(&r->w->log, line, n, svc_now_us(),
	    r->status >= 500 ? 0 : r->srv->cfg.log_flush_ms * 1000);
}

static void
svc_handle(struct svc_worker *w)
{
	struct svc_server	*srv = w->srv;
	struct svc_req		 r;
	const char		*rid, *dl;
	long long		 dlms;
	size_t			 route;
	int64_t			 dur;

	memset(&r, 0, sizeof(r));
	r.w = w;
	r.srv = srv;
	r.fcgx = &w->fcgx;
	r.start_us = svc_now_us();
	r.deadline_us = r.start_us + srv->cfg.request_deadline_ms * 1000;
	svc_buf_init(&r.headers);
	atomic_fetch_add(&srv->metrics.inflight, 1);

	svc_req_scan_params(&r);
	r.method = svc_req_rparam(&r, SVC_P_METHOD);
	if (r.method == NULL)
		r.method = "GET";
	/* The gateway names the route path in SHOPLAB_PATH (e.g. /_ops/x/healthz -> /healthz). */
	if ((r.path = svc_req_rparam(&r, SVC_P_SHOPLAB_PATH)) == NULL &&
	    (r.path = svc_req_rparam(&r, SVC_P_DOCUMENT_URI)) == NULL &&
	    (r.path = svc_req_rparam(&r, SVC_P_SCRIPT_NAME)) == NULL)
		r.path = "/";
	r.query = svc_req_rparam(&r, SVC_P_QUERY);
	if (svc_req_id_sane(rid = svc_req_rparam(&r, SVC_P_REQUEST_ID)) ||
	    svc_req_id_sane(rid = svc_req_rparam(&r, SVC_P_X_REQUEST_ID)))
		snprintf(r.rid, sizeof(r.rid), "%s", rid);
	else
		svc_new_request_id(r.rid, sizeof(r.rid));
	/* A caller passes its remaining time on; never wait longer than it will. */
	if ((dl = svc_req_rparam(&r, SVC_P_X_DEADLINE_MS)) != NULL &&
	    svc_conf_parse_ll(dl, 0, 600000, &dlms) == 0 &&
	    r.start_us + dlms * 1000 < r.deadline_us)
		r.deadline_us = r.start_us + dlms * 1000;

	route = svc_gateway_proved(&r) ? svc_dispatch(&r) : srv->svc->nroutes + SVC_NBUILTIN;
	dur = svc_now_us() - r.start_us;
	/* Before FCGX_Finish_r: the path and the params live in its request until then. */
	if (srv->cfg.log_requests || r.status >= 500)
		svc_log_request(&r, route, dur);
	FCGX_Finish_r(&w->fcgx);
	svc_metrics_record(&srv->metrics, route, r.status, dur);
	atomic_fetch_sub(&srv->metrics.inflight, 1);
	svc_req_run_deferred(&r);
	svc_buf_free(&r.headers);
	/* A transaction left open by a failed handler must not leak into the next request. */
	if (w->in_tx) {
		svc_log(NULL, "error", "a handler left a transaction open; rolled back");
		svc_db_end(&r, SVC_DB_ROLLBACK);
	}
}

/*
 * Connections are multiplexed: every worker waits on one shared epoll set holding the
 * listening socket and every idle connection (EPOLLONESHOT, so a ready connection goes to
 * exactly one worker). libfcgi pins a thread to a kept-alive connection when it accepts
 * by itself; here an idle connection costs no thread, so nginx may keep as many as it
 * likes. libfcgi still parses and writes records: we hand it the ready fd as its ipcFd
 * and take the fd back after the response if nginx asked to keep the connection.
 */
#define SVC_MAX_FD 1000		/* libfcgi uses fd_set on close: stay below FD_SETSIZE */

/* What a worker thread owns, given back as it ends. */
static void
svc_worker_end(struct svc_worker *w)
{
	if (w->caller_ok) {
		svc_dep_caller_free(&w->caller);
		w->caller_ok = 0;
	}
	svc_db_close(w);
	free(w->stmts);
	w->stmts = NULL;
	svc_buf_free(&w->head);
	mysql_thread_end();
}

static void
svc_accept_all(struct svc_server *srv)
{
	struct epoll_event	ev;
	int			fd;

	for (;;) {
		fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINVAL &&
			    errno != EBADF)
				svc_log(NULL, "warn", "accept: %s", strerror(errno));
			return;
		}
		if (fd >= SVC_MAX_FD) {
			svc_log(NULL, "warn", "too many connections: refusing one");
			close(fd);
			continue;
		}
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
		ev.data.fd = fd;
		if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
			svc_log(NULL, "error", "epoll_ctl add: %s", strerror(errno));
			close(fd);
			continue;
		}
		atomic_fetch_add(&srv->nconns, 1);
	}
}

/* Serves the one request waiting on fd; keeps the connection if nginx asked for it. */
static void
svc_serve_conn(struct svc_worker *w, int fd)
{
	struct epoll_event ev;

	/* keepConnection=1 stops Accept_r's implicit finish from closing the new fd. */
	w->fcgx.ipcFd = fd;
	w->fcgx.keepConnection = 1;
	if (FCGX_Accept_r(&w->fcgx) != 0)
		goto closed;	/* EOF or a protocol error: libfcgi closed fd */
	svc_handle(w);
	if (w->fcgx.ipcFd < 0)
		goto closed;	/* not kept alive: closed by FCGX_Finish_r */
	w->fcgx.ipcFd = -1;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
	ev.data.fd = fd;
	if (epoll_ctl(w->srv->epfd, EPOLL_CTL_MOD, fd, &ev) == 0)
		return;
	close(fd);
closed:
	atomic_fetch_sub(&w->srv->nconns, 1);
}

/*
 * Whether a worker may leave once stopping and nothing is ready. A plain stop leaves at
 * once. A deploy's predecessor (draining) keeps serving the connections the gateway holds,
 * because closing one under the gateway could meet a request already on its way; it leaves
 * when the gateway has closed them all (nginx retires each kept connection within its
 * upstream's keepalive_time, nginx/upstream.conf.in) or the lingering time is over.
 */
static int
svc_may_leave(struct svc_server *srv)
{
	if (!atomic_load(&srv->draining))
		return 1;
	return atomic_load(&srv->nconns) <= 0 || svc_now_us() >= srv->drain_until_us;
}

static void *
svc_worker_main(void *arg)
{
	struct svc_worker	*w = arg;
	struct svc_server	*srv = w->srv;
	struct epoll_event	 ev;
	int64_t			 due;
	int			 n, timeout;

	for (;;) {
		/* Held request lines are written when due, busy or idle. */
		due = svc_logbuf_due_us(&w->log, svc_now_us(), srv->cfg.log_flush_ms * 1000);
		if (due == 0) {
			svc_logbuf_flush(&w->log);
			due = -1;
		}
		timeout = due < 0 || due >= 250000 ? 250 : (int)(due / 1000) + 1;
		/* Once stopping, serve what is already waiting, then leave (svc_may_leave). */
		n = epoll_wait(srv->epfd, &ev, 1, !atomic_load(&srv->stopping) ? timeout :
		    atomic_load(&srv->draining) ? 50 : 0);
		if (n == -1 && errno != EINTR)
			break;
		if (n <= 0) {
			if (atomic_load(&srv->stopping) && svc_may_leave(srv))
				break;
			continue;
		}
		if (ev.data.fd == srv->listen_fd) {
			if (!atomic_load(&srv->stopping))
				svc_accept_all(srv);
			continue;
		}
		svc_serve_conn(w, ev.data.fd);
	}
	FCGX_Free(&w->fcgx, 0);
	svc_logbuf_flush(&w->log);
	svc_worker_end(w);
	return NULL;
}

void
svc_bg_post(struct svc_server *srv, int64_t at_us)
{
	long long cur = atomic_load(&srv->bg_due_us);

	if (at_us <= 0)
		at_us = 1;	/* 0 means none */
	/* Lowered, or nothing to do: an earlier due the thread has not taken wakes it already. */
	do {
		if (cur != 0 && cur <= at_us)
			return;
	} while (!atomic_compare_exchange_weak(&srv->bg_due_us, &cur, (long long)at_us));
	svc_wake_post(&srv->bg_wake);
}

void
svc_bg_due(struct svc_req *r, int64_t at_us)
{
	if (at_us <= 0)
		at_us = 1;
	if (r->w != NULL && r->w->in_tx)
		r->w->bg_due_us = svc_bg_earliest(r->w->bg_due_us, at_us);
	else
		svc_bg_post(r->srv, at_us);
}

void
svc_bg_next(struct svc_req *r, int64_t at_us)
{
	r->bg_next_us = at_us > 0 ? at_us : 0;
}

/*
 * A woken task's idle wait (bg_max_ms > 0) after a round that ended at last_us and asked for
 * next_us: until svc_bg_until_ms's time, recomputed whenever a commit posts an earlier due.
 * *due carries the posted due times taken so far. 0 when the round is to run, -1 at shutdown.
 */
static int
svc_bg_idle(struct svc_server *srv, int64_t last_us, int64_t next_us, int64_t *due)
{
	const struct svc_service	*svc = srv->svc;
	long long			 ms;

	for (;;) {
		*due = svc_bg_earliest(*due, atomic_exchange(&srv->bg_due_us, 0));
		ms = svc_bg_until_ms(svc_now_us(), last_us, next_us, *due, svc->bg_interval_ms,
		    svc->bg_max_ms);
		if (ms <= 0)
			return 0;
		/* A post made since the exchange above ends the wait at once: nothing is lost. */
		switch (svc_wake_wait(&srv->bg_wake, ms, 1)) {
		case SVC_WAKE_CLOSED:
			return -1;
		case SVC_WAKE_TIMEOUT:
			return 0;
		case SVC_WAKE_POSTED:
			break;
		}
	}
}

/* The service's background task, run on its own worker until shutdown. */
static void *
svc_bg_main(void *arg)
{
	struct svc_worker	*w = arg;
	struct svc_server	*srv = w->srv;
	struct svc_req		 r;
	unsigned long		 n = 0;
	unsigned		 failures = 0;
	int64_t			 due = 0, started;
	long			 pause;
	int			 rc;

	while (!atomic_load(&srv->stopping)) {
		memset(&r, 0, sizeof(r));
		r.w = w;
		r.srv = srv;
		r.method = "BACKGROUND";
		r.path = "/";
		snprintf(r.rid, sizeof(r.rid), "bg-%lu", n++);
		started = r.start_us = svc_now_us();
		r.deadline_us = r.start_us + srv->cfg.request_deadline_ms * 1000;
		svc_buf_init(&r.headers);
		rc = srv->svc->background(&r);
		svc_req_run_deferred(&r);
		svc_buf_free(&r.headers);
		if (w->in_tx)
			svc_db_end(&r, SVC_DB_ROLLBACK);
		atomic_fetch_add(&srv->metrics.bg_rounds, 1);
		/* Due times the round covered are done; a later one still wakes the next wait. */
		if (due != 0 && due <= started)
			due = 0;
		/* More at once; the interval after a round that worked; longer after each failure. */
		pause = svc_bg_pause_ms(rc == 1 ? 1 : rc == SVC_OK ? 0 : -1, srv->svc->bg_interval_ms,
		    &failures);
		if (rc == SVC_OK && srv->svc->bg_max_ms > 0) {
			/* Woken, not polled: until its next work, a commit's due time, or the cap. */
			if (svc_bg_idle(srv, svc_now_us(), r.bg_next_us, &due) == -1)
				break;
			continue;
		}
		/* The pause; shutdown (svc_wake_close) ends it at once, a posted due does not. */
		if (pause > 0 && svc_wake_wait(&srv->bg_wake, pause, 0) == SVC_WAKE_CLOSED)
			break;
	}
	svc_worker_end(w);
	return NULL;
}

/* Stops accepting and lets every worker finish its request and what is already queued. */
static void
svc_shutdown(struct svc_server *srv)
{
	struct timespec	 until;
	int64_t		 deadline = svc_wall_us() + srv->cfg.shutdown_grace_ms * 1000;
	int64_t		 t0 = svc_now_us();
	size_t		 i, left = 0;

	if (srv->handed_over) {
		/* Lingering takes the grace; what is in flight at its end gets 2 s more. */
		srv->drain_until_us = t0 + srv->cfg.shutdown_grace_ms * 1000;
		deadline += 2000000;
		atomic_store(&srv->draining, 1);
	}
	atomic_store(&srv->stopping, 1);
	svc_wake_close(&srv->bg_wake);	/* the background thread's sleep ends now */
	epoll_ctl(srv->epfd, EPOLL_CTL_DEL, srv->listen_fd, NULL);
	until.tv_sec = deadline / 1000000;
	until.tv_nsec = (deadline % 1000000) * 1000;
	for (i = 0; i < (size_t)srv->cfg.threads; i++) {
		struct svc_worker *w = &srv->workers[i];

		if (!w->started)
			continue;
		if (pthread_timedjoin_np(w->tid, NULL, &until) != 0) {
			left++;
			continue;
		}
		w->started = 0;
	}
	if (srv->bg_started) {
		if (pthread_timedjoin_np(srv->bg.tid, NULL, &until) == 0)
			srv->bg_started = 0;
		else
			left++;
	}
	if (srv->handed_over) {
		if (atomic_load(&srv->nconns) > 0)
			svc_log(NULL, "warn", "deploy: %d gateway connections still open after %lld ms "
			    "of draining; closing them", atomic_load(&srv->nconns),
			    srv->cfg.shutdown_grace_ms);
		else
			svc_log(NULL, "info", "deploy: drained in %lld ms: the gateway closed every "
			    "connection", (long long)((svc_now_us() - t0) / 1000));
	}
	left += svc_events_stop(srv, &until);
	if (left > 0)
		svc_log(NULL, "warn", "%zu workers still busy after %lld ms; exiting anyway",
		    left, srv->cfg.shutdown_grace_ms);
}

/* Runs the service's startup task on a worker of its own, retrying while MariaDB comes up. */
static int
svc_startup(struct svc_server *srv)
{
	struct svc_worker	w;
	struct svc_req		r;
	int			attempt, rc = SVC_OK;

	if (srv->svc->startup == NULL)
		return 0;
	memset(&w, 0, sizeof(w));
	w.srv = srv;
	memset(&r, 0, sizeof(r));
	r.w = &w;
	r.srv = srv;
	r.method = "STARTUP";
	r.path = "/";
	snprintf(r.rid, sizeof(r.rid), "startup");
	for (attempt = 0; attempt < 100; attempt++) {
		if ((rc = srv->svc->startup(&r)) != SVC_ERR_DB_UNAVAILABLE)
			break;
		usleep(100000);
	}
	svc_db_close(&w);
	free(w.stmts);
	free(w.body);
	if (rc != SVC_OK)
		svc_log(NULL, "error", "startup task failed: %s", svc_err_name(rc));
	return rc == SVC_OK ? 0 : -1;
}

static int
svc_route_names(struct svc_server *srv)
{
	const struct svc_service	*svc = srv->svc;
	size_t				 i, n = svc->nroutes + SVC_NBUILTIN + 1;
	struct svc_buf			 b;

	if ((srv->route_names = calloc(n, sizeof(*srv->route_names))) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		const struct svc_route *rt = i < svc->nroutes ? &svc->routes[i] :
		    i < svc->nroutes + SVC_NBUILTIN ? &svc_builtins[i - svc->nroutes] : NULL;

		svc_buf_init(&b);
		if (rt != NULL)
			svc_buf_printf(&b, "%s %s", rt->method, rt->pattern);
		else
			svc_buf_puts(&b, "- unmatched");
		if (b.failed)
			return -1;
		srv->route_names[i] = b.data;
	}
	return 0;
}

#ifndef SHOPLAB_VERSION
#define SHOPLAB_VERSION "unknown"
#endif

/*
 * --events: what the C tables say the service publishes and consumes, in service.conf's
 * words, so a test can hold the two to each other (tests/tree/check_service_conf.sh).
 */
static int
svc_print_events(const struct svc_service *svc)
{
	const struct svc_events	*ev = svc->events;
	size_t			 i;

	printf("publishes=%s\nconsumes=", ev != NULL && ev->publishes ? "yes" : "no");
	for (i = 0; ev != NULL && i < ev->nsubs; i++)
		printf("%s%s", i > 0 ? " " : "", ev->subs[i].type);
	printf("\n");
	return fflush(stdout) == 0 ? 0 : 1;
}

/* A build with the hooks tests use to break a service on purpose (make test's own build). */
#ifdef SVC_TEST_HOOKS
#define SVC_BUILD_KIND	", test hooks"
#else
#define SVC_BUILD_KIND	""
#endif

/* --help, --version, --events, or a word it does not know (exit status 2). */
static int
svc_usage(const struct svc_service *svc, const char *name, const char *arg)
{
	if (strcmp(arg, "--events") == 0)
		return svc_print_events(svc);
	if (strcmp(arg, "--version") == 0 || strcmp(arg, "-V") == 0) {
		/* A test build says so before the version (the last word, which scripts read). */
		printf("%s (shoplab%s) %s\n", strrchr(name, '/') ? strrchr(name, '/') + 1 : name,
		    SVC_BUILD_KIND, SHOPLAB_VERSION);
		return 0;
	}
	fprintf(strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0 ? stdout : stderr,
	    "usage: %s [--help | --version | --events]\n"
	    "A shoplab FastCGI responder. Settings come from the environment:\n"
	    "  SHOPLAB_LISTEN (host:port or unix:/path), SHOPLAB_THREADS, SHOPLAB_DB_HOST,\n"
	    "  SHOPLAB_DB_PORT, SHOPLAB_DB_%s_USER, SHOPLAB_DB_%s_PASSWORD, ... (see README).\n"
	    "Any SHOPLAB_X may be given as SHOPLAB_<SERVICE>_X for this service alone.\n",
	    name, "<SERVICE>", "<SERVICE>");
	return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0 ? 0 : 2;
}

/* Undoes svc_open as far as it got, newest first: one step per resource. */
static void
svc_close(struct svc_server *srv)
{
	const struct svc_service	*svc = srv->svc;
	size_t				 i;

	switch (srv->opened) {
	case SVC_OPENED_EPOLL:
		close(srv->epfd);
		srv->epfd = -1;
		/* FALLTHROUGH */
	case SVC_OPENED_LISTEN:
		close(srv->listen_fd);
		srv->listen_fd = -1;
		/*
		 * After a handover the file names the socket the successor serves: keep it. A
		 * successor that never took over leaves it to its predecessor, systemd's to systemd.
		 */
		if (strncmp(srv->cfg.listen, "unix:", 5) == 0 && srv->owns_path && !srv->handed_over)
			unlink(srv->cfg.listen + 5);
		/* FALLTHROUGH */
	case SVC_OPENED_STATE:
		if (svc->fini != NULL)
			svc->fini(srv->state);
		/* FALLTHROUGH */
	case SVC_OPENED_DEPS:
		/* The state comes after the dependencies: maybe not yet. */
		if (srv->state != NULL)
			svc_conf_free(svc->conf, svc->nconf, srv->state);
		free(srv->state);
		srv->state = NULL;
		if (srv->deps != NULL)
			svc_dep_array_free(srv->deps, srv->ndeps);
		srv->deps = NULL;
		/* FALLTHROUGH */
	case SVC_OPENED_CURL:
		curl_global_cleanup();
		/* FALLTHROUGH */
	case SVC_OPENED_MYSQL:
		mysql_library_end();
		/* FALLTHROUGH */
	case SVC_OPENED_METRICS:
		if (srv->route_names != NULL)
			for (i = 0; i < svc->nroutes + SVC_NBUILTIN + 1; i++)
				free((char *)(uintptr_t)srv->route_names[i]);
		free(srv->route_names);
		srv->route_names = NULL;
		svc_metrics_free(&srv->metrics);
		/* FALLTHROUGH */
	case SVC_OPENED_CONFIG:
		svc_dbnodes_free(&srv->dbnodes);
		svc_config_free(&srv->cfg);
		/* FALLTHROUGH */
	case SVC_OPENED_NOTHING:
		break;
	}
	srv->opened = SVC_OPENED_NOTHING;
}

/*
 * Opens what the service needs before it serves, in order: settings, metrics, the MariaDB
 * and curl libraries, the dependencies, the service's own state (its settings, init, then
 * its startup task), the listening socket and the epoll set that shares it between workers.
 * srv->opened records each step, so svc_close undoes exactly what was opened. Returns 0, 2
 * for a bad setting, 1 for anything else (said on stderr).
 */
static int
svc_open(struct svc_server *srv)
{
	const struct svc_service	*svc = srv->svc;
	struct epoll_event		 ev;
	char				 err[256];
	size_t				 i;

	if (svc_config_load(&srv->cfg, svc->name, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s: %s\n", svc->name, err);
		return 2;
	}
	srv->opened = SVC_OPENED_CONFIG;
	/* Before anything prepares a statement (the startup task, the workers): the events' own. */
	if (svc->events != NULL && svc_events_register(srv) != 0)
		return 1;
	if (svc_dbnodes_init(&srv->dbnodes, srv->cfg.db_hosts, srv->cfg.db_host,
	    srv->cfg.db_port, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s: %s\n", svc->name, err);
		return 2;
	}
	if (srv->cfg.db_socket[0] != '\0' && srv->dbnodes.n > 1) {
		fprintf(stderr, "%s: SHOPLAB_DB_SOCKET names one database, SHOPLAB_DB_HOSTS several "
		    "nodes: set one of them\n", svc->name);
		return 2;
	}
	for (i = 0; i < svc->nroutes; i++)
		if (!svc_route_valid(svc->routes[i].pattern) || svc->routes[i].fn == NULL) {
			fprintf(stderr, "%s: bad route pattern %s\n", svc->name,
			    svc->routes[i].pattern);
			return 1;
		}
	srv->opened = SVC_OPENED_METRICS;
	if (svc_metrics_init(&srv->metrics, svc->nroutes + SVC_NBUILTIN + 1) == -1 ||
	    svc_route_names(srv) == -1) {
		fprintf(stderr, "%s: out of memory\n", svc->name);
		return 1;
	}
	if (mysql_library_init(0, NULL, NULL) != 0) {
		fprintf(stderr, "%s: cannot initialise the MariaDB client\n", svc->name);
		return 1;
	}
	srv->opened = SVC_OPENED_MYSQL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		fprintf(stderr, "%s: cannot initialise libcurl\n", svc->name);
		return 1;
	}
	srv->opened = SVC_OPENED_CURL;
	if (svc->ndeps > 0 && (srv->deps = svc_dep_array_new(svc->deps, svc->ndeps,
	    &svc_clock_system, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s: %s\n", svc->name, err);
		return 2;
	}
	srv->ndeps = srv->deps != NULL ? svc->ndeps : 0;
	srv->opened = SVC_OPENED_DEPS;
	/* The service's state, its own settings (freed after its fini), then its init. */
	if ((srv->state = calloc(1, svc->state_size > 0 ? svc->state_size : 1)) == NULL) {
		fprintf(stderr, "%s: out of memory\n", svc->name);
		return 1;
	}
	if (svc->nconf > 0 && svc_conf_load_scoped(svc->conf, svc->nconf, svc->name, srv->state,
	    err, sizeof(err)) == -1) {
		fprintf(stderr, "%s: %s\n", svc->name, err);
		return 2;
	}
	if (svc->init != NULL && svc->init(srv->state) != 0) {
		fprintf(stderr, "%s: initialisation failed\n", svc->name);
		return 1;
	}
	srv->opened = SVC_OPENED_STATE;
	if (svc_startup(srv) == -1)
		return 1;
	if (FCGX_Init() != 0) {
		fprintf(stderr, "%s: FCGX_Init failed\n", svc->name);
		return 1;
	}
	/* A deploy's predecessor (or systemd) may have handed us the socket already. */
	if ((srv->listen_fd = svc_handover_inherited(err, sizeof(err))) == -2) {
		srv->listen_fd = -1;
		fprintf(stderr, "%s: %s\n", svc->name, err);
		return 1;
	}
	srv->inherited = srv->listen_fd != -1;
	srv->owns_path = !srv->inherited;
	if (!srv->inherited && (srv->listen_fd = svc_listen(srv->cfg.listen,
	    (int)srv->cfg.backlog, err, sizeof(err))) == -1) {
		fprintf(stderr, "%s: %s\n", svc->name, err);
		return 1;
	}
	srv->opened = SVC_OPENED_LISTEN;
	if (fcntl(srv->listen_fd, F_SETFL, fcntl(srv->listen_fd, F_GETFL) | O_NONBLOCK) == -1 ||
	    (srv->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		fprintf(stderr, "%s: epoll: %s\n", svc->name, strerror(errno));
		return 1;
	}
	srv->opened = SVC_OPENED_EPOLL;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.fd = srv->listen_fd;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->listen_fd, &ev) == -1) {
		fprintf(stderr, "%s: epoll: %s\n", svc->name, strerror(errno));
		return 1;
	}
	return 0;
}

/* Starts the worker threads and the background task's thread. -1 when one did not start. */
static int
svc_start(struct svc_server *srv)
{
	const struct svc_service	*svc = srv->svc;
	struct svc_worker		*w;
	size_t				 i;

	if ((srv->workers = calloc((size_t)srv->cfg.threads, sizeof(*srv->workers))) == NULL)
		return -1;
	for (i = 0; i < (size_t)srv->cfg.threads; i++) {
		w = &srv->workers[i];
		w->srv = srv;
		w->idx = i;
		svc_logbuf_init(&w->log, STDERR_FILENO);
		if (svc_dep_caller_init(&w->caller, (uint64_t)svc_wall_us() ^
		    ((uint64_t)i + 1) * 0x9e3779b97f4a7c15ULL) != 0) {
			fprintf(stderr, "%s: cannot set up the HTTP client\n", svc->name);
			return -1;
		}
		w->caller_ok = 1;
		/* No listening socket of its own: libfcgi never accepts by itself. */
		if (FCGX_InitRequest(&w->fcgx, -1, 0) != 0)
			return -1;
		if (pthread_create(&w->tid, NULL, svc_worker_main, w) != 0) {
			fprintf(stderr, "%s: cannot start worker %zu\n", svc->name, i);
			return -1;
		}
		w->started = 1;
	}
	if (svc->events != NULL && svc_events_start(srv) != 0)
		return -1;
	if (svc->background == NULL)
		return 0;
	srv->bg.srv = srv;
	svc_logbuf_init(&srv->bg.log, STDERR_FILENO);
	if (svc_dep_caller_init(&srv->bg.caller, (uint64_t)svc_wall_us() ^
	    0xb5ad4eceda1ce2a9ULL) != 0)
		return -1;
	srv->bg.caller_ok = 1;
	if (pthread_create(&srv->bg.tid, NULL, svc_bg_main, &srv->bg) != 0)
		return -1;
	srv->bg_started = 1;
	return 0;
}

/*
 * Stops the threads (each finishes its request, within the grace period) and frees what
 * they owned. Returns the number still running: their memory, and everything svc_open
 * opened that they use, is then left to the process's exit.
 */
static size_t
svc_stop(struct svc_server *srv)
{
	size_t i, running = 0;

	if (srv->workers == NULL && !srv->bg_started && srv->events == NULL)
		return 0;
	svc_shutdown(srv);
	for (i = 0; srv->workers != NULL && i < (size_t)srv->cfg.threads; i++)
		running += srv->workers[i].started;
	running += srv->bg_started;
	running += srv->events != NULL;	/* set to NULL once its threads are joined */
	if (running > 0)
		return running;
	for (i = 0; srv->workers != NULL && i < (size_t)srv->cfg.threads; i++) {
		/* A worker that never started still holds its HTTP client. */
		if (srv->workers[i].caller_ok)
			svc_dep_caller_free(&srv->workers[i].caller);
		free(srv->workers[i].body);
	}
	free(srv->workers);
	srv->workers = NULL;
	if (srv->bg.caller_ok)
		svc_dep_caller_free(&srv->bg.caller);
	srv->bg.caller_ok = 0;
	return 0;
}

/* The background thread's wake as it starts (a struct copy: srv lives on main's stack). */
static const struct svc_wake svc_bg_wake_init = SVC_WAKE_INITIALIZER;

int
svc_main(int argc, char **argv, const struct svc_service *svc)
{
	struct svc_server	srv;
	sigset_t		set, pend;
	siginfo_t		si;
	char			err[256];
	int			sig = 0, status;

	if (argc > 1)
		return svc_usage(svc, argv[0], argv[1]);
	memset(&srv, 0, sizeof(srv));
	memset(&si, 0, sizeof(si));
	srv.svc = svc;
	srv.listen_fd = -1;
	srv.epfd = -1;
	atomic_init(&srv.stopping, 0);
	atomic_init(&srv.draining, 0);
	atomic_init(&srv.nconns, 0);
	atomic_init(&srv.bg_due_us, 0);
	srv.bg_wake = svc_bg_wake_init;
	svc_log_set_name(svc->name);

	/*
	 * Every thread inherits this mask; main alone takes the signals, with sigwait:
	 * SIGUSR2 starts a successor (a deploy), SIGCHLD reaps one that failed.
	 */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (svc_handover_init(&srv, argv[0], err, sizeof(err)) == -1) {
		fprintf(stderr, "%s: %s\n", svc->name, err);
		return 1;
	}
	if ((status = svc_open(&srv)) != 0)
		goto out;
	status = 1;
	if (svc_start(&srv) == -1)
		goto out;
	svc_log(NULL, "info", "listening on %s with %lld threads%s", srv.cfg.listen,
	    srv.cfg.threads, srv.inherited ? " (socket handed over)" : "");
	/* Told to stop while starting (a deploy interrupted): never announce ourselves ready. */
	if (sigpending(&pend) == 0 && !sigismember(&pend, SIGTERM) && !sigismember(&pend, SIGINT)) {
		svc_handover_ready(&srv);
		if (srv.predecessor > 0)
			srv.owns_path = 1;	/* taken over: the socket's file is ours now */
	}
	for (;;) {
		if ((sig = sigwaitinfo(&set, &si)) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (sig == SIGUSR2)
			svc_handover_spawn(&srv);
		else if (sig == SIGCHLD)
			svc_handover_reap(&srv);
		else if (sig != SIGHUP)
			break;
	}
	/*
	 * A SIGTERM from our successor means it is ready and has the socket: drain for it. Any
	 * other stop (make down, systemd) stops a successor that has not taken over, too.
	 */
	svc_handover_reap(&srv);
	if (srv.successor > 0 && !(sig == SIGTERM && si.si_pid == srv.successor)) {
		svc_log(NULL, "warn", "deploy: stopped while the successor (pid %ld) was starting; "
		    "stopping it too", (long)srv.successor);
		kill(srv.successor, SIGTERM);
		srv.successor = 0;
	}
	srv.handed_over = srv.successor > 0;
	svc_log(NULL, "info", "signal %d: shutting down%s", sig > 0 ? sig : 0, srv.handed_over ?
	    "; draining for the successor" : "");
	status = 0;
out:
	/* Threads still running use what svc_open opened: leave it all to the exit. */
	if (svc_stop(&srv) == 0)
		svc_close(&srv);
	svc_handover_free(&srv);
	return status;
}
