/* test_events.c - the pure parts of events: envelopes built and parsed, types, ids, the retry verdict */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "svc_events.h"

static void
test_build_then_parse_round_trips(void **state)
{
	struct svc_buf		b;
	struct svc_event	ev;
	char			id[37], at[32];

	(void)state;
	assert_int_equal(svc_event_uuid(id), 0);
	assert_int_equal(strlen(id), 36);
	assert_int_equal(id[14], '4');
	svc_event_time(1764547200123456LL, at);
	assert_string_equal(at, "2025-12-01T00:00:00.123456Z");
	svc_buf_init(&b);
	assert_int_equal(svc_event_build(id, "order.confirmed", 1, at, "orders", "42",
	    "{\"order_id\":42,\"note\":\"a \\\"quoted\\\" word\"}", &b), SVC_OK);
	assert_int_equal(svc_event_parse(b.data, b.len, &ev), SVC_OK);
	assert_string_equal(ev.id, id);
	assert_string_equal(ev.type, "order.confirmed");
	assert_int_equal(ev.version, 1);
	assert_string_equal(ev.occurred_at, at);
	assert_string_equal(ev.source, "orders");
	assert_string_equal(ev.key, "42");
	assert_string_equal(json_object_get_string(json_object_object_get(ev.data, "note")),
	    "a \"quoted\" word");
	svc_event_free(&ev);
	svc_buf_free(&b);
}

static void
test_build_refuses_bad_input(void **state)
{
	struct svc_buf b;

	(void)state;
	svc_buf_init(&b);
	assert_int_equal(svc_event_build("id-1", "Order.Confirmed", 1, "t", "s", "k", "{}", &b),
	    SVC_ERR_INVALID);
	assert_int_equal(svc_event_build("id-1", "noclass", 1, "t", "s", "k", "{}", &b),
	    SVC_ERR_INVALID);
	assert_int_equal(svc_event_build("id-1", "order.x", 1, "t", "s", "k", "[1]", &b),
	    SVC_ERR_INVALID);
	assert_int_equal(svc_event_build("id-1", "order.x", 1, "t", "s", "k", "{bad", &b),
	    SVC_ERR_INVALID);
	assert_int_equal(svc_event_build("id 1", "order.x", 1, "t", "s", "k", "{}", &b),
	    SVC_ERR_INVALID);
	assert_int_equal(svc_event_build("id-1", "order.x", 0, "t", "s", "k", "{}", &b),
	    SVC_ERR_INVALID);
	assert_int_equal(b.len, 0);
	svc_buf_free(&b);
}

static void
test_parse_refuses_poison(void **state)
{
	static const char *const bad[] = {
		"",
		"not json",
		"[]",
		"{\"id\":\"a\",\"type\":\"x.y\",\"version\":1,\"occurred_at\":\"t\",\"source\":\"s\",\"key\":\"k\"}",
		"{\"id\":\"a\",\"type\":\"x.y\",\"version\":\"1\",\"occurred_at\":\"t\",\"source\":\"s\",\"key\":\"k\",\"data\":{}}",
		"{\"id\":\"a\",\"type\":\"x.y\",\"version\":1,\"occurred_at\":\"t\",\"source\":\"s\",\"key\":\"k\",\"data\":[]}",
		"{\"id\":\"a b\",\"type\":\"x.y\",\"version\":1,\"occurred_at\":\"t\",\"source\":\"s\",\"key\":\"k\",\"data\":{}}",
		"{\"id\":\"a\",\"type\":\"x.y\",\"version\":1,\"occurred_at\":\"t\",\"source\":\"s\",\"key\":\"k\",\"data\":{}} trailing",
	};
	struct svc_event	ev;
	size_t			i;
	const char		*ok = "{\"id\":\"a\",\"type\":\"x.y\",\"version\":1,\"occurred_at\":\"t\","
	    "\"source\":\"s\",\"key\":\"k\",\"data\":{}}";

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(svc_event_parse(bad[i], strlen(bad[i]), &ev), SVC_ERR_INVALID);
		assert_null(ev.root);
	}
	/* A NUL inside the body is poison too. */
	assert_int_equal(svc_event_parse("{\"a\0\":1}", 8, &ev), SVC_ERR_INVALID);
	assert_int_equal(svc_event_parse(ok, strlen(ok), &ev), SVC_OK);
	svc_event_free(&ev);
}

