/* svc_router_int.h - route matching (svc_router.c): the matched route and its captured {args} */
#ifndef SVC_ROUTER_INT_H
#define SVC_ROUTER_INT_H

#include <stddef.h>

#include "svc.h"

#define SVC_MAX_ARGS	4	/* {placeholders} in one route pattern */
#define SVC_ARG_MAX	128	/* bytes of one captured path segment */

/* The route a request matched, and its captured {args}. */
struct svc_match {
	int	 route;			/* index, or -1 */
	size_t	 nargs;
	struct {
		const char	*name;	/* points into the pattern */
		size_t		 namelen;
		char		 value[SVC_ARG_MAX];
	} args[SVC_MAX_ARGS];
};

#define SVC_MATCH_NONE		(-1)	/* no pattern matches the path: 404 */
#define SVC_MATCH_METHOD	(-2)	/* a pattern matches, not with this method: 405 */

/* Matches method and path; on SVC_MATCH_METHOD, allow lists the methods that would match. */
int svc_route_match(const struct svc_route *routes, size_t n, const char *method,
	const char *path, struct svc_match *m, char *allow, size_t allowlen);
/* Checks a pattern at start-up: leading '/', well-formed {names}, at most SVC_MAX_ARGS. */
int svc_route_valid(const char *pattern);

#endif /* SVC_ROUTER_INT_H */
