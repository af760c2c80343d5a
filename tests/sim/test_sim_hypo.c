/* test_sim_hypo.c - the steady-state hypothesis on synthetic samples, INVALID runs, the drain time, JUnit, dry-run and name lookup */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "sim.h"
#include "sim_catalog.h"
#include "sim_hypo.h"
#include "sim_junit.h"
#include "sim_report.h"
#include "simtest_text.h"

/* 40 s at 10 journeys/s (5 browse, 5 checkout a second); one toxic 10-20 s; recovery within 5 s. */
static const char *text =
	"{\"name\":\"hy\",\"seed\":1,\"duration_s\":40,\"phases\":[{\"at_s\":0,\"rate\":10}],\n"
	"\"mix\":{\"browse\":1,\"checkout\":1},\"data\":{\"users\":1,\"products\":[1,2]},\n"
	"\"faults\":[{\"at_s\":10,\"until_s\":20,\"kind\":\"toxic\",\"proxy\":\"gateway-payments\",\"type\":\"fcgi_latency\"}],\n"
	"\"hypothesis\":{\"journeys\":{\"browse\":{\"success\":0.99,\"p99_ms\":100},\n"
	"                           \"checkout\":{\"success\":0.9,\"p99_ms\":500}},\n"
	"              \"recovery\":{\"within_s\":5,\"band\":0.2}}}";

/*
 * Per scheduled second: 5 browse (10 ms) and 5 checkouts (40 ms), all ok, 20 ok requests finished;
 * from 10 s until back_at every checkout fails (3 failed requests a second, 1000 ms) and only the
 * browse requests finish ok.
 */
static void synth(struct sim_scenario *sc, struct sim_load_stats *st, size_t back_at)
{
	char err[256];

	assert_int_equal(sim_scenario_parse(text, sc, err, sizeof(err)), 0);
	assert_int_equal(sim_load_stats_init(st), 0);
	st->elapsed_s = 40;
	st->nsecs = 40;
	st->secs = calloc(st->nsecs, sizeof(*st->secs));
	assert_non_null(st->secs);
	st->fail_t = calloc(200, sizeof(double));
	assert_non_null(st->fail_t);
	for (size_t s = 0; s < 40; s++) {
		bool broken = s >= 10 && s < back_at;

		st->secs[s].jstarted[SIM_J_BROWSE] = 5;
		st->secs[s].jok[SIM_J_BROWSE] = 5;
		st->secs[s].jstarted[SIM_J_CHECKOUT] = 5;
		st->secs[s].jok[SIM_J_CHECKOUT] = broken ? 0 : 5;
		st->secs[s].out[SIM_OUT_OK] = broken ? 15 : 20;
		st->secs[s].out[SIM_OUT_5XX] = broken ? 3 : 0;
		for (int k = 0; k < 5; k++) {
			assert_int_equal(sim_series_record(&st->series[SIM_J_BROWSE], s, 10000), 0);
			assert_int_equal(sim_series_record(&st->series[SIM_J_CHECKOUT], s, broken ? 1000000 : 40000), 0);
		}
		for (int k = 0; broken && k < 3; k++)
			st->fail_t[st->nfail++] = (double)s + 0.1 * k;
		st->requests += broken ? 18 : 20;
		st->jstarted[SIM_J_BROWSE] += 5;
		st->jstarted[SIM_J_CHECKOUT] += 5;
	}
}

static const struct sim_hy_clause *clause(const struct sim_hy_result *r, const char *id)
{
	for (size_t k = 0; k < r->n; k++)
		if (strcmp(r->c[k].id, id) == 0)
			return &r->c[k];
	fail_msg("no clause %s", id);
	return NULL;
}

