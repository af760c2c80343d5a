/* proxy_toxics.c - the connection toxics (Toxiproxy's set) and the table of every toxic type */
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

#define SLICED 1u

static uint64_t
sim_toxics_ms_to_us(int64_t ms)
{
	if (ms <= 0)
		return 0;
	if (ms > INT64_MAX / 1000)
		return (uint64_t)INT64_MAX;
	return (uint64_t)ms * 1000u;
}

/* latency: each chunk leaves latency ± jitter ms after it was read, in order. */
static void
sim_toxics_latency_run(struct sim_stage *s)
{
	struct sim_chunk *c;
	uint64_t now = sim_stage_now(s);

	while ((c = s->q.head) != NULL) {
		if (c->kind == SIM_DATA) {
			if (c->due == 0) {
				int64_t d = sim_latency_draw(sim_toxic_int(s->toxic, "latency"),
				                             sim_toxic_int(s->toxic, "jitter"), &s->rng);
				c->due = c->ts + sim_toxics_ms_to_us(d);
				if (c->due == 0)
					c->due = 1;
			}
			if (now < c->due) {
				sim_stage_arm(s, c->due);
				return;
			}
			c->ts = c->due;
			c->due = 0;
		}
		sim_stage_emit(s, sim_chunkq_pop(&s->q));
	}
}

/* bandwidth: rate KB/s (1 KB = 1000 bytes, as Toxiproxy counts), at most 100 ms of data at
 * a time, paced from the end of the previous piece so the average rate holds. */
static void
sim_toxics_bandwidth_run(struct sim_stage *s)
{
	struct sim_chunk *c;
	int64_t rate = sim_toxic_int(s->toxic, "rate");
	uint64_t now = sim_stage_now(s);

	while ((c = s->q.head) != NULL) {
		if (c->kind != SIM_DATA || rate <= 0) {
			sim_stage_emit(s, sim_chunkq_pop(&s->q));
			continue;
		}
		if (c->due == 0) {
			uint64_t start = s->busy_until + 20000 >= now ? s->busy_until : now;
			uint64_t piece = c->len;

			if (rate < INT64_MAX / 100 && piece > (uint64_t)rate * 100)
				piece = (uint64_t)rate * 100;
			if (start < now && s->busy_until == 0)
				start = now;
			c->tag = (uint32_t)piece;
			c->due = start + piece * 1000u / (uint64_t)rate;
			if (c->due == 0)
				c->due = 1;
		}
		if (now < c->due) {
			sim_stage_arm(s, c->due);
			return;
		}
		s->busy_until = c->due;
		if (c->tag < c->len) {
			struct sim_chunk *head = sim_chunk_new(SIM_DATA, c->data, c->tag, c->ts);

			if (head == NULL) {
				sim_stage_arm(s, now + 1000);
				return;
			}
			memmove(c->data, c->data + c->tag, c->len - c->tag);
			c->len -= c->tag;
			c->due = 0;
			sim_stage_emit(s, head);
		} else {
			c = sim_chunkq_pop(&s->q);
			c->due = 0;
			sim_stage_emit(s, c);
		}
	}
}

/* slow_close: data flows; the end of the stream is held back delay ms. */
static void
sim_toxics_slow_close_run(struct sim_stage *s)
{
	struct sim_chunk *c;
	uint64_t now = sim_stage_now(s);

	while ((c = s->q.head) != NULL) {
		if (c->kind != SIM_DATA) {
			if (c->due == 0)
				c->due = now + sim_toxics_ms_to_us(sim_toxic_int(s->toxic, "delay")) + 1;
			if (now < c->due) {
				sim_stage_arm(s, c->due);
				return;
			}
			c->due = 0;
		}
		sim_stage_emit(s, sim_chunkq_pop(&s->q));
	}
}

static void
sim_toxics_stage_close(struct sim_stage *s, enum sim_chunk_kind kind)
{
	struct sim_chunk *c;
	struct sim_chunk *m = sim_chunk_new(kind, NULL, 0, sim_stage_now(s));

	s->closed = true;
	while ((c = sim_chunkq_pop(&s->q)) != NULL)
		sim_stage_drop(s, c);
	if (m != NULL)
		sim_stage_emit(s, m);
}

/* timeout: data is dropped; after timeout ms (0: never) the connection is closed. */
static void
sim_toxics_timeout_start(struct sim_stage *s)
{
	int64_t ms = sim_toxic_int(s->toxic, "timeout");

	s->busy_until = 0;
	event_del(s->timer);
	if (s->active && ms > 0) {
		s->busy_until = sim_stage_now(s) + sim_toxics_ms_to_us(ms);
		sim_stage_arm(s, s->busy_until);
	}
}

static void
sim_toxics_timeout_run(struct sim_stage *s)
{
	struct sim_chunk *c;

	if (s->busy_until != 0 && sim_stage_now(s) >= s->busy_until) {
		sim_toxics_stage_close(s, SIM_CLOSE);
		return;
	}
	while ((c = sim_chunkq_pop(&s->q)) != NULL) {
		if (c->kind == SIM_DATA) {
			sim_stage_drop(s, c);
			continue;
		}
		s->closed = true;
		sim_stage_emit(s, c);
	}
	/* The timer can fire a little before the deadline by our clock (libevent measures from
	 * its cached loop time): then the close would never come. Armed again for what is left. */
	if (s->busy_until != 0 && !evtimer_pending(s->timer, NULL))
		sim_stage_arm(s, s->busy_until);
}

