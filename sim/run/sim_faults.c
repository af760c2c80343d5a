/* sim_faults.c - applies the scenario's fault timeline: proxy toxics, SIGKILL/SIGSTOP/SIGCONT, restarts, deploys */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
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

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sim_faults_invalid(struct sim_faults *f, const char *fmt, ...)
{
	va_list ap;

	f->errors++;
	if (f->invalid[0])
		return;
	va_start(ap, fmt);
	vsnprintf(f->invalid, sizeof(f->invalid), fmt, ap);
	va_end(ap);
}

char sim_proc_state(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *fp;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	/* "pid (comm) S ...": comm may hold spaces and parentheses, the last ')' ends it. */
	if ((p = strrchr(buf, ')')) == NULL || p[1] != ' ')
		return 0;
	return p[2];
}

/* Waits up to ms for the process's state to satisfy want(); returns the last state seen. */
static char await_state(pid_t pid, bool (*want)(char), int ms)
{
	char st = sim_proc_state(pid);

	for (int waited = 0; !want(st) && waited < ms; waited += 5) {
		usleep(5000);
		st = sim_proc_state(pid);
	}
	return st;
}

static bool is_gone(char st)
{
	return st == 0 || st == 'Z' || st == 'X';
}

static bool is_stopped(char st)
{
	return st == 'T';
}

static bool is_running(char st)
{
	return st != 0 && st != 'T' && st != 'Z' && st != 'X';
}

void sim_fault_applied(const struct sim_faults *f, size_t i, double *from, double *to)
{
	*from = f->applied_from[i];
	*to = f->applied_from[i] < 0 ? -1 : f->applied_to[i];
}

int sim_fault_proxy_api(const struct sim_fault *ft, char *out, size_t outsz)
{
	char var[64];
	const char *v;
	size_t n;
	int w;

	out[0] = '\0';
	if (ft->proxy_api[0] == '\0') {
		v = sim_env("SHOPLAB_PROXY_API", "http://127.0.0.1:8474");
	} else if (strncmp(ft->proxy_api, "http://", 7) == 0) {
		v = ft->proxy_api;
	} else {
		w = snprintf(var, sizeof(var), "SHOPLAB_PROXY_API_%s", ft->proxy_api);
		if (w < 0 || (size_t)w >= sizeof(var))
			return -1;
		for (n = strlen("SHOPLAB_PROXY_API_"); var[n]; n++)
			if (var[n] >= 'a' && var[n] <= 'z')
				var[n] = (char)(var[n] - 'a' + 'A');
		if ((v = sim_env(var, NULL)) == NULL)
			return -1;
	}
	n = strlen(v);
	while (n > 0 && v[n - 1] == '/')
		n--;
	if (n == 0 || n >= outsz)
		return -1;
	memcpy(out, v, n);
	out[n] = '\0';
	return 0;
}

int sim_faults_init(struct sim_faults *f, const struct sim_scenario *sc, char *err, size_t errsz)
{
	char exe[1024], *dir;
	ssize_t n;

	memset(f, 0, sizeof(*f));
	f->sc = sc;
	for (size_t i = 0; i < SIM_MAX_FAULTS; i++)
		f->applied_from[i] = f->applied_to[i] = -1;
	snprintf(f->proxy_api, sizeof(f->proxy_api), "%s", sim_env("SHOPLAB_PROXY_API", "http://127.0.0.1:8474"));
	/* A toxic whose API cannot be found is not applied: start() makes the run invalid. */
	for (size_t i = 0; i < sc->nfaults; i++)
		if (sc->faults[i].kind == SIM_FAULT_TOXIC)
			(void)sim_fault_proxy_api(&sc->faults[i], f->api[i], sizeof(f->api[i]));
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
		/* <top>/build/bin/sim, or installed: <prefix>/bin/sim beside <prefix>/share/shoplab. */
		dir = dirname(exe);
		snprintf(f->stack_sh, sizeof(f->stack_sh), "%s/../../scripts/stack.sh", dir);
		if (access(f->stack_sh, X_OK) != 0)
			snprintf(f->stack_sh, sizeof(f->stack_sh), "%s/../share/shoplab/scripts/stack.sh", dir);
	}
	if (access(f->stack_sh, X_OK) != 0) {
		snprintf(err, errsz, "%s: not executable (set SHOPLAB_TOP)", f->stack_sh);
		return -1;
	}
	/* The HA lab: its script applies host faults and brings the whole lab back. */
	snprintf(f->lab_ctl, sizeof(f->lab_ctl), "%s", sim_env("SHOPLAB_LAB_CTL", ""));
	if (f->lab_ctl[0] && access(f->lab_ctl, X_OK) != 0) {
		snprintf(err, errsz, "SHOPLAB_LAB_CTL=%s: not executable", f->lab_ctl);
		return -1;
	}
	return 0;
}

