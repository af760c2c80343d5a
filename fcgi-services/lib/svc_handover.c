/* svc_handover.c - the listening socket handed to a new binary: deploys without a refused request */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "svc_conf_int.h"
#include "svc_handover_int.h"
#include "svc_server_int.h"

extern char **environ;

/*
 * The protocol (docs/deploy.md). SIGUSR2 asks a running service to start its successor:
 * the binary at the path it was started from (a new build replaces that file), with the
 * listening socket as fd 3 (SVC_HANDOVER_FD_VAR=3, like systemd's socket activation) and its
 * own pid in SVC_HANDOVER_PRED_VAR. Both accept on the one socket while the successor starts;
 * the socket is never closed, so no connection is refused. Once ready (startup task done,
 * workers running) the successor writes the pid file and sends SIGTERM to its predecessor,
 * which stops accepting, finishes what is in flight and keeps serving the connections the
 * gateway already holds until the gateway retires them (the upstream's keepalive_time) or the
 * grace runs out.
 * A successor that dies before it is ready is reaped and logged; the predecessor serves on.
 */
#define SVC_HANDOVER_FD_VAR	"SHOPLAB_LISTEN_FD"
#define SVC_HANDOVER_PRED_VAR	"SHOPLAB_PREDECESSOR_PID"
#define SVC_HANDOVER_FD		3

/* 1 when fd is a socket in the listening state. */
static int
svc_is_listening(int fd)
{
	int		 on = 0;
	socklen_t	 len = sizeof(on);

	if (fcntl(fd, F_GETFD) == -1)
		return 0;
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == -1)
		return 0;
	return on != 0;
}

/*
 * The listening socket this process was given: by its predecessor (SHOPLAB_LISTEN_FD) or by
 * systemd (LISTEN_FDS=1 with LISTEN_PID = our pid, fd 3). Returns the fd, -1 when none was
 * given, -2 (with err set) when one was named but is not a listening socket. The variables
 * are removed so that nothing this process starts inherits them.
 */
int
svc_handover_inherited(char *err, size_t errlen)
{
	const char	*v, *pid;
	long long	 fd = -1, n, lp;
	int		 rc = -1;

	if ((v = getenv(SVC_HANDOVER_FD_VAR)) != NULL && v[0] != '\0') {
		if (svc_conf_parse_ll(v, 3, 1023, &fd) == -1) {
			snprintf(err, errlen, "%s=\"%.20s\": want a descriptor number 3..1023",
			    SVC_HANDOVER_FD_VAR, v);
			rc = -2;
			goto out;
		}
	} else if ((v = getenv("LISTEN_FDS")) != NULL && (pid = getenv("LISTEN_PID")) != NULL) {
		if (svc_conf_parse_ll(pid, 1, INT_MAX, &lp) == -1 || lp != (long long)getpid())
			goto out;	/* meant for another process */
		if (svc_conf_parse_ll(v, 1, 1, &n) == -1) {
			snprintf(err, errlen, "LISTEN_FDS=\"%.20s\": want exactly one socket", v);
			rc = -2;
			goto out;
		}
		fd = SVC_HANDOVER_FD;
	} else
		goto out;
	if (!svc_is_listening((int)fd)) {
		snprintf(err, errlen, "descriptor %lld was handed over but is not a listening socket",
		    fd);
		rc = -2;
		goto out;
	}
	if (fcntl((int)fd, F_SETFD, FD_CLOEXEC) == -1) {
		snprintf(err, errlen, "fcntl on the handed-over socket: %s", strerror(errno));
		rc = -2;
		goto out;
	}
	rc = (int)fd;
out:
	unsetenv(SVC_HANDOVER_FD_VAR);
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDNAMES");
	return rc;
}

