# stack-services.sh - the services (start, trim, stop, their secrets and env) and the sim proxy on their arrows (sourced by scripts/stack.sh, not run).
# shellcheck shell=bash

# ---------------------------------------------------------------- services
# The secrets service $1 gets, as NAME=value lines: its own and nothing else.
svc_secrets() {
	local s=$1 up
	up=$(echo "$s" | tr a-z A-Z)
	echo "SHOPLAB_DB_${up}_PASSWORD=$(envval "SHOPLAB_DB_${up}_PASSWORD")"
	echo "SHOPLAB_SERVICE_TOKEN=$(envval SHOPLAB_SERVICE_TOKEN)"
	echo "SHOPLAB_GATEWAY_SECRET=$(envval SHOPLAB_GATEWAY_SECRET)"
	echo "SHOPLAB_AMQP_PASSWORD=$(envval "SHOPLAB_AMQP_${up}_PASSWORD")"
	if [ "$s" = orders ]; then
		echo "SHOPLAB_CARD_KEY=$(envval SHOPLAB_CARD_KEY)"
	fi
	if [ "$s" = users ]; then
		echo "SHOPLAB_JWT_SECRET=$(envval SHOPLAB_JWT_SECRET)"
		echo "SHOPLAB_ADMIN_PASSWORD=$(envval SHOPLAB_ADMIN_PASSWORD)"
	fi
}

# Starts instance $2 (default 1) of service $1.
svc_up() {
	local s=$1 k=${2:-1} up name kv
	up=$(echo "$s" | tr a-z A-Z)
	name=$(inst_name "$s" "$k")
	alive "$RUN/$name.pid" && return 0
	(
		# A service sees its own secrets only: drop every other one from the environment.
		drop_secrets
		while IFS= read -r kv; do export "$kv"; done < <(svc_secrets "$s")
		# SHOPLAB_<SVC>_LISTEN (from shoplab.env) would win over SHOPLAB_LISTEN: set both.
		export SHOPLAB_LISTEN="$(inst_listen "$s" "$k")"
		# The service rewrites it when ready: after a deploy it names the new process. (As
		# root, its own copy under STACK_DIR: deploy_instance carries it to the run dir's.)
		export SHOPLAB_PID_FILE="$(svc_pid_file "$name")"
		export "SHOPLAB_${up}_LISTEN=$SHOPLAB_LISTEN"
		export SHOPLAB_THREADS
		# Several database nodes: this service's preferred one first.
		if [ -n "${SHOPLAB_DB_HOSTS:-}" ]; then
			export "SHOPLAB_${up}_DB_HOSTS=$(db_hosts_for "$s")"
		fi
		# The database beside it: over its unix socket (DB_TRANSPORT, stack-env.sh).
		[ "$DB_TRANSPORT" = tcp ] || export "SHOPLAB_${up}_DB_SOCKET=$SR/mariadb/mariadb.sock"
		if [ "$SHOPLAB_PROXY" = 1 ]; then
			export "SHOPLAB_${up}_DB_HOST=127.0.0.1" "SHOPLAB_${up}_DB_PORT=$(proxy_db_port "$s")"
			[ "$s" = orders ] && export "SHOPLAB_GATEWAY_INTERNAL=http://127.0.0.1:$(proxy_internal_port)"
			if svc_uses_broker "$s"; then
				export "SHOPLAB_${up}_AMQP_HOST=127.0.0.1" "SHOPLAB_${up}_AMQP_PORT=$(proxy_broker_port "$s")"
			fi
		fi
		# (As root, a working directory the stack user can reach.)
		[ "$SR" = "$RUN" ] || cd "$SR"
		exec setsid "${svc_ns[@]}" "${AS_STACK[@]}" "$BIN/$s" >> "$RUN/logs/$name.log" 2>&1 < /dev/null
	) &
	echo $! > "$RUN/$name.pid"
	UP_STARTED+=("$name")
}

# The pid file instance $1 ("catalog", "catalog-2") itself writes (SHOPLAB_PID_FILE).
svc_pid_file() { if [ "$SR" = "$RUN" ]; then echo "$RUN/$1.pid"; else echo "$SR/pid/$1.pid"; fi; }

