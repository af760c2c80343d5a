/* svc_internal.h - private structures of the service runtime, shared by its files only */
#ifndef SVC_INTERNAL_H
#define SVC_INTERNAL_H

#include <sys/types.h>

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
/* The same, the transaction at READ COMMITTED (the relay's locking read takes no gap locks). */
int svc_db_begin_read_committed(struct svc_req *r);
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
	SVC_BUILTIN_DEADLETTER_SHOW, SVC_BUILTIN_DEADLETTER_REPLAY, SVC_BUILTIN_DEADLETTERS_REPLAY,
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

struct svc_server;

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

/* One worker thread: its FastCGI request and its own database connection. */
struct svc_worker {
	struct svc_server	*srv;
	size_t			 idx;
	pthread_t		 tid;
	int			 started;
	FCGX_Request		 fcgx;
	MYSQL			*db;
	size_t			 db_node;	/* the svc_dbnodes index db is connected to */
	int64_t			 db_since_us;	/* ... since then (svc_now_us) */
	MYSQL_STMT		**stmts;	/* prepared on first use, by index */
	unsigned		 db_errno;
	uint64_t		 affected;
	uint64_t		 insert_id;
	int			 in_tx;
	int			 after_commit;	/* this transaction asks for srv->db_ext.after_commit */
	char			*body;		/* reused request body buffer */
	struct svc_dep_caller	 caller;	/* outbound HTTP handle (keep-alive) + rng */
	int			 caller_ok;
	size_t			 bodycap;
	struct svc_logbuf	 log;		/* its request lines, written together */
	struct svc_buf		 head;		/* the response head being built, reused */
};

/* The runtime's own settings, from SHOPLAB_* variables (see README). */
struct svc_config {
	char		*listen;	/* host:port or unix:/path */
	long long	 threads;	/* worker threads, one FastCGI connection each */
	long long	 backlog;
	long long	 max_body;	/* bytes */
	long long	 shutdown_grace_ms;
	char		*db_host;
	long long	 db_port;
	char		*db_hosts;	/* "host:port,host:port,...": several nodes, the first preferred */
	char		*db_socket;
	char		*db_name;
	char		*db_user;
	char		*db_password;
	long long	 db_connect_timeout;	/* seconds */
	long long	 db_rw_timeout;		/* seconds */
	char		*db_tls_ca;	/* "" or a CA file: TLS to MariaDB, server verified */
	int		 log_requests;
	long long	 log_flush_ms;	/* request lines held at most this long; 0: at once */
	char		*gateway_internal;	/* base URL of the internal gateway */
	char		*service_token;
	long long	 request_deadline_ms;
	/*
	 * The per-stack gateway secret: when set, every request must carry it as the FastCGI
	 * param SHOPLAB_GATEWAY_SECRET (which only nginx's config can set) or is refused with
	 * 403 before any identity param is read. Required when listening on TCP.
	 */
	char		*gateway_secret;
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

/*
 * What a library part adds to the database layer (the events runtime does, at init): its own
 * statements, which follow the service's in every worker's statement array (index
 * svc->nstmts + i), and a hook run after each commit of a transaction that set the worker's
 * after_commit (any thread, no lock held). svc_db.c names no subsystem.
 */
struct svc_db_ext {
	const char *const	 *stmts;
	size_t			  nstmts;
	void			(*after_commit)(void);
};

struct svc_server {
	const struct svc_service *svc;
	enum svc_opened		  opened;
	struct svc_config	  cfg;
	struct svc_dbnodes	  dbnodes;	/* opened with the config */
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
	struct svc_events_rt	 *events;	/* relay and consumer threads (svc_ev_internal.h) */
	struct svc_db_ext	  db_ext;	/* a library part's statements and hook (svc_db_register) */
	/* Deploys (svc_handover.c): main thread only, except nconns and draining. */
	char			 *exe;		/* this binary's path, for the successor */
	pid_t			  predecessor;	/* handed us its socket; stopped once we are ready */
	pid_t			  successor;	/* started on SIGUSR2, until it exits or we do */
	int			  handed_over;	/* SIGTERM came with a successor: keep the socket file */
	int			  inherited;	/* the listening socket was handed to us */
	int			  owns_path;	/* a unix socket's file is ours to remove at the end */
	atomic_int		  draining;	/* serve kept connections until the gateway closes them */
	atomic_int		  nconns;	/* open FastCGI connections */
	int64_t			  drain_until_us;	/* svc_now_us() time the lingering ends */
};

/*
 * A sleep another thread can end (svc_wake.c): the relay's idle wait ends when a commit wrote
 * to the outbox (post), every event thread's sleep ends at shutdown (close). A timed wait on a
 * condition variable: no polling between the bounds the caller gives.
 */
struct svc_wake {
	pthread_mutex_t	mu;
	pthread_cond_t	cv;
	int		posted;		/* a post not yet taken by a wait */
	int		closed;		/* every wait ends at once, until svc_wake_reset */
};
#define SVC_WAKE_INITIALIZER	{ PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 }

enum svc_wake_why {
	SVC_WAKE_TIMEOUT,	/* ms passed */
	SVC_WAKE_POSTED,	/* svc_wake_post (taken only by a wait with take_post) */
	SVC_WAKE_CLOSED		/* svc_wake_close */
};
void svc_wake_reset(struct svc_wake *wk);
void svc_wake_post(struct svc_wake *wk);
void svc_wake_close(struct svc_wake *wk);
enum svc_wake_why svc_wake_wait(struct svc_wake *wk, long long ms, int take_post);

/* Deploys without a refused connection: the listening socket goes to the new binary. */
int  svc_handover_inherited(char *err, size_t errlen);
int  svc_handover_init(struct svc_server *srv, const char *argv0, char *err, size_t errlen);
void svc_handover_free(struct svc_server *srv);
int  svc_handover_spawn(struct svc_server *srv);
void svc_handover_reap(struct svc_server *srv);
void svc_handover_ready(struct svc_server *srv);

/* The params the runtime reads on every request, found in one pass (svc_req_scan_params). */
enum svc_rparam {
	SVC_P_METHOD, SVC_P_SHOPLAB_PATH, SVC_P_DOCUMENT_URI, SVC_P_SCRIPT_NAME, SVC_P_QUERY,
	SVC_P_REQUEST_ID, SVC_P_X_REQUEST_ID, SVC_P_X_DEADLINE_MS, SVC_P_GATEWAY_SECRET,
	SVC_P_USER_ID, SVC_P_USER_ROLE, SVC_P_CONTENT_LENGTH, SVC_P_CONTENT_TYPE, SVC_NRPARAMS
};
/* Finds every svc_rparam in one pass over the request's params; later svc_req_rparam calls
 * answer from what it found. */
void	svc_req_scan_params(struct svc_req *r);
/* One of those params: from the scan once it ran, else looked up by name (unit tests). */
const char *svc_req_rparam(const struct svc_req *r, enum svc_rparam which);

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
	int			 scanned;	/* rparam holds svc_req_scan_params's finds */
	const char		*rparam[SVC_NRPARAMS];
};

