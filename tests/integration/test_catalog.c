/* test_catalog.c - the catalog through the real gateway: paging, search, ETags, bad input, faults */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

static void
get_ok(const char *path, struct it_resp *r)
{
	assert_int_equal(it_request("GET", it_gateway(), path, NULL, NULL, r), 0);
	if (r->status != 200)
		fprintf(stderr, "GET %s -> %ld %s\n", path, r->status, r->body);
	assert_int_equal(r->status, 200);
	assert_non_null(r->json);
}

/* An "Authorization: Bearer ..." header line for the admin that make up creates. */
static const char *const *
admin_auth(void)
{
	static char		 line[2048];
	static const char	*hdrs[2] = { line, NULL };
	char			 body[512];
	struct it_resp		 r;

	if (line[0] != '\0')
		return hdrs;
	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}",
	    it_env("SHOPLAB_ADMIN_EMAIL"), it_env("SHOPLAB_ADMIN_PASSWORD"));
	assert_int_equal(it_request("POST", it_gateway(), "/api/v1/auth/login", NULL, body, &r), 0);
	assert_int_equal(r.status, 200);
	snprintf(line, sizeof(line), "Authorization: Bearer %s", it_str(&r, "token"));
	it_resp_free(&r);
	return hdrs;
}

static void
test_list_default_page(void **state)
{
	struct it_resp	r;
	json_object	*items;

	(void)state;
	get_ok("/api/v1/products", &r);
	items = it_get(&r, "items");
	assert_non_null(items);
	assert_int_equal(json_object_array_length(items), 20);
	assert_int_equal(it_int(&r, "next"), 20);
	assert_int_equal(json_object_get_int64(json_object_object_get(
	    json_object_array_get_idx(items, 0), "id")), 1);
	it_resp_free(&r);
}

/* Walks every page with limit=100: 1,000 products, each once, in order, then next=null. */
static void
test_keyset_paging_walks_everything(void **state)
{
	struct it_resp	r;
	char		path[128];
	int64_t		after = 0, last = 0, seen = 0;
	int		pages = 0;

	(void)state;
	for (;;) {
		size_t i, n;
		json_object *items;

		snprintf(path, sizeof(path), "/api/v1/products?limit=100&after=%lld",
		    (long long)after);
		get_ok(path, &r);
		items = it_get(&r, "items");
		n = json_object_array_length(items);
		for (i = 0; i < n; i++) {
			int64_t id = json_object_get_int64(json_object_object_get(
			    json_object_array_get_idx(items, i), "id"));
			assert_true(id > last);
			last = id;
			seen++;
		}
		pages++;
		if (json_object_is_type(it_get(&r, "next"), json_type_null) ||
		    it_get(&r, "next") == NULL) {
			it_resp_free(&r);
			break;
		}
		after = it_int(&r, "next");
		assert_int_equal(after, last);
		it_resp_free(&r);
		assert_true(pages < 50);
	}
	assert_true(seen >= 1000);
	assert_int_equal(pages, (int)((seen + 99) / 100));
}

static void
test_search(void **state)
{
	struct it_resp	r;
	json_object	*items;
	size_t		i;

	(void)state;
	get_ok("/api/v1/products?q=Teapot&limit=100", &r);
	items = it_get(&r, "items");
	assert_true(json_object_array_length(items) > 10);
	for (i = 0; i < json_object_array_length(items); i++)
		assert_non_null(strstr(json_object_get_string(json_object_object_get(
		    json_object_array_get_idx(items, i), "name")), "Teapot"));
	it_resp_free(&r);

	/* LIKE metacharacters are matched literally: no name contains them. */
	get_ok("/api/v1/products?q=%25", &r);
	assert_int_equal(json_object_array_length(it_get(&r, "items")), 0);
	it_resp_free(&r);
	get_ok("/api/v1/products?q=_", &r);
	assert_int_equal(json_object_array_length(it_get(&r, "items")), 0);
	it_resp_free(&r);
	get_ok("/api/v1/products?q=%27%20OR%201%3D1%20--", &r);
	assert_int_equal(json_object_array_length(it_get(&r, "items")), 0);
	it_resp_free(&r);
}

