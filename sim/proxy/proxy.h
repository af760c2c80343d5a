/* proxy.h - private types and functions shared by the sim proxy's files (not a public face) */
#ifndef SIM_PROXY_H
#define SIM_PROXY_H

#include <sys/socket.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <event2/event.h>
#include <event2/buffer.h>
#include <event2/listener.h>

#define SIM_PROXY_VERSION "2.12.0-shoplab-sim"
#define SIM_NAME_MAX 256        /* proxy and toxic names, with the NUL */
#define SIM_ADDR_MAX 300        /* "host:port" strings, with the NUL */
#define SIM_STR_ATTR_MAX 128    /* string attributes (fcgi_abort code/message) */
#define SIM_MAX_ATTRS 6
#define SIM_CHUNK_MAX 16384     /* bytes per chunk read from a socket into a toxic chain */
#define SIM_READ_MAX 65536      /* bytes per read on a stream no toxic is on */
#define SIM_HIGH_WATER (256 * 1024) /* a link stops reading above this many held bytes */
#define SIM_LOW_WATER (64 * 1024)   /* ... and resumes below this */
#define SIM_BODY_MAX (1024 * 1024)  /* largest API request body */
#define SIM_LOOPS_MAX 16            /* event loops (threads) moving proxied bytes */

enum sim_dir { SIM_UP = 0, SIM_DOWN = 1 }; /* stream: client->upstream, upstream->client */

/* A random stream: xoshiro256** seeded through splitmix64. */
struct sim_rng {
	uint64_t s[4];
};

uint64_t sim_hash_str(const char *s);
uint64_t sim_mix(uint64_t a, uint64_t b);
void sim_rng_seed(struct sim_rng *r, uint64_t seed);
uint64_t sim_rng_next(struct sim_rng *r);
double sim_rng_unit(struct sim_rng *r);                     /* in [0, 1) */
int64_t sim_rng_range(struct sim_rng *r, int64_t n);        /* in [0, n), n > 0 */

/* ---- toxics ------------------------------------------------------------------------------ */

enum sim_attr_kind { SIM_ATTR_INT, SIM_ATTR_STR };

struct sim_attr_def {
	const char *name;
	enum sim_attr_kind kind;
	int64_t idef;           /* default for integers */
	const char *sdef;       /* default for strings */
	int64_t min, max;       /* an integer's range (a value outside is refused: 400) */
};

struct sim_stage;

struct sim_toxic_type {
	const char *name;
	struct sim_attr_def attrs[SIM_MAX_ATTRS];
	size_t nattrs;
	bool fcgi;                             /* request-level toxic (upstream only): FastCGI, MySQL */
	void (*start)(struct sim_stage *s);    /* (re)started on a link: arm timers */
	void (*run)(struct sim_stage *s);      /* move queued chunks on */
	void (*stop)(struct sim_stage *s);     /* free per-stage state (may be NULL) */
	void (*flush)(struct sim_stage *s);    /* being removed: pass on what it holds (may be NULL) */
};

struct sim_proxy;

struct sim_toxic {
	struct sim_toxic *next;
	struct sim_proxy *proxy;
	const struct sim_toxic_type *type;
	char name[SIM_NAME_MAX];
	char stream[16];                       /* as given, e.g. "downstream" */
	enum sim_dir dir;
	float toxicity;
	int64_t ival[SIM_MAX_ATTRS];
	char sval[SIM_MAX_ATTRS][SIM_STR_ATTR_MAX];
	uint64_t name_hash;
	uint64_t generation;                   /* bumped on update: re-rolls toxicity */
	/* Counted by every loop's connections at once, hence atomic. */
	_Atomic uint64_t requests;             /* FastCGI requests seen (since create/update) */
	_Atomic uint64_t faults;               /* times applied: connections or requests */
};

/* the type table (proxy_toxics.c) */
const struct sim_toxic_type *sim_toxic_type_find(const char *name);
/* The i-th type of the table, or NULL past its end. */
const struct sim_toxic_type *sim_toxic_type_at(size_t i);
/* a toxic's settings and the draws toxic types share (proxy_toxic.c) */
int64_t sim_toxic_int(const struct sim_toxic *t, const char *attr);
const char *sim_toxic_str(const struct sim_toxic *t, const char *attr);
void sim_toxic_set_defaults(struct sim_toxic *t);
/* Checks every attribute against its range and the toxicity against 0..1. Returns 0, or -1
 * with the reason in msg ("invalid attribute: latency.latency must be >= 0 (got -800)"). */
