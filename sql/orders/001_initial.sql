-- orders/001_initial.sql - migration 1: the orders service's schema (database `orders`); safe to apply again.
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

-- Events (fcgi-services/lib/svc_events.h, docs/events.md): the transactional outbox. A row is
-- written in the same transaction as the change and deleted once the broker confirmed it.
CREATE TABLE IF NOT EXISTS outbox (
	seq		BIGINT		NOT NULL AUTO_INCREMENT,
	id		CHAR(36)	NOT NULL,
	type		VARCHAR(64)	NOT NULL,
	body		MEDIUMTEXT	NOT NULL,
	created_at	TIMESTAMP(6)	NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
	PRIMARY KEY (seq),
	UNIQUE KEY outbox_id (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Events consumed: the inbox (one row per message id applied, in the effect's transaction)
-- and the dead letters this service gave up on (also in the broker's <service>.dead queue).
CREATE TABLE IF NOT EXISTS inbox (
	id		VARCHAR(64)	NOT NULL,
	type		VARCHAR(64)	NOT NULL,
	received_at	TIMESTAMP(6)	NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
	PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS dead_letters (
	seq		BIGINT		NOT NULL AUTO_INCREMENT,
	msg_id		VARCHAR(64)	NOT NULL,
	type		VARCHAR(64)	NOT NULL,
	reason		VARCHAR(128)	NOT NULL,
	attempts	INT		NOT NULL,
	body		MEDIUMTEXT	NOT NULL,
	dead_at		TIMESTAMP(6)	NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
	PRIMARY KEY (seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- shipped (after confirmed, never backwards), set by the shipment.dispatched event.
ALTER TABLE orders MODIFY status ENUM('pending', 'confirmed', 'rejected', 'shipped') NOT NULL DEFAULT 'pending';
ALTER TABLE orders ADD COLUMN IF NOT EXISTS shipment_id BIGINT NULL;
ALTER TABLE orders ADD COLUMN IF NOT EXISTS shipped_at VARCHAR(32) NULL;
