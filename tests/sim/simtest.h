/* simtest.h - helpers for the sim proxy tests: in-process server, upstreams, HTTP and FastCGI clients */
#ifndef SIMTEST_H
#define SIMTEST_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy_server.h"

struct simtest_server {
	struct sim_server srv;
	pthread_t th;
	int port;
};

/* Starts a sim proxy server on a free 127.0.0.1 port in a thread. fault_log may be NULL. */
int simtest_server_start(struct simtest_server *t, uint64_t seed, const char *fault_log);
void simtest_server_stop(struct simtest_server *t);

enum simtest_mode {
	UP_ECHO,        /* sends "hello\n" at once, then echoes */
	UP_SOURCE,      /* sends source_len bytes, then closes */
	UP_FCGI,        /* a FastCGI responder answering 200 "ok <request id>" */
};

struct simtest_upstream {
	enum simtest_mode mode;
	size_t source_len;
	int port;
	int lfd;
	int stop_pipe[2];
	pthread_t th;
	atomic_int requests;    /* FastCGI requests answered */
	atomic_int accepted;
};

int simtest_upstream_start(struct simtest_upstream *u, enum simtest_mode mode, size_t source_len);
void simtest_upstream_stop(struct simtest_upstream *u);

uint64_t simtest_now_ms(void);
int simtest_connect(int port);
/* Reads up to len bytes, waiting at most timeout_ms in all. Returns bytes read (stops early at
 * EOF), or -1 on a socket error (errno kept, e.g. ECONNRESET) with *got set if given. */
long simtest_read(int fd, void *buf, size_t len, int timeout_ms, int *got_eof);
/* Waits for EOF or an error: returns 0 for EOF, -errno for an error, 1 on timeout or data. */
int simtest_wait_close(int fd, int timeout_ms);
int simtest_write_all(int fd, const void *buf, size_t len);

/* One HTTP/1.0 request to 127.0.0.1:port. Returns the status; copies the body into out. */
int simtest_http(int port, const char *method, const char *path, const char *body, char *out,
                 size_t outsz);

/* Sends one FastCGI request on fd and reads its answer. Returns the HTTP status of the answer
 * (200 when the responder gives none), or -1 when the connection failed or closed first.
 * body (optional) receives the STDOUT content. */
int simtest_fcgi_request(int fd, uint16_t id, const char *request_id, bool keep_conn, char *body,
                         size_t bodysz, int timeout_ms);

/* Whether haystack contains needle. */
bool simtest_has(const char *haystack, const char *needle);

/* Creates proxy name -> 127.0.0.1:upstream_port through the API; returns its listen port. */
int simtest_proxy(struct simtest_server *s, const char *name, int upstream_port);
/* POSTs a toxic (JSON) to proxy name; returns the HTTP status. */
int simtest_toxic(struct simtest_server *s, const char *name, const char *json);

/* A rig: a sim proxy server and up to SIMTEST_RIG_UPS upstreams, what most proxy tests start. */
#define SIMTEST_RIG_UPS 3

struct simtest_rig_spec {
	uint64_t seed;
	bool fault_log;                 /* the server logs faults to a fresh temp file */
	const char *proxy;              /* a proxy of this name in front of up[0], or NULL */
	size_t nup;
	struct {
		enum simtest_mode mode;
		size_t source_len;
	} up[SIMTEST_RIG_UPS];
};

struct simtest_rig {
	struct simtest_server srv;      /* first: simtest_api.h's handle is its address */
	struct simtest_upstream up[SIMTEST_RIG_UPS];
	size_t nup;
	int proxy_port;                 /* the spec's proxy's listen port, or 0 */
	char log_path[64];              /* the fault log, or "" */
	char body[65536];               /* the body of simtest_call's last answer */
};

/* Starts what spec says: 0, or -1 with nothing left running. */
int simtest_rig_start(struct simtest_rig *r, const struct simtest_rig_spec *spec);
void simtest_rig_stop(struct simtest_rig *r);
/* cmocka set-up: *state holds the spec on entry and the rig, allocated and started, on success;
 * simtest_rig_teardown stops and frees it. SIMTEST_RIG_TEST(test, spec) is a test in its own rig. */
int simtest_rig_setup(void **state);
int simtest_rig_teardown(void **state);
#define SIMTEST_RIG_TEST(test, spec) \
	cmocka_unit_test_prestate_setup_teardown(test, simtest_rig_setup, simtest_rig_teardown, \
	                                         (void *)&(spec))
/* One request to the rig's control API, its body from fmt (NULL: none); the answer's body lands in
 * r->body. Returns the HTTP status. */
int simtest_call(struct simtest_rig *r, const char *method, const char *path, const char *fmt,
                    ...) __attribute__((format(printf, 4, 5)));

#endif
