# proc.sh - processes by pid file (alive, pid_alive, stop_pid) and the system users they run as, for stack.sh and lab-ha.sh (sourced, not run).
# shellcheck shell=bash
#
# The caller defines log and die; stop_pid reads RUN, SR and STACK_USER (stack.sh's settings).

# A process is alive when its pid answers and it is not a zombie waiting to be reaped
# (a kill -9'd service stays one until init collects it).
alive() {
	local pid state
	[ -f "$1" ] || return 1
	pid=$(cat "$1" 2>/dev/null) || return 1
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	state=$(sed -n 's/^[0-9]* (.*) \([A-Z]\).*/\1/p' "/proc/$pid/stat" 2>/dev/null)
	[ "$state" != Z ]
}

pid_alive() {
	kill -0 "$1" 2>/dev/null && [ "$(sed -n 's/^[0-9]* (.*) \([A-Z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

stop_pid() {
	local f=$1 pid i n
	for n in 1 2 3; do
		stop_pid_once "$f"
		# A deploy under way: the new process may have written the pid file meanwhile.
		[ -f "$f" ] || return 0
	done
	rm -f "$f"
}
stop_pid_once() {
	local f=$1 pid i
	if [ -L "$f" ] && [ ! -e "$f" ]; then rm -f "$f"; return 0; fi
	[ -f "$f" ] || return 0
	pid=$(cat "$f" 2>/dev/null || true)
	case $pid in *[!0-9]*) pid="" ;; esac
	# As root, a pid file the stack user writes (a link into STACK_DIR: MariaDB's) must name
	# one of that user's processes: anything else is not signalled.
	if [ -n "$pid" ] && [ "$SR" != "$RUN" ] && [ -L "$f" ] && pid_alive "$pid" &&
		[ "$(stat -c %U "/proc/$pid" 2>/dev/null)" != "$STACK_USER" ]; then
		log "$f names pid $pid, not a process of $STACK_USER: not signalled"
		rm -f "$f"
		return 0
	fi
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		# Gone, or a zombie waiting for init to reap it (which can take seconds): stopped.
		for i in $(seq 1 200); do pid_alive "$pid" || break; sleep 0.05; done
		if pid_alive "$pid"; then
			log "$(basename "$f" .pid) did not stop in 10 s: killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	# Removed only if it still names the process just stopped (or is a link to a pid file
	# its process removed: MariaDB's, as root).
	[ "$(cat "$f" 2>/dev/null || true)" != "$pid" ] || rm -f "$f"
	[ -n "$pid" ] || rm -f "$f"
	if [ -L "$f" ] && [ ! -e "$f" ]; then rm -f "$f"; fi
}

# system_user_ensure NAME VAR FOR COMMENT: the system user NAME (the setting VAR), created on
# first use for FOR. Two scripts may race to create it: the loser finds it there.
system_user_ensure() {
	getent passwd "$1" > /dev/null && return 0
	useradd --system --user-group --home-dir /nonexistent --no-create-home \
		--shell /usr/sbin/nologin --comment "$4" "$1" 2> /dev/null ||
		getent passwd "$1" > /dev/null || die "cannot create the system user $1 ($2) for $3"
	log "created system user $1 for $3"
}
