/* sim_load.h - the open-loop load generator: journeys over libcurl multi, outcomes and histograms */
#ifndef SIM_LOAD_H
#define SIM_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "sim_check.h"
#include "sim_hist.h"
#include "sim_scenario.h"

enum sim_outcome {
	SIM_OUT_OK,             /* 2xx/3xx, or an expected business answer (402, 409 out_of_stock) */
	SIM_OUT_4XX,            /* another 4xx */
	SIM_OUT_429,            /* rate limited */
	SIM_OUT_5XX,
	SIM_OUT_CONNECT,        /* could not connect: nothing was sent */
	SIM_OUT_OTHER,          /* any other client-side failure before sending */
	SIM_OUT_UNKNOWN,        /* timeout or reset after sending: the outcome is not known */
	SIM_OUT_COUNT
};

extern const char *const sim_outcome_names[SIM_OUT_COUNT];

struct sim_sec {
	uint64_t started;                       /* journeys started (scheduled) in this second */
	uint64_t out[SIM_OUT_COUNT];            /* requests finished in this second, by outcome */
	uint64_t browse_ok, browse_failed;      /* browse journeys scheduled in this second */
	uint32_t inflight;                      /* requests in flight at the end of the second */
	uint32_t accepted;                      /* 202 answers (order pending) finished in this second */
	/* Journeys scheduled in this second, per journey, and those that ended ok (an arrival the
	 * engine could not take, beyond max_inflight, is started and not ok). */
	uint32_t jstarted[SIM_J_COUNT], jok[SIM_J_COUNT];
};

/* Failed requests by endpoint, HTTP status and error code, for the report. */
#define SIM_ERRKEYS_MAX 64
struct sim_errkey {
	char endpoint[48];                      /* "POST /orders", "GET /products/{id}" */
	int status;                             /* 0: no HTTP answer */
	char code[40];                          /* the error body's code, or the outcome's name */
	uint64_t n;
};

struct sim_user {
	char email[96];
	char token[1024];
};

struct sim_load_stats {
	struct sim_hist journey[SIM_J_COUNT];   /* journey latency from its scheduled start, µs */
	struct sim_series series[SIM_J_COUNT];  /* the same per scheduled second */
	struct sim_sec *secs; size_t nsecs;
	uint64_t out[SIM_OUT_COUNT];
	uint64_t jstarted[SIM_J_COUNT], jok[SIM_J_COUNT];
	uint64_t requests, declined, out_of_stock, pending;
	uint64_t max_inflight;
	double elapsed_s;
	bool interrupted;                       /* stopped by a signal before its end */
	uint64_t cut;                           /* requests in flight when it was interrupted: their
	                                         * outcome is not known and they count as no outcome */
	struct sim_errkey errs[SIM_ERRKEYS_MAX]; size_t nerrs;
	uint64_t errs_other;                    /* failures that did not fit the table */
	struct sim_ck_client *clients; size_t nclients, clients_cap;  /* one per checkout key */
	/* Finish times (s since the start) of requests that failed by the server or the network
	 * (5xx, no connection, no answer; not 4xx or 429), ascending: sim_failover.h. */
	double *fail_t; size_t nfail, fail_cap;
};

struct sim_load_cfg {
	const struct sim_scenario *sc;
	const char *gateway;            /* http://host:port */
	const char *raw_url;            /* when set: every arrival is one GET of this URL */
	const struct sim_user *users; size_t nusers;
	const char *nonce;              /* makes keys and e-mails unique per run */
	bool progress;
	const volatile sig_atomic_t *stop;     /* when set and non-zero: stop now (interrupted) */
	int max_inflight;               /* arrivals beyond it are counted as OTHER (0 = 20000) */
	/* Called about once a second and at each fault event time with seconds since the start. */
	void (*tick)(void *arg, double t);
	void *tick_arg;
	/* Writes the active faults into buf for the progress line. */
	void (*describe)(void *arg, char *buf, size_t bufsz);
	/* The next time tick wants to be called (seconds; < 0: none). */
	double (*next_event)(void *arg);
};

int sim_load_stats_init(struct sim_load_stats *st);
void sim_load_stats_free(struct sim_load_stats *st);
/* Runs the load for sc->duration_s, then waits for what is in flight (at most timeout_s).
 * Returns 0, or -1 on a set-up failure (message on stderr). */
int sim_load_run(const struct sim_load_cfg *cfg, struct sim_load_stats *st);
/* Prints requests, outcomes and per-journey percentiles. */
void sim_load_print(const struct sim_load_stats *st, const char *label, FILE *f);

/* Whether a set-up request's answer is worth another try: none (-1), 429, 502, 503, 504. */
bool sim_setup_transient(long status);

/* Blocking set-up through the gateway: admin login, stock per product, users created and
 * logged in (paced at sc->login_rate). users must hold sc->users entries. Stops with
 * "interrupted" in err as soon as *stop is set (stop may be NULL). */
int sim_setup_data(const struct sim_scenario *sc, const char *gateway, const char *nonce,
		   struct sim_user *users, const volatile sig_atomic_t *stop, char *err, size_t errsz);

int sim_load_main(int argc, char **argv);

#endif
