/* sim_catalog.c - the shipped scenarios: found by name, listed (`sim scenarios`), and a scenario's plan printed (--dry-run) */
#include <dirent.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sim.h"
#include "sim_catalog.h"
#include "sim_faults.h"
#include "sim_hypo.h"

size_t
sim_catalog_dirs(char dirs[][1024], size_t max)
{
	char top[960], real[PATH_MAX], err[256];
	size_t n = 0, len;

	if (max < 2 || sim_top_dir(top, sizeof(top), err, sizeof(err)) != 0)
		return 0;
	/* build/bin/../.. reads better as the checkout's own path. */
	if (realpath(top, real) != NULL && (len = strlen(real)) < sizeof(top))
		memcpy(top, real, len + 1);
	snprintf(dirs[n++], 1024, "%s/sim/scenarios", top);
	snprintf(dirs[n++], 1024, "%s/scenarios", top);
	return n;
}

static bool
sim_cat_is_file(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* A shipped scenario's name: lower-case letters, digits, '-' and '_'. */
static bool
sim_cat_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
			return false;
	return true;
}

int
sim_catalog_resolve(const char *arg, char *out, size_t outsz, char *err, size_t errsz)
{
	char dirs[2][1024], path[2200];
	size_t nd, n = strlen(arg);

	if (sim_cat_is_file(arg) || strchr(arg, '/') != NULL) {
		snprintf(out, outsz, "%s", arg);
		return 0;       /* a path: the loader names it if it is missing */
	}
	if (n > 5 && strcmp(arg + n - 5, ".json") == 0)
		n -= 5;
	if (!sim_cat_name_ok(arg, n)) {
		snprintf(err, errsz, "%s: no such file, and not a scenario name (`sim scenarios` lists them)", arg);
		return -1;
	}
	nd = sim_catalog_dirs(dirs, 2);
	for (size_t i = 0; i < nd; i++) {
		snprintf(path, sizeof(path), "%s/%.*s.json", dirs[i], (int)n, arg);
		if (sim_cat_is_file(path)) {
			if (strlen(path) >= outsz)
				break;
			snprintf(out, outsz, "%s", path);
			return 0;
		}
	}
	snprintf(err, errsz, "%s: no such file, and no shipped scenario of that name in %s%s%s (`sim scenarios` lists them)",
		 arg, nd > 0 ? dirs[0] : "(no folder found)", nd > 1 ? " or " : "", nd > 1 ? dirs[1] : "");
	return -1;
}

int
sim_catalog_load(const char *arg, struct sim_scenario *sc, char *err, size_t errsz)
{
	char path[1024];

	if (sim_catalog_resolve(arg, path, sizeof(path), err, errsz) != 0)
		return -1;
	return sim_scenario_load(path, sc, err, errsz);
}

static const char *
sim_cat_fault_what(const struct sim_fault *ft)
{
	return ft->kind == SIM_FAULT_TOXIC ? ft->type : sim_fault_kind_names[ft->kind];
}

