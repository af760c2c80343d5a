/* svc_internal.h - private structures of the service runtime, shared by its files only */
#ifndef SVC_INTERNAL_H
#define SVC_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include <fcgiapp.h>
#include <mysql.h>

#include "svc.h"
#include "svc_resilience.h"

/* The runtime's own calls, kept out of svc.h: a handler has no use for them. */
int svc_conf_parse_bool(const char *s, int *out);
int svc_conf_parse_ll(const char *s, long long min, long long max, long long *out);
int svc_err_status(enum svc_err err);
const char *svc_req_method(const struct svc_req *r);
const char *svc_req_path(const struct svc_req *r);
const char *svc_req_param(const struct svc_req *r, const char *name);	/* FastCGI param */
/* Parses body as one JSON object (depth <= 32, UTF-8 checked), owned by the request. */
int svc_json_parse_or_reply(struct svc_req *r, const char *body, size_t len, json_object **out);
int svc_db_begin(struct svc_req *r);
int svc_db_commit(struct svc_req *r);
int svc_db_rollback(struct svc_req *r);
int svc_db_ping(struct svc_req *r);
/* MariaDB's error number of the last failed call on this thread, 0 if none. */
unsigned svc_db_errno(const struct svc_req *r);


#define SVC_MAX_ARGS	4	/* {placeholders} in one route pattern */
#define SVC_ARG_MAX	128	/* bytes of one captured path segment */
#define SVC_MAX_DEFER	16
#define SVC_RID_MAX	64

/* Builtin routes the runtime answers itself, after the service's own. */
enum { SVC_BUILTIN_HEALTHZ, SVC_BUILTIN_READYZ, SVC_BUILTIN_METRICS, SVC_BUILTIN_DEADLETTERS,
	SVC_NBUILTIN };

/* The route a request matched, and its captured {args}. */
struct svc_match {
	int	 route;			/* index, or -1 */
	size_t	 nargs;
	struct {
		const char	*name;	/* points into the pattern */
		size_t		 namelen;
		char		 value[SVC_ARG_MAX];
	} args[SVC_MAX_ARGS];
};

#define SVC_MATCH_NONE		(-1)	/* no pattern matches the path: 404 */
#define SVC_MATCH_METHOD	(-2)	/* a pattern matches, not with this method: 405 */

/* Matches method and path; on SVC_MATCH_METHOD, allow lists the methods that would match. */
int svc_route_match(const struct svc_route *routes, size_t n, const char *method,
	const char *path, struct svc_match *m, char *allow, size_t allowlen);
/* Checks a pattern at start-up: leading '/', well-formed {names}, at most SVC_MAX_ARGS. */
int svc_route_valid(const char *pattern);

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

struct svc_server;

/* One worker thread: its FastCGI request and its own database connection. */
struct svc_worker {
	struct svc_server	*srv;
	size_t			 idx;
	pthread_t		 tid;
	int			 started;
	FCGX_Request		 fcgx;
	MYSQL			*db;
	MYSQL_STMT		**stmts;	/* prepared on first use, by index */
	unsigned		 db_errno;
	uint64_t		 affected;
	uint64_t		 insert_id;
	int			 in_tx;
	int			 outbox_added;	/* this transaction wrote to the outbox */
	char			*body;		/* reused request body buffer */
	struct svc_dep_caller	 caller;	/* outbound HTTP handle (keep-alive) + rng */
	int			 caller_ok;
	size_t			 bodycap;
};

/* How far svc_open got: svc_close undoes exactly that much, in reverse. */
enum svc_opened {
	SVC_OPENED_NOTHING,
	SVC_OPENED_CONFIG,	/* the settings (svc_config_free) */
	SVC_OPENED_METRICS,	/* metrics and route names */
	SVC_OPENED_MYSQL,	/* mysql_library_init */
	SVC_OPENED_CURL,	/* curl_global_init */
	SVC_OPENED_DEPS,	/* the dependencies' breakers, bulkheads, budgets */
	SVC_OPENED_STATE,	/* the service's init (its fini undoes it) */
	SVC_OPENED_LISTEN,	/* the listening socket (a unix socket's file is removed) */
	SVC_OPENED_EPOLL,	/* the epoll set: everything is open */
};

