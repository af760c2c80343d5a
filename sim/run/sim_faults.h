/* sim_faults.h - the fault timeline: toxics through the proxy API, signals to processes, restarts */
#ifndef SIM_FAULTS_H
#define SIM_FAULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "sim_scenario.h"

struct sim_faults {
	const struct sim_scenario *sc;
	char proxy_api[256];            /* the stack's proxy API (SHOPLAB_PROXY_API) */
	char api[SIM_MAX_FAULTS][256];  /* each toxic's proxy API ("" when its proxy_api names none) */
	char stack_sh[1024];
	char lab_ctl[1024];             /* the HA lab's fault script (SHOPLAB_LAB_CTL), or "" */
	char run_dir[1024];
	char top[960];                  /* the checkout: scripts/, fcgi-services/<svc>/service.conf */
	char internal[256];             /* the internal gateway, for /_ops/<svc>/metrics */
	bool started[SIM_MAX_FAULTS], ended[SIM_MAX_FAULTS];
	pid_t stopped[SIM_MAX_FAULTS];  /* SIGSTOPped pid to SIGCONT, or 0 */
	pid_t deployed[SIM_MAX_FAULTS]; /* a deploy's target pid before it, to see it change */
	pid_t children[16];             /* stack.sh up (or deploy) runs in progress */
	int child_fault[16];            /* ... and the fault each one ends (-1: none) */
	size_t nchildren;
	/* Each fault's window as applied and confirmed (seconds since the load began); -1: not
	 * (yet). A fault whose start or end could not be confirmed makes the run invalid. */
	double applied_from[SIM_MAX_FAULTS], applied_to[SIM_MAX_FAULTS];
	double t0;                      /* CLOCK_MONOTONIC seconds when the load began */
	/* duplicate_delivery: the service's shoplab_events_duplicates_total when the fault began
	 * (-1: unknown); the fault holds once the counter went up. */
	long long dup_base[SIM_MAX_FAULTS];
	bool dup_seen[SIM_MAX_FAULTS];
	unsigned errors;                /* actions that failed or were not confirmed */
	char invalid[512];              /* the first of them, as a sentence ("" when none) */
	char log[8192];                 /* what was done, one line each, with times */
	size_t loglen;
};

/* The proxy API of a toxic: its "proxy_api" when that is a URL; a name's from the environment
 * (SHOPLAB_PROXY_API_<NAME>, which the HA lab writes into shoplab.env); else SHOPLAB_PROXY_API.
 * Returns -1 (out = "") when the name has no API set or the URL does not fit. */
int sim_fault_proxy_api(const struct sim_fault *ft, char *out, size_t outsz);
/* Finds scripts/stack.sh ($SHOPLAB_TOP, else next to the binary) and the proxy API. */
int sim_faults_init(struct sim_faults *f, const struct sim_scenario *sc, char *err, size_t errsz);
/* Applies every start or end due at t (seconds since the load started). */
void sim_faults_tick(struct sim_faults *f, double t);
/* The next event time after the ones applied, or -1. */
double sim_faults_next(const struct sim_faults *f);
/* Active faults, comma separated, for the progress line. */
void sim_faults_describe(const struct sim_faults *f, char *buf, size_t bufsz);
/* Ends everything: SIGCONT the stopped, /reset the proxy, wait for restarts, then
 * `scripts/stack.sh up` to bring back whatever is down. Returns its exit status. */
int sim_faults_finish(struct sim_faults *f);
/* After the drain: every duplicate_delivery that applied must have made its service count a
 * duplicate (shoplab_events_duplicates_total went up); waits up to wait_s for it, else the run
 * is invalid. */
void sim_faults_confirm_late(struct sim_faults *f, double wait_s);
/* The checkout's top directory ($SHOPLAB_TOP, else two levels above the binary's folder). */
int sim_top_dir(char *out, size_t outsz, char *err, size_t errsz);
/* Whether fcgi-services/<svc>/service.conf under top names events the service consumes. */
bool sim_service_consumes(const char *top, const char *svc);
/* A service's counter (the sum of its samples) from /_ops/<svc>/metrics, or -1. */
long long sim_service_counter(const char *internal, const char *svc, const char *metric);
/* Runs `scripts/stack.sh <cmd>` (SHOPLAB_PROXY=1) and waits; returns its exit status. */
int sim_faults_stack(const struct sim_faults *f, const char *cmd);
/* Records that the run is not valid (the first reason is kept). */
void sim_faults_invalid(struct sim_faults *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The pid in run_dir/<target>.pid, or -1. */
pid_t sim_faults_pid(const char *run_dir, const char *target);
/* A process's state letter from /proc/<pid>/stat (R, S, T, Z, ...), or 0 when it is gone. */
char sim_proc_state(pid_t pid);
/* The window of fault i as applied ([-1, -1] when it never applied). */
void sim_fault_applied(const struct sim_faults *f, size_t i, double *from, double *to);
/* Whether fault i could disturb browsing (catalog/inventory reads). */
bool sim_fault_touches_reads(const struct sim_fault *ft);
/* The window [*from, *to) in seconds during which fault i acts. */
void sim_fault_window(const struct sim_scenario *sc, size_t i, double *from, double *to);

#endif
