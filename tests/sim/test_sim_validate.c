/* test_sim_validate.c - a scenario's toxics are checked against the proxy's attribute ranges before any load: FILE:LINE: PATH: why */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sim_scenario.h"
#include "sim_validate.h"
#include "simtest_api.h"

/* A scenario is checked against the proxy's ranges before any load: FILE:LINE: PATH: why. */
static void test_scenario_ranges(void **state)
{
	struct simtest_server *srv;
	int port = 0;
	char dir[] = "/tmp/test_toxic_check.XXXXXX", file[128], api[64], *out = NULL;
	size_t outlen = 0;
	struct sim_scenario sc;
	char err[512];
	FILE *fp, *mem;

	assert_non_null(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/x.json", dir);
	assert_non_null(fp = fopen(file, "w"));
	fputs("{\"name\":\"t\",\"seed\":1,\"duration_s\":10,\n"
	      "\"phases\":[{\"at_s\":0,\"rate\":1}],\"mix\":{\"browse\":1},\n"
	      "\"data\":{\"users\":1,\"products\":[1,2]},\n"
	      "\"faults\":[\n"
	      "{\"at_s\":1,\"until_s\":2,\"kind\":\"toxic\",\"proxy\":\"web\",\"type\":\"latency\",\n"
	      "  \"attributes\":{\"latency\":-800}},\n"
	      "{\"at_s\":1,\"until_s\":2,\"kind\":\"toxic\",\"proxy\":\"web\",\"type\":\"bandwidth\"},\n"
	      "{\"at_s\":1,\"until_s\":2,\"kind\":\"toxic\",\"proxy\":\"web\",\"type\":\"fcgi_abort\",\n"
	      "  \"attributes\":{\"status\":503,\"first\":2}}\n"
	      "]}\n", fp);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(sim_scenario_load(file, &sc, err, sizeof(err)), 0);
	(void)state;
	assert_non_null(srv = simtest_api_start("web", &port));
	snprintf(api, sizeof(api), "http://127.0.0.1:%d", port);
	assert_int_equal(setenv("SHOPLAB_PROXY_API", api, 1), 0);
	assert_non_null(mem = open_memstream(&out, &outlen));
	/* no gateway: the product check adds its own mistakes, counted but not asserted here */
	assert_true(sim_validate_live(&sc, "http://127.0.0.1:1", api, dir, mem) >= 2);
	assert_int_equal(fclose(mem), 0);
	snprintf(err, sizeof(err), "sim run: %s:6: faults[0].attributes.latency: latency.latency must be >= 0 (got -800)\n", file);
	assert_non_null(strstr(out, err));
	snprintf(err, sizeof(err), "sim run: %s:7: faults[1].attributes: bandwidth.rate must be >= 1 (got 0, the default)\n", file);
	assert_non_null(strstr(out, err));
	assert_null(strstr(out, "faults[2]"));
	simtest_api_stop(srv);
	free(out);
	sim_scenario_free(&sc);
	assert_int_equal(unlink(file), 0);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scenario_ranges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
