/* test_proxy_unit.c - pure parts of sim proxy: PRNG, selection, slicer plan, FastCGI codec, JSON */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proxy.h"
#include "proxy_api.h"

static void test_rng_reproducible(void **state)
{
	struct sim_rng a, b, c;

	(void)state;
	sim_rng_seed(&a, 99);
	sim_rng_seed(&b, 99);
	sim_rng_seed(&c, 100);
	for (int i = 0; i < 1000; i++) {
		uint64_t x = sim_rng_next(&a);

		assert_int_equal(x, sim_rng_next(&b));
		assert_true(sim_rng_unit(&c) < 1.0);
	}
	assert_int_not_equal(sim_hash_str("orders"), sim_hash_str("payments"));
	assert_int_not_equal(sim_mix(1, 2), sim_mix(2, 1));
}

static void test_select(void **state)
{
	struct sim_rng r;
	int hits = 0;

	(void)state;
	sim_rng_seed(&r, 3);
	for (uint64_t seq = 1; seq <= 10; seq++)
		assert_int_equal(sim_fcgi_select(3, 0, 0.0f, seq, &r), seq <= 3);
	for (uint64_t seq = 1; seq <= 10; seq++)
		assert_int_equal(sim_fcgi_select(0, 5, 1.0f, seq, &r), seq % 5 == 0);
	for (uint64_t seq = 1; seq <= 10000; seq++)
		hits += sim_fcgi_select(0, 0, 0.3f, seq, &r);
	assert_in_range(hits, 2850, 3150);
	assert_false(sim_fcgi_select(0, 0, 0.0f, 1, &r));
}

