/* sim_load.c - the open-loop engine: arrivals on schedule, journeys over one curl multi, from one thread */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "sim_journey.h"
#include "sim_load.h"
#include "sim_sched.h"

const char *const sim_outcome_names[SIM_OUT_COUNT] = { "ok", "4xx", "429", "5xx", "connect", "other", "unknown" };

#define RESP_MAX (256 * 1024)

struct job {
	struct sim_jstate js;
	int64_t sched_ns;               /* the journey's scheduled start */
	CURL *easy;
	struct curl_slist *hdrs;
	struct sim_jreq rq;
	char *resp;
	size_t resp_len, resp_cap;
	char auth[1100], idem[96];
	struct job *next_free;
	struct job *all_next;           /* every job allocated, for the final sweep */
	bool active;                    /* its easy handle is in the multi */
};

struct engine {
	const struct sim_load_cfg *cfg;
	struct sim_load_stats *st;
	CURLM *multi;
	struct job *free_jobs;
	struct job *all_jobs;
	int64_t t0;
	long inflight;
	const char *ca;                 /* SHOPLAB_TLS_CA: a TLS=1 stack's own CA, or NULL */
};

static volatile sig_atomic_t sim_load_interrupted;

static void
sim_load_on_sigint(int sig)
{
	(void)sig;
	sim_load_interrupted = 1;
}

static int64_t
sim_load_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int
sim_load_stats_init(struct sim_load_stats *st)
{
	memset(st, 0, sizeof(*st));
	for (int j = 0; j < SIM_J_COUNT; j++) {
		if (sim_hist_init(&st->journey[j], 10) != 0)
			return -1;
		sim_series_init(&st->series[j], 6);
	}
	return 0;
}

void
sim_load_stats_free(struct sim_load_stats *st)
{
	for (int j = 0; j < SIM_J_COUNT; j++) {
		sim_hist_free(&st->journey[j]);
		sim_series_free(&st->series[j]);
	}
	free(st->secs);
	free(st->clients);
	free(st->fail_t);
	memset(st, 0, sizeof(*st));
}

static struct sim_sec *
sim_load_sec_at(struct sim_load_stats *st, int64_t sec)
{
	if (sec < 0)
		sec = 0;
	if ((size_t)sec >= st->nsecs) {
		size_t n = (size_t)sec + 64;
		struct sim_sec *s = realloc(st->secs, n * sizeof(*s));

		if (s == NULL)
			return NULL;
		memset(s + st->nsecs, 0, (n - st->nsecs) * sizeof(*s));
		st->secs = s;
		st->nsecs = n;
	}
	return &st->secs[sec];
}

static size_t
sim_load_on_data(char *p, size_t size, size_t n, void *arg)
{
	struct job *j = arg;
	size_t len = size * n;

	if (j->resp_len + len + 1 > j->resp_cap) {
		size_t nc = j->resp_cap * 2;
		char *nr;

		while (nc < j->resp_len + len + 1)
			nc *= 2;
		if (nc > RESP_MAX)
			return len;     /* keep what fits; the rest is dropped */
		if ((nr = realloc(j->resp, nc)) == NULL)
			return 0;
		j->resp = nr;
		j->resp_cap = nc;
	}
	memcpy(j->resp + j->resp_len, p, len);
	j->resp_len += len;
	j->resp[j->resp_len] = '\0';
	return len;
}

