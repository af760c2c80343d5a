-- shipping.sql - the shipping service's schema (database `shipping`); safe to apply again.
-- The event tables (outbox, inbox, dead_letters) come from the library's own migrations,
-- sql/events/, applied before this file (docs/events.md). This file once created them too:
-- replaces checksum fa0ea5a2529c3fd4354d16e3bd993d2b9ddb50f0469b80a57f8246818894c241
-- One shipment per order (UNIQUE order_id), made from order.confirmed; `created` until the
-- dispatcher sends it after SHOPLAB_SHIPPING_DELAY_MS. Times are UTC.
CREATE TABLE IF NOT EXISTS shipments (
	id		BIGINT UNSIGNED	NOT NULL AUTO_INCREMENT,
	order_id	BIGINT UNSIGNED	NOT NULL,
	user_id		BIGINT UNSIGNED	NOT NULL,
	status		ENUM('created', 'dispatched') NOT NULL,
	created_at	DATETIME(6)	NOT NULL,
	dispatched_at	DATETIME(6)	NULL,
	PRIMARY KEY (id),
	UNIQUE KEY shipments_order (order_id),
	KEY shipments_due (status, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
