/* svc_events.c - the outbox relay and the idempotent consumer: threads that speak AMQP (rabbitmq-c) */
#include <sys/time.h>

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <json-c/json.h>

#include "svc_internal.h"
#include "svc_events.h"

#define SVC_EV_EXCHANGE		"shoplab.events"
#define SVC_EV_REPLAY_EXCHANGE	"shoplab.replay"	/* topic: <service> -> <service>.events */
#define SVC_EV_CHANNEL		1
#define SVC_EV_CONFIRM_WAIT_S	10
#define SVC_EV_BACKOFF_MAX_MS	1000
#define SVC_EV_DEL_N		16	/* placeholders of SVC_EVS_OUTBOX_DEL */
#define SVC_EV_BATCH_MAX	1000	/* SHOPLAB_EVENTS_BATCH's maximum */

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
	/*
	 * The relay's transaction reads committed: its locking read then locks the rows it
	 * returns and no gap. Under REPEATABLE READ it also locked the end of the index while
	 * it waited for the broker's confirms, and every transaction adding an event (a
	 * checkout's last step) waited behind it.
	 */
	[SVC_EVS_RELAY_ISOLATION] =
	    "SET TRANSACTION ISOLATION LEVEL READ COMMITTED",
	[SVC_EVS_DEAD_LIST] =
	    "SELECT seq, msg_id, type, reason, attempts, body, "
	    "DATE_FORMAT(dead_at, '%Y-%m-%dT%H:%i:%s.%fZ') AS dead_at, "
	    "DATE_FORMAT(replayed_at, '%Y-%m-%dT%H:%i:%s.%fZ') AS replayed_at, replays "
	    "FROM dead_letters ORDER BY seq DESC LIMIT ?",
};

/* Settings, from SHOPLAB_AMQP_* and SHOPLAB_EVENTS_* (SHOPLAB_<SERVICE>_X wins). */
struct svc_events_conf {
	char		*hosts;		/* host:port,... (empty: host and port) */
	char		*host;
	long long	 port;
	char		*vhost;
	char		*user;		/* default: the service's name */
	char		*password;
	long long	 max_attempts;
	long long	 batch;
	long long	 poll_ms;
	long long	 prefetch;
	long long	 retry_min_ms;	/* the retry backoff's floor and cap */
	long long	 retry_max_ms;
	long long	 max_deliveries;	/* redeliveries without an answer (a crash loop) */
	long long	 heartbeat_s;	/* AMQP heartbeat interval (0: off) */
	/* Tests only: exit(3) after committing the Nth consumed message, before its ack. */
	long long	 crash_before_ack;
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
	{ "SHOPLAB_EVENTS_PREFETCH",	SVC_CONF_INT, "32",	1, 1000,	EVC(prefetch) },
	{ "SHOPLAB_EVENTS_RETRY_MIN_MS", SVC_CONF_INT, "100",	1, 60000,	EVC(retry_min_ms) },
	{ "SHOPLAB_EVENTS_RETRY_MAX_MS", SVC_CONF_INT, "30000", 1, 600000,	EVC(retry_max_ms) },
	{ "SHOPLAB_EVENTS_MAX_DELIVERIES", SVC_CONF_INT, "20",	2, 1000,	EVC(max_deliveries) },
	{ "SHOPLAB_EVENTS_HEARTBEAT_S",	SVC_CONF_INT, "10",	0, 600,		EVC(heartbeat_s) },
	{ "SHOPLAB_EVENTS_CRASH_BEFORE_ACK", SVC_CONF_INT, "0",	0, 1000000,	EVC(crash_before_ack) },
};

/* The lag histogram's upper bounds (occurred_at -> applied), seconds as µs. */
#define SVC_EV_NLAG	14
static const int64_t svc_ev_lag_us[SVC_EV_NLAG] = {
	1000, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000,
	10000000, 30000000, 60000000,
};

/* Shared by the two threads and the metrics handler: the counters are atomics. */
struct svc_events_rt {
	struct svc_server	*srv;
	struct svc_events_conf	 conf;
	char			 queue[128];
	struct svc_worker	 relay_w, consumer_w;
	int			 relay_started, consumer_started;
	atomic_llong		 outbox_depth;
	atomic_llong		 outbox_oldest_us;
	atomic_ullong		 published;	/* confirmed by the broker (basic.ack) */
	atomic_ullong		 nacked;	/* basic.nack: republished later */
	atomic_ullong		 consumed;
	atomic_ullong		 applied;
	atomic_ullong		 duplicates;
	atomic_ullong		 redeliveries;	/* delivered again (a lost connection, a crash) */
	atomic_ullong		 dead;
	atomic_ullong		 retries;	/* transient failures scheduled for a later run */
	atomic_llong		 retries_waiting;	/* held deliveries waiting for a retry */
	atomic_llong		 dead_rows;	/* dead_letters rows not replayed */
	atomic_llong		 dead_queue;	/* messages in <service>.dead (-1: unknown) */
	atomic_int		 paused;	/* the consumer runs nothing: its database is away */
	atomic_ullong		 replays;	/* dead letters republished */
	atomic_ullong		 hb_timeouts;	/* connections dropped: the broker's heartbeats stopped */
	/* occurred_at -> committed, per applied event: buckets (the last one is +Inf) and sum. */
	atomic_ullong		 lag_bucket[SVC_EV_NLAG + 1];
	atomic_ullong		 lag_sum_us;
	atomic_ullong		 lag_count;
	atomic_ullong		 connects[2];	/* relay, consumer */
	atomic_int		 connected[2];
	/* The brokers (SHOPLAB_AMQP_HOSTS), shared by both threads behind its own lock. */
	struct svc_dbnodes	 nodes;
	atomic_int		 node_of[2];	/* the node each thread is connected to, -1 none */
	int			 last_node[2];	/* the node before (each thread its own entry) */
};

#define SVC_EV_RELAY	0
#define SVC_EV_CONSUMER	1

static int
svc_ev_stopping(const struct svc_events_rt *rt)
{
	return atomic_load(&rt->srv->stopping);
}

/*
 * The event threads' wake. Process-wide because a process runs one service (svc_run once): the
 * commit path (svc_db.c) posts it without knowing whether events started, and svc_events_stop
 * closes it. Guarded by its own mutex (struct svc_wake); reset by svc_events_start.
 */
static struct svc_wake svc_ev_wake = SVC_WAKE_INITIALIZER;

/*
 * The longest single wait: the server sets `stopping` without a signal (svc_events_stop closes
 * the wake later, after the request workers), so a wait looks at it at least this often.
 */
#define SVC_EV_SLICE_MS	50

void
svc_events_outbox_committed(void)
{
	svc_wake_post(&svc_ev_wake);
}

/* Sleeps ms, ending at once when svc_events_stop closes the wake, or at `stopping`. */
static void
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
static void
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
static void
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

static int
svc_ev_stmt(const struct svc_req *r, int which)
{
	return (int)r->srv->svc->nstmts + which;
}

