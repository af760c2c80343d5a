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
#define MAXSECS 4096

static const char *const colors[] = { "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b" };
static const char *const run_colors[2] = { "#1f77b4", "#e8590c" };

struct line {
	char name[64];
	const char *color;
	const double *y;        /* per second; NAN: no value */
	bool dashed;
};

/* A fault window to shade: as applied, or as planned when it never applied. */
struct shade {
	double from, to;
	char label[96];
	bool applied, toxic;
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

static bool is_valid(const struct sim_report_run *r)
{
	return r->status == NULL || strcmp(r->status, "valid") == 0;
}

bool sim_report_held(const struct sim_report_run *r)
{
	return is_valid(r) && r->ck && r->ck->ok && r->hy && r->hy->ok;
}

void sim_report_verdict(const struct sim_report_run *r, char *buf, size_t bufsz)
{
	const char *inv;

	if (!is_valid(r)) {
		snprintf(buf, bufsz, "%s: %s", strcmp(r->status, "interrupted") == 0 ? "INTERRUPTED" :
			 strcmp(r->status, "invalid") == 0 ? "INVALID" : "SET-UP FAILED", r->why ? r->why : "");
		return;
	}
	inv = r->ck == NULL ? "invariants NOT CHECKED" : r->ck->ok ? "invariants held" : "an invariant broke";
	snprintf(buf, bufsz, "VALID \xc2\xb7 %s \xc2\xb7 %s", inv, r->hy ? r->hy->summary : "steady state NOT JUDGED");
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

static size_t shades_of(const struct sim_report_run *r, struct shade *sh)
{
	const struct sim_scenario *sc = r->sc;
	size_t n = 0;

	for (size_t i = 0; i < sc->nfaults; i++) {
		const struct sim_fault *ft = &sc->faults[i];
		struct shade *x = &sh[n++];

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

static void shade_faults(FILE *f, const struct shade *sh, size_t n, double xmax, int h)
{
	for (size_t i = 0; i < n; i++) {
		double a = sh[i].from, b = sh[i].to;

		if (b - a < 0.5)
			b = a + 0.5;
		if (sh[i].applied)
			fprintf(f, "<rect class=\"fault\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\" opacity=\"0.18\"><title>",
				px(a, xmax), MT, px(b, xmax) - px(a, xmax), h - MT - MB, sh[i].toxic ? "#ff9800" : "#e53935");
		else
			fprintf(f, "<rect class=\"fault-missing\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"none\" "
				   "stroke=\"#555\" stroke-dasharray=\"5 4\"><title>", px(a, xmax), MT, px(b, xmax) - px(a, xmax), h - MT - MB);
		esc(f, sh[i].label);
		fprintf(f, " %.1f-%.1f s%s</title></rect>\n", a, b, sh[i].applied ? " (as applied)" : " (planned)");
		fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" fill=\"%s\">", px(a, xmax) + 2, MT + 10 + (int)(i % 3) * 11,
			sh[i].applied ? "#b71c1c" : "#555");
		esc(f, sh[i].label);
		fprintf(f, "</text>\n");
	}
}

static void svg_open(FILE *f, const char *title, int h)
{
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n",
		W, h, W, h);
	fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n<text x=\"%d\" y=\"16\" font-size=\"13\" font-weight=\"bold\">", W, h, ML);
	esc(f, title);
	fprintf(f, "</text>\n");
}

static void x_axis(FILE *f, double xmax, int h, double load_end)
{
	double step = xmax > 200 ? 50 : xmax > 100 ? 20 : 10;

	for (double t = 0; t <= xmax + 1e-9; t += step)
		fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" text-anchor=\"middle\">%.0fs</text>\n", px(t, xmax), h - 10, t);
	fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"#333\"/>\n", ML, W - MR, h - MB, h - MB);
	if (load_end > 0 && load_end < xmax)
		fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#555\" stroke-dasharray=\"1 3\"/>"
			   "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" fill=\"#555\">drain</text>\n",
			px(load_end, xmax), px(load_end, xmax), MT, h - MB, px(load_end, xmax) + 3, h - MB - 4);
}

static double ymap(double y, double ymin, double ymax, bool logy, int h)
{
	double frac = logy ? (log10(y) - log10(ymin)) / (log10(ymax) - log10(ymin)) : y / ymax;

	if (frac < 0)
		frac = 0;
	if (frac > 1)
		frac = 1;
	return MT + (h - MT - MB) * (1 - frac);
}

/* A line chart of values per second (index = second) over [0, nsecs), fault windows shaded.
 * logy: a log scale (values <= 0 are left out). */
