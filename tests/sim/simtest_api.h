/* simtest_api.h - an in-process sim proxy for tests that cannot include proxy.h (the scenario side) */
#ifndef SIMTEST_API_H
#define SIMTEST_API_H

struct simtest_server;

/* Starts a sim proxy (seed 1) on a free 127.0.0.1 port and creates proxy name -> an echo
 * upstream. Returns it (its API port in *port), or NULL. */
struct simtest_server *simtest_api_start(const char *name, int *port);
void simtest_api_stop(struct simtest_server *s);

#endif
