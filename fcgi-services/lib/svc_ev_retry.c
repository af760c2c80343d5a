/* svc_ev_retry.c - the consumer's failure kinds, retry schedule and held (unacked) deliveries */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "svc.h"
#include "svc_resilience.h"
#include "svc_events.h"

enum svc_event_outcome
svc_event_classify(int rc)
{
	switch (rc) {
	case SVC_OK:
		return SVC_EVENT_APPLIED;
	case SVC_ERR_DB_UNAVAILABLE:	/* database away, connection lost */
	case SVC_ERR_DB_RETRY:		/* deadlock, lock wait timeout */
	case SVC_ERR_UNAVAILABLE:	/* a dependency down, open or saturated (5xx) */
	case SVC_ERR_TIMEOUT:		/* the deadline passed */
	case SVC_ERR_NOMEM:
		return SVC_EVENT_TRANSIENT;
	case SVC_ERR_INVALID:		/* bad data, unknown version: can never apply */
		return SVC_EVENT_PERMANENT;
	default:			/* SVC_ERR_INTERNAL, NOT_FOUND, CONFLICT, ...: a bug */
		return SVC_EVENT_FAULT;
	}
}

int
svc_event_db_away(int rc)
{
	return rc == SVC_ERR_DB_UNAVAILABLE;
}

enum svc_event_verdict
svc_event_decide(int rc, int64_t attempts, int64_t max_attempts)
{
	switch (svc_event_classify(rc)) {
	case SVC_EVENT_APPLIED:
		return SVC_EVENT_ACK;
	case SVC_EVENT_TRANSIENT:
		return SVC_EVENT_RETRY;
	case SVC_EVENT_PERMANENT:
		return SVC_EVENT_DEAD;
	case SVC_EVENT_FAULT:
	default:
		if (max_attempts < 1)
			max_attempts = 1;
		return attempts >= max_attempts ? SVC_EVENT_DEAD : SVC_EVENT_RETRY;
	}
}

int64_t
svc_event_retry_ms(int retry, int64_t min_ms, int64_t max_ms, uint64_t *rng)
{
	int64_t ceiling;

	if (min_ms < 1)
		min_ms = 1;
	if (max_ms < min_ms)
		max_ms = min_ms;
	ceiling = svc_backoff_ceiling(min_ms, max_ms, retry);
	/* Full jitter over the range, above the floor: never a spin. */
	return min_ms + (int64_t)(svc_rand64(rng) % (uint64_t)(ceiling - min_ms + 1));
}

/* ---------------------------------------------------------------- held deliveries */

int
svc_ev_heldq_init(struct svc_ev_heldq *q, size_t cap)
{
	q->n = 0;
	q->cap = cap;
	if ((q->v = calloc(cap > 0 ? cap : 1, sizeof(*q->v))) == NULL)
		return -1;
	return 0;
}

void
svc_ev_heldq_clear(struct svc_ev_heldq *q)
{
	size_t i;

	for (i = 0; i < q->n; i++)
		free(q->v[i].body);
	q->n = 0;
}

void
svc_ev_heldq_free(struct svc_ev_heldq *q)
{
	if (q->v != NULL)
		svc_ev_heldq_clear(q);
	free(q->v);
	q->v = NULL;
	q->cap = 0;
}

long
svc_ev_heldq_add(struct svc_ev_heldq *q, uint64_t tag, const char *body, size_t len,
    const char *msg_id, int64_t redelivered, int64_t now_us)
{
	struct svc_ev_held *h;

	if (q->n >= q->cap)
		return -1;
	h = &q->v[q->n];
	memset(h, 0, sizeof(*h));
	if ((h->body = malloc(len + 1)) == NULL)
		return -1;
	if (len > 0)
		memcpy(h->body, body, len);
	h->body[len] = '\0';
	h->len = len;
	h->tag = tag;
	if (msg_id != NULL && strlen(msg_id) <= SVC_EVENT_ID_MAX)
		memcpy(h->msg_id, msg_id, strlen(msg_id) + 1);
	h->redelivered = redelivered < 0 ? 0 : redelivered;
	h->due_us = now_us;
	return (long)q->n++;
}

void
svc_ev_heldq_remove(struct svc_ev_heldq *q, size_t i)
{
	if (i >= q->n)
		return;
	free(q->v[i].body);
	/* Keep the order of arrival: the oldest wins a tie in svc_ev_heldq_due. */
	memmove(&q->v[i], &q->v[i + 1], (q->n - i - 1) * sizeof(*q->v));
	q->n--;
}

long
svc_ev_heldq_due(const struct svc_ev_heldq *q, int64_t now_us)
{
	long	best = -1;
	size_t	i;

	for (i = 0; i < q->n; i++)
		if (q->v[i].due_us <= now_us && (best < 0 || q->v[i].due_us < q->v[best].due_us))
			best = (long)i;
	return best;
}

int64_t
svc_ev_heldq_next(const struct svc_ev_heldq *q)
{
	int64_t	next = INT64_MAX;
	size_t	i;

	for (i = 0; i < q->n; i++)
		if (q->v[i].due_us < next)
			next = q->v[i].due_us;
	return next;
}

size_t
svc_ev_heldq_waiting(const struct svc_ev_heldq *q)
{
	size_t i, n = 0;

	for (i = 0; i < q->n; i++)
		if (q->v[i].attempts > 0 || q->v[i].dead)
			n++;
	return n;
}

void
svc_ev_heldq_wake(struct svc_ev_heldq *q, int64_t now_us)
{
	size_t i;

	for (i = 0; i < q->n; i++)
		if (q->v[i].due_us > now_us)
			q->v[i].due_us = now_us;
}

size_t
svc_ev_heldq_batch(const struct svc_ev_heldq *q, int64_t now_us, size_t max, size_t *idx)
{
	size_t i, n = 0;

	for (i = 0; i < q->n && n < max; i++)
		if (q->v[i].due_us <= now_us && q->v[i].attempts == 0 && !q->v[i].dead &&
		    q->v[i].redelivered == 0)
			idx[n++] = i;
	return n;
}

int
svc_ev_heldq_ack_multiple(const struct svc_ev_heldq *q, const size_t *idx, size_t n)
{
	uint64_t	top = 0;
	size_t		i, k;

	if (n == 0)
		return 0;
	for (k = 0; k < n; k++)
		if (idx[k] < q->n && q->v[idx[k]].tag > top)
			top = q->v[idx[k]].tag;
	/* Every held entry at or below the top tag must be one of the batch. */
	for (i = 0, k = 0; i < q->n; i++) {
		while (k < n && idx[k] < i)
			k++;
		if (k < n && idx[k] == i)
			continue;
		if (q->v[i].tag <= top)
			return 0;
	}
	return 1;
}