static void
test_decide_retries_then_dead_letters(void **state)
{
	(void)state;
	assert_int_equal(svc_event_decide(SVC_OK, 0, 5), SVC_EVENT_ACK);
	assert_int_equal(svc_event_decide(SVC_OK, 9, 5), SVC_EVENT_ACK);
	/* Transient failures: requeued for attempts 1..4, dead on the 5th. */
	assert_int_equal(svc_event_decide(SVC_ERR_DB_UNAVAILABLE, 0, 5), SVC_EVENT_REQUEUE);
	assert_int_equal(svc_event_decide(SVC_ERR_DB_RETRY, 3, 5), SVC_EVENT_REQUEUE);
	assert_int_equal(svc_event_decide(SVC_ERR_DB_UNAVAILABLE, 4, 5), SVC_EVENT_DEAD);
	assert_int_equal(svc_event_decide(SVC_ERR_INTERNAL, 40, 5), SVC_EVENT_DEAD);
	/* An event that can never apply is dead at once. */
	assert_int_equal(svc_event_decide(SVC_ERR_INVALID, 0, 5), SVC_EVENT_DEAD);
	/* One attempt only; nonsense counts are read safely. */
	assert_int_equal(svc_event_decide(SVC_ERR_INTERNAL, 0, 1), SVC_EVENT_DEAD);
	assert_int_equal(svc_event_decide(SVC_ERR_INTERNAL, -3, 2), SVC_EVENT_REQUEUE);
	assert_int_equal(svc_event_decide(SVC_ERR_INTERNAL, 0, 0), SVC_EVENT_DEAD);
}

static void
test_type_valid(void **state)
{
	(void)state;
	assert_true(svc_event_type_valid("shipment.dispatched"));
	assert_true(svc_event_type_valid("product.price_changed"));
	assert_false(svc_event_type_valid(".x"));
	assert_false(svc_event_type_valid("x."));
	assert_false(svc_event_type_valid("x"));
	assert_false(svc_event_type_valid("x.#"));
	assert_false(svc_event_type_valid(""));
	assert_false(svc_event_type_valid(NULL));
}

/* The lag histogram reads occurred_at back: what svc_event_time writes parses to the same µs. */
static void
test_time_parse_round_trips(void **state)
{
	char	at[32];
	int64_t	us = 0;

	(void)state;
	svc_event_time(1764547200123456LL, at);
	assert_int_equal(svc_event_time_parse(at, &us), 0);
	assert_true(us == 1764547200123456LL);
	assert_int_equal(svc_event_time_parse("2026-12-01T10:00:00Z", &us), 0);
	assert_true(us == 1796119200000000LL);
	assert_int_equal(svc_event_time_parse("2026-12-01T10:00:00.5Z", &us), 0);
	assert_true(us == 1796119200500000LL);
	assert_int_equal(svc_event_time_parse("2026-12-01T10:00:00", &us), -1);
	assert_int_equal(svc_event_time_parse("2026-12-01T10:00:00.Z", &us), -1);
	assert_int_equal(svc_event_time_parse("2026-12-01T10:00:00Zjunk", &us), -1);
	assert_int_equal(svc_event_time_parse("x", &us), -1);
	assert_int_equal(svc_event_time_parse("", &us), -1);
	assert_int_equal(svc_event_time_parse(NULL, &us), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_then_parse_round_trips),
		cmocka_unit_test(test_build_refuses_bad_input),
		cmocka_unit_test(test_parse_refuses_poison),
		cmocka_unit_test(test_decide_retries_then_dead_letters),
		cmocka_unit_test(test_type_valid),
		cmocka_unit_test(test_time_parse_round_trips),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