static void test_held(void **state)
{
	struct sim_scenario sc;
	struct sim_load_stats st;
	struct sim_hy_result r;

	(void)state;
	synth(&sc, &st, 22);
	sim_hy_eval(&sc, &st, NULL, NULL, &r);
	/* Steady: 0-8 (9 s: the second before the fault is out) and 25-39 (15 s). */
	assert_int_equal(r.steady_secs, 24);
	assert_int_equal(r.base_secs, 9);
	assert_true(r.base_success == 1.0);
	assert_true(fabs(r.base_tput - 2.0) < 1e-9);
	assert_int_equal(r.n, 5);
	assert_true(clause(&r, "browse.success")->held);
	assert_true(clause(&r, "browse.success")->value == 1.0);
	assert_true(clause(&r, "checkout.success")->held);
	assert_true(clause(&r, "checkout.p99_ms")->held);
	/* 40 ms recorded at the series' resolution (< 3 %). */
	assert_true(fabs(clause(&r, "checkout.p99_ms")->value - 40) < 40 * 0.03);
	assert_true(clause(&r, "browse.p99_ms")->value < 10.5);
	/* Back at 22 s: 2 s after the fault's end, within 5 s; 6 failed requests (20 and 21 s). */
	assert_true(r.fault[0].applied);
	assert_true(r.fault[0].holds_again_s == 2);
	assert_true(r.fault[0].first_success_s == 2);
	assert_int_equal(r.fault[0].lost, 36);      /* 12 s x 3, from 10 s on */
	assert_true(clause(&r, "recovery.within_s")->held);
	assert_true(r.ok);
	assert_string_equal(r.summary, "steady state held");
	sim_load_stats_free(&st);
	sim_scenario_free(&sc);
}

static void test_success_fails(void **state)
{
	struct sim_scenario sc;
	struct sim_load_stats st;
	struct sim_hy_result r;

	(void)state;
	synth(&sc, &st, 22);
	/* 13 % of the checkouts in the steady seconds end ok. */
	for (size_t s = 0; s < 40; s++)
		st.secs[s].jok[SIM_J_CHECKOUT] = s % 8 == 0 ? 5 : 0;
	sim_hy_eval(&sc, &st, NULL, NULL, &r);
	assert_false(r.ok);
	assert_false(clause(&r, "checkout.success")->held);
	assert_true(clause(&r, "checkout.success")->judged);
	assert_true(fabs(clause(&r, "checkout.success")->value - 15.0 / 120) < 1e-9);
	assert_true(clause(&r, "browse.success")->held);
	assert_string_equal(clause(&r, "checkout.success")->text, "checkout 12.5% ok of 120 (needs 90%)");
	assert_non_null(strstr(r.summary, "steady state FAILED: checkout 12.5% ok of 120 (needs 90%)"));
	sim_load_stats_free(&st);
	sim_scenario_free(&sc);
}

static void test_p99_fails(void **state)
{
	struct sim_scenario sc;
	struct sim_load_stats st;
	struct sim_hy_result r;

	(void)state;
	synth(&sc, &st, 22);
	/* Two slow browses (300 ms) among 120 in the steady seconds: p99 is 300 ms > 100 ms. */
	assert_int_equal(sim_series_record(&st.series[SIM_J_BROWSE], 30, 300000), 0);
	assert_int_equal(sim_series_record(&st.series[SIM_J_BROWSE], 31, 300000), 0);
	/* A slow one inside the fault window does not count. */
	assert_int_equal(sim_series_record(&st.series[SIM_J_CHECKOUT], 15, 9000000), 0);
	sim_hy_eval(&sc, &st, NULL, NULL, &r);
	assert_false(clause(&r, "browse.p99_ms")->held);
	assert_true(fabs(clause(&r, "browse.p99_ms")->value - 300) < 300 * 0.03);
	assert_true(clause(&r, "checkout.p99_ms")->held);
	assert_false(r.ok);
	sim_load_stats_free(&st);
	sim_scenario_free(&sc);
}

