#!/usr/bin/env bash
# bootstrap.sh - first-time set-up of an installed shoplab host (installed as sbin/shoplab-bootstrap).
#
#   shoplab-bootstrap [all | user | secrets | env | nginx | db | broker] ...  (default: all, as root)
#
# user     creates the system user and group `shoplab` (no home, no shell)
# secrets  generates /etc/shoplab/shoplab.env (mode 0600 root): DB passwords, service token,
#          token-signing key, card key, admin password. Kept on later runs; never in the repo.
# env      writes /etc/shoplab/<service>.env (0640 root:shoplab): listen address, database
#          settings and that service's own secrets only (the units' EnvironmentFile)
# nginx    renders the gateway from the installed nginx templates into /etc/nginx/shoplab/
#          and includes it from /etc/nginx/conf.d/shoplab.conf; state in /var/lib/shoplab
#          (access log, cache, the served openapi.yaml, the ACME webroot acme/). TLS=1: HTTPS
#          on TLS_PORT with /etc/shoplab/tls/{fullchain,privkey}.pem (a local CA's until
#          share/shoplab/scripts/tls-deploy-hook.sh deploys a real one), HTTP redirects
# db       creates a database and a DB user per service on the system MariaDB (as root over its
#          socket), applies the pending migrations sql/<service>/NNN_*.sql (recorded in each
#          database's schema_version; docs/deploy.md) and the seeds (SHOPLAB_NO_SEED=1: none)
# broker   provisions the system RabbitMQ (Debian's rabbitmq-server; enabled and started if
#          it is not running): the vhost, the shoplab-admin user, one user per service with
#          the password kept in shoplab.env (each service's only in its own <service>.env), the
#          least-privilege permissions, exchanges, quorum queues and dead-letter queues, the
#          same definitions as `make up` (share/shoplab/scripts/broker.sh definitions),
#          imported with rabbitmqctl import_definitions; reruns keep the passwords; and
#          the rabbitmq_prometheus plugin enabled (the broker's own metrics on port 15692)
#
# Settings (environment): AMQP_ADDR (127.0.0.1), AMQP_PORT (5672: the system RabbitMQ),
# RABBITMQCTL (rabbitmqctl: the command the broker step runs), RABBITMQ_PLUGINS
# (rabbitmq-plugins: the command that enables rabbitmq_prometheus), BROKER_WAIT_S (60: how long
# the broker step waits for RabbitMQ to start), DB_ADDR (127.0.0.1), DB_PORT (3306), DB_SOCKET
# (/run/mysqld/mysqld.sock), DB_CLIENT_HOSTS (addresses of service hosts, for a remote DB),
# SERVICE_ADDR (127.0.0.1), GATEWAY_ADDR (127.0.0.1), INTERNAL_ADDR, PORT_BASE and the other
# port variables of scripts/stack.sh, SHOPLAB_THREADS. SHOPLAB_ROOT writes everything under
# another root (tests); SHOPLAB_USER / SHOPLAB_GROUP / NGINX_USER name other accounts.
set -euo pipefail
# --help prints the comment above on stdout; an unknown option prints it on stderr, exit 2.
# (Installed as sbin/shoplab-*, the lib is under share/shoplab/scripts; in a checkout, scripts/.)
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../share/shoplab/scripts/lib/usage.sh" 2> /dev/null || . "$HERE/../scripts/lib/usage.sh"
usage_opts "${1:-}"
PREFIX_DIR=${SHOPLAB_PREFIX_DIR:-$(dirname "$HERE")}
ROOT=${SHOPLAB_ROOT:-}
ETC=$ROOT/etc/shoplab
NGINX_DIR=$ROOT/etc/nginx
STATE=$ROOT/var/lib/shoplab
SVC_USER=${SHOPLAB_USER:-shoplab}
SVC_GROUP=${SHOPLAB_GROUP:-$SVC_USER}
NGINX_USER=${NGINX_USER:-www-data}
STACK=$PREFIX_DIR/share/shoplab/scripts/stack.sh
BROKER=$PREFIX_DIR/share/shoplab/scripts/broker.sh
# The one list of services, installed beside the binaries by make install.
SERVICES=$(awk '{ printf "%s ", $2 }' "$PREFIX_DIR/lib/shoplab/services" 2>/dev/null) || true

# stack.sh owns the formats (secrets, env files, nginx rendering, provisioning): reuse it.
export SHOPLAB_RUN=$ETC SHOPLAB_BUILD=$PREFIX_DIR/lib/shoplab
export DB_PORT=${DB_PORT:-3306}
# The system RabbitMQ (Debian's rabbitmq-server listens on 5672).
export AMQP_ADDR=${AMQP_ADDR:-127.0.0.1} AMQP_PORT=${AMQP_PORT:-5672}
# The units' services listen on TCP (SHOPLAB_LISTEN in <service>.env), so the system nginx,
# whose user is not ours, reaches them; the gateway secret in every request proves nginx.
export SERVICE_TRANSPORT=${SERVICE_TRANSPORT:-tcp}
export DB_SOCKET=${DB_SOCKET:-/run/mysqld/mysqld.sock}
# `sim run` on this host finds /etc/shoplab/shoplab.env and writes its reports here.
export SHOPLAB_REPORTS_DIR=${SHOPLAB_REPORTS_DIR:-$STATE/reports}

