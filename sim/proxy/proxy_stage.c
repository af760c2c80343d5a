/* proxy_stage.c - a link's toxic chain (stages, chunks, timers, rolls); it reaches its connection only through l->ops */
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

struct sim_chunk *
sim_chunk_new(enum sim_chunk_kind kind, const void *data, size_t len,
    uint64_t ts)
{
	struct sim_chunk *c = malloc(sizeof(*c) + len);

	if (c == NULL)
		return NULL;
	memset(c, 0, sizeof(*c));
	c->kind = kind;
	c->ts = ts;
	c->len = (uint32_t)len;
	if (len > 0 && data != NULL)
		memcpy(c->data, data, len);
	return c;
}

void
sim_chunkq_push(struct sim_chunkq *q, struct sim_chunk *c)
{
	c->next = NULL;
	if (q->tail != NULL)
		q->tail->next = c;
	else
		q->head = c;
	q->tail = c;
}

struct sim_chunk *
sim_chunkq_pop(struct sim_chunkq *q)
{
	struct sim_chunk *c = q->head;

	if (c == NULL)
		return NULL;
	q->head = c->next;
	if (q->head == NULL)
		q->tail = NULL;
	c->next = NULL;
	return c;
}

void
sim_chunkq_free(struct sim_chunkq *q)
{
	struct sim_chunk *c;

	while ((c = sim_chunkq_pop(q)) != NULL)
		free(c);
}

uint64_t
sim_stage_now(const struct sim_stage *s)
{
	return s->link->conn->proxy->ctx->now_us();
}

void
sim_stage_run(struct sim_stage *s)
{
	struct sim_chunk *c;

	if (s->link->conn->reaping)
		return;
	if (!s->active) {
		while ((c = sim_chunkq_pop(&s->q)) != NULL)
			sim_stage_emit(s, c);
		return;
	}
	s->toxic->type->run(s);
}

static void
sim_stage_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct sim_stage *s = arg;

	sim_stage_run(s);
	if (!s->link->conn->reaping)
		s->link->ops->resume(s->link);
}

/* Rolls this connection's toxicity for the toxic (and reseeds its jitter stream) from the
 * seed, the proxy, the toxic, the connection id, the direction and the toxic's generation, so
 * the same seed and the same traffic give the same faults. FastCGI toxics are always active:
 * they choose per request. */
void
sim_stage_roll(struct sim_stage *s)
{
	struct sim_conn *c = s->link->conn;
	struct sim_proxy *p = c->proxy;
	struct sim_toxic *t = s->toxic;
	uint64_t k = sim_mix(sim_mix(sim_mix(p->ctx->seed, p->name_hash), t->name_hash),
	                     sim_mix(c->id * 2 + (uint64_t)s->link->dir, t->generation));
	struct sim_rng r;

	sim_rng_seed(&r, k);
	s->active = t->type->fcgi || sim_rng_unit(&r) < (double)t->toxicity;
	sim_rng_seed(&s->rng, sim_mix(k, 0x6a17));
	if (s->active && !t->type->fcgi) {
		struct sim_fault f = { .toxic = t, .conn_id = c->id, .value = -1 };

		t->faults++;
		sim_fault_record(p->ctx, &f);
	}
}

struct sim_stage *
sim_stage_new(struct sim_link *l, struct sim_toxic *t)
{
	struct sim_stage *s = calloc(1, sizeof(*s));

	if (s == NULL)
		goto out;
	s->link = l;
	s->toxic = t;
	s->timer = evtimer_new(l->conn->loop->base, sim_stage_timer_cb, s);
	if (s->timer == NULL)
		goto out_free;
	sim_stage_roll(s);
	return s;
out_free:
	free(s);
	s = NULL;
out:
	return s;
}

void
sim_stage_free(struct sim_stage *s)
{
	struct sim_chunk *c;

	if (s == NULL)
		return;
	if (s->toxic->type->stop != NULL)
		s->toxic->type->stop(s);
	while ((c = sim_chunkq_pop(&s->q)) != NULL) {
		s->link->held -= c->len;
		free(c);
	}
	event_free(s->timer);
	free(s);
}

