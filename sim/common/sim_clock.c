/* sim_clock.c - the monotonic clock the run's phases, faults and scrapes are timed by */
#include <time.h>

#include "sim_clock.h"

double
sim_clock_mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
