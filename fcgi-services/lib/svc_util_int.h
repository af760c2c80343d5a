/* svc_util_int.h - the runtime's shared helpers: buffer and JSON text, error status, the system clock */
#ifndef SVC_UTIL_INT_H
#define SVC_UTIL_INT_H

#include "svc.h"

int svc_buf_puts(struct svc_buf *b, const char *s);
/* v in decimal at the end of b (no NUL); returns where it starts: b + i .. b + 24. */
#define SVC_LL_DIGITS	24
size_t svc_fmt_ll(char b[SVC_LL_DIGITS], long long v);
/* v in decimal. -1 when out of memory. */
int svc_buf_append_ll(struct svc_buf *out, long long v);
size_t svc_json_escape(const char *s, char *out, size_t outlen);
/* s[0..len) as a JSON string, quotes included, escaped byte for byte as json-c escapes it
 * with JSON_C_TO_STRING_NOSLASHESCAPE. -1 when out of memory. */
int svc_json_append_str(struct svc_buf *out, const char *s, size_t len);
/* The HTTP status an svc_err answers with. */
int svc_err_status(enum svc_err err);
/* svc_now_us as a struct svc_clock. */
extern const struct svc_clock svc_clock_system;

#endif /* SVC_UTIL_INT_H */
