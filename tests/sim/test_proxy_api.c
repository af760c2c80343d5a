/* test_proxy_api.c - the control API answers as Toxiproxy's does: shapes, statuses, errors */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "simtest.h"

static const struct simtest_rig_spec echo = { .seed = 1, .nup = 1, .up = { { UP_ECHO, 0 } } };

static void create_web(struct simtest_rig *f)
{
	assert_int_equal(simtest_call(f, "POST", "/proxies",
	                              "{\"name\":\"web\",\"listen\":\"127.0.0.1:0\","
	                              "\"upstream\":\"127.0.0.1:%d\"}", f->up[0].port), 201);
}

static void test_version(void **state)
{
	struct simtest_rig *f = *state;

	assert_int_equal(simtest_call(f, "GET", "/version", NULL), 200);
	assert_true(simtest_has(f->body, "{\"version\": \""));
	assert_int_equal(simtest_call(f, "POST", "/version", "{}"), 405);
	assert_int_equal(simtest_call(f, "GET", "/nope", NULL), 404);
	assert_string_equal(f->body, "404 page not found\n");
}

static void test_create_list_get(void **state)
{
	struct simtest_rig *f = *state;
	char expect[256];

	assert_int_equal(simtest_call(f, "GET", "/proxies", NULL), 200);
	assert_string_equal(f->body, "{}");
	create_web(f);
	snprintf(expect, sizeof(expect), "\"upstream\":\"127.0.0.1:%d\",\"enabled\":true,\"toxics\":[]}",
	         f->up[0].port);
	assert_true(simtest_has(f->body, "{\"name\":\"web\",\"listen\":\"127.0.0.1:"));
	assert_true(simtest_has(f->body, expect));
	assert_false(simtest_has(f->body, "127.0.0.1:0\"")); /* listen shows the bound port */
	assert_int_equal(simtest_call(f, "GET", "/proxies", NULL), 200);
	assert_true(simtest_has(f->body, "{\"web\":{\"name\":\"web\""));
	assert_int_equal(simtest_call(f, "GET", "/proxies/web", NULL), 200);
	assert_true(simtest_has(f->body, expect));
	/* the proxy really proxies */
	int port, fd;
	char buf[8];

	assert_non_null(strstr(f->body, "\"listen\":\"127.0.0.1:"));
	port = atoi(strstr(f->body, "\"listen\":\"127.0.0.1:") + strlen("\"listen\":\"127.0.0.1:"));
	fd = simtest_connect(port);
	assert_true(fd >= 0);
	assert_int_equal(simtest_read(fd, buf, 6, 2000, NULL), 6);
	assert_memory_equal(buf, "hello\n", 6);
	close(fd);
}

