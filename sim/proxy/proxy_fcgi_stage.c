/* proxy_fcgi_stage.c - request-level FastCGI toxics: fcgi_latency, fcgi_abort, fcgi_reset */
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

#define REC_FLAG 0x10000u
#define MAX_REQS 16
#define PARAMS_MAX (32 * 1024)

enum req_state { REQ_PENDING, REQ_PASS, REQ_DELAY, REQ_ABORT, REQ_RESET };

struct fcgi_req {
	bool used;
	uint16_t id;
	enum req_state state;
	bool keep_conn;
	bool cut_after;         /* fcgi_reset forward=1: reset at the first response byte */
	uint64_t due;
	unsigned char *params;
	size_t plen;
};

struct sim_fcgi_state {
	struct evbuffer *in;    /* bytes not yet a whole record */
	struct sim_chunkq out;  /* whole records and end markers, in order */
	bool raw;               /* not FastCGI after all: pass bytes untouched */
	struct fcgi_req reqs[MAX_REQS];
};

static struct fcgi_req *
sim_fcst_req_find(struct sim_fcgi_state *st, uint16_t id)
{
	for (int i = 0; i < MAX_REQS; i++)
		if (st->reqs[i].used && st->reqs[i].id == id)
			return &st->reqs[i];
	return NULL;
}

static void
sim_fcst_req_free(struct fcgi_req *r)
{
	free(r->params);
	memset(r, 0, sizeof(*r));
}

void
sim_fcgi_stage_start(struct sim_stage *s)
{
	if (s->fcgi != NULL)
		return;
	s->fcgi = calloc(1, sizeof(*s->fcgi));
	if (s->fcgi == NULL)
		return;
	s->fcgi->in = evbuffer_new();
	if (s->fcgi->in == NULL) {
		free(s->fcgi);
		s->fcgi = NULL;
	}
}

void
sim_fcgi_stage_stop(struct sim_stage *s)
{
	struct sim_fcgi_state *st = s->fcgi;
	struct sim_chunk *c;

	if (st == NULL)
		return;
	s->link->held -= evbuffer_get_length(st->in);
	evbuffer_free(st->in);
	while ((c = sim_chunkq_pop(&st->out)) != NULL) {
		s->link->held -= c->len;
		free(c);
	}
	for (int i = 0; i < MAX_REQS; i++)
		sim_fcst_req_free(&st->reqs[i]);
	free(st);
	s->fcgi = NULL;
}

static bool
sim_fcst_first_fcgi_stage(const struct sim_stage *s)
{
	const struct sim_link *l = s->link;

	for (size_t i = 0; i < l->nstages; i++)
		if (l->stages[i]->toxic->type->fcgi)
			return l->stages[i] == s;
	return false;
}

/* The request's PARAMS are complete: count it and choose its fate. */
static void
sim_fcst_decide(struct sim_stage *s, struct fcgi_req *r)
{
	struct sim_toxic *t = s->toxic;
	struct sim_proxy *p = s->link->conn->proxy;
	char rid[128] = "";
	struct sim_rng rng;
	uint64_t seq = ++t->requests;
	struct sim_fault f = { .toxic = t, .conn_id = s->link->conn->id, .fcgi = true,
	                       .fcgi_id = r->id, .seq = seq, .request_id = rid, .value = -1 };

	if (sim_fcst_first_fcgi_stage(s))
		p->m_requests++;
	if (!sim_fcgi_param_get(r->params, r->plen, "HTTP_X_REQUEST_ID", rid, sizeof(rid)))
		(void)sim_fcgi_param_get(r->params, r->plen, "REQUEST_ID", rid, sizeof(rid));
	sim_rng_seed(&rng, sim_mix(sim_mix(sim_mix(p->ctx->seed, p->name_hash), t->name_hash),
	                           sim_mix(seq, t->generation)));
	r->state = REQ_PASS;
	if (!sim_fcgi_select(sim_toxic_int(t, "first"), sim_toxic_int(t, "every"), t->toxicity,
	                     seq, &rng))
		return;
	if (strcmp(t->type->name, "fcgi_latency") == 0) {
		f.value = sim_latency_draw(sim_toxic_int(t, "latency"), sim_toxic_int(t, "jitter"),
		                           &rng);
		r->state = REQ_DELAY;
		r->due = sim_stage_now(s) + (uint64_t)f.value * 1000u;
		f.forwarded = true;
	} else if (strcmp(t->type->name, "fcgi_abort") == 0) {
		r->state = REQ_ABORT;
		f.value = sim_toxic_int(t, "status");
	} else if (sim_toxic_int(t, "forward") != 0) {
		r->cut_after = true;
		f.forwarded = true;
	} else {
		r->state = REQ_RESET;
	}
	t->faults++;
	sim_fault_record(p->ctx, &f);
	if (r->state == REQ_ABORT) {
		/* keep the request id for the answer written when the request ends */
		free(r->params);
		r->params = NULL;
		r->plen = 0;
		if (rid[0] != '\0') {
			r->params = (unsigned char *)strdup(rid);
			r->plen = r->params != NULL ? strlen(rid) : 0;
		}
	}
}

