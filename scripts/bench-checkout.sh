#!/usr/bin/env bash
# bench-checkout.sh - what one checkout costs: CPU per process, transactions and statements per
# database, calls through the gateway's listeners, events, measured on a throwaway stack.
#
# Two open-loop runs of checkout journeys (`sim load`, checkouts only: a checkout plus its reads)
# at the same rate, a short one and a long one, each followed by the drain (every outbox empty,
# every shipment dispatched). Every figure is the long run's minus the short run's, divided by
# the difference in checkouts: the set-up (users, logins, stock) and the stack's idle work cancel.
# CPU is utime+stime from /proc of each process of the stack and its children (nginx's workers,
# the broker's port programs); statements come from MariaDB's user statistics (one DB user per
# service, so one row per database); calls from nginx's access log; events from /metrics.
# A measurement, never a test: it prints numbers and exits 0 on a slow box. Part of `make bench`.
#   BENCH_CHECKOUT_RATE (100 checkouts/s), BENCH_CHECKOUT_SHORT (5 s), BENCH_CHECKOUT_LONG (25 s),
#   BENCH_CHECKOUT_DB_GLOBALS ("name=value ...": MariaDB globals for this run, to measure a setting)
set -uo pipefail
# --help prints the comment above on stdout; an unknown option prints it on stderr, exit 2.
. "$(dirname "$0")/lib/usage.sh" && usage_opts "${1:-}"
. "$(dirname "$0")/lib/bench.sh" && bench_build "${1:-}"

rate=${BENCH_CHECKOUT_RATE:-100} short=${BENCH_CHECKOUT_SHORT:-5} long=${BENCH_CHECKOUT_LONG:-25}
for v in rate short long; do
	[[ ${!v} =~ ^[1-9][0-9]{0,4}$ ]] || { echo "checkout bench: BENCH_CHECKOUT_${v^^} must be a positive integer" >&2; exit 2; }
done
[ "$long" -gt "$short" ] || { echo "checkout bench: BENCH_CHECKOUT_LONG must be above BENCH_CHECKOUT_SHORT" >&2; exit 2; }
[ -x "$BUILD/bin/sim" ] || { echo "checkout bench: no sim binary in $BUILD"; exit 0; }

bench_stack_env cobench 60
# As a hoster runs it: no fault proxy on the arrows.
export SHOPLAB_TOP=$TOP SHOPLAB_PROXY=0 SHOPLAB_KDF_COST=1

echo "shoplab checkout bench: $(nproc) cores, everything on this machine; $rate checkouts/s for $short s and for $long s"
bench_stack_up "checkout bench"
: "${SHOPLAB_INTERNAL_URL:=${SHOPLAB_GATEWAY_INTERNAL:-http://127.0.0.1:$((PORT_BASE + 1))}}"
services=$("$TOP/scripts/services.sh" "$TOP/fcgi-services" | awk '{print $2}' | tr '\n' ' ')

# MariaDB's administrator: the stack's own account over the socket (as scripts/stack.sh does).
admin() { mariadb --no-defaults --socket="$SHOPLAB_RUN/mariadb/mariadb.sock" -u "$(id -un)" -N -B "$@"; }
userstat=1
admin -e 'SET GLOBAL userstat = 1' 2>/dev/null || userstat=0
# BENCH_CHECKOUT_DB_GLOBALS="name=value ...": MariaDB globals set for this run only (a
# measurement knob, e.g. innodb_flush_log_at_trx_commit=1, the installed site's durability).
for g in ${BENCH_CHECKOUT_DB_GLOBALS:-}; do
	[[ $g =~ ^[a-z_]+=[A-Za-z0-9_]+$ ]] || { echo "checkout bench: BENCH_CHECKOUT_DB_GLOBALS: not name=value: $g" >&2; exit 2; }
	admin -e "SET GLOBAL ${g%%=*} = ${g#*=}" || { echo "checkout bench: MariaDB refused SET GLOBAL $g" >&2; exit 2; }
	echo "MariaDB: SET GLOBAL $g"
done