void
sim_stage_push(struct sim_stage *s, struct sim_chunk *c)
{
	if (s->closed) {
		sim_stage_drop(s, c);
		return;
	}
	sim_chunkq_push(&s->q, c);
	sim_stage_run(s);
}

void
sim_stage_emit(struct sim_stage *s, struct sim_chunk *c)
{
	struct sim_link *l = s->link;

	for (size_t i = 0; i < l->nstages; i++) {
		if (l->stages[i] != s)
			continue;
		if (i + 1 < l->nstages)
			sim_stage_push(l->stages[i + 1], c);
		else
			l->ops->deliver(l, c);
		return;
	}
	/* A stage being removed flushes after it left the chain: deliver past it. */
	l->ops->deliver(l, c);
}

void
sim_stage_drop(struct sim_stage *s, struct sim_chunk *c)
{
	s->link->held -= c->len;
	free(c);
}

void
sim_stage_arm(struct sim_stage *s, uint64_t due)
{
	uint64_t now = sim_stage_now(s);
	uint64_t d = due > now ? due - now : 0;
	struct timeval tv = { .tv_sec = (time_t)(d / 1000000), .tv_usec = (suseconds_t)(d % 1000000) };

	/* libevent counts d from the time it cached when the loop woke, which may be long past
	 * on a busy machine (a handed-off connection's stages start in a later callback): from
	 * now, so that the timer does not fire before due by our clock. */
	(void)event_base_update_cache_time(event_get_base(s->timer));
	if (evtimer_add(s->timer, &tv) != 0)
		fprintf(stderr, "sim proxy: cannot arm a toxic timer\n");
}

/* Puts c at the head of the link's chain, as if its source had sent it. Consumes c. */
void
sim_link_inject(struct sim_link *l, struct sim_chunk *c)
{
	l->held += c->len;
	if (l->nstages > 0)
		sim_stage_push(l->stages[0], c);
	else
		l->ops->deliver(l, c);
}

/* Appends a stage for t to the link's chain and starts it. Returns 0, or -1 out of memory. */
int
sim_link_add_stage(struct sim_link *l, struct sim_toxic *t)
{
	struct sim_stage *s;

	if (l->nstages == l->cap) {
		size_t ncap = l->cap == 0 ? 4 : l->cap * 2;
		struct sim_stage **ns = realloc(l->stages, ncap * sizeof(*ns));

		if (ns == NULL)
			return -1;
		l->stages = ns;
		l->cap = ncap;
	}
	s = sim_stage_new(l, t);
	if (s == NULL)
		return -1;
	l->stages[l->nstages++] = s;
	if (t->type->start != NULL)
		t->type->start(s);
	return 0;
}

/* Takes t's stage out of the chain; what it held goes on, in order, untouched. */
void
sim_link_remove_stage(struct sim_link *l, struct sim_toxic *t)
{
	for (size_t i = 0; i < l->nstages; i++) {
		struct sim_stage *s = l->stages[i];
		struct sim_chunk *c;

		if (s->toxic != t)
			continue;
		event_del(s->timer);
		if (t->type->flush != NULL)
			t->type->flush(s);
		while ((c = sim_chunkq_pop(&s->q)) != NULL)
			sim_stage_emit(s, c);
		memmove(&l->stages[i], &l->stages[i + 1], (l->nstages - i - 1) * sizeof(*l->stages));
		l->nstages--;
		sim_stage_free(s);
		l->ops->resume(l);
		return;
	}
}

/* t was updated: its stage rolls its toxicity again and restarts. */
void
sim_link_restart_stage(struct sim_link *l, struct sim_toxic *t)
{
	for (size_t i = 0; i < l->nstages; i++) {
		struct sim_stage *s = l->stages[i];

		if (s->toxic != t)
			continue;
		sim_stage_roll(s);
		if (t->type->start != NULL)
			t->type->start(s);
		sim_stage_run(s);
	}
}
