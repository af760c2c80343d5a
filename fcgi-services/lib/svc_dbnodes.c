/* svc_dbnodes.c - the database nodes a service may use: the list, the order to try them in, failover bookkeeping */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svc_conf_int.h"
#include "svc_nodes_int.h"
#include "svc_util_int.h"

/* Parses "host:port" (len bytes of s) into node; returns 0, or -1 with err set. */
static int
svc_dbnodes_parse_one(const char *s, size_t len, struct svc_dbnode *node, char *err,
    size_t errlen)
{
	const char	*colon;
	char		 port[8];
	size_t		 hlen, plen;
	long long	 p;

	colon = memrchr(s, ':', len);
	if (colon == NULL || colon == s || (size_t)(colon - s) + 1 == len) {
		snprintf(err, errlen, "\"%.*s\": want host:port", (int)(len > 80 ? 80 : len), s);
		return -1;
	}
	hlen = (size_t)(colon - s);
	plen = len - hlen - 1;
	if (hlen >= sizeof(node->host)) {
		snprintf(err, errlen, "a host longer than %zu bytes", sizeof(node->host) - 1);
		return -1;
	}
	for (size_t i = 0; i < hlen; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '-' && s[i] != '_') {
			snprintf(err, errlen, "\"%.*s\": a host is letters, digits, '.', '-', '_'",
			    (int)(hlen > 80 ? 80 : hlen), s);
			return -1;
		}
	if (plen >= sizeof(port)) {
		snprintf(err, errlen, "\"%.*s\": want a port in 1..65535", (int)(len > 80 ? 80 : len), s);
		return -1;
	}
	memcpy(port, colon + 1, plen);
	port[plen] = '\0';
	if (svc_conf_parse_ll(port, 1, 65535, &p) == -1) {
		snprintf(err, errlen, "\"%.*s\": want a port in 1..65535", (int)(len > 80 ? 80 : len), s);
		return -1;
	}
	memcpy(node->host, s, hlen);
	node->host[hlen] = '\0';
	node->port = (unsigned)p;
	snprintf(node->label, sizeof(node->label), "%.*s:%u", (int)hlen, s, node->port);
	node->down_until_us = 0;
	return 0;
}

int
svc_dbnodes_init(struct svc_dbnodes *ns, const char *list, const char *host, long long port,
    char *err, size_t errlen)
{
	return svc_nodes_init(ns, "SHOPLAB_DB_HOSTS", "SHOPLAB_DB_HOST", list, host, port, err,
	    errlen);
}

int
svc_nodes_init(struct svc_dbnodes *ns, const char *list_var, const char *host_var,
    const char *list, const char *host, long long port, char *err, size_t errlen)
{
	const char	*p, *end;
	char		 one[300];
	size_t		 len;

	memset(ns, 0, sizeof(*ns));
	ns->hold_us = SVC_DBNODES_HOLD_US;
	if (list == NULL || list[0] == '\0') {
		/* The one-node form: SHOPLAB_DB_HOST and SHOPLAB_DB_PORT, already checked. */
		if (strlen(host) >= sizeof(ns->node[0].host)) {
			snprintf(err, errlen, "%s: longer than %zu bytes", host_var,
			    sizeof(ns->node[0].host) - 1);
			goto fail;
		}
		snprintf(ns->node[0].host, sizeof(ns->node[0].host), "%s", host);
		ns->node[0].port = (unsigned)port;
		snprintf(ns->node[0].label, sizeof(ns->node[0].label), "%s:%u", host, (unsigned)port);
		ns->n = 1;
	} else {
		for (p = list; ; p = end + 1) {
			end = strchr(p, ',');
			len = end ? (size_t)(end - p) : strlen(p);
			if (ns->n == SVC_DBNODES_MAX) {
				snprintf(err, errlen, "%s: more than %d nodes", list_var,
				    SVC_DBNODES_MAX);
				goto fail;
			}
			if (len == 0) {
				snprintf(err, errlen, "%s: an empty entry (host:port,host:port,...)",
				    list_var);
				goto fail;
			}
			if (svc_dbnodes_parse_one(p, len, &ns->node[ns->n], one, sizeof(one)) == -1) {
				snprintf(err, errlen, "%s: %s", list_var, one);
				goto fail;
			}
			ns->n++;
			if (end == NULL)
				break;
		}
	}
	if (pthread_mutex_init(&ns->lock, NULL) != 0) {
		snprintf(err, errlen, "cannot initialise a mutex");
		goto fail;
	}
	ns->inited = 1;
	return 0;
fail:
	ns->n = 0;
	return -1;
}

void
svc_dbnodes_free(struct svc_dbnodes *ns)
{
	if (ns->inited)
		pthread_mutex_destroy(&ns->lock);
	ns->inited = 0;
	ns->n = 0;
}

size_t
svc_dbnodes_order(struct svc_dbnodes *ns, int64_t now_us, size_t *order)
{
	size_t i, k = 0;

	pthread_mutex_lock(&ns->lock);
	/* The list's order (its first node is the preferred one), nodes that failed lately last. */
	for (i = 0; i < ns->n; i++)
		if (ns->node[i].down_until_us <= now_us)
			order[k++] = i;
	for (i = 0; i < ns->n; i++)
		if (ns->node[i].down_until_us > now_us)
			order[k++] = i;
	pthread_mutex_unlock(&ns->lock);
	return k;
}

