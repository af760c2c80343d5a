/* test_resilience.c - a stopped dependency: checkouts fail fast once the breaker opens, and recover */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

static char	auth[2048], auth_admin[2048];
static long	run_id;

static void
test_breaker_opens_and_recovers(void **state)
{
	enum { N = 24 };
	const char	*h[3];
	char		 body[512], keyline[96], path[64];
	struct it_resp	 r;
	int64_t		 ids[N];
	double		 secs[N], state_open;
	int		 i, j;

	(void)state;
	run_id = it_run_id();
	it_login_new("res", run_id, "password-r", auth, sizeof(auth));
	it_login_admin(auth_admin, sizeof(auth_admin));
	h[0] = auth_admin;
	h[1] = NULL;
	it_expect("PUT", it_gateway(), "/api/v1/inventory/201", h, "{\"available\":100}", 200,
	    NULL);

	/* Payments dies and stays down. */
	assert_int_equal(kill(it_pid("payments"), SIGKILL), 0);
	snprintf(body, sizeof(body), "{\"items\":[{\"product_id\":201,\"quantity\":1}],\"card\":"
	    "{\"number\":\"4242424242424242\",\"exp_month\":12,\"exp_year\":2031,\"cvc\":\"123\"}}");
	h[0] = auth;
	h[1] = keyline;
	h[2] = NULL;
	for (i = 0; i < N; i++) {
		snprintf(keyline, sizeof(keyline), "Idempotency-Key: res-%ld-%d", run_id, i);
		assert_int_equal(it_request("POST", it_gateway(), "/api/v1/orders", h, body, &r), 0);
		if (r.status != 202)
			fprintf(stderr, "checkout %d: %ld %s\n", i, r.status, r.body);
		assert_int_equal(r.status, 202);
		ids[i] = it_int(&r, "id");
		secs[i] = r.seconds;
		it_resp_free(&r);
	}
	state_open = it_metric("orders",
	    "shoplab_dep_breaker_state{service=\"orders\",dep=\"payments\"}");
	fprintf(stderr, "checkout seconds with payments down:");
	for (i = 0; i < N; i++)
		fprintf(stderr, " %.3f", secs[i]);
	fprintf(stderr, "\nbreaker state: %g\n", state_open);
	/* The breaker opened: the last checkouts did not wait for payments at all. */
	assert_true(state_open == 1.0 || state_open == 2.0);
	for (i = N - 4; i < N; i++)
		assert_true(secs[i] < 0.25);
	assert_true(it_metric("orders", "shoplab_dep_breaker_transitions_total{service=\"orders\","
	    "dep=\"payments\",from=\"closed\",to=\"open\"}") >= 1);

	/* Payments returns: every saga finishes, the breaker closes again. */
	assert_int_equal(it_sh("\"$SHOPLAB_TOP/scripts/stack.sh\" up >&2"), 0);
	h[1] = NULL;
	for (i = 0; i < N; i++) {
		snprintf(path, sizeof(path), "/api/v1/orders/%lld", (long long)ids[i]);
		for (j = 0; j < 600; j++) {
			assert_int_equal(it_request("GET", it_gateway(), path, h, NULL, &r), 0);
			if (strcmp(it_str(&r, "status"), "pending") != 0) {
				/* Confirmed; shipping's events may have shipped it already. */
				if (strcmp(it_str(&r, "status"), "shipped") != 0)
					assert_string_equal(it_str(&r, "status"), "confirmed");
				it_resp_free(&r);
				break;
			}
			it_resp_free(&r);
			usleep(100000);
		}
		assert_true(j < 600);
	}
	assert_true(it_metric("orders",
	    "shoplab_dep_breaker_state{service=\"orders\",dep=\"payments\"}") == 0.0);
	it_check_invariants();
	/* Every service's metrics are clean exposition text (where promtool is installed). */
	assert_int_equal(it_sh("command -v promtool >/dev/null || exit 0; for s in users catalog"
	    " inventory orders payments; do curl -sf \"$SHOPLAB_GATEWAY_INTERNAL/_ops/$s/metrics\""
	    " | promtool check metrics || exit 1; done"), 0);
}

IT_MAIN("integration/resilience", NULL, NULL,
    cmocka_unit_test(test_breaker_opens_and_recovers))
