-- events/002_inbox_dead_letters.sql - the library's migration 2: inbox and dead letters; safe to apply again.
-- for: consumes
-- Applied by the migrator to every service whose service.conf has consumes=, before the
-- service's own sql/<service>/ files, recorded in its schema_version_events (docs/events.md).
-- The inbox: one row per message id applied, in the effect's transaction; the dead letters
-- this service gave up on, one row per message id, replayed rather than deleted
-- (fcgi-services/lib/svc_ev_consumer.c, svc_ev_replay.c). The retry state is not a table:
-- a consumer holds a failed delivery unacked until its retry (svc_ev_retry.c).
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
	replayed_at	TIMESTAMP(6)	NULL DEFAULT NULL,
	replays		INT		NOT NULL DEFAULT 0,
	PRIMARY KEY (seq),
	UNIQUE KEY uq_dead_letters_msg (msg_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
