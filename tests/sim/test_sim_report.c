/* test_sim_report.c - renders report.json and report.html from canned runs and checks what they hold */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sim_failover.h"
#include "sim_report.h"
#include "simtest_text.h"

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	static char buf[4 << 20];
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Canned data: 40 s at ~30 journeys/s, slower and failing while "payments" is stopped. */
static void canned(struct sim_scenario *sc, struct sim_load_stats *st, struct sim_ck_data *d,
		   struct sim_ck_result *ck, struct sim_scrape *br, double slow)
{
	static const char *text =
		"{\"name\":\"canned\",\"seed\":3,\"duration_s\":40,\"drain_s\":5,\"phases\":[{\"at_s\":0,\"rate\":30}],"
		"\"mix\":{\"browse\":1,\"checkout\":1},\"data\":{\"users\":1,\"products\":[1,2]},"
		"\"faults\":[{\"at_s\":10,\"until_s\":20,\"kind\":\"toxic\",\"proxy\":\"gateway-payments\",\"type\":\"fcgi_latency\","
		"\"attributes\":{\"latency\":500}},{\"at_s\":25,\"until_s\":30,\"kind\":\"stop\",\"target\":\"payments\"}]}";
	char err[256];

	assert_int_equal(sim_scenario_parse(text, sc, err, sizeof(err)), 0);
	assert_int_equal(sim_load_stats_init(st), 0);
	st->elapsed_s = 40;
	st->nsecs = 40;
	st->secs = calloc(40, sizeof(*st->secs));
	for (size_t s = 0; s < 40; s++) {
		bool fault = s >= 10 && s < 30;

		st->secs[s].started = 30;
		st->secs[s].out[SIM_OUT_OK] = fault ? 60 : 75;
		st->secs[s].out[SIM_OUT_5XX] = fault ? 10 : 0;
		st->secs[s].out[SIM_OUT_UNKNOWN] = s >= 25 && s < 30 ? 3 : 0;
		for (int j = 0; j < SIM_J_COUNT; j++)
			for (uint64_t k = 1; k <= 15; k++) {
				uint64_t v = (uint64_t)((double)(k * 1000 * (j + 1)) * (fault && j == SIM_J_CHECKOUT ? slow : 1));

				sim_series_record(&st->series[j], s, v);
				sim_hist_record(&st->journey[j], v);
				st->jstarted[j]++;
				st->jok[j]++;
			}
		for (int o = 0; o < SIM_OUT_COUNT; o++)
			st->out[o] += st->secs[s].out[o];
	}
	st->requests = st->out[SIM_OUT_OK] + st->out[SIM_OUT_5XX] + st->out[SIM_OUT_UNKNOWN];
	memset(br, 0, sizeof(*br));
	sim_scrape_parse(br, "# HELP x\nshoplab_dep_breaker_state{service=\"orders\",dep=\"payments\"} 0\n", 0);
	for (size_t s = 1; s < 45; s++)
		sim_scrape_parse(br, s >= 26 && s < 31 ? "shoplab_dep_breaker_state{service=\"orders\",dep=\"payments\"} 1\n" :
				 s == 31 ? "shoplab_dep_breaker_state{service=\"orders\",dep=\"payments\"} 2\n" :
				 "shoplab_dep_breaker_state{service=\"orders\",dep=\"payments\"} 0\n"
				 "shoplab_dep_breaker_state{service=\"orders\",dep=\"inventory\"} 0\n", s);
	/* Events: orders' outbox fills while the broker is away (10-20 s), then drains; shipping's
	 * lag per second from its histogram's sum and count; the oldest unshipped order's age. */
	br->ev.shipping = true;
	for (size_t s = 0; s < 45; s++) {
		char m[512];
		double depth = s >= 10 && s < 20 ? (double)(s - 9) * 30 : 0;

		snprintf(m, sizeof(m), "# TYPE x gauge\nshoplab_events_outbox_depth{service=\"orders\"} %g\n"
			 "shoplab_events_lag_seconds_sum{service=\"orders\"} 0\nshoplab_events_lag_seconds_count{service=\"orders\"} 0\n",
			 depth);
		sim_scrape_events(br, "orders", m, s);
		snprintf(m, sizeof(m), "# TYPE x gauge\nshoplab_events_outbox_depth{service=\"shipping\"} 0\n"
			 "shoplab_events_lag_seconds_sum{service=\"shipping\"} %g\nshoplab_events_lag_seconds_count{service=\"shipping\"} %zu\n",
			 0.05 * (double)s * 10, s * 10);
		sim_scrape_events(br, "shipping", m, s);
		assert_int_equal(sim_evseries_set(&br->ev.unshipped_age, s, s >= 10 && s < 22 ? (double)(s - 8) : 2.0), 0);
	}
	assert_int_equal(br->ev.noutbox, 2);
	assert_true(br->ev.outbox[0].v[15] == 180);
	assert_true(br->ev.lag[1].v[5] > 0.049 && br->ev.lag[1].v[5] < 0.051);
	memset(d, 0, sizeof(*d));
	static struct sim_ck_order o[1] = { { 5, 1, 100, SIM_O_PENDING, "k<5>", false } };
	d->orders = o;
	d->norders = 1;
	d->after_drain = true;
	assert_int_equal(sim_check_eval(d, ck), 0);
}

