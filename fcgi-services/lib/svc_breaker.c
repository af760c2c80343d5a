/* svc_breaker.c - circuit breaker: closed, open, half-open over a count-based sliding window */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "svc.h"
#include "svc_resilience.h"

#define SVC_BREAKER_FAILED	0x1
#define SVC_BREAKER_SLOW	0x2

static const char *const svc_breaker_names[] = {
	[SVC_BREAKER_CLOSED] = "closed",
	[SVC_BREAKER_OPEN] = "open",
	[SVC_BREAKER_HALF_OPEN] = "half_open",
};

const char *
svc_breaker_state_name(enum svc_breaker_state s)
{
	if ((size_t)s >= SVC_NELEM(svc_breaker_names))
		return "unknown";
	return svc_breaker_names[s];
}

static int
svc_rate_ok(double r)
{
	return r > 0.0 && r <= 1.0;
}

int
svc_breaker_init(struct svc_breaker *b, const char *name, const struct svc_breaker_conf *conf,
    const struct svc_clock *clock, char *err, size_t errlen)
{
	int i;

	memset(b, 0, sizeof(*b));
	if (conf->window < 1 || conf->window > SVC_BREAKER_MAX_WINDOW ||
	    conf->min_calls < 1 || conf->min_calls > conf->window) {
		snprintf(err, errlen, "breaker %s: want 1 <= min_calls (%d) <= window (%d) <= %d",
		    name, conf->min_calls, conf->window, SVC_BREAKER_MAX_WINDOW);
		return -1;
	}
	if (!svc_rate_ok(conf->failure_rate) || !svc_rate_ok(conf->slow_rate)) {
		snprintf(err, errlen, "breaker %s: rates must be in (0, 1]", name);
		return -1;
	}
	if (conf->slow_call_us < 1 || conf->open_wait_us < 1 || conf->probes < 1) {
		snprintf(err, errlen, "breaker %s: slow call time, open wait and probes must be > 0",
		    name);
		return -1;
	}
	if (pthread_mutex_init(&b->lock, NULL) != 0) {
		snprintf(err, errlen, "breaker %s: cannot create its lock", name);
		return -1;
	}
	b->conf = *conf;
	b->clock = clock;
	snprintf(b->name, sizeof(b->name), "%s", name);
	b->fail_ppm = (int64_t)(conf->failure_rate * 1e6 + 0.5);
	b->slow_ppm = (int64_t)(conf->slow_rate * 1e6 + 0.5);
	b->state = SVC_BREAKER_CLOSED;
	atomic_init(&b->state_pub, SVC_BREAKER_CLOSED);
	atomic_init(&b->clean_pub, 1);
	for (i = 0; i < SVC_BREAKER_NTRANSITIONS; i++)
		atomic_init(&b->transitions[i], 0);
	atomic_init(&b->rejections, 0);
	return 0;
}

void
svc_breaker_free(struct svc_breaker *b)
{
	pthread_mutex_destroy(&b->lock);
}

static void
svc_breaker_window_reset(struct svc_breaker *b)
{
	b->head = b->n = b->nfail = b->nslow = 0;
}

/* Called with the lock held. */
static void
svc_breaker_move(struct svc_breaker *b, int to, int64_t now)
{
	enum svc_breaker_transition t;
	int from = b->state;

	if (from == SVC_BREAKER_CLOSED)
		t = SVC_BREAKER_CLOSED_OPEN;
	else if (from == SVC_BREAKER_OPEN)
		t = SVC_BREAKER_OPEN_HALF_OPEN;
	else
		t = to == SVC_BREAKER_CLOSED ? SVC_BREAKER_HALF_OPEN_CLOSED : SVC_BREAKER_HALF_OPEN_OPEN;
	if (from == SVC_BREAKER_CLOSED)
		svc_log(NULL, "warn", "breaker %s: closed -> open (%d calls, %d failed, %d slow)",
		    b->name, b->n, b->nfail, b->nslow);
	else
		svc_log(NULL, "warn", "breaker %s: %s -> %s", b->name, svc_breaker_state_name(from),
		    svc_breaker_state_name(to));
	b->state = to;
	b->epoch = (b->epoch + 1) & INT_MAX;
	b->admitted = b->succeeded = 0;
	if (to == SVC_BREAKER_OPEN)
		b->opened_us = now;
	if (to == SVC_BREAKER_CLOSED)
		svc_breaker_window_reset(b);
	atomic_store(&b->state_pub, to);
	atomic_store(&b->clean_pub, to == SVC_BREAKER_CLOSED);
	atomic_fetch_add(&b->transitions[t], 1);
}

