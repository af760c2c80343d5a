#!/usr/bin/env bash
# bench-events.sh - the events' numbers (docs/events.md): order.confirmed -> shipment.created lag
# at a steady checkout rate, one relay's publish rate with confirms and the broker's RSS, and the
# time every outbox needs to drain after a 20 s broker outage under checkouts.
# The relay step also prints the CPU per 1,000 events of inventory, MariaDB, the broker and catalog
# while inventory applies them, and inventory's deliveries per apply transaction (its batches).
#
# A measurement, never a test: it prints numbers and exits 0 even on a slow box (a step that
# cannot run says so). Its own throwaway stack on free ports. Part of `make bench`.
#   BENCH_EVENTS_RATE (300 checkouts/s: issue 25's lag goal is at that rate), BENCH_EVENTS_SECONDS (20), BENCH_RELAY_EVENTS (20000),
#   BENCH_OUTAGE_RATE (100 checkouts/s), BENCH_OUTAGE_SECONDS (20),
#   BENCH_EVENTS_STEPS ("lag relay outage": which parts run). The services' own settings
#   (SHOPLAB_EVENTS_BATCH, SHOPLAB_EVENTS_POLL_MS, ...) pass through to the stack.
set -uo pipefail
# --help prints the comment above on stdout; an unknown option prints it on stderr, exit 2.
. "$(dirname "$0")/lib/usage.sh" && usage_opts "${1:-}"
. "$(dirname "$0")/lib/bench.sh" && bench_build "${1:-}"

rate=${BENCH_EVENTS_RATE:-300} secs=${BENCH_EVENTS_SECONDS:-20} nrelay=${BENCH_RELAY_EVENTS:-20000}
orate=${BENCH_OUTAGE_RATE:-100} outage=${BENCH_OUTAGE_SECONDS:-20}
steps=" ${BENCH_EVENTS_STEPS:-lag relay outage} "
step() { [[ $steps == *" $1 "* ]]; }
[ -x "$BUILD/bin/shipping" ] && [ -x "$BUILD/bin/sim" ] || { echo "events bench: no shipping or sim binary"; exit 0; }

bench_stack_env evbench 60
export SHOPLAB_TOP=$TOP SHOPLAB_KDF_COST=1
# Shipments are dispatched a minute later: the lag measured is the created one alone.
export SHOPLAB_SHIPPING_DELAY_MS=${SHOPLAB_SHIPPING_DELAY_MS:-60000}
lpid=
bench_stop() {
	[ -n "$lpid" ] && kill "$lpid" 2>/dev/null
}

bench_stack_up "events bench"

q() {	# q SERVICE SQL: one value from the service's own database, as its own user
	local up
	up=$(tr a-z A-Z <<< "$1")
	mariadb --no-defaults -h "$SHOPLAB_DB_HOST" -P "$SHOPLAB_DB_PORT" -u "$1" \
		-p"$(eval echo "\$SHOPLAB_DB_${up}_PASSWORD")" -N -B "$1" -e "$2"
}
metrics() { curl -s --max-time 5 "$SHOPLAB_INTERNAL_URL/_ops/$1/metrics"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
broker_rss() { ps -o rss= -p "$(cat "$SHOPLAB_RUN/rabbitmq.pid" 2>/dev/null)" 2>/dev/null | tr -d ' '; }
: "${SHOPLAB_INTERNAL_URL:=http://127.0.0.1:$((PORT_BASE + 1))}"

# A checkout-only scenario for `sim load` (open loop: the rate holds however slow answers are).
scenario() {	# scenario NAME RATE SECONDS
	cat > "$tmp/$1.json" <<-JSON
	{"name": "$1", "seed": 7, "duration_s": $3, "drain_s": 5,
	 "phases": [{"at_s": 0, "rate": $2}], "mix": {"checkout": 1},
	 "data": {"users": 50, "products": [1, 50], "stock": 100000000, "login_rate": 50}}
	JSON
}

echo "shoplab events bench: $(nproc) cores, everything on this machine"

# --- 1. lag: order.confirmed committed -> shipment.created committed -------------------------
# From shipping's shoplab_events_lag_seconds (occurred_at of order.confirmed, set in orders'
# transaction, to the commit of the shipment): the difference of two scrapes, percentiles
# interpolated inside the histogram's buckets (as Prometheus' histogram_quantile does).
if step lag; then
scenario lag "$rate" "$secs"
metrics shipping > "$tmp/m0"
"$BUILD/bin/sim" load "$tmp/lag.json" > "$tmp/lag.out" 2>&1
for _ in $(seq 1 300); do
	[ "$(q orders 'SELECT COUNT(*) FROM outbox')" = 0 ] && [ "$(q shipping 'SELECT COUNT(*) FROM outbox')" = 0 ] && break
	sleep 0.1
done
sleep 1
metrics shipping > "$tmp/m1"
confirmed=$(q orders "SELECT COUNT(*) FROM orders WHERE status IN ('confirmed', 'shipped')")
ships=$(q shipping "SELECT COUNT(*) FROM shipments")
awk -v goalf="$tmp/goal" -v rate="$rate" -v secs="$secs" -v conf="$confirmed" -v ships="$ships" '
	FNR == 1 { f++ }
	/^shoplab_events_lag_seconds_bucket/ {
		match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5)
		if (f == 1) b0[le] = $NF; else { b1[le] = $NF; if (!(le in seen)) { seen[le] = 1; order[n++] = le } }
	}
	/^shoplab_events_lag_seconds_sum/ { if (f == 1) s0 = $NF; else s1 = $NF }
	/^shoplab_events_lag_seconds_count/ { if (f == 1) c0 = $NF; else c1 = $NF }
	function quant(p,   i, le, c, prevc, prevle, want) {
		want = p * total; prevc = 0; prevle = 0
		for (i = 0; i < n; i++) {
			le = order[i]; c = b1[le] - b0[le]
			if (c >= want) {
				if (le == "+Inf") return prevle
				return prevle + (le - prevle) * (c > prevc ? (want - prevc) / (c - prevc) : 0)
			}
			prevc = c; prevle = le
		}
		return prevle
	}
	END {
		total = c1 - c0
		if (total <= 0) { print "lag: no order.confirmed applied by shipping (see the stack logs)"; exit }
		printf "lag order.confirmed -> shipment.created committed at %d checkouts/s for %d s: %d events, p50 %.1f ms, p99 %.1f ms, mean %.1f ms (bucket-interpolated; %d confirmed orders, %d shipments)\n",
			rate, secs, total, quant(0.5) * 1000, quant(0.99) * 1000, (s1 - s0) / total * 1000, conf, ships
		printf "events lag order.confirmed -> shipment.created p99 < 100 ms at 300 checkouts/s: measured p99 %.1f ms at %d checkouts/s (%d confirmed in %d s)\n",
			quant(0.99) * 1000, rate, conf, secs > goalf
	}' "$tmp/m0" "$tmp/m1"
	[ -s "$tmp/goal" ] && { sed 's/^/goal: /' "$tmp/goal"; [ -n "${BENCH_GOALS_FILE:-}" ] && cat "$tmp/goal" >> "$BENCH_GOALS_FILE"; }
