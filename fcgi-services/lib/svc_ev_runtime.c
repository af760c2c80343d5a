/* svc_ev_runtime.c - the events runtime's life: settings, the library's statements, thread start and stop, sleeps */
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "svc_db_int.h"
#include "svc_nodes_int.h"
#include "svc_server_int.h"
#include "svc_wake_int.h"
#include "svc_ev_internal.h"

/* The library's statements on the service's own tables (sql/events.sql). */
const char *const svc_events_sql[SVC_EVS_N] = {
	[SVC_EVS_OUTBOX_ADD] =
	    "INSERT INTO outbox (id, type, body) VALUES (?, ?, ?)",
	/* SKIP LOCKED: two instances of a service never relay the same rows at once. */
	[SVC_EVS_OUTBOX_NEXT] =
	    "SELECT seq, type, id, body FROM outbox ORDER BY seq LIMIT ? FOR UPDATE SKIP LOCKED",
	/*
	 * Exactly the rows published, SVC_EV_DEL_N at a time (a short batch repeats its last
	 * seq). Never a range: seq is allocated at INSERT, so a transaction that committed late
	 * leaves a lower seq between the rows a batch read (it was locked and skipped then), and
	 * a range delete would remove that unpublished row.
	 */
	[SVC_EVS_OUTBOX_DEL] =
	    "DELETE FROM outbox WHERE seq IN (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	[SVC_EVS_OUTBOX_STATS] =
	    "SELECT COUNT(*), COALESCE(TIMESTAMPDIFF(MICROSECOND, MIN(created_at), NOW(6)), 0) "
	    "FROM outbox",
	[SVC_EVS_INBOX_ADD] =
	    "INSERT IGNORE INTO inbox (id, type) VALUES (?, ?)",
	/* One row per message id: a message dead again (after a replay) updates its row. */
	[SVC_EVS_DEAD_ADD] =
	    "INSERT INTO dead_letters (msg_id, type, reason, attempts, body) VALUES (?, ?, ?, ?, ?) "
	    "ON DUPLICATE KEY UPDATE type = VALUES(type), reason = VALUES(reason), "
	    "attempts = VALUES(attempts), body = VALUES(body), dead_at = CURRENT_TIMESTAMP(6), "
	    "replayed_at = NULL",
	[SVC_EVS_DEAD_COUNT] =
	    "SELECT COUNT(*) FROM dead_letters WHERE replayed_at IS NULL",
	[SVC_EVS_DEAD_GET] =
	    "SELECT seq, msg_id, type, reason, attempts, body, "
	    "DATE_FORMAT(dead_at, '%Y-%m-%dT%H:%i:%s.%fZ') AS dead_at, "
	    "DATE_FORMAT(replayed_at, '%Y-%m-%dT%H:%i:%s.%fZ') AS replayed_at, replays "
	    "FROM dead_letters WHERE seq = ?",
	[SVC_EVS_DEAD_LOCK] =
	    "SELECT msg_id, type, body FROM dead_letters WHERE seq = ? FOR UPDATE",
	[SVC_EVS_DEAD_MARK] =
	    "UPDATE dead_letters SET replayed_at = CURRENT_TIMESTAMP(6), replays = replays + 1 "
	    "WHERE seq = ?",
	[SVC_EVS_DEAD_PENDING] =
	    "SELECT seq FROM dead_letters WHERE replayed_at IS NULL ORDER BY seq LIMIT ?",
	[SVC_EVS_DEAD_LIST] =
	    "SELECT seq, msg_id, type, reason, attempts, body, "
	    "DATE_FORMAT(dead_at, '%Y-%m-%dT%H:%i:%s.%fZ') AS dead_at, "
	    "DATE_FORMAT(replayed_at, '%Y-%m-%dT%H:%i:%s.%fZ') AS replayed_at, replays "
	    "FROM dead_letters ORDER BY seq DESC LIMIT ?",
};

