# stack-deploy.sh - stack.sh deploy SVC: migrations, then each instance hands its socket to the new binary (sourced by scripts/stack.sh, not run).
# shellcheck shell=bash

# ---------------------------------------------------------------- deploy
# deploy SVC: its pending migrations, then each instance in turn hands its listening socket to
# a process of the binary now in $BUILD/bin (SIGUSR2, svc_handover.c): the new one starts on
# the same socket, and once ready takes the pid file and stops the old one, which stops
# accepting, finishes what is in flight and serves the gateway's kept connections until
# nginx retires them (keepalive_time, nginx/upstream.conf.in: no reload, so no client's kept
# connection is closed either). Nothing is refused: the socket never closes. A new
# process that does not become ready is stopped and the old one serves on (exit 1).
: "${DEPLOY_TIMEOUT:=30}"
deploy_child() { pgrep -P "$1" 2>/dev/null | head -n 1; }
# takes_usr2 PID: the process catches SIGUSR2, or one of its threads blocks it (bit 11 of the
# masks in /proc; a thread in sigwait shows the signals it waits for as unblocked).
takes_usr2() {
	local m
	for m in $(cat "/proc/$1/task"/*/status 2>/dev/null | awk '/^Sig(Blk|Cgt):/ { print $2 }'); do
		[ $(( 0x$m & 0x800 )) -ne 0 ] && return 0
	done
	return 1
}
deploy_instance() {
	local s=$1 k=$2 name pf own old new="" i code t0 exe
	name=$(inst_name "$s" "$k")
	pf=$RUN/$name.pid
	# The pid file the new process writes: the run dir's, or (as root) its own under
	# STACK_DIR, carried to the run dir's once it names a process of the stack user.
	own=$(svc_pid_file "$name")
	alive "$pf" || { log "deploy $name: not running (no live $pf): 'make up' starts it"; return 1; }
	old=$(cat "$pf")
	# SIGUSR2 would end a process built before deploys existed: it must block or catch it.
	if ! takes_usr2 "$old"; then
		log "deploy $name: pid $old does not take a handover (SIGUSR2; a build from before deploys?): nothing was changed; restart it once ('make down' and 'make up')"
		return 1
	fi
	t0=$(date +%s%N)
	kill -USR2 "$old" || { log "deploy $name: cannot signal pid $old"; return 1; }
	DEPLOY_OLD=$old
	# Ready: the new process wrote its pid into the pid file (svc_handover_ready).
	for i in $(seq 1 $((DEPLOY_TIMEOUT * 20))); do
		new=$(cat "$own" 2>/dev/null || true)
		case $new in *[!0-9]* | "") new="" ;; esac
		if [ -n "$new" ] && [ "$new" != "$old" ] && kill -0 "$new" 2>/dev/null &&
			[ "$(stat -c %U "/proc/$new" 2>/dev/null)" = "$(stack_user)" ]; then
			[ "$own" = "$pf" ] || echo "$new" > "$pf"
			break
		fi
		new=""
		# A successor that died is reaped by the old process, which logs why and serves on.
		# (If the old one died instead, its successor, orphaned, may still become ready.)
		if [ "$i" -gt 20 ] && kill -0 "$old" 2>/dev/null && [ -z "$(deploy_child "$old")" ]; then
			sleep 0.5
			if pid_alive "$old"; then
				log "deploy $name: the new process exited before it was ready; the old one (pid $old) still serves. Its log:"
			else
				log "deploy $name: the new process exited before it was ready, and the old one (pid $old) stopped too (make down?): $name is DOWN. Its log:"
			fi
			tail -n 5 "$RUN/logs/$name.log" >&2 || true
			return 1
		fi
		sleep 0.05
	done
	if [ -z "$new" ]; then
		if kill -0 "$old" 2>/dev/null; then
			i=$(deploy_child "$old")
			[ -z "$i" ] || kill -TERM "$i" 2>/dev/null || true
			log "deploy $name: the new process was not ready in ${DEPLOY_TIMEOUT} s: stopped it; the old one (pid $old) still serves"
		else
			log "deploy $name: the old process (pid $old) died during the deploy and no new one became ready in ${DEPLOY_TIMEOUT} s: $name is DOWN ('make up' starts it; see $RUN/logs/$name.log)"
		fi
		return 1
	fi
	DEPLOY_OLD=""
	# The gateway's connections to the old process: nginx retires each within its upstream's
	# keepalive_time (3 s) after a request, or keepalive_timeout idle; the old process serves
	# them until then and leaves when the last is closed.
	for i in $(seq 1 $((DEPLOY_TIMEOUT * 20))); do
		kill -0 "$old" 2>/dev/null || break
		# A zombie (its parent is gone, init reaps it later) has stopped.
		[ "$(sed -n 's/^[0-9]* (.*) \([A-Z]\).*/\1/p' "/proc/$old/stat" 2>/dev/null)" = Z ] && break
		sleep 0.05
	done
	if kill -0 "$old" 2>/dev/null && [ "$(sed -n 's/^[0-9]* (.*) \([A-Z]\).*/\1/p' "/proc/$old/stat" 2>/dev/null)" != Z ]; then
		log "deploy $name: the old process (pid $old) did not stop in ${DEPLOY_TIMEOUT} s; killing it"
		kill -KILL "$old" 2>/dev/null || true
	fi
	alive "$pf" || { log "deploy $name: the new process (pid $new) died after it took over (see $RUN/logs/$name.log)"; return 1; }
	exe=$(readlink "/proc/$new/exe" 2>/dev/null || echo '?')
	log "deploy $name: pid $old -> $new ($exe, $("$BUILD/bin/$s" --version 2>/dev/null | awk '{ print $NF }')) in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
	return 0
}

cmd_deploy() {
	local s=${1:-} k code i
	[ -n "$s" ] || die "usage: make deploy SVC=<service>   (one of: $(services))"
	case " $(services) " in *" $s "*) ;; *) die "deploy: no such service (or not built): '$s'; one of: $(services)" ;; esac
	load_env
	stack_running || die "deploy: the stack in $RUN is not running: 'make up' first"
	"$BUILD/bin/$s" --version > /dev/null || die "deploy: $BUILD/bin/$s does not run"
	# As root the stack user runs copies: the new binary replaces the copy (a rename; the
	# running process keeps its file and starts the new one at the handover).
	bins_sync
	# Schema first (expand): the running binary must keep working with it (docs/deploy.md).
	if part db; then
		db_migrate "$s" || die "deploy $s: a migration failed; nothing was deployed, the running $s keeps serving"
	fi
	DEPLOY_OLD=""
	# Ctrl-C while a new process starts: stop it, the old one serves on.
	trap 'if [ -n "$DEPLOY_OLD" ]; then c=$(deploy_child "$DEPLOY_OLD"); [ -z "$c" ] || kill -TERM "$c" 2>/dev/null; log "deploy interrupted: stopped the new process ${c:-}; the old one (pid $DEPLOY_OLD) still serves"; else log "deploy interrupted between instances: see the pid lines above for what was replaced"; fi; exit 130' INT TERM
	for k in $(seq 1 "$(instances "$s")"); do
		if ! deploy_instance "$s" "$k"; then
			[ "$k" -gt 1 ] || die "deploy $s: failed; no instance was replaced"
			die "deploy $s: stopped at instance $k; instances 1..$((k - 1)) run the new binary, the others the old one"
		fi
	done
	trap - INT TERM
	for i in $(seq 1 100); do
		code=$("${gw_ns[@]}" curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
			"http://127.0.0.1:$INTERNAL_PORT/_ops/$s/readyz" || true)
		[ "$code" = 200 ] && break
		sleep 0.1
	done
	[ "$code" = 200 ] || die "deploy $s: /_ops/$s/readyz answers $code after the deploy"
	log "deployed $s: every instance runs $("$BUILD/bin/$s" --version | awk '{ print $NF }'), /_ops/$s/readyz 200"
}
