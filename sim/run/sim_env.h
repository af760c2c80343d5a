/* sim_env.h - the running stack's settings: $SHOPLAB_RUN/shoplab.env loaded into the environment */
#ifndef SIM_ENV_H
#define SIM_ENV_H

#include <stddef.h>

/* The run dir: $SHOPLAB_RUN, else ./run. */
const char *sim_env_run_dir(void);
/* Loads NAME=value lines of $SHOPLAB_RUN/shoplab.env into the environment; variables already
 * set win. Returns 0, or -1 with a message in err when the file cannot be read. */
int sim_env_load(char *err, size_t errsz);
/* getenv with a default. */
const char *sim_env(const char *name, const char *def);

#endif
