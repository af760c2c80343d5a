/* orders_saga.c - the checkout saga's I/O: take a step, ask orders_rule where it leads, persist */
#include <stdio.h>
#include <string.h>

#include "orders.h"

/* A step's answer, with its error code copied out of the response that held it. */
struct orders_heard {
	struct orders_answer	a;
	char			code[48];
};

/* Classifies a call's result for the rules: only a 2xx or a 4xx is an answer. */
static void
orders_heard(int rc, const struct svc_call_result *res, struct orders_heard *h)
{
	memset(h, 0, sizeof(*h));
	h->a.code = h->code;
	if (rc != SVC_OK || (res->outcome != SVC_CALL_OK && res->outcome != SVC_CALL_NO)) {
		h->a.cls = ORD_A_UNKNOWN;
		return;
	}
	h->a.cls = res->outcome == SVC_CALL_OK ? ORD_A_OK : ORD_A_NO;
	h->a.status = res->status;
	snprintf(h->code, sizeof(h->code), "%s", res->code);
}

/* Moves the saga from its state to rule->next (and the order's status); conflict if someone else did. */
struct orders_move_tx {
	const struct orders_saga	*s;
	const struct orders_rule	*rule;
	const char			*reason;
	json_object			*reply;		/* the reply stored with the end */
	int				 reply_status;
};

/* The state change; when it ends the saga, its event in the same transaction. */
static int
orders_move_tx(struct svc_req *r, void *arg)
{
	struct orders_move_tx		*m = arg;
	struct orders_saga		 after;
	const char			*body = NULL;
	char				 status[8] = "";
	int				 rc;

	/* The event, and the reply, describe the order as it is after the move. */
	memcpy(&after, m->s, sizeof(after));
	after.card = NULL;
	after.reply = NULL;
	snprintf(after.status, sizeof(after.status), "%s", m->rule->status);
	if (m->reason != NULL)
		snprintf(after.reason, sizeof(after.reason), "%s", m->reason);
	json_object_put(m->reply);
	m->reply = NULL;
	if (m->rule->next == ORD_S_DONE && m->s->answering) {
		/* The reply a replay of the key returns, stored by the move itself. */
		if ((m->reply = orders_reply_json(r, &after, 1, &m->reply_status)) == NULL)
			return SVC_ERR_NOMEM;
		body = json_object_to_json_string_ext(m->reply, JSON_C_TO_STRING_PLAIN |
		    JSON_C_TO_STRING_NOSLASHESCAPE);
		snprintf(status, sizeof(status), "%d", m->reply_status);
	}
	rc = svc_db_exec(r, ORD_SET_STATE, "sssissis", orders_state_name(m->rule->next),
	    m->rule->status, m->reason, (int64_t)m->rule->drop_card, body,
	    status[0] != '\0' ? status : NULL, m->s->id, orders_state_name(m->s->state));
	if (rc != SVC_OK)
		return rc;
	if (svc_db_affected(r) != 1)
		return SVC_ERR_CONFLICT;
	if (m->rule->next != ORD_S_DONE)
		return SVC_OK;
	return orders_outbox_terminal(r, &after);
}

static int
orders_move(struct svc_req *r, struct orders_saga *s, const struct orders_rule *rule)
{
	const char	*reason = rule->reason[0] != '\0' ? rule->reason : NULL;
	int		 rc;

	struct orders_move_tx	 m = { s, rule, reason, NULL, 0 };

	/* The terminal move and its event commit together (the outbox); the others alone. */
	rc = rule->next == ORD_S_DONE ? svc_db_tx(r, orders_move_tx, &m) : orders_move_tx(r, &m);
	if (rc != SVC_OK) {
		json_object_put(m.reply);
		return rc;
	}
	if (m.reply != NULL) {
		json_object_put(s->reply);
		s->reply = m.reply;
		s->reply_status = m.reply_status;
	}
	svc_log(r, "info", "order %lld: saga %s -> %s%s%s", (long long)s->id,
	    orders_state_name(s->state), orders_state_name(rule->next), reason ? " " : "",
	    reason ? reason : "");
	s->state = rule->next;
	snprintf(s->status, sizeof(s->status), "%s", rule->status);
	if (strcmp(rule->status, "confirmed") == 0)
		s->reason[0] = '\0';
	else if (reason != NULL)
		snprintf(s->reason, sizeof(s->reason), "%s", reason);
	return SVC_OK;
}

json_object *
orders_items_json(const struct orders_saga *s)
{
	json_object	*items, *it;
	size_t		 i;
	int		 bad = 0;

	/* Every line or none: a reservation with a line missing would be another order. */
	items = json_object_new_array();
	for (i = 0; i < s->nitems; i++) {
		it = json_object_new_object();
		bad |= svc_json_add(it, "product_id", json_object_new_int64(s->items[i].product_id));
		bad |= svc_json_add(it, "quantity", json_object_new_int64(s->items[i].quantity));
		bad |= svc_json_push(items, it);
	}
	return svc_json_checked(items, bad);
}

/* Calls dep with a JSON body built from obj (consumed); res must be initialised. */
static int
orders_post(struct svc_req *r, const char *dep, const char *path, json_object *obj,
    struct svc_call_result *res)
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
    const char *collection, const char *action, struct svc_call_result *res)
{
	char path[128];

	snprintf(path, sizeof(path), "/internal/%s/%lld/%s", collection, (long long)s->id, action);
	return orders_post(r, dep, path, NULL, res);
}

