/* orders_create.c - POST /api/v1/orders: validate, price, record with its key, run the saga */
#include <stdio.h>
#include <string.h>

#include "orders.h"

int
orders_parse_items(struct svc_req *r, json_object *body, struct orders_item *items,
    size_t *nitems)
{
	json_object	*arr, *it;
	char		 field[48];
	size_t		 i, j, n;
	int		 rc;

	*nitems = 0;
	if ((rc = svc_json_obj_or_reply(r, body, "items", json_type_array, &arr)) != SVC_OK)
		return rc;
	n = json_object_array_length(arr);
	if (n < 1 || n > ORDERS_MAX_ITEMS)
		return svc_reply_field_error(r, "items", "items must hold 1 to %d entries",
		    ORDERS_MAX_ITEMS);
	for (i = 0; i < n; i++) {
		it = json_object_array_get_idx(arr, i);
		snprintf(field, sizeof(field), "items[%zu]", i);
		if (!json_object_is_type(it, json_type_object))
			return svc_reply_field_error(r, field, "%s must be an object", field);
		snprintf(field, sizeof(field), "items[%zu].product_id", i);
		if (!json_object_object_get_ex(it, "product_id", NULL))
			return svc_reply_field_error(r, field, "%s is required", field);
		if ((rc = svc_json_int_or_reply(r, it, "product_id", 1, INT64_MAX - 1, 1,
		    &items[i].product_id)) != SVC_OK ||
		    (rc = svc_json_int_or_reply(r, it, "quantity", 1, 1000, 1,
		    &items[i].quantity)) != SVC_OK)
			return rc;
		for (j = 0; j < i; j++)
			if (items[j].product_id == items[i].product_id)
				return svc_reply_field_error(r, field,
				    "each product may appear once in items");
	}
	*nitems = n;
	return SVC_OK;
}

/*
 * Checks the card where it enters, by payments' own rules (svc_card.h), so that a card
 * payments would refuse never holds stock: shape, Luhn, cvc, no unknown members, and not
 * expired this month. Declines (a refused test card, no funds) are still payments' word.
 */
static int
orders_parse_card(struct svc_req *r, json_object *body, json_object **card)
{
	struct svc_card	k;
	char		field[32], msg[128];
	int		rc, now_month, now_year, expired;

	if ((rc = svc_json_obj_or_reply(r, body, "card", json_type_object, card)) != SVC_OK)
		return rc;
	if (svc_card_check(*card, &k, field, sizeof(field), msg, sizeof(msg)) == -1)
		return svc_reply_field_error(r, field, "%s", msg);
	svc_card_month_of(svc_wall_us() / 1000000, &now_month, &now_year);
	expired = svc_card_expired(k.exp_month, k.exp_year, now_month, now_year);
	svc_card_wipe(&k);
	if (expired)
		return svc_reply_field_error(r, "card.exp_year",
		    "the card expired at the end of its exp_month/exp_year");
	return SVC_OK;
}

/*
 * Looks the prices up in the catalog, through the internal gateway. Every line must be in
 * one currency, and the total within what one charge may be (1 cent to
 * SVC_CARD_AMOUNT_MAX): a free order is refused, not confirmed without a charge.
 */
