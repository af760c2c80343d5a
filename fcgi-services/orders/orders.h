/* orders.h - the orders service: checkout with an orchestrated saga, and the caller's orders */
#ifndef ORDERS_H
#define ORDERS_H

#include <stdint.h>

#include "svc.h"
#include "svc_events.h"
#include "svc_card.h"

enum orders_stmt {
	ORD_FIND_KEY,
	ORD_INSERT,
	ORD_INSERT_ITEM,
	ORD_GET,
	ORD_GET_OWNED,
	ORD_SET_STATE,
	ORD_SWEEP_CARDS,
	ORD_STORE_RESPONSE,
	ORD_RESCHEDULE,
	ORD_DUE,
	ORD_CLAIM,
	ORD_LIST,
	ORD_SHIPPED,
	ORD_EXISTS,
	ORD_SHIP_CREATED,
	ORD_SAGA_GAUGE,
	ORD_NSTMTS
};

extern const char *const orders_stmts[ORD_NSTMTS];

#define ORDERS_MAX_ITEMS	50
#define ORDERS_KEY_MAX		64
#define ORDERS_CARD_KEY_MIN	32
#define ORDERS_REASON_MAX	64

struct orders_state {
	char		*card_key;	/* secret the card encryption key is derived from */
	long long	 lease_ms;	/* how long a worker owns a saga step before another may */
	long long	 batch;		/* sagas the recovery worker takes per round */
	long long	 give_up_s;	/* a step with no answer this long after the order: compensate */
	int		 swept;		/* recovery worker only: old cards cleared at start */
	unsigned char	 aes_key[32];
};

struct orders_item {
	int64_t	product_id;
	int64_t	quantity;
	int64_t	unit_price_cents;
};

/*
 * The saga's rules: one pure function (orders_rules.c), unit tested rule by rule. Each state
 * names the step taken in it; every (state, answer) pair leads somewhere, and every path
 * ends: forward steps give up after give_up_s, compensation after twice that.
 */
enum orders_sstate {
	ORD_S_PENDING,		/* reserve next */
	ORD_S_RESERVED,		/* charge next */
	ORD_S_CHARGED,		/* commit next */
	ORD_S_UNCOMMITTING,	/* after a charge: release; "already committed" confirms */
	ORD_S_COMPENSATING,	/* release next, then void */
	ORD_S_VOIDING,		/* void next, then rejected */
	ORD_S_DONE,		/* terminal: confirmed or rejected */
	ORD_S_N
};

/* What a step's call came to. */
enum orders_aclass {
	ORD_A_OK,		/* 2xx */
	ORD_A_NO,		/* a definite answer other than success (4xx) */
	ORD_A_UNKNOWN,		/* no answer, or one that may hide an effect: ask again */
	ORD_A_NO_CARD,		/* charge only: the card is gone, nothing can be charged */
};

struct orders_answer {
	enum orders_aclass	 cls;
	int			 status;	/* HTTP status when cls is ORD_A_NO */
	const char		*code;		/* its error code, or NULL */
};

enum orders_act {
	ORD_GO,			/* take the next step now */
	ORD_WAIT,		/* stay; the recovery worker asks again later */
	ORD_END,		/* terminal */
};

struct orders_rule {
	enum orders_sstate	 next;
	const char		*status;	/* the order's status after the move */
	enum orders_act		 act;
	char			 reason[ORDERS_REASON_MAX + 1];	/* "" keeps the stored one */
	int			 drop_card;	/* the sealed card is no longer needed */
	int			 alarm;		/* an answer no rule expected: log as an error */
};

struct orders_rule orders_rule(enum orders_sstate st, const struct orders_answer *a,
	int64_t age_s, int64_t give_up_s);
const char *orders_state_name(enum orders_sstate s);
/* The step taken in state s: "reserve", "charge", "commit", "release", "void" or "none". */
const char *orders_step_name(enum orders_sstate s);
int orders_state_parse(const char *name, enum orders_sstate *out);

/* One order as the saga sees it. */
struct orders_saga {
	int64_t			 id;
	int64_t			 user_id;
	char			 status[16];
	enum orders_sstate	 state;
	char			 reason[ORDERS_REASON_MAX + 1];
	int64_t			 total_cents;
	char			 currency[4];
	int64_t			 age_s;
	char			 created_at[40];
	int64_t			 shipment_id;	/* 0 until shipment.created or .dispatched */
	char			 shipped_at[40];
	size_t			 nitems;
	struct orders_item	 items[ORDERS_MAX_ITEMS];
	json_object		*card;		/* decrypted card, or NULL once dropped */
	int			 answering;	/* a request waits: the end stores its reply */
	json_object		*reply;		/* that reply, stored with the terminal move */
	int			 reply_status;
};

int orders_create(struct svc_req *r);
/* The checkout's reply for s (finished: the saga ended) and its HTTP status; NULL: no memory. */
json_object *orders_reply_json(struct svc_req *r, const struct orders_saga *s, int finished,
	int *status);
int orders_get(struct svc_req *r);
int orders_list(struct svc_req *r);
/* /metrics: pending sagas and the oldest one's age (orders_metrics.c). */
int orders_metrics(struct svc_req *r, struct svc_buf *out);
int orders_recover(struct svc_req *r);
/* Events (orders_events.c): shipment.dispatched moves a confirmed order to shipped. */
int orders_on_dispatched(struct svc_req *r, const struct svc_event *ev);
/* shipment.created gives a confirmed order its shipment id (dispatched_at still null). */
int orders_on_shipment_created(struct svc_req *r, const struct svc_event *ev);
/* Adds order.confirmed or order.rejected for s to the outbox (inside the move's transaction). */
int orders_outbox_terminal(struct svc_req *r, const struct orders_saga *s);

/* Loads order id (any owner when user_id is 0) with its items; SVC_ERR_NOT_FOUND if absent. */
int orders_load(struct svc_req *r, int64_t id, int64_t user_id, struct orders_saga *s);
void orders_saga_free(struct orders_saga *s);
/* The order as the API shows it; a new reference. */
json_object *orders_json(const struct orders_saga *s);
/* [{product_id, quantity}] of the order's lines (a reservation's, order.confirmed's). */
json_object *orders_items_json(const struct orders_saga *s);

/*
 * Drives the saga of s as far as its dependencies allow within the request's deadline.
 * Returns SVC_OK when it reached a terminal state (s->status confirmed or rejected),
 * SVC_ERR_UNAVAILABLE when a step's outcome is unknown or a dependency is down (the saga
 * stays pending for the recovery worker), or another error for a database failure.
 */
int orders_saga_run(struct svc_req *r, struct orders_saga *s);

/* Card sealing: AES-256-GCM with the order's idempotency key as associated data. */
int orders_card_seal(const unsigned char key[32], const char *aad, const char *plain,
	unsigned char *out, size_t outlen, size_t *len);
int orders_card_open(const unsigned char key[32], const char *aad, const unsigned char *in,
	size_t len, char *out, size_t outlen);

/* Validates the checkout body: items (1..50, distinct products, quantity 1..1000) and card. */
int orders_parse_items(struct svc_req *r, json_object *body, struct orders_item *items,
	size_t *nitems);

#endif /* ORDERS_H */
