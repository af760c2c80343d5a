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

/* What a match leaves behind: the captured arguments, the Allow list of a 405. */
struct rt {
	struct svc_match	m;
	char			allow[64];
};

/* svc_route_match over routes: the index of the route, or SVC_MATCH_NONE or _METHOD. */
static int
rt_match(struct rt *t, const char *method, const char *path)
{
	return svc_route_match(routes, NR, method, path, &t->m, t->allow, sizeof(t->allow));
}

static void
test_exact_and_args(void **state)
{
	struct rt t;

	(void)state;
	assert_int_equal(rt_match(&t, "GET", "/api/v1/products"), 0);
	assert_int_equal(t.m.nargs, 0);
	assert_int_equal(rt_match(&t, "POST", "/api/v1/products"), 1);
	assert_int_equal(rt_match(&t, "GET", "/api/v1/products/17"), 2);
	assert_int_equal(t.m.nargs, 1);
	assert_string_equal(t.m.args[0].value, "17");
	assert_int_equal(t.m.args[0].namelen, 2);
	assert_memory_equal(t.m.args[0].name, "id", 2);
	assert_int_equal(rt_match(&t, "GET", "/api/v1/orders/5/items/x-9"), 4);
	assert_int_equal(t.m.nargs, 2);
	assert_string_equal(t.m.args[0].value, "5");
	assert_string_equal(t.m.args[1].value, "x-9");
}

static void
test_any_method(void **state)
{
	struct rt t;

	(void)state;
	assert_int_equal(rt_match(&t, "POST", "/auth/verify"), 5);
	assert_int_equal(rt_match(&t, "DELETE", "/auth/verify"), 5);
}

static void
test_head_is_get(void **state)
{
	struct rt t;

	(void)state;
	assert_int_equal(rt_match(&t, "HEAD", "/api/v1/products/1"), 2);
}

static void
test_not_found(void **state)
{
	static const char *const paths[] = {
		"/", "/api/v1", "/api/v1/products/", "/api/v1/products/1/", "/api/v1/productsx",
		"/api/v1/products//", "/api/v1/products/1/2", "api/v1/products", "",
		"/api/v1/orders/1/items/", "/API/v1/products",
	};
	struct rt t;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		assert_int_equal(rt_match(&t, "GET", paths[i]), SVC_MATCH_NONE);
}

static void
test_method_not_allowed_lists_allow(void **state)
{
	struct rt t;

	(void)state;
	assert_int_equal(rt_match(&t, "DELETE", "/api/v1/products"), SVC_MATCH_METHOD);
	assert_string_equal(t.allow, "GET, POST");
	assert_int_equal(rt_match(&t, "POST", "/api/v1/inventory/3"), SVC_MATCH_METHOD);
	assert_string_equal(t.allow, "PUT");
}

static void
test_segment_too_long(void **state)
{
	char path[SVC_ARG_MAX + 64];
	struct rt t;

	(void)state;
	memcpy(path, "/api/v1/products/", 17);
	memset(path + 17, '7', SVC_ARG_MAX);
	path[17 + SVC_ARG_MAX] = '\0';
	assert_int_equal(rt_match(&t, "GET", path), SVC_MATCH_NONE);
	path[17 + SVC_ARG_MAX - 1] = '\0';
	assert_int_equal(rt_match(&t, "GET", path), 2);
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