static void test_latency_draw(void **state)
{
	struct sim_rng r;
	int64_t lo = 1000, hi = 0;

	(void)state;
	sim_rng_seed(&r, 8);
	assert_int_equal(sim_latency_draw(100, 0, &r), 100);
	for (int i = 0; i < 5000; i++) {
		int64_t d = sim_latency_draw(100, 10, &r);

		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	assert_int_equal(lo, 90);
	assert_int_equal(hi, 109);
	assert_int_equal(sim_latency_draw(5, 50, &r) >= 0, 1);
}

static void test_slicer_plan(void **state)
{
	struct sim_rng r;
	size_t sizes[5000], n, sum = 0;

	(void)state;
	sim_rng_seed(&r, 1);
	n = sim_slicer_plan(100, 20, 4000, &r, sizes, 5000);
	assert_true(n >= 25 && n <= 80);
	for (size_t i = 0; i < n; i++) {
		assert_true(sizes[i] > 0 && sizes[i] <= 120);
		sum += sizes[i];
	}
	assert_int_equal(sum, 4000);
	assert_int_equal(sim_slicer_plan(0, 0, 50, &r, sizes, 5000), 1); /* off: one piece */
	assert_int_equal(sizes[0], 50);
	n = sim_slicer_plan(1, 5, 300, &r, sizes, 5000); /* variation clamped below average */
	assert_int_equal(n, 300);
}

static void test_fcgi_peek(void **state)
{
	unsigned char rec[16] = { 1, 4, 0, 9, 0, 5, 3, 0, 'a', 'b', 'c', 'd', 'e', 0, 0, 0 };
	struct sim_fcgi_hdr h;

	(void)state;
	assert_int_equal(sim_fcgi_record_peek(rec, 7, &h), 0);
	assert_int_equal(sim_fcgi_record_peek(rec, 15, &h), 0);
	assert_int_equal(sim_fcgi_record_peek(rec, 16, &h), 16);
	assert_int_equal(h.type, 4);
	assert_int_equal(h.id, 9);
	assert_int_equal(h.clen, 5);
	rec[0] = 2;
	assert_int_equal(sim_fcgi_record_peek(rec, 16, &h), -1);
}

static void test_fcgi_params(void **state)
{
	unsigned char p[600];
	size_t n = 0;
	char out[64];

	(void)state;
	/* a 1-byte pair, then a pair with a 4-byte value length */
	p[n++] = 4;
	p[n++] = 3;
	memcpy(p + n, "NAMEval", 7);
	n += 7;
	p[n++] = 17;
	p[n++] = 0x80;
	p[n++] = 0;
	p[n++] = 1;
	p[n++] = 44; /* 300 */
	memcpy(p + n, "HTTP_X_REQUEST_ID", 17);
	n += 17;
	memset(p + n, 'r', 300);
	n += 300;
	assert_true(sim_fcgi_param_get(p, n, "NAME", out, sizeof(out)));
	assert_string_equal(out, "val");
	assert_true(sim_fcgi_param_get(p, n, "HTTP_X_REQUEST_ID", out, sizeof(out)));
	assert_int_equal(strlen(out), 63); /* cut to the buffer */
	assert_false(sim_fcgi_param_get(p, n, "MISSING", out, sizeof(out)));
	assert_false(sim_fcgi_param_get(p, n - 1, "HTTP_X_REQUEST_ID", out, sizeof(out)));
}

static void test_fcgi_error_answer(void **state)
{
	struct evbuffer *b = evbuffer_new();
	unsigned char *all;
	size_t len, pos = 0;
	char stdout_text[512] = "";
	size_t sl = 0;
	int types[8], nt = 0;

	(void)state;
	assert_non_null(b);
	assert_int_equal(sim_fcgi_build_error(b, 3, 503, "service_unavailable", "down \"now\"", "r-1"), 0);
	len = evbuffer_get_length(b);
	all = evbuffer_pullup(b, -1);
	while (pos < len) {
		struct sim_fcgi_hdr h;
		long total = sim_fcgi_record_peek(all + pos, len - pos, &h);

		assert_true(total > 0);
		assert_int_equal(h.id, 3);
		types[nt++] = h.type;
		if (h.type == SIM_FCGI_STDOUT) {
			memcpy(stdout_text + sl, all + pos + 8, h.clen);
			sl += h.clen;
		}
		pos += (size_t)total;
	}
	assert_int_equal(nt, 4);
	assert_int_equal(types[2], SIM_FCGI_STDOUT); /* the empty one */
	assert_int_equal(types[3], SIM_FCGI_END_REQUEST);
	assert_non_null(strstr(stdout_text, "Status: 503 Service Unavailable\r\n"
	                                    "Content-Type: application/json\r\n"));
	assert_non_null(strstr(stdout_text, "\r\n\r\n{\"error\":{\"code\":\"service_unavailable\","
	                                    "\"message\":\"down \\\"now\\\"\",\"request_id\":\"r-1\"}}"));
	evbuffer_free(b);
}

static void test_json_parse_errors(void **state)
{
	struct sim_err err;
	json_object *o;

	(void)state;
	assert_null(sim_json_parse("  ", 2, &err));
	assert_int_equal(err.status, 400);
	assert_string_equal(err.msg, "bad request body: EOF");
	assert_null(sim_json_parse("{\"a\":", 5, &err));
	assert_string_equal(err.msg, "bad request body: unexpected EOF");
	assert_null(sim_json_parse("{\"a\" 1}", 7, &err));
	assert_int_equal(err.status, 400);
	o = sim_json_parse("{\"a\":1}", 7, &err);
	assert_non_null(o);
	json_object_put(o);
}

/* localhost and names under it are loopback without a lookup (a minimal root has no /etc/hosts). */
static void test_addr_localhost(void **state)
{
	static const char *const names[] = {
		"localhost:8474", "LocalHost.:8474", "api.localhost:8474", "[localhost]:8474",
	};
	struct sockaddr_storage ss;
	struct sim_err err;
	socklen_t len;
	char out[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (sim_addr_parse(names[i], false, &ss, &len, &err) != 0)
			fail_msg("%s: %s", names[i], err.msg);
		sim_addr_format((const struct sockaddr *)&ss, out, sizeof(out));
		if (strcmp(out, "127.0.0.1:8474") != 0)
			fail_msg("%s -> %s, want 127.0.0.1:8474", names[i], out);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rng_reproducible),
		cmocka_unit_test(test_select),
		cmocka_unit_test(test_latency_draw),
		cmocka_unit_test(test_slicer_plan),
		cmocka_unit_test(test_fcgi_peek),
		cmocka_unit_test(test_fcgi_params),
		cmocka_unit_test(test_fcgi_error_answer),
		cmocka_unit_test(test_json_parse_errors),
		cmocka_unit_test(test_addr_localhost),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
