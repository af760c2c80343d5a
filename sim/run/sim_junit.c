/* sim_junit.c - a run's verdict as JUnit XML: a testcase per invariant and per hypothesis clause */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sim_junit.h"

static void
sim_junit_xesc(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '<')
			fputs("&lt;", f);
		else if (ch == '>')
			fputs("&gt;", f);
		else if (ch == '&')
			fputs("&amp;", f);
		else if (ch == '"')
			fputs("&quot;", f);
		else if (ch == '\'')
			fputs("&apos;", f);
		else if (ch < 0x20 && ch != '\n' && ch != '\t')
			fputc(' ', f);  /* not allowed in XML 1.0 */
		else
			fputc(ch, f);
	}
}

struct counts {
	size_t tests, failures, errors, skipped;
};

static void
sim_junit_count(const struct sim_report_run *r, struct counts *c)
{
	bool valid = r->status == NULL || strcmp(r->status, "valid") == 0;

	memset(c, 0, sizeof(*c));
	c->tests = 1 + SIM_INV_COUNT + (r->hy ? r->hy->n : 0);
	c->errors = !valid;
	for (int i = 0; i < SIM_INV_COUNT; i++) {
		if (r->ck == NULL)
			c->errors++;
		else if (r->ck->inv[i].violations)
			c->failures++;
		else if (r->ck->inv[i].na[0])
			c->skipped++;
	}
	for (size_t k = 0; r->hy && k < r->hy->n; k++)
		c->failures += !r->hy->c[k].held;
	if (r->hy == NULL) {
		c->tests++;
		c->errors++;
	}
}

static void
sim_junit_testcase_open(FILE *f, const char *suite, const char *cls, const char *name)
{
	fprintf(f, "    <testcase classname=\"");
	sim_junit_xesc(f, suite);
	fprintf(f, ".%s\" name=\"", cls);
	sim_junit_xesc(f, name);
	fprintf(f, "\" time=\"0\">");
}

static void
sim_junit_one_run(FILE *f, const struct sim_report_run *r)
{
	const char *name = r->sc->name;
	char suite[160], verdict[512];
	struct counts c;
	bool valid = r->status == NULL || strcmp(r->status, "valid") == 0;

	sim_junit_count(r, &c);
	snprintf(suite, sizeof(suite), "sim.%s.%s", name, r->label);
	for (char *p = suite; *p; p++)
		if (*p == ' ')
			*p = '_';
	sim_report_verdict(r, verdict, sizeof(verdict));
	fprintf(f, "  <testsuite name=\"");
	sim_junit_xesc(f, suite);
	fprintf(f, "\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\" time=\"%.3f\">\n", c.tests, c.failures,
		c.errors, c.skipped, r->st ? r->st->elapsed_s : 0.0);
	fprintf(f, "    <properties><property name=\"verdict\" value=\"");
	sim_junit_xesc(f, verdict);
	fprintf(f, "\"/><property name=\"scenario_file\" value=\"");
	sim_junit_xesc(f, r->sc->file);
	fprintf(f, "\"/></properties>\n");
	sim_junit_testcase_open(f, suite, "run", "valid");
	if (!valid) {
		fprintf(f, "<error type=\"%s\" message=\"", r->status);
		sim_junit_xesc(f, r->why);
		fprintf(f, "\"/>");
	}
	fprintf(f, "</testcase>\n");
	for (int i = 0; i < SIM_INV_COUNT; i++) {
		const struct sim_ck_inv *v = r->ck ? &r->ck->inv[i] : NULL;

		sim_junit_testcase_open(f, suite, "invariants", sim_ck_inv_name(i));
		if (v == NULL) {
			fprintf(f, "<error type=\"not checked\" message=\"");
			sim_junit_xesc(f, r->check_error && *r->check_error ? r->check_error : "the run stopped before the checks");
			fprintf(f, "\"/>");
		} else if (v->violations) {
			fprintf(f, "<failure type=\"violated\" message=\"%llu violations of %llu checked: ",
				(unsigned long long)v->violations, (unsigned long long)v->checked);
			sim_junit_xesc(f, v->rule);
			fprintf(f, "\">");
			for (size_t k = 0; k < v->nmsgs; k++) {
				sim_junit_xesc(f, v->msgs[k]);
				fputc('\n', f);
			}
			fprintf(f, "</failure>");
		} else if (v->na[0]) {
			fprintf(f, "<skipped message=\"not applicable: ");
			sim_junit_xesc(f, v->na);
			fprintf(f, "\"/>");
		}
		fprintf(f, "</testcase>\n");
	}
	if (r->hy == NULL) {
		sim_junit_testcase_open(f, suite, "hypothesis", "judged");
		fprintf(f, "<error type=\"not judged\" message=\"the run stopped before the hypothesis was judged\"/></testcase>\n");
	}
	for (size_t k = 0; r->hy && k < r->hy->n; k++) {
		const struct sim_hy_clause *h = &r->hy->c[k];

		sim_junit_testcase_open(f, suite, "hypothesis", h->id);
		if (!h->held) {
			fprintf(f, "<failure type=\"%s\" message=\"", h->judged ? "not held" : "not judged");
			sim_junit_xesc(f, h->text);
			fprintf(f, "\"/>");
		} else {
			fprintf(f, "<system-out>");
			sim_junit_xesc(f, h->text);
			fprintf(f, "</system-out>");
		}
		fprintf(f, "</testcase>\n");
	}
	fprintf(f, "  </testsuite>\n");
}

int
sim_junit_print(FILE *f, const struct sim_report_run *runs, size_t n)
{
	struct counts all = { 0 };

	for (size_t i = 0; i < n; i++) {
		struct counts c;

		sim_junit_count(&runs[i], &c);
		all.tests += c.tests;
		all.failures += c.failures;
		all.errors += c.errors;
		all.skipped += c.skipped;
	}
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"sim run ");
	sim_junit_xesc(f, n ? runs[0].sc->name : "");
	fprintf(f, "\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\">\n", all.tests, all.failures, all.errors,
		all.skipped);
	for (size_t i = 0; i < n; i++)
		sim_junit_one_run(f, &runs[i]);
	fprintf(f, "</testsuites>\n");
	return ferror(f) ? -1 : 0;
}

int
sim_junit_write(const char *path, const struct sim_report_run *runs, size_t n, char *err, size_t errsz)
{
	char tmp[1200];
	FILE *f;
	int rc;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		snprintf(err, errsz, "--junit: the path is too long");
		return -1;
	}
	if ((f = fopen(tmp, "w")) == NULL) {
		snprintf(err, errsz, "%s: cannot write: %s", tmp, strerror(errno));
		return -1;
	}
	rc = sim_junit_print(f, runs, n);
	if (fclose(f) != 0 || rc != 0 || rename(tmp, path) != 0) {
		snprintf(err, errsz, "%s: cannot write: %s", path, strerror(errno));
		(void)remove(tmp);
		return -1;
	}
	return 0;
}