static struct job *
sim_load_job_get(struct engine *e)
{
	struct job *j = e->free_jobs;

	if (j) {
		e->free_jobs = j->next_free;
		return j;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return NULL;
	if ((j->easy = curl_easy_init()) == NULL || (j->resp = malloc(4096)) == NULL) {
		curl_easy_cleanup(j->easy);
		free(j);
		return NULL;
	}
	j->resp_cap = 4096;
	j->all_next = e->all_jobs;
	e->all_jobs = j;
	return j;
}

static void
sim_load_job_put(struct engine *e, struct job *j)
{
	sim_journey_free(&j->js);
	curl_slist_free_all(j->hdrs);
	j->hdrs = NULL;
	j->next_free = e->free_jobs;
	e->free_jobs = j;
}

/* Starts the current step's request; returns 1 when the journey has no more steps. */
static int
sim_load_job_send(struct engine *e, struct job *j)
{
	const struct sim_scenario *sc = e->cfg->sc;
	CURL *c = j->easy;

	if (sim_journey_request(&j->js, e->cfg, &j->rq) != 0)
		return 1;
	curl_easy_reset(c);
	curl_slist_free_all(j->hdrs);
	j->hdrs = NULL;
	j->resp_len = 0;
	j->resp[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, j->rq.url);
	if (e->ca)	/* a TLS=1 stack's own CA */
		curl_easy_setopt(c, CURLOPT_CAINFO, e->ca);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sim_load_on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, j);
	curl_easy_setopt(c, CURLOPT_PRIVATE, j);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(sc->timeout_s * 1000));
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
	curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
	if (j->rq.body[0]) {
		j->hdrs = curl_slist_append(j->hdrs, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, j->rq.body);
		if (strcmp(j->rq.method, "POST") != 0)
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, j->rq.method);
	}
	if (j->rq.token) {
		snprintf(j->auth, sizeof(j->auth), "Authorization: Bearer %s", j->rq.token);
		j->hdrs = curl_slist_append(j->hdrs, j->auth);
	}
	if (j->rq.key[0]) {
		snprintf(j->idem, sizeof(j->idem), "Idempotency-Key: %s", j->rq.key);
		j->hdrs = curl_slist_append(j->hdrs, j->idem);
	}
	/* A stale pooled connection must not turn into a request sent twice by curl itself. */
	j->hdrs = curl_slist_append(j->hdrs, "Expect:");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, j->hdrs);
	if (curl_multi_add_handle(e->multi, c) != CURLM_OK)
		return -1;
	j->active = true;
	e->inflight++;
	return 0;
}

/* "POST /orders", "GET /products/{id}": the URL's path after /api/v1, ids replaced. */
static void
sim_load_endpoint_of(const struct sim_jreq *rq, char *out, size_t outsz)
{
	const char *p = strstr(rq->url, "/api/v1"), *q;
	size_t len;

	len = (size_t)snprintf(out, outsz, "%s ", rq->method);
	p = p ? p + 7 : rq->url;
	for (; *p && *p != '?' && len + 5 < outsz; p = q) {
		q = p + 1 + strcspn(p + 1, "/?");
		if (*p == '/' && p[1] >= '0' && p[1] <= '9')
			len += (size_t)snprintf(out + len, outsz - len, "/{id}");
		else
			len += (size_t)snprintf(out + len, outsz - len, "%.*s", (int)(q - p), p);
	}
}

/* Keeps a failure's finish time for the failover figures (up to 1M; beyond, the oldest stay). */
static void
sim_load_record_fail_time(struct sim_load_stats *st, double t)
{
	if (st->nfail == st->fail_cap) {
		size_t cap = st->fail_cap ? st->fail_cap * 2 : 1024;
		double *p;

		if (cap > 1000000 || (p = realloc(st->fail_t, cap * sizeof(*p))) == NULL)
			return;
		st->fail_t = p;
		st->fail_cap = cap;
	}
	st->fail_t[st->nfail++] = t;
}

static void
sim_load_record_error(struct sim_load_stats *st, const struct job *j, enum sim_outcome o, long status)
{
	char ep[48], code[40] = "";
	const char *c;
	size_t k;

	sim_load_endpoint_of(&j->rq, ep, sizeof(ep));
	if (status > 0 && (c = strstr(j->resp, "\"code\":\"")) != NULL)
		snprintf(code, sizeof(code), "%.*s", (int)strcspn(c + 8, "\""), c + 8);
	if (code[0] == '\0')
		snprintf(code, sizeof(code), "%s", status > 0 ? "-" : sim_outcome_names[o]);
	for (k = 0; k < st->nerrs; k++)
		if (st->errs[k].status == status && strcmp(st->errs[k].endpoint, ep) == 0 && strcmp(st->errs[k].code, code) == 0)
			break;
	if (k == st->nerrs) {
		if (k == SIM_ERRKEYS_MAX) {
			st->errs_other++;
			return;
		}
		snprintf(st->errs[k].endpoint, sizeof(st->errs[k].endpoint), "%s", ep);
		snprintf(st->errs[k].code, sizeof(st->errs[k].code), "%s", code);
		st->errs[k].status = (int)status;
		st->nerrs++;
	}
	st->errs[k].n++;
}

