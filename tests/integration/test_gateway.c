/* test_gateway.c - the gateway's edges: its own errors in JSON, internal headers, limits, its user */
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

#define PASSWORD "gateway-edge-pw"

static char	uniq[64];

/* Sends raw bytes to the public listener; out gets what came back (NUL-terminated). */
static void
raw(const char *req, size_t len, char *out, size_t outlen)
{
	struct sockaddr_in	 sin;
	const char		*url = it_gateway(), *port = strrchr(url, ':');
	struct timeval		 tv = { 20, 0 };
	size_t			 used = 0, off;
	ssize_t			 n;
	int			 fd;

	out[0] = '\0';
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)atoi(port + 1));
	{
		/* The gateway's address: between "//" and the last ':'. */
		char host[64];
		const char *h = strstr(url, "//") + 2;

		snprintf(host, sizeof(host), "%.*s", (int)(port - h), h);
		assert_int_equal(inet_pton(AF_INET, host, &sin.sin_addr), 1);
	}
	assert_true((fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (off = 0; off < len; off += (size_t)n)
		if ((n = write(fd, req + off, len - off)) <= 0)
			break;
	while (used + 1 < outlen && (n = read(fd, out + used, outlen - used - 1)) > 0)
		used += (size_t)n;
	out[used] = '\0';
	close(fd);
}

/* The status line's code, Content-Type is JSON, and the body is the error shape with code. */
static void
assert_json_error(const char *resp, int status, const char *code)
{
	const char	*body;
	json_object	*j, *e, *v;

	if (atoi(resp + 9) != status)
		fprintf(stderr, "want %d: %.300s\n", status, resp);
	assert_int_equal(atoi(resp + 9), status);
	assert_non_null(strcasestr(resp, "\r\nContent-Type: application/json"));
	assert_non_null(body = strstr(resp, "\r\n\r\n"));
	assert_non_null(j = json_tokener_parse(body + 4));
	assert_true(json_object_object_get_ex(j, "error", &e));
	assert_true(json_object_object_get_ex(e, "code", &v));
	assert_string_equal(json_object_get_string(v), code);
	assert_true(json_object_object_get_ex(e, "message", &v));
	assert_true(json_object_object_get_ex(e, "request_id", &v));
	json_object_put(j);
}

/* The request req, sent as it is, is refused with status and a JSON error of code. */
static void
raw_refused(const char *req, int status, const char *code)
{
	char resp[8192];

	raw(req, strlen(req), resp, sizeof(resp));
	if (atoi(resp + 9) != status)
		fprintf(stderr, "%.60s...: ", req);
	assert_json_error(resp, status, code);
}

static void
test_own_errors_are_json(void **state)
{
	static char	 req[80000];
	int		 n, i;

	(void)state;
	/* 494: one header over the large buffers; sent as 400 like nginx does. */
	n = snprintf(req, sizeof(req), "GET /api/v1/products/1 HTTP/1.1\r\nHost: x\r\nX-Big: ");
	memset(req + n, 'a', 20000);
	n += 20000;
	n += snprintf(req + n, sizeof(req) - (size_t)n, "\r\nConnection: close\r\n\r\n");
	raw_refused(req, 400, "request_header_too_large");
	/* 494 again: many headers, together over the buffers. */
	n = snprintf(req, sizeof(req), "GET /api/v1/products/1 HTTP/1.1\r\nHost: x\r\n");
	for (i = 0; i < 40; i++) {
		n += snprintf(req + n, sizeof(req) - (size_t)n, "X-H%d: ", i);
		memset(req + n, 'b', 1000);
		n += 1000;
		n += snprintf(req + n, sizeof(req) - (size_t)n, "\r\n");
	}
	n += snprintf(req + n, sizeof(req) - (size_t)n, "\r\n");
	raw_refused(req, 400, "request_header_too_large");
	/* 501: a Transfer-Encoding nginx does not know. */
	raw_refused("POST /api/v1/users HTTP/1.1\r\nHost: x\r\n"
	    "Transfer-Encoding: gzip\r\n\r\n", 501, "not_implemented");
	/* 505. */
	raw_refused("GET / HTTP/2.5\r\nHost: x\r\n\r\n", 505, "http_version_not_supported");
	/* 414. */
	n = snprintf(req, sizeof(req), "GET /");
	memset(req + n, 'u', 9000);
	n += 9000;
	n += snprintf(req + n, sizeof(req) - (size_t)n, " HTTP/1.1\r\nHost: x\r\n\r\n");
	raw_refused(req, 414, "uri_too_long");
	/* 400: garbage, no Host, Content-Length with chunked, chunked on HTTP/1.0. */
	raw_refused("GARBAGE\r\n\r\n", 400, "bad_request");
	raw_refused("GET / HTTP/1.1\r\n\r\n", 400, "bad_request");
	raw_refused("POST /api/v1/users HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "bad_request");
	/* 405: TRACE. */
	raw_refused("TRACE / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
	    405, "method_not_allowed");
	/* 413. */
	raw_refused("POST /api/v1/users HTTP/1.1\r\nHost: x\r\n"
	    "Content-Type: application/json\r\nContent-Length: 70000\r\nConnection: close\r\n\r\n",
	    413, "payload_too_large");
}

/*
 * Every status nginx/errors.conf maps (the list is read from the file) answers the JSON error
 * shape: asked on the internal listener (/_ops/gateway/status/<code>, a `return <code>` per
 * error_page line); 494-497 are sent as 400 like nginx does. Then 412 and 416 as nginx makes
 * them from a static file, on the public listener.
 */
static void
test_every_status_json(void **state)
{
	char		 path[1024], line[512], url[64], ct[128];
	FILE		*f;
	struct it_resp	 r;
	long		 want;
	int		 code, tried = 0;
	json_object	*v;

	(void)state;
	snprintf(path, sizeof(path), "%s/nginx/errors.conf", it_env("SHOPLAB_TOP"));
	assert_non_null(f = fopen(path, "r"));
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "error_page %d ", &code) != 1)
			continue;
		/* 408: nginx closes the connection without an answer (see errors.conf). */
		if (code == 408)
			continue;
		snprintf(url, sizeof(url), "/_ops/gateway/status/%d", code);
		assert_int_equal(it_request("GET", it_internal(), url, NULL, NULL, &r), 0);
		want = code >= 494 && code <= 497 ? 400 : code;
		if (r.status != want || r.json == NULL)
			fprintf(stderr, "status %d: got %ld %.200s\n", code, r.status, r.body);
		assert_int_equal(r.status, want);
		assert_true(it_header(&r, "Content-Type", ct, sizeof(ct)));
		assert_non_null(strstr(ct, "application/json"));
		assert_non_null(r.json);
		assert_non_null(v = it_get(&r, "error.code"));
		assert_true(json_object_get_string_len(v) > 0);
		assert_non_null(it_get(&r, "error.message"));
		assert_non_null(v = it_get(&r, "error.request_id"));
		assert_true(json_object_get_string_len(v) > 0);
		it_resp_free(&r);
		tried++;
	}
	fclose(f);
	/* The list is the file's: at least the codes this suite names below. */
	assert_true(tried >= 28);
	raw_refused("GET /api/v1/openapi.yaml HTTP/1.1\r\nHost: x\r\n"
	    "If-Match: \"not-this-one\"\r\nConnection: close\r\n\r\n", 412, "precondition_failed");
	raw_refused("GET /api/v1/openapi.yaml HTTP/1.1\r\nHost: x\r\n"
	    "Range: bytes=999999999-\r\nConnection: close\r\n\r\n", 416, "range_not_satisfiable");
}

