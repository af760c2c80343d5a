/* svc_log_int.h - logging internals: the line writer and a worker's held request lines (svc_log.c) */
#ifndef SVC_LOG_INT_H
#define SVC_LOG_INT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "svc.h"

/*
 * A worker's request lines (SHOPLAB_LOG_REQUESTS), held and written together: one write(2)
 * per flush instead of one per request. Whole lines only, so lines of different workers
 * never interleave. Flushed when the next line would not fit, when the oldest line has
 * waited hold_us, before any other line of the same worker (svc_log), and as the worker
 * ends. The caller passes the time in (a test passes its own).
 */
#define SVC_LOGBUF_SIZE 16384
struct svc_logbuf {
	int	 fd;
	size_t	 len;
	int64_t	 first_us;		/* when the oldest line held was added */
	time_t	 ts_sec;		/* the second ts_base spells */
	char	 ts_base[24];		/* "2026-12-01T03:30:14", formatted once a second */
	char	 data[SVC_LOGBUF_SIZE];
};
void	svc_logbuf_init(struct svc_logbuf *lb, int fd);
void	svc_logbuf_add(struct svc_logbuf *lb, const char *line, size_t len, int64_t now_us,
	    int64_t hold_us);
void	svc_logbuf_flush(struct svc_logbuf *lb);
/* One request's line, as svc_log writes lines, built without stdio; 0 when it does not fit. */
size_t	svc_log_request_line(struct svc_logbuf *lb, char *out, size_t outlen, const char *service,
	    const char *rid, const char *route, const char *path, int status, int64_t dur_us,
	    int64_t user_id);
/* Microseconds until the held lines are due (0: now), or -1 when nothing is held. */
int64_t	svc_logbuf_due_us(const struct svc_logbuf *lb, int64_t now_us, int64_t hold_us);
void	    svc_log_time(char *out, size_t outlen);
void	    svc_log_line(const char *line, size_t len);
void	    svc_log_set_name(const char *name);
const char *svc_log_service_name(void);

#endif /* SVC_LOG_INT_H */
