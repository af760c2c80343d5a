/* sim_run.c - `sim run`: checks, data set-up, load with the fault timeline, drain, checks, report (twice with --compare) */
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "sim_clock.h"
#include "sim.h"
#include "sim_check.h"
#include "sim_env.h"
#include "sim_catalog.h"
#include "sim_failover.h"
#include "sim_faults.h"
#include "sim_http.h"
#include "sim_hypo.h"
#include "sim_junit.h"
#include "sim_load.h"
#include "sim_report.h"
#include "sim_scrape.h"
#include "sim_validate.h"

/* Exit statuses (README "sim run"). */
enum { EXIT_HELD = 0, EXIT_BROKE = 1, EXIT_BAD = 2, EXIT_NOT_VALID = 3 };

/* The only thing the signal handler touches: which signal asked us to stop (0: none). */
static volatile sig_atomic_t sim_run_stop_sig;

static void
sim_run_on_signal(int sig)
{
	sim_run_stop_sig = sig;
}

enum phase { PH_SETUP, PH_LOAD, PH_DRAIN, PH_CHECK, PH_REPORT };
static const char *const sim_run_phase_names[] = { "set-up", "load", "drain", "checking", "report" };

struct run {
	char label[32];
	struct sim_load_stats st;
	struct sim_ck_data ck_data;
	struct sim_ck_result ck;
	bool checked, scraping, setup_failed;
	char check_error[512];
	struct sim_scrape scrape;
	struct sim_faults faults;
	const char *interrupted_in;     /* the phase a signal stopped, or NULL */
	double interrupted_at;          /* seconds into the load */
	char why[1024];                 /* what made the run not valid */
	struct sim_failover failover[SIM_MAX_FAULTS];   /* per applied fault (sim_failover.h) */
	char events_drain[512];         /* "drained", or what was left when the wait ended */
	double events_drain_s;          /* how long the events drain took */
	long long started_unix;         /* wall clock at the start of the load (dead letters after it) */
	char invalid_why[512];          /* the load cannot be judged (no request, a journey with none) */
	struct sim_hy_result hy;        /* the steady-state hypothesis, judged after the load */
	bool judged;
	int drained;                    /* after the drain: 1 empty outboxes and no pending order, 2 not, 0 unknown */
	double drained_in_s;            /* from the last fault's end (or the load's) to drained */
	double drained_from_s;          /* that end, s since the load began */
};

struct serve {
	int fd;
	int port;                       /* the bound port (a free one when asked for 0) */
	pthread_t th;
	bool running;
	volatile sig_atomic_t stop;
	char path[1200];                /* the live page it serves */
};

struct ctx {
	const struct sim_scenario *sc;
	struct run runs[2];
	size_t nruns;                   /* runs begun (the current one included) */
	struct sim_report_meta meta;
	char dir[1024], live_path[1200];
	bool progress, compare;
	enum phase phase;
	double phase_t0;                /* CLOCK_MONOTONIC seconds when the phase began */
	double t_load;                  /* seconds into the load at the last tick */
	long last_live;                 /* last second the live page was written for */
	struct serve srv;
};

