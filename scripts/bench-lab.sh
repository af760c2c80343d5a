#!/usr/bin/env bash
# bench-lab.sh - checkouts/s on the HA lab (two write routings) against the single-host stack, same machine, same run.
#
#   scripts/bench-lab.sh [BUILD]      (make bench-lab)
#
# A measurement, never a test: it prints numbers and ratios and never fails on a slow box.
# Each configuration gets the same wrk checkout load (BENCH_SECONDS, 10; BENCH_CONNS, 16: what
# the dependencies' bulkheads take without shedding). The HA lab runs twice: every service
# writing through its preferred node (SHOPLAB_DB_ROUTE=service, the default) and every service on
# services host h writing through node h (host), with the deadlocks (Galera certification
# failures, 1213) the services logged; the first routing also with the link proxies (LAB_PROXY=1).
set -uo pipefail
# --help prints the comment above on stdout; an unknown option prints it on stderr, exit 2.
. "$(dirname "$0")/lib/usage.sh" && usage_opts "${1:-}"
. "$(dirname "$0")/lib/bench.sh" && bench_build "${1:-}"

secs=${BENCH_SECONDS:-10} conns=${BENCH_CONNS:-16}
command -v wrk > /dev/null || { echo "bench-lab: wrk is missing (make deps)"; exit 0; }

