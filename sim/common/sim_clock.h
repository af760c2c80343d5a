/* sim_clock.h - the monotonic clock the run's phases, faults and scrapes are timed by */
#ifndef SIM_CLOCK_H
#define SIM_CLOCK_H

/* CLOCK_MONOTONIC in seconds. */
double sim_clock_mono_s(void);

#endif