/* reset_peer: at the first data, wait timeout ms, then reset both sides (SO_LINGER 0). */
static void
sim_toxics_reset_peer_run(struct sim_stage *s)
{
	struct sim_chunk *c;
	uint64_t now = sim_stage_now(s);

	while ((c = sim_chunkq_pop(&s->q)) != NULL) {
		if (!s->armed) {
			s->armed = true;
			s->busy_until = now + sim_toxics_ms_to_us(sim_toxic_int(s->toxic, "timeout"));
		}
		sim_stage_drop(s, c);
	}
	if (!s->armed)
		return;
	if (now >= s->busy_until)
		sim_toxics_stage_close(s, SIM_RESET);
	else
		sim_stage_arm(s, s->busy_until);
}

static void
sim_toxics_reset_peer_start(struct sim_stage *s)
{
	s->armed = false;
	event_del(s->timer);
}

/* Plans how slicer cuts len bytes, as Toxiproxy does: halve (± variation) until a piece is
 * within average+variation. Writes at most max sizes; returns how many. */
size_t
sim_slicer_plan(int64_t avg, int64_t var, size_t len, struct sim_rng *rng,
    size_t *sizes, size_t max)
{
	size_t stack[2][64];
	size_t top = 0, n = 0;

	if (max == 0)
		return 0;
	if (avg <= 0 || len == 0) {
		sizes[0] = len;
		return 1;
	}
	if (var >= avg)
		var = avg - 1;
	if (var < 0)
		var = 0;
	stack[0][0] = 0;
	stack[1][0] = len;
	top = 1;
	while (top > 0) {
		size_t start = stack[0][top - 1], end = stack[1][top - 1];

		top--;
		if ((int64_t)(end - start) - avg <= var || top + 2 > 64 || n + 1 >= max) {
			if (n + 1 >= max && top > 0) {
				/* out of room: the last piece takes the rest */
				sizes[n++] = len - start;
				return n;
			}
			sizes[n++] = end - start;
			continue;
		}
		int64_t mid = (int64_t)(start + (end - start) / 2);

		if (var > 0)
			mid += sim_rng_range(rng, var * 2) - var;
		if (mid <= (int64_t)start)
			mid = (int64_t)start + 1;
		if (mid >= (int64_t)end)
			mid = (int64_t)end - 1;
		/* right half below the left so the left is cut first */
		stack[0][top] = (size_t)mid;
		stack[1][top] = end;
		stack[0][top + 1] = start;
		stack[1][top + 1] = (size_t)mid;
		top += 2;
	}
	return n;
}

static int
sim_toxics_slicer_cut(struct sim_stage *s)
{
	struct sim_chunk *c = sim_chunkq_pop(&s->q);
	struct sim_chunkq pieces = { NULL, NULL };
	size_t *sizes = malloc(sizeof(*sizes) * (c->len + 1));
	size_t n, off = 0;
	int rc = -1;

	if (sizes == NULL)
		goto out_requeue;
	n = sim_slicer_plan(sim_toxic_int(s->toxic, "average_size"),
	                    sim_toxic_int(s->toxic, "size_variation"), c->len, &s->rng, sizes,
	                    c->len + 1);
	for (size_t i = 0; i < n; i++) {
		struct sim_chunk *p = sim_chunk_new(SIM_DATA, c->data + off, sizes[i], c->ts);

		if (p == NULL) {
			sim_chunkq_free(&pieces);
			goto out_free_sizes;
		}
		p->tag = SLICED;
		off += sizes[i];
		sim_chunkq_push(&pieces, p);
	}
	pieces.tail->next = s->q.head;
	if (s->q.head == NULL)
		s->q.tail = pieces.tail;
	s->q.head = pieces.head;
	free(c);
	c = NULL;
	rc = 0;
out_free_sizes:
	free(sizes);
out_requeue:
	if (c != NULL) {
		c->tag = SLICED; /* could not cut: pass it whole */
		c->next = s->q.head;
		s->q.head = c;
		if (s->q.tail == NULL)
			s->q.tail = c;
	}
	return rc;
}

/* slicer: cuts data into pieces of about average_size bytes, delay µs apart. */
static void
sim_toxics_slicer_run(struct sim_stage *s)
{
	struct sim_chunk *c;
	uint64_t now = sim_stage_now(s);

	while ((c = s->q.head) != NULL) {
		if (c->kind == SIM_DATA && !(c->tag & SLICED) && c->len > 0) {
			(void)sim_toxics_slicer_cut(s);
			continue;
		}
		if (now < s->busy_until) {
			sim_stage_arm(s, s->busy_until);
			return;
		}
		c = sim_chunkq_pop(&s->q);
		if (c->kind == SIM_DATA) {
			int64_t d = sim_toxic_int(s->toxic, "delay");

			s->busy_until = now + (d > 0 ? (uint64_t)d : 0);
			c->tag = 0;
		}
		sim_stage_emit(s, c);
	}
}

