/* sim_report_html.c - the report's HTML page: verdicts, tables, the charts of each run and the comparison */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sim_faults.h"
#include "sim_report.h"
#include "sim_report_int.h"

/* Copies an event series into v[0, n) (NaN where it has nothing). */
static void
sim_rep_ev_fill(const struct sim_evseries *x, size_t n, double *v)
{
	for (size_t s = 0; s < n; s++)
		v[s] = x && s < x->n ? x->v[s] : NAN;
}

/* Outbox depth per service, and confirm -> shipped lag: the oldest confirmed order not shipped
 * yet (from the database) with each consumer's mean event lag (its metrics). Nothing when the
 * stack has no events. */
static void
sim_rep_events_charts(FILE *f, const struct sim_report_run *r, size_t n, const struct sim_rep_shade *sh, size_t nsh,
    double load_end)
{
	static double v[2 * SIM_SERIES_MAX + 2][SIM_REP_MAXSECS];
	const struct sim_events_scrape *e = r->breakers ? &r->breakers->ev : NULL;
	struct sim_rep_line l[2 * SIM_SERIES_MAX + 2];
	size_t nl = 0;

	if (e == NULL || (e->noutbox == 0 && e->nlag == 0))
		return;
	memset(l, 0, sizeof(l));
	for (size_t i = 0; i < e->noutbox; i++, nl++) {
		sim_rep_ev_fill(&e->outbox[i], n, v[nl]);
		snprintf(l[nl].name, sizeof(l[nl].name), "%s", e->outbox[i].name);
		l[nl].y = v[nl];
		l[nl].color = sim_rep_colors[nl % 6];
	}
	fprintf(f, "<div class=\"chart\">");
	sim_rep_chart(f, "Events: outbox depth per service (rows not yet confirmed by the broker)", "", l, nl, n, sh, nsh,
	      load_end, false);
	fprintf(f, "</div>\n");
	memset(l, 0, sizeof(l));
	nl = 0;
	if (e->shipping) {
		sim_rep_ev_fill(&e->unshipped_age, n, v[nl]);
		snprintf(l[nl].name, sizeof(l[nl].name), "oldest confirmed order not shipped (age)");
		l[nl].y = v[nl];
		l[nl].color = sim_rep_colors[1];
		nl++;
	}
	for (size_t i = 0; i < e->nlag; i++, nl++) {
		sim_rep_ev_fill(&e->lag[i], n, v[nl]);
		snprintf(l[nl].name, sizeof(l[nl].name), "%s: mean event lag", e->lag[i].name);
		l[nl].y = v[nl];
		l[nl].color = sim_rep_colors[(nl + 2) % 6];
		l[nl].dashed = true;
	}
	fprintf(f, "<div class=\"chart\">");
	sim_rep_chart(f, "Events: confirm \xe2\x86\x92 shipped lag (s)", " s", l, nl, n, sh, nsh, load_end, false);
	fprintf(f, "</div>\n<p>Lag: the age of the oldest order of the run that is confirmed and not shipped yet, "
		   "from the database once a second (0 when every confirmed order is shipped); dashed, each consumer's "
		   "mean lag from an event's commit to its effect's commit over that second "
		   "(<code>shoplab_events_lag_seconds</code>). Shipping adds its handling delay "
		   "(<code>SHOPLAB_SHIPPING_DELAY_MS</code>) before it dispatches.</p>\n");
}

static void
sim_rep_verdict_div(FILE *f, const struct sim_report_run *r, bool live)
{
	const char *cls, *text;
	char line[512];

	if (live) {
		cls = "live";
		text = "RUNNING";
	} else if (!sim_rep_valid(r)) {
		cls = "invalid";
		text = strcmp(r->status, "interrupted") == 0 ? "INTERRUPTED: not a verdict" :
		       strcmp(r->status, "invalid") == 0 ? "INVALID: the experiment did not happen as planned" : "SET-UP FAILED";
	} else {
		cls = r->ck == NULL ? "invalid" : sim_report_held(r) ? "held" : "broke";
		sim_report_verdict(r, line, sizeof(line));
		text = line;
	}
	fprintf(f, "<div class=\"verdict %s\" id=\"verdict\"><b>", cls);
	sim_rep_esc(f, r->label);
	fprintf(f, ": ");
	sim_rep_esc(f, text);
	fprintf(f, "</b>");
	if (!live && !sim_rep_valid(r) && r->why) {
		fprintf(f, "<br>");
		sim_rep_esc(f, r->why);
	}
	fprintf(f, "</div>\n");
}

