-- inventory/001_initial.sql - migration 1: the inventory service's schema (database `inventory`); safe to apply again.
-- The event tables (outbox, inbox, dead_letters) come from the library's own migrations,
-- sql/events/, applied before this file (docs/events.md). This file once created them too:
-- replaces checksum 8bdb5e23c44a6309015075ec5e064b06098de03dd9ed1d39d7279cf4b2aaab87
-- Per product, sum(adjustments.delta) = available + held + sold, and available >= 0.
CREATE TABLE IF NOT EXISTS stock (
	product_id	BIGINT		NOT NULL,
	available	BIGINT		NOT NULL DEFAULT 0,
	held		BIGINT		NOT NULL DEFAULT 0,
	sold		BIGINT		NOT NULL DEFAULT 0,
	updated_at	TIMESTAMP(3)	NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
	PRIMARY KEY (product_id),
	CONSTRAINT stock_available CHECK (available >= 0),
	CONSTRAINT stock_held CHECK (held >= 0),
	CONSTRAINT stock_sold CHECK (sold >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One row per order: held, then committed or released, or expired (a hold nobody committed
-- or released before expires_at, released by the reaper). A release of an unknown order
-- leaves a released row with no items (a tombstone) so that a late reserve is refused.
CREATE TABLE IF NOT EXISTS reservations (
	order_id	BIGINT		NOT NULL,
	status		ENUM('held', 'committed', 'released', 'expired') NOT NULL DEFAULT 'held',
	expires_at	TIMESTAMP(3)	NULL,
	created_at	TIMESTAMP(3)	NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	updated_at	TIMESTAMP(3)	NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
	PRIMARY KEY (order_id),
	KEY reservations_status (status, updated_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS reservation_items (
	order_id	BIGINT		NOT NULL,
	product_id	BIGINT		NOT NULL,
	quantity	INT		NOT NULL,
	PRIMARY KEY (order_id, product_id),
	KEY reservation_items_product (product_id),
	CONSTRAINT reservation_items_quantity CHECK (quantity > 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The ledger: every change of a product's total stock (seed, admin), never updated; an
-- expired hold adds a row with delta 0 (reason hold_expired, actor = the order id) per line.
CREATE TABLE IF NOT EXISTS adjustments (
	id		BIGINT		NOT NULL AUTO_INCREMENT,
	product_id	BIGINT		NOT NULL,
	delta		BIGINT		NOT NULL,
	reason		VARCHAR(32)	NOT NULL,
	actor		BIGINT		NULL,
	created_at	TIMESTAMP(3)	NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	PRIMARY KEY (id),
	KEY adjustments_product (product_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Databases made by an older version (no-ops on a new one).
ALTER TABLE reservations MODIFY status ENUM('held', 'committed', 'released', 'expired')
	NOT NULL DEFAULT 'held';
ALTER TABLE reservations ADD COLUMN IF NOT EXISTS expires_at TIMESTAMP(3) NULL AFTER status;
CREATE INDEX IF NOT EXISTS reservations_expiry ON reservations (status, expires_at);
