/* itest.c - HTTP helpers for integration tests: libcurl requests, JSON bodies, error shape */
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <curl/curl.h>
#include <mysql.h>

#include "itest.h"
#include "sim_check.h"

const char *
it_env(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL || *v == '\0') {
		fprintf(stderr, "itest: %s is not set (run through scripts/run-tests.sh)\n", name);
		exit(2);
	}
	return v;
}

size_t
it_services(char names[][IT_SVC_NAME], size_t max)
{
	const char	*p = it_env("SHOPLAB_SERVICES");
	size_t		 n = 0, len;

	while (*p != '\0' && n < max) {
		while (*p == ' ')
			p++;
		len = strcspn(p, " ");
		if (len == 0)
			break;
		if (len >= IT_SVC_NAME) {
			fprintf(stderr, "itest: a name in SHOPLAB_SERVICES is too long\n");
			exit(2);
		}
		memcpy(names[n], p, len);
		names[n++][len] = '\0';
		p += len;
	}
	return n;
}

const char *
it_gateway(void)
{
	return it_env("SHOPLAB_GATEWAY_URL");
}

const char *
it_internal(void)
{
	return it_env("SHOPLAB_GATEWAY_INTERNAL");
}

struct it_sink {
	char	*p;
	size_t	 len;
};

static size_t
it_write(char *data, size_t size, size_t n, void *arg)
{
	struct it_sink	*s = arg;
	size_t		 add = size * n;
	char		*p = realloc(s->p, s->len + add + 1);

	if (p == NULL)
		return 0;
	memcpy(p + s->len, data, add);
	s->p = p;
	s->len += add;
	s->p[s->len] = '\0';
	return add;
}

int
it_request(const char *method, const char *base, const char *path,
    const char *const *headers, const char *body, struct it_resp *resp)
{
	struct it_sink		 b = { NULL, 0 }, h = { NULL, 0 };
	struct curl_slist	*hl = NULL;
	char			 url[4096];
	CURL			*c;
	CURLcode		 cc;
	int			 rc = -1;
	size_t			 i;

	memset(resp, 0, sizeof(*resp));
	snprintf(resp->what, sizeof(resp->what), "%s %s", method, path);
	snprintf(url, sizeof(url), "%s%s", base, path);
	if ((c = curl_easy_init()) == NULL)
		return -1;
	for (i = 0; headers != NULL && headers[i] != NULL; i++)
		hl = curl_slist_append(hl, headers[i]);
	if (body != NULL && !(headers != NULL && headers[0] != NULL &&
	    strncasecmp(headers[0], "Content-Type:", 13) == 0))
		hl = curl_slist_append(hl, "Content-Type: application/json");
	hl = curl_slist_append(hl, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, it_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, it_write);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if ((cc = curl_easy_perform(c)) != CURLE_OK) {
		fprintf(stderr, "itest: %s %s: %s\n", method, url, curl_easy_strerror(cc));
		free(b.p);
		free(h.p);
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
	curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &resp->seconds);
	resp->body = b.p ? b.p : strdup("");
	resp->len = b.len;
	resp->headers = h.p ? h.p : strdup("");
	if (resp->len > 0)
		resp->json = json_tokener_parse(resp->body);
	rc = 0;
out:
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	return rc;
}

void
it_resp_free(struct it_resp *resp)
{
	free(resp->body);
	free(resp->headers);
	json_object_put(resp->json);
	memset(resp, 0, sizeof(*resp));
}

int
it_header(const struct it_resp *resp, const char *name, char *out, size_t outlen)
{
	const char	*p = resp->headers;
	size_t		 nlen = strlen(name);

	while (p != NULL && *p != '\0') {
		const char *eol = strstr(p, "\r\n");
		size_t linelen = eol ? (size_t)(eol - p) : strlen(p);

		if (linelen > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
			const char *v = p + nlen + 1;
			size_t vlen;

			while (*v == ' ')
				v++;
			vlen = linelen - (size_t)(v - p);
			if (vlen >= outlen)
				vlen = outlen - 1;
			memcpy(out, v, vlen);
			out[vlen] = '\0';
			return 1;
		}
		p = eol ? eol + 2 : NULL;
	}
	return 0;
}