int sim_toxic_check(const struct sim_toxic *t, char *msg, size_t msgsz);
/* The attribute's index in the toxic's type, or -1 when the type has none of that name. */
int sim_toxic_attr_index(const struct sim_toxic_type *type, const char *attr);
int64_t sim_latency_draw(int64_t latency, int64_t jitter, struct sim_rng *rng);
bool sim_fcgi_select(int64_t first, int64_t every, float toxicity, uint64_t seq,
                     struct sim_rng *rng);

/* ---- connections, links and stages ------------------------------------------------------- */

enum sim_chunk_kind { SIM_DATA, SIM_EOF, SIM_CLOSE, SIM_RESET };

/* A piece of one direction's byte stream (or an end marker) held by a toxic. */
struct sim_chunk {
	struct sim_chunk *next;
	uint64_t ts;            /* monotonic µs when it entered the chain (latency counts from it) */
	uint64_t due;           /* when a stage may release it; 0 = not yet scheduled */
	uint32_t len;
	uint32_t tag;           /* stage-specific (FastCGI request id, slicer piece flag) */
	enum sim_chunk_kind kind;
	unsigned char data[];
};

struct sim_chunkq {
	struct sim_chunk *head, *tail;
};

struct sim_link;
struct sim_fcgi_state;

struct sim_stage {
	struct sim_link *link;
	struct sim_toxic *toxic;
	bool active;            /* toxicity roll for this connection */
	bool closed;            /* emitted a close: drops everything after */
	bool armed;             /* reset_peer: first chunk seen */
	struct sim_chunkq q;
	struct event *timer;
	uint64_t busy_until;    /* bandwidth and slicer pacing */
	int64_t count;          /* limit_data: bytes passed */
	struct sim_rng rng;
	struct sim_fcgi_state *fcgi;
};

struct sim_conn;

/*
 * What a link's toxic chain calls back into, filled in by the connection that owns the link
 * (as an nginx body filter calls the next filter through a pointer): the chain never calls
 * the connection's functions by name, so the connection's file depends on the chain's and
 * not the other way round.
 */
struct sim_link_ops {
	void (*deliver)(struct sim_link *l, struct sim_chunk *c);  /* the chain's end: consumes c */
	void (*resume)(struct sim_link *l);     /* the chain holds less: maybe read the source again */
};

struct sim_link {
	const struct sim_link_ops *ops;
	struct sim_conn *conn;
	enum sim_dir dir;
	struct sim_stage **stages;
	size_t nstages, cap;
	size_t held;            /* bytes held in stage queues */
	bool paused;            /* reading from the source is off for backpressure */
	bool src_done;          /* the source ended; an EOF went into the chain */
	bool eof_pending;       /* an EOF reached the end: shut the destination down once flushed */
	bool finished;          /* nothing more goes to the destination */
};

/* One socket of a connection: read with recv() into the context's buffer, written with send()
 * at once when nothing is queued; what the socket does not take waits in out. */
struct sim_side {
	int fd;
	struct event *rev;              /* EV_READ | EV_PERSIST, pending while reading */
	struct event *wev;              /* EV_WRITE | EV_PERSIST, pending while out holds data */
	struct evbuffer *out;
	bool reading, writing;          /* rev / wev are pending */
};

struct sim_loop;

struct sim_conn {
	struct sim_conn *prev, *next;
	struct sim_proxy *proxy;
	struct sim_loop *loop;          /* the event loop that owns it: all its events are there */
	uint64_t id;
	struct sim_side side[2];        /* [0] client side, [1] upstream side */
	bool dead[2];                   /* that socket failed: drop what goes to it */
	bool connected[2];              /* writable socket: may be written to directly */
	int connect_err;                /* the upstream connect failed at once with this errno */
	struct sim_link link[2];        /* [SIM_UP] reads side[0], [SIM_DOWN] reads side[1] */
	struct event *reap_ev;
	struct event *close_ev;         /* a close waits this long for output to flush */
	bool reaping;
	bool closing;                   /* a toxic closed it: free once the flush is done */
	bool reset;                     /* free with SO_LINGER 0 (RST) */
	bool cut_on_response;           /* fcgi_reset forward=1: reset at the first response byte */
	char cut_toxic[SIM_NAME_MAX];
};

struct sim_ctx;

