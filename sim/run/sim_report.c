/* sim_report.c - writes report.json and report.html (inline SVG charts, no scripts, no network) */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "sim_faults.h"
#include "sim_report.h"

#define W 1100
#define H 240
#define ML 130
#define MR 16
#define MT 28
#define MB 28

static const char *const colors[] = { "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b" };

struct line {
	char name[64];
	const char *color;
	double *y;              /* NAN: no value */
	bool dashed;
};

static void esc(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '<')
			fputs("&lt;", f);
		else if (*s == '>')
			fputs("&gt;", f);
		else if (*s == '&')
			fputs("&amp;", f);
		else if (*s == '"')
			fputs("&quot;", f);
		else
			fputc(*s, f);
	}
}

static double nice_max(double v)
{
	double p, m;

	if (v <= 0)
		return 1;
	p = pow(10, floor(log10(v)));
	m = v / p;
	return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

static double px(double t, double xmax)
{
	return ML + t / xmax * (W - ML - MR);
}

static void shade_faults(FILE *f, const struct sim_scenario *sc, double xmax, int h)
{
	for (size_t i = 0; i < sc->nfaults; i++) {
		const struct sim_fault *ft = &sc->faults[i];
		double a, b;

		sim_fault_window(sc, i, &a, &b);
		if (b - a < 0.5)
			b = a + 0.5;
		fprintf(f, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\" opacity=\"0.18\"><title>",
			px(a, xmax), MT, px(b, xmax) - px(a, xmax), h - MT - MB,
			ft->kind == SIM_FAULT_TOXIC ? "#ff9800" : "#e53935");
		esc(f, ft->target);
		fprintf(f, " %s %.0f-%.0f s</title></rect>\n", ft->kind == SIM_FAULT_TOXIC ? ft->type : sim_fault_kind_names[ft->kind], a, b);
		fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" fill=\"#b71c1c\">", px(a, xmax) + 2, MT + 10 + (int)(i % 3) * 11);
		esc(f, ft->target);
		fprintf(f, " %s</text>\n", ft->kind == SIM_FAULT_TOXIC ? ft->type : sim_fault_kind_names[ft->kind]);
	}
}

static void axes(FILE *f, const char *title, const char *unit, double xmax, double ymax, int h)
{
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n",
		W, h, W, h);
	fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n<text x=\"%d\" y=\"16\" font-size=\"13\" font-weight=\"bold\">", W, h, ML);
	esc(f, title);
	fprintf(f, "</text>\n");
	for (int k = 0; k <= 4; k++) {
		double y = MT + (h - MT - MB) * (1 - k / 4.0);

		fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
			   "<text x=\"%d\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">%g%s</text>\n",
			ML, W - MR, y, y, ML - 4, y + 3, ymax * k / 4, k == 4 ? unit : "");
	}
	for (double t = 0; t <= xmax + 1e-9; t += xmax > 100 ? 20 : 10)
		fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" text-anchor=\"middle\">%.0fs</text>\n", px(t, xmax), h - 10, t);
	fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"#333\"/>\n", ML, W - MR, h - MB, h - MB);
}

