#!/usr/bin/env bash
# stack.sh - start, stop and inspect the shoplab stack (MariaDB, services, nginx) under a run dir.
#
#   scripts/stack.sh up | down | status | env | deploy SVC | migrate [SVC...]
#   scripts/stack.sh service-env SVC | render-nginx DIR [SITE_DIR] | provision-db   (hosting)
#
# Everything lives under $SHOPLAB_RUN (default ./run): data, sockets, logs, pid files,
# generated secrets and run/shoplab.env. Ports default to the contract's and move together
# with PORT_BASE (see README). The stack runs as the current user; nothing is installed.
# INSTANCES="catalog:3 orders:2" runs several instances of a service behind one upstream;
# DB_NETNS, SVC_NETNS, GW_NETNS run MariaDB (and RabbitMQ, on AMQP_ADDR), the services,
# nginx in network namespaces (the netns lab, scripts/lab-netns.sh); docs/hosting.md and
# docs/lab.md describe both.
set -euo pipefail
# --help prints the comment above on stdout; an unknown option prints it on stderr, exit 2.
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
case ${1:-} in
-h | --help) usage; exit 0 ;;
-?*) usage >&2; exit 2 ;;
esac

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
	svc_port_base=$((PORT_BASE + 10))
	# HTTPS (TLS=1): base+10, the one slot of the service range no service index takes.
	: "${TLS_PORT:=$((PORT_BASE + 10))}"
else
	: "${GATEWAY_PORT:=8080}" "${INTERNAL_PORT:=8081}" "${DB_PORT:=3307}" "${PROXY_API_PORT:=8474}"
	: "${TLS_PORT:=8443}"
	svc_port_base=9100
	: "${AMQP_PORT:=5673}"
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
	if [ "$SERVICE_TRANSPORT" = unix ]; then echo "unix:$RUN/sock/$(inst_name "$1" "${2:-1}").sock"
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
		[ "$DB_TLS" = 0 ] || echo "SHOPLAB_DB_TLS_CA=${DB_TLS_CA:-$TLS_DIR/ca.crt}"
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
		echo "SHOPLAB_DB_SOCKET_PATH=$RUN/mariadb/mariadb.sock"
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
db_client() { mariadb --no-defaults --socket="${DB_SOCKET:-$RUN/mariadb/mariadb.sock}" -u "$(id -un)" "$@"; }

db_up() {
	local d=$RUN/mariadb i
	mkdir -p "$d" "$RUN/logs"
	if alive "$RUN/mariadb.pid"; then return 0; fi
	cat > "$d/my.cnf" <<-CNF
	# my.cnf - the stack's private MariaDB server, written by scripts/stack.sh
	[mariadbd]
	datadir=$d/data
	socket=$d/mariadb.sock
	pid-file=$RUN/mariadb.pid
	log-error=$RUN/logs/mariadb.log
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
	CNF
	if [ "$DB_TLS" = 1 ]; then
		db_tls_certs
		printf 'ssl_cert=%s\nssl_key=%s\nssl_ca=%s\ntls_version=TLSv1.2,TLSv1.3\n' \
			"$TLS_DIR/db-server.crt" "$TLS_DIR/db-server.key" "$TLS_DIR/ca.crt" >> "$d/my.cnf"
	fi
	if [ ! -d "$d/data/mysql" ]; then
		log "initialising MariaDB in $d/data"
		# --force: skip the install script's host name check (resolveip of `uname -n`, then of
		# localhost), which fails in a minimal root or container without /etc/hosts; the grant
		# tables are the same, and every client here connects by socket or 127.0.0.1.
		mariadb-install-db --no-defaults --datadir="$d/data" --user="$(id -un)" --force \
			--skip-test-db --auth-root-authentication-method=socket \
			> "$RUN/logs/mariadb-install.log" 2>&1 || { cat "$RUN/logs/mariadb-install.log" >&2; die "mariadb-install-db failed"; }
	fi
	setsid "${db_ns[@]}" mariadbd --defaults-file="$d/my.cnf" --user="$(id -un)" >> "$RUN/logs/mariadb.log" 2>&1 < /dev/null &
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
		local v
		for v in $(compgen -e); do
			case $v in SHOPLAB_*PASSWORD|SHOPLAB_*SECRET*|SHOPLAB_*TOKEN|SHOPLAB_*_KEY) unset "$v";; esac
		done
		while IFS= read -r kv; do export "$kv"; done < <(svc_secrets "$s")
		# SHOPLAB_<SVC>_LISTEN (from shoplab.env) would win over SHOPLAB_LISTEN: set both.
		export SHOPLAB_LISTEN="$(inst_listen "$s" "$k")"
		# The service rewrites it when ready: after a deploy it names the new process.
		export SHOPLAB_PID_FILE="$RUN/$name.pid"
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
		exec setsid "${svc_ns[@]}" "$BUILD/bin/$s" >> "$RUN/logs/$name.log" 2>&1 < /dev/null
	) &
	echo $! > "$RUN/$name.pid"
}

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

