#!/usr/bin/env bash
# check_service_conf.sh - each service's service.conf says what its C tables do: it publishes
# (publishes= set) exactly when the binary runs a relay, and consumes= names exactly the event
# types the binary has handlers for (`<binary> --events`). The broker's bindings and permissions
# come from service.conf, the handlers from C: a difference would bind a queue to events
# nobody handles (dead letters) or handle events that never arrive.
#
#   tests/tree/check_service_conf.sh [BUILD_DIR [SERVICES_DIR]]   (defaults: build, fcgi-services)
#   tests/tree/check_service_conf.sh --self-test BUILD_DIR       a planted difference is found
set -uo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)

# check BUILD SERVICES_DIR: prints each difference, exit 1 if any.
check() {
	local build=$1 dir=$2 s conf bin pub cons want_pub want_cons bad=0 n=0
	for s in $(awk '{ print $2 }' "$build/services"); do
		conf=$dir/$s/service.conf bin=$build/bin/$s
		[ -f "$conf" ] || { echo "check_service_conf: $s: no $conf"; bad=1; continue; }
		[ -x "$bin" ] || { echo "check_service_conf: $s: no binary $bin (make first)"; bad=1; continue; }
		out=$("$bin" --events) || { echo "check_service_conf: $s: $bin --events failed"; bad=1; continue; }
		pub=$(sed -n 's/^publishes=//p' <<< "$out")
		cons=$(sed -n 's/^consumes=//p' <<< "$out" | tr ' ' '\n' | sed '/^$/d' | sort | tr '\n' ' ')
		want_pub=$(sed -n 's/^publishes=//p' "$conf" | head -n 1)
		want_cons=$(sed -n 's/^consumes=//p' "$conf" | head -n 1 | tr ' ' '\n' | sed '/^$/d' | sort | tr '\n' ' ')
		if [ "$pub" = yes ] && [ -z "$want_pub" ]; then
			echo "check_service_conf: $s: the binary publishes (a relay) but $conf has no publishes="; bad=1
		elif [ "$pub" = no ] && [ -n "$want_pub" ]; then
			echo "check_service_conf: $s: $conf says publishes=$want_pub but the binary runs no relay"; bad=1
		fi
		if [ "$cons" != "$want_cons" ]; then
			echo "check_service_conf: $s: consumes differ: service.conf '${want_cons% }', the C table '${cons% }'"; bad=1
		fi
		n=$((n + 1))
	done
	[ "$bad" = 0 ] && echo "check_service_conf: $n services: service.conf and the C tables agree on what each publishes and consumes"
	return "$bad"
}

if [ "${1:-}" = --self-test ]; then
	build=${2:-$TOP/build}
	tmp=$(mktemp -d) || exit 1
	trap 'rm -rf "$tmp"' EXIT
	cp -r "$TOP/fcgi-services" "$tmp/svc"
	# One consumed type removed from orders' service.conf, one publisher's line dropped.
	sed -i 's/^consumes=.*/consumes=shipment.created/' "$tmp/svc/orders/service.conf"
	sed -i '/^publishes=/d' "$tmp/svc/catalog/service.conf"
	out=$(check "$build" "$tmp/svc")
	if grep -q 'orders: consumes differ' <<< "$out" && grep -q 'catalog: the binary publishes' <<< "$out" &&
	   [ "$(grep -c '^check_service_conf: .*: ' <<< "$out")" = 2 ]; then
		echo "check_service_conf self-test: both planted differences were found, nothing else"
		exit 0
	fi
	printf 'check_service_conf self-test: expected two findings (orders, catalog), got:\n%s\n' "$out"
	exit 1
fi
build=${1:-$TOP/build}
case $build in /*) ;; *) build=$TOP/$build ;; esac
check "$build" "${2:-$TOP/fcgi-services}"