json_object *
it_get(const struct it_resp *resp, const char *path)
{
	char		 key[128];
	json_object	*cur = resp->json, *next;
	const char	*p = path, *dot;

	while (cur != NULL && *p != '\0') {
		dot = strchr(p, '.');
		snprintf(key, sizeof(key), "%.*s", dot ? (int)(dot - p) : (int)strlen(p), p);
		if (!json_object_object_get_ex(cur, key, &next))
			return NULL;
		cur = next;
		p = dot ? dot + 1 : p + strlen(p);
	}
	return cur;
}

const char *
it_str(const struct it_resp *resp, const char *path)
{
	json_object *o = it_get(resp, path);

	return o != NULL && json_object_is_type(o, json_type_string) ?
	    json_object_get_string(o) : NULL;
}

int64_t
it_int(const struct it_resp *resp, const char *path)
{
	json_object *o = it_get(resp, path);

	return o != NULL && json_object_is_type(o, json_type_int) ?
	    json_object_get_int64(o) : INT64_MIN;
}

void
it_assert_error(const struct it_resp *resp, long status, const char *code)
{
	char		 ctype[128], rid[128];
	const char	*got;

	got = it_str(resp, "error.code");
	if (resp->status != status || got == NULL || strcmp(got, code) != 0)
		fprintf(stderr, "itest: %s: want %ld %s, got %ld: %s\n", resp->what, status, code,
		    resp->status, resp->body != NULL ? resp->body : "");
	assert_int_equal(resp->status, status);
	assert_true(it_header(resp, "Content-Type", ctype, sizeof(ctype)));
	assert_non_null(strstr(ctype, "application/json"));
	assert_non_null(resp->json);
	assert_non_null(got);
	assert_string_equal(got, code);
	assert_non_null(it_str(resp, "error.message"));
	assert_non_null(it_str(resp, "error.request_id"));
	assert_true(it_header(resp, "X-Request-Id", rid, sizeof(rid)));
	assert_string_equal(rid, it_str(resp, "error.request_id"));
}

void
it_expect(const char *method, const char *base, const char *path,
    const char *const *headers, const char *body, long status, const char *code)
{
	struct it_resp r;

	if (it_request(method, base, path, headers, body, &r) != 0)
		fail_msg("%s %s: no answer", method, path);
	if (code != NULL) {
		it_refused(&r, status, code);
		return;
	}
	if (r.status != status)
		fail_msg("%s: %ld %s, want %ld", r.what, r.status, r.body != NULL ? r.body : "",
		    status);
	it_resp_free(&r);
}

void
it_assert_status(const struct it_resp *resp, long status)
{
	if (resp->status != status)
		fprintf(stderr, "itest: %s: want %ld, got %ld: %s\n", resp->what, status,
		    resp->status, resp->body != NULL ? resp->body : "");
	assert_int_equal(resp->status, status);
}

void
it_expect_token_required(const char *path, const char *body, const char *member)
{
	static const char *const wrong[] = { "X-Service-Token: not-the-token", NULL };

	it_expect("POST", it_internal(), path, NULL, body, 401, "unauthorized");
	it_expect("POST", it_internal(), path, wrong, body, 401, "unauthorized");
	it_expect("GET", it_internal(), member, wrong, NULL, 401, "unauthorized");
}

void
it_refused(struct it_resp *resp, long status, const char *code)
{
	it_assert_error(resp, status, code);
	it_resp_free(resp);
}

int
it_sh(const char *fmt, ...)
{
	char	cmd[2048];
	va_list	ap;
	int	rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	return rc == -1 ? -1 : WEXITSTATUS(rc);
}

