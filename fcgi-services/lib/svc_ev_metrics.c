/* svc_ev_metrics.c - the events runtime's /metrics: relay, consumer, broker nodes, the lag histogram */
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "svc_nodes_int.h"
#include "svc_server_int.h"
#include "svc_ev_internal.h"

const int64_t svc_ev_lag_us[SVC_EV_NLAG] = {
	1000, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000,
	10000000, 30000000, 60000000,
};

const int64_t svc_ev_batch_le[SVC_EV_NBATCH] = { 1, 2, 4, 8, 16, 32, 64, 128 };

/* A histogram's cumulative buckets: bucket[0..n] counts, le[0..n) their bounds / scale. */
static void
svc_ev_metrics_buckets(struct svc_buf *out, const char *family, const char *s,
    const atomic_ullong *bucket, const int64_t *le, size_t n, double scale)
{
	unsigned long long	cum = 0;
	size_t			b;

	for (b = 0; b <= n; b++) {
		cum += atomic_load(&bucket[b]);
		if (b < n)
			svc_buf_printf(out, "%s_bucket{service=\"%s\",le=\"%g\"} %llu\n", family, s,
			    (double)le[b] / scale, cum);
		else
			svc_buf_printf(out, "%s_bucket{service=\"%s\",le=\"+Inf\"} %llu\n", family, s,
			    cum);
	}
}

/* A consumer only: deliveries per apply transaction, batches, batches rolled back. */
static void
svc_ev_metrics_batch(struct svc_events_rt *rt, const char *s, struct svc_buf *out)
{
	svc_buf_printf(out,
	    "# HELP shoplab_events_apply_batches_total Transactions that applied two or more "
	    "deliveries (one commit, one ack).\n"
	    "# TYPE shoplab_events_apply_batches_total counter\n"
	    "shoplab_events_apply_batches_total{service=\"%s\"} %llu\n"
	    "# HELP shoplab_events_apply_batch_rollbacks_total Batches rolled back because one "
	    "delivery failed (each then ran alone).\n"
	    "# TYPE shoplab_events_apply_batch_rollbacks_total counter\n"
	    "shoplab_events_apply_batch_rollbacks_total{service=\"%s\"} %llu\n"
	    "# HELP shoplab_events_apply_batch_size Deliveries per committed apply transaction.\n"
	    "# TYPE shoplab_events_apply_batch_size histogram\n",
	    s, atomic_load(&rt->batches), s, atomic_load(&rt->batch_rollbacks));
	svc_ev_metrics_buckets(out, "shoplab_events_apply_batch_size", s, rt->batch_bucket,
	    svc_ev_batch_le, SVC_EV_NBATCH, 1);
	svc_buf_printf(out, "shoplab_events_apply_batch_size_sum{service=\"%s\"} %llu\n"
	    "shoplab_events_apply_batch_size_count{service=\"%s\"} %llu\n", s,
	    atomic_load(&rt->batch_sum), s, atomic_load(&rt->batch_count));
}

/* A consumer only: retries, its breaker, dead letters. */
static void
svc_ev_metrics_consumer(struct svc_events_rt *rt, const char *s, struct svc_buf *out)
{
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
static void
svc_ev_metrics_lag(struct svc_events_rt *rt, const char *s, struct svc_buf *out)
{
	svc_buf_printf(out,
	    "# HELP shoplab_events_lag_seconds From an event's occurred_at (the publisher's "
	    "commit) to its effect's commit here.\n"
	    "# TYPE shoplab_events_lag_seconds histogram\n");
	svc_ev_metrics_buckets(out, "shoplab_events_lag_seconds", s, rt->lag_bucket, svc_ev_lag_us,
	    SVC_EV_NLAG, 1e6);
	svc_buf_printf(out, "shoplab_events_lag_seconds_sum{service=\"%s\"} %.6f\n"
	    "shoplab_events_lag_seconds_count{service=\"%s\"} %llu\n", s,
	    (double)atomic_load(&rt->lag_sum_us) / 1e6, s, atomic_load(&rt->lag_count));
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
	if (srv->svc->events->nsubs > 0) {
		svc_ev_metrics_consumer(rt, s, out);
		svc_ev_metrics_lag(rt, s, out);
		svc_ev_metrics_batch(rt, s, out);
	}
	return out->failed ? -1 : 0;
}
