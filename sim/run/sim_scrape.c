/* sim_scrape.c - a thread that scrapes breaker states from each service's metrics once a second */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sim_clock.h"
#include "sim_check.h"
#include "sim_http.h"
#include "sim_scrape.h"

/*
 * The stack's services: SHOPLAB_SERVICES from run/shoplab.env (stack.sh writes the one list
 * there), at most 16. Returns how many names it put in names (each at most 31 bytes).
 */
static size_t
sim_scr_services_of_stack(char names[16][32])
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

/* Copies label `name`'s value from a {a="x",b="y"} block. */
static int
sim_scr_label(const char *labels, const char *name, char *out, size_t outsz)
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

static void
sim_scr_record(struct sim_scrape *s, const char *name, size_t sec, int state)
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

void
sim_scrape_parse(struct sim_scrape *s, const char *text, size_t sec)
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
		if ((p == text || p[-1] == '\n') && sim_scr_label(labels, "service", svc, sizeof(svc)) == 0 &&
		    sim_scr_label(labels, "dep", dep, sizeof(dep)) == 0) {
			snprintf(name, sizeof(name), "%s\xe2\x86\x92%s", svc, dep);
			sim_scr_record(s, name, sec, atoi(end + 1));
		}
		p = end;
	}
}

/* Sums the samples of metric whose labels hold must (NULL: every sample). */
static uint64_t
sim_scr_sum_samples(const char *text, const char *metric, const char *must)
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

void
sim_scrape_counters(struct sim_scrape *s, size_t svc, const char *text)
{
	uint64_t r = sim_scr_sum_samples(text, "shoplab_dep_retries_total", NULL);
	uint64_t o = sim_scr_sum_samples(text, "shoplab_dep_breaker_transitions_total", "to=\"open\"");

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

int
sim_evseries_set(struct sim_evseries *x, size_t sec, double v)
{
	if (sec >= x->n) {
		size_t cap = sec + 64;
		double *nv = realloc(x->v, cap * sizeof(*nv));

		if (nv == NULL)
			return -1;
		for (size_t i = x->n; i < cap; i++)
			nv[i] = NAN;
		x->v = nv;
		x->n = cap;
	}
	x->v[sec] = v;
	return 0;
}

/* The value of metric{service="svc"...} (the first sample), or NaN. */
static double
sim_scr_sample(const char *text, const char *metric, const char *svc)
{
	char pat[160];
	const char *p;

	snprintf(pat, sizeof(pat), "\n%s{service=\"%s\"", metric, svc);
	if ((p = strstr(text, pat)) == NULL || (p = strchr(p, '}')) == NULL)
		return NAN;
	return strtod(p + 1, NULL);
}

static struct sim_evseries *
sim_scr_series_of(struct sim_evseries *v, size_t *n, const char *svc)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp(v[i].name, svc) == 0)
			return &v[i];
	if (*n >= SIM_SERIES_MAX)
		return NULL;
	snprintf(v[*n].name, sizeof(v[*n].name), "%s", svc);
	return &v[(*n)++];
}

void
sim_scrape_events(struct sim_scrape *s, const char *svc, const char *text, size_t sec)
{
	struct sim_events_scrape *e = &s->ev;
	double depth = sim_scr_sample(text, "shoplab_events_outbox_depth", svc);
	double sum = sim_scr_sample(text, "shoplab_events_lag_seconds_sum", svc);
	double count = sim_scr_sample(text, "shoplab_events_lag_seconds_count", svc);
	struct sim_evseries *x;

	if (!isnan(depth) && (x = sim_scr_series_of(e->outbox, &e->noutbox, svc)) != NULL)
		(void)sim_evseries_set(x, sec, depth);
	if (!isnan(sum) && !isnan(count) && (x = sim_scr_series_of(e->lag, &e->nlag, svc)) != NULL) {
		size_t k = (size_t)(x - e->lag);
		double dc = count - e->last_lag_count[k], ds = sum - e->last_lag_sum[k];

		/* The first scrape is the base; a counter that went down is a restart: all of it is new. */
		if (x->n > 0 || e->last_lag_count[k] > 0) {
			if (dc < 0) {
				dc = count;
				ds = sum;
			}
			(void)sim_evseries_set(x, sec, dc > 0 ? ds / dc : NAN);
		} else {
			(void)sim_evseries_set(x, sec, NAN);
		}
		e->last_lag_count[k] = count;
		e->last_lag_sum[k] = sum;
	}
}

