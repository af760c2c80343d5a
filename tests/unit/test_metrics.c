/* test_metrics.c - request counters and histograms in Prometheus text format */
#include "svc_test.h"

static const char *const record_want[] = {
	"shoplab_http_requests_total{service=\"svc\",method=\"GET\","
	    "route=\"/a/{id}\",status=\"200\"} 2\n",
	"route=\"/a/{id}\",status=\"404\"} 1\n",
	"method=\"-\",route=\"unmatched\",status=\"other\"} 1\n",
	"method=\"-\",route=\"unmatched\",status=\"200\"} 1\n",
	/* Cumulative buckets. */
	"route=\"/a/{id}\",le=\"0.00025\"} 1\n",
	"route=\"/a/{id}\",le=\"0.0025\"} 1\n",
	"route=\"/a/{id}\",le=\"0.005\"} 2\n",
	"route=\"/a/{id}\",le=\"5\"} 2\n",
	"route=\"/a/{id}\",le=\"+Inf\"} 3\n",
	"shoplab_http_request_duration_seconds_count{service=\"svc\","
	    "method=\"GET\",route=\"/a/{id}\"} 3\n",
	"shoplab_http_request_duration_seconds_sum{service=\"svc\","
	    "method=\"GET\",route=\"/a/{id}\"} 10.003100\n",
};

static void
test_record_and_write(void **state)
{
	static const char *const names[] = { "GET /a/{id}", "GET /healthz", "- unmatched" };
	struct svc_metrics	m;
	struct svc_buf		b;

	(void)state;
	assert_int_equal(svc_metrics_init(&m, 3), 0);
	svc_metrics_record(&m, 0, 200, 100);		/* <= 250 us */
	svc_metrics_record(&m, 0, 200, 3000);		/* <= 5 ms */
	svc_metrics_record(&m, 0, 404, 10000000);	/* +Inf */
	svc_metrics_record(&m, 2, 418, 1);		/* "other" status */
	svc_metrics_record(&m, 99, 200, 1);		/* out of range: unmatched */
	svc_buf_init(&b);
	assert_int_equal(svc_metrics_write(&m, "svc", names, &b), 0);
	svc_unit_has(b.data, record_want, SVC_UNIT_N(record_want));
	/* Nothing recorded for /healthz: no series for it. */
	assert_null(strstr(b.data, "route=\"/healthz\""));
	/* One TYPE line per family. */
	assert_non_null(strstr(b.data, "# TYPE shoplab_http_requests_in_flight gauge\n"));
	svc_buf_free(&b);
	svc_metrics_free(&m);
}

static void
test_status_index(void **state)
{
	(void)state;
	assert_int_equal(svc_metrics_status_index(200), 0);
	assert_int_equal(svc_metrics_status_index(599), SVC_NSTATUS - 1);
	assert_int_not_equal(svc_metrics_status_index(504), SVC_NSTATUS - 1);
}

SVC_UNIT_MAIN("metrics",
    cmocka_unit_test(test_record_and_write),
    cmocka_unit_test(test_status_index))