static void test_recovery_fails(void **state)
{
	struct sim_scenario sc;
	struct sim_load_stats st;
	struct sim_hy_result r;
	double from[1] = { 10.0 }, to[1] = { 20.0 };

	(void)state;
	/* Checkouts fail until 28 s: back 8 s after the fault, later than within_s (5). */
	synth(&sc, &st, 28);
	sim_hy_eval(&sc, &st, from, to, &r);
	assert_true(r.fault[0].holds_again_s == 8);
	assert_false(clause(&r, "recovery.within_s")->held);
	assert_true(clause(&r, "recovery.within_s")->judged);
	assert_non_null(strstr(clause(&r, "recovery.within_s")->text, "not back within 20% of the baseline 5 s after"));
	/* Steady from 25 s on holds 3 s of failed checkouts: 60 of 75 ok = 80 % < 90 %. */
	assert_false(clause(&r, "checkout.success")->held);
	assert_false(r.ok);
	sim_load_stats_free(&st);
	sim_scenario_free(&sc);

	/* Never back within the load. */
	synth(&sc, &st, 40);
	sim_hy_eval(&sc, &st, from, to, &r);
	assert_true(r.fault[0].holds_again_s < 0);
	assert_true(r.fault[0].first_success_s < 0);
	assert_non_null(strstr(clause(&r, "recovery.within_s")->text, "nor before the load ended"));
	sim_load_stats_free(&st);
	sim_scenario_free(&sc);

	/* A fault that outlasts the load, with the journeys fine at its end: held, and said so. */
	synth(&sc, &st, 10);
	to[0] = 60;
	sim_hy_eval(&sc, &st, from, to, &r);
	assert_true(clause(&r, "recovery.within_s")->held);
	assert_non_null(strstr(clause(&r, "recovery.within_s")->text, "after the load's end"));
	/* Nothing outside the fault window but 0-8 s. */
	assert_int_equal(r.steady_secs, 9);
	sim_load_stats_free(&st);
	sim_scenario_free(&sc);
}

static void test_invalid(void **state)
{
	struct sim_scenario sc;
	struct sim_load_stats st;
	struct sim_hy_result r;
	char why[256];

	(void)state;
	synth(&sc, &st, 22);
	assert_int_equal(sim_hy_invalid(&sc, &st, why, sizeof(why)), 0);
	/* A journey of the mix that started nothing. */
	st.jstarted[SIM_J_CHECKOUT] = 0;
	assert_int_equal(sim_hy_invalid(&sc, &st, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "checkout journeys weight 1, and none started"));
	sim_load_stats_free(&st);
	/* Rate 0: nothing sent, nothing to judge (and every clause says so, none holds). */
	assert_int_equal(sim_load_stats_init(&st), 0);
	assert_int_equal(sim_hy_invalid(&sc, &st, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "no request was sent"));
	sim_hy_eval(&sc, &st, NULL, NULL, &r);
	assert_false(r.ok);
	assert_false(clause(&r, "browse.success")->judged);
	assert_false(clause(&r, "browse.success")->held);
	sim_load_stats_free(&st);
	sim_scenario_free(&sc);
}

