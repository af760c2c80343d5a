/* proxy_conn.c - one proxied TCP connection: two sockets read and written directly, two toxic links, backpressure */
#include <sys/socket.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy.h"

#define CLOSE_FLUSH_SECS 5

static void sim_conn_side_read_cb(evutil_socket_t fd, short what, void *arg);
static void sim_conn_side_write_cb(evutil_socket_t fd, short what, void *arg);

static void
sim_conn_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sim_conn_free(arg);
}

static void
sim_conn_close_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sim_conn_schedule_reap(arg);
}

/* Adds one side's reading (what EV_READ) or writing (EV_WRITE) event to its loop (on) or removes
 * it; an add that fails reaps c. */
static void
sim_conn_side_io(struct sim_conn *c, int i, short what, bool on)
{
	struct sim_side *sd = &c->side[i];
	struct event *ev = what == EV_READ ? sd->rev : sd->wev;
	bool *is_on = what == EV_READ ? &sd->reading : &sd->writing;

	if (*is_on == on || ev == NULL)
		return;
	if (!on)
		(void)event_del(ev);
	else if (event_add(ev, NULL) != 0) {
		sim_conn_schedule_reap(c);
		return;
	}
	*is_on = on;
}

static size_t
sim_conn_side_queued(const struct sim_conn *c, int i)
{
	return c->dead[i] ? 0 : evbuffer_get_length(c->side[i].out);
}

void
sim_conn_schedule_reap(struct sim_conn *c)
{
	if (c->reaping)
		return;
	c->reaping = true;
	for (int i = 0; i < 2; i++) {
		sim_conn_side_io(c, i, EV_READ, false);
		sim_conn_side_io(c, i, EV_WRITE, false);
	}
	event_active(c->reap_ev, EV_TIMEOUT, 0);
}

static void
sim_conn_set_nodelay(int fd)
{
	int one = 1;

	if (fd >= 0)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Frees the connection at once, closing both sockets (with RST if a toxic reset it). */
void
sim_conn_free(struct sim_conn *c)
{
	struct sim_proxy *p = c->proxy;

	pthread_mutex_lock(&p->conns_mu);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else if (p->conns == c)
		p->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&p->conns_mu);
	atomic_fetch_sub(&p->m_active, 1);
	c->reaping = true;
	for (int d = 0; d < 2; d++) {
		struct sim_link *l = &c->link[d];

		for (size_t i = 0; i < l->nstages; i++)
			sim_stage_free(l->stages[i]);
		free(l->stages);
	}
	for (int i = 0; i < 2; i++) {
		struct sim_side *sd = &c->side[i];

		if (sd->rev != NULL)
			event_free(sd->rev);
		if (sd->wev != NULL)
			event_free(sd->wev);
		if (sd->out != NULL)
			evbuffer_free(sd->out);
		if (sd->fd < 0)
			continue;
		if (c->reset) {
			struct linger lg = { .l_onoff = 1, .l_linger = 0 };

			(void)setsockopt(sd->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		}
		(void)close(sd->fd);
	}
	if (c->reap_ev != NULL)
		event_free(c->reap_ev);
	if (c->close_ev != NULL)
		event_free(c->close_ev);
	free(c);
}

static void
sim_conn_maybe_reap_finished(struct sim_conn *c)
{
	if (c->link[0].finished && c->link[1].finished)
		sim_conn_schedule_reap(c);
}

/* Queues len bytes for socket i, sending at once what it takes when nothing waits before them.
 * A failed send leaves the bytes queued and wakes the write event, which meets the same error
 * from the event loop (so no socket error is handled deep inside a toxic chain). Returns 0, or
 * -1 out of memory. */
static int
sim_conn_side_send(struct sim_conn *c, int i, const void *data, size_t len)
{
	struct sim_side *sd = &c->side[i];
	const unsigned char *p = data;

	if (c->connected[i] && evbuffer_get_length(sd->out) == 0) {
		ssize_t n;

		do
			n = send(sd->fd, p, len, MSG_NOSIGNAL);
		while (n < 0 && errno == EINTR);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && !c->reaping) {
			event_active(sd->wev, EV_WRITE, 0);
		}
		if (len == 0)
			return 0;
	}
	if (evbuffer_add(sd->out, p, len) != 0)
		return -1;
	sim_conn_side_io(c, i, EV_WRITE, true);
	return 0;
}