static int
orders_price(struct svc_req *r, struct orders_item *items, size_t n, int64_t *total,
    char currency[4])
{
	struct svc_call_result	 res;
	json_object		*v, *c;
	char			 path[96], field[48];
	const char		*cur;
	size_t			 i;
	int64_t			 line;
	int			 rc = SVC_OK;

	*total = 0;
	currency[0] = '\0';
	for (i = 0; i < n && rc == SVC_OK; i++) {
		snprintf(path, sizeof(path), "/internal/catalog/products/%lld",
		    (long long)items[i].product_id);
		snprintf(field, sizeof(field), "items[%zu].product_id", i);
		if ((rc = svc_call(r, "catalog", "GET", path, NULL, NULL, 1, &res)) != SVC_OK) {
			rc = svc_reply_err(r, rc);
		} else if (res.outcome == SVC_CALL_NO && res.status == 404) {
			rc = svc_reply_field_error(r, field, "no product with id %lld",
			    (long long)items[i].product_id);
		} else if (res.outcome != SVC_CALL_OK || res.json == NULL ||
		    !json_object_object_get_ex(res.json, "price_cents", &v) ||
		    !json_object_is_type(v, json_type_int) ||
		    !json_object_object_get_ex(res.json, "currency", &c) ||
		    !json_object_is_type(c, json_type_string) ||
		    json_object_get_string_len(c) != 3) {
			rc = svc_reply_error(r, 503, "service_unavailable",
			    "prices cannot be looked up now; nothing was ordered; try again");
		} else {
			items[i].unit_price_cents = json_object_get_int64(v);
			cur = json_object_get_string(c);
			if (currency[0] != '\0' && strcmp(currency, cur) != 0)
				rc = svc_reply_error(r, 400, "currency_mismatch",
				    "product %lld is priced in %s, the order so far in %s; "
				    "order products of one currency together",
				    (long long)items[i].product_id, cur, currency);
			else if (items[i].unit_price_cents < 0 ||
			    __builtin_mul_overflow(items[i].unit_price_cents, items[i].quantity,
			    &line) || __builtin_add_overflow(*total, line, total) ||
			    *total > SVC_CARD_AMOUNT_MAX)
				rc = svc_reply_error(r, 400, "invalid_total",
				    "the order's total must be at most %lld cents",
				    (long long)SVC_CARD_AMOUNT_MAX);
			else
				snprintf(currency, 4, "%s", cur);
		}
		svc_call_result_free(&res);
	}
	if (rc == SVC_OK && *total < 1)
		rc = svc_reply_error(r, 400, "invalid_total",
		    "the order's total is 0; free orders are not taken");
	return rc;
}

struct orders_insert {
	int64_t			 user_id;
	const char		*key;
	const char		*hash;
	const unsigned char	*card;
	size_t			 cardlen;
	int64_t			 lease_us;
	const struct orders_item *items;
	size_t			 nitems;
	int64_t			 total;
	const char		*currency;
	int64_t			 id;
	char			 created_at[40];
};

/* The order, its items and its key in one transaction (svc_db_tx retries deadlocks). */
static int
orders_insert_tx(struct svc_req *r, void *arg)
{
	struct orders_insert	*in = arg;
	struct svc_rows		*rows = NULL;
	size_t			 i;
	int			 rc;

	if ((rc = svc_db_query(r, ORD_INSERT, &rows, "iisssbi", in->user_id, in->total,
	    in->currency, in->key, in->hash, in->card, in->cardlen, in->lease_us)) != SVC_OK)
		return rc;
	if (!svc_rows_next(rows)) {
		svc_rows_free(rows);
		return SVC_ERR_INTERNAL;
	}
	in->id = svc_rows_int(rows, 0);
	svc_rows_copy(rows, 1, in->created_at, sizeof(in->created_at));
	svc_rows_free(rows);
	for (i = 0; i < in->nitems; i++)
		if ((rc = svc_db_exec(r, ORD_INSERT_ITEM, "iiii", in->id, in->items[i].product_id,
		    in->items[i].quantity, in->items[i].unit_price_cents)) != SVC_OK)
			return rc;
	return SVC_OK;
}

static int orders_answer(struct svc_req *r, struct orders_saga *s, int finished);

/* The saga of the order just inserted, as orders_load would read it back (age 0). */
static void
orders_new_saga(const struct orders_insert *in, json_object *card, struct orders_saga *s)
{
	memset(s, 0, sizeof(*s));
	s->id = in->id;
	s->user_id = in->user_id;
	snprintf(s->status, sizeof(s->status), "pending");
	s->state = ORD_S_PENDING;
	s->total_cents = in->total;
	snprintf(s->currency, sizeof(s->currency), "%s", in->currency);
	snprintf(s->created_at, sizeof(s->created_at), "%s", in->created_at);
	s->nitems = in->nitems;
	memcpy(s->items, in->items, in->nitems * sizeof(s->items[0]));
	s->card = json_object_get(card);
}