#define EVC(f) offsetof(struct svc_events_conf, f)
static const struct svc_conf_def svc_events_defs[] = {
	{ "SHOPLAB_AMQP_HOSTS",		SVC_CONF_STR, "",	0, 2047,	EVC(hosts) },
	{ "SHOPLAB_AMQP_HOST",		SVC_CONF_STR, "127.0.0.1", 0, 255,	EVC(host) },
	{ "SHOPLAB_AMQP_PORT",		SVC_CONF_INT, "5673",	1, 65535,	EVC(port) },
	{ "SHOPLAB_AMQP_VHOST",		SVC_CONF_STR, "shoplab", 0, 255,	EVC(vhost) },
	{ "SHOPLAB_AMQP_USER",		SVC_CONF_STR, "",	0, 255,		EVC(user) },
	{ "SHOPLAB_AMQP_PASSWORD",	SVC_CONF_STR, "",	0, 255,		EVC(password) },
	{ "SHOPLAB_EVENTS_MAX_ATTEMPTS", SVC_CONF_INT, "5",	1, 100,		EVC(max_attempts) },
	{ "SHOPLAB_EVENTS_BATCH",	SVC_CONF_INT, "500",	1, SVC_EV_BATCH_MAX, EVC(batch) },
	{ "SHOPLAB_EVENTS_POLL_MS",	SVC_CONF_INT, "50",	5, 10000,	EVC(poll_ms) },
	{ "SHOPLAB_EVENTS_POLL_MAX_MS",	SVC_CONF_INT, "1000",	5, 60000,	EVC(poll_max_ms) },
	{ "SHOPLAB_EVENTS_PREFETCH",	SVC_CONF_INT, "32",	1, 1000,	EVC(prefetch) },
	{ "SHOPLAB_EVENTS_APPLY_BATCH",	SVC_CONF_INT, "32",	1, 1000,	EVC(apply_batch) },
	{ "SHOPLAB_EVENTS_RETRY_MIN_MS", SVC_CONF_INT, "100",	1, 60000,	EVC(retry_min_ms) },
	{ "SHOPLAB_EVENTS_RETRY_MAX_MS", SVC_CONF_INT, "30000", 1, 600000,	EVC(retry_max_ms) },
	{ "SHOPLAB_EVENTS_MAX_DELIVERIES", SVC_CONF_INT, "20",	2, 1000,	EVC(max_deliveries) },
	{ "SHOPLAB_EVENTS_HEARTBEAT_S",	SVC_CONF_INT, "10",	0, 600,		EVC(heartbeat_s) },
#ifdef SVC_TEST_HOOKS
	{ "SHOPLAB_EVENTS_CRASH_BEFORE_ACK", SVC_CONF_INT, "0",	0, 1000000,	EVC(crash_before_ack) },
#endif
};

int
svc_ev_stopping(const struct svc_events_rt *rt)
{
	return atomic_load(&rt->srv->stopping);
}

/*
 * The event threads' wake. Process-wide because a process runs one service (svc_run once): the
 * commit path (svc_db's after-commit hook) posts it without knowing whether events started,
 * and svc_events_stop closes it. Guarded by its own mutex (struct svc_wake); reset by svc_events_start.
 */
static struct svc_wake svc_ev_wake = SVC_WAKE_INITIALIZER;

/*
 * The longest single wait: the server sets `stopping` without a signal (svc_events_stop closes
 * the wake later, after the request workers), so a wait looks at it at least this often.
 */
#define SVC_EV_SLICE_MS	50

/* A commit wrote to the outbox (svc_db's after-commit hook): ends the relay's idle wait. */
static void
svc_ev_outbox_committed(void)
{
	svc_wake_post(&svc_ev_wake);
}

/* At init, before any thread uses the database: the statements and the hook for svc_db. */
int
svc_events_register(struct svc_server *srv)
{
	return svc_db_register(srv, svc_events_sql, SVC_EVS_N, svc_ev_outbox_committed);
}

/* Sleeps ms, ending at once when svc_events_stop closes the wake, or at `stopping`. */
void
svc_ev_sleep(const struct svc_events_rt *rt, long long ms)
{
	while (ms > 0 && !svc_ev_stopping(rt)) {
		long long step = ms < SVC_EV_SLICE_MS ? ms : SVC_EV_SLICE_MS;

		if (svc_wake_wait(&svc_ev_wake, step, 0) == SVC_WAKE_CLOSED)
			return;
		ms -= step;
	}
}

/*
 * The relay's idle wait: up to ms, cut short by a commit that wrote to the outbox (a
 * svc_outbox_add in this process) or by shutdown. Rows of other instances of the service,
 * which cannot post us, wait for the end of ms (SHOPLAB_EVENTS_POLL_MS).
 */
void
svc_ev_idle(const struct svc_events_rt *rt, long long ms)
{
	while (ms > 0 && !svc_ev_stopping(rt)) {
		long long step = ms < SVC_EV_SLICE_MS ? ms : SVC_EV_SLICE_MS;

		if (svc_wake_wait(&svc_ev_wake, step, 1) != SVC_WAKE_TIMEOUT)
			return;
		ms -= step;
	}
}