static void
sim_rep_error_table(FILE *f, const struct sim_load_stats *st)
{
	size_t order[SIM_ERRKEYS_MAX];

	if (st->nerrs == 0) {
		fprintf(f, "<p>No failed requests.</p>\n");
		return;
	}
	for (size_t i = 0; i < st->nerrs; i++)
		order[i] = i;
	for (size_t i = 1; i < st->nerrs; i++)
		for (size_t k = i; k > 0 && st->errs[order[k]].n > st->errs[order[k - 1]].n; k--) {
			size_t t = order[k];

			order[k] = order[k - 1];
			order[k - 1] = t;
		}
	fprintf(f, "<table class=\"errors\"><tr><th>endpoint</th><th>status</th><th>code</th><th>requests</th></tr>\n");
	for (size_t i = 0; i < st->nerrs && i < 20; i++) {
		const struct sim_errkey *e = &st->errs[order[i]];

		fprintf(f, "<tr><td>");
		sim_rep_esc(f, e->endpoint);
		if (e->status > 0)
			fprintf(f, "</td><td>%d</td><td>", e->status);
		else
			fprintf(f, "</td><td>no answer</td><td>");
		sim_rep_esc(f, e->code);
		fprintf(f, "</td><td>%llu</td></tr>\n", (unsigned long long)e->n);
	}
	if (st->errs_other)
		fprintf(f, "<tr><td colspan=\"3\">other</td><td>%llu</td></tr>\n", (unsigned long long)st->errs_other);
	fprintf(f, "</table>\n");
}

/* The steady-state hypothesis: each clause, then what happened around each fault, then the drain. */
static void
sim_rep_hypothesis(FILE *f, const struct sim_report_run *r, bool live)
{
	const struct sim_hy_result *h = live ? NULL : r->hy;

	fprintf(f, "<h3>Steady-state hypothesis (liveness)</h3>\n");
	if (h == NULL) {
		fprintf(f, "<p>Judged after the load.</p>\n");
		return;
	}
	fprintf(f, "<p>%s; %zu steady seconds (outside each fault from a second before it to <code>within_s</code> after it); "
		   "baseline %.1f%% of journeys ok, %.2f ok requests per journey offered (%zu s).</p>\n",
		h->stated ? "The scenario's hypothesis" : "No hypothesis stated: the defaults", h->steady_secs,
		h->base_success * 100, h->base_tput, h->base_secs);
	fprintf(f, "<table class=\"hypothesis\"><tr><th></th><th>clause</th><th>what was seen</th></tr>\n");
	for (size_t k = 0; k < h->n; k++) {
		fprintf(f, "<tr class=\"%s\"><td>%s</td><td>", h->c[k].held ? "pass" : "fail", h->c[k].held ? "held" : "FAIL");
		sim_rep_esc(f, h->c[k].id);
		fprintf(f, "</td><td>");
		sim_rep_esc(f, h->c[k].text);
		fprintf(f, "</td></tr>\n");
	}
	fprintf(f, "</table>\n<table class=\"recovery\"><tr><th>fault</th><th>window</th><th>first success after it</th>"
		   "<th>back within the band after it</th><th>requests lost</th></tr>\n");
	for (size_t i = 0; i < h->nfaults; i++) {
		const struct sim_hy_fault *x = &h->fault[i];
		const struct sim_fault *ft = &r->sc->faults[i];

		if (!x->applied)
			continue;
		fprintf(f, "<tr><td>");
		sim_rep_esc(f, ft->target);
		fprintf(f, " %s</td><td>%.1f-%.1f s</td>", ft->kind == SIM_FAULT_TOXIC ? ft->type : sim_fault_kind_names[ft->kind],
			x->from, x->to);
		if (x->to >= ceil(r->sc->duration_s))
			fprintf(f, "<td colspan=\"2\">ended after the load: nothing after it to measure</td>");
		else if (x->first_success_s >= 0)
			fprintf(f, "<td>%.0f s</td>", x->first_success_s);
		else
			fprintf(f, "<td>none in the load</td>");
		if (x->to >= ceil(r->sc->duration_s))
			;
		else if (x->holds_again_s >= 0)
			fprintf(f, "<td>%.0f s</td>", x->holds_again_s);
		else
			fprintf(f, "<td>not before the load ended</td>");
		fprintf(f, "<td>%llu</td></tr>\n", (unsigned long long)x->lost);
	}
	fprintf(f, "</table>\n");
	if (r->drained == 1)
		fprintf(f, "<p id=\"drained\">Drained %.0f s after the %s ended (%.1f s): outboxes empty, no order of the run pending.</p>\n",
			r->drained_in_s, r->sc->nfaults ? "last fault" : "load", r->drained_from_s);
	else if (r->drained == 2)
		fprintf(f, "<p id=\"drained\" class=\"fail\">NOT drained within the drain limit (%.0f s + events %.0f s) after the %s "
			   "ended (%.1f s).</p>\n", r->sc->drain_s, r->sc->events_drain_s, r->sc->nfaults ? "last fault" : "load",
			r->drained_from_s);
}

