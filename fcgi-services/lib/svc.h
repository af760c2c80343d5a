/* svc.h - the shoplab service runtime: FastCGI server, routing, JSON, MariaDB, config, metrics */
#ifndef SVC_H
#define SVC_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

/*
 * Every fallible library call returns one of these. A handler that gets anything but
 * SVC_OK back from an *_or_reply helper has already had its response written and just
 * returns. svc_err_status() maps each to the HTTP status it answers with.
 */
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
int  svc_buf_puts(struct svc_buf *b, const char *s);
int  svc_buf_printf(struct svc_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Monotonic and wall clocks in microseconds; a clock can be injected where time matters. */
int64_t svc_now_us(void);
int64_t svc_wall_us(void);

struct svc_clock {
	int64_t	(*now_us)(void *ctx);
	void	*ctx;
};

extern const struct svc_clock svc_clock_system;

/*
 * Configuration: a table of settings read once from the environment at start. A bad value
 * stops the service with a message naming the variable.
 */
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

/* Parses every definition into target; on error writes a message to err and returns -1. */
int svc_conf_load(const struct svc_conf_def *defs, size_t n, void *target,
	char *err, size_t errlen);
/* As svc_conf_load, but SHOPLAB_X is first looked up as SHOPLAB_<SCOPE>_X. */
int svc_conf_load_scoped(const struct svc_conf_def *defs, size_t n, const char *scope,
	void *target, char *err, size_t errlen);

/* The runtime's own settings (svc_internal.h): a service's init gets them, opaque. */
struct svc_config;

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
	/* Optional: called once after config, before workers start; state is the service's own. */
	int			(*init)(void *state, const struct svc_config *cfg);
	void			(*fini)(void *state);
	/* Dependencies called through the internal gateway (see svc_call), by name. */
	const char *const	*deps;
	size_t			 ndeps;
	/* Optional: run once before serving, with database access (e.g. to bootstrap rows). */
	int			(*startup)(struct svc_req *r);
	/*
	 * Optional: run every bg_interval_ms on a thread of its own, with database access
	 * and svc_call, until shutdown (e.g. a recovery worker). svc_req_stopping() tells
	 * it to wind up. Returning 1 ("there is more") runs it again at once (decide it with
	 * svc_bg_more); SVC_OK waits bg_interval_ms; any other svc_err waits longer after each
	 * failed round in a row (svc_bg_pause_ms), so a database that is away is not polled flat out.
	 */
	int			(*background)(struct svc_req *r);
	long			 bg_interval_ms;
	void			*state;
	/* Optional: events published through the outbox and consumed (svc_events.h). */
	const struct svc_events	*events;
	/*
	 * Optional: appends the service's own series to GET /metrics, with database access.
	 * Returns -1 only when out cannot grow; a series it cannot compute is left out.
	 */
	int			(*metrics)(struct svc_req *r, struct svc_buf *out);
};

/* Runs the service until SIGTERM/SIGINT. Returns the process exit status. */
int svc_main(int argc, char **argv, const struct svc_service *svc);

/* Request accessors. Strings stay valid until the handler returns. */
const char *svc_req_id(const struct svc_req *r);
const char *svc_req_header(const struct svc_req *r, const char *name);	/* "If-None-Match" */
const char *svc_req_path_arg(const struct svc_req *r, const char *name);	/* "{id}" */
void	   *svc_req_state(const struct svc_req *r);		/* the service's state */
int64_t     svc_req_deadline_us(const struct svc_req *r);	/* monotonic */
int	    svc_req_stopping(const struct svc_req *r);		/* the service is shutting down */
/*
 * A background round's verdict on "more": 1 (run again at once) only when it took a full
 * batch of due rows AND moved at least one of them on. A full batch of rows that all failed
 * would come back unchanged: running again at once would be a busy loop, so it waits.
 */
int	    svc_bg_more(size_t due, size_t moved, size_t batch);

/*
 * Copies query parameter name (URL-decoded) into out; returns 1 found, 0 absent, or (< 0)
 * SVC_QUERY_TOO_LONG, SVC_QUERY_NUL (it decodes to a NUL byte) or SVC_QUERY_BAD_ESCAPE.
 */
#define SVC_QUERY_TOO_LONG	(-1)
#define SVC_QUERY_NUL		(-2)
#define SVC_QUERY_BAD_ESCAPE	(-3)
int svc_req_query(const struct svc_req *r, const char *name, char *out, size_t outlen);

