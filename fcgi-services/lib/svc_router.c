/* svc_router.c - match a method and path against route patterns with {name} segments */
#include <stdio.h>
#include <string.h>

#include "svc_router_int.h"

int
svc_route_valid(const char *p)
{
	size_t nargs = 0;

	if (p == NULL || p[0] != '/')
		return 0;
	while (*p != '\0') {
		if (*p++ != '/')
			return 0;
		if (*p == '{') {
			const char *close = strchr(p, '}');
			if (close == NULL || close == p + 1 ||
			    (close[1] != '/' && close[1] != '\0') || ++nargs > SVC_MAX_ARGS)
				return 0;
			if (memchr(p + 1, '/', (size_t)(close - p - 1)) != NULL)
				return 0;
			p = close + 1;
			continue;
		}
		while (*p != '\0' && *p != '/') {
			if (*p == '{' || *p == '}')
				return 0;
			p++;
		}
	}
	return 1;
}

/* Matches one pattern against path; captures {args} into m. Returns 1 on a match. */
static int
svc_route_match_one(const char *pat, const char *path, struct svc_match *m)
{
	m->nargs = 0;
	for (;;) {
		if (*pat == '\0' || *path == '\0')
			return *pat == '\0' && *path == '\0';
		if (*pat == '{') {
			const char	*close = strchr(pat, '}');
			size_t		 seg = strcspn(path, "/");

			if (seg == 0 || seg >= SVC_ARG_MAX)
				return 0;
			m->args[m->nargs].name = pat + 1;
			m->args[m->nargs].namelen = (size_t)(close - pat - 1);
			memcpy(m->args[m->nargs].value, path, seg);
			m->args[m->nargs].value[seg] = '\0';
			m->nargs++;
			pat = close + 1;
			path += seg;
			continue;
		}
		if (*pat != *path)
			return 0;
		pat++;
		path++;
	}
}

int
svc_route_match(const struct svc_route *routes, size_t n, const char *method,
    const char *path, struct svc_match *m, char *allow, size_t allowlen)
{
	struct svc_match	 tmp;
	int			 found = SVC_MATCH_NONE;
	size_t			 i, used = 0;
	int			 head = strcmp(method, "HEAD") == 0;

	if (allowlen > 0)
		allow[0] = '\0';
	m->route = SVC_MATCH_NONE;
	for (i = 0; i < n; i++) {
		if (!svc_route_match_one(routes[i].pattern, path, &tmp))
			continue;
		if (strcmp(routes[i].method, method) == 0 || strcmp(routes[i].method, "*") == 0 ||
		    (head && strcmp(routes[i].method, "GET") == 0)) {
			*m = tmp;
			m->route = (int)i;
			return (int)i;
		}
		found = SVC_MATCH_METHOD;
		/* Build the Allow list, each method once. */
		if (allowlen > 0 && strstr(allow, routes[i].method) == NULL) {
			int w = snprintf(allow + used, allowlen - used, "%s%s",
			    used ? ", " : "", routes[i].method);
			if (w > 0 && (size_t)w < allowlen - used)
				used += (size_t)w;
		}
	}
	return found;
}
