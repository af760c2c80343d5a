/* sim_report_json.c - report.json: the scenario, and per run its numbers, series, faults and checks */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "sim_faults.h"
#include "sim_report.h"
#include "sim_report_int.h"

static json_object *
sim_rep_jnum(double v)
{
	return json_object_new_double(round(v * 1000) / 1000);
}

/* A per-second event series as a JSON array over [0, n) (null where it has nothing). */
static json_object *
sim_rep_ev_json(const struct sim_evseries *x, size_t n)
{
	json_object *a = json_object_new_array();

	for (size_t s = 0; s < n; s++)
		json_object_array_add(a, s < x->n && !isnan(x->v[s]) ? sim_rep_jnum(x->v[s]) : NULL);
	return a;
}

/* Each journey: counts, percentiles, and p50 and p99 per second. */
static json_object *
sim_rep_json_journeys(const struct sim_load_stats *st, size_t n)
{
	json_object *x = json_object_new_object();

	for (int j = 0; j < SIM_J_COUNT; j++) {
		json_object *jj = json_object_new_object();
		json_object *ser = json_object_new_array();

		json_object_object_add(jj, "started", json_object_new_int64((int64_t)st->jstarted[j]));
		json_object_object_add(jj, "ok", json_object_new_int64((int64_t)st->jok[j]));
		json_object_object_add(jj, "p50_ms", sim_rep_jnum((double)sim_hist_percentile(&st->journey[j], 50) / 1000));
		json_object_object_add(jj, "p90_ms", sim_rep_jnum((double)sim_hist_percentile(&st->journey[j], 90) / 1000));
		json_object_object_add(jj, "p99_ms", sim_rep_jnum((double)sim_hist_percentile(&st->journey[j], 99) / 1000));
		json_object_object_add(jj, "p99_9_ms", sim_rep_jnum((double)sim_hist_percentile(&st->journey[j], 99.9) / 1000));
		json_object_object_add(jj, "max_ms", sim_rep_jnum((double)st->journey[j].max / 1000));
		for (size_t s = 0; s < n; s++) {
			const struct sim_hist *h = sim_series_at(&st->series[j], s);
			json_object *p = json_object_new_array();

			json_object_array_add(p, json_object_new_int64((int64_t)s));
			json_object_array_add(p, h ? sim_rep_jnum((double)sim_hist_percentile(h, 50) / 1000) : NULL);
			json_object_array_add(p, h ? sim_rep_jnum((double)sim_hist_percentile(h, 99) / 1000) : NULL);
			json_object_array_add(ser, p);
		}
		json_object_object_add(jj, "per_second_t_p50_p99_ms", ser);
		json_object_object_add(x, sim_journey_names[j], jj);
	}
	return x;
}

/* The load per second: started, each outcome, in flight, 202 answers. */
static json_object *
sim_rep_json_seconds(const struct sim_load_stats *st, size_t n)
{
	json_object *a = json_object_new_array();

	for (size_t s = 0; s < n && s < st->nsecs; s++) {
		json_object *p = json_object_new_object();

		json_object_object_add(p, "t", json_object_new_int64((int64_t)s));
		json_object_object_add(p, "started", json_object_new_int64((int64_t)st->secs[s].started));
		for (int k = 0; k < SIM_OUT_COUNT; k++)
			json_object_object_add(p, sim_outcome_names[k], json_object_new_int64((int64_t)st->secs[s].out[k]));
		json_object_object_add(p, "in_flight", json_object_new_int64(st->secs[s].inflight));
		json_object_object_add(p, "accepted_202", json_object_new_int64(st->secs[s].accepted));
		json_object_array_add(a, p);
	}
	return a;
}

/* Failed requests by endpoint, status and error code. */
static json_object *
sim_rep_json_errors(const struct sim_load_stats *st)
{
	json_object *a = json_object_new_array();

	for (size_t k = 0; k < st->nerrs; k++) {
		json_object *p = json_object_new_object();

		json_object_object_add(p, "endpoint", json_object_new_string(st->errs[k].endpoint));
		json_object_object_add(p, "status", json_object_new_int(st->errs[k].status));
		json_object_object_add(p, "code", json_object_new_string(st->errs[k].code));
		json_object_object_add(p, "requests", json_object_new_int64((int64_t)st->errs[k].n));
		json_object_array_add(a, p);
	}
	return a;
}

