/* sim_report_svg.c - the report's inline SVG charts: lines per second, breakers, latency distributions */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sim_report.h"
#include "sim_report_int.h"

#define W 1100
#define H 240
#define ML 130
#define MR 16
#define MT 28
#define MB 28

const char *const sim_rep_colors[6] = { "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b" };
const char *const sim_rep_run_colors[2] = { "#1f77b4", "#e8590c" };

void
sim_rep_esc(FILE *f, const char *s)
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

static double
sim_rep_nice_max(double v)
{
	double p, m;

	if (v <= 0)
		return 1;
	p = pow(10, floor(log10(v)));
	m = v / p;
	return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

static double
sim_rep_px(double t, double xmax)
{
	return ML + t / xmax * (W - ML - MR);
}

static void
sim_rep_shade_faults(FILE *f, const struct sim_rep_shade *sh, size_t n, double xmax, int h)
{
	for (size_t i = 0; i < n; i++) {
		double a = sh[i].from, b = sh[i].to;

		if (b - a < 0.5)
			b = a + 0.5;
		if (sh[i].applied)
			fprintf(f, "<rect class=\"fault\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\" opacity=\"0.18\"><title>",
				sim_rep_px(a, xmax), MT, sim_rep_px(b, xmax) - sim_rep_px(a, xmax), h - MT - MB, sh[i].toxic ? "#ff9800" : "#e53935");
		else
			fprintf(f, "<rect class=\"fault-missing\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"none\" "
				   "stroke=\"#555\" stroke-dasharray=\"5 4\"><title>", sim_rep_px(a, xmax), MT, sim_rep_px(b, xmax) - sim_rep_px(a, xmax), h - MT - MB);
		sim_rep_esc(f, sh[i].label);
		fprintf(f, " %.1f-%.1f s%s</title></rect>\n", a, b, sh[i].applied ? " (as applied)" : " (planned)");
		fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" fill=\"%s\">", sim_rep_px(a, xmax) + 2, MT + 10 + (int)(i % 3) * 11,
			sh[i].applied ? "#b71c1c" : "#555");
		sim_rep_esc(f, sh[i].label);
		fprintf(f, "</text>\n");
	}
}

static void
sim_rep_svg_open(FILE *f, const char *title, int h)
{
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n",
		W, h, W, h);
	fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n<text x=\"%d\" y=\"16\" font-size=\"13\" font-weight=\"bold\">", W, h, ML);
	sim_rep_esc(f, title);
	fprintf(f, "</text>\n");
}

static void
sim_rep_x_axis(FILE *f, double xmax, int h, double load_end)
{
	double step = xmax > 200 ? 50 : xmax > 100 ? 20 : 10;

	for (double t = 0; t <= xmax + 1e-9; t += step)
		fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" text-anchor=\"middle\">%.0fs</text>\n", sim_rep_px(t, xmax), h - 10, t);
	fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"#333\"/>\n", ML, W - MR, h - MB, h - MB);
	if (load_end > 0 && load_end < xmax)
		fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#555\" stroke-dasharray=\"1 3\"/>"
			   "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" fill=\"#555\">drain</text>\n",
			sim_rep_px(load_end, xmax), sim_rep_px(load_end, xmax), MT, h - MB, sim_rep_px(load_end, xmax) + 3, h - MB - 4);
}

static double
sim_rep_ymap(double y, double ymin, double ymax, bool logy, int h)
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
void
sim_rep_chart(FILE *f, const char *title, const char *unit, const struct sim_rep_line *lines, size_t nl, size_t nsecs,
    const struct sim_rep_shade *sh, size_t nsh, double load_end, bool logy)
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
		ymax = sim_rep_nice_max(ymax);
	}
	sim_rep_svg_open(f, title, H);
	fprintf(f, "<g class=\"chart-data\" data-points=\"%zu\">\n", points);
	if (logy) {
		for (double d = ymin; d <= ymax * 1.0001; d *= 10) {
			double y = sim_rep_ymap(d, ymin, ymax, true, H);

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
	sim_rep_x_axis(f, xmax, H, load_end);
	sim_rep_shade_faults(f, sh, nsh, xmax, H);
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
			fprintf(f, "%c%.1f %.1f ", pen ? 'L' : 'M', sim_rep_px((double)s + 0.5, xmax), sim_rep_ymap(y, ymin, ymax, logy, H));
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
		sim_rep_esc(f, lines[l].name);
		fprintf(f, "</text>\n");
		legend_x += 30 + 7 * (int)strlen(lines[l].name);
	}
	fprintf(f, "</g></svg>\n");
}

