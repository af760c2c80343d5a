/* test_events.c - the pure parts of events: envelopes built and parsed, types, ids, failure kinds, retry verdict and schedule, held deliveries, the relay's wake */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "svc_unit.h"

#include "svc_wake_int.h"
#include "svc_events.h"
#include "svc_ev_internal.h"

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

/* Each kind of handler result: applied, transient, permanent, and a fault (a bug). */
static void
test_classify_outcomes(void **state)
{
	(void)state;
	assert_int_equal(svc_event_classify(SVC_OK), SVC_EVENT_APPLIED);
	assert_int_equal(svc_event_classify(SVC_ERR_DB_UNAVAILABLE), SVC_EVENT_TRANSIENT);
	assert_int_equal(svc_event_classify(SVC_ERR_DB_RETRY), SVC_EVENT_TRANSIENT);
	assert_int_equal(svc_event_classify(SVC_ERR_UNAVAILABLE), SVC_EVENT_TRANSIENT);
	assert_int_equal(svc_event_classify(SVC_ERR_TIMEOUT), SVC_EVENT_TRANSIENT);
	assert_int_equal(svc_event_classify(SVC_ERR_NOMEM), SVC_EVENT_TRANSIENT);
	assert_int_equal(svc_event_classify(SVC_ERR_INVALID), SVC_EVENT_PERMANENT);
	assert_int_equal(svc_event_classify(SVC_ERR_INTERNAL), SVC_EVENT_FAULT);
	assert_int_equal(svc_event_classify(SVC_ERR_CONFLICT), SVC_EVENT_FAULT);
	/* Only the database away pauses the consumer; a deadlock or a 5xx does not. */
	assert_true(svc_event_db_away(SVC_ERR_DB_UNAVAILABLE));
	assert_false(svc_event_db_away(SVC_ERR_DB_RETRY));
	assert_false(svc_event_db_away(SVC_ERR_UNAVAILABLE));
	assert_false(svc_event_db_away(SVC_OK));
}

/* { the handler's result, the runs so far, the most runs allowed, the verdict } */
static const struct decide_case {
	int			rc;
	int64_t			attempts, max;
	enum svc_event_verdict	want;
} decide_cases[] = {
	{ SVC_OK, 1, 5, SVC_EVENT_ACK },
	{ SVC_OK, 9, 5, SVC_EVENT_ACK },
	/* Transient failures are retried however many runs they took: never given up. */
	{ SVC_ERR_DB_UNAVAILABLE, 1, 5, SVC_EVENT_RETRY },
	{ SVC_ERR_DB_UNAVAILABLE, 5, 5, SVC_EVENT_RETRY },
	{ SVC_ERR_DB_RETRY, 1000, 5, SVC_EVENT_RETRY },
	{ SVC_ERR_TIMEOUT, 77, 1, SVC_EVENT_RETRY },
	/* A fault: retried for runs 1..4, dead on the 5th. */
	{ SVC_ERR_INTERNAL, 1, 5, SVC_EVENT_RETRY },
	{ SVC_ERR_INTERNAL, 4, 5, SVC_EVENT_RETRY },
	{ SVC_ERR_INTERNAL, 5, 5, SVC_EVENT_DEAD },
	{ SVC_ERR_INTERNAL, 40, 5, SVC_EVENT_DEAD },
	/* An event that can never apply is dead at once. */
	{ SVC_ERR_INVALID, 1, 5, SVC_EVENT_DEAD },
	/* One attempt only; nonsense limits are read safely. */
	{ SVC_ERR_INTERNAL, 1, 1, SVC_EVENT_DEAD },
	{ SVC_ERR_INTERNAL, 1, 0, SVC_EVENT_DEAD },
};

static void
test_decide_retries_then_dead_letters(void **state)
{
	const struct decide_case	*c;
	enum svc_event_verdict		 got;
	size_t				 i;

	(void)state;
	for (i = 0; i < SVC_UNIT_N(decide_cases); i++) {
		c = &decide_cases[i];
		got = svc_event_decide(c->rc, c->attempts, c->max);
		if (got != c->want)
			fail_msg("svc_event_decide(%d, %lld, %lld) = %d, want %d (case %zu)", c->rc,
			    (long long)c->attempts, (long long)c->max, (int)got, (int)c->want, i);
	}
}