/* A line chart of values per second (index = second), fault windows shaded. */
static void chart(FILE *f, const char *title, const char *unit, const struct line *lines, size_t nl, size_t nsecs,
		  const struct sim_scenario *sc)
{
	double xmax = nsecs > 0 ? (double)nsecs : 1, ymax = 0;
	int legend_x0 = ML + 20 + 7 * (int)strlen(title), legend_x = legend_x0, legend_y = 14;

	for (size_t l = 0; l < nl; l++)
		for (size_t s = 0; s < nsecs; s++)
			if (!isnan(lines[l].y[s]) && lines[l].y[s] > ymax)
				ymax = lines[l].y[s];
	ymax = nice_max(ymax);
	axes(f, title, unit, xmax, ymax, H);
	shade_faults(f, sc, xmax, H);
	for (size_t l = 0; l < nl; l++) {
		bool pen = false;

		fprintf(f, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\"%s d=\"", lines[l].color,
			lines[l].dashed ? " stroke-dasharray=\"4 3\"" : "");
		for (size_t s = 0; s < nsecs; s++) {
			double y = lines[l].y[s];

			if (isnan(y)) {
				pen = false;
				continue;
			}
			fprintf(f, "%c%.1f %.1f ", pen ? 'L' : 'M', px((double)s + 0.5, xmax),
				MT + (H - MT - MB) * (1 - y / ymax));
			pen = true;
		}
		/* A legend entry that would run off the chart starts a second row. */
		if (legend_x + 20 + 7 * (int)strlen(lines[l].name) > W - MR && legend_x > legend_x0) {
			legend_x = legend_x0;
			legend_y += 13;
		}
		fprintf(f, "\"/>\n<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"3\" fill=\"%s\"/>"
			   "<text x=\"%d\" y=\"%d\" font-size=\"11\">", legend_x, legend_y - 6,
			   lines[l].color, legend_x + 16, legend_y);
		esc(f, lines[l].name);
		fprintf(f, "</text>\n");
		legend_x += 20 + 7 * (int)strlen(lines[l].name);
	}
	fprintf(f, "</svg>\n");
}

static void breaker_chart(FILE *f, const struct sim_scrape *b, size_t nsecs, const struct sim_scenario *sc)
{
	int h = MT + MB + 18 * (int)(b && b->nb ? b->nb : 1);
	double xmax = nsecs > 0 ? (double)nsecs : 1;

	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\">\n", W, h);
	fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/><text x=\"%d\" y=\"16\" font-size=\"13\" font-weight=\"bold\">"
		   "Circuit breakers (green closed, red open, amber half-open, grey no scrape)</text>\n", W, h, ML);
	if (b == NULL || b->nb == 0) {
		fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\">no breaker metrics were scraped</text></svg>\n", ML, MT + 12);
		return;
	}
	for (size_t i = 0; i < b->nb; i++) {
		int y = MT + 18 * (int)i;

		fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"end\">", ML - 4, y + 12);
		esc(f, b->b[i].name);
		fprintf(f, "</text>\n");
		for (size_t s = 0; s < nsecs; s++) {
			int st = s < b->b[i].nsecs ? b->b[i].state[s] : -1;

			fprintf(f, "<rect x=\"%.1f\" y=\"%d\" width=\"%.2f\" height=\"14\" fill=\"%s\"/>", px((double)s, xmax), y,
				px(1, xmax) - ML + 0.3, st == 0 ? "#66bb6a" : st == 1 ? "#e53935" : st == 2 ? "#ffb300" : "#e0e0e0");
		}
		fputc('\n', f);
	}
	for (size_t i = 0; i < sc->nfaults; i++) {
		double a, e;

		sim_fault_window(sc, i, &a, &e);
		fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#000\" stroke-dasharray=\"2 2\"/>",
			px(a, xmax), px(a, xmax), MT - 4, h - MB + 4);
	}
	for (double t = 0; t <= xmax + 1e-9; t += xmax > 100 ? 20 : 10)
		fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" text-anchor=\"middle\">%.0fs</text>\n", px(t, xmax), h - 8, t);
	fprintf(f, "</svg>\n");
}

static size_t run_secs(const struct sim_report_run *r)
{
	double t = r->st->elapsed_s > r->sc->duration_s ? r->st->elapsed_s : r->sc->duration_s;

	/* The drain is on the charts too: breakers closing again and pending orders settling. */
	return (size_t)ceil(t + r->sc->drain_s);
}

static uint64_t errors_of(const uint64_t *out)
{
	uint64_t e = 0;

	for (int o = SIM_OUT_4XX; o < SIM_OUT_UNKNOWN; o++)
		e += out[o];
	return e;
}

