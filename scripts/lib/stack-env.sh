# stack-env.sh - stack.sh's settings: the services list, ports (PORT_BASE), addresses, TLS and proxy switches, the stack's user, the instances, shoplab.env (sourced by scripts/stack.sh, not run).
# shellcheck shell=bash
#
# Its top-level code is the settings' defaults, run in order when sourced; the caller sets TOP,
# RUN and BUILD and defines log and die; "$1" is stack.sh's command (a port move is refused
# while the stack runs, except for down and status).

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

# A stack is one thing: the first `up` chooses its ports and its proxy wiring and writes them
# to $RUN/shoplab.env; every later command reads them from there. A PORT_BASE that differs
# is taken only while nothing of the stack runs; SHOPLAB_PROXY may change (see cmd_up, stack.sh).
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
# How the services reach MariaDB: its unix socket when it runs beside them in this stack (the
# default: a statement's round trip then skips the TCP stack on both ends, see
# docs/performance.md), or TCP where a socket cannot go: the sim proxy's <svc>-db arrows, TLS
# to the database, several database nodes, a database elsewhere or in a namespace, the services
# or the database not part of this stack.
if [ -z "${DB_TRANSPORT:-}" ]; then
	DB_TRANSPORT=unix
	if [ "${SHOPLAB_PROXY:-0}" = 1 ] || [ "$DB_TLS" = 1 ] || [ -n "${DB_HOSTS:-}${SHOPLAB_DB_HOSTS:-}" ] ||
	    [ "$DB_ADDR" != 127.0.0.1 ] || [ -n "${DB_NETNS:-}${SVC_NETNS:-}" ] || [ -n "${DB_SOCKET:-}" ] ||
	    ! part db || ! part services; then
		DB_TRANSPORT=tcp
	fi
fi
case $DB_TRANSPORT in unix | tcp) ;; *) echo "stack: DB_TRANSPORT is unix or tcp" >&2; exit 1 ;; esac
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

secret() { od -An -tx1 -N"${1:-24}" /dev/urandom | tr -d ' \n'; }

# drop_secrets: shoplab.env's secrets out of this (sub)shell's environment, before it starts
# a process that needs none of them (MariaDB, the sim proxy) or only its own (a service).
drop_secrets() {
	local v
	for v in $(compgen -e); do
		case $v in SHOPLAB_*PASSWORD | SHOPLAB_*SECRET* | SHOPLAB_*TOKEN | SHOPLAB_*_KEY) unset "$v" ;; esac
	done
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
		echo "SHOPLAB_DB_TRANSPORT=$DB_TRANSPORT"
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