pid_t sim_faults_pid(const char *run_dir, const char *target)
{
	char path[1200], buf[32] = "";
	FILE *fp;
	long pid;

	snprintf(path, sizeof(path), "%s/%s.pid", run_dir, target);
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	if (fgets(buf, sizeof(buf), fp) == NULL)
		buf[0] = '\0';
	fclose(fp);
	pid = strtol(buf, NULL, 10);
	return pid > 1 ? (pid_t)pid : -1;
}

static pid_t spawn_stack(const struct sim_faults *f, const char *cmd, const char *arg)
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
	setenv("SHOPLAB_RUN", f->run_dir, 1);
	if (f->lab_ctl[0]) {
		/* The HA lab: `ctl up` heals every partition and starts whatever is down. */
		execl(f->lab_ctl, f->lab_ctl, "ctl", cmd, (char *)NULL);
		_exit(127);
	}
	setenv("SHOPLAB_PROXY", "1", 1);
	execl(f->stack_sh, f->stack_sh, cmd, arg, (char *)NULL);
	_exit(127);
}

/* Starts `$SHOPLAB_LAB_CTL ctl action host` with its output into fd (or the log); returns the pid. */
static pid_t spawn_lab(const struct sim_faults *f, const char *action, const char *host, int fd)
{
	char logp[1200];
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	if (fd < 0) {
		snprintf(logp, sizeof(logp), "%s/logs/sim-lab.log", f->run_dir);
		fd = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0600);
	}
	if (fd >= 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	setenv("SHOPLAB_RUN", f->run_dir, 1);
	execl(f->lab_ctl, f->lab_ctl, "ctl", action, host, (char *)NULL);
	_exit(127);
}

/*
 * Runs `$SHOPLAB_LAB_CTL ctl action host` and waits. The script confirms what it did (it lists
 * the rules it added, waits until killed processes are gone) and exits non-zero otherwise.
 * Returns its exit status (-1: it could not run); out gets its last line.
 */
