/* sim_check_db.c - the checker's thin database layer: reads orders, charges, stock, reservations */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mysql.h>

#include "sim_check.h"
#include "sim_env.h"

/* Opens schema as its own user; on failure *code gets the server's error number (0: none). */
static MYSQL *
sim_ckdb_db_open_code(const char *schema, char *err, size_t errsz, unsigned *code)
{
	char uvar[64], pvar[64], up[32];
	unsigned int timeout = 5;
	my_bool on = 1;
	MYSQL *m;
	size_t i;

	for (i = 0; schema[i] && i + 1 < sizeof(up); i++)
		up[i] = (char)(schema[i] >= 'a' && schema[i] <= 'z' ? schema[i] - 32 : schema[i]);
	up[i] = '\0';
	snprintf(uvar, sizeof(uvar), "SHOPLAB_DB_%s_USER", up);
	snprintf(pvar, sizeof(pvar), "SHOPLAB_DB_%s_PASSWORD", up);
	if ((m = mysql_init(NULL)) == NULL) {
		snprintf(err, errsz, "mysql_init failed");
		return NULL;
	}
	mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &timeout);
	/* A DB_TLS=1 stack: TLS only, the server checked against its CA (as the services do). */
	if (*sim_env("SHOPLAB_DB_TLS_CA", "") &&
	    (mysql_options(m, MYSQL_OPT_SSL_CA, sim_env("SHOPLAB_DB_TLS_CA", "")) != 0 ||
	     mysql_options(m, MYSQL_OPT_SSL_ENFORCE, &on) != 0 ||
	     mysql_options(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &on) != 0)) {
		snprintf(err, errsz, "the client library refused the TLS options (SHOPLAB_DB_TLS_CA)");
		mysql_close(m);
		return NULL;
	}
	if (!mysql_real_connect(m, sim_env("SHOPLAB_DB_HOST", "127.0.0.1"), sim_env(uvar, schema),
				sim_env(pvar, ""), schema, (unsigned)atoi(sim_env("SHOPLAB_DB_PORT", "3307")),
				NULL, 0)) {
		*code = mysql_errno(m);
		snprintf(err, errsz, "cannot reach the %s database at %s:%s as user %s: %s (the settings come from %s/shoplab.env "
			 "or SHOPLAB_DB_HOST, SHOPLAB_DB_PORT, %s, %s; point SHOPLAB_RUN at a running stack's run directory)",
			 schema, sim_env("SHOPLAB_DB_HOST", "127.0.0.1"), sim_env("SHOPLAB_DB_PORT", "3307"),
			 sim_env(uvar, schema), mysql_error(m), sim_env_run_dir(), uvar, pvar);
		mysql_close(m);
		return NULL;
	}
	return m;
}

static MYSQL *
sim_ckdb_db_open(const char *schema, char *err, size_t errsz)
{
	unsigned code = 0;

	return sim_ckdb_db_open_code(schema, err, errsz, &code);
}

typedef int (*row_fn)(MYSQL_ROW row, void *arg);

static int
sim_ckdb_db_each(MYSQL *m, const char *sql, row_fn fn, void *arg, char *err, size_t errsz)
{
	MYSQL_RES *res;
	MYSQL_ROW row;
	int rc = -1;

	if (mysql_query(m, sql) != 0 || (res = mysql_store_result(m)) == NULL) {
		snprintf(err, errsz, "%s: %s", sql, mysql_error(m));
		return -1;
	}
	while ((row = mysql_fetch_row(res)) != NULL)
		if (fn(row, arg) != 0) {
			snprintf(err, errsz, "out of memory reading rows");
			goto out_free;
		}
	rc = 0;
out_free:
	mysql_free_result(res);
	return rc;
}

/* Grows *arr (of elem bytes) to hold one more; returns the new slot, zeroed. */
static void *
sim_ckdb_push(void **arr, size_t *n, size_t *cap, size_t elem)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 256;
		void *na = realloc(*arr, nc * elem);

		if (na == NULL)
			return NULL;
		*arr = na;
		*cap = nc;
	}
	memset((char *)*arr + *n * elem, 0, elem);
	return (char *)*arr + (*n)++ * elem;
}

static int64_t
sim_ckdb_num(const char *s)
{
	return s ? strtoll(s, NULL, 10) : 0;
}

/* Where a statement's rows go: the array *v of *n elements of size bytes (room for cap), one more
 * per row, filled from it by fill. */
