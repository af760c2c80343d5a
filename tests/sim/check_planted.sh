#!/usr/bin/env bash
# check_planted.sh - sim check against real databases with planted violations: each is found and named.
#
# Runs against the stack in $SHOPLAB_RUN after a scenario (run-tests.sh calls it after the smoke
# scenario): a charge without an order (a double charge's trace), a confirmed order that is gone
# (a lost order), and a product whose ledger does not add up. It changes that stack's data.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${SHOPLAB_BUILD:-$TOP/build}
db() { mariadb --no-defaults --socket="$SHOPLAB_RUN/mariadb/mariadb.sock" -u "$(id -un)" -N -B "$@"; }
fail() { echo "check_planted: $*" >&2; exit 1; }

"$BUILD/bin/sim" check >/dev/null 2>&1 || fail "the stack was not clean before planting"
lost=$(db orders -e "SELECT id FROM orders WHERE status = 'confirmed' ORDER BY id LIMIT 1")
[ -n "$lost" ] || fail "no confirmed order to lose"
db orders -e "DELETE FROM order_items WHERE order_id = $lost; DELETE FROM orders WHERE id = $lost"
db payments -e "INSERT INTO charges (order_id, status, amount_cents, refunded_cents, currency, last4)
	VALUES (987654321, 'captured', 1234, 0, 'EUR', '4242')"
db inventory -e "UPDATE stock SET sold = sold + 7 WHERE product_id = 3"

rc=0
out=$("$BUILD/bin/sim" check 2>&1) || rc=$?
echo "$out" | grep -E 'FAIL|^ +- ' || true
[ "$rc" -eq 1 ] || fail "sim check exited $rc, want 1"
grep -q "charge .* belongs to order 987654321, which does not exist" <<<"$out" || fail "the orphan charge was not named"
grep -q "charge .* belongs to order $lost, which does not exist" <<<"$out" || fail "the lost order was not named"
grep -q "FAIL money_balances" <<<"$out" || fail "the money imbalance was not found"
grep -q "product 3: adjustments sum to" <<<"$out" || fail "the broken ledger was not named"
echo "check_planted: every planted violation was found and named"