bench_tmp benchlab
single=$tmp/single
ha=$tmp/ha
cleanup() {
	SHOPLAB_RUN=$single "$TOP/scripts/stack.sh" down > /dev/null 2>&1
	SHOPLAB_RUN=$ha "$TOP/scripts/lab-ha.sh" down > /dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export LOGIN_RATE=100000r/s LOGIN_BURST=100000 SHOPLAB_BUILD=$BUILD

# checkout NAME GATEWAY ENVFILE [NETNS]: one user, stock raised, wrk POSTs orders; prints and
# keeps checkouts/s in R_<name>.
checkout() {
	local name=$1 g=$2 env=$3 ns=${4:-} admin token out rps p99 errs p
	local -a x=()
	[ -z "$ns" ] || x=(ip netns exec "$ns")
	admin=$("${x[@]}" curl -s -XPOST "$g/api/v1/auth/login" -H 'Content-Type: application/json' \
		-d "{\"email\":\"$(sed -n 's/^SHOPLAB_ADMIN_EMAIL=//p' "$env")\",\"password\":\"$(sed -n 's/^SHOPLAB_ADMIN_PASSWORD=//p' "$env")\"}" |
		sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
	for p in $(seq 1 50); do
		"${x[@]}" curl -s -o /dev/null -XPUT "$g/api/v1/inventory/$p" -H "Authorization: Bearer $admin" \
			-H 'Content-Type: application/json' -d '{"available":100000000}'
	done
	"${x[@]}" curl -s -o /dev/null -XPOST "$g/api/v1/users" -H 'Content-Type: application/json' \
		-d '{"email":"bench@example.com","password":"bench-password","name":"Bench"}'
	token=$("${x[@]}" curl -s -XPOST "$g/api/v1/auth/login" -H 'Content-Type: application/json' \
		-d '{"email":"bench@example.com","password":"bench-password"}' | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
	[ -n "$token" ] || { echo "bench-lab: $name: no token (the stack is not answering)"; return 0; }
	bench_checkout_lua "$token" "$name-" > "$tmp/checkout-$name.lua"
	out=$("${x[@]}" wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$tmp/checkout-$name.lua" "$g/" 2>&1)
	rps=$(awk '/Requests\/sec/ {print $2}' <<< "$out")
	p99=$(awk '$1 == "99%" {print $2}' <<< "$out")
	errs=$(awk '/Non-2xx|Socket errors/ {$1=$1; printf "%s; ", $0}' <<< "$out")
	printf '%-28s %8s checkouts/s   p99 %-9s %s\n' "$name" "${rps:-?}" "${p99:-?}" "${errs:-no errors}"
	printf -v "R_$name" '%s' "${rps:-0}"
}

# Deadlocks the services logged (1213: on Galera, mostly certification failures).
deadlocks() { cat "$ha"/hosts/svc*/logs/*.log 2> /dev/null | grep -c '(1213)\|commit refused' || true; }

echo "shoplab bench-lab: wrk -t2 -c$conns -d${secs}s of POST /api/v1/orders, $(nproc) cores, everything on this machine"

PORT_BASE=$("$TOP/scripts/free-port-base.sh" 100) || exit 0
if SHOPLAB_RUN=$single PORT_BASE=$PORT_BASE "$TOP/scripts/stack.sh" up > "$tmp/single.log" 2>&1; then
	checkout single_host "$(sed -n 's/^SHOPLAB_GATEWAY_URL=//p' "$single/shoplab.env")" "$single/shoplab.env"
	SHOPLAB_RUN=$single "$TOP/scripts/stack.sh" down > /dev/null 2>&1
else
	echo "bench-lab: the single-host stack did not start (see above)"; tail -5 "$tmp/single.log"
fi

"$TOP/scripts/deps.sh" ha > /dev/null || { echo "bench-lab: scripts/deps.sh ha failed"; exit 0; }
if ! SHOPLAB_RUN=$ha "$TOP/scripts/lab-ha.sh" up > "$tmp/ha.log" 2>&1; then
	echo "bench-lab: the HA lab did not start"; tail -5 "$tmp/ha.log"; exit 0
fi
G=$(sed -n 's/^SHOPLAB_GATEWAY_URL=//p' "$ha/shoplab.env")
d0=$(deadlocks)
checkout ha_route_service "$G" "$ha/shoplab.env" shoplab-ha-gw
d1=$(deadlocks)
echo "  deadlocks / certification failures logged: $((d1 - d0))"
# The same routing with the link proxies (LAB_PROXY=1): every database round trip of the
# services crosses the sim proxy on their services host (docs/lab.md, "Faults on links").
for h in svc1 svc2; do SHOPLAB_RUN=$ha/hosts/$h "$TOP/scripts/stack.sh" down > /dev/null 2>&1; done
for h in svc1 svc2; do
	SHOPLAB_RUN=$ha LAB_PROXY=1 "$TOP/scripts/lab-ha.sh" ctl start "$h" > /dev/null 2>&1 ||
		{ echo "bench-lab: $h did not restart with LAB_PROXY=1"; exit 0; }
done
checkout ha_link_proxies "$G" "$ha/shoplab.env" shoplab-ha-gw
# The other routing (without the link proxies): restart the services with SHOPLAB_DB_ROUTE=host.
for h in svc1 svc2; do SHOPLAB_RUN=$ha/hosts/$h "$TOP/scripts/stack.sh" down > /dev/null 2>&1; done
sed -i '/^SHOPLAB_DB_ROUTE=/d' "$ha/shoplab.env"
echo "SHOPLAB_DB_ROUTE=host" >> "$ha/shoplab.env"
for h in svc1 svc2; do
	SHOPLAB_RUN=$ha DB_ROUTE=host LAB_PROXY=0 "$TOP/scripts/lab-ha.sh" ctl start "$h" > /dev/null 2>&1 ||
		{ echo "bench-lab: $h did not restart with SHOPLAB_DB_ROUTE=host"; exit 0; }
done
d1=$(deadlocks)
checkout ha_route_host "$G" "$ha/shoplab.env" shoplab-ha-gw
d2=$(deadlocks)
echo "  deadlocks / certification failures logged: $((d2 - d1))"
awk -v s="${R_single_host:-0}" -v a="${R_ha_route_service:-0}" -v b="${R_ha_route_host:-0}" -v l="${R_ha_link_proxies:-0}" 'BEGIN {
	if (s > 0) printf "ratio HA (preferred node per service) / single host: %.2f; HA (node per services host) / single host: %.2f\n", a / s, b / s;
	if (a > 0) printf "ratio HA with link proxies / without: %.2f\n", l / a;
}'
