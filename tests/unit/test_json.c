/* test_json.c - JSON input validation and the error shape it answers with */
#include <stdlib.h>

#include "svc_test.h"

static json_object *
parse_ok(struct svc_test_req *t, const char *body)
{
	json_object *o = NULL;

	assert_int_equal(svc_json_parse_or_reply(&t->r, body, strlen(body), &o), SVC_OK);
	assert_non_null(o);
	assert_int_equal(t->r.status, 0);
	return o;
}

static void
test_parse_valid(void **state)
{
	struct svc_test_req	t;
	json_object		*o;

	(void)state;
	svc_test_req_init(&t, "POST", NULL, NULL);
	o = parse_ok(&t, " {\"a\":1,\"b\":\"x\"}\n ");
	assert_int_equal(json_object_object_length(o), 2);
	svc_test_req_free(&t);	/* the deferred put frees o: valgrind would tell */
}

/* body (len bytes) is refused with a 400 invalid_json; with check_null no object comes back. */
static void
parse_refused(const char *body, size_t len, int check_null)
{
	struct svc_test_req	 t;
	json_object		*o;
	int			 rc;

	svc_test_req_init(&t, "POST", NULL, NULL);
	rc = svc_json_parse_or_reply(&t.r, body, len, &o);
	if (rc != SVC_ERR_REPLIED || (check_null && o != NULL))
		fail_msg("%.60s: %d, want it refused%s", body, rc, check_null ? " and no object" : "");
	svc_test_assert_error(&t, 400, "invalid_json", NULL);
	svc_test_req_free(&t);
}

static void
test_parse_invalid(void **state)
{
	static const char *const bad[] = {
		"", "{", "{\"a\":}", "{\"a\":1} x", "{\"a\":1}{}", "nul",
		"{\"a\":1,}", "{\"a\":\"\xff\xfe\"}", "{\"a\":\"\xc3\x28\"}",
	};
	size_t i;

	(void)state;
	for (i = 0; i < SVC_UNIT_N(bad); i++)
		parse_refused(bad[i], strlen(bad[i]), 1);
}

static void
test_parse_not_object(void **state)
{
	static const char *const bad[] = { "[]", "1", "\"s\"", "null", "true" };
	size_t i;

	(void)state;
	for (i = 0; i < SVC_UNIT_N(bad); i++)
		parse_refused(bad[i], strlen(bad[i]), 0);
}

static void
test_parse_too_deep(void **state)
{
	char	body[256];
	size_t	i, n = 0;

	(void)state;
	n += (size_t)snprintf(body, sizeof(body), "{\"a\":");
	for (i = 0; i < 40; i++)
		body[n++] = '[';
	for (i = 0; i < 40; i++)
		body[n++] = ']';
	body[n++] = '}';
	body[n] = '\0';
	parse_refused(body, n, 0);
}

/* body's required field, min to max long, is refused with a 400 that names it. */
static void
str_field_refused(const char *body, const char *field, size_t min, size_t max)
{
	struct svc_test_req	 t;
	const char		*s;
	int			 rc;

	svc_test_req_init(&t, "POST", NULL, NULL);
	rc = svc_json_str_or_reply(&t.r, parse_ok(&t, body), field, min, max, 1, &s);
	if (rc != SVC_ERR_REPLIED || t.r.status != 400)
		fail_msg("%s: %s gave %d (status %d), want a 400", body, field, rc, t.r.status);
	svc_test_assert_error(&t, 400, "validation_failed", field);
	svc_test_req_free(&t);
}

