/* svc_wake.c - a sleep that another thread can end: posted by a commit, closed at shutdown */
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "svc_wake_int.h"

void
svc_wake_reset(struct svc_wake *wk)
{
	pthread_mutex_lock(&wk->mu);
	wk->posted = 0;
	wk->closed = 0;
	pthread_mutex_unlock(&wk->mu);
}

/*
 * Sets a flag of wk (posted or closed) and wakes every waiter. Broadcast, not signal: the
 * relay's idle wait takes the post, but the consumer may be asleep on the same wake in a
 * backoff, and a signal could wake it instead of the relay.
 */
static void
svc_wake_raise(struct svc_wake *wk, int *flag)
{
	pthread_mutex_lock(&wk->mu);
	*flag = 1;
	pthread_cond_broadcast(&wk->cv);
	pthread_mutex_unlock(&wk->mu);
}

void
svc_wake_post(struct svc_wake *wk)
{
	svc_wake_raise(wk, &wk->posted);
}

void
svc_wake_close(struct svc_wake *wk)
{
	svc_wake_raise(wk, &wk->closed);
}

/*
 * Waits up to ms on CLOCK_MONOTONIC (a wall-clock step neither stretches nor cuts it). Ends at
 * once when the wake is closed, and, if take_post, when it was posted (the post is consumed:
 * one post ends one wait). A post that came before the wait counts: nothing is lost between
 * the caller's last look and the wait.
 */
enum svc_wake_why
svc_wake_wait(struct svc_wake *wk, long long ms, int take_post)
{
	struct timespec		until;
	enum svc_wake_why	why = SVC_WAKE_TIMEOUT;
	int			rc = 0;

	if (clock_gettime(CLOCK_MONOTONIC, &until) != 0)
		return SVC_WAKE_TIMEOUT;	/* cannot happen on Linux; the caller polls again */
	if (ms < 0)
		ms = 0;
	until.tv_sec += (time_t)(ms / 1000);
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&wk->mu);
	for (;;) {
		if (wk->closed) {
			why = SVC_WAKE_CLOSED;
			break;
		}
		if (take_post && wk->posted) {
			wk->posted = 0;
			why = SVC_WAKE_POSTED;
			break;
		}
		if (rc == ETIMEDOUT)
			break;
		/* EINTR is not returned by it; anything else than a wake-up ends the wait. */
		rc = pthread_cond_clockwait(&wk->cv, &wk->mu, CLOCK_MONOTONIC, &until);
		if (rc != 0 && rc != ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&wk->mu);
	return why;
}
