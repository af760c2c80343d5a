/* test_proxy_owner.c - only the proxy's owner and root change proxies and toxics; the peer uid lookup */
#include <sys/fsuid.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "proxy_peer.h"
#include "simtest.h"

#define NOBODY 65534            /* Debian's nobody */
#define DAEMON 1                /* Debian's daemon: a third user */

/* ---- the uid lookup ------------------------------------------------------------------------ */

/* A listening socket on the loopback of family af; its port in *port. -1 when af is missing. */
static int listen_lo(int af, int *port)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd = socket(af, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(&ss, 0, sizeof(ss));
	if (af == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sl = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		sl = sizeof(*a);
	}
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 8) != 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(af == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
	                            : ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

static int connect_lo(int af, int port)
{
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
	                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port),
	                           .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int fd = socket(af, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if ((af == AF_INET ? connect(fd, (struct sockaddr *)&a4, sizeof(a4))
	                   : connect(fd, (struct sockaddr *)&a6, sizeof(a6))) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Both ends of a loopback connection find this process's uid at the other end. */
static void lookup_both_ends(int af)
{
	int port = 0, lfd = listen_lo(af, &port), cfd, afd;
	const char *why = NULL;
	uid_t uid = 12345;

	if (lfd < 0 && af == AF_INET6)
		skip();         /* no IPv6 loopback here */
	assert_true(lfd >= 0);
	cfd = connect_lo(af, port);
	assert_true(cfd >= 0);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	assert_int_equal(sim_peer_uid(afd, &uid, &why), 0);
	assert_int_equal(uid, geteuid());
	uid = 12345;
	assert_int_equal(sim_peer_uid(cfd, &uid, &why), 0);
	assert_int_equal(uid, geteuid());
	close(cfd);
	close(afd);
	close(lfd);
}

static void test_lookup_ipv4(void **state)
{
	(void)state;
	lookup_both_ends(AF_INET);
}

static void test_lookup_ipv6(void **state)
{
	(void)state;
	lookup_both_ends(AF_INET6);
}

/* A peer that closed its socket (orphaned, then time-wait: the kernel reports uid 0 for those)
 * and what is not a TCP connection are not found: the caller refuses. */
static void test_lookup_refuses_closed_and_non_tcp(void **state)
{
	int port = 0, lfd = listen_lo(AF_INET, &port), cfd, afd, sp[2];
	const char *why = NULL;
	uid_t uid = 12345;

	(void)state;
	assert_true(lfd >= 0);
	cfd = connect_lo(AF_INET, port);
	assert_true(cfd >= 0);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	close(cfd);
	usleep(20000);  /* the FIN is acknowledged: the client side is an orphan in FIN_WAIT2 */
	assert_int_equal(sim_peer_uid(afd, &uid, &why), -1);
	assert_non_null(why);
	assert_int_equal(uid, 12345);
	close(afd);
	close(lfd);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	assert_int_equal(sim_peer_uid(sp[0], &uid, &why), -1);
	close(sp[0]);
	close(sp[1]);
}

/* The socket of another user is found as that user's (needs root to become one). */
static void test_lookup_other_user(void **state)
{
	int port = 0, lfd, afd, go[2];
	const char *why = NULL;
	uid_t uid = 12345;
	pid_t pid;
	char b = 0;
	int st;

	(void)state;
	if (geteuid() != 0)
		skip();
	lfd = listen_lo(AF_INET, &port);
	assert_true(lfd >= 0);
	assert_int_equal(pipe(go), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd;

		if (setresgid(NOBODY, NOBODY, NOBODY) != 0 || setresuid(NOBODY, NOBODY, NOBODY) != 0)
			_exit(2);
		fd = connect_lo(AF_INET, port);
		/* hold the socket until the parent looked */
		_exit(fd >= 0 && read(go[0], &b, 1) == 1 ? 0 : 1);
	}
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	assert_int_equal(sim_peer_uid(afd, &uid, &why), 0);
	assert_int_equal(write(go[1], "x", 1), 1);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(uid, NOBODY);
	close(afd);
	close(lfd);
	close(go[0]);
	close(go[1]);
}

/* A diagnostics socket opened in a namespace (our own here: root only) finds peers there; a
 * path that is no namespace fails. */
static void test_lookup_through_netns_socket(void **state)
{
	int port = 0, lfd, cfd, afd, nl;
	const char *why = NULL;
	uid_t uid = 12345;

	(void)state;
	assert_int_equal(sim_peer_netns_open("/nonexistent/ns/net"), -1);
	if (geteuid() != 0)
		skip();
	nl = sim_peer_netns_open("/proc/self/ns/net");
	assert_true(nl >= 0);
	lfd = listen_lo(AF_INET, &port);
	assert_true(lfd >= 0);
	cfd = connect_lo(AF_INET, port);
	assert_true(cfd >= 0);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	assert_int_equal(sim_peer_uid_nl(nl, afd, &uid, &why), 0);
	assert_int_equal(uid, 0);
	close(cfd);
	close(afd);
	close(lfd);
	close(nl);
}

static void test_owner_parse(void **state)
{
	uid_t uid = 12345;
	struct passwd *pw = getpwuid(geteuid());

	(void)state;
	assert_int_equal(sim_owner_parse("0", &uid), 0);
	assert_int_equal(uid, 0);
	assert_int_equal(sim_owner_parse("1000", &uid), 0);
	assert_int_equal(uid, 1000);
	if (pw != NULL) {
		char name[256];

		snprintf(name, sizeof(name), "%s", pw->pw_name);
		assert_int_equal(sim_owner_parse(name, &uid), 0);
		assert_int_equal(uid, geteuid());
	}
	uid = 12345;
	assert_int_equal(sim_owner_parse("no-such-user-shoplab", &uid), -1);
	assert_int_equal(sim_owner_parse("", &uid), -1);
	assert_int_equal(sim_owner_parse("-1", &uid), -1);
	assert_int_equal(sim_owner_parse(NULL, &uid), -1);
	assert_int_equal(uid, 12345);
	assert_true(sim_owner_may_change(1000, 1000));
	assert_true(sim_owner_may_change(1000, 0));
	assert_false(sim_owner_may_change(1000, 1001));
	assert_false(sim_owner_may_change(0, NOBODY));
}

/* ---- the API, as other users ---------------------------------------------------------------- */

struct fixture {
	struct sim_server srv;
	pthread_t th;
	bool running;
	struct simtest_upstream up;
	char body[65536];
};

static void *server_main(void *arg)
{
	struct fixture *f = arg;

	(void)sim_server_run(&f->srv);
	return NULL;
}

/* Starts a server owned by owner (or, owner_set false, by our euid). */
static int start(struct fixture *f, bool owner_set, uid_t owner)
{
	struct sim_proxy_opts o = { .host = "127.0.0.1", .port = 0, .seed = 1, .loops = 2,
	                            .owner_set = owner_set, .owner = owner };

	memset(f, 0, sizeof(*f));
	signal(SIGPIPE, SIG_IGN);
	if (simtest_upstream_start(&f->up, UP_ECHO, 0) != 0)
		return -1;
	if (sim_server_init(&f->srv, &o) != 0) {
		simtest_upstream_stop(&f->up);
		return -1;
	}
	if (pthread_create(&f->th, NULL, server_main, f) != 0) {
		sim_server_free(&f->srv);
		simtest_upstream_stop(&f->up);
		return -1;
	}
	f->running = true;
	return 0;
}

static void stop(struct fixture *f)
{
	if (!f->running)
		return;
	sim_server_stop(&f->srv);
	pthread_join(f->th, NULL);
	sim_server_free(&f->srv);
	simtest_upstream_stop(&f->up);
	f->running = false;
}

static struct fixture fx;

static int teardown(void **state)
{
	(void)state;
	stop(&fx);
	return 0;
}

/*
 * One API request as user uid. A socket belongs to the fsuid of the thread that creates it, so
 * this thread takes uid as its fsuid (Linux: per thread, root only) for the request and then
 * goes back: the kernel then reports that user for the client socket, as for a process of
 * theirs. (A forked child would be a real process of theirs, but it would share the server's
 * listening sockets and, under valgrind, report the parent's heap as its leaks; proxy_owner.sh
 * does it with runuser against a real stack.) Returns the HTTP status; the body is in f->body.
 */
static int api_as(struct fixture *f, uid_t uid, const char *method, const char *path,
                  const char *body)
{
	uid_t before = (uid_t)setfsuid(uid);
	int status = -1;

	f->body[0] = '\0';
	if ((uid_t)setfsuid(uid) == uid)        /* returns the current one: did it take? */
		status = simtest_http(f->srv.port, method, path, body, f->body, sizeof(f->body));
	(void)setfsuid(before);
	return status;
}

static void make_proxy(struct fixture *f)
{
	char json[256];

	snprintf(json, sizeof(json),
	         "{\"name\":\"p\",\"listen\":\"127.0.0.1:0\",\"upstream\":\"127.0.0.1:%d\"}",
	         f->up.port);
	assert_int_equal(api_as(f, 0, "POST", "/proxies", json), 201);
}

/* Every change refused for user u, with Toxiproxy's error body, and the proxy as it was. */
static void assert_refused(struct fixture *f, uid_t u)
{
	char upstream[64];

	snprintf(upstream, sizeof(upstream), "\"upstream\":\"127.0.0.1:%d\"", f->up.port);
	assert_int_equal(api_as(f, u, "POST", "/proxies/p",
	                        "{\"upstream\":\"127.0.0.1:9\"}"), 403);
	assert_true(simtest_has(f->body, "\"status\":403"));
	assert_true(simtest_has(f->body, "\"error\":"));
	assert_int_equal(api_as(f, u, "PATCH", "/proxies/p", "{\"enabled\":false}"), 403);
	assert_int_equal(api_as(f, u, "POST", "/proxies/p/toxics",
	                        "{\"type\":\"latency\",\"attributes\":{\"latency\":1}}"), 403);
	assert_int_equal(api_as(f, u, "DELETE", "/proxies/p", NULL), 403);
	assert_int_equal(api_as(f, u, "POST", "/reset", NULL), 403);
	assert_int_equal(api_as(f, u, "POST", "/populate",
	                        "[{\"name\":\"p\",\"upstream\":\"127.0.0.1:9\"}]"), 403);
	assert_int_equal(api_as(f, u, "POST", "/proxies",
	                        "{\"name\":\"q\",\"upstream\":\"127.0.0.1:9\"}"), 403);
	/* Reading stays open, and shows nothing changed. */
	assert_int_equal(api_as(f, u, "GET", "/proxies/p", NULL), 200);
	assert_true(simtest_has(f->body, upstream));
	assert_true(simtest_has(f->body, "\"enabled\":true"));
	assert_true(simtest_has(f->body, "\"toxics\":[]"));
	assert_int_equal(api_as(f, u, "GET", "/proxies", NULL), 200);
	assert_false(simtest_has(f->body, "\"q\""));
	assert_int_equal(api_as(f, u, "GET", "/version", NULL), 200);
}

/* Every change allowed for user u (the proxy is left as it was). */
static void assert_allowed(struct fixture *f, uid_t u)
{
	char json[256];

	assert_int_equal(api_as(f, u, "POST", "/proxies/p/toxics",
	                        "{\"name\":\"l\",\"type\":\"latency\",\"attributes\":{\"latency\":1}}"),
	                 200);
	assert_int_equal(api_as(f, u, "POST", "/proxies/p/toxics/l",
	                        "{\"attributes\":{\"latency\":2}}"), 200);
	assert_int_equal(api_as(f, u, "DELETE", "/proxies/p/toxics/l", NULL), 204);
	assert_int_equal(api_as(f, u, "POST", "/proxies/p", "{\"upstream\":\"127.0.0.1:9\"}"), 200);
	assert_true(simtest_has(f->body, "\"upstream\":\"127.0.0.1:9\""));
	assert_int_equal(api_as(f, u, "POST", "/reset", NULL), 204);
	assert_int_equal(api_as(f, u, "DELETE", "/proxies/p", NULL), 204);
	snprintf(json, sizeof(json),
	         "[{\"name\":\"p\",\"listen\":\"127.0.0.1:0\",\"upstream\":\"127.0.0.1:%d\"}]",
	         f->up.port);
	assert_int_equal(api_as(f, u, "POST", "/populate", json), 201);
}

/* The attack: nobody may not point a proxy elsewhere, nor add toxics, nor delete, nor
 * reset; root, the owner here, may. */
static void test_nobody_refused_root_allowed(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();         /* becoming nobody needs root: CI runs as root */
	assert_int_equal(start(&fx, false, 0), 0);
	make_proxy(&fx);
	assert_refused(&fx, NOBODY);
	assert_allowed(&fx, 0);
}

/* A stack started by root for a stack user: that user may (and root still may), others not. */
static void test_named_owner_allowed(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	assert_int_equal(start(&fx, true, NOBODY), 0);
	make_proxy(&fx);
	assert_refused(&fx, DAEMON);
	assert_allowed(&fx, NOBODY);
	assert_allowed(&fx, 0);
}

/* Run by someone else than root: the owner by default (our euid) may, and a proxy owned by
 * another uid refuses us. */
static void test_unprivileged_owner(void **state)
{
	uid_t me = geteuid();

	(void)state;
	if (me == 0)
		skip();         /* root always passes: the two tests above cover root */
	assert_int_equal(start(&fx, false, 0), 0);
	assert_int_equal(api_as(&fx, me, "POST", "/proxies",
	                        "{\"name\":\"p\",\"listen\":\"127.0.0.1:0\",\"upstream\":\"127.0.0.1:9\"}"),
	                 201);
	stop(&fx);
	assert_int_equal(start(&fx, true, me + 1), 0);
	assert_int_equal(api_as(&fx, me, "POST", "/proxies",
	                        "{\"name\":\"p\",\"listen\":\"127.0.0.1:0\",\"upstream\":\"127.0.0.1:9\"}"),
	                 403);
	assert_int_equal(api_as(&fx, me, "GET", "/proxies", NULL), 200);
	assert_string_equal(fx.body, "{}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup_ipv4),
		cmocka_unit_test(test_lookup_ipv6),
		cmocka_unit_test(test_lookup_refuses_closed_and_non_tcp),
		cmocka_unit_test(test_lookup_other_user),
		cmocka_unit_test(test_lookup_through_netns_socket),
		cmocka_unit_test(test_owner_parse),
		cmocka_unit_test_teardown(test_nobody_refused_root_allowed, teardown),
		cmocka_unit_test_teardown(test_named_owner_allowed, teardown),
		cmocka_unit_test_teardown(test_unprivileged_owner, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
