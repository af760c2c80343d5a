-- users/001_initial.sql - migration 1: the users service's schema (database `users`); safe to apply again.
CREATE TABLE IF NOT EXISTS users (
	id		BIGINT		NOT NULL AUTO_INCREMENT,
	email		VARCHAR(254)	CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
	name		VARCHAR(100)	NOT NULL,
	password_hash	VARCHAR(255)	CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
	role		ENUM('customer', 'admin') NOT NULL DEFAULT 'customer',
	created_at	TIMESTAMP(3)	NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	PRIMARY KEY (id),
	UNIQUE KEY users_email (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
