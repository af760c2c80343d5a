/* sim_check.c - the invariants, evaluated over in-memory rows; every violation names its row */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_check.h"

static const struct { const char *name, *rule; } sim_ck_defs[SIM_INV_COUNT] = {
	[SIM_INV_ACKED_EXIST]    = { "acked_orders_exist", "every acknowledged (2xx) order exists" },
	[SIM_INV_NO_DUPLICATES]  = { "one_order_per_key", "an Idempotency-Key makes at most one order (unknowns settled)" },
	[SIM_INV_NO_PENDING]     = { "no_pending_after_drain", "every order is confirmed or rejected after the drain" },
	[SIM_INV_ONE_CHARGE]     = { "one_charge_per_order", "each order has at most one charge, and each charge an order" },
	[SIM_INV_CHARGE_MATCHES] = { "charge_matches_status", "confirmed: one captured charge of its total; rejected: none captured" },
	[SIM_INV_MONEY]          = { "money_balances", "sum(amount - refunded) of charges = sum(total) of confirmed orders" },
	[SIM_INV_STOCK_LEDGER]   = { "stock_ledger", "per product: sum(adjustments) = available + held + sold" },
	[SIM_INV_STOCK_NONNEG]   = { "stock_nonnegative", "per product: available, held, sold >= 0" },
	[SIM_INV_STOCK_RESV]     = { "stock_matches_reservations", "per product: sold = units of committed reservations, held = units of held ones" },
	[SIM_INV_NO_HELD]        = { "nothing_held_after_drain", "held = 0 and no reservation held after the drain" },
	[SIM_INV_COMMIT_IFF]     = { "commit_iff_confirmed", "a reservation is committed exactly when its order is confirmed" },
	[SIM_INV_SOLD_ORDERS]    = { "sold_matches_orders", "a confirmed order's items are the units its committed reservation sold" },
	[SIM_INV_REPLAY]         = { "idempotent_replay", "a replayed Idempotency-Key got the same status and body" },
	[SIM_INV_UNTOUCHED]      = { "untouched_reads_worked", "browsing kept working (<1% failed) during faults that spare it" },
	[SIM_INV_SHIP_ONE]       = { "one_shipment_per_order", "a confirmed order has exactly one shipment (at most one during load)" },
	[SIM_INV_SHIP_ORDER]     = { "shipment_has_confirmed_order", "every shipment's order exists, is confirmed or shipped, same user" },
	[SIM_INV_SHIPPED]        = { "shipped_after_drain", "after the drain every confirmed order is shipped; shipped = shipment dispatched" },
	[SIM_INV_OUTBOX]         = { "outboxes_empty", "after the drain every service's outbox is empty" },
	[SIM_INV_APPLIED_ONCE]   = { "events_applied_once", "no order has two shipments; no message id both applied (inbox) and dead-lettered" },
	[SIM_INV_DEAD]           = { "no_dead_letters", "no service gave up on a message (each dead letter is named), and every broker <svc>.dead queue is empty" },
};

const char *
sim_ck_inv_name(int i)
{
	return i >= 0 && i < SIM_INV_COUNT ? sim_ck_defs[i].name : "?";
}

enum sim_order_status
sim_check_order_status(const char *s)
{
	if (strcmp(s, "confirmed") == 0 || strcmp(s, "shipped") == 0)
		return SIM_O_CONFIRMED;
	if (strcmp(s, "rejected") == 0)
		return SIM_O_REJECTED;
	return SIM_O_PENDING;
}

enum sim_resv_status
sim_check_resv_status(const char *s)
{
	if (strcmp(s, "held") == 0)
		return SIM_R_HELD;
	if (strcmp(s, "committed") == 0)
		return SIM_R_COMMITTED;
	return SIM_R_RELEASED;
}

static void
sim_ck_violate(struct sim_ck_result *r, enum sim_inv i, const char *fmt, ...)
{
	struct sim_ck_inv *v = &r->inv[i];
	va_list ap;

	v->violations++;
	if (v->nmsgs >= SIM_CK_MAX_MSGS)
		return;
	va_start(ap, fmt);
	vsnprintf(v->msgs[v->nmsgs++], sizeof(v->msgs[0]), fmt, ap);
	va_end(ap);
}

