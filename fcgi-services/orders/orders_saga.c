/* orders_saga.c - the checkout saga: reserve, charge, commit, or compensate; and its recovery */
#include <stdio.h>
#include <string.h>

#include "orders.h"

enum orders_step { STEP_DONE, STEP_NEXT, STEP_WAIT, STEP_FAIL };

/* The error code of a dependency's JSON error answer, or "". */
static const char *
orders_dep_code(const struct svc_dep_result *res)
{
	json_object *e, *c;

	if (res->http.json != NULL && json_object_object_get_ex(res->http.json, "error", &e) &&
	    json_object_object_get_ex(e, "code", &c) && json_object_is_type(c, json_type_string))
		return json_object_get_string(c);
	return "";
}

/*
 * A "no" the saga has no rule for (a 404 from the gateway for a service not deployed, a
 * 401 for a wrong token, a 400 for a bug) decides nothing: log it, keep the saga pending.
 */
static void
orders_unexpected(struct svc_req *r, const struct orders_saga *s, const char *step,
    const struct svc_dep_result *res)
{
	svc_log(r, "error", "order %lld: %s answered %d %s; the saga waits", (long long)s->id,
	    step, res->http.status, orders_dep_code(res));
}

/* Moves the saga from state `from` to `to` (and the order's status); 0 if someone else did. */
static int
orders_move(struct svc_req *r, struct orders_saga *s, const char *to, const char *status,
    const char *reason)
{
	int rc;

	rc = svc_db_exec(r, ORD_SET_STATE, "sssis", to, status, reason, s->id, s->state);
	if (rc != SVC_OK)
		return rc;
	if (svc_db_affected(r) != 1)
		return SVC_ERR_CONFLICT;
	snprintf(s->state, sizeof(s->state), "%s", to);
	snprintf(s->status, sizeof(s->status), "%s", status);
	if (reason != NULL)
		snprintf(s->reason, sizeof(s->reason), "%s", reason);
	svc_log(r, "info", "order %lld: saga -> %s", (long long)s->id, to);
	return SVC_OK;
}

static json_object *
orders_items_json(const struct orders_saga *s)
{
	json_object	*items, *it;
	size_t		 i;

	if ((items = json_object_new_array()) == NULL)
		return NULL;
	for (i = 0; i < s->nitems; i++) {
		if ((it = json_object_new_object()) == NULL)
			break;
		json_object_object_add(it, "product_id", json_object_new_int64(s->items[i].product_id));
		json_object_object_add(it, "quantity", json_object_new_int64(s->items[i].quantity));
		json_object_array_add(items, it);
	}
	return items;
}

/* Calls dep with a JSON body built from obj (consumed); res must be initialised. */
static int
orders_post(struct svc_req *r, const char *dep, const char *path, json_object *obj,
    struct svc_dep_result *res)
{
	const char	*body = obj ? json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN) : "{}";
	int		 rc;

	/* Every call of the saga is idempotent per order id: retrying is always safe. */
	rc = svc_call(r, dep, "POST", path, body, NULL, 1, res);
	json_object_put(obj);
	return rc;
}

/* POSTs to /internal/<collection>/<order id>/<action> (commit, release, void) with no body. */
static int
orders_act(struct svc_req *r, const struct orders_saga *s, const char *dep,
    const char *collection, const char *action, struct svc_dep_result *res)
{
	char path[128];

	snprintf(path, sizeof(path), "/internal/%s/%lld/%s", collection, (long long)s->id, action);
	return orders_post(r, dep, path, NULL, res);
}

