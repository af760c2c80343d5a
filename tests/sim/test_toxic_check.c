/* test_toxic_check.c - a toxic that would do nothing is refused: out-of-range and unknown attributes, in the proxy API (400 JSON) */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "simtest.h"

/* the proxy "web" in front of an echo upstream */
static const struct simtest_rig_spec web = { .seed = 1, .proxy = "web", .nup = 1,
                                             .up = { { UP_ECHO, 0 } } };

static int post(struct simtest_rig *f, const char *path, const char *body)
{
	return simtest_call(f, "POST", path, "%s", body);
}

/* POSTs toxic json to web; expects 400 with exactly that error message. */
static void refused(struct simtest_rig *f, const char *json, const char *msg)
{
	char want[512];

	snprintf(want, sizeof(want), "{\"error\":\"%s\",\"status\":400}\n", msg);
	assert_int_equal(post(f, "/proxies/web/toxics", json), 400);
	assert_string_equal(f->body, want);
}

static void test_api_ranges(void **state)
{
	struct simtest_rig *f = *state;

	refused(f, "{\"type\":\"latency\",\"attributes\":{\"latency\":-800}}",
	        "invalid attribute: latency.latency must be >= 0 (got -800)");
	refused(f, "{\"type\":\"latency\",\"attributes\":{\"latency\":10,\"jitter\":-1}}",
	        "invalid attribute: latency.jitter must be >= 0 (got -1)");
	refused(f, "{\"type\":\"latency\",\"attributes\":{\"latency\":86400001}}",
	        "invalid attribute: latency.latency must be <= 86400000 (got 86400001)");
	refused(f, "{\"type\":\"latency\",\"toxicity\":1.5}",
	        "invalid toxicity: must be from 0 to 1 (got 1.5)");
	refused(f, "{\"type\":\"latency\",\"toxicity\":-0.1}",
	        "invalid toxicity: must be from 0 to 1 (got -0.1)");
	/* the default would do nothing: a bandwidth toxic needs its rate, slow_close its delay */
	refused(f, "{\"type\":\"bandwidth\"}", "invalid attribute: bandwidth.rate must be >= 1 (got 0)");
	refused(f, "{\"type\":\"bandwidth\",\"attributes\":{\"rate\":-5}}",
	        "invalid attribute: bandwidth.rate must be >= 1 (got -5)");
	refused(f, "{\"type\":\"slow_close\"}", "invalid attribute: slow_close.delay must be >= 1 (got 0)");
	refused(f, "{\"type\":\"timeout\",\"attributes\":{\"timeout\":-1}}",
	        "invalid attribute: timeout.timeout must be >= 0 (got -1)");
	refused(f, "{\"type\":\"slicer\",\"attributes\":{\"average_size\":-1}}",
	        "invalid attribute: slicer.average_size must be >= 0 (got -1)");
	refused(f, "{\"type\":\"limit_data\",\"attributes\":{\"bytes\":-1}}",
	        "invalid attribute: limit_data.bytes must be >= 0 (got -1)");
	refused(f, "{\"type\":\"fcgi_abort\",\"attributes\":{\"status\":99}}",
	        "invalid attribute: fcgi_abort.status must be >= 100 (got 99)");
	refused(f, "{\"type\":\"fcgi_abort\",\"attributes\":{\"status\":600}}",
	        "invalid attribute: fcgi_abort.status must be <= 599 (got 600)");
	refused(f, "{\"type\":\"fcgi_reset\",\"attributes\":{\"forward\":2}}",
	        "invalid attribute: fcgi_reset.forward must be <= 1 (got 2)");
	refused(f, "{\"type\":\"fcgi_latency\",\"attributes\":{\"latency\":5,\"every\":-3}}",
	        "invalid attribute: fcgi_latency.every must be >= 0 (got -3)");
	refused(f, "{\"type\":\"mysql_commit_lost\",\"attributes\":{\"first\":-1}}",
	        "invalid attribute: mysql_commit_lost.first must be >= 0 (got -1)");
	/* nothing refused was kept */
	assert_int_equal(simtest_http(f->srv.port, "GET", "/proxies/web/toxics", NULL, f->body,
	                              sizeof(f->body)), 200);
	assert_string_equal(f->body, "[]");
	/* the edges are accepted */
	assert_int_equal(post(f, "/proxies/web/toxics",
	                      "{\"type\":\"latency\",\"toxicity\":0,\"attributes\":{\"latency\":0,\"jitter\":0}}"), 200);
	assert_int_equal(post(f, "/proxies/web/toxics", "{\"type\":\"bandwidth\",\"attributes\":{\"rate\":1}}"), 200);
	assert_int_equal(post(f, "/proxies/web/toxics",
	                      "{\"type\":\"fcgi_abort\",\"attributes\":{\"status\":599}}"), 200);
}

static void test_api_unknown_and_update(void **state)
{
	struct simtest_rig *f = *state;

	refused(f, "{\"type\":\"latency\",\"attributes\":{\"latncy\":300}}",
	        "invalid attribute: latency has no attribute \\\"latncy\\\" (it has: latency, jitter)");
	refused(f, "{\"type\":\"mysql_commit_lost\",\"attributes\":{\"rate\":1}}",
	        "invalid attribute: mysql_commit_lost has no attribute \\\"rate\\\" (it has: first, every)");
	assert_int_equal(post(f, "/proxies/web/toxics", "{\"type\":\"latency\",\"attributes\":{\"latency\":300}}"), 200);
	/* an update is checked the same, and a refused one changes nothing */
	assert_int_equal(post(f, "/proxies/web/toxics/latency_downstream", "{\"attributes\":{\"latency\":-800}}"), 400);
	assert_string_equal(f->body, "{\"error\":\"invalid attribute: latency.latency must be >= 0 (got -800)\",\"status\":400}\n");
	assert_int_equal(post(f, "/proxies/web/toxics/latency_downstream", "{\"attributes\":{\"jiter\":5}}"), 400);
	assert_true(simtest_has(f->body, "has no attribute \\\"jiter\\\""));
	assert_int_equal(post(f, "/proxies/web/toxics/latency_downstream", "{\"toxicity\":2}"), 400);
	assert_string_equal(f->body, "{\"error\":\"invalid toxicity: must be from 0 to 1 (got 2)\",\"status\":400}\n");
	assert_int_equal(simtest_http(f->srv.port, "GET", "/proxies/web/toxics/latency_downstream", NULL, f->body,
	                              sizeof(f->body)), 200);
	assert_true(simtest_has(f->body, "\"attributes\":{\"latency\":300,\"jitter\":0}"));
	assert_true(simtest_has(f->body, "\"toxicity\":1}"));
	/* /toxic-types states every integer attribute's range, for clients that check first */
	assert_int_equal(simtest_http(f->srv.port, "GET", "/toxic-types", NULL, f->body, sizeof(f->body)), 200);
	assert_true(simtest_has(f->body, "\"limits\":{\"rate\":{\"min\":1,\"max\":2147483647,\"default\":0}}"));
	assert_true(simtest_has(f->body, "\"status\":{\"min\":100,\"max\":599,\"default\":503}"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		SIMTEST_RIG_TEST(test_api_ranges, web),
		SIMTEST_RIG_TEST(test_api_unknown_and_update, web),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