/* Answers a request whose key is known: the stored answer, or 409 while it runs. */
static int
orders_replay(struct svc_req *r, int64_t user_id, const char *key, const char *hash)
{
	struct svc_rows	*rows = NULL;
	const char	*h, *body;
	size_t		 len;
	int		 rc, status;

	if ((rc = svc_db_query(r, ORD_FIND_KEY, &rows, "is", user_id, key)) != SVC_OK)
		return svc_reply_err(r, rc);
	if (!svc_rows_next(rows)) {
		svc_rows_free(rows);
		return SVC_ERR_NOT_FOUND;
	}
	h = svc_rows_str(rows, 1, NULL);
	if (h == NULL || strcmp(h, hash) != 0) {
		svc_rows_free(rows);
		return svc_reply_error(r, 409, "idempotency_key_reused",
		    "this Idempotency-Key was used with another request body");
	}
	if (svc_rows_isnull(rows, 2)) {
		/*
		 * No answer was stored: the first request is still running, or it died (or its
		 * commit's answer was lost) and recovery finished the saga. A finished order is
		 * answered, and that answer stored, as the first request would have.
		 */
		struct orders_saga s;
		int64_t id = svc_rows_int(rows, 0);

		svc_rows_free(rows);
		if (orders_load(r, id, user_id, &s) == SVC_OK) {
			if (strcmp(s.status, "pending") != 0) {
				rc = orders_answer(r, &s, 1);
				orders_saga_free(&s);
				return rc;
			}
			orders_saga_free(&s);
		}
		svc_reply_header(r, "Retry-After", "1");
		return svc_reply_error(r, 409, "request_in_progress",
		    "a request with this Idempotency-Key is still being processed");
	}
	status = (int)svc_rows_int(rows, 2);
	body = svc_rows_str(rows, 3, &len);
	svc_reply_header(r, "Idempotent-Replayed", "true");
	/* A replayed 201 or 202 names the order, as the first answer did. */
	if (status == 201 || status == 202) {
		char loc[64];

		snprintf(loc, sizeof(loc), "/api/v1/orders/%lld", (long long)svc_rows_int(rows, 0));
		svc_reply_header(r, "Location", loc);
	}
	rc = svc_reply_raw(r, status, "application/json", body ? body : "", body ? len : 0);
	svc_rows_free(rows);
	return rc;
}

json_object *
orders_reply_json(struct svc_req *r, const struct orders_saga *s, int finished, int *status)
{
	json_object	*obj, *err;
	const char	*code = "order_rejected";
	const char	*msg = "the order could not be completed; nothing was charged";
	int		 bad = 0;

	if (!finished || strcmp(s->status, "pending") == 0) {
		*status = 202;
		return orders_json(s);
	}
	if (strcmp(s->status, "confirmed") == 0) {
		*status = 201;
		return orders_json(s);
	}
	/* Rejected: the contract's error shape, with the order for reference. */
	*status = 409;
	if (strcmp(s->reason, "out_of_stock") == 0) {
		code = "out_of_stock";
		msg = "not enough stock for this order; nothing was charged";
	} else if (strcmp(s->reason, "payment_declined") == 0) {
		*status = 402;
		code = "payment_declined";
		msg = "the payment was declined; nothing was charged";
	}
	obj = json_object_new_object();
	err = json_object_new_object();
	bad |= svc_json_add(err, "code", json_object_new_string(code));
	bad |= svc_json_add(err, "message", json_object_new_string(msg));
	bad |= svc_json_add(err, "request_id", json_object_new_string(svc_req_id(r)));
	bad |= svc_json_add(err, "order", orders_json(s));
	bad |= svc_json_add(obj, "error", err);
	return svc_json_checked(obj, bad);
}

/*
 * Sends the answer for s and stores it as the key's answer, unless the saga's last move
 * stored it already (then that very reply is sent).
 */
static int
orders_answer(struct svc_req *r, struct orders_saga *s, int finished)
{
	json_object	*obj;
	const char	*body;
	int		 status;

	if (s->reply != NULL && finished) {
		obj = json_object_get(s->reply);
		status = s->reply_status;
	} else {
		if ((obj = orders_reply_json(r, s, finished, &status)) == NULL)
			return svc_reply_err(r, SVC_ERR_NOMEM);
		body = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
		    JSON_C_TO_STRING_NOSLASHESCAPE);
		/* The stored answer is what a replay of the key returns. */
		svc_db_exec(r, ORD_STORE_RESPONSE, "isi", (int64_t)status, body, s->id);
	}
	if (status == 201 || status == 202) {
		char loc[64];

		snprintf(loc, sizeof(loc), "/api/v1/orders/%lld", (long long)s->id);
		svc_reply_header(r, "Location", loc);
	}
	return svc_reply_json(r, status, obj);
}