static void html_run(FILE *f, const struct sim_report_run *r)
{
	const struct sim_load_stats *st = r->st;
	size_t n = run_secs(r);
	double buf[9][4096];
	struct line l[6];

	if (n > 4096)
		n = 4096;
	fprintf(f, "<h2>");
	esc(f, r->label);
	fprintf(f, "</h2>\n<table><tr><th>requests</th>");
	for (int o = 0; o < SIM_OUT_COUNT; o++)
		fprintf(f, "<th>%s</th>", sim_outcome_names[o]);
	fprintf(f, "<th>declined</th><th>out of stock</th><th>202 pending</th></tr>\n<tr><td>%llu</td>", (unsigned long long)st->requests);
	for (int o = 0; o < SIM_OUT_COUNT; o++)
		fprintf(f, "<td>%llu</td>", (unsigned long long)st->out[o]);
	fprintf(f, "<td>%llu</td><td>%llu</td><td>%llu</td></tr></table>\n", (unsigned long long)st->declined,
		(unsigned long long)st->out_of_stock, (unsigned long long)st->pending);
	fprintf(f, "<table><tr><th>journey</th><th>started</th><th>ok</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>max ms</th></tr>\n");
	for (int j = 0; j < SIM_J_COUNT; j++)
		fprintf(f, "<tr><td>%s</td><td>%llu</td><td>%llu</td><td>%.1f</td><td>%.1f</td><td>%.1f</td><td>%.1f</td></tr>\n",
			sim_journey_names[j], (unsigned long long)st->jstarted[j], (unsigned long long)st->jok[j],
			(double)sim_hist_percentile(&st->journey[j], 50) / 1000, (double)sim_hist_percentile(&st->journey[j], 90) / 1000,
			(double)sim_hist_percentile(&st->journey[j], 99) / 1000, (double)st->journey[j].max / 1000);
	fprintf(f, "</table>\n");

	for (size_t s = 0; s < n; s++) {
		const struct sim_sec *sec = s < st->nsecs ? &st->secs[s] : NULL;

		buf[0][s] = sec ? (double)sec->out[SIM_OUT_OK] : 0;
		buf[1][s] = sec ? (double)errors_of(sec->out) : 0;
		buf[2][s] = sec ? (double)sec->out[SIM_OUT_UNKNOWN] : 0;
		for (int j = 0; j < SIM_J_COUNT; j++) {
			const struct sim_hist *h = sim_series_at(&st->series[j], s);

			buf[3 + 2 * j][s] = h ? (double)sim_hist_percentile(h, 50) / 1000 : NAN;
			buf[4 + 2 * j][s] = h ? (double)sim_hist_percentile(h, 99) / 1000 : NAN;
		}
	}
	memset(l, 0, sizeof(l));
	snprintf(l[0].name, sizeof(l[0].name), "ok/s");
	snprintf(l[1].name, sizeof(l[1].name), "errors/s");
	snprintf(l[2].name, sizeof(l[2].name), "unknown/s");
	for (int k = 0; k < 3; k++) {
		l[k].y = buf[k];
		l[k].color = k == 0 ? colors[2] : k == 1 ? colors[1] : colors[4];
	}
	fprintf(f, "<div class=\"chart\">");
	chart(f, "Requests finished per second", "", l, 3, n, r->sc);
	fprintf(f, "</div>\n");
	memset(l, 0, sizeof(l));
	for (int j = 0; j < SIM_J_COUNT; j++) {
		snprintf(l[2 * j].name, sizeof(l[0].name), "%s p50", sim_journey_names[j]);
		snprintf(l[2 * j + 1].name, sizeof(l[0].name), "%s p99", sim_journey_names[j]);
		l[2 * j].y = buf[3 + 2 * j];
		l[2 * j + 1].y = buf[4 + 2 * j];
		l[2 * j].color = l[2 * j + 1].color = colors[j == 0 ? 0 : j == 1 ? 3 : 5];
		l[2 * j].dashed = true;
	}
	fprintf(f, "<div class=\"chart\">");
	chart(f, "Journey latency by scheduled second (from the scheduled start)", " ms", l, 6, n, r->sc);
	fprintf(f, "</div>\n<div class=\"chart\">");
	breaker_chart(f, r->breakers, n, r->sc);
	fprintf(f, "</div>\n<h3>Invariants</h3>\n");
	if (r->ck == NULL) {
		fprintf(f, "<p class=\"fail\">The check did not run: ");
		esc(f, r->check_error ? r->check_error : "unknown error");
		fprintf(f, "</p>\n");
	} else {
		fprintf(f, "<table><tr><th></th><th>invariant</th><th>rule</th><th>checked</th><th>violations</th><th>first violations</th></tr>\n");
		for (int i = 0; i < SIM_INV_COUNT; i++) {
			const struct sim_ck_inv *v = &r->ck->inv[i];

			fprintf(f, "<tr class=\"%s\"><td>%s</td><td>%s</td><td>", v->violations ? "fail" : "pass",
				v->violations ? "FAIL" : "pass", v->name);
			esc(f, v->rule);
			fprintf(f, "</td><td>%llu</td><td>%llu</td><td>", (unsigned long long)v->checked,
				(unsigned long long)v->violations);
			for (size_t k = 0; k < v->nmsgs && k < 5; k++) {
				esc(f, v->msgs[k]);
				fprintf(f, "<br>");
			}
			fprintf(f, "</td></tr>\n");
		}
		fprintf(f, "</table>\n<p>Unknown checkouts settled against the database: %llu, of which %llu became an order and %llu did not.</p>\n",
			(unsigned long long)r->ck->unknown_total, (unsigned long long)r->ck->unknown_became_order,
			(unsigned long long)r->ck->unknown_no_order);
	}
	if (r->fault_log && *r->fault_log) {
		fprintf(f, "<h3>Fault timeline as applied</h3><pre>");
		esc(f, r->fault_log);
		fprintf(f, "</pre>\n");
	}
}