/* The run's counts: requests by outcome, then each journey's latencies. */
static void
sim_rep_run_tables(FILE *f, const struct sim_load_stats *st)
{
	fprintf(f, "<table><tr><th>requests</th>");
	for (int o = 0; o < SIM_OUT_COUNT; o++)
		fprintf(f, "<th>%s</th>", sim_outcome_names[o]);
	fprintf(f, "<th>cut by the interruption</th><th>declined</th><th>out of stock</th><th>202 pending</th></tr>\n<tr><td>%llu</td>",
		(unsigned long long)st->requests);
	for (int o = 0; o < SIM_OUT_COUNT; o++)
		fprintf(f, "<td>%llu</td>", (unsigned long long)st->out[o]);
	fprintf(f, "<td>%llu</td><td>%llu</td><td>%llu</td><td>%llu</td></tr></table>\n", (unsigned long long)st->cut,
		(unsigned long long)st->declined, (unsigned long long)st->out_of_stock, (unsigned long long)st->pending);
	fprintf(f, "<table><tr><th>journey</th><th>started</th><th>ok</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th>"
		   "<th>p99.9 ms</th><th>max ms</th></tr>\n");
	for (int j = 0; j < SIM_J_COUNT; j++)
		fprintf(f, "<tr><td>%s</td><td>%llu</td><td>%llu</td><td>%.1f</td><td>%.1f</td><td>%.1f</td><td>%.1f</td><td>%.1f</td></tr>\n",
			sim_journey_names[j], (unsigned long long)st->jstarted[j], (unsigned long long)st->jok[j],
			sim_rep_pct_ms(&st->journey[j], 50), sim_rep_pct_ms(&st->journey[j], 90), sim_rep_pct_ms(&st->journey[j], 99),
			sim_rep_pct_ms(&st->journey[j], 99.9), (double)st->journey[j].max / 1000);
	fprintf(f, "</table>\n");
}

/* The run's charts, each in its own div: requests, latency per journey, pending, events,
 * breakers, the latency distribution. */
