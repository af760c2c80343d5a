/* svc_resilience.h - deadlines, retries with jitter under a budget, circuit breakers, bulkheads */
#ifndef SVC_RESILIENCE_H
#define SVC_RESILIENCE_H

/*
 * Included after svc.h (struct svc_clock, struct svc_buf and json_object are known);
 * services do not see it: they call svc_call.
 * Every object here lives in memory its caller owns; every clock is injected, every random
 * draw comes from a state the caller passes, so each pattern can be tested to the microsecond.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* A splitmix64 generator: one state per thread, seeded by the caller. */
uint64_t svc_rand64(uint64_t *state);

/*
 * Circuit breaker over a count-based sliding window: the outcomes of the last `window`
 * calls admitted while closed. Closed opens when at least min_calls are in the window and
 * the failure rate or the slow-call rate reaches its threshold. Open rejects everything for
 * open_wait_us, then half-open admits exactly `probes` calls: all succeed (and are not slow)
 * closes it with an empty window, any failure or slow probe opens it again.
 */
#define SVC_BREAKER_MAX_WINDOW	1000

enum svc_breaker_state {
	SVC_BREAKER_CLOSED = 0,
	SVC_BREAKER_OPEN = 1,
	SVC_BREAKER_HALF_OPEN = 2,
};

enum svc_breaker_transition {
	SVC_BREAKER_CLOSED_OPEN,
	SVC_BREAKER_OPEN_HALF_OPEN,
	SVC_BREAKER_HALF_OPEN_CLOSED,
	SVC_BREAKER_HALF_OPEN_OPEN,
	SVC_BREAKER_NTRANSITIONS
};

struct svc_breaker_conf {
	int	 enabled;	/* 0: allow always admits and record does nothing */
	int	 window;	/* calls in the sliding window, 1..SVC_BREAKER_MAX_WINDOW */
	int	 min_calls;	/* 1..window */
	double	 failure_rate;	/* 0 < rate <= 1 */
	double	 slow_rate;	/* 0 < rate <= 1 */
	int64_t	 slow_call_us;	/* a call longer than this is slow */
	int64_t	 open_wait_us;
	int	 probes;	/* calls admitted while half-open */
};

#define SVC_BREAKER_REJECT	(-1)

struct svc_breaker {
	pthread_mutex_t		 lock;
	struct svc_breaker_conf	 conf;
	const struct svc_clock	*clock;
	char			 name[32];	/* for the log lines */
	int64_t			 fail_ppm, slow_ppm;	/* rates in millionths: exact comparisons */
	/* Under lock. */
	int			 state;
	unsigned		 epoch;		/* bumped on every transition */
	int64_t			 opened_us;
	uint8_t			 ring[SVC_BREAKER_MAX_WINDOW];
	int			 head, n, nfail, nslow;
	int			 admitted, succeeded;	/* probes while half-open */
	/* Readable without the lock, for metrics. */
	atomic_int		 state_pub;
	atomic_int		 clean_pub;	/* closed, and no failed or slow call in the window */
	atomic_ullong		 transitions[SVC_BREAKER_NTRANSITIONS];
	atomic_ullong		 rejections;
};

/* Checks conf; on error writes a message to err and returns -1. */
int  svc_breaker_init(struct svc_breaker *b, const char *name, const struct svc_breaker_conf *conf,
	const struct svc_clock *clock, char *err, size_t errlen);
void svc_breaker_free(struct svc_breaker *b);
/* Returns a permit (>= 0) to pass to record or release, or SVC_BREAKER_REJECT. */
int  svc_breaker_allow(struct svc_breaker *b);
/* Records the outcome of a permitted call. Outcomes count only in the state that admitted them. */
void svc_breaker_record(struct svc_breaker *b, int permit, int success, int64_t duration_us);
/* Gives back a permit whose call was never made (a local error before sending). */
void svc_breaker_release(struct svc_breaker *b, int permit);
/* 1 when closed with no failed or slow call in its window (always 1 when disabled). */
int  svc_breaker_healthy(struct svc_breaker *b);
/* The state as of the last allow or record: open turns half-open lazily, in allow. */
enum svc_breaker_state svc_breaker_state(struct svc_breaker *b);
const char *svc_breaker_state_name(enum svc_breaker_state s);

/*
 * Bulkhead: a cap on concurrent calls, lock-free. Over the cap a caller fails at once, or
 * (svc_dep_call, when the dependency is healthy) waits a short bounded time for a slot.
 */
