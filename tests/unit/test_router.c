/* test_router.c - route patterns: matching, captured arguments, 404 versus 405 */
#include "svc_test.h"

static int h(struct svc_req *r) { (void)r; return 0; }

static const struct svc_route routes[] = {
	{ "GET",  "/api/v1/products",			h },
	{ "POST", "/api/v1/products",			h },
	{ "GET",  "/api/v1/products/{id}",		h },
	{ "PUT",  "/api/v1/inventory/{product_id}",	h },
	{ "GET",  "/api/v1/orders/{id}/items/{item}",	h },
	{ "*",    "/auth/verify",			h },
};
#define NR (sizeof(routes) / sizeof(routes[0]))

static void
test_exact_and_args(void **state)
{
	struct svc_match m;
	char allow[64];

	(void)state;
	assert_int_equal(svc_route_match(routes, NR, "GET", "/api/v1/products", &m, allow,
	    sizeof(allow)), 0);
	assert_int_equal(m.nargs, 0);
	assert_int_equal(svc_route_match(routes, NR, "POST", "/api/v1/products", &m, allow,
	    sizeof(allow)), 1);
	assert_int_equal(svc_route_match(routes, NR, "GET", "/api/v1/products/17", &m, allow,
	    sizeof(allow)), 2);
	assert_int_equal(m.nargs, 1);
	assert_string_equal(m.args[0].value, "17");
	assert_int_equal(m.args[0].namelen, 2);
	assert_memory_equal(m.args[0].name, "id", 2);
	assert_int_equal(svc_route_match(routes, NR, "GET", "/api/v1/orders/5/items/x-9", &m,
	    allow, sizeof(allow)), 4);
	assert_int_equal(m.nargs, 2);
	assert_string_equal(m.args[0].value, "5");
	assert_string_equal(m.args[1].value, "x-9");
}

static void
test_any_method(void **state)
{
	struct svc_match m;
	char allow[64];

	(void)state;
	assert_int_equal(svc_route_match(routes, NR, "POST", "/auth/verify", &m, allow,
	    sizeof(allow)), 5);
	assert_int_equal(svc_route_match(routes, NR, "DELETE", "/auth/verify", &m, allow,
	    sizeof(allow)), 5);
}

static void
test_head_is_get(void **state)
{
	struct svc_match m;
	char allow[64];

	(void)state;
	assert_int_equal(svc_route_match(routes, NR, "HEAD", "/api/v1/products/1", &m, allow,
	    sizeof(allow)), 2);
}

static void
test_not_found(void **state)
{
	static const char *const paths[] = {
		"/", "/api/v1", "/api/v1/products/", "/api/v1/products/1/", "/api/v1/productsx",
		"/api/v1/products//", "/api/v1/products/1/2", "api/v1/products", "",
		"/api/v1/orders/1/items/", "/API/v1/products",
	};
	struct svc_match m;
	char allow[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		assert_int_equal(svc_route_match(routes, NR, "GET", paths[i], &m, allow,
		    sizeof(allow)), SVC_MATCH_NONE);
}

static void
test_method_not_allowed_lists_allow(void **state)
{
	struct svc_match m;
	char allow[64];

	(void)state;
	assert_int_equal(svc_route_match(routes, NR, "DELETE", "/api/v1/products", &m, allow,
	    sizeof(allow)), SVC_MATCH_METHOD);
	assert_string_equal(allow, "GET, POST");
	assert_int_equal(svc_route_match(routes, NR, "POST", "/api/v1/inventory/3", &m, allow,
	    sizeof(allow)), SVC_MATCH_METHOD);
	assert_string_equal(allow, "PUT");
}

static void
test_segment_too_long(void **state)
{
	char path[SVC_ARG_MAX + 64], allow[64];
	struct svc_match m;

	(void)state;
	memcpy(path, "/api/v1/products/", 17);
	memset(path + 17, '7', SVC_ARG_MAX);
	path[17 + SVC_ARG_MAX] = '\0';
	assert_int_equal(svc_route_match(routes, NR, "GET", path, &m, allow, sizeof(allow)),
	    SVC_MATCH_NONE);
	path[17 + SVC_ARG_MAX - 1] = '\0';
	assert_int_equal(svc_route_match(routes, NR, "GET", path, &m, allow, sizeof(allow)), 2);
}

static const struct svc_unit_yesno pattern_cases[] = {
	{ "/api/v1/products/{id}", 1 },
	{ "/a/{b}/c/{d}", 1 },
	{ "api", 0 },
	{ "/a/{}", 0 },
	{ "/a/{b", 0 },
	{ "/a/{b}c", 0 },
	{ "/a/x{b}", 0 },
	{ "/{a}/{b}/{c}/{d}/{e}", 0 },
	{ NULL, 0 },
};

static void
test_pattern_validation(void **state)
{
	(void)state;
	svc_unit_yesno("svc_route_valid", svc_route_valid, pattern_cases,
	    SVC_UNIT_N(pattern_cases));
}

SVC_UNIT_MAIN("router",
    cmocka_unit_test(test_exact_and_args),
    cmocka_unit_test(test_head_is_get),
    cmocka_unit_test(test_any_method),
    cmocka_unit_test(test_not_found),
    cmocka_unit_test(test_method_not_allowed_lists_allow),
    cmocka_unit_test(test_segment_too_long),
    cmocka_unit_test(test_pattern_validation))
