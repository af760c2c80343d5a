# bench.sh - what the scripts/bench*.sh measurements share (sourced, not run): the build
# directory, a throwaway stack on free ports and its removal, the checkout load for wrk.
# shellcheck shell=bash
#
# A bench script sources usage.sh, then this file, then calls bench_build "${1:-}".
# To stop its own processes (an nginx, a php-fpm, a load) before the stack goes down at exit, it
# defines bench_stop.

# bench_build [BUILD_DIR]: TOP, the tree, and BUILD, the build directory made absolute (build/).
bench_build() {
	TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	BUILD=${1:-build}
	case $BUILD in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
}

# bench_tmp NAME: tmp, a fresh /tmp/shoplab-NAME.XXXXXX that nginx's workers may pass through
# (they run as an unprivileged user when we are root).
bench_tmp() {
	tmp=$(mktemp -d "/tmp/shoplab-$1.XXXXXX")
	chmod 0711 "$tmp"
}

# bench_stack_env NAME PORTS: bench_tmp NAME with the stack's run directory in it, PORTS free
# ports from PORT_BASE (none: exit 0, a measurement never fails), the login limit lifted (it would
# measure nginx's limit_req, not the service); at exit bench_stop, the stack down and tmp removed.
bench_stack_env() {
	bench_tmp "$1"
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
	export SHOPLAB_RUN=$tmp/run SHOPLAB_BUILD=$BUILD
	PORT_BASE=$("$TOP/scripts/free-port-base.sh" "$2") || exit 0
	export PORT_BASE LOGIN_RATE=100000r/s LOGIN_BURST=100000
}

bench_cleanup() {
	if declare -F bench_stop >/dev/null; then
		bench_stop
	fi
	"$TOP/scripts/stack.sh" down >/dev/null 2>&1
	rm -rf "$tmp"
}

# bench_stack_up WHO: starts the stack (WHO says when it did not: exit 0) and reads its settings
# (shoplab.env) into the environment.
bench_stack_up() {
	"$TOP/scripts/stack.sh" up >/dev/null 2>&1 || { echo "$1: the stack did not start"; exit 0; }
	set -a
	# shellcheck disable=SC1091
	. "$SHOPLAB_RUN/shoplab.env"
	set +a
}

# bench_checkout_lua TOKEN ID_PREFIX: on stdout, wrk's script of checkouts (POST /api/v1/orders,
# one of products 1..50, a fresh Idempotency-Key each) by the user whose token is TOKEN.
bench_checkout_lua() {
	cat <<LUA
local n = 0
local threads = 0
local id = "$2" .. tostring(os.time())
function setup(thread) threads = threads + 1; thread:set("tid", id .. "-" .. threads) end
request = function()
	n = n + 1
	local body = '{"items":[{"product_id":' .. math.random(1, 50) .. ',"quantity":1}],' ..
		'"card":{"number":"4242424242424242","exp_month":12,"exp_year":2031,"cvc":"123"}}'
	return wrk.format("POST", "/api/v1/orders", {
		["Authorization"] = "Bearer $1",
		["Content-Type"] = "application/json",
		["Idempotency-Key"] = "bench-" .. (tid or id) .. "-" .. n }, body)
end
LUA
}
