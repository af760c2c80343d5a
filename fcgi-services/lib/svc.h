/* svc.h - the shoplab service runtime: FastCGI server, routing, JSON, MariaDB, config, metrics */
#ifndef SVC_H
#define SVC_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

/* The number of elements of an array (not a pointer). */
#define SVC_NELEM(a)	(sizeof(a) / sizeof((a)[0]))
/* An array member and its count (f, nf) in an initializer: SVC_ARRAY(routes, inv_routes). */
#define SVC_ARRAY(f, a)	.f = (a), .n##f = SVC_NELEM(a)

/* What a fallible call returns; after an *_or_reply helper's non-SVC_OK the reply is sent. */
enum svc_err {
	SVC_OK = 0,
	SVC_ERR_INVALID,	/* bad input from the client: 400 */
	SVC_ERR_NOT_FOUND,	/* no such row or route: 404 */
	SVC_ERR_CONFLICT,	/* duplicate key or state conflict: 409 */
	SVC_ERR_TOO_LARGE,	/* body over the cap: 413 */
	SVC_ERR_DB_UNAVAILABLE,	/* database unreachable or lost: 503 */
	SVC_ERR_DB_RETRY,	/* deadlock or lock wait timeout: safe to retry the transaction */
	SVC_ERR_UNAVAILABLE,	/* a dependency is down, open or saturated: 503 */
	SVC_ERR_TIMEOUT,	/* the deadline passed: 504 */
	SVC_ERR_NOMEM,		/* allocation failed: 500 */
	SVC_ERR_INTERNAL,	/* a bug or an unexpected library error: 500 */
	SVC_ERR_REPLIED,	/* a response was already written; the caller just returns */
};

const char *svc_err_name(enum svc_err err);

/* A growable byte buffer, always NUL-terminated. */
struct svc_buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
	int	 failed;	/* an append ran out of memory: the content is truncated */
};