/* An EOF reached the destination: once its output is flushed, send FIN (half-close). */
static void
sim_conn_link_try_finish(struct sim_link *l)
{
	struct sim_conn *c = l->conn;
	int dst = 1 - (int)l->dir;

	if (!l->eof_pending)
		return;
	if (sim_conn_side_queued(c, dst) > 0)
		return;         /* the write event finishes it once the queue drained */
	l->eof_pending = false;
	l->finished = true;
	if (!c->dead[dst])
		(void)shutdown(c->side[dst].fd, SHUT_WR);
	sim_conn_maybe_reap_finished(c);
}

static void
sim_conn_start_close(struct sim_conn *c, struct sim_link *l)
{
	struct timeval tv = { CLOSE_FLUSH_SECS, 0 };

	c->closing = true;
	for (int i = 0; i < 2; i++)
		sim_conn_side_io(c, i, EV_READ, false);
	if (sim_conn_side_queued(c, 1 - (int)l->dir) == 0) {
		sim_conn_schedule_reap(c);
		return;
	}
	if (evtimer_add(c->close_ev, &tv) != 0)
		sim_conn_schedule_reap(c);
}

/* The end of a link's chain: hands a chunk to the destination socket. Consumes c. */
static void
sim_conn_link_deliver(struct sim_link *l, struct sim_chunk *c)
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
		    sim_conn_side_send(conn, dst, c->data, c->len) != 0)
			sim_conn_schedule_reap(conn);
		break;
	case SIM_EOF:
		if (!l->finished) {
			l->eof_pending = true;
			sim_conn_link_try_finish(l);
		}
		break;
	case SIM_CLOSE:
		sim_conn_start_close(conn, l);
		break;
	case SIM_RESET:
		conn->reset = true;
		sim_conn_schedule_reap(conn);
		break;
	}
	free(c);
}

/* Reads the source again once the link holds less than the low mark. */
static void
sim_conn_link_check_resume(struct sim_link *l)
{
	struct sim_conn *c = l->conn;

	if (!l->paused || c->reaping || c->closing)
		return;
	if (l->held + sim_conn_side_queued(c, 1 - (int)l->dir) < SIM_LOW_WATER) {
		l->paused = false;
		if (!l->src_done)
			sim_conn_side_io(c, (int)l->dir, EV_READ, true);
	}
}

/* Moves n bytes the source sent into the link: straight to the destination when no toxic is
 * on the stream, else in chunks of at most SIM_CHUNK_MAX into the first stage. Stops reading
 * above the high mark. */
static void
sim_conn_link_feed(struct sim_link *l, const unsigned char *buf, size_t n)
{
	struct sim_conn *c = l->conn;
	int dst = 1 - (int)l->dir;

	if (l->finished || c->dead[dst] || c->closing)
		return;
	while (!c->reaping && l->nstages > 0 && n > 0) {
		size_t k = n > SIM_CHUNK_MAX ? SIM_CHUNK_MAX : n;
		struct sim_chunk *ch = sim_chunk_new(SIM_DATA, buf, k, c->proxy->ctx->now_us());

		if (ch == NULL) {
			sim_conn_schedule_reap(c);
			return;
		}
		l->held += k;
		buf += k;
		n -= k;
		sim_stage_push(l->stages[0], ch);
	}
	if (c->reaping || c->closing)
		return;
	if (n > 0 && sim_conn_side_send(c, dst, buf, n) != 0) {
		sim_conn_schedule_reap(c);
		return;
	}
	if (l->held + sim_conn_side_queued(c, dst) > SIM_HIGH_WATER && !l->paused) {
		l->paused = true;
		sim_conn_side_io(c, (int)l->dir, EV_READ, false);
	}
}

/* Socket i ended (EOF) or failed (err): no more reads from it, an EOF goes into its link, and
 * when it failed nothing more goes to it. */