/* Each fault as applied, with its failover and its recovery when known. */
static json_object *
sim_rep_json_faults(const struct sim_report_run *r)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < r->sc->nfaults; i++) {
		json_object *p = json_object_new_object();
		double from = -1, to = -1;

		if (r->applied_from) {
			from = r->applied_from[i];
			to = from >= 0 ? r->applied_to[i] : -1;
		} else {
			sim_fault_window(r->sc, i, &from, &to);
		}
		json_object_object_add(p, "applied", json_object_new_boolean(from >= 0));
		json_object_object_add(p, "from_s", from >= 0 ? sim_rep_jnum(from) : NULL);
		json_object_object_add(p, "to_s", to >= 0 ? sim_rep_jnum(to) : NULL);
		if (r->failover && from >= 0) {
			const struct sim_failover *fo = &r->failover[i];
			json_object *q = json_object_new_object();

			json_object_object_add(q, "first_error_s", fo->errors ? sim_rep_jnum(fo->first_error_s) : NULL);
			json_object_object_add(q, "last_error_s", fo->errors ? sim_rep_jnum(fo->recovered_s) : NULL);
			json_object_object_add(q, "failover_s", sim_rep_jnum(fo->errors ? fo->failover_s : 0));
			json_object_object_add(q, "failed_in_failover", json_object_new_int64((int64_t)fo->burst_failed));
			json_object_object_add(q, "failed_in_window", json_object_new_int64((int64_t)fo->failed));
			json_object_object_add(q, "slowest_journey_ms", sim_rep_jnum(fo->slowest_ms));
			json_object_object_add(q, "slowest_at_s", sim_rep_jnum(fo->slowest_at_s));
			json_object_object_add(p, "failover", q);
		}
		if (r->hy && from >= 0 && i < r->hy->nfaults) {
			const struct sim_hy_fault *hf = &r->hy->fault[i];
			json_object *q = json_object_new_object();

			json_object_object_add(q, "first_success_after_s", hf->first_success_s >= 0 ? sim_rep_jnum(hf->first_success_s) : NULL);
			json_object_object_add(q, "holds_again_after_s", hf->holds_again_s >= 0 ? sim_rep_jnum(hf->holds_again_s) : NULL);
			json_object_object_add(q, "requests_lost", json_object_new_int64((int64_t)hf->lost));
			json_object_object_add(p, "recovery", q);
		}
		json_object_array_add(a, p);
	}
	return a;
}

/* Each breaker's state per second (null: no scrape). */
static json_object *
sim_rep_json_breakers(const struct sim_report_run *r, size_t n)
{
	json_object *x = json_object_new_object();

	for (size_t i = 0; r->breakers && i < r->breakers->nb; i++) {
		json_object *b = json_object_new_array();

		for (size_t s = 0; s < n; s++) {
			int v = s < r->breakers->b[i].nsecs ? r->breakers->b[i].state[s] : -1;

			json_object_array_add(b, v < 0 ? NULL : json_object_new_int(v));
		}
		json_object_object_add(x, r->breakers->b[i].name, b);
	}
	return x;
}

/* The safety half: every invariant, the dead letters, the unknown checkouts; or why it did not run. */
static void
sim_rep_json_checks(json_object *o, const struct sim_report_run *r)
{
	json_object *a;

	if (r->ck) {
		a = json_object_new_array();
		for (int i = 0; i < SIM_INV_COUNT; i++) {
			const struct sim_ck_inv *v = &r->ck->inv[i];
			json_object *p = json_object_new_object(), *m = json_object_new_array();

			json_object_object_add(p, "name", json_object_new_string(v->name));
			json_object_object_add(p, "rule", json_object_new_string(v->rule));
			json_object_object_add(p, "ok", json_object_new_boolean(v->violations == 0));
			json_object_object_add(p, "applicable", json_object_new_boolean(v->na[0] == '\0' || v->violations));
			if (v->na[0])
				json_object_object_add(p, "not_applicable", json_object_new_string(v->na));
			json_object_object_add(p, "checked", json_object_new_int64((int64_t)v->checked));
			json_object_object_add(p, "violations", json_object_new_int64((int64_t)v->violations));
			for (size_t k = 0; k < v->nmsgs; k++)
				json_object_array_add(m, json_object_new_string(v->msgs[k]));
			json_object_object_add(p, "messages", m);
			json_object_array_add(a, p);
		}
		json_object_object_add(o, "invariants", a);
		if (r->ev) {
			a = json_object_new_array();
			for (size_t k = 0; k < r->ev->ndead; k++) {
				const struct sim_ck_dead *dl = &r->ev->dead[k];
				json_object *p = json_object_new_object();

				json_object_object_add(p, "service", json_object_new_string(dl->service));
				json_object_object_add(p, "id", json_object_new_string(dl->msg_id));
				json_object_object_add(p, "type", json_object_new_string(dl->type));
				json_object_object_add(p, "reason", json_object_new_string(dl->reason));
				json_object_object_add(p, "attempts", json_object_new_int(dl->attempts));
				json_object_object_add(p, "at", json_object_new_string(dl->at));
				json_object_object_add(p, "applied_too", json_object_new_boolean(dl->applied));
				json_object_array_add(a, p);
			}
			json_object_object_add(o, "dead_letters", a);
		}
		json_object_object_add(o, "invariants_ok", json_object_new_boolean(r->ck->ok));
		json_object_object_add(o, "unknown_checkouts", json_object_new_int64((int64_t)r->ck->unknown_total));
		json_object_object_add(o, "unknown_became_order", json_object_new_int64((int64_t)r->ck->unknown_became_order));
	} else {
		json_object_object_add(o, "check_error", json_object_new_string(r->check_error ? r->check_error : "not run"));
	}
}

