/* sim_run.c - `sim run`: data set-up, load with the fault timeline, drain, checks, report (twice with --compare) */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "sim.h"
#include "sim_check.h"
#include "sim_env.h"
#include "sim_faults.h"
#include "sim_http.h"
#include "sim_load.h"
#include "sim_report.h"
#include "sim_scrape.h"

struct run {
	char label[32];
	struct sim_load_stats st;
	struct sim_ck_data ck_data;
	struct sim_ck_result ck;
	bool checked;
	char check_error[512];
	struct sim_scrape scrape;
	struct sim_faults faults;
};

static void tick(void *arg, double t)
{
	sim_faults_tick(arg, t);
}

static double next_event(void *arg)
{
	return sim_faults_next(arg);
}

static void describe(void *arg, char *buf, size_t bufsz)
{
	sim_faults_describe(arg, buf, bufsz);
}

static int mkdirs(const char *path)
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

/* Browse outcomes per fault window, for the "untouched requests kept working" invariant. */
static int windows(const struct sim_scenario *sc, const struct sim_load_stats *st, struct sim_ck_data *d)
{
	d->windows = calloc(sc->nfaults + 1, sizeof(*d->windows));
	if (d->windows == NULL)
		return -1;
	for (size_t i = 0; i < sc->nfaults; i++) {
		struct sim_ck_window *w = &d->windows[d->nwindows++];
		const struct sim_fault *ft = &sc->faults[i];
		double from, to;

		sim_fault_window(sc, i, &from, &to);
		snprintf(w->label, sizeof(w->label), "%s %s %.0f-%.0f s", ft->target,
			 ft->kind == SIM_FAULT_TOXIC ? ft->type : sim_fault_kind_names[ft->kind], from, to);
		w->touches_reads = sim_fault_touches_reads(ft);
		/* A second after the start: requests scheduled before the fault are not its concern. */
		for (size_t s = (size_t)ceil(from); (double)s < to && s < st->nsecs; s++) {
			w->ok += st->secs[s].browse_ok;
			w->failed += st->secs[s].browse_failed;
		}
	}
	return 0;
}

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int one_run(const struct sim_scenario *sc, struct run *r, bool progress)
{
	struct sim_user *users = calloc((size_t)sc->users, sizeof(*users));
	struct sim_load_cfg cfg;
	char err[512], nonce[32];
	int64_t min_id;
	int rc = -1;

	if (users == NULL || sim_load_stats_init(&r->st) != 0)
		goto out;
	snprintf(nonce, sizeof(nonce), "%lx%x", (unsigned long)time(NULL), (unsigned)getpid());
	fprintf(stderr, "sim run: %s: setting up %d users and the stock of products %lld-%lld\n", r->label, sc->users,
		(long long)sc->product_lo, (long long)sc->product_hi);
	if (sim_setup_data(sc, sim_env("SHOPLAB_GATEWAY_URL", "http://127.0.0.1:8080"), nonce, users, err, sizeof(err)) != 0) {
		fprintf(stderr, "sim run: set-up failed: %s\n", err);
		goto out;
	}
	if ((min_id = sim_check_max_order_id(err, sizeof(err))) < 0) {
		fprintf(stderr, "sim run: %s\n", err);
		goto out;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.sc = sc;
	cfg.gateway = sim_env("SHOPLAB_GATEWAY_URL", "http://127.0.0.1:8080");
	cfg.users = users;
	cfg.nusers = (size_t)sc->users;
	cfg.nonce = nonce;
	cfg.progress = progress;
	cfg.tick = tick;
	cfg.next_event = next_event;
	cfg.describe = describe;
	cfg.tick_arg = &r->faults;
	if (sim_scrape_start(&r->scrape, sim_env("SHOPLAB_GATEWAY_INTERNAL", "http://127.0.0.1:8081")) != 0)
		goto out;
	fprintf(stderr, "sim run: %s: load for %.0f s\n", r->label, sc->duration_s);
	if (sim_load_run(&cfg, &r->st) != 0)
		goto out;
	fprintf(stderr, "sim run: %s: faults off, restoring the stack, then draining for %.0f s\n", r->label, sc->drain_s);
	if (sim_faults_finish(&r->faults) != 0)
		fprintf(stderr, "sim run: scripts/stack.sh up failed (see %s/logs/sim-stack.log)\n", sim_env_run_dir());
	sleep_s(sc->drain_s);
	sim_scrape_stop(&r->scrape);
	r->ck_data.min_order_id = min_id + 1;
	r->ck_data.after_drain = true;
	if (sim_check_read_db(&r->ck_data, r->check_error, sizeof(r->check_error)) != 0 ||
	    windows(sc, &r->st, &r->ck_data) != 0) {
		fprintf(stderr, "sim run: check: %s\n", r->check_error);
	} else {
		r->ck_data.clients = r->st.clients;
		r->ck_data.nclients = r->st.nclients;
		r->checked = sim_check_eval(&r->ck_data, &r->ck) == 0;
		r->ck_data.clients = NULL;      /* owned by the stats */
		r->ck_data.nclients = 0;
	}
	rc = 0;
out:
	sim_scrape_stop(&r->scrape);
	free(users);
	return rc;
}

static void summary(const struct sim_scenario *sc, struct run *runs, size_t n, const char *dir)
{
	for (size_t i = 0; i < n; i++) {
		char label[160];

		snprintf(label, sizeof(label), "%.64s (%.32s)", sc->name, runs[i].label);
		sim_load_print(&runs[i].st, label, stdout);
		if (runs[i].checked)
			sim_check_print(&runs[i].ck, stdout);
		else
			printf("invariants: NOT CHECKED: %s\n", runs[i].check_error);
		if (runs[i].faults.errors)
			printf("fault timeline: %u actions failed:\n%s", runs[i].faults.errors, runs[i].faults.log);
	}
	printf("report: %s/report.html\n", dir);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: sim run SCENARIO.json [--compare] [--out DIR] [--progress]\n"
		   "Sets up data, runs the load with the fault timeline, drains, checks the invariants and\n"
		   "writes DIR/report.json and DIR/report.html (default $SHOPLAB_RUN/reports/<name>-<time>).\n"
		   "--compare runs twice, the second time with SHOPLAB_RESILIENCE=off (the stack is restarted).\n"
		   "Exit: 0 every invariant held, 1 one broke, 2 bad scenario or stack not reachable.\n");
}

