/* sim_failover.c - failover time and requests lost around a fault, from the failed requests' finish times */
#include <string.h>

#include "sim_failover.h"

void
sim_failover_of(const double *fail_t, size_t n, double from, double to, double gap_s,
    struct sim_failover *out)
{
	bool in_burst = false;
	double last = 0;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		double t = fail_t[i];

		if (t < from)
			continue;
		if (t >= to)
			break;
		out->failed++;
		if (!out->errors) {
			out->errors = true;
			in_burst = true;
			out->first_error_s = last = t;
			out->burst_failed = 1;
			continue;
		}
		if (in_burst && t - last < gap_s) {
			out->burst_failed++;
			last = t;
		} else {
			in_burst = false;
		}
	}
	if (out->errors) {
		out->recovered_s = last;
		out->failover_s = last - out->first_error_s;
	}
}
