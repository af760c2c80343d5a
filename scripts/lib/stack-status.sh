# stack-status.sh - readiness of the services, the ports up needs (free, or held by this stack) and stack.sh status (sourced by scripts/stack.sh, not run).
# shellcheck shell=bash

# ---------------------------------------------------------------- readiness
wait_ready() {
	local s i code k
	for s in $(services); do
		# Extra instances: listening (the upstream's readyz below reaches one of them).
		for k in $(seq 2 "$(instances "$s")"); do
			for i in $(seq 1 150); do
				if [ "$SERVICE_TRANSPORT" = unix ]; then
					[ -S "$SR/sock/$s-$k.sock" ] && break
				else
					"${gw_ns[@]}" timeout 1 bash -c "exec 3<>/dev/tcp/$SERVICE_ADDR/$(inst_port "$s" "$k")" 2>/dev/null && break
				fi
				alive "$RUN/$s-$k.pid" || die "$s-$k exited (see $RUN/logs/$s-$k.log)"
				sleep 0.1
			done
		done
		for i in $(seq 1 150); do
			code=$("${gw_ns[@]}" curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
				"http://127.0.0.1:$INTERNAL_PORT/_ops/$s/readyz" || true)
			[ "$code" = 200 ] && break
			# (The services may run on other hosts: their pids are not this host's to check.)
			if part services && ! alive "$RUN/$s.pid"; then
				tail -5 "$RUN/logs/$s.log" >&2 || true
				die "$s exited (see $RUN/logs/$s.log)"
			fi
			sleep 0.1
		done
		[ "$code" = 200 ] || die "$s is not ready: /readyz answered $code"
	done
}

# ports_free NAME PORT ...: every port is free or held by this stack; otherwise one line that
# names the holder, before anything starts. (In the netns lab each host has its own ports.)
ports_free() {
	local name p line pid prog
	command -v ss > /dev/null || return 0
	[ -z "${DB_NETNS:-}${SVC_NETNS:-}${GW_NETNS:-}" ] || return 0
	while [ $# -gt 1 ]; do
		name=$1 p=$2
		shift 2
		line=$(ss -Hltnp "sport = :$p" 2>/dev/null | head -n 1)
		[ -n "$line" ] || continue
		pid=$(echo "$line" | sed -n 's/.*pid=\([0-9]*\).*/\1/p')
		prog=$(echo "$line" | sed -n 's/.*users:(("\([^"]*\)".*/\1/p')
		[ -n "$pid" ] && ours "$pid" && continue
		die "port $p ($name) is taken by ${prog:-another process}${pid:+ (pid $pid)}, not by this stack: stop it or choose another PORT_BASE; nothing was started"
	done
}

# The ports `up` will open, for what is not running yet.
ports_needed() {
	local s k
	if part db && ! alive "$RUN/mariadb.pid"; then printf 'mariadb %s ' "$DB_PORT"; fi
	if part db && ! alive "$RUN/rabbitmq.pid"; then printf 'amqp %s epmd %s erlang-dist %s amqp-prometheus %s ' "$AMQP_PORT" $((AMQP_PORT + 1)) $((AMQP_PORT + 2)) "$AMQP_PROMETHEUS_PORT"; fi
	if part nginx && ! alive "$RUN/nginx.pid"; then
		printf 'gateway %s internal %s ' "$GATEWAY_PORT" "$INTERNAL_PORT"
	fi
	# HTTPS may be turned on while nginx runs: its port must be free or nginx's already.
	if part nginx && [ "$TLS" = 1 ]; then printf 'gateway-tls %s ' "$TLS_PORT"; fi
	if [ "$SHOPLAB_PROXY" = 1 ] && ! alive "$RUN/sim.pid"; then
		printf 'proxy-api %s proxy %s ' "$PROXY_API_PORT" "$(proxy_internal_port)"
		for s in $(services); do
			printf 'proxy %s proxy %s ' "$(proxy_svc_port "$s")" "$(proxy_db_port "$s")"
			if svc_uses_broker "$s"; then printf 'proxy %s ' "$(proxy_broker_port "$s")"; fi
		done
	fi
	if part services && [ "$SERVICE_TRANSPORT" = tcp ]; then
		for s in $(services); do
			for k in $(seq 1 "$(instances "$s")"); do
				alive "$RUN/$(inst_name "$s" "$k").pid" || printf '%s %s ' "$(inst_name "$s" "$k")" "$(inst_port "$s" "$k")"
			done
		done
	fi
}

# ours PID: PID (or its parent: nginx's workers) is one of this stack's processes.
ours() {
	local p=$1 pp f
	pp=$(awk '{ print $4 }' "/proc/$p/stat" 2>/dev/null || true)
	for f in "$RUN"/*.pid; do
		[ -f "$f" ] || continue
		case " $(cat "$f" 2>/dev/null) " in *" $p "* | *" ${pp:-x} "*) return 0 ;; esac
	done
	return 1
}

cmd_status() {
	local f pid left n=0 who
	for f in "$RUN"/*.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f" 2>/dev/null || true)
		if ! alive "$f"; then echo "$(basename "$f" .pid): not running (stale pid file)"; continue; fi
		n=$((n + 1))
		who=$(stat -c %U "/proc/$pid" 2>/dev/null || echo '?')
		if [ "$(sed -n 's/^[0-9]* (.*) \([A-Z]\).*/\1/p' "/proc/$pid/stat" 2>/dev/null)" = T ]; then
			echo "$(basename "$f" .pid): stopped (pid $pid, user $who, SIGSTOP: it answers nothing until SIGCONT)"
		else echo "$(basename "$f" .pid): running (pid $pid, user $who)"; fi
	done
	left=$(nginx_leftovers)
	[ -z "$left" ] || echo "nginx: master gone, but its processes ${left% } still serve the gateway ports ('up' kills them)"
	[ "$n" -gt 0 ] || [ -n "$left" ] || echo "nothing of the stack in $RUN is running"
	return 0
}