/* Lets the unit tests build a request without a FastCGI connection. */
void svc_req_run_deferred(struct svc_req *r);

/* Database lifetime per worker. */
size_t svc_rows_count(const struct svc_rows *rows);
void svc_db_close(struct svc_worker *w);
int  svc_db_classify(unsigned err);
/*
 * Adds a library part's statements and after-commit hook (struct svc_db_ext); once, before
 * the server's threads start. 0, or -1 when one is registered already.
 */
int  svc_db_register(struct svc_server *srv, const char *const *stmts, size_t nstmts,
	void (*after_commit)(void));
/* The SQL of statement idx: the service's, then the registered ones; NULL out of range. */
const char *svc_db_stmt_sql(const struct svc_server *srv, int idx);
/* After a transaction ended (commit: 1; rc: its result): the hook when asked and committed. */
void svc_db_ended(struct svc_worker *w, int commit, int rc);

/* Reads the body up to max bytes into the worker's buffer. */
int svc_req_body(struct svc_req *r, const char **body, size_t *len);

/* Logging internals. */
size_t	    svc_json_escape(const char *s, char *out, size_t outlen);
/* s[0..len) as a JSON string, quotes included, escaped byte for byte as json-c escapes it
 * with JSON_C_TO_STRING_NOSLASHESCAPE. -1 when out of memory. */
int	    svc_json_append_str(struct svc_buf *out, const char *s, size_t len);
/* v in decimal. -1 when out of memory. */
int	    svc_buf_append_ll(struct svc_buf *out, long long v);
void	    svc_log_time(char *out, size_t outlen);
void	    svc_log_line(const char *line, size_t len);
void	    svc_log_set_name(const char *name);
const char *svc_log_service_name(void);

/* Events (svc_ev_*.c, private header svc_ev_internal.h). Registers its statements and hook. */
int  svc_events_register(struct svc_server *srv);
/* Starts the relay and consumer threads the service asks for; 0 or -1 (logged). */
int  svc_events_start(struct svc_server *srv);
/* Joins them (srv->stopping is set) until the wall-clock deadline; returns how many are left. */
size_t svc_events_stop(struct svc_server *srv, const struct timespec *until);
void svc_events_free(struct svc_server *srv);
int  svc_events_metrics_write(struct svc_server *srv, struct svc_buf *out);
/* GET /deadletters: the dead letters this service recorded, newest first. */
int  svc_events_deadletters(struct svc_req *r);
/* Replay of dead letters (svc_ev_replay.c): a confirming connection, one publish, close. */
void *svc_events_replay_open(struct svc_server *srv);
int  svc_events_replay_publish(struct svc_server *srv, void *conn, uint64_t *tag, const char *id,
	const char *type, const char *body, size_t len);
void svc_events_replay_close(void *conn);
/* GET /deadletters/{seq}; POST /deadletters/{seq}/replay; POST /deadletters/replay. */
int  svc_events_deadletter_show(struct svc_req *r);
int  svc_events_deadletter_replay(struct svc_req *r);
int  svc_events_deadletter_replay_all(struct svc_req *r);

const struct svc_config *svc_req_config(const struct svc_req *r);
void svc_config_free(struct svc_config *cfg);
int  svc_config_load(struct svc_config *cfg, const char *service, char *err, size_t errlen);

#endif /* SVC_INTERNAL_H */
