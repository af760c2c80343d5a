/* orders_rules.c - the checkout saga as one pure function: (state, answer, age) -> where next */
#include <stdio.h>
#include <string.h>

#include "orders.h"

/* Each saga state: its name (stored in the row) and the step it takes. */
static const struct {
	const char	*name;
	const char	*step;
} orders_states[ORD_S_N] = {
	[ORD_S_PENDING]		= { "pending",		"reserve" },
	[ORD_S_RESERVED]	= { "reserved",		"charge" },
	[ORD_S_CHARGED]		= { "charged",		"commit" },
	[ORD_S_UNCOMMITTING]	= { "uncommitting",	"release" },
	[ORD_S_COMPENSATING]	= { "compensating",	"release" },
	[ORD_S_VOIDING]		= { "voiding",		"void" },
	[ORD_S_DONE]		= { "done",		"none" },
};

const char *
orders_state_name(enum orders_sstate s)
{
	return (unsigned)s < ORD_S_N ? orders_states[s].name : "unknown";
}

const char *
orders_step_name(enum orders_sstate s)
{
	return (unsigned)s < ORD_S_N ? orders_states[s].step : "unknown";
}

int
orders_state_parse(const char *name, enum orders_sstate *out)
{
	int i;

	for (i = 0; i < ORD_S_N; i++)
		if (strcmp(name, orders_states[i].name) == 0) {
			*out = (enum orders_sstate)i;
			return 0;
		}
	return -1;
}

static int
orders_code_is(const struct orders_answer *a, const char *code)
{
	return a->code != NULL && strcmp(a->code, code) == 0;
}

/* A move to next with the order's status; reason NULL keeps the one stored. */
static struct orders_rule
orders_to(enum orders_sstate next, const char *status, enum orders_act act, int alarm)
{
	struct orders_rule	out;

	memset(&out, 0, sizeof(out));
	out.next = next;
	out.status = status;
	out.act = act;
	out.alarm = alarm;
	/* The card is needed by the charge only: once the saga is past it, it goes. */
	out.drop_card = next != ORD_S_PENDING && next != ORD_S_RESERVED;
	return out;
}

/* "<step>:<status>:<code>" names an unexpected answer in the order's reject_reason. */
static void
orders_reason_answer(struct orders_rule *out, enum orders_sstate st, const struct orders_answer *a)
{
	snprintf(out->reason, sizeof(out->reason), "%s:%d:%s", orders_step_name(st), a->status,
	    a->code != NULL && a->code[0] != '\0' ? a->code : "no_code");
}

static void
orders_reason(struct orders_rule *out, const char *reason)
{
	snprintf(out->reason, sizeof(out->reason), "%s", reason);
}

/* Stay in st, to be asked again later. */
static struct orders_rule
orders_wait(enum orders_sstate st)
{
	return orders_to(st, "pending", ORD_WAIT, 0);
}

/*
 * The forward steps (reserve, charge, commit). A definite "no" that has a rule moves on; any
 * other definite answer compensates, naming the step and the code; no answer (unknown or
 * unavailable) waits until the give-up, then compensates too.
 */