static void chart(FILE *f, const char *title, const char *unit, const struct line *lines, size_t nl, size_t nsecs,
		  const struct shade *sh, size_t nsh, double load_end, bool logy)
{
	double xmax = nsecs > 0 ? (double)nsecs : 1, ymax = 0, ymin = INFINITY;
	int legend_x0 = ML + 30 + 8 * (int)strlen(title), legend_x = legend_x0, legend_y = 14;
	size_t points = 0;

	for (size_t l = 0; l < nl; l++)
		for (size_t s = 0; s < nsecs; s++) {
			double y = lines[l].y[s];

			if (isnan(y) || (logy && y <= 0))
				continue;
			points++;
			if (y > ymax)
				ymax = y;
			if (y < ymin)
				ymin = y;
		}
	if (logy) {
		ymin = points ? pow(10, floor(log10(ymin))) : 1;
		ymax = points ? pow(10, ceil(log10(ymax))) : 10;
		if (ymax <= ymin)
			ymax = ymin * 10;
	} else {
		ymax = nice_max(ymax);
	}
	svg_open(f, title, H);
	fprintf(f, "<g class=\"chart-data\" data-points=\"%zu\">\n", points);
	if (logy) {
		for (double d = ymin; d <= ymax * 1.0001; d *= 10) {
			double y = ymap(d, ymin, ymax, true, H);

			fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
				   "<text x=\"%d\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">%g%s</text>\n",
				ML, W - MR, y, y, ML - 4, y + 3, d, unit);
		}
	} else {
		for (int k = 0; k <= 4; k++) {
			double y = MT + (H - MT - MB) * (1 - k / 4.0);

			fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
				   "<text x=\"%d\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">%g%s</text>\n",
				ML, W - MR, y, y, ML - 4, y + 3, ymax * k / 4, k == 4 ? unit : "");
		}
	}
	x_axis(f, xmax, H, load_end);
	shade_faults(f, sh, nsh, xmax, H);
	for (size_t l = 0; l < nl; l++) {
		bool pen = false;

		fprintf(f, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\"%s d=\"", lines[l].color,
			lines[l].dashed ? " stroke-dasharray=\"5 3\"" : "");
		for (size_t s = 0; s < nsecs; s++) {
			double y = lines[l].y[s];

			if (isnan(y) || (logy && y <= 0)) {
				pen = false;
				continue;
			}
			fprintf(f, "%c%.1f %.1f ", pen ? 'L' : 'M', px((double)s + 0.5, xmax), ymap(y, ymin, ymax, logy, H));
			pen = true;
		}
		/* A legend entry that would run off the chart starts a second row. */
		if (legend_x + 30 + 7 * (int)strlen(lines[l].name) > W - MR && legend_x > legend_x0) {
			legend_x = legend_x0;
			legend_y += 13;
		}
		fprintf(f, "\"/>\n<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"%s/>"
			   "<text x=\"%d\" y=\"%d\" font-size=\"11\">", legend_x, legend_x + 20, legend_y - 4, legend_y - 4,
			lines[l].color, lines[l].dashed ? " stroke-dasharray=\"5 3\"" : "", legend_x + 24, legend_y);
		esc(f, lines[l].name);
		fprintf(f, "</text>\n");
		legend_x += 30 + 7 * (int)strlen(lines[l].name);
	}
	fprintf(f, "</g></svg>\n");
}

static void breaker_chart(FILE *f, const struct sim_scrape *b, size_t nsecs, const struct shade *sh, size_t nsh,
			  double load_end)
{
	int h = MT + MB + 18 * (int)(b && b->nb ? b->nb : 1);
	double xmax = nsecs > 0 ? (double)nsecs : 1;

	svg_open(f, "Circuit breakers (green closed, red open, amber half-open, grey no scrape)", h);
	if (b == NULL || b->nb == 0) {
		fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\">no breaker metrics were scraped</text></svg>\n", ML, MT + 12);
		return;
	}
	fprintf(f, "<g class=\"chart-data\" data-points=\"%zu\">\n", b->nb * nsecs);
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
	for (size_t i = 0; i < nsh; i++)
		if (sh[i].applied)
			fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#000\" stroke-dasharray=\"2 2\"/>",
				px(sh[i].from, xmax), px(sh[i].from, xmax), MT - 4, h - MB + 4);
	x_axis(f, xmax, h, load_end);
	fprintf(f, "</g></svg>\n");
}

/* The latency distribution of each journey: share of journeys (y) done within x ms (log). */
static void cdf_chart(FILE *f, const struct sim_load_stats *const *sts, const char *const *labels, size_t nruns)
{
	double xmin = INFINITY, xmax = 0;
	size_t points = 0;
	int h = 300, legend_y = 300 - MB - 60, legend_x = W - 260;

	for (size_t r = 0; r < nruns; r++)
		for (int j = 0; j < SIM_J_COUNT; j++) {
			const struct sim_hist *hh = &sts[r]->journey[j];

			if (hh->total == 0)
				continue;
			if ((double)hh->max / 1000 > xmax)
				xmax = (double)hh->max / 1000;
			if ((double)(hh->min > 0 ? hh->min : 1) / 1000 < xmin)
				xmin = (double)(hh->min > 0 ? hh->min : 1) / 1000;
		}
	if (xmax <= 0) {
		xmin = 1;
		xmax = 10;
	}
	xmin = pow(10, floor(log10(xmin)));
	xmax = pow(10, ceil(log10(xmax)));
	if (xmax <= xmin)
		xmax = xmin * 10;
	for (size_t r = 0; r < nruns; r++)
		for (int j = 0; j < SIM_J_COUNT; j++)
			for (size_t i = 0; i < sts[r]->journey[j].nbuckets; i++)
				points += sts[r]->journey[j].counts[i] > 0;
	svg_open(f, "Latency distribution per journey (share done within x ms; dots: p50 p90 p99 p99.9 max)", h);
	fprintf(f, "<g class=\"chart-data\" data-points=\"%zu\">\n", points);
	for (int k = 0; k <= 4; k++) {
		double y = MT + (h - MT - MB) * (1 - k / 4.0);

		fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
			   "<text x=\"%d\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">%d%%</text>\n",
			ML, W - MR, y, y, ML - 4, y + 3, k * 25);
	}
	for (double d = xmin; d <= xmax * 1.0001; d *= 10) {
		double x = ML + (log10(d) - log10(xmin)) / (log10(xmax) - log10(xmin)) * (W - ML - MR);

		fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#eee\"/>"
			   "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" text-anchor=\"middle\">%g ms</text>\n", x, x, MT, h - MB, x, h - 10, d);
	}
	for (size_t r = 0; r < nruns; r++)
		for (int j = 0; j < SIM_J_COUNT; j++) {
			const struct sim_hist *hh = &sts[r]->journey[j];
			const char *col = nruns > 1 ? run_colors[r] : colors[j == 0 ? 0 : j == 1 ? 3 : 5];
			static const double ps[] = { 50, 90, 99, 99.9, 100 };
			uint64_t cum = 0;
			bool pen = false;
			char name[96];

			if (hh->total == 0)
				continue;
			fprintf(f, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\"%s d=\"", col,
				nruns > 1 && j == SIM_J_CHECKOUT ? "" : nruns > 1 ? " stroke-dasharray=\"5 3\"" : "");
			for (size_t i = 0; i < hh->nbuckets; i++) {
				double v, x, y;

				if (hh->counts[i] == 0)
					continue;
				cum += hh->counts[i];
				v = (double)sim_hist_highest(hh->sub_bits, i) / 1000;
				if (v < xmin)
					v = xmin;
				x = ML + (log10(v) - log10(xmin)) / (log10(xmax) - log10(xmin)) * (W - ML - MR);
				y = MT + (h - MT - MB) * (1 - (double)cum / (double)hh->total);
				fprintf(f, "%c%.1f %.1f ", pen ? 'L' : 'M', x, y);
				pen = true;
			}
			fprintf(f, "\"/>\n");
			for (size_t k = 0; k < sizeof(ps) / sizeof(ps[0]); k++) {
				double v = (double)(ps[k] >= 100 ? hh->max : sim_hist_percentile(hh, ps[k])) / 1000;
				double x = ML + (log10(v > xmin ? v : xmin) - log10(xmin)) / (log10(xmax) - log10(xmin)) * (W - ML - MR);
				double y = MT + (h - MT - MB) * (1 - ps[k] / 100);

				fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>%s p%g %.1f ms</title></circle>", x, y,
					col, sim_journey_names[j], ps[k], v);
			}
			snprintf(name, sizeof(name), "%s%s%s", sim_journey_names[j], nruns > 1 ? " · " : "", nruns > 1 ? labels[r] : "");
			fprintf(f, "\n<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"/><text x=\"%d\" y=\"%d\" font-size=\"11\">",
				legend_x, legend_x + 20, legend_y - 4, legend_y - 4, col, legend_x + 24, legend_y);
			esc(f, name);
			fprintf(f, "</text>\n");
			legend_y += 14;
		}
	fprintf(f, "</g></svg>\n");
}

