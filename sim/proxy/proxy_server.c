/* proxy_server.c - wires the evhttp control API, the proxies and the event loop together */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "proxy.h"
#include "proxy_api.h"
#include "proxy_peer.h"
#include "proxy_server.h"

static const char *
sim_server_method_name(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_PATCH: return "PATCH";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_HEAD: return "HEAD";
	default: return "OTHER";
	}
}

/*
 * Whether this request may go on. Reading (GET, HEAD) is open; anything else changes proxies or
 * toxics, which only the owner and root may: the peer's uid comes from the kernel (the TCP
 * socket at the other end of this connection), and a peer that cannot be found is refused. A
 * refusal is answered 403 with Toxiproxy's error body and logged with the peer's uid.
 */
static bool
sim_server_may_change(struct sim_server *s, struct evhttp_request *req, const char *method,
    const char *path, struct sim_reply *rep)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	struct bufferevent *bev = conn != NULL ? evhttp_connection_get_bufferevent(conn) : NULL;
	evutil_socket_t fd = bev != NULL ? bufferevent_getfd(bev) : -1;
	const char *why = "no connection";
	char *host = NULL;
	ev_uint16_t port = 0;
	uid_t uid = (uid_t)-1;
	json_object *o;
	bool found;

	if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
		return true;
	found = fd >= 0 && sim_peer_uid(fd, &uid, &why) == 0;

	/* A peer from another namespace is not in ours: look where --peer-netns says. */
	for (size_t i = 0; fd >= 0 && !found && i < s->npeer_nl; i++)
		found = sim_peer_uid_nl(s->peer_nl[i], fd, &uid, &why) == 0;
	if (found) {
		if (sim_owner_may_change(s->owner, uid))
			return true;
		why = "not the proxy's owner";
	}
	if (conn != NULL)
		evhttp_connection_get_peer(conn, &host, &port);
	if (uid == (uid_t)-1)
		fprintf(stderr, "sim proxy: refused %s %.200s from %s:%u (uid unknown: %s)\n", method, path,
		        host != NULL ? host : "?", (unsigned)port, why);
	else
		fprintf(stderr, "sim proxy: refused %s %.200s from %s:%u (uid %lu: %s, owner uid %lu)\n",
		        method, path, host != NULL ? host : "?", (unsigned)port, (unsigned long)uid,
		        why, (unsigned long)s->owner);
	o = json_object_new_object();
	rep->status = 403;
	rep->content_type = "application/json";
	if (o == NULL ||
	    json_object_object_add(o, "error", json_object_new_string(
	        "forbidden: only the proxy's owner and root may change proxies and toxics")) != 0 ||
	    json_object_object_add(o, "status", json_object_new_int(403)) != 0 ||
	    sim_json_write(rep->body, o) != 0 || evbuffer_add(rep->body, "\n", 1) != 0) {
		evbuffer_drain(rep->body, evbuffer_get_length(rep->body));
		(void)evbuffer_add_printf(rep->body, "{\"error\":\"forbidden\",\"status\":403}\n");
	}
	json_object_put(o);
	return false;
}

static void
sim_server_http_cb(struct evhttp_request *req, void *arg)
{
	struct sim_server *s = arg;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	struct evkeyvalq *hdrs = evhttp_request_get_input_headers(req);
	size_t blen = evbuffer_get_length(in);
	const char *method = sim_server_method_name(evhttp_request_get_command(req));
	const char *body = blen > 0 ? (const char *)evbuffer_pullup(in, -1) : "";
	struct sim_reply rep = { 0, evbuffer_new(), NULL };

	if (rep.body == NULL) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	if (body == NULL)
		body = "";
	if (sim_server_may_change(s, req, method, path != NULL ? path : "/", &rep)) {
		/* Every API call sees, and changes, the proxies with the other loops parked. */
		sim_world_stop(&s->ctx);
		sim_api_handle(&s->ctx, method, path != NULL ? path : "/", body, blen,
		               evhttp_find_header(hdrs, "User-Agent"), &rep);
		sim_world_start(&s->ctx);
	}
	if (rep.content_type != NULL && rep.status != 204)
		(void)evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
		                        rep.content_type);
	evhttp_send_reply(req, rep.status, sim_http_reason(rep.status),
	                  rep.status == 204 ? NULL : rep.body);
	evbuffer_free(rep.body);
}

static void
sim_server_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sim_server *s = arg;
	char b[16];

	(void)what;
	while (read(fd, b, sizeof(b)) > 0)
		;
	(void)event_base_loopbreak(s->ctx.base);
}

static int
sim_server_load_config(struct sim_server *s, const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0;
	json_object *list = NULL;
	struct sim_err err;
	int rc = -1;

	if (f == NULL) {
		fprintf(stderr, "sim proxy: --config %s: cannot open\n", path);
		goto out;
	}
	buf = malloc(SIM_BODY_MAX + 1);
	if (buf == NULL)
		goto out_close;
	len = fread(buf, 1, SIM_BODY_MAX + 1, f);
	if (ferror(f) || len > SIM_BODY_MAX) {
		fprintf(stderr, "sim proxy: --config %s: unreadable or larger than %d bytes\n", path,
		        SIM_BODY_MAX);
		goto out_free;
	}
	if (sim_api_populate(&s->ctx, buf, len, &list, &err) != 0) {
		fprintf(stderr, "sim proxy: --config %s: %s\n", path, err.msg);
		goto out_put;
	}
	fprintf(stderr, "sim proxy: populated %zu proxies from %s\n",
	        list != NULL ? json_object_array_length(list) : 0, path);
	rc = 0;
out_put:
	json_object_put(list);
out_free:
	free(buf);
out_close:
	fclose(f);
out:
	return rc;
}

