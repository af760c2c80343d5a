#!/usr/bin/env bash
# broker.sh - the stack's private RabbitMQ: start, wait, stop, status (called by stack.sh).
#
#   scripts/broker.sh start | wait | stop | status | definitions | ctl ARGS... | plugins ARGS...
#
# ctl runs rabbitmqctl against this stack's node (its cookie, node name and ports), e.g.
# `broker.sh ctl list_queues -p shoplab name messages`; plugins runs rabbitmq-plugins the same
# way (`broker.sh plugins list -e`). definitions prints the topology on
# stdout; shoplab-bootstrap imports the same JSON into an installed host's system RabbitMQ.
#
# Reads $SHOPLAB_RUN/shoplab.env (ports, passwords). Everything lives under $RUN/rabbitmq
# (its HOME with a private .erlang.cookie, mnesia, logs, config); the pid file is
# $RUN/rabbitmq.pid. Run by root, the node and its epmd run as the stack's user
# (SHOPLAB_STACK_USER) and everything lives under SHOPLAB_STACK_DIR/rabbitmq instead, its
# log in rabbitmq/log (linked from $RUN/logs); see scripts/stack.sh, STACK_USER.
# Ports: AMQP SHOPLAB_AMQP_PORT (5673 or PORT_BASE+4), epmd +1 of it
# (ERL_EPMD_PORT), distribution +2, CLI distribution +3..+5; the node is named after the
# AMQP port, so two stacks on one host never share a node, a port or a cookie. The
# rabbitmq_prometheus plugin serves the broker's own metrics (per queue too, e.g. the
# <svc>.dead queues) at http://SHOPLAB_AMQP_HOST:SHOPLAB_AMQP_PROMETHEUS_PORT/metrics (15692,
# the plugin's own default, or PORT_BASE+20; stack.sh writes it; absent: the plugin is off). AMQP listens on
# SHOPLAB_AMQP_HOST (127.0.0.1; the db host's lab address in the netns lab, so that services
# on another host reach it); epmd and distribution stay on loopback. The topology
# (vhost, a user per service, permissions, exchanges, queues, bindings) is a definitions
# file loaded at boot: no slow rabbitmqctl round trips. Which events a service publishes and
# consumes comes from its fcgi-services/<name>/service.conf (publishes=, consumes=).
# BROKER_QUEUE_TYPE=classic (a measurement knob, never for a site: docs/events.md, Settings)
# makes each <svc>.events a lazy classic queue instead of a quorum queue, to measure what the
# quorum queue costs on one node; it loses x-delivery-count and the broker's delivery limit.
set -euo pipefail
# --help prints the comment above on stdout; an unknown option prints it on stderr, exit 2.
. "$(dirname "$0")/lib/usage.sh" && usage_opts "${1:-}"

TOP=$(cd "$(dirname "$0")/.." && pwd)
RUN=${SHOPLAB_RUN:-$TOP/run}
RMQ=/usr/lib/rabbitmq/bin
PIDF=$RUN/rabbitmq.pid

log() { printf 'broker: %s\n' "$*" >&2; }
die() { printf 'broker: %s\n' "$*" >&2; exit 1; }

[ -f "$RUN/shoplab.env" ] || die "no $RUN/shoplab.env"
set -a
# shellcheck disable=SC1091
. "$RUN/shoplab.env"
set +a
: "${SHOPLAB_AMQP_PORT:?}" "${SHOPLAB_AMQP_VHOST:=shoplab}" "${SHOPLAB_AMQP_HOST:=127.0.0.1}"
: "${BROKER_DELIVERY_LIMIT:=50}" "${SHOPLAB_AMQP_PROMETHEUS_PORT:=}"
# Run by root: the node runs as the stack's user, in the stack dir (not the run dir, which that
# user may not reach); root never writes through what that user owns (put).
AS=()
D=$RUN/rabbitmq LOGB=$RUN/logs
if [ "$(id -u)" -eq 0 ] && [ -n "${SHOPLAB_STACK_USER:-}" ] && [ "$SHOPLAB_STACK_USER" != root ]; then
	AS=(setpriv "--reuid=$SHOPLAB_STACK_USER" "--regid=$SHOPLAB_STACK_USER" --init-groups --inh-caps=-all --)
	D=${SHOPLAB_STACK_DIR:?}/rabbitmq LOGB=$D/log
fi
put() { "${AS[@]}" sh -c 'umask 077 && cat > "$1"' sh "$1"; }