# $RUN/sock: the services' sockets. Its group is nginx's (setgid, so every socket created
# in it gets that group too); no one else may even look in: 2710 as root, 0700 otherwise.
sock_dir() {
	local u
	[ "$SERVICE_TRANSPORT" = unix ] || return 0
	mkdir -p "$RUN/sock"
	u=$(gw_user)
	if [ -n "$u" ]; then
		chown "root:$u" "$RUN/sock"
		chmod 2710 "$RUN/sock"
	else
		chmod 0700 "$RUN/sock"
	fi
}

# ---------------------------------------------------------------- sim proxy
proxy_up() {
	local s first=1 i
	[ "$SHOPLAB_PROXY" = 1 ] || return 0
	alive "$RUN/sim.pid" && return 0
	[ -x "$BUILD/bin/sim" ] || die "SHOPLAB_PROXY=1 needs build/bin/sim (run make)"
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
	} > "$RUN/sim-proxy.json"
	setsid "$BUILD/bin/sim" proxy --host 127.0.0.1 --port "$PROXY_API_PORT" \
		--config "$RUN/sim-proxy.json" --seed "$SHOPLAB_PROXY_SEED" \
		--fault-log "$RUN/logs/faults.jsonl" >> "$RUN/logs/sim-proxy.log" 2>&1 < /dev/null &
	echo $! > "$RUN/sim.pid"
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
	sed -e "s|@RUN@|$RUN|g" -e "s|@GATEWAY_ADDR@|$GATEWAY_ADDR|g" \
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
	# A second internal address, unless internal.conf already listens on @INTERNAL_ADDR@.
	if [ "$INTERNAL_ADDR" != 127.0.0.1 ] && ! grep -q '@INTERNAL_ADDR@' "$TOP/nginx/internal.conf"; then
		echo "listen $INTERNAL_ADDR:$INTERNAL_PORT backlog=4096;" > "$c/internal/00-listen-addr.conf"
	fi
}

