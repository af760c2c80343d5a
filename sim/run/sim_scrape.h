/* sim_scrape.h - once-a-second scrapes of every service's /metrics for circuit-breaker states */
#ifndef SIM_SCRAPE_H
#define SIM_SCRAPE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#define SIM_BREAKERS_MAX 32

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
};

/* Parses Prometheus text, recording each shoplab_dep_breaker_state sample into s at second sec. */
void sim_scrape_parse(struct sim_scrape *s, const char *text, size_t sec);
int sim_scrape_start(struct sim_scrape *s, const char *internal_url);
void sim_scrape_stop(struct sim_scrape *s);
void sim_scrape_free(struct sim_scrape *s);

#endif
