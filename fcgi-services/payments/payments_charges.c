/* payments_charges.c - charge a card once per order, void a charge, look one up */
#include <stdio.h>
#include <string.h>

#include "payments.h"

#define PAY_COLS "id, order_id, status, amount_cents, refunded_cents, currency, last4, decline_code"

const char *const pay_stmts[PAY_NSTMTS] = {
	[PAY_GET] =
	    "SELECT " PAY_COLS " FROM charges WHERE order_id = ?",
	[PAY_GET_LOCKED] =
	    "SELECT " PAY_COLS " FROM charges WHERE order_id = ? FOR UPDATE",
	[PAY_INSERT] =
	    "INSERT INTO charges (order_id, status, amount_cents, currency, last4, decline_code)"
	    " VALUES (?, ?, ?, ?, ?, ?)",
	[PAY_INSERT_TOMBSTONE] =
	    "INSERT INTO charges (order_id, status, amount_cents, currency)"
	    " VALUES (?, 'voided', 0, NULL)",
	[PAY_SET_VOIDED] =
	    "UPDATE charges SET status = 'voided', refunded_cents = amount_cents"
	    " WHERE id = ? AND status = 'captured'",
};

/* One row of charges; an empty string stands for SQL NULL. */
struct pay_row {
	int64_t	id;
	int64_t	order_id;
	char	status[16];
	int64_t	amount_cents;
	int64_t	refunded_cents;
	char	currency[4];
	char	last4[5];
	char	decline_code[33];
};

static void
pay_copy_col(const struct svc_rows *rows, size_t col, char *out, size_t outlen)
{
	size_t		 len = 0;
	const char	*s = svc_rows_str(rows, col, &len);

	if (s == NULL)
		len = 0;
	if (len >= outlen)
		len = outlen - 1;
	if (len > 0)
		memcpy(out, s, len);
	out[len] = '\0';
}

/* Reads the charge of order_id with statement stmt; SVC_ERR_NOT_FOUND when there is none. */
static int
pay_load(struct svc_req *r, int stmt, int64_t order_id, struct pay_row *c)
{
	struct svc_rows	*rows = NULL;
	int		 rc;

	memset(c, 0, sizeof(*c));
	if ((rc = svc_db_query(r, stmt, &rows, "i", order_id)) != SVC_OK)
		return rc;
	rc = SVC_ERR_NOT_FOUND;
	if (!svc_rows_next(rows))
		goto out_free_rows;
	c->id = svc_rows_int(rows, 0);
	c->order_id = svc_rows_int(rows, 1);
	pay_copy_col(rows, 2, c->status, sizeof(c->status));
	c->amount_cents = svc_rows_int(rows, 3);
	c->refunded_cents = svc_rows_int(rows, 4);
	pay_copy_col(rows, 5, c->currency, sizeof(c->currency));
	pay_copy_col(rows, 6, c->last4, sizeof(c->last4));
	pay_copy_col(rows, 7, c->decline_code, sizeof(c->decline_code));
	rc = SVC_OK;
out_free_rows:
	svc_rows_free(rows);
	return rc;
}

/* key: s, or JSON null for an empty s; -1 when out of memory. */
static int
pay_add_str_or_null(json_object *o, const char *key, const char *s)
{
	if (s[0] != '\0')
		return svc_json_add(o, key, json_object_new_string(s));
	return json_object_object_add(o, key, NULL) != 0 ? -1 : 0;
}

/* The charge as the API shows it; a new reference, NULL when out of memory. */
static json_object *
pay_row_json(const struct pay_row *c)
{
	json_object	*o;
	int		 bad = 0;

	if ((o = json_object_new_object()) == NULL)
		return NULL;
	bad |= svc_json_add(o, "id", json_object_new_int64(c->id));
	bad |= svc_json_add(o, "order_id", json_object_new_int64(c->order_id));
	bad |= svc_json_add(o, "status", json_object_new_string(c->status));
	bad |= svc_json_add(o, "amount_cents", json_object_new_int64(c->amount_cents));
	bad |= svc_json_add(o, "refunded_cents", json_object_new_int64(c->refunded_cents));
	bad |= pay_add_str_or_null(o, "currency", c->currency);
	bad |= pay_add_str_or_null(o, "last4", c->last4);
	bad |= pay_add_str_or_null(o, "decline_code", c->decline_code);
	return svc_json_checked(o, bad);
}

