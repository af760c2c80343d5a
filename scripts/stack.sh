#!/usr/bin/env bash
# stack.sh - start, stop and inspect the shoplab stack (MariaDB, services, nginx) under a run dir.
#
#   scripts/stack.sh up | down | status | env | deploy SVC | migrate [SVC...] | purge
#   scripts/stack.sh service-env SVC | render-nginx DIR [SITE_DIR] | provision-db   (hosting)
#
# Everything lives under $SHOPLAB_RUN (default ./run): data, sockets, logs, pid files,
# generated secrets and run/shoplab.env. Ports default to the contract's and move together
# with PORT_BASE (see README). The stack runs as the current user; as root, as STACK_USER
# (shoplab), with what that user must reach in STACK_DIR (see STACK_USER below; purge removes
# it and the run dir). Nothing is installed.
# INSTANCES="catalog:3 orders:2" runs several instances of a service behind one upstream;
# DB_NETNS, SVC_NETNS, GW_NETNS run MariaDB (and RabbitMQ, on AMQP_ADDR), the services,
# nginx in network namespaces (the netns lab, scripts/lab-netns.sh); docs/hosting.md and
# docs/lab.md describe both.
set -euo pipefail
# --help prints the comment above on stdout; an unknown option prints it on stderr, exit 2.
. "$(dirname "$0")/lib/usage.sh" && usage_opts "${1:-}"

TOP=$(cd "$(dirname "$0")/.." && pwd)
RUN=${SHOPLAB_RUN:-$TOP/run}
BUILD=${SHOPLAB_BUILD:-$TOP/build}
# The one list of services ("index name" lines, in port order): written by make from each
# fcgi-services/<name>/service.conf, installed beside the binaries for hosting.
if [ -f "$BUILD/services" ]; then
	SERVICE_LIST=$(cat "$BUILD/services")
elif [ -x "$TOP/scripts/services.sh" ] && [ -d "$TOP/fcgi-services" ]; then
	SERVICE_LIST=$("$TOP/scripts/services.sh" "$TOP/fcgi-services")
else
	echo "stack: no $BUILD/services: run make first" >&2
	exit 1
fi
SERVICES_ALL=$(echo "$SERVICE_LIST" | awk '{ printf "%s ", $2 }')

log() { printf 'stack: %s\n' "$*" >&2; }
die() { printf 'stack: %s\n' "$*" >&2; exit 1; }

