#!/usr/bin/env bash
# run_trust.sh - `sim run` against a real stack: every kind of typo exits 2 before any load, a fault
# that fails at run time (the proxy killed mid-run) makes the run invalid (exit 3), and a signal in
# each phase (set-up, load, drain, checking) writes a report marked interrupted (exit 3), a p99 the
# stack cannot meet fails the steady-state hypothesis (exit 1) and a rate of 0 is INVALID (exit 3).
#
# Runs against the stack of $SHOPLAB_RUN (started with SHOPLAB_PROXY=1, its PORT_BASE exported), as
# scripts/run-tests.sh runs it after the smoke scenario. Leaves the stack up.
set -uo pipefail
simpid=
TRUST=run_trust
. "$(dirname "$0")/trust_lib.sh"
SCN=$TOP/tests/live/trust.json
trust_stop() {
	[ -n "$simpid" ] && kill -0 "$simpid" 2>/dev/null && kill -KILL "$simpid" 2>/dev/null
	[ -s "$RUN/mariadb.pid" ] && kill -CONT "$(cat "$RUN/mariadb.pid")" 2>/dev/null
}

# Starts sim in the background; stdout and stderr go to $work/NAME.out and .err.
start() {
	local name=$1 file=$2
	shift 2
	"$SIM" run "$file" --out "$work/rep-$name" "$@" > "$work/$name.out" 2> "$work/$name.err" &
	simpid=$!
}

