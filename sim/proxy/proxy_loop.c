/* proxy_loop.c - the event loops that move proxied bytes, one thread each, and parking them */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy.h"

/*
 * Why parking and not locks: the data path (a connection's reads, writes, toxic stages and
 * timers) touches its own connection only, plus counters that are atomic. What it shares
 * with the API is the proxies, the toxics (settings, chains) and the connection lists. The
 * API changes those only inside sim_world_stop ... sim_world_start, while the loops other
 * than 0 wait outside their event loop: so a toxic added, updated or removed is on every
 * connection, of every loop, by the time the API answers, as Toxiproxy promises, and the
 * data path needs no lock per byte.
 */

static void
sim_loop_wake_loop(struct sim_loop *l)
{
	char b = 1;

	/* A full pipe already holds a wake-up. */
	if (write(l->wake[1], &b, 1) < 0 && errno != EAGAIN)
		fprintf(stderr, "sim proxy: waking loop %zu: %s\n", l->idx, strerror(errno));
}

/* Takes the sockets handed to this loop, then parks it if the world is stopping. */
static void
sim_loop_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sim_loop *l = arg;
	struct sim_handoff *q;
	size_t n;
	char b[64];

	(void)what;
	while (read(fd, b, sizeof(b)) > 0)
		;
	for (;;) {
		pthread_mutex_lock(&l->q_mu);
		q = l->q;
		n = l->nq;
		l->q = NULL;
		l->nq = l->cap = 0;
		pthread_mutex_unlock(&l->q_mu);
		if (n == 0)
			break;
		for (size_t i = 0; i < n; i++)
			sim_conn_accept(q[i].proxy, q[i].fd, l, q[i].id);
		free(q);
	}
	/* Loop 0 is the API's own: it is never parked, and stops by sim_server_stop. */
	if (l->idx > 0 && (atomic_load(&l->ctx->world_stop) || atomic_load(&l->ctx->world_exit)))
		(void)event_base_loopbreak(l->base);
}

static void *
sim_loop_main(void *arg)
{
	struct sim_loop *l = arg;
	struct sim_ctx *ctx = l->ctx;
	bool leave;

	for (;;) {
		if (event_base_loop(l->base, 0) < 0) {
			/* Its connections would hang and the API would wait for it for ever. */
			fprintf(stderr, "sim proxy: event loop %zu failed: stopping\n", l->idx);
			abort();
		}
		pthread_mutex_lock(&ctx->world_mu);
		if (atomic_load(&ctx->world_stop) && !atomic_load(&ctx->world_exit)) {
			ctx->parked++;
			pthread_cond_broadcast(&ctx->world_cv);
			while (atomic_load(&ctx->world_stop) && !atomic_load(&ctx->world_exit))
				pthread_cond_wait(&ctx->world_cv, &ctx->world_mu);
			ctx->parked--;
		}
		leave = atomic_load(&ctx->world_exit);
		pthread_mutex_unlock(&ctx->world_mu);
		if (leave)
			break;
	}
	return NULL;
}

int
sim_loops_init(struct sim_ctx *ctx, struct event_base *base, size_t n)
{
	if (n < 1 || n > SIM_LOOPS_MAX)
		return -1;
	ctx->loops = calloc(n, sizeof(*ctx->loops));
	if (ctx->loops == NULL)
		return -1;
	ctx->nloops = n;
	atomic_init(&ctx->next_loop, 0);
	atomic_init(&ctx->world_stop, 0);
	atomic_init(&ctx->world_exit, 0);
	if (pthread_mutex_init(&ctx->world_mu, NULL) != 0 ||
	    pthread_cond_init(&ctx->world_cv, NULL) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct sim_loop *l = &ctx->loops[i];

		l->ctx = ctx;
		l->idx = i;
		l->wake[0] = l->wake[1] = -1;
		if (pthread_mutex_init(&l->q_mu, NULL) != 0)
			return -1;
		l->base = i == 0 ? base : event_base_new();
		if (l->base == NULL || pipe2(l->wake, O_NONBLOCK | O_CLOEXEC) != 0)
			return -1;
		l->wake_ev = event_new(l->base, l->wake[0], EV_READ | EV_PERSIST, sim_loop_wake_cb, l);
		if (l->wake_ev == NULL || event_add(l->wake_ev, NULL) != 0)
			return -1;
	}
	return 0;
}