# A stack is one thing: the first `up` chooses its ports and its proxy wiring and writes them
# to $RUN/shoplab.env; every later command reads them from there. A PORT_BASE that differs
# is taken only while nothing of the stack runs; SHOPLAB_PROXY may change (see cmd_up).
stored() { [ -f "$RUN/shoplab.env" ] || return 0; sed -n "s/^$1=//p" "$RUN/shoplab.env" | head -n 1 | tr -d '"'; }
stack_running() {
	local f pid
	for f in "$RUN"/*.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f" 2>/dev/null) || continue
		[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && return 0
	done
	return 1
}
STACK_EXISTS=0
if [ -f "$RUN/shoplab.env" ] && grep -q '^SHOPLAB_PORT_BASE=' "$RUN/shoplab.env"; then
	STACK_EXISTS=1
	stored_base=$(stored SHOPLAB_PORT_BASE)
	if [ -n "${PORT_BASE+x}" ] && [ "$PORT_BASE" != "$stored_base" ]; then
		if stack_running && [ "${1:-}" != down ] && [ "${1:-}" != status ]; then
			die "the stack in $RUN runs on PORT_BASE=${stored_base:-(default ports)}: 'make down' first to move it to PORT_BASE=${PORT_BASE:-(default ports)}"
		fi
		[ "${1:-}" = up ] && log "ports move from PORT_BASE=${stored_base:-(default)} to PORT_BASE=${PORT_BASE:-(default)}"
	else
		PORT_BASE=$stored_base
		: "${GATEWAY_PORT:=$(stored SHOPLAB_GATEWAY_PORT)}" "${INTERNAL_PORT:=$(stored SHOPLAB_INTERNAL_PORT)}"
		: "${DB_PORT:=$(stored SHOPLAB_DB_PORT)}" "${PROXY_API_PORT:=$(stored SHOPLAB_PROXY_API_PORT)}"
		: "${TLS_PORT:=$(stored SHOPLAB_TLS_PORT)}"
		[ -n "$TLS_PORT" ] || unset TLS_PORT
		[ -n "$GATEWAY_PORT" ] || unset GATEWAY_PORT
		[ -n "$INTERNAL_PORT" ] || unset INTERNAL_PORT
		[ -n "$DB_PORT" ] || unset DB_PORT
		[ -n "$PROXY_API_PORT" ] || unset PROXY_API_PORT
	fi
	# The proxy's wiring stays as chosen unless SHOPLAB_PROXY is given; so does TLS.
	: "${SHOPLAB_PROXY:=$(stored SHOPLAB_PROXY)}"
	: "${TLS:=$(stored SHOPLAB_TLS)}" "${DB_TLS:=$(stored SHOPLAB_DB_TLS)}"
fi
STORED_PROXY=$(stored SHOPLAB_PROXY)

# Ports: the contract's defaults, or PORT_BASE+offset for each when PORT_BASE is given.
if [ -n "${PORT_BASE:-}" ]; then
	: "${GATEWAY_PORT:=$((PORT_BASE))}" "${INTERNAL_PORT:=$((PORT_BASE + 1))}"
	: "${DB_PORT:=$((PORT_BASE + 2))}" "${PROXY_API_PORT:=$((PORT_BASE + 3))}"
	# RabbitMQ: AMQP here, its epmd, distribution and CLI ports on the next five (broker.sh).
	: "${AMQP_PORT:=$((PORT_BASE + 4))}"
	# Its rabbitmq_prometheus listener: base+20, a slot of the scheme no service index takes.
	: "${AMQP_PROMETHEUS_PORT:=$((PORT_BASE + 20))}"
	svc_port_base=$((PORT_BASE + 10))
	# HTTPS (TLS=1): base+10, the one slot of the service range no service index takes.
	: "${TLS_PORT:=$((PORT_BASE + 10))}"
else
	: "${GATEWAY_PORT:=8080}" "${INTERNAL_PORT:=8081}" "${DB_PORT:=3307}" "${PROXY_API_PORT:=8474}"
	: "${TLS_PORT:=8443}"
	svc_port_base=9100
	: "${AMQP_PORT:=5673}"
	: "${AMQP_PROMETHEUS_PORT:=15692}"
fi
: "${GATEWAY_ADDR:=127.0.0.1}" "${SERVICE_ADDR:=127.0.0.1}" "${DB_ADDR:=127.0.0.1}"
# The broker's AMQP address (it runs with the db part): the netns lab sets the db host's.
: "${AMQP_ADDR:=127.0.0.1}"
: "${SHOPLAB_THREADS:=16}" "${NGINX_WORKERS:=2}" "${UPSTREAM_KEEPALIVE:=32}"
: "${LOGIN_RATE:=5r/s}" "${LOGIN_BURST:=10}" "${API_RATE:=200r/s}" "${API_BURST:=400}"
: "${API_RATE_EXEMPT=127.0.0.1}"
# The internal listener is always on loopback; INTERNAL_ADDR adds a second address (the lab's
# gateway host) that services on another host reach it by.
: "${INTERNAL_ADDR:=127.0.0.1}" "${INSTANCES:=}"
# TLS=1: the public gateway answers HTTPS on TLS_PORT (HTTP on GATEWAY_PORT redirects there,
# except /.well-known/acme-challenge/). The certificate is TLS_CERT/TLS_KEY when given (a real
# one, e.g. from certbot); otherwise a local CA and a server certificate are generated under
# TLS_DIR ($RUN/tls; /etc/shoplab/tls when installed). TLS_STAPLING=1 turns OCSP stapling on
# (only for a real certificate from a CA that runs OCSP; TLS_RESOLVER names the DNS server).
: "${TLS:=0}" "${TLS_DIR:=$RUN/tls}" "${TLS_STAPLING:=0}"
case $TLS in 0 | 1) ;; *) echo "stack: TLS is 0 or 1" >&2; exit 1 ;; esac
# DB_TLS=1: MariaDB serves TLS with a certificate of the same local CA, the service users
# REQUIRE SSL, and services and sim verify the server against the CA (SHOPLAB_DB_TLS_CA).
# Changing it needs `make down` (MariaDB reads its TLS settings at start). Installed hosts:
# DB_TLS=1 DB_TLS_CA=<the database server's CA> shoplab-bootstrap env db (docs/hosting.md).
: "${DB_TLS:=0}"
case $DB_TLS in 0 | 1) ;; *) echo "stack: DB_TLS is 0 or 1" >&2; exit 1 ;; esac
case $TLS_STAPLING in 0 | 1) ;; *) echo "stack: TLS_STAPLING is 0 or 1" >&2; exit 1 ;; esac
if [ -n "${TLS_CERT:-}${TLS_KEY:-}" ]; then
	[ -n "${TLS_CERT:-}" ] && [ -n "${TLS_KEY:-}" ] || { echo "stack: TLS_CERT and TLS_KEY go together" >&2; exit 1; }
	TLS_GENERATE=0
else
	TLS_CERT=$TLS_DIR/fullchain.pem TLS_KEY=$TLS_DIR/privkey.pem TLS_GENERATE=1
fi
# Which parts `up` starts on this host (the multi-host lab runs one part per host).
: "${SHOPLAB_PARTS:=db services nginx}"
part() { case " $SHOPLAB_PARTS " in *" $1 "*) return 0 ;; esac; return 1; }

# How nginx reaches the services: unix sockets under $RUN/sock (the default: only nginx's
# group can open them), or TCP where a socket cannot go: the sim proxy's arrows, services on
# another address or host (the lab), a part of the stack alone. Over TCP every request
# carries the per-stack gateway secret, which the services check (docs/security.md).
if [ -z "${SERVICE_TRANSPORT:-}" ]; then
	SERVICE_TRANSPORT=unix
	if [ "${SHOPLAB_PROXY:-0}" = 1 ] || [ "${SERVICE_ADDR:-127.0.0.1}" != 127.0.0.1 ] ||
	    [ -n "${SVC_NETNS:-}${GW_NETNS:-}" ] || ! part services || ! part nginx; then
		SERVICE_TRANSPORT=tcp
	fi
fi
case $SERVICE_TRANSPORT in unix | tcp) ;; *) echo "stack: SERVICE_TRANSPORT is unix or tcp" >&2; exit 1 ;; esac
# nginx's worker processes never run as root: when the stack runs as root they run as
# GATEWAY_USER (a system user created on first use), the one group that can open the sockets.
: "${GATEWAY_USER:=shoplab-gw}"
# Nor does any other process of the stack: started by root, the services, MariaDB, RabbitMQ
# (and its epmd) and the sim proxy run as STACK_USER (a system user created on first use, the
# same name as the installed site's service user); only nginx's master stays root (it binds
# the ports and reads the TLS key). What those processes must reach lives in STACK_DIR
# (/var/tmp/shoplab-stack.<hash of the run dir's path>, root:root 0711), so the checkout and
# the run dir may be anywhere, a 0700 home or a `mktemp -d` included: copies of the binaries
# (bin/), the sockets (sock/), MariaDB's and RabbitMQ's data (mariadb/, rabbitmq/), the
# services' own pid files (pid/), the sim proxy's files (proxy/), nginx's temp and cache dirs
# (nginx/). The run dir keeps what only root reads: shoplab.env, the pid files stack.sh and
# sim use, the logs, nginx's configuration, TLS keys. As an ordinary user STACK_DIR is the run
# dir and everything runs as that user, as it always did.
: "${STACK_USER:=$( [ "$STACK_EXISTS" = 1 ] && stored SHOPLAB_STACK_USER || true)}"
: "${STACK_USER:=shoplab}"
AS_STACK=()
SR=$RUN
case ${1:-} in
up | down | status | env | deploy | migrate | purge)
	if [ "$(id -u)" -eq 0 ]; then
		[ "$STACK_USER" != root ] || { echo "stack: STACK_USER=root: the stack does not run as root" >&2; exit 1; }
		AS_STACK=(setpriv "--reuid=$STACK_USER" "--regid=$STACK_USER" --init-groups --inh-caps=-all --)
		: "${STACK_DIR:=/var/tmp/shoplab-stack.$(realpath -m "$RUN" | sha256sum | cut -c1-12)}"
		SR=$STACK_DIR
	fi ;;
esac
# Where the services' binaries are run from: copies under STACK_DIR when root (the stack user
# may not reach the checkout), the build dir otherwise.
BIN=$BUILD/bin
[ "$SR" = "$RUN" ] || BIN=$SR/bin

# The netns lab: each part runs in its namespace when one is named (see scripts/lab-netns.sh).
db_ns=() svc_ns=() gw_ns=()
[ -n "${DB_NETNS:-}" ] && db_ns=(ip netns exec "$DB_NETNS")
[ -n "${SVC_NETNS:-}" ] && svc_ns=(ip netns exec "$SVC_NETNS")
[ -n "${GW_NETNS:-}" ] && gw_ns=(ip netns exec "$GW_NETNS")

# With SHOPLAB_PROXY=1 the sim proxy sits on every arrow: nginx -> service (gateway-<svc>),
# service -> MariaDB (<svc>-db), service -> RabbitMQ (<svc>-broker, for the services whose
# service.conf says publishes= or consumes=) and orders -> internal gateway (orders-internal).
: "${SHOPLAB_PROXY:=0}" "${SHOPLAB_PROXY_SEED:=1}"
proxy_port_base=$((svc_port_base + 20))
proxy_svc_port() { echo $((proxy_port_base + $(svc_index "$1"))); }
proxy_db_port() { echo $((proxy_port_base + 10 + $(svc_index "$1"))); }
proxy_internal_port() { echo $((proxy_port_base + 20)); }
# svc_port_base + 11..19: free in the scheme (services below, proxies and instances above).
proxy_broker_port() { echo $((svc_port_base + 10 + $(svc_index "$1"))); }
# Whether service $1 talks to the broker (its service.conf names events it publishes or consumes).
svc_uses_broker() { grep -Eq '^(publishes|consumes)=.' "$TOP/fcgi-services/$1/service.conf" 2>/dev/null; }

svc_index() { echo "$SERVICE_LIST" | awk -v s="$1" '$2 == s { print $1; f = 1 } END { exit !f }'; }
svc_port() { local v; v="$(echo "$1" | tr a-z A-Z)_PORT"; echo "${!v:-$((svc_port_base + $(svc_index "$1")))}"; }

# INSTANCES="catalog:3 orders:2": instance 1 keeps the service's port and pid file; instance k
# (2..9) listens on svc_port_base + 40 + 10*(index-1) + k (catalog: 9152, 9153, ...) with
# pid file <service>-k.pid and log <service>-k.log.
instances() {
	local w n=1
	for w in ${INSTANCES//,/ }; do
		case $w in "$1":*) n=${w#*:} ;; esac
	done
	case $n in [1-9]) echo "$n" ;; *) die "INSTANCES: $1 wants 1..9 instances, not '$n'" ;; esac
}
inst_port() { if [ "$2" -eq 1 ]; then svc_port "$1"; else echo $((svc_port_base + 30 + 10 * $(svc_index "$1") + $2)); fi; }
inst_name() { if [ "$2" -eq 1 ]; then echo "$1"; else echo "$1-$2"; fi; }
inst_ports() { local k; for k in $(seq 1 "$(instances "$1")"); do printf '%s ' "$(inst_port "$1" "$k")"; done; }
# Where instance $2 (default 1) of service $1 listens, as SHOPLAB_LISTEN wants it.
inst_listen() {
	if [ "$SERVICE_TRANSPORT" = unix ]; then echo "unix:$SR/sock/$(inst_name "$1" "${2:-1}").sock"
	else echo "$SERVICE_ADDR:$(inst_port "$1" "${2:-1}")"; fi
}
# nginx's server lines for service $1: every instance's address, on every services host
# (SERVICE_HOSTS="10.232.0.2 10.232.0.3" in the HA lab: each runs every service; default
# SERVICE_ADDR alone).
inst_servers() {
	local k a h
	for h in ${SERVICE_HOSTS:-$SERVICE_ADDR}; do
		for k in $(seq 1 "$(instances "$1")"); do
			a=$(inst_listen "$1" "$k")
			case $a in unix:*) printf '%s ' "$a" ;; *) printf '%s:%s ' "$h" "$(inst_port "$1" "$k")" ;; esac
		done
	done
}

# db_hosts_for SVC: SHOPLAB_DB_HOSTS (host:port,...) turned so that the service's preferred
# node comes first. SHOPLAB_DB_ROUTE=service (the default): service k of the list prefers
# node ((k-1) mod n)+1, so every instance of a service on every host writes to the same node
# (no certification conflicts between them) and the services spread over the nodes.
# SHOPLAB_DB_ROUTE=host: every service on services host h (DB_ROUTE_HOST=h) prefers node h,
# so a service's instances write to different nodes (docs/lab.md, "How writes are routed").
db_hosts_for() {
	local i n k
	local -a nodes
	IFS=, read -r -a nodes <<< "$SHOPLAB_DB_HOSTS"
	n=${#nodes[@]}
	if [ "${SHOPLAB_DB_ROUTE:-service}" = host ]; then k=$(( (${DB_ROUTE_HOST:-1} - 1) % n ))
	else k=$(( ($(svc_index "$1") - 1) % n )); fi
	for ((i = 0; i < n; i++)); do
		printf '%s%s' "$([ "$i" -gt 0 ] && echo ,)" "${nodes[$(( (k + i) % n ))]}"
	done
}

# The services that are built: the stack runs what exists.
services() {
	local s
	for s in $SERVICES_ALL; do [ -x "$BUILD/bin/$s" ] && printf '%s ' "$s"; done
	return 0
}

# The services that are built, as a regex alternation for nginx ("users|catalog|...").
services_re() { services | sed -e 's/ *$//' -e 's/ /|/g'; }

envval() { sed -n "s/^$1=//p" "$RUN/shoplab.env" | head -n 1; }

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

secret() { od -An -tx1 -N"${1:-24}" /dev/urandom | tr -d ' \n'; }

# drop_secrets: shoplab.env's secrets out of this (sub)shell's environment, before it starts
# a process that needs none of them (MariaDB, the sim proxy) or only its own (a service).
drop_secrets() {
	local v
	for v in $(compgen -e); do
		case $v in SHOPLAB_*PASSWORD | SHOPLAB_*SECRET* | SHOPLAB_*TOKEN | SHOPLAB_*_KEY) unset "$v" ;; esac
	done
}

# ---------------------------------------------------------------- the stack's user
# The user the stack's processes run as: STACK_USER as root, this user otherwise.
stack_user() { if [ "$SR" = "$RUN" ]; then id -un; else echo "$STACK_USER"; fi; }
# stack_write FILE: stdin into FILE, written as the stack user (root never writes through
# what that user controls), mode 0600.
stack_write() { "${AS_STACK[@]}" sh -c 'umask 077 && cat > "$1"' sh "$1"; }
stack_user_ensure() {
	[ "$SR" != "$RUN" ] || return 0
	if ! getent passwd "$STACK_USER" > /dev/null; then
		# Two stacks may race to create it: the loser finds it there.
		useradd --system --user-group --home-dir /nonexistent --no-create-home \
			--shell /usr/sbin/nologin --comment "shoplab stack (services, MariaDB, RabbitMQ)" \
			"$STACK_USER" 2>/dev/null || getent passwd "$STACK_USER" > /dev/null ||
			die "cannot create the system user $STACK_USER (STACK_USER) for the stack's processes"
		log "created system user $STACK_USER for the stack's processes"
	fi
}

# stack_dir_prepare: as root, STACK_DIR and what the stack user owns in it (see STACK_USER).
# Made by root only: a STACK_DIR that is a symlink or someone else's is refused. A run dir of
# an older root stack (its data under the run dir) moves its data there once.
stack_dir_prepare() {
	local d u
	[ "$SR" != "$RUN" ] || return 0
	stack_user_ensure
	u=$STACK_USER
	if [ -L "$SR" ] || { [ -e "$SR" ] && [ "$(stat -c %u "$SR")" != 0 ]; }; then
		die "STACK_DIR $SR exists and is not root's own directory: remove it"
	fi
	mkdir -p "$SR" "$RUN" && chmod 0711 "$SR" || die "cannot make STACK_DIR $SR"
	realpath -m "$RUN" > "$SR/run-dir"
	for d in pid mariadb rabbitmq proxy; do
		if [ -d "$RUN/$d" ] && [ ! -L "$RUN/$d" ] && [ ! -e "$SR/$d" ]; then
			log "moving $RUN/$d to $SR/$d (the stack user cannot reach the run dir)"
			mv "$RUN/$d" "$SR/$d" || die "cannot move $RUN/$d to $SR/$d"
		fi
		mkdir -p "$SR/$d"
		# Owned by the stack user throughout (chown -R does not follow symlinks).
		if [ -n "$(find "$SR/$d" ! -user "$u" -print -quit)" ]; then chown -R "$u:$u" "$SR/$d"; fi
		chmod 0700 "$SR/$d"
	done
	# Where the older layout had them, for tools that look there: the run dir links in.
	for d in mariadb rabbitmq; do
		[ -e "$RUN/$d" ] || ln -sfn "$SR/$d" "$RUN/$d"
	done
	# The binaries the stack user runs: copies (a rename, so a running one keeps its file).
	mkdir -p "$SR/bin" && chmod 0755 "$SR/bin"
	bins_sync
}

# bins_sync: $BUILD/bin's services (and sim) copied into STACK_DIR/bin where they differ.
bins_sync() {
	local s
	[ "$SR" != "$RUN" ] || return 0
	for s in $(services) sim; do
		[ -x "$BUILD/bin/$s" ] || continue
		cmp -s "$BUILD/bin/$s" "$SR/bin/$s" && continue
		install -m 0755 "$BUILD/bin/$s" "$SR/bin/.$s.new" && mv -f "$SR/bin/.$s.new" "$SR/bin/$s" ||
			die "cannot copy $BUILD/bin/$s to $SR/bin"
	done
}

# stack_dir_gc: STACK_DIRs whose run dir is gone and whose processes are all stopped (a
# test's `rm -rf` of its run dir) are removed.
stack_dir_gc() {
	local d r f live
	[ "$SR" != "$RUN" ] || return 0
	for d in /var/tmp/shoplab-stack.*; do
		[ -d "$d" ] && [ ! -L "$d" ] && [ "$d" != "$SR" ] && [ "$(stat -c %u "$d")" = 0 ] || continue
		r=$(cat "$d/run-dir" 2>/dev/null) || continue
		[ -n "$r" ] && [ ! -e "$r" ] || continue
		live=0
		for f in "$d"/pid/*.pid "$d"/mariadb/mariadbd.pid "$d"/rabbitmq/rabbitmq.pid; do
			[ -f "$f" ] && pid_alive "$(cat "$f" 2>/dev/null)" && live=1
		done
		[ "$live" = 1 ] || rm -rf "$d"
	done
	return 0
}

# run/shoplab.env: generated once (secrets stay), ports and paths refreshed on every up.
write_env() {
	local f=$RUN/shoplab.env s up old kv
	umask 077
	mkdir -p "$RUN"
	declare -A keep=()
	if [ -f "$f" ]; then
		while IFS='=' read -r k v; do
			case $k in *PASSWORD|*TOKEN|*SECRET*|*_KEY) keep[$k]=$v;; esac
		done < "$f"
	fi
	get() { local k=$1; if [ -n "${keep[$k]:-}" ]; then echo "${keep[$k]}"; else secret "${2:-24}"; fi; }
	{
		echo "# shoplab.env - written by scripts/stack.sh; secrets are generated once, never commit this file."
		echo "SHOPLAB_RUN=$RUN"
		echo "SHOPLAB_PORT_BASE=${PORT_BASE:-}"
		if [ "$TLS" = 1 ]; then
			echo "SHOPLAB_GATEWAY_URL=https://$GATEWAY_ADDR:$TLS_PORT"
			[ "$TLS_GENERATE" = 0 ] || echo "SHOPLAB_TLS_CA=$TLS_DIR/ca.crt"
		else
			echo "SHOPLAB_GATEWAY_URL=http://$GATEWAY_ADDR:$GATEWAY_PORT"
		fi
		echo "SHOPLAB_TLS=$TLS"
		echo "SHOPLAB_DB_TLS=$DB_TLS"
		# (As root, a copy the stack user can read: db_up puts it there.)
		[ "$DB_TLS" = 0 ] || echo "SHOPLAB_DB_TLS_CA=${DB_TLS_CA:-$([ "$SR" = "$RUN" ] && echo "$TLS_DIR" || echo "$SR")/ca.crt}"
		# An installed host's sim writes its reports there (the bootstrap sets it).
		[ -z "${SHOPLAB_REPORTS_DIR:-}" ] || echo "SHOPLAB_REPORTS_DIR=$SHOPLAB_REPORTS_DIR"
		echo "SHOPLAB_TLS_PORT=$TLS_PORT"
		echo "SHOPLAB_GATEWAY_INTERNAL=http://$INTERNAL_ADDR:$INTERNAL_PORT"
		echo "SHOPLAB_GATEWAY_PORT=$GATEWAY_PORT"
		echo "SHOPLAB_INTERNAL_PORT=$INTERNAL_PORT"
		echo "SHOPLAB_PROXY_API_PORT=$PROXY_API_PORT"
		echo "SHOPLAB_PROXY_API=http://127.0.0.1:$PROXY_API_PORT"
		echo "SHOPLAB_PROXY=$SHOPLAB_PROXY"
		echo "SHOPLAB_SERVICES=\"$(services | sed 's/ *$//')\""
		echo "SHOPLAB_SERVICE_TRANSPORT=$SERVICE_TRANSPORT"
		echo "SHOPLAB_DB_HOST=$DB_ADDR"
		echo "SHOPLAB_DB_PORT=$DB_PORT"
		echo "SHOPLAB_DB_SOCKET_PATH=$SR/mariadb/mariadb.sock"
		# Who runs the stack's processes and where what they reach lives (see STACK_USER above).
		echo "SHOPLAB_STACK_USER=$([ "$SR" = "$RUN" ] && id -un || echo "$STACK_USER")"
		echo "SHOPLAB_STACK_DIR=$SR"
		# The HA lab: the Galera nodes, and the script that applies faults to lab hosts.
		[ -z "${DB_HOSTS:-}" ] || echo "SHOPLAB_DB_HOSTS=$DB_HOSTS"
		[ -z "${DB_ROUTE:-}" ] || echo "SHOPLAB_DB_ROUTE=$DB_ROUTE"
		[ -z "${LAB_CTL:-}" ] || echo "SHOPLAB_LAB_CTL=$LAB_CTL"
		# ... and its link proxies (LAB_PROXY=1): "svc1=http://10.232.0.2:8474 ..." becomes one
		# SHOPLAB_PROXY_API_<HOST> each, which a scenario's "proxy_api" names.
		for kv in ${LAB_PROXY_APIS:-}; do echo "SHOPLAB_PROXY_API_$(echo "${kv%%=*}" | tr a-z A-Z)=${kv#*=}"; done
		# The HA lab's RabbitMQ cluster (lab-ha.sh): the services' broker list.
		[ -z "${AMQP_HOSTS:-}" ] || echo "SHOPLAB_AMQP_HOSTS=$AMQP_HOSTS"
				echo "SHOPLAB_AMQP_HOST=$AMQP_ADDR"
		echo "SHOPLAB_AMQP_PORT=$AMQP_PORT"
		echo "SHOPLAB_AMQP_PROMETHEUS_PORT=$AMQP_PROMETHEUS_PORT"
		echo "SHOPLAB_AMQP_VHOST=shoplab"
		echo "SHOPLAB_AMQP_ADMIN_PASSWORD=$(get SHOPLAB_AMQP_ADMIN_PASSWORD)"
		for s in $SERVICES_ALL; do
			up=$(echo "$s" | tr a-z A-Z)
			echo "SHOPLAB_${up}_LISTEN=$(inst_listen "$s")"
			echo "SHOPLAB_DB_${up}_USER=$s"
			echo "SHOPLAB_DB_${up}_PASSWORD=$(get "SHOPLAB_DB_${up}_PASSWORD")"
			echo "SHOPLAB_AMQP_${up}_PASSWORD=$(get "SHOPLAB_AMQP_${up}_PASSWORD")"
		done
		echo "SHOPLAB_SERVICE_TOKEN=$(get SHOPLAB_SERVICE_TOKEN 32)"
		echo "SHOPLAB_GATEWAY_SECRET=$(get SHOPLAB_GATEWAY_SECRET 32)"
		echo "SHOPLAB_JWT_SECRET=$(get SHOPLAB_JWT_SECRET 32)"
		echo "SHOPLAB_CARD_KEY=$(get SHOPLAB_CARD_KEY 32)"
		echo "SHOPLAB_ADMIN_EMAIL=admin@shoplab.test"
		echo "SHOPLAB_ADMIN_PASSWORD=$(get SHOPLAB_ADMIN_PASSWORD 12)"
	} > "$f.tmp"
	mv "$f.tmp" "$f"
	chmod 600 "$f"
}

load_env() {
	[ -f "$RUN/shoplab.env" ] || die "no $RUN/shoplab.env: run 'make up' first"
	set -a
	# shellcheck disable=SC1091
	. "$RUN/shoplab.env"
	set +a
}

# ---------------------------------------------------------------- MariaDB
# DB_SOCKET points the provisioning at another server (a system MariaDB, for hosting).
db_client() { mariadb --no-defaults --socket="${DB_SOCKET:-$SR/mariadb/mariadb.sock}" -u "$(id -un)" "$@"; }

db_up() {
	local d=$SR/mariadb i tls=$TLS_DIR
	mkdir -p "$d" "$RUN/logs"
	if alive "$RUN/mariadb.pid"; then return 0; fi
	# Errors go to stderr, that is $RUN/logs/mariadb.log (opened here: the stack user may not
	# reach the run dir). mariadbd writes its pid file and removes it when it stops; as root
	# the run dir's mariadb.pid is a link to it.
	local pidf=$RUN/mariadb.pid
	if [ "$SR" != "$RUN" ]; then pidf=$d/mariadbd.pid; ln -sfn "$pidf" "$RUN/mariadb.pid"; fi
	if [ "$DB_TLS" = 1 ]; then
		db_tls_certs
		# As root: copies the stack user can read (the key: that user only).
		if [ "$SR" != "$RUN" ]; then
			tls=$d/tls
			"${AS_STACK[@]}" mkdir -p "$tls"
			stack_write "$tls/db-server.key" < "$TLS_DIR/db-server.key"
			stack_write "$tls/db-server.crt" < "$TLS_DIR/db-server.crt"
			stack_write "$tls/ca.crt" < "$TLS_DIR/ca.crt"
			install -m 0644 "$TLS_DIR/ca.crt" "$SR/ca.crt"
		fi
	fi
	stack_write "$d/my.cnf" <<-CNF
	# my.cnf - the stack's private MariaDB server, written by scripts/stack.sh
	[mariadbd]
	datadir=$d/data
	socket=$d/mariadb.sock
	pid-file=$pidf
	port=$DB_PORT
	bind-address=$DB_ADDR
	skip-name-resolve
	max_connections=600
	character-set-server=utf8mb4
	collation-server=utf8mb4_unicode_ci
	innodb_buffer_pool_size=128M
	innodb_log_file_size=64M
	# Durable across a mariadbd crash or kill -9 (not across a power loss): the lab's trade-off.
	innodb_flush_log_at_trx_commit=2
	innodb_lock_wait_timeout=5
	max_allowed_packet=16M
	default-time-zone='+00:00'
	$([ "$DB_TLS" = 1 ] && printf 'ssl_cert=%s\nssl_key=%s\nssl_ca=%s\ntls_version=TLSv1.2,TLSv1.3\n' \
		"$tls/db-server.crt" "$tls/db-server.key" "$tls/ca.crt")
	CNF
	if [ ! -d "$d/data/mysql" ]; then
		log "initialising MariaDB in $d/data"
		# As root, root@localhost (socket auth: the OS user root) administers it; the stack
		# user's own account exists too (--user). --force: skip the install script's host name
		# check (resolveip of `uname -n`, then of localhost), which fails in a minimal root or
		# container without /etc/hosts; the grant tables are the same, and every client here
		# connects by socket or 127.0.0.1.
		"${AS_STACK[@]}" mariadb-install-db --no-defaults --datadir="$d/data" --user="$(stack_user)" --force \
			--skip-test-db --auth-root-authentication-method=socket \
			> "$RUN/logs/mariadb-install.log" 2>&1 || { cat "$RUN/logs/mariadb-install.log" >&2; die "mariadb-install-db failed"; }
	fi
	( drop_secrets; exec setsid "${db_ns[@]}" "${AS_STACK[@]}" mariadbd --defaults-file="$d/my.cnf" >> "$RUN/logs/mariadb.log" 2>&1 < /dev/null ) &
	UP_STARTED+=(mariadb)
	for i in $(seq 1 300); do
		if db_client -e 'SELECT 1' >/dev/null 2>&1; then return 0; fi
		sleep 0.1
	done
	tail -20 "$RUN/logs/mariadb.log" >&2
	die "MariaDB did not start (see $RUN/logs/mariadb.log)"
}

# One schema and one least-privilege user per service; schema and seed applied each time.
db_provision() {
	local s up pw sql="" host
	for s in $SERVICES_ALL; do
		up=$(echo "$s" | tr a-z A-Z)
		pw_var="SHOPLAB_DB_${up}_PASSWORD"
		pw=${!pw_var}
		sql+="CREATE DATABASE IF NOT EXISTS \`$s\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
		for host in 127.0.0.1 localhost ${DB_CLIENT_HOSTS:-}; do
			sql+="CREATE USER IF NOT EXISTS '$s'@'$host' IDENTIFIED BY '$pw';"
			# DB_TLS=1: the service users may connect over TLS only.
			sql+="ALTER USER '$s'@'$host' IDENTIFIED BY '$pw' REQUIRE $([ "$DB_TLS" = 1 ] && echo SSL || echo NONE);"
			sql+="GRANT SELECT, INSERT, UPDATE, DELETE ON \`$s\`.* TO '$s'@'$host';"
		done
	done
	db_client -e "$sql" || die "provisioning databases failed"
	for s in $SERVICES_ALL; do
		db_migrate "$s" || die "schema of $s: not brought up to date (above)"
		if [ -f "$SQL_DIR/seed-$s.sql" ] && [ -z "${SHOPLAB_NO_SEED:-}" ]; then
			db_client "$s" < "$SQL_DIR/seed-$s.sql" || die "seed sql/seed-$s.sql failed"
		fi
	done
}

# ---------------------------------------------------------------- migrations
# sql/<svc>/NNN_description.sql, applied in order, each once, recorded in the service's
# schema_version table (docs/deploy.md). MariaDB commits DDL implicitly, so a migration is
# not one transaction: each must be safe to run again (IF [NOT] EXISTS), and the row in
# schema_version is written only after the whole file succeeded. The older form, one
# sql/<svc>.sql, is still applied whole on every run (a service not yet moved).
SQL_DIR=${SHOPLAB_SQL:-$TOP/sql}

# migrations SVC: "version path" lines, in order; fails on a bad or repeated number.
migrations() {
	local s=$1 f b v seen=" "
	for f in "$SQL_DIR/$s"/*.sql; do
		[ -f "$f" ] || continue
		b=$(basename "$f")
		case $b in [0-9][0-9][0-9]_*.sql) ;; *) log "sql/$s/$b: a migration is named NNN_description.sql"; return 1 ;; esac
		v=$((10#${b%%_*}))
		[ "$v" -ge 1 ] || { log "sql/$s/$b: migrations are numbered from 001"; return 1; }
		case $seen in *" $v "*) log "sql/$s: two migrations numbered $v"; return 1 ;; esac
		seen="$seen$v "
		echo "$v $f"
	done
}

# db_migrate SVC: applies SVC's pending migrations; 0 when its schema is up to date. Two
# migrators at once (two `up`s, a deploy) take turns on a named lock.
db_migrate() {
	local s=$1 list v f applied sum old n=0 out
	if [ ! -d "$SQL_DIR/$s" ]; then
		if [ -f "$SQL_DIR/$s.sql" ]; then
			db_client "$s" < "$SQL_DIR/$s.sql" || { log "schema sql/$s.sql failed"; return 1; }
		fi
		return 0
	fi
	list=$(migrations "$s") || return 1
	db_client "$s" -e "CREATE TABLE IF NOT EXISTS schema_version (
		version INT NOT NULL PRIMARY KEY, name VARCHAR(200) NOT NULL,
		checksum CHAR(64) NOT NULL,
		applied_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci" ||
		{ log "$s: cannot create the schema_version table"; return 1; }
	while read -r v f; do
		[ -n "$v" ] || continue
		sum=$(sha256sum "$f" | cut -c1-64)
		old=$(db_client -N -B "$s" -e "SELECT checksum FROM schema_version WHERE version = $v") ||
			{ log "$s: cannot read schema_version"; return 1; }
		if [ -n "$old" ]; then
			[ "$old" = "$sum" ] || log "warning: sql/$s/$(basename "$f") changed after it was applied (checksum differs); it is not applied again: migrations are append-only, put the change in a new file"
			continue
		fi
		# One session: the lock, then the file and its row in one transaction (a file of data
		# changes is applied with its row or not at all; DDL commits on its own, hence the
		# idempotence rule); --batch stops at the first error, which rolls back what is open.
		# (The first two statements share the file's first line: MariaDB's "at line N" is the file's.)
		if ! out=$( { printf "SELECT GET_LOCK('shoplab_migrate_%s', 60) INTO @got; START TRANSACTION; " "$s"
			cat "$f"
			echo
			echo "INSERT IGNORE INTO schema_version (version, name, checksum) VALUES ($v, '$(basename "$f")', '$sum');"
			echo "COMMIT;"
			echo "DO RELEASE_LOCK('shoplab_migrate_$s');"
		} | db_client --batch "$s" 2>&1); then
			log "migration sql/$s/$(basename "$f") FAILED: $(echo "$out" | tail -n 3 | tr '\n' ' ')"
			log "$s stays at schema version $(db_client -N -B "$s" -e 'SELECT COALESCE(MAX(version), 0) FROM schema_version' 2>/dev/null || echo '?'); fix the file (or add a new one) and run it again"
			return 1
		fi
		n=$((n + 1))
		log "$s: applied migration $(basename "$f")"
	done <<< "$list"
	applied=$(db_client -N -B "$s" -e 'SELECT COALESCE(MAX(version), 0) FROM schema_version') || return 1
	[ "$n" -eq 0 ] || log "$s: schema version $applied"
	return 0
}

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

# The gateway's user and group when the stack runs as root (none otherwise: nginx is us).
gw_user() { [ "$(id -u)" -ne 0 ] || echo "$GATEWAY_USER"; }
gw_user_ensure() {
	[ "$(id -u)" -eq 0 ] || return 0
	if ! getent passwd "$GATEWAY_USER" > /dev/null; then
		# Two stacks may race to create it: the loser finds it there.
		useradd --system --user-group --home-dir /nonexistent --no-create-home \
			--shell /usr/sbin/nologin --comment "shoplab gateway (nginx workers)" \
			"$GATEWAY_USER" 2>/dev/null || getent passwd "$GATEWAY_USER" > /dev/null ||
			die "cannot create the system user $GATEWAY_USER (GATEWAY_USER) for nginx's workers"
		log "created system user $GATEWAY_USER for nginx's workers"
	fi
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

# ---------------------------------------------------------------- nginx
# render FILE [SVC [PORT]]: the template with every @VAR@ replaced.
render() {
	# @RUN@: what only nginx's master opens (pid, logs); @STATE@: what its workers reach.
	sed -e "s|@RUN@|$RUN|g" -e "s|@STATE@|${NGINX_STATE_DIR:-$RUN}|g" -e "s|@GATEWAY_ADDR@|$GATEWAY_ADDR|g" \
	    -e "s|@GATEWAY_PORT@|$GATEWAY_PORT|g" -e "s|@INTERNAL_PORT@|$INTERNAL_PORT|g" \
	    -e "s|@NGINX_WORKERS@|$NGINX_WORKERS|g" -e "s|@KEEPALIVE@|$UPSTREAM_KEEPALIVE|g" \
	    -e "s|@SERVICE_TOKEN@|$SHOPLAB_SERVICE_TOKEN|g" -e "s|@SERVICE_ADDR@|$SERVICE_ADDR|g" \
	    -e "s|@USER_DIRECTIVE@|$( [ "$(id -u)" -eq 0 ] && echo "user $GATEWAY_USER $GATEWAY_USER;" )|g" \
	    -e "s|@GATEWAY_SECRET@|$SHOPLAB_GATEWAY_SECRET|g" \
	    -e "s|@LOGIN_RATE@|$LOGIN_RATE|g" -e "s|@LOGIN_BURST@|$LOGIN_BURST|g" \
	    -e "s|@API_RATE@|$API_RATE|g" -e "s|@API_BURST@|$API_BURST|g" \
	    -e "s|@API_RATE_EXEMPT_GEO@|$(for a in $API_RATE_EXEMPT; do printf '%s 1; ' "$a"; done)|g" \
	    -e "s|@INTERNAL_ADDR@|$INTERNAL_ADDR|g" -e "s/@SERVICES_RE@/$(services_re)/g" \
	    -e "s|@PUBLIC_LISTEN@|$(if [ "$TLS" = 1 ]; then echo "$TLS_PORT ssl http2"; else echo "$GATEWAY_PORT"; fi)|g" \
	    -e "s|@TLS_CERT@|$TLS_CERT|g" -e "s|@TLS_KEY@|$TLS_KEY|g" \
	    -e "s|@TLS_PORT_SUFFIX@|$( [ "$TLS_PORT" = 443 ] || echo ":$TLS_PORT")|g" \
	    -e "s|@SVC@|${2:-}|g" -e "s|@SVC_PORT@|${3:-}|g" "$1"
}

# tls_certs: with TLS=1 and no TLS_CERT given, a local CA (TLS_DIR/ca.crt, kept) and a server
# certificate for localhost, 127.0.0.1 and GATEWAY_ADDR signed by it (fullchain.pem, privkey.pem),
# made again when the names change, it has less than 30 days left or the CA was renewed. One this did not
# make (no .generated marker: a real one, deployed by the ACME hook) is never touched.
tls_certs() {
	local d=$TLS_DIR san
	[ "$TLS" = 1 ] || return 0
	if [ "$TLS_GENERATE" = 0 ]; then
		[ -r "$TLS_CERT" ] && [ -r "$TLS_KEY" ] || die "TLS_CERT $TLS_CERT or TLS_KEY $TLS_KEY is not readable"
		return 0
	fi
	command -v openssl > /dev/null || die "TLS=1 needs openssl (apt-get install openssl)"
	if [ -f "$d/fullchain.pem" ] && [ ! -f "$d/.generated" ]; then
		[ -r "$d/privkey.pem" ] || die "$d/fullchain.pem has no $d/privkey.pem beside it"
		return 0
	fi
	san="DNS:localhost,IP:127.0.0.1"
	[ "$GATEWAY_ADDR" = 127.0.0.1 ] || [ "$GATEWAY_ADDR" = 0.0.0.0 ] || san="$san,IP:$GATEWAY_ADDR"
	if [ -f "$d/fullchain.pem" ] && [ "$(cat "$d/.generated" 2>/dev/null)" = "$san" ] &&
		openssl x509 -checkend 2592000 -noout -in "$d/fullchain.pem" > /dev/null 2>&1 &&
		openssl verify -CAfile "$d/ca.crt" "$d/fullchain.pem" > /dev/null 2>&1; then
		return 0
	fi
	tls_issue fullchain.pem privkey.pem "$san" || die "could not make the TLS certificates in $d (see $d/openssl.log)"
	echo "$san" > "$d/.generated"
	log "TLS: local CA $d/ca.crt, server certificate for $san"
}

# tls_issue CERT KEY SAN: a server certificate TLS_DIR/CERT with its key TLS_DIR/KEY for the
# names in SAN, signed by the local CA (made first when missing or under 30 days).
tls_issue() {
	local d=$TLS_DIR cert=$1 key=$2 san=$3
	command -v openssl > /dev/null || die "TLS needs openssl (apt-get install openssl)"
	(
		umask 077
		mkdir -p "$d"
		if [ ! -f "$d/ca.key" ] || ! openssl x509 -checkend 2592000 -noout -in "$d/ca.crt" > /dev/null 2>&1; then
			openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
				-subj "/O=shoplab/CN=shoplab local CA $(hostname -s 2>/dev/null || echo host) $(date +%Y%m%d%H%M%S)" \
				-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
				-keyout "$d/ca.key" -out "$d/ca.crt" 2> "$d/openssl.log"
		fi
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=shoplab/CN=localhost" \
			-keyout "$d/$key.new" -out "$d/$cert.csr" 2>> "$d/openssl.log"
		printf 'subjectAltName=%s\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' \
			"$san" > "$d/$cert.ext"
		openssl x509 -req -in "$d/$cert.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -set_serial "0x$(secret 16)" \
			-days 397 -extfile "$d/$cert.ext" -out "$d/$cert.new" 2>> "$d/openssl.log"
		mv -f "$d/$key.new" "$d/$key"
		mv -f "$d/$cert.new" "$d/$cert"
		chmod 0644 "$d/ca.crt" "$d/$cert"
		rm -f "$d/$cert.csr" "$d/$cert.ext"
	)
}

# db_tls_certs: with DB_TLS=1, MariaDB's certificate (TLS_DIR/db-server.crt) for 127.0.0.1,
# localhost and DB_ADDR, made again when the names change or under 30 days.
db_tls_certs() {
	local d=$TLS_DIR san="DNS:localhost,IP:127.0.0.1"
	[ "$DB_TLS" = 1 ] || return 0
	[ "$DB_ADDR" = 127.0.0.1 ] || [ "$DB_ADDR" = 0.0.0.0 ] || san="$san,IP:$DB_ADDR"
	if [ -f "$d/db-server.crt" ] && [ "$(cat "$d/.db-generated" 2>/dev/null)" = "$san" ] &&
		openssl x509 -checkend 2592000 -noout -in "$d/db-server.crt" > /dev/null 2>&1 &&
		openssl verify -CAfile "$d/ca.crt" "$d/db-server.crt" > /dev/null 2>&1; then
		return 0
	fi
	tls_issue db-server.crt db-server.key "$san" || die "could not make MariaDB's TLS certificate in $d (see $d/openssl.log)"
	echo "$san" > "$d/.db-generated"
	log "DB TLS: MariaDB's certificate for $san, signed by $d/ca.crt"
}

# render_upstream SVC SERVER...: the upstream template, its @SVC_SERVER@ line once per
# server (host:port or unix:/path).
render_upstream() {
	local s=$1 t; shift
	t=$(mktemp)
	awk -v servers="$*" '/@SVC_SERVER@/ { n = split(servers, p, " "); for (i = 1; i <= n; i++) {
		l = $0; gsub(/@SVC_SERVER@/, p[i], l); print l } next } { print }' \
		"$TOP/nginx/upstream.conf.in" > "$t"
	render "$t" "$s"
	rm -f "$t"
}

# nginx_render_to DIR: the whole configuration, rendered into DIR (emptied first).
nginx_render_to() {
	local c=$1 s f
	umask 077
	rm -rf "$c"
	mkdir -p "$c/routes" "$c/internal"
	render "$TOP/nginx/nginx.conf.in" > "$c/nginx.conf"
	for f in "$TOP"/nginx/*.conf; do render "$f" > "$c/$(basename "$f")"; done
	# HTTPS: the public server's TLS settings (tls.conf, included in it; empty without TLS),
	# and a plain-HTTP server on GATEWAY_PORT that redirects (nginx/tls*.conf.in).
	if [ "$TLS" = 1 ]; then
		render "$TOP/nginx/tls.conf.in" > "$c/tls.conf"
		if [ "$TLS_STAPLING" = 1 ]; then
			printf 'ssl_stapling on;\nssl_stapling_verify on;\nssl_trusted_certificate %s;\nresolver %s valid=300s;\nresolver_timeout 5s;\n' \
				"${TLS_CHAIN:-$(dirname "$TLS_CERT")/chain.pem}" \
				"${TLS_RESOLVER:-$(awk '$1 == "nameserver" { print $2; exit }' /etc/resolv.conf 2>/dev/null)}" >> "$c/tls.conf"
		else
			printf '# OCSP stapling is off: TLS_STAPLING=1 turns it on for a real certificate.\n' >> "$c/tls.conf"
		fi
		render "$TOP/nginx/tls-redirect.conf.in" >> "$c/gateway.conf"
	else
		echo "# tls.conf - empty: the stack runs without TLS (make up TLS=1)." > "$c/tls.conf"
	fi
	: > "$c/upstreams.conf"
	for s in $(services); do
		if [ "$SHOPLAB_PROXY" = 1 ]; then
			render_upstream "$s" "127.0.0.1:$(proxy_svc_port "$s")" >> "$c/upstreams.conf"
		else
			# shellcheck disable=SC2046
			render_upstream "$s" $(inst_servers "$s") >> "$c/upstreams.conf"
		fi
		for f in routes internal; do
			if [ -f "$TOP/nginx/$f/$s.conf" ]; then
				render "$TOP/nginx/$f/$s.conf" "$s" > "$c/$f/$s.conf"
			fi
		done
	done
	# Every status errors.conf maps, on demand on the internal listener (test_gateway.c asks
	# each one and checks that the answer is the JSON error shape).
	sed -n 's/^error_page \([0-9][0-9][0-9]\) .*/location = \/_ops\/gateway\/status\/\1 { return \1; }/p' \
		"$TOP/nginx/errors.conf" > "$c/internal/00-status.conf"
	# A second internal address, unless internal.conf already listens on @INTERNAL_ADDR@.
	if [ "$INTERNAL_ADDR" != 127.0.0.1 ] && ! grep -q '@INTERNAL_ADDR@' "$TOP/nginx/internal.conf"; then
		echo "listen $INTERNAL_ADDR:$INTERNAL_PORT backlog=4096;" > "$c/internal/00-listen-addr.conf"
	fi
}