static int
sim_ck_cmp_order_id(const void *a, const void *b)
{
	const struct sim_ck_order *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

static int
sim_ck_cmp_order_key(const void *a, const void *b)
{
	const struct sim_ck_order *const *x = a, *const *y = b;

	return strcmp((*x)->key, (*y)->key);
}

static int
sim_ck_cmp_charge_order(const void *a, const void *b)
{
	const struct sim_ck_charge *x = a, *y = b;

	if (x->order_id != y->order_id)
		return (x->order_id > y->order_id) - (x->order_id < y->order_id);
	return (x->id > y->id) - (x->id < y->id);
}

static int
sim_ck_cmp_resv(const void *a, const void *b)
{
	const struct sim_ck_resv *x = a, *y = b;

	return (x->order_id > y->order_id) - (x->order_id < y->order_id);
}

static int
sim_ck_cmp_line(const void *a, const void *b)
{
	const struct sim_ck_line *x = a, *y = b;

	if (x->order_id != y->order_id)
		return (x->order_id > y->order_id) - (x->order_id < y->order_id);
	return (x->product_id > y->product_id) - (x->product_id < y->product_id);
}

struct idx {
	struct sim_ck_order *orders; size_t norders;   /* in scope, by id */
	struct sim_ck_order **bykey;                    /* the same, by key */
	struct sim_ck_charge *charges; size_t ncharges; /* in scope, by order id */
	struct sim_ck_resv *resv; size_t nresv;         /* in scope, by order id */
	struct sim_ck_line *items; size_t nitems;       /* in scope, by order id and product */
	struct sim_ck_line *lines; size_t nlines;       /* in scope, by order id and product */
};

static bool
sim_ck_in_scope(const struct sim_ck_data *d, int64_t order_id)
{
	return order_id >= d->min_order_id && (d->max_order_id == 0 || order_id <= d->max_order_id);
}

static const struct sim_ck_order *
sim_ck_order_find(const struct idx *x, int64_t id)
{
	struct sim_ck_order k = { .id = id };

	return bsearch(&k, x->orders, x->norders, sizeof(k), sim_ck_cmp_order_id);
}

static const struct sim_ck_resv *
sim_ck_resv_find(const struct idx *x, int64_t order_id)
{
	struct sim_ck_resv k = { .order_id = order_id };

	return bsearch(&k, x->resv, x->nresv, sizeof(k), sim_ck_cmp_resv);
}

/* The first charge of order_id and how many there are. */
static const struct sim_ck_charge *
sim_ck_charges_of(const struct idx *x, int64_t order_id, size_t *n)
{
	size_t lo = 0, hi = x->ncharges;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (x->charges[mid].order_id < order_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	*n = 0;
	while (lo + *n < x->ncharges && x->charges[lo + *n].order_id == order_id)
		(*n)++;
	return *n ? &x->charges[lo] : NULL;
}

/* The lines of order_id in v (sorted by order id) and how many there are. */
static const struct sim_ck_line *
sim_ck_lines_of(const struct sim_ck_line *v, size_t nv, int64_t order_id,
    size_t *n)
{
	size_t lo = 0, hi = nv;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (v[mid].order_id < order_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	*n = 0;
	while (lo + *n < nv && v[lo + *n].order_id == order_id)
		(*n)++;
	return *n ? &v[lo] : NULL;
}

/* How many in-scope orders carry key; *first gets one of them. */
static size_t
sim_ck_orders_with_key(const struct idx *x, const char *key, const struct sim_ck_order **first)
{
	size_t lo = 0, hi = x->norders, n = 0;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (strcmp(x->bykey[mid]->key, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*first = lo < x->norders ? x->bykey[lo] : NULL;
	while (lo + n < x->norders && strcmp(x->bykey[lo + n]->key, key) == 0)
		n++;
	return n;
}

static int
sim_ck_build_index(const struct sim_ck_data *d, struct idx *x)
{
	memset(x, 0, sizeof(*x));
	x->orders = calloc(d->norders + 1, sizeof(*x->orders));
	x->bykey = calloc(d->norders + 1, sizeof(*x->bykey));
	x->charges = calloc(d->ncharges + 1, sizeof(*x->charges));
	x->resv = calloc(d->nresv + 1, sizeof(*x->resv));
	x->items = calloc(d->nitems + 1, sizeof(*x->items));
	x->lines = calloc(d->nlines + 1, sizeof(*x->lines));
	if (!x->orders || !x->bykey || !x->charges || !x->resv || !x->items || !x->lines)
		return -1;
	for (size_t i = 0; i < d->norders; i++)
		if (sim_ck_in_scope(d, d->orders[i].id))
			x->orders[x->norders++] = d->orders[i];
	for (size_t i = 0; i < d->ncharges; i++)
		if (sim_ck_in_scope(d, d->charges[i].order_id))
			x->charges[x->ncharges++] = d->charges[i];
	for (size_t i = 0; i < d->nresv; i++)
		if (sim_ck_in_scope(d, d->resv[i].order_id))
			x->resv[x->nresv++] = d->resv[i];
	for (size_t i = 0; i < d->nitems; i++)
		if (sim_ck_in_scope(d, d->items[i].order_id))
			x->items[x->nitems++] = d->items[i];
	for (size_t i = 0; i < d->nlines; i++)
		if (sim_ck_in_scope(d, d->lines[i].order_id))
			x->lines[x->nlines++] = d->lines[i];
	qsort(x->orders, x->norders, sizeof(*x->orders), sim_ck_cmp_order_id);
	for (size_t i = 0; i < x->norders; i++)
		x->bykey[i] = &x->orders[i];
	qsort(x->bykey, x->norders, sizeof(*x->bykey), sim_ck_cmp_order_key);
	qsort(x->charges, x->ncharges, sizeof(*x->charges), sim_ck_cmp_charge_order);
	qsort(x->resv, x->nresv, sizeof(*x->resv), sim_ck_cmp_resv);
	qsort(x->items, x->nitems, sizeof(*x->items), sim_ck_cmp_line);
	qsort(x->lines, x->nlines, sizeof(*x->lines), sim_ck_cmp_line);
	return 0;
}

static void
sim_ck_free_index(struct idx *x)
{
	free(x->orders);
	free(x->bykey);
	free(x->charges);
	free(x->resv);
	free(x->items);
	free(x->lines);
}

static const char *
sim_ck_status_name(enum sim_order_status s)
{
	return s == SIM_O_CONFIRMED ? "confirmed" : s == SIM_O_REJECTED ? "rejected" : "pending";
}

static const char *
sim_ck_resv_name(const struct sim_ck_resv *rv)
{
	if (rv->status_name[0] != '\0')
		return rv->status_name;
	return rv->status == SIM_R_HELD ? "held" : rv->status == SIM_R_COMMITTED ? "committed" : "released";
}

/*
 * A confirmed order sold what it ordered: per product, its items and the lines of its
 * committed reservation name the same units. (Whether the reservation is committed at all is
 * commit_iff_confirmed's business.) Both lists are sorted by product.
 */
static void
sim_ck_check_sold(const struct idx *x, const struct sim_ck_order *o, struct sim_ck_result *r)
{
	size_t ni, nl, i = 0, l = 0;
	const struct sim_ck_line *it = sim_ck_lines_of(x->items, x->nitems, o->id, &ni);
	const struct sim_ck_line *ln = sim_ck_lines_of(x->lines, x->nlines, o->id, &nl);

	r->inv[SIM_INV_SOLD_ORDERS].checked++;
	while (i < ni || l < nl) {
		int64_t product, ordered = 0, sold = 0;

		if (l >= nl || (i < ni && it[i].product_id <= ln[l].product_id))
			product = it[i].product_id;
		else
			product = ln[l].product_id;
		for (; i < ni && it[i].product_id == product; i++)
			ordered += it[i].quantity;
		for (; l < nl && ln[l].product_id == product; l++)
			sold += ln[l].quantity;
		if (ordered != sold)
			sim_ck_violate(r, SIM_INV_SOLD_ORDERS, "order %lld ordered %lld of product %lld but its reservation sold %lld",
				(long long)o->id, (long long)ordered, (long long)product, (long long)sold);
	}
}

static void
sim_ck_check_clients(const struct sim_ck_data *d, const struct idx *x, struct sim_ck_result *r)
{
	for (size_t i = 0; i < d->nclients; i++) {
		const struct sim_ck_client *c = &d->clients[i];
		const struct sim_ck_order *o;
		size_t n = sim_ck_orders_with_key(x, c->key, &o);

		r->inv[SIM_INV_NO_DUPLICATES].checked++;
		if (n > 1)
			sim_ck_violate(r, SIM_INV_NO_DUPLICATES, "key %s became %zu orders (one is %lld)", c->key, n,
				(long long)o->id);
		if (c->outcome == SIM_CK_UNKNOWN) {
			r->unknown_total++;
			if (n >= 1)
				r->unknown_became_order++;
			else
				r->unknown_no_order++;
		}
		if (c->outcome == SIM_CK_ACKED) {
			const struct sim_ck_order *byid = c->order_id ? sim_ck_order_find(x, c->order_id) : NULL;

			r->inv[SIM_INV_ACKED_EXIST].checked++;
			if (n == 0 && byid == NULL)
				sim_ck_violate(r, SIM_INV_ACKED_EXIST, "order %lld (key %s) was acknowledged with %d but is not in orders.orders",
					(long long)c->order_id, c->key, c->status);
			else if (byid != NULL && strcmp(byid->key, c->key) != 0)
				sim_ck_violate(r, SIM_INV_ACKED_EXIST, "order %lld was acknowledged for key %s but carries key %s",
					(long long)c->order_id, c->key, byid->key);
		}
		if (c->replayed) {
			r->inv[SIM_INV_REPLAY].checked++;
			if (!c->replay_same)
				sim_ck_violate(r, SIM_INV_REPLAY, "key %s: first answer %d, replay answered %d%s", c->key,
					c->status, c->replay_status,
					c->status == c->replay_status ? " with a different body" : "");
		}
	}
}

static void
sim_ck_check_orders(const struct sim_ck_data *d, const struct idx *x, struct sim_ck_result *r)
{
	int64_t confirmed_total = 0, charged_net = 0;

	for (size_t i = 0; i < x->norders; i++) {
		const struct sim_ck_order *o = &x->orders[i];
		const struct sim_ck_charge *c;
		const struct sim_ck_resv *rv = sim_ck_resv_find(x, o->id);
		size_t n, captured = 0;

		r->inv[SIM_INV_NO_PENDING].checked++;
		if (d->after_drain && o->status == SIM_O_PENDING)
			sim_ck_violate(r, SIM_INV_NO_PENDING, "order %lld is still pending after the drain", (long long)o->id);
		c = sim_ck_charges_of(x, o->id, &n);
		r->inv[SIM_INV_ONE_CHARGE].checked++;
		if (n > 1)
			sim_ck_violate(r, SIM_INV_ONE_CHARGE, "order %lld has %zu charges (ids %lld, %lld%s)", (long long)o->id,
				n, (long long)c[0].id, (long long)c[1].id, n > 2 ? ", ..." : "");
		for (size_t k = 0; k < n; k++)
			captured += c[k].status == SIM_C_CAPTURED;
		if (o->status == SIM_O_CONFIRMED) {
			confirmed_total += o->total_cents;
			r->inv[SIM_INV_CHARGE_MATCHES].checked++;
			if (captured != 1)
				sim_ck_violate(r, SIM_INV_CHARGE_MATCHES, "order %lld is confirmed but has %zu captured charges",
					(long long)o->id, captured);
			for (size_t k = 0; k < n; k++)
				if (c[k].status == SIM_C_CAPTURED &&
				    c[k].amount_cents - c[k].refunded_cents != o->total_cents)
					sim_ck_violate(r, SIM_INV_CHARGE_MATCHES, "order %lld totals %lld cents but charge %lld nets %lld",
						(long long)o->id, (long long)o->total_cents, (long long)c[k].id,
						(long long)(c[k].amount_cents - c[k].refunded_cents));
		} else if (o->status == SIM_O_REJECTED) {
			r->inv[SIM_INV_CHARGE_MATCHES].checked++;
			for (size_t k = 0; k < n; k++) {
				if (c[k].status == SIM_C_CAPTURED)
					sim_ck_violate(r, SIM_INV_CHARGE_MATCHES, "order %lld is rejected but charge %lld is captured",
						(long long)o->id, (long long)c[k].id);
				else if (c[k].status == SIM_C_VOIDED && c[k].refunded_cents != c[k].amount_cents)
					sim_ck_violate(r, SIM_INV_CHARGE_MATCHES, "order %lld is rejected but voided charge %lld refunded %lld of %lld",
						(long long)o->id, (long long)c[k].id, (long long)c[k].refunded_cents,
						(long long)c[k].amount_cents);
			}
		}
		if (o->status != SIM_O_PENDING) {
			bool committed = rv && rv->status == SIM_R_COMMITTED;

			r->inv[SIM_INV_COMMIT_IFF].checked++;
			if (o->status == SIM_O_CONFIRMED && !committed)
				sim_ck_violate(r, SIM_INV_COMMIT_IFF, "order %lld is confirmed but its reservation is %s", (long long)o->id,
					rv == NULL ? "missing" : sim_ck_resv_name(rv));
			if (o->status == SIM_O_CONFIRMED && committed)
				sim_ck_check_sold(x, o, r);
			if (o->status == SIM_O_REJECTED && committed)
				sim_ck_violate(r, SIM_INV_COMMIT_IFF, "order %lld is rejected but its reservation is committed",
					(long long)o->id);
		}
	}
	for (size_t i = 0; i < x->ncharges; i++) {
		const struct sim_ck_charge *c = &x->charges[i];

		if (c->status != SIM_C_DECLINED)
			charged_net += c->amount_cents - c->refunded_cents;
		if (sim_ck_order_find(x, c->order_id) == NULL)
			sim_ck_violate(r, SIM_INV_ONE_CHARGE, "charge %lld belongs to order %lld, which does not exist",
				(long long)c->id, (long long)c->order_id);
	}
	for (size_t i = 0; i < x->nresv; i++) {
		const struct sim_ck_resv *rv = &x->resv[i];
		const struct sim_ck_order *o = sim_ck_order_find(x, rv->order_id);

		r->inv[SIM_INV_NO_HELD].checked++;
		if (d->after_drain && rv->status == SIM_R_HELD)
			sim_ck_violate(r, SIM_INV_NO_HELD, "the reservation of order %lld is still held after the drain",
				(long long)rv->order_id);
		if (rv->status == SIM_R_COMMITTED && (o == NULL || o->status != SIM_O_CONFIRMED))
			sim_ck_violate(r, SIM_INV_COMMIT_IFF, "the reservation of order %lld is committed but the order is %s",
				(long long)rv->order_id, o ? sim_ck_status_name(o->status) : "missing");
	}
	r->inv[SIM_INV_MONEY].checked = x->ncharges;
	if (charged_net != confirmed_total)
		sim_ck_violate(r, SIM_INV_MONEY, "charges net %lld cents but confirmed orders total %lld cents (difference %lld)",
			(long long)charged_net, (long long)confirmed_total, (long long)(charged_net - confirmed_total));
}

static void
sim_ck_check_stock(const struct sim_ck_data *d, struct sim_ck_result *r)
{
	for (size_t i = 0; i < d->nstock; i++) {
		const struct sim_ck_stock *s = &d->stock[i];
		int64_t have = s->available + s->held + s->sold;

		r->inv[SIM_INV_STOCK_LEDGER].checked++;
		r->inv[SIM_INV_STOCK_NONNEG].checked++;
		if (s->adj_sum != have)
			sim_ck_violate(r, SIM_INV_STOCK_LEDGER, "product %lld: adjustments sum to %lld but available+held+sold = %lld (%lld+%lld+%lld)",
				(long long)s->product_id, (long long)s->adj_sum, (long long)have,
				(long long)s->available, (long long)s->held, (long long)s->sold);
		if (s->available < 0 || s->held < 0 || s->sold < 0)
			sim_ck_violate(r, SIM_INV_STOCK_NONNEG, "product %lld: available %lld, held %lld, sold %lld",
				(long long)s->product_id, (long long)s->available, (long long)s->held,
				(long long)s->sold);
		if (s->has_row) {
			r->inv[SIM_INV_STOCK_RESV].checked++;
			if (s->sold != s->sold_lines)
				sim_ck_violate(r, SIM_INV_STOCK_RESV, "product %lld: sold %lld but committed reservations account for %lld",
					(long long)s->product_id, (long long)s->sold, (long long)s->sold_lines);
			if (s->held != s->held_lines)
				sim_ck_violate(r, SIM_INV_STOCK_RESV, "product %lld: held %lld but held reservations account for %lld",
					(long long)s->product_id, (long long)s->held, (long long)s->held_lines);
		}
		if (d->after_drain && s->held != 0)
			sim_ck_violate(r, SIM_INV_NO_HELD, "product %lld has held = %lld after the drain", (long long)s->product_id,
				(long long)s->held);
	}
}

static void
sim_ck_check_windows(const struct sim_ck_data *d, struct sim_ck_result *r)
{
	for (size_t i = 0; i < d->nwindows; i++) {
		const struct sim_ck_window *w = &d->windows[i];
		uint64_t all = w->ok + w->failed;

		if (w->touches_reads || all == 0)
			continue;
		r->inv[SIM_INV_UNTOUCHED].checked++;
		if (w->failed * 100 > all)
			sim_ck_violate(r, SIM_INV_UNTOUCHED, "browse failed %llu of %llu during %s", (unsigned long long)w->failed,
				(unsigned long long)all, w->label);
	}
}

static int
sim_ck_cmp_ship(const void *a, const void *b)
{
	const struct sim_ck_shipment *x = a, *y = b;

	if (x->order_id != y->order_id)
		return (x->order_id > y->order_id) - (x->order_id < y->order_id);
	return (x->id > y->id) - (x->id < y->id);
}

static void
sim_ck_not_applicable(struct sim_ck_result *r, enum sim_inv i, const char *why)
{
	snprintf(r->inv[i].na, sizeof(r->inv[i].na), "%.250s", why);
}

/* The shipments of the orders in scope, against the orders: one per confirmed order, each
 * with a confirmed (or shipped) order of the same user; shipped after the drain. */
static int
sim_ck_check_shipments(const struct sim_ck_data *d, const struct idx *x, struct sim_ck_result *r)
{
	const struct sim_ck_events *ev = &d->ev;
	struct sim_ck_shipment *sh = calloc(ev->nshipments + 1, sizeof(*sh));
	size_t n = 0, k = 0;

	if (sh == NULL)
		return -1;
	for (size_t i = 0; i < ev->nshipments; i++)
		if (sim_ck_in_scope(d, ev->shipments[i].order_id))
			sh[n++] = ev->shipments[i];
	qsort(sh, n, sizeof(*sh), sim_ck_cmp_ship);
	for (size_t i = 0; i < n; i++) {
		const struct sim_ck_order *o = sim_ck_order_find(x, sh[i].order_id);

		r->inv[SIM_INV_SHIP_ORDER].checked++;
		if (o == NULL)
			sim_ck_violate(r, SIM_INV_SHIP_ORDER, "shipment %lld is for order %lld, which does not exist",
				(long long)sh[i].id, (long long)sh[i].order_id);
		else if (o->status != SIM_O_CONFIRMED)
			sim_ck_violate(r, SIM_INV_SHIP_ORDER, "shipment %lld is for order %lld, which is %s",
				(long long)sh[i].id, (long long)o->id, sim_ck_status_name(o->status));
		else if (o->user_id != sh[i].user_id)
			sim_ck_violate(r, SIM_INV_SHIP_ORDER, "shipment %lld is for user %lld but order %lld is user %lld's",
				(long long)sh[i].id, (long long)sh[i].user_id, (long long)o->id, (long long)o->user_id);
	}
	/* The orders in scope against their shipments, both sorted by order id. */
	for (size_t i = 0; i < x->norders; i++) {
		const struct sim_ck_order *o = &x->orders[i];
		const struct sim_ck_shipment *first;
		size_t m = 0;

		while (k < n && sh[k].order_id < o->id)
			k++;
		first = k < n ? &sh[k] : NULL;
		while (k + m < n && sh[k + m].order_id == o->id)
			m++;
		r->inv[SIM_INV_APPLIED_ONCE].checked++;
		if (m > 1)
			sim_ck_violate(r, SIM_INV_APPLIED_ONCE, "order %lld has %zu shipments (ids %lld, %lld%s)", (long long)o->id, m,
				(long long)first[0].id, (long long)first[1].id, m > 2 ? ", ..." : "");
		if (o->status != SIM_O_CONFIRMED)
			continue;
		r->inv[SIM_INV_SHIP_ONE].checked++;
		if (m == 0 && d->after_drain)
			sim_ck_violate(r, SIM_INV_SHIP_ONE, "order %lld is %s but has no shipment", (long long)o->id,
				o->shipped ? "shipped" : "confirmed");
		r->inv[SIM_INV_SHIPPED].checked++;
		if (o->shipped && (m == 0 || !first->dispatched))
			sim_ck_violate(r, SIM_INV_SHIPPED, "order %lld is shipped but %s", (long long)o->id,
				m == 0 ? "has no shipment" : "its shipment is not dispatched");
		else if (!o->shipped && d->after_drain)
			sim_ck_violate(r, SIM_INV_SHIPPED, "order %lld is still confirmed, not shipped, after the drain (its shipment: %s)",
				(long long)o->id, m == 0 ? "none" : first->dispatched ? "dispatched; orders did not apply "
				"shipment.dispatched" : "created, not dispatched");
	}
	free(sh);
	return 0;
}

/* Outboxes, dead letters, ids applied and given up both: whole databases, not scoped. */
static void
sim_ck_check_event_tables(const struct sim_ck_data *d, struct sim_ck_result *r)
{
	const struct sim_ck_events *ev = &d->ev;

	for (size_t i = 0; i < ev->noutboxes; i++) {
		const struct sim_ck_outbox *o = &ev->outboxes[i];

		r->inv[SIM_INV_OUTBOX].checked++;
		if (o->depth > 0 && d->after_drain)
			sim_ck_violate(r, SIM_INV_OUTBOX, "%s: %lld events still in the outbox, the oldest %.1f s old", o->service,
				(long long)o->depth, o->oldest_s);
	}
	r->inv[SIM_INV_DEAD].checked = ev->nconsumers;
	for (size_t i = 0; i < ev->ndead; i++) {
		const struct sim_ck_dead *x = &ev->dead[i];

		if (x->applied) {
			r->inv[SIM_INV_APPLIED_ONCE].checked++;
			sim_ck_violate(r, SIM_INV_APPLIED_ONCE, "%s: message %s (%s) was applied (inbox) and dead-lettered both",
				x->service, x->msg_id, x->type);
		} else {
			sim_ck_violate(r, SIM_INV_DEAD, "%s: dead letter %s (%s) after %d attempts at %s: %s", x->service, x->msg_id,
				x->type, x->attempts, x->at, x->reason);
		}
	}
	/* The broker gave up on these itself (x-delivery-limit): nothing recorded them. */
	for (size_t i = 0; i < ev->ndeadq; i++)
		if (ev->deadq[i].messages > 0)
			sim_ck_violate(r, SIM_INV_DEAD, "the broker's queue %s holds %lld message%s with no dead_letters row "
				"(dead-lettered by the broker's delivery limit)", ev->deadq[i].queue, ev->deadq[i].messages,
				ev->deadq[i].messages == 1 ? "" : "s");
}

static int
sim_ck_check_events(const struct sim_ck_data *d, const struct idx *x, struct sim_ck_result *r)
{
	static const enum sim_inv ship[] = { SIM_INV_SHIP_ONE, SIM_INV_SHIP_ORDER, SIM_INV_SHIPPED };
	static const enum sim_inv all[] = { SIM_INV_SHIP_ONE, SIM_INV_SHIP_ORDER, SIM_INV_SHIPPED, SIM_INV_OUTBOX,
					    SIM_INV_APPLIED_ONCE, SIM_INV_DEAD };

	if (!d->ev.read) {
		for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
			sim_ck_not_applicable(r, all[i], d->ev.na_events[0] ? d->ev.na_events : "the events were not read by this check");
		return 0;
	}
	if (d->ev.na_shipping[0])
		for (size_t i = 0; i < sizeof(ship) / sizeof(ship[0]); i++)
			sim_ck_not_applicable(r, ship[i], d->ev.na_shipping);
	if (d->ev.na_outbox[0])
		sim_ck_not_applicable(r, SIM_INV_OUTBOX, d->ev.na_outbox);
	if (d->ev.nconsumers == 0)
		sim_ck_not_applicable(r, SIM_INV_DEAD, "no service of this stack consumes events (no inbox table)");
	sim_ck_check_event_tables(d, r);
	return d->ev.na_shipping[0] ? 0 : sim_ck_check_shipments(d, x, r);
}

int
sim_check_eval(const struct sim_ck_data *d, struct sim_ck_result *r)
{
	struct idx x;
	int rc = -1;

	memset(r, 0, sizeof(*r));
	for (int i = 0; i < SIM_INV_COUNT; i++) {
		r->inv[i].name = sim_ck_defs[i].name;
		r->inv[i].rule = sim_ck_defs[i].rule;
	}
	if (sim_ck_build_index(d, &x) != 0)
		goto out_free;
	sim_ck_check_clients(d, &x, r);
	sim_ck_check_orders(d, &x, r);
	sim_ck_check_stock(d, r);
	sim_ck_check_windows(d, r);
	if (sim_ck_check_events(d, &x, r) != 0)
		goto out_free;
	r->ok = true;
	for (int i = 0; i < SIM_INV_COUNT; i++)
		if (r->inv[i].violations)
			r->ok = false;
	rc = 0;
out_free:
	sim_ck_free_index(&x);
	return rc;
}

void
sim_check_print(const struct sim_ck_result *r, FILE *f)
{
	fprintf(f, "invariants:\n");
	for (int i = 0; i < SIM_INV_COUNT; i++) {
		const struct sim_ck_inv *v = &r->inv[i];

		if (v->na[0] && !v->violations) {
			fprintf(f, "  %-4s %-28s  not applicable: %s\n", "n/a", v->name, v->na);
			continue;
		}
		fprintf(f, "  %-4s %-28s %8llu checked  %s\n", v->violations ? "FAIL" : "ok", v->name,
			(unsigned long long)v->checked, v->rule);
		for (size_t k = 0; k < v->nmsgs; k++)
			fprintf(f, "         - %s\n", v->msgs[k]);
		if (v->violations > v->nmsgs)
			fprintf(f, "         - ... %llu more\n", (unsigned long long)(v->violations - v->nmsgs));
	}
	fprintf(f, "unknown checkouts: %llu (%llu became an order, %llu did not)\n",
		(unsigned long long)r->unknown_total, (unsigned long long)r->unknown_became_order,
		(unsigned long long)r->unknown_no_order);
}
