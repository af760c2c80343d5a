/* sim_failover.h - failover time and requests lost around a fault, from the failed requests' finish times */
#ifndef SIM_FAILOVER_H
#define SIM_FAILOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Failures closer than this belong to one burst: the first burst after a fault is its failover. */
#define SIM_FAILOVER_GAP_S 2.0

struct sim_failover {
	bool errors;                    /* any failure in the window */
	double first_error_s;           /* the first failure at or after the fault (s since load start) */
	double recovered_s;             /* the last failure of the first burst: requests succeed after it */
	double failover_s;              /* recovered_s - first_error_s */
	uint64_t burst_failed;          /* failures in the first burst */
	uint64_t failed;                /* failures in the whole window */
	/* A failover without errors shows as a stall: the slowest journey scheduled in the
	 * window (ms) and the second it was scheduled in (set by sim run from its series). */
	double slowest_ms;
	double slowest_at_s;
};

/*
 * fail_t: the finish times of failed requests, ascending. Looks at [from, to): failures less
 * than gap_s apart form a burst; the first burst is the failover (first error to the last error
 * before requests succeed again), every failure in the window is a request lost to the fault.
 */
void sim_failover_of(const double *fail_t, size_t n, double from, double to, double gap_s,
		     struct sim_failover *out);

#endif