nginx_render() {
	local u
	mkdir -p "$RUN/nginx" "$SR/nginx/temp" "$SR/nginx/cache" "$RUN/logs"
	u=$(gw_user)
	if [ -n "$u" ]; then
		# The workers write temp files and the caches under STACK_DIR (they never need the run
		# dir, which may be in a 0700 home), and get to them and to the sockets.
		chmod 0711 "$SR/nginx"
		chown -R "$u:$u" "$SR/nginx/temp" "$SR/nginx/cache"
		runuser -u "$u" -- test -x "$SR/nginx/temp" ||
			die "nginx's workers ($u) cannot reach $SR/nginx/temp (STACK_DIR)"
	fi
	tls_certs
	if [ "$TLS" = 1 ]; then
		# The ACME client's webroot (certbot --webroot -w $SR/acme), readable by the workers.
		mkdir -p "$SR/acme/.well-known/acme-challenge"
		chmod 0755 "$SR/acme" "$SR/acme/.well-known" "$SR/acme/.well-known/acme-challenge"
		# (As root, run/acme links to it: certbot --webroot -w run/acme works as before.)
		[ "$SR" = "$RUN" ] || [ -e "$RUN/acme" ] || ln -sfn "$SR/acme" "$RUN/acme"
	fi
	NGINX_STATE_DIR=$SR nginx_render_to "$RUN/nginx/conf"
	# Static files the gateway serves (GET /api/v1/openapi.yaml): readable by the workers.
	if [ -f "$TOP/docs/openapi.yaml" ]; then
		mkdir -p "$SR/nginx/public" && chmod 0755 "$SR/nginx/public" &&
			install -m 0644 "$TOP/docs/openapi.yaml" "$SR/nginx/public/openapi.yaml" ||
			die "cannot copy docs/openapi.yaml to $SR/nginx/public"
	fi
	# The storefront's files (web/; nginx/storefront.conf), readable by the workers.
	if [ -d "$TOP/web" ]; then
		mkdir -p "$SR/nginx/public" && chmod 0755 "$SR/nginx/public" && rm -rf "$SR/nginx/public/web" &&
			cp -R "$TOP/web" "$SR/nginx/public/web" && chmod -R a+rX,go-w "$SR/nginx/public/web" ||
			die "cannot copy web/ to $SR/nginx/public/web"
	fi
}

