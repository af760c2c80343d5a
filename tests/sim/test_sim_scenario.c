/* test_sim_scenario.c - scenario parser: a valid file, defaults, and each error naming its field */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sim_faults.h"
#include "sim_scenario.h"

static const char *valid =
	"{\"name\":\"t\",\"seed\":7,\"duration_s\":30,\"drain_s\":5,"
	"\"phases\":[{\"at_s\":0,\"rate\":10},{\"at_s\":10,\"rate\":20}],"
	"\"mix\":{\"browse\":6,\"register_login\":1,\"checkout\":3},"
	"\"data\":{\"users\":20,\"products\":[1,50],\"stock\":1000,\"cards\":{\"decline\":0.1}},"
	"\"faults\":[{\"at_s\":5,\"until_s\":10,\"kind\":\"toxic\",\"proxy\":\"gateway-payments\","
	"\"type\":\"fcgi_latency\",\"attributes\":{\"latency\":500}},"
	"{\"at_s\":12,\"until_s\":15,\"kind\":\"stop\",\"target\":\"payments\"},"
	"{\"at_s\":20,\"kind\":\"restart\",\"target\":\"mariadb\"}]}";

static void test_valid(void **state)
{
	struct sim_scenario sc;
	char err[256];

	(void)state;
	assert_int_equal(sim_scenario_parse(valid, &sc, err, sizeof(err)), 0);
	assert_string_equal(sc.name, "t");
	assert_int_equal(sc.seed, 7);
	assert_int_equal(sc.nphases, 2);
	assert_true(sc.phases[1].rate == 20);
	assert_true(sc.mix[2] == 3);
	assert_int_equal(sc.users, 20);
	assert_int_equal(sc.product_hi, 50);
	assert_int_equal(sc.stock, 1000);
	assert_true(sc.decline_share == 0.1);
	assert_true(sc.timeout_s == 10);
	assert_int_equal(sc.nfaults, 3);
	assert_int_equal(sc.faults[0].kind, SIM_FAULT_TOXIC);
	assert_string_equal(sc.faults[0].stream, "upstream");
	assert_string_equal(sc.faults[0].attributes, "{\"latency\":500}");
	assert_true(sc.faults[0].toxicity == 1.0);
	assert_int_equal(sc.faults[1].kind, SIM_FAULT_STOP);
	assert_true(sc.faults[2].until_s < 0);
	assert_true(sim_scenario_rate_at(&sc, 9.9) == 10);
	assert_true(sim_scenario_rate_at(&sc, 10) == 20);
	assert_true(sim_scenario_rate_at(&sc, 30) == 0);
	sim_scenario_free(&sc);
}

/* Replaces the first occurrence of from in valid with to and expects an error starting with want. */
static void expect_error(const char *from, const char *to, const char *want)
{
	char doc[2048], err[256];
	const char *at = strstr(valid, from);
	struct sim_scenario sc;

	assert_non_null(at);
	snprintf(doc, sizeof(doc), "%.*s%s%s", (int)(at - valid), valid, to, at + strlen(from));
	assert_int_equal(sim_scenario_parse(doc, &sc, err, sizeof(err)), -1);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("for %s: got \"%s\", want \"%s...\"", to, err, want);
}

/* A deploy: a service as target, no until_s; anything else is refused naming the fault. */
static void test_deploy_kind(void **state)
{
	static const char *from = "{\"at_s\":20,\"kind\":\"restart\",\"target\":\"mariadb\"}";
	const char *at = strstr(valid, from);
	struct sim_scenario sc;
	char doc[2048], err[256];

	(void)state;
	assert_non_null(at);
	snprintf(doc, sizeof(doc), "%.*s%s%s", (int)(at - valid), valid,
	    "{\"at_s\":20,\"kind\":\"deploy\",\"target\":\"catalog\"}", at + strlen(from));
	if (sim_scenario_parse(doc, &sc, err, sizeof(err)) != 0)
		fail_msg("a deploy fault: %s", err);
	assert_int_equal(sc.faults[2].kind, SIM_FAULT_DEPLOY);
	assert_string_equal(sim_fault_kind_names[sc.faults[2].kind], "deploy");
	assert_true(sc.faults[2].until_s < 0);
	sim_scenario_free(&sc);
	expect_error(from, "{\"at_s\":20,\"until_s\":25,\"kind\":\"deploy\",\"target\":\"catalog\"}",
	    "faults[2]: a deploy takes a service as target and no until_s");
	expect_error(from, "{\"at_s\":20,\"kind\":\"deploy\",\"target\":\"mariadb\"}",
	    "faults[2]: a deploy takes a service as target and no until_s");
}