struct svc_bulkhead {
	int		 enabled;
	int		 max;
	atomic_int	 inuse;
	atomic_ullong	 rejections;
};

void svc_bulkhead_init(struct svc_bulkhead *h, int enabled, int max);
/* Returns 0 when admitted (call svc_bulkhead_leave after), -1 when full (counted). */
int  svc_bulkhead_enter(struct svc_bulkhead *h);
/* As enter, but a refusal is not counted (a waiter's retries). */
int  svc_bulkhead_try(struct svc_bulkhead *h);
void svc_bulkhead_leave(struct svc_bulkhead *h);

/*
 * Exponential backoff with full jitter: before retry k (k = 0 for the first retry) sleep
 * uniform(0, min(cap, base * 2^k)). A sleep that would leave no time before the deadline
 * is not taken: the function says so and the caller stops retrying.
 */
#define SVC_BACKOFF_NO_TIME	(-1)

/* min(cap, base * 2^k) without overflow; a negative k counts as 0. */
int64_t svc_backoff_ceiling(int64_t base, int64_t cap, int k);
/* Returns the sleep in microseconds, < remaining_us, or SVC_BACKOFF_NO_TIME. */
int64_t svc_backoff_delay(int64_t base_us, int64_t cap_us, int attempt, int64_t remaining_us,
	uint64_t *rng);

/*
 * The background thread's wait before its next round, given what the round returned: none
 * after "more" (1), interval_ms after a round that worked (0); after an error (< 0)
 * interval_ms doubled for each failed round in a row, at most SVC_BG_BACKOFF_CAP_MS (or the
 * interval when that is longer). *failures counts the failed rounds in a row.
 */
#define SVC_BG_BACKOFF_CAP_MS	5000
long svc_bg_pause_ms(int result, long interval_ms, unsigned *failures);

/*
 * The idle wait of a background task that says when it has work (bg_max_ms > 0), after a
 * round that worked. All times are monotonic µs (svc_now_us). It waits until the earliest of
 * next_us (what the round asked for, svc_bg_next) and due_us (what commits posted,
 * svc_bg_due), 0 meaning none, but
 *   - not before last_us + min_ms (last_us: the round's end): a round at most every min_ms,
 *     so that due times 20 ms apart under load make one round per min_ms, not one each;
 *   - not after last_us + max_ms: the cap, by which work nobody posts (rows of another
 *     instance, of a process that died, a wall clock that jumped) is still found.
 * Returns the milliseconds from now_us, rounded up, 0 when that time has come.
 */
long long svc_bg_until_ms(int64_t now_us, int64_t last_us, int64_t next_us, int64_t due_us,
	long min_ms, long max_ms);
/* The earlier of two monotonic times where 0 means none: the earlier non-zero one, or 0. */
int64_t svc_bg_earliest(int64_t a, int64_t b);

/*
 * Retry budget: a token bucket per dependency. Every first call deposits `ratio` tokens,
 * every retry withdraws one, and min_per_sec tokens flow in per second whatever the traffic,
 * so a quiet service can still retry. The bucket holds at most `cap` tokens and starts with
 * one second's floor. Tokens are kept in millionths so that deposits are exact.
 */
struct svc_budget_conf {
	int	 enabled;	/* 0: every retry is allowed */
	double	 ratio;		/* 0..1 */
	int	 min_per_sec;
	int	 cap;		/* tokens */
};

struct svc_budget {
	pthread_mutex_t		 lock;
	struct svc_budget_conf	 conf;
	const struct svc_clock	*clock;
	int64_t			 ratio_u, cap_u;
	/* Under lock. */
	int64_t			 tokens_u;
	int64_t			 last_us;
	atomic_ullong		 exhausted;
};

int  svc_budget_init(struct svc_budget *bg, const struct svc_budget_conf *conf,
	const struct svc_clock *clock, char *err, size_t errlen);
void svc_budget_free(struct svc_budget *bg);
void svc_budget_deposit(struct svc_budget *bg);
/* Returns 0 when a retry may go, -1 when the budget is exhausted (and counts it). */
int  svc_budget_withdraw(struct svc_budget *bg);
/* Whole tokens in the bucket now, for tests and logs. */
double svc_budget_tokens(struct svc_budget *bg);

/*
 * Outbound HTTP over libcurl. One client per worker thread: its easy handle is reused so
 * connections stay alive between calls. Results are classified by what the caller may do:
 */
