/* sim_check.h - the invariant checker: pure logic over rows read from the databases and the client's record */
#ifndef SIM_CHECK_H
#define SIM_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum sim_order_status { SIM_O_PENDING, SIM_O_CONFIRMED, SIM_O_REJECTED };
enum sim_charge_status { SIM_C_CAPTURED, SIM_C_DECLINED, SIM_C_VOIDED };
/* RELEASED stands for every end that holds nothing and sold nothing: released, expired, ... */
enum sim_resv_status { SIM_R_HELD, SIM_R_COMMITTED, SIM_R_RELEASED };

/* The status columns as the checker counts them. A status it does not know is read as the
 * safe side: an order as pending (not finished), a reservation as ended (holds nothing). */
enum sim_order_status sim_check_order_status(const char *s);
enum sim_resv_status sim_check_resv_status(const char *s);

struct sim_ck_order {
	int64_t id, user_id, total_cents;
	enum sim_order_status status;
	char key[65];
	bool shipped;           /* status is 'shipped' (counted as confirmed by the rules above) */
};

/* Events (read by sim_check_read_events; see the event invariants below). */
struct sim_ck_shipment {
	int64_t id, order_id, user_id;
	bool dispatched;
};

/* One service's outbox: rows not yet confirmed by the broker, and the oldest one's age. */
struct sim_ck_outbox {
	char service[32];
	int64_t depth;
	double oldest_s;
};

/* A dead letter (a service's dead_letters row), or (applied = true) a message id that is in
 * the service's inbox (applied) and in its dead letters (given up) both. */
struct sim_ck_dead {
	char service[32];
	char msg_id[65];
	char type[65];
	char reason[129];
	int attempts;
	char at[32];
	bool applied;
};

#define SIM_CK_MAX_SERVICES 16

struct sim_ck_events {
	bool read;              /* sim_check_read_events filled this */
	char na_events[256];    /* not read, and why (else: "not read by this check") */
	char na_shipping[256];  /* non-empty: no shipping database here, and why */
	char na_outbox[256];    /* non-empty: no service has an outbox, and why */
	struct sim_ck_shipment *shipments; size_t nshipments;
	struct sim_ck_outbox outboxes[SIM_CK_MAX_SERVICES]; size_t noutboxes;
	struct sim_ck_dead *dead; size_t ndead;         /* dead letters and applied-and-dead ids */
	size_t nconsumers;      /* services with an inbox */
	struct { char queue[128]; long long messages; } deadq[SIM_CK_MAX_SERVICES]; /* the broker's <svc>.dead */
	size_t ndeadq;
};

struct sim_ck_charge {
	int64_t id, order_id, amount_cents, refunded_cents;
	enum sim_charge_status status;
};

struct sim_ck_stock {
	int64_t product_id, available, held, sold;
	int64_t adj_sum;        /* sum(adjustments.delta) for the product */
	bool has_row;           /* a stock row exists (adjustments alone are possible) */
	int64_t held_lines;     /* units on the lines of reservations that are held */
	int64_t sold_lines;     /* units on the lines of reservations that are committed */
};

struct sim_ck_resv {
	int64_t order_id;
	enum sim_resv_status status;
	char status_name[16];   /* as the database says it (for messages); "" = the enum's name */
};

/* One line of an order (orders.order_items) or of a committed reservation
 * (inventory.reservation_items): so many units of a product. */
struct sim_ck_line {
	int64_t order_id, product_id, quantity;
};

/* What the load generator saw for one checkout (its unique Idempotency-Key). */
enum sim_ck_outcome { SIM_CK_ACKED, SIM_CK_REFUSED, SIM_CK_FAILED, SIM_CK_UNKNOWN };

struct sim_ck_client {
	char key[65];
	enum sim_ck_outcome outcome;
	int status;             /* HTTP status of the first answer (0 if none) */
	int64_t order_id;       /* from a 2xx body, else 0 */
	bool replayed;          /* the key was sent again */
	bool replay_same;       /* ... and got the same status and body */
	int replay_status;
};

/* Browse outcomes inside one fault window, for "untouched requests kept working". */
struct sim_ck_window {
	char label[96];
	bool touches_reads;     /* the fault targets something catalog reads need */
	uint64_t ok, failed;
};