static void test_errors(void **state)
{
	struct simtest_rig *f = *state;

	create_web(f);
	assert_int_equal(simtest_call(f, "POST", "/proxies",
	                              "{\"name\":\"web\",\"listen\":\"127.0.0.1:0\","
	                              "\"upstream\":\"x:1\"}"), 409);
	assert_string_equal(f->body, "{\"error\":\"proxy already exists\",\"status\":409}\n");
	assert_int_equal(simtest_call(f, "GET", "/proxies/nope", NULL), 404);
	assert_string_equal(f->body, "{\"error\":\"proxy not found\",\"status\":404}\n");
	assert_int_equal(simtest_call(f, "DELETE", "/proxies/nope", NULL), 404);
	assert_int_equal(simtest_call(f, "GET", "/proxies/web/toxics/nope", NULL), 404);
	assert_string_equal(f->body, "{\"error\":\"toxic not found\",\"status\":404}\n");
	assert_int_equal(simtest_call(f, "DELETE", "/proxies/web/toxics/nope", NULL), 404);
	assert_int_equal(simtest_call(f, "POST", "/proxies", "{\"name\":"), 400);
	assert_true(simtest_has(f->body, "{\"error\":\"bad request body: "));
	assert_true(simtest_has(f->body, "\"status\":400}"));
	assert_int_equal(simtest_call(f, "POST", "/proxies", "%s", ""), 400);
	assert_string_equal(f->body, "{\"error\":\"bad request body: EOF\",\"status\":400}\n");
	assert_int_equal(simtest_call(f, "POST", "/proxies", "[1,2]"), 400);
	assert_int_equal(simtest_call(f, "POST", "/proxies", "{\"name\":5}"), 400);
	assert_int_equal(simtest_call(f, "POST", "/proxies", "{\"upstream\":\"a:1\"}"), 400);
	assert_string_equal(f->body, "{\"error\":\"missing required field: name\",\"status\":400}\n");
	assert_int_equal(simtest_call(f, "POST", "/proxies", "{\"name\":\"a\"}"), 400);
	assert_string_equal(f->body,
	                    "{\"error\":\"missing required field: upstream\",\"status\":400}\n");
	/* a body that is not an object: Go's unmarshal error, naming the type it wanted */
	assert_int_equal(simtest_call(f, "POST", "/proxies", "[]"), 400);
	assert_true(simtest_has(f->body, "cannot unmarshal array into Go value of type toxiproxy.Proxy"));
	assert_int_equal(simtest_call(f, "POST", "/proxies/web/toxics", "\"x\""), 400);
	assert_true(simtest_has(f->body, "cannot unmarshal value into Go value of type toxics.ToxicWrapper"));
	/* a bad listen address is Toxiproxy's 500 from net.Listen, and nothing is created */
	assert_int_equal(simtest_call(f, "POST", "/proxies",
	                              "{\"name\":\"bad\",\"listen\":\"nocolon\","
	                              "\"upstream\":\"a:1\"}"), 500);
	assert_true(simtest_has(f->body, "missing port in address"));
	assert_int_equal(simtest_call(f, "POST", "/proxies",
	                              "{\"name\":\"bad\",\"listen\":\"127.0.0.1:99999\","
	                              "\"upstream\":\"a:1\"}"), 500);
	assert_int_equal(simtest_call(f, "GET", "/proxies/bad", NULL), 404);
	/* toxics */
	assert_int_equal(simtest_call(f, "POST", "/proxies/web/toxics", "{\"type\":\"nope\"}"), 400);
	assert_string_equal(f->body, "{\"error\":\"invalid toxic type\",\"status\":400}\n");
	assert_int_equal(simtest_call(f, "POST", "/proxies/web/toxics",
	                              "{\"type\":\"latency\",\"stream\":\"sideways\"}"), 400);
	assert_string_equal(f->body, "{\"error\":\"stream was invalid, can be either upstream or "
	                             "downstream\",\"status\":400}\n");
	assert_int_equal(simtest_call(f, "POST", "/proxies/web/toxics",
	                              "{\"type\":\"latency\",\"attributes\":{\"latency\":\"x\"}}"), 400);
	assert_int_equal(simtest_call(f, "POST", "/proxies/web/toxics", "{\"type\":\"latency\"}"), 200);
	assert_int_equal(simtest_call(f, "POST", "/proxies/web/toxics", "{\"type\":\"latency\"}"), 409);
	assert_string_equal(f->body, "{\"error\":\"toxic already exists\",\"status\":409}\n");
	assert_int_equal(simtest_call(f, "POST", "/proxies/web/toxics/latency_downstream", "[]"), 400);
	assert_true(simtest_has(f->body, "cannot unmarshal array into Go value of type struct { "
	                                 "Attributes interface {} \\\"json:"));
	assert_int_equal(simtest_call(f, "POST", "/proxies/nope/toxics", "{\"type\":\"latency\"}"), 404);
	assert_int_equal(simtest_call(f, "POST", "/proxies/web/toxics/latency_downstream", "{bad"), 400);
	assert_int_equal(simtest_call(f, "PUT", "/proxies/web", "{}"), 405);
}

