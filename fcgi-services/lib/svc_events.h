/* svc_events.h - events over RabbitMQ: a transactional outbox with a relay, idempotent consumers */
#ifndef SVC_EVENTS_H
#define SVC_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "svc.h"

/*
 * Opt-in: a service that publishes or consumes events sets svc_service.events. Publishing:
 * svc_outbox_add inside a svc_db_tx writes the envelope to the service's own `outbox` table
 * in the same transaction as the change; the relay thread publishes it to the topic exchange
 * shoplab.events with publisher confirms and deletes the row once the broker has confirmed
 * it (at-least-once). Consuming: the consumer thread reads the queue <service>.events with
 * manual acks; for each message it inserts the message id into `inbox` and runs the handler
 * in ONE transaction, then acks. A duplicate id is acked and counted; a transient failure is
 * kept unacked and retried after an exponential backoff (no limit; the consumer pauses while
 * its database is away); a fault is retried up to SHOPLAB_EVENTS_MAX_ATTEMPTS runs; then, or at
 * once for a permanent failure, the message is dead-lettered: recorded in `dead_letters`
 * (retried until that commits), then acked. Replay republishes a recorded one (docs/events.md).
 * Tables: outbox, inbox, dead_letters from sql/events/ (the migrator applies them to the service).
 * Envelopes and schemas: docs/events.md.
 */

#define SVC_EVENT_VERSION	1
#define SVC_EVENT_ID_MAX	64
#define SVC_EVENT_TYPE_MAX	64
#define SVC_EVENT_KEY_MAX	128
#define SVC_EVENT_BODY_MAX	65536

/* A parsed envelope. Strings point into root, which svc_event_free releases. */
struct svc_event {
	json_object	*root;
	const char	*id;
	const char	*type;
	int64_t		 version;
	const char	*occurred_at;
	const char	*source;
	const char	*key;
	json_object	*data;		/* an object */
};

/*
 * A handler applies one event inside the consumer's transaction (the inbox row is already
 * inserted): SVC_OK commits, SVC_ERR_INVALID dead-letters at once (the event can never
 * apply), anything else rolls back and is retried later (svc_event_classify).
 */
typedef int (*svc_event_handler)(struct svc_req *r, const struct svc_event *ev);

struct svc_event_sub {
	const char		*type;		/* "order.confirmed" */
	svc_event_handler	 fn;
};

struct svc_events {
	int				 publishes;	/* run the outbox relay */
	const struct svc_event_sub	*subs;		/* consume <service>.events */
	size_t				 nsubs;
};

/*
 * Adds an event to the outbox. Call it inside the transaction that makes the change (fn of
 * svc_db_tx); data_json is a JSON object. Returns SVC_OK or the database error; outside a
 * transaction it returns SVC_ERR_INTERNAL and writes nothing.
 */
int svc_outbox_add(struct svc_req *r, const char *type, const char *key, const char *data_json);
/*
 * The same with data as a JSON object (consumed), built with svc_json_add (bad: an add
 * failed), keyed by the decimal id: SVC_ERR_NOMEM, nothing written, when bad or data is NULL.
 */
int svc_outbox_add_json(struct svc_req *r, const char *type, int64_t key_id, json_object *data,
	int bad);

/* Pure parts (svc_ev_envelope.c), unit-tested. */

/* Writes a new random (version 4) UUID as 36 characters and a NUL. Returns 0 or -1. */
int svc_event_uuid(char out[37]);
/* UTC time of wall_us as 2026-11-30T12:00:00.123456Z (28 bytes with NUL). */
void svc_event_time(int64_t wall_us, char out[32]);
/*
 * Builds the envelope {id,type,version,occurred_at,source,key,data} into out (reset first).
 * Returns SVC_OK, SVC_ERR_INVALID (bad type, key or data not a JSON object) or SVC_ERR_NOMEM.
 */
int svc_event_build(const char *id, const char *type, int version, const char *occurred_at,
	const char *source, const char *key, const char *data_json, struct svc_buf *out);
/* Parses and checks an envelope. Returns SVC_OK (free with svc_event_free) or SVC_ERR_INVALID. */
int svc_event_parse(const char *body, size_t len, struct svc_event *ev);
void svc_event_free(struct svc_event *ev);
/* Parses svc_event_time's format (fraction optional, 1..9 digits) into *wall_us; 0 or -1. */
int svc_event_time_parse(const char *s, int64_t *wall_us);
/* A positive integer member of an event's data (order_id...), or 0 when it is not one. */
int64_t svc_event_data_id(const struct svc_event *ev, const char *name);
/* 1 when type is 1..64 of [a-z0-9_.] with a dot, not at either end. */
int svc_event_type_valid(const char *type);

/* What the consumer does with a message after its handler ran (svc_ev_retry.c). */
enum svc_event_verdict {
	SVC_EVENT_ACK,		/* applied (or a duplicate): ack */
	SVC_EVENT_RETRY,	/* failed, may apply later: keep it unacked, try again after a backoff */
	SVC_EVENT_DEAD,		/* failed for good: record in dead_letters, then ack */
};