static size_t run_secs(const struct sim_report_run *r)
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
	return n > MAXSECS ? MAXSECS : n;
}

static uint64_t errors_of(const uint64_t *out)
{
	uint64_t e = 0;

	for (int o = SIM_OUT_4XX; o < SIM_OUT_UNKNOWN; o++)
		e += out[o];
	return e;
}

static double pct_ms(const struct sim_hist *h, double p)
{
	return (double)sim_hist_percentile(h, p) / 1000;
}

/* Per-second series of one run, for the charts. */
struct series {
	double ok[MAXSECS], err[MAXSECS], unknown[MAXSECS], accepted[MAXSECS], pending[MAXSECS];
	double p50[SIM_J_COUNT][MAXSECS], p99[SIM_J_COUNT][MAXSECS];
};

static void fill_series(const struct sim_report_run *r, size_t n, struct series *x)
{
	const struct sim_load_stats *st = r->st;

	for (size_t s = 0; s < n; s++) {
		const struct sim_sec *sec = s < st->nsecs ? &st->secs[s] : NULL;

		x->ok[s] = sec ? (double)sec->out[SIM_OUT_OK] : 0;
		x->err[s] = sec ? (double)errors_of(sec->out) : 0;
		x->unknown[s] = sec ? (double)sec->out[SIM_OUT_UNKNOWN] : 0;
		x->accepted[s] = sec ? (double)sec->accepted : 0;
		x->pending[s] = r->breakers && s < r->breakers->npending && r->breakers->pending[s] >= 0 ?
				(double)r->breakers->pending[s] : NAN;
		for (int j = 0; j < SIM_J_COUNT; j++) {
			const struct sim_hist *h = sim_series_at(&st->series[j], s);

			x->p50[j][s] = h ? pct_ms(h, 50) : NAN;
			x->p99[j][s] = h ? pct_ms(h, 99) : NAN;
		}
	}
}

/* Copies an event series into v[0, n) (NaN where it has nothing). */
static void ev_fill(const struct sim_evseries *x, size_t n, double *v)
{
	for (size_t s = 0; s < n; s++)
		v[s] = x && s < x->n ? x->v[s] : NAN;
}

/* Outbox depth per service, and confirm -> shipped lag: the oldest confirmed order not shipped
 * yet (from the database) with each consumer's mean event lag (its metrics). Nothing when the
 * stack has no events. */
static void events_charts(FILE *f, const struct sim_report_run *r, size_t n, const struct shade *sh, size_t nsh,
			  double load_end)
{
	static double v[2 * SIM_SERIES_MAX + 2][MAXSECS];
	const struct sim_events_scrape *e = r->breakers ? &r->breakers->ev : NULL;
	struct line l[2 * SIM_SERIES_MAX + 2];
	size_t nl = 0;

	if (e == NULL || (e->noutbox == 0 && e->nlag == 0))
		return;
	memset(l, 0, sizeof(l));
	for (size_t i = 0; i < e->noutbox; i++, nl++) {
		ev_fill(&e->outbox[i], n, v[nl]);
		snprintf(l[nl].name, sizeof(l[nl].name), "%s", e->outbox[i].name);
		l[nl].y = v[nl];
		l[nl].color = colors[nl % 6];
	}
	fprintf(f, "<div class=\"chart\">");
	chart(f, "Events: outbox depth per service (rows not yet confirmed by the broker)", "", l, nl, n, sh, nsh,
	      load_end, false);
	fprintf(f, "</div>\n");
	memset(l, 0, sizeof(l));
	nl = 0;
	if (e->shipping) {
		ev_fill(&e->unshipped_age, n, v[nl]);
		snprintf(l[nl].name, sizeof(l[nl].name), "oldest confirmed order not shipped (age)");
		l[nl].y = v[nl];
		l[nl].color = colors[1];
		nl++;
	}
	for (size_t i = 0; i < e->nlag; i++, nl++) {
		ev_fill(&e->lag[i], n, v[nl]);
		snprintf(l[nl].name, sizeof(l[nl].name), "%s: mean event lag", e->lag[i].name);
		l[nl].y = v[nl];
		l[nl].color = colors[(nl + 2) % 6];
		l[nl].dashed = true;
	}
	fprintf(f, "<div class=\"chart\">");
	chart(f, "Events: confirm \xe2\x86\x92 shipped lag (s)", " s", l, nl, n, sh, nsh, load_end, false);
	fprintf(f, "</div>\n<p>Lag: the age of the oldest order of the run that is confirmed and not shipped yet, "
		   "from the database once a second (0 when every confirmed order is shipped); dashed, each consumer's "
		   "mean lag from an event's commit to its effect's commit over that second "
		   "(<code>shoplab_events_lag_seconds</code>). Shipping adds its handling delay "
		   "(<code>SHOPLAB_SHIPPING_DELAY_MS</code>) before it dispatches.</p>\n");
}

