/* sim_scrape.c - a thread that scrapes breaker states from each service's metrics once a second */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sim_http.h"
#include "sim_scrape.h"

static const char *const services[] = { "users", "catalog", "inventory", "orders", "payments" };

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Copies label `name`'s value from a {a="x",b="y"} block. */
static int label(const char *labels, const char *name, char *out, size_t outsz)
{
	char pat[64];
	const char *p, *q;

	snprintf(pat, sizeof(pat), "%s=\"", name);
	if ((p = strstr(labels, pat)) == NULL)
		return -1;
	p += strlen(pat);
	if ((q = strchr(p, '"')) == NULL || (size_t)(q - p) >= outsz)
		return -1;
	memcpy(out, p, (size_t)(q - p));
	out[q - p] = '\0';
	return 0;
}

static void record(struct sim_scrape *s, const char *name, size_t sec, int state)
{
	struct sim_breaker *b = NULL;

	for (size_t i = 0; i < s->nb; i++)
		if (strcmp(s->b[i].name, name) == 0)
			b = &s->b[i];
	if (b == NULL) {
		if (s->nb >= SIM_BREAKERS_MAX)
			return;
		b = &s->b[s->nb++];
		snprintf(b->name, sizeof(b->name), "%s", name);
	}
	if (sec >= b->nsecs) {
		size_t n = sec + 64;
		signed char *ns = realloc(b->state, n);

		if (ns == NULL)
			return;
		memset(ns + b->nsecs, -1, n - b->nsecs);
		b->state = ns;
		b->nsecs = n;
	}
	b->state[sec] = (signed char)state;
}

void sim_scrape_parse(struct sim_scrape *s, const char *text, size_t sec)
{
	static const char metric[] = "shoplab_dep_breaker_state{";
	const char *p = text;

	while ((p = strstr(p, metric)) != NULL) {
		char svc[24], dep[24], name[64], labels[256];
		const char *end = strchr(p, '}');
		size_t n;

		if (end == NULL)
			break;
		n = (size_t)(end - p);
		if (n >= sizeof(labels))
			n = sizeof(labels) - 1;
		memcpy(labels, p, n);
		labels[n] = '\0';
		if ((p == text || p[-1] == '\n') && label(labels, "service", svc, sizeof(svc)) == 0 &&
		    label(labels, "dep", dep, sizeof(dep)) == 0) {
			snprintf(name, sizeof(name), "%s\xe2\x86\x92%s", svc, dep);
			record(s, name, sec, atoi(end + 1));
		}
		p = end;
	}
}

static void *run(void *arg)
{
	struct sim_scrape *s = arg;
	static char buf[256 * 1024];
	char url[512];

	for (;;) {
		double t;

		pthread_mutex_lock(&s->mu);
		if (s->stop) {
			pthread_mutex_unlock(&s->mu);
			break;
		}
		pthread_mutex_unlock(&s->mu);
		t = mono();
		for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++) {
			long st;

			snprintf(url, sizeof(url), "%s/_ops/%s/metrics", s->internal, services[i]);
			st = sim_http("GET", url, NULL, NULL, 800, buf, sizeof(buf));
			pthread_mutex_lock(&s->mu);
			s->scrapes++;
			if (st == 200)
				sim_scrape_parse(s, buf, (size_t)(t - s->t0));
			else
				s->failures++;
			pthread_mutex_unlock(&s->mu);
		}
		t = 1.0 - (mono() - t);
		if (t > 0)
			usleep((useconds_t)(t * 1e6));
	}
	return NULL;
}

int sim_scrape_start(struct sim_scrape *s, const char *internal_url)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->internal, sizeof(s->internal), "%s", internal_url);
	if (pthread_mutex_init(&s->mu, NULL) != 0)
		return -1;
	s->t0 = mono();
	if (pthread_create(&s->th, NULL, run, s) != 0)
		return -1;
	s->running = true;
	return 0;
}

void sim_scrape_stop(struct sim_scrape *s)
{
	if (!s->running)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->th, NULL);
	s->running = false;
}

void sim_scrape_free(struct sim_scrape *s)
{
	sim_scrape_stop(s);
	for (size_t i = 0; i < s->nb; i++)
		free(s->b[i].state);
	s->nb = 0;
}
