-- catalog/001_initial.sql - migration 1: the catalog service's schema (database `catalog`); safe to apply again.
-- The event tables (outbox, inbox, dead_letters) come from the library's own migrations,
-- sql/events/, applied before this file (docs/events.md). This file once created them too:
-- replaces checksum 4d67a12043e8238ff983bc11dc9b4ab7ecf55f8a43c8e8e1ed60f3c096306de2
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