/* The request body of the step of s, or NULL for a step without one. */
static json_object *
orders_step_body(const struct orders_saga *s)
{
	json_object	*o;
	int		 bad = 0;

	o = json_object_new_object();
	bad |= svc_json_add(o, "order_id", json_object_new_int64(s->id));
	if (s->state == ORD_S_PENDING) {
		bad |= svc_json_add(o, "items", orders_items_json(s));
	} else {
		bad |= svc_json_add(o, "amount_cents", json_object_new_int64(s->total_cents));
		bad |= svc_json_add(o, "currency", json_object_new_string(s->currency));
		bad |= svc_json_add(o, "card", json_object_get(s->card));
	}
	return svc_json_checked(o, bad);
}

/*
 * Takes the step of s's state and says what it heard. The I/O only: where the answer leads
 * is orders_rule's business. SVC_ERR_NOMEM when the request could not be built.
 */
static int
orders_step(struct svc_req *r, const struct orders_saga *s, struct orders_heard *h)
{
	struct svc_call_result	 res;
	json_object		*body;
	int			 rc;

	switch (s->state) {
	case ORD_S_PENDING:
	case ORD_S_RESERVED:
		if (s->state == ORD_S_RESERVED && s->card == NULL) {
			memset(h, 0, sizeof(*h));
			h->a.cls = ORD_A_NO_CARD;
			h->a.code = h->code;
			return SVC_OK;
		}
		if ((body = orders_step_body(s)) == NULL)
			return SVC_ERR_NOMEM;
		rc = s->state == ORD_S_PENDING ?
		    orders_post(r, "inventory", "/internal/inventory/reservations", body, &res) :
		    orders_post(r, "payments", "/internal/payments/charges", body, &res);
		break;
	case ORD_S_CHARGED:
		rc = orders_act(r, s, "inventory", "inventory/reservations", "commit", &res);
		break;
	case ORD_S_UNCOMMITTING:
	case ORD_S_COMPENSATING:
		rc = orders_act(r, s, "inventory", "inventory/reservations", "release", &res);
		break;
	case ORD_S_VOIDING:
		rc = orders_act(r, s, "payments", "payments/charges", "void", &res);
		break;
	default:
		return SVC_ERR_INTERNAL;
	}
	orders_heard(rc, &res, h);
	svc_call_result_free(&res);
	return SVC_OK;
}

/*
 * Drives the saga: a step, the rule for what it heard, the move (persisted before the next
 * step), until the rule says wait or end, or the request's deadline passes.
 */
int
orders_saga_run(struct svc_req *r, struct orders_saga *s)
{
	const struct orders_state	*st = svc_req_state(r);
	struct orders_heard		 h;
	struct orders_rule		 rule;
	int				 rc;

	while (s->state != ORD_S_DONE) {
		if ((rc = orders_step(r, s, &h)) != SVC_OK)
			return rc;
		rule = orders_rule(s->state, &h.a, s->age_s, st->give_up_s);
		if (rule.alarm)
			svc_log(r, "error", "order %lld: %s answered %d %s (%s); saga %s -> %s",
			    (long long)s->id, orders_step_name(s->state), h.a.status,
			    h.code[0] ? h.code : "-", rule.reason[0] ? rule.reason : "no reason",
			    orders_state_name(s->state), orders_state_name(rule.next));
		if (rule.act == ORD_WAIT)
			return SVC_ERR_UNAVAILABLE;
		if ((rc = orders_move(r, s, &rule)) != SVC_OK)
			return rc;
		if (rule.drop_card && s->card != NULL) {
			/* The move's statement cleared the stored card (one round trip, not two). */
			json_object_put(s->card);
			s->card = NULL;
		}
		if (rule.act == ORD_END)
			break;
		if (svc_now_us() >= svc_req_deadline_us(r))
			return SVC_ERR_UNAVAILABLE;
	}
	return SVC_OK;
}

/*
 * The recovery worker: every pending saga whose next attempt is due is claimed (a lease,
 * so that two workers never drive one saga at once) and driven as far as it goes; if it
 * is still pending, its next attempt backs off exponentially.
 */
int
orders_recover(struct svc_req *r)
{
	struct orders_state		*st = svc_req_state(r);
	struct orders_saga		 s;
	int64_t				 ids[256], backoff;
	size_t				 n = 0, i, claimed = 0;
	int				 rc;

	if (!st->swept) {
		/* Once per start: no card outlives its charge's answer, whoever stored it. */
		if ((rc = svc_db_exec(r, ORD_SWEEP_CARDS, "")) != SVC_OK)
			return rc;
		if (svc_db_affected(r) > 0)
			svc_log(r, "info", "cleared %llu stored cards no saga needs",
			    (unsigned long long)svc_db_affected(r));
		st->swept = 1;
	}
	if ((rc = svc_db_query_ids(r, ORD_DUE, st->batch, ids, SVC_NELEM(ids), &n)) != SVC_OK)
		return rc;
	for (i = 0; i < n && !svc_req_stopping(r); i++) {
		if (svc_db_exec(r, ORD_CLAIM, "ii", st->lease_ms * 1000, ids[i]) != SVC_OK ||
		    svc_db_affected(r) != 1)
			continue;
		/* Claimed: its next attempt is a lease away, so it has left the due set. */
		claimed++;
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
	/* A full batch means more may be due: go again without waiting, if any of it moved. */
	return svc_bg_more(n, claimed, (size_t)st->batch) ? 1 : SVC_OK;
}