static void
sim_conn_side_ended(struct sim_conn *c, int i, bool err)
{
	struct sim_link *l = &c->link[i];
	struct sim_chunk *eof;

	sim_conn_side_io(c, i, EV_READ, false);
	if (err) {
		c->dead[i] = true;
		sim_conn_side_io(c, i, EV_WRITE, false);
		c->link[1 - i].finished = true;
		c->link[1 - i].eof_pending = false;
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
		sim_conn_maybe_reap_finished(c);
}

static int
sim_conn_side_index(const struct sim_conn *c, evutil_socket_t fd)
{
	return fd == c->side[0].fd ? 0 : 1;
}

/* One read per readiness event: up to SIM_CHUNK_MAX while a toxic is on the stream (as a
 * toxic has always seen it), else up to SIM_READ_MAX. */
static void
sim_conn_side_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sim_conn *c = arg;
	int i = sim_conn_side_index(c, fd);
	struct sim_link *l = &c->link[i];
	unsigned char *buf = c->loop->iobuf;
	size_t want = l->nstages > 0 ? SIM_CHUNK_MAX : SIM_READ_MAX;
	ssize_t n;

	(void)what;
	if (c->reaping)
		return;
	do
		n = recv(fd, buf, want, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		sim_conn_side_ended(c, i, n < 0);
		return;
	}
	atomic_fetch_add_explicit(&c->proxy->m_bytes[i], (uint64_t)n, memory_order_relaxed);
	if (i == 1 && c->cut_on_response) {
		c->reset = true;
		sim_conn_schedule_reap(c);
		return;
	}
	sim_conn_link_feed(l, buf, (size_t)n);
	sim_conn_link_check_resume(l);
}

/* The upstream's connect finished: errors end that side as a failed socket would. */
static bool
sim_conn_side_connect_done(struct sim_conn *c, int i)
{
	int err = c->connect_err;
	socklen_t len = sizeof(err);

	if (err == 0 && getsockopt(c->side[i].fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err != 0) {
		sim_conn_side_ended(c, i, true);
		return false;
	}
	c->connected[i] = true;
	sim_conn_set_nodelay(c->side[i].fd);
	if (!c->closing && !c->link[i].paused && !c->link[i].src_done)
		sim_conn_side_io(c, i, EV_READ, true);
	return true;
}

static void
sim_conn_side_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sim_conn *c = arg;
	int i = sim_conn_side_index(c, fd);
	struct sim_side *sd = &c->side[i];
	struct sim_link *l = &c->link[1 - i];

	(void)what;
	if (c->reaping)
		return;
	if (!c->connected[i] && !sim_conn_side_connect_done(c, i))
		return;
	if (c->dead[i]) {
		sim_conn_side_io(c, i, EV_WRITE, false);
		return;
	}
	if (evbuffer_get_length(sd->out) > 0 && evbuffer_write(sd->out, fd) < 0 &&
	    errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		sim_conn_side_ended(c, i, true);
		return;
	}
	if (evbuffer_get_length(sd->out) == 0)
		sim_conn_side_io(c, i, EV_WRITE, false);
	if (c->closing) {
		if (evbuffer_get_length(sd->out) == 0)
			sim_conn_schedule_reap(c);
		return;
	}
	sim_conn_link_try_finish(l);
	sim_conn_link_check_resume(l);
}

/* What the toxic chain of a link calls back into: the connection owns the table, the chain
 * never names the connection's functions. */
static const struct sim_link_ops sim_conn_link_ops = {
	.deliver = sim_conn_link_deliver,
	.resume = sim_conn_link_check_resume,
};

static void
sim_conn_link_init(struct sim_conn *c, enum sim_dir dir)
{
	struct sim_link *l = &c->link[dir];

	l->ops = &sim_conn_link_ops;
	l->conn = c;
	l->dir = dir;
}

/* Dials the upstream without blocking. Returns 0 (connected, in progress, or failed at once
 * with c->connect_err set: the write event reports it from the loop), or -1. */
