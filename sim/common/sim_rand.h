/* sim_rand.h - splitmix64, the seeded stream under both the proxy's and the load's random choices */
#ifndef SIM_RAND_H
#define SIM_RAND_H

#include <stdint.h>

/* splitmix64: advances *state and returns the next value of its stream. */
uint64_t sim_rand_next(uint64_t *state);
/* A double in [0, 1). */
double sim_rand_unit(uint64_t *state);

#endif
