/* svc_conf_int.h - the runtime's own settings (struct svc_config), the settings loader and parsers (svc_config.c) */
#ifndef SVC_CONF_INT_H
#define SVC_CONF_INT_H

#include "svc.h"

/* Parses every definition into target; on error writes a message to err and returns -1. */
int svc_conf_load(const struct svc_conf_def *defs, size_t n, void *target,
	char *err, size_t errlen);
/* As svc_conf_load, but SHOPLAB_X is first looked up as SHOPLAB_<SCOPE>_X. */
int svc_conf_load_scoped(const struct svc_conf_def *defs, size_t n, const char *scope,
	void *target, char *err, size_t errlen);
/* Frees (zeroed first: settings hold secrets) and clears every string svc_conf_load set. */
void svc_conf_free(const struct svc_conf_def *defs, size_t n, void *target);
int svc_conf_parse_bool(const char *s, int *out);
/* v (the value of the variable used) as on/off into the int at field: 0, or -1 said in err. */
int svc_conf_set_bool(const char *v, const char *used, void *field, char *err, size_t errlen);
int svc_conf_parse_ll(const char *s, long long min, long long max, long long *out);

/* The runtime's own settings, from SHOPLAB_* variables (see README). */
struct svc_config {
	char		*listen;	/* host:port or unix:/path */
	long long	 threads;	/* worker threads, one FastCGI connection each */
	long long	 backlog;
	long long	 max_body;	/* bytes */
	long long	 shutdown_grace_ms;
	char		*db_host;
	long long	 db_port;
	char		*db_hosts;	/* "host:port,host:port,...": several nodes, the first preferred */
	char		*db_socket;
	char		*db_name;
	char		*db_user;
	char		*db_password;
	long long	 db_connect_timeout;	/* seconds */
	long long	 db_rw_timeout;		/* seconds */
	char		*db_tls_ca;	/* "" or a CA file: TLS to MariaDB, server verified */
	int		 log_requests;
	long long	 log_flush_ms;	/* request lines held at most this long; 0: at once */
	char		*gateway_internal;	/* base URL of the internal gateway */
	char		*service_token;
	long long	 request_deadline_ms;
	/*
	 * The per-stack gateway secret: when set, every request must carry it as the FastCGI
	 * param SHOPLAB_GATEWAY_SECRET (which only nginx's config can set) or is refused with
	 * 403 before any identity param is read. Required when listening on TCP.
	 */
	char		*gateway_secret;
};

void svc_config_free(struct svc_config *cfg);
int  svc_config_load(struct svc_config *cfg, const char *service, char *err, size_t errlen);

#endif /* SVC_CONF_INT_H */
