/* svc_wake_int.h - a sleep another thread can end (svc_wake.c) */
#ifndef SVC_WAKE_INT_H
#define SVC_WAKE_INT_H

#include <pthread.h>

/*
 * A sleep another thread can end (svc_wake.c): the relay's idle wait ends when a commit wrote
 * to the outbox (post), every event thread's sleep ends at shutdown (close). A timed wait on a
 * condition variable: no polling between the bounds the caller gives.
 */
struct svc_wake {
	pthread_mutex_t	mu;
	pthread_cond_t	cv;
	int		posted;		/* a post not yet taken by a wait */
	int		closed;		/* every wait ends at once, until svc_wake_reset */
};
#define SVC_WAKE_INITIALIZER	{ PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 }

enum svc_wake_why {
	SVC_WAKE_TIMEOUT,	/* ms passed */
	SVC_WAKE_POSTED,	/* svc_wake_post (taken only by a wait with take_post) */
	SVC_WAKE_CLOSED		/* svc_wake_close */
};
void svc_wake_reset(struct svc_wake *wk);
void svc_wake_post(struct svc_wake *wk);
void svc_wake_close(struct svc_wake *wk);
enum svc_wake_why svc_wake_wait(struct svc_wake *wk, long long ms, int take_post);

#endif /* SVC_WAKE_INT_H */
