-- payments/001_initial.sql - migration 1: the payments service's schema (database `payments`); safe to apply again.
-- One row per order, decided by the unique key: captured, declined (with its code, so a replay
-- answers the same) or voided (given back in full, or a tombstone of amount 0 for an order
-- voided before any charge arrived). Only the card's last four digits are ever stored.
CREATE TABLE IF NOT EXISTS charges (
	id		BIGINT		NOT NULL AUTO_INCREMENT,
	order_id	BIGINT		NOT NULL,
	status		ENUM('captured', 'declined', 'voided') NOT NULL,
	amount_cents	BIGINT		NOT NULL,
	refunded_cents	BIGINT		NOT NULL DEFAULT 0,
	currency	CHAR(3)		CHARACTER SET ascii COLLATE ascii_bin NULL,
	last4		CHAR(4)		CHARACTER SET ascii COLLATE ascii_bin NULL,
	decline_code	VARCHAR(32)	CHARACTER SET ascii COLLATE ascii_bin NULL,
	created_at	TIMESTAMP(3)	NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	updated_at	TIMESTAMP(3)	NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
	PRIMARY KEY (id),
	UNIQUE KEY charges_order (order_id),
	CONSTRAINT charges_amount CHECK (amount_cents >= 0 AND refunded_cents >= 0 AND
	    refunded_cents <= amount_cents)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
