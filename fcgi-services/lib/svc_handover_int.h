/* svc_handover_int.h - deploys without a refused connection (svc_handover.c) */
#ifndef SVC_HANDOVER_INT_H
#define SVC_HANDOVER_INT_H

#include <stddef.h>

struct svc_server;

/* Deploys without a refused connection: the listening socket goes to the new binary. */
int  svc_handover_inherited(char *err, size_t errlen);
int  svc_handover_init(struct svc_server *srv, const char *argv0, char *err, size_t errlen);
void svc_handover_free(struct svc_server *srv);
int  svc_handover_spawn(struct svc_server *srv);
void svc_handover_reap(struct svc_server *srv);
void svc_handover_ready(struct svc_server *srv);

#endif /* SVC_HANDOVER_INT_H */