int sim_run_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "compare", no_argument, NULL, 'c' }, { "out", required_argument, NULL, 'o' },
		{ "progress", no_argument, NULL, 'p' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	static struct run runs[2];
	struct sim_report_run rep[2];
	struct sim_scenario sc;
	char err[512], dir[1024] = "", url[512], stamp[32];
	bool compare = false, progress = isatty(STDERR_FILENO), all_ok = true;
	size_t nruns = 0;
	int c, rc = 2;
	time_t now = time(NULL);
	struct tm tm;

	memset(&sc, 0, sizeof(sc));
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': compare = true; break;
		case 'o': snprintf(dir, sizeof(dir), "%s", optarg); break;
		case 'p': progress = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (sim_scenario_load(argv[optind], &sc, err, sizeof(err)) != 0) {
		fprintf(stderr, "sim run: %s\n", err);
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (sim_env_load(err, sizeof(err)) != 0) {
		fprintf(stderr, "sim run: %s\n", err);
		goto out;
	}
	snprintf(url, sizeof(url), "%s/api/v1/products?limit=1", sim_env("SHOPLAB_GATEWAY_URL", "http://127.0.0.1:8080"));
	if (sim_http("GET", url, NULL, NULL, 5000, err, sizeof(err)) != 200) {
		fprintf(stderr, "sim run: the stack is not reachable at %s (%s); start it with SHOPLAB_PROXY=1 scripts/stack.sh up\n", url, err);
		goto out;
	}
	if (dir[0] == '\0') {
		localtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
		snprintf(dir, sizeof(dir), "%s/reports/%s-%s", sim_env_run_dir(), sc.name, stamp);
	}
	if (mkdirs(dir) != 0) {
		fprintf(stderr, "sim run: cannot create %s: %s\n", dir, strerror(errno));
		goto out;
	}
	for (size_t i = 0; i < (compare ? 2u : 1u); i++) {
		struct run *r = &runs[i];

		memset(r, 0, sizeof(*r));
		snprintf(r->label, sizeof(r->label), "%s", !compare ? "run" : i == 0 ? "resilience on" : "resilience off");
		if (sim_faults_init(&r->faults, &sc, err, sizeof(err)) != 0) {
			fprintf(stderr, "sim run: %s\n", err);
			goto out;
		}
		if (compare) {
			fprintf(stderr, "sim run: restarting the stack with SHOPLAB_RESILIENCE=%s\n", i == 0 ? "on" : "off");
			setenv("SHOPLAB_RESILIENCE", i == 0 ? "on" : "off", 1);
			if (sim_faults_stack(&r->faults, "down") != 0 || sim_faults_stack(&r->faults, "up") != 0) {
				fprintf(stderr, "sim run: scripts/stack.sh could not restart the stack (see %s/logs/sim-stack.log)\n",
					sim_env_run_dir());
				goto out;
			}
		}
		nruns = i + 1;
		if (one_run(&sc, r, progress) != 0)
			goto out;
		all_ok = all_ok && r->checked && r->ck.ok;
	}
	if (compare) {
		/* Leave the stack as it was found: resilience on. */
		setenv("SHOPLAB_RESILIENCE", "on", 1);
		if (sim_faults_stack(&runs[0].faults, "down") != 0 || sim_faults_stack(&runs[0].faults, "up") != 0)
			fprintf(stderr, "sim run: restoring the stack failed\n");
	}
	for (size_t i = 0; i < nruns; i++)
		rep[i] = (struct sim_report_run){ runs[i].label, &sc, &runs[i].st, runs[i].checked ? &runs[i].ck : NULL,
						  runs[i].check_error, &runs[i].scrape, runs[i].faults.log };
	if (sim_report_write(dir, rep, nruns, err, sizeof(err)) != 0) {
		fprintf(stderr, "sim run: %s\n", err);
		goto out;
	}
	summary(&sc, runs, nruns, dir);
	rc = all_ok ? 0 : 1;
out:
	for (size_t i = 0; i < nruns; i++) {
		sim_load_stats_free(&runs[i].st);
		sim_check_data_free(&runs[i].ck_data);
		sim_scrape_free(&runs[i].scrape);
	}
	sim_scenario_free(&sc);
	curl_global_cleanup();
	return rc;
}
