/* simtest_text.h - checks on text (a report, a plan) for any sim test, proxy side or scenario side */
#ifndef SIMTEST_TEXT_H
#define SIMTEST_TEXT_H

/* The first of needles (NULL-ended) that text does not hold, or "" when it holds them all: a test
 * asserts it equals "", and a failure names what is missing. */
const char *simtest_missing(const char *text, const char *const *needles);

#endif