int
orders_create(struct svc_req *r)
{
	struct orders_state	*st = svc_req_state(r);
	struct orders_insert	 in;
	struct orders_item	 items[ORDERS_MAX_ITEMS];
	struct orders_saga	 s;
	json_object		*body, *card;
	const char		*key, *canon, *cardtxt;
	unsigned char		 sealed[512];
	char			 hash[65], currency[4];
	struct svc_buf		 hb;
	size_t			 nitems, sealedlen;
	int64_t			 uid = svc_req_user_id(r), total;
	int			 rc;

	if (uid == 0)
		return svc_reply_error(r, 401, "unauthorized", "a valid bearer token is required");
	key = svc_req_header(r, "Idempotency-Key");
	if (key == NULL || key[0] == '\0' || strlen(key) > ORDERS_KEY_MAX ||
	    !svc_req_id_sane(key))
		return svc_reply_field_error(r, "Idempotency-Key",
		    "send an Idempotency-Key header of 1 to 64 characters [A-Za-z0-9._-]");
	if ((rc = svc_body_json_or_reply(r, &body)) != SVC_OK ||
	    (rc = orders_parse_items(r, body, items, &nitems)) != SVC_OK ||
	    (rc = orders_parse_card(r, body, &card)) != SVC_OK)
		return rc;

	/* The key's request hash: the body as parsed, so spacing does not matter. */
	canon = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);
	svc_buf_init(&hb);
	svc_buf_printf(&hb, "%lld\n%s", (long long)uid, canon);
	if (hb.failed) {
		svc_buf_free(&hb);
		return svc_reply_err(r, SVC_ERR_NOMEM);
	}
	svc_sha256_hex(hb.data, hb.len, hash);
	svc_buf_free(&hb);
	if ((rc = orders_replay(r, uid, key, hash)) != SVC_ERR_NOT_FOUND)
		return rc;

	if ((rc = orders_price(r, items, nitems, &total, currency)) != SVC_OK)
		return rc;
	cardtxt = json_object_to_json_string_ext(card, JSON_C_TO_STRING_PLAIN);
	if (orders_card_seal(st->aes_key, key, cardtxt, sealed, sizeof(sealed), &sealedlen) == -1)
		return svc_reply_err(r, SVC_ERR_INTERNAL);

	memset(&in, 0, sizeof(in));
	in.user_id = uid;
	in.key = key;
	in.hash = hash;
	in.card = sealed;
	in.cardlen = sealedlen;
	/* This request owns the saga until its deadline; the recovery worker waits for that. */
	in.lease_us = svc_req_deadline_us(r) - svc_now_us() + st->lease_ms * 1000;
	in.items = items;
	in.nitems = nitems;
	in.total = total;
	in.currency = currency;
	rc = svc_db_tx(r, orders_insert_tx, &in);
	if (rc == SVC_ERR_CONFLICT) {
		/* A concurrent request with the same key won the insert. */
		if ((rc = orders_replay(r, uid, key, hash)) != SVC_ERR_NOT_FOUND)
			return rc;
		return svc_reply_err(r, SVC_ERR_CONFLICT);
	}
	if (rc != SVC_OK)
		return svc_reply_err(r, rc);

	/* The saga starts from what was just written, not from a read of it. */
	orders_new_saga(&in, card, &s);
	s.answering = 1;
	rc = orders_saga_run(r, &s);
	if (rc != SVC_OK && rc != SVC_ERR_UNAVAILABLE)
		svc_log(r, "error", "order %lld: saga stopped: %s", (long long)s.id,
		    svc_err_name(rc));
	if (rc != SVC_OK) {
		/* Hand the rest to the recovery worker now. */
		svc_db_exec(r, ORD_RESCHEDULE, "ii", (int64_t)0, s.id);
	}
	rc = orders_answer(r, &s, rc == SVC_OK);
	orders_saga_free(&s);
	return rc;
}