# nginx_site DIR SITE_DIR: turns a rendered DIR into files for a system nginx whose own
# nginx.conf has the http{} block: includes point at SITE_DIR (where DIR will live), only
# what must be http-level stays in http.conf, every other setting moves into our two server
# blocks (server-defaults.conf) so the site changes nothing for the host's other sites, and
# DIR/site.conf is the one file to include from http{} (conf.d/shoplab.conf).
nginx_site() {
	local c=$1 site=$2 f
	rm -f "$c/nginx.conf"
	awk -v http_out="$c/http.conf.new" -v srv_out="$c/server-defaults.conf" '
		BEGIN { depth = 0; buf = "" }
		buf == "" && ($0 ~ /^[ \t]*#/ || $0 ~ /^[ \t]*$/) { print > http_out; next }
		{
			buf = buf $0 "\n"; s = $0; sub(/#.*/, "", s)
			depth += gsub(/\{/, "{", s) - gsub(/\}/, "}", s)
			if (depth == 0 && s ~ /[;}][ \t]*$/) {
				match(buf, /[a-z_]+/); name = substr(buf, RSTART, RLENGTH)
				if (name ~ /^(map|geo|log_format|limit_req_zone|limit_conn_zone|fastcgi_cache_path|proxy_cache_path|upstream|split_clients|(map|variables|server_names)_hash_(bucket|max)_size)$/)
					printf "%s", buf > http_out
				else
					printf "%s", buf > srv_out
				buf = ""
			}
		}' "$c/http.conf"
	mv "$c/http.conf.new" "$c/http.conf"
	for f in "$c"/*.conf "$c"/routes/*.conf "$c"/internal/*.conf; do
		[ -f "$f" ] || continue
		sed -i -E -e "s#^([[:space:]]*include[[:space:]]+)([^/][^;]*);#\1$site/\2;#" \
			-e "s#^server \{#server {\n\tinclude $site/server-defaults.conf;#" "$f"
	done
	{
		echo "# shoplab - the gateway site; include it inside http{} (written by scripts/stack.sh render-nginx)."
		for f in http upstreams gateway internal; do echo "include $site/$f.conf;"; done
	} > "$c/site.conf"
}

nginx_up() {
	nginx_render
	"${gw_ns[@]}" nginx -t -q -p "$RUN/nginx/" -c conf/nginx.conf -e "$RUN/logs/nginx-error.log" 2>&1 || die "nginx configuration test failed"
	if alive "$RUN/nginx.pid"; then
		"${gw_ns[@]}" nginx -p "$RUN/nginx/" -c conf/nginx.conf -e "$RUN/logs/nginx-error.log" -s reload
	else
		"${gw_ns[@]}" nginx -p "$RUN/nginx/" -c conf/nginx.conf -e "$RUN/logs/nginx-error.log" || die "nginx did not start"
		UP_STARTED+=(nginx)
	fi
}

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

# nginx_leftovers: with nginx's master gone (no live $RUN/nginx.pid), the nginx processes it
# left: workers outlive a master killed with SIGKILL, keep serving and keep the gateway ports.
# A leftover is an nginx worker or cache process whose parent is no nginx master, in the dead
# master's session (nginx daemonizes with setsid) or, outside the netns lab, holding one of
# this stack's gateway ports. (A master is never one: another `up` may be starting it.) Prints
# their pids.
nginx_leftovers() {
	local m p held=""
	part nginx || return 0
	alive "$RUN/nginx.pid" && return 0
	m=$(cat "$RUN/nginx.pid" 2>/dev/null || true)
	case $m in '' | *[!0-9]*) m=0 ;; esac
	if command -v ss > /dev/null && [ -z "${GW_NETNS:-}" ]; then
		for p in "$GATEWAY_PORT" "$INTERNAL_PORT" ${TLS_PORT:+"$TLS_PORT"}; do
			held="$held $(ss -Hltnp "sport = :$p" 2>/dev/null | grep -o '("nginx",pid=[0-9]*' | sed 's/.*pid=//' | tr '\n' ' ' || true)"
		done
	fi
	ps -e -o pid=,ppid=,sid=,stat=,args= | awk -v m="$m" -v held="$held" '
		BEGIN { n = split(held, h, " "); for (i = 1; i <= n; i++) hold[h[i]] = 1 }
		{ pid[NR] = $1; ppid[NR] = $2; sid[NR] = $3; st[NR] = $4; $1 = $2 = $3 = $4 = ""; sub(/^ +/, ""); args[NR] = $0
		  if (args[NR] ~ /^nginx: master/) master[pid[NR]] = 1 }
		END { for (i = 1; i <= NR; i++)
			if (args[i] ~ /^nginx: (worker|cache)/ && st[i] !~ /^Z/ && !(ppid[i] in master) &&
			    (sid[i] == m || pid[i] in hold)) printf "%s ", pid[i] }'
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

stop_services() {
	local s f
	for s in $SERVICES_ALL; do
		stop_pid "$RUN/$s.pid"
		for f in "$RUN/$s"-[0-9]*.pid; do stop_pid "$f"; done
	done
}

cmd_up() {
	local t0 s k left i
	t0=$(date +%s%N)
	[ -n "$(services)" ] || die "nothing is built: run 'make' first"
	for s in $(services); do instances "$s" > /dev/null; done
	# Turning the proxy on or off re-wires every arrow: the services (their database and
	# internal-gateway addresses) and the proxy restart; nginx is re-rendered and reloaded.
	if [ "$STACK_EXISTS" = 1 ] && [ "$SHOPLAB_PROXY" != "${STORED_PROXY:-0}" ] && stack_running; then
		log "SHOPLAB_PROXY ${STORED_PROXY:-0} -> $SHOPLAB_PROXY: restarting the services and the proxy so that every arrow is wired"
		stop_services
		stop_pid "$RUN/sim.pid"
	fi
	left=$(nginx_leftovers)
	if [ -n "$left" ]; then
		log "nginx's master is gone but its processes ${left% } still serve the gateway ports: killing them"
		# shellcheck disable=SC2086
		kill -KILL $left 2>/dev/null || true
		for i in $(seq 1 100); do [ -z "$(nginx_leftovers)" ] && break; sleep 0.05; done
	fi
	# shellcheck disable=SC2046
	ports_free $(ports_needed)
	# From here on, a failure stops what this `up` started, in reverse order (what ran before
	# it runs on), and says so in one line.
	UP_STARTED=()
	trap up_failed EXIT
	trap 'exit 130' INT TERM
	stack_dir_gc
	stack_dir_prepare
	write_env
	load_env
	# RabbitMQ boots slowly (seconds): start it first, wait for it last.
	if part db && ! alive "$RUN/rabbitmq.pid"; then
		UP_STARTED+=(broker)
		"${db_ns[@]}" "$TOP/scripts/broker.sh" start
	fi
	if part db; then
		db_up
		db_provision
	fi
	proxy_up
	[ "$SHOPLAB_PROXY" = 1 ] && [ -n "$INSTANCES" ] && log "SHOPLAB_PROXY=1: the proxy reaches the first instance of each service only"
	if part services || part nginx; then gw_user_ensure; fi
	if part services; then
		sock_dir
		for s in $(services); do
			svc_trim "$s"
			for k in $(seq 1 "$(instances "$s")"); do svc_up "$s" "$k"; done
		done
	fi
	if ! part nginx; then
		if part db; then "${db_ns[@]}" "$TOP/scripts/broker.sh" wait; fi
		trap - EXIT INT TERM
		log "up ($SHOPLAB_PARTS) in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
		return 0
	fi
	nginx_up
	wait_ready
	tls_ready
	if part db; then "${db_ns[@]}" "$TOP/scripts/broker.sh" wait; fi
	# The admin's password never goes to the terminal (or a CI log): a 0600 file, its path shown.
	if [ -n "$(services | grep -w users)" ]; then
		(umask 077 && printf '%s\n' "$SHOPLAB_ADMIN_PASSWORD" > "$RUN/admin-password.tmp" &&
			mv -f "$RUN/admin-password.tmp" "$RUN/admin-password") || die "cannot write $RUN/admin-password"
		if [ ! -f "$RUN/admin-shown" ]; then
			echo "admin account: $SHOPLAB_ADMIN_EMAIL, its password in $RUN/admin-password (mode 0600; also in $RUN/shoplab.env)"
			: > "$RUN/admin-shown"
		fi
	fi
	trap - EXIT INT TERM
	log "up in $(( ($(date +%s%N) - t0) / 1000000 )) ms: $(services)${INSTANCES:+(instances: $INSTANCES)}"
	echo "shoplab is up: $SHOPLAB_GATEWAY_URL  (internal: $SHOPLAB_GATEWAY_INTERNAL; state in $RUN)"
	echo "storefront: $SHOPLAB_GATEWAY_URL/  (open it in a browser; docs/storefront.md)"
}

# up_failed: the EXIT trap of a failing `up`: stops, newest first, what it started (pid files
# in UP_STARTED; "broker" is RabbitMQ and its epmd).
up_failed() {
	local rc=$? i n names=""
	trap - EXIT INT TERM
	set +e
	n=${#UP_STARTED[@]}
	if [ "$n" -eq 0 ]; then
		log "up failed: it had started nothing; what ran before runs on"
		exit "$rc"
	fi
	for ((i = n - 1; i >= 0; i--)); do
		case ${UP_STARTED[i]} in
		broker) "${db_ns[@]}" "$TOP/scripts/broker.sh" stop ;;
		*) stop_pid "$RUN/${UP_STARTED[i]}.pid" ;;
		esac
		names="$names ${UP_STARTED[i]}"
	done
	log "up failed: stopped what it had started ($(echo $names)); see $RUN/logs/"
	exit "$rc"
}

# tls_ready: with TLS=1, the HTTPS listener answers (a reload that could not bind it keeps the
# old configuration and says so only in the error log).
tls_ready() {
	local i code=000 ca=()
	[ "$TLS" = 1 ] || return 0
	[ "$TLS_GENERATE" = 0 ] || ca=(--cacert "$TLS_DIR/ca.crt")
	for i in $(seq 1 50); do
		code=$("${gw_ns[@]}" curl -s -o /dev/null -w '%{http_code}' --max-time 2 "${ca[@]}" \
			--resolve "localhost:$TLS_PORT:$([ "$GATEWAY_ADDR" = 0.0.0.0 ] && echo 127.0.0.1 || echo "$GATEWAY_ADDR")" \
			"https://localhost:$TLS_PORT/" 2>/dev/null) || true
		[ "$code" = 200 ] && return 0
		sleep 0.1
	done
	die "HTTPS on port $TLS_PORT does not answer (got $code; see $RUN/logs/nginx-error.log)"
}

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

cmd_down() {
	[ -d "$RUN" ] || return 0
	stop_pid "$RUN/nginx.pid"
	stop_services
	stop_pid "$RUN/sim.pid"
	if [ -f "$RUN/shoplab.env" ]; then "$TOP/scripts/broker.sh" stop; fi
	stop_pid "$RUN/mariadb.pid"
	log "stopped (data kept in $RUN$([ "$SR" = "$RUN" ] || echo " and $SR"))"
}

# purge: down, then the stack's data and state are removed (STACK_DIR, and the run dir).
cmd_purge() {
	cmd_down
	if [ "$SR" != "$RUN" ] && [ -d "$SR" ] && [ ! -L "$SR" ]; then rm -rf "$SR"; fi
	rm -rf "$RUN"
	log "purged $RUN$([ "$SR" = "$RUN" ] || echo " and $SR")"
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

case ${1:-} in
up)	cmd_up ;;
down)	cmd_down ;;
purge)	cmd_purge ;;
status)	cmd_status ;;
env)	write_env; cat "$RUN/shoplab.env" ;;
service-env)	cmd_service_env "${2:-}" ;;
render-nginx)
	# render-nginx DIR [SITE_DIR]: the nginx files for $RUN/shoplab.env's settings; with
	# SITE_DIR, as a site for a system nginx (see nginx_site). NGINX_STATE replaces @RUN@.
	[ -n "${2:-}" ] || die "usage: $0 render-nginx DIR [SITE_DIR]"
	load_env
	tls_certs
	if [ "$TLS" = 1 ]; then
		a=${NGINX_STATE:-$RUN}/acme
		mkdir -p "$a/.well-known/acme-challenge" && chmod 0755 "$a" "$a/.well-known" "$a/.well-known/acme-challenge" ||
			die "cannot make the ACME webroot $a"
	fi
	RUN=${NGINX_STATE:-$RUN} nginx_render_to "$2"
	[ -z "${3:-}" ] || nginx_site "$2" "$3" ;;
provision-db)	load_env; db_provision ;;
deploy)	cmd_deploy "${2:-}" ;;
migrate)
	# migrate [SVC...]: pending migrations of the services named (default: all).
	load_env
	shift
	for s in "$@"; do
		case " $SERVICES_ALL " in *" $s "*) ;; *) die "migrate: no such service: '$s'; one of: $SERVICES_ALL" ;; esac
	done
	for s in ${*:-$SERVICES_ALL}; do db_migrate "$s" || die "migrate $s failed"; done
	log "schemas up to date: ${*:-$SERVICES_ALL}" ;;
*)	echo "usage: $0 up|down|purge|status|env|service-env SVC|render-nginx DIR [SITE_DIR]|provision-db|migrate [SVC...]|deploy SVC" >&2; exit 2 ;;
esac
