/* test_isolation.c - only the gateway reaches a service: socket permissions and the gateway secret */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mysql.h>

#include "itest.h"

/* At most this many services in the one list (fcgi-services/<name>/service.conf). */
#define NSVC_MAX	32

/* The stack's setting fmt ("SHOPLAB_%s_LISTEN") for service svc, its name upper-cased. */
static const char *
svc_env(const char *fmt, const char *svc)
{
	char	name[64], up[IT_SVC_NAME];
	size_t	i;

	for (i = 0; svc[i] != '\0' && i < sizeof(up) - 1; i++)
		up[i] = (char)(svc[i] >= 'a' && svc[i] <= 'z' ? svc[i] - 'a' + 'A' : svc[i]);
	up[i] = '\0';
	snprintf(name, sizeof(name), fmt, up);
	return it_env(name);
}

/* Where service svc listens, from run/shoplab.env (SHOPLAB_<SVC>_LISTEN). */
static const char *
listen_of(const char *svc)
{
	return svc_env("SHOPLAB_%s_LISTEN", svc);
}

/* By default (no proxy, one host) every service is on a unix socket under run/sock. */
static void
test_default_is_unix_socket(void **state)
{
	const char	*spec = listen_of("users");
	char		 path[512];
	struct stat	 st;
	char		 services[NSVC_MAX][IT_SVC_NAME];
	size_t		 i, n;

	(void)state;
	if (strcmp(it_env("SHOPLAB_SERVICE_TRANSPORT"), "unix") != 0) {
		printf("# TCP stack (proxy or lab): sockets are tested on the direct stack\n");
		skip();
	}
	n = it_services(services, NSVC_MAX);
	assert_true(n >= 1);
	for (i = 0; i < n; i++) {
		spec = listen_of(services[i]);
		assert_memory_equal(spec, "unix:", 5);
		assert_int_equal(stat(spec + 5, &st), 0);
		assert_true(S_ISSOCK(st.st_mode));
		/* Owner and group only; the group is nginx's. */
		assert_int_equal(st.st_mode & 0777, 0660);
	}
	/* The sockets' directory: run/sock, or STACK_DIR/sock when root started the stack. */
	snprintf(path, sizeof(path), "%s", spec + 5);
	assert_non_null(strrchr(path, '/'));
	*strrchr(path, '/') = '\0';
	assert_int_equal(stat(path, &st), 0);
	/* Nobody else may even look into the directory. */
	assert_int_equal(st.st_mode & 0007, 0);
	assert_int_equal(st.st_mode & 0040, 0);
}

/* Another local user cannot open a service's socket: EACCES, not a FastCGI exchange. */
static void
test_other_user_gets_eacces(void **state)
{
	const char	*spec = listen_of("users");
	const char	*params[] = { "REQUEST_METHOD=GET", "SHOPLAB_PATH=/healthz", NULL };
	struct passwd	*pw;
	char		 out[256];
	pid_t		 pid;
	int		 wst, rc;

	(void)state;
	if (strncmp(spec, "unix:", 5) != 0) {
		printf("# %s is TCP here: the secret test covers it\n", spec);
		skip();
	}
	if (geteuid() != 0 || (pw = getpwnam("nobody")) == NULL) {
		printf("# needs root to become nobody\n");
		skip();
	}
	if ((pid = fork()) == 0) {
		if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
			_exit(90);
		rc = it_fcgi(spec, params, out, sizeof(out));
		_exit(rc == -EACCES ? 0 : rc < 0 ? 91 : 92);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &wst, 0), pid);
	assert_true(WIFEXITED(wst));
	assert_int_equal(WEXITSTATUS(wst), 0);
}

/*
 * Speaking FastCGI straight to a service (on TCP in the proxy and lab stacks, on its socket
 * as root otherwise) without the gateway's secret is refused with 403, even for /healthz,
 * and identity params are not believed; with the secret, the service answers.
 */
