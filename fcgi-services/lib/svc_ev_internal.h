/* svc_ev_internal.h - the events runtime shared by the svc_ev_*.c files: settings, counters, helpers */
#ifndef SVC_EV_INTERNAL_H
#define SVC_EV_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <amqp.h>

#include "svc_db_int.h"
#include "svc_nodes_int.h"
#include "svc_req_int.h"
#include "svc_server_int.h"
#include "svc_events.h"

#define SVC_EV_EXCHANGE		"shoplab.events"
#define SVC_EV_REPLAY_EXCHANGE	"shoplab.replay"	/* topic: <service> -> <service>.events */
#define SVC_EV_CHANNEL		1
#define SVC_EV_CONFIRM_WAIT_S	10
#define SVC_EV_BACKOFF_MAX_MS	1000
#define SVC_EV_DEL_N		16	/* placeholders of SVC_EVS_OUTBOX_DEL */
#define SVC_EV_BATCH_MAX	1000	/* SHOPLAB_EVENTS_BATCH's maximum */

/*
 * The library's own statements (svc_ev_runtime.c), registered with svc_db_register: they
 * follow the service's in every worker's statement array (index svc->nstmts + SVC_EVS_*).
 */
enum { SVC_EVS_OUTBOX_ADD, SVC_EVS_OUTBOX_NEXT, SVC_EVS_OUTBOX_DEL, SVC_EVS_OUTBOX_STATS,
	SVC_EVS_INBOX_ADD, SVC_EVS_DEAD_ADD, SVC_EVS_DEAD_LIST,
	SVC_EVS_DEAD_COUNT, SVC_EVS_DEAD_GET, SVC_EVS_DEAD_LOCK, SVC_EVS_DEAD_MARK,
	SVC_EVS_DEAD_PENDING, SVC_EVS_N };
extern const char *const svc_events_sql[SVC_EVS_N];

/* Settings, from SHOPLAB_AMQP_* and SHOPLAB_EVENTS_* (SHOPLAB_<SERVICE>_X wins; svc_ev_runtime.c). */
struct svc_events_conf {
	char		*hosts;		/* host:port,... (empty: host and port) */
	char		*host;
	long long	 port;
	char		*vhost;
	char		*user;		/* default: the service's name */
	char		*password;
	long long	 max_attempts;
	long long	 batch;
	long long	 poll_ms;	/* the idle relay's first poll, doubling while it finds */
	long long	 poll_max_ms;	/* nothing, up to this (a commit's wake comes at once) */
	long long	 prefetch;
	long long	 apply_batch;	/* held deliveries applied in one transaction, at most (1: one each) */
	long long	 retry_min_ms;	/* the retry backoff's floor and cap */
	long long	 retry_max_ms;
	long long	 max_deliveries;	/* redeliveries without an answer (a crash loop) */
	long long	 heartbeat_s;	/* AMQP heartbeat interval (0: off) */
#ifdef SVC_TEST_HOOKS
	/* Test builds only: exit(3) after committing the Nth consumed message, before its ack. */
	long long	 crash_before_ack;
#endif
};

/* The lag histogram's upper bounds (occurred_at -> applied), seconds as µs (svc_ev_metrics.c). */
#define SVC_EV_NLAG	14
extern const int64_t svc_ev_lag_us[SVC_EV_NLAG];

/* The apply batch size histogram's upper bounds (deliveries per committed transaction). */
#define SVC_EV_NBATCH	8
extern const int64_t svc_ev_batch_le[SVC_EV_NBATCH];

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
	/* The consumer's apply transactions: deliveries per committed one (histogram), batches. */
	atomic_ullong		 batch_bucket[SVC_EV_NBATCH + 1];
	atomic_ullong		 batch_sum;
	atomic_ullong		 batch_count;
	atomic_ullong		 batches;	/* committed transactions of two or more deliveries */
	atomic_ullong		 batch_rollbacks;	/* batches rolled back: each ran alone after */
	atomic_ullong		 connects[2];	/* relay, consumer */
	atomic_int		 connected[2];
	/* The brokers (SHOPLAB_AMQP_HOSTS), shared by both threads behind its own lock. */
	struct svc_dbnodes	 nodes;
	atomic_int		 node_of[2];	/* the node each thread is connected to, -1 none */
	int			 last_node[2];	/* the node before (each thread its own entry) */
};

#define SVC_EV_RELAY	0
#define SVC_EV_CONSUMER	1

/* The library's statement which in a request's statement array (after the service's). */
static inline int
svc_ev_stmt(const struct svc_req *r, int which)
{
	return (int)r->srv->svc->nstmts + which;
}

/* svc_ev_runtime.c: shutdown, sleeps, a request for the threads. */
int  svc_ev_stopping(const struct svc_events_rt *rt);
/* Sleeps ms, ending at once when svc_events_stop closes the wake, or at `stopping`. */
void svc_ev_sleep(const struct svc_events_rt *rt, long long ms);
/* The relay's idle wait: up to ms, cut short by a commit that wrote to the outbox. */
void svc_ev_idle(const struct svc_events_rt *rt, long long ms);
/* A request with database access for the event threads, as the background worker has. */
void svc_ev_req(struct svc_events_rt *rt, struct svc_worker *w, struct svc_req *r,
	const char *what, unsigned long n);

/* svc_ev_broker.c: connections to the broker nodes, failover, confirms, heartbeats. */
int  svc_ev_rpc_ok(amqp_rpc_reply_t x, const char *what);
void svc_ev_close(amqp_connection_state_t *c);
/* The first node that takes a connection, *used its index; not a thread's slot. NULL: none. */
amqp_connection_state_t svc_ev_connect_any(struct svc_events_rt *rt, int confirm,
	const char *what, size_t *used);
/* Thread k's connection (SVC_EV_RELAY, SVC_EV_CONSUMER), noting the node it uses. */
amqp_connection_state_t svc_ev_connect(struct svc_events_rt *rt, int confirm, const char *what,
	int k);
/* Thread k lost its connection: its node is tried last for a while. */
void svc_ev_lost(struct svc_events_rt *rt, int k);
/* Waits for the confirms of tags first..last: 0 all acked, 1 some nacked, -1 link failed. */
int  svc_ev_confirms(struct svc_events_rt *rt, amqp_connection_state_t c, uint64_t first,
	uint64_t last);
/* Services an idle connection without waiting (heartbeats): 0, or -1 when it is gone. */
int  svc_ev_service(struct svc_events_rt *rt, amqp_connection_state_t c, const char *what);

/* The threads (svc_ev_relay.c, svc_ev_consumer.c); arg is the svc_events_rt. */
void *svc_ev_relay_main(void *arg);
/* The idle relay's next poll interval: last doubled, within [min, max] (max < min: min). */
long long svc_ev_next_poll(long long last, long long min, long long max);
long long svc_ev_relay_wait(int n, int limit, long long *idle, long long min, long long max);
void *svc_ev_consumer_main(void *arg);

#endif /* SVC_EV_INTERNAL_H */