struct rows {
	void **v;
	size_t *n, size, cap;
	void (*fill)(MYSQL_ROW r, void *elem);
};

#define SIM_CKDB_ROWS(arr, count, fn) { (void **)&(arr), &(count), sizeof(*(arr)), 0, (fn) }

static int
sim_ckdb_row(MYSQL_ROW r, void *arg)
{
	struct rows *a = arg;
	void *e = sim_ckdb_push(a->v, a->n, &a->cap, a->size);

	if (e == NULL)
		return -1;
	a->fill(r, e);
	return 0;
}

static void
sim_ckdb_fill_order(MYSQL_ROW r, void *elem)
{
	struct sim_ck_order *o = elem;

	o->id = sim_ckdb_num(r[0]);
	o->user_id = sim_ckdb_num(r[1]);
	o->status = sim_check_order_status(r[2] ? r[2] : "");
	o->total_cents = sim_ckdb_num(r[3]);
	snprintf(o->key, sizeof(o->key), "%s", r[4] ? r[4] : "");
	o->shipped = r[2] && strcmp(r[2], "shipped") == 0;
}

static void
sim_ckdb_fill_charge(MYSQL_ROW r, void *elem)
{
	struct sim_ck_charge *c = elem;

	c->id = sim_ckdb_num(r[0]);
	c->order_id = sim_ckdb_num(r[1]);
	c->status = strcmp(r[2], "captured") == 0 ? SIM_C_CAPTURED :
		    strcmp(r[2], "voided") == 0 ? SIM_C_VOIDED : SIM_C_DECLINED;
	c->amount_cents = sim_ckdb_num(r[3]);
	c->refunded_cents = sim_ckdb_num(r[4]);
}

static void
sim_ckdb_fill_stock(MYSQL_ROW r, void *elem)
{
	struct sim_ck_stock *s = elem;

	s->product_id = sim_ckdb_num(r[0]);
	s->has_row = r[1] != NULL;
	s->available = sim_ckdb_num(r[1]);
	s->held = sim_ckdb_num(r[2]);
	s->sold = sim_ckdb_num(r[3]);
	s->adj_sum = sim_ckdb_num(r[4]);
	s->held_lines = sim_ckdb_num(r[5]);
	s->sold_lines = sim_ckdb_num(r[6]);
}

static void
sim_ckdb_fill_resv(MYSQL_ROW r, void *elem)
{
	struct sim_ck_resv *v = elem;

	v->order_id = sim_ckdb_num(r[0]);
	v->status = sim_check_resv_status(r[1] ? r[1] : "");
	snprintf(v->status_name, sizeof(v->status_name), "%s", r[1] ? r[1] : "");
}

/* A line from (order_id, product_id, quantity). */
static void
sim_ckdb_fill_line(MYSQL_ROW r, void *elem)
{
	struct sim_ck_line *l = elem;

	l->order_id = sim_ckdb_num(r[0]);
	l->product_id = sim_ckdb_num(r[1]);
	l->quantity = sim_ckdb_num(r[2]);
}