/* Remembers the binary's path now: a deploy replaces the file, and the successor is that file. */
int
svc_handover_init(struct svc_server *srv, const char *argv0, char *err, size_t errlen)
{
	char		 buf[PATH_MAX];
	const char	*pred;
	long long	 pp;
	ssize_t		 n;

	srv->exe = NULL;
	if (strchr(argv0, '/') != NULL && realpath(argv0, buf) != NULL)
		srv->exe = strdup(buf);
	else if ((n = readlink("/proc/self/exe", buf, sizeof(buf) - 1)) > 0) {
		buf[n] = '\0';
		srv->exe = strdup(buf);
	}
	if (srv->exe == NULL) {
		snprintf(err, errlen, "cannot tell the path of this binary (%s)", argv0);
		return -1;
	}
	srv->predecessor = 0;
	if ((pred = getenv(SVC_HANDOVER_PRED_VAR)) != NULL &&
	    svc_conf_parse_ll(pred, 2, INT_MAX, &pp) == 0)
		srv->predecessor = (pid_t)pp;
	unsetenv(SVC_HANDOVER_PRED_VAR);
	return 0;
}

void
svc_handover_free(struct svc_server *srv)
{
	free(srv->exe);
	srv->exe = NULL;
}

/*
 * SIGUSR2: starts the successor with the listening socket as fd 3 and nothing else open but
 * stdin, stdout and stderr (the database and HTTP connections stay this process's). Returns
 * 0 when it started, -1 (logged) when not.
 */
int
svc_handover_spawn(struct svc_server *srv)
{
	posix_spawn_file_actions_t	 fa;
	posix_spawnattr_t		 at;
	sigset_t			 none;
	char				 fdv[40], predv[48];
	char				*argv[2], **envp = NULL;
	size_t				 n = 0, i, k = 0;
	pid_t				 pid;
	int				 rc = -1, fa_ok = 0, at_ok = 0, e, tmpfd = -1;

	if (srv->successor > 0) {
		svc_log(NULL, "warn", "deploy: a successor (pid %ld) is already starting; ignored",
		    (long)srv->successor);
		return -1;
	}
	if (access(srv->exe, X_OK) != 0) {
		svc_log(NULL, "error", "deploy: cannot run %s: %s; still serving", srv->exe,
		    strerror(errno));
		return -1;
	}
	while (environ[n] != NULL)
		n++;
	if ((envp = calloc(n + 3, sizeof(*envp))) == NULL)
		goto fail;
	for (i = 0; i < n; i++)
		if (strncmp(environ[i], SVC_HANDOVER_FD_VAR "=", sizeof(SVC_HANDOVER_FD_VAR)) != 0 &&
		    strncmp(environ[i], SVC_HANDOVER_PRED_VAR "=", sizeof(SVC_HANDOVER_PRED_VAR)) != 0)
			envp[k++] = environ[i];
	snprintf(fdv, sizeof(fdv), "%s=%d", SVC_HANDOVER_FD_VAR, SVC_HANDOVER_FD);
	snprintf(predv, sizeof(predv), "%s=%ld", SVC_HANDOVER_PRED_VAR, (long)getpid());
	envp[k++] = fdv;
	envp[k++] = predv;
	envp[k] = NULL;
	argv[0] = srv->exe;
	argv[1] = NULL;

	if ((e = posix_spawn_file_actions_init(&fa)) != 0)
		goto fail_e;
	fa_ok = 1;
	/*
	 * The socket may well be fd 3 already, and a dup2 onto itself keeps FD_CLOEXEC on older
	 * libcs: hand over a copy from above the range instead.
	 */
	if ((tmpfd = fcntl(srv->listen_fd, F_DUPFD_CLOEXEC, 10)) == -1) {
		e = errno;
		goto fail_e;
	}
	if ((e = posix_spawn_file_actions_adddup2(&fa, tmpfd, SVC_HANDOVER_FD)) != 0 ||
	    (e = posix_spawn_file_actions_addclosefrom_np(&fa, SVC_HANDOVER_FD + 1)) != 0)
		goto fail_e;
	if ((e = posix_spawnattr_init(&at)) != 0)
		goto fail_e;
	at_ok = 1;
	sigemptyset(&none);
	if ((e = posix_spawnattr_setsigmask(&at, &none)) != 0 ||
	    (e = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK)) != 0)
		goto fail_e;
	if ((e = posix_spawn(&pid, srv->exe, &fa, &at, argv, envp)) != 0)
		goto fail_e;
	srv->successor = pid;
	svc_log(NULL, "info", "deploy: started %s as pid %ld with the listening socket", srv->exe,
	    (long)pid);
	rc = 0;
	goto out;