/* limit_data: passes bytes bytes in this direction, then closes the connection. */
static void
sim_toxics_limit_data_run(struct sim_stage *s)
{
	struct sim_chunk *c;
	int64_t limit = sim_toxic_int(s->toxic, "bytes");

	while ((c = sim_chunkq_pop(&s->q)) != NULL) {
		if (c->kind != SIM_DATA) {
			sim_stage_emit(s, c);
			continue;
		}
		int64_t left = limit - s->count;

		if (left < 0)
			left = 0;
		if ((int64_t)c->len > left) {
			s->link->held -= c->len - (size_t)left;
			c->len = (uint32_t)left;
		}
		if (c->len > 0) {
			s->count += c->len;
			sim_stage_emit(s, c);
		} else {
			free(c);
		}
		if (limit - s->count <= 0) {
			sim_toxics_stage_close(s, SIM_CLOSE);
			return;
		}
	}
}

/* Ranges: times in ms up to a day, sizes and rates up to INT32_MAX. A value that would make the
 * toxic do nothing (bandwidth rate 0, slow_close delay 0) or that it cannot mean (a negative
 * time) is refused; 0 stays where it means something (timeout 0: never; limit_data 0: close at
 * the first byte; latency 0 with jitter; first/every 0: off). */
#define MS_MAX 86400000
#define N_MAX 2147483647
#define IATTR(n, def, lo, hi) { n, SIM_ATTR_INT, def, NULL, lo, hi }
#define SATTR(n, def) { n, SIM_ATTR_STR, 0, def, 0, 0 }
#define FCGI_SELECT IATTR("first", 0, 0, N_MAX), IATTR("every", 0, 0, N_MAX)

static const struct sim_toxic_type sim_toxics_toxic_types[] = {
	{ "latency", { IATTR("latency", 0, 0, MS_MAX), IATTR("jitter", 0, 0, MS_MAX) },
	  2, false, NULL, sim_toxics_latency_run, NULL, NULL },
	{ "bandwidth", { IATTR("rate", 0, 1, N_MAX) }, 1, false, NULL, sim_toxics_bandwidth_run, NULL, NULL },
	{ "slow_close", { IATTR("delay", 0, 1, MS_MAX) }, 1, false, NULL, sim_toxics_slow_close_run, NULL, NULL },
	{ "timeout", { IATTR("timeout", 0, 0, MS_MAX) }, 1, false, sim_toxics_timeout_start, sim_toxics_timeout_run,
	  NULL, NULL },
	{ "reset_peer", { IATTR("timeout", 0, 0, MS_MAX) }, 1, false, sim_toxics_reset_peer_start,
	  sim_toxics_reset_peer_run, NULL, NULL },
	{ "slicer", { IATTR("average_size", 0, 0, N_MAX),
	              IATTR("size_variation", 0, 0, N_MAX),
	              IATTR("delay", 0, 0, (int64_t)MS_MAX * 1000) },
	  3, false, NULL, sim_toxics_slicer_run, NULL, NULL },
	{ "limit_data", { IATTR("bytes", 0, 0, INT64_MAX) }, 1, false, NULL, sim_toxics_limit_data_run, NULL, NULL },
	{ "fcgi_latency", { IATTR("latency", 0, 0, MS_MAX), IATTR("jitter", 0, 0, MS_MAX),
	                    FCGI_SELECT },
	  4, true, sim_fcgi_stage_start, sim_fcgi_stage_run, sim_fcgi_stage_stop,
	  sim_fcgi_stage_flush },
	{ "fcgi_abort", { IATTR("status", 503, 100, 599),
	                  SATTR("code", "service_unavailable"),
	                  SATTR("message", "fault injected by sim proxy"),
	                  FCGI_SELECT },
	  5, true, sim_fcgi_stage_start, sim_fcgi_stage_run, sim_fcgi_stage_stop,
	  sim_fcgi_stage_flush },
	{ "fcgi_reset", { IATTR("forward", 0, 0, 1), FCGI_SELECT },
	  3, true, sim_fcgi_stage_start, sim_fcgi_stage_run, sim_fcgi_stage_stop,
	  sim_fcgi_stage_flush },
	{ "mysql_commit_lost", { FCGI_SELECT }, 2, true, NULL, sim_mysql_stage_run, NULL, NULL },
};

const struct sim_toxic_type *
sim_toxic_type_find(const char *name)
{
	for (size_t i = 0; i < sizeof(sim_toxics_toxic_types) / sizeof(sim_toxics_toxic_types[0]); i++)
		if (strcmp(sim_toxics_toxic_types[i].name, name) == 0)
			return &sim_toxics_toxic_types[i];
	return NULL;
}


const struct sim_toxic_type *
sim_toxic_type_at(size_t i)
{
	return i < sizeof(sim_toxics_toxic_types) / sizeof(sim_toxics_toxic_types[0]) ? &sim_toxics_toxic_types[i] : NULL;
}