/* The steady-state hypothesis as judged: the baseline and each clause. */
static json_object *
sim_rep_json_hypothesis(const struct sim_hy_result *hy)
{
	json_object *h = json_object_new_object(), *cl = json_object_new_array();

	json_object_object_add(h, "stated", json_object_new_boolean(hy->stated));
	json_object_object_add(h, "ok", json_object_new_boolean(hy->ok));
	json_object_object_add(h, "summary", json_object_new_string(hy->summary));
	json_object_object_add(h, "steady_seconds", json_object_new_int64((int64_t)hy->steady_secs));
	json_object_object_add(h, "baseline_seconds", json_object_new_int64((int64_t)hy->base_secs));
	json_object_object_add(h, "baseline_success", sim_rep_jnum(hy->base_success));
	json_object_object_add(h, "baseline_ok_requests_per_journey", sim_rep_jnum(hy->base_tput));
	for (size_t k = 0; k < hy->n; k++) {
		const struct sim_hy_clause *c = &hy->c[k];
		json_object *p = json_object_new_object();

		json_object_object_add(p, "id", json_object_new_string(c->id));
		json_object_object_add(p, "held", json_object_new_boolean(c->held));
		json_object_object_add(p, "judged", json_object_new_boolean(c->judged));
		json_object_object_add(p, "value", c->judged ? sim_rep_jnum(c->value) : NULL);
		json_object_object_add(p, "threshold", sim_rep_jnum(c->threshold));
		json_object_object_add(p, "text", json_object_new_string(c->text));
		json_object_array_add(cl, p);
	}
	json_object_object_add(h, "clauses", cl);
	return h;
}

/* The events per second: outbox depth and mean lag per service, orders not shipped. */
static json_object *
sim_rep_json_events(const struct sim_events_scrape *e, size_t n)
{
	json_object *evo = json_object_new_object(), *y;

	for (int kind = 0; kind < 2; kind++) {
		const struct sim_evseries *v = kind == 0 ? e->outbox : e->lag;
		size_t nv = kind == 0 ? e->noutbox : e->nlag;

		y = json_object_new_object();
		for (size_t i = 0; i < nv; i++)
			json_object_object_add(y, v[i].name, sim_rep_ev_json(&v[i], n));
		json_object_object_add(evo, kind == 0 ? "outbox_depth" : "lag_seconds_mean", y);
	}
	if (e->shipping) {
		json_object_object_add(evo, "confirmed_not_shipped", sim_rep_ev_json(&e->unshipped, n));
		json_object_object_add(evo, "oldest_not_shipped_age_s", sim_rep_ev_json(&e->unshipped_age, n));
	}
	return evo;
}

