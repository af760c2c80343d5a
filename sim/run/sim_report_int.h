/* sim_report_int.h - what the report's files share: a run's series, fault windows, chart lines */
#ifndef SIM_REPORT_INT_H
#define SIM_REPORT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sim_report.h"

#define SIM_REP_MAXSECS 4096

/* Line colours: per series, and per run in the comparison. */
extern const char *const sim_rep_colors[6];
extern const char *const sim_rep_run_colors[2];

struct sim_rep_line {
	char name[64];
	const char *color;
	const double *y;        /* per second; NAN: no value */
	bool dashed;
};

/* A fault window to shade: as applied, or as planned when it never applied. */
struct sim_rep_shade {
	double from, to;
	char label[96];
	bool applied, toxic;
};

/* Per-second series of one run, for the charts. */
struct sim_rep_series {
	double ok[SIM_REP_MAXSECS], err[SIM_REP_MAXSECS], unknown[SIM_REP_MAXSECS], accepted[SIM_REP_MAXSECS],
	    pending[SIM_REP_MAXSECS];
	double p50[SIM_J_COUNT][SIM_REP_MAXSECS], p99[SIM_J_COUNT][SIM_REP_MAXSECS];
};

/* sim_report_data.c: what the report reads off a run. */
bool sim_rep_valid(const struct sim_report_run *r);
size_t sim_rep_shades(const struct sim_report_run *r, struct sim_rep_shade *sh);
size_t sim_rep_secs(const struct sim_report_run *r);
uint64_t sim_rep_errors(const uint64_t *out);
double sim_rep_pct_ms(const struct sim_hist *h, double p);
void sim_rep_fill_series(const struct sim_report_run *r, size_t n, struct sim_rep_series *x);
double sim_rep_max(const double *v, size_t n);

/* sim_report_svg.c: text escaped for HTML and SVG, and the charts. */
void sim_rep_esc(FILE *f, const char *s);
void sim_rep_chart(FILE *f, const char *title, const char *unit, const struct sim_rep_line *lines, size_t nl,
    size_t nsecs, const struct sim_rep_shade *sh, size_t nsh, double load_end, bool logy);
void sim_rep_breaker_chart(FILE *f, const struct sim_scrape *b, size_t nsecs, const struct sim_rep_shade *sh,
    size_t nsh, double load_end);
void sim_rep_cdf_chart(FILE *f, const struct sim_load_stats *const *sts, const char *const *labels, size_t nruns);

/* sim_report_html.c: the whole page to f; -1 when f saw an error. */
int sim_rep_html(FILE *f, const struct sim_report_run *runs, size_t n, const struct sim_report_meta *meta);

/* sim_report_json.c: report.json at path; -1 when it could not be written. */
int sim_rep_json(const char *path, const struct sim_report_run *runs, size_t n, const struct sim_report_meta *m);

#endif
