/* test_catalog_unit.c - the catalog's pure helpers: LIKE escaping and If-None-Match matching */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>

#include <cmocka.h>

#include "svc_unit.h"

#include "catalog.h"

/* { input, the size of out, what it returns, what out holds (NULL: not looked at) } */
static const struct svc_unit_conv like_cases[] = {
	{ "tea", 16, 0, "%tea%" },
	{ "50%_\\", 16, 0, "%50\\%\\_\\\\%" },
	{ "", 16, 0, "%%" },
	{ "0123456789abcd", 16, -1, NULL },
	{ "0123456789abc", 16, 0, NULL },
	{ "%%%%%%%", 16, -1, NULL },
	{ "x", 3, -1, NULL },
};

static void
test_like_pattern(void **state)
{
	(void)state;
	svc_unit_conv("catalog_like_pattern", catalog_like_pattern, like_cases,
	    SVC_UNIT_N(like_cases));
}

static void
test_etag_matches(void **state)
{
	(void)state;
	assert_true(catalog_etag_matches("\"abc\"", "\"abc\""));
	assert_true(catalog_etag_matches("W/\"abc\"", "\"abc\""));
	assert_true(catalog_etag_matches("\"x\", \"abc\"", "\"abc\""));
	assert_true(catalog_etag_matches("\"x\",W/\"abc\" ", "\"abc\""));
	assert_true(catalog_etag_matches("*", "\"abc\""));
	assert_false(catalog_etag_matches("\"abcd\"", "\"abc\""));
	assert_false(catalog_etag_matches("\"ab\"", "\"abc\""));
	assert_false(catalog_etag_matches("", "\"abc\""));
	assert_false(catalog_etag_matches("abc", "\"abc\""));
}

SVC_UNIT_MAIN("catalog",
    cmocka_unit_test(test_like_pattern),
    cmocka_unit_test(test_etag_matches))