struct sim_proxy {
	struct sim_proxy *next;
	struct sim_ctx *ctx;
	char name[SIM_NAME_MAX];
	char listen[SIM_ADDR_MAX];
	char upstream[SIM_ADDR_MAX];
	bool enabled;
	uint64_t name_hash;
	struct evconnlistener *listener;
	struct sim_toxic *toxics;       /* in creation order */
	/* Every loop's connections. Each loop links and unlinks its own under conns_mu; the API
	 * walks the list with the other loops parked (sim_world_stop). */
	struct sim_conn *conns;
	pthread_mutex_t conns_mu;
	_Atomic uint64_t next_conn_id;
	struct sockaddr_storage up_addr;
	socklen_t up_len;               /* set by start, with the loops parked */
	/* counters for /metrics, added to by every loop */
	_Atomic uint64_t m_conns, m_active, m_bytes[2], m_requests, m_refused;
};

/* An accepted socket on its way from the listening loop to the loop that will own it. */
struct sim_handoff {
	struct sim_proxy *proxy;
	int fd;
	uint64_t id;                    /* numbered as accepted, whichever loop takes it first */
};

/*
 * One event loop. Loop 0 is the server's own (the API, the listeners, signals) and also moves
 * bytes; loops 1..n-1 each run in a thread of their own and only move bytes. A connection
 * stays on the loop it was handed to; the API changes shared state (proxies, toxics, the
 * connection lists) only while every other loop is parked (sim_world_stop).
 */
struct sim_loop {
	struct sim_ctx *ctx;
	size_t idx;
	struct event_base *base;
	pthread_t tid;
	bool started;
	int wake[2];                    /* a byte: look at the hand-off queue and the world */
	struct event *wake_ev;
	pthread_mutex_t q_mu;           /* guards q, nq, cap */
	struct sim_handoff *q;
	size_t nq, cap;
	unsigned char iobuf[SIM_READ_MAX];  /* every read of this loop lands here first */
};

/* The whole server's state, passed everywhere; nothing global. */
struct sim_ctx {
	struct event_base *base;        /* loop 0's */
	uint64_t seed;
	FILE *fault_log;                /* NULL: no fault log; stdio's lock keeps lines whole */
	struct sim_proxy *proxies;      /* in creation order */
	uint64_t (*now_us)(void);       /* monotonic clock, injectable */
	_Atomic uint64_t m_faults_logged;
	struct sim_loop *loops;         /* nloops of them; loops[0].base == base */
	size_t nloops;
	_Atomic size_t next_loop;       /* round robin of accepted connections */
	/* Parking the other loops while the API changes what they read. */
	pthread_mutex_t world_mu;
	pthread_cond_t world_cv;
	atomic_int world_stop, world_exit;
	size_t parked;
};

/* The loops (proxy_loop.c). */
int sim_loops_init(struct sim_ctx *ctx, struct event_base *base, size_t n);
int sim_loops_start(struct sim_ctx *ctx);
void sim_loops_stop(struct sim_ctx *ctx);      /* joins the threads */
void sim_loops_free(struct sim_ctx *ctx);      /* after every connection is gone */
void sim_world_stop(struct sim_ctx *ctx);      /* every loop but 0 parked on return */
void sim_world_start(struct sim_ctx *ctx);
/* Gives an accepted socket to the next loop (round robin); takes ownership of fd. */
void sim_loops_handoff(struct sim_proxy *p, int fd);
/* Closes the sockets still waiting to reach a loop for p (the loops parked). */
void sim_loops_forget(struct sim_ctx *ctx, struct sim_proxy *p);

uint64_t sim_clock_monotonic_us(void);

