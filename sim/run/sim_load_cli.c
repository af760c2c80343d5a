/* sim_load_cli.c - `sim load`: runs a scenario's load (no faults, no checks), or a raw URL at a fixed rate */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "sim.h"
#include "sim_env.h"
#include "sim_catalog.h"
#include "sim_load.h"

/* The default of --max-failed: the share of failed requests above which sim load exits 1. */
#define SIM_LOAD_MAX_FAILED 0.05

static void
sim_loadcli_usage(FILE *f)
{
	fprintf(f, "usage: sim load SCENARIO.json|NAME [--progress] [--no-setup] [--max-failed SHARE]\n"
		   "       sim load --url URL --rate N [--duration S] [--progress] [--max-failed SHARE]\n"
		   "Runs the scenario's journeys open-loop against the gateway (no faults, no checks),\n"
		   "or GETs URL N times a second, and prints outcomes and latency percentiles.\n"
		   "Exit: 0 done, 1 more than SHARE (default %g) of the requests failed (not ok, unknown included)\n"
		   "or no request was sent, 2 bad arguments or set-up failed.\n", SIM_LOAD_MAX_FAILED);
}

int
sim_load_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "progress", no_argument, NULL, 'p' }, { "no-setup", no_argument, NULL, 'n' },
		{ "url", required_argument, NULL, 'u' }, { "rate", required_argument, NULL, 'r' },
		{ "duration", required_argument, NULL, 'd' }, { "help", no_argument, NULL, 'h' },
		{ "max-failed", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	struct sim_scenario sc;
	struct sim_load_cfg cfg;
	struct sim_load_stats st;
	struct sim_user *users = NULL;
	const char *url = NULL;
	double rate = 0, duration = 10, max_failed = SIM_LOAD_MAX_FAILED;
	char *end;
	bool setup = true;
	char err[512], nonce[32];
	int c, rc = 2;

	memset(&cfg, 0, sizeof(cfg));
	memset(&sc, 0, sizeof(sc));
	cfg.progress = isatty(STDERR_FILENO);
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'p': cfg.progress = true; break;
		case 'n': setup = false; break;
		case 'u': url = optarg; break;
		case 'r': rate = atof(optarg); break;
		case 'd': duration = atof(optarg); break;
		case 'm':
			max_failed = strtod(optarg, &end);
			if (*optarg == '\0' || *end != '\0' || !(max_failed >= 0 && max_failed <= 1)) {
				fprintf(stderr, "sim load: --max-failed: a share 0..1 (0.05: 5%% of the requests)\n");
				return 2;
			}
			break;
		case 'h': sim_loadcli_usage(stdout); return 0;
		default: sim_loadcli_usage(stderr); return 2;
		}
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(nonce, sizeof(nonce), "%lx%x", (unsigned long)time(NULL), (unsigned)getpid());
	if (url) {
		if (rate <= 0 || duration <= 0) {
			fprintf(stderr, "sim load: --url needs --rate > 0 (and --duration > 0)\n");
			goto out;
		}
		snprintf(sc.name, sizeof(sc.name), "raw");
		sc.duration_s = duration;
		sc.timeout_s = 10;
		sc.nphases = 1;
		sc.phases[0].rate = rate;
		sc.mix[0] = 1;
		sc.product_lo = sc.product_hi = 1;
		cfg.raw_url = url;
	} else {
		if (optind >= argc) {
			sim_loadcli_usage(stderr);
			goto out;
		}
		if (sim_catalog_load(argv[optind], &sc, err, sizeof(err)) != 0) {
			fprintf(stderr, "sim load: %s\n", err);
			goto out;
		}
		if (sim_env_load(err, sizeof(err)) != 0) {
			fprintf(stderr, "sim load: %s\n", err);
			goto out;
		}
		if ((users = calloc((size_t)sc.users, sizeof(*users))) == NULL)
			goto out;
		cfg.gateway = sim_env("SHOPLAB_GATEWAY_URL", "http://127.0.0.1:8080");
		if (setup && sim_setup_data(&sc, cfg.gateway, nonce, users, NULL, err, sizeof(err)) != 0) {
			fprintf(stderr, "sim load: set-up failed: %s\n", err);
			goto out;
		}
		cfg.users = users;
		cfg.nusers = setup ? (size_t)sc.users : 0;
	}
	cfg.sc = &sc;
	cfg.nonce = nonce;
	if (sim_load_stats_init(&st) != 0)
		goto out;
	if (sim_load_run(&cfg, &st) == 0) {
		uint64_t failed = st.requests - st.out[SIM_OUT_OK];
		double share = st.requests ? (double)failed / (double)st.requests : 1;

		sim_load_print(&st, sc.name, stdout);
		rc = st.requests > 0 && share <= max_failed ? 0 : 1;
		if (st.requests == 0)
			printf("FAILED: no request was sent\n");
		else
			printf("%s: %llu of %llu requests failed (%.1f%%; --max-failed %g%%)\n", rc ? "FAILED" : "ok",
			       (unsigned long long)failed, (unsigned long long)st.requests, share * 100, max_failed * 100);
	}
	sim_load_stats_free(&st);
out:
	free(users);
	sim_scenario_free(&sc);
	curl_global_cleanup();
	return rc;
}
