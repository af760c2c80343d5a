/* svc_metrics_int.h - the runtime's request metrics: per-route histograms and counters (svc_metrics.c) */
#ifndef SVC_METRICS_INT_H
#define SVC_METRICS_INT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "svc.h"

/* Latency buckets in microseconds for every histogram (upper bounds; +Inf implied). */
#define SVC_NBUCKETS 14
extern const int64_t svc_buckets_us[SVC_NBUCKETS];
/* Status codes counted separately; anything else is counted as "other" of its class. */
#define SVC_NSTATUS 22

struct svc_route_metrics {
	atomic_ullong	 status[SVC_NSTATUS];
	atomic_ullong	 bucket[SVC_NBUCKETS + 1];
	atomic_ullong	 sum_us;
	atomic_ullong	 count;
};

/* Shared by all workers: atomics only, so no lock is needed to record. */
struct svc_metrics {
	size_t			 nroutes;	/* service routes + builtins + 1 unmatched */
	struct svc_route_metrics *routes;
	atomic_llong		 inflight;
	atomic_ullong		 db_errors;
	atomic_ullong		 db_reconnects;
	atomic_ullong		 bg_rounds;	/* background rounds run */
	int64_t			 started_wall_us;
};

int  svc_metrics_init(struct svc_metrics *m, size_t nroutes);
void svc_metrics_free(struct svc_metrics *m);
void svc_metrics_record(struct svc_metrics *m, size_t route, int status, int64_t dur_us);
int  svc_metrics_status_index(int status);
int  svc_metrics_write(const struct svc_metrics *m, const char *service,
	const char *const *route_names, struct svc_buf *out);
/* process_* (from /proc/self) and shoplab_build_info; part of svc_metrics_write. */
void svc_metrics_process_write(const char *service, struct svc_buf *out);

#endif /* SVC_METRICS_INT_H */
