/* sim_faults.c - applies the scenario's fault timeline: proxy toxics, SIGKILL/SIGSTOP/SIGCONT, restarts, deploys */
#include <dirent.h>
#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <libgen.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "sim_clock.h"
#include "sim_env.h"
#include "sim_faults.h"
#include "sim_http.h"

static void
sim_flt_note(struct sim_faults *f, double t, const char *fmt, ...)
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

void
sim_faults_invalid(struct sim_faults *f, const char *fmt, ...)
{
	va_list ap;

	f->errors++;
	if (f->invalid[0])
		return;
	va_start(ap, fmt);
	vsnprintf(f->invalid, sizeof(f->invalid), fmt, ap);
	va_end(ap);
}

char
sim_proc_state(pid_t pid)
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
static char
sim_flt_await_state(pid_t pid, bool (*want)(char), int ms)
{
	char st = sim_proc_state(pid);

	for (int waited = 0; !want(st) && waited < ms; waited += 5) {
		usleep(5000);
		st = sim_proc_state(pid);
	}
	return st;
}

static bool
sim_flt_is_gone(char st)
{
	return st == 0 || st == 'Z' || st == 'X';
}

static bool
sim_flt_is_stopped(char st)
{
	return st == 'T';
}

static bool
sim_flt_is_running(char st)
{
	return st != 0 && st != 'T' && st != 'Z' && st != 'X';
}

void
sim_fault_applied(const struct sim_faults *f, size_t i, double *from, double *to)
{
	*from = f->applied_from[i];
	*to = f->applied_from[i] < 0 ? -1 : f->applied_to[i];
}

int
sim_fault_proxy_api(const struct sim_fault *ft, char *out, size_t outsz)
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

int
sim_top_dir(char *out, size_t outsz, char *err, size_t errsz)
{
	char exe[1024], stack[1100], *dir;
	ssize_t n;

	if (getenv("SHOPLAB_TOP")) {
		snprintf(out, outsz, "%s", getenv("SHOPLAB_TOP"));
		return 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0) {
		snprintf(err, errsz, "cannot find the binary's path: %s", strerror(errno));
		return -1;
	}
	exe[n] = '\0';
	/* <top>/build/bin/sim, or installed: <prefix>/bin/sim beside <prefix>/share/shoplab. */
	dir = dirname(exe);
	snprintf(stack, sizeof(stack), "%s/../../scripts/stack.sh", dir);
	if (access(stack, X_OK) == 0)
		snprintf(out, outsz, "%s/../..", dir);
	else
		snprintf(out, outsz, "%s/../share/shoplab", dir);
	return 0;
}

static bool sim_flt_on_proxy(const struct sim_fault *ft);