enum svc_http_class {
	SVC_HTTP_OK = 0,	/* 2xx */
	SVC_HTTP_DEFINITE,	/* 4xx (or 3xx): the dependency answered no; never retried */
	SVC_HTTP_RETRYABLE,	/* 5xx but 504, refused, DNS, failed before the request went out */
	SVC_HTTP_UNKNOWN,	/* timeout or reset after sending, 504: it may have taken effect */
};

struct svc_http_client {
	void	*easy;		/* CURL *, kept opaque so svc.h needs no curl.h */
};

int  svc_http_client_init(struct svc_http_client *c);
void svc_http_client_free(struct svc_http_client *c);

struct svc_http_call {
	const char	*method;		/* "GET", "POST", "PUT", "DELETE", ... */
	const char	*base_url;		/* "http://127.0.0.1:8081" */
	const char	*path;			/* "/internal/payments/charges" */
	const char	*body;			/* JSON, or NULL for none */
	const char	*request_id;		/* X-Request-Id; NULL for none */
	const char	*service_token;		/* X-Service-Token; NULL for none */
	const char	*idempotency_key;	/* Idempotency-Key; NULL for none */
	int		 idempotent;		/* safe to repeat without a key (GET, PUT) */
	int64_t		 deadline_us;		/* monotonic, as svc_req_deadline_us */
};

/* Per attempt, computed by svc_dep_call from the dependency's settings and the deadline. */
struct svc_http_opts {
	int64_t	 timeout_us;
	int64_t	 connect_timeout_us;
	int64_t	 remaining_us;		/* until the deadline: sent as X-Deadline-Ms */
	size_t	 max_body;		/* response bytes kept; more is an error */
};

struct svc_http_result {
	enum svc_http_class	 cls;
	int			 status;	/* HTTP status, 0 when none came back */
	int			 sent;		/* the request left this process */
	struct svc_buf		 body;
	json_object		*json;		/* the body parsed when it is JSON; owned here */
	char			 error[128];	/* why it failed, for logs */
};

void svc_http_result_init(struct svc_http_result *res);
void svc_http_result_reset(struct svc_http_result *res);
void svc_http_result_free(struct svc_http_result *res);
const char *svc_http_class_name(enum svc_http_class cls);
/* Checks that method, URL and header values are sane (no CR/LF, bounded). */
int  svc_http_call_check(const struct svc_http_call *call, char *err, size_t errlen);
/*
 * Performs one request. Returns 0 with res filled (whatever the outcome), or -1 on a local
 * error (out of memory, bad call) before anything was sent, with res->error set.
 */
int  svc_http_perform(struct svc_http_client *c, const struct svc_http_call *call,
	const struct svc_http_opts *opts, struct svc_http_result *res);

/*
 * A dependency: its settings, breaker, bulkhead, retry budget and metrics. Shared by all
 * workers of a service: built once at start, read-only apart from its locks and atomics.
 */
struct svc_dep_conf {
	int				 retry;		/* 0: one attempt only */
	int				 retries;	/* retries after the first attempt */
	int64_t				 backoff_base_us;
	int64_t				 backoff_cap_us;
	int				 bulkhead_enabled;
	int				 bulkhead;	/* concurrent calls */
	int64_t				 bulkhead_wait_us;	/* for a slot, when healthy */
	struct svc_breaker_conf		 breaker;
	struct svc_budget_conf		 budget;
	int64_t				 timeout_us;
	int64_t				 connect_timeout_us;
	size_t				 max_body;
};

/* Reads SHOPLAB_DEP_<NAME>_X, then SHOPLAB_DEP_X, then defaults (see docs/resilience.md). */
int svc_dep_conf_load(struct svc_dep_conf *c, const char *name, char *err, size_t errlen);

/* What one attempt came to, made or refused; each counts once in shoplab_dep_calls_total. */
enum svc_dep_attempt {
	SVC_DEP_A_SUCCESS,		/* 2xx */
	SVC_DEP_A_DEFINITE,		/* 4xx */
	SVC_DEP_A_FAILURE,		/* retryable failure */
	SVC_DEP_A_UNKNOWN,		/* may have taken effect */
	SVC_DEP_A_REJECTED_BREAKER,
	SVC_DEP_A_REJECTED_BULKHEAD,
	SVC_DEP_A_BUDGET_EXHAUSTED,	/* a retry not made: the budget was empty */
	SVC_DEP_A_DEADLINE,		/* not made: no time left before the deadline */
	SVC_DEP_NATTEMPTS
};

