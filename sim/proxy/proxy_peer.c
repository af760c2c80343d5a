/* proxy_peer.c - who may change the proxy: the API peer's uid from the kernel's socket diagnostics, and the owner */
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include "proxy.h"
#include "proxy_peer.h"

/* TCP states (include/net/tcp_states.h) a socket still in use by a process can be in. */
enum {
	ST_ESTABLISHED = 1, ST_FIN_WAIT1 = 4, ST_FIN_WAIT2 = 5, ST_CLOSE_WAIT = 8,
	ST_LAST_ACK = 9, ST_CLOSING = 11,
};

static bool
sim_peer_state_usable(unsigned st)
{
	return st == ST_ESTABLISHED || st == ST_FIN_WAIT1 || st == ST_FIN_WAIT2 ||
	       st == ST_CLOSE_WAIT || st == ST_LAST_ACK || st == ST_CLOSING;
}

/* Copies sa's address and port into the diag id's (network order) fields. */
static int
sim_peer_put_addr(const struct sockaddr_storage *ss, __be32 addr[4], __be16 *port)
{
	memset(addr, 0, 4 * sizeof(addr[0]));
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;

		memcpy(addr, &a->sin_addr, sizeof(a->sin_addr));
		*port = a->sin_port;
		return 0;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;

		memcpy(addr, &a->sin6_addr, sizeof(a->sin6_addr));
		*port = a->sin6_port;
		return 0;
	}
	return -1;
}

static bool
sim_peer_same_id(const struct inet_diag_sockid *a, const struct inet_diag_sockid *b)
{
	return a->idiag_sport == b->idiag_sport && a->idiag_dport == b->idiag_dport &&
	       memcmp(a->idiag_src, b->idiag_src, sizeof(a->idiag_src)) == 0 &&
	       memcmp(a->idiag_dst, b->idiag_dst, sizeof(a->idiag_dst)) == 0;
}

/*
 * Asks the kernel (through nl, a NETLINK_SOCK_DIAG socket) for the TCP socket at the other end
 * of fd: the socket whose local address is fd's peer and whose peer is fd's local address. Only
 * a socket a process still holds counts (a time-wait or orphaned socket reports uid 0, and a
 * request socket has no owner yet). Returns 0 with *uid, or -1 with why (static text).
 */
int
sim_peer_uid_nl(int nl, int fd, uid_t *uid, const char **why)
{
	struct sockaddr_storage local, peer;
	socklen_t llen = sizeof(local), plen = sizeof(peer);
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 r;
	} req;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	union {
		struct nlmsghdr h;
		char b[8192];
	} buf;
	static _Atomic uint32_t seq_next = 1;
	uint32_t seq = atomic_fetch_add(&seq_next, 1);

	*why = "not a TCP connection";
	if (getsockname(fd, (struct sockaddr *)&local, &llen) != 0 ||
	    getpeername(fd, (struct sockaddr *)&peer, &plen) != 0 ||
	    local.ss_family != peer.ss_family)
		return -1;
	memset(&req, 0, sizeof(req));
	req.nlh.nlmsg_len = sizeof(req);
	req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.nlh.nlmsg_flags = NLM_F_REQUEST;
	req.nlh.nlmsg_seq = seq;
	req.r.sdiag_family = (__u8)peer.ss_family;
	req.r.sdiag_protocol = IPPROTO_TCP;
	req.r.idiag_states = ~0U;
	/* The peer's socket: its source is our peer, its destination us. */
	if (sim_peer_put_addr(&peer, req.r.id.idiag_src, &req.r.id.idiag_sport) != 0 ||
	    sim_peer_put_addr(&local, req.r.id.idiag_dst, &req.r.id.idiag_dport) != 0)
		return -1;
	req.r.id.idiag_cookie[0] = req.r.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	*why = "socket diagnostics unavailable";
	if (sendto(nl, &req, sizeof(req), 0, (struct sockaddr *)&kernel, sizeof(kernel)) !=
	    (ssize_t)sizeof(req))
		return -1;
	for (;;) {
		struct sockaddr_nl from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(nl, &buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		struct nlmsghdr *h;
		size_t left;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		if (fl != sizeof(from) || from.nl_pid != 0)
			continue;       /* only the kernel answers */
		left = (size_t)n;
		for (h = &buf.h; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
			const struct inet_diag_msg *m;

			if (h->nlmsg_seq != seq)
				continue;
			if (h->nlmsg_type == NLMSG_ERROR) {
				*why = "no such socket on this host (not a local peer)";
				return -1;
			}
			if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
			    h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
				continue;
			m = NLMSG_DATA(h);
			*why = "the peer's socket is not held by a process";
			if (!sim_peer_same_id(&m->id, &req.r.id) || !sim_peer_state_usable(m->idiag_state) ||
			    m->idiag_inode == 0)
				return -1;
			*uid = (uid_t)m->idiag_uid;
			return 0;
		}
	}
}

/* A NETLINK_SOCK_DIAG socket that waits at most a second for the kernel's answer. */
static int
sim_peer_diag_socket(void)
{
	struct timeval tv = { .tv_sec = 1 };
	int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);

	if (nl < 0)
		return -1;
	if (setsockopt(nl, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0) {
		close(nl);
		return -1;
	}
	return nl;
}

int
sim_peer_uid(int fd, uid_t *uid, const char **why)
{
	int nl = sim_peer_diag_socket();
	int rc;

	*why = "socket diagnostics unavailable";
	if (nl < 0)
		return -1;
	rc = sim_peer_uid_nl(nl, fd, uid, why);
	close(nl);
	return rc;
}

int
sim_peer_netns_open(const char *path)
{
	int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	int target = open(path, O_RDONLY | O_CLOEXEC);
	int nl = -1, saved;

	if (self < 0 || target < 0)
		goto out;
	if (setns(target, CLONE_NEWNET) != 0)
		goto out;
	nl = sim_peer_diag_socket();     /* a netlink socket belongs to the namespace it was made in */
	saved = errno;
	if (setns(self, CLONE_NEWNET) != 0) {
		/* cannot come back: this thread would serve from the wrong namespace */
		abort();
	}
	errno = saved;
out:
	saved = errno;
	if (self >= 0)
		close(self);
	if (target >= 0)
		close(target);
	errno = saved;
	return nl;
}

int
sim_owner_parse(const char *s, uid_t *uid)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	char *end;
	unsigned long v;

	if (s == NULL || *s == '\0')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (*s != '-' && *end == '\0' && errno == 0 && v < (unsigned long)(uid_t)-1) {
		*uid = (uid_t)v;
		return 0;
	}
	if (getpwnam_r(s, &pw, buf, sizeof(buf), &res) != 0 || res == NULL)
		return -1;
	*uid = pw.pw_uid;
	return 0;
}

bool
sim_owner_may_change(uid_t owner, uid_t peer)
{
	return peer == 0 || peer == owner;
}
