/* proxy_rng.c - reproducible randomness for toxics: FNV-1a names, splitmix64 seeding, xoshiro256** */
#include <stdint.h>

#include "proxy.h"
#include "sim_rand.h"

uint64_t
sim_hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

/* Combines two values into one well-mixed value; order matters. */
uint64_t
sim_mix(uint64_t a, uint64_t b)
{
	uint64_t x = a ^ (b * 0xd6e8feb86659fd93ULL);

	return sim_rand_next(&x);
}

void
sim_rng_seed(struct sim_rng *r, uint64_t seed)
{
	uint64_t x = seed;

	for (int i = 0; i < 4; i++)
		r->s[i] = sim_rand_next(&x);
}

static uint64_t
sim_rng_rotl(uint64_t v, int k)
{
	return (v << k) | (v >> (64 - k));
}

uint64_t
sim_rng_next(struct sim_rng *r)
{
	uint64_t *s = r->s;
	uint64_t out = sim_rng_rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = sim_rng_rotl(s[3], 45);
	return out;
}

double
sim_rng_unit(struct sim_rng *r)
{
	return (double)(sim_rng_next(r) >> 11) * 0x1.0p-53;
}

int64_t
sim_rng_range(struct sim_rng *r, int64_t n)
{
	if (n <= 0)
		return 0;
	return (int64_t)(sim_rng_next(r) % (uint64_t)n);
}
