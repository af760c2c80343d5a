/* sim_report.h - report.json and a self-contained report.html (inline SVG) from one or two runs */
#ifndef SIM_REPORT_H
#define SIM_REPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "sim_check.h"
#include "sim_load.h"
#include "sim_scenario.h"
#include "sim_scrape.h"

struct sim_report_run {
	const char *label;                      /* "resilience on" */
	const struct sim_scenario *sc;
	const struct sim_load_stats *st;
	const struct sim_ck_result *ck;         /* NULL: the check could not run */
	const char *check_error;                /* why not, when ck is NULL */
	const struct sim_scrape *breakers;      /* may be NULL */
	const char *fault_log;                  /* what the timeline did, may be NULL */
};

/* Writes dir/report.json and dir/report.html. Returns 0, or -1 with a message in err. */
int sim_report_write(const char *dir, const struct sim_report_run *runs, size_t n, char *err, size_t errsz);

#endif
