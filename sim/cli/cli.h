/* cli.h - `sim toxic`: the fault CLI's private types (talks to the proxy's Toxiproxy API) */
#ifndef SIM_CLI_H
#define SIM_CLI_H

#include <stdio.h>

#include <json-c/json.h>

#define CLI_URL_MAX 512

/* Exit statuses of `sim toxic`. */
enum cli_exit {
	CLI_OK = 0,
	CLI_REFUSED = 1,        /* the API answered with an error (no such proxy, bad toxic, ...) */
	CLI_USAGE = 2,          /* bad command line */
	CLI_UNREACHABLE = 3     /* no proxy API at that address */
};

struct cli_api {
	char base[CLI_URL_MAX];         /* "http://host:port", no trailing slash */
	const char *from;               /* where base came from, for messages */
};

/* An answer: HTTP status (0 when the API could not be reached), the parsed JSON body (a new
 * reference, or NULL) and, for errors, the API's own message. */
struct cli_reply {
	long status;
	json_object *json;
	char error[512];
};

/* cli_toxic.c: `sim toxic` with its output streams given (tests pass memory streams);
 * returns an enum cli_exit */
int sim_toxic_run(int argc, char **argv, FILE *out, FILE *err);

/* cli_api.c */
int cli_api_resolve(struct cli_api *api, const char *host_flag, char *err, size_t errsz);
int cli_api_call(const struct cli_api *api, const char *method, const char *path,
                 json_object *body, struct cli_reply *rep);
void cli_reply_free(struct cli_reply *rep);
int cli_path_escape(const char *segment, char *out, size_t outsz);

#endif