# The broker's whole environment: nothing of the host's /etc/rabbitmq is read.
export HOME=$D
export RABBITMQ_NODENAME=shoplab$SHOPLAB_AMQP_PORT@localhost RABBITMQ_USE_LONGNAME=false
export RABBITMQ_NODE_IP_ADDRESS=$SHOPLAB_AMQP_HOST RABBITMQ_NODE_PORT=$SHOPLAB_AMQP_PORT
export ERL_EPMD_PORT=$((SHOPLAB_AMQP_PORT + 1)) ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_DIST_PORT=$((SHOPLAB_AMQP_PORT + 2))
export RABBITMQ_CTL_DIST_PORT_MIN=$((SHOPLAB_AMQP_PORT + 3)) RABBITMQ_CTL_DIST_PORT_MAX=$((SHOPLAB_AMQP_PORT + 5))
export RABBITMQ_MNESIA_BASE=$D/mnesia RABBITMQ_LOG_BASE=$LOGB
export RABBITMQ_CONFIG_FILE=$D/rabbitmq.conf RABBITMQ_ADVANCED_CONFIG_FILE=$D/advanced.config
export RABBITMQ_CONF_ENV_FILE=$D/rabbitmq-env.conf RABBITMQ_ENABLED_PLUGINS_FILE=$D/enabled_plugins
# The node's own pid file; `wait` copies it to $PIDF (which starts as the launcher's pid).
export RABBITMQ_PID_FILE=$D/rabbitmq.pid
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"

