#!/usr/bin/env bash
# test_root_stack.sh - as root: a stack from a checkout under a 0700 directory with its run dir in a 0700 `mktemp -d` serves, none of its processes is root's, no mode changes; an up that fails late leaves nothing running.
#
#   tests/hosting/test_root_stack.sh     (run by scripts/run-tests.sh integration; skipped when not root)
set -uo pipefail
case ${1:-} in -h | --help) sed -n '2,4s/^# \{0,1\}//p' "$0"; exit 0 ;; -?*) sed -n '2,4s/^# \{0,1\}//p' "$0" >&2; exit 2 ;; esac

TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${SHOPLAB_BUILD:-$TOP/build}
if [ "$(id -u)" -ne 0 ]; then
	echo "test_root_stack: not root: an ordinary user's stack runs as that user (skipped)"
	exit 0
fi
fails=0
ok() { printf 'ok   %s\n' "$*"; }
bad() { printf 'FAIL %s\n' "$*" >&2; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

# A home like /root (0700) holding a copy of the checkout, and a run dir from mktemp (0700).
home=$(mktemp -d /tmp/shoplab-home.XXXXXX)
rundir=$(mktemp -d /tmp/shoplab-run.XXXXXX)
co=$home/shoplab
export SHOPLAB_RUN=$rundir/run SHOPLAB_BUILD=$co/build SHOPLAB_TOP=$co SHOPLAB_KDF_COST=1
unset SHOPLAB_PROXY PORT_BASE STACK_DIR
cleanup() {
	"$co/scripts/stack.sh" purge > /dev/null 2>&1 || true
	rm -rf "$home" "$rundir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$co/build"
tar -C "$TOP" --exclude=./build --exclude=./.git --exclude=./run --exclude=./.tools -cf - . | tar -C "$co" -xf - &&
	cp -a "$BUILD/bin" "$BUILD/services" "$co/build/" || { bad "copy the checkout"; exit 1; }
base=$("$TOP/scripts/free-port-base.sh" 60) || exit 1
export PORT_BASE=$base

# stack_procs: "pid uid name" of every live process a pid file of the run dir names, and of
# their descendants (nginx's master excepted: it stays root).
stack_procs() {
	local f pids=""
	for f in "$SHOPLAB_RUN"/*.pid; do
		[ -f "$f" ] && [ "$(basename "$f")" != nginx.pid ] && pids="$pids $(cat "$f" 2>/dev/null)"
	done
	ps -e -o pid=,ppid=,uid=,comm= | awk -v roots="$pids" '
		BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) want[r[i]] = 1 }
		{ pp[$1] = $2; line[$1] = $1 " " $3 " " $4 }
		END { for (p in pp) { for (q = p; q > 1 && !(q in want); q = pp[q]) if (!(q in pp)) break
			if (q in want) print line[p] } }'
}

if "$co/scripts/stack.sh" up > "$home/up.log" 2>&1; then ok "up as root from $co (0700 above it), run dir $SHOPLAB_RUN (0700 above it)"
else bad "up as root from a 0700 home and a mktemp run dir"; tail -n 20 "$home/up.log" >&2; exit 1; fi
url=$(sed -n 's/^SHOPLAB_GATEWAY_URL=//p' "$SHOPLAB_RUN/shoplab.env")
check "GET /api/v1/products through the gateway: 200" test "$(curl -s -o /dev/null -w '%{http_code}' "$url/api/v1/products")" = 200
procs=$(stack_procs)
check "the stack's processes are there ($(echo "$procs" | wc -l))" test "$(echo "$procs" | wc -l)" -ge 8
check "none of them runs as root" test -z "$(echo "$procs" | awk '$2 == 0')"
check "the home is still 0700, the run dir's parent too" test "$(stat -c %a "$home")/$(stat -c %a "$rundir")" = 700/700
check "the admin password is not printed, its 0600 file is" \
	sh -c "! grep -qF \"\$(cat '$SHOPLAB_RUN/admin-password')\" '$home/up.log' && test \"\$(stat -c %a '$SHOPLAB_RUN/admin-password')\" = 600"
check "shoplab.env is root's alone (0600)" test "$(stat -c %U:%a "$SHOPLAB_RUN/shoplab.env")" = root:600
"$co/scripts/stack.sh" down > /dev/null 2>&1

# An up that fails late (nginx's configuration, after MariaDB, RabbitMQ and the services
# started) stops all it started and says so; status agrees.
if NGINX_WORKERS=none "$co/scripts/stack.sh" up > "$home/fail.log" 2>&1; then bad "an up with a broken nginx configuration succeeded"
else ok "an up with a broken nginx configuration fails"; fi
check "it says in one line that it stopped what it had started" grep -q 'up failed: stopped what it had started (.*mariadb' "$home/fail.log"
# Every process started for this stack has its run dir in its environment (shoplab.env).
left_running() {
	local p pid
	for p in /proc/[0-9]*; do
		pid=${p#/proc/}
		[ "$pid" != $$ ] && [ "$pid" != "$BASHPID" ] || continue
		[ "$(sed -n 's/^[0-9]* (.*) \([A-Z]\).*/\1/p' "$p/stat" 2>/dev/null)" != Z ] || continue
		grep -qzx "SHOPLAB_RUN=$SHOPLAB_RUN" "$p/environ" 2>/dev/null && printf '%s(%s) ' "$pid" "$(cat "$p/comm" 2>/dev/null)"
	done
	return 0
}
left=""
for _ in $(seq 1 50); do
	left=$(left_running)
	[ -z "$left" ] && break
	sleep 0.1
done
check "nothing of the stack is left running" test -z "$left"
[ -z "$left" ] || echo "left running: $left" >&2
check "status says nothing runs" grep -q '^nothing of the stack in .* is running' <("$co/scripts/stack.sh" status)

echo "test_root_stack: $fails failed"
[ "$fails" -eq 0 ]