static void
test_str_field(void **state)
{
	struct svc_test_req	 t;
	json_object		*o;
	const char		*s;

	(void)state;
	svc_test_req_init(&t, "POST", NULL, NULL);
	o = parse_ok(&t, "{\"name\":\"abc\",\"n\":5,\"nul\":\"a\\u0000b\",\"z\":null}");
	assert_int_equal(svc_json_str_or_reply(&t.r, o, "name", 1, 3, 1, &s), SVC_OK);
	assert_string_equal(s, "abc");
	assert_int_equal(svc_json_str_or_reply(&t.r, o, "absent", 1, 3, 0, &s), SVC_OK);
	assert_null(s);
	assert_int_equal(svc_json_str_or_reply(&t.r, o, "z", 1, 3, 0, &s), SVC_OK);
	assert_null(s);
	svc_test_req_free(&t);

	/* Too long, not a string, missing but required, holding a NUL. */
	str_field_refused("{\"name\":\"abcd\"}", "name", 1, 3);
	str_field_refused("{\"name\":7}", "name", 1, 3);
	str_field_refused("{}", "name", 1, 3);
	str_field_refused("{\"nul\":\"a\\u0000b\"}", "nul", 0, 10);
}

static void
test_int_field(void **state)
{
	static const char *const bad[] = {
		"{\"q\":0}", "{\"q\":1001}", "{\"q\":1.5}", "{\"q\":\"5\"}", "{\"q\":true}",
		"{\"q\":99999999999999999999}", "{\"q\":-99999999999999999999}", "{}",
	};
	struct svc_test_req	 t;
	json_object		*o;
	int64_t			 v = 0;
	size_t			 i;

	(void)state;
	svc_test_req_init(&t, "POST", NULL, NULL);
	o = parse_ok(&t, "{\"q\":1000}");
	assert_int_equal(svc_json_int_or_reply(&t.r, o, "q", 1, 1000, 1, &v), SVC_OK);
	assert_int_equal(v, 1000);
	svc_test_req_free(&t);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		svc_test_req_init(&t, "POST", NULL, NULL);
		o = parse_ok(&t, bad[i]);
		assert_int_equal(svc_json_int_or_reply(&t.r, o, "q", 1, 1000, 1, &v),
		    SVC_ERR_REPLIED);
		svc_test_assert_error(&t, 400, "validation_failed", "q");
		svc_test_req_free(&t);
	}
}

static void
test_error_shape_and_err_mapping(void **state)
{
	struct svc_test_req t;

	(void)state;
	svc_test_req_init(&t, "GET", NULL, NULL);
	assert_int_equal(svc_reply_error(&t.r, 409, "sku_taken", "a %s exists", "product"),
	    SVC_ERR_REPLIED);
	svc_test_assert_error(&t, 409, "sku_taken", NULL);
	assert_non_null(strstr(t.out.data, "Status: 409 Conflict\r\n"));
	assert_non_null(strstr(t.out.data, "X-Request-Id: rid-1\r\n"));
	assert_non_null(strstr(t.out.data, "\"message\":\"a product exists\""));
	svc_test_req_free(&t);

	svc_test_req_init(&t, "GET", NULL, NULL);
	svc_reply_err(&t.r, SVC_ERR_DB_UNAVAILABLE);
	svc_test_assert_error(&t, 503, "database_unavailable", NULL);
	assert_non_null(strstr(t.out.data, "Retry-After: 1\r\n"));
	svc_test_req_free(&t);

	/* A second response is refused: a handler sends exactly one. */
	svc_test_req_init(&t, "GET", NULL, NULL);
	assert_int_equal(svc_reply_raw(&t.r, 200, "text/plain", "a", 1), SVC_OK);
	assert_int_not_equal(svc_reply_raw(&t.r, 500, "text/plain", "b", 1), SVC_OK);
	assert_int_equal(t.r.status, 200);
	svc_test_req_free(&t);

	assert_int_equal(svc_err_status(SVC_ERR_NOT_FOUND), 404);
	assert_int_equal(svc_err_status(SVC_ERR_CONFLICT), 409);
	assert_int_equal(svc_err_status(SVC_ERR_TIMEOUT), 504);
	assert_int_equal(svc_err_status((enum svc_err)999), 500);
}

static void
test_header_injection_refused(void **state)
{
	struct svc_test_req t;

	(void)state;
	svc_test_req_init(&t, "GET", NULL, NULL);
	assert_int_not_equal(svc_reply_header(&t.r, "X-A", "1\r\nSet-Cookie: x"), SVC_OK);
	assert_int_not_equal(svc_reply_header(&t.r, "X-A: b", "1"), SVC_OK);
	assert_int_equal(svc_reply_header(&t.r, "X-A", "1"), SVC_OK);
	svc_test_req_free(&t);
}