static void
sim_scr_record_pending(struct sim_scrape *s, size_t sec, int64_t n)
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

static void *
sim_scr_run(void *arg)
{
	struct sim_scrape *s = arg;
	static char buf[256 * 1024];
	char url[512], services[16][32];
	size_t nservices = sim_scr_services_of_stack(services);

	for (size_t i = 0; i < nservices; i++)
		s->ev.shipping |= strcmp(services[i], "shipping") == 0;

	for (;;) {
		double t;

		pthread_mutex_lock(&s->mu);
		if (s->stop) {
			pthread_mutex_unlock(&s->mu);
			break;
		}
		pthread_mutex_unlock(&s->mu);
		t = sim_clock_mono_s();
		for (size_t i = 0; i < nservices; i++) {
			long st;

			snprintf(url, sizeof(url), "%s/_ops/%s/metrics", s->internal, services[i]);
			st = sim_http("GET", url, NULL, NULL, 800, buf, sizeof(buf));
			pthread_mutex_lock(&s->mu);
			s->scrapes++;
			if (st == 200) {
				sim_scrape_parse(s, buf, (size_t)(t - s->t0));
				sim_scrape_counters(s, i, buf);
				sim_scrape_events(s, services[i], buf, (size_t)(t - s->t0));
			} else {
				s->failures++;
			}
			pthread_mutex_unlock(&s->mu);
		}
		if (s->pending_min_id > 0) {
			char err[256];
			int64_t n = sim_check_count_pending(s->pending_min_id, err, sizeof(err));

			int64_t un = 0;
			double age = 0;
			int ur = s->ev.shipping ? sim_check_count_unshipped(s->pending_min_id, &un, &age, err, sizeof(err)) : -1;

			pthread_mutex_lock(&s->mu);
			if (n >= 0)
				sim_scr_record_pending(s, (size_t)(t - s->t0), n);
			if (ur == 0) {
				(void)sim_evseries_set(&s->ev.unshipped, (size_t)(t - s->t0), (double)un);
				(void)sim_evseries_set(&s->ev.unshipped_age, (size_t)(t - s->t0), age);
			}
			pthread_mutex_unlock(&s->mu);
		}
		t = 1.0 - (sim_clock_mono_s() - t);
		if (t > 0)
			usleep((useconds_t)(t * 1e6));
	}
	return NULL;
}

int
sim_scrape_start(struct sim_scrape *s, const char *internal_url, int64_t pending_min_id)
{
	memset(s, 0, sizeof(*s));
	s->pending_min_id = pending_min_id;
	snprintf(s->internal, sizeof(s->internal), "%s", internal_url);
	if (pthread_mutex_init(&s->mu, NULL) != 0)
		return -1;
	s->t0 = sim_clock_mono_s();
	if (pthread_create(&s->th, NULL, sim_scr_run, s) != 0)
		return -1;
	s->running = true;
	return 0;
}

void
sim_scrape_stop(struct sim_scrape *s)
{
	if (!s->running)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->th, NULL);
	s->running = false;
}

void
sim_scrape_free(struct sim_scrape *s)
{
	sim_scrape_stop(s);
	for (size_t i = 0; i < s->nb; i++)
		free(s->b[i].state);
	s->nb = 0;
	free(s->pending);
	s->pending = NULL;
	s->npending = 0;
	for (size_t i = 0; i < s->ev.noutbox; i++)
		free(s->ev.outbox[i].v);
	for (size_t i = 0; i < s->ev.nlag; i++)
		free(s->ev.lag[i].v);
	free(s->ev.unshipped.v);
	free(s->ev.unshipped_age.v);
	memset(&s->ev, 0, sizeof(s->ev));
}
