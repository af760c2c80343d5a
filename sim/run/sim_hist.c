/* sim_hist.c - log-linear latency histograms: exact below 2^sub_bits, bounded relative error above */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim_hist.h"

#define MAX_BITS 40

static int
sim_hist_msb(uint64_t v)
{
	return 63 - __builtin_clzll(v);
}

size_t
sim_hist_index(int sub_bits, uint64_t v)
{
	uint64_t lin = (uint64_t)1 << sub_bits, half = lin >> 1;
	int e;

	if (v >= ((uint64_t)1 << MAX_BITS))
		v = ((uint64_t)1 << MAX_BITS) - 1;
	if (v < lin)
		return (size_t)v;
	e = sim_hist_msb(v) - (sub_bits - 1);            /* >= 1: v >> e lies in [half, lin) */
	return (size_t)(lin + (uint64_t)(e - 1) * half + ((v >> e) - half));
}

uint64_t
sim_hist_highest(int sub_bits, size_t idx)
{
	uint64_t lin = (uint64_t)1 << sub_bits, half = lin >> 1, e, m;

	if (idx < lin)
		return idx;
	e = (idx - lin) / half + 1;
	m = (idx - lin) % half + half;
	return ((m + 1) << e) - 1;
}

int
sim_hist_init(struct sim_hist *h, int sub_bits)
{
	memset(h, 0, sizeof(*h));
	if (sub_bits < 2 || sub_bits > 16)
		return -1;
	h->sub_bits = sub_bits;
	h->nbuckets = sim_hist_index(sub_bits, ((uint64_t)1 << MAX_BITS) - 1) + 1;
	h->counts = calloc(h->nbuckets, sizeof(*h->counts));
	return h->counts ? 0 : -1;
}

void
sim_hist_free(struct sim_hist *h)
{
	free(h->counts);
	h->counts = NULL;
	h->nbuckets = 0;
}

void
sim_hist_reset(struct sim_hist *h)
{
	memset(h->counts, 0, h->nbuckets * sizeof(*h->counts));
	h->total = h->min = h->max = 0;
	h->sum = 0;
}

void
sim_hist_record(struct sim_hist *h, uint64_t v)
{
	h->counts[sim_hist_index(h->sub_bits, v)]++;
	if (h->total == 0 || v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	h->total++;
	h->sum += (double)v;
}

int
sim_hist_merge(struct sim_hist *dst, const struct sim_hist *src)
{
	if (dst->sub_bits != src->sub_bits)
		return -1;
	if (src->total == 0)
		return 0;
	for (size_t i = 0; i < dst->nbuckets; i++)
		dst->counts[i] += src->counts[i];
	if (dst->total == 0 || src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
	dst->total += src->total;
	dst->sum += src->sum;
	return 0;
}

uint64_t
sim_hist_percentile(const struct sim_hist *h, double p)
{
	uint64_t rank, seen = 0, v;

	if (h->total == 0)
		return 0;
	if (p <= 0)
		return h->min;
	rank = (uint64_t)ceil(p * (double)h->total / 100.0 - 1e-9);
	if (rank < 1)
		rank = 1;
	if (rank > h->total)
		rank = h->total;
	for (size_t i = 0; i < h->nbuckets; i++) {
		seen += h->counts[i];
		if (seen >= rank) {
			v = sim_hist_highest(h->sub_bits, i);
			return v > h->max ? h->max : v;
		}
	}
	return h->max;
}

double
sim_hist_mean(const struct sim_hist *h)
{
	return h->total ? h->sum / (double)h->total : 0;
}

void
sim_series_init(struct sim_series *s, int sub_bits)
{
	memset(s, 0, sizeof(*s));
	s->sub_bits = sub_bits;
}

void
sim_series_free(struct sim_series *s)
{
	for (size_t i = 0; i < s->nsecs; i++)
		sim_hist_free(&s->secs[i]);
	free(s->secs);
	s->secs = NULL;
	s->nsecs = 0;
}

int
sim_series_record(struct sim_series *s, size_t sec, uint64_t v)
{
	if (sec > 1000000)
		return -1;
	if (sec >= s->nsecs) {
		size_t n = sec + 16;
		struct sim_hist *ns = realloc(s->secs, n * sizeof(*ns));

		if (ns == NULL)
			return -1;
		memset(ns + s->nsecs, 0, (n - s->nsecs) * sizeof(*ns));
		s->secs = ns;
		s->nsecs = n;
	}
	if (s->secs[sec].counts == NULL && sim_hist_init(&s->secs[sec], s->sub_bits) != 0)
		return -1;
	sim_hist_record(&s->secs[sec], v);
	return 0;
}

const struct sim_hist *
sim_series_at(const struct sim_series *s, size_t sec)
{
	if (sec >= s->nsecs || s->secs[sec].counts == NULL)
		return NULL;
	return &s->secs[sec];
}