void
sim_rep_breaker_chart(FILE *f, const struct sim_scrape *b, size_t nsecs, const struct sim_rep_shade *sh, size_t nsh,
    double load_end)
{
	int h = MT + MB + 18 * (int)(b && b->nb ? b->nb : 1);
	double xmax = nsecs > 0 ? (double)nsecs : 1;

	sim_rep_svg_open(f, "Circuit breakers (green closed, red open, amber half-open, grey no scrape)", h);
	if (b == NULL || b->nb == 0) {
		fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\">no breaker metrics were scraped</text></svg>\n", ML, MT + 12);
		return;
	}
	fprintf(f, "<g class=\"chart-data\" data-points=\"%zu\">\n", b->nb * nsecs);
	for (size_t i = 0; i < b->nb; i++) {
		int y = MT + 18 * (int)i;

		fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"end\">", ML - 4, y + 12);
		sim_rep_esc(f, b->b[i].name);
		fprintf(f, "</text>\n");
		for (size_t s = 0; s < nsecs; s++) {
			int st = s < b->b[i].nsecs ? b->b[i].state[s] : -1;

			fprintf(f, "<rect x=\"%.1f\" y=\"%d\" width=\"%.2f\" height=\"14\" fill=\"%s\"/>", sim_rep_px((double)s, xmax), y,
				sim_rep_px(1, xmax) - ML + 0.3, st == 0 ? "#66bb6a" : st == 1 ? "#e53935" : st == 2 ? "#ffb300" : "#e0e0e0");
		}
		fputc('\n', f);
	}
	for (size_t i = 0; i < nsh; i++)
		if (sh[i].applied)
			fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#000\" stroke-dasharray=\"2 2\"/>",
				sim_rep_px(sh[i].from, xmax), sim_rep_px(sh[i].from, xmax), MT - 4, h - MB + 4);
	sim_rep_x_axis(f, xmax, h, load_end);
	fprintf(f, "</g></svg>\n");
}

/* The latency axis of the distribution chart: whole decades around every journey's min and max (ms). */
static void
sim_rep_cdf_range(const struct sim_load_stats *const *sts, size_t nruns, double *xminp, double *xmaxp)
{
	double xmin = INFINITY, xmax = 0;

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
	*xminp = xmin;
	*xmaxp = xmax;
}

/* The latency distribution of each journey: share of journeys (y) done within x ms (log). */
void
sim_rep_cdf_chart(FILE *f, const struct sim_load_stats *const *sts, const char *const *labels, size_t nruns)
{
	double xmin, xmax;
	size_t points = 0;
	int h = 300, legend_y = 300 - MB - 60, legend_x = W - 260;

	sim_rep_cdf_range(sts, nruns, &xmin, &xmax);
	for (size_t r = 0; r < nruns; r++)
		for (int j = 0; j < SIM_J_COUNT; j++)
			for (size_t i = 0; i < sts[r]->journey[j].nbuckets; i++)
				points += sts[r]->journey[j].counts[i] > 0;
	sim_rep_svg_open(f, "Latency distribution per journey (share done within x ms; dots: p50 p90 p99 p99.9 max)", h);
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
			const char *col = nruns > 1 ? sim_rep_run_colors[r] : sim_rep_colors[j == 0 ? 0 : j == 1 ? 3 : 5];
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
			sim_rep_esc(f, name);
			fprintf(f, "</text>\n");
			legend_y += 14;
		}
	fprintf(f, "</g></svg>\n");
}