static void
test_query(void **state)
{
	struct svc_test_req	t;
	char			out[8];
	int64_t			v;

	(void)state;
	svc_test_req_init(&t, "GET", "a=1&q=t%C3%A9+x&empty&limit=5&bad=%4&long=123456789", NULL);
	assert_int_equal(svc_req_query(&t.r, "a", out, sizeof(out)), 1);
	assert_string_equal(out, "1");
	assert_int_equal(svc_req_query(&t.r, "q", out, sizeof(out)), 1);
	assert_string_equal(out, "t\xc3\xa9 x");
	assert_int_equal(svc_req_query(&t.r, "empty", out, sizeof(out)), 1);
	assert_string_equal(out, "");
	assert_int_equal(svc_req_query(&t.r, "nope", out, sizeof(out)), 0);
	assert_int_equal(svc_req_query(&t.r, "bad", out, sizeof(out)), SVC_QUERY_BAD_ESCAPE);
	assert_int_equal(svc_req_query(&t.r, "long", out, sizeof(out)), SVC_QUERY_TOO_LONG);
	assert_int_equal(svc_query_int_or_reply(&t.r, "limit", 1, 100, 20, &v), SVC_OK);
	assert_int_equal(v, 5);
	assert_int_equal(svc_query_int_or_reply(&t.r, "nope", 1, 100, 20, &v), SVC_OK);
	assert_int_equal(v, 20);
	assert_int_equal(svc_query_int_or_reply(&t.r, "q", 1, 100, 20, &v), SVC_ERR_REPLIED);
	svc_test_assert_error(&t, 400, "validation_failed", "q");
	svc_test_req_free(&t);

	/* A NUL byte says so, even in a value that would also be too long. */
	svc_test_req_init(&t, "GET", "x=%00&y=a%00b&z=1234567%00", NULL);
	assert_int_equal(svc_req_query(&t.r, "x", out, sizeof(out)), SVC_QUERY_NUL);
	assert_int_equal(svc_req_query(&t.r, "y", out, sizeof(out)), SVC_QUERY_NUL);
	assert_int_equal(svc_query_int_or_reply(&t.r, "y", 1, 100, 20, &v), SVC_ERR_REPLIED);
	svc_test_assert_error(&t, 400, "validation_failed", "y");
	svc_test_req_free(&t);
}

static void
test_ids_and_identity(void **state)
{
	char *env[] = { "SHOPLAB_USER_ID=42", "SHOPLAB_USER_ROLE=admin",
	    "HTTP_IF_NONE_MATCH=\"x\"", NULL };
	char *spoof[] = { "HTTP_X_USER_ID=7", "HTTP_SHOPLAB_USER_ID=7", NULL };
	struct svc_test_req t;
	int64_t id;

	(void)state;
	assert_int_equal(svc_parse_id("1", &id), 0);
	assert_int_equal(id, 1);
	assert_int_equal(svc_parse_id("9223372036854775807", &id), 0);
	assert_int_equal(svc_parse_id("9223372036854775808", &id), -1);
	assert_int_equal(svc_parse_id("0", &id), -1);
	assert_int_equal(svc_parse_id("01", &id), -1);
	assert_int_equal(svc_parse_id("-1", &id), -1);
	assert_int_equal(svc_parse_id(" 1", &id), -1);
	assert_int_equal(svc_parse_id("1a", &id), -1);
	assert_int_equal(svc_parse_id("", &id), -1);

	svc_test_req_init(&t, "GET", NULL, env);
	assert_int_equal(svc_req_user_id(&t.r), 42);
	assert_string_equal(svc_req_user_role(&t.r), "admin");
	assert_string_equal(svc_req_header(&t.r, "If-None-Match"), "\"x\"");
	svc_test_req_free(&t);
	svc_test_req_init(&t, "GET", NULL, spoof);
	assert_int_equal(svc_req_user_id(&t.r), 0);
	assert_null(svc_req_user_role(&t.r));
	svc_test_req_free(&t);

	assert_true(svc_req_id_sane("abc-DEF_1.2"));
	assert_false(svc_req_id_sane(""));
	assert_false(svc_req_id_sane("a b"));
	assert_false(svc_req_id_sane("a\"b"));
	assert_false(svc_req_id_sane(
	    "0123456789012345678901234567890123456789012345678901234567890123456789"));
}