/* One run: its verdict, counts, series, faults, checks and hypothesis. */
static json_object *
sim_rep_json_run(const struct sim_report_run *r)
{
	const struct sim_load_stats *st = r->st;
	json_object *o = json_object_new_object(), *a, *x;
	size_t n = sim_rep_secs(r);
	char line[512];

	sim_report_verdict(r, line, sizeof(line));
	json_object_object_add(o, "label", json_object_new_string(r->label));
	json_object_object_add(o, "verdict", json_object_new_string(line));
	json_object_object_add(o, "held", json_object_new_boolean(sim_report_held(r)));
	json_object_object_add(o, "status", json_object_new_string(r->status ? r->status : "valid"));
	json_object_object_add(o, "valid", json_object_new_boolean(sim_rep_valid(r)));
	if (!sim_rep_valid(r))
		json_object_object_add(o, "why", json_object_new_string(r->why ? r->why : ""));
	json_object_object_add(o, "elapsed_s", sim_rep_jnum(st->elapsed_s));
	json_object_object_add(o, "interrupted", json_object_new_boolean(st->interrupted));
	json_object_object_add(o, "cut_in_flight", json_object_new_int64((int64_t)st->cut));
	json_object_object_add(o, "requests", json_object_new_int64((int64_t)st->requests));
	x = json_object_new_object();
	for (int k = 0; k < SIM_OUT_COUNT; k++)
		json_object_object_add(x, sim_outcome_names[k], json_object_new_int64((int64_t)st->out[k]));
	json_object_object_add(o, "outcomes", x);
	json_object_object_add(o, "declined", json_object_new_int64((int64_t)st->declined));
	json_object_object_add(o, "out_of_stock", json_object_new_int64((int64_t)st->out_of_stock));
	json_object_object_add(o, "pending_202", json_object_new_int64((int64_t)st->pending));
	json_object_object_add(o, "journeys", sim_rep_json_journeys(st, n));
	json_object_object_add(o, "per_second", sim_rep_json_seconds(st, n));
	a = json_object_new_array();
	for (size_t s = 0; r->breakers && s < n; s++)
		json_object_array_add(a, s < r->breakers->npending && r->breakers->pending[s] >= 0 ?
				      json_object_new_int(r->breakers->pending[s]) : NULL);
	json_object_object_add(o, "pending_orders_per_second", a);
	json_object_object_add(o, "errors", sim_rep_json_errors(st));
	if (r->resilience_off) {
		json_object_object_add(o, "retries", json_object_new_string("disabled"));
		json_object_object_add(o, "breaker_opens", json_object_new_string("disabled"));
	} else if (r->breakers) {
		json_object_object_add(o, "retries", json_object_new_int64((int64_t)r->breakers->retries));
		json_object_object_add(o, "breaker_opens", json_object_new_int64((int64_t)r->breakers->breaker_opens));
	}
	json_object_object_add(o, "faults_applied", sim_rep_json_faults(r));
	json_object_object_add(o, "breakers_per_second", sim_rep_json_breakers(r, n));
	sim_rep_json_checks(o, r);
	if (r->events_drain) {
		json_object_object_add(o, "events_drain", json_object_new_string(r->events_drain));
		json_object_object_add(o, "events_drain_s", sim_rep_jnum(r->events_drain_s));
	}
	if (r->hy)
		json_object_object_add(o, "hypothesis", sim_rep_json_hypothesis(r->hy));
	if (r->drained != 0) {
		json_object *d = json_object_new_object();

		json_object_object_add(d, "drained", json_object_new_boolean(r->drained == 1));
		json_object_object_add(d, "from_s", sim_rep_jnum(r->drained_from_s));
		json_object_object_add(d, "drained_in_s", r->drained == 1 ? sim_rep_jnum(r->drained_in_s) : NULL);
		json_object_object_add(o, "drain", d);
	}
	if (r->breakers && (r->breakers->ev.noutbox || r->breakers->ev.nlag))
		json_object_object_add(o, "events_per_second", sim_rep_json_events(&r->breakers->ev, n));
	json_object_object_add(o, "fault_log", json_object_new_string(r->fault_log ? r->fault_log : ""));
	return o;
}

int
sim_rep_json(const char *path, const struct sim_report_run *runs, size_t n, const struct sim_report_meta *m)
{
	json_object *root = json_object_new_object(), *a = json_object_new_array(), *fa = json_object_new_array();
	const struct sim_scenario *sc = runs[0].sc;
	int rc;

	json_object_object_add(root, "scenario", json_object_new_string(sc->name));
	json_object_object_add(root, "scenario_file", json_object_new_string(sc->file));
	json_object_object_add(root, "scenario_sha256", json_object_new_string(m->scenario_sha256));
	json_object_object_add(root, "commit", json_object_new_string(m->commit));
	json_object_object_add(root, "started", json_object_new_string(m->started));
	json_object_object_add(root, "settings", json_object_new_string(m->settings));
	json_object_object_add(root, "timeout_s", sim_rep_jnum(sc->timeout_s));
	json_object_object_add(root, "seed", json_object_new_int64((int64_t)sc->seed));
	json_object_object_add(root, "duration_s", sim_rep_jnum(sc->duration_s));
	json_object_object_add(root, "drain_s", sim_rep_jnum(sc->drain_s));
	for (size_t i = 0; i < sc->nfaults; i++) {
		json_object *p = json_object_new_object();
		double from, to;

		sim_fault_window(sc, i, &from, &to);
		json_object_object_add(p, "kind", json_object_new_string(sim_fault_kind_names[sc->faults[i].kind]));
		json_object_object_add(p, "target", json_object_new_string(sc->faults[i].target));
		if (sc->faults[i].kind == SIM_FAULT_TOXIC)
			json_object_object_add(p, "type", json_object_new_string(sc->faults[i].type));
		json_object_object_add(p, "planned_from_s", sim_rep_jnum(from));
		json_object_object_add(p, "planned_to_s", sim_rep_jnum(to));
		json_object_array_add(fa, p);
	}
	json_object_object_add(root, "faults", fa);
	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, sim_rep_json_run(&runs[i]));
	json_object_object_add(root, "runs", a);
	rc = json_object_to_file_ext(path, root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	json_object_put(root);
	return rc == 0 ? 0 : -1;
}
