/* sim_faults.c - applies the scenario's fault timeline: proxy toxics, SIGKILL/SIGSTOP/SIGCONT, restarts */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sim_env.h"
#include "sim_faults.h"
#include "sim_http.h"

static void note(struct sim_faults *f, double t, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	n = snprintf(f->log + f->loglen, sizeof(f->log) - f->loglen, "%6.1fs %s\n", t, line);
	if (n > 0 && (size_t)n < sizeof(f->log) - f->loglen)
		f->loglen += (size_t)n;
}

int sim_faults_init(struct sim_faults *f, const struct sim_scenario *sc, char *err, size_t errsz)
{
	char exe[1024];
	ssize_t n;

	memset(f, 0, sizeof(*f));
	f->sc = sc;
	snprintf(f->proxy_api, sizeof(f->proxy_api), "%s", sim_env("SHOPLAB_PROXY_API", "http://127.0.0.1:8474"));
	snprintf(f->run_dir, sizeof(f->run_dir), "%s", sim_env_run_dir());
	if (getenv("SHOPLAB_TOP")) {
		snprintf(f->stack_sh, sizeof(f->stack_sh), "%s/scripts/stack.sh", getenv("SHOPLAB_TOP"));
	} else {
		n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n <= 0) {
			snprintf(err, errsz, "cannot find the binary's path: %s", strerror(errno));
			return -1;
		}
		exe[n] = '\0';
		/* <top>/build/bin/sim */
		snprintf(f->stack_sh, sizeof(f->stack_sh), "%s/../../scripts/stack.sh", dirname(exe));
	}
	if (access(f->stack_sh, X_OK) != 0) {
		snprintf(err, errsz, "%s: not executable (set SHOPLAB_TOP)", f->stack_sh);
		return -1;
	}
	return 0;
}

static pid_t read_pid(const struct sim_faults *f, const char *target)
{
	char path[1200], buf[32] = "";
	FILE *fp;
	long pid;

	snprintf(path, sizeof(path), "%s/%s.pid", f->run_dir, target);
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	if (fgets(buf, sizeof(buf), fp) == NULL)
		buf[0] = '\0';
	fclose(fp);
	pid = strtol(buf, NULL, 10);
	return pid > 1 ? (pid_t)pid : -1;
}

static pid_t spawn_stack(const struct sim_faults *f, const char *cmd)
{
	char logp[1200];
	pid_t pid = fork();
	int fd;

	if (pid != 0)
		return pid;
	snprintf(logp, sizeof(logp), "%s/logs/sim-stack.log", f->run_dir);
	if ((fd = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0600)) >= 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	setenv("SHOPLAB_PROXY", "1", 1);
	setenv("SHOPLAB_RUN", f->run_dir, 1);
	execl(f->stack_sh, f->stack_sh, cmd, (char *)NULL);
	_exit(127);
}