static void
sim_rep_run_charts(FILE *f, const struct sim_report_run *r, size_t n)
{
	static struct sim_rep_series x;
	const struct sim_load_stats *st = r->st;
	size_t nsh;
	struct sim_rep_shade sh[SIM_MAX_FAULTS];
	struct sim_rep_line l[6];
	double load_end = st->elapsed_s > 0 ? st->elapsed_s : r->sc->duration_s;

	nsh = sim_rep_shades(r, sh);
	sim_rep_fill_series(r, n, &x);
	memset(l, 0, sizeof(l));
	snprintf(l[0].name, sizeof(l[0].name), "ok/s");
	snprintf(l[1].name, sizeof(l[1].name), "errors/s");
	snprintf(l[2].name, sizeof(l[2].name), "unknown/s");
	l[0].y = x.ok;
	l[1].y = x.err;
	l[2].y = x.unknown;
	l[0].color = sim_rep_colors[2];
	l[1].color = sim_rep_colors[1];
	l[2].color = sim_rep_colors[4];
	fprintf(f, "<div class=\"chart\">");
	sim_rep_chart(f, "Requests finished per second", "", l, 3, n, sh, nsh, load_end, false);
	fprintf(f, "</div>\n");
	for (int j = 0; j < SIM_J_COUNT; j++) {
		char title[128];

		if (st->jstarted[j] == 0)
			continue;
		memset(l, 0, sizeof(l));
		snprintf(l[0].name, sizeof(l[0].name), "p50");
		snprintf(l[1].name, sizeof(l[1].name), "p99 (dashed)");
		l[0].y = x.p50[j];
		l[1].y = x.p99[j];
		l[0].color = l[1].color = sim_rep_colors[j == 0 ? 0 : j == 1 ? 3 : 5];
		l[1].dashed = true;
		snprintf(title, sizeof(title), "%s latency by scheduled second (log scale)", sim_journey_names[j]);
		fprintf(f, "<div class=\"chart\">");
		sim_rep_chart(f, title, " ms", l, 2, n, sh, nsh, load_end, true);
		fprintf(f, "</div>\n");
	}
	memset(l, 0, sizeof(l));
	snprintf(l[0].name, sizeof(l[0].name), "202 answers/s (order pending)");
	snprintf(l[1].name, sizeof(l[1].name), "orders pending in the database");
	l[0].y = x.accepted;
	l[1].y = x.pending;
	l[0].color = sim_rep_colors[3];
	l[1].color = sim_rep_colors[4];
	fprintf(f, "<div class=\"chart\">");
	sim_rep_chart(f, "Pending: 202 answers and pending orders, through the drain", "", l, 2, n, sh, nsh, load_end, false);
	fprintf(f, "</div>\n");
	sim_rep_events_charts(f, r, n, sh, nsh, load_end);
	fprintf(f, "<div class=\"chart\">");
	sim_rep_breaker_chart(f, r->breakers, n, sh, nsh, load_end);
	fprintf(f, "</div>\n<div class=\"chart\">");
	sim_rep_cdf_chart(f, &r->st, &r->label, 1);
	fprintf(f, "</div>\n");
}

/* Every invariant as checked: pass, FAIL or n/a, with its first violations. */
static void
sim_rep_inv_table(FILE *f, const struct sim_ck_result *ck)
{
	fprintf(f, "<table><tr><th></th><th>invariant</th><th>rule</th><th>checked</th><th>violations</th><th>first violations</th></tr>\n");
	for (int i = 0; i < SIM_INV_COUNT; i++) {
		const struct sim_ck_inv *v = &ck->inv[i];

		if (v->na[0] && !v->violations) {
			fprintf(f, "<tr class=\"na\"><td>n/a</td><td>%s</td><td>not applicable: ", v->name);
			sim_rep_esc(f, v->na);
			fprintf(f, "</td><td></td><td></td><td></td></tr>\n");
			continue;
		}
		fprintf(f, "<tr class=\"%s\"><td>%s</td><td>%s</td><td>", v->violations ? "fail" : "pass",
			v->violations ? "FAIL" : "pass", v->name);
		sim_rep_esc(f, v->rule);
		fprintf(f, "</td><td>%llu</td><td>%llu</td><td>", (unsigned long long)v->checked,
			(unsigned long long)v->violations);
		for (size_t k = 0; k < v->nmsgs && k < 5; k++) {
			sim_rep_esc(f, v->msgs[k]);
			fprintf(f, "<br>");
		}
		fprintf(f, "</td></tr>\n");
	}
	fprintf(f, "</table>\n");
}

/* The dead letters the event checks read, and ids both applied and dead-lettered. */
static void
sim_rep_dead_letters(FILE *f, const struct sim_ck_events *ev)
{
	fprintf(f, "<h3>Dead letters and ids applied and given up both</h3>\n<table><tr><th>service</th>"
		   "<th>message id</th><th>type</th><th>attempts</th><th>at</th><th>reason</th></tr>\n");
	for (size_t k = 0; k < ev->ndead; k++) {
		const struct sim_ck_dead *dl = &ev->dead[k];

		fprintf(f, "<tr class=\"fail\"><td>");
		sim_rep_esc(f, dl->service);
		fprintf(f, "</td><td>");
		sim_rep_esc(f, dl->msg_id);
		fprintf(f, "</td><td>");
		sim_rep_esc(f, dl->type);
		fprintf(f, "</td><td>%d</td><td>", dl->attempts);
		sim_rep_esc(f, dl->at);
		fprintf(f, "</td><td>");
		sim_rep_esc(f, dl->applied ? "applied (inbox) and dead-lettered" : dl->reason);
		fprintf(f, "</td></tr>\n");
	}
	fprintf(f, "</table>\n");
}