void
svc_dbnodes_failed(struct svc_dbnodes *ns, size_t i, int64_t now_us)
{
	if (i >= ns->n)
		return;
	pthread_mutex_lock(&ns->lock);
	ns->node[i].down_until_us = now_us + ns->hold_us;
	pthread_mutex_unlock(&ns->lock);
}

void
svc_dbnodes_used(struct svc_dbnodes *ns, size_t i)
{
	if (i >= ns->n)
		return;
	pthread_mutex_lock(&ns->lock);
	ns->node[i].down_until_us = 0;
	if (ns->have_current && ns->current != i)
		ns->failovers++;
	ns->current = i;
	ns->have_current = 1;
	pthread_mutex_unlock(&ns->lock);
}

int
svc_dbnodes_should_return(struct svc_dbnodes *ns, size_t cur, int64_t since_us, int64_t now_us)
{
	int back;

	if (ns->n < 2 || cur == 0)
		return 0;
	pthread_mutex_lock(&ns->lock);
	back = ns->node[0].down_until_us <= now_us && now_us - since_us >= ns->hold_us;
	pthread_mutex_unlock(&ns->lock);
	return back;
}

int
svc_dbnodes_current(struct svc_dbnodes *ns, size_t *i, uint64_t *failovers)
{
	int have;

	pthread_mutex_lock(&ns->lock);
	have = ns->have_current;
	*i = ns->current;
	*failovers = ns->failovers;
	pthread_mutex_unlock(&ns->lock);
	return have;
}

/* The family shoplab_<kind>_failovers_total and its one sample; 0 or -1 (no memory). */
static int
svc_nodes_failovers_write(struct svc_buf *out, const char *kind, const char *help,
    const char *service, uint64_t failovers)
{
	return svc_buf_printf(out, "# HELP shoplab_%s_failovers_total %s\n"
	    "# TYPE shoplab_%s_failovers_total counter\n"
	    "shoplab_%s_failovers_total{service=\"%s\"} %llu\n", kind, help, kind, kind, service,
	    (unsigned long long)failovers) == -1 ? -1 : 0;
}

int
svc_dbnodes_metrics_write(struct svc_dbnodes *ns, const char *service, struct svc_buf *out)
{
	uint64_t	failovers;
	size_t		cur, i;
	int		have;

	have = svc_dbnodes_current(ns, &cur, &failovers);
	if (svc_buf_puts(out,
	    "# HELP shoplab_db_node The database node of the latest connection (1), the others (0).\n"
	    "# TYPE shoplab_db_node gauge\n") == -1)
		return -1;
	for (i = 0; i < ns->n; i++)
		if (svc_buf_printf(out, "shoplab_db_node{service=\"%s\",node=\"%s\",preferred=\"%s\"} %d\n",
		    service, ns->node[i].label, i == 0 ? "yes" : "no", have && cur == i) == -1)
			return -1;
	return svc_nodes_failovers_write(out, "db",
	    "Connections made to another node than the one before.", service, failovers);
}

int
svc_dbnodes_ready(const char *wsrep_on, const char *ready, const char *local_state)
{
	/* A plain MariaDB (or a Galera node with wsrep switched off) is always ready. */
	if (wsrep_on == NULL || strcmp(wsrep_on, "1") != 0)
		return 1;
	return ready != NULL && strcasecmp(ready, "ON") == 0 &&
	    local_state != NULL && strcmp(local_state, "4") == 0;
}

int
svc_nodes_try(struct svc_dbnodes *ns, int64_t (*now_us)(void), int (*try_one)(void *arg, size_t i),
    void *arg, size_t *used)
{
	size_t	order[SVC_DBNODES_MAX], n, k;

	n = svc_dbnodes_order(ns, now_us(), order);
	for (k = 0; k < n; k++) {
		if (try_one(arg, order[k]) == 0) {
			svc_dbnodes_used(ns, order[k]);
			*used = order[k];
			return 0;
		}
		/* Read the clock after the attempt: a connect can take its whole timeout. */
		svc_dbnodes_failed(ns, order[k], now_us());
	}
	return -1;
}

int
svc_amqpnodes_metrics_write(struct svc_dbnodes *ns, const char *service, const int *node_of,
    size_t nthreads, struct svc_buf *out)
{
	uint64_t	failovers;
	size_t		cur, i, t;
	int		on;

	(void)svc_dbnodes_current(ns, &cur, &failovers);
	if (svc_buf_puts(out,
	    "# HELP shoplab_amqp_node 1 for a broker node the service holds a connection to now.\n"
	    "# TYPE shoplab_amqp_node gauge\n") == -1)
		return -1;
	for (i = 0; i < ns->n; i++) {
		on = 0;
		for (t = 0; t < nthreads; t++)
			if (node_of[t] >= 0 && (size_t)node_of[t] == i)
				on = 1;
		if (svc_buf_printf(out, "shoplab_amqp_node{service=\"%s\",node=\"%s\"} %d\n", service,
		    ns->node[i].label, on) == -1)
			return -1;
	}
	return svc_nodes_failovers_write(out, "amqp",
	    "Broker connections made to another node than the one before.", service, failovers);
}
