/* sim_scrape.h - once-a-second scrapes of every service's /metrics for circuit-breaker states */
#ifndef SIM_SCRAPE_H
#define SIM_SCRAPE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_BREAKERS_MAX 32

/* Events, per second (NaN: no value that second): each publishing service's outbox depth
 * (shoplab_events_outbox_depth), each consuming service's mean event lag over that second
 * (shoplab_events_lag_seconds_sum/_count deltas), and from the database the confirmed orders
 * of the run not shipped yet and the age of the oldest of them (confirm -> shipped as it stands). */
struct sim_evseries {
	char name[32];          /* the service */
	double *v;
	size_t n;
};

#define SIM_SERIES_MAX 16

struct sim_events_scrape {
	struct sim_evseries outbox[SIM_SERIES_MAX]; size_t noutbox;
	struct sim_evseries lag[SIM_SERIES_MAX]; size_t nlag;
	double last_lag_sum[SIM_SERIES_MAX], last_lag_count[SIM_SERIES_MAX];
	struct sim_evseries unshipped, unshipped_age;
	bool shipping;          /* the stack has shipping: unshipped orders are counted */
};

/* One breaker's state per second: -1 unknown (no scrape), 0 closed, 1 open, 2 half-open. */
struct sim_breaker {
	char name[64];          /* "service→dep" */
	signed char *state;
	size_t nsecs;
};

struct sim_scrape {
	char internal[256];
	pthread_t th;
	pthread_mutex_t mu;
	bool running, stop;
	double t0;              /* CLOCK_MONOTONIC seconds at start */
	struct sim_breaker b[SIM_BREAKERS_MAX];
	size_t nb;
	unsigned scrapes, failures;
	/* Counters summed over every service, restarts counted as resets (from the first scrape). */
	uint64_t last_retries[16], last_opens[16];
	bool seen[16];
	uint64_t retries, breaker_opens;
	/* Orders from pending_min_id on still pending, per second (-1: not read); 0 = not polled. */
	int64_t pending_min_id;
	int32_t *pending;
	size_t npending;
	struct sim_events_scrape ev;
};

/* Records what one service's metrics say about its events at second sec. */
void sim_scrape_events(struct sim_scrape *s, const char *svc, const char *text, size_t sec);
/* Sets series[sec] = v (growing it; NaN between). Returns 0 or -1 (out of memory). */
int sim_evseries_set(struct sim_evseries *x, size_t sec, double v);

/* Parses Prometheus text, recording each shoplab_dep_breaker_state sample into s at second sec. */
void sim_scrape_parse(struct sim_scrape *s, const char *text, size_t sec);
/* Adds what one service's metrics say to the retry and breaker-open totals. */
void sim_scrape_counters(struct sim_scrape *s, size_t svc, const char *text);
/* Starts the thread; with pending_min_id > 0 it also counts pending orders once a second. */
int sim_scrape_start(struct sim_scrape *s, const char *internal_url, int64_t pending_min_id);
void sim_scrape_stop(struct sim_scrape *s);
void sim_scrape_free(struct sim_scrape *s);

#endif
