#!/usr/bin/env bash
# vagrant-checks.sh - inside a booted lab machine after its provisioning: what `vagrant up` promises (run by scripts/test-vagrant-boot.sh).
#
#   vagrant-checks.sh single GATEWAY_URL     the single-VM lab: the gateway on every address, the API tour, a checkout shipped
#   vagrant-checks.sh ha GATEWAY_URL         on the HA lab's gateway VM (LAB=ha): the same, without make status (the
#                                            gateway VM runs nginx only; its services and brokers are on other VMs)
#   vagrant-checks.sh checkout GATEWAY_URL   a new user's checkout confirmed and shipped (after a fault)
#
# Prints "ok …" / "FAIL …" lines and "@@ result N failed" last; exits 1 when a check failed.
set -uo pipefail
failed=0
ok() { echo "ok $*"; }
bad() { echo "FAIL $*"; failed=$((failed + 1)); }
check() { local what=$1; shift; if "$@" > /dev/null 2>&1; then ok "$what"; else bad "$what"; fi; }
until_ok() { local n=$1 i; shift; for ((i = 0; i < n * 2; i++)); do "$@" > /dev/null 2>&1 && return 0; sleep 0.5; done; return 1; }
http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@"; }
json_field() { sed -n "s/.*\"$1\":\"\\{0,1\\}\\([^\",}]*\\).*/\\1/p" | head -n 1; }

mode=${1:-single}
G=${2:-http://127.0.0.1:8080}
h=(-H 'Content-Type: application/json')
answers() { test "$(http_code "$G/api/v1/products/1")" = 200; }
# shop NAME: NAME@example.com registers and logs in (the token in tok), then checks out (its
# order in oid, its status in status); a new NAME each time (its Idempotency-Key too).
shop() {
	local code order
	code=$(http_code -XPOST "$G/api/v1/users" "${h[@]}" -d "{\"email\":\"$1@example.com\",\"password\":\"correct horse\",\"name\":\"Vee\"}")
	check "register $1: 201 (got $code)" test "$code" = 201
	tok=$(curl -s --max-time 5 -XPOST "$G/api/v1/auth/login" "${h[@]}" -d "{\"email\":\"$1@example.com\",\"password\":\"correct horse\"}" | json_field token)
	check "login: a token" test -n "$tok"
	order=$(curl -s --max-time 10 -XPOST "$G/api/v1/orders" -H "Authorization: Bearer $tok" "${h[@]}" -H "Idempotency-Key: $1-0001" \
		-d '{"items":[{"product_id":42,"quantity":2}],"card":{"number":"4242424242424242","exp_month":12,"exp_year":2030,"cvc":"123"}}')
	oid=$(json_field id <<< "$order")
	status=$(json_field status <<< "$order")
	check "checkout: an order (status $status)" test -n "$oid" -a \( "$status" = confirmed -o "$status" = pending \)
}
shipped() { curl -s --max-time 5 "$G/api/v1/orders/$oid" -H "Authorization: Bearer $tok" | grep -q '"status":"shipped"'; }
case $mode in
single | ha)
	# The Vagrantfile forwards the host's 127.0.0.1:8080 to the guest's 8080: the gateway must
	# listen on the machine's addresses (GATEWAY_ADDR=0.0.0.0), not on its loopback only.
	check "the gateway listens on 0.0.0.0:8080 (what the forwarded port reaches)" \
		bash -c 'ss -Hltn "sport = :8080" | grep -q "0\.0\.0\.0:8080"'
	check "the gateway answers /api/v1/products/1 (200)" until_ok 20 answers
	# shellcheck disable=SC2016
	check "products: a page of 3" bash -c 'curl -s --max-time 5 "$1/api/v1/products?limit=3" | grep -o "\"sku\"" | wc -l | grep -qx 3' _ "$G"
	shop vagrant
	check "the order is shipped (events through the lab's RabbitMQ, within 30 s)" until_ok 30 shipped
	[ "$mode" = ha ] || check "make status in /shoplab (SHOPLAB_RUN=/var/lib/shoplab) reports the stack" \
		bash -c 'cd /shoplab && SHOPLAB_RUN=/var/lib/shoplab make -s status'
	;;
checkout)
	check "the gateway answers /api/v1/products/1 (200)" until_ok 20 answers
	shop "vagrant-$(date +%s%N)"
	check "the order is shipped (within 30 s)" until_ok 30 shipped
	;;
*)
	bad "unknown mode $mode"
	;;
esac
echo "@@ result $failed failed"
[ "$failed" -eq 0 ]
