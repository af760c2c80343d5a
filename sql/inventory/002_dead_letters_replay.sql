-- 002_dead_letters_replay.sql - dead letters are replayed, not deleted; one row per message id
-- replayed_at: when an operator last republished it (NULL: waiting); replays: how many times.
ALTER TABLE dead_letters
	ADD COLUMN IF NOT EXISTS replayed_at	TIMESTAMP(6)	NULL DEFAULT NULL,
	ADD COLUMN IF NOT EXISTS replays	INT		NOT NULL DEFAULT 0;
-- The consumer writes a dead letter as an upsert on msg_id (a retry of the record, a message
-- dead again after its replay): keep the newest row of each id, then make the id unique.
DELETE d1 FROM dead_letters d1 JOIN dead_letters d2 ON d1.msg_id = d2.msg_id AND d1.seq < d2.seq;
ALTER TABLE dead_letters ADD UNIQUE KEY IF NOT EXISTS uq_dead_letters_msg (msg_id);