int
sim_check_read_db(struct sim_ck_data *d, char *err, size_t errsz)
{
	MYSQL *orders = NULL, *inv = NULL, *pay = NULL;
	struct rows ords = SIM_CKDB_ROWS(d->orders, d->norders, sim_ckdb_fill_order);
	struct rows items = SIM_CKDB_ROWS(d->items, d->nitems, sim_ckdb_fill_line);
	struct rows charges = SIM_CKDB_ROWS(d->charges, d->ncharges, sim_ckdb_fill_charge);
	struct rows stock = SIM_CKDB_ROWS(d->stock, d->nstock, sim_ckdb_fill_stock);
	struct rows resv = SIM_CKDB_ROWS(d->resv, d->nresv, sim_ckdb_fill_resv);
	struct rows lines = SIM_CKDB_ROWS(d->lines, d->nlines, sim_ckdb_fill_line);
	int rc = -1;

	if ((orders = sim_ckdb_db_open("orders", err, errsz)) == NULL || (inv = sim_ckdb_db_open("inventory", err, errsz)) == NULL ||
	    (pay = sim_ckdb_db_open("payments", err, errsz)) == NULL)
		goto out_close;
	if (sim_ckdb_db_each(orders, "SELECT id, user_id, status, total_cents, idempotency_key FROM orders",
		    sim_ckdb_row, &ords, err, errsz))
		goto out_close;
	/* After the orders: an order and its items commit together, so each order read has them. */
	if (sim_ckdb_db_each(orders, "SELECT order_id, product_id, quantity FROM order_items", sim_ckdb_row, &items,
		    err, errsz))
		goto out_close;
	if (sim_ckdb_db_each(pay, "SELECT id, order_id, status, amount_cents, refunded_cents FROM charges",
		    sim_ckdb_row, &charges, err, errsz))
		goto out_close;
	/*
	 * Products with a stock row, and those with adjustments but no row (a ledger without stock);
	 * with the units on held and on committed reservations, in the same statement so that they
	 * are read at the same moment as the stock (a reservation moves both in one transaction).
	 * Any other status (released, expired, ...) holds nothing and sold nothing.
	 */
	if (sim_ckdb_db_each(inv, "SELECT s.product_id, s.available, s.held, s.sold, "
			 "(SELECT COALESCE(SUM(a.delta), 0) FROM adjustments a WHERE a.product_id = s.product_id), "
			 "(SELECT COALESCE(SUM(i.quantity), 0) FROM reservation_items i JOIN reservations r "
			 "ON r.order_id = i.order_id WHERE i.product_id = s.product_id AND r.status = 'held'), "
			 "(SELECT COALESCE(SUM(i.quantity), 0) FROM reservation_items i JOIN reservations r "
			 "ON r.order_id = i.order_id WHERE i.product_id = s.product_id AND r.status = 'committed') "
			 "FROM stock s UNION ALL "
			 "SELECT a.product_id, NULL, NULL, NULL, SUM(a.delta), 0, 0 FROM adjustments a "
			 "WHERE NOT EXISTS (SELECT 1 FROM stock s WHERE s.product_id = a.product_id) "
			 "GROUP BY a.product_id",
		    sim_ckdb_row, &stock, err, errsz))
		goto out_close;
	if (sim_ckdb_db_each(inv, "SELECT order_id, status FROM reservations", sim_ckdb_row, &resv, err, errsz))
		goto out_close;
	/* After the reservations: one read as committed has its lines committed by now. */
	if (sim_ckdb_db_each(inv, "SELECT i.order_id, i.product_id, i.quantity FROM reservation_items i "
			 "JOIN reservations r ON r.order_id = i.order_id WHERE r.status = 'committed'",
		    sim_ckdb_row, &lines, err, errsz))
		goto out_close;
	rc = 0;
out_close:
	if (pay)
		mysql_close(pay);
	if (inv)
		mysql_close(inv);
	if (orders)
		mysql_close(orders);
	return rc;
}

static int
sim_ckdb_row_max(MYSQL_ROW r, void *arg)
{
	*(int64_t *)arg = sim_ckdb_num(r[0]);
	return 0;
}

int64_t
sim_check_max_order_id(char *err, size_t errsz)
{
	MYSQL *m = sim_ckdb_db_open("orders", err, errsz);
	int64_t max = 0;

	if (m == NULL)
		return -1;
	if (sim_ckdb_db_each(m, "SELECT COALESCE(MAX(id), 0) FROM orders", sim_ckdb_row_max, &max, err, errsz))
		max = -1;
	mysql_close(m);
	return max;
}

static int
sim_ckdb_row_count(MYSQL_ROW row, void *arg)
{
	*(int64_t *)arg = row[0] ? sim_ckdb_num(row[0]) : 0;
	return 0;
}

int64_t
sim_check_count_pending(int64_t min_order_id, char *err, size_t errsz)
{
	MYSQL *m = sim_ckdb_db_open("orders", err, errsz);
	char sql[160];
	int64_t n = 0;

	if (m == NULL)
		return -1;
	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM orders WHERE status = 'pending' AND id >= %lld",
		 (long long)min_order_id);
	if (sim_ckdb_db_each(m, sql, sim_ckdb_row_count, &n, err, errsz))
		n = -1;
	mysql_close(m);
	return n;
}

static int sim_ckdb_row_outbox(MYSQL_ROW r, void *arg);

int
sim_check_count_unshipped(int64_t min_order_id, int64_t *n, double *oldest_s, char *err, size_t errsz)
{
	MYSQL *m = sim_ckdb_db_open("orders", err, errsz);
	struct sim_ck_outbox o;
	char sql[256];
	int rc;

	if (m == NULL)
		return -1;
	snprintf(sql, sizeof(sql), "SELECT COUNT(*), COALESCE(TIMESTAMPDIFF(MICROSECOND, MIN(created_at), NOW(6)), 0) "
		 "FROM orders WHERE status = 'confirmed' AND id >= %lld", (long long)min_order_id);
	memset(&o, 0, sizeof(o));
	rc = sim_ckdb_db_each(m, sql, sim_ckdb_row_outbox, &o, err, errsz);
	mysql_close(m);
	*n = o.depth;
	*oldest_s = o.oldest_s;
	return rc;
}