/* 0 when an RPC reply is normal; otherwise logs it and returns -1. */
static int
svc_ev_rpc_ok(amqp_rpc_reply_t x, const char *what)
{
	switch (x.reply_type) {
	case AMQP_RESPONSE_NORMAL:
		return 0;
	case AMQP_RESPONSE_NONE:
		svc_log(NULL, "warn", "amqp %s: missing reply", what);
		break;
	case AMQP_RESPONSE_LIBRARY_EXCEPTION:
		svc_log(NULL, "warn", "amqp %s: %s", what, amqp_error_string2(x.library_error));
		break;
	case AMQP_RESPONSE_SERVER_EXCEPTION:
		if (x.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
			const amqp_connection_close_t *m = x.reply.decoded;

			svc_log(NULL, "warn", "amqp %s: connection closed by the broker: %u %.*s", what,
			    m->reply_code, (int)m->reply_text.len, (const char *)m->reply_text.bytes);
		} else if (x.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
			const amqp_channel_close_t *m = x.reply.decoded;

			svc_log(NULL, "warn", "amqp %s: channel closed by the broker: %u %.*s", what,
			    m->reply_code, (int)m->reply_text.len, (const char *)m->reply_text.bytes);
		} else
			svc_log(NULL, "warn", "amqp %s: server exception 0x%08x", what, x.reply.id);
		break;
	}
	return -1;
}

static void
svc_ev_close(amqp_connection_state_t *c)
{
	if (*c == NULL)
		return;
	/* Best effort: the broker may be gone already, the socket is freed either way. */
	(void)amqp_channel_close(*c, SVC_EV_CHANNEL, AMQP_REPLY_SUCCESS);
	(void)amqp_connection_close(*c, AMQP_REPLY_SUCCESS);
	if (amqp_destroy_connection(*c) != AMQP_STATUS_OK)
		svc_log(NULL, "warn", "amqp: destroying a connection failed");
	*c = NULL;
}

/* Opens a connection to node and channel 1; confirm: publisher confirms on. NULL on failure. */
static amqp_connection_state_t
svc_ev_connect_node(struct svc_events_rt *rt, const struct svc_dbnode *node, int confirm,
    const char *what)
{
	amqp_connection_state_t	 c;
	amqp_socket_t		*sock;
	struct timeval		 tv = { 2, 0 }, hs = { 5, 0 }, rpc = { 10, 0 };
	int			 st;

	if ((c = amqp_new_connection()) == NULL)
		return NULL;
	/*
	 * No wait on the broker is unbounded: a half-open link must not hang the login or a
	 * synchronous method (qos, consume, a passive declare) for ever.
	 */
	if (amqp_set_handshake_timeout(c, &hs) != AMQP_STATUS_OK ||
	    amqp_set_rpc_timeout(c, &rpc) != AMQP_STATUS_OK)
		goto fail_destroy;
	if ((sock = amqp_tcp_socket_new(c)) == NULL)
		goto fail_destroy;
	if ((st = amqp_socket_open_noblock(sock, node->host, (int)node->port, &tv)) !=
	    AMQP_STATUS_OK) {
		svc_log(NULL, "warn", "amqp %s: cannot reach %s: %s", what, node->label,
		    amqp_error_string2(st));
		goto fail_destroy;
	}
	/* Heartbeats: the broker's and ours; rabbitmq-c handles them whenever it reads or waits. */
	if (svc_ev_rpc_ok(amqp_login(c, rt->conf.vhost, 0, 131072, (int)rt->conf.heartbeat_s,
	    AMQP_SASL_METHOD_PLAIN, rt->conf.user, rt->conf.password), what) != 0)
		goto fail_close;
	if (amqp_channel_open(c, SVC_EV_CHANNEL) == NULL ||
	    svc_ev_rpc_ok(amqp_get_rpc_reply(c), what) != 0)
		goto fail_close;
	if (confirm && (amqp_confirm_select(c, SVC_EV_CHANNEL) == NULL ||
	    svc_ev_rpc_ok(amqp_get_rpc_reply(c), what) != 0))
		goto fail_close;
	return c;
fail_close:
	svc_ev_close(&c);
	return NULL;
fail_destroy:
	(void)amqp_destroy_connection(c);
	return NULL;
}

struct svc_ev_try {
	struct svc_events_rt	*rt;
	int			 confirm;
	const char		*what;
	amqp_connection_state_t	 c;
};

static int
svc_ev_try_one(void *arg, size_t i)
{
	struct svc_ev_try *a = arg;

	a->c = svc_ev_connect_node(a->rt, &a->rt->nodes.node[i], a->confirm, a->what);
	return a->c != NULL ? 0 : -1;
}

/*
 * Connects thread k (SVC_EV_RELAY, SVC_EV_CONSUMER) to the first broker node that takes it,
 * in the node list's order with nodes that failed lately last (svc_nodes_try). Returns NULL
 * when none did.
 */
static amqp_connection_state_t
svc_ev_connect(struct svc_events_rt *rt, int confirm, const char *what, int k)
{
	struct svc_ev_try	a = { rt, confirm, what, NULL };
	size_t			used;

	if (svc_nodes_try(&rt->nodes, svc_now_us, svc_ev_try_one, &a, &used) != 0)
		return NULL;
	if (rt->last_node[k] >= 0 && (size_t)rt->last_node[k] != used)
		svc_log(NULL, "warn", "amqp %s: failed over from %s to %s", what,
		    rt->nodes.node[rt->last_node[k]].label, rt->nodes.node[used].label);
	rt->last_node[k] = (int)used;
	atomic_store(&rt->node_of[k], (int)used);
	return a.c;
}

/*
 * Thread k lost its connection (or could not use it): the node is tried last for the hold
 * time, so the reconnection goes to another node first.
 */
static void
svc_ev_lost(struct svc_events_rt *rt, int k)
{
	int n = atomic_exchange(&rt->node_of[k], -1);

	if (n >= 0)
		svc_dbnodes_failed(&rt->nodes, (size_t)n, svc_now_us());
	atomic_store(&rt->connected[k], 0);
}

/* ---------------------------------------------------------------- outbox */

int
svc_outbox_add(struct svc_req *r, const char *type, const char *key, const char *data_json)
{
	struct svc_buf	b;
	char		id[37], at[32];
	int		rc;

	if (!r->w->in_tx || r->srv->svc->events == NULL || !r->srv->svc->events->publishes) {
		svc_log(r, "error", "svc_outbox_add(%s) outside a transaction or not a publisher", type);
		return SVC_ERR_INTERNAL;
	}
	if (svc_event_uuid(id) != 0)
		return SVC_ERR_INTERNAL;
	svc_event_time(svc_wall_us(), at);
	svc_buf_init(&b);
	rc = svc_event_build(id, type, SVC_EVENT_VERSION, at, r->srv->svc->name, key, data_json, &b);
	if (rc == SVC_OK) {
		rc = svc_db_exec(r, svc_ev_stmt(r, SVC_EVS_OUTBOX_ADD), "sss", id, type, b.data);
		if (rc == SVC_OK)
			r->w->outbox_added = 1;
	} else
		svc_log(r, "error", "event %s not built: %s", type, svc_err_name(rc));
	svc_buf_free(&b);
	return rc;
}

/* Refreshes the depth and the oldest row's age for /metrics. */
static void
svc_ev_outbox_stats(struct svc_events_rt *rt, struct svc_req *r)
{
	struct svc_rows *rows = NULL;

	if (svc_db_query(r, svc_ev_stmt(r, SVC_EVS_OUTBOX_STATS), &rows, "") != SVC_OK)
		return;
	if (svc_rows_next(rows) == 1) {
		atomic_store(&rt->outbox_depth, svc_rows_int(rows, 0));
		atomic_store(&rt->outbox_oldest_us, svc_rows_int(rows, 1));
	}
	svc_rows_free(rows);
}

/*
 * Waits until every delivery tag up to last is acked. Returns 0 all acked, 1 some nacked
 * (the caller keeps the rows: they go again), -1 the connection failed.
 */
