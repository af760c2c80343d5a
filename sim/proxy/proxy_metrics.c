/* sim_metrics_proxy_metrics.c - counters per proxy and per toxic in Prometheus text format (GET /metrics) */
#include <string.h>

#include "proxy.h"

/* Writes s as a Prometheus label value: backslash, quote and newline escaped. */
static int
sim_metrics_label(struct evbuffer *out, const char *s)
{
	for (; *s != '\0'; s++) {
		int rc;

		if (*s == '\\' || *s == '"')
			rc = evbuffer_add_printf(out, "\\%c", *s);
		else if (*s == '\n')
			rc = evbuffer_add_printf(out, "\\n");
		else
			rc = evbuffer_add(out, s, 1);
		if (rc < 0)
			return -1;
	}
	return 0;
}

struct metric {
	const char *name, *type, *help;
};

static const struct metric sim_metrics_proxy_metrics[] = {
	{ "sim_proxy_connections_total", "counter", "Connections accepted." },
	{ "sim_proxy_connections_active", "gauge", "Connections open now." },
	{ "sim_proxy_upstream_failures_total", "counter", "Connections dropped for want of an upstream." },
	{ "sim_proxy_received_bytes_total", "counter", "Bytes read, by the stream they travel." },
	{ "sim_proxy_fcgi_requests_total", "counter", "FastCGI requests seen by FastCGI toxics." },
	{ "sim_toxic_faults_total", "counter", "Times a toxic was applied (connections or requests)." },
	{ "sim_toxic_requests_total", "counter", "FastCGI requests a toxic chose for or against." },
};

static int
sim_metrics_sample_head(struct evbuffer *out, const char *name, const struct sim_proxy *p)
{
	if (evbuffer_add_printf(out, "%s{proxy=\"", name) < 0 || sim_metrics_label(out, p->name) != 0)
		return -1;
	return 0;
}

static int
sim_metrics_render_metric(const struct sim_ctx *ctx, struct evbuffer *out, size_t m)
{
	const char *name = sim_metrics_proxy_metrics[m].name;

	if (evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, sim_metrics_proxy_metrics[m].help,
	                        name, sim_metrics_proxy_metrics[m].type) < 0)
		return -1;
	for (const struct sim_proxy *p = ctx->proxies; p != NULL; p = p->next) {
		const uint64_t simple[] = { p->m_conns, p->m_active, p->m_refused };

		if (m < 3 || m == 4) {
			if (sim_metrics_sample_head(out, name, p) != 0 ||
			    evbuffer_add_printf(out, "\"} %llu\n",
			                        (unsigned long long)(m == 4 ? p->m_requests : simple[m])) < 0)
				return -1;
			continue;
		}
		if (m == 3) {
			for (int d = 0; d < 2; d++)
				if (sim_metrics_sample_head(out, name, p) != 0 ||
				    evbuffer_add_printf(out, "\",stream=\"%s\"} %llu\n",
				                        d == SIM_UP ? "upstream" : "downstream",
				                        (unsigned long long)p->m_bytes[d]) < 0)
					return -1;
			continue;
		}
		for (const struct sim_toxic *t = p->toxics; t != NULL; t = t->next) {
			if (m == 6 && !t->type->fcgi)
				continue;
			if (sim_metrics_sample_head(out, name, p) != 0 || evbuffer_add_printf(out, "\",toxic=\"") < 0 ||
			    sim_metrics_label(out, t->name) != 0 ||
			    evbuffer_add_printf(out, "\",type=\"%s\"} %llu\n", t->type->name,
			                        (unsigned long long)(m == 5 ? t->faults : t->requests)) < 0)
				return -1;
		}
	}
	return 0;
}

int
sim_metrics_render(const struct sim_ctx *ctx, struct evbuffer *out)
{
	for (size_t m = 0; m < sizeof(sim_metrics_proxy_metrics) / sizeof(sim_metrics_proxy_metrics[0]); m++)
		if (sim_metrics_render_metric(ctx, out, m) != 0)
			return -1;
	return 0;
}