/* The safety half: the invariants, the events drain, dead letters, unknown checkouts. */
static void
sim_rep_invariants(FILE *f, const struct sim_report_run *r, bool live)
{
	fprintf(f, "<h3>Invariants (safety)</h3>\n");
	if (live) {
		fprintf(f, "<p>Checked after the drain.</p>\n");
	} else if (r->ck == NULL) {
		fprintf(f, "<p class=\"fail\">The check did not run: ");
		sim_rep_esc(f, r->check_error && *r->check_error ? r->check_error : "the run stopped before it");
		fprintf(f, "</p>\n");
	} else {
		if (!sim_rep_valid(r))
			fprintf(f, "<p class=\"fail\">This run is not valid: the table below says what the databases held, "
				   "not whether the shop survived the planned faults.</p>\n");
		sim_rep_inv_table(f, r->ck);
		if (r->events_drain)
			fprintf(f, "<p>Events drain (outboxes empty, confirmed orders shipped): %s at the end of it (%.1f s).</p>\n",
				strcmp(r->events_drain, "drained") == 0 ? "drained" : "NOT drained", r->events_drain_s);
		if (r->ev && r->ev->ndead > 0)
			sim_rep_dead_letters(f, r->ev);
		fprintf(f, "<p>Unknown checkouts settled against the database: %llu, of which %llu became an order and %llu did not.</p>\n",
			(unsigned long long)r->ck->unknown_total, (unsigned long long)r->ck->unknown_became_order,
			(unsigned long long)r->ck->unknown_no_order);
	}
}

static void
sim_rep_html_run(FILE *f, const struct sim_report_run *r, size_t nruns, const struct sim_report_meta *meta)
{
	fprintf(f, "<h2>");
	sim_rep_esc(f, r->label);
	fprintf(f, "</h2>\n");
	if (nruns > 1)
		sim_rep_verdict_div(f, r, meta->phase != NULL);
	sim_rep_run_tables(f, r->st);
	sim_rep_run_charts(f, r, sim_rep_secs(r));
	fprintf(f, "<h3>Failed requests by endpoint, status and error code</h3>\n");
	sim_rep_error_table(f, r->st);
	sim_rep_hypothesis(f, r, meta->phase != NULL);
	sim_rep_invariants(f, r, meta->phase != NULL);
	if (r->fault_log && *r->fault_log) {
		fprintf(f, "<h3>Fault timeline as applied</h3><pre>");
		sim_rep_esc(f, r->fault_log);
		fprintf(f, "</pre>\n");
	}
}

/* What differs between the two runs, side by side (x: their series over n seconds). */
/* A row of the comparison for a resilience counter: retries, or the breakers' opens (opens);
 * "disabled" for a run without resilience. */
static void
sim_rep_compare_resilience(FILE *f, const struct sim_report_run *runs, const char *label, bool opens)
{
	fprintf(f, "</tr>\n<tr><td>%s</td>", label);
	for (int i = 0; i < 2; i++) {
		const struct sim_scrape *b = runs[i].breakers;

		if (runs[i].resilience_off)
			fprintf(f, "<td class=\"off\">disabled</td>");
		else
			fprintf(f, "<td>%llu</td>", b == NULL ? 0ULL : (unsigned long long)(opens ? b->breaker_opens : b->retries));
	}
}

