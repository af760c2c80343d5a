/* sim_report_data.c - what the report reads off a run: its verdict, its seconds, its series and fault windows */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sim_faults.h"
#include "sim_report.h"
#include "sim_report_int.h"

bool
sim_rep_valid(const struct sim_report_run *r)
{
	return r->status == NULL || strcmp(r->status, "valid") == 0;
}

bool
sim_report_held(const struct sim_report_run *r)
{
	return sim_rep_valid(r) && r->ck && r->ck->ok && r->hy && r->hy->ok;
}

void
sim_report_verdict(const struct sim_report_run *r, char *buf, size_t bufsz)
{
	const char *inv;

	if (!sim_rep_valid(r)) {
		snprintf(buf, bufsz, "%s: %s", strcmp(r->status, "interrupted") == 0 ? "INTERRUPTED" :
			 strcmp(r->status, "invalid") == 0 ? "INVALID" : "SET-UP FAILED", r->why ? r->why : "");
		return;
	}
	inv = r->ck == NULL ? "invariants NOT CHECKED" : r->ck->ok ? "invariants held" : "an invariant broke";
	snprintf(buf, bufsz, "VALID \xc2\xb7 %s \xc2\xb7 %s", inv, r->hy ? r->hy->summary : "steady state NOT JUDGED");
}

size_t
sim_rep_shades(const struct sim_report_run *r, struct sim_rep_shade *sh)
{
	const struct sim_scenario *sc = r->sc;
	size_t n = 0;

	for (size_t i = 0; i < sc->nfaults; i++) {
		const struct sim_fault *ft = &sc->faults[i];
		struct sim_rep_shade *x = &sh[n++];

		sim_fault_window(sc, i, &x->from, &x->to);
		x->applied = true;
		if (r->applied_from) {
			x->applied = r->applied_from[i] >= 0;
			if (x->applied) {
				x->from = r->applied_from[i];
				x->to = r->applied_to[i] >= 0 ? r->applied_to[i] : r->st->elapsed_s;
			}
		}
		x->toxic = ft->kind == SIM_FAULT_TOXIC;
		snprintf(x->label, sizeof(x->label), "%s %s%s", ft->target,
			 ft->kind == SIM_FAULT_TOXIC ? ft->type : sim_fault_kind_names[ft->kind],
			 x->applied ? "" : " (NOT APPLIED)");
	}
	return n;
}

size_t
sim_rep_secs(const struct sim_report_run *r)
{
	double t = r->st->elapsed_s > r->sc->duration_s ? r->st->elapsed_s : r->sc->duration_s;
	size_t n;

	/* The drain is on the charts too: breakers closing again and pending orders settling, and
	 * the events drain: outboxes emptying and orders shipping. */
	n = (size_t)ceil(t + r->sc->drain_s + (r->events_drain ? r->events_drain_s : 0));
	/* ... and on to the last sample the scraper took, however long restoring the stack took. */
	if (r->breakers) {
		const struct sim_scrape *b = r->breakers;

		n = b->npending > n ? b->npending : n;
		for (size_t i = 0; i < b->nb; i++)
			n = b->b[i].nsecs > n ? b->b[i].nsecs : n;
		for (size_t i = 0; i < b->ev.noutbox; i++)
			n = b->ev.outbox[i].n > n ? b->ev.outbox[i].n : n;
		for (size_t i = 0; i < b->ev.nlag; i++)
			n = b->ev.lag[i].n > n ? b->ev.lag[i].n : n;
		n = b->ev.unshipped.n > n ? b->ev.unshipped.n : n;
	}
	return n > SIM_REP_MAXSECS ? SIM_REP_MAXSECS : n;
}

uint64_t
sim_rep_errors(const uint64_t *out)
{
	uint64_t e = 0;

	for (int o = SIM_OUT_4XX; o < SIM_OUT_UNKNOWN; o++)
		e += out[o];
	return e;
}

double
sim_rep_pct_ms(const struct sim_hist *h, double p)
{
	return (double)sim_hist_percentile(h, p) / 1000;
}

void
sim_rep_fill_series(const struct sim_report_run *r, size_t n, struct sim_rep_series *x)
{
	const struct sim_load_stats *st = r->st;

	for (size_t s = 0; s < n; s++) {
		const struct sim_sec *sec = s < st->nsecs ? &st->secs[s] : NULL;

		x->ok[s] = sec ? (double)sec->out[SIM_OUT_OK] : 0;
		x->err[s] = sec ? (double)sim_rep_errors(sec->out) : 0;
		x->unknown[s] = sec ? (double)sec->out[SIM_OUT_UNKNOWN] : 0;
		x->accepted[s] = sec ? (double)sec->accepted : 0;
		x->pending[s] = r->breakers && s < r->breakers->npending && r->breakers->pending[s] >= 0 ?
				(double)r->breakers->pending[s] : NAN;
		for (int j = 0; j < SIM_J_COUNT; j++) {
			const struct sim_hist *h = sim_series_at(&st->series[j], s);

			x->p50[j][s] = h ? sim_rep_pct_ms(h, 50) : NAN;
			x->p99[j][s] = h ? sim_rep_pct_ms(h, 99) : NAN;
		}
	}
}

double
sim_rep_max(const double *v, size_t n)
{
	double m = 0;

	for (size_t i = 0; i < n; i++)
		if (!isnan(v[i]) && v[i] > m)
			m = v[i];
	return m;
}
