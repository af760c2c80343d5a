/* sim_hist.h - log-linear (HDR-style) latency histograms in microseconds, and per-second series */
#ifndef SIM_HIST_H
#define SIM_HIST_H

#include <stddef.h>
#include <stdint.h>

/* Values below 2^sub_bits are counted exactly; above, each power of two is cut into
 * 2^(sub_bits-1) equal buckets (relative error below 2^(1-sub_bits)). Values above 2^40 µs
 * (12 days) are clamped. */
struct sim_hist {
	int sub_bits;
	size_t nbuckets;
	uint64_t *counts;
	uint64_t total;
	uint64_t min, max;
	double sum;
};

int sim_hist_init(struct sim_hist *h, int sub_bits);
void sim_hist_free(struct sim_hist *h);
void sim_hist_reset(struct sim_hist *h);
void sim_hist_record(struct sim_hist *h, uint64_t value_us);
/* Adds src's counts into dst; both must have the same sub_bits. Returns -1 otherwise. */
int sim_hist_merge(struct sim_hist *dst, const struct sim_hist *src);
/* The value at percentile p (0..100, nearest rank); 0 for an empty histogram. Exact below
 * 2^sub_bits; above, the highest value equivalent to the bucket's. */
uint64_t sim_hist_percentile(const struct sim_hist *h, double p);
double sim_hist_mean(const struct sim_hist *h);

/* Bucket mapping, exposed for tests. */
size_t sim_hist_index(int sub_bits, uint64_t v);
uint64_t sim_hist_highest(int sub_bits, size_t idx);

/* One histogram per second, grown on demand (coarse resolution: sub_bits 6). */
struct sim_series {
	struct sim_hist *secs;
	size_t nsecs;
	int sub_bits;
};

void sim_series_init(struct sim_series *s, int sub_bits);
void sim_series_free(struct sim_series *s);
/* Records value into second sec; returns -1 when out of memory. */
int sim_series_record(struct sim_series *s, size_t sec, uint64_t value_us);
/* The histogram of second sec, or NULL when nothing was recorded there. */
const struct sim_hist *sim_series_at(const struct sim_series *s, size_t sec);

#endif