int sim_faults_stack(const struct sim_faults *f, const char *cmd)
{
	pid_t pid = spawn_stack(f, cmd);
	int status;

	if (pid < 0)
		return -1;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void restart_async(struct sim_faults *f, double t)
{
	pid_t pid;

	if (f->nchildren >= sizeof(f->children) / sizeof(f->children[0]))
		return;
	if ((pid = spawn_stack(f, "up")) < 0) {
		f->errors++;
		note(f, t, "stack.sh up: fork failed");
		return;
	}
	f->children[f->nchildren++] = pid;
	note(f, t, "stack.sh up started (pid %d)", (int)pid);
}

static void reap(struct sim_faults *f, double t)
{
	for (size_t i = 0; i < f->nchildren;) {
		int status;
		pid_t r = waitpid(f->children[i], &status, WNOHANG);

		if (r == f->children[i]) {
			note(f, t, "stack.sh up finished: %s", WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "ok" : "FAILED");
			if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
				f->errors++;
			f->children[i] = f->children[--f->nchildren];
		} else {
			i++;
		}
	}
}

static void signal_target(struct sim_faults *f, double t, const char *target, int sig, pid_t *out)
{
	pid_t pid = read_pid(f, target);

	if (pid < 0 || kill(pid, sig) != 0) {
		f->errors++;
		note(f, t, "%s: cannot signal (%s)", target, pid < 0 ? "no pid file" : strerror(errno));
		return;
	}
	note(f, t, "%s (pid %d): %s", target, (int)pid, strsignal(sig));
	if (out)
		*out = pid;
}

static void start(struct sim_faults *f, size_t i, double t)
{
	const struct sim_fault *ft = &f->sc->faults[i];
	char url[512], body[2048], out[512];
	long st;

	switch (ft->kind) {
	case SIM_FAULT_TOXIC:
		snprintf(url, sizeof(url), "%s/proxies/%s/toxics", f->proxy_api, ft->target);
		snprintf(body, sizeof(body), "{\"name\":\"%s\",\"type\":\"%s\",\"stream\":\"%s\",\"toxicity\":%g,\"attributes\":%s}",
			 ft->name, ft->type, ft->stream, ft->toxicity, ft->attributes);
		st = sim_http("POST", url, body, NULL, 3000, out, sizeof(out));
		if (st != 200)
			f->errors++;
		note(f, t, "toxic %s %s on %s: %ld %s", ft->type, ft->attributes, ft->target, st, st == 200 ? "" : out);
		break;
	case SIM_FAULT_KILL:
		signal_target(f, t, ft->target, SIGKILL, NULL);
		break;
	case SIM_FAULT_STOP:
		signal_target(f, t, ft->target, SIGSTOP, &f->stopped[i]);
		break;
	case SIM_FAULT_RESTART:
		signal_target(f, t, ft->target, SIGKILL, NULL);
		usleep(200000);         /* let the port and the pid go before starting again */
		restart_async(f, t);
		break;
	}
}

static void end(struct sim_faults *f, size_t i, double t)
{
	const struct sim_fault *ft = &f->sc->faults[i];
	char url[512];
	long st;

	switch (ft->kind) {
	case SIM_FAULT_TOXIC:
		snprintf(url, sizeof(url), "%s/proxies/%s/toxics/%s", f->proxy_api, ft->target, ft->name);
		st = sim_http("DELETE", url, NULL, NULL, 3000, NULL, 0);
		note(f, t, "toxic %s on %s removed: %ld", ft->type, ft->target, st);
		break;
	case SIM_FAULT_STOP:
		if (f->stopped[i] > 0 && kill(f->stopped[i], SIGCONT) == 0)
			note(f, t, "%s (pid %d): Continued", ft->target, (int)f->stopped[i]);
		f->stopped[i] = 0;
		break;
	case SIM_FAULT_KILL:
		restart_async(f, t);
		break;
	case SIM_FAULT_RESTART:
		break;
	}
}

void sim_faults_tick(struct sim_faults *f, double t)
{
	reap(f, t);
	for (size_t i = 0; i < f->sc->nfaults; i++) {
		const struct sim_fault *ft = &f->sc->faults[i];

		if (!f->started[i] && t >= ft->at_s) {
			f->started[i] = true;
			start(f, i, t);
		}
		if (f->started[i] && !f->ended[i] && ft->until_s >= 0 && t >= ft->until_s) {
			f->ended[i] = true;
			end(f, i, t);
		}
	}
}

double sim_faults_next(const struct sim_faults *f)
{
	double next = -1;

	for (size_t i = 0; i < f->sc->nfaults; i++) {
		const struct sim_fault *ft = &f->sc->faults[i];
		double e = !f->started[i] ? ft->at_s : (!f->ended[i] && ft->until_s >= 0) ? ft->until_s : -1;

		if (e >= 0 && (next < 0 || e < next))
			next = e;
	}
	return next;
}

void sim_faults_describe(const struct sim_faults *f, char *buf, size_t bufsz)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < f->sc->nfaults && len < bufsz; i++) {
		const struct sim_fault *ft = &f->sc->faults[i];
		int n;

		if (!f->started[i] || f->ended[i] || (ft->kind == SIM_FAULT_RESTART))
			continue;
		n = snprintf(buf + len, bufsz - len, "%s%s %s", len ? ", " : "", ft->target,
			     ft->kind == SIM_FAULT_TOXIC ? ft->type : sim_fault_kind_names[ft->kind]);
		if (n < 0)
			break;
		len += (size_t)n;
	}
	if (f->nchildren && len < bufsz)
		snprintf(buf + len, bufsz - len, "%srestarting", len ? ", " : "");
}

int sim_faults_finish(struct sim_faults *f)
{
	char url[512];
	int rc;

	for (size_t i = 0; i < f->sc->nfaults; i++)
		if (f->stopped[i] > 0) {
			kill(f->stopped[i], SIGCONT);
			f->stopped[i] = 0;
		}
	snprintf(url, sizeof(url), "%s/reset", f->proxy_api);
	sim_http("POST", url, NULL, NULL, 3000, NULL, 0);
	while (f->nchildren > 0) {
		reap(f, f->sc->duration_s);
		if (f->nchildren)
			usleep(100000);
	}
	rc = sim_faults_stack(f, "up");
	note(f, f->sc->duration_s, "end of faults: toxics reset, stack.sh up: %s", rc == 0 ? "ok" : "FAILED");
	return rc;
}

bool sim_fault_touches_reads(const struct sim_fault *ft)
{
	return strstr(ft->target, "catalog") || strstr(ft->target, "inventory") ||
	       strcmp(ft->target, "nginx") == 0 || strcmp(ft->target, "mariadb") == 0;
}

void sim_fault_window(const struct sim_scenario *sc, size_t i, double *from, double *to)
{
	const struct sim_fault *ft = &sc->faults[i];

	*from = ft->at_s;
	if (ft->until_s >= 0)
		*to = ft->until_s;
	else if (ft->kind == SIM_FAULT_RESTART)
		*to = ft->at_s + 10 < sc->duration_s ? ft->at_s + 10 : sc->duration_s;
	else
		*to = sc->duration_s;
}
