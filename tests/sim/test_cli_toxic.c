/* test_cli_toxic.c - `sim toxic` against a running sim proxy: each command, its messages, exit statuses and where it finds the API */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli.h"
#include "simtest.h"

struct fixture {
	struct simtest_server srv;
	struct simtest_upstream echo;
	int port;                       /* the proxy "web" in front of echo */
	char host[64];                  /* "127.0.0.1:<api port>" */
	char *out, *err;
	size_t outlen, errlen;
};

static int setup(void **state)
{
	static struct fixture f;

	memset(&f, 0, sizeof(f));
	if (unsetenv("SHOPLAB_PROXY_API") != 0 || setenv("SHOPLAB_RUN", "/nonexistent", 1) != 0 ||
	    simtest_upstream_start(&f.echo, UP_ECHO, 0) != 0 ||
	    simtest_server_start(&f.srv, 5, NULL) != 0)
		return -1;
	snprintf(f.host, sizeof(f.host), "127.0.0.1:%d", f.srv.port);
	f.port = simtest_proxy(&f.srv, "web", f.echo.port);
	if (f.port <= 0)
		return -1;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	simtest_server_stop(&f->srv);
	simtest_upstream_stop(&f->echo);
	free(f->out);
	free(f->err);
	f->out = f->err = NULL;
	return 0;
}

/* Runs `sim toxic ARGS...` (NULL-ended) in-process; its stdout and stderr land in f->out and
 * f->err. Returns the exit status. */
static int toxic(struct fixture *f, ...)
{
	char *argv[32];
	int argc = 0, rc;
	va_list ap;
	FILE *out, *err;

	free(f->out);
	free(f->err);
	f->out = f->err = NULL;
	argv[argc++] = "toxic";
	va_start(ap, f);
	for (char *a; argc < 31 && (a = va_arg(ap, char *)) != NULL;)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	out = open_memstream(&f->out, &f->outlen);
	err = open_memstream(&f->err, &f->errlen);
	assert_non_null(out);
	assert_non_null(err);
	rc = sim_toxic_run(argc, argv, out, err);
	assert_int_equal(fclose(out), 0);
	assert_int_equal(fclose(err), 0);
	return rc;
}

/* ms for "ping\n" to come back through the proxy */
static long echo_rtt(int port)
{
	char buf[8];
	int fd = simtest_connect(port);
	uint64_t t0;
	long ms;

	assert_true(fd >= 0);
	assert_int_equal(simtest_read(fd, buf, 6, 3000, NULL), 6);
	t0 = simtest_now_ms();
	assert_int_equal(simtest_write_all(fd, "ping\n", 5), 0);
	assert_int_equal(simtest_read(fd, buf, 5, 3000, NULL), 5);
	ms = (long)(simtest_now_ms() - t0);
	close(fd);
	return ms;
}