static int write_html(const char *path, const struct sim_report_run *runs, size_t n)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	fprintf(f, "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>shoplab sim report: ");
	esc(f, runs[0].sc->name);
	fprintf(f, "</title>\n<style>body{font-family:sans-serif;margin:24px;color:#222;max-width:1140px}"
		   "table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left}"
		   "tr.fail td{background:#ffebee}tr.pass td:first-child{color:#2e7d32}tr.fail td:first-child{color:#c62828;font-weight:bold}"
		   ".chart{margin:10px 0}p.fail{color:#c62828}pre{background:#f5f5f5;padding:8px;font-size:12px}</style></head><body>\n");
	fprintf(f, "<h1>Scenario ");
	esc(f, runs[0].sc->name);
	fprintf(f, "</h1>\n<p>seed %llu · load %.0f s · drain %.0f s · %zu faults", (unsigned long long)runs[0].sc->seed,
		runs[0].sc->duration_s, runs[0].sc->drain_s, runs[0].sc->nfaults);
	for (size_t i = 0; i < n; i++)
		fprintf(f, " · %s: <b class=\"%s\">%s</b>", runs[i].label, runs[i].ck && runs[i].ck->ok ? "pass" : "fail",
			runs[i].ck == NULL ? "not checked" : runs[i].ck->ok ? "all invariants held" : "an invariant broke");
	fprintf(f, "</p>\n");
	if (n > 1) {
		fprintf(f, "<h2>Comparison</h2><table><tr><th>run</th><th>requests</th><th>ok</th><th>errors</th><th>unknown</th>");
		for (int j = 0; j < SIM_J_COUNT; j++)
			fprintf(f, "<th>%s p99 ms</th>", sim_journey_names[j]);
		fprintf(f, "<th>invariants</th></tr>\n");
		for (size_t i = 0; i < n; i++) {
			const struct sim_load_stats *st = runs[i].st;

			fprintf(f, "<tr><td>%s</td><td>%llu</td><td>%llu</td><td>%llu</td><td>%llu</td>", runs[i].label,
				(unsigned long long)st->requests, (unsigned long long)st->out[SIM_OUT_OK],
				(unsigned long long)errors_of(st->out), (unsigned long long)st->out[SIM_OUT_UNKNOWN]);
			for (int j = 0; j < SIM_J_COUNT; j++)
				fprintf(f, "<td>%.1f</td>", (double)sim_hist_percentile(&st->journey[j], 99) / 1000);
			fprintf(f, "<td>%s</td></tr>\n", runs[i].ck == NULL ? "not checked" : runs[i].ck->ok ? "pass" : "FAIL");
		}
		fprintf(f, "</table>\n");
	}
	for (size_t i = 0; i < n; i++)
		html_run(f, &runs[i]);
	fprintf(f, "</body></html>\n");
	return fclose(f) == 0 ? 0 : -1;
}