/*
 * Identity set by the gateway from a verified token (FastCGI params SHOPLAB_USER_ID and
 * SHOPLAB_USER_ROLE, which clients cannot set). Returns 0 when there is none.
 */
int64_t     svc_req_user_id(const struct svc_req *r);
const char *svc_req_user_role(const struct svc_req *r);

/* Registers a cleanup run after the response is sent (e.g. json_object_put). */
int svc_req_defer(struct svc_req *r, void (*fn)(void *), void *arg);

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
 * Checked JSON building: adds v to object o under key (or to array a), consuming v. A NULL v
 * (a failed json_object_new_*) or a failed add returns -1, so an allocation failure can
 * never send a null field. Collect the results and check once:
 *	bad |= svc_json_add(o, "id", json_object_new_int64(id));
 *	if (bad) { json_object_put(o); return svc_reply_err(r, SVC_ERR_NOMEM); }
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

/*
 * MariaDB: one connection per worker thread, statements prepared from the service's table
 * on first use. Parameters are given by a type string: 'i' int64_t, 's' const char *
 * (NUL-terminated; NULL sends SQL NULL), 'b' const void *, size_t (bytes).
 */
struct svc_rows;

int svc_db_exec(struct svc_req *r, int stmt, const char *types, ...);
int svc_db_query(struct svc_req *r, int stmt, struct svc_rows **out, const char *types, ...);
uint64_t svc_db_affected(const struct svc_req *r);
uint64_t svc_db_insert_id(const struct svc_req *r);

/*
 * Result rows, all buffered client side. Column accessors take the 0-based index and read
 * the current row (after svc_rows_next returned 1).
 */
int	     svc_rows_next(struct svc_rows *rows);		/* 1 row, 0 end */
int	     svc_rows_isnull(const struct svc_rows *rows, size_t col);
/* The column as an integer (a text column is read with strtoll); 0 for NULL or no such column. */
int64_t	     svc_rows_int(const struct svc_rows *rows, size_t col);
/*
 * The column's bytes, NUL-terminated, and their length in *len (if len is not NULL); NULL
 * (and *len 0) for SQL NULL, for an integer column (read it with svc_rows_int) and for no such
 * column. The pointer points into rows: it stays valid until the next svc_rows_next or
 * svc_rows_free on rows, whichever comes first. Copy what must outlive that.
 */
const char  *svc_rows_str(const struct svc_rows *rows, size_t col, size_t *len);
/*
 * The current row as a new JSON object (the caller owns the reference) keyed by column
 * name: integer columns as integers, NULL as JSON null, everything else as strings.
 * NULL when out of memory, never a partial object.
 */
json_object *svc_rows_json(const struct svc_rows *rows);
/*
 * The same row appended to out as the bytes json-c prints for svc_rows_json (plain, '/'
 * not escaped), without building the object: for a reply whose bytes are hashed (ETag) or
 * sent as they are. -1 when out of memory (out is then marked failed).
 */
int	     svc_rows_json_append(const struct svc_rows *rows, struct svc_buf *out);
void	     svc_rows_free(struct svc_rows *rows);

/*
 * Replies 200 {"items":[row objects], "next": last id or null} from rows fetched with
 * LIMIT limit+1 (keyset paging: the extra row says there is a next page; column 0 is the
 * id). Consumes rows.
 */
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
 * Calls dependency dep (one of the service's deps) through the internal gateway with the
 * request's deadline, the dependency's bulkhead, breaker and retries (docs/resilience.md):
 * method base+path, a JSON body or NULL, an Idempotency-Key or NULL, idempotent when
 * repeating is safe without a key. Fills *res (any earlier content is overwritten, not
 * freed); the caller frees it with svc_call_result_free. Returns SVC_OK with res filled,
 * or an error for a local failure (then res is empty and freeing it is harmless).
 */
int svc_call(struct svc_req *r, const char *dep, const char *method, const char *path,
	const char *body, const char *idempotency_key, int idempotent,
	struct svc_call_result *res);
void svc_call_result_free(struct svc_call_result *res);

/*
 * Runs fn(r, arg) inside a transaction and commits; rolls back and runs it again on a
 * deadlock, a lock wait timeout or a lost connection while the deadline allows. fn returns
 * SVC_OK to commit, anything else to roll back (and that is returned). A failed COMMIT is
 * returned as it is, never retried: the database may have committed it.
 */
int svc_db_tx(struct svc_req *r, int (*fn)(struct svc_req *r, void *arg), void *arg);

#endif /* SVC_H */