static int
svc_ev_confirms(struct svc_events_rt *rt, amqp_connection_state_t c, uint64_t first,
    uint64_t last)
{
	amqp_frame_t	f;
	struct timeval	tv;
	uint64_t	acked = first - 1;
	int		nacked = 0, st;
	int64_t		until = svc_now_us() + SVC_EV_CONFIRM_WAIT_S * 1000000LL;

	while (acked < last) {
		if (svc_now_us() > until) {
			svc_log(NULL, "warn", "amqp relay: no confirm in %d s", SVC_EV_CONFIRM_WAIT_S);
			return -1;
		}
		tv.tv_sec = 0;
		tv.tv_usec = 250000;
		st = amqp_simple_wait_frame_noblock(c, &f, &tv);
		if (st == AMQP_STATUS_TIMEOUT)
			continue;
		if (st != AMQP_STATUS_OK) {
			svc_log(NULL, "warn", "amqp relay: waiting for confirms: %s",
			    amqp_error_string2(st));
			if (st == AMQP_STATUS_HEARTBEAT_TIMEOUT)
				atomic_fetch_add(&rt->hb_timeouts, 1);
			return -1;
		}
		if (f.frame_type != AMQP_FRAME_METHOD)
			continue;
		switch (f.payload.method.id) {
		case AMQP_BASIC_ACK_METHOD: {
			const amqp_basic_ack_t *a = f.payload.method.decoded;

			if (a->delivery_tag > acked)
				acked = a->delivery_tag;
			break;
		}
		case AMQP_BASIC_NACK_METHOD: {
			const amqp_basic_nack_t *n = f.payload.method.decoded;

			nacked = 1;
			atomic_fetch_add(&rt->nacked, 1);
			if (n->delivery_tag > acked)
				acked = n->delivery_tag;
			break;
		}
		case AMQP_CHANNEL_CLOSE_METHOD: {
			const amqp_channel_close_t *m = f.payload.method.decoded;

			svc_log(NULL, "error", "amqp relay: channel closed by the broker: %u %.*s",
			    m->reply_code, (int)m->reply_text.len, (const char *)m->reply_text.bytes);
			return -1;
		}
		case AMQP_CONNECTION_CLOSE_METHOD:
			svc_log(NULL, "warn", "amqp relay: connection closed by the broker");
			return -1;
		default:
			break;
		}
	}
	return nacked;
}

/*
 * Services an idle connection without waiting: reads what the broker sent (its heartbeats),
 * sends ours when due, and notices a broker silent for two heartbeat intervals (rabbitmq-c
 * closes the socket then). Returns 0, or -1 when the connection is gone.
 */
static int
svc_ev_service(struct svc_events_rt *rt, amqp_connection_state_t c, const char *what)
{
	amqp_frame_t	f;
	struct timeval	tv;
	int		st;

	for (;;) {
		tv.tv_sec = 0;
		tv.tv_usec = 0;
		st = amqp_simple_wait_frame_noblock(c, &f, &tv);
		if (st == AMQP_STATUS_TIMEOUT)
			return 0;
		if (st != AMQP_STATUS_OK) {
			if (st == AMQP_STATUS_HEARTBEAT_TIMEOUT) {
				atomic_fetch_add(&rt->hb_timeouts, 1);
				svc_log(NULL, "warn", "amqp %s: no heartbeat from the broker in %lld s: "
				    "reconnecting", what, 2 * rt->conf.heartbeat_s);
			} else
				svc_log(NULL, "warn", "amqp %s: %s", what, amqp_error_string2(st));
			return -1;
		}
		if (f.frame_type == AMQP_FRAME_METHOD &&
		    (f.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD ||
		    f.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD)) {
			svc_log(NULL, "warn", "amqp %s: closed by the broker", what);
			return -1;
		}
		/* Anything else on an idle channel (a late confirm of a failed batch): dropped. */
	}
}

/* Deletes the n rows seqs[0..n-1] (n >= 1), SVC_EV_DEL_N per statement. */
static int
svc_ev_outbox_delete(struct svc_req *r, const int64_t *seqs, int n)
{
	int64_t	v[SVC_EV_DEL_N];
	int	i, j, rc;

	for (i = 0; i < n; i += SVC_EV_DEL_N) {
		for (j = 0; j < SVC_EV_DEL_N; j++)
			v[j] = seqs[i + j < n ? i + j : n - 1];
		if ((rc = svc_db_exec(r, svc_ev_stmt(r, SVC_EVS_OUTBOX_DEL), "iiiiiiiiiiiiiiii",
		    v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12],
		    v[13], v[14], v[15])) != SVC_OK)
			return rc;
	}
	return SVC_OK;
}

/*
 * One batch: lock the oldest rows, publish them in order, wait for the broker's confirms,
 * delete exactly those rows, commit. Returns rows published (0: none waiting), -1 broker
 * failure (rows kept), -2 database failure, -3 the broker nacked some (rows kept; not the
 * node's fault: a quorum queue without a leader for a moment, e.g. after a node loss).
 */
static int
svc_ev_relay_batch(struct svc_events_rt *rt, struct svc_req *r, amqp_connection_state_t c,
    uint64_t *tag)
{
	amqp_basic_properties_t	 props;
	struct svc_rows		*rows = NULL;
	int64_t			 seqs[SVC_EV_BATCH_MAX];
	uint64_t		 first = *tag + 1;
	int			 n = 0, rc = -2, cr;

	if (svc_db_begin(r) != SVC_OK)
		return -2;
	if (svc_db_exec(r, svc_ev_stmt(r, SVC_EVS_RELAY_ISOLATION), "") != SVC_OK)
		goto out_rollback;
	if (svc_db_query(r, svc_ev_stmt(r, SVC_EVS_OUTBOX_NEXT), &rows, "i",
	    (int64_t)rt->conf.batch) != SVC_OK)
		goto out_rollback;
	while (svc_rows_next(rows) == 1) {
		size_t		 tlen, ilen, blen;
		const char	*type = svc_rows_str(rows, 1, &tlen);
		const char	*id = svc_rows_str(rows, 2, &ilen);
		const char	*body = svc_rows_str(rows, 3, &blen);
		amqp_bytes_t	 b = { blen, (void *)(uintptr_t)body };
		int		 st;

		if (n >= SVC_EV_BATCH_MAX)
			break;
		seqs[n] = svc_rows_int(rows, 0);
		memset(&props, 0, sizeof(props));
		props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
		    AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_TYPE_FLAG | AMQP_BASIC_APP_ID_FLAG;
		props.content_type = amqp_cstring_bytes("application/json");
		props.delivery_mode = 2;	/* persistent */
		props.message_id = amqp_cstring_bytes(id);
		props.type = amqp_cstring_bytes(type);
		props.app_id = amqp_cstring_bytes(rt->srv->svc->name);
		st = amqp_basic_publish(c, SVC_EV_CHANNEL, amqp_cstring_bytes(SVC_EV_EXCHANGE),
		    amqp_cstring_bytes(type), 0, 0, &props, b);
		if (st != AMQP_STATUS_OK) {
			svc_log(NULL, "warn", "amqp relay: publish: %s", amqp_error_string2(st));
			rc = -1;
			goto out_rollback;
		}
		(*tag)++;
		n++;
	}
	if (n == 0) {
		rc = 0;
		goto out_rollback;
	}
	if ((cr = svc_ev_confirms(rt, c, first, *tag)) != 0) {
		rc = cr == 1 ? -3 : -1;
		goto out_rollback;
	}
	if (svc_ev_outbox_delete(r, seqs, n) != SVC_OK || svc_db_commit(r) != SVC_OK) {
		/* Confirmed but not deleted: they go again, and consumers drop the duplicates. */
		rc = -2;
		goto out_rollback;
	}
	svc_rows_free(rows);
	atomic_fetch_add(&rt->published, (unsigned long long)n);
	return n;
out_rollback:
	svc_rows_free(rows);
	if (r->w->in_tx)
		(void)svc_db_rollback(r);
	return rc;
}