int
sim_loops_start(struct sim_ctx *ctx)
{
	sigset_t all, old;
	int rc = 0;

	/* Signals are the main thread's: the loops' threads block them. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (size_t i = 1; i < ctx->nloops; i++) {
		if (pthread_create(&ctx->loops[i].tid, NULL, sim_loop_main, &ctx->loops[i]) != 0) {
			rc = -1;
			break;
		}
		ctx->loops[i].started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

void
sim_loops_stop(struct sim_ctx *ctx)
{
	if (ctx->loops == NULL)
		return;
	pthread_mutex_lock(&ctx->world_mu);
	atomic_store(&ctx->world_exit, 1);
	pthread_cond_broadcast(&ctx->world_cv);
	pthread_mutex_unlock(&ctx->world_mu);
	for (size_t i = 1; i < ctx->nloops; i++) {
		if (!ctx->loops[i].started)
			continue;
		sim_loop_wake_loop(&ctx->loops[i]);
		pthread_join(ctx->loops[i].tid, NULL);
		ctx->loops[i].started = false;
	}
}

void
sim_loops_free(struct sim_ctx *ctx)
{
	if (ctx->loops == NULL)
		return;
	for (size_t i = 0; i < ctx->nloops; i++) {
		struct sim_loop *l = &ctx->loops[i];

		for (size_t k = 0; k < l->nq; k++)
			close(l->q[k].fd);
		free(l->q);
		if (l->wake_ev != NULL)
			event_free(l->wake_ev);
		for (int k = 0; k < 2; k++)
			if (l->wake[k] >= 0)
				close(l->wake[k]);
		if (i > 0 && l->base != NULL)
			event_base_free(l->base);
		pthread_mutex_destroy(&l->q_mu);
	}
	pthread_cond_destroy(&ctx->world_cv);
	pthread_mutex_destroy(&ctx->world_mu);
	free(ctx->loops);
	ctx->loops = NULL;
	ctx->nloops = 0;
}

void
sim_world_stop(struct sim_ctx *ctx)
{
	size_t others = 0;

	if (ctx->nloops <= 1)
		return;
	pthread_mutex_lock(&ctx->world_mu);
	atomic_store(&ctx->world_stop, 1);
	for (size_t i = 1; i < ctx->nloops; i++)
		if (ctx->loops[i].started) {
			others++;
			sim_loop_wake_loop(&ctx->loops[i]);
		}
	while (ctx->parked < others)
		pthread_cond_wait(&ctx->world_cv, &ctx->world_mu);
	pthread_mutex_unlock(&ctx->world_mu);
}

void
sim_world_start(struct sim_ctx *ctx)
{
	if (ctx->nloops <= 1)
		return;
	pthread_mutex_lock(&ctx->world_mu);
	atomic_store(&ctx->world_stop, 0);
	pthread_cond_broadcast(&ctx->world_cv);
	pthread_mutex_unlock(&ctx->world_mu);
}

void
sim_loops_handoff(struct sim_proxy *p, int fd)
{
	struct sim_ctx *ctx = p->ctx;
	size_t k = ctx->nloops > 1 ? atomic_fetch_add(&ctx->next_loop, 1) % ctx->nloops : 0;
	struct sim_loop *l = &ctx->loops[k];
	uint64_t id = atomic_fetch_add(&p->next_conn_id, 1) + 1;

	if (k == 0 || !l->started) {
		sim_conn_accept(p, fd, &ctx->loops[0], id);
		return;
	}
	pthread_mutex_lock(&l->q_mu);
	if (l->nq == l->cap) {
		size_t ncap = l->cap ? 2 * l->cap : 16;
		struct sim_handoff *q = realloc(l->q, ncap * sizeof(*q));

		if (q == NULL) {
			pthread_mutex_unlock(&l->q_mu);
			atomic_fetch_add(&p->m_refused, 1);
			close(fd);
			return;
		}
		l->q = q;
		l->cap = ncap;
	}
	l->q[l->nq].proxy = p;
	l->q[l->nq].fd = fd;
	l->q[l->nq].id = id;
	l->nq++;
	pthread_mutex_unlock(&l->q_mu);
	sim_loop_wake_loop(l);
}

void
sim_loops_forget(struct sim_ctx *ctx, struct sim_proxy *p)
{
	for (size_t i = 0; ctx->loops != NULL && i < ctx->nloops; i++) {
		struct sim_loop *l = &ctx->loops[i];
		size_t o = 0;

		pthread_mutex_lock(&l->q_mu);
		for (size_t k = 0; k < l->nq; k++) {
			if (l->q[k].proxy == p)
				close(l->q[k].fd);
			else
				l->q[o++] = l->q[k];
		}
		l->nq = o;
		pthread_mutex_unlock(&l->q_mu);
	}
}
