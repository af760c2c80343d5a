/* test_metrics_process.c - process_* from /proc/self and shoplab_build_info in /metrics */
#include <sys/resource.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "svc_test.h"

/* The value of the sample whose line begins with prefix; fails the test when absent. */
static double
sample(const char *text, const char *prefix)
{
	const char *p = strstr(text, prefix);

	assert_non_null(p);
	return strtod(p + strlen(prefix), NULL);
}

static void
test_process_families(void **state)
{
	struct svc_buf	b;
	struct rlimit	rl;
	double		start, now = (double)time(NULL);
	volatile double	x = 0;
	int		i;

	(void)state;
	for (i = 0; i < 20000000; i++)		/* some CPU time to see */
		x += i;
	svc_buf_init(&b);
	svc_metrics_process_write("svc", &b);
	assert_false(b.failed);
	assert_non_null(strstr(b.data, "# TYPE process_cpu_seconds_total counter\n"));
	assert_true(sample(b.data, "process_cpu_seconds_total{service=\"svc\"} ") > 0);
	/* A test program is more than 1 MB and less than 1 GB resident. */
	assert_true(sample(b.data, "process_resident_memory_bytes{service=\"svc\"} ") > 1e6);
	assert_true(sample(b.data, "process_resident_memory_bytes{service=\"svc\"} ") < 1e9);
	/* Started within the last hour, not in the future. */
	start = sample(b.data, "process_start_time_seconds{service=\"svc\"} ");
	assert_true(start <= now + 1 && start > now - 3600);
	/* stdin, stdout, stderr at least; the directory read's own fd is not counted. */
	assert_true(sample(b.data, "process_open_fds{service=\"svc\"} ") >= 3);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	assert_true(sample(b.data, "process_max_fds{service=\"svc\"} ") == (double)rl.rlim_cur);
	assert_non_null(strstr(b.data, "shoplab_build_info{service=\"svc\",version=\""));
	assert_non_null(strstr(b.data, "\"} 1\n"));
	svc_buf_free(&b);
}

/* The process families and the build's own line come with the request metrics. */
static const char *const part_want[] = {
	"\nprocess_open_fds{service=\"svc\"} ",
	"\nshoplab_build_info{service=\"svc\",version=\"",
};

static void
test_part_of_metrics(void **state)
{
	static const char *const names[] = { "GET /a", "- unmatched" };
	struct svc_metrics	m;
	struct svc_buf		b;

	(void)state;
	assert_int_equal(svc_metrics_init(&m, 2), 0);
	svc_buf_init(&b);
	assert_int_equal(svc_metrics_write(&m, "svc", names, &b), 0);
	svc_unit_has(b.data, part_want, SVC_UNIT_N(part_want));
	svc_buf_free(&b);
	svc_metrics_free(&m);
}

SVC_UNIT_MAIN("metrics_process",
    cmocka_unit_test(test_process_families),
    cmocka_unit_test(test_part_of_metrics))
