/* test_cli_toxic.c - `sim toxic` against a running sim proxy: toxiproxy-cli's commands, aliases and output, its own messages, exit statuses and where it finds the API */
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
	struct simtest_rig rig;         /* the proxy "web" in front of an echo upstream */
	char host[64];                  /* "127.0.0.1:<api port>" */
	char *out, *err;
	size_t outlen, errlen;
};

static const struct simtest_rig_spec web = { .seed = 5, .proxy = "web", .nup = 1,
                                             .up = { { UP_ECHO, 0 } } };

static int setup(void **state)
{
	static struct fixture f;

	memset(&f, 0, sizeof(f));
	if (unsetenv("SHOPLAB_PROXY_API") != 0 || setenv("SHOPLAB_RUN", "/nonexistent", 1) != 0 ||
	    simtest_rig_start(&f.rig, &web) != 0)
		return -1;
	snprintf(f.host, sizeof(f.host), "127.0.0.1:%d", f.rig.srv.port);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	simtest_rig_stop(&f->rig);
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
	                    "'web'\n");
	assert_string_equal(f->err, "");
	assert_in_range(echo_rtt(f->rig.proxy_port), 290, 1000);  /* the toxic is really on */
	assert_int_equal(toxic(f, "--host", f->host, "update", "-n", "latency_downstream", "-a",
	                       "latency=0", "web", NULL), 0);
	assert_string_equal(f->out, "Updated toxic 'latency_downstream' on proxy 'web'\n");
	assert_true(echo_rtt(f->rig.proxy_port) < 100);
	assert_int_equal(toxic(f, "--host", f->host, "update", "-n", "latency_downstream", "-a",
	                       "latency=300", "web", NULL), 0);

	/* options after the proxy, long names, a string attribute, a toxicity (a FastCGI toxic:
	 * the echo's plain bytes would wait for a whole record from here on) */
	assert_int_equal(toxic(f, "add", "web", "--host", f->host, "--type", "fcgi_abort",
	                       "--toxicName", "abort", "--tox", "0.25", "-a", "code=payments_down",
	                       "-a", "first=3", NULL), 0);
	assert_int_equal(simtest_http(f->rig.srv.port, "GET", "/proxies/web/toxics/abort", NULL, body,
	                              sizeof(body)), 200);
	assert_true(simtest_has(body, "\"code\":\"payments_down\""));
	assert_true(simtest_has(body, "\"first\":3"));
	assert_true(simtest_has(body, "\"toxicity\":0.25"));
	assert_true(simtest_has(body, "\"stream\":\"upstream\""));

	/* toxiproxy-cli's output when not on a terminal: one line a toxic, attributes sorted */
	assert_int_equal(toxic(f, "--host", f->host, "inspect", "web", NULL), 0);
	assert_string_equal(f->out,
	                    "abort\ttype=fcgi_abort\tstream=upstream\ttoxicity=0.25\tattributes=[\tcode=payments_down"
	                    "\tevery=0\tfirst=3\tmessage=fault injected by sim proxy\tstatus=503\t]\n"
	                    "latency_downstream\ttype=latency\tstream=downstream\ttoxicity=1.00\tattributes=["
	                    "\tjitter=0\tlatency=300\t]\n");


	assert_int_equal(toxic(f, "--host", f->host, "remove", "-n", "latency_downstream", "web",
	                       NULL), 0);
	assert_string_equal(f->out, "Removed toxic 'latency_downstream' on proxy 'web'\n");
	assert_int_equal(simtest_http(f->rig.srv.port, "GET", "/proxies/web/toxics", NULL, body,
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
	snprintf(line, sizeof(line), "web\t127.0.0.1:%d\t127.0.0.1:%d\tenabled\t1\n", f->rig.proxy_port,
	         f->rig.up[0].port);
	assert_string_equal(f->out, line);

	assert_int_equal(toxic(f, "--host", f->host, "toggle", "web", NULL), 0);
	assert_string_equal(f->out, "Proxy web is now disabled\n");
	assert_true(simtest_connect(f->rig.proxy_port) < 0);      /* the listener is closed */
	assert_int_equal(toxic(f, "--host", f->host, "list", NULL), 0);
	assert_true(simtest_has(f->out, "\tdisabled\t1\n"));
	assert_int_equal(toxic(f, "--host", f->host, "toggle", "web", NULL), 0);
	assert_string_equal(f->out, "Proxy web is now enabled\n");
	fd = simtest_connect(f->rig.proxy_port);
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
	assert_true(simtest_has(f->err, "toxicity should be a float between 0 and 1."));
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

/* toxiproxy-cli's own documented invocations (its README's CLI example and cli.go's usage
 * lines), with its aliases, against a real sim proxy; "redis" fronts the echo upstream. */
static void test_toxiproxy_cli(void **state)
{
	struct fixture *f = *state;
	char listen[64], upstream[64], body[4096], want[256];
	int lport = dead_port();

	snprintf(listen, sizeof(listen), "localhost:%d", lport);
	snprintf(upstream, sizeof(upstream), "localhost:%d", f->rig.up[0].port);
	assert_int_equal(setenv("TOXIPROXY_URL", f->host, 1), 0);      /* as toxiproxy-cli reads it */
	assert_int_equal(toxic(f, "create", "-l", listen, "-u", upstream, "redis", NULL), 0);
	assert_string_equal(f->out, "Created new proxy redis\n");
	assert_int_equal(toxic(f, "create", "-l", listen, "-u", upstream, "redis", NULL), CLI_REFUSED);
	assert_string_equal(f->err, "sim toxic: create redis: proxy already exists\n");
	assert_int_equal(toxic(f, "list", NULL), 0);
	snprintf(want, sizeof(want), "redis\t127.0.0.1:%d\t%s\tenabled\t0\n", lport, upstream);
	assert_true(simtest_has(f->out, want));
	assert_int_equal(toxic(f, "ls", NULL), 0);
	assert_true(simtest_has(f->out, want));

	assert_int_equal(toxic(f, "toxic", "add", "-t", "latency", "-a", "latency=1000", "redis", NULL), 0);
	assert_string_equal(f->out, "Added downstream latency toxic 'latency_downstream' on proxy 'redis'\n");
	assert_in_range(echo_rtt(lport), 990, 3000);    /* the toxic is really on */
	assert_int_equal(toxic(f, "toxic", "add", "-t", "latency", "-n", "myToxic", "-a", "latency=100",
	                       "-a", "jitter=50", "redis", NULL), 0);
	assert_string_equal(f->out, "Added downstream latency toxic 'myToxic' on proxy 'redis'\n");
	assert_int_equal(toxic(f, "toxic", "update", "-n", "myToxic", "-a", "jitter=25", "redis", NULL), 0);
	assert_string_equal(f->out, "Updated toxic 'myToxic' on proxy 'redis'\n");
	assert_int_equal(simtest_http(f->rig.srv.port, "GET", "/proxies/redis/toxics/myToxic", NULL, body,
	                              sizeof(body)), 200);
	assert_true(simtest_has(body, "\"attributes\":{\"latency\":100,\"jitter\":25}"));
	assert_int_equal(toxic(f, "i", "redis", NULL), 0);
	assert_string_equal(f->out,
	                    "latency_downstream\ttype=latency\tstream=downstream\ttoxicity=1.00\tattributes=["
	                    "\tjitter=0\tlatency=1000\t]\n"
	                    "myToxic\ttype=latency\tstream=downstream\ttoxicity=1.00\tattributes=["
	                    "\tjitter=25\tlatency=100\t]\n");
	assert_int_equal(toxic(f, "toxic", "delete", "-n", "myToxic", "redis", NULL), 0);
	assert_string_equal(f->out, "Removed toxic 'myToxic' on proxy 'redis'\n");
	assert_int_equal(toxic(f, "toxic", "remove", "-n", "latency_downstream", "redis", NULL), 0);
	assert_string_equal(f->out, "Removed toxic 'latency_downstream' on proxy 'redis'\n");
	assert_true(echo_rtt(lport) < 500);

	/* aliases and flag spellings: t a, -u (the stream), -tox, --toxicity=, -h HOST, t u, t r, t d */
	assert_int_equal(toxic(f, "-h", f->host, "t", "a", "-t", "timeout", "-u", "-tox", "0.5",
	                       "-a", "timeout=0", "redis", NULL), 0);
	assert_string_equal(f->out, "Added upstream timeout toxic 'timeout_upstream' on proxy 'redis'\n");
	assert_int_equal(toxic(f, "t", "u", "-n", "timeout_upstream", "--toxicity=0.75", "redis", NULL), 0);
	assert_int_equal(simtest_http(f->rig.srv.port, "GET", "/proxies/redis/toxics/timeout_upstream", NULL,
	                              body, sizeof(body)), 200);
	assert_true(simtest_has(body, "\"toxicity\":0.75"));
	assert_int_equal(toxic(f, "t", "r", "-n", "timeout_upstream", "redis", NULL), 0);
	assert_int_equal(toxic(f, "t", "a", "--type=slicer", "--toxicName=s", "--downstream", "redis", NULL), 0);
	assert_int_equal(toxic(f, "t", "d", "-n", "s", "redis", NULL), 0);
	assert_string_equal(f->out, "Removed toxic 's' on proxy 'redis'\n");

	/* a toxic that would do nothing: the proxy refuses it, exit 1 with its message */
	assert_int_equal(toxic(f, "toxic", "add", "-t", "latency", "-a", "latency=-800", "redis", NULL),
	                 CLI_REFUSED);
	assert_string_equal(f->err, "sim toxic: add latency to redis: invalid attribute: latency.latency "
	                    "must be >= 0 (got -800)\n");
	assert_int_equal(toxic(f, "toxic", "add", "-t", "latency", "-a", "latncy=300", "redis", NULL),
	                 CLI_REFUSED);
	assert_string_equal(f->err, "sim toxic: add latency to redis: invalid attribute: latency has no "
	                    "attribute \"latncy\" (it has: latency, jitter)\n");
	assert_int_equal(toxic(f, "toxic", "add", "-t", "latency", "-u", "-d", "redis", NULL), CLI_USAGE);
	assert_string_equal(f->err, "sim toxic: Only one should be specified: upstream or downstream.\n");
	assert_int_equal(toxic(f, "toxic", "redis", NULL), CLI_USAGE);
	assert_true(simtest_has(f->err, "unknown toxic command 'redis'"));
	assert_int_equal(toxic(f, "toxic", NULL), CLI_USAGE);
	assert_string_equal(f->err, "sim toxic: toxic needs a subcommand: add, update or remove\n");
	assert_int_equal(toxic(f, "create", "-l", listen, "other", NULL), CLI_USAGE);
	assert_true(simtest_has(f->err, "create needs -l/--listen ADDR and -u/--upstream ADDR"));

	assert_int_equal(toxic(f, "tog", "redis", NULL), 0);
	assert_string_equal(f->out, "Proxy redis is now disabled\n");
	assert_true(simtest_connect(lport) < 0);
	assert_int_equal(toxic(f, "toggle", "redis", NULL), 0);
	assert_string_equal(f->out, "Proxy redis is now enabled\n");
	assert_int_equal(toxic(f, "delete", "redis", NULL), 0);
	assert_string_equal(f->out, "Deleted proxy redis\n");
	assert_true(simtest_connect(lport) < 0);
	assert_int_equal(toxic(f, "d", "redis", NULL), CLI_REFUSED);
	assert_string_equal(f->err, "sim toxic: delete redis: proxy not found\n");
	assert_int_equal(toxic(f, "new", "-l", listen, "-u", upstream, "redis", NULL), 0);
	assert_int_equal(toxic(f, "c", "--listen", listen, "--upstream", upstream, "redis2", NULL),
	                 CLI_REFUSED);   /* the same listen address */
	assert_int_equal(toxic(f, "d", "redis", NULL), 0);
	assert_int_equal(unsetenv("TOXIPROXY_URL"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_add_inspect_update_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_and_toggle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_api_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreachable_and_usage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_where_the_api_is, setup, teardown),
		cmocka_unit_test_setup_teardown(test_toxiproxy_cli, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
