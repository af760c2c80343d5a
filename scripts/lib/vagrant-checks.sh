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
# ok, bad, check, until_ok, http_code, shop_login, shop_checkout, shop_shipped (the container
# tests copy it next to this file).
# shellcheck source=scripts/lib/shop-checks.sh
. "$(dirname "$0")/shop-checks.sh"

mode=${1:-single}
G=${2:-http://127.0.0.1:8080}
answers() { test "$(http_code "$G/api/v1/products/1")" = 200; }
case $mode in
single | ha)
	# The Vagrantfile forwards the host's 127.0.0.1:8080 to the guest's 8080: the gateway must
	# listen on the machine's addresses (GATEWAY_ADDR=0.0.0.0), not on its loopback only.
	check "the gateway listens on 0.0.0.0:8080 (what the forwarded port reaches)" \
		bash -c 'ss -Hltn "sport = :8080" | grep -q "0\.0\.0\.0:8080"'
	check "the gateway answers /api/v1/products/1 (200)" until_ok 20 answers
	# shellcheck disable=SC2016
	check "products: a page of 3" bash -c 'curl -s --max-time 5 "$1/api/v1/products?limit=3" | grep -o "\"sku\"" | wc -l | grep -qx 3' _ "$G"
	shop_login vagrant
	shop_checkout vagrant-0001
	check "the order is shipped (events through the lab's RabbitMQ, within 30 s)" until_ok 30 shop_shipped
	[ "$mode" = ha ] || check "make status in /shoplab (SHOPLAB_RUN=/var/lib/shoplab) reports the stack" \
		bash -c 'cd /shoplab && SHOPLAB_RUN=/var/lib/shoplab make -s status'
	;;
checkout)
	check "the gateway answers /api/v1/products/1 (200)" until_ok 20 answers
	shop_login "vagrant-$(date +%s%N)"
	shop_checkout "vagrant-$(date +%s%N)"
	check "the order is shipped (within 30 s)" until_ok 30 shop_shipped
	;;
*)
	bad "unknown mode $mode"
	;;
esac
echo "@@ result $failed failed"
[ "$failed" -eq 0 ]