struct svc_server {
	const struct svc_service *svc;
	enum svc_opened		  opened;
	struct svc_config	  cfg;
	int			  listen_fd;
	int			  epfd;		/* listening socket + idle connections */
	struct svc_worker	 *workers;
	struct svc_metrics	  metrics;
	const char		**route_names;	/* for metrics and logs */
	struct svc_worker	  bg;		/* the background task's own worker */
	int			  bg_started;
	struct svc_dep		 *deps;		/* shared by all workers; each guards itself */
	size_t			  ndeps;
	atomic_int		  stopping;
	struct svc_events_rt	 *events;	/* relay and consumer threads (svc_events.c) */
	/* Set by a commit that wrote to the outbox; the relay takes it and looks at once. */
	atomic_int		  outbox_wake;
};

struct svc_defer {
	void	(*fn)(void *);
	void	*arg;
};

struct svc_req {
	struct svc_worker	*w;
	struct svc_server	*srv;
	FCGX_Request		*fcgx;
	const char		*method;
	const char		*path;
	const char		*query;
	char			 rid[SVC_RID_MAX + 1];
	struct svc_match	 match;
	struct svc_buf		 headers;	/* extra response header lines */
	int			 status;	/* 0 until a response is written */
	int64_t			 start_us;
	int64_t			 deadline_us;
	struct svc_defer	 defer[SVC_MAX_DEFER];
	size_t			 ndefer;
	struct svc_buf		*capture;	/* unit tests: the response goes here */
	int			 untrusted;	/* no gateway proof: identity params are ignored */
};

/* Lets the unit tests build a request without a FastCGI connection. */
void svc_req_run_deferred(struct svc_req *r);

/* Database lifetime per worker. */
void svc_db_close(struct svc_worker *w);
int  svc_db_classify(unsigned err);

/* Reads the body up to max bytes into the worker's buffer. */
int svc_req_body(struct svc_req *r, const char **body, size_t *len);

/* Logging internals. */
size_t	    svc_json_escape(const char *s, char *out, size_t outlen);
void	    svc_log_time(char *out, size_t outlen);
void	    svc_log_line(const char *line, size_t len);
void	    svc_log_set_name(const char *name);
const char *svc_log_service_name(void);

/*
 * Events (svc_events.c): the library's own statements follow the service's in every
 * worker's statement array (index svc->nstmts + SVC_EVS_*).
 */
enum { SVC_EVS_OUTBOX_ADD, SVC_EVS_OUTBOX_NEXT, SVC_EVS_OUTBOX_DEL, SVC_EVS_OUTBOX_STATS,
	SVC_EVS_INBOX_ADD, SVC_EVS_DEAD_ADD, SVC_EVS_DEAD_LIST, SVC_EVS_RELAY_ISOLATION, SVC_EVS_N };
extern const char *const svc_events_sql[SVC_EVS_N];
/* Starts the relay and consumer threads the service asks for; 0 or -1 (logged). */
int  svc_events_start(struct svc_server *srv);
/* Joins them (srv->stopping is set) until the wall-clock deadline; returns how many are left. */
size_t svc_events_stop(struct svc_server *srv, const struct timespec *until);
void svc_events_free(struct svc_server *srv);
int  svc_events_metrics_write(struct svc_server *srv, struct svc_buf *out);
/* GET /deadletters: the dead letters this service recorded, newest first. */
int  svc_events_deadletters(struct svc_req *r);

void svc_config_free(struct svc_config *cfg);
int  svc_config_load(struct svc_config *cfg, const char *service, char *err, size_t errlen);

#endif /* SVC_INTERNAL_H */