/* Turns the bytes in st->in into whole records on st->out, tracking requests. */
static void
sim_fcst_parse(struct sim_stage *s, struct sim_fcgi_state *st)
{
	for (;;) {
		size_t avail = evbuffer_get_length(st->in);
		struct sim_fcgi_hdr h;
		unsigned char *buf;
		long total;
		struct sim_chunk *c;

		if (avail == 0)
			return;
		buf = evbuffer_pullup(st->in, avail < SIM_FCGI_RECORD_MAX ? (ev_ssize_t)avail
		                                                           : SIM_FCGI_RECORD_MAX);
		if (buf == NULL)
			return;
		total = st->raw ? -1 : sim_fcgi_record_peek(buf, avail, &h);
		if (total == 0)
			return;
		if (total < 0) {
			st->raw = true;
			total = (long)(avail < SIM_CHUNK_MAX ? avail : SIM_CHUNK_MAX);
		}
		c = sim_chunk_new(SIM_DATA, buf, (size_t)total, sim_stage_now(s));
		if (c == NULL)
			return;
		if (evbuffer_drain(st->in, (size_t)total) != 0) {
			free(c);
			return;
		}
		sim_chunkq_push(&st->out, c);
		if (st->raw)
			continue;
		c->tag = REC_FLAG | h.id;
		const unsigned char *content = c->data + SIM_FCGI_HEADER_LEN;
		struct fcgi_req *r = sim_fcst_req_find(st, h.id);

		if (h.type == SIM_FCGI_BEGIN_REQUEST && h.id != 0) {
			if (r != NULL)
				sim_fcst_req_free(r);
			r = NULL;
			for (int i = 0; i < MAX_REQS && r == NULL; i++)
				if (!st->reqs[i].used)
					r = &st->reqs[i];
			if (r == NULL)
				continue; /* too many at once: this one passes untouched */
			r->used = true;
			r->id = h.id;
			r->state = REQ_PENDING;
			r->keep_conn = h.clen >= 3 && (content[2] & 1) != 0;
		} else if (h.type == SIM_FCGI_PARAMS && r != NULL && r->state == REQ_PENDING) {
			if (h.clen == 0) {
				sim_fcst_decide(s, r);
			} else if (r->plen + h.clen <= PARAMS_MAX) {
				unsigned char *np = realloc(r->params, r->plen + h.clen);

				if (np != NULL) {
					memcpy(np + r->plen, content, h.clen);
					r->params = np;
					r->plen += h.clen;
				}
			}
		}
	}
}

static void
sim_fcst_answer_abort(struct sim_stage *s, struct fcgi_req *r)
{
	struct sim_conn *conn = s->link->conn;
	struct evbuffer *eb = evbuffer_new();
	char rid[128] = "";
	struct sim_chunk *c;
	size_t n;

	if (eb == NULL)
		return;
	if (r->params != NULL)
		snprintf(rid, sizeof(rid), "%s", (const char *)r->params);
	if (sim_fcgi_build_error(eb, r->id, (int)sim_toxic_int(s->toxic, "status"),
	                         sim_toxic_str(s->toxic, "code"), sim_toxic_str(s->toxic, "message"),
	                         rid) != 0)
		goto out_free;
	n = evbuffer_get_length(eb);
	c = sim_chunk_new(SIM_DATA, NULL, n, sim_stage_now(s));
	if (c == NULL)
		goto out_free;
	if (evbuffer_remove(eb, c->data, n) != (int)n) {
		free(c);
		goto out_free;
	}
	sim_link_inject(&conn->link[SIM_DOWN], c);
	if (!r->keep_conn) {
		c = sim_chunk_new(SIM_CLOSE, NULL, 0, sim_stage_now(s));
		if (c != NULL)
			sim_link_inject(&conn->link[SIM_DOWN], c);
	}
out_free:
	evbuffer_free(eb);
}

