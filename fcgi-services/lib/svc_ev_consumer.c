/* svc_ev_consumer.c - the inbox consumer thread: held deliveries, applied in batches (one transaction, one ack) or alone, dead letters */
#include <sys/time.h>

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <amqp.h>

#include "svc_db_int.h"
#include "svc_ev_internal.h"

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

/* Counts one committed apply transaction of n deliveries (the batch size histogram). */
static void
svc_ev_batch_record(struct svc_events_rt *rt, size_t n)
{
	size_t b;

	for (b = 0; b < SVC_EV_NBATCH && (int64_t)n > svc_ev_batch_le[b]; b++)
		;
	atomic_fetch_add(&rt->batch_bucket[b], 1);
	atomic_fetch_add(&rt->batch_sum, (unsigned long long)n);
	atomic_fetch_add(&rt->batch_count, 1);
	if (n > 1)
		atomic_fetch_add(&rt->batches, 1);
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

/* One delivery of a batch: its parsed envelope, handler and outcome in the transaction. */
struct svc_ev_bitem {
	uint64_t		 tag;
	struct svc_event	 ev;
	svc_event_handler	 fn;
	int			 parsed;	/* ev holds an envelope to free */
	int			 duplicate;	/* its inbox row was there already */
};

struct svc_ev_batch {
	struct svc_ev_bitem	*it;
	size_t			 n;
};

/* In one transaction: for each delivery in tag order, the inbox row, then the handler's effect. */
static int
svc_ev_batch_tx(struct svc_req *r, void *arg)
{
	struct svc_ev_batch	*b = arg;
	struct svc_ev_bitem	*it;
	size_t			 k;
	int			 rc;

	for (k = 0; k < b->n; k++) {
		it = &b->it[k];
		it->duplicate = 0;
		if ((rc = svc_db_exec(r, svc_ev_stmt(r, SVC_EVS_INBOX_ADD), "ss", it->ev.id,
		    it->ev.type)) != SVC_OK)
			return rc;
		if (svc_db_affected(r) == 0) {
			it->duplicate = 1;
			continue;
		}
		if ((rc = it->fn(r, &it->ev)) != SVC_OK)
			return rc;
	}
	return SVC_OK;
}

/* The consumer's state between deliveries: what it holds, and its breaker on the database. */
struct svc_ev_cons {
	struct svc_ev_heldq	 q;
	size_t			*bidx;		/* a batch's held indices (room for the prefetch) */
	struct svc_ev_bitem	*bit;		/* a batch's deliveries (room for the prefetch) */
	int			 paused;	/* the database is away: no handler runs */
	int			 probes;	/* failed probes since the pause began */
	int64_t			 probe_at;	/* next database probe (paused) */
	uint64_t		 rng;
	unsigned long		 nreq;
	amqp_connection_state_t	 c;		/* NULL: not connected */
	long long		 backoff;	/* before the next connection attempt, ms */
	int			 chan2;		/* svc_ev_dead_stats's channel: 0 closed, 1 open, -1 refused */
	int64_t			 stats_at;	/* next svc_ev_dead_stats */
	struct svc_req		 r;		/* the request of the current step */
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
 * Before a run: whether held entry h is dead already (no envelope, a crash loop, no
 * handler; h->reason written). Returns 1 dead, 0 to run *fn on ev.
 */
static int
svc_ev_check(const struct svc_events_rt *rt, struct svc_ev_held *h, const struct svc_event *ev,
    svc_event_handler *fn)
{
	const struct svc_events	*evs = rt->srv->svc->events;
	size_t			 k;

	if (ev == NULL) {
		snprintf(h->reason, sizeof(h->reason), "unparseable envelope");
		return 1;
	}
	if (h->redelivered >= rt->conf.max_deliveries) {
		/* Delivered again and again without an answer: the consumer keeps crashing on it. */
		snprintf(h->reason, sizeof(h->reason), "delivered %lld times without an outcome",
		    (long long)h->redelivered + 1);
		return 1;
	}
	*fn = NULL;
	for (k = 0; k < evs->nsubs; k++)
		if (strcmp(evs->subs[k].type, ev->type) == 0)
			*fn = evs->subs[k].fn;
	if (*fn == NULL) {
		snprintf(h->reason, sizeof(h->reason), "no handler for %s", ev->type);
		return 1;
	}
	return 0;
}

/*
 * Runs fn on held entry h once, in the inbox's transaction. Returns the verdict: ACK (to be
 * acked), RETRY (scheduled again), DEAD (h->dead set, h->reason written).
 */
static enum svc_event_verdict
svc_ev_apply(struct svc_events_rt *rt, struct svc_ev_cons *cs, struct svc_req *r,
    struct svc_ev_held *h, const struct svc_event *ev, svc_event_handler fn)
{
	struct svc_ev_apply	a = { rt, ev, fn, 0 };
	enum svc_event_verdict	v;
	int			rc;

	rc = svc_db_tx(r, svc_ev_apply_tx, &a);
	h->attempts++;
	v = svc_event_decide(rc, h->attempts, rt->conf.max_attempts);
#ifdef SVC_TEST_HOOKS
	/* The integration suite's crash between the commit and the ack (make test's build). */
	if (rc == SVC_OK && rt->conf.crash_before_ack > 0 &&
	    h->nth == (uint64_t)rt->conf.crash_before_ack) {
		svc_log(r, "warn", "SHOPLAB_EVENTS_CRASH_BEFORE_ACK: exiting after the "
		    "commit of %s", ev->id);
		_exit(3);
	}
#endif
	if (v == SVC_EVENT_RETRY) {
		svc_log(r, "warn", "event %s (%s) failed (%s, run %lld): retried later",
		    ev->id, ev->type, svc_err_name(rc), (long long)h->attempts);
		svc_ev_later(rt, cs, h, rc, svc_now_us());
		return v;
	}
	if (v == SVC_EVENT_ACK) {
		svc_ev_batch_record(rt, 1);
		if (a.duplicate)
			atomic_fetch_add(&rt->duplicates, 1);
		else {
			atomic_fetch_add(&rt->applied, 1);
			svc_ev_lag_record(rt, ev->occurred_at);
		}
		return v;
	}
	snprintf(h->reason, sizeof(h->reason), "handler failed: %s (%lld runs)",
	    svc_err_name(rc), (long long)h->attempts);
	h->dead = 1;
	return v;
}

/*
 * Records held entry h, decided dead, where ops can list and replay it (ev: NULL when the
 * envelope did not parse). Returns 0 recorded (ack it now), -1 not: the message stays with
 * us, unacked, and the record is tried again after a backoff.
 */
static int
svc_ev_record_dead(struct svc_events_rt *rt, struct svc_ev_cons *cs, struct svc_req *r,
    struct svc_ev_held *h, const struct svc_event *ev)
{
	struct svc_ev_dead	d;
	char			gen[37];
	int			rc;

	if (ev != NULL)
		d.id = ev->id;
	else if (h->msg_id[0] != '\0')
		d.id = h->msg_id;
	else {
		/* No id at all: one of our own, kept in the message so a retry writes one row. */
		if (svc_event_uuid(gen) != 0)
			snprintf(gen, sizeof(gen), "noid-%llu", (unsigned long long)h->tag);
		snprintf(h->msg_id, sizeof(h->msg_id), "%s", gen);
		d.id = h->msg_id;
	}
	d.type = ev != NULL ? ev->type : "";
	d.reason = h->reason;
	d.attempts = h->attempts > 0 ? h->attempts : 1;
	d.body = h->body;
	svc_ev_req(rt, r->w, r, "deadletter", cs->nreq++);
	if ((rc = svc_db_tx(r, svc_ev_dead_tx, &d)) != SVC_OK) {
		svc_log(r, "error", "event %s: recording the dead letter failed (%s): kept, tried "
		    "again later", d.id, svc_err_name(rc));
		svc_ev_later(rt, cs, h, rc, svc_now_us());
		return -1;
	}
	svc_log(r, "error", "event %s (%s) dead-lettered after %lld runs: %s", d.id, d.type,
	    (long long)d.attempts, h->reason);
	atomic_fetch_add(&rt->dead, 1);
	atomic_fetch_add(&rt->dead_rows, 1);
	return 0;
}

/*
 * Runs held entry i once: the handler (or, for one decided dead, the dead-letter record) and
 * settles it when there is an answer. Returns 0, or -1 when the connection failed (everything
 * held is redelivered on the next one; the inbox makes that harmless).
 */
static int
svc_ev_run(struct svc_events_rt *rt, struct svc_ev_cons *cs, struct svc_req *r, size_t i)
{
	struct svc_ev_held	*h = &cs->q.v[i];
	struct svc_event	 ev;
	const struct svc_event	*evp;
	svc_event_handler	 fn = NULL;
	int			 st, settle = 1;

	evp = svc_event_parse(h->body, h->len, &ev) == SVC_OK ? &ev : NULL;
	if (!h->dead && svc_ev_check(rt, h, evp, &fn) != 0)
		h->dead = 1;
	if (!h->dead && svc_ev_apply(rt, cs, r, h, evp, fn) == SVC_EVENT_RETRY)
		settle = 0;
	/* Dead: recorded where ops can list and replay it; acked only once that committed. */
	if (settle && h->dead && svc_ev_record_dead(rt, cs, r, h, evp) != 0)
		settle = 0;
	if (evp != NULL)
		svc_event_free(&ev);
	if (!settle)
		return 0;
	/* Acked, not rejected: <service>.dead gets only what the broker gave up on itself. */
	st = amqp_basic_ack(cs->c, SVC_EV_CHANNEL, h->tag, 0);
	svc_ev_heldq_remove(&cs->q, i);
	if (st != AMQP_STATUS_OK) {
		svc_log(NULL, "warn", "amqp consumer: settling a delivery: %s", amqp_error_string2(st));
		return -1;
	}
	return 0;
}

/* The index of the held delivery with this tag, or -1 (settled meanwhile). */
static long
svc_ev_held_find(const struct svc_ev_heldq *q, uint64_t tag)
{
	size_t i;

	for (i = 0; i < q->n; i++)
		if (q->v[i].tag == tag)
			return (long)i;
	return -1;
}

/*
 * A batch was rolled back: each of its deliveries runs alone, in tag order, by the path of
 * one delivery (svc_ev_run), so its verdict, retries and dead letter are what they would
 * have been without the batch. Stops when the consumer pauses (the database is away: the
 * rest wait, due) or the connection fails (-1). Returns 1 otherwise.
 */
static int
svc_ev_run_alone(struct svc_events_rt *rt, struct svc_ev_cons *cs, struct svc_req *r,
    const struct svc_ev_batch *b)
{
	size_t	k;
	long	i;

	for (k = 0; k < b->n && !cs->paused; k++) {
		if ((i = svc_ev_held_find(&cs->q, b->it[k].tag)) < 0)
			continue;
		svc_ev_req(rt, &rt->consumer_w, r, "consume", cs->nreq++);
		if (svc_ev_run(rt, cs, r, (size_t)i) != 0)
			return -1;
	}
	return 1;
}

/* Acks the committed batch (indices idx[0..n) of the held list): one multiple ack when it can. */
static int
svc_ev_batch_ack(struct svc_ev_cons *cs, const size_t *idx, size_t n)
{
	uint64_t	top = 0;
	size_t		k;
	int		st = AMQP_STATUS_OK;

	for (k = 0; k < n; k++)
		if (cs->q.v[idx[k]].tag > top)
			top = cs->q.v[idx[k]].tag;
	/* multiple=1 settles every unacked tag up to top: only when all of them are this batch. */
	if (svc_ev_heldq_ack_multiple(&cs->q, idx, n))
		st = amqp_basic_ack(cs->c, SVC_EV_CHANNEL, top, 1);
	else
		for (k = 0; k < n && st == AMQP_STATUS_OK; k++)
			st = amqp_basic_ack(cs->c, SVC_EV_CHANNEL, cs->q.v[idx[k]].tag, 0);
	return st;
}

/*
 * Applies the held deliveries that are due and never ran (up to SHOPLAB_EVENTS_APPLY_BATCH,
 * in tag order) in one transaction: each one's inbox row and effect, one commit, then one
 * ack. One decided dead before it runs is left to the single path (which records it). If
 * any handler fails, the transaction is rolled back and each runs alone (svc_ev_run_alone).
 * Returns 1 when it ran something, 0 when fewer than two could go together (the single path
 * runs then: a lone delivery is applied at once, alone), -1 when the connection failed.
 */
static int
svc_ev_run_batch(struct svc_events_rt *rt, struct svc_ev_cons *cs, struct svc_req *r,
    int64_t now)
{
	struct svc_ev_batch	 b = { cs->bit, 0 };
	struct svc_ev_held	*h;
	struct svc_ev_bitem	*it;
	size_t			 n, k, max;
	int			 rc, st, ret = 0;

	/* bidx and bit have room for the prefetch, which bounds what is held anyway. */
	max = (size_t)rt->conf.apply_batch < cs->q.cap ? (size_t)rt->conf.apply_batch : cs->q.cap;
	n = svc_ev_heldq_batch(&cs->q, now, max, cs->bidx);
	if (n < 2)
		return 0;
	for (k = 0; k < n; k++) {
		h = &cs->q.v[cs->bidx[k]];
		it = &b.it[b.n];
		it->parsed = svc_event_parse(h->body, h->len, &it->ev) == SVC_OK;
		if (svc_ev_check(rt, h, it->parsed ? &it->ev : NULL, &it->fn) != 0) {
			h->dead = 1;
			if (it->parsed)
				svc_event_free(&it->ev);
			it->parsed = 0;
			continue;
		}
		it->tag = h->tag;
		cs->bidx[b.n++] = cs->bidx[k];
	}
	if (b.n < 2)
		goto out;
	svc_ev_req(rt, &rt->consumer_w, r, "batch", cs->nreq++);
	if ((rc = svc_db_tx(r, svc_ev_batch_tx, &b)) != SVC_OK) {
		atomic_fetch_add(&rt->batch_rollbacks, 1);
		svc_log(r, "warn", "events consumer: a batch of %zu rolled back (%s): each runs "
		    "alone", b.n, svc_err_name(rc));
		ret = svc_ev_run_alone(rt, cs, r, &b);
		goto out;
	}
#ifdef SVC_TEST_HOOKS
	/* The integration suite's crash between the commit and the ack (make test's build). */
	for (k = 0; k < b.n && rt->conf.crash_before_ack > 0; k++)
		if (cs->q.v[cs->bidx[k]].nth == (uint64_t)rt->conf.crash_before_ack) {
			svc_log(r, "warn", "SHOPLAB_EVENTS_CRASH_BEFORE_ACK: exiting after the "
			    "commit of %s (a batch of %zu)", b.it[k].ev.id, b.n);
			_exit(3);
		}
#endif
	for (k = 0; k < b.n; k++) {
		cs->q.v[cs->bidx[k]].attempts++;
		if (b.it[k].duplicate)
			atomic_fetch_add(&rt->duplicates, 1);
		else {
			atomic_fetch_add(&rt->applied, 1);
			svc_ev_lag_record(rt, b.it[k].ev.occurred_at);
		}
	}
	svc_ev_batch_record(rt, b.n);
	st = svc_ev_batch_ack(cs, cs->bidx, b.n);
	for (k = b.n; k-- > 0;)
		svc_ev_heldq_remove(&cs->q, cs->bidx[k]);
	ret = 1;
	if (st != AMQP_STATUS_OK) {
		svc_log(NULL, "warn", "amqp consumer: settling a batch: %s", amqp_error_string2(st));
		ret = -1;
	}
out:
	for (k = 0; k < b.n; k++)
		if (b.it[k].parsed)
			svc_event_free(&b.it[k].ev);
	return ret;
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
svc_ev_consumer_lost(struct svc_events_rt *rt, struct svc_ev_cons *cs)
{
	svc_ev_close(&cs->c);
	svc_ev_lost(rt, SVC_EV_CONSUMER);
	svc_ev_heldq_clear(&cs->q);
	atomic_store(&rt->retries_waiting, 0);
}

/* Every few seconds while not paused: the dead-letter counts (svc_ev_dead_stats). */
static void
svc_ev_consumer_stats(struct svc_events_rt *rt, struct svc_ev_cons *cs, int64_t now)
{
	if (now < cs->stats_at || cs->paused)
		return;
	svc_ev_req(rt, &rt->consumer_w, &cs->r, "deadstats", cs->nreq++);
	if (svc_ev_dead_stats(rt, &cs->r, cs->c, &cs->chan2) != 0)
		svc_ev_consumer_lost(rt, cs);
	cs->stats_at = now + 5000000;
}

/* Opens the consumer's connection; on failure sleeps a growing backoff. 0 or -1. */
static int
svc_ev_consumer_connect(struct svc_events_rt *rt, struct svc_ev_cons *cs)
{
	if ((cs->c = svc_ev_consume_open(rt)) == NULL) {
		atomic_store(&rt->connected[1], 0);
		svc_ev_sleep(rt, cs->backoff);
		cs->backoff = cs->backoff * 2 > SVC_EV_BACKOFF_MAX_MS ? SVC_EV_BACKOFF_MAX_MS :
		    cs->backoff * 2;
		return -1;
	}
	cs->backoff = 100;
	cs->chan2 = 0;
	cs->stats_at = 0;
	atomic_store(&rt->connected[1], 1);
	atomic_fetch_add(&rt->connects[1], 1);
	return 0;
}

/* Paused and a probe is due: asks the database; an answer makes everything held due now. */
static void
svc_ev_probe(struct svc_events_rt *rt, struct svc_ev_cons *cs, int64_t now)
{
	svc_ev_req(rt, &rt->consumer_w, &cs->r, "probe", cs->nreq++);
	if (svc_db_ping(&cs->r) == SVC_OK) {
		svc_log(NULL, "info", "events consumer: the database answers: resumed (%zu held)",
		    cs->q.n);
		cs->paused = 0;
		cs->probes = 0;
		atomic_store(&rt->paused, 0);
		svc_ev_heldq_wake(&cs->q, now);
	} else {
		cs->probes++;
		svc_ev_pause(rt, cs, now);
	}
}

/*
 * Runs the held delivery due first, if any (and not paused): with the others due that can go
 * with it in one batch (svc_ev_run_batch) when it never ran, else alone. A retry or a dead
 * letter due before the next batch goes first, so a long burst does not hold it back. *tv:
 * how long the next read of the broker may wait (0 after a run, else until the next due
 * time, at most 250 ms).
 */
static void
svc_ev_consumer_step(struct svc_events_rt *rt, struct svc_ev_cons *cs, int64_t now,
    struct timeval *tv)
{
	int64_t	wait;
	long	i;
	int	ran;

	if (!cs->paused && (i = svc_ev_heldq_due(&cs->q, now)) >= 0) {
		ran = 0;
		if (cs->q.v[i].attempts == 0 && !cs->q.v[i].dead)
			ran = svc_ev_run_batch(rt, cs, &cs->r, now);
		if (ran == 0) {
			/* Alone: nothing batched (svc_ev_run_batch removed nothing, i holds). */
			svc_ev_req(rt, &rt->consumer_w, &cs->r, "consume", cs->nreq++);
			if (svc_ev_run(rt, cs, &cs->r, (size_t)i) != 0)
				ran = -1;
		}
		if (ran < 0)
			svc_ev_consumer_lost(rt, cs);
		atomic_store(&rt->retries_waiting, (long long)svc_ev_heldq_waiting(&cs->q));
		tv->tv_sec = 0;
		tv->tv_usec = 0;
		return;
	}
	/* Nothing to run now: wait for a delivery until the next due time. */
	wait = cs->paused ? cs->probe_at : svc_ev_heldq_next(&cs->q);
	wait = wait == INT64_MAX ? 250000 : wait - now;
	if (wait > 250000)
		wait = 250000;
	if (wait < 0)
		wait = 0;
	tv->tv_sec = 0;
	tv->tv_usec = (suseconds_t)wait;
}

/*
 * Reads one delivery (waiting up to *tv) into the held list; a lost link starts over.
 * Returns 1 when a delivery was read, 0 when none came, -1 when the link was lost.
 */
static int
svc_ev_receive_one(struct svc_events_rt *rt, struct svc_ev_cons *cs, struct timeval *tv)
{
	amqp_envelope_t		env;
	amqp_rpc_reply_t	x;
	char			mid[SVC_EVENT_ID_MAX + 1];
	long			k;

	amqp_maybe_release_buffers(cs->c);
	x = amqp_consume_message(cs->c, &env, tv, 0);
	if (x.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
	    x.library_error == AMQP_STATUS_TIMEOUT)
		return 0;
	if (x.reply_type != AMQP_RESPONSE_NORMAL) {
		/* A closed channel or connection, or a lost socket: start over. */
		if (x.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
		    x.library_error == AMQP_STATUS_HEARTBEAT_TIMEOUT)
			atomic_fetch_add(&rt->hb_timeouts, 1);
		(void)svc_ev_rpc_ok(x, "consume");
		svc_ev_consumer_lost(rt, cs);
		return -1;
	}
	svc_ev_msg_id(&env.message.properties, mid);
	if ((k = svc_ev_heldq_add(&cs->q, env.delivery_tag, (const char *)env.message.body.bytes,
	    env.message.body.len, mid, svc_ev_delivery_count(&env.message.properties),
	    svc_now_us())) >= 0)
		cs->q.v[k].nth = atomic_fetch_add(&rt->consumed, 1) + 1;
	if (k >= 0 && env.redelivered)
		atomic_fetch_add(&rt->redeliveries, 1);
	if (k < 0) {
		/* Out of memory (the prefetch bounds the count): the broker keeps it. */
		svc_log(NULL, "error", "events consumer: cannot hold a delivery: requeued");
		if (amqp_basic_nack(cs->c, SVC_EV_CHANNEL, env.delivery_tag, 0, 1) != AMQP_STATUS_OK) {
			amqp_destroy_envelope(&env);
			svc_ev_consumer_lost(rt, cs);
			return -1;
		}
	}
	amqp_destroy_envelope(&env);
	return 1;
}

/*
 * Reads a delivery (waiting up to *tv), then, without waiting, every further one the library
 * has read from the socket already (up to the prefetch), so that a burst is held together
 * and can be applied as one batch. Never waits for more to fill a batch.
 */
static void
svc_ev_receive(struct svc_events_rt *rt, struct svc_ev_cons *cs, struct timeval *tv)
{
	struct timeval	zero = { 0, 0 };
	int		got;

	got = svc_ev_receive_one(rt, cs, tv);
	while (got == 1 && cs->c != NULL && cs->q.n < cs->q.cap &&
	    (amqp_frames_enqueued(cs->c) || amqp_data_in_buffer(cs->c)))
		got = svc_ev_receive_one(rt, cs, &zero);
}

/*
 * The consumer: reads deliveries into its held list (at most the prefetch, so the broker
 * sends no more while they wait), runs each when due, and keeps a failed one unacked until
 * its backoff ends. While the database is away it runs nothing and probes the database with
 * a growing backoff instead; when a probe answers, everything held is due at once.
 */
void *
svc_ev_consumer_main(void *arg)
{
	struct svc_events_rt	*rt = arg;
	struct svc_ev_cons	*cs;
	struct timeval		 tv;
	int64_t			 now;

	if ((cs = calloc(1, sizeof(*cs))) == NULL)
		goto fail;
	if (svc_ev_heldq_init(&cs->q, (size_t)rt->conf.prefetch) != 0 ||
	    (cs->bidx = calloc((size_t)rt->conf.prefetch, sizeof(*cs->bidx))) == NULL ||
	    (cs->bit = calloc((size_t)rt->conf.prefetch, sizeof(*cs->bit))) == NULL)
		goto fail;
	cs->rng = (uint64_t)svc_now_us() | 1;
	cs->backoff = 100;
	while (!svc_ev_stopping(rt)) {
		now = svc_now_us();
		svc_ev_consumer_stats(rt, cs, now);
		if (cs->c == NULL && svc_ev_consumer_connect(rt, cs) != 0)
			continue;
		if (cs->paused && now >= cs->probe_at)
			svc_ev_probe(rt, cs, now);
		svc_ev_consumer_step(rt, cs, now, &tv);
		if (cs->c != NULL)
			svc_ev_receive(rt, cs, &tv);
	}
	svc_ev_close(&cs->c);
	goto out;
fail:
	svc_log(NULL, "error", "events consumer: out of memory");
out:
	if (cs != NULL) {
		svc_ev_heldq_free(&cs->q);
		free(cs->bidx);
		free(cs->bit);
	}
	free(cs);
	return NULL;
}
