/* test_events.c - the pure parts of events: envelopes built and parsed, types, ids, the retry verdict, the relay's wake */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "svc_events.h"
#include "svc_internal.h"

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

/* The relay's wake (svc_wake.c). Bounds are loose on purpose: this machine may be slow. */
struct wake_later {
	struct svc_wake	*wk;
	int		 close;		/* else post */
};

static void *
wake_later_main(void *arg)
{
	struct wake_later *wl = arg;

	usleep(50000);
	if (wl->close)
		svc_wake_close(wl->wk);
	else
		svc_wake_post(wl->wk);
	return NULL;
}

static void
test_wake_post_is_taken_once(void **state)
{
	struct svc_wake	wk = SVC_WAKE_INITIALIZER;
	int64_t		t0;

	(void)state;
	/* A post made before the wait is not lost, and it ends one wait, not two. */
	svc_wake_post(&wk);
	t0 = svc_now_us();
	assert_int_equal(svc_wake_wait(&wk, 10000, 1), SVC_WAKE_POSTED);
	assert_true(svc_now_us() - t0 < 5000000);
	t0 = svc_now_us();
	assert_int_equal(svc_wake_wait(&wk, 30, 1), SVC_WAKE_TIMEOUT);
	assert_true(svc_now_us() - t0 >= 30000);
	/* A sleep (take_post 0) neither ends at a post nor takes it: the relay's idle wait will. */
	svc_wake_post(&wk);
	assert_int_equal(svc_wake_wait(&wk, 20, 0), SVC_WAKE_TIMEOUT);
	assert_int_equal(svc_wake_wait(&wk, 0, 1), SVC_WAKE_POSTED);
	assert_int_equal(svc_wake_wait(&wk, 0, 1), SVC_WAKE_TIMEOUT);
}

static void
wake_from_thread(int close, int take_post, enum svc_wake_why want)
{
	struct svc_wake		wk = SVC_WAKE_INITIALIZER;
	struct wake_later	wl = { &wk, close };
	pthread_t		tid;
	int64_t			t0 = svc_now_us();

	assert_int_equal(pthread_create(&tid, NULL, wake_later_main, &wl), 0);
	/* 20 s: a wait that ran its course instead of being woken fails the bound below. */
	assert_int_equal(svc_wake_wait(&wk, 20000, take_post), want);
	assert_true(svc_now_us() - t0 < 10000000);
	assert_int_equal(pthread_join(tid, NULL), 0);
}

static void
test_wake_post_ends_the_idle_wait(void **state)
{
	(void)state;
	wake_from_thread(0, 1, SVC_WAKE_POSTED);
}

static void
test_wake_close_ends_every_wait(void **state)
{
	struct svc_wake wk = SVC_WAKE_INITIALIZER;

	(void)state;
	wake_from_thread(1, 0, SVC_WAKE_CLOSED);
	wake_from_thread(1, 1, SVC_WAKE_CLOSED);
	/* Closed stays closed (a thread that loops again does not sleep), until a reset. */
	svc_wake_close(&wk);
	svc_wake_post(&wk);
	assert_int_equal(svc_wake_wait(&wk, 20000, 1), SVC_WAKE_CLOSED);
	assert_int_equal(svc_wake_wait(&wk, 20000, 0), SVC_WAKE_CLOSED);
	svc_wake_reset(&wk);
	assert_int_equal(svc_wake_wait(&wk, 10, 1), SVC_WAKE_TIMEOUT);
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
		cmocka_unit_test(test_wake_post_is_taken_once),
		cmocka_unit_test(test_wake_post_ends_the_idle_wait),
		cmocka_unit_test(test_wake_close_ends_every_wait),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