/* The retry delays: never under the floor (no spin), never over the cap, growing, jittered. */
static void
test_retry_schedule(void **state)
{
	uint64_t	rng = 12345;
	int64_t		d, lo, hi, max_seen[12];
	int		k, i, distinct;

	(void)state;
	for (k = 0; k < 12; k++) {
		/* The ceiling of retry k: min(30 s, 100 ms * 2^k). */
		hi = 100LL << k;
		if (hi > 30000)
			hi = 30000;
		lo = 100;
		max_seen[k] = 0;
		for (i = 0; i < 2000; i++) {
			d = svc_event_retry_ms(k, 100, 30000, &rng);
			assert_true(d >= lo);
			assert_true(d <= hi);
			if (d > max_seen[k])
				max_seen[k] = d;
		}
	}
	/* The first retry is 100..100 ms exactly; later ones spread over their range. */
	assert_int_equal(max_seen[0], 100);
	assert_true(max_seen[3] > 600);		/* up to 800 */
	assert_true(max_seen[11] > 25000);	/* capped at 30 s */
	/* Huge retry numbers stay capped (no overflow). */
	for (i = 0; i < 100; i++) {
		d = svc_event_retry_ms(1000, 100, 30000, &rng);
		assert_true(d >= 100 && d <= 30000);
	}
	/* Jitter: two consumers retrying at once do not pick one delay. */
	distinct = 0;
	for (i = 0, lo = svc_event_retry_ms(6, 100, 30000, &rng); i < 20; i++)
		if (svc_event_retry_ms(6, 100, 30000, &rng) != lo)
			distinct++;
	assert_true(distinct > 10);
	/* Bad limits are made sane. */
	assert_int_equal(svc_event_retry_ms(3, 0, 0, &rng), 1);
}

/* The held deliveries: due order on the consumer's clock, retries waiting, wake, clear. */
static void
test_held_queue(void **state)
{
	struct svc_ev_heldq	q;
	int64_t			t0 = 1000000;

	(void)state;
	assert_int_equal(svc_ev_heldq_init(&q, 3), 0);
	assert_int_equal(svc_ev_heldq_next(&q), INT64_MAX);
	assert_int_equal(svc_ev_heldq_due(&q, t0), -1);
	assert_int_equal(svc_ev_heldq_add(&q, 1, "a", 1, "id-a", 0, t0), 0);
	assert_int_equal(svc_ev_heldq_add(&q, 2, "bb", 2, "id-b", 3, t0 + 10), 1);
	assert_int_equal(svc_ev_heldq_add(&q, 3, "", 0, NULL, -1, t0 + 20), 2);
	/* Full at the prefetch. */
	assert_int_equal(svc_ev_heldq_add(&q, 4, "d", 1, "id-d", 0, t0), -1);
	assert_string_equal(q.v[1].body, "bb");
	assert_int_equal(q.v[1].redelivered, 3);
	assert_int_equal(q.v[2].redelivered, 0);
	assert_string_equal(q.v[2].msg_id, "");
	/* Due: the earliest at or before now. */
	assert_int_equal(svc_ev_heldq_due(&q, t0 - 1), -1);
	assert_int_equal(svc_ev_heldq_due(&q, t0 + 15), 0);
	/* The first fails and waits 500 ms: the others run before it. */
	q.v[0].attempts = 1;
	q.v[0].due_us = t0 + 500000;
	assert_int_equal(svc_ev_heldq_waiting(&q), 1);
	assert_int_equal(svc_ev_heldq_due(&q, t0 + 25), 1);
	svc_ev_heldq_remove(&q, 1);
	assert_int_equal(q.n, 2);
	assert_int_equal(q.v[1].tag, 3);
	assert_int_equal(svc_ev_heldq_due(&q, t0 + 25), 1);
	assert_int_equal(svc_ev_heldq_next(&q), t0 + 20);
	svc_ev_heldq_remove(&q, 1);
	assert_int_equal(svc_ev_heldq_due(&q, t0 + 499999), -1);
	assert_int_equal(svc_ev_heldq_next(&q), t0 + 500000);
	/* The database is back: everything held is due now. */
	svc_ev_heldq_wake(&q, t0 + 1000);
	assert_int_equal(svc_ev_heldq_due(&q, t0 + 1000), 0);
	svc_ev_heldq_clear(&q);
	assert_int_equal(q.n, 0);
	assert_int_equal(svc_ev_heldq_waiting(&q), 0);
	svc_ev_heldq_free(&q);
}