static json_object *jnum(double v)
{
	return json_object_new_double(round(v * 1000) / 1000);
}

static json_object *json_run(const struct sim_report_run *r)
{
	const struct sim_load_stats *st = r->st;
	json_object *o = json_object_new_object(), *a, *x;
	size_t n = run_secs(r);

	json_object_object_add(o, "label", json_object_new_string(r->label));
	json_object_object_add(o, "elapsed_s", jnum(st->elapsed_s));
	json_object_object_add(o, "requests", json_object_new_int64((int64_t)st->requests));
	x = json_object_new_object();
	for (int k = 0; k < SIM_OUT_COUNT; k++)
		json_object_object_add(x, sim_outcome_names[k], json_object_new_int64((int64_t)st->out[k]));
	json_object_object_add(o, "outcomes", x);
	json_object_object_add(o, "declined", json_object_new_int64((int64_t)st->declined));
	json_object_object_add(o, "out_of_stock", json_object_new_int64((int64_t)st->out_of_stock));
	json_object_object_add(o, "pending_202", json_object_new_int64((int64_t)st->pending));
	x = json_object_new_object();
	for (int j = 0; j < SIM_J_COUNT; j++) {
		json_object *jj = json_object_new_object();
		json_object *ser = json_object_new_array();

		json_object_object_add(jj, "started", json_object_new_int64((int64_t)st->jstarted[j]));
		json_object_object_add(jj, "ok", json_object_new_int64((int64_t)st->jok[j]));
		json_object_object_add(jj, "p50_ms", jnum((double)sim_hist_percentile(&st->journey[j], 50) / 1000));
		json_object_object_add(jj, "p90_ms", jnum((double)sim_hist_percentile(&st->journey[j], 90) / 1000));
		json_object_object_add(jj, "p99_ms", jnum((double)sim_hist_percentile(&st->journey[j], 99) / 1000));
		json_object_object_add(jj, "max_ms", jnum((double)st->journey[j].max / 1000));
		for (size_t s = 0; s < n; s++) {
			const struct sim_hist *h = sim_series_at(&st->series[j], s);
			json_object *p = json_object_new_array();

			json_object_array_add(p, json_object_new_int64((int64_t)s));
			json_object_array_add(p, h ? jnum((double)sim_hist_percentile(h, 50) / 1000) : NULL);
			json_object_array_add(p, h ? jnum((double)sim_hist_percentile(h, 99) / 1000) : NULL);
			json_object_array_add(ser, p);
		}
		json_object_object_add(jj, "per_second_t_p50_p99_ms", ser);
		json_object_object_add(x, sim_journey_names[j], jj);
	}
	json_object_object_add(o, "journeys", x);
	a = json_object_new_array();
	for (size_t s = 0; s < n && s < st->nsecs; s++) {
		json_object *p = json_object_new_object();

		json_object_object_add(p, "t", json_object_new_int64((int64_t)s));
		json_object_object_add(p, "started", json_object_new_int64((int64_t)st->secs[s].started));
		for (int k = 0; k < SIM_OUT_COUNT; k++)
			json_object_object_add(p, sim_outcome_names[k], json_object_new_int64((int64_t)st->secs[s].out[k]));
		json_object_object_add(p, "in_flight", json_object_new_int64(st->secs[s].inflight));
		json_object_array_add(a, p);
	}
	json_object_object_add(o, "per_second", a);
	x = json_object_new_object();
	for (size_t i = 0; r->breakers && i < r->breakers->nb; i++) {
		json_object *b = json_object_new_array();

		for (size_t s = 0; s < n; s++) {
			int v = s < r->breakers->b[i].nsecs ? r->breakers->b[i].state[s] : -1;

			json_object_array_add(b, v < 0 ? NULL : json_object_new_int(v));
		}
		json_object_object_add(x, r->breakers->b[i].name, b);
	}
	json_object_object_add(o, "breakers_per_second", x);
	if (r->ck) {
		a = json_object_new_array();
		for (int i = 0; i < SIM_INV_COUNT; i++) {
			const struct sim_ck_inv *v = &r->ck->inv[i];
			json_object *p = json_object_new_object(), *m = json_object_new_array();

			json_object_object_add(p, "name", json_object_new_string(v->name));
			json_object_object_add(p, "rule", json_object_new_string(v->rule));
			json_object_object_add(p, "ok", json_object_new_boolean(v->violations == 0));
			json_object_object_add(p, "checked", json_object_new_int64((int64_t)v->checked));
			json_object_object_add(p, "violations", json_object_new_int64((int64_t)v->violations));
			for (size_t k = 0; k < v->nmsgs; k++)
				json_object_array_add(m, json_object_new_string(v->msgs[k]));
			json_object_object_add(p, "messages", m);
			json_object_array_add(a, p);
		}
		json_object_object_add(o, "invariants", a);
		json_object_object_add(o, "invariants_ok", json_object_new_boolean(r->ck->ok));
		json_object_object_add(o, "unknown_checkouts", json_object_new_int64((int64_t)r->ck->unknown_total));
		json_object_object_add(o, "unknown_became_order", json_object_new_int64((int64_t)r->ck->unknown_became_order));
	} else {
		json_object_object_add(o, "check_error", json_object_new_string(r->check_error ? r->check_error : "not run"));
	}
	json_object_object_add(o, "fault_log", json_object_new_string(r->fault_log ? r->fault_log : ""));
	return o;
}

