#!/usr/bin/env bash
# kill_targets.sh - every kill target of `sim run` works: nginx (its master and its workers), MariaDB,
# RabbitMQ and each service are killed once (SIGKILL, confirmed gone) and started again by the
# scheduled `stack.sh up`; `stack.sh status` tells the truth meanwhile (nginx "not running", never
# a master gone with workers still serving); and a master killed by hand (workers left serving
# the ports) is reported by status and cleared by `stack.sh up`.
#
# Runs against the stack of $SHOPLAB_RUN (started with SHOPLAB_PROXY=1, its PORT_BASE exported), as
# scripts/run-tests.sh runs it after the smoke scenario (about 90 s). Leaves the stack up.
set -uo pipefail
poller=
TRUST=kill_targets
. "$(dirname "$0")/trust_lib.sh"
trust_stop() {
	[ -n "$poller" ] && kill "$poller" 2>/dev/null
}
set -a
. "$RUN/shoplab.env"
set +a

# nginx's processes: the master's pid and its children (workers, cache manager)
nginx_procs() {
	local m
	m=$(cat "$RUN/nginx.pid" 2>/dev/null) || return 0
	echo "$m $(ps -o pid= --ppid "$m" | tr -d ' ' | tr '\n' ' ')"
}
gateway_code() {
	curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://127.0.0.1:$SHOPLAB_GATEWAY_PORT/api/v1/products/1" || true
}

# ---- 1. every target killed once by `sim run`, in two runs so that no two `stack.sh up` overlap
# (an up takes 5-30 s on a loaded machine; one that overlaps a kill fails for that reason):
# nginx with its scheduled restart (`stack.sh up` at until_s), then MariaDB, every service and
# RabbitMQ one a second, brought back by the `stack.sh up` at the end of the load.
scenario() {    # scenario NAME DURATION FAULTS...
	local name=$1 dur=$2
	shift 2
	printf '{"name": "%s", "seed": 3, "duration_s": %s, "drain_s": 2, "events_drain_s": 30,\n' "$name" "$dur"
	printf ' "phases": [{"at_s": 0, "rate": 2}], "mix": {"browse": 1},\n'
	printf ' "data": {"users": 1, "products": [1, 10]},\n "faults": [\n'
	local IFS=,
	printf '  %s\n ]}\n' "$*"
}
faults=() at=2
for t in mariadb $SHOPLAB_SERVICES rabbitmq; do
	faults+=("{\"at_s\": $at, \"kind\": \"kill\", \"target\": \"$t\"}")
	at=$((at + 1))
done
scenario kill-nginx 8 '{"at_s": 2, "until_s": 3, "kind": "kill", "target": "nginx"}' > "$work/kill-nginx.json"
scenario kill-rest $((at + 2)) "${faults[@]}" > "$work/kill-rest.json"
targets="nginx mariadb $SHOPLAB_SERVICES rabbitmq"
before=$(nginx_procs)
# status sampled every 0.2 s while the faults run
( while :; do "$TOP/scripts/stack.sh" status 2>&1 | sed "s/^/$(date +%s.%N) /"; sleep 0.2; done ) > "$work/status.log" &
poller=$!
for r in kill-nginx kill-rest; do
	"$SIM" run "$work/$r.json" --out "$work/rep-$r" > "$work/$r.out" 2> "$work/$r.err"
	c=$?
	# exit 1 is allowed: reads fail while a service is down until the end of the load
	if [ "$c" = 0 ] || [ "$c" = 1 ]; then
		ok "sim run $r is valid (exit $c)"
	else
		bad "sim run $r: exit $c (3: a kill or its restart was not confirmed)"
		grep -E 'RUN INVALID|cannot|not confirmed|FAILED|failed' "$work/$r.out" "$work/$r.err" | head -20 >&2
	fi
	# its "Fault timeline as applied": every action, confirmed or not
	sed -n '/Fault timeline as applied/,/<\/pre>/p' "$work/rep-$r/report.html" >> "$work/timeline"
done
kill "$poller" 2>/dev/null
wait "$poller" 2>/dev/null
poller=
tl=$work/timeline
[ "$(echo "$before" | wc -w)" -ge 2 ] || bad "nginx had no worker before the kill: $before"
if grep -qE "nginx \(pid ${before%% *} and [0-9]+ process(es)? under it\): Killed \(confirmed: all gone\)" "$tl"; then
	ok "nginx: master and workers killed: $(grep -oE 'nginx \(pid [0-9]+ and [^)]*\): Killed \(confirmed: all gone\)' "$tl")"