static void test_defaults_and_parse_errors(void **state)
{
	struct sim_scenario sc;
	char err[256], doc[2048], path[] = "/tmp/test_sim_hypo_XXXXXX";
	const char *bare =
		"{\"name\":\"d\",\"seed\":1,\"duration_s\":10,\"timeout_s\":2,\"phases\":[{\"at_s\":0,\"rate\":1}],"
		"\"mix\":{\"register_login\":1},\"data\":{\"users\":1,\"products\":[1,2]}}";
	static const struct { const char *from, *to, *want; } bad[] = {
		{ "\"checkout\":{\"success\":0.9,\"p99_ms\":500}", "\"checkout\":{\"success\":1.5,\"p99_ms\":500}",
		  "hypothesis.journeys.checkout.success: must be between 0 and 1" },
		{ ",\n                           \"checkout\":{\"success\":0.9,\"p99_ms\":500}", "",
		  "hypothesis.journeys.checkout: is required: the mix starts checkout journeys" },
		{ "\"browse\":{\"success\":0.99,", "\"register_login\":{\"success\":0.9,\"p99_ms\":9},\"browse\":{\"success\":0.99,",
		  "hypothesis.journeys.register_login: the mix starts no register_login journey" },
		{ "\"band\":0.2", "\"bnad\":0.2", "hypothesis.recovery.bnad: unknown field" },
		{ "\"p99_ms\":100", "\"p99\":100", "hypothesis.journeys.browse.p99: unknown field" },
	};
	FILE *f;
	int fd;

	(void)state;
	/* No hypothesis: the documented defaults, p99 capped by the request timeout. */
	assert_int_equal(sim_scenario_parse(bare, &sc, err, sizeof(err)), 0);
	assert_false(sc.hy.stated);
	assert_true(sc.hy.has[SIM_J_REGISTER] && !sc.hy.has[SIM_J_BROWSE] && !sc.hy.has[SIM_J_CHECKOUT]);
	assert_true(sc.hy.success[SIM_J_REGISTER] == SIM_HY_DEFAULT_SUCCESS);
	assert_true(sc.hy.p99_ms[SIM_J_REGISTER] == 2000);
	assert_true(sc.hy.within_s == SIM_HY_DEFAULT_WITHIN_S && sc.hy.band == SIM_HY_DEFAULT_BAND);
	sim_scenario_free(&sc);
	assert_int_equal(sim_scenario_parse(text, &sc, err, sizeof(err)), 0);
	assert_true(sc.hy.stated && sc.hy.within_s == 5 && sc.hy.band == 0.2 && sc.hy.p99_ms[SIM_J_CHECKOUT] == 500);
	sim_scenario_free(&sc);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *at = strstr(text, bad[i].from);

		assert_non_null(at);
		snprintf(doc, sizeof(doc), "%.*s%s%s", (int)(at - text), text, bad[i].to, at + strlen(bad[i].from));
		assert_int_equal(sim_scenario_parse(doc, &sc, err, sizeof(err)), -1);
		if (strncmp(err, bad[i].want, strlen(bad[i].want)) != 0)
			fail_msg("got \"%s\", want \"%s\"", err, bad[i].want);
	}
	/* FILE:LINE: the hypothesis starts on line 4 of the text. */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(doc, f);
	fclose(f);
	assert_int_equal(sim_scenario_load(path, &sc, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":4: hypothesis.journeys.browse.p99: unknown field"));
	unlink(path);
}

static void test_drained_at(void **state)
{
	struct sim_scrape s;
	int32_t pending[30];

	(void)state;
	memset(&s, 0, sizeof(s));
	/* Orders pending until 24 s, orders' outbox holds rows until 27 s; the fault ended at 16 s. */
	for (size_t i = 0; i < 30; i++) {
		pending[i] = i < 25 ? 3 : 0;
		assert_int_equal(sim_evseries_set(&s.ev.outbox[0], i, i >= 10 && i < 28 ? 119 : 0), 0);
	}
	s.ev.noutbox = 1;
	s.pending = pending;
	s.npending = 30;
	assert_true(sim_hy_drained_at(&s, 16.0) == 28);
	/* Empty all along after the fault: drained when it ended, not before. */
	for (size_t i = 0; i < 30; i++) {
		pending[i] = 0;
		s.ev.outbox[0].v[i] = i < 5 ? 1 : NAN;
	}
	assert_true(sim_hy_drained_at(&s, 16.0) == 16.0);
	/* Still holding at the last sample: not drained. */
	pending[29] = 1;
	assert_true(sim_hy_drained_at(&s, 16.0) < 0);
	free(s.ev.outbox[0].v);
}

/* A report run of synth(): invariants from an empty, drained database (every one held or n/a). */
static void junit_run(struct sim_report_run *run, struct sim_scenario *sc, struct sim_load_stats *st,
		      struct sim_ck_result *ck, struct sim_hy_result *hy)
{
	struct sim_ck_data d;

	memset(&d, 0, sizeof(d));
	d.after_drain = true;
	assert_int_equal(sim_check_eval(&d, ck), 0);
	sim_hy_eval(sc, st, NULL, NULL, hy);
	*run = (struct sim_report_run){ .label = "run", .sc = sc, .st = st, .ck = ck, .status = "valid", .hy = hy };
}