static void test_toxic_crud(void **state)
{
	struct simtest_rig *f = *state;

	create_web(f);
	assert_int_equal(simtest_call(f, "POST", "/proxies/web/toxics",
	                              "{\"type\":\"latency\",\"attributes\":{\"latency\":100}}"), 200);
	assert_string_equal(f->body,
	                    "{\"attributes\":{\"latency\":100,\"jitter\":0},\"name\":\"latency_downstream\","
	                    "\"type\":\"latency\",\"stream\":\"downstream\",\"toxicity\":1}");
	assert_int_equal(simtest_call(f, "POST", "/proxies/web/toxics",
	                              "{\"name\":\"cut\",\"type\":\"limit_data\",\"stream\":\"upstream\","
	                              "\"toxicity\":0.3,\"attributes\":{\"bytes\":10}}"), 200);
	assert_true(simtest_has(f->body, "\"toxicity\":0.3}"));
	/* upstream toxics list first */
	assert_int_equal(simtest_call(f, "GET", "/proxies/web/toxics", NULL), 200);
	assert_true(strstr(f->body, "\"name\":\"cut\"") < strstr(f->body, "latency_downstream"));
	assert_int_equal(simtest_call(f, "GET", "/proxies/web/toxics/cut", NULL), 200);
	assert_true(simtest_has(f->body, "\"attributes\":{\"bytes\":10}"));
	/* update merges attributes and keeps toxicity unless given */
	assert_int_equal(simtest_call(f, "PATCH", "/proxies/web/toxics/latency_downstream",
	                              "{\"attributes\":{\"jitter\":5}}"), 200);
	assert_true(simtest_has(f->body, "{\"latency\":100,\"jitter\":5}"));
	assert_true(simtest_has(f->body, "\"toxicity\":1}"));
	assert_int_equal(simtest_call(f, "POST", "/proxies/web/toxics/latency_downstream",
	                              "{\"toxicity\":0.5}"), 200);
	assert_true(simtest_has(f->body, "\"toxicity\":0.5}"));
	assert_int_equal(simtest_call(f, "DELETE", "/proxies/web/toxics/cut", NULL), 204);
	assert_int_equal(simtest_call(f, "GET", "/proxies/web/toxics/cut", NULL), 404);
	/* FastCGI toxics default to the upstream stream and refuse the other */
	assert_int_equal(simtest_call(f, "POST", "/proxies/web/toxics",
	                              "{\"type\":\"fcgi_abort\",\"attributes\":{\"first\":2}}"), 200);
	assert_true(simtest_has(f->body, "\"name\":\"fcgi_abort_upstream\""));
	assert_true(simtest_has(f->body, "\"status\":503,\"code\":\"service_unavailable\""));
	assert_int_equal(simtest_call(f, "POST", "/proxies/web/toxics",
	                              "{\"type\":\"fcgi_reset\",\"stream\":\"downstream\"}"), 400);
}

static void test_update_delete_reset(void **state)
{
	struct simtest_rig *f = *state;
	int port, fd;

	create_web(f);
	port = atoi(strstr(f->body, "\"listen\":\"127.0.0.1:") + strlen("\"listen\":\"127.0.0.1:"));
	fd = simtest_connect(port);
	assert_true(fd >= 0);
	/* disabling cuts live connections and refuses new ones */
	assert_int_equal(simtest_call(f, "POST", "/proxies/web", "{\"enabled\":false}"), 200);
	assert_true(simtest_has(f->body, "\"enabled\":false"));
	{
		char buf[16];
		int eof = 0;
		long n = simtest_read(fd, buf, sizeof(buf), 2000, &eof);

		assert_true(n < 0 || eof); /* hello may or may not have arrived first */
	}
	close(fd);
	assert_true(simtest_connect(port) < 0);
	assert_int_equal(simtest_call(f, "POST", "/proxies/web/toxics", "{\"type\":\"timeout\"}"), 200);
	/* reset enables every proxy and removes every toxic */
	assert_int_equal(simtest_call(f, "POST", "/reset", NULL), 204);
	assert_int_equal(simtest_call(f, "GET", "/proxies/web", NULL), 200);
	assert_true(simtest_has(f->body, "\"enabled\":true,\"toxics\":[]"));
	/* changing the upstream keeps the proxy */
	assert_int_equal(simtest_call(f, "PATCH", "/proxies/web", "{\"upstream\":\"127.0.0.1:1\"}"), 200);
	assert_true(simtest_has(f->body, "\"upstream\":\"127.0.0.1:1\""));
	assert_int_equal(simtest_call(f, "DELETE", "/proxies/web", NULL), 204);
	assert_int_equal(simtest_call(f, "GET", "/proxies/web", NULL), 404);
}