static void *
svc_ev_relay_main(void *arg)
{
	struct svc_events_rt	*rt = arg;
	amqp_connection_state_t	 c = NULL;
	struct svc_req		 r;
	unsigned long		 i = 0;
	uint64_t		 tag = 0;
	long long		 backoff = 100, nack_backoff = 50;
	int64_t			 stats_at = 0;
	int			 n;

	while (!svc_ev_stopping(rt)) {
		svc_ev_req(rt, &rt->relay_w, &r, "relay", i++);
		if (svc_now_us() >= stats_at) {
			svc_ev_outbox_stats(rt, &r);
			stats_at = svc_now_us() + 500000;
		}
		if (c == NULL) {
			if ((c = svc_ev_connect(rt, 1, "relay", SVC_EV_RELAY)) == NULL) {
				atomic_store(&rt->connected[0], 0);
				svc_ev_sleep(rt, backoff);
				backoff = backoff * 2 > SVC_EV_BACKOFF_MAX_MS ? SVC_EV_BACKOFF_MAX_MS :
				    backoff * 2;
				continue;
			}
			tag = 0;	/* delivery tags restart on every channel */
			backoff = 100;
			atomic_store(&rt->connected[0], 1);
			atomic_fetch_add(&rt->connects[0], 1);
		} else if (svc_ev_service(rt, c, "relay") != 0) {
			/* Idle and the link is gone (a closed socket, heartbeats stopped): again. */
			svc_ev_close(&c);
			svc_ev_lost(rt, SVC_EV_RELAY);
			continue;
		}
		n = svc_ev_relay_batch(rt, &r, c, &tag);
		if (n == -1) {
			/* Unconfirmed rows stay in the outbox: published again on the next node. */
			svc_ev_close(&c);
			svc_ev_lost(rt, SVC_EV_RELAY);
			continue;
		}
		if (n == -3) {
			/*
			 * Not the node's fault, so it is not marked; but a new channel, after a
			 * growing pause: RabbitMQ 3.10 kept nacking on the channel that first met a
			 * quorum queue whose leader had died, until that node came back.
			 */
			svc_log(NULL, "warn", "amqp relay: the broker nacked a batch: kept, again on a new "
			    "channel in %lld ms", nack_backoff);
			svc_ev_close(&c);
			atomic_store(&rt->node_of[SVC_EV_RELAY], -1);
			atomic_store(&rt->connected[SVC_EV_RELAY], 0);
			svc_ev_sleep(rt, nack_backoff);
			nack_backoff = nack_backoff * 2 > SVC_EV_BACKOFF_MAX_MS ? SVC_EV_BACKOFF_MAX_MS :
			    nack_backoff * 2;
			continue;
		}
		nack_backoff = 50;
		if (n == -2)
			svc_ev_sleep(rt, 500);
		else if (n == 0)
			svc_ev_idle(rt, rt->conf.poll_ms);
		else
			stats_at = 0;
	}
	svc_ev_close(&c);
	return NULL;
}

/* ---------------------------------------------------------------- consumer */

/* The quorum queue's x-delivery-count header (deliveries before this one), or 0. */
static int64_t
svc_ev_delivery_count(const amqp_basic_properties_t *p)
{
	int i;

	if (!(p->_flags & AMQP_BASIC_HEADERS_FLAG))
		return 0;
	for (i = 0; i < p->headers.num_entries; i++) {
		const amqp_table_entry_t *e = &p->headers.entries[i];

		if (e->key.len != 16 || memcmp(e->key.bytes, "x-delivery-count", 16) != 0)
			continue;
		switch (e->value.kind) {
		case AMQP_FIELD_KIND_I64:	return e->value.value.i64;
		case AMQP_FIELD_KIND_U64:	return (int64_t)e->value.value.u64;
		case AMQP_FIELD_KIND_I32:	return e->value.value.i32;
		case AMQP_FIELD_KIND_U32:	return e->value.value.u32;
		case AMQP_FIELD_KIND_I16:	return e->value.value.i16;
		case AMQP_FIELD_KIND_U16:	return e->value.value.u16;
		case AMQP_FIELD_KIND_I8:	return e->value.value.i8;
		case AMQP_FIELD_KIND_U8:	return e->value.value.u8;
		default:			return 0;
		}
	}
	return 0;
}

/*
 * Records the lag of an applied event: from its occurred_at (the publisher's commit, by the
 * publisher's wall clock) to now. A clock behind the publisher's counts as 0; an unreadable
 * time is not recorded (the envelope check let it through as a string).
 */
static void
svc_ev_lag_record(struct svc_events_rt *rt, const char *occurred_at)
{
	int64_t	at, lag;
	size_t	b;

	if (svc_event_time_parse(occurred_at, &at) != 0)
		return;
	lag = svc_wall_us() - at;
	if (lag < 0)
		lag = 0;
	for (b = 0; b < SVC_EV_NLAG && lag > svc_ev_lag_us[b]; b++)
		;
	atomic_fetch_add(&rt->lag_bucket[b], 1);
	atomic_fetch_add(&rt->lag_sum_us, (unsigned long long)lag);
	atomic_fetch_add(&rt->lag_count, 1);
}

struct svc_ev_apply {
	struct svc_events_rt	*rt;
	const struct svc_event	*ev;
	svc_event_handler	 fn;
	int			 duplicate;
};

/* In one transaction: the inbox row, then the handler's effect. */
static int
svc_ev_apply_tx(struct svc_req *r, void *arg)
{
	struct svc_ev_apply	*a = arg;
	int			 rc;

	a->duplicate = 0;
	if ((rc = svc_db_exec(r, svc_ev_stmt(r, SVC_EVS_INBOX_ADD), "ss", a->ev->id,
	    a->ev->type)) != SVC_OK)
		return rc;
	if (svc_db_affected(r) == 0) {
		a->duplicate = 1;
		return SVC_OK;
	}
	return a->fn(r, a->ev);
}

struct svc_ev_dead {
	const char	*id, *type, *reason, *body;
	int64_t		 attempts;
};

static int
svc_ev_dead_tx(struct svc_req *r, void *arg)
{
	struct svc_ev_dead *d = arg;

	return svc_db_exec(r, svc_ev_stmt(r, SVC_EVS_DEAD_ADD), "sssis", d->id, d->type, d->reason,
	    d->attempts, d->body);
}

/* The consumer's state between deliveries: what it holds, and its breaker on the database. */
struct svc_ev_cons {
	struct svc_ev_heldq	 q;
	int			 paused;	/* the database is away: no handler runs */
	int			 probes;	/* failed probes since the pause began */
	int64_t			 probe_at;	/* next database probe (paused) */
	uint64_t		 rng;
	unsigned long		 nreq;
};

static void
svc_ev_pause(struct svc_events_rt *rt, struct svc_ev_cons *cs, int64_t now)
{
	if (!cs->paused)
		svc_log(NULL, "warn", "events consumer: the database is away: paused (%zu held)",
		    cs->q.n);
	cs->paused = 1;
	cs->probe_at = now + 1000 * svc_event_retry_ms(cs->probes, rt->conf.retry_min_ms,
	    rt->conf.retry_max_ms, &cs->rng);
	atomic_store(&rt->paused, 1);
}