# Extra instances beyond what INSTANCES asks for now (a smaller INSTANCES on a second up).
svc_trim() {
	local s=$1 n f k
	n=$(instances "$s")
	for f in "$RUN/$s"-[0-9]*.pid; do
		[ -f "$f" ] || continue
		k=${f##*-}; k=${k%.pid}
		[ "$k" -gt "$n" ] && stop_pid "$f"
	done
	return 0
}

stop_services() {
	local s f
	for s in $SERVICES_ALL; do
		stop_pid "$RUN/$s.pid"
		for f in "$RUN/$s"-[0-9]*.pid; do stop_pid "$f"; done
	done
}

# The gateway's user and group when the stack runs as root (none otherwise: nginx is us).
gw_user() { [ "$(id -u)" -ne 0 ] || echo "$GATEWAY_USER"; }
gw_user_ensure() {
	[ "$(id -u)" -eq 0 ] || return 0
	system_user_ensure "$GATEWAY_USER" GATEWAY_USER "nginx's workers" "shoplab gateway (nginx workers)"
}

# The services' sockets: $RUN/sock, or STACK_DIR/sock as root. Its group is nginx's (setgid,
# so every socket created in it gets that group too); no one else may even look in: 2710
# STACK_USER:GATEWAY_USER as root (the services create their sockets in it), 0700 otherwise.
sock_dir() {
	local u
	[ "$SERVICE_TRANSPORT" = unix ] || return 0
	mkdir -p "$SR/sock"
	u=$(gw_user)
	if [ -n "$u" ]; then
		chown "$STACK_USER:$u" "$SR/sock"
		chmod 2710 "$SR/sock"
	else
		chmod 0700 "$SR/sock"
	fi
}

# ---------------------------------------------------------------- sim proxy
proxy_file() { if [ "$SR" = "$RUN" ]; then case $1 in *.jsonl) echo "$RUN/logs/$1" ;; *) echo "$RUN/$1" ;; esac; else echo "$SR/proxy/$1"; fi; }
proxy_up() {
	local s first=1 i
	[ "$SHOPLAB_PROXY" = 1 ] || return 0
	alive "$RUN/sim.pid" && return 0
	[ -x "$BUILD/bin/sim" ] || die "SHOPLAB_PROXY=1 needs build/bin/sim (run make)"
	# Its configuration, and its fault log (linked from the run dir's logs as root), where the
	# stack user writes them.
	[ "$SR" = "$RUN" ] || ln -sfn "$SR/proxy/faults.jsonl" "$RUN/logs/faults.jsonl"
	{
		printf '['
		for s in $(services); do
			[ $first = 1 ] || printf ','
			first=0
			printf '{"name":"gateway-%s","listen":"127.0.0.1:%s","upstream":"%s:%s","enabled":true},' \
				"$s" "$(proxy_svc_port "$s")" "$SERVICE_ADDR" "$(svc_port "$s")"
			printf '{"name":"%s-db","listen":"127.0.0.1:%s","upstream":"%s:%s","enabled":true}' \
				"$s" "$(proxy_db_port "$s")" "$DB_ADDR" "$DB_PORT"
			if svc_uses_broker "$s"; then
				printf ',{"name":"%s-broker","listen":"127.0.0.1:%s","upstream":"127.0.0.1:%s","enabled":true}' \
					"$s" "$(proxy_broker_port "$s")" "$AMQP_PORT"
			fi
		done
		printf ',{"name":"orders-internal","listen":"127.0.0.1:%s","upstream":"127.0.0.1:%s","enabled":true}]\n' \
			"$(proxy_internal_port)" "$INTERNAL_PORT"
	} | stack_write "$(proxy_file sim-proxy.json)"
	# Its control API is its owner's (SHOPLAB_PROXY_OWNER): the stack user's, as root.
	( [ "$SR" = "$RUN" ] || cd "$SR"
	drop_secrets
	SHOPLAB_PROXY_OWNER=$(stack_user) exec setsid "${AS_STACK[@]}" "$BIN/sim" proxy --host 127.0.0.1 --port "$PROXY_API_PORT" \
		--config "$(proxy_file sim-proxy.json)" --seed "$SHOPLAB_PROXY_SEED" \
		--fault-log "$(proxy_file faults.jsonl)" >> "$RUN/logs/sim-proxy.log" 2>&1 < /dev/null ) &
	echo $! > "$RUN/sim.pid"
	UP_STARTED+=(sim)
	for i in $(seq 1 100); do
		curl -sf -o /dev/null "http://127.0.0.1:$PROXY_API_PORT/version" && return 0
		alive "$RUN/sim.pid" || break
		sleep 0.05
	done
	tail -5 "$RUN/logs/sim-proxy.log" >&2
	die "sim proxy did not start (see $RUN/logs/sim-proxy.log)"
}

# service-env SVC: the environment file of one service under systemd (/etc/shoplab/SVC.env):
# its listen address, database settings and its own secrets, from $RUN/shoplab.env.
cmd_service_env() {
	local s=${1:?service-env SVC} up
	case " $SERVICES_ALL " in *" $s "*) ;; *) die "no such service: $s" ;; esac
	up=$(echo "$s" | tr a-z A-Z)
	load_env
	echo "# $s.env - the $s service's settings and its own secrets (written by scripts/stack.sh service-env)."
	echo "SHOPLAB_LISTEN=$SERVICE_ADDR:$(svc_port "$s")"
	echo "SHOPLAB_THREADS=$SHOPLAB_THREADS"
	echo "SHOPLAB_DB_HOST=$SHOPLAB_DB_HOST"
	echo "SHOPLAB_DB_PORT=$SHOPLAB_DB_PORT"
	echo "SHOPLAB_DB_${up}_USER=$s"
	echo "SHOPLAB_GATEWAY_INTERNAL=$SHOPLAB_GATEWAY_INTERNAL"
	# The broker; the AMQP user is the service's name, its password is among its secrets.
	echo "SHOPLAB_AMQP_HOST=$SHOPLAB_AMQP_HOST"
	echo "SHOPLAB_AMQP_PORT=$SHOPLAB_AMQP_PORT"
	echo "SHOPLAB_AMQP_VHOST=$SHOPLAB_AMQP_VHOST"
	[ -z "${SHOPLAB_DB_TLS_CA:-}" ] || echo "SHOPLAB_DB_TLS_CA=$SHOPLAB_DB_TLS_CA"
	[ "$s" = users ] && echo "SHOPLAB_ADMIN_EMAIL=$SHOPLAB_ADMIN_EMAIL"
	svc_secrets "$s"
}
