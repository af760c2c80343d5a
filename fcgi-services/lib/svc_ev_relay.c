/* svc_ev_relay.c - the transactional outbox: svc_outbox_add, and the relay thread that publishes it with confirms */
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <amqp.h>

#include "svc_db_int.h"
#include "svc_wake_int.h"
#include "svc_ev_internal.h"

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
			r->w->after_commit = 1;	/* the relay's wake (svc_ev_runtime.c) */
	} else
		svc_log(r, "error", "event %s not built: %s", type, svc_err_name(rc));
	svc_buf_free(&b);
	return rc;
}

int
svc_outbox_add_json(struct svc_req *r, const char *type, int64_t key_id, json_object *data,
    int bad)
{
	char	key[24];
	int	rc = SVC_ERR_NOMEM;

	if (data != NULL && !bad) {
		snprintf(key, sizeof(key), "%lld", (long long)key_id);
		rc = svc_outbox_add(r, type, key,
		    json_object_to_json_string_ext(data, JSON_C_TO_STRING_PLAIN));
	}
	json_object_put(data);
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

	/*
	 * READ COMMITTED: the locking read then locks the rows it returns and no gap. Under
	 * REPEATABLE READ it also locked the end of the index while it waited for the broker's
	 * confirms, and every transaction adding an event (a checkout's last step) waited.
	 */
	if (svc_db_begin(r, SVC_DB_READ_COMMITTED) != SVC_OK)
		return -2;
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
	if (svc_ev_outbox_delete(r, seqs, n) != SVC_OK || svc_db_end(r, SVC_DB_COMMIT) != SVC_OK) {
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
		(void)svc_db_end(r, SVC_DB_ROLLBACK);
	return rc;
}

/*
 * The idle relay's next poll: doubled from the last, between min and max. Its own process's
 * commits wake it at once (svc_wake), so the poll only finds rows another instance left (one
 * that died before relaying them): an idle stack need not ask MariaDB 20 times a second per
 * publisher for them. Any batch with rows starts again at min.
 */
long long
svc_ev_next_poll(long long last, long long min, long long max)
{
	long long next = last * 2;

	if (next < min)
		next = min;
	return next > max ? (max > min ? max : min) : next;
}

/*
 * How long the relay waits after a batch of n rows (limit: the batch's size), 0 for not at
 * all; *idle is the wait of the next empty batch. A full batch goes again at once (more rows
 * are waiting). A short one found every row that was committed when it looked: the rows
 * committed since have woken the relay already (svc_wake keeps a post made before the wait),
 * so a second look at once would find nothing (it cost a transaction of four statements per
 * batch). It waits as an empty one would at first, the shortest poll. An empty batch waits
 * *idle, which doubles up to max.
 */
long long
svc_ev_relay_wait(int n, int limit, long long *idle, long long min, long long max)
{
	long long wait;

	if (n > 0) {
		*idle = min;
		return n >= limit ? 0 : min;
	}
	wait = *idle;
	*idle = svc_ev_next_poll(*idle, min, max);
	return wait;
}

void *
svc_ev_relay_main(void *arg)
{
	struct svc_events_rt	*rt = arg;
	amqp_connection_state_t	 c = NULL;
	struct svc_req		 r;
	unsigned long		 i = 0;
	uint64_t		 tag = 0;
	long long		 backoff = 100, nack_backoff = 50, idle = rt->conf.poll_ms, wait;
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
		else if ((wait = svc_ev_relay_wait(n, rt->conf.batch, &idle, rt->conf.poll_ms,
		    rt->conf.poll_max_ms)) > 0)
			svc_ev_idle(rt, wait);
	}
	svc_ev_close(&c);
	return NULL;
}
