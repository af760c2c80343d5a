/* sim_env.c - reads the stack's shoplab.env (shell NAME=value lines) into the environment */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_env.h"

const char *sim_env_run_dir(void)
{
	const char *r = getenv("SHOPLAB_RUN");

	return r && *r ? r : "./run";
}

const char *sim_env(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v && *v ? v : def;
}

int sim_env_load(char *err, size_t errsz)
{
	char path[1024], line[1024];
	size_t len;
	FILE *f;

	snprintf(path, sizeof(path), "%s/shoplab.env", sim_env_run_dir());
	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errsz, "%s: %s (is the stack up? scripts/stack.sh up)", path, strerror(errno));
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