/* Error as Toxiproxy reports it: message and HTTP status. */
struct sim_err {
	int status;
	char msg[512];
};
void sim_err_set(struct sim_err *e, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* registry: proxies and toxics, as the API changes them */
struct sim_proxy *sim_proxy_find(struct sim_ctx *ctx, const char *name);
struct sim_proxy *sim_proxy_new(struct sim_ctx *ctx, const char *name, const char *listen,
                                const char *upstream);
void sim_proxy_free(struct sim_proxy *p);
int sim_proxy_start(struct sim_proxy *p, struct sim_err *err);
void sim_proxy_stop(struct sim_proxy *p);
void sim_proxy_link_in(struct sim_ctx *ctx, struct sim_proxy *p);
void sim_proxy_unlink(struct sim_ctx *ctx, struct sim_proxy *p);
int sim_proxy_differs(const struct sim_proxy *p, const char *listen, const char *upstream,
                      bool *differs, struct sim_err *err);
void sim_proxies_free_all(struct sim_ctx *ctx);
struct sim_toxic *sim_toxic_find(struct sim_proxy *p, const char *name);
void sim_toxic_attach(struct sim_proxy *p, struct sim_toxic *t);
void sim_toxic_updated(struct sim_proxy *p, struct sim_toxic *t);
void sim_toxic_remove(struct sim_proxy *p, struct sim_toxic *t);

/* "host:port" strings (proxy_addr.c) */
int sim_addr_parse(const char *hostport, bool passive, struct sockaddr_storage *ss,
                   socklen_t *len, struct sim_err *err);
void sim_addr_format(const struct sockaddr *sa, char *out, size_t outsz);

/* connections (proxy_conn.c) */
/* id: the connection's number in accept order (the seeds depend on it), given by loop 0. */
void sim_conn_accept(struct sim_proxy *p, int fd, struct sim_loop *loop, uint64_t id);
void sim_conn_free(struct sim_conn *c);
void sim_conn_schedule_reap(struct sim_conn *c);

/* a link's toxic chain (proxy_stage.c) */
int sim_link_add_stage(struct sim_link *l, struct sim_toxic *t);
void sim_link_remove_stage(struct sim_link *l, struct sim_toxic *t);
void sim_link_restart_stage(struct sim_link *l, struct sim_toxic *t);
void sim_link_inject(struct sim_link *l, struct sim_chunk *c);
struct sim_chunk *sim_chunk_new(enum sim_chunk_kind kind, const void *data, size_t len,
                                uint64_t ts);
void sim_chunkq_push(struct sim_chunkq *q, struct sim_chunk *c);
struct sim_chunk *sim_chunkq_pop(struct sim_chunkq *q);
void sim_chunkq_free(struct sim_chunkq *q);
struct sim_stage *sim_stage_new(struct sim_link *l, struct sim_toxic *t);
void sim_stage_free(struct sim_stage *s);
void sim_stage_push(struct sim_stage *s, struct sim_chunk *c);
void sim_stage_run(struct sim_stage *s);
void sim_stage_emit(struct sim_stage *s, struct sim_chunk *c);
void sim_stage_drop(struct sim_stage *s, struct sim_chunk *c);
void sim_stage_arm(struct sim_stage *s, uint64_t due);
void sim_stage_roll(struct sim_stage *s);
uint64_t sim_stage_now(const struct sim_stage *s);
size_t sim_slicer_plan(int64_t avg, int64_t var, size_t len, struct sim_rng *rng,
                       size_t *sizes, size_t max);

/* FastCGI records (proxy_fcgi.c, pure and fuzzed) */
enum {
	SIM_FCGI_BEGIN_REQUEST = 1, SIM_FCGI_ABORT_REQUEST = 2, SIM_FCGI_END_REQUEST = 3,
	SIM_FCGI_PARAMS = 4, SIM_FCGI_STDIN = 5, SIM_FCGI_STDOUT = 6
};
#define SIM_FCGI_HEADER_LEN 8
#define SIM_FCGI_RECORD_MAX (8 + 65535 + 255)
struct sim_fcgi_hdr {
	uint8_t version, type, padding;
	uint16_t id, clen;
};
long sim_fcgi_record_peek(const unsigned char *buf, size_t len, struct sim_fcgi_hdr *h);
bool sim_fcgi_param_get(const unsigned char *buf, size_t len, const char *name, char *out,
                        size_t outsz);
int sim_fcgi_write_record(struct evbuffer *out, uint8_t type, uint16_t id, const void *data,
                          size_t len);
int sim_fcgi_build_error(struct evbuffer *out, uint16_t id, int status, const char *code,
                         const char *message, const char *request_id);
const char *sim_http_reason(int status);

/* FastCGI toxics (proxy_fcgi_stage.c) */
void sim_fcgi_stage_start(struct sim_stage *s);
void sim_fcgi_stage_run(struct sim_stage *s);
void sim_fcgi_stage_stop(struct sim_stage *s);
void sim_fcgi_stage_flush(struct sim_stage *s);

/* mysql_commit_lost (proxy_mysql.c) */
bool sim_mysql_is_commit(const unsigned char *p, size_t n);
void sim_mysql_stage_run(struct sim_stage *s);

/* fault log and metrics */
struct sim_fault {
	const struct sim_toxic *toxic;
	uint64_t conn_id;
	bool fcgi;
	uint32_t fcgi_id;               /* the FastCGI record request id */
	uint64_t seq;                   /* request number for this toxic */
	const char *request_id;         /* HTTP_X_REQUEST_ID / REQUEST_ID, or "" */
	bool forwarded;
	int64_t value;                  /* e.g. the latency drawn, in ms; -1 when none */
};
void sim_fault_record(struct sim_ctx *ctx, const struct sim_fault *f);
int sim_metrics_render(const struct sim_ctx *ctx, struct evbuffer *out);

#endif
