/* svc_unit.h - what the unit test programs share: their main, table checks, expected lines */
#ifndef SVC_UNIT_H
#define SVC_UNIT_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "svc.h"
#include "svc_resilience.h"

#define SVC_UNIT_N(a)	(sizeof(a) / sizeof((a)[0]))

/* main(): runs the cmocka_unit_test(...) entries given as one group named group. */
#define SVC_UNIT_MAIN(group, ...)						\
int										\
main(void)									\
{										\
	const struct CMUnitTest tests[] = { __VA_ARGS__ };			\
										\
	return cmocka_run_group_tests_name(group, tests, NULL, NULL);		\
}

/* One input of a yes/no check and the answer it must give (0 no, else yes). */
struct svc_unit_yesno {
	const char	*in;
	int		 yes;
};

/* Checks f against every case; a miss names the function and the input. */
static inline void
svc_unit_yesno(const char *what, int (*f)(const char *), const struct svc_unit_yesno *c,
    size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if ((f(c[i].in) != 0) != (c[i].yes != 0))
			fail_msg("%s(\"%s\") should be %s", what,
			    c[i].in != NULL ? c[i].in : "(NULL)", c[i].yes ? "true" : "false");
	}
}

/* One call of f(in, out, outlen): what it returns and (unless NULL) what out then holds. */
struct svc_unit_conv {
	const char	*in;
	size_t		 outlen;
	int		 rc;
	const char	*out;
};

/*
 * Checks f against every case; out is a heap block of exactly outlen bytes, so that a write
 * past it is caught (cmocka's guard bytes, ASan). A miss names the function and the input.
 */
static inline void
svc_unit_conv(const char *what, int (*f)(const char *, char *, size_t),
    const struct svc_unit_conv *c, size_t n)
{
	size_t	i;
	char	*out;
	int	 rc;

	for (i = 0; i < n; i++) {
		out = test_malloc(c[i].outlen);
		assert_non_null(out);
		rc = f(c[i].in, out, c[i].outlen);
		if (rc != c[i].rc)
			fail_msg("%s(\"%s\", %zu) returned %d, want %d", what, c[i].in,
			    c[i].outlen, rc, c[i].rc);
		if (c[i].out != NULL && strcmp(out, c[i].out) != 0)
			fail_msg("%s(\"%s\") gave \"%s\", want \"%s\"", what, c[i].in, out,
			    c[i].out);
		test_free(out);
	}
}

/* Asserts that text holds every one of the n strings in want; a miss names it and shows text. */
static inline void
svc_unit_has(const char *text, const char *const *want, size_t n)
{
	size_t i;

	assert_non_null(text);
	for (i = 0; i < n; i++) {
		if (strstr(text, want[i]) == NULL)
			fail_msg("no \"%s\" in:\n%s", want[i], text);
	}
}

/*
 * A dependency's settings for a test: retries and the bulkhead switched on, the
 * given limits, everything else zero (the caller sets the breaker and the budget it wants).
 */
static inline struct svc_dep_conf
svc_unit_dep_conf(int retries, int64_t backoff_base_us, int64_t backoff_cap_us, int bulkhead,
    int64_t timeout_us, int64_t connect_timeout_us, size_t max_body)
{
	struct svc_dep_conf c;

	memset(&c, 0, sizeof(c));
	c.retry = 1;
	c.retries = retries;
	c.backoff_base_us = backoff_base_us;
	c.backoff_cap_us = backoff_cap_us;
	c.bulkhead_enabled = 1;
	c.bulkhead = bulkhead;
	c.timeout_us = timeout_us;
	c.connect_timeout_us = connect_timeout_us;
	c.max_body = max_body;
	return c;
}

#endif /* SVC_UNIT_H */