static int write_json(const char *path, const struct sim_report_run *runs, size_t n)
{
	json_object *root = json_object_new_object(), *a = json_object_new_array(), *fa = json_object_new_array();
	const struct sim_scenario *sc = runs[0].sc;
	int rc;

	json_object_object_add(root, "scenario", json_object_new_string(sc->name));
	json_object_object_add(root, "seed", json_object_new_int64((int64_t)sc->seed));
	json_object_object_add(root, "duration_s", jnum(sc->duration_s));
	json_object_object_add(root, "drain_s", jnum(sc->drain_s));
	for (size_t i = 0; i < sc->nfaults; i++) {
		json_object *p = json_object_new_object();
		double from, to;

		sim_fault_window(sc, i, &from, &to);
		json_object_object_add(p, "kind", json_object_new_string(sim_fault_kind_names[sc->faults[i].kind]));
		json_object_object_add(p, "target", json_object_new_string(sc->faults[i].target));
		if (sc->faults[i].kind == SIM_FAULT_TOXIC)
			json_object_object_add(p, "type", json_object_new_string(sc->faults[i].type));
		json_object_object_add(p, "from_s", jnum(from));
		json_object_object_add(p, "to_s", jnum(to));
		json_object_array_add(fa, p);
	}
	json_object_object_add(root, "faults", fa);
	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, json_run(&runs[i]));
	json_object_object_add(root, "runs", a);
	rc = json_object_to_file_ext(path, root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	json_object_put(root);
	return rc == 0 ? 0 : -1;
}

int sim_report_write(const char *dir, const struct sim_report_run *runs, size_t n, char *err, size_t errsz)
{
	char path[1200];

	snprintf(path, sizeof(path), "%s/report.json", dir);
	if (write_json(path, runs, n) != 0) {
		snprintf(err, errsz, "%s: cannot write: %s", path, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/report.html", dir);
	if (write_html(path, runs, n) != 0) {
		snprintf(err, errsz, "%s: cannot write: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}
