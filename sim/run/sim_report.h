/* sim_report.h - report.json and a self-contained report.html (inline SVG) from one or two runs */
#ifndef SIM_REPORT_H
#define SIM_REPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "sim_check.h"
#include "sim_failover.h"
#include "sim_hypo.h"
#include "sim_load.h"
#include "sim_scenario.h"
#include "sim_scrape.h"

/* What lines a report up with Prometheus, logs and the scenario that made it. */
struct sim_report_meta {
	char commit[48];                        /* git HEAD of the tree sim ran from, or "unknown" */
	char started[32];                       /* wall clock at the start, UTC, ISO 8601 */
	char scenario_sha256[72];               /* of the scenario file's bytes */
	char settings[512];                     /* what else shaped the run, "name=value ..." */
	/* Live view only: the page refreshes itself and says where the run is. */
	const char *phase;                      /* "set-up", "load", "drain", "checking"; NULL: final */
	double elapsed_s, total_s;              /* of the current phase */
	const char *storefront;                 /* the gateway's URL: the live view links its storefront */
};

struct sim_report_run {
	const char *label;                      /* "resilience on" */
	const struct sim_scenario *sc;
	const struct sim_load_stats *st;
	const struct sim_ck_result *ck;         /* NULL: the check could not run */
	const char *check_error;                /* why not, when ck is NULL */
	const struct sim_scrape *breakers;      /* may be NULL */
	const char *fault_log;                  /* what the timeline did, may be NULL */
	const char *status;                     /* "valid" (NULL too), "invalid", "interrupted", "set-up failed" */
	const char *why;                        /* what made it so, for anything but valid */
	const double *applied_from, *applied_to;  /* per fault, as confirmed (-1: never); NULL: as planned */
	bool resilience_off;                    /* retries and breakers were off: "disabled" in the comparison */
	const struct sim_failover *failover;    /* per fault (sim_failover.h), or NULL */
	const struct sim_ck_events *ev;         /* what the event checks read (dead letters), may be NULL */
	const char *events_drain;               /* "drained", or what was left; NULL: no events drain */
	double events_drain_s;                  /* how long it took */
	const struct sim_hy_result *hy;         /* the steady-state hypothesis as judged; NULL: not judged */
	int drained;                            /* 1 drained, 2 not within the limit, 0 unknown */
	double drained_in_s;                    /* from drained_from_s to drained (when drained) */
	double drained_from_s;                  /* the last fault's end (the load's without faults) */
};

/* The run's verdict in one line: "VALID · invariants held · steady state FAILED: ...",
 * "INVALID: why", "INTERRUPTED: why". */
void sim_report_verdict(const struct sim_report_run *r, char *buf, size_t bufsz);
/* Whether the run held both halves: valid, every invariant held, the hypothesis held. */
bool sim_report_held(const struct sim_report_run *r);

/* Writes dir/report.json and dir/report.html. Returns 0, or -1 with a message in err. */
int sim_report_write(const char *dir, const struct sim_report_run *runs, size_t n,
		     const struct sim_report_meta *meta, char *err, size_t errsz);
/* Writes only the HTML page to path (through path.tmp and a rename, so a reader never sees
 * half a page); with meta->phase set it refreshes itself every second. */
int sim_report_write_html(const char *path, const struct sim_report_run *runs, size_t n,
			  const struct sim_report_meta *meta, char *err, size_t errsz);

#endif