fail_e:
	svc_log(NULL, "error", "deploy: cannot start %s: %s; still serving", srv->exe, strerror(e));
	goto out;
fail:
	svc_log(NULL, "error", "deploy: out of memory; still serving");
out:
	if (at_ok)
		posix_spawnattr_destroy(&at);
	if (fa_ok)
		posix_spawn_file_actions_destroy(&fa);
	if (tmpfd != -1)
		close(tmpfd);
	free(envp);
	return rc;
}

/* SIGCHLD: a successor that exited before it took over is logged; this process serves on. */
void
svc_handover_reap(struct svc_server *srv)
{
	pid_t	pid;
	int	status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid != srv->successor)
			continue;
		srv->successor = 0;
		if (WIFEXITED(status))
			svc_log(NULL, "error", "deploy: the successor (pid %ld) exited with status %d "
			    "before it took over; still serving", (long)pid, WEXITSTATUS(status));
		else if (WIFSIGNALED(status))
			svc_log(NULL, "error", "deploy: the successor (pid %ld) died of signal %d "
			    "before it took over; still serving", (long)pid, WTERMSIG(status));
	}
}

/* Writes our pid to path atomically (a temporary file renamed over it). -1 on failure. */
static int
svc_write_pid_file(const char *path)
{
	char	tmp[PATH_MAX];
	FILE	*f = NULL;
	int	n, rc = -1;

	n = snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp))
		goto out;
	if ((f = fopen(tmp, "w")) == NULL)
		goto out;
	if (fprintf(f, "%ld\n", (long)getpid()) < 0)
		goto out_close;
	if (fclose(f) != 0) {
		f = NULL;
		goto out_unlink;
	}
	f = NULL;
	if (rename(tmp, path) == -1)
		goto out_unlink;
	rc = 0;
	goto out;
out_close:
	fclose(f);
out_unlink:
	unlink(tmp);
out:
	return rc;
}

/* Tells systemd (Type=notify) we are ready and which pid is now the service's main one. */
static void
svc_notify_systemd(void)
{
	struct sockaddr_un	 sun;
	const char		*path = getenv("NOTIFY_SOCKET");
	char			 msg[64];
	socklen_t		 len;
	size_t			 plen;
	int			 fd, n;

	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return;
	plen = strlen(path);
	if (plen >= sizeof(sun.sun_path))
		return;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, plen);
	if (sun.sun_path[0] == '@')
		sun.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
	n = snprintf(msg, sizeof(msg), "READY=1\nMAINPID=%ld\n", (long)getpid());
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return;
	if (sendto(fd, msg, (size_t)n, 0, (struct sockaddr *)&sun, len) == -1)
		svc_log(NULL, "warn", "cannot notify systemd: %s", strerror(errno));
	close(fd);
}

/*
 * Ready to serve: the pid file (SHOPLAB_PID_FILE) names this process, systemd is told, and a
 * predecessor that handed us its socket is asked to drain (SIGTERM) - only if it is still our
 * parent, so a reused pid is never signalled.
 */
void
svc_handover_ready(struct svc_server *srv)
{
	const char *pf = getenv("SHOPLAB_PID_FILE");

	if (pf != NULL && pf[0] != '\0' && svc_write_pid_file(pf) == -1)
		svc_log(NULL, "warn", "cannot write the pid file %s: %s", pf, strerror(errno));
	svc_notify_systemd();
	if (srv->predecessor <= 0)
		return;
	if (getppid() != srv->predecessor) {
		svc_log(NULL, "warn", "deploy: the predecessor (pid %ld) is gone; nothing to stop",
		    (long)srv->predecessor);
		return;
	}
	if (kill(srv->predecessor, SIGTERM) == -1)
		svc_log(NULL, "error", "deploy: cannot stop the predecessor (pid %ld): %s",
		    (long)srv->predecessor, strerror(errno));
	else
		svc_log(NULL, "info", "deploy: took over the listening socket; the predecessor "
		    "(pid %ld) drains", (long)srv->predecessor);
}
