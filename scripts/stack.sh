#!/usr/bin/env bash
# stack.sh - start, stop and inspect the shoplab stack (MariaDB, services, nginx) under a run dir.
#
#   scripts/stack.sh up | down | status | env | deploy SVC | migrate [SVC...] | purge
#   scripts/stack.sh service-env SVC | render-nginx DIR [SITE_DIR] | provision-db   (hosting)
#
# Everything lives under $SHOPLAB_RUN (default ./run): data, sockets, logs, pid files,
# generated secrets and run/shoplab.env. Ports default to the contract's and move together
# with PORT_BASE (see README). The stack runs as the current user; as root, as STACK_USER
# (shoplab), with what that user must reach in STACK_DIR (see STACK_USER in lib/stack-env.sh; purge removes
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
LIB=$TOP/scripts/lib

log() { printf 'stack: %s\n' "$*" >&2; }
die() { printf 'stack: %s\n' "$*" >&2; exit 1; }

# The pieces, by subject (scripts/lib/): settings first (their defaults run in order), then
# what the commands below call.
# shellcheck source=scripts/lib/stack-env.sh
. "$LIB/stack-env.sh"
# shellcheck source=scripts/lib/proc.sh
. "$LIB/proc.sh"
# shellcheck source=scripts/lib/mycnf.sh
. "$LIB/mycnf.sh"
# shellcheck source=scripts/lib/stack-rundir.sh
. "$LIB/stack-rundir.sh"
# shellcheck source=scripts/lib/stack-db.sh
. "$LIB/stack-db.sh"
# shellcheck source=scripts/lib/stack-services.sh
. "$LIB/stack-services.sh"
# shellcheck source=scripts/lib/stack-nginx.sh
. "$LIB/stack-nginx.sh"
# shellcheck source=scripts/lib/stack-status.sh
. "$LIB/stack-status.sh"
# shellcheck source=scripts/lib/stack-deploy.sh
. "$LIB/stack-deploy.sh"

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

case ${1:-} in
up)	cmd_up ;;
down)	cmd_down ;;
purge)	cmd_purge ;;
status)	cmd_status ;;
env)	write_env; cat "$RUN/shoplab.env" ;;
service-env)	cmd_service_env "${2:-}" ;;
render-nginx)
	# render-nginx DIR [SITE_DIR]: the nginx files for $RUN/shoplab.env's settings; with
	# SITE_DIR, as a site for a system nginx (see nginx_site, lib/stack-nginx.sh). NGINX_STATE replaces @RUN@.
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
