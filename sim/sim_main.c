/* sim_main.c - the sim binary: dispatches `sim <subcommand>` from a table */
#include <stdio.h>
#include <string.h>

#include "sim.h"

struct subcommand {
	const char *name;
	int (*main)(int argc, char **argv);
	const char *summary;
};

static const struct subcommand sim_main_subcommands[] = {
	{ "proxy", sim_proxy_main, "TCP fault proxy with a Toxiproxy-compatible API" },
	{ "load",  sim_load_main,  "open-loop load: a scenario's journeys, or one URL at a fixed rate" },
	{ "check", sim_check_main, "checks the shop's invariants against its databases" },
	{ "run",   sim_run_main,   "load + fault timeline + drain + checks + hypothesis + report" },
	{ "scenarios", sim_scenarios_main, "lists the shipped scenarios (`sim run NAME` runs one)" },
	{ "toxic", sim_toxic_main, "the fault CLI, toxiproxy-cli: list, inspect, create, toggle, delete, toxic add/update/remove" },
};

static void
sim_main_usage(FILE *to)
{
	fprintf(to, "usage: sim <command> [options]\n       sim --help | --version\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(sim_main_subcommands) / sizeof(sim_main_subcommands[0]); i++)
		fprintf(to, "  %-10s %s\n", sim_main_subcommands[i].name, sim_main_subcommands[i].summary);
	fprintf(to, "\n`sim <command> --help` describes a command's options.\n");
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		sim_main_usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		sim_main_usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("sim (shoplab) %s\n", SHOPLAB_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(sim_main_subcommands) / sizeof(sim_main_subcommands[0]); i++)
		if (strcmp(argv[1], sim_main_subcommands[i].name) == 0)
			return sim_main_subcommands[i].main(argc - 1, argv + 1);
	fprintf(stderr, "sim: unknown command '%s'\n", argv[1]);
	sim_main_usage(stderr);
	return 2;
}
