#!/usr/bin/env bash
# deploy.sh - replace one service's running process under systemd (installed as sbin/shoplab-deploy).
#
#   shoplab-deploy SERVICE        (as root, after `make install` put the new binary in place)
#
# 1. applies the service's pending migrations (sql/<service>/NNN_*.sql) on the system MariaDB;
#    a failure stops here and the running process keeps serving;
# 2. `systemctl reload shoplab@SERVICE`: the unit's ExecReload sends SIGUSR2, the running
#    process starts the installed binary with its listening socket (docs/deploy.md); the new
#    one tells systemd it is ready and is the main process now (Type=notify, MAINPID=), then
#    stops the old one, which drains;
# 3. no reload of nginx: it retires its kept connections to the old process itself within the
#    upstream's keepalive_time (3 s), so no client's kept-alive connection is closed either;
# 4. waits for the old process to end and for /_ops/SERVICE/readyz through the internal listener.
# Settings (environment) as for shoplab-bootstrap: DB_SOCKET, INTERNAL_PORT (8081), DEPLOY_TIMEOUT (30).
set -euo pipefail
# --help prints the comment above on stdout; an unknown option prints it on stderr, exit 2.
# (Installed as sbin/shoplab-*, the lib is under share/shoplab/scripts; in a checkout, scripts/.)
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../share/shoplab/scripts/lib/usage.sh" 2> /dev/null || . "$HERE/../scripts/lib/usage.sh"
usage_opts "${1:-}"
PREFIX_DIR=${SHOPLAB_PREFIX_DIR:-$(dirname "$HERE")}
STACK=$PREFIX_DIR/share/shoplab/scripts/stack.sh
ETC=${SHOPLAB_ROOT:-}/etc/shoplab
SVC=${1:-}
: "${DEPLOY_TIMEOUT:=30}"

log() { printf 'shoplab-deploy: %s\n' "$*" >&2; }
die() { printf 'shoplab-deploy: %s\n' "$*" >&2; exit 1; }

[ -n "$SVC" ] || die "usage: shoplab-deploy SERVICE"
grep -qw "$SVC" "$PREFIX_DIR/lib/shoplab/services" 2>/dev/null || die "no such service: $SVC"
[ "$(id -u)" -eq 0 ] || die "run me as root"
"$PREFIX_DIR/lib/shoplab/bin/$SVC" --version > /dev/null || die "$PREFIX_DIR/lib/shoplab/bin/$SVC does not run"

export SHOPLAB_RUN=$ETC SHOPLAB_BUILD=$PREFIX_DIR/lib/shoplab
export DB_SOCKET=${DB_SOCKET:-/run/mysqld/mysqld.sock} SERVICE_TRANSPORT=tcp
"$STACK" migrate "$SVC" || die "a migration failed: nothing was deployed, the running $SVC keeps serving"

unit=shoplab@$SVC.service
old=$(systemctl show -p MainPID --value "$unit")
[ -n "$old" ] && [ "$old" != 0 ] || die "$unit is not running: systemctl start $unit"
systemctl reload "$unit" || die "systemctl reload $unit failed; the running $SVC (pid $old) keeps serving"
new=$old
for _ in $(seq 1 $((DEPLOY_TIMEOUT * 10))); do
	new=$(systemctl show -p MainPID --value "$unit")
	[ "$new" != "$old" ] && [ "$new" != 0 ] && break
	sleep 0.1
done
[ "$new" != "$old" ] || die "the new $SVC did not become ready in $DEPLOY_TIMEOUT s (journalctl -u $unit); pid $old keeps serving"
for _ in $(seq 1 $((DEPLOY_TIMEOUT * 10))); do
	kill -0 "$old" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$old" 2>/dev/null && log "the old process (pid $old) is still running after $DEPLOY_TIMEOUT s"
port=$(sed -n 's/^SHOPLAB_INTERNAL_PORT=//p' "$ETC/shoplab.env" 2>/dev/null | head -n 1)
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://127.0.0.1:${INTERNAL_PORT:-${port:-8081}}/_ops/$SVC/readyz" || true)
[ "$code" = 200 ] || die "/_ops/$SVC/readyz answers $code after the deploy (journalctl -u $unit)"
log "$SVC: pid $old -> $new, $("$PREFIX_DIR/lib/shoplab/bin/$SVC" --version | awk '{ print $NF }'), ready"
