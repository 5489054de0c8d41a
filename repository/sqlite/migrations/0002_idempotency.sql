-- 0002: idempotency keys. id is a hash of (user, route, key); the stored
-- answer is replayed to retries until expires_at.

CREATE TABLE idempotency (
	id           TEXT PRIMARY KEY,
	user_id      TEXT NOT NULL,
	request_hash TEXT NOT NULL,
	done         INTEGER NOT NULL DEFAULT 0,
	status       INTEGER NOT NULL DEFAULT 0,
	location     TEXT NOT NULL DEFAULT '',
	etag         TEXT NOT NULL DEFAULT '',
	body         BLOB,
	created_at   INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX idempotency_expires ON idempotency (expires_at);
