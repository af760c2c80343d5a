/* svc_metrics.c - request counters, latency histograms, process metrics and build info in Prometheus text format */
#include <sys/resource.h>
#include <sys/types.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "svc_metrics_int.h"
#include "svc_util_int.h"

/* The build passes `git describe` in (GNUmakefile: -include build/version.h). */
#ifndef SHOPLAB_VERSION
#define SHOPLAB_VERSION "unknown"
#endif

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
	atomic_init(&m->bg_rounds, 0);
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

/*
 * Starts a sample of family for a route named "METHOD /pattern":
 * family{service="...",method="...",route="..." (the caller adds labels and the value).
 */
static void
svc_route_sample(struct svc_buf *out, const char *family, const char *service,
    const char *name)
{
	const char	*sp = strchr(name, ' ');
	int		 mlen = sp ? (int)(sp - name) : 0;

	svc_buf_printf(out, "%s{service=\"%s\",method=\"%.*s\",route=\"%s\"", family, service,
	    mlen, name, sp ? sp + 1 : name);
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
		for (j = 0; j < SVC_NSTATUS; j++) {
			unsigned long long v = atomic_load(&m->routes[i].status[j]);
			if (v == 0)
				continue;
			svc_route_sample(out, "shoplab_http_requests_total", service, route_names[i]);
			if (j < SVC_NSTATUS - 1)
				svc_buf_printf(out, ",status=\"%d\"} %llu\n", svc_statuses[j], v);
			else
				svc_buf_printf(out, ",status=\"other\"} %llu\n", v);
		}
	}
	svc_buf_puts(out,
	    "# HELP shoplab_http_request_duration_seconds Time from accept to response, by route.\n"
	    "# TYPE shoplab_http_request_duration_seconds histogram\n");
	for (i = 0; i < m->nroutes; i++) {
		unsigned long long cum = 0, count = atomic_load(&m->routes[i].count);

		if (count == 0)
			continue;
		for (j = 0; j <= SVC_NBUCKETS; j++) {
			cum += atomic_load(&m->routes[i].bucket[j]);
			svc_route_sample(out, "shoplab_http_request_duration_seconds_bucket", service,
			    route_names[i]);
			if (j < SVC_NBUCKETS)
				svc_buf_printf(out, ",le=\"%g\"} %llu\n",
				    (double)svc_buckets_us[j] / 1e6, cum);
			else
				svc_buf_printf(out, ",le=\"+Inf\"} %llu\n", cum);
		}
		svc_route_sample(out, "shoplab_http_request_duration_seconds_sum", service,
		    route_names[i]);
		svc_buf_printf(out, "} %.6f\n", (double)atomic_load(&m->routes[i].sum_us) / 1e6);
		svc_route_sample(out, "shoplab_http_request_duration_seconds_count", service,
		    route_names[i]);
		svc_buf_printf(out, "} %llu\n", count);
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
	    "# HELP shoplab_background_rounds_total Rounds of the service's background task.\n"
	    "# TYPE shoplab_background_rounds_total counter\n"
	    "shoplab_background_rounds_total{service=\"%s\"} %llu\n"
	    "# HELP shoplab_process_start_time_seconds Start time of the process, Unix time.\n"
	    "# TYPE shoplab_process_start_time_seconds gauge\n"
	    "shoplab_process_start_time_seconds{service=\"%s\"} %.3f\n",
	    service, (long long)atomic_load(&m->inflight), service,
	    atomic_load(&m->db_errors), service, atomic_load(&m->db_reconnects), service,
	    atomic_load(&m->bg_rounds), service,
	    (double)m->started_wall_us / 1e6);
	svc_metrics_process_write(service, out);
	return out->failed ? -1 : 0;
}

/* Reads a small /proc file into buf; -1 when it cannot. */
static int
svc_proc_read(const char *path, char *buf, size_t len)
{
	FILE	*f;
	size_t	 n;

	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, len - 1, f);
	if (ferror(f)) {
		fclose(f);
		return -1;
	}
	buf[n] = '\0';
	return fclose(f) == 0 ? 0 : -1;
}

