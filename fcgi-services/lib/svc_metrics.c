/* svc_metrics.c - request counters and latency histograms in Prometheus text format */
#include <stdlib.h>
#include <string.h>

#include "svc_internal.h"

const int64_t svc_buckets_us[SVC_NBUCKETS] = {
	250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000,
};

static const int svc_statuses[SVC_NSTATUS - 1] = {
	200, 201, 202, 204, 304, 400, 401, 402, 403, 404, 405, 409, 411, 413, 415, 422,
	429, 500, 502, 503, 504,
};

int
svc_metrics_status_index(int status)
{
	size_t i;

	for (i = 0; i < SVC_NSTATUS - 1; i++)
		if (svc_statuses[i] == status)
			return (int)i;
	return SVC_NSTATUS - 1;
}

int
svc_metrics_init(struct svc_metrics *m, size_t nroutes)
{
	size_t i, j;

	memset(m, 0, sizeof(*m));
	if ((m->routes = calloc(nroutes, sizeof(*m->routes))) == NULL)
		return -1;
	m->nroutes = nroutes;
	for (i = 0; i < nroutes; i++) {
		for (j = 0; j < SVC_NSTATUS; j++)
			atomic_init(&m->routes[i].status[j], 0);
		for (j = 0; j <= SVC_NBUCKETS; j++)
			atomic_init(&m->routes[i].bucket[j], 0);
		atomic_init(&m->routes[i].sum_us, 0);
		atomic_init(&m->routes[i].count, 0);
	}
	atomic_init(&m->inflight, 0);
	atomic_init(&m->db_errors, 0);
	atomic_init(&m->db_reconnects, 0);
	m->started_wall_us = svc_wall_us();
	return 0;
}

void
svc_metrics_free(struct svc_metrics *m)
{
	free(m->routes);
	m->routes = NULL;
	m->nroutes = 0;
}

void
svc_metrics_record(struct svc_metrics *m, size_t route, int status, int64_t dur_us)
{
	struct svc_route_metrics	*rm;
	size_t				 b;

	if (route >= m->nroutes)
		route = m->nroutes - 1;
	rm = &m->routes[route];
	if (dur_us < 0)
		dur_us = 0;
	for (b = 0; b < SVC_NBUCKETS && dur_us > svc_buckets_us[b]; b++)
		;
	atomic_fetch_add_explicit(&rm->status[svc_metrics_status_index(status)], 1,
	    memory_order_relaxed);
	atomic_fetch_add_explicit(&rm->bucket[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&rm->sum_us, (unsigned long long)dur_us, memory_order_relaxed);
	atomic_fetch_add_explicit(&rm->count, 1, memory_order_relaxed);
}

/* route_names[i] is "METHOD /pattern"; the last route is the unmatched bucket. */
int
svc_metrics_write(const struct svc_metrics *m, const char *service,
    const char *const *route_names, struct svc_buf *out)
{
	size_t i, j;

	svc_buf_puts(out,
	    "# HELP shoplab_http_requests_total Requests answered, by route and status.\n"
	    "# TYPE shoplab_http_requests_total counter\n");
	for (i = 0; i < m->nroutes; i++) {
		const char *sp = strchr(route_names[i], ' ');
		int mlen = sp ? (int)(sp - route_names[i]) : 0;
		const char *pat = sp ? sp + 1 : route_names[i];

		for (j = 0; j < SVC_NSTATUS; j++) {
			unsigned long long v = atomic_load(&m->routes[i].status[j]);
			if (v == 0)
				continue;
			if (j < SVC_NSTATUS - 1)
				svc_buf_printf(out, "shoplab_http_requests_total{service=\"%s\","
				    "method=\"%.*s\",route=\"%s\",status=\"%d\"} %llu\n", service,
				    mlen, route_names[i], pat, svc_statuses[j], v);
			else
				svc_buf_printf(out, "shoplab_http_requests_total{service=\"%s\","
				    "method=\"%.*s\",route=\"%s\",status=\"other\"} %llu\n", service,
				    mlen, route_names[i], pat, v);
		}
	}
	svc_buf_puts(out,
	    "# HELP shoplab_http_request_duration_seconds Time from accept to response, by route.\n"
	    "# TYPE shoplab_http_request_duration_seconds histogram\n");
	for (i = 0; i < m->nroutes; i++) {
		const char *sp = strchr(route_names[i], ' ');
		int mlen = sp ? (int)(sp - route_names[i]) : 0;
		const char *pat = sp ? sp + 1 : route_names[i];
		unsigned long long cum = 0, count = atomic_load(&m->routes[i].count);

		if (count == 0)
			continue;
		for (j = 0; j <= SVC_NBUCKETS; j++) {
			cum += atomic_load(&m->routes[i].bucket[j]);
			if (j < SVC_NBUCKETS)
				svc_buf_printf(out, "shoplab_http_request_duration_seconds_bucket{"
				    "service=\"%s\",method=\"%.*s\",route=\"%s\",le=\"%g\"} %llu\n",
				    service, mlen, route_names[i], pat,
				    (double)svc_buckets_us[j] / 1e6, cum);
			else
				svc_buf_printf(out, "shoplab_http_request_duration_seconds_bucket{"
				    "service=\"%s\",method=\"%.*s\",route=\"%s\",le=\"+Inf\"} %llu\n",
				    service, mlen, route_names[i], pat, cum);
		}
		svc_buf_printf(out, "shoplab_http_request_duration_seconds_sum{service=\"%s\","
		    "method=\"%.*s\",route=\"%s\"} %.6f\n", service, mlen, route_names[i], pat,
		    (double)atomic_load(&m->routes[i].sum_us) / 1e6);
		svc_buf_printf(out, "shoplab_http_request_duration_seconds_count{service=\"%s\","
		    "method=\"%.*s\",route=\"%s\"} %llu\n", service, mlen, route_names[i], pat,
		    count);
	}
	svc_buf_printf(out,
	    "# HELP shoplab_http_requests_in_flight Requests being handled now.\n"
	    "# TYPE shoplab_http_requests_in_flight gauge\n"
	    "shoplab_http_requests_in_flight{service=\"%s\"} %lld\n"
	    "# HELP shoplab_db_errors_total Database calls that failed.\n"
	    "# TYPE shoplab_db_errors_total counter\n"
	    "shoplab_db_errors_total{service=\"%s\"} %llu\n"
	    "# HELP shoplab_db_reconnects_total Statements retried on a new connection.\n"
	    "# TYPE shoplab_db_reconnects_total counter\n"
	    "shoplab_db_reconnects_total{service=\"%s\"} %llu\n"
	    "# HELP shoplab_process_start_time_seconds Start time of the process, Unix time.\n"
	    "# TYPE shoplab_process_start_time_seconds gauge\n"
	    "shoplab_process_start_time_seconds{service=\"%s\"} %.3f\n",
	    service, (long long)atomic_load(&m->inflight), service,
	    atomic_load(&m->db_errors), service, atomic_load(&m->db_reconnects), service,
	    (double)m->started_wall_us / 1e6);
	return out->failed ? -1 : 0;
}