grep -E '^ +checkout ' "$tmp/lag.out" | sed 's/^ */  sim load: /'
fi

# --- 2. relay throughput with publisher confirms, and the broker's RSS ------------------------
# nrelay product.created envelopes land in catalog's outbox in ONE transaction; its relay
# publishes them (batches of SHOPLAB_EVENTS_BATCH, each confirmed before it is deleted) to
# inventory's quorum queue, whose consumer applies them meanwhile, as it would in production.
if step relay; then
p0=$(metrics catalog | awk '/^shoplab_events_published_total/ {print $NF}')
# CPU (utime+stime, ms) of inventory, MariaDB and the broker: what applying the events costs
cpu_of() {	# cpu_of NAME: the process of run/NAME.pid, its threads included
	local pid
	pid=$(cat "$SHOPLAB_RUN/$1.pid" 2>/dev/null) && [ -r "/proc/$pid/stat" ] &&
		awk -v t="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.0f\n", ($12 + $13) * 1000 / t }' "/proc/$pid/stat" ||
		echo 0
}
cpu0="$(cpu_of inventory) $(cpu_of mariadb) $(cpu_of rabbitmq) $(cpu_of catalog)"
# inventory's apply transactions so far (absent before the consumer applied in batches)
bsum0=$(metrics inventory | awk '/^shoplab_events_apply_batch_size_sum/ {print $NF}')
bcnt0=$(metrics inventory | awk '/^shoplab_events_apply_batch_size_count/ {print $NF}')
rss0=$(broker_rss)
q catalog "INSERT INTO outbox (id, type, body)
	SELECT u, 'product.created', CONCAT('{\"id\":\"', u, '\",\"type\":\"product.created\",\"version\":1,',
		'\"occurred_at\":\"', DATE_FORMAT(UTC_TIMESTAMP(6), '%Y-%m-%dT%H:%i:%s.%fZ'), '\",\"source\":\"catalog\",',
		'\"key\":\"', 900000000 + seq, '\",\"data\":{\"product_id\":', 900000000 + seq,
		',\"sku\":\"bench-', seq, '\",\"name\":\"bench\",\"price_cents\":1,\"currency\":\"EUR\"}}')
	FROM (SELECT UUID() AS u, seq FROM seq_1_to_$nrelay) AS t" || echo "relay: the outbox rows could not be written"
# From the commit (the statement's end; the relay may already have taken a first batch).
t0=$(now_ms)
rssmax=${rss0:-0}
for _ in $(seq 1 1200); do
	r=$(broker_rss); [ -n "$r" ] && [ "$r" -gt "$rssmax" ] && rssmax=$r
	[ "$(q catalog 'SELECT COUNT(*) FROM outbox')" = 0 ] && break
	sleep 0.05