/* An HTTP/0.9 request (no version: the answer would be a bare body) gets nothing at all. */
static void
test_http09_refused(void **state)
{
	char	resp[4096];
	int	n;
	char	req[128];

	(void)state;
	n = snprintf(req, sizeof(req), "GET /api/v1/openapi.yaml\r\n");
	raw(req, (size_t)n, resp, sizeof(resp));
	if (resp[0] != '\0')
		fprintf(stderr, "HTTP/0.9 answered: %.200s\n", resp);
	assert_string_equal(resp, "");
	/* The same request as HTTP/1.0 is served: the refusal is the version's. */
	n = snprintf(req, sizeof(req), "GET /api/v1/openapi.yaml HTTP/1.0\r\n\r\n");
	raw(req, (size_t)n, resp, sizeof(resp));
	assert_int_equal(atoi(resp + 9), 200);
}

/*
 * A body that stops arriving (client_body_timeout, 10 s): nginx closes the connection
 * without an answer (measured); if it ever answers, the answer must be the JSON 408.
 */
static void
test_slow_body_408(void **state)
{
	char	auth[2048], email[128], req[4096], resp[4096];
	int	n;

	(void)state;
	snprintf(email, sizeof(email), "gw-slow-%s@example.com", uniq);
	it_login(email, PASSWORD, auth, sizeof(auth));
	n = snprintf(req, sizeof(req), "POST /api/v1/orders HTTP/1.1\r\nHost: x\r\n%s\r\n"
	    "Idempotency-Key: slow-%s\r\nContent-Type: application/json\r\n"
	    "Content-Length: 10\r\n\r\n{\"", auth, uniq);
	raw(req, (size_t)n, resp, sizeof(resp));
	if (resp[0] != '\0')
		assert_json_error(resp, 408, "request_timeout");
}

