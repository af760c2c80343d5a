/* sim_validate.h - a scenario checked against the live stack before any load */
#ifndef SIM_VALIDATE_H
#define SIM_VALIDATE_H

#include <stdio.h>

#include "sim_scenario.h"

/*
 * Checks every value that names something on the stack: each toxic's proxy (GET /proxies), type,
 * stream and attributes (GET /toxic-types), each kill/stop/restart target (its pid file and a live
 * process), and the product range (GET /api/v1/products/{id}). Each mistake is one line on out,
 * "FILE:LINE: JSON.PATH: what is wrong". Returns the number of mistakes (0: go ahead).
 */
int sim_validate_live(const struct sim_scenario *sc, const char *gateway, const char *proxy_api,
		      const char *run_dir, FILE *out);

#endif
