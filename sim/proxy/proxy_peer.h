/* proxy_peer.h - who may change the proxy: the API peer's uid (socket diagnostics) and the owner */
#ifndef SIM_PROXY_PEER_H
#define SIM_PROXY_PEER_H

#include <stdbool.h>
#include <sys/types.h>

/* The uid owning the TCP socket at the other end of fd, found through the kernel's socket
 * diagnostics (NETLINK_SOCK_DIAG, the exact 4-tuple). Only a peer socket in this network
 * namespace, still held by a process, is found. Returns 0 with *uid, or -1 with *why (static
 * text): the caller refuses then (fail closed). */
int sim_peer_uid(int fd, uid_t *uid, const char **why);
/* The same through an open NETLINK_SOCK_DIAG socket nl (e.g. one opened in another namespace). */
int sim_peer_uid_nl(int nl, int fd, uid_t *uid, const char **why);
/* A NETLINK_SOCK_DIAG socket in the network namespace named by path (e.g. /proc/PID/ns/net), for
 * peers that reach the API from that namespace. Needs CAP_SYS_ADMIN; call before threads start
 * (the calling thread enters the namespace for a moment). Returns the socket, or -1 with errno. */
int sim_peer_netns_open(const char *path);
/* A uid ("1000") or a user name ("shoplab") into *uid. Returns 0, or -1 when neither. */
int sim_owner_parse(const char *s, uid_t *uid);
/* Whether peer may change proxies and toxics of a proxy owned by owner: the owner and root. */
bool sim_owner_may_change(uid_t owner, uid_t peer);

#endif
