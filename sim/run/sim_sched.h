/* sim_sched.h - the open-loop arrival schedule: exact arrival times from a phase list */
#ifndef SIM_SCHED_H
#define SIM_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim_rand.h"      /* the deterministic stream behind journeys, data and cards */
#include "sim_scenario.h"

/* Arrivals are evenly spaced at 1/rate within each phase, the first at the phase's start;
 * they depend only on the phase list, never on when responses come back. */
struct sim_sched {
	const struct sim_phase *phases;
	size_t nphases;
	int64_t end_ns;         /* no arrival at or after this */
	size_t phase;           /* current phase */
	uint64_t k;             /* arrivals issued in the current phase */
	int64_t next_ns;        /* the next arrival, or -1 when done */
	uint64_t issued;
};

void sim_sched_init(struct sim_sched *s, const struct sim_phase *phases, size_t n, double duration_s);
/* The next arrival time (ns since the start) without consuming it; -1 when there is none. */
int64_t sim_sched_peek(const struct sim_sched *s);
/* Writes the arrivals due at or before now_ns (at most max) to out, consumes them, returns the
 * count. The caller's clock only decides when they are handed out, not their times. */
size_t sim_sched_due(struct sim_sched *s, int64_t now_ns, int64_t *out, size_t max);

#endif