#define SVC_DEP_NBUCKETS 13

struct svc_dep {
	char			 name[32];
	struct svc_dep_conf	 conf;
	const struct svc_clock	*clock;
	struct svc_breaker	 breaker;
	struct svc_bulkhead	 bulkhead;
	struct svc_budget	 budget;
	atomic_ullong		 attempts[SVC_DEP_NATTEMPTS];
	atomic_ullong		 retries;
	atomic_ullong		 bulkhead_waits;	/* calls admitted after waiting for a slot */
	atomic_ullong		 bucket[SVC_DEP_NBUCKETS + 1];
	atomic_ullong		 sum_us;
};

int  svc_dep_init(struct svc_dep *d, const char *name, const struct svc_dep_conf *conf,
	const struct svc_clock *clock, char *err, size_t errlen);
void svc_dep_free(struct svc_dep *d);
/* Loads the settings of each name and builds the array; NULL with err set on failure. */
struct svc_dep *svc_dep_array_new(const char *const *names, size_t n,
	const struct svc_clock *clock, char *err, size_t errlen);
void svc_dep_array_free(struct svc_dep *deps, size_t n);
/* Finds a dependency by name, or NULL. */
struct svc_dep *svc_dep_find(struct svc_dep *deps, size_t n, const char *name);

typedef int  (*svc_dep_transport)(void *ctx, const struct svc_http_call *call,
	const struct svc_http_opts *opts, struct svc_http_result *res);
typedef void (*svc_dep_sleeper)(void *ctx, int64_t us);

/* nanosleep(2) for us microseconds, resumed after signals. ctx is unused. */
void svc_sleep_us(void *ctx, int64_t us);

/*
 * What one worker thread owns to call dependencies: its HTTP client, its random state, and
 * the transport and sleeper (svc_http_perform and svc_sleep_us unless a test swaps them).
 */
struct svc_dep_caller {
	struct svc_http_client	 http;
	uint64_t		 rng;
	svc_dep_transport	 transport;
	void			*transport_ctx;
	svc_dep_sleeper		 sleep;
	void			*sleep_ctx;
};

int  svc_dep_caller_init(struct svc_dep_caller *c, uint64_t seed);
void svc_dep_caller_free(struct svc_dep_caller *c);

/* What the caller can do with the result. */
enum svc_dep_outcome {
	SVC_DEP_OK = 0,		/* 2xx: res.http has the answer */
	SVC_DEP_DEFINITE,	/* 4xx: a definite no, in res.http */
	SVC_DEP_UNKNOWN,	/* an attempt may have taken effect: ask again later, never assume */
	SVC_DEP_UNAVAILABLE,	/* nothing took effect: see reason */
};

enum svc_dep_reason {
	SVC_DEP_R_NONE = 0,
	SVC_DEP_R_FAILED,	/* retryable failures and no retry left */
	SVC_DEP_R_BREAKER,
	SVC_DEP_R_BULKHEAD,
	SVC_DEP_R_BUDGET,
	SVC_DEP_R_DEADLINE,
};

struct svc_dep_result {
	enum svc_dep_outcome	 outcome;
	enum svc_dep_reason	 reason;	/* why it stopped when not OK/DEFINITE */
	int			 attempts;	/* requests made */
	struct svc_http_result	 http;		/* of the last request made */
};

void svc_dep_result_init(struct svc_dep_result *res);
void svc_dep_result_free(struct svc_dep_result *res);
const char *svc_dep_outcome_name(enum svc_dep_outcome o);
const char *svc_dep_reason_name(enum svc_dep_reason r);

/*
 * The one way to call a dependency: deadline, bulkhead, breaker, request, record, and
 * retries with backoff for idempotent or keyed calls under the budget. res must have been
 * set up by svc_dep_result_init and may be reused for the next call. Returns 0 with res
 * filled, or -1 on a local error (bad call, out of memory) with res->http.error set.
 */
int svc_dep_call(struct svc_dep *d, struct svc_dep_caller *caller,
	const struct svc_http_call *call, struct svc_dep_result *res);

/* Prometheus text for every dependency; -1 when out of memory. */
int svc_dep_metrics_write(const struct svc_dep *deps, size_t n, const char *service,
	struct svc_buf *out);

#endif /* SVC_RESILIENCE_H */
