/* sim_http.h - small blocking HTTP calls (set-up, proxy API, metrics) over libcurl easy */
#ifndef SIM_HTTP_H
#define SIM_HTTP_H

#include <stddef.h>

/* Sends one request; body and token may be NULL. Copies up to outsz-1 bytes of the answer into
 * out (NUL-terminated; out may be NULL). Returns the HTTP status, or -1 when no answer came
 * (the curl error is in out then). */
long sim_http(const char *method, const char *url, const char *body, const char *token,
	      long timeout_ms, char *out, size_t outsz);

#endif
