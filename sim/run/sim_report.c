/* sim_report.c - writes report.json and report.html (inline SVG charts, no scripts, no network) */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sim_report.h"
#include "sim_report_int.h"

int
sim_report_write_html(const char *path, const struct sim_report_run *runs, size_t n,
    const struct sim_report_meta *meta, char *err, size_t errsz)
{
	char tmp[1200];
	FILE *f;
	int rc;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL) {
		snprintf(err, errsz, "%s: cannot write: %s", tmp, strerror(errno));
		return -1;
	}
	rc = sim_rep_html(f, runs, n, meta);
	if (fclose(f) != 0 || rc != 0 || rename(tmp, path) != 0) {
		snprintf(err, errsz, "%s: cannot write: %s", path, strerror(errno));
		(void)remove(tmp);
		return -1;
	}
	return 0;
}

int
sim_report_write(const char *dir, const struct sim_report_run *runs, size_t n,
    const struct sim_report_meta *meta, char *err, size_t errsz)
{
	char path[1200];

	snprintf(path, sizeof(path), "%s/report.json", dir);
	if (sim_rep_json(path, runs, n, meta) != 0) {
		snprintf(err, errsz, "%s: cannot write: %s", path, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/report.html", dir);
	return sim_report_write_html(path, runs, n, meta, err, errsz);
}
