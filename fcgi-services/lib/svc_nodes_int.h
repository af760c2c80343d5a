/* svc_nodes_int.h - lists of database or broker nodes, their order, failover and health (svc_dbnodes.c) */
#ifndef SVC_NODES_INT_H
#define SVC_NODES_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "svc.h"

/*
 * The database nodes (svc_dbnodes.c): SHOPLAB_DB_HOSTS, or SHOPLAB_DB_HOST:PORT as a list of
 * one. A connection tries them in the list's order (the first is the service's preferred
 * node), except that a node that failed a connection or its health check within hold_us is
 * tried last. Shared by the workers, behind its lock; time is passed in (tests inject it).
 */
#define SVC_DBNODES_MAX		8
#define SVC_DBNODES_HOLD_US	5000000
struct svc_dbnode {
	char		host[256];
	unsigned	port;
	char		label[272];	/* host:port, for logs and metrics */
	int64_t		down_until_us;	/* tried last until then */
};
struct svc_dbnodes {
	pthread_mutex_t		lock;
	int			inited;
	size_t			n;
	struct svc_dbnode	node[SVC_DBNODES_MAX];
	size_t			current;	/* the node of the latest connection */
	int			have_current;
	uint64_t		failovers;	/* connections to another node than the one before */
	int64_t			hold_us;
};
/* Parses list ("" or NULL: host and port as the one node); returns 0, or -1 with err. */
int    svc_dbnodes_init(struct svc_dbnodes *ns, const char *list, const char *host,
	long long port, char *err, size_t errlen);
/* The same for any list of host:port nodes (the brokers: SHOPLAB_AMQP_HOSTS, svc_ev_runtime.c);
 * list_var and host_var name the settings in error messages. */
int    svc_nodes_init(struct svc_dbnodes *ns, const char *list_var, const char *host_var,
	const char *list, const char *host, long long port, char *err, size_t errlen);
void   svc_dbnodes_free(struct svc_dbnodes *ns);
/* Fills order with every node's index, in the order to try them at now_us; returns n. */
size_t svc_dbnodes_order(struct svc_dbnodes *ns, int64_t now_us, size_t *order);
/* Node i refused a connection or is not ready: tried last until now_us + hold_us. */
void   svc_dbnodes_failed(struct svc_dbnodes *ns, size_t i, int64_t now_us);
/* A connection to node i succeeded (counts a failover when the node changed). */
void   svc_dbnodes_used(struct svc_dbnodes *ns, size_t i);
/*
 * Whether a worker connected to node cur since since_us should go back to the preferred node
 * (index 0) now: it is elsewhere, the preferred node has not failed within the hold time, and the
 * worker has been away for at least the hold time (so a bad preferred node costs each worker at
 * most one refused connection per hold time). Keeps a service's writes on one node.
 */
int    svc_dbnodes_should_return(struct svc_dbnodes *ns, size_t cur, int64_t since_us,
	int64_t now_us);
/* The node of the latest connection (returns 0 when there was none yet) and the failovers. */
int    svc_dbnodes_current(struct svc_dbnodes *ns, size_t *i, uint64_t *failovers);
/* shoplab_db_node{node=...} and shoplab_db_failovers_total; -1 when out of memory. */
int    svc_dbnodes_metrics_write(struct svc_dbnodes *ns, const char *service, struct svc_buf *out);
/*
 * Tries the nodes in svc_dbnodes_order's order until try_one(arg, i) returns 0: marks each
 * node that failed (svc_dbnodes_failed at now_us() after the attempt) and the one that
 * worked (svc_dbnodes_used). Returns 0 with *used set, or -1 when every node failed. The
 * brokers' connection loop (svc_ev_broker.c); now_us is injected by tests.
 */
int    svc_nodes_try(struct svc_dbnodes *ns, int64_t (*now_us)(void),
	int (*try_one)(void *arg, size_t i), void *arg, size_t *used);
/* shoplab_amqp_node{service,node} (1: one of the nthreads node_of[] entries, -1 = none, is
 * that node) and shoplab_amqp_failovers_total; -1 when out of memory. */
int    svc_amqpnodes_metrics_write(struct svc_dbnodes *ns, const char *service,
	const int *node_of, size_t nthreads, struct svc_buf *out);
/* Whether a node may take work: wsrep off (a plain MariaDB), or wsrep_ready ON and
 * wsrep_local_state 4 (Synced). The three values as the server reports them. */
int    svc_dbnodes_ready(const char *wsrep_on, const char *ready, const char *local_state);

#endif /* SVC_NODES_INT_H */