static void test_errors(void **state)
{
	struct sim_scenario sc;
	char err[256];

	(void)state;
	assert_int_equal(sim_scenario_parse("{", &sc, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not valid JSON"));
	expect_error("\"seed\":7", "\"seed\":-1", "seed:");
	expect_error("\"seed\":7", "\"seeds\":7", "seeds: unknown field");
	expect_error("\"duration_s\":30", "\"duration_s\":\"x\"", "duration_s: must be a number");
	expect_error("{\"at_s\":10,\"rate\":20}", "{\"at_s\":10,\"rate\":-2}", "phases[1].rate:");
	expect_error("{\"at_s\":10,\"rate\":20}", "{\"at_s\":0,\"rate\":20}", "phases[1].at_s:");
	expect_error("{\"at_s\":0,\"rate\":10}", "{\"at_s\":0}", "phases[0].rate: is required");
	expect_error("\"browse\":6", "\"browze\":6", "mix.browze: unknown field");
	expect_error("\"users\":20", "\"users\":0", "data.users:");
	expect_error("[1,50]", "[50,1]", "data.products:");
	expect_error("{\"decline\":0.1}", "{\"decline\":2}", "data.cards.decline:");
	expect_error("\"kind\":\"toxic\"", "\"kind\":\"melt\"", "faults[0].kind:");
	expect_error("\"proxy\":\"gateway-payments\",", "", "faults[0].proxy: is required");
	expect_error("\"until_s\":15", "\"until_s\":11", "faults[1].until_s: must be greater");
	expect_error("\"until_s\":15,", "", "faults[1].until_s: is required");
	expect_error("\"target\":\"mariadb\"", "\"target\":\"Redis!\"", "faults[2].target:");
	setenv("SHOPLAB_SERVICES", "users catalog payments", 1);
	expect_error("\"target\":\"mariadb\"", "\"target\":\"redis\"", "faults[2].target:");
	unsetenv("SHOPLAB_SERVICES");
	expect_error("{\"latency\":500}", "[500]", "faults[0].attributes: must be an object");
	expect_error("\"kind\":\"toxic\",", "\"kind\":\"toxic\",\"stream\":\"sideways\",", "faults[0].stream:");
}

/* The broker faults: what each becomes, and each mistake named by its path. */
static const char *broker =
	"{\"name\":\"b\",\"seed\":1,\"duration_s\":30,\"events_drain_s\":40,"
	"\"phases\":[{\"at_s\":0,\"rate\":10}],\"mix\":{\"checkout\":1},\"data\":{\"users\":2,\"products\":[1,2]},"
	"\"faults\":[{\"at_s\":2,\"until_s\":5,\"kind\":\"broker_kill\"},"
	"{\"at_s\":6,\"until_s\":8,\"kind\":\"consumer_stop\",\"service\":\"shipping\"},"
	"{\"at_s\":9,\"until_s\":11,\"kind\":\"broker_partition\",\"service\":\"orders\"},"
	"{\"at_s\":12,\"until_s\":14,\"kind\":\"duplicate_delivery\",\"service\":\"shipping\"}]}";

static void expect_broker_error(const char *from, const char *to, const char *want)
{
	char doc[2048], err[256];
	const char *at = strstr(broker, from);
	struct sim_scenario sc;

	assert_non_null(at);
	snprintf(doc, sizeof(doc), "%.*s%s%s", (int)(at - broker), broker, to, at + strlen(from));
	assert_int_equal(sim_scenario_parse(doc, &sc, err, sizeof(err)), -1);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("for %s: got \"%s\", want \"%s...\"", to, err, want);
}

static void test_broker_faults(void **state)
{
	struct sim_scenario sc;
	char err[256];

	(void)state;
	unsetenv("SHOPLAB_SERVICES");
	assert_int_equal(sim_scenario_parse(broker, &sc, err, sizeof(err)), 0);
	assert_true(sc.events_drain_s == 40);
	assert_int_equal(sc.nfaults, 4);
	assert_int_equal(sc.faults[0].kind, SIM_FAULT_BROKER_KILL);
	assert_string_equal(sc.faults[0].target, "rabbitmq");
	assert_int_equal(sc.faults[1].kind, SIM_FAULT_CONSUMER_STOP);
	assert_string_equal(sc.faults[1].target, "shipping");
	assert_int_equal(sc.faults[2].kind, SIM_FAULT_BROKER_PARTITION);
	assert_string_equal(sc.faults[2].proxy, "orders-broker");
	assert_int_equal(sc.faults[3].kind, SIM_FAULT_DUPLICATE_DELIVERY);
	assert_string_equal(sc.faults[3].proxy, "shipping-broker");
	assert_string_equal(sc.faults[3].type, "reset_peer");
	assert_string_equal(sc.faults[3].stream, "upstream");
	assert_string_equal(sim_fault_kind_names[sc.faults[3].kind], "duplicate_delivery");
	sim_scenario_free(&sc);
	/* Every broker fault has an end, a service where it needs one, nothing else. */
	expect_broker_error("{\"at_s\":2,\"until_s\":5,", "{\"at_s\":2,", "faults[0].until_s: is required");
	expect_broker_error("\"kind\":\"broker_kill\"", "\"kind\":\"broker_kill\",\"target\":\"rabbitmq\"",
			    "faults[0].target: unknown field");
	expect_broker_error(",\"service\":\"shipping\"}", "}", "faults[1].service: is required");
	expect_broker_error("\"service\":\"orders\"", "\"service\":\"Orders!\"", "faults[2].service: must be a service");
	expect_broker_error("\"service\":\"orders\"", "\"service\":\"mariadb\"", "faults[2].service: must be a service");
	expect_broker_error("\"kind\":\"duplicate_delivery\"", "\"kind\":\"duplicate_delivry\"", "faults[3].kind: must be one of");
	expect_broker_error("\"events_drain_s\":40", "\"events_drain_s\":-1", "events_drain_s: must be between");
	/* With the stack's list, a service it does not run is refused. */
	setenv("SHOPLAB_SERVICES", "orders shipping", 1);
	expect_broker_error("\"service\":\"orders\"", "\"service\":\"billing\"", "faults[2].service: must be a service");
	unsetenv("SHOPLAB_SERVICES");
}

/* proxy_api: a URL or a host's name; the name is looked up as SHOPLAB_PROXY_API_<NAME>. */
static void test_proxy_api(void **state)
{
	static const char *from = "\"proxy\":\"gateway-payments\",";
	const char *at = strstr(valid, from);
	struct sim_scenario sc;
	char doc[2048], err[256], api[256];

	(void)state;
	assert_non_null(at);
	snprintf(doc, sizeof(doc), "%.*s%s%s", (int)(at - valid), valid,
	    "\"proxy_api\":\"svc1\",\"proxy\":\"svc1-db1\",", at + strlen(from));
	if (sim_scenario_parse(doc, &sc, err, sizeof(err)) != 0)
		fail_msg("proxy_api svc1: %s", err);
	assert_string_equal(sc.faults[0].proxy_api, "svc1");
	assert_string_equal(sc.faults[1].proxy_api, "");
	unsetenv("SHOPLAB_PROXY_API_SVC1");
	assert_int_equal(sim_fault_proxy_api(&sc.faults[0], api, sizeof(api)), -1);
	assert_string_equal(api, "");
	setenv("SHOPLAB_PROXY_API_SVC1", "http://10.232.0.2:8474/", 1);
	assert_int_equal(sim_fault_proxy_api(&sc.faults[0], api, sizeof(api)), 0);
	assert_string_equal(api, "http://10.232.0.2:8474");
	unsetenv("SHOPLAB_PROXY_API_SVC1");
	setenv("SHOPLAB_PROXY_API", "http://127.0.0.1:9999", 1);
	assert_int_equal(sim_fault_proxy_api(&sc.faults[1], api, sizeof(api)), 0);
	assert_string_equal(api, "http://127.0.0.1:9999");
	unsetenv("SHOPLAB_PROXY_API");
	snprintf(sc.faults[0].proxy_api, sizeof(sc.faults[0].proxy_api), "http://10.0.0.9:8474");
	assert_int_equal(sim_fault_proxy_api(&sc.faults[0], api, sizeof(api)), 0);
	assert_string_equal(api, "http://10.0.0.9:8474");
	sim_scenario_free(&sc);
	expect_error(from, "\"proxy_api\":\"Svc1\",\"proxy\":\"x\",", "faults[0].proxy_api: must be");
	expect_error(from, "\"proxy_api\":\"http://\",\"proxy\":\"x\",", "faults[0].proxy_api: must be");
	expect_error(from, "\"proxy_api\":\"svc1;rm\",\"proxy\":\"x\",", "faults[0].proxy_api: must be");
	expect_error(from, "\"proxy_api\":\"\",\"proxy\":\"x\",", "faults[0].proxy_api: must be 1 to");
	expect_error(from, "\"proxy_api\":7,\"proxy\":\"x\",", "faults[0].proxy_api: must be a string");
	expect_error("{\"at_s\":12,\"until_s\":15,\"kind\":\"stop\",",
	    "{\"at_s\":12,\"until_s\":15,\"kind\":\"stop\",\"proxy_api\":\"svc1\",", "faults[1].proxy_api: unknown field");
}

static void test_load_missing(void **state)
{
	struct sim_scenario sc;
	char err[256];

	(void)state;
	assert_int_equal(sim_scenario_load("/nonexistent/x.json", &sc, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/x.json"));
}

/* Mistakes are reported as FILE:LINE: PATH, the line of the value the path names. */
static void test_lines(void **state)
{
	static const char text[] =
		"{\n"
		"  \"name\": \"x\",\n"
		"  \"faults\": [\n"
		"    {\"kind\": \"toxic\", \"proxy\": \"a,b\"},\n"
		"    {\"kind\": \"toxic\",\n"
		"     \"attributes\": {\"latency\": [1, 2],\n"
		"                    \"latncy\": 5}}\n"
		"  ]\n"
		"}\n";
	char path[] = "/tmp/sim-scn-XXXXXX", err[512];
	struct sim_scenario sc;
	FILE *f;
	int fd;

	(void)state;
	assert_int_equal(sim_scenario_line(text, sim_scenario_offset(text, "name")), 2);
	assert_int_equal(sim_scenario_line(text, sim_scenario_offset(text, "faults[0].proxy")), 4);
	assert_int_equal(sim_scenario_line(text, sim_scenario_offset(text, "faults[1]")), 5);
	assert_int_equal(sim_scenario_line(text, sim_scenario_offset(text, "faults[1].attributes.latncy: x")), 7);
	/* A path that does not exist points at its deepest part that does. */
	assert_int_equal(sim_scenario_line(text, sim_scenario_offset(text, "faults[1].until_s")), 5);
	assert_int_equal(sim_scenario_line(text, sim_scenario_offset(text, "faults[7].proxy")), 3);
	/* sim_scenario_load prefixes the line to the parser's message. */
	assert_true((fd = mkstemp(path)) >= 0);
	assert_non_null(f = fdopen(fd, "w"));
	fputs("{\"name\": \"x\", \"seed\": 1, \"duration_s\": 10,\n \"phases\": [{\"at_s\": 0, \"rate\": 1}],\n"
	      " \"mix\": {\"browse\": 1}, \"data\": {\"users\": 1, \"products\": [1, 2]},\n"
	      " \"faults\": [{\"at_s\": 5, \"until_s\": 4,\n  \"kind\": \"stop\", \"target\": \"payments\"}]}\n", f);
	fclose(f);
	assert_int_equal(sim_scenario_load(path, &sc, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":4: faults[0].until_s: must be greater than at_s"));
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_deploy_kind),
		cmocka_unit_test(test_broker_faults),
		cmocka_unit_test(test_proxy_api),
		cmocka_unit_test(test_load_missing),
		cmocka_unit_test(test_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