static int run_lab(const struct sim_faults *f, const char *action, const char *host, char *out, size_t outsz)
{
	char buf[4096], *nl;
	size_t len = 0;
	ssize_t n;
	int p[2], status;
	pid_t pid;

	out[0] = '\0';
	if (pipe(p) != 0)
		return -1;
	if ((pid = spawn_lab(f, action, host, p[1])) < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	close(p[1]);
	while ((n = read(p[0], buf + len, sizeof(buf) - 1 - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		len += (size_t)n;
		if (len == sizeof(buf) - 1) {   /* keep the tail */
			memmove(buf, buf + len / 2, len - len / 2);
			len -= len / 2;
		}
	}
	close(p[0]);
	buf[len] = '\0';
	while (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	nl = strrchr(buf, '\n');
	nl = nl ? nl + 1 : buf;
	len = strlen(nl) < outsz - 1 ? strlen(nl) : outsz - 1;
	memcpy(out, nl, len);
	out[len] = '\0';
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int sim_faults_stack(const struct sim_faults *f, const char *cmd)
{
	pid_t pid = spawn_stack(f, cmd, NULL);
	int status;

	if (pid < 0)
		return -1;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Starts `stack.sh up` (a lab host fault: `ctl start HOST`) in the background; its success ends
 * fault i's window. */
static void restart_async(struct sim_faults *f, double t, int i)
{
	const struct sim_fault *ft = &f->sc->faults[i];
	pid_t pid = -1;

	if (f->nchildren < sizeof(f->children) / sizeof(f->children[0]))
		pid = ft->kind == SIM_FAULT_HOST_KILL ? spawn_lab(f, "start", ft->target, -1) : spawn_stack(f, "up", NULL);
	if (pid < 0) {
		note(f, t, "stack.sh up: could not start it");
		sim_faults_invalid(f, "faults[%d] (%s %s) at %.1f s: stack.sh up could not be started", i,
				   f->sc->faults[i].target, sim_fault_kind_names[f->sc->faults[i].kind], t);
		return;
	}
	f->child_fault[f->nchildren] = i;
	f->children[f->nchildren++] = pid;
	note(f, t, "%s started (pid %d)", ft->kind == SIM_FAULT_HOST_KILL ? "lab ctl start" : "stack.sh up", (int)pid);
}

/* Starts `stack.sh deploy <target>` in the background; it ends fault i once the pid changed. */
static void deploy_async(struct sim_faults *f, double t, int i)
{
	const struct sim_fault *ft = &f->sc->faults[i];
	pid_t pid, old = sim_faults_pid(f->run_dir, ft->target);

	if (old < 0 || sim_proc_state(old) == 0) {
		note(f, t, "%s: not running, nothing to deploy", ft->target);
		sim_faults_invalid(f, "faults[%d] (%s deploy) at %.1f s: not applied: %s is not running", i, ft->target,
				   t, ft->target);
		return;
	}
	if (f->nchildren >= sizeof(f->children) / sizeof(f->children[0]) ||
	    (pid = spawn_stack(f, "deploy", ft->target)) < 0) {
		note(f, t, "stack.sh deploy %s: could not start it", ft->target);
		sim_faults_invalid(f, "faults[%d] (%s deploy) at %.1f s: stack.sh deploy could not be started", i,
				   ft->target, t);
		return;
	}
	f->deployed[i] = old;
	f->applied_from[i] = t;
	f->child_fault[f->nchildren] = i;
	f->children[f->nchildren++] = pid;
	note(f, t, "stack.sh deploy %s started (pid %d; %s was pid %d)", ft->target, (int)pid, ft->target, (int)old);
}

/* A deploy that exited 0 applied only if the target's pid file names a new, running process. */
static bool deploy_confirmed(struct sim_faults *f, int k, double t)
{
	const struct sim_fault *ft = &f->sc->faults[k];
	pid_t now = sim_faults_pid(f->run_dir, ft->target);
	char st = now > 0 ? sim_proc_state(now) : 0;

	if (now > 0 && now != f->deployed[k] && st != 0 && st != 'Z' && st != 'X') {
		note(f, t, "%s deployed: pid %d -> %d (confirmed: running)", ft->target, (int)f->deployed[k], (int)now);
		return true;
	}
	note(f, t, "%s deploy: stack.sh said ok, but the pid is %d (was %d, state %c)", ft->target, (int)now,
	     (int)f->deployed[k], st ? st : '?');
	sim_faults_invalid(f, "faults[%d] (%s deploy): not confirmed at %.1f s: the pid file names %d (was %d)", k,
			   ft->target, t, (int)now, (int)f->deployed[k]);
	return false;
}

static void reap(struct sim_faults *f, double t)
{
	for (size_t i = 0; i < f->nchildren;) {
		int status;
		pid_t r = waitpid(f->children[i], &status, WNOHANG);

		if (r == f->children[i]) {
			bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
			int k = f->child_fault[i];
			bool dep = f->sc->faults[k].kind == SIM_FAULT_DEPLOY;

			const char *what = f->sc->faults[k].kind == SIM_FAULT_HOST_KILL ? "lab ctl start"
					   : dep ? "stack.sh deploy" : "stack.sh up";

			note(f, t, "%s finished: %s", what, ok ? "ok" : "FAILED");
			if (!ok)
				sim_faults_invalid(f, "faults[%d] (%s %s): %s failed at %.1f s%s "
						   "(see %s/logs/sim-%s.log)", k, f->sc->faults[k].target,
						   sim_fault_kind_names[f->sc->faults[k].kind], what, t,
						   dep ? "" : ": it did not come back", f->run_dir,
						   f->sc->faults[k].kind == SIM_FAULT_HOST_KILL ? "lab" : "stack");
			else if (dep && !deploy_confirmed(f, k, t))
				;
			else if (f->applied_from[k] >= 0 && f->applied_to[k] < 0)
				f->applied_to[k] = t;
			f->child_fault[i] = f->child_fault[f->nchildren - 1];
			f->children[i] = f->children[--f->nchildren];
		} else {
			i++;
		}
	}
}

/* Sends sig to target and waits until /proc shows it took effect; returns the pid or -1. */
static pid_t signal_target(struct sim_faults *f, size_t i, double t, int sig)
{
	const struct sim_fault *ft = &f->sc->faults[i];
	pid_t pid = sim_faults_pid(f->run_dir, ft->target);
	bool (*want)(char) = sig == SIGKILL ? is_gone : sig == SIGSTOP ? is_stopped : is_running;
	char st;

	if (pid < 0 || kill(pid, sig) != 0) {
		note(f, t, "%s: cannot signal (%s)", ft->target, pid < 0 ? "no pid file" : strerror(errno));
		sim_faults_invalid(f, "faults[%zu] (%s %s) at %.1f s: not applied: %s %s", i, ft->target,
				   sim_fault_kind_names[ft->kind], t, pid < 0 ? "no pid file for" : "cannot signal", ft->target);
		return -1;
	}
	if (!want(st = await_state(pid, want, 2000))) {
		note(f, t, "%s (pid %d): %s sent, but the process is still in state %c", ft->target, (int)pid, strsignal(sig),
		     st ? st : '?');
		sim_faults_invalid(f, "faults[%zu] (%s %s) at %.1f s: not confirmed: after %s the process is in state %c",
				   i, ft->target, sim_fault_kind_names[ft->kind], t, strsignal(sig), st ? st : '?');
		return -1;
	}
	note(f, t, "%s (pid %d): %s (confirmed: %s)", ft->target, (int)pid, strsignal(sig),
	     sig == SIGKILL ? "gone" : sig == SIGSTOP ? "state T" : "running");
	return pid;
}

/* Whether the proxy lists the toxic (want) or not (!want). */
static bool toxic_listed(const struct sim_faults *f, size_t i, bool want, long *st)
{
	const struct sim_fault *ft = &f->sc->faults[i];
	char url[512], out[2048], type[96];

	snprintf(url, sizeof(url), "%s/proxies/%s/toxics/%s", f->api[i], ft->target, ft->name);
	*st = sim_http("GET", url, NULL, NULL, 3000, out, sizeof(out));
	snprintf(type, sizeof(type), "\"type\":\"%s\"", ft->type);
	return want ? *st == 200 && strstr(out, type) != NULL : *st == 404;
}

/* A lab host fault's start (kill, partition) or end (heal), confirmed by the lab's script. */
static void lab_fault(struct sim_faults *f, size_t i, double t, const char *action, bool starting)
{
	const struct sim_fault *ft = &f->sc->faults[i];
	char out[512];
	int rc;

	if (!f->lab_ctl[0]) {
		note(f, t, "%s %s: no HA lab (SHOPLAB_LAB_CTL)", action, ft->target);
		sim_faults_invalid(f, "faults[%zu] (%s %s) at %.1f s: not applied: the stack is not the HA lab (no SHOPLAB_LAB_CTL)",
				   i, ft->target, sim_fault_kind_names[ft->kind], t);
		return;
	}
	rc = run_lab(f, action, ft->target, out, sizeof(out));
	if (rc != 0) {
		note(f, t, "%s %s: FAILED (exit %d): %s", action, ft->target, rc, out);
		sim_faults_invalid(f, "faults[%zu] (%s %s) at %.1f s: %s not confirmed (lab ctl exit %d): %.200s", i,
				   ft->target, sim_fault_kind_names[ft->kind], t, action, rc, out);
		return;
	}
	note(f, t, "%s %s (confirmed: %s)", action, ft->target, out);
	if (starting)
		f->applied_from[i] = t;
	else
		f->applied_to[i] = t;
}

static void start(struct sim_faults *f, size_t i, double t)
{
	const struct sim_fault *ft = &f->sc->faults[i];
	char url[512], body[2048], out[512];
	long st, seen = 0;

	switch (ft->kind) {
	case SIM_FAULT_TOXIC:
		if (f->api[i][0] == '\0') {
			note(f, t, "toxic %s on %s: no proxy API for \"%s\"", ft->type, ft->target, ft->proxy_api);
			sim_faults_invalid(f, "faults[%zu] (toxic %s on %s) at %.1f s: not applied: proxy_api \"%s\" names no proxy "
					   "API (SHOPLAB_PROXY_API_<NAME> is not set: is the HA lab up with LAB_PROXY=1?)",
					   i, ft->type, ft->target, t, ft->proxy_api);
			break;
		}
		snprintf(url, sizeof(url), "%s/proxies/%s/toxics", f->api[i], ft->target);
		snprintf(body, sizeof(body), "{\"name\":\"%s\",\"type\":\"%s\",\"stream\":\"%s\",\"toxicity\":%g,\"attributes\":%s}",
			 ft->name, ft->type, ft->stream, ft->toxicity, ft->attributes);
		st = sim_http("POST", url, body, NULL, 3000, out, sizeof(out));
		if (st == 200 && toxic_listed(f, i, true, &seen)) {
			f->applied_from[i] = t;
			note(f, t, "toxic %s %s on %s%s%s: %ld (confirmed: listed)", ft->type, ft->attributes, ft->target,
			     ft->proxy_api[0] ? " at " : "", ft->proxy_api, st);
			break;
		}
		note(f, t, "toxic %s %s on %s: %ld %s", ft->type, ft->attributes, ft->target, st,
		     st == 200 ? "but the proxy does not list it" : out);
		sim_faults_invalid(f, "faults[%zu] (toxic %s on %s) at %.1f s: not applied: POST %s answered %ld%s%.160s%s", i,
				   ft->type, ft->target, t, url, st, st < 0 ? " (" : " ", st == 200 ? "but it is not listed" : out,
				   st < 0 ? ")" : "");
		break;
	case SIM_FAULT_KILL:
		if (signal_target(f, i, t, SIGKILL) > 0)
			f->applied_from[i] = t;
		break;
	case SIM_FAULT_STOP:
		if ((f->stopped[i] = signal_target(f, i, t, SIGSTOP)) > 0)
			f->applied_from[i] = t;
		else
			f->stopped[i] = 0;
		break;
	case SIM_FAULT_RESTART:
		if (signal_target(f, i, t, SIGKILL) > 0) {
			f->applied_from[i] = t;
			usleep(200000);         /* let the port and the pid go before starting again */
			restart_async(f, t, (int)i);
		}
		break;
	case SIM_FAULT_DEPLOY:
		deploy_async(f, t, (int)i);
		break;
	case SIM_FAULT_HOST_KILL:
	case SIM_FAULT_PARTITION:
		lab_fault(f, i, t, ft->kind == SIM_FAULT_HOST_KILL ? "kill" : "partition", true);
		break;
	}
}

static void end(struct sim_faults *f, size_t i, double t)
{
	const struct sim_fault *ft = &f->sc->faults[i];
	char url[512], out[512];
	long st, seen = 0;

	if (f->applied_from[i] < 0)
		return;         /* never applied: nothing to undo, the run is invalid already */
	switch (ft->kind) {
	case SIM_FAULT_TOXIC:
		snprintf(url, sizeof(url), "%s/proxies/%s/toxics/%s", f->api[i], ft->target, ft->name);
		st = sim_http("DELETE", url, NULL, NULL, 3000, out, sizeof(out));
		if (st == 204 && toxic_listed(f, i, false, &seen)) {
			f->applied_to[i] = t;
			note(f, t, "toxic %s on %s removed: %ld (confirmed: gone)", ft->type, ft->target, st);
			break;
		}
		note(f, t, "toxic %s on %s removed: %ld %s", ft->type, ft->target, st, out);
		sim_faults_invalid(f, "faults[%zu] (toxic %s on %s) at %.1f s: its removal was not confirmed: DELETE answered %ld %.160s",
				   i, ft->type, ft->target, t, st, out);
		break;
	case SIM_FAULT_STOP:
		if (f->stopped[i] > 0 && signal_target(f, i, t, SIGCONT) > 0)
			f->applied_to[i] = t;
		f->stopped[i] = 0;
		break;
	case SIM_FAULT_KILL:
	case SIM_FAULT_HOST_KILL:
		restart_async(f, t, (int)i);
		break;
	case SIM_FAULT_PARTITION:
		lab_fault(f, i, t, "heal", false);
		break;
	case SIM_FAULT_RESTART:
	case SIM_FAULT_DEPLOY:
		break;
	}
}

void sim_faults_tick(struct sim_faults *f, double t)
{
	if (f->t0 == 0)
		f->t0 = mono() - t;
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

		if (!f->started[i] || f->ended[i] || ft->kind == SIM_FAULT_RESTART || ft->kind == SIM_FAULT_DEPLOY)
			continue;
		n = snprintf(buf + len, bufsz - len, "%s%s %s", len ? ", " : "", ft->target,
			     ft->kind == SIM_FAULT_TOXIC ? ft->type : sim_fault_kind_names[ft->kind]);
		if (n < 0)
			break;
		len += (size_t)n;
	}
	if (f->nchildren && len < bufsz)
		snprintf(buf + len, bufsz - len, "%srestarting or deploying", len ? ", " : "");
}

/* Whether fault i is a toxic applied on api and not removed yet. */
static bool open_toxic_on(const struct sim_faults *f, size_t i, const char *api)
{
	return f->sc->faults[i].kind == SIM_FAULT_TOXIC && f->applied_from[i] >= 0 && f->applied_to[i] < 0 &&
	       strcmp(f->api[i], api) == 0;
}

/*
 * POST /reset to the stack's proxy API and to every other one a toxic used (the HA lab's link
 * proxies), once each. A toxic still open on an API that did not answer 204 makes the run
 * invalid. Returns the stack's API's status.
 */
static long reset_proxies(struct sim_faults *f, double t)
{
	char url[512], out[256];
	long st, first = -1;
	bool seen, open;

	for (size_t k = 0; k <= f->sc->nfaults; k++) {
		const char *api = k == 0 ? f->proxy_api : f->api[k - 1];

		if (k > 0 && (f->sc->faults[k - 1].kind != SIM_FAULT_TOXIC || api[0] == '\0'))
			continue;
		seen = k > 0 && strcmp(api, f->proxy_api) == 0;
		for (size_t j = 0; j + 1 < k && !seen; j++)
			seen = f->sc->faults[j].kind == SIM_FAULT_TOXIC && strcmp(f->api[j], api) == 0;
		if (seen)
			continue;
		open = false;
		for (size_t i = 0; i < f->sc->nfaults; i++)
			open |= open_toxic_on(f, i, api);
		snprintf(url, sizeof(url), "%s/reset", api);
		st = sim_http("POST", url, NULL, NULL, 3000, out, sizeof(out));
		if (k == 0)
			first = st;
		if (st == 204) {
			for (size_t i = 0; i < f->sc->nfaults; i++)
				if (open_toxic_on(f, i, api))
					f->applied_to[i] = t;
		} else if (open) {
			sim_faults_invalid(f, "at %.1f s the proxy's toxics could not be reset: POST %s answered %ld %.120s",
					   t, url, st, out);
		}
		if (k > 0)
			note(f, t, "proxy %s reset: %ld", api, st);
	}
	return first;
}

int sim_faults_finish(struct sim_faults *f)
{
	double t = f->t0 > 0 ? mono() - f->t0 : f->sc->duration_s;
	long st;
	int rc;

	/* No fault was scheduled, so nothing is to be put back: no proxy reset, no stack.sh up
	 * (which would also hide a process that died on its own, and has no business on a host
	 * whose services systemd runs). */
	if (f->sc->nfaults == 0 && f->nchildren == 0) {
		note(f, t, "end of faults: none was scheduled, nothing to restore");
		return 0;
	}
	for (size_t i = 0; i < f->sc->nfaults; i++)
		if (f->stopped[i] > 0) {
			if (signal_target(f, i, t, SIGCONT) > 0)
				f->applied_to[i] = t;
			f->stopped[i] = 0;
		}
	st = reset_proxies(f, t);
	while (f->nchildren > 0) {
		reap(f, mono() - f->t0);
		if (f->nchildren)
			usleep(100000);
	}
	rc = sim_faults_stack(f, "up");
	t = f->t0 > 0 ? mono() - f->t0 : f->sc->duration_s;
	note(f, t, "end of faults: toxics reset (%ld), %s: %s", st, f->lab_ctl[0] ? "lab ctl up" : "stack.sh up",
	     rc == 0 ? "ok" : "FAILED");
	if (rc != 0) {
		sim_faults_invalid(f, "at the end of the faults scripts/stack.sh up failed: the stack did not come back "
				   "(see %s/logs/sim-stack.log)", f->run_dir);
	} else {
		/* Whatever was down is back now. */
		for (size_t i = 0; i < f->sc->nfaults; i++)
			if (f->applied_from[i] >= 0 && f->applied_to[i] < 0)
				f->applied_to[i] = t;
	}
	return rc;
}

bool sim_fault_touches_reads(const struct sim_fault *ft)
{
	/* A deploy must not disturb anything: reads are held to the untouched rule throughout. */
	if (ft->kind == SIM_FAULT_DEPLOY)
		return false;
	/* A lab host holds a database node or a services instance: reads may notice. */
	if (ft->kind == SIM_FAULT_HOST_KILL || ft->kind == SIM_FAULT_PARTITION)
		return true;
	return strstr(ft->target, "catalog") || strstr(ft->target, "inventory") ||
	       strcmp(ft->target, "nginx") == 0 || strcmp(ft->target, "mariadb") == 0;
}

void sim_fault_window(const struct sim_scenario *sc, size_t i, double *from, double *to)
{
	const struct sim_fault *ft = &sc->faults[i];

	*from = ft->at_s;
	if (ft->until_s >= 0)
		*to = ft->until_s;
	else if (ft->kind == SIM_FAULT_RESTART || ft->kind == SIM_FAULT_DEPLOY)
		*to = ft->at_s + 10 < sc->duration_s ? ft->at_s + 10 : sc->duration_s;
	else
		*to = sc->duration_s;
}
