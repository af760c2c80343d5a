/* sim_hypo.c - the steady-state hypothesis judged from a run's per-second samples (pure), and what makes a run invalid */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sim_faults.h"
#include "sim_hypo.h"

/* Seconds of the load in which journeys are scheduled. */
static size_t
sim_hy_load_secs(const struct sim_scenario *sc)
{
	return (size_t)ceil(sc->duration_s);
}

static void
sim_hy_window_of(const struct sim_scenario *sc, const double *from, const double *to, size_t i, double *a,
    double *b)
{
	if (from == NULL) {
		sim_fault_window(sc, i, a, b);
		return;
	}
	*a = from[i];
	*b = from[i] >= 0 ? (to[i] >= 0 ? to[i] : sc->duration_s) : -1;
}

/* Whether second s touches [from - 1, to + within_s) of an applied fault. */
static bool
sim_hy_disturbed(const struct sim_scenario *sc, const double *from, const double *to, size_t s)
{
	for (size_t i = 0; i < sc->nfaults; i++) {
		double a, b;

		sim_hy_window_of(sc, from, to, i, &a, &b);
		if (a < 0)
			continue;
		if ((double)s + 1 > a - 1 && (double)s < b + sc->hy.within_s)
			return true;
	}
	return false;
}

size_t
sim_hy_planned_steady(const struct sim_scenario *sc)
{
	size_t n = 0;

	for (size_t s = 0; s < sim_hy_load_secs(sc); s++)
		n += !sim_hy_disturbed(sc, NULL, NULL, s) && sim_scenario_rate_at(sc, (double)s) > 0;
	return n;
}

struct sums {
	uint64_t started, ok, ok_req;
	double offered;
};

static void
sim_hy_add_sec(const struct sim_scenario *sc, const struct sim_load_stats *st, size_t s, struct sums *x)
{
	if (s >= st->nsecs)
		return;
	for (int j = 0; j < SIM_J_COUNT; j++) {
		x->started += st->secs[s].jstarted[j];
		x->ok += st->secs[s].jok[j];
	}
	x->ok_req += st->secs[s].out[SIM_OUT_OK];
	x->offered += sim_scenario_rate_at(sc, (double)s);
}

/* The window [t, t + SIM_HY_WINDOW_S) of the load is back within the band of the baseline. */
static bool
sim_hy_in_band(const struct sim_scenario *sc, const struct sim_load_stats *st, const struct sim_hy_result *r,
    size_t t, double *success, double *tput)
{
	struct sums x = { 0 };
	double band = 1 - sc->hy.band;
	bool all = true;
	size_t n = 0;

	/* Every second of the window on its own, so one good second cannot hide two bad ones. */
	for (size_t s = t; s < t + SIM_HY_WINDOW_S && s < sim_hy_load_secs(sc); s++, n++) {
		struct sums one = { 0 };

		sim_hy_add_sec(sc, st, s, &one);
		sim_hy_add_sec(sc, st, s, &x);
		if (one.started == 0 || (double)one.ok / (double)one.started < band * (r->base_secs ? r->base_success : 1) ||
		    (r->base_secs && (one.offered <= 0 || (double)one.ok_req / one.offered < band * r->base_tput)))
			all = false;
	}
	*success = x.started ? (double)x.ok / (double)x.started : 0;
	*tput = x.offered > 0 ? (double)x.ok_req / x.offered : 0;
	return all && n == SIM_HY_WINDOW_S;
}