/* Runs python3's XML parser over path and prints "tests failures errors skipped testcases failed-ids". */
static void xml_summary(const char *path, char *out, size_t outsz)
{
	char cmd[1024];
	FILE *p;

	snprintf(cmd, sizeof(cmd),
		 "python3 -c 'import sys, xml.etree.ElementTree as E\n"
		 "r = E.parse(sys.argv[1]).getroot()\n"
		 "assert r.tag == \"testsuites\"\n"
		 "s = r.findall(\"testsuite\")\n"
		 "c = [t for x in s for t in x.findall(\"testcase\")]\n"
		 "assert all(t.get(\"classname\") and t.get(\"name\") for t in c)\n"
		 "bad = [t.get(\"classname\").split(\".\")[-1] + \":\" + t.get(\"name\") for t in c if t.find(\"failure\") is not None or t.find(\"error\") is not None]\n"
		 "print(r.get(\"tests\"), r.get(\"failures\"), r.get(\"errors\"), r.get(\"skipped\"), len(c), \",\".join(bad))' %s",
		 path);
	p = popen(cmd, "r");
	assert_non_null(p);
	if (fgets(out, (int)outsz, p) == NULL)
		out[0] = '\0';
	out[strcspn(out, "\n")] = '\0';
	assert_int_equal(pclose(p), 0);
}

static void test_junit(void **state)
{
	struct sim_scenario sc;
	struct sim_load_stats st;
	struct sim_ck_result ck;
	struct sim_hy_result hy;
	struct sim_report_run run;
	char path[] = "/tmp/test_sim_junit_XXXXXX", err[256], got[512], want[512];
	int fd, skipped = 0;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	synth(&sc, &st, 22);
	junit_run(&run, &sc, &st, &ck, &hy);
	for (int i = 0; i < SIM_INV_COUNT; i++)
		skipped += ck.inv[i].na[0] && !ck.inv[i].violations;
	assert_int_equal(sim_junit_write(path, &run, 1, err, sizeof(err)), 0);
	xml_summary(path, got, sizeof(got));
	/* valid + every invariant + 5 clauses; nothing failed. */
	snprintf(want, sizeof(want), "%d 0 0 %d %d ", 1 + SIM_INV_COUNT + 5, skipped, 1 + SIM_INV_COUNT + 5);
	assert_string_equal(got, want);

	/* The checkouts fail in the steady state, and an invariant broke: each is its own failure. */
	for (size_t s = 0; s < 40; s++)
		st.secs[s].jok[SIM_J_CHECKOUT] = 0;
	junit_run(&run, &sc, &st, &ck, &hy);
	ck.inv[SIM_INV_MONEY].violations = 1;
	ck.inv[SIM_INV_MONEY].na[0] = '\0';
	assert_int_equal(sim_junit_write(path, &run, 1, err, sizeof(err)), 0);
	xml_summary(path, got, sizeof(got));
	/* (Recovery holds: the baseline's checkouts failed as well, so the band is the same.) */
	if (strstr(got, " invariants:money_balances,hypothesis:checkout.success") == NULL || strncmp(got, "26 2 0", 6) != 0)
		fail_msg("got %s", got);

	/* An INVALID run: the "valid" testcase is an error, the verdict says why. */
	run.status = "invalid";
	run.why = "no request was sent <&>";
	assert_int_equal(sim_junit_write(path, &run, 1, err, sizeof(err)), 0);
	xml_summary(path, got, sizeof(got));
	if (strncmp(got, "26 2 1", 6) != 0)
		fail_msg("got %s", got);
	assert_non_null(strstr(got, "run:valid"));
	unlink(path);
	sim_load_stats_free(&st);
	sim_scenario_free(&sc);
}

static void test_verdict_line(void **state)
{
	struct sim_scenario sc;
	struct sim_load_stats st;
	struct sim_ck_result ck;
	struct sim_hy_result hy;
	struct sim_report_run run;
	char line[512];

	(void)state;
	synth(&sc, &st, 22);
	junit_run(&run, &sc, &st, &ck, &hy);
	sim_report_verdict(&run, line, sizeof(line));
	assert_string_equal(line, "VALID \xc2\xb7 invariants held \xc2\xb7 steady state held");
	assert_true(sim_report_held(&run));
	for (size_t s = 0; s < 40; s++)
		st.secs[s].jok[SIM_J_CHECKOUT] = s % 8 == 0 ? 5 : 0;
	junit_run(&run, &sc, &st, &ck, &hy);
	sim_report_verdict(&run, line, sizeof(line));
	assert_non_null(strstr(line, "VALID \xc2\xb7 invariants held \xc2\xb7 steady state FAILED: checkout 12.5% ok of 120 (needs 90%)"));
	assert_false(sim_report_held(&run));
	run.status = "invalid";
	run.why = "no request was sent";
	sim_report_verdict(&run, line, sizeof(line));
	assert_string_equal(line, "INVALID: no request was sent");
	sim_load_stats_free(&st);
	sim_scenario_free(&sc);
}