done
t1=$(now_ms)
p1=$(metrics catalog | awk '/^shoplab_events_published_total/ {print $NF}')
left=$(q catalog 'SELECT COUNT(*) FROM outbox')
awk -v n="$((p1 - p0))" -v ms="$((t1 - t0))" -v left="$left" -v r0="${rss0:-0}" -v r1="$rssmax" 'BEGIN {
	printf "relay: catalog published %d events with confirms in %d ms: %.0f events/s (%s left in the outbox); broker RSS %.0f MB before, %.0f MB at most during\n",
		n, ms, (ms > 0 ? n * 1000 / ms : 0), left, r0 / 1024, r1 / 1024 }'
for _ in $(seq 1 1200); do
	[ "$(q inventory "SELECT COUNT(*) FROM stock WHERE product_id > 900000000")" -ge "$nrelay" ] && break
	sleep 0.1
done
t2=$(now_ms)
echo "relay: inventory had applied all $(q inventory "SELECT COUNT(*) FROM stock WHERE product_id > 900000000") of them $((t2 - t0)) ms after the commit"
cpu1="$(cpu_of inventory) $(cpu_of mariadb) $(cpu_of rabbitmq) $(cpu_of catalog)"
awk -v a="$cpu0" -v b="$cpu1" -v n="$nrelay" 'BEGIN { split(a, x, " "); split(b, y, " ");
	printf "relay: CPU from the commit until inventory had applied them, ms per 1,000 events: inventory %.0f, mariadbd %.0f, broker %.0f, catalog %.0f\n",
		(y[1] - x[1]) * 1000 / n, (y[2] - x[2]) * 1000 / n, (y[3] - x[3]) * 1000 / n, (y[4] - x[4]) * 1000 / n }'
bsum1=$(metrics inventory | awk '/^shoplab_events_apply_batch_size_sum/ {print $NF}')
bcnt1=$(metrics inventory | awk '/^shoplab_events_apply_batch_size_count/ {print $NF}')
if [ -n "$bsum1" ] && [ -n "$bcnt1" ]; then
	metrics inventory | awk '/^shoplab_events_apply_batch_size_bucket/ { sub(/.*le="/, ""); sub(/"}/, ""); printf "%s:%s ", $1, $2 } END { print "" }' > "$tmp/bhist"
	awk -v s="$((bsum1 - ${bsum0:-0}))" -v c="$((bcnt1 - ${bcnt0:-0}))" -v h="$(cat "$tmp/bhist")" 'BEGIN {
		printf "relay: inventory applied %d deliveries in %d transactions (%.1f per commit); deliveries per transaction, cumulative since start: %s\n",
			s, c, (c > 0 ? s / c : 0), h }'
fi
fi
step outage || exit 0

# --- 3. recovery after a broker outage under checkouts -----------------------------------------
scenario outage "$orate" $((outage + 10))
"$BUILD/bin/sim" load "$tmp/outage.json" > "$tmp/outage.out" 2>&1 &
lpid=$!
sleep 5
kill -KILL "$(cat "$SHOPLAB_RUN/rabbitmq.pid")"
tk=$(now_ms)
sleep "$outage"
peak=$(( $(q orders 'SELECT COUNT(*) FROM outbox') + $(q shipping 'SELECT COUNT(*) FROM outbox') ))
"$TOP/scripts/broker.sh" start >/dev/null 2>&1
"$TOP/scripts/broker.sh" wait >/dev/null 2>&1 || echo "outage: the broker did not come back"
tb=$(now_ms)
drained=
for _ in $(seq 1 1800); do
	if [ "$(q orders 'SELECT COUNT(*) FROM outbox')" = 0 ] && [ "$(q shipping 'SELECT COUNT(*) FROM outbox')" = 0 ] &&
	   [ "$(q catalog 'SELECT COUNT(*) FROM outbox')" = 0 ]; then drained=$(now_ms); break; fi
	sleep 0.1
done
wait "$lpid" 2>/dev/null; lpid=
if [ -n "$drained" ]; then
	awk -v o="$outage" -v r="$orate" -v p="$peak" -v d="$((drained - tb))" -v k="$((tb - tk))" 'BEGIN {
		printf "outage: broker killed (kill -9) for %d s under %d checkouts/s (%d events waiting in outboxes at its restart): every outbox empty %.1f s after it answered AMQP again (%.1f s after the kill)\n",
			o, r, p, d / 1000, (d + k) / 1000 }'
else
	echo "outage: the outboxes did not drain in 180 s after the broker returned"
fi
# Whatever the broker outage delayed still arrives: each confirmed order has its shipment.
for _ in $(seq 1 300); do
	c=$(q orders "SELECT COUNT(*) FROM orders WHERE status IN ('confirmed', 'shipped')")
	s=$(q shipping "SELECT COUNT(*) FROM shipments")
	[ "$c" = "$s" ] && break
	sleep 0.1
done
echo "outage: $c confirmed orders, $s shipments$( [ "$c" = "$s" ] || echo ' (NOT equal)')"
