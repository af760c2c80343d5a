/* proxy_util.c - the proxy's clock and its Toxiproxy-shaped error value */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "proxy.h"

uint64_t
sim_clock_monotonic_us(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000ULL;
}

void
sim_err_set(struct sim_err *e, int status, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return;
	e->status = status;
	va_start(ap, fmt);
	if (vsnprintf(e->msg, sizeof(e->msg), fmt, ap) < 0)
		e->msg[0] = '\0';
	va_end(ap);
}
