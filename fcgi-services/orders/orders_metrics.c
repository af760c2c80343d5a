/* orders_metrics.c - orders' own /metrics series: pending sagas and the age of the oldest */
#include "orders.h"

/*
 * Appends shoplab_orders_saga_pending and shoplab_orders_saga_oldest_age_seconds. A database
 * that does not answer leaves both out (an absent series, not a reassuring 0) and logs it;
 * returns -1 only when out cannot grow.
 */
int
orders_metrics(struct svc_req *r, struct svc_buf *out)
{
	struct svc_rows	*rows = NULL;
	int64_t		 pending, age_us;
	int		 rc = -1;

	if (svc_db_query(r, ORD_SAGA_GAUGE, &rows, "") != SVC_OK || !svc_rows_next(rows)) {
		svc_log(r, "warn", "metrics: the pending sagas could not be counted");
		rc = 0;
		goto out_free_rows;
	}
	pending = svc_rows_int(rows, 0);
	age_us = svc_rows_int(rows, 1);
	if (age_us < 0)		/* a clock that stepped back */
		age_us = 0;
	svc_buf_printf(out,
	    "# HELP shoplab_orders_saga_pending Orders whose checkout saga has not ended (status pending).\n"
	    "# TYPE shoplab_orders_saga_pending gauge\n"
	    "shoplab_orders_saga_pending{service=\"orders\"} %lld\n"
	    "# HELP shoplab_orders_saga_oldest_age_seconds Age of the oldest pending order; 0 when none is pending.\n"
	    "# TYPE shoplab_orders_saga_oldest_age_seconds gauge\n"
	    "shoplab_orders_saga_oldest_age_seconds{service=\"orders\"} %.3f\n",
	    (long long)pending, (double)age_us / 1e6);
	rc = out->failed ? -1 : 0;
out_free_rows:
	svc_rows_free(rows);
	return rc;
}