static void test_add_inspect_update_remove(void **state)
{
	struct fixture *f = *state;
	char body[4096];

	assert_int_equal(toxic(f, "--host", f->host, "add", "-t", "latency", "-a", "latency=300",
	                       "-a", "jitter=0", "--downstream", "web", NULL), 0);
	assert_string_equal(f->out, "Added downstream latency toxic 'latency_downstream' on proxy "
	                    "'web': toxicity=1 latency=300 jitter=0\n");
	assert_string_equal(f->err, "");
	assert_in_range(echo_rtt(f->port), 290, 1000);  /* the toxic is really on */
	assert_int_equal(toxic(f, "--host", f->host, "update", "-n", "latency_downstream", "-a",
	                       "latency=0", "web", NULL), 0);
	assert_string_equal(f->out, "Updated downstream latency toxic 'latency_downstream' on proxy "
	                    "'web': toxicity=1 latency=0 jitter=0\n");
	assert_true(echo_rtt(f->port) < 100);
	assert_int_equal(toxic(f, "--host", f->host, "update", "-n", "latency_downstream", "-a",
	                       "latency=300", "web", NULL), 0);

	/* options after the proxy, long names, a string attribute, a toxicity (a FastCGI toxic:
	 * the echo's plain bytes would wait for a whole record from here on) */
	assert_int_equal(toxic(f, "add", "web", "--host", f->host, "--type", "fcgi_abort",
	                       "--toxicName", "abort", "--tox", "0.25", "-a", "code=payments_down",
	                       "-a", "first=3", NULL), 0);
	assert_int_equal(simtest_http(f->srv.port, "GET", "/proxies/web/toxics/abort", NULL, body,
	                              sizeof(body)), 200);
	assert_true(simtest_has(body, "\"code\":\"payments_down\""));
	assert_true(simtest_has(body, "\"first\":3"));
	assert_true(simtest_has(body, "\"toxicity\":0.25"));
	assert_true(simtest_has(body, "\"stream\":\"upstream\""));

	assert_int_equal(toxic(f, "--host", f->host, "inspect", "web", NULL), 0);
	assert_true(simtest_has(f->out, "web  listen 127.0.0.1:"));
	assert_true(simtest_has(f->out, "enabled\nupstream (client -> upstream) toxics:\n  abort "));
	assert_true(simtest_has(f->out, "downstream (upstream -> client) toxics:\n"
	                                "  latency_downstream "));
	assert_true(simtest_has(f->out, "latency=300 jitter=0\n"));


	assert_int_equal(toxic(f, "--host", f->host, "remove", "-n", "latency_downstream", "web",
	                       NULL), 0);
	assert_string_equal(f->out, "Removed toxic 'latency_downstream' on proxy 'web'\n");
	assert_int_equal(simtest_http(f->srv.port, "GET", "/proxies/web/toxics", NULL, body,
	                              sizeof(body)), 200);
	assert_false(simtest_has(body, "latency_downstream"));
	assert_true(simtest_has(body, "\"name\":\"abort\""));
}

static void test_list_and_toggle(void **state)
{
	struct fixture *f = *state;
	char line[64];
	int fd;

	assert_int_equal(toxic(f, "--host", f->host, "add", "-t", "slicer", "web", NULL), 0);
	assert_int_equal(toxic(f, "--host", f->host, "list", NULL), 0);
	snprintf(line, sizeof(line), "web                      127.0.0.1:%d ", f->port);
	assert_true(simtest_has(f->out, "NAME                     LISTEN "));
	assert_true(simtest_has(f->out, line));
	assert_true(simtest_has(f->out, " yes      1\n"));

	assert_int_equal(toxic(f, "--host", f->host, "toggle", "web", NULL), 0);
	assert_string_equal(f->out, "Proxy 'web' is now disabled\n");
	assert_true(simtest_connect(f->port) < 0);      /* the listener is closed */
	assert_int_equal(toxic(f, "--host", f->host, "list", NULL), 0);
	assert_true(simtest_has(f->out, " no       1\n"));
	assert_int_equal(toxic(f, "--host", f->host, "toggle", "web", NULL), 0);
	assert_string_equal(f->out, "Proxy 'web' is now enabled\n");
	fd = simtest_connect(f->port);
	assert_true(fd >= 0);
	close(fd);
}

static void test_api_errors(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(toxic(f, "--host", f->host, "inspect", "nope", NULL), CLI_REFUSED);
	assert_string_equal(f->err, "sim toxic: nope: proxy not found\n");
	assert_string_equal(f->out, "");
	assert_int_equal(toxic(f, "--host", f->host, "add", "-t", "latency", "nope", NULL),
	                 CLI_REFUSED);
	assert_string_equal(f->err, "sim toxic: add latency to nope: proxy not found\n");
	assert_int_equal(toxic(f, "--host", f->host, "add", "-t", "latencyx", "web", NULL),
	                 CLI_REFUSED);
	assert_string_equal(f->err, "sim toxic: add latencyx to web: invalid toxic type\n");
	assert_int_equal(toxic(f, "--host", f->host, "add", "-t", "latency", "-u", "web", NULL), 0);
	assert_int_equal(toxic(f, "--host", f->host, "add", "-t", "latency", "-u", "web", NULL),
	                 CLI_REFUSED);
	assert_string_equal(f->err, "sim toxic: add latency to web: toxic already exists\n");
	/* a bad attribute value: the proxy's own message */
	assert_int_equal(toxic(f, "--host", f->host, "update", "-n", "latency_upstream", "-a",
	                       "latency=soon", "web", NULL), CLI_REFUSED);
	assert_true(simtest_has(f->err, "sim toxic: update latency_upstream on web: "));
	assert_int_equal(toxic(f, "--host", f->host, "remove", "-n", "gone", "web", NULL),
	                 CLI_REFUSED);
	assert_string_equal(f->err, "sim toxic: remove gone from web: toxic not found\n");
	assert_int_equal(toxic(f, "--host", f->host, "toggle", "nope", NULL), CLI_REFUSED);
	assert_string_equal(f->err, "sim toxic: nope: proxy not found\n");
}