/* ---- events ------------------------------------------------------------------------- */

/* The stack's services (SHOPLAB_SERVICES), at most SIM_CK_MAX_SERVICES names of < 32 bytes. */
static size_t
sim_ckdb_stack_services(char names[SIM_CK_MAX_SERVICES][32])
{
	const char *v = getenv("SHOPLAB_SERVICES"), *p, *q;
	size_t n = 0;

	for (p = v ? v : ""; *p != '\0' && n < SIM_CK_MAX_SERVICES; p = q) {
		while (*p == ' ' || *p == '"')
			p++;
		for (q = p; *q != '\0' && *q != ' ' && *q != '"'; q++)
			;
		if (q > p && (size_t)(q - p) < 32) {
			memcpy(names[n], p, (size_t)(q - p));
			names[n++][q - p] = '\0';
		}
	}
	return n;
}

struct tables {
	bool outbox, inbox, dead;
};

static int
sim_ckdb_row_table(MYSQL_ROW r, void *arg)
{
	struct tables *t = arg;

	if (r[0] == NULL)
		return 0;
	t->outbox |= strcmp(r[0], "outbox") == 0;
	t->inbox |= strcmp(r[0], "inbox") == 0;
	t->dead |= strcmp(r[0], "dead_letters") == 0;
	return 0;
}

static int
sim_ckdb_row_outbox(MYSQL_ROW r, void *arg)
{
	struct sim_ck_outbox *o = arg;

	o->depth = sim_ckdb_num(r[0]);
	o->oldest_s = (double)sim_ckdb_num(r[1]) / 1e6;
	return 0;
}

/* A dead letter from (msg_id, type, reason, attempts, dead_at); its service is set after. */
static void
sim_ckdb_fill_dead(MYSQL_ROW r, void *elem)
{
	struct sim_ck_dead *x = elem;

	snprintf(x->msg_id, sizeof(x->msg_id), "%s", r[0] ? r[0] : "");
	snprintf(x->type, sizeof(x->type), "%s", r[1] ? r[1] : "");
	snprintf(x->reason, sizeof(x->reason), "%s", r[2] ? r[2] : "");
	x->attempts = (int)sim_ckdb_num(r[3]);
	snprintf(x->at, sizeof(x->at), "%s", r[4] ? r[4] : "");
}

/* Appends sql's dead letters of service svc to dead; applied: they are ids its inbox holds. */
static int
sim_ckdb_read_dead(MYSQL *m, const char *sql, struct rows *dead, const char *svc, bool applied, char *err,
    size_t errsz)
{
	size_t from = *dead->n;

	if (sim_ckdb_db_each(m, sql, sim_ckdb_row, dead, err, errsz))
		return -1;
	for (size_t i = from; i < *dead->n; i++) {
		struct sim_ck_dead *x = (struct sim_ck_dead *)*dead->v + i;

		snprintf(x->service, sizeof(x->service), "%s", svc);
		x->applied = applied;
	}
	return 0;
}

static void
sim_ckdb_fill_shipment(MYSQL_ROW r, void *elem)
{
	struct sim_ck_shipment *x = elem;

	x->id = sim_ckdb_num(r[0]);
	x->order_id = sim_ckdb_num(r[1]);
	x->user_id = sim_ckdb_num(r[2]);
	x->dispatched = r[3] && strcmp(r[3], "dispatched") == 0;
}