struct st_mysql *
it_db(const char *svc)
{
	char	 var[64], up[32];
	MYSQL	*db;
	size_t	 i;

	for (i = 0; svc[i] != '\0' && i < sizeof(up) - 1; i++)
		up[i] = (char)(svc[i] >= 'a' && svc[i] <= 'z' ? svc[i] - 32 : svc[i]);
	up[i] = '\0';
	if ((db = mysql_init(NULL)) == NULL)
		return NULL;
	snprintf(var, sizeof(var), "SHOPLAB_DB_%s_PASSWORD", up);
	{
		char uvar[64];

		snprintf(uvar, sizeof(uvar), "SHOPLAB_DB_%s_USER", up);
		if (mysql_real_connect(db, it_env("SHOPLAB_DB_HOST"), it_env(uvar), it_env(var), svc,
		    (unsigned)atoi(it_env("SHOPLAB_DB_PORT")), NULL, 0) == NULL) {
			fprintf(stderr, "itest: db %s: %s\n", svc, mysql_error(db));
			mysql_close(db);
			return NULL;
		}
	}
	return db;
}

int64_t
it_db_int(struct st_mysql *db, const char *fmt, ...)
{
	char		 sql[2048];
	va_list		 ap;
	MYSQL_RES	*res;
	MYSQL_ROW	 row;
	int64_t		 v = INT64_MIN;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	if (mysql_query(db, sql) != 0) {
		fprintf(stderr, "itest: %s: %s\n", sql, mysql_error(db));
		return INT64_MIN;
	}
	if ((res = mysql_store_result(db)) == NULL)
		return INT64_MIN;
	if ((row = mysql_fetch_row(res)) != NULL && row[0] != NULL)
		v = strtoll(row[0], NULL, 10);
	mysql_free_result(res);
	return v;
}

const char *
it_login(const char *email, const char *password, char *line, size_t linelen)
{
	char		body[512];
	struct it_resp	r;

	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\",\"name\":\"Test\"}",
	    email, password);
	if (it_request("POST", it_gateway(), "/api/v1/users", NULL, body, &r) == 0)
		it_resp_free(&r);
	if (it_request("POST", it_gateway(), "/api/v1/auth/login", NULL, body, &r) != 0)
		return NULL;
	if (r.status != 200 || it_str(&r, "token") == NULL) {
		fprintf(stderr, "itest: login %s: %ld %s\n", email, r.status, r.body);
		it_resp_free(&r);
		return NULL;
	}
	snprintf(line, linelen, "Authorization: Bearer %s", it_str(&r, "token"));
	it_resp_free(&r);
	return line;
}