static void test_populate(void **state)
{
	struct simtest_rig *f = *state;

	assert_int_equal(simtest_call(f, "POST", "/populate",
	                              "[{\"name\":\"a\",\"listen\":\"127.0.0.1:0\","
	                              "\"upstream\":\"127.0.0.1:%d\"},"
	                              "{\"name\":\"b\",\"listen\":\"127.0.0.1:0\","
	                              "\"upstream\":\"127.0.0.1:%d\",\"enabled\":false}]",
	                              f->up[0].port, f->up[0].port), 201);
	assert_true(simtest_has(f->body, "{\"proxies\":[{\"name\":\"a\""));
	assert_true(simtest_has(f->body, "\"name\":\"b\",\"listen\":\"127.0.0.1:0\""));
	assert_true(simtest_has(f->body, "\"enabled\":false"));
	assert_int_equal(simtest_call(f, "GET", "/proxies", NULL), 200);
	assert_true(simtest_has(f->body, "{\"a\":{"));
	assert_true(simtest_has(f->body, ",\"b\":{"));
	/* a missing field stops all of it, reported in Toxiproxy's populate shape */
	assert_int_equal(simtest_call(f, "POST", "/populate", "[{\"name\":\"c\"}]"), 400);
	assert_string_equal(f->body, "{\"error\":\"missing required field: upstream at proxy 1\","
	                             "\"status\":400,\"proxies\":null}");
	assert_true(simtest_has(f->body, "\"error\":\"missing required field: upstream at proxy 1\""));
	assert_true(simtest_has(f->body, "\"status\":400,\"proxies\":null}"));
	assert_int_equal(simtest_call(f, "GET", "/proxies/c", NULL), 404);
	assert_int_equal(simtest_call(f, "POST", "/populate", "{\"name\":\"x\"}"), 400);
	assert_int_equal(simtest_call(f, "POST", "/populate", "[nope"), 400);
}

static void test_metrics(void **state)
{
	struct simtest_rig *f = *state;
	int port, fd;
	char buf[8];

	create_web(f);
	port = atoi(strstr(f->body, "\"listen\":\"127.0.0.1:") + strlen("\"listen\":\"127.0.0.1:"));
	fd = simtest_connect(port);
	assert_true(fd >= 0);
	assert_int_equal(simtest_read(fd, buf, 6, 2000, NULL), 6);
	close(fd);
	assert_int_equal(simtest_call(f, "GET", "/metrics", NULL), 200);
	assert_true(simtest_has(f->body, "# TYPE sim_proxy_connections_total counter\n"));
	assert_true(simtest_has(f->body, "sim_proxy_connections_total{proxy=\"web\"} 1\n"));
	assert_true(simtest_has(f->body,
	                        "sim_proxy_received_bytes_total{proxy=\"web\",stream=\"downstream\"} 6\n"));
}

/* The extension a client checks a scenario against: every type, its attributes, its streams,
 * and each integer attribute's range. */
static void test_toxic_types(void **state)
{
	struct simtest_rig *f = *state;

	assert_int_equal(simtest_call(f, "GET", "/toxic-types", NULL), 200);
	assert_true(simtest_has(f->body, "\"latency\":{\"attributes\":{\"latency\":\"int\",\"jitter\":\"int\"},"
	                                 "\"streams\":[\"upstream\",\"downstream\"],\"limits\":{\"latency\":{\"min\":0,"
	                                 "\"max\":86400000,\"default\":0},\"jitter\":{\"min\":0,\"max\":86400000,\"default\":0}}}"));
	assert_true(simtest_has(f->body, "\"fcgi_abort\":{\"attributes\":{\"status\":\"int\",\"code\":\"string\","));
	assert_true(simtest_has(f->body, "\"mysql_commit_lost\":{\"attributes\":{\"first\":\"int\",\"every\":\"int\"},"
	                                 "\"streams\":[\"upstream\"],\"limits\":{\"first\":{\"min\":0,"));
	assert_int_equal(simtest_call(f, "POST", "/toxic-types", "{}"), 405);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		SIMTEST_RIG_TEST(test_version, echo),
		SIMTEST_RIG_TEST(test_toxic_types, echo),
		SIMTEST_RIG_TEST(test_create_list_get, echo),
		SIMTEST_RIG_TEST(test_errors, echo),
		SIMTEST_RIG_TEST(test_toxic_crud, echo),
		SIMTEST_RIG_TEST(test_update_delete_reset, echo),
		SIMTEST_RIG_TEST(test_populate, echo),
		SIMTEST_RIG_TEST(test_metrics, echo),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
