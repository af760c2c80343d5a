#!/usr/bin/env bash
# check_planted.sh - sim check against real databases with planted violations: each is found and named.
#
# Runs against the stack in $SHOPLAB_RUN after a scenario (run-tests.sh calls it after the smoke
# scenario). First an order that vanished with its items, its charge, its reservation and the
# reservation's lines: money and the ledger still balance, and only the stock's sold units that
# no committed reservation accounts for give it away. Then an order whose items say more than
# its reservation sold. Then a charge without an order (a double charge's trace), a confirmed
# order that is gone (a lost order), and a product whose ledger does not add up. It changes
# that stack's data.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${SHOPLAB_BUILD:-$TOP/build}
db() { mariadb --no-defaults --socket="$SHOPLAB_RUN/mariadb/mariadb.sock" -u "$(id -un)" -N -B "$@"; }
fail() { echo "check_planted: $*" >&2; exit 1; }
# Confirmed, or shipped since (shipping's events move confirmed orders on): the checker counts both.
confirmed() { db orders -e "SELECT id FROM orders WHERE status IN ('confirmed', 'shipped') ORDER BY id LIMIT 1 OFFSET $1"; }

"$BUILD/bin/sim" check >/dev/null 2>&1 || fail "the stack was not clean before planting"

# 1. The vanished order: nothing names it any more, only the units it sold are left over.
gone=$(confirmed 0)
[ -n "$gone" ] || fail "no confirmed order to make vanish"
products=$(db orders -e "SELECT product_id FROM order_items WHERE order_id = $gone")
[ -n "$products" ] || fail "order $gone has no items"
db orders -e "DELETE FROM order_items WHERE order_id = $gone; DELETE FROM orders WHERE id = $gone"
db payments -e "DELETE FROM charges WHERE order_id = $gone"
db inventory -e "DELETE FROM reservation_items WHERE order_id = $gone; DELETE FROM reservations WHERE order_id = $gone"
# Its shipment too, where a shipping service made one: nothing names the order any more.
if db -e "SELECT 1 FROM information_schema.schemata WHERE schema_name = 'shipping'" | grep -q 1; then
	db shipping -e "DELETE FROM shipments WHERE order_id = $gone"
fi
rc=0
out=$("$BUILD/bin/sim" check 2>&1) || rc=$?
echo "$out" | grep -E 'FAIL|^ +- ' || true
[ "$rc" -eq 1 ] || fail "sim check exited $rc for the vanished order $gone, want 1"
[ "$(grep -c '^ *FAIL' <<<"$out")" -eq 1 ] || fail "the vanished order broke more than one invariant"
grep -q "FAIL stock_matches_reservations" <<<"$out" || fail "the vanished order $gone was not found"
for p in $products; do
	grep -q "product $p: sold [0-9]* but committed reservations account for" <<<"$out" ||
		fail "product $p of the vanished order $gone was not named"
done

# 2. An order whose items say more than its reservation sold.
more=$(confirmed 0)
[ -n "$more" ] || fail "no confirmed order left to change"
mp=$(db orders -e "SELECT product_id FROM order_items WHERE order_id = $more ORDER BY product_id LIMIT 1")
db orders -e "UPDATE order_items SET quantity = quantity + 1 WHERE order_id = $more AND product_id = $mp"
rc=0
out=$("$BUILD/bin/sim" check 2>&1) || rc=$?
[ "$rc" -eq 1 ] || fail "sim check exited $rc, want 1"
grep -q "order $more ordered [0-9]* of product $mp but its reservation sold" <<<"$out" ||
	fail "the items of order $more that its reservation did not sell were not named"

# 3. A charge without an order, a lost order, a broken ledger.
lost=$(confirmed 1)
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
grep -q "FAIL sold_matches_orders" <<<"$out" || fail "the changed order was forgotten"
echo "check_planted: every planted violation was found and named"