struct sim_ck_data {
	struct sim_ck_order *orders; size_t norders;
	struct sim_ck_charge *charges; size_t ncharges;
	struct sim_ck_stock *stock; size_t nstock;
	struct sim_ck_resv *resv; size_t nresv;
	struct sim_ck_client *clients; size_t nclients;
	struct sim_ck_window *windows; size_t nwindows;
	int64_t min_order_id;   /* orders (and their charges/reservations) below it are ignored */
	bool after_drain;       /* pending orders and held stock are violations */
	struct sim_ck_line *items; size_t nitems;  /* the items of every order */
	struct sim_ck_line *lines; size_t nlines;  /* the lines of every committed reservation */
	int64_t max_order_id;   /* 0, or: orders (and their charges/reservations) above it are
	                         * ignored too, e.g. ids a test made up calling a service directly */
	struct sim_ck_events ev; /* not read (ev.read false): the event invariants say so */
};

enum sim_inv {
	SIM_INV_ACKED_EXIST, SIM_INV_NO_DUPLICATES, SIM_INV_NO_PENDING, SIM_INV_ONE_CHARGE,
	SIM_INV_CHARGE_MATCHES, SIM_INV_MONEY, SIM_INV_STOCK_LEDGER, SIM_INV_STOCK_NONNEG,
	SIM_INV_STOCK_RESV, SIM_INV_NO_HELD, SIM_INV_COMMIT_IFF, SIM_INV_SOLD_ORDERS,
	SIM_INV_REPLAY, SIM_INV_UNTOUCHED,
	/* Events (docs/events.md): shipping's effects of order.confirmed and orders' of
	 * shipment.dispatched, the outboxes, the inboxes, the dead letters. */
	SIM_INV_SHIP_ONE, SIM_INV_SHIP_ORDER, SIM_INV_SHIPPED, SIM_INV_OUTBOX, SIM_INV_APPLIED_ONCE,
	SIM_INV_DEAD, SIM_INV_COUNT
};

#define SIM_CK_MAX_MSGS 20

/* An invariant's name (acked_orders_exist, ...), also when nothing was checked. */
const char *sim_ck_inv_name(int i);

struct sim_ck_inv {
	const char *name;
	const char *rule;
	uint64_t checked;       /* items examined */
	uint64_t violations;
	char na[256];           /* non-empty: does not apply here (said so, never "held"), and why */
	size_t nmsgs;
	char msgs[SIM_CK_MAX_MSGS][160];  /* the first violations, each naming its order/product/charge */
};

struct sim_ck_result {
	struct sim_ck_inv inv[SIM_INV_COUNT];
	uint64_t unknown_total, unknown_became_order, unknown_no_order;
	bool ok;
};

/* Checks every invariant over d; fills r. Returns 0, or -1 when out of memory. */
int sim_check_eval(const struct sim_ck_data *d, struct sim_ck_result *r);
/* Prints the invariant table to f. */
void sim_check_print(const struct sim_ck_result *r, FILE *f);

/* DB layer (sim_check_db.c): fills d's orders, charges, stock, reservations, order items and
 * committed reservation lines from the three schemas using the credentials in the environment (SHOPLAB_DB_*). Returns 0, or -1 with a
 * message in err. sim_check_data_free frees what it and the caller put in d. */
int sim_check_read_db(struct sim_ck_data *d, char *err, size_t errsz);
/* Fills d->ev from every service of the stack (SHOPLAB_SERVICES): outboxes, dead letters
 * (from dead_since_unix on when > 0), ids applied and dead-lettered both, and the shipments.
 * No shipping database is not an error: d->ev.na_shipping says why. Returns 0, or -1 (err). */
int sim_check_read_events(struct sim_ck_data *d, long long dead_since_unix, char *err, size_t errsz);
/* What the events still have to do: rows in every outbox, confirmed orders (from min_order_id on)
 * not shipped yet; a sentence naming them in desc. Returns 0 (nothing left), 1 (something), -1. */
int sim_check_events_pending(int64_t min_order_id, int64_t *outbox, int64_t *unshipped, char *desc, size_t descsz);
/* Confirmed orders from min_order_id on not shipped yet, and the age (s) of the oldest of them
 * by its created_at. Returns 0, or -1 (message in err). */
int sim_check_count_unshipped(int64_t min_order_id, int64_t *n, double *oldest_s, char *err, size_t errsz);
/* Orders from min_order_id on still pending, or -1 (message in err). */
int64_t sim_check_count_pending(int64_t min_order_id, char *err, size_t errsz);
void sim_check_data_free(struct sim_ck_data *d);
/* The highest order id now (0 when there is none), to scope a run's checks. */
int64_t sim_check_max_order_id(char *err, size_t errsz);

#endif
