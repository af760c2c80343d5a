/* test_catalog_model.c - the read model: hits, the ttl to the microsecond, forgets, races, bounds */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "svc_unit.h"

#include "catalog_model.h"

#define S	1000000LL	/* one second in microseconds */

/* get's result, with the body and etag it gave (empty when it gave none). */
static int
get(struct catalog_model *m, int64_t id, int64_t now, char *body, size_t blen, char *etag)
{
	struct svc_buf	b;
	int		rc;

	svc_buf_init(&b);
	etag[0] = '\0';
	rc = catalog_model_get(m, id, now, &b, etag);
	snprintf(body, blen, "%s", b.len > 0 ? b.data : "");
	svc_buf_free(&b);
	return rc;
}

static void
test_hit_after_put_and_ttl_exact(void **state)
{
	struct catalog_model	m;
	char			body[64], etag[CATALOG_ETAG_MAX];

	(void)state;
	assert_int_equal(catalog_model_init(&m, 10, 1 * S), 0);
	assert_true(catalog_model_on(&m));
	assert_int_equal(get(&m, 7, 100, body, sizeof(body), etag), 0);
	assert_int_equal(catalog_model_put(&m, 7, catalog_model_gen(&m), 100, "{\"id\":7}", 8,
	    "\"aa\""), 1);
	assert_int_equal(get(&m, 7, 100, body, sizeof(body), etag), 1);
	assert_string_equal(body, "{\"id\":7}");
	assert_string_equal(etag, "\"aa\"");
	/* Fresh until ttl has passed, to the microsecond; a clock behind the load misses. */
	assert_int_equal(get(&m, 7, 100 + S - 1, body, sizeof(body), etag), 1);
	assert_int_equal(get(&m, 7, 100 + S, body, sizeof(body), etag), 0);
	assert_string_equal(body, "");
	assert_int_equal(get(&m, 7, 99, body, sizeof(body), etag), 0);
	/* Another id was never kept. */
	assert_int_equal(get(&m, 8, 100, body, sizeof(body), etag), 0);
	assert_int_equal(atomic_load(&m.hits), 2);
	assert_int_equal(atomic_load(&m.misses), 4);
	assert_int_equal(catalog_model_size(&m), 1);
	catalog_model_free(&m);
}

static void
test_forget_drops_and_refills(void **state)
{
	struct catalog_model	m;
	char			body[64], etag[CATALOG_ETAG_MAX];

	(void)state;
	assert_int_equal(catalog_model_init(&m, 10, 60 * S), 0);
	assert_int_equal(catalog_model_put(&m, 3, catalog_model_gen(&m), 0, "old", 3, "\"o\""), 1);
	catalog_model_forget(&m, 3);
	assert_int_equal(get(&m, 3, 1, body, sizeof(body), etag), 0);
	/* A read that began after the write keeps what it read. */
	assert_int_equal(catalog_model_put(&m, 3, catalog_model_gen(&m), 2, "new", 3, "\"n\""), 1);
	assert_int_equal(get(&m, 3, 3, body, sizeof(body), etag), 1);
	assert_string_equal(body, "new");
	assert_string_equal(etag, "\"n\"");
	/* Forgetting a product never kept is harmless; the slot count does not move. */
	catalog_model_forget(&m, 4);
	assert_int_equal(catalog_model_size(&m), 1);
	catalog_model_free(&m);
}

/* The race a write must win: a read from before its commit stores nothing after it. */
static void
test_read_from_before_a_write_is_not_kept(void **state)
{
	struct catalog_model	m;
	char			body[64], etag[CATALOG_ETAG_MAX];
	uint64_t		gen;

	(void)state;
	assert_int_equal(catalog_model_init(&m, 10, 60 * S), 0);
	gen = catalog_model_gen(&m);		/* a reader starts, reads the old price... */
	catalog_model_forget(&m, 5);		/* ...a write commits and forgets... */
	assert_int_equal(catalog_model_put(&m, 5, gen, 1, "old", 3, "\"o\""), 0);
	assert_int_equal(get(&m, 5, 2, body, sizeof(body), etag), 0);
	/* A write to another product also refuses it: the counter is one for all. */
	gen = catalog_model_gen(&m);
	catalog_model_forget(&m, 6);
	assert_int_equal(catalog_model_put(&m, 5, gen, 1, "old", 3, "\"o\""), 0);
	catalog_model_free(&m);
}

