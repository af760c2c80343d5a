/* proxy_toxic.c - one toxic's settings (attributes by name, defaults) and the draws every toxic type shares */
#include <stdio.h>
#include <string.h>

#include "proxy.h"

int
sim_toxic_attr_index(const struct sim_toxic_type *type, const char *attr)
{
	for (size_t i = 0; i < type->nattrs; i++)
		if (strcmp(type->attrs[i].name, attr) == 0)
			return (int)i;
	return -1;
}

static int
sim_tx_attr_index(const struct sim_toxic *t, const char *attr)
{
	return sim_toxic_attr_index(t->type, attr);
}

int64_t
sim_toxic_int(const struct sim_toxic *t, const char *attr)
{
	int i = sim_tx_attr_index(t, attr);

	return i < 0 ? 0 : t->ival[i];
}

const char *
sim_toxic_str(const struct sim_toxic *t, const char *attr)
{
	int i = sim_tx_attr_index(t, attr);

	return i < 0 ? "" : t->sval[i];
}

void
sim_toxic_set_defaults(struct sim_toxic *t)
{
	for (size_t i = 0; i < t->type->nattrs; i++) {
		const struct sim_attr_def *d = &t->type->attrs[i];

		t->ival[i] = d->idef;
		snprintf(t->sval[i], sizeof(t->sval[i]), "%s", d->sdef != NULL ? d->sdef : "");
	}
}

int
sim_toxic_check(const struct sim_toxic *t, char *msg, size_t msgsz)
{
	if (!(t->toxicity >= 0.0f && t->toxicity <= 1.0f)) {
		snprintf(msg, msgsz, "invalid toxicity: must be from 0 to 1 (got %.7g)", (double)t->toxicity);
		return -1;
	}
	for (size_t i = 0; i < t->type->nattrs; i++) {
		const struct sim_attr_def *d = &t->type->attrs[i];

		if (d->kind != SIM_ATTR_INT)
			continue;
		if (t->ival[i] < d->min) {
			snprintf(msg, msgsz, "invalid attribute: %s.%s must be >= %lld (got %lld)", t->type->name, d->name,
			         (long long)d->min, (long long)t->ival[i]);
			return -1;
		}
		if (t->ival[i] > d->max) {
			snprintf(msg, msgsz, "invalid attribute: %s.%s must be <= %lld (got %lld)", t->type->name, d->name,
			         (long long)d->max, (long long)t->ival[i]);
			return -1;
		}
	}
	return 0;
}

/* A delay of latency ± jitter ms, never below zero. */
int64_t
sim_latency_draw(int64_t latency, int64_t jitter, struct sim_rng *rng)
{
	int64_t d = latency;

	if (jitter > 0 && jitter < INT64_MAX / 2)
		d += sim_rng_range(rng, jitter * 2) - jitter;
	return d < 0 ? 0 : d;
}

/* Chooses a request: first N, else every Nth, else with probability toxicity. */
bool
sim_fcgi_select(int64_t first, int64_t every, float toxicity, uint64_t seq,
    struct sim_rng *rng)
{
	if (first > 0)
		return seq <= (uint64_t)first;
	if (every > 0)
		return seq % (uint64_t)every == 0;
	return sim_rng_unit(rng) < (double)toxicity;
}
