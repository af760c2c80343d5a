/* sim_catalog.h - the shipped scenarios: found by name, listed (`sim scenarios`), and a scenario's plan printed (--dry-run) */
#ifndef SIM_CATALOG_H
#define SIM_CATALOG_H

#include <stddef.h>
#include <stdio.h>

#include "sim_scenario.h"

/* The folders searched for shipped scenarios, in order: <top>/sim/scenarios (a checkout) and
 * <top>/scenarios (an installed share dir, mk/hosting.mk), top from sim_top_dir(). */
size_t sim_catalog_dirs(char dirs[][1024], size_t max);
/*
 * What `sim run ARG` reads: ARG when it is a file; else, for a bare name ("ci-smoke" or
 * "ci-smoke.json"), the shipped scenario of that name. Returns 0 with the path in out, or -1 with
 * a message naming what was tried.
 */
int sim_catalog_resolve(const char *arg, char *out, size_t outsz, char *err, size_t errsz);
/* sim_catalog_resolve(arg), then the scenario loaded into sc: what `sim run` and `sim load` read. */
int sim_catalog_load(const char *arg, struct sim_scenario *sc, char *err, size_t errsz);
/* Prints the plan: load, data, faults with their times and targets, the hypothesis. */
void sim_catalog_plan(const struct sim_scenario *sc, FILE *f);
/* `sim scenarios [--dir DIR]`: the shipped scenarios with their descriptions. */
int sim_scenarios_main(int argc, char **argv);

#endif
