/* test_catalog_unit.c - the catalog's pure helpers: LIKE escaping and If-None-Match matching */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>

#include <cmocka.h>

#include "svc_unit.h"

#include "catalog.h"

static void
test_like_pattern(void **state)
{
	char out[16];

	(void)state;
	assert_int_equal(catalog_like_pattern("tea", out, sizeof(out)), 0);
	assert_string_equal(out, "%tea%");
	assert_int_equal(catalog_like_pattern("50%_\\", out, sizeof(out)), 0);
	assert_string_equal(out, "%50\\%\\_\\\\%");
	assert_int_equal(catalog_like_pattern("", out, sizeof(out)), 0);
	assert_string_equal(out, "%%");
	assert_int_equal(catalog_like_pattern("0123456789abcd", out, sizeof(out)), -1);
	assert_int_equal(catalog_like_pattern("0123456789abc", out, sizeof(out)), 0);
	assert_int_equal(catalog_like_pattern("%%%%%%%", out, sizeof(out)), -1);
	assert_int_equal(catalog_like_pattern("x", out, 3), -1);
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
