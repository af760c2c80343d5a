/* proxy_conn.c - one proxied TCP connection: two bufferevents, two toxic links, backpressure */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy.h"

#define CLOSE_FLUSH_SECS 5

static void conn_read_cb(struct bufferevent *bev, void *arg);
static void conn_write_cb(struct bufferevent *bev, void *arg);
static void conn_event_cb(struct bufferevent *bev, short what, void *arg);

static int side_of(const struct sim_conn *c, const struct bufferevent *bev)
{
	return bev == c->bev[0] ? 0 : 1;
}

static struct bufferevent *dst_of(struct sim_link *l)
{
	return l->conn->bev[1 - l->dir];
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sim_conn_free(arg);
}

static void close_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sim_conn_schedule_reap(arg);
}

void sim_conn_schedule_reap(struct sim_conn *c)
{
	if (c->reaping)
		return;
	c->reaping = true;
	for (int i = 0; i < 2; i++)
		if (c->bev[i] != NULL)
			(void)bufferevent_disable(c->bev[i], EV_READ | EV_WRITE);
	event_active(c->reap_ev, EV_TIMEOUT, 0);
}

static void set_nodelay(evutil_socket_t fd)
{
	int one = 1;

	if (fd >= 0)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Frees the connection at once, closing both sockets (with RST if a toxic reset it). */
void sim_conn_free(struct sim_conn *c)
{
	struct sim_proxy *p = c->proxy;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else if (p->conns == c)
		p->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	p->m_active--;
	c->reaping = true;
	for (int d = 0; d < 2; d++) {
		struct sim_link *l = &c->link[d];

		for (size_t i = 0; i < l->nstages; i++)
			sim_stage_free(l->stages[i]);
		free(l->stages);
	}
	for (int i = 0; i < 2; i++) {
		if (c->bev[i] == NULL)
			continue;
		if (c->reset) {
			struct linger lg = { .l_onoff = 1, .l_linger = 0 };
			evutil_socket_t fd = bufferevent_getfd(c->bev[i]);

			if (fd >= 0)
				(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		}
		bufferevent_free(c->bev[i]);
	}
	if (c->reap_ev != NULL)
		event_free(c->reap_ev);
	if (c->close_ev != NULL)
		event_free(c->close_ev);
	free(c);
}

static void maybe_reap_finished(struct sim_conn *c)
{
	if (c->link[0].finished && c->link[1].finished)
		sim_conn_schedule_reap(c);
}

/* An EOF reached the destination: once its output is flushed, send FIN (half-close). */
static void link_try_finish(struct sim_link *l)
{
	struct sim_conn *c = l->conn;
	int dst = 1 - (int)l->dir;
	struct bufferevent *bev = c->bev[dst];

	if (!l->eof_pending)
		return;
	if (!c->dead[dst] && evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
		bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
		return;
	}
	l->eof_pending = false;
	l->finished = true;
	if (!c->dead[dst]) {
		evutil_socket_t fd = bufferevent_getfd(bev);

		if (fd >= 0)
			(void)shutdown(fd, SHUT_WR);
	}
	maybe_reap_finished(c);
}

static void conn_start_close(struct sim_conn *c, struct sim_link *l)
{
	struct timeval tv = { CLOSE_FLUSH_SECS, 0 };
	struct bufferevent *dst = dst_of(l);

	c->closing = true;
	for (int i = 0; i < 2; i++)
		(void)bufferevent_disable(c->bev[i], EV_READ);
	if (c->dead[1 - l->dir] || evbuffer_get_length(bufferevent_get_output(dst)) == 0) {
		sim_conn_schedule_reap(c);
		return;
	}
	bufferevent_setwatermark(dst, EV_WRITE, 0, 0);
	if (evtimer_add(c->close_ev, &tv) != 0)
		sim_conn_schedule_reap(c);
}

/* The end of a link's chain: hands a chunk to the destination socket. Consumes c. */
static void link_deliver(struct sim_link *l, struct sim_chunk *c)
{
	struct sim_conn *conn = l->conn;
	int dst = 1 - (int)l->dir;

	l->held -= c->len;
	if (conn->reaping) {
		free(c);
		return;
	}
	switch (c->kind) {
	case SIM_DATA:
		if (!l->finished && !conn->dead[dst] && !conn->closing &&
		    evbuffer_add(bufferevent_get_output(conn->bev[dst]), c->data, c->len) != 0)
			sim_conn_schedule_reap(conn);
		break;
	case SIM_EOF:
		if (!l->finished) {
			l->eof_pending = true;
			link_try_finish(l);
		}
		break;
	case SIM_CLOSE:
		conn_start_close(conn, l);
		break;
	case SIM_RESET:
		conn->reset = true;
		sim_conn_schedule_reap(conn);
		break;
	}
	free(c);
}

/* Reads the source again once the link holds less than the low mark. */
static void link_check_resume(struct sim_link *l)
{
	struct sim_conn *c = l->conn;
	size_t out;

	if (!l->paused || c->reaping || c->closing)
		return;
	out = c->dead[1 - l->dir] ? 0 : evbuffer_get_length(bufferevent_get_output(dst_of(l)));
	if (l->held + out < SIM_LOW_WATER) {
		l->paused = false;
		(void)bufferevent_enable(c->bev[l->dir], EV_READ);
	}
}

/* Moves what the source sent into the link: straight to the destination when no toxic is on
 * the stream, else chunk by chunk into the first stage. Stops reading above the high mark. */
static void link_feed(struct sim_link *l, struct evbuffer *in)
{
	struct sim_conn *c = l->conn;
	int dst = 1 - (int)l->dir;
	size_t out;

	if (l->finished || c->dead[dst] || c->closing) {
		(void)evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	if (l->nstages == 0) {
		struct evbuffer *o = bufferevent_get_output(c->bev[dst]);

		/* Nothing queued: try the socket at once, saving a trip through the event loop
		 * (and the epoll_ctl calls for write interest) on the common small message. */
		if (c->connected[dst] && evbuffer_get_length(o) == 0)
			(void)evbuffer_write(in, bufferevent_getfd(c->bev[dst]));
		if (evbuffer_get_length(in) > 0 && evbuffer_add_buffer(o, in) != 0)
			sim_conn_schedule_reap(c);
	} else {
		size_t n;

		while (!c->reaping && l->nstages > 0 && (n = evbuffer_get_length(in)) > 0) {
			struct sim_chunk *ch;

			if (n > SIM_CHUNK_MAX)
				n = SIM_CHUNK_MAX;
			ch = sim_chunk_new(SIM_DATA, NULL, n, c->proxy->ctx->now_us());
			if (ch == NULL || evbuffer_remove(in, ch->data, n) != (int)n) {
				free(ch);
				sim_conn_schedule_reap(c);
				return;
			}
			l->held += n;
			sim_stage_push(l->stages[0], ch);
		}
		if (c->reaping || c->closing) {
			(void)evbuffer_drain(in, evbuffer_get_length(in));
			return;
		}
		if (evbuffer_get_length(in) > 0 &&
		    evbuffer_add_buffer(bufferevent_get_output(c->bev[dst]), in) != 0)
			sim_conn_schedule_reap(c);
	}
	out = c->dead[dst] ? 0 : evbuffer_get_length(bufferevent_get_output(c->bev[dst]));
	if (l->held + out > SIM_HIGH_WATER && !l->paused) {
		l->paused = true;
		(void)bufferevent_disable(c->bev[l->dir], EV_READ);
	}
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct sim_conn *c = arg;
	int side = side_of(c, bev);
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t n = evbuffer_get_length(in);

	if (c->reaping || n == 0)
		return;
	c->proxy->m_bytes[side] += n;
	if (side == 1 && c->cut_on_response) {
		(void)evbuffer_drain(in, n);
		c->reset = true;
		sim_conn_schedule_reap(c);
		return;
	}
	link_feed(&c->link[side], in);
	link_check_resume(&c->link[side]);
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct sim_conn *c = arg;
	int side = side_of(c, bev);
	struct sim_link *l = &c->link[1 - side];

	if (c->reaping)
		return;
	if (c->closing) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			sim_conn_schedule_reap(c);
		return;
	}
	link_try_finish(l);
	link_check_resume(l);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct sim_conn *c = arg;
	int side = side_of(c, bev);
	struct sim_link *l = &c->link[side];
	struct sim_chunk *eof;

	if (c->reaping)
		return;
	if (what & BEV_EVENT_CONNECTED) {
		c->connected[side] = true;
		set_nodelay(bufferevent_getfd(bev));
		return;
	}
	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	conn_read_cb(bev, c);
	if (c->reaping)
		return;
	(void)bufferevent_disable(bev, EV_READ);
	if (what & BEV_EVENT_ERROR) {
		c->dead[side] = true;
		c->link[1 - side].finished = true;
		c->link[1 - side].eof_pending = false;
		if (c->closing) {
			sim_conn_schedule_reap(c);
			return;
		}
	}
	if (l->src_done)
		return;
	l->src_done = true;
	eof = sim_chunk_new(SIM_EOF, NULL, 0, c->proxy->ctx->now_us());
	if (eof == NULL) {
		sim_conn_schedule_reap(c);
		return;
	}
	sim_link_inject(l, eof);
	if (!c->reaping)
		maybe_reap_finished(c);
}

/* What the toxic chain of a link calls back into: the connection owns the table, the chain
 * never names the connection's functions. */
static const struct sim_link_ops conn_link_ops = {
	.deliver = link_deliver,
	.resume = link_check_resume,
};

static void link_init(struct sim_conn *c, enum sim_dir dir)
{
	struct sim_link *l = &c->link[dir];

	l->ops = &conn_link_ops;
	l->conn = c;
	l->dir = dir;
}

/* Takes an accepted client socket: dials the upstream and starts both links. Always takes
 * ownership of fd. */
void sim_conn_accept(struct sim_proxy *p, int fd)
{
	struct event_base *base = p->ctx->base;
	struct sim_conn *c = calloc(1, sizeof(*c));
	struct sim_err err;

	if (c == NULL)
		goto out_close_fd;
	c->proxy = p;
	c->id = ++p->next_conn_id;
	link_init(c, SIM_UP);
	link_init(c, SIM_DOWN);
	c->reap_ev = event_new(base, -1, 0, reap_cb, c);
	c->close_ev = evtimer_new(base, close_timeout_cb, c);
	if (c->reap_ev == NULL || c->close_ev == NULL)
		goto out_free_conn;
	if (p->up_len == 0 && sim_addr_parse(p->upstream, false, &p->up_addr, &p->up_len, &err) != 0) {
		p->m_refused++;
		goto out_free_conn;
	}
	set_nodelay(fd);
	c->bev[0] = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev[0] == NULL)
		goto out_free_conn;
	fd = -1;
	c->connected[0] = true;
	c->bev[1] = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev[1] == NULL)
		goto out_free_conn;
	/* linked in before anything can fail the usual way, so sim_conn_free undoes it all */
	c->next = p->conns;
	if (p->conns != NULL)
		p->conns->prev = c;
	p->conns = c;
	p->m_conns++;
	p->m_active++;
	for (struct sim_toxic *t = p->toxics; t != NULL; t = t->next)
		if (sim_link_add_stage(&c->link[t->dir], t) != 0)
			goto out_unlink;
	for (int i = 0; i < 2; i++) {
		bufferevent_setcb(c->bev[i], conn_read_cb, conn_write_cb, conn_event_cb, c);
		bufferevent_setwatermark(c->bev[i], EV_WRITE, SIM_LOW_WATER, 0);
	}
	if (bufferevent_socket_connect(c->bev[1], (struct sockaddr *)&p->up_addr, (int)p->up_len) != 0) {
		p->m_refused++;
		goto out_unlink;
	}
	set_nodelay(bufferevent_getfd(c->bev[1]));
	if (bufferevent_enable(c->bev[0], EV_READ | EV_WRITE) != 0 ||
	    bufferevent_enable(c->bev[1], EV_READ | EV_WRITE) != 0)
		goto out_unlink;
	return;
out_unlink:
	sim_conn_free(c);
	return;
out_free_conn:
	for (int i = 0; i < 2; i++)
		if (c->bev[i] != NULL)
			bufferevent_free(c->bev[i]);
	if (c->reap_ev != NULL)
		event_free(c->reap_ev);
	if (c->close_ev != NULL)
		event_free(c->close_ev);
	free(c);
out_close_fd:
	if (fd >= 0)
		close(fd);
}