/* A journey ends; counted: whether it counts for the browse share (not when cut by a stop). */
static void
sim_load_journey_end_as(struct engine *e, struct job *j, bool ok, int64_t t, bool counted)
{
	struct sim_load_stats *st = e->st;
	int64_t lat_us = (t - j->sched_ns) / 1000, sec = (j->sched_ns - e->t0) / 1000000000;
	struct sim_sec *s = sim_load_sec_at(st, sec);
	enum sim_journey type = j->js.type;

	sim_hist_record(&st->journey[type], (uint64_t)(lat_us > 0 ? lat_us : 0));
	sim_series_record(&st->series[type], (size_t)(sec > 0 ? sec : 0), (uint64_t)(lat_us > 0 ? lat_us : 0));
	st->jok[type] += ok;
	if (s)
		s->jok[type] += ok;
	if (s && type == SIM_J_BROWSE && counted) {
		s->browse_ok += ok;
		s->browse_failed += !ok;
	}
	sim_load_job_put(e, j);
}

static void
sim_load_journey_end(struct engine *e, struct job *j, bool ok, int64_t t)
{
	sim_load_journey_end_as(e, j, ok, t, true);
}

static void
sim_load_start_journey(struct engine *e, int64_t sched_ns, uint64_t idx)
{
	struct sim_sec *s = sim_load_sec_at(e->st, (sched_ns - e->t0) / 1000000000);
	struct job *j;
	int limit = e->cfg->max_inflight ? e->cfg->max_inflight : 20000;

	if (s)
		s->started++;
	if (e->inflight >= limit || (j = sim_load_job_get(e)) == NULL) {
		struct sim_jstate js;

		/* Not sent: counted as a started journey that failed, of the type it would have been. */
		sim_journey_init(&js, e->cfg, idx);
		e->st->jstarted[js.type]++;
		e->st->out[SIM_OUT_OTHER]++;
		if (s) {
			s->out[SIM_OUT_OTHER]++;
			s->jstarted[js.type]++;
		}
		sim_journey_free(&js);
		return;
	}
	sim_journey_init(&j->js, e->cfg, idx);
	j->sched_ns = sched_ns;
	e->st->jstarted[j->js.type]++;
	if (s)
		s->jstarted[j->js.type]++;
	if (sim_load_job_send(e, j) != 0)
		sim_load_journey_end(e, j, false, sim_load_now_ns());
}

static void
sim_load_finish_request(struct engine *e, CURLMsg *m)
{
	struct job *j = NULL;
	long status = 0;
	bool done;
	enum sim_outcome o;
	int64_t t = sim_load_now_ns();
	struct sim_sec *s = sim_load_sec_at(e->st, (t - e->t0) / 1000000000);

	curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&j);
	curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
	curl_multi_remove_handle(e->multi, m->easy_handle);
	j->active = false;
	e->inflight--;
	o = sim_journey_answer(&j->js, e->cfg, e->st, (int)m->data.result, status, j->resp, &done);
	e->st->requests++;
	e->st->out[o]++;
	if (o != SIM_OUT_OK)
		sim_load_record_error(e->st, j, o, m->data.result == CURLE_OK ? status : 0);
	if (o == SIM_OUT_5XX || o == SIM_OUT_CONNECT || o == SIM_OUT_UNKNOWN || o == SIM_OUT_OTHER)
		sim_load_record_fail_time(e->st, (double)(t - e->t0) / 1e9);
	if (s) {
		s->out[o]++;
		s->accepted += status == 202;
	}
	if (done || sim_load_job_send(e, j) != 0)
		sim_load_journey_end(e, j, o == SIM_OUT_OK, t);
}