static void
test_bounded(void **state)
{
	struct catalog_model	m;
	char			body[64], etag[CATALOG_ETAG_MAX], big[CATALOG_ETAG_MAX + 1];
	int64_t			id;

	(void)state;
	assert_int_equal(catalog_model_init(&m, 3, 60 * S), 0);
	assert_true(m.nslots >= 6 && (m.nslots & (m.nslots - 1)) == 0);
	for (id = 1; id <= 3; id++)
		assert_int_equal(catalog_model_put(&m, id, catalog_model_gen(&m), 0, "x", 1,
		    "\"x\""), 1);
	/* Full: a new product is not kept, a kept one is still replaced. */
	assert_int_equal(catalog_model_put(&m, 4, catalog_model_gen(&m), 0, "x", 1, "\"x\""), 0);
	assert_int_equal(get(&m, 4, 1, body, sizeof(body), etag), 0);
	assert_int_equal(catalog_model_put(&m, 2, catalog_model_gen(&m), 5, "y", 1, "\"y\""), 1);
	assert_int_equal(get(&m, 2, 6, body, sizeof(body), etag), 1);
	assert_string_equal(body, "y");
	assert_int_equal(catalog_model_size(&m), 3);
	/* Ids that are not products and ETags that do not fit are refused. */
	assert_int_equal(catalog_model_put(&m, 0, catalog_model_gen(&m), 0, "x", 1, "\"x\""), 0);
	assert_int_equal(catalog_model_put(&m, -1, catalog_model_gen(&m), 0, "x", 1, "\"x\""), 0);
	memset(big, 'e', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(catalog_model_put(&m, 1, catalog_model_gen(&m), 0, "x", 1, big), 0);
	assert_int_equal(get(&m, -1, 1, body, sizeof(body), etag), 0);
	catalog_model_free(&m);
}

/* Ids that collide in the table (same slot modulo its size) are told apart. */
static void
test_collisions(void **state)
{
	struct catalog_model	m;
	char			body[64], etag[CATALOG_ETAG_MAX], want[32];
	int64_t			id;

	(void)state;
	assert_int_equal(catalog_model_init(&m, 200, 60 * S), 0);
	for (id = 1; id <= 200; id++) {
		snprintf(want, sizeof(want), "p%lld", (long long)id);
		assert_int_equal(catalog_model_put(&m, id * 1024, catalog_model_gen(&m), 0, want,
		    strlen(want), "\"t\""), 1);
	}
	for (id = 1; id <= 200; id++) {
		snprintf(want, sizeof(want), "p%lld", (long long)id);
		assert_int_equal(get(&m, id * 1024, 1, body, sizeof(body), etag), 1);
		assert_string_equal(body, want);
	}
	assert_int_equal(get(&m, 201 * 1024, 1, body, sizeof(body), etag), 0);
	catalog_model_free(&m);
}

static void
test_off(void **state)
{
	struct catalog_model	m;
	char			body[64], etag[CATALOG_ETAG_MAX];

	(void)state;
	assert_int_equal(catalog_model_init(&m, 10, 0), 0);
	assert_false(catalog_model_on(&m));
	assert_int_equal(catalog_model_put(&m, 1, catalog_model_gen(&m), 0, "x", 1, "\"x\""), 0);
	assert_int_equal(get(&m, 1, 0, body, sizeof(body), etag), 0);
	catalog_model_forget(&m, 1);
	assert_int_equal(catalog_model_size(&m), 0);
	catalog_model_free(&m);
	assert_int_equal(catalog_model_init(&m, 0, 1 * S), 0);
	assert_false(catalog_model_on(&m));
	catalog_model_free(&m);
}

/* Threads reading, storing and forgetting at once: a read never returns another product's body. */
struct stress {
	struct catalog_model	*m;
	unsigned		 seed;
	int			 wrong;
};

static void *
stress_main(void *arg)
{
	struct stress	*st = arg;
	struct svc_buf	 b;
	char		 body[48], etag[CATALOG_ETAG_MAX], want[24];
	int64_t		 id;
	int		 i, op;

	svc_buf_init(&b);
	for (i = 0; i < 20000; i++) {
		st->seed = st->seed * 1103515245u + 12345u;
		id = 1 + (int64_t)((st->seed >> 8) % 64);
		op = (int)((st->seed >> 20) % 8);
		snprintf(want, sizeof(want), "id=%lld;", (long long)id);
		if (op == 0) {
			catalog_model_forget(st->m, id);
		} else if (op < 3) {
			snprintf(body, sizeof(body), "%sv=%d", want, i);
			(void)catalog_model_put(st->m, id, catalog_model_gen(st->m), i, body,
			    strlen(body), "\"e\"");
		} else {
			svc_buf_reset(&b);
			if (catalog_model_get(st->m, id, i, &b, etag) == 1 &&
			    (strncmp(b.data, want, strlen(want)) != 0 || strcmp(etag, "\"e\"") != 0))
				st->wrong++;
		}
	}
	svc_buf_free(&b);
	return NULL;
}

static void
test_concurrent(void **state)
{
	struct catalog_model	m;
	struct stress		st[4];
	pthread_t		t[4];
	int			i;

	(void)state;
	/* Room for half the ids: stores are refused too. A ttl no clock here reaches. */
	assert_int_equal(catalog_model_init(&m, 32, 1000 * S), 0);
	for (i = 0; i < 4; i++) {
		st[i].m = &m;
		st[i].seed = 7u + (unsigned)i;
		st[i].wrong = 0;
		assert_int_equal(pthread_create(&t[i], NULL, stress_main, &st[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(st[i].wrong, 0);
	}
	assert_true(catalog_model_size(&m) <= 32);
	assert_true(atomic_load(&m.hits) > 0);
	catalog_model_free(&m);
}

SVC_UNIT_MAIN("unit/catalog_model",
    cmocka_unit_test(test_hit_after_put_and_ttl_exact),
    cmocka_unit_test(test_forget_drops_and_refills),
    cmocka_unit_test(test_read_from_before_a_write_is_not_kept),
    cmocka_unit_test(test_bounded),
    cmocka_unit_test(test_collisions),
    cmocka_unit_test(test_off),
    cmocka_unit_test(test_concurrent))