alive() { pid_alive "$PIDF"; }
pid_alive_n() { kill -0 "$1" 2>/dev/null && [ "$(sed -n 's/^[0-9]* (.*) \([A-Z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
pid_alive() {
	local pid
	[ -f "$1" ] || return 1
	pid=$(cat "$1" 2>/dev/null) || return 1
	proc_alive "$pid"
}
# proc_alive PID: running. A zombie main thread whose other threads still run (beam.smp
# shutting down under load) still holds the node's ports: alive until it is the last task.
proc_alive() {
	[ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 1
	[ "$(sed -n 's/^[0-9]* (.*) \([A-Z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null)" != Z ] && return 0
	[ "$(ls "/proc/$1/task" 2>/dev/null | wc -l)" -gt 1 ]
}

# The services that have a broker password in shoplab.env (each gets a broker user).
amqp_users() {
	local s up v
	for s in $SHOPLAB_SERVICES; do
		up=$(echo "$s" | tr a-z A-Z)
		v=SHOPLAB_AMQP_${up}_PASSWORD
		[ -n "${!v:-}" ] && printf '%s ' "$s"
	done
	return 0
}

conf_get() { sed -n "s/^$2=//p" "$TOP/fcgi-services/$1/service.conf" 2>/dev/null | head -n 1 | tr -d '"'; }

# definitions: the vhost, users, permissions, exchanges, queues and bindings as JSON.
# Least privilege: a service may publish only to shoplab.events and only routing keys that
# start with its own prefix (topic permission), read only its own queues, configure nothing.
cmd_definitions() {
	local s up pw pfx keys k first q sep=""
	printf '{"rabbit_version":"3.10.8","vhosts":[{"name":"%s"}],\n"users":[' "$SHOPLAB_AMQP_VHOST"
	printf '{"name":"shoplab-admin","password":"%s","tags":["administrator"]}' "$SHOPLAB_AMQP_ADMIN_PASSWORD"
	for s in $(amqp_users); do
		up=$(echo "$s" | tr a-z A-Z)
		pw_var=SHOPLAB_AMQP_${up}_PASSWORD
		pw=${!pw_var}
		printf ',{"name":"%s","password":"%s","tags":[]}' "$s" "$pw"
	done
	printf '],\n"permissions":[{"user":"shoplab-admin","vhost":"%s","configure":".*","write":".*","read":".*"}' "$SHOPLAB_AMQP_VHOST"
	for s in $(amqp_users); do
		# Publishers write shoplab.events; consumers shoplab.replay (their dead letters' replay).
		w=
		[ -z "$(conf_get "$s" publishes)" ] || w='events'
		[ -z "$(conf_get "$s" consumes)" ] || w=${w:+$w|}replay
		if [ -n "$w" ]; then w='^shoplab\\.('$w')$'; else w='^$'; fi
		printf ',{"user":"%s","vhost":"%s","configure":"^$","write":"%s","read":"^%s\\\\.(events|dead)$"}' \
			"$s" "$SHOPLAB_AMQP_VHOST" "$w" "$s"
	done
	printf '],\n"topic_permissions":['
	for s in $(amqp_users); do
		pfx=$(conf_get "$s" publishes)
		# publishes=order: routing keys order.*; none: a regex no key matches (refused).
		if [ -n "$pfx" ]; then re="^$pfx"'\\.'; else re='^$.'; fi
		printf '%s{"user":"%s","vhost":"%s","exchange":"shoplab.events","write":"%s","read":".*"}' \
			"$sep" "$s" "$SHOPLAB_AMQP_VHOST" "$re"
		sep=,
		# shoplab.replay: only the key that reaches its own <svc>.events.
		printf ',{"user":"%s","vhost":"%s","exchange":"shoplab.replay","write":"^%s$","read":".*"}' \
			"$s" "$SHOPLAB_AMQP_VHOST" "$s"
	done
	printf '],\n"exchanges":['
	printf '{"name":"shoplab.events","vhost":"%s","type":"topic","durable":true,"auto_delete":false,"internal":false,"arguments":{}},' "$SHOPLAB_AMQP_VHOST"
	printf '{"name":"shoplab.dlx","vhost":"%s","type":"direct","durable":true,"auto_delete":false,"internal":false,"arguments":{}},' "$SHOPLAB_AMQP_VHOST"
	# A replayed dead letter goes back to its own queue only: topic, so that the topic
	# permission above limits each service to its own routing key.
	printf '{"name":"shoplab.replay","vhost":"%s","type":"topic","durable":true,"auto_delete":false,"internal":false,"arguments":{}}' "$SHOPLAB_AMQP_VHOST"
	printf '],\n"queues":['
	first=1
	for s in $SHOPLAB_SERVICES; do
		[ -n "$(conf_get "$s" consumes)" ] || continue
		[ $first = 1 ] || printf ','
		first=0
		# Quorum queue: x-delivery-count on every redelivery, and a delivery limit after which
		# the broker itself dead-letters, unrecorded (a last resort: the consumer holds a failing
		# message unacked while it retries, so only lost connections and crashes count, and it
		# records the message itself at SHOPLAB_EVENTS_MAX_DELIVERIES, 20, well before).
		if [ "${BROKER_QUEUE_TYPE:-quorum}" = classic ]; then
			printf '{"name":"%s.events","vhost":"%s","durable":true,"auto_delete":false,"arguments":{"x-queue-type":"classic","x-queue-mode":"lazy","x-dead-letter-exchange":"shoplab.dlx","x-dead-letter-routing-key":"%s.events"}},' \
				"$s" "$SHOPLAB_AMQP_VHOST" "$s"
		else
			printf '{"name":"%s.events","vhost":"%s","durable":true,"auto_delete":false,"arguments":{"x-queue-type":"quorum","x-delivery-limit":%s,"x-dead-letter-exchange":"shoplab.dlx","x-dead-letter-routing-key":"%s.events"}},' \
				"$s" "$SHOPLAB_AMQP_VHOST" "$((BROKER_DELIVERY_LIMIT + 1))" "$s"
		fi
		printf '{"name":"%s.dead","vhost":"%s","durable":true,"auto_delete":false,"arguments":{"x-queue-type":"classic"}}' \
			"$s" "$SHOPLAB_AMQP_VHOST"
	done
	printf '],\n"bindings":['
	first=1
	for s in $SHOPLAB_SERVICES; do
		keys=$(conf_get "$s" consumes)
		[ -n "$keys" ] || continue
		for k in $keys; do
			[ $first = 1 ] || printf ','
			first=0
			printf '{"source":"shoplab.events","vhost":"%s","destination":"%s.events","destination_type":"queue","routing_key":"%s","arguments":{}}' \
				"$SHOPLAB_AMQP_VHOST" "$s" "$k"
		done
		q=$s.events
		printf ',{"source":"shoplab.dlx","vhost":"%s","destination":"%s.dead","destination_type":"queue","routing_key":"%s","arguments":{}}' \
			"$SHOPLAB_AMQP_VHOST" "$s" "$q"
		printf ',{"source":"shoplab.replay","vhost":"%s","destination":"%s.events","destination_type":"queue","routing_key":"%s","arguments":{}}' \
			"$SHOPLAB_AMQP_VHOST" "$s" "$s"
	done
	printf ']}\n'
}

# start: writes the configuration and launches the node in the background; returns at once.
cmd_start() {
	alive && return 0
	# The node listens on this address: an IPv4 address of this host (or namespace).
	case $SHOPLAB_AMQP_HOST in
	*[!0-9.]* | "") die "SHOPLAB_AMQP_HOST must be an IPv4 address to listen on, not '$SHOPLAB_AMQP_HOST'" ;;
	esac
	[ -x "$RMQ/rabbitmq-server" ] || die "rabbitmq-server is not installed: run make deps"
	umask 077
	mkdir -p "$RUN/logs"
	"${AS[@]}" mkdir -p "$D" "$LOGB"
	[ "$LOGB" = "$RUN/logs" ] || ln -sfn "$LOGB/rabbitmq.log" "$RUN/logs/rabbitmq.log"
	[ -f "$D/.erlang.cookie" ] || { od -An -tx1 -N20 /dev/urandom | tr -d ' \n' | tr a-f A-F | put "$D/.erlang.cookie"; }
	"${AS[@]}" chmod 400 "$D/.erlang.cookie"
	put "$D/rabbitmq-env.conf" < /dev/null
	# The broker's own metrics (queue depths, the dead queues, connections) for Prometheus.
	if [ -n "$SHOPLAB_AMQP_PROMETHEUS_PORT" ]; then
		echo '[rabbitmq_prometheus].' | put "$D/enabled_plugins"
	else
		echo '[].' | put "$D/enabled_plugins"
	fi
	echo '[].' | put "$D/advanced.config"
	cmd_definitions | put "$D/definitions.json"
	"${AS[@]}" rm -f "$D/rabbitmq.pid"
	{
	cat <<-CONF
	# rabbitmq.conf - the stack's private broker, written by scripts/broker.sh
	listeners.tcp.default = $SHOPLAB_AMQP_HOST:$SHOPLAB_AMQP_PORT
	load_definitions = $D/definitions.json
	# No guest user: only the users of definitions.json exist.
	default_user = shoplab-admin
	default_pass = $SHOPLAB_AMQP_ADMIN_PASSWORD
	loopback_users = none
	log.file = rabbitmq.log
	log.file.level = warning
	log.console = false
	# The lab's broker: a small disk, and a node that starts quickly.
	disk_free_limit.absolute = 50MB
	CONF
	if [ -n "$SHOPLAB_AMQP_PROMETHEUS_PORT" ]; then
		cat <<-CONF
		# rabbitmq_prometheus: /metrics with a series per queue (a handful of queues here).
		prometheus.tcp.ip = $SHOPLAB_AMQP_HOST
		prometheus.tcp.port = $SHOPLAB_AMQP_PROMETHEUS_PORT
		prometheus.return_per_object_metrics = true
		CONF
	fi
	} | put "$D/rabbitmq.conf"
	date +%s%N > "$RUN/rabbitmq-started-at"
	# (Its working directory: its own, the caller's may be out of the stack user's reach.)
	cd "$D"
	# The node needs none of shoplab.env's secrets in its environment (its users are in the
	# files above): they stay with their services.
	for v in $(compgen -e); do
		case $v in SHOPLAB_*PASSWORD | SHOPLAB_*SECRET* | SHOPLAB_*TOKEN | SHOPLAB_*_KEY) unset "$v" ;; esac
	done
	# Our own epmd, in the foreground with a pid file, so that down stops it by pid (the node
	# would otherwise start a daemonised one that outlives it).
	if ! pid_alive "$RUN/epmd.pid"; then
		setsid "${AS[@]}" epmd -port "$ERL_EPMD_PORT" -address 127.0.0.1 >> "$RUN/logs/epmd.log" 2>&1 < /dev/null &
		echo $! > "$RUN/epmd.pid"
	fi
	setsid "${AS[@]}" "$RMQ/rabbitmq-server" >> "$RUN/logs/rabbitmq-stdout.log" 2>&1 < /dev/null &
	echo $! > "$PIDF"
}

# own_pid: once the node wrote its own pid file, $PIDF names that process (the one a kill -9
# must hit), if it is the stack user's.
own_pid() {
	local pid
	pid=$(cat "$D/rabbitmq.pid" 2>/dev/null || true)
	case $pid in "" | *[!0-9]*) return 0 ;; esac
	pid_alive_n "$pid" || return 0
	[ "${#AS[@]}" -eq 0 ] || [ "$(stat -c %U "/proc/$pid" 2>/dev/null)" = "$SHOPLAB_STACK_USER" ] || return 0
	[ "$(cat "$PIDF" 2>/dev/null)" = "$pid" ] || echo "$pid" > "$PIDF"
}