/* Entries of /proc/self/fd (minus ".", ".." and the directory's own fd); -1 on failure. */
static long
svc_proc_open_fds(void)
{
	DIR		*d;
	struct dirent	*e;
	long		 n = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	if (closedir(d) == -1)
		return -1;
	return n > 0 ? n - 1 : 0;
}

/*
 * The standard process_* families (as Prometheus' client libraries write them), read from
 * /proc/self at each scrape, and shoplab_build_info. A value that cannot be read is left
 * out rather than failing the scrape.
 */
void
svc_metrics_process_write(const char *service, struct svc_buf *out)
{
	char			 stat[1024], pstat[8192], ver[128];
	const char		*p, *v;
	unsigned long long	 utime, stime, starttime, vsize;
	long long		 rss, btime = -1;
	long			 tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE), fds;
	struct rlimit		 rl;
	size_t			 o = 0;

	/* Fields 14, 15, 22, 23, 24 of /proc/self/stat; the name (field 2) may hold spaces. */
	if (tck > 0 && page > 0 && svc_proc_read("/proc/self/stat", stat, sizeof(stat)) == 0 &&
	    (p = strrchr(stat, ')')) != NULL &&
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d"
	    " %*d %*d %llu %llu %lld", &utime, &stime, &starttime, &vsize, &rss) == 5) {
		svc_buf_printf(out,
		    "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
		    "# TYPE process_cpu_seconds_total counter\n"
		    "process_cpu_seconds_total{service=\"%s\"} %.2f\n"
		    "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
		    "# TYPE process_resident_memory_bytes gauge\n"
		    "process_resident_memory_bytes{service=\"%s\"} %lld\n"
		    "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
		    "# TYPE process_virtual_memory_bytes gauge\n"
		    "process_virtual_memory_bytes{service=\"%s\"} %llu\n",
		    service, (double)(utime + stime) / (double)tck, service, rss * (long long)page,
		    service, vsize);
		if (svc_proc_read("/proc/stat", pstat, sizeof(pstat)) == 0 &&
		    (p = strstr(pstat, "\nbtime ")) != NULL && sscanf(p + 7, "%lld", &btime) == 1 &&
		    btime > 0)
			svc_buf_printf(out,
			    "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n"
			    "# TYPE process_start_time_seconds gauge\n"
			    "process_start_time_seconds{service=\"%s\"} %.2f\n",
			    service, (double)btime + (double)starttime / (double)tck);
	}
	if ((fds = svc_proc_open_fds()) >= 0)
		svc_buf_printf(out,
		    "# HELP process_open_fds Number of open file descriptors.\n"
		    "# TYPE process_open_fds gauge\n"
		    "process_open_fds{service=\"%s\"} %ld\n", service, fds);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		svc_buf_printf(out,
		    "# HELP process_max_fds Maximum number of open file descriptors.\n"
		    "# TYPE process_max_fds gauge\n"
		    "process_max_fds{service=\"%s\"} %llu\n", service,
		    rl.rlim_cur == RLIM_INFINITY ? 0ULL : (unsigned long long)rl.rlim_cur);

	/* The version as a label value: backslash, quote and newline escaped. */
	for (v = SHOPLAB_VERSION; *v != '\0' && o + 3 < sizeof(ver); v++) {
		if (*v == '\\' || *v == '"')
			ver[o++] = '\\';
		if (*v == '\n') {
			ver[o++] = '\\';
			ver[o++] = 'n';
		} else
			ver[o++] = *v;
	}
	ver[o] = '\0';
	svc_buf_printf(out,
	    "# HELP shoplab_build_info The build of the running binary (git describe).\n"
	    "# TYPE shoplab_build_info gauge\n"
	    "shoplab_build_info{service=\"%s\",version=\"%s\"} 1\n", service, ver);
}