/* The checked adds: a NULL value (a failed allocation) is an error, never a null field. */
static void
test_checked_adds(void **state)
{
	json_object	*o = json_object_new_object(), *a = json_object_new_array();
	int		 bad = 0;

	(void)state;
	assert_int_equal(svc_json_add(o, "n", json_object_new_int64(1)), 0);
	assert_int_equal(svc_json_push(a, json_object_new_string("x")), 0);
	assert_int_equal(svc_json_add(o, "a", a), 0);
	assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
	    "{\"n\":1,\"a\":[\"x\"]}");
	bad |= svc_json_add(o, "missing", NULL);
	bad |= svc_json_push(NULL, json_object_new_int64(2));	/* the value is released */
	bad |= svc_json_add(NULL, "k", json_object_new_int64(3));
	assert_int_equal(bad, -1);
	assert_false(json_object_object_get_ex(o, "missing", NULL));
	assert_ptr_equal(svc_json_checked(o, 0), o);
	assert_null(svc_json_checked(o, bad));	/* o is released */
}

/* A string json-c's way for every byte value, and an integer at both ends of int64. */
static void
test_append_str_matches_json_c(void **state)
{
	char		 all[300];
	const char	*cases[] = { "", "plain ascii", "a/b \"q\" back\\slash", "\xc3\xa9t\xc3\xa9 \xe2\x82\xac",
	    "tab\tnl\ncr\rbs\bff\f" };
	struct svc_buf	 b;
	json_object	*o;
	const char	*want;
	size_t		 i, wlen;

	(void)state;
	for (i = 0; i < 255; i++)
		all[i] = (char)(i + 1);
	all[255] = '\0';
	all[256] = 'z';		/* a NUL inside the string: json-c keeps and escapes it */
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]) + 1; i++) {
		const char	*s = i < sizeof(cases) / sizeof(cases[0]) ? cases[i] : all;
		size_t		 len = i < sizeof(cases) / sizeof(cases[0]) ? strlen(s) : 257;

		o = json_object_new_string_len(s, (int)len);
		assert_non_null(o);
		want = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN |
		    JSON_C_TO_STRING_NOSLASHESCAPE, &wlen);
		svc_buf_init(&b);
		assert_int_equal(svc_json_append_str(&b, s, len), 0);
		assert_int_equal(b.len, wlen);
		assert_memory_equal(b.data, want, wlen);
		svc_buf_free(&b);
		json_object_put(o);
	}
	svc_buf_init(&b);
	assert_int_equal(svc_buf_append_ll(&b, INT64_MIN), 0);
	svc_buf_append(&b, " ", 1);
	svc_buf_append_ll(&b, 0);
	svc_buf_append(&b, " ", 1);
	svc_buf_append_ll(&b, INT64_MAX);
	assert_string_equal(b.data, "-9223372036854775808 0 9223372036854775807");
	svc_buf_free(&b);
}

SVC_UNIT_MAIN("json",
    cmocka_unit_test(test_checked_adds),
    cmocka_unit_test(test_append_str_matches_json_c),
    cmocka_unit_test(test_parse_valid),
    cmocka_unit_test(test_parse_invalid),
    cmocka_unit_test(test_parse_not_object),
    cmocka_unit_test(test_parse_too_deep),
    cmocka_unit_test(test_str_field),
    cmocka_unit_test(test_int_field),
    cmocka_unit_test(test_error_shape_and_err_mapping),
    cmocka_unit_test(test_header_injection_refused),
    cmocka_unit_test(test_query),
    cmocka_unit_test(test_ids_and_identity))