static enum orders_step
orders_step_reserve(struct svc_req *r, struct orders_saga *s)
{
	struct svc_dep_result	 res;
	json_object		*o;
	enum orders_step	 step = STEP_WAIT;
	const char		*code;

	svc_dep_result_init(&res);
	if ((o = json_object_new_object()) == NULL)
		return STEP_FAIL;
	json_object_object_add(o, "order_id", json_object_new_int64(s->id));
	json_object_object_add(o, "items", orders_items_json(s));
	if (orders_post(r, "inventory", "/internal/inventory/reservations", o, &res) != SVC_OK)
		goto out;
	switch (res.outcome) {
	case SVC_DEP_OK:
		step = orders_move(r, s, "reserved", "pending", NULL) == SVC_OK ? STEP_NEXT : STEP_FAIL;
		break;
	case SVC_DEP_DEFINITE:
		code = orders_dep_code(&res);
		/* Nothing is held: out of stock holds nothing, a released one was compensated. */
		if (strcmp(code, "out_of_stock") == 0 || strcmp(code, "reservation_released") == 0)
			step = orders_move(r, s, "done", "rejected", strcmp(code, "out_of_stock") == 0 ?
			    "out_of_stock" : "compensated") == SVC_OK ? STEP_DONE : STEP_FAIL;
		else
			orders_unexpected(r, s, "reserve", &res);
		break;
	default:
		break;
	}
out:
	svc_dep_result_free(&res);
	return step;
}

static enum orders_step
orders_step_charge(struct svc_req *r, struct orders_saga *s, const struct orders_state *st)
{
	struct svc_dep_result	 res;
	json_object		*o;
	enum orders_step	 step = STEP_WAIT;
	const char		*code;

	if (s->card == NULL) {
		/* The card is gone (a restart lost nothing else): compensate rather than guess. */
		return orders_move(r, s, "compensating", "pending", "payment_unavailable") ==
		    SVC_OK ? STEP_NEXT : STEP_FAIL;
	}
	svc_dep_result_init(&res);
	if ((o = json_object_new_object()) == NULL)
		return STEP_FAIL;
	json_object_object_add(o, "order_id", json_object_new_int64(s->id));
	json_object_object_add(o, "amount_cents", json_object_new_int64(s->total_cents));
	json_object_object_add(o, "currency", json_object_new_string(s->currency));
	json_object_object_add(o, "card", json_object_get(s->card));
	if (orders_post(r, "payments", "/internal/payments/charges", o, &res) != SVC_OK)
		goto out;
	switch (res.outcome) {
	case SVC_DEP_OK:
		step = orders_move(r, s, "charged", "pending", NULL) == SVC_OK ? STEP_NEXT : STEP_FAIL;
		break;
	case SVC_DEP_DEFINITE:
		code = orders_dep_code(&res);
		if (res.http.status == 402 || strcmp(code, "charge_voided") == 0)
			step = orders_move(r, s, "compensating", "pending", res.http.status == 402 ?
			    "payment_declined" : "payment_failed") == SVC_OK ? STEP_NEXT : STEP_FAIL;
		else
			orders_unexpected(r, s, "charge", &res);
		break;
	default:
		/* Unknown: ask again later with the same order id. Past give_up, compensate. */
		if (s->age_s > st->give_up_s)
			step = orders_move(r, s, "compensating", "pending", "payment_unavailable") ==
			    SVC_OK ? STEP_NEXT : STEP_FAIL;
		break;
	}
	if (step == STEP_NEXT)
		svc_db_exec(r, ORD_DROP_CARD, "i", s->id);
out:
	svc_dep_result_free(&res);
	return step;
}

static enum orders_step
orders_step_commit(struct svc_req *r, struct orders_saga *s)
{
	struct svc_dep_result	res;
	enum orders_step	step = STEP_WAIT;

	svc_dep_result_init(&res);
	if (orders_act(r, s, "inventory", "inventory/reservations", "commit", &res) != SVC_OK)
		goto out;
	if (res.outcome == SVC_DEP_OK)
		step = orders_move(r, s, "done", "confirmed", NULL) == SVC_OK ? STEP_DONE : STEP_FAIL;
	else if (res.outcome == SVC_DEP_DEFINITE &&
	    strcmp(orders_dep_code(&res), "reservation_released") == 0) {
		/* The reservation is gone although we charged: give the money back. */
		svc_log(r, "error", "order %lld: commit refused (%d %s); compensating",
		    (long long)s->id, res.http.status, orders_dep_code(&res));
		step = orders_move(r, s, "compensating", "pending", "reservation_lost") == SVC_OK ?
		    STEP_NEXT : STEP_FAIL;
	} else if (res.outcome == SVC_DEP_DEFINITE)
		orders_unexpected(r, s, "commit", &res);
out:
	svc_dep_result_free(&res);
	return step;
}