/* A port nothing listens on: bound and closed again at once. */
static int dead_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static void test_unreachable_and_usage(void **state)
{
	struct fixture *f = *state;
	char host[64];

	snprintf(host, sizeof(host), "127.0.0.1:%d", dead_port());
	assert_int_equal(toxic(f, "--host", host, "list", NULL), CLI_UNREACHABLE);
	assert_true(simtest_has(f->err, "sim toxic: no proxy API at http://127.0.0.1:"));
	assert_true(simtest_has(f->err, "is the stack up with SHOPLAB_PROXY=1?\n"));

	assert_int_equal(toxic(f, NULL), CLI_USAGE);
	assert_true(simtest_has(f->err, "usage: sim toxic"));
	assert_int_equal(toxic(f, "--help", NULL), CLI_OK);
	assert_true(simtest_has(f->out, "usage: sim toxic"));
	assert_int_equal(toxic(f, "frob", NULL), CLI_USAGE);
	assert_true(simtest_has(f->err, "unknown command 'frob'"));
	assert_int_equal(toxic(f, "add", "web", NULL), CLI_USAGE);
	assert_string_equal(f->err, "sim toxic: add needs -t TYPE\n");
	assert_int_equal(toxic(f, "remove", "web", NULL), CLI_USAGE);
	assert_string_equal(f->err, "sim toxic: remove needs -n NAME\n");
	assert_int_equal(toxic(f, "inspect", NULL), CLI_USAGE);
	assert_string_equal(f->err, "sim toxic: inspect needs a proxy name\n");
	assert_int_equal(toxic(f, "add", "-t", "latency", "-a", "latency", "web", NULL), CLI_USAGE);
	assert_string_equal(f->err, "sim toxic: attribute 'latency' is not KEY=VALUE\n");
	assert_int_equal(toxic(f, "add", "-t", "latency", "--tox", "2", "web", NULL), CLI_USAGE);
	assert_true(simtest_has(f->err, "a number from 0 to 1"));
	assert_int_equal(toxic(f, "update", "-n", "x", "-t", "latency", "web", NULL), CLI_USAGE);
	assert_int_equal(toxic(f, "list", "-x", NULL), CLI_USAGE);
	assert_int_equal(toxic(f, "add", "-t", NULL), CLI_USAGE);
	assert_string_equal(f->err, "sim toxic: -t needs a value\n");
}

/* --host, else $SHOPLAB_PROXY_API, else SHOPLAB_PROXY_API in $SHOPLAB_RUN/shoplab.env */
static void test_where_the_api_is(void **state)
{
	struct fixture *f = *state;
	char dir[] = "/tmp/sim-cli-XXXXXX", path[128], bad[64];
	FILE *env;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/shoplab.env", dir);
	env = fopen(path, "w");
	assert_non_null(env);
	fprintf(env, "SHOPLAB_PROXY=1\nSHOPLAB_PROXY_API=http://%s\n", f->host);
	assert_int_equal(fclose(env), 0);
	assert_int_equal(setenv("SHOPLAB_RUN", dir, 1), 0);
	assert_int_equal(toxic(f, "inspect", "web", NULL), 0);          /* from shoplab.env */

	snprintf(bad, sizeof(bad), "http://127.0.0.1:%d/", dead_port());
	assert_int_equal(setenv("SHOPLAB_PROXY_API", bad, 1), 0);       /* the environment wins */
	assert_int_equal(toxic(f, "inspect", "web", NULL), CLI_UNREACHABLE);
	assert_true(simtest_has(f->err, "address from SHOPLAB_PROXY_API"));
	assert_int_equal(toxic(f, "--host", f->host, "inspect", "web", NULL), 0);  /* --host wins */

	assert_int_equal(unsetenv("SHOPLAB_PROXY_API"), 0);
	assert_int_equal(setenv("SHOPLAB_RUN", "/nonexistent", 1), 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_add_inspect_update_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_and_toggle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_api_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreachable_and_usage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_where_the_api_is, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