static int
pay_reply_decline(struct svc_req *r, const struct pay_row *c)
{
	const char *msg = "the card was declined";

	if (strcmp(c->decline_code, "insufficient_funds") == 0)
		msg = "the card has insufficient funds";
	else if (strcmp(c->decline_code, "card_expired") == 0)
		msg = "the card has expired";
	return svc_reply_error(r, 402, c->decline_code[0] ? c->decline_code : "payment_declined",
	    "%s", msg);
}

/* Answers a charge request for an order that already has a charge row: as it was stored. */
static int
pay_reply_stored(struct svc_req *r, const struct pay_row *c, int64_t amount, const char *cur)
{
	if (strcmp(c->status, "voided") == 0)
		return svc_reply_error(r, 409, "charge_voided",
		    "the charge for order %lld was voided", (long long)c->order_id);
	if (c->amount_cents != amount || strcmp(c->currency, cur) != 0)
		return svc_reply_error(r, 409, "charge_mismatch",
		    "order %lld was charged with another amount or currency",
		    (long long)c->order_id);
	if (strcmp(c->status, "declined") == 0)
		return pay_reply_decline(r, c);
	return svc_reply_json(r, 200, pay_row_json(c));
}

/*
 * POST /internal/payments/charges. One charge per order: a stored charge answers every
 * later request for its order, and the unique key on order_id decides between concurrent
 * first requests. Only the last four digits of the card are kept.
 */
int
pay_charge(struct svc_req *r)
{
	json_object		*body, *card;
	const char		*cur, *code;
	char			 field[32], msg[128];
	struct svc_card		 k;
	struct pay_row		 c;
	enum pay_decision	 d;
	int64_t			 order_id, amount;
	int			 rc, now_month, now_year;

	if ((rc = svc_body_json_or_reply(r, &body)) != SVC_OK ||
	    (rc = svc_json_int_or_reply(r, body, "order_id", 1, INT64_MAX - 1, 1,
	    &order_id)) != SVC_OK ||
	    (rc = svc_json_int_or_reply(r, body, "amount_cents", 1, PAY_AMOUNT_MAX, 1,
	    &amount)) != SVC_OK ||
	    (rc = svc_json_str_or_reply(r, body, "currency", 3, 3, 1, &cur)) != SVC_OK ||
	    (rc = svc_json_obj_or_reply(r, body, "card", json_type_object, &card)) != SVC_OK)
		return rc;
	if (!pay_currency_ok(cur))
		return svc_reply_field_error(r, "currency", "currency must be an ISO 4217 code");
	if (svc_card_check(card, &k, field, sizeof(field), msg, sizeof(msg)) == -1)
		return svc_reply_field_error(r, field, "%s", msg);

	/*
	 * The charge's row is written first: the order id's unique key finds a stored charge
	 * (a replay, answered below as stored, whatever the card says now) without a read
	 * before every write.
	 */
	svc_card_month_of(svc_wall_us() / 1000000, &now_month, &now_year);
	d = pay_decide(k.digits, k.exp_month, k.exp_year, now_month, now_year);
	code = pay_decline_code(d);
	memset(&c, 0, sizeof(c));
	c.order_id = order_id;
	snprintf(c.status, sizeof(c.status), "%s", d == PAY_CAPTURE ? "captured" : "declined");
	c.amount_cents = amount;
	snprintf(c.currency, sizeof(c.currency), "%s", cur);
	snprintf(c.last4, sizeof(c.last4), "%s", k.digits + strlen(k.digits) - 4);
	snprintf(c.decline_code, sizeof(c.decline_code), "%s", code ? code : "");
	svc_card_wipe(&k);

	rc = svc_db_exec(r, PAY_INSERT, "isisss", order_id, c.status, amount, c.currency,
	    c.last4, code);
	if (rc == SVC_ERR_CONFLICT) {
		/* A replay, a concurrent request for this order, or its void: answer as stored. */
		if ((rc = pay_load(r, PAY_GET, order_id, &c)) == SVC_OK)
			return pay_reply_stored(r, &c, amount, cur);
		return svc_reply_err(r, rc == SVC_ERR_NOT_FOUND ? SVC_ERR_INTERNAL : rc);
	}
	if (rc != SVC_OK)
		return svc_reply_err(r, rc);
	c.id = (int64_t)svc_db_insert_id(r);
	if (code != NULL)
		return pay_reply_decline(r, &c);
	return svc_reply_json(r, 201, pay_row_json(&c));
}