# Waits (up to $2 s) until $work/$1.err holds the text $3.
await() {
	local i
	for i in $(seq 1 $(($2 * 20))); do
		grep -qF -- "$3" "$work/$1.err" && return 0
		kill -0 "$simpid" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# ---- 1. typos: exit 2 before any load, FILE:LINE: PATH named, no report folder left
typo proxy 's/"gateway-payments"/"gateway-paymnts"/' '10: faults[0].proxy: the sim proxy at'
typo toxic-type 's/"fcgi_latency"/"fcgi_latncy"/' '10: faults[0].type: the sim proxy has no toxic type "fcgi_latncy"'
typo attribute 's/{"latency": 600}/{"latncy": 600}/' '10: faults[0].attributes.latncy: fcgi_latency has no attribute "latncy"'
typo attribute-type 's/{"latency": 600}/{"latency": "600"}/' '10: faults[0].attributes.latency: must be an integer'
typo attribute-range 's/{"latency": 600}/{"latency": -800}/' '10: faults[0].attributes.latency: fcgi_latency.latency must be >= 0 (got -800)'
typo stream 's/"type": "fcgi_latency"/"type": "fcgi_latency", "stream": "downstream"/' '10: faults[0].stream: fcgi_latency works on the upstream stream only'
typo target 's/"target": "payments"/"target": "paymnts"/' '11: faults[1].target: must be a service of the stack'
typo field 's/"until_s": 6, /"untill_s": 6, /' '11: faults[1].untill_s: unknown field'
typo products 's/"products": \[1, 10\]/"products": [1, 99999]/' '8: data.products: product 99999 does not exist'

# ---- 2. the proxy dies before the first toxic: the toxic never applies, the run is invalid
start proxy-down "$SCN"
if await proxy-down 30 '[load]'; then
	sleep 1
	kill -TERM "$(cat "$RUN/sim.pid")"
fi
wait "$simpid"; rc=$?
if [ "$rc" = 3 ] && grep -q '^RUN INVALID (run): a fault did not apply as planned: faults\[0\] (toxic fcgi_latency on gateway-payments) at 2.0 s: not applied' "$work/proxy-down.out" &&
   grep -q '"status":"invalid"' "$work/rep-proxy-down/report.json" &&
   grep -q 'gateway-payments fcgi_latency (NOT APPLIED)' "$work/rep-proxy-down/report.html" &&
   grep -q 'INVALID: the experiment did not happen as planned' "$work/rep-proxy-down/report.html"; then
	ok "proxy killed mid-run: exit 3, $(grep '^RUN INVALID' "$work/proxy-down.out" | cut -c1-150)"
else
	bad "proxy killed mid-run: exit $rc, wanted 3 and an invalid report"
	cat "$work/proxy-down.out" "$work/proxy-down.err" >&2
fi
# sim's end of faults brought the proxy back (stack.sh up).
curl -sf -o /dev/null "$(grep '^SHOPLAB_PROXY_API=' "$RUN/shoplab.env" | cut -d= -f2-)/version" ||
	bad "the proxy is not back after the invalid run"

# ---- 3. a signal in each phase: exit 3, a report marked interrupted, no empty folder
interrupt() {
	local phase=$1 marker=$2 delay=$3 file=$4 rc
	shift 4
	start "int-$phase" "$file" "$@"
	if await "int-$phase" 40 "$marker"; then
		sleep "$delay"
		# The live view, served while the run goes, says the phase.
		if [ -n "${live_port:-}" ] && [ "$phase" = load ]; then
			# It is rewritten once a second: look a few times before calling it stale.
			seen=0
			for _ in 1 2 3 4; do
				if curl -sf --max-time 5 "http://127.0.0.1:$live_port/" | grep -q 'phase <b>load</b>'; then
					seen=1
					break
				fi
				sleep 0.5
			done
			if [ "$seen" = 1 ]; then
				ok "live view at http://127.0.0.1:$live_port/ shows the load as it goes"
			else
				bad "the live view did not show the load"
			fi
		fi
		if [ "$phase" = checking ]; then
			# The check reads the databases: hold MariaDB still so that the signal lands in it.
			kill -STOP "$(cat "$RUN/mariadb.pid")"
			sleep 0.3
			kill -INT "$simpid"
			sleep 0.3
			kill -CONT "$(cat "$RUN/mariadb.pid")"
		else
			kill -INT "$simpid"
		fi
	fi
	wait "$simpid"; rc=$?
	if [ "$rc" = 3 ] && grep -q "^RUN INTERRUPTED (run): interrupted by Interrupt during the $phase" "$work/int-$phase.out" &&
	   grep -q '"status":"interrupted"' "$work/rep-int-$phase/report.json" &&
	   grep -q 'INTERRUPTED: not a verdict' "$work/rep-int-$phase/report.html"; then
		ok "SIGINT in the $phase: exit 3, $(grep '^RUN INTERRUPTED' "$work/int-$phase.out" | cut -c1-110)"
	else
		bad "SIGINT in the $phase: exit $rc, wanted 3 and a report marked interrupted"
		cat "$work/int-$phase.out" "$work/int-$phase.err" >&2
	fi
}
# Set-up: many users at a slow login rate keep it in the set-up.
interrupt set-up '[set-up]' 1 "$(variant slow-setup 's/"users": 4/"users": 40/; s/"login_rate": 15/"login_rate": 5/')"
live_port=$(( $("$TOP/scripts/free-port-base.sh" 1) ))
interrupt load '[load]' 3 "$SCN" --serve "$live_port"
# Cut requests have no outcome: the browse share during faults is not made to fail by them.
grep -q '"cut_in_flight"' "$work/rep-int-load/report.json" || bad "no cut_in_flight in the interrupted load's report"
grep -q 'untouched_reads_worked.*FAIL\|FAIL.*untouched_reads_worked' "$work/int-load.out" && bad "an interrupted load broke untouched_reads_worked"
interrupt drain 'then draining' 1 "$SCN"
interrupt checking '[checking]' 0 "$SCN"

# ---- 4. liveness: the verdict's second half
# A p99 the stack cannot meet (1 ms for three requests): the invariants hold, the hypothesis fails,
# exit 1, and the summary, report.json and the JUnit file all say which clause.
cat > "$work/saturated.json" <<'EOF'
{"name": "trust-saturated", "seed": 3, "duration_s": 6, "drain_s": 1, "phases": [{"at_s": 0, "rate": 10}],
 "mix": {"browse": 1}, "data": {"users": 1, "products": [1, 10], "login_rate": 15},
 "hypothesis": {"journeys": {"browse": {"success": 0.5, "p99_ms": 1}}}}
EOF
"$SIM" run "$work/saturated.json" --out "$work/rep-saturated" --junit "$work/saturated.xml" > "$work/saturated.out" 2> "$work/saturated.err"
rc=$?
if [ "$rc" = 1 ] && grep -q '^verdict: VALID · invariants held · steady state FAILED: browse p99 [0-9]* ms (needs <= 1 ms)' "$work/saturated.out" &&
   python3 - "$work/rep-saturated/report.json" "$work/saturated.xml" <<'PY'
import json, sys, xml.etree.ElementTree as E
run = json.load(open(sys.argv[1]))["runs"][0]
assert run["status"] == "valid" and run["invariants_ok"] and not run["held"], run["verdict"]
assert not run["hypothesis"]["ok"] and run["hypothesis"]["stated"]
bad = [c["id"] for c in run["hypothesis"]["clauses"] if not c["held"]]
assert bad == ["browse.p99_ms"], bad
cases = E.parse(sys.argv[2]).getroot().iter("testcase")
failed = [c.get("name") for c in cases if c.find("failure") is not None]
assert failed == ["browse.p99_ms"], failed
PY
then
	ok "a p99 the stack cannot meet: exit 1, $(grep '^verdict:' "$work/saturated.out" | cut -c1-120)"
else
	bad "a p99 the stack cannot meet: exit $rc, wanted 1 and the hypothesis FAILED in summary, report.json and JUnit"
	cat "$work/saturated.out" "$work/saturated.err" >&2
fi
# Rate 0: nothing was asked of the shop, so nothing is proven: INVALID, exit 3.
sed 's/"rate": 10/"rate": 0/; s/trust-saturated/trust-idle/' "$work/saturated.json" > "$work/idle.json"
"$SIM" run "$work/idle.json" --out "$work/rep-idle" > "$work/idle.out" 2> "$work/idle.err"
rc=$?
if [ "$rc" = 3 ] && grep -q '^RUN INVALID (run): no request was sent' "$work/idle.out" &&
   grep -q '^verdict: INVALID: no request was sent' "$work/idle.out"; then
	ok "rate 0: exit 3, $(grep '^verdict:' "$work/idle.out" | cut -c1-120)"
else
	bad "rate 0: exit $rc, wanted 3 and INVALID: no request was sent"
	cat "$work/idle.out" "$work/idle.err" >&2
fi

trust_end