static void
sim_load_progress(struct engine *e, double t, uint64_t issued)
{
	const struct sim_load_stats *st = e->st;
	uint64_t err = 0;
	char faults[256] = "";

	for (int o = SIM_OUT_4XX; o < SIM_OUT_UNKNOWN; o++)
		err += st->out[o];
	if (e->cfg->describe)
		e->cfg->describe(e->cfg->tick_arg, faults, sizeof(faults));
	fprintf(stderr, "\r\033[K[load] %3.0f/%.0f s  rate %6.1f/s  journeys %7llu  in flight %5ld  ok %8llu  err %6llu  unknown %5llu  %s",
		t, e->cfg->sc->duration_s, sim_scenario_rate_at(e->cfg->sc, t), (unsigned long long)issued, e->inflight,
		(unsigned long long)st->out[SIM_OUT_OK], (unsigned long long)err,
		(unsigned long long)st->out[SIM_OUT_UNKNOWN], faults[0] ? faults : "no faults");
	fflush(stderr);
}

static int
sim_load_loop(struct engine *e)
{
	const struct sim_load_cfg *cfg = e->cfg;
	struct sim_sched sched;
	int64_t due[256], end_ns, next_tick, grace_ns;
	int running, msgs;
	CURLMsg *m;

	sim_sched_init(&sched, cfg->sc->phases, cfg->sc->nphases, cfg->sc->duration_s);
	e->t0 = sim_load_now_ns();
	end_ns = e->t0 + (int64_t)(cfg->sc->duration_s * 1e9);
	grace_ns = (int64_t)((cfg->sc->timeout_s + 2) * 1e9);
	next_tick = e->t0;
	for (;;) {
		int64_t t = sim_load_now_ns(), wake;
		size_t n;
		double ev;

		if (sim_load_interrupted || (cfg->stop && *cfg->stop)) {
			e->st->interrupted = true;
			break;
		}
		while ((n = sim_sched_due(&sched, t - e->t0, due, 256)) > 0)
			for (size_t i = 0; i < n; i++)
				sim_load_start_journey(e, e->t0 + due[i], sched.issued - n + i);
		ev = cfg->next_event ? cfg->next_event(cfg->tick_arg) : -1;
		if (t >= next_tick || (ev >= 0 && t - e->t0 >= (int64_t)(ev * 1e9))) {
			struct sim_sec *s = sim_load_sec_at(e->st, (t - e->t0) / 1000000000);

			if (s)
				s->inflight = (uint32_t)e->inflight;
			if (cfg->tick)
				cfg->tick(cfg->tick_arg, (double)(t - e->t0) / 1e9);
			if (t >= next_tick) {
				if (cfg->progress)
					sim_load_progress(e, (double)(t - e->t0) / 1e9, sched.issued);
				next_tick += 1000000000;
			}
		}
		if ((uint64_t)e->inflight > e->st->max_inflight)
			e->st->max_inflight = (uint64_t)e->inflight;
		if (curl_multi_perform(e->multi, &running) != CURLM_OK)
			return -1;
		while ((m = curl_multi_info_read(e->multi, &msgs)) != NULL)
			if (m->msg == CURLMSG_DONE)
				sim_load_finish_request(e, m);
		t = sim_load_now_ns();
		if (sim_sched_peek(&sched) < 0 && t >= end_ns && (e->inflight == 0 || t >= end_ns + grace_ns))
			break;
		wake = next_tick;
		if (sim_sched_peek(&sched) >= 0 && e->t0 + sim_sched_peek(&sched) < wake)
			wake = e->t0 + sim_sched_peek(&sched);
		if (ev >= 0 && e->t0 + (int64_t)(ev * 1e9) < wake)
			wake = e->t0 + (int64_t)(ev * 1e9);
		if (wake > t) {
			int ms = (int)((wake - t) / 1000000);   /* rounded down: arrivals are not late */

			if (curl_multi_poll(e->multi, NULL, 0, ms > 100 ? 100 : ms, NULL) != CURLM_OK)
				return -1;
		}
	}
	e->st->elapsed_s = (double)(sim_load_now_ns() - e->t0) / 1e9;
	if (cfg->progress)
		fputc('\n', stderr);
	return 0;
}