static void test_render(void **state)
{
	struct sim_scenario sc;
	struct sim_load_stats st[2];
	struct sim_ck_data d;
	struct sim_ck_result ck;
	struct sim_scrape br[2];
	struct sim_report_run runs[2];
	char dir[] = "/tmp/sim-report-XXXXXX", path[256], err[256];
	const char *out_dir = getenv("SIM_REPORT_DIR");
	char *html;
	struct sim_report_meta meta = { .commit = "abc123", .started = "2026-01-01T00:00:00Z", .scenario_sha256 = "00ff",
					.settings = "x=1" };

	(void)state;
	if (out_dir == NULL)
		assert_non_null(mkdtemp(dir));
	canned(&sc, &st[0], &d, &ck, &br[0], 3);
	sim_scenario_free(&sc);
	canned(&sc, &st[1], &d, &ck, &br[1], 12);
	runs[0] = (struct sim_report_run){ .label = "resilience on", .sc = &sc, .st = &st[0], .ck = &ck, .breakers = &br[0],
					   .fault_log = "  10.0s toxic fcgi_latency\n" };
	runs[1] = (struct sim_report_run){ .label = "resilience off", .sc = &sc, .st = &st[1],
					   .check_error = "connecting to schema orders: refused", .breakers = &br[1],
					   .resilience_off = true };
	assert_int_equal(sim_report_write(out_dir ? out_dir : dir, runs, 2, &meta, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/report.html", out_dir ? out_dir : dir);
	html = slurp(path);
	assert_string_equal(simtest_missing(html, (const char *const[]){
		"<svg",
		"Comparison",
		"order 5 is still pending after the drain",
		"orders\xe2\x86\x92payments",
		"connecting to schema orders: refused",
		/* What a reader looks for first: the verdict, the metadata, the distributions, the errors. */
		"VALID · an invariant broke",
		"abc123",
		"2026-01-01T00:00:00Z",
		"checkout latency by scheduled second (log scale)",
		"Latency distribution per journey",
		"p99.9 ms",
		"Pending: 202 answers and pending orders",
		"Both runs: p99 latency",
		"<td class=\"off\">disabled</td>",
		"orders pending in the database",
		"Events: outbox depth per service",
		"Events: confirm \xe2\x86\x92 shipped lag (s)",
		"oldest confirmed order not shipped (age)",
		"shipping: mean event lag",
		NULL }), "");
	assert_null(strstr(html, "<script"));
	/* Event invariants the check did not read are shown as not applicable, never as passed. */
	assert_non_null(strstr(html, "<tr class=\"na\"><td>n/a</td><td>one_shipment_per_order</td><td>not applicable: the events were not read"));
	assert_null(strstr(html, "http-equiv=\"refresh\""));
	assert_null(strstr(html, "http://") != NULL && strstr(html, "http://www.w3.org/2000/svg") == NULL ? "x" : NULL);
	snprintf(path, sizeof(path), "%s/report.json", out_dir ? out_dir : dir);
	html = slurp(path);
	assert_string_equal(simtest_missing(html, (const char *const[]){
		"\"invariants_ok\":false",
		"\"no_pending_after_drain\"",
		"\"events_per_second\":{",
		"\"outbox_depth\":{",
		"\"oldest_not_shipped_age_s\":[",
		"\"applicable\":false,",
		"\"not_applicable\":\"the events were not read by this check\"",
		NULL }), "");
	for (int i = 0; i < 2; i++) {
		sim_load_stats_free(&st[i]);
		sim_scrape_free(&br[i]);
	}
	sim_scenario_free(&sc);
}

/* A fault that never applied is drawn as planned-but-missing, and the run says it is not valid. */
static void test_invalid_run(void **state)
{
	struct sim_scenario sc;
	struct sim_load_stats st;
	struct sim_ck_data d;
	struct sim_ck_result ck;
	struct sim_scrape br;
	struct sim_report_run run;
	struct sim_report_meta meta = { .commit = "c", .started = "s", .scenario_sha256 = "h", .settings = "" };
	double from[2] = { -1, 25 }, to[2] = { -1, 31.5 };
	char dir[] = "/tmp/sim-report-XXXXXX", path[256], err[256];
	char *html;

	(void)state;
	assert_non_null(mkdtemp(dir));
	canned(&sc, &st, &d, &ck, &br, 3);
	run = (struct sim_report_run){ .label = "run", .sc = &sc, .st = &st, .ck = &ck, .breakers = &br,
				       .status = "invalid", .why = "faults[0] (toxic fcgi_latency on gateway-payments) at 10.0 s: not applied",
				       .applied_from = from, .applied_to = to };
	assert_int_equal(sim_report_write(dir, &run, 1, &meta, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/report.html", dir);
	html = slurp(path);
	assert_string_equal(simtest_missing(html, (const char *const[]){
		"INVALID: the experiment did not happen as planned",
		"at 10.0 s: not applied",
		"gateway-payments fcgi_latency (NOT APPLIED)",
		"class=\"fault-missing\"",
		"payments stop 25.0-31.5 s (as applied)",
		NULL }), "");
	assert_null(strstr(html, "VALID · "));
	snprintf(path, sizeof(path), "%s/report.json", dir);
	html = slurp(path);
	assert_string_equal(simtest_missing(html, (const char *const[]){
		"\"status\":\"invalid\"",
		"\"valid\":false",
		"\"applied\":false",
		NULL }), "");
	/* The live page refreshes itself and says the phase. */
	meta.phase = "drain";
	meta.elapsed_s = 3;
	meta.total_s = 5;
	snprintf(path, sizeof(path), "%s/live.html", dir);
	assert_int_equal(sim_report_write_html(path, &run, 1, &meta, err, sizeof(err)), 0);
	html = slurp(path);
	assert_non_null(strstr(html, "http-equiv=\"refresh\" content=\"1\""));
	assert_non_null(strstr(html, "phase <b>drain</b> · 3 / 5 s"));
	/* No gateway known: no storefront link. */
	assert_null(strstr(html, "class=\"storefront\""));
	/* The live page links the storefront, so a person can buy while faults run; never a
	 * link that is not http(s). */
	meta.storefront = "http://127.0.0.1:18080";
	assert_int_equal(sim_report_write_html(path, &run, 1, &meta, err, sizeof(err)), 0);
	html = slurp(path);
	assert_non_null(strstr(html, "<a href=\"http://127.0.0.1:18080/\" target=\"_blank\""));
	meta.storefront = "javascript:alert(1)";
	assert_int_equal(sim_report_write_html(path, &run, 1, &meta, err, sizeof(err)), 0);
	html = slurp(path);
	assert_null(strstr(html, "javascript:"));
	sim_load_stats_free(&st);
	sim_scrape_free(&br);
	sim_scenario_free(&sc);
}

/* A judged run with the rest of what sim run hands over: failover per fault, the hypothesis's
 * recovery table, dead letters (escaped), an events drain and a drain that timed out. */
static void test_judged_run(void **state)
{
	struct sim_scenario sc;
	struct sim_load_stats st;
	struct sim_ck_data d;
	struct sim_ck_result ck;
	struct sim_scrape br;
	struct sim_report_run run;
	struct sim_report_meta meta = { .commit = "c", .started = "s", .scenario_sha256 = "h", .settings = "" };
	static struct sim_ck_dead dead[2] = { { "shipping", "m1", "order.confirmed", "bad <json>", 5, "2026-01-01", false },
					      { "orders", "m2", "payment.done", "x", 1, "t", true } };
	static struct sim_ck_events ev;
	static struct sim_failover fo[2] = { { true, 10.5, 13.25, 2.75, 4, 9, 812.5, 11 }, { false, 0, 0, 0, 0, 0, 90, 26 } };
	static struct sim_hy_result hy;
	double from[2] = { 10.2, 25 }, to[2] = { 20.4, 31.5 };
	char dir[] = "/tmp/sim-report-XXXXXX", path[256], err[256];
	char *html;

	(void)state;
	assert_non_null(mkdtemp(dir));
	canned(&sc, &st, &d, &ck, &br, 3);
	ev.dead = dead;
	ev.ndead = 2;
	hy.stated = true;
	snprintf(hy.summary, sizeof(hy.summary), "steady state FAILED: recovery.within_s");
	hy.n = 1;
	snprintf(hy.c[0].id, sizeof(hy.c[0].id), "recovery.within_s");
	snprintf(hy.c[0].text, sizeof(hy.c[0].text), "back & steady within 5 s");
	hy.nfaults = 2;
	hy.fault[0] = (struct sim_hy_fault){ .applied = true, .from = 10.2, .to = 20.4, .first_success_s = 3,
					     .holds_again_s = -1, .lost = 17 };
	run = (struct sim_report_run){ .label = "run", .sc = &sc, .st = &st, .ck = &ck, .breakers = &br,
				       .applied_from = from, .applied_to = to, .failover = fo, .ev = &ev, .hy = &hy,
				       .events_drain = "2 rows left", .events_drain_s = 7.5, .drained = 2, .drained_from_s = 30 };
	assert_int_equal(sim_report_write(dir, &run, 1, &meta, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/report.html", dir);
	html = slurp(path);
	assert_non_null(strstr(html, "<tr class=\"fail\"><td>FAIL</td><td>recovery.within_s</td><td>back &amp; steady within 5 s</td></tr>"));
	assert_non_null(strstr(html, "<tr><td>gateway-payments fcgi_latency</td><td>10.2-20.4 s</td><td>3 s</td>"
				     "<td>not before the load ended</td><td>17</td></tr>"));
	assert_non_null(strstr(html, "<p id=\"drained\" class=\"fail\">NOT drained within the drain limit"));
	assert_non_null(strstr(html, "Events drain (outboxes empty, confirmed orders shipped): NOT drained at the end of it (7.5 s)."));
	assert_non_null(strstr(html, "<tr class=\"fail\"><td>shipping</td><td>m1</td><td>order.confirmed</td><td>5</td>"
				     "<td>2026-01-01</td><td>bad &lt;json&gt;</td></tr>"));
	assert_non_null(strstr(html, "<td>applied (inbox) and dead-lettered</td>"));
	assert_null(strstr(html, "bad <json>"));
	snprintf(path, sizeof(path), "%s/report.json", dir);
	html = slurp(path);
	assert_string_equal(simtest_missing(html, (const char *const[]){
		"\"failover\":{",
		"\"first_error_s\":10.5,",
		"\"failover_s\":2.75,",
		"\"failed_in_failover\":4,",
		"\"recovery\":{",
		"\"holds_again_after_s\":null,",
		"\"requests_lost\":17",
		"\"reason\":\"bad <json>\"",
		"\"applied_too\":true",
		"\"drain\":{",
		"\"drained\":false,",
		"\"drained_in_s\":null",
		"\"events_drain\":\"2 rows left\"",
		NULL }), "");
	sim_load_stats_free(&st);
	sim_scrape_free(&br);
	sim_scenario_free(&sc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_invalid_run),
		cmocka_unit_test(test_judged_run),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
