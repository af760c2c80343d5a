/* sim_env.c - reads the stack's shoplab.env (shell NAME=value lines) into the environment */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim_env.h"

/* Where shoplab-bootstrap writes an installed host's settings (docs/hosting.md). */
#ifndef SIM_SYSCONFDIR
#define SIM_SYSCONFDIR "/etc/shoplab"
#endif

const char *
sim_env_run_dir(void)
{
	const char *r = getenv("SHOPLAB_RUN");

	if (r && *r)
		return r;
	/* A checkout's stack (make up), else an installed host's, else ./run for the message. */
	if (access("./run/shoplab.env", F_OK) == 0)
		return "./run";
	if (access(SIM_SYSCONFDIR "/shoplab.env", F_OK) == 0)
		return SIM_SYSCONFDIR;
	return "./run";
}

int
sim_env_reports_dir(char *out, size_t outsz)
{
	const char *r = getenv("SHOPLAB_REPORTS_DIR");
	int n;

	if (r && *r)
		n = snprintf(out, outsz, "%s", r);
	else
		n = snprintf(out, outsz, "%s/reports", sim_env_run_dir());
	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

const char *
sim_env(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v && *v ? v : def;
}

int
sim_env_load(char *err, size_t errsz)
{
	char path[1024], line[1024];
	size_t len;
	FILE *f;

	snprintf(path, sizeof(path), "%s/shoplab.env", sim_env_run_dir());
	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errsz, "%s: %s (is the stack up? make up, or SHOPLAB_RUN=DIR; an installed host's is "
			 SIM_SYSCONFDIR "/shoplab.env, readable by root)", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *eq = strchr(line, '='), *nl = strchr(line, '\n');

		if (nl)
			*nl = '\0';
		if (line[0] == '#' || eq == NULL || eq == line)
			continue;
		*eq = '\0';
		/* A shell value in double quotes (SHOPLAB_SERVICES="users ... shipping") means what
		 * is between them, as the shell that also reads this file sees it. */
		len = strlen(eq + 1);
		if (len >= 2 && eq[1] == '"' && eq[len] == '"') {
			eq[len] = '\0';
			eq++;
		}
		if (setenv(line, eq + 1, 0) != 0) {
			fclose(f);
			snprintf(err, errsz, "%s: cannot set %s", path, line);
			return -1;
		}
	}
	fclose(f);
	return 0;
}
