/* sim_junit.h - a run's verdict as JUnit XML: a testcase per invariant and per hypothesis clause */
#ifndef SIM_JUNIT_H
#define SIM_JUNIT_H

#include <stddef.h>
#include <stdio.h>

#include "sim_report.h"

/* Writes the runs to f: one <testsuite> per run, a "valid" testcase (an <error> when the run is
 * not valid), a testcase per invariant (<failure> when broken, <skipped> when not applicable,
 * <error> when not checked) and per hypothesis clause (<failure> when it did not hold).
 * Returns 0, or -1 when f failed. */
int sim_junit_print(FILE *f, const struct sim_report_run *runs, size_t n);
/* The same into path (through path.tmp and a rename). Returns 0, or -1 with a message in err. */
int sim_junit_write(const char *path, const struct sim_report_run *runs, size_t n, char *err, size_t errsz);

#endif
