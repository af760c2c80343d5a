# shop-checks.sh - the checks' helpers and a shopper's checkout, for the scripts that check a booted machine from inside (sourced, not run).
# shellcheck shell=bash
#
# Sourced by scripts/lib/vagrant-checks.sh (test-vagrant-boot.sh, test_lab_vm_ha.sh) and
# tests/hosting/systemd_checks.sh (test-systemd.sh) from their own directory: the container
# tests copy it next to them. The caller sets G, the gateway's URL. check prints "ok WHAT" or
# "FAIL WHAT" (counted in failed), and the caller ends with "@@ result $failed failed".

failed=0
ok() { echo "ok $*"; }
bad() { echo "FAIL $*"; failed=$((failed + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
# until_ok SECONDS CMD…: CMD succeeds within SECONDS (tries every 0.5 s).
until_ok() { local n=$(($1 * 2)); shift; while [ "$n" -gt 0 ]; do "$@" && return 0; sleep 0.5; n=$((n - 1)); done; return 1; }
json_field() { sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p" | head -n 1; }
http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@"; }
shop_h=(-H 'Content-Type: application/json')

# shop_login NAME: NAME@example.com registers (checked: 201) and logs in (checked: a token in tok).
shop_login() {
	local code
	code=$(http_code -XPOST "$G/api/v1/users" "${shop_h[@]}" -d "{\"email\":\"$1@example.com\",\"password\":\"correct horse\",\"name\":\"Shopper\"}")
	check "register $1: 201 (got $code)" test "$code" = 201
	tok=$(curl -s --max-time 5 -XPOST "$G/api/v1/auth/login" "${shop_h[@]}" -d "{\"email\":\"$1@example.com\",\"password\":\"correct horse\"}" | json_field token)
	check "login: a token" test -n "$tok"
}

# shop_checkout KEY: the logged-in user orders two of product 42 (Idempotency-Key KEY), checked:
# an order confirmed or pending (its id in oid).
shop_checkout() {
	local order status
	order=$(curl -s --max-time 10 -XPOST "$G/api/v1/orders" -H "Authorization: Bearer $tok" "${shop_h[@]}" -H "Idempotency-Key: $1" \
		-d '{"items":[{"product_id":42,"quantity":2}],"card":{"number":"4242424242424242","exp_month":12,"exp_year":2030,"cvc":"123"}}')
	oid=$(json_field id <<< "$order")
	status=$(json_field status <<< "$order")
	check "checkout: an order (status $status)" test -n "$oid" -a \( "$status" = confirmed -o "$status" = pending \)
}
# shop_shipped: that order is shipped (for until_ok).
shop_shipped() { curl -s --max-time 5 "$G/api/v1/orders/$oid" -H "Authorization: Bearer $tok" | grep -q '"status":"shipped"'; }
