/* proxy_server.h - a whole sim proxy server (API + proxies) on one event base, for main and tests */
#ifndef SIM_PROXY_SERVER_H
#define SIM_PROXY_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "proxy.h"

#define SIM_PEER_NETNS_MAX 4

struct sim_proxy_opts {
	const char *host;               /* API address, default 127.0.0.1 */
	int port;                       /* API port, default 8474; 0 picks a free one */
	const char *config;             /* Toxiproxy-style JSON array of proxies, or NULL */
	uint64_t seed;
	const char *fault_log;          /* path, "-" for stderr, or NULL */
	int loops;                      /* event loops moving bytes (threads); 0 means 1 */
	bool owner_set;                 /* owner given; otherwise the owner is our euid */
	uid_t owner;                    /* who besides root may change proxies and toxics */
	const char *peer_netns[SIM_PEER_NETNS_MAX]; /* namespaces API peers may come from too */
	size_t npeer_netns;
};

struct sim_server {
	struct sim_ctx ctx;
	struct evhttp *http;
	int port;                       /* the API port actually bound */
	int wake[2];                    /* a byte written to wake[1] stops the loop */
	struct event *wake_ev;
	bool own_log;
	uid_t owner;                    /* changes (every method but GET/HEAD): this uid and root */
	int peer_nl[SIM_PEER_NETNS_MAX]; /* socket diagnostics in the --peer-netns namespaces */
	size_t npeer_nl;
};

int sim_server_init(struct sim_server *s, const struct sim_proxy_opts *o);
int sim_server_run(struct sim_server *s);
void sim_server_stop(struct sim_server *s);     /* safe from another thread or a signal */
void sim_server_free(struct sim_server *s);

#endif