# snapshot FILE: one line per figure, "name value".
snapshot() {
	local f=$1 tck pidf pid name
	tck=$(getconf CLK_TCK)
	echo "wall_ms $(( $(date +%s%N) / 1000000 ))" > "$f"
	for pidf in "$SHOPLAB_RUN"/*.pid; do
		pid=$(cat "$pidf" 2>/dev/null) || continue
		[ -d "/proc/$pid" ] || continue
		name=$(basename "$pidf" .pid)
		name=${name%-[0-9]*}	# instances of one service count as the service
		# The process and every descendant; utime+stime of each, and what its reaped children used.
		{ echo "$pid"; descendants "$pid"; } | sort -u | while read -r p; do
			awk -v n="$name" -v t="$tck" '{ sub(/^.*\) /, ""); printf "cpu_ms:%s %.3f\n", n, ($12 + $13 + $14 + $15) * 1000 / t }' "/proc/$p/stat" 2>/dev/null
		done >> "$f"
	done
	if [ "$userstat" = 1 ]; then
		admin -e "SELECT USER, COMMIT_TRANSACTIONS, ROLLBACK_TRANSACTIONS, SELECT_COMMANDS, UPDATE_COMMANDS, OTHER_COMMANDS, ROWS_READ, ROWS_UPDATED FROM information_schema.USER_STATISTICS" 2>/dev/null |
			awk '{ printf "db_commit:%s %s\ndb_rollback:%s %s\ndb_select:%s %s\ndb_update:%s %s\ndb_other:%s %s\ndb_rows_read:%s %s\ndb_rows_changed:%s %s\n", $1, $2, $1, $3, $1, $4, $1, $5, $1, $6, $1, $7, $1, $8 }' >> "$f"
	fi
	for s in $services; do
		curl -s --max-time 5 "$SHOPLAB_INTERNAL_URL/_ops/$s/metrics" |
			awk -v s="$s" '/^shoplab_events_(published|consumed|applied|duplicates|redeliveries)_total[{ ]/ { sub(/^shoplab_events_/, "", $1); sub(/_total.*$/, "", $1); printf "ev_%s:%s %s\n", $1, s, $NF }
				/^shoplab_events_apply_batch_size_(sum|count)[{ ]/ { sub(/^shoplab_events_apply_batch_size_/, "", $1); sub(/[{].*$/, "", $1); printf "ev_b%s:%s %s\n", $1, s, $NF }
				# FastCGI requests the service answered (the gateway token checks are users /auth/verify).
				/^shoplab_http_requests_total[{]/ { k = "fcgi:" s; if ($0 ~ /route="\/auth\/verify"/) k = "fcgi_verify:" s; n[k] += $NF }
				END { for (k in n) print k, n[k] }' >> "$f"
	done
	# nginx's access log: requests per listener and, on the internal one, per service called.
	sleep 1.2	# the log's buffer is flushed every second
	awk -v ip="$SHOPLAB_INTERNAL_URL" '
		{ match($0, /"listener":"[0-9]+"/); l = substr($0, RSTART + 12, RLENGTH - 13)
		  match($0, /"uri":"[^"]*"/); u = substr($0, RSTART + 7, RLENGTH - 8)
		  if (index(ip, ":" l) && u ~ /^\/internal\//) { split(u, p, "/"); n["http_internal:" p[3]]++ }
		  else if (index(ip, ":" l)) n["http_ops"]++
		  else n["http_public"]++ }
		END { for (k in n) print k, n[k] }' "$SHOPLAB_RUN/logs/nginx-access.log" 2>/dev/null >> "$f"
	echo "checkouts $(admin -e "SELECT COUNT(*) FROM orders.orders WHERE status IN ('confirmed', 'shipped')")" >> "$f"
}
descendants() { local c; for c in $(pgrep -P "$1"); do echo "$c"; descendants "$c"; done; }

# A checkout-only scenario for `sim load` (open loop: the rate holds however slow answers are).
scenario() {	# scenario NAME SECONDS
	cat > "$tmp/$1.json" <<-JSON
	{"name": "$1", "seed": 11, "duration_s": $2, "drain_s": 5,
	 "phases": [{"at_s": 0, "rate": $rate}], "mix": {"checkout": 1},
	 "data": {"users": 50, "products": [1, 50], "stock": 100000000, "login_rate": 50}}
	JSON
}
# Every outbox empty and every confirmed order shipped: the events of each checkout are in.
# (Asked as the administrator: the services' DB users count only the services' own statements.)
drain() {
	for _ in $(seq 1 600); do
		[ "$(admin -e "SELECT (SELECT COUNT(*) FROM orders.outbox) + (SELECT COUNT(*) FROM shipping.outbox)
			+ (SELECT COUNT(*) FROM catalog.outbox)
			+ (SELECT COUNT(*) FROM orders.orders WHERE status IN ('pending', 'confirmed'))" 2>/dev/null)" = 0 ] && return 0
		sleep 0.2
	done
	echo "checkout bench: the stack did not drain in 120 s; the figures include what was left"
}

run_load() {	# run_load NAME SECONDS: snapshots before and after NAME (with its drain)
	scenario "$1" "$2"
	snapshot "$tmp/$1.before"
	if ! "$BUILD/bin/sim" load "$tmp/$1.json" > "$tmp/$1.out" 2>&1; then
		echo "checkout bench: sim load $1 reported failures:"
		grep -iE 'fail|error|violat|invariant' "$tmp/$1.out" | head -8 | sed 's/^/  /'
	fi
	drain
	snapshot "$tmp/$1.after"
}
# The stack's background work (relay polls, the dispatcher, the reaper, the broker) with no load.
sleep 3
snapshot "$tmp/idle.before"
sleep "${BENCH_CHECKOUT_IDLE:-10}"
snapshot "$tmp/idle.after"
run_load short "$short"
run_load long "$long"

awk -v userstat="$userstat" -v rate="$rate" -v services="$services" -v goalf="$tmp/goal" '
	FILENAME ~ /idle.before$/  { ib[$1] += $2; next }
	FILENAME ~ /idle.after$/   { ia[$1] += $2; next }
	FILENAME ~ /short.before$/ { sb[$1] += $2; next }
	FILENAME ~ /short.after$/  { sa[$1] += $2; next }
	FILENAME ~ /long.before$/  { lb[$1] += $2; next }
	FILENAME ~ /long.after$/   { la[$1] += $2; keys[$1] = 1; next }
	function d(k) { return (la[k] - lb[k]) - (sa[k] - sb[k]) }
	END {
		n = d("checkouts")
		if (n <= 0) { print "checkout bench: the long run confirmed no more checkouts than the short one"; exit }
		# Idle: per second of wall time; the extra wall time of the long run at that rate is the background share.
		isec = (ia["wall_ms"] - ib["wall_ms"]) / 1000; extra = d("wall_ms") / 1000
		printf "per checkout journey (difference of the two runs: %d checkouts, %.1f s):\n", n, extra
		total = 0; bg = 0
		for (k in keys) if (k ~ /^cpu_ms:/) {
			v = d(k) / n; total += v; cpu[substr(k, 8)] = v
			if (isec > 0) bg += (ia[k] - ib[k]) / isec * extra / n
		}
		printf "  CPU %-28s %6.2f ms   (goal <= 3 ms, moonshot 2 ms)\n", "total, all in at " rate "/s", total
		printf "CPU per checkout journey <= 3 ms (moonshot 2 ms): measured %.2f ms at %d checkouts/s\n", total, rate > goalf
		if (isec > 0) printf "  CPU %-28s %6.2f ms   (the idle stack: background work in the same time)\n", "of which idle background", bg
		m = 0; for (p in cpu) name[m++] = p
		for (i = 0; i < m; i++) for (j = i + 1; j < m; j++) if (cpu[name[j]] > cpu[name[i]]) { t = name[i]; name[i] = name[j]; name[j] = t }
		for (i = 0; i < m; i++) printf "  CPU %-28s %6.2f ms  %3.0f%%\n", name[i], cpu[name[i]], (total > 0 ? cpu[name[i]] * 100 / total : 0)
		if (userstat == 1) {
			# Net of what the idle stack does in the same wall time (relay polls, the
			# dispatcher, the reaper), so that runs of different lengths compare.
			printf "  %-12s %8s %8s %8s %8s %8s %9s %9s   (net of the idle stack)\n", "database", "commits", "rollback", "selects", "writes", "other", "rows read", "rows chg"
			for (k in keys) if (k ~ /^db_commit:/) {
				u = substr(k, 11)
				if (!index(" " services " ", " " u " ")) continue	# not the DB user of a service
				printf "  %-12s %8.2f %8.2f %8.2f %8.2f %8.2f %9.2f %9.2f\n", u, net(k), net("db_rollback:" u),
					net("db_select:" u), net("db_update:" u), net("db_other:" u), net("db_rows_read:" u), net("db_rows_changed:" u)
				ct += net(k); st += net("db_select:" u) + net("db_update:" u) + net("db_other:" u)
				gct += d(k) / n; gst += (d("db_select:" u) + d("db_update:" u) + d("db_other:" u)) / n
			}
			printf "  %-12s %8.2f %8s %26.2f statements in all (%.2f commits, %.2f statements with the idle share)\n", "all", ct, "", st, gct, gst
		} else print "  (MariaDB user statistics unavailable: no per-database counts)"
		printf "  HTTP through the gateway: public %.2f, internal", d("http_public") / n
		for (k in keys) if (k ~ /^http_internal:/) printf " %s %.2f", substr(k, 15), d(k) / n
		printf "\n  FastCGI requests answered:"
		for (k in keys) if (k ~ /^fcgi:/) printf " %s %.2f", substr(k, 6), (d(k) + d("fcgi_verify:" substr(k, 6))) / n
		# The gateway asks users for a token only on a miss of its verified-token cache (auth.conf).
		printf "\n  token checks reaching users (verified-token cache misses): %.3f per journey\n", sumof("fcgi_verify:") / n
		printf "  events: published"
		for (k in keys) if (k ~ /^ev_published:/ && d(k) > 0) printf " %s %.2f", substr(k, 14), d(k) / n
		printf ", consumed"
		for (k in keys) if (k ~ /^ev_consumed:/ && d(k) > 0) printf " %s %.2f", substr(k, 13), d(k) / n
		printf ", redelivered %.2f, duplicates %.2f\n", sumof("ev_redeliveries:") / n, sumof("ev_duplicates:") / n
		# The consumers apply transactions (absent before they applied in batches).
		if (sumof("ev_bcount:") > 0) {
			# the long run alone: a difference of two runs is no ratio of deliveries to commits
			printf "  consumers, long run: apply transactions / deliveries"
			for (k in keys) if (k ~ /^ev_bcount:/ && la[k] - lb[k] > 0) printf " %s %d / %d (%.2f each)", substr(k, 11), la[k] - lb[k], la["ev_bsum:" substr(k, 11)] - lb["ev_bsum:" substr(k, 11)], (la["ev_bsum:" substr(k, 11)] - lb["ev_bsum:" substr(k, 11)]) / (la[k] - lb[k])
			printf "\n"
		}
	}
	# Per checkout, minus the idle rate of k over the extra wall time (0 without an idle window).
	function net(k) { return (d(k) - (isec > 0 ? (ia[k] - ib[k]) / isec * extra : 0)) / n }
	function sumof(p,   k, s) { s = 0; for (k in keys) if (index(k, p) == 1) s += d(k); return s }
' "$tmp/idle.before" "$tmp/idle.after" "$tmp/short.before" "$tmp/short.after" "$tmp/long.before" "$tmp/long.after"
if [ -s "$tmp/goal" ]; then
	sed 's/^/goal: /' "$tmp/goal"
	[ -n "${BENCH_GOALS_FILE:-}" ] && cat "$tmp/goal" >> "$BENCH_GOALS_FILE"
fi
awk '
	FILENAME ~ /before$/ { b[$1] += $2; next }
	{ a[$1] += $2; keys[$1] = 1 }
	END {
		sec = (a["wall_ms"] - b["wall_ms"]) / 1000
		if (sec <= 0) exit
		for (k in keys) if (k ~ /^cpu_ms:/) { c = (a[k] - b[k]) / sec; tot += c; if (c >= 0.5) line = line sprintf(" %s %.1f", substr(k, 8), c) }
		for (k in keys) if (k ~ /^db_commit:/) cm += a[k] - b[k]
		for (k in keys) if (k ~ /^db_(select|update|other):/) st += a[k] - b[k]
		printf "idle stack, per second: CPU %.1f ms (%s ), %.0f commits, %.0f statements\n", tot, line, cm / sec, st / sec
	}' "$tmp/idle.before" "$tmp/idle.after"
grep -E '^ +checkout ' "$tmp/long.out" | sed 's/^ */  sim load (long run): /'
# How late each shipment left after its delay (dispatched_at - created_at - the delay), both runs.
admin -e "SELECT TIMESTAMPDIFF(MICROSECOND, created_at, dispatched_at) / 1000 - ${SHOPLAB_SHIPPING_DELAY_MS:-2000}
	FROM shipping.shipments WHERE status = 'dispatched'" 2>/dev/null | sort -n | awk '
	{ v[NR] = $1 }
	END { if (NR == 0) exit; p99 = int(NR * 0.99); if (p99 < 1) p99 = 1
		printf "  shipments: %d dispatched after their delay by p50 %.0f ms, p99 %.0f ms, max %.0f ms\n",
		NR, v[int((NR + 1) / 2)], v[p99], v[NR] }'
exit 0