/* Schedules held entry h again after its backoff; the database away pauses the consumer. */
static void
svc_ev_later(struct svc_events_rt *rt, struct svc_ev_cons *cs, struct svc_ev_held *h, int rc,
    int64_t now)
{
	int64_t ms = svc_event_retry_ms((int)(h->attempts > 0 ? h->attempts - 1 : 0),
	    rt->conf.retry_min_ms, rt->conf.retry_max_ms, &cs->rng);

	h->due_us = now + ms * 1000;
	atomic_fetch_add(&rt->retries, 1);
	if (svc_event_db_away(rc))
		svc_ev_pause(rt, cs, now);
}

/*
 * Runs held entry i once: the handler (or, for one decided dead, the dead-letter record) and
 * settles it when there is an answer. Returns 0, or -1 when the connection failed (everything
 * held is redelivered on the next one; the inbox makes that harmless).
 */
static int
svc_ev_run(struct svc_events_rt *rt, struct svc_ev_cons *cs, struct svc_req *r,
    amqp_connection_state_t c, size_t i)
{
	const struct svc_events	*evs = rt->srv->svc->events;
	struct svc_ev_held	*h = &cs->q.v[i];
	struct svc_event	 ev;
	struct svc_ev_apply	 a;
	struct svc_ev_dead	 d;
	char			 gen[37];
	size_t			 k;
	enum svc_event_verdict	 v;
	int			 rc, st, parsed;

	memset(&a, 0, sizeof(a));
	parsed = svc_event_parse(h->body, h->len, &ev) == SVC_OK;
	if (!h->dead) {
		if (!parsed) {
			snprintf(h->reason, sizeof(h->reason), "unparseable envelope");
			h->dead = 1;
		} else if (h->redelivered >= rt->conf.max_deliveries) {
			/* Delivered again and again without an answer: the consumer keeps crashing on it. */
			snprintf(h->reason, sizeof(h->reason), "delivered %lld times without an outcome",
			    (long long)h->redelivered + 1);
			h->dead = 1;
		} else {
			for (k = 0; k < evs->nsubs; k++)
				if (strcmp(evs->subs[k].type, ev.type) == 0)
					a.fn = evs->subs[k].fn;
			if (a.fn == NULL) {
				snprintf(h->reason, sizeof(h->reason), "no handler for %s", ev.type);
				h->dead = 1;
			}
		}
		if (!h->dead) {
			a.rt = rt;
			a.ev = &ev;
			rc = svc_db_tx(r, svc_ev_apply_tx, &a);
			h->attempts++;
			v = svc_event_decide(rc, h->attempts, rt->conf.max_attempts);
			if (rc == SVC_OK && rt->conf.crash_before_ack > 0 &&
			    h->nth == (uint64_t)rt->conf.crash_before_ack) {
				svc_log(r, "warn", "SHOPLAB_EVENTS_CRASH_BEFORE_ACK: exiting after the "
				    "commit of %s", ev.id);
				_exit(3);
			}
			if (v == SVC_EVENT_RETRY) {
				svc_log(r, "warn", "event %s (%s) failed (%s, run %lld): retried later",
				    ev.id, ev.type, svc_err_name(rc), (long long)h->attempts);
				svc_ev_later(rt, cs, h, rc, svc_now_us());
				svc_event_free(&ev);
				return 0;
			}
			if (v == SVC_EVENT_ACK) {
				if (a.duplicate)
					atomic_fetch_add(&rt->duplicates, 1);
				else {
					atomic_fetch_add(&rt->applied, 1);
					svc_ev_lag_record(rt, ev.occurred_at);
				}
				goto ack;
			}
			snprintf(h->reason, sizeof(h->reason), "handler failed: %s (%lld runs)",
			    svc_err_name(rc), (long long)h->attempts);
			h->dead = 1;
		}
	}
	/* Dead: recorded where ops can list and replay it; acked only once that committed. */
	if (parsed)
		d.id = ev.id;
	else if (h->msg_id[0] != '\0')
		d.id = h->msg_id;
	else {
		/* No id at all: one of our own, kept in the message so a retry writes one row. */
		if (svc_event_uuid(gen) != 0)
			snprintf(gen, sizeof(gen), "noid-%llu", (unsigned long long)h->tag);
		snprintf(h->msg_id, sizeof(h->msg_id), "%s", gen);
		d.id = h->msg_id;
	}
	d.type = parsed ? ev.type : "";
	d.reason = h->reason;
	d.attempts = h->attempts > 0 ? h->attempts : 1;
	d.body = h->body;
	svc_ev_req(rt, r->w, r, "deadletter", cs->nreq++);
	if ((rc = svc_db_tx(r, svc_ev_dead_tx, &d)) != SVC_OK) {
		/* Not recorded: the message stays with us, unacked, and the record is tried again. */
		svc_log(r, "error", "event %s: recording the dead letter failed (%s): kept, tried "
		    "again later", d.id, svc_err_name(rc));
		svc_ev_later(rt, cs, h, rc, svc_now_us());
		if (parsed)
			svc_event_free(&ev);
		return 0;
	}
	svc_log(r, "error", "event %s (%s) dead-lettered after %lld runs: %s", d.id, d.type,
	    (long long)d.attempts, h->reason);
	atomic_fetch_add(&rt->dead, 1);
	atomic_fetch_add(&rt->dead_rows, 1);
ack:
	if (parsed)
		svc_event_free(&ev);
	/* Acked, not rejected: <service>.dead gets only what the broker gave up on itself. */
	st = amqp_basic_ack(c, SVC_EV_CHANNEL, h->tag, 0);
	svc_ev_heldq_remove(&cs->q, i);
	if (st != AMQP_STATUS_OK) {
		svc_log(NULL, "warn", "amqp consumer: settling a delivery: %s", amqp_error_string2(st));
		return -1;
	}
	return 0;
}

/* The AMQP message_id of a delivery as a string ("" when absent or too long). */
static void
svc_ev_msg_id(const amqp_basic_properties_t *p, char out[SVC_EVENT_ID_MAX + 1])
{
	out[0] = '\0';
	if ((p->_flags & AMQP_BASIC_MESSAGE_ID_FLAG) && p->message_id.len > 0 &&
	    p->message_id.len <= SVC_EVENT_ID_MAX) {
		memcpy(out, p->message_id.bytes, p->message_id.len);
		out[p->message_id.len] = '\0';
	}
}

/*
 * Every few seconds: the messages in <service>.dead (a passive declare on channel 2, so a
 * refusal closes only that channel) and the dead letters not replayed yet.
 */