static int
sim_run_mkdirs(const char *path)
{
	char p[1024];

	snprintf(p, sizeof(p), "%s", path);
	for (char *s = p + 1; *s; s++)
		if (*s == '/') {
			*s = '\0';
			if (mkdir(p, 0755) != 0 && errno != EEXIST)
				return -1;
			*s = '/';
		}
	return mkdir(p, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static const char *
sim_run_status(const struct run *r)
{
	if (r->interrupted_in)
		return "interrupted";
	if (r->setup_failed)
		return "set-up failed";
	if (r->faults.invalid[0] || r->invalid_why[0])
		return "invalid";
	return "valid";
}

/* The report's view of the runs so far. */
static size_t
sim_run_report_runs(struct ctx *c, struct sim_report_run *rep)
{
	for (size_t i = 0; i < c->nruns; i++) {
		struct run *r = &c->runs[i];

		rep[i] = (struct sim_report_run){ r->label, c->sc, &r->st, r->checked ? &r->ck : NULL, r->check_error,
						  &r->scrape, r->faults.log, sim_run_status(r), r->why, r->faults.applied_from,
						  r->faults.applied_to, strcmp(r->label, "resilience off") == 0, r->failover,
						  r->checked ? &r->ck_data.ev : NULL, r->events_drain[0] ? r->events_drain : NULL,
						  r->events_drain_s, r->judged ? &r->hy : NULL, r->drained, r->drained_in_s,
						  r->drained_from_s };
	}
	return c->nruns;
}

/* Rewrites the live page (at most once a second unless forced). Runs on the main thread only. */
static void
sim_run_live(struct ctx *c, bool force)
{
	struct sim_report_run rep[2];
	struct run *r;
	double el = sim_clock_mono_s() - c->phase_t0;
	char err[256];
	size_t n;

	if (c->nruns == 0 || c->live_path[0] == '\0' || (!force && (long)el == c->last_live))
		return;
	r = &c->runs[c->nruns - 1];
	c->last_live = (long)el;
	c->meta.phase = sim_run_phase_names[c->phase];
	c->meta.elapsed_s = c->phase == PH_LOAD ? c->t_load : el;
	c->meta.total_s = c->phase == PH_LOAD ? c->sc->duration_s : c->phase == PH_DRAIN ? c->sc->drain_s : 0;
	n = sim_run_report_runs(c, rep);
	if (r->scraping)
		pthread_mutex_lock(&r->scrape.mu);
	if (sim_report_write_html(c->live_path, rep, n, &c->meta, err, sizeof(err)) != 0 && force)
		fprintf(stderr, "sim run: live view: %s\n", err);
	if (r->scraping)
		pthread_mutex_unlock(&r->scrape.mu);
	c->meta.phase = NULL;
}

static void
sim_run_enter(struct ctx *c, enum phase p)
{
	c->phase = p;
	c->phase_t0 = sim_clock_mono_s();
	c->last_live = -1;
	sim_run_live(c, true);
}

static void
sim_run_tick(void *arg, double t)
{
	struct ctx *c = arg;

	c->t_load = t;
	sim_faults_tick(&c->runs[c->nruns - 1].faults, t);
	sim_run_live(c, false);
}

static double
sim_run_next_event(void *arg)
{
	struct ctx *c = arg;

	return sim_faults_next(&c->runs[c->nruns - 1].faults);
}

static void
sim_run_describe(void *arg, char *buf, size_t bufsz)
{
	struct ctx *c = arg;

	sim_faults_describe(&c->runs[c->nruns - 1].faults, buf, bufsz);
}

/* Browse outcomes per fault window as applied, for the "untouched requests kept working" invariant. */
static int
sim_run_windows(const struct sim_scenario *sc, const struct run *r, struct sim_ck_data *d)
{
	d->windows = calloc(sc->nfaults + 1, sizeof(*d->windows));
	if (d->windows == NULL)
		return -1;
	for (size_t i = 0; i < sc->nfaults; i++) {
		const struct sim_fault *ft = &sc->faults[i];
		struct sim_ck_window *w;
		double from, to;

		sim_fault_applied(&r->faults, i, &from, &to);
		if (from < 0)
			continue;
		if (to < 0)
			to = r->st.elapsed_s;
		w = &d->windows[d->nwindows++];
		snprintf(w->label, sizeof(w->label), "%s %s %.0f-%.0f s", ft->target,
			 ft->kind == SIM_FAULT_TOXIC ? ft->type : sim_fault_kind_names[ft->kind], from, to);
		w->touches_reads = sim_fault_touches_reads(ft);
		/* A second after the start: requests scheduled before the fault are not its concern. */
		for (size_t s = (size_t)ceil(from); (double)s < to && s < r->st.nsecs; s++) {
			w->ok += r->st.secs[s].browse_ok;
			w->failed += r->st.secs[s].browse_failed;
		}
	}
	return 0;
}

/*
 * Each applied fault's failover: its window runs from when it applied to 10 s after it was
 * undone (a node that rejoins can disturb too), or to the next fault, or the end of the load.
 */
static void
sim_run_failovers(struct ctx *c, struct run *r)
{
	const struct sim_scenario *sc = c->sc;

	for (size_t i = 0; i < sc->nfaults; i++) {
		double from, to, end = r->st.elapsed_s;

		sim_fault_applied(&r->faults, i, &from, &to);
		if (from < 0) {
			memset(&r->failover[i], 0, sizeof(r->failover[i]));
			continue;
		}
		if (to >= 0 && to + 10 < end)
			end = to + 10;
		for (size_t k = 0; k < sc->nfaults; k++) {
			double f2, t2;

			sim_fault_applied(&r->faults, k, &f2, &t2);
			if (k != i && f2 > from && f2 < end)
				end = f2;
		}
		sim_failover_of(r->st.fail_t, r->st.nfail, from, end, SIM_FAILOVER_GAP_S, &r->failover[i]);
		for (int j = 0; j < SIM_J_COUNT; j++)
			for (size_t s = (size_t)from; (double)s < end; s++) {
				const struct sim_hist *h = sim_series_at(&r->st.series[j], s);

				if (h && h->total && (double)h->max / 1000 > r->failover[i].slowest_ms) {
					r->failover[i].slowest_ms = (double)h->max / 1000;
					r->failover[i].slowest_at_s = (double)s;
				}
			}
	}
}

static void
sim_run_interrupted(struct ctx *c, struct run *r)
{
	if (r->interrupted_in)
		return;
	r->interrupted_in = sim_run_phase_names[c->phase];
	r->interrupted_at = c->phase == PH_LOAD ? c->t_load : sim_clock_mono_s() - c->phase_t0;
	snprintf(r->why, sizeof(r->why), "interrupted by %s during the %s (%.1f s into it)%s%s", strsignal(sim_run_stop_sig),
		 r->interrupted_in, r->interrupted_at,
		 r->st.cut ? "; requests in flight were cut and have no outcome" : "",
		 c->phase == PH_LOAD || c->phase == PH_DRAIN ? "; the checks ran as during load (pending orders and "
			"held stock allowed), so they are not a verdict on the experiment" : "");
}

/* Drains for sc->drain_s, a second at a time, until a signal. */
static void
sim_run_drain(struct ctx *c, struct run *r)
{
	double end = sim_clock_mono_s() + c->sc->drain_s;

	while (!sim_run_stop_sig && sim_clock_mono_s() < end) {
		double left = end - sim_clock_mono_s();
		struct timespec ts = { 0, (long)((left < 0.25 ? left : 0.25) * 1e9) };
		int pend = -1;

		(void)nanosleep(&ts, NULL);     /* a signal cuts it short; the loop checks the flag */
		sim_run_live(c, false);
		if (c->progress) {
			pthread_mutex_lock(&r->scrape.mu);
			for (size_t s = r->scrape.npending; s > 0 && pend < 0; s--)
				pend = r->scrape.pending[s - 1];
			pthread_mutex_unlock(&r->scrape.mu);
			fprintf(stderr, "\r\033[K[drain] %3.0f/%.0f s  orders pending %d", sim_clock_mono_s() - c->phase_t0, c->sc->drain_s, pend);
		}
	}
	if (c->progress)
		fputc('\n', stderr);
}

/*
 * After the drain: waits (up to events_drain_s) until every outbox is empty and every confirmed
 * order of the run is shipped, showing what is left. A timeout passes nothing: the checks that
 * follow fail and name what is stuck.
 */
static void
sim_run_drain_events(struct ctx *c, struct run *r, int64_t min_id)
{
	double t0 = sim_clock_mono_s(), last = -10;
	char desc[512] = "", err[512];
	int64_t outbox = 0, unshipped = 0;
	int st = 1;

	while (!sim_run_stop_sig && (st = sim_check_events_pending(min_id, &outbox, &unshipped, desc, sizeof(desc))) > 0 &&
	       sim_clock_mono_s() - t0 < c->sc->events_drain_s) {
		sim_run_live(c, false);
		if (c->progress)
			fprintf(stderr, "\r\033[K[drain] events %3.0f/%.0f s  %s", sim_clock_mono_s() - t0, c->sc->events_drain_s, desc);
		else if (sim_clock_mono_s() - last >= 5) {
			fprintf(stderr, "[drain] events %3.0f/%.0f s  %s\n", sim_clock_mono_s() - t0, c->sc->events_drain_s, desc);
			last = sim_clock_mono_s();
		}
		usleep(250000);
	}
	if (c->progress)
		fputc('\n', stderr);
	if (st < 0) {
		snprintf(err, sizeof(err), "%s", desc);
		fprintf(stderr, "[drain] events: cannot read the event tables: %s\n", err);
	} else if (st > 0 && !sim_run_stop_sig) {
		fprintf(stderr, "[drain] events: NOT DRAINED after %.0f s: %s (the checks name them)\n",
			c->sc->events_drain_s, desc);
	} else if (st == 0) {
		fprintf(stderr, "[drain] events: empty at %.1f s of the events drain (outboxes empty, every confirmed "
			"order shipped)\n", sim_clock_mono_s() - t0);
	}
	snprintf(r->events_drain, sizeof(r->events_drain), "%s", st == 0 ? "drained" : st < 0 ? "unreadable" : desc);
	r->events_drain_s = sim_clock_mono_s() - t0;
}

static int
sim_run_start_scrape(struct run *r, int64_t min_id)
{
	sigset_t set, old;
	int rc;

	/* Signals go to the main thread, whose loops look at the flag. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (pthread_sigmask(SIG_BLOCK, &set, &old) != 0)
		return -1;
	rc = sim_scrape_start(&r->scrape, sim_env("SHOPLAB_GATEWAY_INTERNAL", "http://127.0.0.1:8081"), min_id);
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc == 0)
		r->scraping = true;
	return rc;
}

/*
 * "Drained in": from the last fault's end (the load's end without faults) to the first second
 * from which every outbox is empty and no order of the run is pending, in the scraper's samples;
 * drained only when the events drain ended empty too.
 */
static void
sim_run_drained_in(struct ctx *c, struct run *r)
{
	double from = -1, at;

	for (size_t i = 0; i < c->sc->nfaults; i++)
		if (r->faults.applied_from[i] >= 0) {
			double to = r->faults.applied_to[i] >= 0 ? r->faults.applied_to[i] : r->st.elapsed_s;

			if (to > from)
				from = to;
		}
	if (from < 0)
		from = r->st.elapsed_s;
	r->drained_from_s = from;
	at = sim_hy_drained_at(&r->scrape, from);
	r->drained = strcmp(r->events_drain, "drained") == 0 && at >= 0 ? 1 : r->events_drain[0] && strcmp(r->events_drain, "unreadable") != 0 ? 2 : 0;
	r->drained_in_s = at >= 0 ? at - from : -1;
	if (r->drained == 1)
		fprintf(stderr, "[drain] drained %.0f s after the %s ended (at %.0f s): outboxes empty, no order pending\n",
			r->drained_in_s, c->sc->nfaults ? "last fault" : "load", from);
	else if (r->drained == 2)
		fprintf(stderr, "[drain] NOT drained within %.0f s of events drain after the %s ended (at %.0f s)\n",
			c->sc->events_drain_s, c->sc->nfaults ? "last fault" : "load", from);
}

/* One experiment. Whatever happens, r says how far it got and why it stopped. */
static void
sim_run_one_run(struct ctx *c, struct run *r)
{
	const struct sim_scenario *sc = c->sc;
	struct sim_user *users = calloc((size_t)sc->users, sizeof(*users));
	struct sim_load_cfg cfg;
	char err[512], nonce[32];
	int64_t min_id = -1;

	sim_run_enter(c, PH_SETUP);
	if (users == NULL) {
		r->setup_failed = true;
		snprintf(r->why, sizeof(r->why), "set-up failed: out of memory");
		goto out;
	}
	snprintf(nonce, sizeof(nonce), "%lx%x", (unsigned long)time(NULL), (unsigned)getpid());
	fprintf(stderr, "[set-up] %s: %d users and the stock of products %lld-%lld\n", r->label, sc->users,
		(long long)sc->product_lo, (long long)sc->product_hi);
	if (sim_setup_data(sc, sim_env("SHOPLAB_GATEWAY_URL", "http://127.0.0.1:8080"), nonce, users, &sim_run_stop_sig, err,
			   sizeof(err)) != 0 || (min_id = sim_check_max_order_id(err, sizeof(err))) < 0) {
		if (sim_run_stop_sig) {
			sim_run_interrupted(c, r);
		} else {
			r->setup_failed = true;
			snprintf(r->why, sizeof(r->why), "set-up failed before the load: %s", err);
			fprintf(stderr, "sim run: %s\n", r->why);
		}
		goto out;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.sc = sc;
	cfg.gateway = sim_env("SHOPLAB_GATEWAY_URL", "http://127.0.0.1:8080");
	cfg.users = users;
	cfg.nusers = (size_t)sc->users;
	cfg.nonce = nonce;
	cfg.progress = c->progress;
	cfg.stop = &sim_run_stop_sig;
	cfg.tick = sim_run_tick;
	cfg.next_event = sim_run_next_event;
	cfg.describe = sim_run_describe;
	cfg.tick_arg = c;
	if (sim_run_start_scrape(r, min_id + 1) != 0) {
		r->setup_failed = true;
		snprintf(r->why, sizeof(r->why), "set-up failed: cannot start the metrics scraper");
		goto out;
	}
	sim_run_enter(c, PH_LOAD);
	r->started_unix = (long long)time(NULL);
	fprintf(stderr, "[load] %s: %.0f s\n", r->label, sc->duration_s);
	if (sim_load_run(&cfg, &r->st) != 0) {
		r->setup_failed = true;
		snprintf(r->why, sizeof(r->why), "the load generator could not start (see above)");
	}
	if (sim_run_stop_sig)
		sim_run_interrupted(c, r);
	sim_run_failovers(c, r);
	fprintf(stderr, "[drain] %s: faults off, restoring the stack%s\n", r->label,
		r->interrupted_in ? " (interrupted: no drain)" : ", then draining");
	/* Whatever stopped the load, the stack is put back: SIGCONT, toxics reset, stack.sh up. */
	if (sim_faults_finish(&r->faults) != 0)
		fprintf(stderr, "sim run: scripts/stack.sh up failed (see %s/logs/sim-stack.log)\n", sim_env_run_dir());
	if (!r->interrupted_in) {
		sim_run_enter(c, PH_DRAIN);
		sim_run_drain(c, r);
		if (!sim_run_stop_sig)
			sim_run_drain_events(c, r, min_id + 1);
		if (!sim_run_stop_sig)
			sim_faults_confirm_late(&r->faults, 15);
		if (sim_run_stop_sig)
			sim_run_interrupted(c, r);
	}
	sim_run_enter(c, PH_CHECK);
	fprintf(stderr, "[checking] %s\n", r->label);
	sim_scrape_stop(&r->scrape);
	r->scraping = false;
	r->ck_data.min_order_id = min_id + 1;
	r->ck_data.after_drain = r->interrupted_in == NULL;
	if (sim_check_read_db(&r->ck_data, r->check_error, sizeof(r->check_error)) != 0 ||
	    sim_check_read_events(&r->ck_data, r->started_unix, r->check_error, sizeof(r->check_error)) != 0 ||
	    sim_run_windows(sc, r, &r->ck_data) != 0) {
		fprintf(stderr, "sim run: check: %s\n", r->check_error);
	} else {
		r->ck_data.clients = r->st.clients;
		r->ck_data.nclients = r->st.nclients;
		r->checked = sim_check_eval(&r->ck_data, &r->ck) == 0;
		r->ck_data.clients = NULL;      /* owned by the stats */
		r->ck_data.nclients = 0;
	}
	if (sim_run_stop_sig)
		sim_run_interrupted(c, r);
	/* Liveness: a load that sent nothing, or a journey of the mix that never started, proves
	 * nothing (INVALID); else the steady-state hypothesis is judged on the samples. */
	if (!r->interrupted_in && !r->setup_failed) {
		(void)sim_hy_invalid(sc, &r->st, r->invalid_why, sizeof(r->invalid_why));
		sim_hy_eval(sc, &r->st, r->faults.applied_from, r->faults.applied_to, &r->hy);
		r->judged = true;
		sim_run_drained_in(c, r);
	}
	if (!r->interrupted_in && !r->setup_failed && r->faults.invalid[0])
		snprintf(r->why, sizeof(r->why), "a fault did not apply as planned: %s", r->faults.invalid);
	else if (!r->interrupted_in && !r->setup_failed && r->invalid_why[0])
		snprintf(r->why, sizeof(r->why), "%s", r->invalid_why);
out:
	if (r->scraping) {
		sim_scrape_stop(&r->scrape);
		r->scraping = false;
	}
	free(users);
}

static void
sim_run_summary(struct ctx *c)
{
	struct sim_report_run rep[2];

	for (size_t i = 0; i < c->nruns; i++) {
		struct run *r = &c->runs[i];
		const char *st = sim_run_status(r);
		char label[160];

		if (strcmp(st, "valid") != 0)
			printf("RUN %s (%s): %s\n", strcmp(st, "interrupted") == 0 ? "INTERRUPTED" :
			       strcmp(st, "invalid") == 0 ? "INVALID" : "SET-UP FAILED", r->label, r->why);
		snprintf(label, sizeof(label), "%.64s (%.32s)", c->sc->name, r->label);
		sim_load_print(&r->st, label, stdout);
		if (r->checked)
			sim_check_print(&r->ck, stdout);
		else
			printf("invariants: NOT CHECKED: %s\n", r->check_error[0] ? r->check_error : "the run stopped before the checks");
		if (r->judged)
			sim_hy_print(c->sc, &r->hy, stdout);
		if (strcmp(st, "valid") != 0 && r->checked)
			printf("(the run is %s: the invariants above are not a verdict on the experiment)\n", st);
		if (r->faults.errors)
			printf("fault timeline: %u actions failed or were not confirmed:\n%s", r->faults.errors, r->faults.log);
		for (size_t k = 0; k < c->sc->nfaults; k++) {
			const struct sim_fault *ft = &c->sc->faults[k];
			const struct sim_failover *fo = &r->failover[k];
			double from, to;

			sim_fault_applied(&r->faults, k, &from, &to);
			if (from < 0)
				continue;
			if (!fo->errors)
				printf("failover: %s %s at %.1f s: no request failed; slowest journey %.0f ms (scheduled at %.0f s)\n",
				       ft->target, ft->kind == SIM_FAULT_TOXIC ? ft->type : sim_fault_kind_names[ft->kind], from,
				       fo->slowest_ms, fo->slowest_at_s);
			else
				printf("failover: %s %s at %.1f s: first error at %.1f s, last at %.1f s: failover %.1f s, "
				       "%llu requests failed in it, %llu in the fault's window; slowest journey %.0f ms (at %.0f s)\n",
				       ft->target, ft->kind == SIM_FAULT_TOXIC ? ft->type : sim_fault_kind_names[ft->kind], from,
				       fo->first_error_s, fo->recovered_s, fo->failover_s,
				       (unsigned long long)fo->burst_failed, (unsigned long long)fo->failed,
				       fo->slowest_ms, fo->slowest_at_s);
		}
	}
	sim_run_report_runs(c, rep);
	for (size_t i = 0; i < c->nruns; i++) {
		char line[640];

		sim_report_verdict(&rep[i], line, sizeof(line));
		printf("verdict%s%s%s: %s\n", c->nruns > 1 ? " (" : "", c->nruns > 1 ? c->runs[i].label : "",
		       c->nruns > 1 ? ")" : "", line);
	}
	printf("report: %s/report.html\n", c->dir);
}

/* ---- run metadata ---------------------------------------------------------------------- */

static void
sim_run_commit_of(const char *stack_sh, char *out, size_t outsz)
{
	char dir[1024], cmd[1200], line[40] = "";
	FILE *p;

	snprintf(out, outsz, "unknown");
	snprintf(dir, sizeof(dir), "%s", stack_sh);
	snprintf(cmd, sizeof(cmd), "git -C '%s/..' rev-parse --short=12 HEAD 2>/dev/null", dirname(dir));
	if (strchr(stack_sh, '\'') || (p = popen(cmd, "r")) == NULL)
		return;
	if (fgets(line, sizeof(line), p) != NULL)
		line[strcspn(line, "\n")] = '\0';
	if (pclose(p) == 0 && line[0])
		snprintf(out, outsz, "%s", line);
}

static void
sim_run_sha256_of(const char *text, char *out, size_t outsz)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	snprintf(out, outsz, "unknown");
	if (text == NULL || EVP_Digest(text, strlen(text), md, &n, EVP_sha256(), NULL) != 1)
		return;
	for (unsigned i = 0; i < n && 2 * i + 2 < outsz; i++)
		snprintf(out + 2 * i, outsz - 2 * i, "%02x", md[i]);
}

static void
sim_run_meta_init(struct ctx *c, const char *stack_sh)
{
	struct sim_report_meta *m = &c->meta;
	time_t now = time(NULL);
	struct tm tm;

	sim_run_commit_of(stack_sh, m->commit, sizeof(m->commit));
	gmtime_r(&now, &tm);
	strftime(m->started, sizeof(m->started), "%Y-%m-%dT%H:%M:%SZ", &tm);
	sim_run_sha256_of(c->sc->text, m->scenario_sha256, sizeof(m->scenario_sha256));
	snprintf(m->settings, sizeof(m->settings),
		 "replay_share=%g SHOPLAB_RESILIENCE=%s%s SHOPLAB_PROXY_SEED=%s gateway=%s proxy_api=%s run=%s",
		 c->sc->replay_share, sim_env("SHOPLAB_RESILIENCE", "on"), c->compare ? " (--compare: on, then off)" : "",
		 sim_env("SHOPLAB_PROXY_SEED", "1"), sim_env("SHOPLAB_GATEWAY_URL", "http://127.0.0.1:8080"),
		 sim_env("SHOPLAB_PROXY_API", "http://127.0.0.1:8474"), sim_env_run_dir());
}

/* ---- --serve: the live page over HTTP ------------------------------------------------- */

static void
sim_run_serve_one(struct serve *s, int fd)
{
	char req[2048], head[256];
	char *body = NULL;
	size_t len = 0;
	FILE *f;
	int n;

	(void)recv(fd, req, sizeof(req), 0);   /* any request gets the page */
	if ((f = fopen(s->path, "r")) != NULL) {
		if ((body = malloc(8 << 20)) != NULL)
			len = fread(body, 1, 8 << 20, f);
		fclose(f);
	}
	n = snprintf(head, sizeof(head), "HTTP/1.0 %s\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: %zu\r\n"
		     "Cache-Control: no-store\r\nConnection: close\r\n\r\n", body ? "200 OK" : "503 Service Unavailable",
		     body ? len : 0);
	if (send(fd, head, (size_t)n, MSG_NOSIGNAL) == n && body) {
		for (size_t off = 0; off < len;) {
			ssize_t w = send(fd, body + off, len - off, MSG_NOSIGNAL);

			if (w <= 0)
				break;
			off += (size_t)w;
		}
	}
	free(body);
}

static void *
sim_run_serve_main(void *arg)
{
	struct serve *s = arg;

	while (!s->stop) {
		struct pollfd p = { s->fd, POLLIN, 0 };
		int fd;

		if (poll(&p, 1, 200) <= 0)
			continue;
		if ((fd = accept(s->fd, NULL, NULL)) < 0)
			continue;
		sim_run_serve_one(s, fd);
		close(fd);
	}
	return NULL;
}

static int
sim_run_serve_start(struct serve *s, int port, const char *path, char *err, size_t errsz)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	sigset_t set, old;
	int one = 1;

	snprintf(s->path, sizeof(s->path), "%s", path);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		goto fail;
	if (setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(s->fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(s->fd, 16) != 0)
		goto fail_close;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (pthread_sigmask(SIG_BLOCK, &set, &old) != 0)
		goto fail_close;
	{
		socklen_t len = sizeof(a);

		if (getsockname(s->fd, (struct sockaddr *)&a, &len) != 0)
			goto fail_close;
		s->port = ntohs(a.sin_port);
	}
	errno = pthread_create(&s->th, NULL, sim_run_serve_main, s);
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (errno != 0)
		goto fail_close;
	s->running = true;
	return 0;
fail_close:
	snprintf(err, errsz, "--serve %d: %s", port, strerror(errno));
	close(s->fd);
	s->fd = -1;
	return -1;
fail:
	snprintf(err, errsz, "--serve %d: %s", port, strerror(errno));
	return -1;
}

static void
sim_run_serve_stop(struct serve *s)
{
	if (!s->running)
		return;
	s->stop = 1;
	pthread_join(s->th, NULL);
	close(s->fd);
	s->running = false;
}

static void
sim_run_usage(FILE *f)
{
	fprintf(f, "usage: sim run SCENARIO.json|NAME [--compare] [--out DIR] [--progress] [--serve PORT] [--junit FILE]\n"
		   "       sim run SCENARIO.json|NAME --dry-run\n"
		   "Checks the scenario against the live stack, sets up data, runs the load with the fault\n"
		   "timeline, drains, checks the invariants (safety) and the steady-state hypothesis (liveness) and\n"
		   "writes DIR/report.json and DIR/report.html (default $SHOPLAB_REPORTS_DIR or $SHOPLAB_RUN/reports,\n"
		   "/<name>-<time>). NAME is a shipped scenario (`sim scenarios`). DIR/live.html shows the run as it goes;\n"
		   "--serve PORT also serves it at http://127.0.0.1:PORT/ (0: a free port, printed).\n"
		   "--junit FILE writes a JUnit XML file: a testcase per invariant and per hypothesis clause.\n"
		   "--dry-run validates the scenario and prints the plan (faults, times, targets, hypothesis): no stack, no load.\n"
		   "--compare runs twice, the second time with SHOPLAB_RESILIENCE=off (the stack is restarted).\n"
		   "Exit: 0 every invariant and the hypothesis held, 1 an invariant or the hypothesis broke (or the check\n"
		   "could not read the databases), 2 bad scenario, a name the live stack does not have, or a stack that is\n"
		   "not up or could not be set up, 3 the run is INVALID: a fault did not apply as planned, no request was\n"
		   "sent, a journey of the mix started nothing, or it was interrupted (SIGINT/SIGTERM).\n"
		   "A report is written in every case but 2 before the load.\n");
}

static int
sim_run_install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sim_run_on_signal;
	/* The first signal asks for a clean stop with a report; a second one kills at once. */
	sa.sa_flags = SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0 ? -1 : 0;
}

/* Before anything changes: the settings, the stack answering, every name the scenario uses
 * found on it, the faults of each run ready. Prints why not; -1. */
static int
sim_run_preflight(struct ctx *c, const struct sim_scenario *sc)
{
	char err[512], url[512];

	if (sim_env_load(err, sizeof(err)) != 0) {
		fprintf(stderr, "sim run: %s\n", err);
		return -1;
	}
	snprintf(url, sizeof(url), "%s/api/v1/products?limit=1", sim_env("SHOPLAB_GATEWAY_URL", "http://127.0.0.1:8080"));
	if (sim_http("GET", url, NULL, NULL, 5000, err, sizeof(err)) != 200) {
		fprintf(stderr, "sim run: the stack is not reachable at %s (%s); start it with SHOPLAB_PROXY=1 scripts/stack.sh up\n", url, err);
		return -1;
	}
	if (sim_validate_live(sc, sim_env("SHOPLAB_GATEWAY_URL", "http://127.0.0.1:8080"),
			      sim_env("SHOPLAB_PROXY_API", "http://127.0.0.1:8474"), sim_env_run_dir(), stderr) != 0) {
		fprintf(stderr, "sim run: the scenario does not match the running stack; nothing was run\n");
		return -1;
	}
	for (size_t i = 0; i < (c->compare ? 2u : 1u); i++)
		if (sim_faults_init(&c->runs[i].faults, sc, err, sizeof(err)) != 0) {
			fprintf(stderr, "sim run: %s\n", err);
			return -1;
		}
	return 0;
}

/* The report's folder: --out, else <reports>/<scenario>-<local time>; made. Prints why not; -1. */
static int
sim_run_report_dir(struct ctx *c, const struct sim_scenario *sc, time_t now)
{
	char stamp[32], rdir[900];
	struct tm tm;

	if (c->dir[0] == '\0') {
		localtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
		if (sim_env_reports_dir(rdir, sizeof(rdir)) != 0) {
			fprintf(stderr, "sim run: the reports directory's name is too long\n");
			return -1;
		}
		snprintf(c->dir, sizeof(c->dir), "%s/%s-%s", rdir, sc->name, stamp);
	}
	if (sim_run_mkdirs(c->dir) != 0) {
		fprintf(stderr, "sim run: cannot create %s: %s\n", c->dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* The run, or with --compare both (resilience on, then off, the stack restarted for each; left
 * on after); stops at a signal or a run whose set-up failed. */
static void
sim_run_runs(struct ctx *c)
{
	for (size_t i = 0; i < (c->compare ? 2u : 1u) && !sim_run_stop_sig; i++) {
		struct run *r = &c->runs[i];

		snprintf(r->label, sizeof(r->label), "%s", !c->compare ? "run" : i == 0 ? "resilience on" : "resilience off");
		if (sim_load_stats_init(&r->st) != 0) {
			fprintf(stderr, "sim run: out of memory\n");
			break;
		}
		c->nruns = i + 1;
		if (c->compare) {
			fprintf(stderr, "sim run: restarting the stack with SHOPLAB_RESILIENCE=%s\n", i == 0 ? "on" : "off");
			setenv("SHOPLAB_RESILIENCE", i == 0 ? "on" : "off", 1);
			if (sim_faults_stack(&r->faults, "down") != 0 || sim_faults_stack(&r->faults, "up") != 0) {
				r->setup_failed = true;
				snprintf(r->why, sizeof(r->why), "scripts/stack.sh could not restart the stack (see %s/logs/sim-stack.log)",
					 sim_env_run_dir());
				fprintf(stderr, "sim run: %s\n", r->why);
				break;
			}
		}
		sim_run_one_run(c, r);
		if (r->setup_failed)
			break;
	}
	if (c->compare) {
		/* Leave the stack as it was found: resilience on. */
		setenv("SHOPLAB_RESILIENCE", "on", 1);
		if (sim_faults_stack(&c->runs[0].faults, "down") != 0 || sim_faults_stack(&c->runs[0].faults, "up") != 0)
			fprintf(stderr, "sim run: restoring the stack failed\n");
	}
}

int
sim_run_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "compare", no_argument, NULL, 'c' }, { "out", required_argument, NULL, 'o' },
		{ "progress", no_argument, NULL, 'p' }, { "serve", required_argument, NULL, 's' },
		{ "junit", required_argument, NULL, 'j' }, { "dry-run", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	static struct ctx c;
	const char *junit = NULL;
	bool dry_run = false;
	struct sim_report_run rep[2];
	struct sim_scenario sc;
	char err[512];
	bool held = true, checked = true, not_valid = false, setup_failed = false;
	int ch, rc = EXIT_BAD, port = -1;
	time_t now = time(NULL);

	memset(&sc, 0, sizeof(sc));
	memset(&c, 0, sizeof(c));
	c.srv.fd = -1;
	c.progress = isatty(STDERR_FILENO);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': c.compare = true; break;
		case 'o': snprintf(c.dir, sizeof(c.dir), "%s", optarg); break;
		case 'p': c.progress = true; break;
		case 's': {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*optarg == '\0' || *end != '\0' || v < 0 || v > 65535) {
				fprintf(stderr, "sim run: --serve: a port 0..65535 (0: a free one, printed)\n");
				return EXIT_BAD;
			}
			port = (int)v;
			break;
		}
		case 'j': junit = optarg; break;
		case 'n': dry_run = true; break;
		case 'h': sim_run_usage(stdout); return 0;
		default: sim_run_usage(stderr); return EXIT_BAD;
		}
	}
	if (optind >= argc) {
		sim_run_usage(stderr);
		return EXIT_BAD;
	}
	if (sim_catalog_load(argv[optind], &sc, err, sizeof(err)) != 0) {
		fprintf(stderr, "sim run: %s\n", err);
		return EXIT_BAD;
	}
	if (dry_run) {
		/* The plan only: no stack, no load, no report. */
		sim_catalog_plan(&sc, stdout);
		printf("dry run: the scenario is valid; nothing was run (the live stack's names are checked by a real run)\n");
		sim_scenario_free(&sc);
		return EXIT_HELD;
	}
	c.sc = &sc;
	sim_run_stop_sig = 0;
	if (sim_run_install_signals() != 0) {
		fprintf(stderr, "sim run: sigaction: %s\n", strerror(errno));
		goto out_scenario;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "sim run: curl_global_init failed\n");
		goto out_scenario;
	}
	if (sim_run_preflight(&c, &sc) != 0)
		goto out;
	sim_run_meta_init(&c, c.runs[0].faults.stack_sh);
	/* From here on the folder always gets a report, whatever stops the run. */
	if (sim_run_report_dir(&c, &sc, now) != 0)
		goto out;
	snprintf(c.live_path, sizeof(c.live_path), "%s/live.html", c.dir);
	c.meta.storefront = sim_env("SHOPLAB_GATEWAY_URL", "http://127.0.0.1:8080");
	fprintf(stderr, "sim run: live view: %s", c.live_path);
	if (port >= 0 && sim_run_serve_start(&c.srv, port, c.live_path, err, sizeof(err)) == 0)
		fprintf(stderr, " and http://127.0.0.1:%d/", c.srv.port);
	else if (port >= 0)
		fprintf(stderr, " (%s)", err);
	fprintf(stderr, "\nsim run: report: %s/report.html\n", c.dir);
	sim_run_runs(&c);
	c.phase = PH_REPORT;
	for (size_t i = 0; i < c.nruns; i++) {
		struct run *r = &c.runs[i];

		setup_failed |= r->setup_failed && !r->interrupted_in;
		not_valid |= strcmp(sim_run_status(r), "valid") != 0;
		checked &= r->checked;
		held &= r->checked && r->ck.ok;
	}
	if (c.nruns == 0) {
		/* Interrupted before the first run began: say so rather than leave an empty folder. */
		snprintf(c.runs[0].label, sizeof(c.runs[0].label), "run");
		if (sim_load_stats_init(&c.runs[0].st) == 0) {
			c.nruns = 1;
			c.phase = PH_SETUP;
			sim_run_interrupted(&c, &c.runs[0]);
			not_valid = true;
		}
	}
	sim_run_report_runs(&c, rep);
	if (sim_report_write(c.dir, rep, c.nruns, &c.meta, err, sizeof(err)) != 0) {
		fprintf(stderr, "sim run: %s\n", err);
		rc = EXIT_NOT_VALID;
		goto out;
	}
	/* The live page ends as the report: an open tab stops refreshing on the final page. */
	if (sim_report_write_html(c.live_path, rep, c.nruns, &c.meta, err, sizeof(err)) != 0)
		fprintf(stderr, "sim run: %s\n", err);
	if (junit && sim_junit_write(junit, rep, c.nruns, err, sizeof(err)) != 0)
		fprintf(stderr, "sim run: %s\n", err);
	sim_run_summary(&c);
	for (size_t i = 0; i < c.nruns; i++)
		held &= c.runs[i].judged && c.runs[i].hy.ok;
	rc = setup_failed ? EXIT_BAD : not_valid ? EXIT_NOT_VALID : !checked || !held ? EXIT_BROKE : EXIT_HELD;
	if (junit && rc != EXIT_BAD)
		fprintf(stderr, "sim run: JUnit: %s\n", junit);
out:
	sim_run_serve_stop(&c.srv);
	for (size_t i = 0; i < 2; i++) {
		sim_load_stats_free(&c.runs[i].st);
		sim_check_data_free(&c.runs[i].ck_data);
		sim_scrape_free(&c.runs[i].scrape);
	}
	curl_global_cleanup();
out_scenario:
	sim_scenario_free(&sc);
	return rc;
}