nginx_render() {
	local u
	mkdir -p "$RUN/nginx/temp" "$RUN/nginx/cache" "$RUN/logs"
	u=$(gw_user)
	if [ -n "$u" ]; then
		# The workers write temp files and the caches, and must get to them and the sockets.
		chmod 0711 "$RUN" "$RUN/nginx"
		chown -R "$u:$u" "$RUN/nginx/temp" "$RUN/nginx/cache"
		runuser -u "$u" -- test -x "$RUN/nginx/temp" ||
			die "nginx's workers ($u) cannot reach $RUN: make its parent directories searchable (chmod o+x) or set SHOPLAB_RUN elsewhere"
	fi
	tls_certs
	if [ "$TLS" = 1 ]; then
		# The ACME client's webroot (certbot --webroot -w $RUN/acme), readable by the workers.
		mkdir -p "$RUN/acme/.well-known/acme-challenge"
		chmod 0755 "$RUN/acme" "$RUN/acme/.well-known" "$RUN/acme/.well-known/acme-challenge"
	fi
	nginx_render_to "$RUN/nginx/conf"
	# Static files the gateway serves (GET /api/v1/openapi.yaml): readable by the workers.
	if [ -f "$TOP/docs/openapi.yaml" ]; then
		mkdir -p "$RUN/nginx/public" && chmod 0755 "$RUN/nginx/public" &&
			install -m 0644 "$TOP/docs/openapi.yaml" "$RUN/nginx/public/openapi.yaml" ||
			die "cannot copy docs/openapi.yaml to $RUN/nginx/public"
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
					[ -S "$RUN/sock/$s-$k.sock" ] && break
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
	[ -f "$f" ] || return 0
	pid=$(cat "$f" 2>/dev/null || true)
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		# Gone, or a zombie waiting for init to reap it (which can take seconds): stopped.
		for i in $(seq 1 200); do pid_alive "$pid" || break; sleep 0.05; done
		if pid_alive "$pid"; then
			log "$(basename "$f" .pid) did not stop in 10 s: killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	# Removed only if it still names the process just stopped.
	[ "$(cat "$f" 2>/dev/null || true)" != "$pid" ] || rm -f "$f"
	[ -n "$pid" ] || rm -f "$f"
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
	if part db && ! alive "$RUN/rabbitmq.pid"; then printf 'amqp %s epmd %s erlang-dist %s ' "$AMQP_PORT" $((AMQP_PORT + 1)) $((AMQP_PORT + 2)); fi
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
	local t0 s k
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
	# shellcheck disable=SC2046
	ports_free $(ports_needed)
	write_env
	load_env
	# RabbitMQ boots slowly (seconds): start it first, wait for it last.
	if part db; then "${db_ns[@]}" "$TOP/scripts/broker.sh" start; fi
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
		log "up ($SHOPLAB_PARTS) in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
		return 0
	fi
	nginx_up
	wait_ready
	tls_ready
	if part db; then "${db_ns[@]}" "$TOP/scripts/broker.sh" wait; fi
	if [ ! -f "$RUN/admin-shown" ] && [ -n "$(services | grep -w users)" ]; then
		echo "admin account: $SHOPLAB_ADMIN_EMAIL / $SHOPLAB_ADMIN_PASSWORD (kept in $RUN/shoplab.env; shown once)"
		: > "$RUN/admin-shown"
	fi
	log "up in $(( ($(date +%s%N) - t0) / 1000000 )) ms: $(services)${INSTANCES:+(instances: $INSTANCES)}"
	echo "shoplab is up: $SHOPLAB_GATEWAY_URL  (internal: $SHOPLAB_GATEWAY_INTERNAL; state in $RUN)"
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
# nginx, reloaded here, closes them. Nothing is refused: the socket never closes. A new
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
	local s=$1 k=$2 name pf old new="" i code t0 exe
	name=$(inst_name "$s" "$k")
	pf=$RUN/$name.pid
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
		new=$(cat "$pf" 2>/dev/null || true)
		if [ -n "$new" ] && [ "$new" != "$old" ] && kill -0 "$new" 2>/dev/null; then break; fi
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
	# The gateway's connections to the old process: a reload gives nginx new workers, and the
	# old workers close their kept connections once their requests are done.
	if part nginx && alive "$RUN/nginx.pid"; then
		"${gw_ns[@]}" nginx -p "$RUN/nginx/" -c conf/nginx.conf -e "$RUN/logs/nginx-error.log" -s reload ||
			log "deploy $name: nginx reload failed: the old process drains until its grace ends"
	fi
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
	"$TOP/scripts/broker.sh" stop
	stop_pid "$RUN/mariadb.pid"
	log "stopped (data kept in $RUN)"
}

cmd_status() {
	local f
	for f in "$RUN"/*.pid; do
		[ -f "$f" ] || continue
		if alive "$f"; then echo "$(basename "$f" .pid): running (pid $(cat "$f"))"
		else echo "$(basename "$f" .pid): not running (stale pid file)"; fi
	done
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
*)	echo "usage: $0 up|down|status|env|service-env SVC|render-nginx DIR [SITE_DIR]|provision-db|migrate [SVC...]|deploy SVC" >&2; exit 2 ;;
esac
