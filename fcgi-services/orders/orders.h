/* orders.h - the orders service: checkout with an orchestrated saga, and the caller's orders */
#ifndef ORDERS_H
#define ORDERS_H

#include <stdint.h>

#include "svc.h"

enum orders_stmt {
	ORD_FIND_KEY,
	ORD_INSERT,
	ORD_INSERT_ITEM,
	ORD_GET,
	ORD_GET_OWNED,
	ORD_ITEMS,
	ORD_SET_STATE,
	ORD_DROP_CARD,
	ORD_STORE_RESPONSE,
	ORD_RESCHEDULE,
	ORD_DUE,
	ORD_CLAIM,
	ORD_LIST,
	ORD_NSTMTS
};

extern const char *const orders_stmts[ORD_NSTMTS];

#define ORDERS_MAX_ITEMS	50
#define ORDERS_KEY_MAX		64
#define ORDERS_CARD_KEY_MIN	32

struct orders_state {
	char		*card_key;	/* secret the card encryption key is derived from */
	long long	 lease_ms;	/* how long a worker owns a saga step before another may */
	long long	 batch;		/* sagas the recovery worker takes per round */
	long long	 give_up_s;	/* a saga that cannot charge for this long is compensated */
	unsigned char	 aes_key[32];
};

struct orders_item {
	int64_t	product_id;
	int64_t	quantity;
	int64_t	unit_price_cents;
};

/* One order as the saga sees it. */
struct orders_saga {
	int64_t			 id;
	int64_t			 user_id;
	char			 status[16];
	char			 state[16];
	char			 reason[33];
	int64_t			 total_cents;
	char			 currency[4];
	int64_t			 age_s;
	char			 created_at[40];
	size_t			 nitems;
	struct orders_item	 items[ORDERS_MAX_ITEMS];
	json_object		*card;		/* decrypted card, or NULL once dropped */
};

int orders_create(struct svc_req *r);
int orders_get(struct svc_req *r);
int orders_list(struct svc_req *r);
int orders_recover(struct svc_req *r);

/* Loads order id (any owner when user_id is 0) with its items; SVC_ERR_NOT_FOUND if absent. */
int orders_load(struct svc_req *r, int64_t id, int64_t user_id, struct orders_saga *s);
void orders_saga_free(struct orders_saga *s);
/* The order as the API shows it; a new reference. */
json_object *orders_json(const struct orders_saga *s);

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