void svc_buf_init(struct svc_buf *b);
void svc_buf_free(struct svc_buf *b);
void svc_buf_reset(struct svc_buf *b);
int  svc_buf_append(struct svc_buf *b, const void *p, size_t n);
int  svc_buf_printf(struct svc_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Monotonic and wall clocks in microseconds; a clock is injected where time matters. */
int64_t svc_now_us(void);
int64_t svc_wall_us(void);

struct svc_clock {
	int64_t	(*now_us)(void *ctx);
	void	*ctx;
};

/* Settings: a table (svc_service.conf) read once from the environment; a bad value stops it. */
enum svc_conf_type {
	SVC_CONF_INT,		/* long long between min and max */
	SVC_CONF_STR,		/* string, at most max bytes */
	SVC_CONF_BOOL,		/* on/off, true/false, 1/0, yes/no */
};

struct svc_conf_def {
	const char		*name;		/* environment variable */
	enum svc_conf_type	 type;
	const char		*def;		/* default as text; NULL means required */
	long long		 min, max;	/* INT: bounds; STR: max length */
	size_t			 offset;	/* where the value goes in the target struct */
};

/* A request as a handler sees it. Opaque: use the accessors below. */
struct svc_req;
struct svc_events;

typedef int (*svc_handler)(struct svc_req *r);

struct svc_route {
	const char	*method;	/* "GET", "POST", ..., or "*" for any */
	const char	*pattern;	/* "/api/v1/products/{id}" */
	svc_handler	 fn;
};

struct svc_service {
	const char		*name;		/* "catalog": also the env prefix SHOPLAB_DB_CATALOG_* */
	const struct svc_route	*routes;
	size_t			 nroutes;
	const char *const	*stmts;		/* SQL of every prepared statement, by index */
	size_t			 nstmts;
	size_t			 state_size;	/* its state: zeroed bytes for svc_req_state */
	/* Optional: its settings, loaded into state (scoped by name) before init, freed after fini. */
	const struct svc_conf_def *conf;
	size_t			 nconf;
	/* Optional: called once before workers start, the settings loaded (checks, derived state). */
	int			(*init)(void *state);
	void			(*fini)(void *state);
	/* Dependencies called through the internal gateway (see svc_call), by name. */
	const char *const	*deps;
	size_t			 ndeps;
	/* Optional: run once before serving, with database access (e.g. to bootstrap rows). */
	int			(*startup)(struct svc_req *r);
	/*
	 * Optional: run every bg_interval_ms on its own thread, with database and svc_call, until
	 * svc_req_stopping(). 1 (see svc_bg_more) runs it again at once; SVC_OK waits the
	 * interval; an error waits longer after each failed round in a row (from bg_interval_ms).
	 * With bg_max_ms > 0 the task is woken instead of polled: after a round that worked the
	 * thread sleeps until the round's svc_bg_next or a committed svc_bg_due, whichever is
	 * earlier, but at least bg_interval_ms after the round and at most bg_max_ms after it.
	 */
	int			(*background)(struct svc_req *r);
	long			 bg_interval_ms;
	long			 bg_max_ms;
	/* Optional: events published through the outbox and consumed (svc_events.h). */
	const struct svc_events	*events;
	/* Optional: appends its own series to GET /metrics; -1 only when out cannot grow. */
	int			(*metrics)(struct svc_req *r, struct svc_buf *out);
};

/* Runs the service until SIGTERM/SIGINT. Returns the process exit status. */
int svc_main(int argc, char **argv, const struct svc_service *svc);
/* A service's main.c ends with SVC_MAIN(its struct svc_service): main runs svc_main. */
#define SVC_MAIN(svc)	int main(int argc, char **argv) { return svc_main(argc, argv, &(svc)); }

/* Request accessors. Strings stay valid until the handler returns. */
const char *svc_req_id(const struct svc_req *r);
const char *svc_req_header(const struct svc_req *r, const char *name);	/* "If-None-Match" */
void	   *svc_req_state(const struct svc_req *r);		/* the service's state */
int64_t     svc_req_deadline_us(const struct svc_req *r);	/* monotonic */
int	    svc_req_stopping(const struct svc_req *r);		/* the service is shutting down */
/* A background round's "more": 1 only for a full batch of due rows with one moved on. */
int	    svc_bg_more(size_t due, size_t moved, size_t batch);
/*
 * Background work becomes due at at_us (monotonic, svc_now_us() time): inside a transaction
 * recorded and posted to the background thread when it commits (dropped on rollback),
 * outside one posted at once. Only a task with bg_max_ms > 0 is woken by it.
 */
void	    svc_bg_due(struct svc_req *r, int64_t at_us);
/* In a background round: its next work is due at at_us (monotonic); 0 for none known. */
void	    svc_bg_next(struct svc_req *r, int64_t at_us);

/* Query parameter name, URL-decoded, into out: 1 found, 0 absent, or one of these (< 0). */
#define SVC_QUERY_TOO_LONG	(-1)
#define SVC_QUERY_NUL		(-2)
#define SVC_QUERY_BAD_ESCAPE	(-3)
int svc_req_query(const struct svc_req *r, const char *name, char *out, size_t outlen);

/* Identity the gateway set from a verified token (clients cannot set it); 0 when none. */
int64_t     svc_req_user_id(const struct svc_req *r);
const char *svc_req_user_role(const struct svc_req *r);

/* Responses. Each writes the whole response; a handler sends exactly one. */
int svc_reply_header(struct svc_req *r, const char *name, const char *value);
/* Sends obj with status and consumes the reference. */
int svc_reply_json(struct svc_req *r, int status, json_object *obj);
int svc_reply_raw(struct svc_req *r, int status, const char *ctype, const char *body, size_t len);
int svc_reply_empty(struct svc_req *r, int status);
/* {"error":{"code":code,"message":...,"request_id":...}}; returns SVC_ERR_REPLIED. */
int svc_reply_error(struct svc_req *r, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* 400 validation_failed naming field; returns SVC_ERR_REPLIED. */
int svc_reply_field_error(struct svc_req *r, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Replies with the status and code that err maps to; returns SVC_ERR_REPLIED. */
int svc_reply_err(struct svc_req *r, enum svc_err err);

/*
 * Checked JSON building, consuming v: a NULL v or a failed add returns -1. Collect, check once:
 *	bad |= svc_json_add(o, "id", json_object_new_int64(id));
 */
int svc_json_add(json_object *o, const char *key, json_object *v);
int svc_json_push(json_object *a, json_object *v);
/* o, or NULL (o released) when bad: svc_reply_json answers 500 to NULL. */
json_object *svc_json_checked(json_object *o, int bad);

/* Body and JSON input. Each *_or_reply sends the 4xx itself and returns non-zero. */
int svc_body_json_or_reply(struct svc_req *r, json_object **out);
int svc_json_str_or_reply(struct svc_req *r, json_object *obj, const char *field,
	size_t minlen, size_t maxlen, int required, const char **out);
int svc_json_int_or_reply(struct svc_req *r, json_object *obj, const char *field,
	int64_t min, int64_t max, int required, int64_t *out);
int svc_json_obj_or_reply(struct svc_req *r, json_object *obj, const char *field,
	json_type type, json_object **out);
int svc_path_id_or_reply(struct svc_req *r, const char *name, const char *what, int64_t *out);
int svc_query_int_or_reply(struct svc_req *r, const char *name, int64_t min, int64_t max,
	int64_t def, int64_t *out);

/* 1 when s is 1..64 characters of [A-Za-z0-9._-] (request ids, idempotency keys). */
int svc_req_id_sane(const char *s);

/* Parses a positive decimal id (1..INT64_MAX) with no sign, spaces or leading zeros. */
int svc_parse_id(const char *s, int64_t *out);

/* MariaDB, statements by index in the service's table. Parameter types: 'i' int64_t,
 * 's' const char * (NULL sends SQL NULL), 'b' const void *, size_t. */
struct svc_rows;

int svc_db_exec(struct svc_req *r, int stmt, const char *types, ...);
int svc_db_query(struct svc_req *r, int stmt, struct svc_rows **out, const char *types, ...);
/* Column 0 of the rows of stmt run with the one parameter limit, into ids (at most cap). */
int svc_db_query_ids(struct svc_req *r, int stmt, int64_t limit, int64_t *ids, size_t cap,
	size_t *n);
uint64_t svc_db_affected(const struct svc_req *r);
uint64_t svc_db_insert_id(const struct svc_req *r);

/* Result rows, buffered client side; accessors read the current row's 0-based column. */
int	     svc_rows_next(struct svc_rows *rows);		/* 1 row, 0 end */
int	     svc_rows_isnull(const struct svc_rows *rows, size_t col);
/* The column as an integer (text read with strtoll); 0 for NULL or no such column. */
int64_t	     svc_rows_int(const struct svc_rows *rows, size_t col);
/* The column's bytes, NUL-terminated, length in *len (len may be NULL); NULL for SQL NULL,
 * an integer column or no such column. Valid until the next svc_rows_next or svc_rows_free. */
const char  *svc_rows_str(const struct svc_rows *rows, size_t col, size_t *len);
/* svc_rows_str copied into out (cut to outlen - 1 bytes), "" instead of NULL. */
void	     svc_rows_copy(const struct svc_rows *rows, size_t col, char *out, size_t outlen);
/* The current row as a new JSON object by column name; NULL when out of memory. */
json_object *svc_rows_json(const struct svc_rows *rows);
/* The bytes json-c prints for svc_rows_json (plain), appended to out unbuilt; -1: no memory. */
int	     svc_rows_json_append(const struct svc_rows *rows, struct svc_buf *out);
void	     svc_rows_free(struct svc_rows *rows);

/* 200 {"items":[...],"next":id|null} from LIMIT limit+1 rows (column 0: id); consumes rows. */
int svc_reply_page(struct svc_req *r, struct svc_rows *rows, int64_t limit);

/* Logging: one JSON line to stderr with the service, the request id if any, and msg. */
void svc_log(struct svc_req *r, const char *level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Hex-encoded SHA-256 of data (65 bytes with NUL) for ETags and request hashes. */
void svc_sha256_hex(const void *data, size_t len, char out[65]);

/* What a call to another service came to (svc_call). */
enum svc_call_outcome {
	SVC_CALL_OK,		/* 2xx: status and json hold the answer */
	SVC_CALL_NO,		/* a definite no (4xx): status, json and code say which */
	SVC_CALL_UNKNOWN,	/* it may have taken effect: ask again later, never assume it did not */
	SVC_CALL_UNAVAILABLE,	/* nothing took effect: down, breaker open, bulkhead full, no time */
};

struct svc_call_result {
	enum svc_call_outcome	 outcome;
	int			 status;	/* HTTP status of the last answer, 0 when none */
	json_object		*json;		/* its JSON body, or NULL (owned: see below) */
	char			 code[48];	/* error.code of a JSON error answer, or "" */
};

/*
 * Calls dep through the internal gateway with the request's deadline, bulkhead, breaker and
 * retries (docs/resilience.md); idempotent when repeating is safe without a key. SVC_OK with
 * *res filled (free it with svc_call_result_free), or a local failure with *res empty.
 */
int svc_call(struct svc_req *r, const char *dep, const char *method, const char *path,
	const char *body, const char *idempotency_key, int idempotent,
	struct svc_call_result *res);
void svc_call_result_free(struct svc_call_result *res);

/* Runs fn in a transaction: SVC_OK commits, anything else rolls back and is returned; a
 * deadlock or lost connection runs it again in the deadline. A failed COMMIT is not retried. */
int svc_db_tx(struct svc_req *r, int (*fn)(struct svc_req *r, void *arg), void *arg);

#endif /* SVC_H */