static void
checkout(const char *auth, const char *extra, long *status)
{
	const char	*h[4];
	char		 key[96];
	struct it_resp	 r;

	snprintf(key, sizeof(key), "Idempotency-Key: gw-%s-%ld", uniq, (long)time(NULL) ^ random());
	h[0] = auth;
	h[1] = key;
	h[2] = extra;
	h[3] = NULL;
	assert_int_equal(it_request("POST", it_gateway(), "/api/v1/orders", h,
	    "{\"items\":[{\"product_id\":7,\"quantity\":1}],\"card\":{\"number\":\"4242424242424242\","
	    "\"exp_month\":12,\"exp_year\":2031,\"cvc\":\"123\"}}", &r), 0);
	*status = r.status;
	if (r.status != 201)
		fprintf(stderr, "checkout: %ld %s\n", r.status, r.body);
	it_resp_free(&r);
}

/* A public client's X-Deadline-Ms is not obeyed: a 0 ms deadline still checks out. */
static void
test_public_deadline_ignored(void **state)
{
	char	auth[2048], email[128];
	long	status;

	(void)state;
	snprintf(email, sizeof(email), "gw-dl-%s@example.com", uniq);
	it_login(email, PASSWORD, auth, sizeof(auth));
	checkout(auth, "X-Deadline-Ms: 0", &status);
	assert_int_equal(status, 201);
	checkout(auth, "X-Deadline-Ms: 1", &status);
	assert_int_equal(status, 201);
}

/* The service token is compared exactly: the same token upper-cased is refused. */
static void
test_service_token_exact(void **state)
{
	const char	*tok = it_env("SHOPLAB_SERVICE_TOKEN");
	char		 good[160], upper[160];
	const char	*h[2] = { NULL, NULL };
	size_t		 i;

	(void)state;
	snprintf(good, sizeof(good), "X-Service-Token: %s", tok);
	snprintf(upper, sizeof(upper), "X-Service-Token: %s", tok);
	for (i = strlen("X-Service-Token: "); upper[i] != '\0'; i++)
		upper[i] = (char)toupper((unsigned char)upper[i]);
	assert_string_not_equal(good, upper);
	h[0] = good;
	it_expect("GET", it_internal(), "/internal/catalog/products/1", h, NULL, 200, NULL);
	h[0] = upper;
	it_expect("GET", it_internal(), "/internal/catalog/products/1", h, NULL, 401,
	    "unauthorized");
}