static void
sim_rep_compare_table(FILE *f, const struct sim_report_run *runs, const struct sim_rep_series *x, size_t n)
{
	const struct sim_load_stats *sts[2] = { runs[0].st, runs[1].st };

	fprintf(f, "<h2>Comparison</h2>\n<table class=\"compare\"><tr><th></th>");
	for (int i = 0; i < 2; i++) {
		fprintf(f, "<th>");
		sim_rep_esc(f, runs[i].label);
		fprintf(f, "</th>");
	}
	fprintf(f, "</tr>\n");
	fprintf(f, "<tr><td>status</td>");
	for (int i = 0; i < 2; i++)
		fprintf(f, "<td>%s%s</td>", !sim_rep_valid(&runs[i]) ? runs[i].status : runs[i].ck == NULL ? "not checked" :
			runs[i].ck->ok ? "invariants held" : "an invariant broke",
			!sim_rep_valid(&runs[i]) ? "" : runs[i].hy == NULL ? ", steady state not judged" : runs[i].hy->ok ?
			", steady state held" : ", steady state FAILED");
	fprintf(f, "</tr>\n<tr><td>throughput (ok requests/s)</td>");
	for (int i = 0; i < 2; i++)
		fprintf(f, "<td>%.1f</td>", sts[i]->elapsed_s > 0 ? (double)sts[i]->out[SIM_OUT_OK] / sts[i]->elapsed_s : 0.0);
	fprintf(f, "</tr>\n<tr><td>errors (4xx 429 5xx connect other)</td>");
	for (int i = 0; i < 2; i++)
		fprintf(f, "<td>%llu</td>", (unsigned long long)sim_rep_errors(sts[i]->out));
	fprintf(f, "</tr>\n<tr><td>unknown</td>");
	for (int i = 0; i < 2; i++)
		fprintf(f, "<td>%llu</td>", (unsigned long long)sts[i]->out[SIM_OUT_UNKNOWN]);
	for (int j = 0; j < SIM_J_COUNT; j++) {
		fprintf(f, "</tr>\n<tr><td>%s p99 ms</td>", sim_journey_names[j]);
		for (int i = 0; i < 2; i++)
			fprintf(f, "<td>%.1f</td>", sim_rep_pct_ms(&sts[i]->journey[j], 99));
	}
	fprintf(f, "</tr>\n<tr><td>202 pending answers</td>");
	for (int i = 0; i < 2; i++)
		fprintf(f, "<td>%llu</td>", (unsigned long long)sts[i]->pending);
	fprintf(f, "</tr>\n<tr><td>most orders pending at once</td>");
	for (int i = 0; i < 2; i++)
		fprintf(f, "<td>%.0f</td>", sim_rep_max(x[i].pending, n));
	sim_rep_compare_resilience(f, runs, "retries", false);
	sim_rep_compare_resilience(f, runs, "breaker opens", true);
	fprintf(f, "</tr></table>\n");
}

/* A line of a both-runs chart: what of run i, in its colour. */
static void
sim_rep_run_line(struct sim_rep_line *l, const char *what, const struct sim_report_run *runs, int i,
    const double *y, bool dashed)
{
	snprintf(l->name, sizeof(l->name), "%s · %.40s", what, runs[i].label);
	l->y = y;
	l->color = sim_rep_run_colors[i];
	l->dashed = dashed;
}

/* Both runs: a table of what differs, then their charts on the same axes. */
static void
sim_rep_compare(FILE *f, const struct sim_report_run *runs)
{
	static struct sim_rep_series x[2];
	size_t n = sim_rep_secs(&runs[0]) > sim_rep_secs(&runs[1]) ? sim_rep_secs(&runs[0]) : sim_rep_secs(&runs[1]), nsh;
	struct sim_rep_shade sh[SIM_MAX_FAULTS];
	const struct sim_load_stats *sts[2] = { runs[0].st, runs[1].st };
	const char *labels[2] = { runs[0].label, runs[1].label };
	struct sim_rep_line l[6];

	nsh = sim_rep_shades(&runs[0], sh);
	sim_rep_fill_series(&runs[0], n, &x[0]);
	sim_rep_fill_series(&runs[1], n, &x[1]);
	sim_rep_compare_table(f, runs, x, n);
	memset(l, 0, sizeof(l));
	for (int i = 0; i < 2; i++) {
		sim_rep_run_line(&l[2 * i], "ok/s", runs, i, x[i].ok, false);
		sim_rep_run_line(&l[2 * i + 1], "errors/s", runs, i, x[i].err, true);
	}
	fprintf(f, "<div class=\"chart\">");
	sim_rep_chart(f, "Both runs: requests per second", "", l, 4, n, sh, nsh, runs[0].sc->duration_s, false);
	fprintf(f, "</div>\n");
	for (int i = 0; i < 2; i++) {
		sim_rep_run_line(&l[i], "checkout p99", runs, i, x[i].p99[SIM_J_CHECKOUT], false);
		sim_rep_run_line(&l[2 + i], "browse p99", runs, i, x[i].p99[SIM_J_BROWSE], true);
	}
	fprintf(f, "<div class=\"chart\">");
	sim_rep_chart(f, "Both runs: p99 latency (log scale)", " ms", l, 4, n, sh, nsh, runs[0].sc->duration_s, true);
	fprintf(f, "</div>\n");
	for (int i = 0; i < 2; i++) {
		sim_rep_run_line(&l[i], "pending orders", runs, i, x[i].pending, false);
		sim_rep_run_line(&l[2 + i], "202/s", runs, i, x[i].accepted, true);
	}
	fprintf(f, "<div class=\"chart\">");
	sim_rep_chart(f, "Both runs: pending", "", l, 4, n, sh, nsh, runs[0].sc->duration_s, false);
	fprintf(f, "</div>\n<div class=\"chart\">");
	sim_rep_cdf_chart(f, sts, labels, 2);
	fprintf(f, "</div>\n");
}