static int
sim_conn_dial(struct sim_conn *c, const struct sockaddr_storage *ua, socklen_t ul)
{
	int fd = socket(ua->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	c->side[1].fd = fd;
	sim_conn_set_nodelay(fd);
	if (connect(fd, (const struct sockaddr *)ua, ul) == 0) {
		c->connected[1] = true;
		return 0;
	}
	if (errno != EINPROGRESS && errno != EINTR)
		c->connect_err = errno;
	return 0;
}

static int
sim_conn_side_init(struct sim_conn *c, int i)
{
	struct event_base *base = c->loop->base;
	struct sim_side *sd = &c->side[i];

	sd->rev = event_new(base, sd->fd, EV_READ | EV_PERSIST, sim_conn_side_read_cb, c);
	sd->wev = event_new(base, sd->fd, EV_WRITE | EV_PERSIST, sim_conn_side_write_cb, c);
	sd->out = evbuffer_new();
	return sd->rev != NULL && sd->wev != NULL && sd->out != NULL ? 0 : -1;
}

/* Takes an accepted client socket: dials the upstream and starts both links. Always takes
 * ownership of fd. */
void
sim_conn_accept(struct sim_proxy *p, int fd, struct sim_loop *loop, uint64_t id)
{
	struct event_base *base = loop->base;
	struct sockaddr_storage ua;
	socklen_t ul = 0;
	struct sim_conn *c;
	struct sim_err err;

	/* The proxy stopped while this socket was on its way from the listening loop. */
	if (!p->enabled) {
		atomic_fetch_add(&p->m_refused, 1);
		goto out_close_fd;
	}
	/* Resolved when the proxy started (the loops parked); if it did not resolve then, it is
	 * tried again for each connection, into this one's own copy. */
	if (p->up_len != 0) {
		ua = p->up_addr;
		ul = p->up_len;
	} else if (sim_addr_parse(p->upstream, false, &ua, &ul, &err) != 0) {
		atomic_fetch_add(&p->m_refused, 1);
		goto out_close_fd;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		goto out_close_fd;
	c->proxy = p;
	c->loop = loop;
	c->id = id;
	c->side[0].fd = fd;     /* non-blocking: evconnlistener accepts with SOCK_NONBLOCK */
	c->side[1].fd = -1;
	fd = -1;
	c->connected[0] = true;
	sim_conn_set_nodelay(c->side[0].fd);
	sim_conn_link_init(c, SIM_UP);
	sim_conn_link_init(c, SIM_DOWN);
	/* linked in first, so that sim_conn_free undoes whatever was done */
	pthread_mutex_lock(&p->conns_mu);
	c->next = p->conns;
	if (p->conns != NULL)
		p->conns->prev = c;
	p->conns = c;
	pthread_mutex_unlock(&p->conns_mu);
	atomic_fetch_add(&p->m_conns, 1);
	atomic_fetch_add(&p->m_active, 1);
	c->reap_ev = event_new(base, -1, 0, sim_conn_reap_cb, c);
	c->close_ev = evtimer_new(base, sim_conn_close_timeout_cb, c);
	if (c->reap_ev == NULL || c->close_ev == NULL)
		goto out_free_conn;
	if (sim_conn_dial(c, &ua, ul) != 0) {
		atomic_fetch_add(&p->m_refused, 1);
		goto out_free_conn;
	}
	if (sim_conn_side_init(c, 0) != 0 || sim_conn_side_init(c, 1) != 0)
		goto out_free_conn;
	for (struct sim_toxic *t = p->toxics; t != NULL; t = t->next)
		if (sim_link_add_stage(&c->link[t->dir], t) != 0)
			goto out_free_conn;
	sim_conn_side_io(c, 0, EV_READ, true);
	if (c->connected[1])
		sim_conn_side_io(c, 1, EV_READ, true);
	else
		sim_conn_side_io(c, 1, EV_WRITE, true);    /* reports the connect's outcome */
	if (c->connect_err != 0 && !c->reaping)
		event_active(c->side[1].wev, EV_WRITE, 0);
	return;
out_free_conn:
	sim_conn_free(c);
	return;
out_close_fd:
	if (fd >= 0)
		close(fd);
}