void
sim_catalog_plan(const struct sim_scenario *sc, FILE *f)
{
	const struct sim_hypothesis *h = &sc->hy;
	double journeys = 0, last_end = -1;

	for (size_t i = 0; i < sc->nphases; i++) {
		double end = i + 1 < sc->nphases ? sc->phases[i + 1].at_s : sc->duration_s;

		journeys += sc->phases[i].rate * (end - sc->phases[i].at_s);
	}
	fprintf(f, "scenario %s (%s), seed %llu\n", sc->name, sc->file[0] ? sc->file : "text",
		(unsigned long long)sc->seed);
	if (sc->description[0])
		fprintf(f, "  %s\n", sc->description);
	fprintf(f, "load: %g s, about %.0f journeys; phases:", sc->duration_s, journeys);
	for (size_t i = 0; i < sc->nphases; i++)
		fprintf(f, "%s from %g s %g/s", i ? "," : "", sc->phases[i].at_s, sc->phases[i].rate);
	fprintf(f, "\n  mix: browse %g, register_login %g, checkout %g; timeout %g s, replay share %g\n", sc->mix[0], sc->mix[1],
		sc->mix[2], sc->timeout_s, sc->replay_share);
	fprintf(f, "data: %d users (logins at %g/s), products %lld-%lld, stock %s%lld\n", sc->users, sc->login_rate,
		(long long)sc->product_lo, (long long)sc->product_hi, sc->stock < 0 ? "left as is" : "",
		sc->stock < 0 ? 0LL : (long long)sc->stock);
	fprintf(f, "faults: %zu\n", sc->nfaults);
	for (size_t i = 0; i < sc->nfaults; i++) {
		const struct sim_fault *ft = &sc->faults[i];
		double from, to;

		sim_fault_window(sc, i, &from, &to);
		if (to > last_end)
			last_end = to;
		fprintf(f, "  [%zu] %6.1f-%-6.1f s  %-18s %s", i, from, to, sim_cat_fault_what(ft), ft->target);
		if (ft->kind == SIM_FAULT_TOXIC)
			fprintf(f, " (%s, toxicity %g%s%s) %s", ft->stream, ft->toxicity, ft->proxy_api[0] ? ", api " : "",
				ft->proxy_api, ft->attributes ? ft->attributes : "{}");
		else if (ft->proxy[0])
			fprintf(f, " (proxy %s)", ft->proxy);
		if (ft->until_s < 0 && ft->kind != SIM_FAULT_RESTART && ft->kind != SIM_FAULT_DEPLOY)
			fprintf(f, " (until the end of the load)");
		fputc('\n', f);
	}
	fprintf(f, "drain: %g s, then up to %g s for outboxes to empty and confirmed orders to ship\n", sc->drain_s,
		sc->events_drain_s);
	fprintf(f, "hypothesis (%s):\n", h->stated ? "the scenario's" : "none stated: the defaults");
	for (int j = 0; j < SIM_J_COUNT; j++)
		if (h->has[j])
			fprintf(f, "  %-15s >= %g%% ok, p99 <= %g ms\n", sim_journey_names[j], h->success[j] * 100, h->p99_ms[j]);
	if (last_end >= 0)
		fprintf(f, "  recovery: within %g s after the last fault ends (%g s), success and throughput back to "
			"at least %g%% of the baseline's%s\n", h->within_s, last_end, (1 - h->band) * 100,
			last_end + SIM_HY_WINDOW_S > sc->duration_s ? " -- the load ends too soon after it to see that" : "");
	fprintf(f, "  steady state: %zu of %.0f s of load (outside each fault from 1 s before it to %g s after it)\n",
		sim_hy_planned_steady(sc), sc->duration_s, h->within_s);
}

static int
sim_cat_cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
sim_cat_list_dir(const char *dir, bool *any)
{
	char *names[256], path[1400], err[512];
	size_t n = 0;
	struct dirent *e;
	DIR *d = opendir(dir);

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL && n < 256) {
		size_t len = strlen(e->d_name);

		if (len > 5 && strcmp(e->d_name + len - 5, ".json") == 0 && (names[n] = strdup(e->d_name)) != NULL)
			n++;
	}
	closedir(d);
	if (n == 0)
		return;
	qsort(names, n, sizeof(names[0]), sim_cat_cmp_str);
	printf("%s:\n", dir);
	for (size_t i = 0; i < n; i++) {
		struct sim_scenario sc;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (sim_scenario_load(path, &sc, err, sizeof(err)) != 0) {
			printf("  %-22.*s (does not parse: %s)\n", (int)(strlen(names[i]) - 5), names[i], err);
		} else {
			printf("  %-22s %4.0f s  %2zu fault%s  %s\n", sc.name, sc.duration_s, sc.nfaults, sc.nfaults == 1 ? " " : "s",
			       sc.description[0] ? sc.description : "(no description)");
			sim_scenario_free(&sc);
		}
		free(names[i]);
	}
	*any = true;
}

int
sim_scenarios_main(int argc, char **argv)
{
	static const struct option opts[] = { { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
	char dirs[2][1024];
	size_t nd;
	bool any = false;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			printf("usage: sim scenarios\nLists the shipped scenarios (the checkout's sim/scenarios, or an installed\n"
			       "share/shoplab/scenarios) with their length, faults and description; `sim run NAME` runs one.\n");
			return 0;
		}
		fprintf(stderr, "usage: sim scenarios\n");
		return 2;
	}
	if (optind < argc) {
		fprintf(stderr, "usage: sim scenarios\n");
		return 2;
	}
	nd = sim_catalog_dirs(dirs, 2);
	for (size_t i = 0; i < nd; i++)
		sim_cat_list_dir(dirs[i], &any);
	if (!any) {
		fprintf(stderr, "sim scenarios: no scenario found in %s%s%s (set SHOPLAB_TOP to the checkout)\n",
			nd > 0 ? dirs[0] : "(no folder)", nd > 1 ? " or " : "", nd > 1 ? dirs[1] : "");
		return 1;
	}
	return 0;
}
