#!/usr/bin/env bash
# events_trust.sh - the broker faults of `sim run` against a real stack: each mistake in one exits 2
# before any load with FILE:LINE: PATH; a duplicate_delivery that produces no duplicate (inventory
# gets no message during the run) makes the run invalid (exit 3), while the partition and the
# consumer stop before it are confirmed in the fault log; a broker_kill whose broker does not die
# (its pid file names a process that is not the broker) is invalid too; events that cannot
# drain in time end the wait NOT DRAINED and fail the checks by name (exit 1).
#
# Runs against the stack of $SHOPLAB_RUN (started with SHOPLAB_PROXY=1, with shipping), as
# scripts/run-tests.sh runs it after the events smoke scenario. Leaves the stack up.
set -uo pipefail
decoy=
simpid=
TRUST=events_trust
. "$(dirname "$0")/trust_lib.sh"
SCN=$TOP/tests/live/events.json
trust_stop() {
	[ -n "$decoy" ] && kill "$decoy" 2>/dev/null
	[ -f "$work/rabbitmq.pid" ] && cp "$work/rabbitmq.pid" "$RUN/rabbitmq.pid"
}

# ---- 1. mistakes: exit 2 before any load, FILE:LINE: PATH named, no report folder left
typo kind 's/"kind": "consumer_stop"/"kind": "consumer_stopp"/' '13: faults[1].kind: must be one of'
typo no-end 's/"at_s": 1, "until_s": 3, /"at_s": 1, /' '12: faults[0].until_s: is required'
typo service 's/"service": "orders"/"service": "ordrs"/' '12: faults[0].service: must be a service of the stack'
typo extra-field 's/"service": "orders"}/"service": "orders", "target": "orders"}/' '12: faults[0].target: unknown field'
typo no-broker-link 's/"service": "orders"/"service": "users"/' '12: faults[0].service: the sim proxy at'
typo consumes-nothing 's/"kind": "consumer_stop", "service": "shipping"/"kind": "consumer_stop", "service": "catalog"/' \
	'13: faults[1].service: catalog consumes no events'

# ---- 2. a duplicate delivery that delivers nothing twice: the run is invalid
"$SIM" run "$SCN" --out "$work/rep-nodup" > "$work/nodup.out" 2> "$work/nodup.err"
rc=$?
if [ "$rc" = 3 ] && grep -q '^RUN INVALID (run): a fault did not apply as planned: faults\[2\] (duplicate_delivery inventory): not confirmed' "$work/nodup.out" &&
   grep -q 'proxy orders-broker disabled: cut from the broker (confirmed: enabled=false)' "$work/nodup.out" &&
   grep -q 'proxy orders-broker enabled: linked to the broker again (confirmed: enabled=true)' "$work/nodup.out" &&
   grep -q 'shipping (pid [0-9]*): Stopped (signal) (confirmed: state T)' "$work/nodup.out" &&
   grep -q '"status":"invalid"' "$work/rep-nodup/report.json"; then
	ok "duplicate_delivery without a duplicate: exit 3, $(grep '^RUN INVALID' "$work/nodup.out" | cut -c1-160)"
else
	bad "duplicate_delivery without a duplicate: exit $rc, wanted 3, an invalid report and the other faults confirmed"
	cat "$work/nodup.out" "$work/nodup.err" >&2
fi

# ---- 3. a broker_kill whose pid file names another process: the broker does not die, invalid.
# The pid file is put back once the decoy is killed (so that no later start makes a second node).
cp "$RUN/rabbitmq.pid" "$work/rabbitmq.pid"
sleep 300 &
decoy=$!
echo "$decoy" > "$RUN/rabbitmq.pid"
f=$(variant broker-alive '/consumer_stop\|duplicate_delivery/d; s/"kind": "broker_partition", "service": "orders"},/"kind": "broker_kill"}/')
"$SIM" run "$f" --out "$work/rep-alive" > "$work/alive.out" 2> "$work/alive.err" &
simpid=$!
for _ in $(seq 1 600); do
	kill -0 "$decoy" 2>/dev/null || break
	kill -0 "$simpid" 2>/dev/null || break
	sleep 0.05
done
cp "$work/rabbitmq.pid" "$RUN/rabbitmq.pid"
wait "$simpid"; rc=$?
decoy=
if [ "$rc" = 3 ] && grep -q "faults\[0\] (broker_kill) at [0-9.]* s: not confirmed: after kill -9 of the pid in .*rabbitmq.pid the AMQP port 127.0.0.1:[0-9]* still takes connections" "$work/alive.out"; then
	ok "broker_kill that missed the broker: exit 3, $(grep '^RUN INVALID' "$work/alive.out" | cut -c1-170)"
else
	bad "broker_kill that missed the broker: exit $rc, wanted 3 naming the live AMQP port"
	cat "$f" "$work/alive.out" "$work/alive.err" >&2
fi
"$TOP/scripts/broker.sh" status | grep -q running || bad "the broker is not running after the broker_kill test"

# ---- 4. events that cannot drain in time: shipping restarted to dispatch 60 s after it made a
# shipment (SHOPLAB_SHIPPING_DELAY_MS), a 3 s events drain: the wait ends NOT DRAINED and the
# checks fail naming the orders not shipped, never a pass. Shipping is restarted with its
# default delay afterwards. (SIGSTOP would not do: the end of faults restarts what does not
# answer /readyz.)
restart_shipping() {
	local pid i
	pid=$(cat "$RUN/shipping.pid")
	kill -TERM "$pid" 2>/dev/null
	for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	env "$@" SHOPLAB_PROXY=1 "$TOP/scripts/stack.sh" up > "$work/restart.log" 2>&1 || { bad "shipping did not restart"; cat "$work/restart.log" >&2; }
}
restart_shipping SHOPLAB_SHIPPING_DELAY_MS=60000
f=$(variant stuck '/"faults"/,/^  \]/d; s/"events_drain_s": 20/"events_drain_s": 3/; s/"data": \(.*\)},$/"data": \1}/')
"$SIM" run "$f" --out "$work/rep-stuck" > "$work/stuck.out" 2> "$work/stuck.err"
rc=$?
restart_shipping
if [ "$rc" = 1 ] && grep -q '^\[drain\] events: NOT DRAINED after 3 s: .*confirmed, not shipped [0-9]' "$work/stuck.err" &&
   grep -q '^  FAIL shipped_after_drain' "$work/stuck.out" &&
   grep -q 'is still confirmed, not shipped, after the drain (its shipment: created, not dispatched)' "$work/stuck.out" &&
   grep -q '"events_drain":"[^"]*confirmed, not shipped' "$work/rep-stuck/report.json"; then
	ok "events not drained: exit 1, $(grep 'NOT DRAINED' "$work/stuck.err" | cut -c1-120)"
else
	bad "events not drained: exit $rc, wanted 1, NOT DRAINED and shipped_after_drain failing"
	cat "$f" "$work/stuck.out" "$work/stuck.err" >&2
fi

trust_end
