/* proxy_addr.c - "host:port" strings: resolved for listen and dial, formatted from a bound socket */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy.h"

/*
 * True for "localhost" and names under it: loopback by definition (RFC 6761 6.3), answered
 * here as curl and Go's listener do, not looked up: a minimal root or container has no
 * /etc/hosts, and there the lookup fails (or asks DNS).
 */
static bool
sim_addr_localhost(const char *host)
{
	size_t n = strlen(host), k = sizeof("localhost") - 1;

	if (n > 0 && host[n - 1] == '.')
		n--;
	if (n < k || strncasecmp(host + n - k, "localhost", k) != 0)
		return false;
	return n == k || host[n - k - 1] == '.';
}

/* Splits "host:port" (host may be [v6] or empty, meaning 127.0.0.1) and resolves it. */
int
sim_addr_parse(const char *hostport, bool passive, struct sockaddr_storage *ss,
    socklen_t *len, struct sim_err *err)
{
	const char *op = passive ? "listen" : "dial";
	char host[SIM_ADDR_MAX];
	const char *colon = strrchr(hostport, ':');
	const char *port;
	struct addrinfo hints, *res = NULL;
	size_t hlen;
	int gai, rc = -1;

	if (colon == NULL) {
		sim_err_set(err, 500, "%s tcp: address %s: missing port in address", op, hostport);
		goto out;
	}
	port = colon + 1;
	hlen = (size_t)(colon - hostport);
	if (hlen >= 2 && hostport[0] == '[' && hostport[hlen - 1] == ']') {
		hostport++;
		hlen -= 2;
	}
	if (hlen >= sizeof(host) || *port == '\0') {
		sim_err_set(err, 500, "%s tcp: address %s: invalid address", op, hostport);
		goto out;
	}
	if (strspn(port, "0123456789") == strlen(port) &&
	    (strlen(port) > 5 || strtol(port, NULL, 10) > 65535)) {
		sim_err_set(err, 500, "%s tcp: address %s: invalid port", op, port);
		goto out;
	}
	memcpy(host, hostport, hlen);
	host[hlen] = '\0';
	if (host[0] == '\0' || sim_addr_localhost(host))
		snprintf(host, sizeof(host), "127.0.0.1");
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = passive ? AI_PASSIVE : 0;
	gai = getaddrinfo(host, port, &hints, &res);
	if (gai != 0 || res == NULL) {
		sim_err_set(err, 500, "%s tcp: lookup %s: %s", op, hostport, gai_strerror(gai));
		goto out;
	}
	if (res->ai_addrlen > sizeof(*ss)) {
		sim_err_set(err, 500, "%s tcp: address %s: too long", op, hostport);
		goto out_free;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	rc = 0;
out_free:
	freeaddrinfo(res);
out:
	return rc;
}

void
sim_addr_format(const struct sockaddr *sa, char *out, size_t outsz)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		if (inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip)) == NULL)
			snprintf(ip, sizeof(ip), "?");
		snprintf(out, outsz, "[%s]:%u", ip, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		if (inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip)) == NULL)
			snprintf(ip, sizeof(ip), "?");
		snprintf(out, outsz, "%s:%u", ip, ntohs(s4->sin_port));
	}
}
