/* proxy_registry.c - the set of proxies and their toxics: start, stop, add, change, remove */
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

struct sim_proxy *
sim_proxy_find(struct sim_ctx *ctx, const char *name)
{
	for (struct sim_proxy *p = ctx->proxies; p != NULL; p = p->next)
		if (strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

/* Returns a new, stopped proxy that is in no list; the strings are copied (and cut). */
struct sim_proxy *
sim_proxy_new(struct sim_ctx *ctx, const char *name, const char *listen,
    const char *upstream)
{
	struct sim_proxy *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	if (pthread_mutex_init(&p->conns_mu, NULL) != 0) {
		free(p);
		return NULL;
	}
	p->ctx = ctx;
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->listen, sizeof(p->listen), "%s", listen);
	snprintf(p->upstream, sizeof(p->upstream), "%s", upstream);
	p->name_hash = sim_hash_str(p->name);
	return p;
}

static void
sim_registry_accept_cb(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	(void)lis;
	(void)sa;
	(void)salen;
	sim_loops_handoff(arg, fd);
}

static void
sim_registry_accept_error_cb(struct evconnlistener *lis, void *arg)
{
	struct sim_proxy *p = arg;

	(void)lis;
	fprintf(stderr, "sim proxy: %s: accept: %s\n", p->name,
	        evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

/* Listens on p->listen (rewritten to the bound address). Returns 1 if it was already on,
 * 0 when started, -1 with err set. */
int
sim_proxy_start(struct sim_proxy *p, struct sim_err *err)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	struct sim_err ignored;

	if (p->enabled)
		return 1;
	if (sim_addr_parse(p->listen, true, &ss, &len, err) != 0)
		return -1;
	p->listener = evconnlistener_new_bind(p->ctx->base, sim_registry_accept_cb, p,
	                                      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 1024,
	                                      (struct sockaddr *)&ss, (int)len);
	if (p->listener == NULL) {
		sim_err_set(err, 500, "listen tcp %s: %s", p->listen,
		            evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		return -1;
	}
	evconnlistener_set_error_cb(p->listener, sim_registry_accept_error_cb);
	len = sizeof(ss);
	if (getsockname(evconnlistener_get_fd(p->listener), (struct sockaddr *)&ss, &len) == 0)
		sim_addr_format((struct sockaddr *)&ss, p->listen, sizeof(p->listen));
	p->up_len = 0;
	(void)sim_addr_parse(p->upstream, false, &p->up_addr, &p->up_len, &ignored);
	p->enabled = true;
	return 0;
}

/* Stops listening and cuts every connection. */
void
sim_proxy_stop(struct sim_proxy *p)
{
	if (!p->enabled)
		return;
	p->enabled = false;
	evconnlistener_free(p->listener);
	p->listener = NULL;
	sim_loops_forget(p->ctx, p);
	while (p->conns != NULL)
		sim_conn_free(p->conns);
}

void
sim_proxy_link_in(struct sim_ctx *ctx, struct sim_proxy *p)
{
	struct sim_proxy **pp = &ctx->proxies;

	while (*pp != NULL)
		pp = &(*pp)->next;
	p->next = NULL;
	*pp = p;
}

void
sim_proxy_unlink(struct sim_ctx *ctx, struct sim_proxy *p)
{
	for (struct sim_proxy **pp = &ctx->proxies; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			p->next = NULL;
			return;
		}
	}
}

/* Like Toxiproxy's Differs: the listen address resolved, or the upstream, changed. */
int
sim_proxy_differs(const struct sim_proxy *p, const char *listen, const char *upstream,
    bool *differs, struct sim_err *err)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	char resolved[SIM_ADDR_MAX];

	if (sim_addr_parse(listen, true, &ss, &len, err) != 0)
		return -1;
	sim_addr_format((struct sockaddr *)&ss, resolved, sizeof(resolved));
	*differs = strcmp(resolved, p->listen) != 0 && strcmp(listen, p->listen) != 0;
	if (strcmp(upstream, p->upstream) != 0)
		*differs = true;
	return 0;
}

void
sim_proxy_free(struct sim_proxy *p)
{
	struct sim_toxic *t, *next;

	if (p == NULL)
		return;
	sim_proxy_stop(p);
	for (t = p->toxics; t != NULL; t = next) {
		next = t->next;
		free(t);
	}
	pthread_mutex_destroy(&p->conns_mu);
	free(p);
}

void
sim_proxies_free_all(struct sim_ctx *ctx)
{
	while (ctx->proxies != NULL) {
		struct sim_proxy *p = ctx->proxies;

		ctx->proxies = p->next;
		sim_proxy_free(p);
	}
}

struct sim_toxic *
sim_toxic_find(struct sim_proxy *p, const char *name)
{
	for (struct sim_toxic *t = p->toxics; t != NULL; t = t->next)
		if (strcmp(t->name, name) == 0)
			return t;
	return NULL;
}

/* Takes t into the proxy and onto every live connection of its stream. */
void
sim_toxic_attach(struct sim_proxy *p, struct sim_toxic *t)
{
	struct sim_toxic **pp = &p->toxics;

	t->proxy = p;
	t->name_hash = sim_hash_str(t->name);
	while (*pp != NULL)
		pp = &(*pp)->next;
	t->next = NULL;
	*pp = t;
	for (struct sim_conn *c = p->conns; c != NULL; c = c->next)
		if (!c->reaping && sim_link_add_stage(&c->link[t->dir], t) != 0)
			sim_conn_schedule_reap(c);
}

void
sim_toxic_updated(struct sim_proxy *p, struct sim_toxic *t)
{
	t->generation++;
	t->requests = 0;
	for (struct sim_conn *c = p->conns; c != NULL; c = c->next)
		if (!c->reaping)
			sim_link_restart_stage(&c->link[t->dir], t);
}

/* Takes t off every connection (what it held goes on) and frees it. */
void
sim_toxic_remove(struct sim_proxy *p, struct sim_toxic *t)
{
	for (struct sim_conn *c = p->conns; c != NULL; c = c->next)
		sim_link_remove_stage(&c->link[t->dir], t);
	for (struct sim_toxic **pp = &p->toxics; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	free(t);
}