static void sim_hy_clause(struct sim_hy_result *r, const char *id, bool judged, bool held, double value, double threshold,
		   const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static void
sim_hy_clause(struct sim_hy_result *r, const char *id, bool judged, bool held, double value, double threshold,
    const char *fmt, ...)
{
	struct sim_hy_clause *c = &r->c[r->n++];
	va_list ap;

	snprintf(c->id, sizeof(c->id), "%s", id);
	c->judged = judged;
	c->held = judged && held;
	c->value = value;
	c->threshold = threshold;
	va_start(ap, fmt);
	vsnprintf(c->text, sizeof(c->text), fmt, ap);
	va_end(ap);
}

static void
sim_hy_baseline(const struct sim_scenario *sc, const struct sim_load_stats *st, const double *from,
    const double *to, struct sim_hy_result *r, const bool *steady)
{
	double first = INFINITY;
	struct sums x = { 0 };
	size_t n = 0;

	for (size_t i = 0; i < sc->nfaults; i++) {
		double a, b;

		sim_hy_window_of(sc, from, to, i, &a, &b);
		if (a >= 0 && a < first)
			first = a;
	}
	/* The steady seconds before the first fault; fewer than two: every steady second. */
	for (int pass = 0; pass < 2 && n < 2; pass++) {
		memset(&x, 0, sizeof(x));
		n = 0;
		for (size_t s = 0; s < sim_hy_load_secs(sc); s++) {
			struct sums one = { 0 };

			if (!steady[s] || (pass == 0 && (double)s + 1 > first - 1))
				continue;
			sim_hy_add_sec(sc, st, s, &one);
			if (one.started == 0)
				continue;
			sim_hy_add_sec(sc, st, s, &x);
			n++;
		}
	}
	r->base_secs = x.started && x.offered > 0 ? n : 0;
	r->base_success = x.started ? (double)x.ok / (double)x.started : 0;
	r->base_tput = x.offered > 0 ? (double)x.ok_req / x.offered : 0;
}

void
sim_hy_eval(const struct sim_scenario *sc, const struct sim_load_stats *st, const double *from,
    const double *to, struct sim_hy_result *out)
{
	const struct sim_hypothesis *h = &sc->hy;
	bool steady[86400 + 1];
	size_t nload = sim_hy_load_secs(sc);
	double last_to = -1;

	memset(out, 0, sizeof(*out));
	out->stated = h->stated;
	out->last_fault = -1;
	if (nload > 86400)
		nload = 86400;
	for (size_t s = 0; s < nload; s++) {
		steady[s] = !sim_hy_disturbed(sc, from, to, s);
		out->steady_secs += steady[s];
	}
	sim_hy_baseline(sc, st, from, to, out, steady);
	/* Per journey: success and p99 of the journeys scheduled in the steady seconds. */
	for (int j = 0; j < SIM_J_COUNT; j++) {
		struct sim_hist merged;
		uint64_t started = 0, ok = 0;
		char id[40];
		double share, p99;

		if (!h->has[j])
			continue;
		if (sim_hist_init(&merged, 6) != 0) {
			snprintf(id, sizeof(id), "%s.success", sim_journey_names[j]);
			sim_hy_clause(out, id, false, false, 0, h->success[j], "%s: out of memory", sim_journey_names[j]);
			continue;
		}
		for (size_t s = 0; s < nload && s < st->nsecs; s++) {
			const struct sim_hist *sh = sim_series_at(&st->series[j], s);

			if (!steady[s])
				continue;
			started += st->secs[s].jstarted[j];
			ok += st->secs[s].jok[j];
			if (sh)
				(void)sim_hist_merge(&merged, sh);
		}
		share = started ? (double)ok / (double)started : 0;
		p99 = (double)sim_hist_percentile(&merged, 99) / 1000;
		snprintf(id, sizeof(id), "%s.success", sim_journey_names[j]);
		if (started == 0)
			sim_hy_clause(out, id, false, false, 0, h->success[j],
			       "%s: no journey outside the fault windows to judge (needs %g%% ok)", sim_journey_names[j],
			       h->success[j] * 100);
		else
			sim_hy_clause(out, id, true, share >= h->success[j], share, h->success[j], "%s %.1f%% ok of %llu (needs %g%%)",
			       sim_journey_names[j], share * 100, (unsigned long long)started, h->success[j] * 100);
		snprintf(id, sizeof(id), "%s.p99_ms", sim_journey_names[j]);
		if (merged.total == 0)
			sim_hy_clause(out, id, false, false, 0, h->p99_ms[j],
			       "%s: no journey outside the fault windows to judge (p99 needs <= %g ms)", sim_journey_names[j],
			       h->p99_ms[j]);
		else
			sim_hy_clause(out, id, true, p99 <= h->p99_ms[j], p99, h->p99_ms[j], "%s p99 %.0f ms (needs <= %g ms)",
			       sim_journey_names[j], p99, h->p99_ms[j]);
		sim_hist_free(&merged);
	}
	/* Per fault: first success, back within the band, requests lost. */
	out->nfaults = sc->nfaults;
	for (size_t i = 0; i < sc->nfaults; i++) {
		struct sim_hy_fault *f = &out->fault[i];
		double a, b, su, tp, end;
		size_t t0;

		sim_hy_window_of(sc, from, to, i, &a, &b);
		f->first_success_s = f->holds_again_s = -1;
		if (a < 0)
			continue;
		f->applied = true;
		f->from = a;
		f->to = b;
		if (b > last_to) {
			last_to = b;
			out->last_fault = (int)i;
		}
		t0 = (size_t)floor(b);
		for (size_t s = t0; s < nload && s < st->nsecs && f->first_success_s < 0; s++) {
			bool all = false;

			for (int j = 0; j < SIM_J_COUNT; j++) {
				if (st->secs[s].jstarted[j] == 0)
					continue;
				all = st->secs[s].jok[j] > 0;
				if (!all)
					break;
			}
			if (all)
				f->first_success_s = fmax(0, (double)s - b);
		}
		for (size_t s = t0; s < nload; s++)
			if (sim_hy_in_band(sc, st, out, s, &su, &tp)) {
				f->holds_again_s = fmax(0, (double)s - b);
				break;
			}
		end = f->holds_again_s >= 0 ? b + f->holds_again_s + SIM_HY_WINDOW_S : st->elapsed_s > 0 ? st->elapsed_s : INFINITY;
		for (size_t k = 0; k < st->nfail; k++)
			if (st->fail_t[k] >= a && st->fail_t[k] < end)
				f->lost++;
	}
	/* Recovery: back within the band of the baseline within within_s after the last fault ended. */
	if (out->last_fault >= 0) {
		const struct sim_hy_fault *f = &out->fault[out->last_fault];
		const struct sim_fault *ft = &sc->faults[out->last_fault];
		const char *what = ft->kind == SIM_FAULT_TOXIC ? ft->type : sim_fault_kind_names[ft->kind];
		double su = 0, tp = 0;
		size_t t = (size_t)floor(f->to + h->within_s);

		if (f->holds_again_s >= 0 && f->holds_again_s <= h->within_s)
			sim_hy_clause(out, "recovery.within_s", true, true, f->holds_again_s, h->within_s,
			       "back within %g%% of the baseline %.0f s after the last fault (%s %s) ended (needs <= %g s)",
			       h->band * 100, f->holds_again_s, ft->target, what, h->within_s);
		else if (f->to + SIM_HY_WINDOW_S > (double)nload) {
			/* The fault outlasted the load: the journeys can only say whether they were back
			 * within the band by the load's last seconds. */
			bool back = nload >= SIM_HY_WINDOW_S && sim_hy_in_band(sc, st, out, nload - SIM_HY_WINDOW_S, &su, &tp);

			sim_hy_clause(out, "recovery.within_s", back, back, back ? 0 : -1, h->within_s,
			       back ? "the last fault (%s %s) ended at %.1f s, %s the load's end, and the load's last %d s "
				      "were within %g%% of the baseline" :
				      "the last fault (%s %s) ended at %.1f s, %s the load's end, and the load's last %d s "
				      "were not within %g%% of the baseline: recovery not seen",
			       ft->target, what, f->to, f->to > (double)nload ? "after" : "just before", SIM_HY_WINDOW_S,
			       h->band * 100);
		}
		else {
			if (t >= nload)
				t = nload > SIM_HY_WINDOW_S ? nload - SIM_HY_WINDOW_S : 0;
			(void)sim_hy_in_band(sc, st, out, t, &su, &tp);
			sim_hy_clause(out, "recovery.within_s", true, false, f->holds_again_s, h->within_s,
			       "not back within %g%% of the baseline %g s after the last fault (%s %s) ended%s: "
			       "%.0f%% ok (baseline %.0f%%), throughput %.0f%% of the baseline's",
			       h->band * 100, h->within_s, ft->target, what,
			       f->holds_again_s >= 0 ? "" : " (nor before the load ended)", su * 100, out->base_success * 100,
			       out->base_tput > 0 ? tp / out->base_tput * 100 : 0);
		}
	}
	out->ok = true;
	for (size_t k = 0; k < out->n; k++)
		out->ok &= out->c[k].held;
	if (out->ok) {
		snprintf(out->summary, sizeof(out->summary), "steady state held");
	} else {
		size_t failed = 0, first = 0;

		for (size_t k = out->n; k > 0; k--)
			if (!out->c[k - 1].held) {
				failed++;
				first = k - 1;
			}
		snprintf(out->summary, sizeof(out->summary), "steady state FAILED: %.240s%s", out->c[first].text,
			 failed > 1 ? " (and more)" : "");
	}
}

void
sim_hy_print(const struct sim_scenario *sc, const struct sim_hy_result *r, FILE *f)
{
	fprintf(f, "hypothesis (%s; %zu steady seconds, baseline %.1f%% ok, %.2f ok requests per journey offered):\n",
		r->stated ? "the scenario's" : "the default: none stated", r->steady_secs, r->base_success * 100, r->base_tput);
	for (size_t k = 0; k < r->n; k++)
		fprintf(f, "  %-4s %-26s %s\n", r->c[k].held ? "ok" : "FAIL", r->c[k].id, r->c[k].text);
	for (size_t i = 0; i < r->nfaults; i++) {
		const struct sim_hy_fault *x = &r->fault[i];
		const struct sim_fault *ft = &sc->faults[i];
		char a[48], b[48];

		if (!x->applied)
			continue;
		if (x->to >= ceil(sc->duration_s)) {
			fprintf(f, "recovery: %s %s %.1f-%.1f s: ended after the load (nothing after it to measure), "
				"%llu requests lost\n", ft->target, ft->kind == SIM_FAULT_TOXIC ? ft->type :
				sim_fault_kind_names[ft->kind], x->from, x->to, (unsigned long long)x->lost);
			continue;
		}
		if (x->first_success_s >= 0)
			snprintf(a, sizeof(a), "%.0f s after", x->first_success_s);
		else
			snprintf(a, sizeof(a), "none in the load");
		if (x->holds_again_s >= 0)
			snprintf(b, sizeof(b), "%.0f s after", x->holds_again_s);
		else
			snprintf(b, sizeof(b), "not before the load ended");
		fprintf(f, "recovery: %s %s %.1f-%.1f s: first success %s, back within the band %s, "
			"%llu requests lost\n", ft->target, ft->kind == SIM_FAULT_TOXIC ? ft->type : sim_fault_kind_names[ft->kind],
			x->from, x->to, a, b, (unsigned long long)x->lost);
	}
}

int
sim_hy_invalid(const struct sim_scenario *sc, const struct sim_load_stats *st, char *why, size_t whysz)
{
	if (st->requests == 0) {
		snprintf(why, whysz, "no request was sent (the phases' rates offered %s)",
			 st->jstarted[0] + st->jstarted[1] + st->jstarted[2] ? "journeys that sent nothing" : "no journey");
		return -1;
	}
	for (int j = 0; j < SIM_J_COUNT; j++)
		if (sc->mix[j] > 0 && st->jstarted[j] == 0) {
			snprintf(why, whysz, "the mix gives %s journeys weight %g, and none started: nothing tells whether they work",
				 sim_journey_names[j], sc->mix[j]);
			return -1;
		}
	return 0;
}

static bool
sim_hy_held_some(const struct sim_evseries *x, size_t sec)
{
	return sec < x->n && !isnan(x->v[sec]) && x->v[sec] > 0;
}

double
sim_hy_drained_at(const struct sim_scrape *s, double from)
{
	const struct sim_events_scrape *e = &s->ev;
	size_t n = s->npending, first = 0;

	for (size_t i = 0; i < e->noutbox; i++)
		n = e->outbox[i].n > n ? e->outbox[i].n : n;
	if (e->shipping && e->unshipped.n > n)
		n = e->unshipped.n;
	size_t seen = 0;        /* one past the last second with a sample */

	for (size_t sec = 0; sec < n; sec++) {
		bool some = sec < s->npending && s->pending && s->pending[sec] > 0;

		if ((sec < s->npending && s->pending && s->pending[sec] >= 0) ||
		    (e->shipping && sec < e->unshipped.n && !isnan(e->unshipped.v[sec])))
			seen = sec + 1;
		for (size_t i = 0; i < e->noutbox; i++)
			if (sec < e->outbox[i].n && !isnan(e->outbox[i].v[sec]))
				seen = sec + 1;
		for (size_t i = 0; i < e->noutbox && !some; i++)
			some = sim_hy_held_some(&e->outbox[i], sec);
		if (e->shipping && !some)
			some = sim_hy_held_some(&e->unshipped, sec);
		if (some)
			first = sec + 1;
	}
	if (first >= seen)
		return -1;
	return (double)first > from ? (double)first : from;
}
