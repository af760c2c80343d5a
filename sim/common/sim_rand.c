/* sim_rand.c - splitmix64: one seeded stream, shared by the proxy's seeding and the load's choices */
#include "sim_rand.h"

uint64_t
sim_rand_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

double
sim_rand_unit(uint64_t *state)
{
	return (double)(sim_rand_next(state) >> 11) * 0x1.0p-53;
}