static void verdict(FILE *f, const struct sim_report_run *r, bool live)
{
	const char *cls, *text;
	char line[512];

	if (live) {
		cls = "live";
		text = "RUNNING";
	} else if (!is_valid(r)) {
		cls = "invalid";
		text = strcmp(r->status, "interrupted") == 0 ? "INTERRUPTED: not a verdict" :
		       strcmp(r->status, "invalid") == 0 ? "INVALID: the experiment did not happen as planned" : "SET-UP FAILED";
	} else {
		cls = r->ck == NULL ? "invalid" : sim_report_held(r) ? "held" : "broke";
		sim_report_verdict(r, line, sizeof(line));
		text = line;
	}
	fprintf(f, "<div class=\"verdict %s\" id=\"verdict\"><b>", cls);
	esc(f, r->label);
	fprintf(f, ": ");
	esc(f, text);
	fprintf(f, "</b>");
	if (!live && !is_valid(r) && r->why) {
		fprintf(f, "<br>");
		esc(f, r->why);
	}
	fprintf(f, "</div>\n");
}

static void error_table(FILE *f, const struct sim_load_stats *st)
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
		esc(f, e->endpoint);
		if (e->status > 0)
			fprintf(f, "</td><td>%d</td><td>", e->status);
		else
			fprintf(f, "</td><td>no answer</td><td>");
		esc(f, e->code);
		fprintf(f, "</td><td>%llu</td></tr>\n", (unsigned long long)e->n);
	}
	if (st->errs_other)
		fprintf(f, "<tr><td colspan=\"3\">other</td><td>%llu</td></tr>\n", (unsigned long long)st->errs_other);
	fprintf(f, "</table>\n");
}

/* The steady-state hypothesis: each clause, then what happened around each fault, then the drain. */
static void html_hypothesis(FILE *f, const struct sim_report_run *r, bool live)
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
		esc(f, h->c[k].id);
		fprintf(f, "</td><td>");
		esc(f, h->c[k].text);
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
		esc(f, ft->target);
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

static void html_run(FILE *f, const struct sim_report_run *r, size_t nruns, const struct sim_report_meta *meta)
{
	static struct series x;
	const struct sim_load_stats *st = r->st;
	size_t n = run_secs(r), nsh;
	struct shade sh[SIM_MAX_FAULTS];
	struct line l[6];
	double load_end = st->elapsed_s > 0 ? st->elapsed_s : r->sc->duration_s;

	nsh = shades_of(r, sh);
	fill_series(r, n, &x);
	fprintf(f, "<h2>");
	esc(f, r->label);
	fprintf(f, "</h2>\n");
	if (nruns > 1)
		verdict(f, r, meta->phase != NULL);
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
			pct_ms(&st->journey[j], 50), pct_ms(&st->journey[j], 90), pct_ms(&st->journey[j], 99),
			pct_ms(&st->journey[j], 99.9), (double)st->journey[j].max / 1000);
	fprintf(f, "</table>\n");

	memset(l, 0, sizeof(l));
	snprintf(l[0].name, sizeof(l[0].name), "ok/s");
	snprintf(l[1].name, sizeof(l[1].name), "errors/s");
	snprintf(l[2].name, sizeof(l[2].name), "unknown/s");
	l[0].y = x.ok;
	l[1].y = x.err;
	l[2].y = x.unknown;
	l[0].color = colors[2];
	l[1].color = colors[1];
	l[2].color = colors[4];
	fprintf(f, "<div class=\"chart\">");
	chart(f, "Requests finished per second", "", l, 3, n, sh, nsh, load_end, false);
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
		l[0].color = l[1].color = colors[j == 0 ? 0 : j == 1 ? 3 : 5];
		l[1].dashed = true;
		snprintf(title, sizeof(title), "%s latency by scheduled second (log scale)", sim_journey_names[j]);
		fprintf(f, "<div class=\"chart\">");
		chart(f, title, " ms", l, 2, n, sh, nsh, load_end, true);
		fprintf(f, "</div>\n");
	}
	memset(l, 0, sizeof(l));
	snprintf(l[0].name, sizeof(l[0].name), "202 answers/s (order pending)");
	snprintf(l[1].name, sizeof(l[1].name), "orders pending in the database");
	l[0].y = x.accepted;
	l[1].y = x.pending;
	l[0].color = colors[3];
	l[1].color = colors[4];
	fprintf(f, "<div class=\"chart\">");
	chart(f, "Pending: 202 answers and pending orders, through the drain", "", l, 2, n, sh, nsh, load_end, false);
	fprintf(f, "</div>\n");
	events_charts(f, r, n, sh, nsh, load_end);
	fprintf(f, "<div class=\"chart\">");
	breaker_chart(f, r->breakers, n, sh, nsh, load_end);
	fprintf(f, "</div>\n<div class=\"chart\">");
	cdf_chart(f, &r->st, &r->label, 1);
	fprintf(f, "</div>\n<h3>Failed requests by endpoint, status and error code</h3>\n");
	error_table(f, st);
	html_hypothesis(f, r, meta->phase != NULL);
	fprintf(f, "<h3>Invariants (safety)</h3>\n");
	if (meta->phase != NULL) {
		fprintf(f, "<p>Checked after the drain.</p>\n");
	} else if (r->ck == NULL) {
		fprintf(f, "<p class=\"fail\">The check did not run: ");
		esc(f, r->check_error && *r->check_error ? r->check_error : "the run stopped before it");
		fprintf(f, "</p>\n");
	} else {
		if (!is_valid(r))
			fprintf(f, "<p class=\"fail\">This run is not valid: the table below says what the databases held, "
				   "not whether the shop survived the planned faults.</p>\n");
		fprintf(f, "<table><tr><th></th><th>invariant</th><th>rule</th><th>checked</th><th>violations</th><th>first violations</th></tr>\n");
		for (int i = 0; i < SIM_INV_COUNT; i++) {
			const struct sim_ck_inv *v = &r->ck->inv[i];

			if (v->na[0] && !v->violations) {
				fprintf(f, "<tr class=\"na\"><td>n/a</td><td>%s</td><td>not applicable: ", v->name);
				esc(f, v->na);
				fprintf(f, "</td><td></td><td></td><td></td></tr>\n");
				continue;
			}
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
		fprintf(f, "</table>\n");
		if (r->events_drain)
			fprintf(f, "<p>Events drain (outboxes empty, confirmed orders shipped): %s at the end of it (%.1f s).</p>\n",
				strcmp(r->events_drain, "drained") == 0 ? "drained" : "NOT drained", r->events_drain_s);
		if (r->ev && r->ev->ndead > 0) {
			fprintf(f, "<h3>Dead letters and ids applied and given up both</h3>\n<table><tr><th>service</th>"
				   "<th>message id</th><th>type</th><th>attempts</th><th>at</th><th>reason</th></tr>\n");
			for (size_t k = 0; k < r->ev->ndead; k++) {
				const struct sim_ck_dead *dl = &r->ev->dead[k];

				fprintf(f, "<tr class=\"fail\"><td>");
				esc(f, dl->service);
				fprintf(f, "</td><td>");
				esc(f, dl->msg_id);
				fprintf(f, "</td><td>");
				esc(f, dl->type);
				fprintf(f, "</td><td>%d</td><td>", dl->attempts);
				esc(f, dl->at);
				fprintf(f, "</td><td>");
				esc(f, dl->applied ? "applied (inbox) and dead-lettered" : dl->reason);
				fprintf(f, "</td></tr>\n");
			}
			fprintf(f, "</table>\n");
		}
		fprintf(f, "<p>Unknown checkouts settled against the database: %llu, of which %llu became an order and %llu did not.</p>\n",
			(unsigned long long)r->ck->unknown_total, (unsigned long long)r->ck->unknown_became_order,
			(unsigned long long)r->ck->unknown_no_order);
	}
	if (r->fault_log && *r->fault_log) {
		fprintf(f, "<h3>Fault timeline as applied</h3><pre>");
		esc(f, r->fault_log);
		fprintf(f, "</pre>\n");
	}
}

