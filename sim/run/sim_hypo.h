/* sim_hypo.h - the steady-state hypothesis judged from a run's per-second samples (pure), and what makes a run invalid */
#ifndef SIM_HYPO_H
#define SIM_HYPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sim_load.h"
#include "sim_scenario.h"
#include "sim_scrape.h"

/* Recovery is judged over windows of this many scheduled seconds. */
#define SIM_HY_WINDOW_S 3
#define SIM_HY_MAX_CLAUSES (2 * SIM_J_COUNT + 1)

struct sim_hy_clause {
	char id[40];                    /* "browse.success", "checkout.p99_ms", "recovery.within_s" */
	bool held;
	bool judged;                    /* false: nothing to judge it on (counts as not held) */
	double value, threshold;        /* share 0..1, ms, or s */
	char text[240];                 /* "register_login 13.0% ok (needs 99%)" */
};

/* What happened around one fault, by scheduled second (s since the load began). */
struct sim_hy_fault {
	bool applied;
	double from, to;                /* the window as applied */
	double first_success_s;         /* after `to`: the first second in which every journey started
	                                 * had one ok; -1 none within the load */
	double holds_again_s;           /* after `to`: the first window back within the band; -1 never */
	uint64_t lost;                  /* requests failed (5xx, no connection, no answer) from `from`
	                                 * until it held again (or the load's end) */
};

struct sim_hy_result {
	bool ok;                        /* every clause held */
	bool stated;                    /* the scenario's own hypothesis (else the defaults) */
	struct sim_hy_clause c[SIM_HY_MAX_CLAUSES];
	size_t n;
	size_t steady_secs;             /* seconds judged as steady state */
	double base_success;            /* journeys ok / started in the baseline seconds */
	double base_tput;               /* ok requests finished / journeys offered, baseline seconds */
	size_t base_secs;               /* 0: no baseline (success compared with 100%, throughput not) */
	struct sim_hy_fault fault[SIM_MAX_FAULTS];
	size_t nfaults;
	int last_fault;                 /* the fault that ended last (-1: none applied) */
	char summary[320];              /* "steady state held" / "steady state FAILED: ..." */
};

/*
 * Judges sc->hy on st. from/to: each fault's window as applied (-1: never applied); NULL: as
 * planned. Seconds are scheduled seconds of the load [0, ceil(duration_s)). Steady state: the
 * seconds that do not touch [from - 1, to + within_s) of any applied fault.
 */
void sim_hy_eval(const struct sim_scenario *sc, const struct sim_load_stats *st, const double *from,
		 const double *to, struct sim_hy_result *out);
/* Prints the hypothesis's clauses and the per-fault recovery lines. */
void sim_hy_print(const struct sim_scenario *sc, const struct sim_hy_result *r, FILE *f);
/*
 * Whether a finished load can be judged at all: 0, or -1 with why (no request was sent; a
 * journey the mix starts started nothing).
 */
int sim_hy_invalid(const struct sim_scenario *sc, const struct sim_load_stats *st, char *why, size_t whysz);
/*
 * When the shop drained after `from` (s since the load began): the first second of the scraper's
 * samples from which on no order of the run is pending, every outbox is empty and every
 * confirmed order shipped (never before `from`); -1 when the last sample still holds some.
 */
double sim_hy_drained_at(const struct sim_scrape *s, double from);
/* The seconds of the plan that count as steady state (for --dry-run). */
size_t sim_hy_planned_steady(const struct sim_scenario *sc);

#endif