/* When the stack runs as root, nginx's workers do not. */
static void
test_workers_unprivileged(void **state)
{
	char		 path[512], line[256];
	DIR		*d;
	struct dirent	*e;
	FILE		*f;
	pid_t		 master = it_pid("nginx");
	int		 workers = 0;
	long		 ppid, uid;

	(void)state;
	if (geteuid() != 0) {
		printf("# not root: nginx runs as this user\n");
		skip();
	}
	assert_true(master > 0);
	assert_non_null(d = opendir("/proc"));
	while ((e = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/status", e->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		ppid = uid = -1;
		while (fgets(line, sizeof(line), f) != NULL) {
			if (strncmp(line, "PPid:", 5) == 0)
				ppid = strtol(line + 5, NULL, 10);
			else if (strncmp(line, "Uid:", 4) == 0)
				uid = strtol(line + 4, NULL, 10);
		}
		fclose(f);
		if (ppid == master) {
			workers++;
			assert_true(uid > 0);
		}
	}
	closedir(d);
	assert_true(workers >= 1);
}

/* The pid in run/name when name is one of the stack's pid files (not nginx's), else 0. */
static long
stack_pid(const char *run, const char *name)
{
	char	 path[1200], line[64];
	size_t	 n = strlen(name);
	FILE	*f;
	long	 pid;

	if (n < 5 || strcmp(name + n - 4, ".pid") != 0 || strcmp(name, "nginx.pid") == 0)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", run, name);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	pid = fgets(line, sizeof(line), f) != NULL ? strtol(line, NULL, 10) : 0;
	fclose(f);
	return pid;
}

/*
 * When the stack runs as root, nothing of it does but nginx's master: every process a pid
 * file of the run dir names (services, MariaDB, RabbitMQ, epmd, the sim proxy) and all their
 * descendants (RabbitMQ's beam) run as another user.
 */
static void
test_nothing_runs_as_root(void **state)
{
	long		*ppid_of, *uid_of, *seen, maxp = 32768;
	size_t		 nseen = 0, i;
	char		 path[1200], line[256];
	const char	*run = it_env("SHOPLAB_RUN");
	DIR		*d;
	struct dirent	*e;
	FILE		*f;
	long		 pid, p, q, checked = 0;

	(void)state;
	if (geteuid() != 0) {
		printf("# not root: the stack runs as this user\n");
		skip();
	}
	/* Every pid the kernel can hand out: a busy machine or container gets past 32768. */
	if ((f = fopen("/proc/sys/kernel/pid_max", "r")) != NULL) {
		if (fgets(line, sizeof(line), f) != NULL && (p = strtol(line, NULL, 10)) > maxp)
			maxp = p;
		fclose(f);
	}
	if (maxp > 4194304)
		maxp = 4194304;
	assert_non_null(ppid_of = calloc((size_t)maxp, sizeof(*ppid_of)));
	assert_non_null(uid_of = calloc((size_t)maxp, sizeof(*uid_of)));
	/* The pids that exist, so that each stack process walks those, not every possible pid. */
	assert_non_null(seen = calloc((size_t)maxp, sizeof(*seen)));
	assert_non_null(d = opendir("/proc"));
	while ((e = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)e->d_name[0]) || (p = atol(e->d_name)) >= maxp)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/status", e->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		ppid_of[p] = -1;
		uid_of[p] = -1;
		seen[nseen++] = p;
		while (fgets(line, sizeof(line), f) != NULL) {
			if (strncmp(line, "PPid:", 5) == 0)
				ppid_of[p] = strtol(line + 5, NULL, 10);
			else if (strncmp(line, "Uid:", 4) == 0)
				uid_of[p] = strtol(line + 4, NULL, 10);
		}
		fclose(f);
	}
	closedir(d);
	assert_non_null(d = opendir(run));
	while ((e = readdir(d)) != NULL) {
		pid = stack_pid(run, e->d_name);
		if (pid <= 1 || pid >= maxp || ppid_of[pid] == 0)
			continue;
		/* The process, and every process whose ancestry reaches it. */
		for (i = 0; i < nseen; i++) {
			if ((p = seen[i]) < 2)
				continue;
			for (q = p; q > 1 && q < maxp && q != pid; q = ppid_of[q])
				;
			if (q != pid)
				continue;
			if (uid_of[p] == 0)
				fprintf(stderr, "%s: pid %ld runs as root\n", e->d_name, p);
			assert_true(uid_of[p] > 0);
			checked++;
		}
	}
	closedir(d);
	free(ppid_of);
	free(uid_of);
	free(seen);
	/* At least the six services, MariaDB and RabbitMQ. */
	printf("# %ld processes of the stack checked: none runs as root\n", checked);
	assert_true(checked >= 8);
}

