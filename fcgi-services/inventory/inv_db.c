/* inv_db.c - the inventory service's SQL: every statement it prepares, by index */
#include "inventory.h"

/*
 * Stock moves only by conditional updates or under a row lock, inside one transaction
 * with the reservation row that explains the move. For every product,
 * sum(adjustments.delta) = available + held + sold.
 */
const char *const inv_stmts[INV_NSTMTS] = {
	[INV_STOCK_GET] =
	    "SELECT available FROM stock WHERE product_id = ?",
	[INV_STOCK_LOCK] =
	    "SELECT available FROM stock WHERE product_id = ? FOR UPDATE",
	[INV_STOCK_INSERT] =
	    "INSERT INTO stock (product_id, available, held, sold) VALUES (?, ?, 0, 0)",
	[INV_STOCK_SET] =
	    "UPDATE stock SET available = ? WHERE product_id = ?",
	/* Never below zero: the row changes only when enough is available. */
	[INV_STOCK_HOLD] =
	    "UPDATE stock SET available = available - ?, held = held + ?"
	    " WHERE product_id = ? AND available >= ?",
	[INV_STOCK_COMMIT] =
	    "UPDATE stock s JOIN reservation_items i ON i.product_id = s.product_id"
	    " SET s.held = s.held - i.quantity, s.sold = s.sold + i.quantity"
	    " WHERE i.order_id = ?",
	[INV_STOCK_RELEASE] =
	    "UPDATE stock s JOIN reservation_items i ON i.product_id = s.product_id"
	    " SET s.held = s.held - i.quantity, s.available = s.available + i.quantity"
	    " WHERE i.order_id = ?",
	[INV_ADJUST] =
	    "INSERT INTO adjustments (product_id, delta, reason, actor) VALUES (?, ?, ?, ?)",
	/* A hold expires ttl seconds from now; a tombstone (released) never does. */
	[INV_RES_INSERT] =
	    "INSERT INTO reservations (order_id, status, expires_at)"
	    " VALUES (?, ?, IF(? > 0, NOW(3) + INTERVAL ? SECOND, NULL))",
	[INV_RES_DUE] =
	    "SELECT order_id FROM reservations WHERE status = 'held' AND expires_at <= NOW(3)"
	    " ORDER BY expires_at LIMIT ?",
	[INV_RES_LOCK_DUE] =
	    "SELECT status FROM reservations WHERE order_id = ? AND status = 'held'"
	    " AND expires_at <= NOW(3) FOR UPDATE",
	[INV_ADJUST_EXPIRED] =
	    "INSERT INTO adjustments (product_id, delta, reason, actor)"
	    " SELECT product_id, 0, 'hold_expired', order_id FROM reservation_items"
	    " WHERE order_id = ?",
	[INV_RES_GET] =
	    "SELECT status FROM reservations WHERE order_id = ?",
	[INV_RES_LOCK] =
	    "SELECT status FROM reservations WHERE order_id = ? FOR UPDATE",
	/* Locking reads see the latest committed row, whatever the transaction's snapshot. */
	[INV_RES_SHARE] =
	    "SELECT status FROM reservations WHERE order_id = ? LOCK IN SHARE MODE",
	[INV_RES_SET] =
	    "UPDATE reservations SET status = ? WHERE order_id = ?",
	/* The usual commit or release: the conditional update takes the row's lock itself. */
	[INV_RES_MOVE_HELD] =
	    "UPDATE reservations SET status = ? WHERE order_id = ? AND status = 'held'",
	[INV_ITEM_INSERT] =
	    "INSERT INTO reservation_items (order_id, product_id, quantity) VALUES (?, ?, ?)",
	[INV_ITEMS_GET] =
	    "SELECT product_id, quantity FROM reservation_items WHERE order_id = ?"
	    " ORDER BY product_id",
	[INV_ITEMS_SHARE] =
	    "SELECT product_id, quantity FROM reservation_items WHERE order_id = ?"
	    " ORDER BY product_id LOCK IN SHARE MODE",
};