/* One service's event tables: its outbox, its dead letters, ids it applied and gave up both. */
static int
sim_ckdb_read_service_events(MYSQL *m, const char *svc, struct sim_ck_events *ev, struct rows *dead,
    long long since, char *err, size_t errsz)
{
	struct tables t = { false, false, false };
	char sql[512];

	if (sim_ckdb_db_each(m, "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() "
		       "AND table_name IN ('outbox', 'inbox', 'dead_letters')", sim_ckdb_row_table, &t, err, errsz))
		return -1;
	if (t.outbox && ev->noutboxes < SIM_CK_MAX_SERVICES) {
		struct sim_ck_outbox *o = &ev->outboxes[ev->noutboxes++];

		snprintf(o->service, sizeof(o->service), "%s", svc);
		if (sim_ckdb_db_each(m, "SELECT COUNT(*), COALESCE(TIMESTAMPDIFF(MICROSECOND, MIN(created_at), NOW(6)), 0) FROM outbox",
			    sim_ckdb_row_outbox, o, err, errsz))
			return -1;
	}
	ev->nconsumers += t.inbox;
	if (!t.dead)
		return 0;
	/* A dead letter an operator replayed (replayed_at set) is dealt with: not listed. */
	snprintf(sql, sizeof(sql), "SELECT msg_id, type, reason, attempts, dead_at FROM dead_letters "
		 "WHERE dead_at >= FROM_UNIXTIME(%lld) AND replayed_at IS NULL ORDER BY seq", since > 0 ? since : 0LL);
	if (sim_ckdb_read_dead(m, sql, dead, svc, false, err, errsz) != 0)
		return -1;
	if (!t.inbox)
		return 0;
	snprintf(sql, sizeof(sql), "SELECT d.msg_id, d.type, d.reason, d.attempts, d.dead_at FROM dead_letters d "
		 "JOIN inbox i ON i.id = d.msg_id WHERE d.dead_at >= FROM_UNIXTIME(%lld) AND d.replayed_at IS NULL "
		 "ORDER BY d.seq",
		 since > 0 ? since : 0LL);
	return sim_ckdb_read_dead(m, sql, dead, svc, true, err, errsz);
}

/* The source tree (scripts/broker.sh): SHOPLAB_TOP, else the one this binary was built in. */
static int
sim_ckdb_top_dir(char *out, size_t outsz)
{
	char exe[1024], *p;
	ssize_t n;

	if (getenv("SHOPLAB_TOP") != NULL) {
		snprintf(out, outsz, "%s", getenv("SHOPLAB_TOP"));
		return 0;
	}
	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) <= 0)
		return -1;
	exe[n] = '\0';
	/* <top>/build/bin/sim or <top>/build/tests/...: cut at /build/. */
	if ((p = strstr(exe, "/build/")) == NULL)
		return -1;
	*p = '\0';
	snprintf(out, outsz, "%s", exe);
	return 0;
}

/*
 * Messages in the broker's <service>.dead queues. The consumer acks a message it gave up on
 * once its dead_letters row committed, so only the broker itself puts messages there (its
 * x-delivery-limit): each one has no dead_letters row. Read with rabbitmqctl through
 * scripts/broker.sh ctl (the stack's own node). A broker that cannot be asked: ndeadq 0.
 */