/* The kind of a handler's transaction result. */
enum svc_event_outcome {
	SVC_EVENT_APPLIED,	/* SVC_OK */
	SVC_EVENT_TRANSIENT,	/* database or dependency away, lock wait, deadlock, timeout, memory */
	SVC_EVENT_PERMANENT,	/* can never apply: SVC_ERR_INVALID (bad data, unknown version) */
	SVC_EVENT_FAULT,	/* anything else (a bug): retried, dead after max_attempts */
};

enum svc_event_outcome svc_event_classify(int rc);
/* 1 when rc says the service's own database is away: the consumer pauses (breaker). */
int svc_event_db_away(int rc);

/*
 * rc: the handler's transaction result. attempts: how many times it ran, this one included
 * (>= 1). Transient failures are retried without a limit; a fault up to max_attempts runs;
 * a permanent failure is dead at once.
 */
enum svc_event_verdict svc_event_decide(int rc, int64_t attempts, int64_t max_attempts);

/* Retry delays: exponential with full jitter above a floor, SVC_EV_RETRY_MIN_MS .. _MAX_MS. */
#define SVC_EV_RETRY_MIN_MS	100
#define SVC_EV_RETRY_MAX_MS	30000
/*
 * The delay before retry number retry (0 for the first) in ms: uniform in
 * [min_ms, min(max_ms, min_ms * 2^retry)]. rng: the caller's xorshift state (nonzero).
 */
int64_t svc_event_retry_ms(int retry, int64_t min_ms, int64_t max_ms, uint64_t *rng);

/*
 * Deliveries the consumer holds unacked (at most its prefetch): each waits for its first run
 * or its next retry at due_us (the consumer's clock, injectable in tests).
 */
struct svc_ev_held {
	uint64_t	 tag;		/* the channel's delivery tag */
	char		*body;		/* a NUL-terminated copy */
	size_t		 len;
	char		 msg_id[SVC_EVENT_ID_MAX + 1];	/* AMQP message_id when valid, else "" */
	int64_t		 redelivered;	/* x-delivery-count: deliveries before this one */
	int64_t		 attempts;	/* handler runs so far */
	int64_t		 due_us;
	uint64_t	 nth;		/* the consumer's count of deliveries at this one */
	int		 dead;		/* decided dead: the dead_letters row is still to be written */
	char		 reason[128];
};

struct svc_ev_heldq {
	struct svc_ev_held	*v;
	size_t			 n, cap;
};

int  svc_ev_heldq_init(struct svc_ev_heldq *q, size_t cap);
void svc_ev_heldq_free(struct svc_ev_heldq *q);
/* Forgets every held delivery (the connection is gone: the broker requeued them). */
void svc_ev_heldq_clear(struct svc_ev_heldq *q);
/* Copies a delivery in, due at now_us. Returns its index, or -1 (full or no memory). */
long svc_ev_heldq_add(struct svc_ev_heldq *q, uint64_t tag, const char *body, size_t len,
	const char *msg_id, int64_t redelivered, int64_t now_us);
/* Removes entry i (settled). */
void svc_ev_heldq_remove(struct svc_ev_heldq *q, size_t i);
/* The index of the entry due first at or before now_us (the oldest tag on a tie), or -1. */
long svc_ev_heldq_due(const struct svc_ev_heldq *q, int64_t now_us);
/* The earliest due time, or INT64_MAX when empty. */
int64_t svc_ev_heldq_next(const struct svc_ev_heldq *q);
/* Entries that ran at least once and wait for a retry. */
size_t svc_ev_heldq_waiting(const struct svc_ev_heldq *q);
/* Makes every entry due at now_us at the latest (the database is back). */
void svc_ev_heldq_wake(struct svc_ev_heldq *q, int64_t now_us);
/*
 * One transaction's worth (the consumer's batch): the entries due at now_us that never ran and
 * are not decided dead, in the order of arrival (their delivery tags' order), at most max.
 * Their indices go to idx (room for max); returns how many. A retry or a dead letter is not
 * batched: it runs alone, as it did before batches. Nor is a redelivery (x-delivery-count > 0):
 * after a consumer died holding a batch, each of its deliveries runs alone, so the crash-loop
 * guard counts the one that kills the consumer, not the deliveries batched beside it.
 */
size_t svc_ev_heldq_batch(const struct svc_ev_heldq *q, int64_t now_us, size_t max, size_t *idx);
/*
 * 1 when one basic.ack with multiple=1 on the highest tag of entries idx[0..n) (ascending
 * indices) settles exactly them: no other held entry has a lower tag (a multiple ack would
 * settle it too, e.g. one waiting for its retry). 0 otherwise, or for n == 0.
 */
int svc_ev_heldq_ack_multiple(const struct svc_ev_heldq *q, const size_t *idx, size_t n);

#endif /* SVC_EVENTS_H */
