/* svc_ev_broker.c - AMQP connections to the broker nodes: open, fail over, publisher confirms, heartbeats */
#include <sys/time.h>

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <amqp.h>
#include <amqp_tcp_socket.h>

#include "svc_nodes_int.h"
#include "svc_ev_internal.h"

/* 0 when an RPC reply is normal; otherwise logs it and returns -1. */
int
svc_ev_rpc_ok(amqp_rpc_reply_t x, const char *what)
{
	switch (x.reply_type) {
	case AMQP_RESPONSE_NORMAL:
		return 0;
	case AMQP_RESPONSE_NONE:
		svc_log(NULL, "warn", "amqp %s: missing reply", what);
		break;
	case AMQP_RESPONSE_LIBRARY_EXCEPTION:
		svc_log(NULL, "warn", "amqp %s: %s", what, amqp_error_string2(x.library_error));
		break;
	case AMQP_RESPONSE_SERVER_EXCEPTION:
		if (x.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
			const amqp_connection_close_t *m = x.reply.decoded;

			svc_log(NULL, "warn", "amqp %s: connection closed by the broker: %u %.*s", what,
			    m->reply_code, (int)m->reply_text.len, (const char *)m->reply_text.bytes);
		} else if (x.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
			const amqp_channel_close_t *m = x.reply.decoded;

			svc_log(NULL, "warn", "amqp %s: channel closed by the broker: %u %.*s", what,
			    m->reply_code, (int)m->reply_text.len, (const char *)m->reply_text.bytes);
		} else
			svc_log(NULL, "warn", "amqp %s: server exception 0x%08x", what, x.reply.id);
		break;
	}
	return -1;
}

void
svc_ev_close(amqp_connection_state_t *c)
{
	if (*c == NULL)
		return;
	/* Best effort: the broker may be gone already, the socket is freed either way. */
	(void)amqp_channel_close(*c, SVC_EV_CHANNEL, AMQP_REPLY_SUCCESS);
	(void)amqp_connection_close(*c, AMQP_REPLY_SUCCESS);
	if (amqp_destroy_connection(*c) != AMQP_STATUS_OK)
		svc_log(NULL, "warn", "amqp: destroying a connection failed");
	*c = NULL;
}

/* Opens a connection to node and channel 1; confirm: publisher confirms on. NULL on failure. */
static amqp_connection_state_t
svc_ev_connect_node(struct svc_events_rt *rt, const struct svc_dbnode *node, int confirm,
    const char *what)
{
	amqp_connection_state_t	 c;
	amqp_socket_t		*sock;
	struct timeval		 tv = { 2, 0 }, hs = { 5, 0 }, rpc = { 10, 0 };
	int			 st;

	if ((c = amqp_new_connection()) == NULL)
		return NULL;
	/*
	 * No wait on the broker is unbounded: a half-open link must not hang the login or a
	 * synchronous method (qos, consume, a passive declare) for ever.
	 */
	if (amqp_set_handshake_timeout(c, &hs) != AMQP_STATUS_OK ||
	    amqp_set_rpc_timeout(c, &rpc) != AMQP_STATUS_OK)
		goto fail_destroy;
	if ((sock = amqp_tcp_socket_new(c)) == NULL)
		goto fail_destroy;
	if ((st = amqp_socket_open_noblock(sock, node->host, (int)node->port, &tv)) !=
	    AMQP_STATUS_OK) {
		svc_log(NULL, "warn", "amqp %s: cannot reach %s: %s", what, node->label,
		    amqp_error_string2(st));
		goto fail_destroy;
	}
	/* Heartbeats: the broker's and ours; rabbitmq-c handles them whenever it reads or waits. */
	if (svc_ev_rpc_ok(amqp_login(c, rt->conf.vhost, 0, 131072, (int)rt->conf.heartbeat_s,
	    AMQP_SASL_METHOD_PLAIN, rt->conf.user, rt->conf.password), what) != 0)
		goto fail_close;
	if (amqp_channel_open(c, SVC_EV_CHANNEL) == NULL ||
	    svc_ev_rpc_ok(amqp_get_rpc_reply(c), what) != 0)
		goto fail_close;
	if (confirm && (amqp_confirm_select(c, SVC_EV_CHANNEL) == NULL ||
	    svc_ev_rpc_ok(amqp_get_rpc_reply(c), what) != 0))
		goto fail_close;
	return c;
fail_close:
	svc_ev_close(&c);
	return NULL;
fail_destroy:
	(void)amqp_destroy_connection(c);
	return NULL;
}

struct svc_ev_try {
	struct svc_events_rt	*rt;
	int			 confirm;
	const char		*what;
	amqp_connection_state_t	 c;
};

static int
svc_ev_try_one(void *arg, size_t i)
{
	struct svc_ev_try *a = arg;

	a->c = svc_ev_connect_node(a->rt, &a->rt->nodes.node[i], a->confirm, a->what);
	return a->c != NULL ? 0 : -1;
}

/*
 * Connects to the first broker node that takes it, in the node list's order with nodes that
 * failed lately last (svc_nodes_try); *used: its index. Returns NULL when none did.
 */
amqp_connection_state_t
svc_ev_connect_any(struct svc_events_rt *rt, int confirm, const char *what, size_t *used)
{
	struct svc_ev_try a = { rt, confirm, what, NULL };

	if (svc_nodes_try(&rt->nodes, svc_now_us, svc_ev_try_one, &a, used) != 0)
		return NULL;
	return a.c;
}