void
it_parallel(void *(*fn)(void *), void *args, size_t n, size_t size)
{
	pthread_t	*t = calloc(n, sizeof(*t));
	size_t		 i;

	assert_non_null(t);
	for (i = 0; i < n; i++)
		assert_int_equal(pthread_create(&t[i], NULL, fn, (char *)args + i * size), 0);
	for (i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	free(t);
}

long
it_run_id(void)
{
	return (long)time(NULL) * 100 + getpid() % 100;
}

void
it_login_new(const char *who, long run_id, const char *password, char *line, size_t linelen)
{
	char email[128];

	snprintf(email, sizeof(email), "%s-%ld@example.com", who, run_id);
	if (it_login(email, password, line, linelen) == NULL)
		fail_msg("login as %s failed", email);
}

void
it_login_admin(char *line, size_t linelen)
{
	if (it_login(it_env("SHOPLAB_ADMIN_EMAIL"), it_env("SHOPLAB_ADMIN_PASSWORD"), line,
	    linelen) == NULL)
		fail_msg("login as the admin failed");
}

/*
 * The invariants of docs/architecture.md, checked by sim check's own reader and evaluator (one checker
 * for the simulator and the suites) against the test stack's databases: no pending order; a
 * confirmed order has one captured charge of its total, a committed reservation and sold
 * exactly its items; a rejected one keeps no money and no stock; stock is conserved per
 * product, matches its reservations, and nothing stays held. The payments and inventory
 * suites call those services directly with made-up order ids of 10^15 and more: the scope
 * ends at the highest order the orders service made (their stock moves are still checked).
 */
void
it_check_invariants(void)
{
	struct sim_ck_data	d;
	struct sim_ck_result	r;
	char			err[512];
	int			rc;

	memset(&d, 0, sizeof(d));
	if (sim_check_read_db(&d, err, sizeof(err)) != 0) {
		sim_check_data_free(&d);
		fail_msg("invariants: %s", err);
	}
	d.after_drain = true;
	d.max_order_id = 1;
	for (size_t i = 0; i < d.norders; i++)
		if (d.orders[i].id > d.max_order_id)
			d.max_order_id = d.orders[i].id;
	rc = sim_check_eval(&d, &r);
	if (rc == 0 && !r.ok)
		sim_check_print(&r, stderr);
	sim_check_data_free(&d);
	assert_int_equal(rc, 0);
	assert_true(r.ok);
}

pid_t
it_pid(const char *name)
{
	char	path[512];
	FILE	*f;
	long	pid = 0;

	snprintf(path, sizeof(path), "%s/%s.pid", it_env("SHOPLAB_RUN"), name);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = 0;
	fclose(f);
	return (pid_t)pid;
}

/* One FastCGI record header: version 1, type, request id 1, content length, no padding. */
static int
it_fcgi_record(int fd, unsigned char type, const unsigned char *data, size_t len)
{
	unsigned char h[8] = { 1, type, 0, 1, (unsigned char)(len >> 8), (unsigned char)len, 0, 0 };

	if (write(fd, h, sizeof(h)) != (ssize_t)sizeof(h))
		return -1;
	if (len > 0 && write(fd, data, len) != (ssize_t)len)
		return -1;
	return 0;
}

static int
it_fcgi_connect(const char *spec)
{
	struct sockaddr_un	 sun;
	struct sockaddr_in	 sin;
	char			 host[64];
	const char		*colon;
	int			 fd, e;

	if (strncmp(spec, "unix:", 5) == 0) {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", spec + 5);
		if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
			return -errno;
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
			goto fail;
		return fd;
	}
	if ((colon = strrchr(spec, ':')) == NULL || (size_t)(colon - spec) >= sizeof(host))
		return -EINVAL;
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = '\0';
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
		return -EINVAL;
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		goto fail;
	return fd;
fail:
	e = errno;
	close(fd);
	return -e;
}

int
it_fcgi(const char *spec, const char *const *params, char *out, size_t outlen)
{
	static const unsigned char begin[8] = { 0, 1, 0, 0, 0, 0, 0, 0 };	/* responder */
	unsigned char	 buf[8192], h[8];
	size_t		 n = 0, i, nl, vl, used = 0;
	const char	*eq, *st;
	ssize_t		 got;
	int		 fd, status = -EPROTO;

	if (outlen > 0)
		out[0] = '\0';
	if ((fd = it_fcgi_connect(spec)) < 0)
		return fd;
	for (i = 0; params[i] != NULL; i++) {
		if ((eq = strchr(params[i], '=')) == NULL)
			continue;
		nl = (size_t)(eq - params[i]);
		vl = strlen(eq + 1);
		if (nl > 127 || vl > 127 || n + 2 + nl + vl > sizeof(buf))
			goto out;
		buf[n++] = (unsigned char)nl;
		buf[n++] = (unsigned char)vl;
		memcpy(buf + n, params[i], nl);
		n += nl;
		memcpy(buf + n, eq + 1, vl);
		n += vl;
	}
	if (it_fcgi_record(fd, 1, begin, sizeof(begin)) == -1 ||
	    it_fcgi_record(fd, 4, buf, n) == -1 || it_fcgi_record(fd, 4, NULL, 0) == -1 ||
	    it_fcgi_record(fd, 5, NULL, 0) == -1)
		goto out;
	for (;;) {
		size_t len, pad, off = 0;

		for (off = 0; off < 8; off += (size_t)got)
			if ((got = read(fd, h + off, 8 - off)) <= 0)
				goto out;
		len = (size_t)h[4] << 8 | h[5];
		pad = h[6];
		for (off = 0; off < len + pad; off += (size_t)got)
			if ((got = read(fd, buf + off, len + pad - off)) <= 0)
				goto out;
		if (h[1] == 3)		/* END_REQUEST */
			break;
		if (h[1] == 6 && used + len < outlen) {	/* STDOUT */
			memcpy(out + used, buf, len);
			used += len;
			out[used] = '\0';
		}
	}
	status = 200;
	if ((st = strstr(out, "Status: ")) != NULL)
		status = atoi(st + 8);
out:
	close(fd);
	return status;
}

int
it_running(pid_t pid)
{
	char	path[64], buf[256], *p;
	FILE	*f;
	int	running = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	if (fgets(buf, sizeof(buf), f) != NULL && (p = strrchr(buf, ')')) != NULL && p[1] == ' ')
		running = p[2] != 'Z' && p[2] != 'X';
	fclose(f);
	return running;
}

void
it_restart(const char *svc, const char *env)
{
	pid_t	pid = it_pid(svc);
	int	i;

	assert_true(pid > 0);
	assert_int_equal(kill(pid, SIGTERM), 0);
	for (i = 0; i < 200 && it_running(pid); i++)
		usleep(50000);
	assert_false(it_running(pid));
	assert_int_equal(it_sh("%s \"$SHOPLAB_TOP/scripts/stack.sh\" up >&2", env), 0);
}

int
it_test_hooks(const char *svc)
{
	return it_sh("\"$SHOPLAB_BUILD/bin/%s\" --version | grep -q 'test hooks'", svc) == 0;
}

int64_t
it_wait_db(const char *svc, int64_t want, int secs, const char *fmt, ...)
{
	MYSQL	*db = it_db(svc);
	char	 sql[1024];
	va_list	 ap;
	int64_t	 v = INT64_MIN;
	int	 i;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	assert_non_null(db);
	for (i = 0; i < secs * 10; i++) {
		if ((v = it_db_int(db, "%s", sql)) == want)
			break;
		usleep(100000);
	}
	mysql_close(db);
	return v;
}

double
it_metric(const char *svc, const char *name)
{
	struct it_resp	 r;
	char		 path[128], key[256];
	const char	*p;
	double		 v = -1;

	snprintf(path, sizeof(path), "/_ops/%s/metrics", svc);
	if (strchr(name, '{') != NULL)
		snprintf(key, sizeof(key), "\n%s ", name);
	else
		snprintf(key, sizeof(key), "\n%s{service=\"%s\"} ", name, svc);
	if (it_request("GET", it_internal(), path, NULL, NULL, &r) == 0 && r.status == 200 &&
	    (p = strstr(r.body, key)) != NULL)
		v = strtod(p + strlen(key), NULL);
	it_resp_free(&r);
	return v;
}

void
it_amqp_publish(const char *user, const char *pw_var, const char *rkey, const char *body)
{
	amqp_connection_state_t	 c;
	amqp_socket_t		*s;
	amqp_basic_properties_t	 p;
	amqp_rpc_reply_t	 x;

	assert_non_null(c = amqp_new_connection());
	assert_non_null(s = amqp_tcp_socket_new(c));
	assert_int_equal(amqp_socket_open(s, it_env("SHOPLAB_AMQP_HOST"),
	    atoi(it_env("SHOPLAB_AMQP_PORT"))), 0);
	x = amqp_login(c, "shoplab", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, user, it_env(pw_var));
	assert_int_equal(x.reply_type, AMQP_RESPONSE_NORMAL);
	assert_non_null(amqp_channel_open(c, 1));
	assert_int_equal(amqp_get_rpc_reply(c).reply_type, AMQP_RESPONSE_NORMAL);
	/* Confirms, so the message is in the queue when this returns. */
	assert_non_null(amqp_confirm_select(c, 1));
	assert_int_equal(amqp_get_rpc_reply(c).reply_type, AMQP_RESPONSE_NORMAL);
	memset(&p, 0, sizeof(p));
	p._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
	p.delivery_mode = 2;
	assert_int_equal(amqp_basic_publish(c, 1, amqp_cstring_bytes("shoplab.events"),
	    amqp_cstring_bytes(rkey), 0, 0, &p, amqp_cstring_bytes(body)), AMQP_STATUS_OK);
	for (;;) {
		amqp_frame_t	f;
		struct timeval	tv = { 5, 0 };

		assert_int_equal(amqp_simple_wait_frame_noblock(c, &f, &tv), AMQP_STATUS_OK);
		if (f.frame_type == AMQP_FRAME_METHOD &&
		    f.payload.method.id == AMQP_BASIC_ACK_METHOD)
			break;
		assert_int_not_equal(f.payload.method.id, AMQP_BASIC_NACK_METHOD);
	}
	amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
	amqp_connection_close(c, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(c);
}
