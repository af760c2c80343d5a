-- orders/001_initial.sql - migration 1: the orders service's schema (database `orders`); safe to apply again.
-- The event tables (outbox, inbox, dead_letters) come from the library's own migrations,
-- sql/events/, applied before this file (docs/events.md). This file once created them too:
-- replaces checksum c53b37f3dd526270b7431bac06808abfb275b9861c5b56b963cfb5fa0f5af6c4
-- An order row is also its saga's state and its Idempotency-Key record.
CREATE TABLE IF NOT EXISTS orders (
	id		BIGINT		NOT NULL AUTO_INCREMENT,
	user_id		BIGINT		NOT NULL,
	status		ENUM('pending', 'confirmed', 'rejected') NOT NULL DEFAULT 'pending',
	-- The step taken next: pending (reserve), reserved (charge), charged (commit),
	-- uncommitting (release after a charge), compensating (release), voiding (void), done.
	saga_state	ENUM('pending', 'reserved', 'charged', 'uncommitting', 'compensating', 'voiding', 'done') NOT NULL DEFAULT 'pending',
	reject_reason	VARCHAR(64)	NULL,
	total_cents	BIGINT		NOT NULL,
	currency	CHAR(3)		NOT NULL,
	idempotency_key	VARCHAR(64)	CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
	request_hash	CHAR(64)	CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
	response_status	SMALLINT	NULL,
	response_body	TEXT		NULL,
	-- The card, encrypted (AES-256-GCM), kept only until the charge has a definite answer.
	card_enc	VARBINARY(512)	NULL,
	attempts	INT		NOT NULL DEFAULT 0,
	next_attempt_at	TIMESTAMP(3)	NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	created_at	TIMESTAMP(3)	NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	updated_at	TIMESTAMP(3)	NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
	PRIMARY KEY (id),
	UNIQUE KEY orders_idempotency (user_id, idempotency_key),
	KEY orders_due (status, next_attempt_at),
	KEY orders_user (user_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS order_items (
	order_id	BIGINT		NOT NULL,
	product_id	BIGINT		NOT NULL,
	quantity	INT		NOT NULL,
	unit_price_cents BIGINT		NOT NULL,
	PRIMARY KEY (order_id, product_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Databases made by an older version (both statements are no-ops on a new one).
ALTER TABLE orders MODIFY saga_state ENUM('pending', 'reserved', 'charged', 'uncommitting',
	'compensating', 'voiding', 'done') NOT NULL DEFAULT 'pending';
ALTER TABLE orders MODIFY reject_reason VARCHAR(64) NULL;

-- shipped (after confirmed, never backwards), set by the shipment.dispatched event.
ALTER TABLE orders MODIFY status ENUM('pending', 'confirmed', 'rejected', 'shipped') NOT NULL DEFAULT 'pending';
ALTER TABLE orders ADD COLUMN IF NOT EXISTS shipment_id BIGINT NULL;
ALTER TABLE orders ADD COLUMN IF NOT EXISTS shipped_at VARCHAR(32) NULL;
