/* test_handover.c - the listening socket a deploy hands over: what a new process accepts as one */
#include <sys/socket.h>
#include <sys/un.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "svc_unit.h"

#include "svc_handover_int.h"

/* A socket at fd want: listening or not. */
static int
socket_at(int want, int listening)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	if (listening)
		assert_int_equal(listen(fd, 4), 0);	/* an ephemeral port on any address */
	if (fd != want) {
		assert_int_equal(dup2(fd, want), want);
		close(fd);
	}
	return want;
}

/* A socket at want, listening or not, handed over the way a deploy does: in SHOPLAB_LISTEN_FD. */
static int
handed(int want, int listening)
{
	char	num[16];
	int	fd = socket_at(want, listening);

	snprintf(num, sizeof(num), "%d", fd);
	setenv("SHOPLAB_LISTEN_FD", num, 1);
	return fd;
}

static void
test_handed_fd(void **state)
{
	char	err[160] = "";
	int	fd;

	(void)state;
	fd = handed(40, 1);
	assert_int_equal(svc_handover_inherited(err, sizeof(err)), 40);
	/* Taken once: nothing this process starts inherits it. */
	assert_null(getenv("SHOPLAB_LISTEN_FD"));
	assert_int_equal(svc_handover_inherited(err, sizeof(err)), -1);
	close(fd);
}

static void
test_not_listening(void **state)
{
	char	err[160] = "";
	int	fd;

	(void)state;
	fd = handed(41, 0);
	assert_int_equal(svc_handover_inherited(err, sizeof(err)), -2);
	assert_non_null(strstr(err, "not a listening socket"));
	close(fd);
	/* A closed descriptor, and words that are no descriptor at all. */
	setenv("SHOPLAB_LISTEN_FD", "41", 1);
	assert_int_equal(svc_handover_inherited(err, sizeof(err)), -2);
	setenv("SHOPLAB_LISTEN_FD", "2", 1);
	assert_int_equal(svc_handover_inherited(err, sizeof(err)), -2);
	assert_non_null(strstr(err, "SHOPLAB_LISTEN_FD"));
	setenv("SHOPLAB_LISTEN_FD", "3x", 1);
	assert_int_equal(svc_handover_inherited(err, sizeof(err)), -2);
}

static void
test_systemd(void **state)
{
	char	err[160] = "", pid[32];
	int	fd, saved;

	(void)state;
	saved = dup(3);		/* fd 3 may be in use (cmocka, the loader): put it back after */
	fd = socket_at(3, 1);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid() + 1);
	setenv("LISTEN_FDS", "1", 1);
	setenv("LISTEN_PID", pid, 1);
	/* Meant for another process: ignored, and the variables are dropped. */
	assert_int_equal(svc_handover_inherited(err, sizeof(err)), -1);
	assert_null(getenv("LISTEN_FDS"));
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("LISTEN_FDS", "1", 1);
	setenv("LISTEN_PID", pid, 1);
	assert_int_equal(svc_handover_inherited(err, sizeof(err)), 3);
	setenv("LISTEN_FDS", "2", 1);
	setenv("LISTEN_PID", pid, 1);
	assert_int_equal(svc_handover_inherited(err, sizeof(err)), -2);
	assert_non_null(strstr(err, "exactly one socket"));
	close(fd);
	if (saved >= 0) {
		dup2(saved, 3);
		close(saved);
	}
}

SVC_UNIT_MAIN("handover",
    cmocka_unit_test(test_handed_fd),
    cmocka_unit_test(test_not_listening),
    cmocka_unit_test(test_systemd))