static void
sim_rep_meta_table(FILE *f, const struct sim_report_run *runs, const struct sim_report_meta *m)
{
	const struct sim_scenario *sc = runs[0].sc;

	fprintf(f, "<table class=\"meta\"><tr><th>started (UTC)</th><td>");
	sim_rep_esc(f, m->started);
	fprintf(f, "</td><th>commit</th><td>");
	sim_rep_esc(f, m->commit);
	fprintf(f, "</td></tr>\n<tr><th>scenario</th><td>");
	sim_rep_esc(f, sc->file[0] ? sc->file : sc->name);
	fprintf(f, "</td><th>sha256</th><td><code>");
	sim_rep_esc(f, m->scenario_sha256);
	fprintf(f, "</code></td></tr>\n<tr><th>seed</th><td>%llu</td><th>load · drain · timeout</th><td>%.0f s · %.0f s · %.0f s</td></tr>\n"
		   "<tr><th>settings</th><td colspan=\"3\">", (unsigned long long)sc->seed, sc->duration_s, sc->drain_s, sc->timeout_s);
	sim_rep_esc(f, m->settings);
	fprintf(f, "</td></tr></table>\n");
}

int
sim_rep_html(FILE *f, const struct sim_report_run *runs, size_t n, const struct sim_report_meta *meta)
{
	fprintf(f, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
	if (meta->phase)
		fprintf(f, "<meta http-equiv=\"refresh\" content=\"1\">");
	fprintf(f, "<title>shoplab sim %s: ", meta->phase ? "live" : "report");
	sim_rep_esc(f, runs[0].sc->name);
	fprintf(f, "</title>\n<style>body{font-family:sans-serif;margin:24px;color:#222;max-width:1140px}"
		   "table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left}"
		   "tr.fail td{background:#ffebee}tr.pass td:first-child{color:#2e7d32}tr.fail td:first-child{color:#c62828;font-weight:bold}tr.na td{color:#757575;background:#f5f5f5}"
		   ".chart{margin:10px 0}p.fail{color:#c62828}pre{background:#f5f5f5;padding:8px;font-size:12px}"
		   ".verdict{padding:10px 14px;margin:10px 0;border-radius:4px;font-size:15px}"
		   ".verdict.held{background:#e8f5e9;border:2px solid #2e7d32}.verdict.broke{background:#ffebee;border:2px solid #c62828}"
		   ".verdict.invalid{background:#fff3e0;border:2px solid #e65100}.verdict.live{background:#e3f2fd;border:2px solid #1565c0}"
		   "td.off{color:#777;font-style:italic}table.meta th{background:#fafafa}</style></head><body>\n");
	fprintf(f, "<h1>Scenario ");
	sim_rep_esc(f, runs[0].sc->name);
	fprintf(f, "</h1>\n");
	if (meta->phase)
		fprintf(f, "<p class=\"phase\" id=\"phase\"><b>live</b> · phase <b>%s</b> · %.0f / %.0f s (this page reloads every second)</p>\n",
			meta->phase, meta->elapsed_s, meta->total_s);
	if (meta->phase && meta->storefront && (strncmp(meta->storefront, "http://", 7) == 0 ||
						strncmp(meta->storefront, "https://", 8) == 0)) {
		fprintf(f, "<p class=\"storefront\">Buy something while the faults run: <a href=\"");
		sim_rep_esc(f, meta->storefront);
		fprintf(f, "/\" target=\"_blank\" rel=\"noopener\">the storefront</a> (docs/storefront.md)</p>\n");
	}
	for (size_t i = 0; i < n; i++)
		sim_rep_verdict_div(f, &runs[i], meta->phase != NULL);
	sim_rep_meta_table(f, runs, meta);
	if (n > 1)
		sim_rep_compare(f, runs);
	for (size_t i = 0; i < n; i++)
		sim_rep_html_run(f, &runs[i], n, meta);
	fprintf(f, "</body></html>\n");
	return ferror(f) ? -1 : 0;
}