static void
test_secret_required(void **state)
{
	const char	*secret = it_env("SHOPLAB_GATEWAY_SECRET");
	char		 out[4096], p_secret[128], p_wrong[128];
	const char	*p_none[] = { "REQUEST_METHOD=GET", "SHOPLAB_PATH=/api/v1/users/me",
			    "SHOPLAB_USER_ID=1", "SHOPLAB_USER_ROLE=admin", "REQUEST_ID=iso-none", NULL };
	const char	*p_bad[] = { "REQUEST_METHOD=GET", "SHOPLAB_PATH=/api/v1/users/me",
			    "SHOPLAB_USER_ID=1", "SHOPLAB_USER_ROLE=admin", p_wrong, NULL };
	const char	*p_good[] = { "REQUEST_METHOD=GET", "SHOPLAB_PATH=/api/v1/users/me",
			    "SHOPLAB_USER_ID=1", "SHOPLAB_USER_ROLE=admin", p_secret, NULL };
	const char	*p_health[] = { "REQUEST_METHOD=GET", "SHOPLAB_PATH=/healthz", NULL };
	char		 logf[512], cmd[1024];
	char		 services[NSVC_MAX][IT_SVC_NAME];
	size_t		 i, n;
	int		 rc;

	(void)state;
	snprintf(p_secret, sizeof(p_secret), "SHOPLAB_GATEWAY_SECRET=%s", secret);
	snprintf(p_wrong, sizeof(p_wrong), "SHOPLAB_GATEWAY_SECRET=%s", secret);
	/* Same length, last byte changed; and a case change, which must not pass either. */
	p_wrong[strlen(p_wrong) - 1] = p_wrong[strlen(p_wrong) - 1] == '0' ? '1' : '0';
	if (strncmp(listen_of("users"), "unix:", 5) == 0 && geteuid() != 0) {
		printf("# cannot open the sockets as this user: nothing to test here\n");
		skip();
	}
	rc = it_fcgi(listen_of("users"), p_none, out, sizeof(out));
	assert_int_equal(rc, 403);
	assert_non_null(strstr(out, "\"code\":\"gateway_secret_required\""));
	assert_null(strstr(out, "admin@"));
	rc = it_fcgi(listen_of("users"), p_bad, out, sizeof(out));
	assert_int_equal(rc, 403);
	assert_non_null(strstr(out, "application/json"));
	rc = it_fcgi(listen_of("users"), p_good, out, sizeof(out));
	assert_int_equal(rc, 200);
	assert_non_null(strstr(out, "\"role\":\"admin\""));
	n = it_services(services, NSVC_MAX);
	assert_true(n >= 1);
	for (i = 0; i < n; i++)
		assert_int_equal(it_fcgi(listen_of(services[i]), p_health, out, sizeof(out)), 403);
	/* The refusal is logged, with the request id. */
	snprintf(logf, sizeof(logf), "%s/logs/users.log", it_env("SHOPLAB_RUN"));
	snprintf(cmd, sizeof(cmd), "grep -q 'iso-none.*gateway' %s", logf);
	assert_int_equal(it_sh("%s", cmd), 0);
}

/* Through the gateway everything still works, identity included (the secret is nginx's). */
static void
test_gateway_still_reaches(void **state)
{
	char		 auth[2048], email[96];
	const char	*h[2];
	struct it_resp	 r;

	(void)state;
	snprintf(email, sizeof(email), "iso-%ld@example.com", (long)getpid());
	h[0] = it_login(email, "isolation pw", auth, sizeof(auth));
	h[1] = NULL;
	assert_int_equal(it_request("GET", it_gateway(), "/api/v1/users/me", h, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(it_str(&r, "email"), email);
	it_resp_free(&r);
	/* A client's header named like the secret param reaches nothing. */
	h[0] = "Shoplab-Gateway-Secret: x";
	it_expect("GET", it_gateway(), "/api/v1/products/1", h, NULL, 200, NULL);
}

/*
 * With MariaDB beside them (SHOPLAB_DB_TRANSPORT=unix: the direct stack), the services talk to
 * it over its unix socket: after a /readyz (which asks the database), each service's database
 * user has a connection from 'localhost' (the socket) and none over TCP. Asked as the stack's
 * administrator (this user's own account, over the socket: a service's user would see only the
 * threads of its own user@host).
 */
static void
test_db_over_unix_socket(void **state)
{
	char		 services[NSVC_MAX][IT_SVC_NAME], path[96];
	struct passwd	*pw;
	MYSQL		*db;
	const char	*user;
	int64_t		 sock, tcp;
	size_t		 i, n;

	(void)state;
	if (strcmp(it_env("SHOPLAB_DB_TRANSPORT"), "unix") != 0) {
		printf("# the database over TCP here (proxy, TLS or lab): tested on the direct stack\n");
		skip();
	}
	assert_non_null(pw = getpwuid(getuid()));
	assert_non_null(db = mysql_init(NULL));
	if (mysql_real_connect(db, NULL, pw->pw_name, NULL, NULL, 0,
	    it_env("SHOPLAB_DB_SOCKET_PATH"), 0) == NULL) {
		fprintf(stderr, "the stack's MariaDB as %s: %s\n", pw->pw_name, mysql_error(db));
		mysql_close(db);
		fail();
	}
	n = it_services(services, NSVC_MAX);
	assert_true(n >= 1);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "/_ops/%s/readyz", services[i]);
		it_expect("GET", it_internal(), path, NULL, NULL, 200, NULL);
		user = svc_env("SHOPLAB_DB_%s_USER", services[i]);
		sock = it_db_int(db, "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
		    "WHERE USER = '%s' AND HOST = 'localhost'", user);
		tcp = it_db_int(db, "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
		    "WHERE USER = '%s' AND HOST <> 'localhost'", user);
		if (sock < 1 || tcp != 0)
			fprintf(stderr, "%s: %lld connections over the socket, %lld over TCP\n",
			    services[i], (long long)sock, (long long)tcp);
		assert_true(sock >= 1);
		assert_int_equal(tcp, 0);
	}
	mysql_close(db);
}

IT_MAIN("integration/isolation", NULL, NULL,
    cmocka_unit_test(test_db_over_unix_socket),
    cmocka_unit_test(test_default_is_unix_socket),
    cmocka_unit_test(test_other_user_gets_eacces),
    cmocka_unit_test(test_secret_required),
    cmocka_unit_test(test_gateway_still_reaches))