int
sim_server_init(struct sim_server *s, const struct sim_proxy_opts *o)
{
	struct evhttp_bound_socket *sock;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	memset(s, 0, sizeof(*s));
	s->wake[0] = s->wake[1] = -1;
	s->ctx.seed = o->seed;
	s->ctx.now_us = sim_clock_monotonic_us;
	s->owner = o->owner_set ? o->owner : geteuid();
	for (size_t i = 0; i < o->npeer_netns && i < SIM_PEER_NETNS_MAX; i++) {
		s->peer_nl[i] = sim_peer_netns_open(o->peer_netns[i]);
		if (s->peer_nl[i] < 0) {
			fprintf(stderr, "sim proxy: --peer-netns %s: %s\n", o->peer_netns[i],
			        strerror(errno));
			goto out_fail;
		}
		s->npeer_nl = i + 1;
	}
	if (o->fault_log != NULL && strcmp(o->fault_log, "-") == 0) {
		s->ctx.fault_log = stderr;
	} else if (o->fault_log != NULL) {
		s->ctx.fault_log = fopen(o->fault_log, "a");
		if (s->ctx.fault_log == NULL) {
			fprintf(stderr, "sim proxy: --fault-log %s: cannot open\n", o->fault_log);
			goto out_fail;
		}
		s->own_log = true;
	}
	s->ctx.base = event_base_new();
	if (s->ctx.base == NULL ||
	    sim_loops_init(&s->ctx, s->ctx.base, o->loops > 0 ? (size_t)o->loops : 1) != 0)
		goto out_fail;
	if (pipe2(s->wake, O_NONBLOCK | O_CLOEXEC) != 0)
		goto out_fail;
	s->wake_ev = event_new(s->ctx.base, s->wake[0], EV_READ | EV_PERSIST, sim_server_wake_cb, s);
	if (s->wake_ev == NULL || event_add(s->wake_ev, NULL) != 0)
		goto out_fail;
	s->http = evhttp_new(s->ctx.base);
	if (s->http == NULL)
		goto out_fail;
	evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_DELETE |
	                                    EVHTTP_REQ_PATCH | EVHTTP_REQ_PUT | EVHTTP_REQ_HEAD);
	evhttp_set_max_body_size(s->http, SIM_BODY_MAX);
	evhttp_set_timeout(s->http, 25);
	evhttp_set_gencb(s->http, sim_server_http_cb, s);
	sock = evhttp_bind_socket_with_handle(s->http, o->host != NULL ? o->host : "127.0.0.1",
	                                      (ev_uint16_t)o->port);
	if (sock == NULL) {
		fprintf(stderr, "sim proxy: cannot listen on %s:%d\n",
		        o->host != NULL ? o->host : "127.0.0.1", o->port);
		goto out_fail;
	}
	if (getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&ss, &sl) != 0)
		goto out_fail;
	s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
	                                         : ((struct sockaddr_in *)&ss)->sin_port);
	if (o->config != NULL && sim_server_load_config(s, o->config) != 0)
		goto out_fail;
	if (sim_loops_start(&s->ctx) != 0) {
		fprintf(stderr, "sim proxy: cannot start the event loops' threads\n");
		goto out_fail;
	}
	return 0;
out_fail:
	sim_server_free(s);
	return -1;
}

int
sim_server_run(struct sim_server *s)
{
	int rc = event_base_dispatch(s->ctx.base) < 0 ? -1 : 0;

	/* The other loops stop with the server's: their connections are freed with it. */
	sim_loops_stop(&s->ctx);
	return rc;
}

void
sim_server_stop(struct sim_server *s)
{
	char b = 1;

	if (s->wake[1] >= 0 && write(s->wake[1], &b, 1) < 0) {
		/* the pipe is full: a wake-up is already pending */
	}
}

void
sim_server_free(struct sim_server *s)
{
	sim_loops_stop(&s->ctx);        /* no-op when they never started or already stopped */
	sim_proxies_free_all(&s->ctx);
	sim_loops_free(&s->ctx);
	if (s->http != NULL)
		evhttp_free(s->http);
	if (s->wake_ev != NULL)
		event_free(s->wake_ev);
	for (int i = 0; i < 2; i++)
		if (s->wake[i] >= 0)
			close(s->wake[i]);
	if (s->ctx.base != NULL)
		event_base_free(s->ctx.base);
	if (s->own_log && s->ctx.fault_log != NULL)
		fclose(s->ctx.fault_log);
	for (size_t i = 0; i < s->npeer_nl; i++)
		close(s->peer_nl[i]);
	memset(s, 0, sizeof(*s));
	s->wake[0] = s->wake[1] = -1;
}