int
sim_load_run(const struct sim_load_cfg *cfg, struct sim_load_stats *st)
{
	struct engine e = { .cfg = cfg, .st = st };
	struct sigaction sa = { .sa_handler = sim_load_on_sigint }, old;
	int rc = -1;

	e.ca = getenv("SHOPLAB_TLS_CA");
	if (e.ca && *e.ca == '\0')
		e.ca = NULL;

	if ((e.multi = curl_multi_init()) == NULL) {
		fprintf(stderr, "sim: curl_multi_init failed\n");
		return -1;
	}
	curl_multi_setopt(e.multi, CURLMOPT_MAXCONNECTS, 4096L);
	sim_load_interrupted = 0;
	sigemptyset(&sa.sa_mask);
	/* `sim run` handles the signals itself (cfg->stop); `sim load` alone stops on SIGINT here. */
	if (cfg->stop == NULL && sigaction(SIGINT, &sa, &old) != 0) {
		curl_multi_cleanup(e.multi);
		return -1;
	}
	rc = sim_load_loop(&e);
	if (cfg->stop == NULL)
		(void)sigaction(SIGINT, &old, NULL);
	/* Requests still in flight after the grace time are unknown. When the run was interrupted
	 * they are cut: no outcome either way (a checkout's order is settled by the checker as an
	 * unknown's is), and a cut browse journey is neither a success nor a failure. */
	for (struct job *j = e.all_jobs; j; j = j->all_next) {
		if (!j->active)
			continue;
		curl_multi_remove_handle(e.multi, j->easy);
		j->active = false;
		if (st->interrupted) {
			st->cut++;
		} else {
			st->out[SIM_OUT_UNKNOWN]++;
			sim_load_record_error(st, j, SIM_OUT_UNKNOWN, 0);
		}
		if (j->js.type == SIM_J_CHECKOUT && j->js.step == 1) {
			bool done;

			sim_journey_answer(&j->js, cfg, st, CURLE_OPERATION_TIMEDOUT, 0, "", &done);
		}
		sim_load_journey_end_as(&e, j, false, sim_load_now_ns(), !st->interrupted);
	}
	while (e.all_jobs) {
		struct job *j = e.all_jobs;

		e.all_jobs = j->all_next;
		curl_easy_cleanup(j->easy);
		free(j->resp);
		free(j);
	}
	curl_multi_cleanup(e.multi);
	if (st->interrupted)
		fprintf(stderr, "sim: interrupted: %llu requests in flight were cut (no outcome)\n", (unsigned long long)st->cut);
	return rc;
}

void
sim_load_print(const struct sim_load_stats *st, const char *label, FILE *f)
{
	fprintf(f, "%s: %llu requests in %.1f s (%.0f/s), max in flight %llu\n", label,
		(unsigned long long)st->requests, st->elapsed_s,
		st->elapsed_s > 0 ? (double)st->requests / st->elapsed_s : 0.0,
		(unsigned long long)st->max_inflight);
	fprintf(f, "  outcomes:");
	for (int o = 0; o < SIM_OUT_COUNT; o++)
		fprintf(f, " %s %llu", sim_outcome_names[o], (unsigned long long)st->out[o]);
	if (st->interrupted)
		fprintf(f, " (interrupted: %llu in flight cut, no outcome)", (unsigned long long)st->cut);
	fprintf(f, "\n  checkouts: %zu keys, %llu declined, %llu out of stock, %llu pending (202)\n",
		st->nclients, (unsigned long long)st->declined, (unsigned long long)st->out_of_stock,
		(unsigned long long)st->pending);
	for (int j = 0; j < SIM_J_COUNT; j++) {
		const struct sim_hist *h = &st->journey[j];

		if (st->jstarted[j] == 0)
			continue;
		fprintf(f, "  %-15s %7llu started %7llu ok   p50 %8.2f ms  p99 %8.2f ms  max %8.2f ms\n",
			sim_journey_names[j], (unsigned long long)st->jstarted[j], (unsigned long long)st->jok[j],
			(double)sim_hist_percentile(h, 50) / 1000, (double)sim_hist_percentile(h, 99) / 1000,
			(double)h->max / 1000);
	}
}
