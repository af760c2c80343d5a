#!/usr/bin/env bash
# test_two_stacks.sh - a stack is one thing (issue: experiments you can trust):
#   - `up` on ports another stack holds starts nothing, and names the holder;
#   - two stacks on different PORT_BASEs run scenarios at the same time, and each one's
#     restore (stack.sh up, called by sim run without PORT_BASE) lands on its own ports;
#   - another PORT_BASE on a running stack is refused.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${SHOPLAB_BUILD:-$TOP/build}
tmp=$(mktemp -d /tmp/shoplab-2stacks.XXXXXX)
export SHOPLAB_BUILD=$BUILD SHOPLAB_KDF_COST=1 SHOPLAB_TOP=$TOP
unset PORT_BASE SHOPLAB_PROXY
stack() { local run=$1; shift; SHOPLAB_RUN=$tmp/$run "$@" "$TOP/scripts/stack.sh" ${STACK_CMD:-up}; }
cleanup() {
	SHOPLAB_RUN=$tmp/a "$TOP/scripts/stack.sh" purge > /dev/null 2>&1 || true
	SHOPLAB_RUN=$tmp/b "$TOP/scripts/stack.sh" purge > /dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() { echo "test_two_stacks: $*" >&2; exit 1; }
envval() { sed -n "s/^$2=//p" "$tmp/$1/shoplab.env" | head -n 1; }

a=$("$TOP/scripts/free-port-base.sh" 60)
SHOPLAB_RUN=$tmp/a PORT_BASE=$a SHOPLAB_PROXY=1 "$TOP/scripts/stack.sh" up > "$tmp/a.log" 2>&1 ||
	{ cat "$tmp/a.log" >&2; fail "stack a did not start"; }

# b on a's ports: refused before anything starts, with the holder named.
if SHOPLAB_RUN=$tmp/b PORT_BASE=$a SHOPLAB_PROXY=1 "$TOP/scripts/stack.sh" up > "$tmp/b-taken.log" 2>&1; then
	fail "stack b started on stack a's ports"
fi
grep -q "is taken by .*pid [0-9]*.*nothing was started" "$tmp/b-taken.log" ||
	{ cat "$tmp/b-taken.log" >&2; fail "the refusal does not name the holder"; }
[ ! -e "$tmp/b/shoplab.env" ] && [ -z "$(ls "$tmp/b"/*.pid 2>/dev/null)" ] ||
	fail "the refused stack left files or processes behind"

b=$("$TOP/scripts/free-port-base.sh" 60)
[ "$a" != "$b" ] || fail "free-port-base gave a's base twice"
SHOPLAB_RUN=$tmp/b PORT_BASE=$b SHOPLAB_PROXY=1 "$TOP/scripts/stack.sh" up > "$tmp/b.log" 2>&1 ||
	{ cat "$tmp/b.log" >&2; fail "stack b did not start"; }

# Another base for a running stack: refused, one line.
if SHOPLAB_RUN=$tmp/a PORT_BASE=$b "$TOP/scripts/stack.sh" up > "$tmp/a-move.log" 2>&1; then
	fail "stack a moved to b's base while running"
fi
grep -q "make down' first" "$tmp/a-move.log" || { cat "$tmp/a-move.log" >&2; fail "no one-line refusal"; }

# Both at once: a kill of payments, restored by sim run (which calls stack.sh up with no
# PORT_BASE in its environment).
cat > "$tmp/kill.json" <<'JSON'
{"name": "two-stacks", "seed": 3, "duration_s": 8, "drain_s": 4,
 "phases": [{"at_s": 0, "rate": 5}], "mix": {"browse": 3, "checkout": 2},
 "data": {"users": 3, "products": [1, 5], "stock": 100},
 "faults": [{"at_s": 2, "until_s": 4, "kind": "kill", "target": "payments"}]}
JSON
for s in a b; do
	(set -a; . "$tmp/$s/shoplab.env"; set +a; unset PORT_BASE
	 "$BUILD/bin/sim" run --out "$tmp/reports-$s" "$tmp/kill.json" > "$tmp/run-$s.log" 2>&1
	 echo $? > "$tmp/run-$s.rc") &
done
wait
for s in a b; do
	[ "$(cat "$tmp/run-$s.rc")" = 0 ] || { tail -20 "$tmp/run-$s.log" >&2; fail "the scenario on stack $s failed"; }
done
[ "$(envval a SHOPLAB_PORT_BASE)" = "$a" ] || fail "stack a's env moved to $(envval a SHOPLAB_PORT_BASE)"
[ "$(envval b SHOPLAB_PORT_BASE)" = "$b" ] || fail "stack b's env moved to $(envval b SHOPLAB_PORT_BASE)"
for s in a b; do
	base=$a; [ $s = b ] && base=$b
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$((base + 1))/_ops/payments/readyz")
	[ "$code" = 200 ] || fail "stack $s's payments is not back on its own port ($code)"
	pid=$(cat "$tmp/$s/payments.pid")
	kill -0 "$pid" 2>/dev/null || fail "stack $s's payments pid $pid is not running"
	tr '\0' '\n' < "/proc/$pid/environ" | grep -qx "SHOPLAB_LISTEN=127.0.0.1:$((base + 15))" ||
		fail "stack $s's payments came back on another port"
done
echo "test_two_stacks: a taken port starts nothing; two stacks ran scenarios at once, each restored on its own ports"
echo "1 passed, 0 failed"