else
	bad "nginx: no confirmed kill of the master with its workers"
	grep 'nginx' "$tl" >&2
fi
for p in ${before#* }; do
	[ -d "/proc/$p" ] && bad "nginx worker $p of the killed master is still alive"
done
for t in $targets; do
	if grep -qE "$t \(pid [0-9]+( and [0-9]+ process(es)? under it)?\): Killed \(confirmed: (all )?gone\)" "$tl"; then
		ok "$t: killed, confirmed gone"
	else
		bad "$t: no confirmed kill"
		grep -F "$t" "$tl" | head -5 >&2
	fi
done
if grep -q 'stack.sh up finished: ok' "$tl" && ! grep -q 'stack.sh up finished: FAILED' "$tl" &&
   [ "$(grep -c 'end of faults: .*stack.sh up: ok' "$tl")" = 2 ]; then
	ok "every restart worked: nginx's scheduled one ('stack.sh up finished: ok') and both runs' ends"
else
	bad "the restarts:"
	grep 'stack.sh up' "$tl" >&2
fi
# status: nginx seen down while killed, never "master gone, workers serving", all running at the end
if grep -q ' nginx: not running' "$work/status.log"; then ok "status said nginx: not running while it was killed"
else bad "status never said nginx: not running"; fi
# (one sample may fall inside the kill itself, between the master's death and its workers':
# left behind means the same processes in two samples in a row)
stuck=$(awk '$1 != cur { if (now != "" && now == prev) hit = now; prev = now; now = ""; cur = $1 }
	/master gone, but/ { x = $0; sub(/.*its processes /, "", x); sub(/ still serve.*/, "", x); now = x }
	END { if (now != "" && now == prev) hit = now; print hit }' "$work/status.log")
if [ -n "$stuck" ]; then bad "status saw nginx processes $stuck serving without a master (twice in a row)"
else ok "status never saw nginx workers left behind ($(grep -c 'master gone' "$work/status.log") passing samples inside a kill)"; fi
"$TOP/scripts/stack.sh" status > "$work/status.end" 2>&1
if ! grep -qv ': running (pid' "$work/status.end"; then ok "after the runs every process is running ($(wc -l < "$work/status.end") pid files)"
else bad "after the runs: $(grep -v ': running (pid' "$work/status.end" | tr '\n' ';')"; fi
code=$(gateway_code)
[ "$code" = 200 ] && ok "the gateway answers 200 after the runs" || bad "the gateway answers $code after the runs"

# ---- 2. the master killed by hand (the workers keep serving and the ports): status says so,
# and `stack.sh up` kills the leftovers and starts nginx again
before=$(nginx_procs)
kill -KILL "${before%% *}"
for _ in $(seq 1 40); do [ -d "/proc/${before%% *}" ] || break; sleep 0.05; done
"$TOP/scripts/stack.sh" status > "$work/status.hand" 2>&1
code=$(gateway_code)
if grep -q '^nginx: not running' "$work/status.hand" && grep -q '^nginx: master gone, but its processes [0-9 ]* still serve' "$work/status.hand"; then
	ok "status after a master killed by hand (gateway answers $code): $(grep 'master gone' "$work/status.hand")"
else
	bad "status after a master killed by hand does not name the workers left serving:"
	cat "$work/status.hand" >&2
fi
if "$TOP/scripts/stack.sh" up > "$work/up.out" 2>&1; then
	ok "stack.sh up after a master killed by hand: $(grep -o "nginx's master is gone.*" "$work/up.out" | head -1)"
else
	bad "stack.sh up after a master killed by hand failed: $(tail -3 "$work/up.out")"
fi
for p in ${before#* }; do
	[ -d "/proc/$p" ] && bad "worker $p of the master killed by hand is still alive after up"
done
"$TOP/scripts/stack.sh" status > "$work/status.end2" 2>&1
if grep -q '^nginx: running' "$work/status.end2" && ! grep -q 'master gone' "$work/status.end2"; then ok "nginx running again: $(grep '^nginx' "$work/status.end2")"
else bad "nginx after up: $(grep nginx "$work/status.end2")"; fi
code=$(gateway_code)
[ "$code" = 200 ] && ok "the gateway answers 200 again" || bad "the gateway answers $code after up"
trust_end