/* A request with database access for the event threads, as the background worker has. */
void
svc_ev_req(struct svc_events_rt *rt, struct svc_worker *w, struct svc_req *r, const char *what,
    unsigned long n)
{
	memset(r, 0, sizeof(*r));
	r->w = w;
	r->srv = rt->srv;
	r->method = "EVENTS";
	r->path = "/";
	snprintf(r->rid, sizeof(r->rid), "%s-%lu", what, n);
	r->start_us = svc_now_us();
	r->deadline_us = r->start_us + rt->srv->cfg.request_deadline_ms * 1000;
}

int
svc_events_start(struct svc_server *srv)
{
	const struct svc_events	*evs = srv->svc->events;
	struct svc_events_rt	*rt;
	char			 err[256];

	if ((rt = calloc(1, sizeof(*rt))) == NULL)
		return -1;
	rt->srv = srv;
	srv->events = rt;
	svc_wake_reset(&svc_ev_wake);
	if (svc_conf_load_scoped(svc_events_defs, SVC_NELEM(svc_events_defs), srv->svc->name,
	    &rt->conf, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s: %s\n", srv->svc->name, err);
		goto fail;
	}
	if (rt->conf.user[0] == '\0') {
		free(rt->conf.user);
		if ((rt->conf.user = strdup(srv->svc->name)) == NULL)
			goto fail;
	}
	if (svc_nodes_init(&rt->nodes, "SHOPLAB_AMQP_HOSTS", "SHOPLAB_AMQP_HOST", rt->conf.hosts,
	    rt->conf.host, rt->conf.port, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s: %s\n", srv->svc->name, err);
		goto fail;
	}
	atomic_store(&rt->dead_queue, -1);
	atomic_store(&rt->dead_rows, 0);
	for (int k = 0; k < 2; k++) {
		atomic_store(&rt->node_of[k], -1);
		rt->last_node[k] = -1;
	}
	snprintf(rt->queue, sizeof(rt->queue), "%s.events", srv->svc->name);
	rt->relay_w.srv = srv;
	rt->consumer_w.srv = srv;
	if (evs->publishes) {
		if (pthread_create(&rt->relay_w.tid, NULL, svc_ev_relay_main, rt) != 0)
			goto fail_started;
		rt->relay_started = 1;
	}
	if (evs->nsubs > 0) {
		if (pthread_create(&rt->consumer_w.tid, NULL, svc_ev_consumer_main, rt) != 0)
			goto fail_started;
		rt->consumer_started = 1;
	}
	svc_log(NULL, "info", "events: %s%s%s via amqp://%s/%s as %s (%zu broker node%s)",
	    evs->publishes ? "relay" : "", evs->publishes && evs->nsubs ? " and " : "",
	    evs->nsubs ? rt->queue : "", rt->conf.hosts[0] ? rt->conf.hosts : rt->nodes.node[0].label,
	    rt->conf.vhost, rt->conf.user, rt->nodes.n, rt->nodes.n == 1 ? "" : "s");
	return 0;
fail_started:
	/* The caller's shutdown (stopping is set there) joins what started, then frees rt. */
	svc_log(NULL, "error", "events: cannot start a thread");
	return -1;
fail:
	svc_events_free(srv);
	srv->events = NULL;
	free(rt);
	return -1;
}

void
svc_events_free(struct svc_server *srv)
{
	struct svc_events_rt *rt = srv->events;

	if (rt == NULL)
		return;
	svc_dbnodes_free(&rt->nodes);
	svc_conf_free(svc_events_defs, SVC_NELEM(svc_events_defs), &rt->conf);
}

static void
svc_ev_worker_end(struct svc_worker *w)
{
	svc_db_close(w);
	free(w->stmts);
	w->stmts = NULL;
}

/* Joins an event thread if it was started, by until: 1 when it still runs, else 0. */
static size_t
svc_ev_join(int *started, struct svc_worker *w, const struct timespec *until)
{
	if (!*started)
		return 0;
	if (pthread_timedjoin_np(w->tid, NULL, until) != 0)
		return 1;
	*started = 0;
	svc_ev_worker_end(w);
	return 0;
}

size_t
svc_events_stop(struct svc_server *srv, const struct timespec *until)
{
	struct svc_events_rt	*rt = srv->events;
	size_t			 left;

	if (rt == NULL)
		return 0;
	/* Ends the threads' sleeps now: a relay in a 5 s backoff must not hold up the exit. */
	svc_wake_close(&svc_ev_wake);
	left = svc_ev_join(&rt->relay_started, &rt->relay_w, until) +
	    svc_ev_join(&rt->consumer_started, &rt->consumer_w, until);
	if (left == 0) {
		svc_events_free(srv);
		free(rt);
		srv->events = NULL;
	}
	return left;
}