static void
sim_ckdb_read_dead_queues(struct sim_ck_events *ev)
{
	char top[1024], cmd[1200], line[256], name[128];
	long long msgs;
	FILE *f;

	if (sim_ckdb_top_dir(top, sizeof(top)) != 0)
		return;
	snprintf(cmd, sizeof(cmd), "'%s/scripts/broker.sh' ctl list_queues -q -p \"${SHOPLAB_AMQP_VHOST:-shoplab}\" "
		 "name messages 2>/dev/null", top);
	if ((f = popen(cmd, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t len;

		if (sscanf(line, "%127s %lld", name, &msgs) != 2 || (len = strlen(name)) < 6 ||
		    strcmp(name + len - 5, ".dead") != 0 || ev->ndeadq >= SIM_CK_MAX_SERVICES)
			continue;
		snprintf(ev->deadq[ev->ndeadq].queue, sizeof(ev->deadq[0].queue), "%s", name);
		ev->deadq[ev->ndeadq++].messages = msgs;
	}
	(void)pclose(f);
}

int
sim_check_read_events(struct sim_ck_data *d, long long dead_since_unix, char *err, size_t errsz)
{
	char names[SIM_CK_MAX_SERVICES][32];
	size_t n = sim_ckdb_stack_services(names);
	struct rows dead = SIM_CKDB_ROWS(d->ev.dead, d->ev.ndead, sim_ckdb_fill_dead);
	struct rows ships = SIM_CKDB_ROWS(d->ev.shipments, d->ev.nshipments, sim_ckdb_fill_shipment);
	bool shipping = false;
	unsigned code = 0;
	MYSQL *m;

	if (n == 0) {
		/* Not an error (sim check with SHOPLAB_DB_* alone): the event invariants say why not. */
		snprintf(d->ev.na_events, sizeof(d->ev.na_events), "SHOPLAB_SERVICES is not set, so which services' event "
			 "tables to read is not known (point SHOPLAB_RUN at a running stack's run directory)");
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		shipping |= strcmp(names[i], "shipping") == 0;
		if ((m = sim_ckdb_db_open(names[i], err, errsz)) == NULL)
			return -1;
		if (sim_ckdb_read_service_events(m, names[i], &d->ev, &dead, dead_since_unix, err, errsz) != 0) {
			mysql_close(m);
			return -1;
		}
		mysql_close(m);
	}
	if (d->ev.nconsumers > 0)
		sim_ckdb_read_dead_queues(&d->ev);
	if (d->ev.noutboxes == 0)
		snprintf(d->ev.na_outbox, sizeof(d->ev.na_outbox), "no service of this stack has an outbox table");
	if (!shipping) {
		snprintf(d->ev.na_shipping, sizeof(d->ev.na_shipping), "this stack has no shipping service "
			 "(SHOPLAB_SERVICES: %s): there are no shipments to check", getenv("SHOPLAB_SERVICES"));
	} else if ((m = sim_ckdb_db_open_code("shipping", err, errsz, &code)) == NULL) {
		/* 1049 unknown database, 1044 no rights on it: a stack made before shipping existed. */
		if (code != 1049 && code != 1044)
			return -1;
		snprintf(d->ev.na_shipping, sizeof(d->ev.na_shipping), "no shipping database here (an older stack): %.200s",
			 err);
		err[0] = '\0';
	} else {
		int rc = sim_ckdb_db_each(m, "SELECT id, order_id, user_id, status FROM shipments", sim_ckdb_row, &ships, err, errsz);

		mysql_close(m);
		if (rc != 0)
			return -1;
	}
	d->ev.read = true;
	return 0;
}

int
sim_check_events_pending(int64_t min_order_id, int64_t *outbox, int64_t *unshipped, char *desc, size_t descsz)
{
	char names[SIM_CK_MAX_SERVICES][32], err[512], sql[160];
	size_t n = sim_ckdb_stack_services(names), len = 0;
	struct sim_ck_events ev;
	struct rows dead = SIM_CKDB_ROWS(ev.dead, ev.ndead, sim_ckdb_fill_dead);
	bool shipping = false;
	MYSQL *m;
	int rc = -1;

	memset(&ev, 0, sizeof(ev));
	*outbox = *unshipped = 0;
	desc[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if ((m = sim_ckdb_db_open(names[i], err, sizeof(err))) == NULL)
			goto out;
		rc = sim_ckdb_read_service_events(m, names[i], &ev, &dead, 2000000000LL, err, sizeof(err));
		mysql_close(m);
		if (rc != 0)
			goto out;
		rc = -1;
	}
	for (size_t i = 0; i < ev.noutboxes; i++) {
		*outbox += ev.outboxes[i].depth;
		if (ev.outboxes[i].depth > 0 && len < descsz) {
			int k = snprintf(desc + len, descsz - len, "%soutbox %s %lld", len ? ", " : "", ev.outboxes[i].service,
					 (long long)ev.outboxes[i].depth);

			if (k > 0)
				len += (size_t)k;
		}
	}
	for (size_t i = 0; i < n; i++)
		shipping |= strcmp(names[i], "shipping") == 0;
	/* Without shipping nothing ships: only the outboxes are waited for. */
	if (!shipping) {
		rc = *outbox > 0;
		goto out;
	}
	if ((m = sim_ckdb_db_open("orders", err, sizeof(err))) == NULL)
		goto out;
	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM orders WHERE status = 'confirmed' AND id >= %lld",
		 (long long)min_order_id);
	rc = sim_ckdb_db_each(m, sql, sim_ckdb_row_count, unshipped, err, sizeof(err));
	mysql_close(m);
	if (rc != 0) {
		rc = -1;
		goto out;
	}
	if (*unshipped > 0 && len < descsz)
		snprintf(desc + len, descsz - len, "%sconfirmed, not shipped %lld", len ? ", " : "", (long long)*unshipped);
	rc = *outbox > 0 || *unshipped > 0;
out:
	if (rc < 0)
		snprintf(desc, descsz, "%s", err);
	free(ev.dead);
	return rc;
}

void
sim_check_data_free(struct sim_ck_data *d)
{
	free(d->ev.shipments);
	free(d->ev.dead);
	free(d->orders);
	free(d->charges);
	free(d->stock);
	free(d->resv);
	free(d->items);
	free(d->lines);
	free(d->clients);
	free(d->windows);
	memset(d, 0, sizeof(*d));
}