static void
test_bad_query(void **state)
{
	static const char *const bad[] = {
		"/api/v1/products?limit=0", "/api/v1/products?limit=101",
		"/api/v1/products?limit=abc", "/api/v1/products?limit=",
		"/api/v1/products?after=-1", "/api/v1/products?after=1e3",
		"/api/v1/products?limit=99999999999999999999999",
	};
	struct it_resp	r;
	char		path[512];
	size_t		i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(it_request("GET", it_gateway(), bad[i], NULL, NULL, &r), 0);
		it_assert_error(&r, 400, "validation_failed");
		assert_non_null(it_str(&r, "error.field"));
		it_resp_free(&r);
	}
	/* A search text over 100 bytes. */
	snprintf(path, sizeof(path), "/api/v1/products?q=%0150d", 7);
	assert_int_equal(it_request("GET", it_gateway(), path, NULL, NULL, &r), 0);
	it_assert_error(&r, 400, "validation_failed");
	assert_string_equal(it_str(&r, "error.field"), "q");
	assert_non_null(strstr(it_str(&r, "error.message"), "at most 100 bytes"));
	it_resp_free(&r);
	/* A NUL byte is named as such, not as a length. */
	assert_int_equal(it_request("GET", it_gateway(), "/api/v1/products?q=a%00b", NULL, NULL, &r), 0);
	it_assert_error(&r, 400, "validation_failed");
	assert_string_equal(it_str(&r, "error.field"), "q");
	assert_non_null(strstr(it_str(&r, "error.message"), "NUL byte"));
	it_resp_free(&r);
}

static void
test_get_and_etag(void **state)
{
	struct it_resp	r;
	char		etag[128], hdr[192], weak[200];
	const char	*h1[2] = { hdr, NULL }, *h2[2] = { weak, NULL };
	const char	*h3[2] = { "If-None-Match: \"nope\"", NULL };

	(void)state;
	get_ok("/api/v1/products/42", &r);
	assert_int_equal(it_int(&r, "id"), 42);
	assert_non_null(it_str(&r, "sku"));
	assert_non_null(it_str(&r, "name"));
	assert_non_null(it_str(&r, "description"));
	assert_true(it_int(&r, "price_cents") >= 0);
	assert_string_equal(it_str(&r, "currency"), "EUR");
	assert_true(it_header(&r, "ETag", etag, sizeof(etag)));
	assert_true(etag[0] == '"');
	it_resp_free(&r);

	snprintf(hdr, sizeof(hdr), "If-None-Match: %s", etag);
	assert_int_equal(it_request("GET", it_gateway(), "/api/v1/products/42", h1, NULL, &r), 0);
	assert_int_equal(r.status, 304);
	assert_int_equal(r.len, 0);
	it_resp_free(&r);

	snprintf(weak, sizeof(weak), "If-None-Match: \"x\", W/%s", etag);
	it_expect("GET", it_gateway(), "/api/v1/products/42", h2, NULL, 304, NULL);

	it_expect("GET", it_gateway(), "/api/v1/products/42", h3, NULL, 200, NULL);

	/* Another product has another tag. */
	get_ok("/api/v1/products/43", &r);
	assert_true(it_header(&r, "ETag", hdr, sizeof(hdr)));
	assert_string_not_equal(hdr, etag);
	it_resp_free(&r);
}

/* The gateway keeps a catalog read for a second: the second read is a hit, same body. */
static void
test_micro_cache(void **state)
{
	struct it_resp	r1, r2;
	char		c1[16], c2[16], path[96];

	(void)state;
	/* A URL of its own, so that a second run against the same stack starts cold. */
	snprintf(path, sizeof(path), "/api/v1/products/77?x=%ld-%ld", (long)getpid(), (long)time(NULL));
	get_ok(path, &r1);
	get_ok(path, &r2);
	assert_true(it_header(&r1, "X-Cache", c1, sizeof(c1)));
	assert_true(it_header(&r2, "X-Cache", c2, sizeof(c2)));
	assert_string_equal(c1, "MISS");
	assert_string_equal(c2, "HIT");
	assert_string_equal(r1.body, r2.body);
	it_resp_free(&r1);
	it_resp_free(&r2);
}

