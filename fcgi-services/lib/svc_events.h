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
 * in ONE transaction, then acks. A duplicate id is acked and counted; a handler failure is
 * requeued up to SHOPLAB_EVENTS_MAX_ATTEMPTS deliveries, then dead-lettered (recorded in
 * `dead_letters`, rejected to <service>.dead); an unparseable message is dead-lettered at once.
 * Tables: outbox, inbox, dead_letters in sql/<service>.sql. Envelopes and schemas: docs/events.md.
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
 * apply), anything else rolls back and is retried by redelivery.
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

/* Pure parts (svc_event.c), unit-tested. */

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
/* 1 when type is 1..64 of [a-z0-9_.] with a dot, not at either end. */
int svc_event_type_valid(const char *type);

/* What the consumer does with a message after its handler ran. */
enum svc_event_verdict {
	SVC_EVENT_ACK,		/* applied (or a duplicate): ack */
	SVC_EVENT_REQUEUE,	/* failed, attempts left: nack and requeue */
	SVC_EVENT_DEAD,		/* failed for good: record and reject to the dead-letter queue */
};

/*
 * rc: the handler's transaction result. delivery_count: deliveries before this one (the
 * quorum queue's x-delivery-count, 0 on the first). max_attempts >= 1.
 */
enum svc_event_verdict svc_event_decide(int rc, int64_t delivery_count, int64_t max_attempts);

#endif /* SVC_EVENTS_H */