/* The report: the verdict's two halves, the hypothesis table, "drained in", charts to the last sample. */
static void test_report(void **state)
{
	struct sim_scenario sc;
	struct sim_load_stats st;
	struct sim_ck_result ck;
	struct sim_hy_result hy;
	struct sim_report_run run;
	struct sim_scrape br;
	struct sim_report_meta meta = { .commit = "c", .started = "s", .scenario_sha256 = "h", .settings = "" };
	char dir[] = "/tmp/test_sim_hypo_rep_XXXXXX", path[256], err[256], *html = NULL;
	static int32_t pending[71];
	json_object *root, *runs, *r0, *a;
	size_t len = 0;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	synth(&sc, &st, 22);
	junit_run(&run, &sc, &st, &ck, &hy);
	/* Restoring the stack took long: the scraper's samples run to 70 s (load 40 s, drain 10 s). */
	memset(&br, 0, sizeof(br));
	for (size_t i = 0; i < 71; i++)
		pending[i] = i < 32 ? 2 : 0;
	br.pending = pending;
	br.npending = 71;
	run.breakers = &br;
	run.drained = 1;
	run.drained_from_s = 20;
	run.drained_in_s = sim_hy_drained_at(&br, 20) - 20;
	assert_true(run.drained_in_s == 12);
	assert_int_equal(sim_report_write(dir, &run, 1, &meta, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/report.html", dir);
	f = fopen(path, "r");
	assert_non_null(f);
	html = calloc(1, 4 << 20);
	assert_non_null(html);
	len = fread(html, 1, (4 << 20) - 1, f);
	fclose(f);
	assert_true(len > 0);
	assert_string_equal(simtest_missing(html, (const char *const[]){
		"run: VALID \xc2\xb7 invariants held \xc2\xb7 steady state held",
		"Steady-state hypothesis (liveness)",
		"<td>recovery.within_s</td>",
		"Drained 12 s after the last fault ended (20.0 s)",
		NULL }), "");
	free(html);
	snprintf(path, sizeof(path), "%s/report.json", dir);
	root = json_object_from_file(path);
	assert_non_null(root);
	assert_true(json_object_object_get_ex(root, "runs", &runs));
	r0 = json_object_array_get_idx(runs, 0);
	assert_true(json_object_object_get_ex(r0, "pending_orders_per_second", &a));
	assert_int_equal(json_object_array_length(a), 71);
	assert_true(json_object_object_get_ex(r0, "held", &a) && json_object_get_boolean(a));
	assert_true(json_object_object_get_ex(r0, "hypothesis", &a));
	assert_true(json_object_object_get_ex(a, "clauses", &a));
	assert_int_equal(json_object_array_length(a), 5);
	assert_true(json_object_object_get_ex(r0, "drain", &a) && json_object_object_get_ex(a, "drained_in_s", &a));
	assert_true(json_object_get_double(a) == 12);
	json_object_put(root);
	unlink(path);
	snprintf(path, sizeof(path), "%s/report.html", dir);
	unlink(path);
	rmdir(dir);
	sim_load_stats_free(&st);
	sim_scenario_free(&sc);
}

/* sim load: every request failing (nothing listens on port 1) passes --max-failed; a share of 1 lets it. */
static void test_load_threshold(void **state)
{
	char *fails[] = { "load", "--url", "http://127.0.0.1:1/", "--rate", "20", "--duration", "0.5", NULL };
	char *lets[] = { "load", "--url", "http://127.0.0.1:1/", "--rate", "20", "--duration", "0.5", "--max-failed", "1", NULL };
	char *bad[] = { "load", "--url", "http://127.0.0.1:1/", "--rate", "20", "--max-failed", "5%", NULL };

	(void)state;
	assert_int_equal(sim_load_main(7, fails), 1);
	assert_int_equal(sim_load_main(9, lets), 0);
	assert_int_equal(sim_load_main(7, bad), 2);
}

/* SHOPLAB_TOP: the checkout this test was built in (build/tests/sim/<test> -> ../../..). */
static void set_top(void)
{
	char exe[PATH_MAX], top[PATH_MAX + 16];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	assert_true(n > 0);
	exe[n] = '\0';
	snprintf(top, sizeof(top), "%s/../../..", dirname(exe));
	if (access("sim/scenarios/ci-smoke.json", R_OK) == 0)
		snprintf(top, sizeof(top), ".");
	assert_int_equal(setenv("SHOPLAB_TOP", top, 1), 0);
}

static void test_name_lookup(void **state)
{
	char path[1024], err[512];

	(void)state;
	set_top();
	assert_int_equal(sim_catalog_resolve("ci-smoke", path, sizeof(path), err, sizeof(err)), 0);
	assert_non_null(strstr(path, "/sim/scenarios/ci-smoke.json"));
	assert_int_equal(access(path, R_OK), 0);
	assert_int_equal(sim_catalog_resolve("ci-smoke.json", path, sizeof(path), err, sizeof(err)), 0);
	assert_non_null(strstr(path, "/sim/scenarios/ci-smoke.json"));
	/* A path is taken as it is. */
	assert_int_equal(sim_catalog_resolve("./x/y.json", path, sizeof(path), err, sizeof(err)), 0);
	assert_string_equal(path, "./x/y.json");
	assert_int_equal(sim_catalog_resolve("ci-smok", path, sizeof(path), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "ci-smok: no such file, and no shipped scenario of that name"));
	assert_int_equal(sim_catalog_resolve("Bad Name", path, sizeof(path), err, sizeof(err)), -1);
}

static void test_dry_run(void **state)
{
	struct sim_scenario sc;
	char err[512], path[1024], *buf = NULL;
	size_t len = 0;
	FILE *f;
	char *argv_ok[] = { "run", "ci-smoke", "--dry-run", NULL };
	char *argv_bad[] = { "run", "no-such-scenario", "--dry-run", NULL };

	(void)state;
	set_top();
	assert_int_equal(sim_catalog_resolve("ci-smoke", path, sizeof(path), err, sizeof(err)), 0);
	assert_int_equal(sim_scenario_load(path, &sc, err, sizeof(err)), 0);
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	sim_catalog_plan(&sc, f);
	fclose(f);
	assert_string_equal(simtest_missing(buf, (const char *const[]){
		"scenario ci-smoke (",
		"[0]    5.0-10.0   s  fcgi_latency       gateway-payments (upstream, toxicity 1) {\"latency\":800}",
		"[1]   13.0-18.0   s  kill               payments",
		"hypothesis (the scenario's):",
		"checkout        >= 90% ok, p99 <= 8000 ms",
		"recovery: within 6 s after the last fault ends (18 s)",
		NULL }), "");
	free(buf);
	sim_scenario_free(&sc);
	/* No stack is needed: sim run --dry-run ends at the plan (exit 0); a bad name exits 2. The
	 * stack's environment points nowhere to prove it. */
	assert_int_equal(setenv("SHOPLAB_GATEWAY_URL", "http://127.0.0.1:1", 1), 0);
	assert_int_equal(sim_run_main(3, argv_ok), 0);
	assert_int_equal(sim_run_main(3, argv_bad), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_held),
		cmocka_unit_test(test_success_fails),
		cmocka_unit_test(test_p99_fails),
		cmocka_unit_test(test_recovery_fails),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_defaults_and_parse_errors),
		cmocka_unit_test(test_drained_at),
		cmocka_unit_test(test_junit),
		cmocka_unit_test(test_verdict_line),
		cmocka_unit_test(test_report),
		cmocka_unit_test(test_load_threshold),
		cmocka_unit_test(test_name_lookup),
		cmocka_unit_test(test_dry_run),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
