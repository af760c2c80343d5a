/* proxy_api.h - the control API, independent of HTTP transport, and its JSON helpers */
#ifndef SIM_PROXY_API_H
#define SIM_PROXY_API_H

#include <errno.h>

#include <json-c/json.h>

#include "proxy.h"

struct sim_reply {
	int status;
	struct evbuffer *body;          /* owned by the caller */
	const char *content_type;       /* static string */
};

/* Answers one API request. method is "GET", "POST", ...; path is the raw (escaped) path. */
void sim_api_handle(struct sim_ctx *ctx, const char *method, const char *path,
                    const char *body, size_t blen, const char *user_agent,
                    struct sim_reply *rep);

json_object *sim_json_parse(const char *body, size_t len, struct sim_err *err);
int sim_json_want_object(json_object *o, const char *go_type, struct sim_err *err);
int sim_json_add(json_object *o, const char *k, json_object *v);
int sim_json_get_str(json_object *obj, const char *key, char *out, size_t outsz,
                     const char *where, struct sim_err *err);
int sim_json_get_bool(json_object *obj, const char *key, bool *out, const char *where,
                      struct sim_err *err);
int sim_json_get_float(json_object *obj, const char *key, float *out, const char *where,
                       struct sim_err *err);
int sim_json_get_attrs(json_object *obj, struct sim_toxic *t, struct sim_err *err);
json_object *sim_json_toxic(const struct sim_toxic *t);
json_object *sim_json_toxics(const struct sim_proxy *p);
json_object *sim_json_proxy(const struct sim_proxy *p);
int sim_json_write(struct evbuffer *out, json_object *v);

/* populate from a JSON array body, as POST /populate and --config do */
int sim_api_populate(struct sim_ctx *ctx, const char *body, size_t blen, json_object **list,
                     struct sim_err *err);

#endif