# ready: an AMQP 0-9-1 protocol header is answered with a connection.start frame (type 1).
ready() {
	local b
	b=$(timeout 1 bash -c "exec 3<>/dev/tcp/$SHOPLAB_AMQP_HOST/$SHOPLAB_AMQP_PORT && printf 'AMQP\\0\\0\\011\\001' >&3 && head -c 1 <&3 | od -An -tu1" 2>/dev/null | tr -d ' ') || return 1
	[ "$b" = 1 ]
}

# wait: until the node answers AMQP (at most BROKER_WAIT_S, 60 s); prints the start-up time.
cmd_wait() {
	local i t0 ms
	for i in $(seq 1 $(( ${BROKER_WAIT_S:-60} * 10 ))); do
		if ready; then
			own_pid
			t0=$(cat "$RUN/rabbitmq-started-at" 2>/dev/null || date +%s%N)
			ms=$(( ($(date +%s%N) - t0) / 1000000 ))
			log "RabbitMQ ready on $SHOPLAB_AMQP_HOST:$SHOPLAB_AMQP_PORT (vhost $SHOPLAB_AMQP_VHOST) in $ms ms since its start"
			return 0
		fi
		alive || { tail -20 "$RUN/logs/rabbitmq-stdout.log" >&2 || true; die "RabbitMQ exited (see $RUN/logs/rabbitmq*.log)"; }
		sleep 0.1
	done
	die "RabbitMQ did not answer on $SHOPLAB_AMQP_PORT in ${BROKER_WAIT_S:-60} s (see $RUN/logs/)"
}

