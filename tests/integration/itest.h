/* itest.h - a small HTTP client for integration tests against a running stack */
#ifndef ITEST_H
#define ITEST_H

#include <sys/types.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>

#include <cmocka.h>
#include <json-c/json.h>

struct it_resp {
	long		 status;
	char		*body;
	size_t		 len;
	char		*headers;	/* raw header block, lower-cased names not guaranteed */
	json_object	*json;		/* parsed body when it is JSON, else NULL */
	double		 seconds;
	char		 what[160];	/* "METHOD path", for the messages of a failed check */
};

/* Base URLs from the environment the test runner sets. */
const char *it_gateway(void);
const char *it_internal(void);
const char *it_env(const char *name);
/* The stack's services, the one list (SHOPLAB_SERVICES from run/shoplab.env), at most max. */
#define IT_SVC_NAME	32
size_t it_services(char names[][IT_SVC_NAME], size_t max);

/*
 * Sends method url (base + path) with optional extra header lines (NULL-terminated array)
 * and body; fills resp. Returns 0, or -1 when no HTTP response came back.
 */
int  it_request(const char *method, const char *base, const char *path,
	const char *const *headers, const char *body, struct it_resp *resp);
void it_resp_free(struct it_resp *resp);

/* Value of header name (case-insensitive) copied into out; 1 found, 0 not. */
int  it_header(const struct it_resp *resp, const char *name, char *out, size_t outlen);

/*
 * Asserts status, a JSON error body of the contract's shape with this code and a request id;
 * a miss names the request (resp->what) and shows the answer on stderr.
 */
void it_assert_error(const struct it_resp *resp, long status, const char *code);
/* Asserts resp's status; a miss names the request and shows the answer on stderr. */
void it_assert_status(const struct it_resp *resp, long status);
/* it_assert_error, then it_resp_free: the answer is that refusal, and done with. */
void it_refused(struct it_resp *resp, long status, const char *code);

/*
 * Sends the request and asserts the answer's status; with code not NULL, also the contract's
 * error body with that code (it_assert_error). A miss names the request and shows the answer.
 */
void it_expect(const char *method, const char *base, const char *path,
	const char *const *headers, const char *body, long status, const char *code);

/*
 * A service's internal routes want its token: POST path with body, and GET member, answer
 * 401 unauthorized without the X-Service-Token header or with a wrong one.
 */
void it_expect_token_required(const char *path, const char *body, const char *member);

/* Member lookups on the parsed body ("error.code" style dotted paths). */
json_object *it_get(const struct it_resp *resp, const char *path);
const char  *it_str(const struct it_resp *resp, const char *path);
int64_t      it_int(const struct it_resp *resp, const char *path);

/* A connection to service svc's schema with its own credentials from run/shoplab.env. */
struct st_mysql;
struct st_mysql *it_db(const char *svc);
/* The first column of the first row of sql as an integer (INT64_MIN when NULL or none). */
int64_t it_db_int(struct st_mysql *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Waits up to secs for the first column of the formatted query on svc's database to reach
 * want (polled every 100 ms); returns the last value read. */
int64_t it_wait_db(const char *svc, int64_t want, int secs, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* The value of service svc's metric line "name{service=\"svc\"} v" on its /metrics, or -1;
 * a name with labels of its own ("name{service=\"svc\",dep=\"x\"}") is taken as it is. */
double it_metric(const char *svc, const char *name);

/* Publishes body to shoplab.events with routing key rkey as user (password in the env var
 * pw_var), persistent, and asserts the broker confirmed it: it is queued when this returns. */
void it_amqp_publish(const char *user, const char *pw_var, const char *rkey, const char *body);

/* main(): runs the cmocka_unit_test(...) entries given as one group with its set-up and teardown. */
#define IT_MAIN(group, setup, teardown, ...)					\
int										\
main(void)									\
{										\
	const struct CMUnitTest tests[] = { __VA_ARGS__ };			\
										\
	return cmocka_run_group_tests_name(group, tests, setup, teardown);	\
}

#define IT_N(a)	(sizeof(a) / sizeof((a)[0]))

/* Runs fn on each of the n elements of args (size bytes each), all at once, one thread each;
 * returns when every one has returned. */
void it_parallel(void *(*fn)(void *), void *args, size_t n, size_t size);

/* 1 while pid runs (a zombie has stopped running: init reaps it when it gets round to it). */
int it_running(pid_t pid);

/*
 * Asserts the invariants of docs/architecture.md with sim check's reader and evaluator (sim/run/
 * sim_check*.c) over the orders, payments and inventory databases; prints the invariant
 * table when one breaks.
 */
void it_check_invariants(void);

/* Logs in (registering first if needed) and returns "Authorization: Bearer ..." (static). */
const char *it_login(const char *email, const char *password, char *line, size_t linelen);
/* A number for this run (time and pid): accounts and keys made with it are new every run. */
long it_run_id(void);
/* it_login as <who>-<run_id>@example.com, asserted: line holds the Authorization line. */
void it_login_new(const char *who, long run_id, const char *password, char *line,
	size_t linelen);
/* it_login as the stack's admin (SHOPLAB_ADMIN_EMAIL and _PASSWORD), asserted. */
void it_login_admin(char *line, size_t linelen);

/* The pid in $SHOPLAB_RUN/<name>.pid, or 0. */
pid_t it_pid(const char *name);

/*
 * Stops service svc (SIGTERM, waits until it is gone or a zombie), then runs stack.sh up
 * with env ("" or "NAME=value ..." prefixed to the command), which starts it again.
 */
void it_restart(const char *svc, const char *env);
/*
 * 1 when the service's binary in $SHOPLAB_BUILD has the test hooks (SVC_TEST_HOOKS, `make test`'s
 * build-test/): a test that crashes a service on purpose skips without them.
 */
int it_test_hooks(const char *svc);

/* Runs a shell command with the test environment; returns its exit status. */
int it_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Speaks FastCGI to a service directly, past nginx: connects to spec ("host:port" or
 * "unix:/path"), sends one responder request with the params (a NULL-terminated array of
 * "NAME=value") and no body, and copies what the service wrote on stdout into out.
 * Returns the Status header's code (200 when none), or -errno when the connection failed.
 */
int it_fcgi(const char *spec, const char *const *params, char *out, size_t outlen);

#endif /* ITEST_H */