int
sim_faults_init(struct sim_faults *f, const struct sim_scenario *sc, char *err, size_t errsz)
{
	memset(f, 0, sizeof(*f));
	f->sc = sc;
	for (size_t i = 0; i < SIM_MAX_FAULTS; i++) {
		f->applied_from[i] = f->applied_to[i] = -1;
		f->dup_base[i] = -1;
	}
	snprintf(f->proxy_api, sizeof(f->proxy_api), "%s", sim_env("SHOPLAB_PROXY_API", "http://127.0.0.1:8474"));
	snprintf(f->internal, sizeof(f->internal), "%s", sim_env("SHOPLAB_GATEWAY_INTERNAL", "http://127.0.0.1:8081"));
	/* Each proxy fault's API (a toxic may name another one, the HA lab's link proxies); one that
	 * cannot be found is not applied: sim_flt_start() makes the run invalid. */
	for (size_t i = 0; i < sc->nfaults; i++)
		if (sim_flt_on_proxy(&sc->faults[i]))
			(void)sim_fault_proxy_api(&sc->faults[i], f->api[i], sizeof(f->api[i]));
	snprintf(f->run_dir, sizeof(f->run_dir), "%s", sim_env_run_dir());
	if (sim_top_dir(f->top, sizeof(f->top), err, errsz) != 0)
		return -1;
	snprintf(f->stack_sh, sizeof(f->stack_sh), "%s/scripts/stack.sh", f->top);
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

bool
sim_service_consumes(const char *top, const char *svc)
{
	char path[1200], line[512];
	bool yes = false;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/fcgi-services/%s/service.conf", top, svc);
	if ((fp = fopen(path, "r")) == NULL)
		return false;
	while (!yes && fgets(line, sizeof(line), fp) != NULL)
		yes = strncmp(line, "consumes=", 9) == 0 && line[9] != '\0' && line[9] != '\n';
	fclose(fp);
	return yes;
}

long long
sim_service_counter(const char *internal, const char *svc, const char *metric)
{
	enum { MAX = 256 * 1024 };
	char url[512], *buf = malloc(MAX);
	size_t mlen = strlen(metric);
	long long sum = -1;

	if (buf == NULL)
		return -1;
	snprintf(url, sizeof(url), "%s/_ops/%s/metrics", internal, svc);
	if (sim_http("GET", url, NULL, NULL, 2000, buf, MAX) != 200)
		goto out;
	for (const char *p = buf; (p = strstr(p, metric)) != NULL; p += mlen) {
		const char *v;

		if ((p != buf && p[-1] != '\n') || (p[mlen] != '{' && p[mlen] != ' '))
			continue;
		v = p[mlen] == '{' ? strchr(p, '}') : p + mlen;
		if (v == NULL)
			break;
		sum = (sum < 0 ? 0 : sum) + strtoll(v + 1, NULL, 10);
	}
out:
	free(buf);
	return sum;
}

pid_t
sim_faults_pid(const char *run_dir, const char *target)
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

/* Starts scripts/stack.sh cmd [arg], or (cmd NULL) `scripts/broker.sh start && scripts/broker.sh wait`;
 * in the HA lab `lab ctl cmd`. */
static pid_t
sim_flt_spawn_stack(const struct sim_faults *f, const char *cmd, const char *arg)
{
	char logp[1200], broker_sh[1100];
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
	setenv("SHOPLAB_PROXY", "1", 1);
	if (cmd == NULL) {
		snprintf(broker_sh, sizeof(broker_sh), "%s/scripts/broker.sh", f->top);
		execl("/bin/sh", "sh", "-c", "\"$0\" start && exec \"$0\" wait", broker_sh, (char *)NULL);
		_exit(127);
	}
	if (f->lab_ctl[0]) {
		/* The HA lab: `ctl up` heals every partition and starts whatever is down. */
		execl(f->lab_ctl, f->lab_ctl, "ctl", cmd, (char *)NULL);
		_exit(127);
	}
	execl(f->stack_sh, f->stack_sh, cmd, arg, (char *)NULL);
	_exit(127);
}

/* Starts `$SHOPLAB_LAB_CTL ctl action host` with its output into fd (or the log); returns the pid. */
static pid_t
sim_flt_spawn_lab(const struct sim_faults *f, const char *action, const char *host, int fd)
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
static int
sim_flt_run_lab(const struct sim_faults *f, const char *action, const char *host, char *out, size_t outsz)
{
	char buf[4096], *nl;
	size_t len = 0;
	ssize_t n;
	int p[2], status;
	pid_t pid;

	out[0] = '\0';
	if (pipe(p) != 0)
		return -1;
	if ((pid = sim_flt_spawn_lab(f, action, host, p[1])) < 0) {
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

int
sim_faults_stack(const struct sim_faults *f, const char *cmd)
{
	pid_t pid = sim_flt_spawn_stack(f, cmd, NULL);
	int status;

	if (pid < 0)
		return -1;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Starts `stack.sh up` (broker_kill: `broker.sh start && broker.sh wait`; a lab host fault:
 * `ctl start HOST`) in the background; its success ends fault i's window. */
static void
sim_flt_restart_async(struct sim_faults *f, double t, int i)
{
	const struct sim_fault *ft = &f->sc->faults[i];
	bool broker = ft->kind == SIM_FAULT_BROKER_KILL, host = ft->kind == SIM_FAULT_HOST_KILL;
	const char *what = broker ? "broker.sh start + wait" : host ? "lab ctl start" : "stack.sh up";
	pid_t pid = -1;

	if (f->nchildren < sizeof(f->children) / sizeof(f->children[0]))
		pid = host ? sim_flt_spawn_lab(f, "start", ft->target, -1) : sim_flt_spawn_stack(f, broker ? NULL : "up", NULL);
	if (pid < 0) {
		sim_flt_note(f, t, "%s: could not start it", what);
		sim_faults_invalid(f, "faults[%d] (%s %s) at %.1f s: %s could not be started", i,
				   ft->target, sim_fault_kind_names[ft->kind], t, what);
		return;
	}
	f->child_fault[f->nchildren] = i;
	f->children[f->nchildren++] = pid;
	sim_flt_note(f, t, "%s started (pid %d)", what, (int)pid);
}

/* Starts `stack.sh deploy <target>` in the background; it ends fault i once the pid changed. */
static void
sim_flt_deploy_async(struct sim_faults *f, double t, int i)
{
	const struct sim_fault *ft = &f->sc->faults[i];
	pid_t pid, old = sim_faults_pid(f->run_dir, ft->target);

	if (old < 0 || sim_proc_state(old) == 0) {
		sim_flt_note(f, t, "%s: not running, nothing to deploy", ft->target);
		sim_faults_invalid(f, "faults[%d] (%s deploy) at %.1f s: not applied: %s is not running", i, ft->target,
				   t, ft->target);
		return;
	}
	if (f->nchildren >= sizeof(f->children) / sizeof(f->children[0]) ||
	    (pid = sim_flt_spawn_stack(f, "deploy", ft->target)) < 0) {
		sim_flt_note(f, t, "stack.sh deploy %s: could not start it", ft->target);
		sim_faults_invalid(f, "faults[%d] (%s deploy) at %.1f s: stack.sh deploy could not be started", i,
				   ft->target, t);
		return;
	}
	f->deployed[i] = old;
	f->applied_from[i] = t;
	f->child_fault[f->nchildren] = i;
	f->children[f->nchildren++] = pid;
	sim_flt_note(f, t, "stack.sh deploy %s started (pid %d; %s was pid %d)", ft->target, (int)pid, ft->target, (int)old);
}

/* A deploy that exited 0 applied only if the target's pid file names a new, running process. */
static bool
sim_flt_deploy_confirmed(struct sim_faults *f, int k, double t)
{
	const struct sim_fault *ft = &f->sc->faults[k];
	pid_t now = sim_faults_pid(f->run_dir, ft->target);
	char st = now > 0 ? sim_proc_state(now) : 0;

	if (now > 0 && now != f->deployed[k] && st != 0 && st != 'Z' && st != 'X') {
		sim_flt_note(f, t, "%s deployed: pid %d -> %d (confirmed: running)", ft->target, (int)f->deployed[k], (int)now);
		return true;
	}
	sim_flt_note(f, t, "%s deploy: stack.sh said ok, but the pid is %d (was %d, state %c)", ft->target, (int)now,
	     (int)f->deployed[k], st ? st : '?');
	sim_faults_invalid(f, "faults[%d] (%s deploy): not confirmed at %.1f s: the pid file names %d (was %d)", k,
			   ft->target, t, (int)now, (int)f->deployed[k]);
	return false;
}

/* Whether something accepts TCP connections on 127.0.0.1:port. */
static bool
sim_flt_port_answers(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool yes;

	if (fd < 0)
		return true;    /* cannot tell: the safe side for "is it dead" */
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	yes = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return yes;
}

static int
sim_flt_amqp_port(void)
{
	return atoi(sim_env("SHOPLAB_AMQP_PORT", "5673"));
}

/* After `broker.sh wait` said yes: the broker's pid file names a live process and its AMQP port
 * takes connections. Returns NULL, or what is wrong. */
static const char *
sim_flt_broker_back(const struct sim_faults *f, char *why, size_t whysz)
{
	pid_t pid = sim_faults_pid(f->run_dir, "rabbitmq");
	char st = pid > 0 ? sim_proc_state(pid) : 0;

	if (pid < 0 || st == 0 || st == 'Z' || st == 'X') {
		snprintf(why, whysz, "no live process in %.200s/rabbitmq.pid", f->run_dir);
		return why;
	}
	if (!sim_flt_port_answers(sim_flt_amqp_port())) {
		snprintf(why, whysz, "nothing answers on the AMQP port 127.0.0.1:%d", sim_flt_amqp_port());
		return why;
	}
	return NULL;
}

static void
sim_flt_reap(struct sim_faults *f, double t)
{
	for (size_t i = 0; i < f->nchildren;) {
		int status;
		pid_t r = waitpid(f->children[i], &status, WNOHANG);

		if (r == f->children[i]) {
			bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
			int k = f->child_fault[i];
			int kind = f->sc->faults[k].kind;
			bool dep = kind == SIM_FAULT_DEPLOY, broker = kind == SIM_FAULT_BROKER_KILL;
			const char *what = kind == SIM_FAULT_HOST_KILL ? "lab ctl start" : dep ? "stack.sh deploy" :
					   broker ? "broker.sh start + wait" : "stack.sh up";
			char why[256];

			sim_flt_note(f, t, "%s finished: %s", what, ok ? "ok" : "FAILED");
			if (ok && broker && sim_flt_broker_back(f, why, sizeof(why)) != NULL) {
				sim_flt_note(f, t, "rabbitmq is not back: %s", why);
				sim_faults_invalid(f, "faults[%d] (broker_kill) at %.1f s: broker.sh wait succeeded but %s", k, t, why);
			} else if (ok && broker) {
				sim_flt_note(f, t, "rabbitmq (pid %d): back (confirmed: running, AMQP port %d answers)",
				     (int)sim_faults_pid(f->run_dir, "rabbitmq"), sim_flt_amqp_port());
				f->applied_to[k] = t;
			} else if (!ok)
				sim_faults_invalid(f, "faults[%d] (%s %s): %s failed at %.1f s%s "
						   "(see %s/logs/sim-%s.log)", k, f->sc->faults[k].target,
						   sim_fault_kind_names[kind], what, t,
						   dep ? "" : ": it did not come back", f->run_dir,
						   kind == SIM_FAULT_HOST_KILL ? "lab" : "stack");
			else if (dep && !sim_flt_deploy_confirmed(f, k, t))
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

#define TREE_MAX 256

/* ppid of pid from /proc/<pid>/stat, or -1. */
static pid_t
sim_flt_proc_ppid(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *fp;
	size_t n;
	int ppid;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL || sscanf(p + 1, " %*c %d", &ppid) != 1)
		return -1;
	return (pid_t)ppid;
}

/* pid and every process descended from it, from /proc (pid first): nginx's master with its
 * workers and cache processes, RabbitMQ's node with its port programs. Killing only the
 * master of nginx leaves its workers serving (and holding the ports the restart needs). */
static size_t
sim_flt_proc_tree(pid_t pid, pid_t *out, size_t max)
{
	pid_t *all = NULL, *par = NULL;
	size_t nall = 0, cap = 0, n = 0;
	struct dirent *de;
	DIR *d;

	if (max == 0)
		return 0;
	out[n++] = pid;
	if ((d = opendir("/proc")) == NULL)
		return n;
	while ((de = readdir(d)) != NULL) {
		char *end;
		long v = strtol(de->d_name, &end, 10);
		pid_t pp;

		if (*end != '\0' || v <= 1 || (pid_t)v == pid || (pp = sim_flt_proc_ppid((pid_t)v)) <= 0)
			continue;
		if (nall == cap) {
			size_t nc = cap ? cap * 2 : 1024;
			pid_t *a = realloc(all, nc * sizeof(*a)), *b;

			if (a == NULL)
				break;
			all = a;
			if ((b = realloc(par, nc * sizeof(*b))) == NULL)
				break;
			par = b;
			cap = nc;
		}
		all[nall] = (pid_t)v;
		par[nall++] = pp;
	}
	closedir(d);
	/* breadth first: out[k]'s children are appended after it */
	for (size_t k = 0; k < n; k++)
		for (size_t j = 0; j < nall && n < max; j++)
			if (par[j] == out[k]) {
				out[n++] = all[j];
				par[j] = -1;
			}
	free(all);
	free(par);
	return n;
}

/* Sends sig to target and every process under it (sim_flt_proc_tree) and waits until /proc shows it
 * took effect on each; returns the target's pid or -1. A kill or stop freezes the target first,
 * so that nginx's master cannot start a new worker for one being killed; a continue wakes the
 * workers before the master. */
static pid_t
sim_flt_signal_target(struct sim_faults *f, size_t i, double t, int sig)
{
	const struct sim_fault *ft = &f->sc->faults[i];
	pid_t pid = sim_faults_pid(f->run_dir, ft->target), tree[TREE_MAX];
	bool (*want)(char) = sig == SIGKILL ? sim_flt_is_gone : sig == SIGSTOP ? sim_flt_is_stopped : sim_flt_is_running;
	size_t n, k;
	char st;

	if (pid < 0 || ((sig == SIGKILL || sig == SIGSTOP) && kill(pid, SIGSTOP) != 0) ||
	    (sig == SIGCONT && kill(pid, 0) != 0)) {
		sim_flt_note(f, t, "%s: cannot signal (%s)", ft->target, pid < 0 ? "no pid file" : strerror(errno));
		sim_faults_invalid(f, "faults[%zu] (%s %s) at %.1f s: not applied: %s %s", i, ft->target,
				   sim_fault_kind_names[ft->kind], t, pid < 0 ? "no pid file for" : "cannot signal", ft->target);
		return -1;
	}
	n = sim_flt_proc_tree(pid, tree, TREE_MAX);
	for (k = n; k-- > 1;)
		(void)kill(tree[k], sig);       /* one may have exited meanwhile: checked below */
	if (kill(pid, sig) != 0) {
		sim_flt_note(f, t, "%s: cannot signal (%s)", ft->target, strerror(errno));
		sim_faults_invalid(f, "faults[%zu] (%s %s) at %.1f s: not applied: cannot signal %s", i, ft->target,
				   sim_fault_kind_names[ft->kind], t, ft->target);
		return -1;
	}
	for (k = 0; k < n; k++) {
		if (want(st = sim_flt_await_state(tree[k], want, 2000)) || (sig != SIGKILL && k > 0 && sim_flt_is_gone(st)))
			continue;
		sim_flt_note(f, t, "%s (pid %d%s): %s sent, but pid %d is still in state %c", ft->target, (int)pid,
		     k > 0 ? ", a process under it" : "", strsignal(sig), (int)tree[k], st ? st : '?');
		sim_faults_invalid(f, "faults[%zu] (%s %s) at %.1f s: not confirmed: after %s pid %d%s is in state %c",
				   i, ft->target, sim_fault_kind_names[ft->kind], t, strsignal(sig), (int)tree[k],
				   k > 0 ? " (under the target)" : "", st ? st : '?');
		return -1;
	}
	if (n == 1)
		sim_flt_note(f, t, "%s (pid %d): %s (confirmed: %s)", ft->target, (int)pid, strsignal(sig),
		     sig == SIGKILL ? "gone" : sig == SIGSTOP ? "state T" : "running");
	else
		sim_flt_note(f, t, "%s (pid %d and %zu process%s under it): %s (confirmed: %s)", ft->target, (int)pid, n - 1,
		     n == 2 ? "" : "es", strsignal(sig), sig == SIGKILL ? "all gone" : sig == SIGSTOP ? "all in state T" :
		     "all running");
	return pid;
}

/* The proxy a toxic-like fault acts on: a toxic's own, or the service's <svc>-broker. */
static const char *
sim_flt_proxy_of(const struct sim_fault *ft)
{
	return ft->kind == SIM_FAULT_TOXIC ? ft->target : ft->proxy;
}

/* Whether the proxy lists the toxic (want) or not (!want). */
static bool
sim_flt_toxic_listed(const struct sim_faults *f, size_t i, bool want, long *st)
{
	const struct sim_fault *ft = &f->sc->faults[i];
	char url[512], out[2048], type[96];

	snprintf(url, sizeof(url), "%s/proxies/%s/toxics/%s", f->api[i], sim_flt_proxy_of(ft), ft->name);
	*st = sim_http("GET", url, NULL, NULL, 3000, out, sizeof(out));
	snprintf(type, sizeof(type), "\"type\":\"%s\"", ft->type);
	return want ? *st == 200 && strstr(out, type) != NULL : *st == 404;
}

/* A lab host fault's start (kill, partition) or end (heal), confirmed by the lab's script. */
static void
sim_flt_lab_fault(struct sim_faults *f, size_t i, double t, const char *action, bool starting)
{
	const struct sim_fault *ft = &f->sc->faults[i];
	char out[512];
	int rc;

	if (!f->lab_ctl[0]) {
		sim_flt_note(f, t, "%s %s: no HA lab (SHOPLAB_LAB_CTL)", action, ft->target);
		sim_faults_invalid(f, "faults[%zu] (%s %s) at %.1f s: not applied: the stack is not the HA lab (no SHOPLAB_LAB_CTL)",
				   i, ft->target, sim_fault_kind_names[ft->kind], t);
		return;
	}
	rc = sim_flt_run_lab(f, action, ft->target, out, sizeof(out));
	if (rc != 0) {
		sim_flt_note(f, t, "%s %s: FAILED (exit %d): %s", action, ft->target, rc, out);
		sim_faults_invalid(f, "faults[%zu] (%s %s) at %.1f s: %s not confirmed (lab ctl exit %d): %.200s", i,
				   ft->target, sim_fault_kind_names[ft->kind], t, action, rc, out);
		return;
	}
	sim_flt_note(f, t, "%s %s (confirmed: %s)", action, ft->target, out);
	if (starting)
		f->applied_from[i] = t;
	else
		f->applied_to[i] = t;
}

/* Enables or disables fault i's <svc>-broker proxy and confirms it from GET /proxies/<name>. */
static bool
sim_flt_proxy_enable(struct sim_faults *f, size_t i, double t, bool on)
{
	const struct sim_fault *ft = &f->sc->faults[i];
	char url[512], out[4096];
	json_object *o = NULL, *en;
	bool ok = false;
	long st;

	snprintf(url, sizeof(url), "%s/proxies/%s", f->proxy_api, ft->proxy);
	st = sim_http("POST", url, on ? "{\"enabled\":true}" : "{\"enabled\":false}", NULL, 3000, out, sizeof(out));
	if (st == 200 && sim_http("GET", url, NULL, NULL, 3000, out, sizeof(out)) == 200 &&
	    (o = json_tokener_parse(out)) != NULL && json_object_object_get_ex(o, "enabled", &en) &&
	    json_object_is_type(en, json_type_boolean) && json_object_get_boolean(en) == on)
		ok = true;
	json_object_put(o);
	if (ok) {
		sim_flt_note(f, t, "proxy %s %s (confirmed: enabled=%s)", ft->proxy, on ? "enabled: linked to the broker again" :
		     "disabled: cut from the broker", on ? "true" : "false");
		return true;
	}
	sim_flt_note(f, t, "proxy %s: %s not confirmed: POST %s answered %ld %.160s", ft->proxy, on ? "enable" : "disable", url, st, out);
	sim_faults_invalid(f, "faults[%zu] (broker_partition %s) at %.1f s: %s: POST %s answered %ld, or the proxy "
			   "does not show enabled=%s", i, ft->target, t, on ? "the link was not confirmed back" :
			   "not applied", url, st, on ? "true" : "false");
	return false;
}

/* After the broker's pid is gone: its AMQP port must refuse connections too (a pid file that
 * named a wrapper would leave the node running). Waits up to 5 s. */
static bool
sim_flt_broker_dead(struct sim_faults *f, size_t i, double t)
{
	for (int waited = 0; waited < 5000; waited += 50) {
		if (!sim_flt_port_answers(sim_flt_amqp_port())) {
			sim_flt_note(f, t, "rabbitmq: AMQP port %d refuses connections (confirmed: dead)", sim_flt_amqp_port());
			return true;
		}
		usleep(50000);
	}
	sim_flt_note(f, t, "rabbitmq: its pid is gone but 127.0.0.1:%d still takes connections", sim_flt_amqp_port());
	sim_faults_invalid(f, "faults[%zu] (broker_kill) at %.1f s: not confirmed: after kill -9 of the pid in %s/rabbitmq.pid "
			   "the AMQP port 127.0.0.1:%d still takes connections 5 s later", i, t, f->run_dir, sim_flt_amqp_port());
	return false;
}

static void
sim_flt_start(struct sim_faults *f, size_t i, double t)
{
	const struct sim_fault *ft = &f->sc->faults[i];
	char url[512], body[2048], out[512];
	long st, seen = 0;

	switch (ft->kind) {
	case SIM_FAULT_DUPLICATE_DELIVERY:
		/* The counter it must raise, read before the acks start to vanish. */
		if ((f->dup_base[i] = sim_service_counter(f->internal, ft->target, "shoplab_events_duplicates_total")) < 0) {
			sim_flt_note(f, t, "%s: cannot read shoplab_events_duplicates_total from %s/_ops/%s/metrics", ft->target,
			     f->internal, ft->target);
			sim_faults_invalid(f, "faults[%zu] (duplicate_delivery %s) at %.1f s: not applied: its duplicates counter "
					   "(shoplab_events_duplicates_total at %s/_ops/%s/metrics) cannot be read, so duplicates "
					   "could not be confirmed", i, ft->target, t, f->internal, ft->target);
			break;
		}
		/* fall through */
	case SIM_FAULT_TOXIC:
		if (f->api[i][0] == '\0') {
			sim_flt_note(f, t, "toxic %s on %s: no proxy API for \"%s\"", ft->type, sim_flt_proxy_of(ft), ft->proxy_api);
			sim_faults_invalid(f, "faults[%zu] (toxic %s on %s) at %.1f s: not applied: proxy_api \"%s\" names no proxy "
					   "API (SHOPLAB_PROXY_API_<NAME> is not set: is the HA lab up with LAB_PROXY=1?)",
					   i, ft->type, ft->target, t, ft->proxy_api);
			break;
		}
		snprintf(url, sizeof(url), "%s/proxies/%s/toxics", f->api[i], sim_flt_proxy_of(ft));
		snprintf(body, sizeof(body), "{\"name\":\"%s\",\"type\":\"%s\",\"stream\":\"%s\",\"toxicity\":%g,\"attributes\":%s}",
			 ft->name, ft->type, ft->stream, ft->toxicity, ft->attributes);
		st = sim_http("POST", url, body, NULL, 3000, out, sizeof(out));
		if (st == 200 && sim_flt_toxic_listed(f, i, true, &seen)) {
			f->applied_from[i] = t;
			sim_flt_note(f, t, "toxic %s %s %s on %s%s%s: %ld (confirmed: listed)%s", ft->type, ft->stream, ft->attributes,
			     sim_flt_proxy_of(ft), ft->proxy_api[0] ? " at " : "", ft->proxy_api, st,
			     ft->kind == SIM_FAULT_DUPLICATE_DELIVERY ? "; its acks are dropped" : "");
			break;
		}
		sim_flt_note(f, t, "toxic %s %s on %s: %ld %s", ft->type, ft->attributes, sim_flt_proxy_of(ft), st,
		     st == 200 ? "but the proxy does not list it" : out);
		sim_faults_invalid(f, "faults[%zu] (%s %s on %s) at %.1f s: not applied: POST %s answered %ld%s%.160s%s", i,
				   sim_fault_kind_names[ft->kind], ft->type, sim_flt_proxy_of(ft), t, url, st, st < 0 ? " (" : " ",
				   st == 200 ? "but it is not listed" : out, st < 0 ? ")" : "");
		break;
	case SIM_FAULT_BROKER_PARTITION:
		if (sim_flt_proxy_enable(f, i, t, false))
			f->applied_from[i] = t;
		break;
	case SIM_FAULT_BROKER_KILL:
		if (sim_flt_signal_target(f, i, t, SIGKILL) > 0 && sim_flt_broker_dead(f, i, t))
			f->applied_from[i] = t;
		break;
	case SIM_FAULT_KILL:
		if (sim_flt_signal_target(f, i, t, SIGKILL) > 0)
			f->applied_from[i] = t;
		break;
	case SIM_FAULT_STOP:
	case SIM_FAULT_CONSUMER_STOP:
		if ((f->stopped[i] = sim_flt_signal_target(f, i, t, SIGSTOP)) > 0)
			f->applied_from[i] = t;
		else
			f->stopped[i] = 0;
		break;
	case SIM_FAULT_RESTART:
		if (sim_flt_signal_target(f, i, t, SIGKILL) > 0) {
			f->applied_from[i] = t;
			usleep(200000);         /* let the port and the pid go before starting again */
			sim_flt_restart_async(f, t, (int)i);
		}
		break;
	case SIM_FAULT_DEPLOY:
		sim_flt_deploy_async(f, t, (int)i);
		break;
	case SIM_FAULT_HOST_KILL:
	case SIM_FAULT_PARTITION:
		sim_flt_lab_fault(f, i, t, ft->kind == SIM_FAULT_HOST_KILL ? "kill" : "partition", true);
		break;
	}
}

static void
sim_flt_end(struct sim_faults *f, size_t i, double t)
{
	const struct sim_fault *ft = &f->sc->faults[i];
	char url[512], out[512];
	long st, seen = 0;

	if (f->applied_from[i] < 0)
		return;         /* never applied: nothing to undo, the run is invalid already */
	switch (ft->kind) {
	case SIM_FAULT_TOXIC:
	case SIM_FAULT_DUPLICATE_DELIVERY:
		snprintf(url, sizeof(url), "%s/proxies/%s/toxics/%s", f->api[i], sim_flt_proxy_of(ft), ft->name);
		st = sim_http("DELETE", url, NULL, NULL, 3000, out, sizeof(out));
		if (st == 204 && sim_flt_toxic_listed(f, i, false, &seen)) {
			f->applied_to[i] = t;
			sim_flt_note(f, t, "toxic %s on %s removed: %ld (confirmed: gone)", ft->type, sim_flt_proxy_of(ft), st);
			break;
		}
		sim_flt_note(f, t, "toxic %s on %s removed: %ld %s", ft->type, sim_flt_proxy_of(ft), st, out);
		sim_faults_invalid(f, "faults[%zu] (%s %s on %s) at %.1f s: its removal was not confirmed: DELETE answered %ld %.160s",
				   i, sim_fault_kind_names[ft->kind], ft->type, sim_flt_proxy_of(ft), t, st, out);
		break;
	case SIM_FAULT_BROKER_PARTITION:
		if (sim_flt_proxy_enable(f, i, t, true))
			f->applied_to[i] = t;
		break;
	case SIM_FAULT_BROKER_KILL:
		sim_flt_restart_async(f, t, (int)i);
		break;
	case SIM_FAULT_STOP:
	case SIM_FAULT_CONSUMER_STOP:
		if (f->stopped[i] > 0 && sim_flt_signal_target(f, i, t, SIGCONT) > 0)
			f->applied_to[i] = t;
		f->stopped[i] = 0;
		break;
	case SIM_FAULT_KILL:
	case SIM_FAULT_HOST_KILL:
		sim_flt_restart_async(f, t, (int)i);
		break;
	case SIM_FAULT_PARTITION:
		sim_flt_lab_fault(f, i, t, "heal", false);
		break;
	case SIM_FAULT_RESTART:
	case SIM_FAULT_DEPLOY:
		break;
	}
}

void
sim_faults_tick(struct sim_faults *f, double t)
{
	if (f->t0 == 0)
		f->t0 = sim_clock_mono_s() - t;
	sim_flt_reap(f, t);
	for (size_t i = 0; i < f->sc->nfaults; i++) {
		const struct sim_fault *ft = &f->sc->faults[i];

		if (!f->started[i] && t >= ft->at_s) {
			f->started[i] = true;
			sim_flt_start(f, i, t);
		}
		if (f->started[i] && !f->ended[i] && ft->until_s >= 0 && t >= ft->until_s) {
			f->ended[i] = true;
			sim_flt_end(f, i, t);
		}
	}
}

double
sim_faults_next(const struct sim_faults *f)
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

void
sim_faults_describe(const struct sim_faults *f, char *buf, size_t bufsz)
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

/* Faults the proxy's /reset undoes. */
static bool
sim_flt_on_proxy(const struct sim_fault *ft)
{
	return ft->kind == SIM_FAULT_TOXIC || ft->kind == SIM_FAULT_BROKER_PARTITION ||
	       ft->kind == SIM_FAULT_DUPLICATE_DELIVERY;
}

void
sim_faults_confirm_late(struct sim_faults *f, double wait_s)
{
	double t0 = sim_clock_mono_s(), t = f->t0 > 0 ? t0 - f->t0 : f->sc->duration_s;

	for (size_t i = 0; i < f->sc->nfaults; i++) {
		const struct sim_fault *ft = &f->sc->faults[i];
		long long now = -1;

		if (ft->kind != SIM_FAULT_DUPLICATE_DELIVERY || f->applied_from[i] < 0 || f->dup_seen[i])
			continue;
		for (;;) {
			now = sim_service_counter(f->internal, ft->target, "shoplab_events_duplicates_total");
			/* Below the base: the service restarted (its counters start at 0). */
			if (now > f->dup_base[i] || (now > 0 && now < f->dup_base[i])) {
				f->dup_seen[i] = true;
				break;
			}
			if (sim_clock_mono_s() - t0 >= wait_s)
				break;
			usleep(250000);
		}
		t = f->t0 > 0 ? sim_clock_mono_s() - f->t0 : f->sc->duration_s;
		if (f->dup_seen[i]) {
			sim_flt_note(f, t, "%s: shoplab_events_duplicates_total %lld -> %lld (confirmed: duplicates delivered and dropped)",
			     ft->target, f->dup_base[i], now);
			continue;
		}
		sim_flt_note(f, t, "%s: shoplab_events_duplicates_total stayed at %lld: no duplicate was delivered", ft->target, now);
		sim_faults_invalid(f, "faults[%zu] (duplicate_delivery %s): not confirmed: its shoplab_events_duplicates_total "
				   "was %lld when the fault began and %lld after the drain: no message was redelivered to it "
				   "(did any arrive during the window?)", i, ft->target, f->dup_base[i], now);
	}
}

/* Whether fault i is a toxic applied on api and not removed yet. */
static bool
sim_flt_open_toxic_on(const struct sim_faults *f, size_t i, const char *api)
{
	return sim_flt_on_proxy(&f->sc->faults[i]) && f->applied_from[i] >= 0 && f->applied_to[i] < 0 &&
	       strcmp(f->api[i], api) == 0;
}

/*
 * POST /reset to the stack's proxy API and to every other one a toxic used (the HA lab's link
 * proxies), once each. A toxic still open on an API that did not answer 204 makes the run
 * invalid. Returns the stack's API's status.
 */
static long
sim_flt_reset_proxies(struct sim_faults *f, double t)
{
	char url[512], out[256];
	long st, first = -1;
	bool seen, open;

	for (size_t k = 0; k <= f->sc->nfaults; k++) {
		const char *api = k == 0 ? f->proxy_api : f->api[k - 1];

		if (k > 0 && (!sim_flt_on_proxy(&f->sc->faults[k - 1]) || api[0] == '\0'))
			continue;
		seen = k > 0 && strcmp(api, f->proxy_api) == 0;
		for (size_t j = 0; j + 1 < k && !seen; j++)
			seen = sim_flt_on_proxy(&f->sc->faults[j]) && strcmp(f->api[j], api) == 0;
		if (seen)
			continue;
		open = false;
		for (size_t i = 0; i < f->sc->nfaults; i++)
			open |= sim_flt_open_toxic_on(f, i, api);
		snprintf(url, sizeof(url), "%s/reset", api);
		st = sim_http("POST", url, NULL, NULL, 3000, out, sizeof(out));
		if (k == 0)
			first = st;
		if (st == 204) {
			for (size_t i = 0; i < f->sc->nfaults; i++)
				if (sim_flt_open_toxic_on(f, i, api))
					f->applied_to[i] = t;
		} else if (open) {
			sim_faults_invalid(f, "at %.1f s the proxy's toxics could not be reset: POST %s answered %ld %.120s",
					   t, url, st, out);
		}
		if (k > 0)
			sim_flt_note(f, t, "proxy %s reset: %ld", api, st);
	}
	return first;
}

int
sim_faults_finish(struct sim_faults *f)
{
	double t = f->t0 > 0 ? sim_clock_mono_s() - f->t0 : f->sc->duration_s;
	long st;
	int rc;

	/* No fault was scheduled, so nothing is to be put back: no proxy reset, no stack.sh up
	 * (which would also hide a process that died on its own, and has no business on a host
	 * whose services systemd runs). */
	if (f->sc->nfaults == 0 && f->nchildren == 0) {
		sim_flt_note(f, t, "end of faults: none was scheduled, nothing to restore");
		return 0;
	}
	for (size_t i = 0; i < f->sc->nfaults; i++)
		if (f->stopped[i] > 0) {
			if (sim_flt_signal_target(f, i, t, SIGCONT) > 0)
				f->applied_to[i] = t;
			f->stopped[i] = 0;
		}
	st = sim_flt_reset_proxies(f, t);
	while (f->nchildren > 0) {
		sim_flt_reap(f, sim_clock_mono_s() - f->t0);
		if (f->nchildren)
			usleep(100000);
	}
	rc = sim_faults_stack(f, "up");
	t = f->t0 > 0 ? sim_clock_mono_s() - f->t0 : f->sc->duration_s;
	sim_flt_note(f, t, "end of faults: toxics reset (%ld), %s: %s", st, f->lab_ctl[0] ? "lab ctl up" : "stack.sh up",
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

bool
sim_fault_touches_reads(const struct sim_fault *ft)
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

void
sim_fault_window(const struct sim_scenario *sc, size_t i, double *from, double *to)
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