static double max_of(const double *v, size_t n)
{
	double m = 0;

	for (size_t i = 0; i < n; i++)
		if (!isnan(v[i]) && v[i] > m)
			m = v[i];
	return m;
}

/* Both runs on the same axes, and a table of what differs. */
static void html_compare(FILE *f, const struct sim_report_run *runs)
{
	static struct series x[2];
	size_t n = run_secs(&runs[0]) > run_secs(&runs[1]) ? run_secs(&runs[0]) : run_secs(&runs[1]), nsh;
	struct shade sh[SIM_MAX_FAULTS];
	const struct sim_load_stats *sts[2] = { runs[0].st, runs[1].st };
	const char *labels[2] = { runs[0].label, runs[1].label };
	struct line l[6];

	nsh = shades_of(&runs[0], sh);
	fill_series(&runs[0], n, &x[0]);
	fill_series(&runs[1], n, &x[1]);
	fprintf(f, "<h2>Comparison</h2>\n<table class=\"compare\"><tr><th></th>");
	for (int i = 0; i < 2; i++) {
		fprintf(f, "<th>");
		esc(f, runs[i].label);
		fprintf(f, "</th>");
	}
	fprintf(f, "</tr>\n");
	fprintf(f, "<tr><td>status</td>");
	for (int i = 0; i < 2; i++)
		fprintf(f, "<td>%s%s</td>", !is_valid(&runs[i]) ? runs[i].status : runs[i].ck == NULL ? "not checked" :
			runs[i].ck->ok ? "invariants held" : "an invariant broke",
			!is_valid(&runs[i]) ? "" : runs[i].hy == NULL ? ", steady state not judged" : runs[i].hy->ok ?
			", steady state held" : ", steady state FAILED");
	fprintf(f, "</tr>\n<tr><td>throughput (ok requests/s)</td>");
	for (int i = 0; i < 2; i++)
		fprintf(f, "<td>%.1f</td>", sts[i]->elapsed_s > 0 ? (double)sts[i]->out[SIM_OUT_OK] / sts[i]->elapsed_s : 0.0);
	fprintf(f, "</tr>\n<tr><td>errors (4xx 429 5xx connect other)</td>");
	for (int i = 0; i < 2; i++)
		fprintf(f, "<td>%llu</td>", (unsigned long long)errors_of(sts[i]->out));
	fprintf(f, "</tr>\n<tr><td>unknown</td>");
	for (int i = 0; i < 2; i++)
		fprintf(f, "<td>%llu</td>", (unsigned long long)sts[i]->out[SIM_OUT_UNKNOWN]);
	for (int j = 0; j < SIM_J_COUNT; j++) {
		fprintf(f, "</tr>\n<tr><td>%s p99 ms</td>", sim_journey_names[j]);
		for (int i = 0; i < 2; i++)
			fprintf(f, "<td>%.1f</td>", pct_ms(&sts[i]->journey[j], 99));
	}
	fprintf(f, "</tr>\n<tr><td>202 pending answers</td>");
	for (int i = 0; i < 2; i++)
		fprintf(f, "<td>%llu</td>", (unsigned long long)sts[i]->pending);
	fprintf(f, "</tr>\n<tr><td>most orders pending at once</td>");
	for (int i = 0; i < 2; i++)
		fprintf(f, "<td>%.0f</td>", max_of(x[i].pending, n));
	fprintf(f, "</tr>\n<tr><td>retries</td>");
	for (int i = 0; i < 2; i++)
		if (runs[i].resilience_off)
			fprintf(f, "<td class=\"off\">disabled</td>");
		else
			fprintf(f, "<td>%llu</td>", runs[i].breakers ? (unsigned long long)runs[i].breakers->retries : 0ULL);
	fprintf(f, "</tr>\n<tr><td>breaker opens</td>");
	for (int i = 0; i < 2; i++)
		if (runs[i].resilience_off)
			fprintf(f, "<td class=\"off\">disabled</td>");
		else
			fprintf(f, "<td>%llu</td>", runs[i].breakers ? (unsigned long long)runs[i].breakers->breaker_opens : 0ULL);
	fprintf(f, "</tr></table>\n");

	memset(l, 0, sizeof(l));
	for (int i = 0; i < 2; i++) {
		snprintf(l[2 * i].name, sizeof(l[0].name), "ok/s · %.40s", runs[i].label);
		snprintf(l[2 * i + 1].name, sizeof(l[0].name), "errors/s · %.40s", runs[i].label);
		l[2 * i].y = x[i].ok;
		l[2 * i + 1].y = x[i].err;
		l[2 * i].color = l[2 * i + 1].color = run_colors[i];
		l[2 * i + 1].dashed = true;
	}
	fprintf(f, "<div class=\"chart\">");
	chart(f, "Both runs: requests per second", "", l, 4, n, sh, nsh, runs[0].sc->duration_s, false);
	fprintf(f, "</div>\n");
	memset(l, 0, sizeof(l));
	for (int i = 0; i < 2; i++) {
		snprintf(l[i].name, sizeof(l[0].name), "checkout p99 · %.40s", runs[i].label);
		l[i].y = x[i].p99[SIM_J_CHECKOUT];
		l[i].color = run_colors[i];
		snprintf(l[2 + i].name, sizeof(l[0].name), "browse p99 · %.40s", runs[i].label);
		l[2 + i].y = x[i].p99[SIM_J_BROWSE];
		l[2 + i].color = run_colors[i];
		l[2 + i].dashed = true;
	}
	fprintf(f, "<div class=\"chart\">");
	chart(f, "Both runs: p99 latency (log scale)", " ms", l, 4, n, sh, nsh, runs[0].sc->duration_s, true);
	fprintf(f, "</div>\n");
	memset(l, 0, sizeof(l));
	for (int i = 0; i < 2; i++) {
		snprintf(l[i].name, sizeof(l[0].name), "pending orders · %.40s", runs[i].label);
		l[i].y = x[i].pending;
		l[i].color = run_colors[i];
		snprintf(l[2 + i].name, sizeof(l[0].name), "202/s · %.40s", runs[i].label);
		l[2 + i].y = x[i].accepted;
		l[2 + i].color = run_colors[i];
		l[2 + i].dashed = true;
	}
	fprintf(f, "<div class=\"chart\">");
	chart(f, "Both runs: pending", "", l, 4, n, sh, nsh, runs[0].sc->duration_s, false);
	fprintf(f, "</div>\n<div class=\"chart\">");
	cdf_chart(f, sts, labels, 2);
	fprintf(f, "</div>\n");
}