/* Connects thread k (SVC_EV_RELAY, SVC_EV_CONSUMER) as svc_ev_connect_any, noting the node. */
amqp_connection_state_t
svc_ev_connect(struct svc_events_rt *rt, int confirm, const char *what, int k)
{
	amqp_connection_state_t	c;
	size_t			used;

	if ((c = svc_ev_connect_any(rt, confirm, what, &used)) == NULL)
		return NULL;
	if (rt->last_node[k] >= 0 && (size_t)rt->last_node[k] != used)
		svc_log(NULL, "warn", "amqp %s: failed over from %s to %s", what,
		    rt->nodes.node[rt->last_node[k]].label, rt->nodes.node[used].label);
	rt->last_node[k] = (int)used;
	atomic_store(&rt->node_of[k], (int)used);
	return c;
}

/*
 * Thread k lost its connection (or could not use it): the node is tried last for the hold
 * time, so the reconnection goes to another node first.
 */
void
svc_ev_lost(struct svc_events_rt *rt, int k)
{
	int n = atomic_exchange(&rt->node_of[k], -1);

	if (n >= 0)
		svc_dbnodes_failed(&rt->nodes, (size_t)n, svc_now_us());
	atomic_store(&rt->connected[k], 0);
}

/*
 * Waits until every delivery tag up to last is acked. Returns 0 all acked, 1 some nacked
 * (the caller keeps the rows: they go again), -1 the connection failed.
 */
int
svc_ev_confirms(struct svc_events_rt *rt, amqp_connection_state_t c, uint64_t first,
    uint64_t last)
{
	amqp_frame_t	f;
	struct timeval	tv;
	uint64_t	acked = first - 1;
	int		nacked = 0, st;
	int64_t		until = svc_now_us() + SVC_EV_CONFIRM_WAIT_S * 1000000LL;

	while (acked < last) {
		if (svc_now_us() > until) {
			svc_log(NULL, "warn", "amqp relay: no confirm in %d s", SVC_EV_CONFIRM_WAIT_S);
			return -1;
		}
		tv.tv_sec = 0;
		tv.tv_usec = 250000;
		st = amqp_simple_wait_frame_noblock(c, &f, &tv);
		if (st == AMQP_STATUS_TIMEOUT)
			continue;
		if (st != AMQP_STATUS_OK) {
			svc_log(NULL, "warn", "amqp relay: waiting for confirms: %s",
			    amqp_error_string2(st));
			if (st == AMQP_STATUS_HEARTBEAT_TIMEOUT)
				atomic_fetch_add(&rt->hb_timeouts, 1);
			return -1;
		}
		if (f.frame_type != AMQP_FRAME_METHOD)
			continue;
		switch (f.payload.method.id) {
		case AMQP_BASIC_ACK_METHOD: {
			const amqp_basic_ack_t *a = f.payload.method.decoded;

			if (a->delivery_tag > acked)
				acked = a->delivery_tag;
			break;
		}
		case AMQP_BASIC_NACK_METHOD: {
			const amqp_basic_nack_t *n = f.payload.method.decoded;

			nacked = 1;
			atomic_fetch_add(&rt->nacked, 1);
			if (n->delivery_tag > acked)
				acked = n->delivery_tag;
			break;
		}
		case AMQP_CHANNEL_CLOSE_METHOD: {
			const amqp_channel_close_t *m = f.payload.method.decoded;

			svc_log(NULL, "error", "amqp relay: channel closed by the broker: %u %.*s",
			    m->reply_code, (int)m->reply_text.len, (const char *)m->reply_text.bytes);
			return -1;
		}
		case AMQP_CONNECTION_CLOSE_METHOD:
			svc_log(NULL, "warn", "amqp relay: connection closed by the broker");
			return -1;
		default:
			break;
		}
	}
	return nacked;
}

/*
 * Services an idle connection without waiting: reads what the broker sent (its heartbeats),
 * sends ours when due, and notices a broker silent for two heartbeat intervals (rabbitmq-c
 * closes the socket then). Returns 0, or -1 when the connection is gone.
 */
int
svc_ev_service(struct svc_events_rt *rt, amqp_connection_state_t c, const char *what)
{
	amqp_frame_t	f;
	struct timeval	tv;
	int		st;

	for (;;) {
		tv.tv_sec = 0;
		tv.tv_usec = 0;
		st = amqp_simple_wait_frame_noblock(c, &f, &tv);
		if (st == AMQP_STATUS_TIMEOUT)
			return 0;
		if (st != AMQP_STATUS_OK) {
			if (st == AMQP_STATUS_HEARTBEAT_TIMEOUT) {
				atomic_fetch_add(&rt->hb_timeouts, 1);
				svc_log(NULL, "warn", "amqp %s: no heartbeat from the broker in %lld s: "
				    "reconnecting", what, 2 * rt->conf.heartbeat_s);
			} else
				svc_log(NULL, "warn", "amqp %s: %s", what, amqp_error_string2(st));
			return -1;
		}
		if (f.frame_type == AMQP_FRAME_METHOD &&
		    (f.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD ||
		    f.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD)) {
			svc_log(NULL, "warn", "amqp %s: closed by the broker", what);
			return -1;
		}
		/* Anything else on an idle channel (a late confirm of a failed batch): dropped. */
	}
}