static int
svc_ev_dead_stats(struct svc_events_rt *rt, struct svc_req *r, amqp_connection_state_t c,
    int *chan2)
{
	amqp_rpc_reply_t	 x;
	amqp_queue_declare_ok_t	*ok;
	struct svc_rows		*rows = NULL;
	char			 dq[160];

	if (svc_db_query(r, svc_ev_stmt(r, SVC_EVS_DEAD_COUNT), &rows, "") == SVC_OK) {
		if (svc_rows_next(rows) == 1)
			atomic_store(&rt->dead_rows, svc_rows_int(rows, 0));
		svc_rows_free(rows);
	}
	if (c == NULL || *chan2 < 0)
		return 0;
	if (*chan2 == 0) {
		if (amqp_channel_open(c, SVC_EV_CHANNEL + 1) == NULL) {
			x = amqp_get_rpc_reply(c);
			(void)svc_ev_rpc_ok(x, "dead queue channel");
			*chan2 = -1;
			if (x.reply_type != AMQP_RESPONSE_LIBRARY_EXCEPTION)
				return 0;
			if (x.library_error == AMQP_STATUS_HEARTBEAT_TIMEOUT)
				atomic_fetch_add(&rt->hb_timeouts, 1);
			return -1;
		}
		*chan2 = 1;
	}
	snprintf(dq, sizeof(dq), "%s.dead", rt->srv->svc->name);
	ok = amqp_queue_declare(c, SVC_EV_CHANNEL + 1, amqp_cstring_bytes(dq), 1, 0, 0, 0,
	    amqp_empty_table);
	if (ok == NULL || svc_ev_rpc_ok((x = amqp_get_rpc_reply(c)), "dead queue declare") != 0) {
		x = amqp_get_rpc_reply(c);
		/* A lost link (or no answer in the RPC timeout): the connection is unusable. */
		if (x.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
			if (x.library_error == AMQP_STATUS_HEARTBEAT_TIMEOUT)
				atomic_fetch_add(&rt->hb_timeouts, 1);
			return -1;
		}
		/* Not allowed or no such queue: not asked again on this connection. */
		*chan2 = -1;
		atomic_store(&rt->dead_queue, -1);
		return 0;
	}
	atomic_store(&rt->dead_queue, (long long)ok->message_count);
	return 0;
}

static amqp_connection_state_t
svc_ev_consume_open(struct svc_events_rt *rt)
{
	amqp_connection_state_t c;

	if ((c = svc_ev_connect(rt, 0, "consumer", SVC_EV_CONSUMER)) == NULL)
		return NULL;
	if (amqp_basic_qos(c, SVC_EV_CHANNEL, 0, (uint16_t)rt->conf.prefetch, 0) == NULL ||
	    svc_ev_rpc_ok(amqp_get_rpc_reply(c), "consumer qos") != 0)
		goto fail;
	if (amqp_basic_consume(c, SVC_EV_CHANNEL, amqp_cstring_bytes(rt->queue), amqp_empty_bytes,
	    0, 0, 0, amqp_empty_table) == NULL ||
	    svc_ev_rpc_ok(amqp_get_rpc_reply(c), "consume") != 0)
		goto fail;
	return c;
fail:
	/* A node that cannot serve the queue (e.g. cut off from its quorum): another one next. */
	svc_ev_close(&c);
	svc_ev_lost(rt, SVC_EV_CONSUMER);
	return NULL;
}

/* The consumer lost its connection: what it held goes back to the queue (the broker's doing). */
static void
svc_ev_consumer_lost(struct svc_events_rt *rt, struct svc_ev_cons *cs,
    amqp_connection_state_t *c)
{
	svc_ev_close(c);
	svc_ev_lost(rt, SVC_EV_CONSUMER);
	svc_ev_heldq_clear(&cs->q);
	atomic_store(&rt->retries_waiting, 0);
}

/*
 * The consumer: reads deliveries into its held list (at most the prefetch, so the broker
 * sends no more while they wait), runs each when due, and keeps a failed one unacked until
 * its backoff ends. While the database is away it runs nothing and probes the database with
 * a growing backoff instead; when a probe answers, everything held is due at once.
 */
static void *
svc_ev_consumer_main(void *arg)
{
	struct svc_events_rt	*rt = arg;
	struct svc_ev_cons	 cs;
	amqp_connection_state_t	 c = NULL;
	amqp_envelope_t		 env;
	amqp_rpc_reply_t	 x;
	struct svc_req		 r;
	struct timeval		 tv;
	char			 mid[SVC_EVENT_ID_MAX + 1];
	long long		 backoff = 100;
	int64_t			 now, wait, stats_at = 0;
	long			 i, k;
	int			 chan2 = 0;

	memset(&cs, 0, sizeof(cs));
	cs.rng = (uint64_t)svc_now_us() | 1;
	if (svc_ev_heldq_init(&cs.q, (size_t)rt->conf.prefetch) != 0) {
		svc_log(NULL, "error", "events consumer: out of memory");
		return NULL;
	}
	while (!svc_ev_stopping(rt)) {
		now = svc_now_us();
		if (now >= stats_at && !cs.paused) {
			svc_ev_req(rt, &rt->consumer_w, &r, "deadstats", cs.nreq++);
			if (svc_ev_dead_stats(rt, &r, c, &chan2) != 0)
				svc_ev_consumer_lost(rt, &cs, &c);
			stats_at = now + 5000000;
		}
		if (c == NULL) {
			if ((c = svc_ev_consume_open(rt)) == NULL) {
				atomic_store(&rt->connected[1], 0);
				svc_ev_sleep(rt, backoff);
				backoff = backoff * 2 > SVC_EV_BACKOFF_MAX_MS ? SVC_EV_BACKOFF_MAX_MS :
				    backoff * 2;
				continue;
			}
			backoff = 100;
			chan2 = 0;
			stats_at = 0;
			atomic_store(&rt->connected[1], 1);
			atomic_fetch_add(&rt->connects[1], 1);
		}
		if (cs.paused && now >= cs.probe_at) {
			svc_ev_req(rt, &rt->consumer_w, &r, "probe", cs.nreq++);
			if (svc_db_ping(&r) == SVC_OK) {
				svc_log(NULL, "info", "events consumer: the database answers: resumed "
				    "(%zu held)", cs.q.n);
				cs.paused = 0;
				cs.probes = 0;
				atomic_store(&rt->paused, 0);
				svc_ev_heldq_wake(&cs.q, now);
			} else {
				cs.probes++;
				svc_ev_pause(rt, &cs, now);
			}
		}
		if (!cs.paused && (i = svc_ev_heldq_due(&cs.q, now)) >= 0) {
			svc_ev_req(rt, &rt->consumer_w, &r, "consume", cs.nreq++);
			if (svc_ev_run(rt, &cs, &r, c, (size_t)i) != 0)
				svc_ev_consumer_lost(rt, &cs, &c);
			atomic_store(&rt->retries_waiting, (long long)svc_ev_heldq_waiting(&cs.q));
			tv.tv_sec = 0;
			tv.tv_usec = 0;
		} else {
			/* Nothing to run now: wait for a delivery until the next due time. */
			wait = cs.paused ? cs.probe_at : svc_ev_heldq_next(&cs.q);
			wait = wait == INT64_MAX ? 250000 : wait - now;
			if (wait > 250000)
				wait = 250000;
			if (wait < 0)
				wait = 0;
			tv.tv_sec = 0;
			tv.tv_usec = (suseconds_t)wait;
		}
		if (c == NULL)
			continue;
		amqp_maybe_release_buffers(c);
		x = amqp_consume_message(c, &env, &tv, 0);
		if (x.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
		    x.library_error == AMQP_STATUS_TIMEOUT)
			continue;
		if (x.reply_type != AMQP_RESPONSE_NORMAL) {
			/* A closed channel or connection, or a lost socket: start over. */
			if (x.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
			    x.library_error == AMQP_STATUS_HEARTBEAT_TIMEOUT)
				atomic_fetch_add(&rt->hb_timeouts, 1);
			(void)svc_ev_rpc_ok(x, "consume");
			svc_ev_consumer_lost(rt, &cs, &c);
			continue;
		}
		svc_ev_msg_id(&env.message.properties, mid);
		if ((k = svc_ev_heldq_add(&cs.q, env.delivery_tag, (const char *)env.message.body.bytes,
		    env.message.body.len, mid, svc_ev_delivery_count(&env.message.properties),
		    svc_now_us())) >= 0)
			cs.q.v[k].nth = atomic_fetch_add(&rt->consumed, 1) + 1;
		if (k >= 0 && env.redelivered)
			atomic_fetch_add(&rt->redeliveries, 1);
		if (k < 0) {
			/* Out of memory (the prefetch bounds the count): the broker keeps it. */
			svc_log(NULL, "error", "events consumer: cannot hold a delivery: requeued");
			if (amqp_basic_nack(c, SVC_EV_CHANNEL, env.delivery_tag, 0, 1) != AMQP_STATUS_OK)
				svc_ev_consumer_lost(rt, &cs, &c);
		}
		amqp_destroy_envelope(&env);
	}
	svc_ev_close(&c);
	svc_ev_heldq_free(&cs.q);
	return NULL;
}