log() { printf 'bootstrap: %s\n' "$*" >&2; }
die() { printf 'bootstrap: %s\n' "$*" >&2; exit 1; }

[ -x "$STACK" ] || die "no $STACK: run 'make install' first"
[ -n "$SERVICES" ] || die "no $PREFIX_DIR/lib/shoplab/services: run 'make install' first"
[ "$(id -u)" -eq 0 ] || die "run me as root"

do_user() {
	if getent passwd "$SVC_USER" > /dev/null; then return 0; fi
	useradd --system --user-group --home-dir /nonexistent --no-create-home \
		--shell /usr/sbin/nologin --comment "shoplab services" "$SVC_USER"
	log "created system user $SVC_USER"
}

do_secrets() {
	install -d -m 0750 -o root -g "$SVC_GROUP" "$ETC"
	# Secrets already there stay; addresses and ports are refreshed from the environment.
	"$STACK" env > /dev/null
	chmod 0600 "$ETC/shoplab.env"
	log "secrets in $ETC/shoplab.env (0600 root)"
}

do_env() {
	local s t
	[ -f "$ETC/shoplab.env" ] || do_secrets
	for s in $SERVICES; do
		t=$(mktemp "$ETC/.$s.env.XXXXXX")
		"$STACK" service-env "$s" > "$t"
		chown "root:$SVC_GROUP" "$t"
		chmod 0640 "$t"
		mv -f "$t" "$ETC/$s.env"
	done
	log "service environments in $ETC/<service>.env (0640 root:$SVC_GROUP)"
}

do_nginx() {
	local d ngrp
	# Ports, addresses and TLS go into shoplab.env too (sim reads the gateway's URL there).
	do_secrets
	install -d -m 0755 "$STATE" "$NGINX_DIR/conf.d"
	# The master opens the access log at start, but after logrotate's USR1 the workers reopen
	# it themselves: the directory must let the nginx user in (0750 root:<its group>).
	ngrp=$(id -gn "$NGINX_USER" 2> /dev/null) || ngrp=""
	install -d -m 0750 ${ngrp:+-g "$ngrp"} "$STATE/logs"
	install -d -m 0700 -o "$NGINX_USER" "$STATE/nginx" "$STATE/nginx/temp" "$STATE/nginx/cache"
	# GET /api/v1/openapi.yaml: the installed description, readable by the workers.
	install -d -m 0755 "$STATE/nginx/public"
	install -m 0644 "$PREFIX_DIR/share/shoplab/docs/openapi.yaml" "$STATE/nginx/public/openapi.yaml"
	# The storefront at / (nginx/storefront.conf): the installed web/, readable by the workers.
	rm -rf "$STATE/nginx/public/web" && cp -R "$PREFIX_DIR/share/shoplab/web" "$STATE/nginx/public/web" && chmod -R a+rX,go-w "$STATE/nginx/public/web"
	# Render next to the live directory, then swap, so a failed render leaves nginx's files alone.
	d=$NGINX_DIR/.shoplab.new
	NGINX_STATE=$STATE "$STACK" render-nginx "$d" "$NGINX_DIR/shoplab"
	rm -rf "$NGINX_DIR/shoplab.old"
	[ ! -d "$NGINX_DIR/shoplab" ] || mv "$NGINX_DIR/shoplab" "$NGINX_DIR/shoplab.old"
	mv "$d" "$NGINX_DIR/shoplab"
	rm -rf "$NGINX_DIR/shoplab.old"
	printf '# shoplab.conf - the shoplab gateway (rendered by shoplab-bootstrap into %s).\ninclude %s;\n' \
		"$NGINX_DIR/shoplab/" "$NGINX_DIR/shoplab/site.conf" > "$NGINX_DIR/conf.d/shoplab.conf"
	log "nginx site in $NGINX_DIR/shoplab (included from conf.d/shoplab.conf); then: nginx -t && systemctl reload nginx"
}

do_db() {
	[ -f "$ETC/shoplab.env" ] || do_secrets
	[ -S "$DB_SOCKET" ] || die "no MariaDB socket at $DB_SOCKET (apt-get install mariadb-server, or set DB_SOCKET)"
	"$STACK" provision-db
	log "databases and users provisioned on the MariaDB at $DB_SOCKET"
}

# broker_has CTL...: the vhost, every service's user and every consumer's queue exist.
broker_has() {
	local out u q
	out=$("$@" -q list_vhosts 2> /dev/null) || return 1
	grep -qx "$AMQP_VHOST" <<< "$out" || return 1
	out=$("$@" -q list_users 2> /dev/null) || return 1
	for u in shoplab-admin $BROKER_USERS; do
		awk -v u="$u" '$1 == u { f = 1 } END { exit !f }' <<< "$out" || return 1
	done
	out=$("$@" -q list_queues -p "$AMQP_VHOST" name 2> /dev/null) || return 1
	for q in $BROKER_QUEUES; do grep -qx "$q" <<< "$out" || return 1; done
	return 0
}