static void meta_table(FILE *f, const struct sim_report_run *runs, const struct sim_report_meta *m)
{
	const struct sim_scenario *sc = runs[0].sc;

	fprintf(f, "<table class=\"meta\"><tr><th>started (UTC)</th><td>");
	esc(f, m->started);
	fprintf(f, "</td><th>commit</th><td>");
	esc(f, m->commit);
	fprintf(f, "</td></tr>\n<tr><th>scenario</th><td>");
	esc(f, sc->file[0] ? sc->file : sc->name);
	fprintf(f, "</td><th>sha256</th><td><code>");
	esc(f, m->scenario_sha256);
	fprintf(f, "</code></td></tr>\n<tr><th>seed</th><td>%llu</td><th>load · drain · timeout</th><td>%.0f s · %.0f s · %.0f s</td></tr>\n"
		   "<tr><th>settings</th><td colspan=\"3\">", (unsigned long long)sc->seed, sc->duration_s, sc->drain_s, sc->timeout_s);
	esc(f, m->settings);
	fprintf(f, "</td></tr></table>\n");
}

static int write_html_file(FILE *f, const struct sim_report_run *runs, size_t n, const struct sim_report_meta *meta)
{
	fprintf(f, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
	if (meta->phase)
		fprintf(f, "<meta http-equiv=\"refresh\" content=\"1\">");
	fprintf(f, "<title>shoplab sim %s: ", meta->phase ? "live" : "report");
	esc(f, runs[0].sc->name);
	fprintf(f, "</title>\n<style>body{font-family:sans-serif;margin:24px;color:#222;max-width:1140px}"
		   "table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left}"
		   "tr.fail td{background:#ffebee}tr.pass td:first-child{color:#2e7d32}tr.fail td:first-child{color:#c62828;font-weight:bold}tr.na td{color:#757575;background:#f5f5f5}"
		   ".chart{margin:10px 0}p.fail{color:#c62828}pre{background:#f5f5f5;padding:8px;font-size:12px}"
		   ".verdict{padding:10px 14px;margin:10px 0;border-radius:4px;font-size:15px}"
		   ".verdict.held{background:#e8f5e9;border:2px solid #2e7d32}.verdict.broke{background:#ffebee;border:2px solid #c62828}"
		   ".verdict.invalid{background:#fff3e0;border:2px solid #e65100}.verdict.live{background:#e3f2fd;border:2px solid #1565c0}"
		   "td.off{color:#777;font-style:italic}table.meta th{background:#fafafa}</style></head><body>\n");
	fprintf(f, "<h1>Scenario ");
	esc(f, runs[0].sc->name);
	fprintf(f, "</h1>\n");
	if (meta->phase)
		fprintf(f, "<p class=\"phase\" id=\"phase\"><b>live</b> · phase <b>%s</b> · %.0f / %.0f s (this page reloads every second)</p>\n",
			meta->phase, meta->elapsed_s, meta->total_s);
	if (meta->phase && meta->storefront && (strncmp(meta->storefront, "http://", 7) == 0 ||
						strncmp(meta->storefront, "https://", 8) == 0)) {
		fprintf(f, "<p class=\"storefront\">Buy something while the faults run: <a href=\"");
		esc(f, meta->storefront);
		fprintf(f, "/\" target=\"_blank\" rel=\"noopener\">the storefront</a> (docs/storefront.md)</p>\n");
	}
	for (size_t i = 0; i < n; i++)
		verdict(f, &runs[i], meta->phase != NULL);
	meta_table(f, runs, meta);
	if (n > 1)
		html_compare(f, runs);
	for (size_t i = 0; i < n; i++)
		html_run(f, &runs[i], n, meta);
	fprintf(f, "</body></html>\n");
	return ferror(f) ? -1 : 0;
}

int sim_report_write_html(const char *path, const struct sim_report_run *runs, size_t n,
			  const struct sim_report_meta *meta, char *err, size_t errsz)
{
	char tmp[1200];
	FILE *f;
	int rc;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL) {
		snprintf(err, errsz, "%s: cannot write: %s", tmp, strerror(errno));
		return -1;
	}
	rc = write_html_file(f, runs, n, meta);
	if (fclose(f) != 0 || rc != 0 || rename(tmp, path) != 0) {
		snprintf(err, errsz, "%s: cannot write: %s", path, strerror(errno));
		(void)remove(tmp);
		return -1;
	}
	return 0;
}

