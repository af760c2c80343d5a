/* proxy_main.c - `sim proxy`: options, signals and the server's life */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proxy.h"
#include "proxy_peer.h"
#include "proxy_server.h"
#include "sim.h"

static void
sim_pmain_usage(FILE *to)
{
	fprintf(to,
	        "usage: sim proxy [--host H] [--port P] [--config FILE] [--seed N] [--fault-log FILE]\n"
	        "                 [--loops N] [--owner USER] [--peer-netns PATH]\n"
	        "\n"
	        "A TCP fault proxy with a Toxiproxy-compatible REST API (see sim/README.md).\n"
	        "  --host H          API address (default 127.0.0.1)\n"
	        "  --port P          API port (default 8474; 0 picks a free one)\n"
	        "  --config FILE     JSON array of proxies to create at start, as Toxiproxy's -config\n"
	        "  --seed N          seed for every random choice (default: from the clock, printed)\n"
	        "  --fault-log FILE  append one JSON line per fault applied ('-' for stderr)\n"
	        "  --loops N         event loops (threads) moving bytes, 1 to 16 (default: one per CPU)\n"
	        "  --owner USER      user name or uid who may change proxies and toxics besides root\n"
	        "                    (default: $SHOPLAB_PROXY_OWNER, else the user running the proxy);\n"
	        "                    anyone else gets 403 on every method but GET (docs/security.md)\n"
	        "  --peer-netns PATH also find API callers in this network namespace (e.g.\n"
	        "                    /proc/PID/ns/net of the lab's caller; needs root; up to 4)\n"
	        "  -h, --help        this text\n");
}

static int
sim_pmain_parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno != 0 || end == s || *end != '\0' || s[0] == '-' ? -1 : 0;
}

static void
sim_pmain_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct sim_server *s = arg;

	(void)what;
	fprintf(stderr, "sim proxy: signal %d, stopping\n", (int)sig);
	(void)event_base_loopbreak(s->ctx.base);
}

int
sim_proxy_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "config", required_argument, NULL, 'c' },
		{ "seed", required_argument, NULL, 's' },
		{ "fault-log", required_argument, NULL, 'f' },
		{ "loops", required_argument, NULL, 'l' },
		{ "owner", required_argument, NULL, 'o' },
		{ "peer-netns", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sim_proxy_opts o = { .host = "127.0.0.1", .port = 8474 };
	struct sim_server s;
	struct event *sigterm = NULL, *sigint = NULL;
	bool seeded = false;
	const char *owner = getenv("SHOPLAB_PROXY_OWNER");
	uint64_t port;
	int ch, rc = 2;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'H':
			o.host = optarg;
			break;
		case 'p':
			if (sim_pmain_parse_u64(optarg, &port) != 0 || port > 65535) {
				fprintf(stderr, "sim proxy: --port %s: not a port\n", optarg);
				goto out;
			}
			o.port = (int)port;
			break;
		case 'c':
			o.config = optarg;
			break;
		case 's':
			if (sim_pmain_parse_u64(optarg, &o.seed) != 0) {
				fprintf(stderr, "sim proxy: --seed %s: not a number\n", optarg);
				goto out;
			}
			seeded = true;
			break;
		case 'f':
			o.fault_log = optarg;
			break;
		case 'l':
			if (sim_pmain_parse_u64(optarg, &port) != 0 || port < 1 || port > SIM_LOOPS_MAX) {
				fprintf(stderr, "sim proxy: --loops %s: want 1 to %d\n", optarg,
				        SIM_LOOPS_MAX);
				goto out;
			}
			o.loops = (int)port;
			break;
		case 'o':
			owner = optarg;
			break;
		case 'n':
			if (o.npeer_netns == SIM_PEER_NETNS_MAX) {
				fprintf(stderr, "sim proxy: at most %d --peer-netns\n", SIM_PEER_NETNS_MAX);
				goto out;
			}
			o.peer_netns[o.npeer_netns++] = optarg;
			break;
		case 'h':
			sim_pmain_usage(stdout);
			rc = 0;
			goto out;
		default:
			sim_pmain_usage(stderr);
			goto out;
		}
	}
	if (optind != argc) {
		sim_pmain_usage(stderr);
		goto out;
	}
	if (owner != NULL && *owner != '\0') {
		if (sim_owner_parse(owner, &o.owner) != 0) {
			fprintf(stderr, "sim proxy: owner %s: not a user name or uid\n", owner);
			goto out;
		}
		o.owner_set = true;
	}
	if (!seeded) {
		struct timespec ts;

		if (clock_gettime(CLOCK_REALTIME, &ts) == 0)
			o.seed = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
		o.seed ^= (uint64_t)getpid() << 32;
	}
	if (o.loops == 0) {
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

		o.loops = ncpu < 1 ? 1 : ncpu > SIM_LOOPS_MAX ? SIM_LOOPS_MAX : (int)ncpu;
	}
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		goto out;
	rc = 1;
	if (sim_server_init(&s, &o) != 0)
		goto out;
	sigterm = evsignal_new(s.ctx.base, SIGTERM, sim_pmain_on_signal, &s);
	sigint = evsignal_new(s.ctx.base, SIGINT, sim_pmain_on_signal, &s);
	if (sigterm == NULL || sigint == NULL || event_add(sigterm, NULL) != 0 ||
	    event_add(sigint, NULL) != 0)
		goto out_free_server;
	fprintf(stderr, "sim proxy: API on http://%s:%d (seed %" PRIu64 ", %d loops, changes by uid %lu"
	        " and root)\n", o.host, s.port, o.seed, o.loops, (unsigned long)s.owner);
	if (sim_server_run(&s) == 0)
		rc = 0;
out_free_server:
	if (sigterm != NULL)
		event_free(sigterm);
	if (sigint != NULL)
		event_free(sigint);
	sim_server_free(&s);
out:
	return rc;
}