static void
test_bad_ids(void **state)
{
	static const char *const bad[] = {
		"/api/v1/products/abc", "/api/v1/products/-1", "/api/v1/products/0",
		"/api/v1/products/99999999999999999999", "/api/v1/products/1.5",
		"/api/v1/products/%00", "/api/v1/products/007", "/api/v1/products/999999",
	};
	struct it_resp	r;
	size_t		i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(it_request("GET", it_gateway(), bad[i], NULL, NULL, &r), 0);
		if (r.status == 400)
			it_assert_error(&r, 400, "bad_request");	/* nginx refuses %00 */
		else
			it_refused(&r, 404, "not_found");
	}
}

static void
test_unknown_route_and_method(void **state)
{
	struct it_resp	r;
	char		allow[64];

	(void)state;
	it_expect("GET", it_gateway(), "/api/v1/nothing", NULL, NULL, 404, "not_found");
	it_expect("GET", it_gateway(), "/api/v1/products/1/x", NULL, NULL, 404, "not_found");
	/* Writes need a verified user before they reach the service... */
	it_expect("DELETE", it_gateway(), "/api/v1/products/1", NULL, NULL, 401, "unauthorized");
	/* ...which then says which methods there are. */
	assert_int_equal(it_request("DELETE", it_gateway(), "/api/v1/products/1", admin_auth(),
	    NULL, &r), 0);
	it_assert_error(&r, 405, "method_not_allowed");
	assert_true(it_header(&r, "Allow", allow, sizeof(allow)));
	assert_string_equal(allow, "GET, PATCH");
	it_resp_free(&r);
	/* The operator routes are not on the public listener. */
	it_expect("GET", it_gateway(), "/_ops/catalog/metrics", NULL, NULL, 404, "not_found");
}

static void
test_oversized_body(void **state)
{
	size_t		 n = 200 * 1024;
	char		*big = malloc(n + 1);

	(void)state;
	assert_non_null(big);
	memset(big, 'x', n);
	big[n] = '\0';
	it_expect("POST", it_gateway(), "/api/v1/products", NULL, big, 413, "payload_too_large");
	free(big);
}

/* Creating needs an admin; identity headers from the client are never believed. */
static void
test_create_needs_identity(void **state)
{
	static const char *const spoof[] = {
		"X-User-Id: 1", "X-User-Role: admin", "X-Shoplab-User-Id: 1",
		"Shoplab-User-Role: admin", NULL,
	};
	struct it_resp r;

	(void)state;
	assert_int_equal(it_request("POST", it_gateway(), "/api/v1/products", spoof,
	    "{\"sku\":\"X-1\",\"name\":\"x\",\"price_cents\":1}", &r), 0);
	assert_true(r.status == 401);
	it_refused(&r, 401, "unauthorized");
}

static void
test_request_id(void **state)
{
	const char	*mine[2] = { "X-Request-Id: my-trace.42", NULL };
	const char	*bad[2] = { "X-Request-Id: has spaces and \"quotes\"", NULL };
	struct it_resp	 r;
	char		 rid[128];

	(void)state;
	assert_int_equal(it_request("GET", it_gateway(), "/api/v1/products/1", mine, NULL, &r), 0);
	assert_true(it_header(&r, "X-Request-Id", rid, sizeof(rid)));
	assert_string_equal(rid, "my-trace.42");
	it_resp_free(&r);
	assert_int_equal(it_request("GET", it_gateway(), "/api/v1/nope", mine, NULL, &r), 0);
	assert_string_equal(it_str(&r, "error.request_id"), "my-trace.42");
	it_resp_free(&r);
	assert_int_equal(it_request("GET", it_gateway(), "/api/v1/products/1", bad, NULL, &r), 0);
	assert_true(it_header(&r, "X-Request-Id", rid, sizeof(rid)));
	assert_null(strchr(rid, ' '));
	assert_true(strlen(rid) >= 16);
	it_resp_free(&r);
}

static void
test_ops_endpoints(void **state)
{
	struct it_resp r;

	(void)state;
	it_expect("GET", it_internal(), "/_ops/catalog/healthz", NULL, NULL, 200, NULL);
	it_expect("GET", it_internal(), "/_ops/catalog/readyz", NULL, NULL, 200, NULL);
	assert_int_equal(it_request("GET", it_internal(), "/_ops/catalog/metrics", NULL, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "# TYPE shoplab_http_requests_total counter"));
	assert_non_null(strstr(r.body, "route=\"/api/v1/products/{id}\",status=\"200\"}"));
	assert_non_null(strstr(r.body, "shoplab_http_request_duration_seconds_bucket{"));
	assert_non_null(strstr(r.body, "shoplab_http_requests_in_flight{service=\"catalog\"}"));
	it_resp_free(&r);
	/* Every other internal route wants the service token. */
	it_expect("GET", it_internal(), "/internal/anything", NULL, NULL, 401, "unauthorized");
}

