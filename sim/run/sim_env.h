/* sim_env.h - the running stack's settings: $SHOPLAB_RUN/shoplab.env loaded into the environment */
#ifndef SIM_ENV_H
#define SIM_ENV_H

#include <stddef.h>

/* The run dir: $SHOPLAB_RUN, else ./run when ./run/shoplab.env exists, else /etc/shoplab (an
 * installed host, shoplab-bootstrap) when its shoplab.env exists, else ./run. */
const char *sim_env_run_dir(void);
/* Where reports go: $SHOPLAB_REPORTS_DIR (an installed host: /var/lib/shoplab/reports), else
 * <run dir>/reports. Returns -1 when it does not fit in out. */
int sim_env_reports_dir(char *out, size_t outsz);
/* Loads NAME=value lines of $SHOPLAB_RUN/shoplab.env into the environment; variables already
 * set win. Returns 0, or -1 with a message in err when the file cannot be read. */
int sim_env_load(char *err, size_t errsz);
/* getenv with a default. */
const char *sim_env(const char *name, const char *def);

#endif
