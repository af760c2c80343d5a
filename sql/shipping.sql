-- shipping.sql - the shipping service's schema (database `shipping`); safe to apply again.
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
