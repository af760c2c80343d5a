/* svc_req_int.h - a request as the runtime holds it, and the calls on it a handler has no use for */
#ifndef SVC_REQ_INT_H
#define SVC_REQ_INT_H

#include <stddef.h>
#include <stdint.h>

#include <fcgiapp.h>

#include "svc.h"
#include "svc_router_int.h"

struct svc_config;
struct svc_server;
struct svc_worker;

#define SVC_MAX_DEFER	16
#define SVC_RID_MAX	64

/* The params the runtime reads on every request, found in one pass (svc_req_scan_params). */
enum svc_rparam {
	SVC_P_METHOD, SVC_P_SHOPLAB_PATH, SVC_P_DOCUMENT_URI, SVC_P_SCRIPT_NAME, SVC_P_QUERY,
	SVC_P_REQUEST_ID, SVC_P_X_REQUEST_ID, SVC_P_X_DEADLINE_MS, SVC_P_GATEWAY_SECRET,
	SVC_P_USER_ID, SVC_P_USER_ROLE, SVC_P_CONTENT_LENGTH, SVC_P_CONTENT_TYPE, SVC_NRPARAMS
};
/* Finds every svc_rparam in one pass over the request's params; later svc_req_rparam calls
 * answer from what it found. */
void	svc_req_scan_params(struct svc_req *r);
/* One of those params: from the scan once it ran, else looked up by name (unit tests). */
const char *svc_req_rparam(const struct svc_req *r, enum svc_rparam which);

struct svc_defer {
	void	(*fn)(void *);
	void	*arg;
};

struct svc_req {
	struct svc_worker	*w;
	struct svc_server	*srv;
	FCGX_Request		*fcgx;
	const char		*method;
	const char		*path;
	const char		*query;
	char			 rid[SVC_RID_MAX + 1];
	struct svc_match	 match;
	struct svc_buf		 headers;	/* extra response header lines */
	int			 status;	/* 0 until a response is written */
	int64_t			 start_us;
	int64_t			 deadline_us;
	struct svc_defer	 defer[SVC_MAX_DEFER];
	size_t			 ndefer;
	struct svc_buf		*capture;	/* unit tests: the response goes here */
	int			 untrusted;	/* no gateway proof: identity params are ignored */
	int			 scanned;	/* rparam holds svc_req_scan_params's finds */
	const char		*rparam[SVC_NRPARAMS];
	int64_t			 bg_next_us;	/* a background round's svc_bg_next (0: none) */
};

/* Lets the unit tests build a request without a FastCGI connection. */
void svc_req_run_deferred(struct svc_req *r);

const char *svc_req_method(const struct svc_req *r);
const char *svc_req_path(const struct svc_req *r);
const char *svc_req_param(const struct svc_req *r, const char *name);	/* FastCGI param */
/* Parses body as one JSON object (depth <= 32, UTF-8 checked), owned by the request. */
int svc_json_parse_or_reply(struct svc_req *r, const char *body, size_t len, json_object **out);
/* Reads the body up to max bytes into the worker's buffer. */
int svc_req_body(struct svc_req *r, const char **body, size_t *len);
/* Captured path segment "{name}"; handlers use svc_path_id_or_reply. */
const char *svc_req_path_arg(const struct svc_req *r, const char *name);
/* Registers a cleanup run after the response is sent (e.g. json_object_put). */
int svc_req_defer(struct svc_req *r, void (*fn)(void *), void *arg);
const struct svc_config *svc_req_config(const struct svc_req *r);

#endif /* SVC_REQ_INT_H */