# stop: SIGTERM (a clean shutdown), then our own epmd, by its port.
cmd_stop() {
	local pid i
	# (A node that never got to `wait`: its own pid, not its launcher's.)
	[ ! -f "$PIDF" ] || own_pid
	if [ -f "$PIDF" ]; then
		pid=$(cat "$PIDF" 2>/dev/null || true)
		if [ -n "$pid" ] && alive; then
			kill -TERM "$pid" 2>/dev/null || true
			# By pid, not by the file: the node removes its pid file as its shutdown
			# begins, seconds before it lets go of its ports.
			for i in $(seq 1 300); do proc_alive "$pid" || break; sleep 0.05; done
			if proc_alive "$pid"; then
				log "RabbitMQ did not stop in 15 s: killing it"
				kill -KILL "$pid" 2>/dev/null || true
				for i in $(seq 1 100); do proc_alive "$pid" || break; sleep 0.05; done
			fi
		fi
		rm -f "$PIDF"
	fi
	if pid_alive "$RUN/epmd.pid"; then kill -TERM "$(cat "$RUN/epmd.pid")" 2>/dev/null || true; fi
	rm -f "$RUN/epmd.pid"
}

# ctl ARGS: rabbitmqctl on this stack's node, with the node's own environment (cookie in $D).
cmd_ctl() {
	local a args=()
	[ -x "$RMQ/rabbitmqctl" ] || die "rabbitmq-server is not installed: run make deps"
	cd "$D"
	# Run as the stack user, rabbitmqctl cannot read a file of root's (import_definitions FILE
	# from a 0700 temp dir, as shoplab-bootstrap does): such a file is handed over as a copy in
	# the node's own directory (0600, the stack user's; definitions.json there holds the same).
	if [ ${#AS[@]} -gt 0 ]; then
		for a in "$@"; do
			if [ -f "$a" ] && ! "${AS[@]}" test -r "$a"; then
				put "$D/ctl-input" < "$a" || die "cannot hand $a to the stack user"
				a=$D/ctl-input
			fi
			args+=("$a")
		done
		set -- "${args[@]}"
	fi
	exec "${AS[@]}" "$RMQ/rabbitmqctl" -n "$RABBITMQ_NODENAME" "$@"
}

# plugins ARGS: rabbitmq-plugins on this stack's node (its enabled_plugins file in $D).
cmd_plugins() {
	[ -x "$RMQ/rabbitmq-plugins" ] || die "rabbitmq-server is not installed: run make deps"
	cd "$D"
	exec "${AS[@]}" "$RMQ/rabbitmq-plugins" -n "$RABBITMQ_NODENAME" "$@"
}

case ${1:-} in
start)	cmd_start ;;
ctl)	shift; cmd_ctl "$@" ;;
plugins)	shift; cmd_plugins "$@" ;;
wait)	cmd_wait ;;
stop)	cmd_stop ;;
status)	if alive; then echo "rabbitmq: running (pid $(cat "$PIDF"))"; else echo "rabbitmq: not running"; fi ;;
definitions)	cmd_definitions ;;
*)	echo "usage: $0 start|wait|stop|status|definitions|ctl ARGS|plugins ARGS" >&2; exit 2 ;;
esac