struct burst {
	int	ok;
	int	id;
};

static void *
burst_one(void *arg)
{
	struct burst	*b = arg;
	struct it_resp	 r;
	char		 path[64];
	int		 i;

	for (i = 0; i < 20; i++) {
		snprintf(path, sizeof(path), "/api/v1/products/%d", 1 + (b->id * 20 + i) % 1000);
		if (it_request("GET", it_gateway(), path, NULL, NULL, &r) == 0 &&
		    r.status == 200 && r.seconds < 5.0)
			b->ok++;
		it_resp_free(&r);
	}
	return NULL;
}

/*
 * More concurrent clients than the service has threads (the test stack runs it with 4):
 * every request must still be answered promptly; kept-alive connections pin no thread.
 */
static void
test_more_clients_than_threads(void **state)
{
	struct burst	b[64];
	int		i, ok = 0;

	(void)state;
	for (i = 0; i < (int)IT_N(b); i++) {
		b[i].ok = 0;
		b[i].id = i;
	}
	it_parallel(burst_one, b, IT_N(b), sizeof(b[0]));
	for (i = 0; i < (int)IT_N(b); i++)
		ok += b[i].ok;
	assert_int_equal(ok, IT_N(b) * 20);
}

/* Product id read as /api/v1/products/<id>?m=<m> (its own URL) costs price; etag gets its ETag. */
static void
read_price(int64_t id, int m, int64_t price, char *etag, size_t etaglen)
{
	struct it_resp	r;
	char		path[96];

	snprintf(path, sizeof(path), "/api/v1/products/%lld?m=%d", (long long)id, m);
	get_ok(path, &r);
	assert_int_equal(it_int(&r, "price_cents"), price);
	assert_true(it_header(&r, "ETag", etag, etaglen));
	it_resp_free(&r);
}

/*
 * The read model answers public reads by id and follows writes at once: a price changed
 * through the API is what the next read shows (its own URL each time, so the gateway's
 * micro-cache never answers), with a new ETag; the internal route always reads the database.
 */