/* 1 when process pid's environment has a variable name (NAME=...). */
static int
env_has(long pid, const char *name)
{
	static char	 buf[1 << 17];
	char		 path[64];
	size_t		 n, i, len = strlen(name);
	FILE		*f;

	snprintf(path, sizeof(path), "/proc/%ld/environ", pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	for (i = 0; i < n; i += strlen(buf + i) + 1)
		if (strncmp(buf + i, name, len) == 0 && buf[i + len] == '=')
			return 1;
	return 0;
}

/*
 * Each secret stays with what needs it: of the stack's processes (its pid files), only users
 * has the token-signing key and the admin password in its environment, only orders the
 * card-sealing key; MariaDB, RabbitMQ, epmd and the sim proxy have none of shoplab.env's secrets.
 */
static void
test_secrets_stay_home(void **state)
{
	const char	*run = it_env("SHOPLAB_RUN");
	DIR		*d;
	struct dirent	*e;
	long		 pid;
	int		 seen = 0, users, orders, svc;

	(void)state;
	assert_non_null(d = opendir(run));
	while ((e = readdir(d)) != NULL) {
		pid = stack_pid(run, e->d_name);
		if (pid <= 1 || !it_running((pid_t)pid))
			continue;
		users = strncmp(e->d_name, "users", 5) == 0;
		orders = strncmp(e->d_name, "orders", 6) == 0;
		svc = !(strncmp(e->d_name, "mariadb.", 8) == 0 || strncmp(e->d_name, "rabbitmq.", 9) == 0 ||
		    strncmp(e->d_name, "epmd.", 5) == 0 || strncmp(e->d_name, "sim.", 4) == 0);
		if (env_has(pid, "SHOPLAB_JWT_SECRET") != users ||
		    env_has(pid, "SHOPLAB_ADMIN_PASSWORD") != users ||
		    env_has(pid, "SHOPLAB_CARD_KEY") != orders ||
		    env_has(pid, "SHOPLAB_GATEWAY_SECRET") != svc ||
		    env_has(pid, "SHOPLAB_DB_CATALOG_PASSWORD") != (strncmp(e->d_name, "catalog", 7) == 0))
			fprintf(stderr, "%s (pid %ld): secrets that are not its own, or not its own\n",
			    e->d_name, pid);
		assert_int_equal(env_has(pid, "SHOPLAB_JWT_SECRET"), users);
		assert_int_equal(env_has(pid, "SHOPLAB_ADMIN_PASSWORD"), users);
		assert_int_equal(env_has(pid, "SHOPLAB_CARD_KEY"), orders);
		assert_int_equal(env_has(pid, "SHOPLAB_GATEWAY_SECRET"), svc);
		assert_int_equal(env_has(pid, "SHOPLAB_DB_CATALOG_PASSWORD"),
		    strncmp(e->d_name, "catalog", 7) == 0);
		seen++;
	}
	closedir(d);
	assert_true(seen >= 8);
}

static void
login_status(const char *email, const char *password, struct it_resp *r)
{
	char body[512];

	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}", email, password);
	assert_int_equal(it_request("POST", it_gateway(), "/api/v1/auth/login", NULL, body, r), 0);
}