struct pay_void_ctx {
	int64_t		order_id;
	struct pay_row	c;
};

/*
 * The void, in one transaction: the row is locked while it is read and changed. An order
 * that has no charge gets a tombstone, so that a charge arriving late is refused.
 */
static int
pay_void_tx(struct svc_req *r, void *arg)
{
	struct pay_void_ctx	*v = arg;
	int			 rc;

	rc = pay_load(r, PAY_GET_LOCKED, v->order_id, &v->c);
	if (rc == SVC_ERR_NOT_FOUND) {
		rc = svc_db_exec(r, PAY_INSERT_TOMBSTONE, "i", v->order_id);
		/* Someone else's row came first: read it on the transaction's next attempt. */
		if (rc == SVC_ERR_CONFLICT)
			return SVC_ERR_DB_RETRY;
		if (rc != SVC_OK)
			return rc;
		memset(&v->c, 0, sizeof(v->c));
		v->c.id = (int64_t)svc_db_insert_id(r);
		v->c.order_id = v->order_id;
		snprintf(v->c.status, sizeof(v->c.status), "voided");
		return SVC_OK;
	}
	if (rc != SVC_OK)
		return rc;
	if (strcmp(v->c.status, "captured") != 0)
		return SVC_OK;	/* declined: nothing to give back; voided: done before */
	if ((rc = svc_db_exec(r, PAY_SET_VOIDED, "i", v->c.id)) != SVC_OK)
		return rc;
	snprintf(v->c.status, sizeof(v->c.status), "voided");
	v->c.refunded_cents = v->c.amount_cents;
	return SVC_OK;
}

/* POST /internal/payments/charges/{order_id}/void: idempotent, and safe before a charge. */
int
pay_void(struct svc_req *r)
{
	struct pay_void_ctx	 v;
	json_object		*o;
	int			 rc, bad = 0;

	memset(&v, 0, sizeof(v));
	if ((rc = svc_path_id_or_reply(r, "order_id", "charge", &v.order_id)) != SVC_OK)
		return rc;
	if ((rc = svc_db_tx(r, pay_void_tx, &v)) != SVC_OK)
		return svc_reply_err(r, rc);
	o = json_object_new_object();
	bad |= svc_json_add(o, "order_id", json_object_new_int64(v.order_id));
	bad |= svc_json_add(o, "status", json_object_new_string(v.c.status));
	bad |= svc_json_add(o, "amount_cents", json_object_new_int64(v.c.amount_cents));
	bad |= svc_json_add(o, "refunded_cents", json_object_new_int64(v.c.refunded_cents));
	return svc_reply_json(r, 200, svc_json_checked(o, bad));
}

/* GET /internal/payments/charges/{order_id} */
int
pay_get(struct svc_req *r)
{
	struct pay_row	c;
	int64_t		order_id;
	int		rc;

	if ((rc = svc_path_id_or_reply(r, "order_id", "charge", &order_id)) != SVC_OK)
		return rc;
	rc = pay_load(r, PAY_GET, order_id, &c);
	if (rc == SVC_ERR_NOT_FOUND)
		return svc_reply_error(r, 404, "not_found", "no charge for order %lld",
		    (long long)order_id);
	if (rc != SVC_OK)
		return svc_reply_err(r, rc);
	return svc_reply_json(r, 200, pay_row_json(&c));
}
