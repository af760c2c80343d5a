#!/usr/bin/env bash
# check_planted.sh - sim check against real databases with planted violations: each is found and named.
#
# Runs against the stack in $SHOPLAB_RUN after a scenario (run-tests.sh calls it after the smoke
# scenario). First an order that vanished with its items, its charge, its reservation and the
# reservation's lines: money and the ledger still balance, and only the stock's sold units that
# no committed reservation accounts for give it away. Then an order whose items say more than
# its reservation sold. Then a charge without an order (a double charge's trace), a confirmed
# order that is gone (a lost order), and a product whose ledger does not add up. Then the
# events (when the stack has shipping): a shipped order moved back to confirmed, a shipment
# gone, a shipment for a rejected order, an event left in an outbox, a dead letter, a message
# applied and dead-lettered both, and the shipment invariants "not applicable" without
# shipping. It changes that stack's data.
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
# ... and its shipment, when the stack ships: it vanished with everything that named it.
has_shipping=0
db shipping -e "SELECT 1" >/dev/null 2>&1 && has_shipping=1
[ "$has_shipping" = 1 ] && db shipping -e "DELETE FROM shipments WHERE order_id = $gone"
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

# 4. Events.
if [ "$has_shipping" != 1 ]; then
	echo "check_planted: this stack has no shipping database: the event plantings are skipped"
	echo "check_planted: every planted violation was found and named"
	exit 0
fi
shipped() { db orders -e "SELECT id FROM orders WHERE status = 'shipped' ORDER BY id LIMIT 1 OFFSET $1"; }
back=$(shipped 0)
noship=$(shipped 1)
rejected=$(db orders -e "SELECT id FROM orders WHERE status = 'rejected' ORDER BY id LIMIT 1")
[ -n "$back" ] && [ -n "$noship" ] && [ -n "$rejected" ] || fail "want two shipped orders and a rejected one (got '$back' '$noship' '$rejected')"
ruser=$(db orders -e "SELECT user_id FROM orders WHERE id = $rejected")
inbox_id=$(db shipping -e "SELECT id FROM inbox ORDER BY received_at LIMIT 1")
[ -n "$inbox_id" ] || fail "shipping's inbox is empty"
catalog_pid=$(cat "$SHOPLAB_RUN/catalog.pid")
# The catalog's relay would publish a planted outbox row at once: it is stopped meanwhile.
trap 'kill -CONT "$catalog_pid" 2>/dev/null' EXIT
kill -STOP "$catalog_pid"
db orders -e "UPDATE orders SET status = 'confirmed' WHERE id = $back"
db shipping -e "DELETE FROM shipments WHERE order_id = $noship;
	INSERT INTO shipments (order_id, user_id, status, created_at) VALUES ($rejected, $ruser, 'created', UTC_TIMESTAMP(6));
	INSERT INTO dead_letters (msg_id, type, reason, attempts, body) VALUES ('planted-dead-1', 'order.confirmed', 'planted by check_planted', 5, '{}');
	INSERT INTO dead_letters (msg_id, type, reason, attempts, body) VALUES ('$inbox_id', 'order.confirmed', 'planted twice', 1, '{}')"
db catalog -e "INSERT INTO outbox (id, type, body) VALUES ('00000000-0000-4000-8000-00000000p1an', 'product.planted', '{}')"
rc=0
out=$("$BUILD/bin/sim" check 2>&1) || rc=$?
db catalog -e "DELETE FROM outbox WHERE type = 'product.planted'"
kill -CONT "$catalog_pid"
echo "$out" | grep -E 'FAIL|^ +- ' | tail -n 30 || true
[ "$rc" -eq 1 ] || fail "sim check exited $rc for the planted events, want 1"
grep -q "order $back is still confirmed, not shipped, after the drain (its shipment: dispatched" <<<"$out" ||
	fail "the shipped order $back moved back to confirmed was not named"
grep -q "FAIL one_shipment_per_order" <<<"$out" && grep -q "order $noship is shipped but has no shipment" <<<"$out" ||
	fail "the order $noship whose shipment is gone was not named"
grep -q "shipment [0-9]* is for order $rejected, which is rejected" <<<"$out" ||
	fail "the shipment of the rejected order $rejected was not named"
grep -q "catalog: 1 events still in the outbox" <<<"$out" || fail "the event left in catalog's outbox was not named"
grep -q "shipping: dead letter planted-dead-1 (order.confirmed) after 5 attempts" <<<"$out" ||
	fail "the dead letter was not named"
grep -q "shipping: message $inbox_id (order.confirmed) was applied (inbox) and dead-lettered both" <<<"$out" ||
	fail "the message applied and dead-lettered both was not named"

# 5. Without shipping the shipment invariants say "not applicable", never "ok".
out=$(SHOPLAB_SERVICES="$(tr ' ' '\n' <<< "$SHOPLAB_SERVICES" | grep -vx shipping | tr '\n' ' ')" "$BUILD/bin/sim" check 2>&1) || true
for inv in one_shipment_per_order shipment_has_confirmed_order shipped_after_drain; do
	grep -q "n/a  $inv .*not applicable: this stack has no shipping service" <<<"$out" || fail "$inv did not say not applicable"
	grep -q "^ *ok   $inv" <<<"$out" && fail "$inv passed without shipping"
done
echo "check_planted: every planted violation was found and named"