/* ---------------------------------------------------------------- lifetime */

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
	if (svc_conf_load_scoped(svc_events_defs, sizeof(svc_events_defs) /
	    sizeof(svc_events_defs[0]), srv->svc->name, &rt->conf, err, sizeof(err)) == -1) {
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
	free(rt->conf.hosts);
	free(rt->conf.host);
	free(rt->conf.vhost);
	free(rt->conf.user);
	if (rt->conf.password != NULL)
		explicit_bzero(rt->conf.password, strlen(rt->conf.password));
	free(rt->conf.password);
	rt->conf.hosts = rt->conf.host = rt->conf.vhost = rt->conf.user = rt->conf.password = NULL;
}

static void
svc_ev_worker_end(struct svc_worker *w)
{
	svc_db_close(w);
	free(w->stmts);
	w->stmts = NULL;
}

size_t
svc_events_stop(struct svc_server *srv, const struct timespec *until)
{
	struct svc_events_rt	*rt = srv->events;
	size_t			 left = 0;

	if (rt == NULL)
		return 0;
	/* Ends the threads' sleeps now: a relay in a 5 s backoff must not hold up the exit. */
	svc_wake_close(&svc_ev_wake);
	if (rt->relay_started) {
		if (pthread_timedjoin_np(rt->relay_w.tid, NULL, until) == 0) {
			rt->relay_started = 0;
			svc_ev_worker_end(&rt->relay_w);
		} else
			left++;
	}
	if (rt->consumer_started) {
		if (pthread_timedjoin_np(rt->consumer_w.tid, NULL, until) == 0) {
			rt->consumer_started = 0;
			svc_ev_worker_end(&rt->consumer_w);
		} else
			left++;
	}
	if (left == 0) {
		svc_events_free(srv);
		free(rt);
		srv->events = NULL;
	}
	return left;
}

/* ---------------------------------------------------------------- ops */

/*
 * A connection for the replay of dead letters (an ops request's thread): publisher confirms
 * on, the first broker node that answers. Not one of the threads' node slots. NULL: none.
 */
void *
svc_events_replay_open(struct svc_server *srv)
{
	struct svc_events_rt	*rt = srv->events;
	struct svc_ev_try	 a;
	size_t			 used;

	if (rt == NULL)
		return NULL;
	a.rt = rt;
	a.confirm = 1;
	a.what = "replay";
	a.c = NULL;
	if (svc_nodes_try(&rt->nodes, svc_now_us, svc_ev_try_one, &a, &used) != 0)
		return NULL;
	return a.c;
}

void
svc_events_replay_close(void *conn)
{
	amqp_connection_state_t c = conn;

	svc_ev_close(&c);
}

/*
 * Republishes one recorded envelope, its original id as message_id, to shoplab.replay with
 * the service's own name as routing key: it reaches <service>.events and nothing else (the
 * broker user's topic permission). *tag: the channel's last delivery tag (0 after open).
 * Returns 0 once the broker confirmed it, -1 otherwise (the connection is then unusable).
 */
int
svc_events_replay_publish(struct svc_server *srv, void *conn, uint64_t *tag, const char *id,
    const char *type, const char *body, size_t len)
{
	struct svc_events_rt	*rt = srv->events;
	amqp_connection_state_t	 c = conn;
	amqp_basic_properties_t	 props;
	amqp_bytes_t		 b = { len, (void *)(uintptr_t)body };
	int			 st;

	if (rt == NULL || c == NULL)
		return -1;
	memset(&props, 0, sizeof(props));
	props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
	    AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_APP_ID_FLAG;
	props.content_type = amqp_cstring_bytes("application/json");
	props.delivery_mode = 2;
	props.message_id = amqp_cstring_bytes(id);
	props.app_id = amqp_cstring_bytes(srv->svc->name);
	if (type != NULL && type[0] != '\0') {
		props._flags |= AMQP_BASIC_TYPE_FLAG;
		props.type = amqp_cstring_bytes(type);
	}
	st = amqp_basic_publish(c, SVC_EV_CHANNEL, amqp_cstring_bytes(SVC_EV_REPLAY_EXCHANGE),
	    amqp_cstring_bytes(srv->svc->name), 1, 0, &props, b);
	if (st != AMQP_STATUS_OK) {
		svc_log(NULL, "warn", "amqp replay: publish: %s", amqp_error_string2(st));
		return -1;
	}
	(*tag)++;
	if (svc_ev_confirms(rt, c, *tag, *tag) != 0)
		return -1;
	atomic_fetch_add(&rt->replays, 1);
	return 0;
}