# broker: the service users, permissions and topology on the system RabbitMQ, from the same
# definitions make up loads. rabbitmqctl (run as the rabbitmq user by Debian's wrapper) reads
# them from a file only that user can read, removed when the import is done.
do_broker() {
	local ctl plug out s tmp
	[ -f "$ETC/shoplab.env" ] || do_secrets
	[ -x "$BROKER" ] || die "no $BROKER: run 'make install' first"
	read -r -a ctl <<< "${RABBITMQCTL:-rabbitmqctl}"
	command -v "${ctl[0]}" > /dev/null ||
		die "no ${ctl[0]}: apt-get install rabbitmq-server (or set RABBITMQCTL)"
	if ! "${ctl[@]}" -q ping > /dev/null 2>&1; then
		if [ -z "${RABBITMQCTL:-}" ] && [ -d /run/systemd/system ]; then
			log "the system RabbitMQ is not running: systemctl enable --now rabbitmq-server"
			systemctl enable --now rabbitmq-server || die "systemctl could not start rabbitmq-server (journalctl -u rabbitmq-server)"
		fi
		"${ctl[@]}" -q await_startup --timeout "${BROKER_WAIT_S:-60}" > /dev/null 2>&1 ||
			die "RabbitMQ does not answer ${ctl[*]} (systemctl status rabbitmq-server); nothing was provisioned"
	fi
	AMQP_VHOST=$(sed -n 's/^SHOPLAB_AMQP_VHOST=//p' "$ETC/shoplab.env")
	BROKER_USERS=$(sed -n 's/^SHOPLAB_AMQP_\([A-Z0-9_]*\)_PASSWORD=..*/\1/p' "$ETC/shoplab.env" | tr A-Z a-z | grep -vx admin | tr '\n' ' ')
	BROKER_QUEUES=""
	for s in $SERVICES; do
		if grep -q '^consumes=.' "$PREFIX_DIR/share/shoplab/fcgi-services/$s/service.conf" 2> /dev/null; then
			BROKER_QUEUES="$BROKER_QUEUES $s.events $s.dead"
		fi
	done
	tmp=$(mktemp -d)
	# shellcheck disable=SC2064
	trap "rm -rf '$tmp'" EXIT
	trap 'exit 130' INT TERM
	(umask 077 && "$BROKER" definitions > "$tmp/definitions.json") || die "broker.sh definitions failed"
	if getent passwd rabbitmq > /dev/null; then chown -R rabbitmq: "$tmp"; fi
	out=$("${ctl[@]}" -q import_definitions "$tmp/definitions.json" 2>&1) ||
		die "rabbitmqctl import_definitions failed: $(echo "$out" | tail -n 3 | tr '\n' ' ')"
	# The import runs asynchronously in the node: wait until its result is there.
	for _ in $(seq 1 $(( ${BROKER_WAIT_S:-60} * 5 ))); do
		broker_has "${ctl[@]}" && break
		sleep 0.2
	done
	rm -rf "$tmp"
	broker_has "${ctl[@]}" ||
		die "after the import RabbitMQ still lacks the vhost $AMQP_VHOST, a user of [shoplab-admin $BROKER_USERS] or a queue of [$BROKER_QUEUES] (its log: /var/log/rabbitmq/)"
	log "RabbitMQ provisioned: vhost $AMQP_VHOST, users shoplab-admin $BROKER_USERS, queues$BROKER_QUEUES (${ctl[*]})"
	# The broker's own metrics for Prometheus (lab/prometheus.yml's rabbitmq job): queue depths,
	# the <svc>.dead queues, connections. Enabled on the running node and in its
	# enabled_plugins file, so it stays on after a restart; a rerun changes nothing.
	read -r -a plug <<< "${RABBITMQ_PLUGINS:-rabbitmq-plugins}"
	out=$("${plug[@]}" -q enable rabbitmq_prometheus 2>&1) ||
		die "rabbitmq-plugins enable rabbitmq_prometheus failed: $(echo "$out" | tail -n 3 | tr '\n' ' ')"
	"${plug[@]}" -q is_enabled rabbitmq_prometheus > /dev/null 2>&1 ||
		die "rabbitmq_prometheus is still not enabled (${plug[*]} list -e)"
	log "RabbitMQ's rabbitmq_prometheus plugin is on (/metrics on port 15692 unless /etc/rabbitmq/rabbitmq.conf sets prometheus.tcp.port)"
}

steps=${*:-all}
[ "$steps" = all ] && steps="user secrets env nginx db broker"
for step in $steps; do
	case $step in
	user | secrets | env | nginx | db | broker) "do_$step" ;;
	*) die "unknown step: $step (all user secrets env nginx db broker)" ;;
	esac
done
if [ "${*:-all}" = all ]; then
	log "done. Start it: systemctl daemon-reload && systemctl enable --now shoplab.target && nginx -t && systemctl reload nginx"
fi
