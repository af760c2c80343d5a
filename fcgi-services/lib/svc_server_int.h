/* svc_server_int.h - the server: its workers, its state, what it opened, and the events part it drives */
#ifndef SVC_SERVER_INT_H
#define SVC_SERVER_INT_H

#include <sys/types.h>

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include <fcgiapp.h>
#include <mysql.h>

#include "svc.h"
#include "svc_conf_int.h"
#include "svc_db_int.h"
#include "svc_log_int.h"
#include "svc_metrics_int.h"
#include "svc_nodes_int.h"
#include "svc_resilience.h"
#include "svc_wake_int.h"

/* Builtin routes the runtime answers itself, after the service's own. */
enum { SVC_BUILTIN_HEALTHZ, SVC_BUILTIN_READYZ, SVC_BUILTIN_METRICS, SVC_BUILTIN_DEADLETTERS,
	SVC_BUILTIN_DEADLETTER_SHOW, SVC_BUILTIN_DEADLETTER_REPLAY, SVC_BUILTIN_DEADLETTERS_REPLAY,
	SVC_NBUILTIN };

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
	int			 db_session_rc;	/* the session's isolation is READ COMMITTED */
	MYSQL_STMT		**stmts;	/* prepared on first use, by index */
	unsigned		 db_errno;
	uint64_t		 affected;
	uint64_t		 insert_id;
	int			 in_tx;
	int			 after_commit;	/* this transaction asks for srv->db_ext.after_commit */
	int64_t			 bg_due_us;	/* this transaction's svc_bg_due, posted at commit (0: none) */
	char			*body;		/* reused request body buffer */
	struct svc_dep_caller	 caller;	/* outbound HTTP handle (keep-alive) + rng */
	int			 caller_ok;
	size_t			 bodycap;
	struct svc_logbuf	 log;		/* its request lines, written together */
	struct svc_buf		 head;		/* the response head being built, reused */
};

/* How far svc_open got: svc_close undoes exactly that much, in reverse. */
enum svc_opened {
	SVC_OPENED_NOTHING,
	SVC_OPENED_CONFIG,	/* the settings (svc_config_free) */
	SVC_OPENED_METRICS,	/* metrics and route names */
	SVC_OPENED_MYSQL,	/* mysql_library_init */
	SVC_OPENED_CURL,	/* curl_global_init */
	SVC_OPENED_DEPS,	/* the dependencies' breakers, bulkheads, budgets */
	SVC_OPENED_STATE,	/* the service's state and init (its fini undoes it) */
	SVC_OPENED_LISTEN,	/* the listening socket (a unix socket's file is removed) */
	SVC_OPENED_EPOLL,	/* the epoll set: everything is open */
};

struct svc_server {
	const struct svc_service *svc;
	void			 *state;	/* the service's (svc->state_size bytes) */
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
	/*
	 * The background thread's wake: svc_bg_post lowers bg_due_us (a monotonic µs, 0: none)
	 * and posts; the thread takes it (atomic exchange) and sleeps on bg_wake, which
	 * svc_shutdown closes. Both are shared between threads and guard themselves.
	 */
	struct svc_wake		  bg_wake;
	atomic_llong		  bg_due_us;
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

/* Tells the background thread that work is due at at_us (monotonic); any thread. */
void svc_bg_post(struct svc_server *srv, int64_t at_us);

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

#endif /* SVC_SERVER_INT_H */