int
svc_events_metrics_write(struct svc_server *srv, struct svc_buf *out)
{
	struct svc_events_rt	*rt = srv->events;
	const char		*s = srv->svc->name;

	if (rt == NULL)
		return 0;
	svc_buf_printf(out,
	    "# HELP shoplab_events_outbox_depth Events in the outbox not yet confirmed by the broker.\n"
	    "# TYPE shoplab_events_outbox_depth gauge\n"
	    "shoplab_events_outbox_depth{service=\"%s\"} %lld\n"
	    "# HELP shoplab_events_outbox_oldest_seconds Age of the oldest outbox row.\n"
	    "# TYPE shoplab_events_outbox_oldest_seconds gauge\n"
	    "shoplab_events_outbox_oldest_seconds{service=\"%s\"} %.6f\n"
	    "# HELP shoplab_events_published_total Events the broker confirmed (publisher confirms).\n"
	    "# TYPE shoplab_events_published_total counter\n"
	    "shoplab_events_published_total{service=\"%s\"} %llu\n"
	    "# HELP shoplab_events_publish_nacks_total Publishes the broker refused (sent again).\n"
	    "# TYPE shoplab_events_publish_nacks_total counter\n"
	    "shoplab_events_publish_nacks_total{service=\"%s\"} %llu\n"
	    "# HELP shoplab_events_consumed_total Deliveries received from the service's queue.\n"
	    "# TYPE shoplab_events_consumed_total counter\n"
	    "shoplab_events_consumed_total{service=\"%s\"} %llu\n"
	    "# HELP shoplab_events_applied_total Events applied (inbox row and effect committed).\n"
	    "# TYPE shoplab_events_applied_total counter\n"
	    "shoplab_events_applied_total{service=\"%s\"} %llu\n"
	    "# HELP shoplab_events_duplicates_total Deliveries of an id already in the inbox (acked).\n"
	    "# TYPE shoplab_events_duplicates_total counter\n"
	    "shoplab_events_duplicates_total{service=\"%s\"} %llu\n"
	    "# HELP shoplab_events_redeliveries_total Deliveries the broker marked redelivered (a lost "
	    "connection or a crash before the ack).\n"
	    "# TYPE shoplab_events_redeliveries_total counter\n"
	    "shoplab_events_redeliveries_total{service=\"%s\"} %llu\n"
	    "# HELP shoplab_events_dead_letters_total Messages dead-lettered (recorded, then acked).\n"
	    "# TYPE shoplab_events_dead_letters_total counter\n"
	    "shoplab_events_dead_letters_total{service=\"%s\"} %llu\n"
	    "# HELP shoplab_events_broker_connected 1 while the thread holds a broker connection.\n"
	    "# TYPE shoplab_events_broker_connected gauge\n"
	    "shoplab_events_broker_connected{service=\"%s\",thread=\"relay\"} %d\n"
	    "shoplab_events_broker_connected{service=\"%s\",thread=\"consumer\"} %d\n"
	    "# HELP shoplab_events_broker_connects_total Broker connections opened.\n"
	    "# TYPE shoplab_events_broker_connects_total counter\n"
	    "shoplab_events_broker_connects_total{service=\"%s\",thread=\"relay\"} %llu\n"
	    "shoplab_events_broker_connects_total{service=\"%s\",thread=\"consumer\"} %llu\n",
	    s, (long long)atomic_load(&rt->outbox_depth),
	    s, (double)atomic_load(&rt->outbox_oldest_us) / 1e6,
	    s, atomic_load(&rt->published), s, atomic_load(&rt->nacked),
	    s, atomic_load(&rt->consumed), s, atomic_load(&rt->applied),
	    s, atomic_load(&rt->duplicates), s, atomic_load(&rt->redeliveries),
	    s, atomic_load(&rt->dead),
	    s, atomic_load(&rt->connected[0]), s, atomic_load(&rt->connected[1]),
	    s, atomic_load(&rt->connects[0]), s, atomic_load(&rt->connects[1]));
	{
		int node_of[2] = { atomic_load(&rt->node_of[0]), atomic_load(&rt->node_of[1]) };

		if (svc_amqpnodes_metrics_write(&rt->nodes, s, node_of, 2, out) == -1)
			return -1;
	}
	svc_buf_printf(out,
	    "# HELP shoplab_events_heartbeat_timeouts_total Broker connections dropped because "
	    "heartbeats stopped.\n"
	    "# TYPE shoplab_events_heartbeat_timeouts_total counter\n"
	    "shoplab_events_heartbeat_timeouts_total{service=\"%s\"} %llu\n", s,
	    atomic_load(&rt->hb_timeouts));
	/* A consumer only: retries, its breaker, dead letters, and the lag. */
	if (srv->svc->events->nsubs > 0) {
		long long dq = atomic_load(&rt->dead_queue);

		svc_buf_printf(out,
		    "# HELP shoplab_events_retries_total Transient failures scheduled for a later retry.\n"
		    "# TYPE shoplab_events_retries_total counter\n"
		    "shoplab_events_retries_total{service=\"%s\"} %llu\n"
		    "# HELP shoplab_events_retries_waiting Messages held unacked, waiting for their retry.\n"
		    "# TYPE shoplab_events_retries_waiting gauge\n"
		    "shoplab_events_retries_waiting{service=\"%s\"} %lld\n"
		    "# HELP shoplab_events_dead_letters Rows in the service's dead_letters table not "
		    "replayed.\n"
		    "# TYPE shoplab_events_dead_letters gauge\n"
		    "shoplab_events_dead_letters{service=\"%s\"} %lld\n"
		    "# HELP shoplab_events_consumer_paused 1 while the consumer takes no deliveries (its "
		    "database is away).\n"
		    "# TYPE shoplab_events_consumer_paused gauge\n"
		    "shoplab_events_consumer_paused{service=\"%s\"} %d\n"
		    "# HELP shoplab_events_replays_total Dead letters replayed.\n"
		    "# TYPE shoplab_events_replays_total counter\n"
		    "shoplab_events_replays_total{service=\"%s\"} %llu\n",
		    s, atomic_load(&rt->retries), s, (long long)atomic_load(&rt->retries_waiting),
		    s, (long long)atomic_load(&rt->dead_rows), s, atomic_load(&rt->paused),
		    s, atomic_load(&rt->replays));
		/* Unknown until the consumer asked the broker (a passive declare): no sample. */
		if (dq >= 0)
			svc_buf_printf(out,
			    "# HELP shoplab_events_dead_queue_messages Messages in the broker's "
			    "<service>.dead queue.\n"
			    "# TYPE shoplab_events_dead_queue_messages gauge\n"
			    "shoplab_events_dead_queue_messages{service=\"%s\"} %lld\n", s, dq);
	}
	/* A consumer only: the lag from the event's occurred_at to its effect's commit. */
	if (srv->svc->events->nsubs > 0) {
		unsigned long long	cum = 0;
		size_t			b;

		svc_buf_printf(out,
		    "# HELP shoplab_events_lag_seconds From an event's occurred_at (the publisher's "
		    "commit) to its effect's commit here.\n"
		    "# TYPE shoplab_events_lag_seconds histogram\n");
		for (b = 0; b <= SVC_EV_NLAG; b++) {
			cum += atomic_load(&rt->lag_bucket[b]);
			if (b < SVC_EV_NLAG)
				svc_buf_printf(out, "shoplab_events_lag_seconds_bucket{service=\"%s\","
				    "le=\"%g\"} %llu\n", s, (double)svc_ev_lag_us[b] / 1e6, cum);
			else
				svc_buf_printf(out, "shoplab_events_lag_seconds_bucket{service=\"%s\","
				    "le=\"+Inf\"} %llu\n", s, cum);
		}
		svc_buf_printf(out, "shoplab_events_lag_seconds_sum{service=\"%s\"} %.6f\n"
		    "shoplab_events_lag_seconds_count{service=\"%s\"} %llu\n", s,
		    (double)atomic_load(&rt->lag_sum_us) / 1e6, s, atomic_load(&rt->lag_count));
	}
	return out->failed ? -1 : 0;
}

int
svc_events_deadletters(struct svc_req *r)
{
	struct svc_rows	*rows = NULL;
	json_object	*items, *o, *body;
	int64_t		 limit;
	int		 rc;

	if (r->srv->svc->events == NULL || r->srv->svc->events->nsubs == 0)
		return svc_reply_error(r, 404, "not_found", "%s consumes no events",
		    r->srv->svc->name);
	if (svc_query_int_or_reply(r, "limit", 1, 1000, 100, &limit) != SVC_OK)
		return SVC_ERR_REPLIED;
	if ((rc = svc_db_query(r, svc_ev_stmt(r, SVC_EVS_DEAD_LIST), &rows, "i", limit)) != SVC_OK)
		return svc_reply_err(r, rc);
	if ((items = json_object_new_array()) == NULL) {
		svc_rows_free(rows);
		return svc_reply_err(r, SVC_ERR_NOMEM);
	}
	while (svc_rows_next(rows) == 1) {
		size_t		 len;
		const char	*b;

		if ((o = svc_rows_json(rows)) == NULL)
			continue;
		/* The envelope as JSON when it parses, else as the string it was. */
		b = svc_rows_str(rows, 5, &len);
		if (b != NULL && (body = json_tokener_parse(b)) != NULL)
			json_object_object_add(o, "body", body);
		json_object_array_add(items, o);
	}
	svc_rows_free(rows);
	if ((o = json_object_new_object()) == NULL) {
		json_object_put(items);
		return svc_reply_err(r, SVC_ERR_NOMEM);
	}
	json_object_object_add(o, "service", json_object_new_string(r->srv->svc->name));
	json_object_object_add(o, "items", items);
	return svc_reply_json(r, 200, o);
}