/* Voids any charge (a tombstone if none arrived yet), then releases the reservation. */
static enum orders_step
orders_step_compensate(struct svc_req *r, struct orders_saga *s)
{
	struct svc_dep_result	res;
	enum orders_step	step = STEP_WAIT;

	svc_dep_result_init(&res);
	if (orders_act(r, s, "payments", "payments/charges", "void", &res) != SVC_OK ||
	    res.outcome != SVC_DEP_OK)
		goto out;
	svc_dep_result_free(&res);
	svc_dep_result_init(&res);
	if (orders_act(r, s, "inventory", "inventory/reservations", "release", &res) != SVC_OK ||
	    res.outcome != SVC_DEP_OK)
		goto out;
	step = orders_move(r, s, "done", "rejected", NULL) == SVC_OK ? STEP_DONE : STEP_FAIL;
out:
	if (res.outcome == SVC_DEP_DEFINITE)
		orders_unexpected(r, s, "compensate", &res);
	svc_dep_result_free(&res);
	return step;
}

int
orders_saga_run(struct svc_req *r, struct orders_saga *s)
{
	const struct orders_state	*st = svc_req_state(r);
	enum orders_step		 step = STEP_NEXT;

	while (step == STEP_NEXT) {
		if (strcmp(s->state, "pending") == 0)
			step = orders_step_reserve(r, s);
		else if (strcmp(s->state, "reserved") == 0)
			step = orders_step_charge(r, s, st);
		else if (strcmp(s->state, "charged") == 0)
			step = orders_step_commit(r, s);
		else if (strcmp(s->state, "compensating") == 0)
			step = orders_step_compensate(r, s);
		else
			step = STEP_DONE;
		if (step == STEP_NEXT && svc_now_us() >= svc_req_deadline_us(r))
			step = STEP_WAIT;
	}
	switch (step) {
	case STEP_DONE:
		return SVC_OK;
	case STEP_WAIT:
		return SVC_ERR_UNAVAILABLE;
	default:
		return SVC_ERR_INTERNAL;
	}
}

/*
 * The recovery worker: every pending saga whose next attempt is due is claimed (a lease,
 * so that two workers never drive one saga at once) and driven as far as it goes; if it
 * is still pending, its next attempt backs off exponentially.
 */
int
orders_recover(struct svc_req *r)
{
	const struct orders_state	*st = svc_req_state(r);
	struct orders_saga		 s;
	struct svc_rows			*rows = NULL;
	int64_t				 ids[256], backoff;
	size_t				 n = 0, i;
	int				 rc;

	if ((rc = svc_db_query(r, ORD_DUE, &rows, "i", (int64_t)st->batch)) != SVC_OK)
		return rc;
	while (svc_rows_next(rows) && n < sizeof(ids) / sizeof(ids[0]))
		ids[n++] = svc_rows_int(rows, 0);
	svc_rows_free(rows);
	for (i = 0; i < n && !svc_req_stopping(r); i++) {
		if (svc_db_exec(r, ORD_CLAIM, "ii", st->lease_ms * 1000, ids[i]) != SVC_OK ||
		    svc_db_affected(r) != 1)
			continue;
		if (orders_load(r, ids[i], 0, &s) != SVC_OK)
			continue;
		rc = orders_saga_run(r, &s);
		if (rc != SVC_OK) {
			/* 0.5 s, 1 s, 2 s, ... capped at 30 s, from the age of the saga. */
			backoff = 500000;
			while (backoff < 30000000 && backoff < s.age_s * 250000)
				backoff *= 2;
			svc_db_exec(r, ORD_RESCHEDULE, "ii", backoff, s.id);
		}
		orders_saga_free(&s);
	}
	/* A full batch means more may be due: go again without waiting. */
	return n == (size_t)st->batch ? 1 : SVC_OK;
}