static struct orders_rule
orders_rule_forward(enum orders_sstate st, const struct orders_answer *a, int gave_up)
{
	struct orders_rule	out;
	/* Where to compensate from: after a charge, the release must come first (see below). */
	enum orders_sstate	comp = st == ORD_S_CHARGED ? ORD_S_UNCOMMITTING : ORD_S_COMPENSATING;

	if (a->cls == ORD_A_OK) {
		switch (st) {
		case ORD_S_PENDING:
			return orders_to(ORD_S_RESERVED, "pending", ORD_GO, 0);
		case ORD_S_RESERVED:
			return orders_to(ORD_S_CHARGED, "pending", ORD_GO, 0);
		default:
			return orders_to(ORD_S_DONE, "confirmed", ORD_END, 0);
		}
	}
	if (a->cls == ORD_A_NO) {
		if (st == ORD_S_PENDING && orders_code_is(a, "out_of_stock")) {
			out = orders_to(ORD_S_DONE, "rejected", ORD_END, 0);
			orders_reason(&out, "out_of_stock");
			return out;
		}
		if (st == ORD_S_RESERVED && a->status == 402) {
			out = orders_to(ORD_S_COMPENSATING, "pending", ORD_GO, 0);
			orders_reason(&out, "payment_declined");
			return out;
		}
		if (st == ORD_S_RESERVED && orders_code_is(a, "charge_voided")) {
			/* Our own void's tombstone came first: nothing was charged. */
			out = orders_to(ORD_S_COMPENSATING, "pending", ORD_GO, 0);
			orders_reason(&out, "payment_failed");
			return out;
		}
		if (st == ORD_S_CHARGED && (orders_code_is(a, "reservation_released") ||
		    orders_code_is(a, "reservation_expired"))) {
			/* The stock went back (expired) although we charged: give the money back. */
			out = orders_to(ORD_S_COMPENSATING, "pending", ORD_GO, 1);
			orders_reason(&out, "reservation_lost");
			return out;
		}
		/* A "no" the saga has no rule for: reject, compensate, say which and why. */
		out = orders_to(comp, "pending", ORD_GO, 1);
		orders_reason_answer(&out, st, a);
		return out;
	}
	if (a->cls == ORD_A_NO_CARD) {
		/* The sealed card is gone (it cannot be charged): compensate rather than guess. */
		out = orders_to(ORD_S_COMPENSATING, "pending", ORD_GO, 1);
		orders_reason(&out, "payment_unavailable");
		return out;
	}
	/* Unknown or unavailable: the same request is asked again, until the give-up. */
	if (!gave_up)
		return orders_wait(st);
	out = orders_to(comp, "pending", ORD_GO, 1);
	switch (st) {
	case ORD_S_PENDING:
		orders_reason(&out, "inventory_unavailable");
		break;
	case ORD_S_RESERVED:
		orders_reason(&out, "payment_unavailable");
		break;
	default:
		orders_reason(&out, "commit_gave_up");
		break;
	}
	return out;
}

/*
 * Compensation (release, then void). Every call is idempotent, so any answer other than
 * success is asked again; past the compensation give-up the order ends rejected with the
 * step named in its reason and an alarm, because an operator must look at it.
 */
static struct orders_rule
orders_rule_compensate(enum orders_sstate st, const struct orders_answer *a, int gave_up)
{
	struct orders_rule out;

	if (a->cls == ORD_A_OK) {
		if (st == ORD_S_VOIDING)
			return orders_to(ORD_S_DONE, "rejected", ORD_END, 0);
		return orders_to(ORD_S_VOIDING, "pending", ORD_GO, 0);
	}
	if (st == ORD_S_UNCOMMITTING && a->cls == ORD_A_NO &&
	    orders_code_is(a, "reservation_committed")) {
		/* The commit we could not hear had gone through, and the charge stands. */
		return orders_to(ORD_S_DONE, "confirmed", ORD_END, 0);
	}
	if (!gave_up) {
		out = orders_wait(st);
		out.alarm = a->cls == ORD_A_NO;
		return out;
	}
	out = orders_to(ORD_S_DONE, "rejected", ORD_END, 1);
	if (a->cls == ORD_A_NO)
		orders_reason_answer(&out, st, a);
	else
		snprintf(out.reason, sizeof(out.reason), "%s_gave_up", orders_step_name(st));
	return out;
}

struct orders_rule
orders_rule(enum orders_sstate st, const struct orders_answer *a, int64_t age_s,
    int64_t give_up_s)
{
	switch (st) {
	case ORD_S_PENDING:
	case ORD_S_RESERVED:
	case ORD_S_CHARGED:
		return orders_rule_forward(st, a, age_s > give_up_s);
	case ORD_S_UNCOMMITTING:
	case ORD_S_COMPENSATING:
	case ORD_S_VOIDING:
		return orders_rule_compensate(st, a, age_s > 2 * give_up_s);
	default:
		return orders_to(ORD_S_DONE, NULL, ORD_END, 0);
	}
}
