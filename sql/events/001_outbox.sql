-- events/001_outbox.sql - the library's migration 1: the transactional outbox; safe to apply again.
-- for: publishes
-- Applied by the migrator to every service whose service.conf has publishes=, before the
-- service's own sql/<service>/ files, recorded in its schema_version_events (docs/events.md).
-- A row is written in the same transaction as the change and deleted once the broker
-- confirmed it (fcgi-services/lib/svc_ev_relay.c).
CREATE TABLE IF NOT EXISTS outbox (
	seq		BIGINT		NOT NULL AUTO_INCREMENT,
	id		CHAR(36)	NOT NULL,
	type		VARCHAR(64)	NOT NULL,
	body		MEDIUMTEXT	NOT NULL,
	created_at	TIMESTAMP(6)	NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
	PRIMARY KEY (seq),
	UNIQUE KEY outbox_id (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