int
svc_breaker_allow(struct svc_breaker *b)
{
	int permit = SVC_BREAKER_REJECT;

	if (!b->conf.enabled)
		return 0;
	pthread_mutex_lock(&b->lock);
	if (b->state == SVC_BREAKER_OPEN) {
		int64_t now = b->clock->now_us(b->clock->ctx);

		if (now - b->opened_us >= b->conf.open_wait_us)
			svc_breaker_move(b, SVC_BREAKER_HALF_OPEN, now);
	}
	if (b->state == SVC_BREAKER_CLOSED)
		permit = (int)b->epoch;
	else if (b->state == SVC_BREAKER_HALF_OPEN && b->admitted < b->conf.probes) {
		b->admitted++;
		permit = (int)b->epoch;
	}
	pthread_mutex_unlock(&b->lock);
	if (permit == SVC_BREAKER_REJECT)
		atomic_fetch_add_explicit(&b->rejections, 1, memory_order_relaxed);
	return permit;
}

void
svc_breaker_record(struct svc_breaker *b, int permit, int success, int64_t duration_us)
{
	int slow = duration_us > b->conf.slow_call_us;
	uint8_t bits = (uint8_t)((success ? 0 : SVC_BREAKER_FAILED) | (slow ? SVC_BREAKER_SLOW : 0));

	if (!b->conf.enabled || permit < 0)
		return;
	pthread_mutex_lock(&b->lock);
	/* A call admitted before the last transition says nothing about the present state. */
	if ((unsigned)permit != b->epoch)
		goto out_unlock;
	if (b->state == SVC_BREAKER_CLOSED) {
		if (b->n == b->conf.window) {
			uint8_t old = b->ring[b->head];

			b->nfail -= (old & SVC_BREAKER_FAILED) != 0;
			b->nslow -= (old & SVC_BREAKER_SLOW) != 0;
		} else
			b->n++;
		b->ring[b->head] = bits;
		b->head = (b->head + 1) % b->conf.window;
		b->nfail += !success;
		b->nslow += slow;
		if (b->n >= b->conf.min_calls &&
		    ((int64_t)b->nfail * 1000000 >= b->fail_ppm * b->n ||
		    (int64_t)b->nslow * 1000000 >= b->slow_ppm * b->n))
			svc_breaker_move(b, SVC_BREAKER_OPEN, b->clock->now_us(b->clock->ctx));
		else
			atomic_store(&b->clean_pub, b->nfail == 0 && b->nslow == 0);
	} else if (b->state == SVC_BREAKER_HALF_OPEN) {
		if (bits != 0)
			svc_breaker_move(b, SVC_BREAKER_OPEN, b->clock->now_us(b->clock->ctx));
		else if (++b->succeeded == b->conf.probes)
			svc_breaker_move(b, SVC_BREAKER_CLOSED, 0);
	}
out_unlock:
	pthread_mutex_unlock(&b->lock);
}

void
svc_breaker_release(struct svc_breaker *b, int permit)
{
	if (!b->conf.enabled || permit < 0)
		return;
	pthread_mutex_lock(&b->lock);
	if ((unsigned)permit == b->epoch && b->state == SVC_BREAKER_HALF_OPEN && b->admitted > 0)
		b->admitted--;
	pthread_mutex_unlock(&b->lock);
}

int
svc_breaker_healthy(struct svc_breaker *b)
{
	if (!b->conf.enabled)
		return 1;
	return atomic_load(&b->state_pub) == SVC_BREAKER_CLOSED && atomic_load(&b->clean_pub);
}

enum svc_breaker_state
svc_breaker_state(struct svc_breaker *b)
{
	return (enum svc_breaker_state)atomic_load(&b->state_pub);
}