void
sim_fcgi_stage_run(struct sim_stage *s)
{
	struct sim_fcgi_state *st = s->fcgi;
	struct sim_chunk *c;
	uint64_t now = sim_stage_now(s);

	if (st == NULL) {
		while ((c = sim_chunkq_pop(&s->q)) != NULL)
			sim_stage_emit(s, c);
		return;
	}
	while ((c = sim_chunkq_pop(&s->q)) != NULL) {
		if (c->kind == SIM_DATA) {
			if (evbuffer_add(st->in, c->data, c->len) != 0)
				s->link->held -= c->len; /* lost: nothing better to do */
			free(c);
			sim_fcst_parse(s, st);
			continue;
		}
		/* an end marker: whatever partial record is left goes first, as it is */
		size_t left = evbuffer_get_length(st->in);

		if (left > 0) {
			struct sim_chunk *d = sim_chunk_new(SIM_DATA, NULL, left, now);

			if (d != NULL && evbuffer_remove(st->in, d->data, left) == (int)left)
				sim_chunkq_push(&st->out, d);
			else
				free(d);
		}
		sim_chunkq_push(&st->out, c);
	}
	while ((c = st->out.head) != NULL) {
		struct fcgi_req *r = (c->tag & REC_FLAG) ? sim_fcst_req_find(st, (uint16_t)c->tag) : NULL;
		uint8_t type = c->len >= 2 ? c->data[1] : 0;
		size_t clen = c->len >= 6 ? (size_t)((c->data[4] << 8) | c->data[5]) : 1;

		if (r != NULL && r->state == REQ_PENDING)
			return;
		if (r != NULL && r->state == REQ_DELAY && now < r->due) {
			sim_stage_arm(s, r->due);
			return;
		}
		if (r != NULL && r->state == REQ_RESET) {
			struct sim_chunk *m = sim_chunk_new(SIM_RESET, NULL, 0, now);

			s->closed = true;
			while ((c = sim_chunkq_pop(&st->out)) != NULL)
				sim_stage_drop(s, c);
			while ((c = sim_chunkq_pop(&s->q)) != NULL)
				sim_stage_drop(s, c);
			if (m != NULL)
				sim_stage_emit(s, m);
			return;
		}
		c = sim_chunkq_pop(&st->out);
		if (r != NULL && r->state == REQ_ABORT)
			sim_stage_drop(s, c);
		else
			sim_stage_emit(s, c);
		if (r != NULL && ((type == SIM_FCGI_STDIN && clen == 0) ||
		                  type == SIM_FCGI_ABORT_REQUEST)) {
			if (r->state == REQ_ABORT && type == SIM_FCGI_STDIN)
				sim_fcst_answer_abort(s, r);
			if (r->cut_after) {
				s->link->conn->cut_on_response = true;
				snprintf(s->link->conn->cut_toxic, sizeof(s->link->conn->cut_toxic), "%s",
				         s->toxic->name);
			}
			sim_fcst_req_free(r);
		}
		if (s->link->conn->reaping)
			return;
	}
}

/* The toxic is being removed: everything it holds goes on, in order, untouched. */
void
sim_fcgi_stage_flush(struct sim_stage *s)
{
	struct sim_fcgi_state *st = s->fcgi;
	struct sim_chunk *c;
	size_t left;

	if (st == NULL)
		return;
	while ((c = sim_chunkq_pop(&st->out)) != NULL)
		sim_stage_emit(s, c);
	left = evbuffer_get_length(st->in);
	if (left > 0) {
		c = sim_chunk_new(SIM_DATA, NULL, left, sim_stage_now(s));
		if (c != NULL && evbuffer_remove(st->in, c->data, left) == (int)left) {
			sim_stage_emit(s, c);
		} else {
			free(c);
			s->link->held -= left;
			(void)evbuffer_drain(st->in, left);
		}
	}
	while ((c = sim_chunkq_pop(&s->q)) != NULL)
		sim_stage_emit(s, c);
}