static void
test_read_model_follows_writes(void **state)
{
	const char	*const *admin = admin_auth();
	const char	*h[3] = { admin[0], "Content-Type: application/json", NULL };
	char		 path[96], body[160], etag[128], inm[192], tok[160];
	const char	*hi[2] = { inm, NULL }, *ht[2] = { tok, NULL };
	struct it_resp	 r;
	double		 hits;
	int64_t		 id;
	const char	*ttl = getenv("SHOPLAB_CATALOG_MODEL_TTL_MS");

	(void)state;
	/*
	 * Off as shipped (behind the gateway's micro-cache it never hits: docs/performance.md);
	 * scripts/run-tests.sh turns it on for the suite's stack so that its code stays tested.
	 */
	if (ttl == NULL || atoi(ttl) <= 0) {
		fprintf(stderr, "read model off in this stack (SHOPLAB_CATALOG_MODEL_TTL_MS unset or 0): skipped\n");
		skip();
	}
	snprintf(body, sizeof(body), "{\"sku\":\"RM-%ld-%ld\",\"name\":\"model\",\"price_cents\":500}",
	    (long)getpid(), (long)time(NULL));
	assert_int_equal(it_request("POST", it_gateway(), "/api/v1/products", h, body, &r), 0);
	assert_int_equal(r.status, 201);
	id = it_int(&r, "id");
	it_resp_free(&r);

	read_price(id, 1, 500, etag, sizeof(etag));
	/* The second read is the model's (the counter moves; the gateway did not answer it). */
	assert_true((hits = it_metric("catalog", "shoplab_catalog_model_hits_total")) >= 0);
	read_price(id, 2, 500, inm, sizeof(inm));
	assert_string_equal(inm, etag);
	assert_true(it_metric("catalog", "shoplab_catalog_model_hits_total") >= hits + 1);

	snprintf(path, sizeof(path), "/api/v1/products/%lld", (long long)id);
	assert_int_equal(it_request("PATCH", it_gateway(), path, h, "{\"price_cents\":600}", &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(it_int(&r, "price_cents"), 600);
	it_resp_free(&r);

	/* At once, not a ttl later: the write forgot what the model held. */
	read_price(id, 3, 600, inm, sizeof(inm));
	assert_string_not_equal(inm, etag);
	/* The old ETag no longer matches: 200 with the new body, not 304. */
	snprintf(inm, sizeof(inm), "If-None-Match: %s", etag);
	snprintf(path, sizeof(path), "/api/v1/products/%lld?m=4", (long long)id);
	assert_int_equal(it_request("GET", it_gateway(), path, hi, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(it_int(&r, "price_cents"), 600);
	it_resp_free(&r);
	/* Checkout's lookup (service token, internal listener) reads the database. */
	snprintf(tok, sizeof(tok), "X-Service-Token: %s", it_env("SHOPLAB_SERVICE_TOKEN"));
	snprintf(path, sizeof(path), "/internal/catalog/products/%lld", (long long)id);
	assert_int_equal(it_request("GET", it_internal(), path, ht, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(it_int(&r, "price_cents"), 600);
	it_resp_free(&r);
}

/* Stops MariaDB: a clear 503 (not a hang); back up, the same worker reconnects. */
static void
test_database_down_and_back(void **state)
{
	struct it_resp	r;
	char		path[64], cache[16];
	int		i;

	(void)state;
	assert_int_equal(it_sh("kill -TERM $(cat \"$SHOPLAB_RUN/mariadb.pid\") && "
	    "while [ -f \"$SHOPLAB_RUN/mariadb.pid\" ]; do sleep 0.1; done"), 0);
	/* What the gateway has not seen gets a clear 503, promptly... */
	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "/api/v1/products?limit=%d&after=3", 7 + i);
		assert_int_equal(it_request("GET", it_gateway(), path, NULL, NULL, &r), 0);
		it_assert_error(&r, 503, "database_unavailable");
		assert_true(r.seconds < 8.0);
		it_resp_free(&r);
	}
	/* ...and a product read before is served stale: catalog reads stay up. */
	usleep(1200000);	/* past the micro-cache's second */
	assert_int_equal(it_request("GET", it_gateway(), "/api/v1/products/5", NULL, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(it_int(&r, "id"), 5);
	assert_true(it_header(&r, "X-Cache", cache, sizeof(cache)));
	/* STALE (or UPDATING/HIT while a refresh races the shutdown): never the 503. */
	assert_true(strcmp(cache, "STALE") == 0 || strcmp(cache, "UPDATING") == 0 ||
	    strcmp(cache, "HIT") == 0);
	it_resp_free(&r);
	it_expect("GET", it_internal(), "/_ops/catalog/readyz", NULL, NULL, 503, NULL);
	/* The catalog keeps serving what needs no database. */
	it_expect("GET", it_internal(), "/_ops/catalog/healthz", NULL, NULL, 200, NULL);

	assert_int_equal(it_sh("\"$SHOPLAB_TOP/scripts/stack.sh\" up >/dev/null 2>&1"), 0);
	for (i = 0; i < 20; i++) {
		get_ok("/api/v1/products/5", &r);
		it_resp_free(&r);
	}
}

IT_MAIN("integration/catalog", NULL, NULL,
    cmocka_unit_test(test_list_default_page),
    cmocka_unit_test(test_keyset_paging_walks_everything),
    cmocka_unit_test(test_search),
    cmocka_unit_test(test_bad_query),
    cmocka_unit_test(test_get_and_etag),
    cmocka_unit_test(test_micro_cache),
    cmocka_unit_test(test_bad_ids),
    cmocka_unit_test(test_unknown_route_and_method),
    cmocka_unit_test(test_oversized_body),
    cmocka_unit_test(test_create_needs_identity),
    cmocka_unit_test(test_request_id),
    cmocka_unit_test(test_ops_endpoints),
    cmocka_unit_test(test_more_clients_than_threads),
    cmocka_unit_test(test_read_model_follows_writes),
    cmocka_unit_test(test_database_down_and_back))