/* A batch: the due entries that never ran and are not dead, in tag order, at most max. */
static void
test_batch_selection(void **state)
{
	struct svc_ev_heldq	q;
	size_t			idx[8];
	int64_t			t0 = 1000000;
	uint64_t		tag;

	(void)state;
	assert_int_equal(svc_ev_heldq_init(&q, 8), 0);
	assert_int_equal(svc_ev_heldq_batch(&q, t0, 8, idx), 0);
	for (tag = 1; tag <= 6; tag++)
		assert_int_equal(svc_ev_heldq_add(&q, tag, "x", 1, "", 0, t0 + (int64_t)tag), tag - 1);
	/* Due so far: tags 1..3 (arrived at or before t0 + 3). */
	assert_int_equal(svc_ev_heldq_batch(&q, t0 + 3, 8, idx), 3);
	assert_int_equal(idx[0], 0);
	assert_int_equal(idx[2], 2);
	/* Tag 2 failed once and waits; tag 4 is decided dead: neither is batched. */
	q.v[1].attempts = 1;
	q.v[1].due_us = t0;
	q.v[3].dead = 1;
	assert_int_equal(svc_ev_heldq_batch(&q, t0 + 10, 8, idx), 4);
	assert_int_equal(q.v[idx[0]].tag, 1);
	assert_int_equal(q.v[idx[1]].tag, 3);
	assert_int_equal(q.v[idx[2]].tag, 5);
	assert_int_equal(q.v[idx[3]].tag, 6);
	/* At most max, the oldest tags first; max 1 is one delivery per transaction. */
	assert_int_equal(svc_ev_heldq_batch(&q, t0 + 10, 2, idx), 2);
	assert_int_equal(q.v[idx[1]].tag, 3);
	assert_int_equal(svc_ev_heldq_batch(&q, t0 + 10, 1, idx), 1);
	assert_int_equal(q.v[idx[0]].tag, 1);
	/* Tag 5 comes again after a consumer died holding it: it runs alone, not batched. */
	q.v[4].redelivered = 1;
	assert_int_equal(svc_ev_heldq_batch(&q, t0 + 10, 8, idx), 3);
	assert_int_equal(q.v[idx[2]].tag, 6);
	svc_ev_heldq_free(&q);
}

/* One multiple ack only when no held delivery outside the batch has a lower tag. */
static void
test_ack_multiple_rule(void **state)
{
	struct svc_ev_heldq	q;
	size_t			all[4] = { 0, 1, 2, 3 }, tail[2] = { 2, 3 }, head[2] = { 0, 1 };
	size_t			gap[3] = { 0, 2, 3 };
	uint64_t		tag;

	(void)state;
	assert_int_equal(svc_ev_heldq_init(&q, 4), 0);
	for (tag = 10; tag < 14; tag++)
		assert_int_equal(svc_ev_heldq_add(&q, tag, "x", 1, "", 0, 0), tag - 10);
	assert_int_equal(svc_ev_heldq_ack_multiple(&q, all, 4), 1);
	/* The batch is the oldest ones: the later ones are above its top tag. */
	assert_int_equal(svc_ev_heldq_ack_multiple(&q, head, 2), 1);
	/* Tags 10 and 11 (waiting for a retry) would be acked with 13: one ack each instead. */
	assert_int_equal(svc_ev_heldq_ack_multiple(&q, tail, 2), 0);
	assert_int_equal(svc_ev_heldq_ack_multiple(&q, gap, 3), 0);
	assert_int_equal(svc_ev_heldq_ack_multiple(&q, all, 0), 0);
	/* Tag 11 settled meanwhile (acked alone): 10, 12, 13 together are all that is unacked. */
	svc_ev_heldq_remove(&q, 1);
	assert_int_equal(svc_ev_heldq_ack_multiple(&q, all, 3), 1);
	svc_ev_heldq_free(&q);
}

