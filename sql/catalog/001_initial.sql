-- catalog/001_initial.sql - migration 1: the catalog service's schema (database `catalog`); safe to apply again.
CREATE TABLE IF NOT EXISTS products (
	id		BIGINT		NOT NULL AUTO_INCREMENT,
	sku		VARCHAR(64)	NOT NULL,
	name		VARCHAR(200)	NOT NULL,
	description	VARCHAR(2000)	NOT NULL DEFAULT '',
	price_cents	BIGINT		NOT NULL,
	currency	CHAR(3)		NOT NULL DEFAULT 'EUR',
	created_at	TIMESTAMP(3)	NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	updated_at	TIMESTAMP(3)	NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
	PRIMARY KEY (id),
	UNIQUE KEY products_sku (sku),
	CONSTRAINT products_price CHECK (price_cents >= 0)
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