static json_object *jnum(double v)
{
	return json_object_new_double(round(v * 1000) / 1000);
}

/* A per-second event series as a JSON array over [0, n) (null where it has nothing). */
static json_object *ev_json(const struct sim_evseries *x, size_t n)
{
	json_object *a = json_object_new_array();

	for (size_t s = 0; s < n; s++)
		json_object_array_add(a, s < x->n && !isnan(x->v[s]) ? jnum(x->v[s]) : NULL);
	return a;
}

static json_object *json_run(const struct sim_report_run *r)
{
	const struct sim_load_stats *st = r->st;
	json_object *o = json_object_new_object(), *a, *x;
	size_t n = run_secs(r);
	char line[512];

	sim_report_verdict(r, line, sizeof(line));
	json_object_object_add(o, "label", json_object_new_string(r->label));
	json_object_object_add(o, "verdict", json_object_new_string(line));
	json_object_object_add(o, "held", json_object_new_boolean(sim_report_held(r)));
	json_object_object_add(o, "status", json_object_new_string(r->status ? r->status : "valid"));
	json_object_object_add(o, "valid", json_object_new_boolean(is_valid(r)));
	if (!is_valid(r))
		json_object_object_add(o, "why", json_object_new_string(r->why ? r->why : ""));
	json_object_object_add(o, "elapsed_s", jnum(st->elapsed_s));
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
	x = json_object_new_object();
	for (int j = 0; j < SIM_J_COUNT; j++) {
		json_object *jj = json_object_new_object();
		json_object *ser = json_object_new_array();

		json_object_object_add(jj, "started", json_object_new_int64((int64_t)st->jstarted[j]));
		json_object_object_add(jj, "ok", json_object_new_int64((int64_t)st->jok[j]));
		json_object_object_add(jj, "p50_ms", jnum((double)sim_hist_percentile(&st->journey[j], 50) / 1000));
		json_object_object_add(jj, "p90_ms", jnum((double)sim_hist_percentile(&st->journey[j], 90) / 1000));
		json_object_object_add(jj, "p99_ms", jnum((double)sim_hist_percentile(&st->journey[j], 99) / 1000));
		json_object_object_add(jj, "p99_9_ms", jnum((double)sim_hist_percentile(&st->journey[j], 99.9) / 1000));
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
		json_object_object_add(p, "accepted_202", json_object_new_int64(st->secs[s].accepted));
		json_object_array_add(a, p);
	}
	json_object_object_add(o, "per_second", a);
	a = json_object_new_array();
	for (size_t s = 0; r->breakers && s < n; s++)
		json_object_array_add(a, s < r->breakers->npending && r->breakers->pending[s] >= 0 ?
				      json_object_new_int(r->breakers->pending[s]) : NULL);
	json_object_object_add(o, "pending_orders_per_second", a);
	a = json_object_new_array();
	for (size_t k = 0; k < st->nerrs; k++) {
		json_object *p = json_object_new_object();

		json_object_object_add(p, "endpoint", json_object_new_string(st->errs[k].endpoint));
		json_object_object_add(p, "status", json_object_new_int(st->errs[k].status));
		json_object_object_add(p, "code", json_object_new_string(st->errs[k].code));
		json_object_object_add(p, "requests", json_object_new_int64((int64_t)st->errs[k].n));
		json_object_array_add(a, p);
	}
	json_object_object_add(o, "errors", a);
	if (r->resilience_off) {
		json_object_object_add(o, "retries", json_object_new_string("disabled"));
		json_object_object_add(o, "breaker_opens", json_object_new_string("disabled"));
	} else if (r->breakers) {
		json_object_object_add(o, "retries", json_object_new_int64((int64_t)r->breakers->retries));
		json_object_object_add(o, "breaker_opens", json_object_new_int64((int64_t)r->breakers->breaker_opens));
	}
	a = json_object_new_array();
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
		json_object_object_add(p, "from_s", from >= 0 ? jnum(from) : NULL);
		json_object_object_add(p, "to_s", to >= 0 ? jnum(to) : NULL);
		if (r->failover && from >= 0) {
			const struct sim_failover *fo = &r->failover[i];
			json_object *q = json_object_new_object();

			json_object_object_add(q, "first_error_s", fo->errors ? jnum(fo->first_error_s) : NULL);
			json_object_object_add(q, "last_error_s", fo->errors ? jnum(fo->recovered_s) : NULL);
			json_object_object_add(q, "failover_s", jnum(fo->errors ? fo->failover_s : 0));
			json_object_object_add(q, "failed_in_failover", json_object_new_int64((int64_t)fo->burst_failed));
			json_object_object_add(q, "failed_in_window", json_object_new_int64((int64_t)fo->failed));
			json_object_object_add(q, "slowest_journey_ms", jnum(fo->slowest_ms));
			json_object_object_add(q, "slowest_at_s", jnum(fo->slowest_at_s));
			json_object_object_add(p, "failover", q);
		}
		if (r->hy && from >= 0 && i < r->hy->nfaults) {
			const struct sim_hy_fault *hf = &r->hy->fault[i];
			json_object *q = json_object_new_object();

			json_object_object_add(q, "first_success_after_s", hf->first_success_s >= 0 ? jnum(hf->first_success_s) : NULL);
			json_object_object_add(q, "holds_again_after_s", hf->holds_again_s >= 0 ? jnum(hf->holds_again_s) : NULL);
			json_object_object_add(q, "requests_lost", json_object_new_int64((int64_t)hf->lost));
			json_object_object_add(p, "recovery", q);
		}
		json_object_array_add(a, p);
	}
	json_object_object_add(o, "faults_applied", a);
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
	if (r->events_drain) {
		json_object_object_add(o, "events_drain", json_object_new_string(r->events_drain));
		json_object_object_add(o, "events_drain_s", jnum(r->events_drain_s));
	}
	if (r->hy) {
		json_object *h = json_object_new_object(), *cl = json_object_new_array();

		json_object_object_add(h, "stated", json_object_new_boolean(r->hy->stated));
		json_object_object_add(h, "ok", json_object_new_boolean(r->hy->ok));
		json_object_object_add(h, "summary", json_object_new_string(r->hy->summary));
		json_object_object_add(h, "steady_seconds", json_object_new_int64((int64_t)r->hy->steady_secs));
		json_object_object_add(h, "baseline_seconds", json_object_new_int64((int64_t)r->hy->base_secs));
		json_object_object_add(h, "baseline_success", jnum(r->hy->base_success));
		json_object_object_add(h, "baseline_ok_requests_per_journey", jnum(r->hy->base_tput));
		for (size_t k = 0; k < r->hy->n; k++) {
			const struct sim_hy_clause *c = &r->hy->c[k];
			json_object *p = json_object_new_object();

			json_object_object_add(p, "id", json_object_new_string(c->id));
			json_object_object_add(p, "held", json_object_new_boolean(c->held));
			json_object_object_add(p, "judged", json_object_new_boolean(c->judged));
			json_object_object_add(p, "value", c->judged ? jnum(c->value) : NULL);
			json_object_object_add(p, "threshold", jnum(c->threshold));
			json_object_object_add(p, "text", json_object_new_string(c->text));
			json_object_array_add(cl, p);
		}
		json_object_object_add(h, "clauses", cl);
		json_object_object_add(o, "hypothesis", h);
	}
	if (r->drained != 0) {
		json_object *d = json_object_new_object();

		json_object_object_add(d, "drained", json_object_new_boolean(r->drained == 1));
		json_object_object_add(d, "from_s", jnum(r->drained_from_s));
		json_object_object_add(d, "drained_in_s", r->drained == 1 ? jnum(r->drained_in_s) : NULL);
		json_object_object_add(o, "drain", d);
	}
	if (r->breakers && (r->breakers->ev.noutbox || r->breakers->ev.nlag)) {
		const struct sim_events_scrape *e = &r->breakers->ev;
		json_object *evo = json_object_new_object(), *y;

		for (int kind = 0; kind < 2; kind++) {
			const struct sim_evseries *v = kind == 0 ? e->outbox : e->lag;
			size_t nv = kind == 0 ? e->noutbox : e->nlag;

			y = json_object_new_object();
			for (size_t i = 0; i < nv; i++)
				json_object_object_add(y, v[i].name, ev_json(&v[i], n));
			json_object_object_add(evo, kind == 0 ? "outbox_depth" : "lag_seconds_mean", y);
		}
		if (e->shipping) {
			json_object_object_add(evo, "confirmed_not_shipped", ev_json(&e->unshipped, n));
			json_object_object_add(evo, "oldest_not_shipped_age_s", ev_json(&e->unshipped_age, n));
		}
		json_object_object_add(o, "events_per_second", evo);
	}
	json_object_object_add(o, "fault_log", json_object_new_string(r->fault_log ? r->fault_log : ""));
	return o;
}

static int write_json(const char *path, const struct sim_report_run *runs, size_t n, const struct sim_report_meta *m)
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
	json_object_object_add(root, "timeout_s", jnum(sc->timeout_s));
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
		json_object_object_add(p, "planned_from_s", jnum(from));
		json_object_object_add(p, "planned_to_s", jnum(to));
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

int sim_report_write(const char *dir, const struct sim_report_run *runs, size_t n,
		     const struct sim_report_meta *meta, char *err, size_t errsz)
{
	char path[1200];

	snprintf(path, sizeof(path), "%s/report.json", dir);
	if (write_json(path, runs, n, meta) != 0) {
		snprintf(err, errsz, "%s: cannot write: %s", path, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/report.html", dir);
	return sim_report_write_html(path, runs, n, meta, err, errsz);
}