static const struct svc_unit_yesno type_cases[] = {
	{ "shipment.dispatched", 1 },
	{ "product.price_changed", 1 },
	{ ".x", 0 },
	{ "x.", 0 },
	{ "x", 0 },
	{ "x.#", 0 },
	{ "", 0 },
	{ NULL, 0 },
};

static void
test_type_valid(void **state)
{
	(void)state;
	svc_unit_yesno("svc_event_type_valid", svc_event_type_valid, type_cases,
	    SVC_UNIT_N(type_cases));
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

/* The idle relay's poll: 50, 100, 200, ... 1000 and stays; a bad max never goes below min. */
static void
test_idle_poll_backs_off(void **state)
{
	long long p = 50, seen[8];
	int i;

	(void)state;
	for (i = 0; i < 8; i++) {
		p = svc_ev_next_poll(p, 50, 1000);
		seen[i] = p;
	}
	assert_int_equal(seen[0], 100);
	assert_int_equal(seen[1], 200);
	assert_int_equal(seen[2], 400);
	assert_int_equal(seen[3], 800);
	assert_int_equal(seen[4], 1000);
	assert_int_equal(seen[7], 1000);
	assert_int_equal(svc_ev_next_poll(0, 50, 1000), 50);
	assert_int_equal(svc_ev_next_poll(50, 50, 20), 50);
	assert_int_equal(svc_ev_next_poll(50, 50, 50), 50);
}

/*
 * After a batch: a full one goes again at once, a short one waits the shortest poll (the rows
 * committed since it looked have posted the wake), an empty one waits and doubles the next wait;
 * any rows bring the empty wait back to the shortest.
 */
static void
test_relay_waits_after_a_short_batch(void **state)
{
	long long idle = 50;

	(void)state;
	assert_int_equal(svc_ev_relay_wait(500, 500, &idle, 50, 1000), 0);
	assert_int_equal(idle, 50);
	assert_int_equal(svc_ev_relay_wait(3, 500, &idle, 50, 1000), 50);
	assert_int_equal(idle, 50);
	assert_int_equal(svc_ev_relay_wait(0, 500, &idle, 50, 1000), 50);
	assert_int_equal(idle, 100);
	assert_int_equal(svc_ev_relay_wait(0, 500, &idle, 50, 1000), 100);
	assert_int_equal(idle, 200);
	assert_int_equal(svc_ev_relay_wait(1, 500, &idle, 50, 1000), 50);
	assert_int_equal(idle, 50);
	assert_int_equal(svc_ev_relay_wait(1, 1, &idle, 50, 1000), 0);
}

SVC_UNIT_MAIN("events",
    cmocka_unit_test(test_idle_poll_backs_off),
    cmocka_unit_test(test_relay_waits_after_a_short_batch),
    cmocka_unit_test(test_build_then_parse_round_trips),
    cmocka_unit_test(test_build_refuses_bad_input),
    cmocka_unit_test(test_parse_refuses_poison),
    cmocka_unit_test(test_classify_outcomes),
    cmocka_unit_test(test_decide_retries_then_dead_letters),
    cmocka_unit_test(test_retry_schedule),
    cmocka_unit_test(test_held_queue),
    cmocka_unit_test(test_batch_selection),
    cmocka_unit_test(test_ack_multiple_rule),
    cmocka_unit_test(test_type_valid),
    cmocka_unit_test(test_time_parse_round_trips),
    cmocka_unit_test(test_wake_post_is_taken_once),
    cmocka_unit_test(test_wake_post_ends_the_idle_wait),
    cmocka_unit_test(test_wake_close_ends_every_wait))
