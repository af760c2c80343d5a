/* shipping_time.c - wall-clock helpers of the shipping service (pure, unit-tested) */
#include <stdio.h>
#include <time.h>

#include "shipping.h"

int
shipping_sql_time(int64_t wall_us, char *out, size_t outlen)
{
	struct tm	tm;
	time_t		t;
	int		n;

	if (wall_us < 0 || outlen < 27)
		return -1;
	t = (time_t)(wall_us / 1000000);
	if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 > 9999)
		return -1;
	n = snprintf(out, outlen, "%04d-%02d-%02d %02d:%02d:%02d.%06lld", tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    (long long)(wall_us % 1000000));
	return n > 0 && (size_t)n < outlen ? 0 : -1;
}

int64_t
shipping_due_before(int64_t now_us, long long delay_ms)
{
	int64_t d = (int64_t)delay_ms * 1000;

	return now_us > d ? now_us - d : 0;
}

int64_t
shipping_next_in(int64_t after_cutoff_us)
{
	if (after_cutoff_us < 0)
		return -1;
	return after_cutoff_us > 0 ? after_cutoff_us : 1;
}
