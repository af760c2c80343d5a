/* sim_scrape.c - a thread that scrapes breaker states from each service's metrics once a second */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sim_check.h"
#include "sim_http.h"
#include "sim_scrape.h"

/*
 * The stack's services: SHOPLAB_SERVICES from run/shoplab.env (stack.sh writes the one list
 * there), at most 16. Returns how many names it put in names (each at most 31 bytes).
 */
static size_t services_of_stack(char names[16][32])
{
	const char *v = getenv("SHOPLAB_SERVICES"), *p, *q;
	size_t n = 0;

	for (p = v ? v : ""; *p != '\0' && n < 16; p = q) {
		while (*p == ' ')
			p++;
		for (q = p; *q != '\0' && *q != ' '; q++)
			;
		if (q > p && (size_t)(q - p) < 32) {
			memcpy(names[n], p, (size_t)(q - p));
			names[n++][q - p] = '\0';
		}
	}
	return n;
}

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

/* Sums the samples of metric whose labels hold must (NULL: every sample). */
static uint64_t sum_samples(const char *text, const char *metric, const char *must)
{
	size_t mlen = strlen(metric);
	uint64_t sum = 0;

	for (const char *p = text; (p = strstr(p, metric)) != NULL; p += mlen) {
		const char *end;

		if ((p != text && p[-1] != '\n') || p[mlen] != '{' || (end = strchr(p, '}')) == NULL)
			continue;
		if (must && (strstr(p, must) == NULL || strstr(p, must) > end))
			continue;
		sum += strtoull(end + 1, NULL, 10);
	}
	return sum;
}

void sim_scrape_counters(struct sim_scrape *s, size_t svc, const char *text)
{
	uint64_t r = sum_samples(text, "shoplab_dep_retries_total", NULL);
	uint64_t o = sum_samples(text, "shoplab_dep_breaker_transitions_total", "to=\"open\"");

	if (svc >= sizeof(s->seen) / sizeof(s->seen[0]))
		return;
	if (s->seen[svc]) {
		/* A counter that went down was reset by a restart: all of it is new. */
		s->retries += r >= s->last_retries[svc] ? r - s->last_retries[svc] : r;
		s->breaker_opens += o >= s->last_opens[svc] ? o - s->last_opens[svc] : o;
	}
	s->seen[svc] = true;
	s->last_retries[svc] = r;
	s->last_opens[svc] = o;
}

static void record_pending(struct sim_scrape *s, size_t sec, int64_t n)
{
	if (sec >= s->npending) {
		size_t cap = sec + 64;
		int32_t *np = realloc(s->pending, cap * sizeof(*np));

		if (np == NULL)
			return;
		for (size_t i = s->npending; i < cap; i++)
			np[i] = -1;
		s->pending = np;
		s->npending = cap;
	}
	s->pending[sec] = (int32_t)(n > INT32_MAX ? INT32_MAX : n);
}

static void *run(void *arg)
{
	struct sim_scrape *s = arg;
	static char buf[256 * 1024];
	char url[512], services[16][32];
	size_t nservices = services_of_stack(services);

	for (;;) {
		double t;

		pthread_mutex_lock(&s->mu);
		if (s->stop) {
			pthread_mutex_unlock(&s->mu);
			break;
		}
		pthread_mutex_unlock(&s->mu);
		t = mono();
		for (size_t i = 0; i < nservices; i++) {
			long st;

			snprintf(url, sizeof(url), "%s/_ops/%s/metrics", s->internal, services[i]);
			st = sim_http("GET", url, NULL, NULL, 800, buf, sizeof(buf));
			pthread_mutex_lock(&s->mu);
			s->scrapes++;
			if (st == 200) {
				sim_scrape_parse(s, buf, (size_t)(t - s->t0));
				sim_scrape_counters(s, i, buf);
			} else {
				s->failures++;
			}
			pthread_mutex_unlock(&s->mu);
		}
		if (s->pending_min_id > 0) {
			char err[256];
			int64_t n = sim_check_count_pending(s->pending_min_id, err, sizeof(err));

			pthread_mutex_lock(&s->mu);
			if (n >= 0)
				record_pending(s, (size_t)(t - s->t0), n);
			pthread_mutex_unlock(&s->mu);
		}
		t = 1.0 - (mono() - t);
		if (t > 0)
			usleep((useconds_t)(t * 1e6));
	}
	return NULL;
}

int sim_scrape_start(struct sim_scrape *s, const char *internal_url, int64_t pending_min_id)
{
	memset(s, 0, sizeof(*s));
	s->pending_min_id = pending_min_id;
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
	free(s->pending);
	s->pending = NULL;
	s->npending = 0;
}