/*
 * Per account: 10 failures in a minute, then 429 with Retry-After even for the right
 * password; an unknown email is limited alike; another account is not affected.
 */
static void
test_login_limited_per_account(void **state)
{
	char		 auth[2048], victim[128], other[128], unknown[128], ra[32];
	struct it_resp	 r, ru;
	int		 i;

	(void)state;
	snprintf(victim, sizeof(victim), "gw-victim-%s@example.com", uniq);
	snprintf(other, sizeof(other), "gw-other-%s@example.com", uniq);
	snprintf(unknown, sizeof(unknown), "gw-nobody-%s@example.com", uniq);
	it_login(victim, PASSWORD, auth, sizeof(auth));
	it_login(other, PASSWORD, auth, sizeof(auth));
	for (i = 0; i < 10; i++) {
		login_status(victim, "wrong-password", &r);
		it_refused(&r, 401, "invalid_credentials");
		login_status(unknown, "wrong-password", &r);
		it_refused(&r, 401, "invalid_credentials");
		usleep(100000);		/* under the per-address limit */
	}
	login_status(victim, PASSWORD, &r);
	it_assert_error(&r, 429, "rate_limited");
	assert_true(it_header(&r, "Retry-After", ra, sizeof(ra)));
	assert_true(atoi(ra) >= 1 && atoi(ra) <= 60);
	/* The unknown email: the same answer, so the limit tells nothing about who exists. */
	login_status(unknown, "wrong-password", &ru);
	it_assert_error(&ru, 429, "rate_limited");
	assert_string_equal(it_str(&ru, "error.message"), it_str(&r, "error.message"));
	it_resp_free(&ru);
	it_resp_free(&r);
	login_status(other, PASSWORD, &r);
	assert_int_equal(r.status, 200);
	it_resp_free(&r);
}

/* nginx's 429 (the per-address limit) carries Retry-After. */
static void
test_429_retry_after(void **state)
{
	struct it_resp	r;
	char		ra[32];
	int		i, seen = 0;

	(void)state;
	for (i = 0; i < 200 && !seen; i++) {
		assert_int_equal(it_request("POST", it_gateway(), "/api/v1/auth/login", NULL, "{", &r), 0);
		if (r.status == 429) {
			it_assert_error(&r, 429, "rate_limited");
			assert_true(it_header(&r, "Retry-After", ra, sizeof(ra)));
			assert_true(atoi(ra) >= 1);
			seen = 1;
		}
		it_resp_free(&r);
	}
	assert_true(seen);
	/* Let the limit refill (LOGIN_BURST at LOGIN_RATE: 2 s in the suite) for the next suites. */
	sleep(3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_own_errors_are_json),
		cmocka_unit_test(test_every_status_json),
		cmocka_unit_test(test_http09_refused),
		cmocka_unit_test(test_public_deadline_ignored),
		cmocka_unit_test(test_service_token_exact),
		cmocka_unit_test(test_workers_unprivileged),
		cmocka_unit_test(test_nothing_runs_as_root),
		cmocka_unit_test(test_secrets_stay_home),
		cmocka_unit_test(test_login_limited_per_account),
		cmocka_unit_test(test_slow_body_408),
		/* Drains the per-address login limit: keep last. */
		cmocka_unit_test(test_429_retry_after),
	};

	snprintf(uniq, sizeof(uniq), "%ld-%ld", (long)getpid(), (long)time(NULL));
	srandom((unsigned)getpid());
	return cmocka_run_group_tests_name("integration/gateway", tests, NULL, NULL);
}
