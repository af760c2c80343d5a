/* svc_retry.c - retries: a seeded generator, exponential backoff with full jitter, retry budgets, background rounds */
#include <stdio.h>
#include <string.h>

#include "svc.h"
#include "svc_resilience.h"

#define SVC_TOKEN	1000000		/* one token, in the budget's millionths */

uint64_t
svc_rand64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

int64_t
svc_backoff_ceiling(int64_t base, int64_t cap, int k)
{
	if (k < 0)
		k = 0;
	/* base * 2^k > cap exactly when base > cap / 2^k: no overflow either way. */
	if (k >= 62 || base > (cap >> k))
		return cap;
	return base << k;
}

int64_t
svc_backoff_delay(int64_t base_us, int64_t cap_us, int attempt, int64_t remaining_us,
    uint64_t *rng)
{
	int64_t ceiling, delay;

	if (remaining_us <= 0)
		return SVC_BACKOFF_NO_TIME;
	if (base_us < 0)
		base_us = 0;
	if (cap_us < 0)
		cap_us = 0;
	ceiling = svc_backoff_ceiling(base_us, cap_us, attempt);
	delay = (int64_t)(svc_rand64(rng) % ((uint64_t)ceiling + 1));
	/* Sleeping up to the deadline would leave no time for the retry itself. */
	if (delay >= remaining_us)
		return SVC_BACKOFF_NO_TIME;
	return delay;
}

long
svc_bg_pause_ms(int result, long interval_ms, unsigned *failures)
{
	long		cap = interval_ms > SVC_BG_BACKOFF_CAP_MS ? interval_ms : SVC_BG_BACKOFF_CAP_MS;
	long		wait = interval_ms > 0 ? interval_ms : 0;
	unsigned	k;

	if (result >= 0) {
		*failures = 0;
		return result == 1 ? 0 : wait;
	}
	if (*failures < 64)
		(*failures)++;
	/* interval * 2^(failures - 1), doubled step by step so that it cannot overflow. */
	for (k = 1; k < *failures && wait < cap; k++)
		wait = wait > cap / 2 ? cap : wait * 2;
	if (wait == 0)
		wait = 1;	/* a zero interval still must not spin on errors */
	return wait < cap ? wait : cap;
}

int64_t
svc_bg_earliest(int64_t a, int64_t b)
{
	if (a <= 0)
		return b > 0 ? b : 0;
	return b > 0 && b < a ? b : a;
}

long long
svc_bg_until_ms(int64_t now_us, int64_t last_us, int64_t next_us, int64_t due_us, long min_ms,
    long max_ms)
{
	int64_t	lo, hi, until;

	if (min_ms < 0)
		min_ms = 0;
	if (max_ms < min_ms)
		max_ms = min_ms;
	lo = last_us + (int64_t)min_ms * 1000;
	hi = last_us + (int64_t)max_ms * 1000;
	until = svc_bg_earliest(next_us, due_us);
	if (until == 0 || until > hi)
		until = hi;
	if (until < lo)
		until = lo;
	if (until <= now_us)
		return 0;
	return (until - now_us + 999) / 1000;
}

int
svc_bg_more(size_t due, size_t moved, size_t batch)
{
	return batch > 0 && due >= batch && moved > 0;
}

int
svc_budget_init(struct svc_budget *bg, const struct svc_budget_conf *conf,
    const struct svc_clock *clock, char *err, size_t errlen)
{
	memset(bg, 0, sizeof(*bg));
	if (!(conf->ratio >= 0.0 && conf->ratio <= 1.0) || conf->min_per_sec < 0 ||
	    conf->min_per_sec > 1000000 || conf->cap < 1 || conf->cap > 1000000) {
		snprintf(err, errlen, "retry budget: want 0 <= ratio (%g) <= 1, 0 <= min_per_sec (%d),"
		    " 1 <= cap (%d) <= 1000000", conf->ratio, conf->min_per_sec, conf->cap);
		return -1;
	}
	if (pthread_mutex_init(&bg->lock, NULL) != 0) {
		snprintf(err, errlen, "retry budget: cannot create its lock");
		return -1;
	}
	bg->conf = *conf;
	bg->clock = clock;
	bg->ratio_u = (int64_t)(conf->ratio * SVC_TOKEN + 0.5);
	bg->cap_u = (int64_t)conf->cap * SVC_TOKEN;
	bg->tokens_u = (int64_t)conf->min_per_sec * SVC_TOKEN;
	if (bg->tokens_u > bg->cap_u)
		bg->tokens_u = bg->cap_u;
	bg->last_us = clock->now_us(clock->ctx);
	atomic_init(&bg->exhausted, 0);
	return 0;
}

void
svc_budget_free(struct svc_budget *bg)
{
	pthread_mutex_destroy(&bg->lock);
}

/* Adds the floor's tokens for the time since the last look. Called with the lock held. */
static void
svc_budget_refill(struct svc_budget *bg)
{
	int64_t now = bg->clock->now_us(bg->clock->ctx), el = now - bg->last_us;

	if (el <= 0)
		return;
	bg->last_us = now;
	if (bg->conf.min_per_sec == 0)
		return;
	/* A token per second per min_per_sec is exactly min_per_sec millionths per microsecond. */
	if (el >= (bg->cap_u - bg->tokens_u) / bg->conf.min_per_sec + 1)
		bg->tokens_u = bg->cap_u;
	else
		bg->tokens_u += el * bg->conf.min_per_sec;
	if (bg->tokens_u > bg->cap_u)
		bg->tokens_u = bg->cap_u;
}

void
svc_budget_deposit(struct svc_budget *bg)
{
	if (!bg->conf.enabled)
		return;
	pthread_mutex_lock(&bg->lock);
	svc_budget_refill(bg);
	bg->tokens_u += bg->ratio_u;
	if (bg->tokens_u > bg->cap_u)
		bg->tokens_u = bg->cap_u;
	pthread_mutex_unlock(&bg->lock);
}

int
svc_budget_withdraw(struct svc_budget *bg)
{
	int rc = -1;

	if (!bg->conf.enabled)
		return 0;
	pthread_mutex_lock(&bg->lock);
	svc_budget_refill(bg);
	if (bg->tokens_u >= SVC_TOKEN) {
		bg->tokens_u -= SVC_TOKEN;
		rc = 0;
	}
	pthread_mutex_unlock(&bg->lock);
	if (rc == -1)
		atomic_fetch_add_explicit(&bg->exhausted, 1, memory_order_relaxed);
	return rc;
}

double
svc_budget_tokens(struct svc_budget *bg)
{
	int64_t t;

	pthread_mutex_lock(&bg->lock);
	svc_budget_refill(bg);
	t = bg->tokens_u;
	pthread_mutex_unlock(&bg->lock);
	return (double)t / SVC_TOKEN;
}
