-- 0001: organisation tree, users, sessions and signing keys.
--
-- Times are unix milliseconds in UTC; NULL means the zero time.
-- Lists (org paths, stages) are JSON text: they are read whole and never
-- searched. Scope is searched, so every org and user also has one row per
-- ancestor (itself included) in a side table whose primary key
-- (ancestor_id, id) answers "everything under X, in id order, after Y" as
-- one index range.
-- An empty school code or mobile number is stored as NULL so the unique
-- indexes ignore it.

CREATE TABLE orgs (
	id         TEXT PRIMARY KEY,
	kind       TEXT NOT NULL,
	name       TEXT NOT NULL,
	parent_id  TEXT NOT NULL DEFAULT '',
	path       TEXT NOT NULL DEFAULT '[]',
	code       TEXT UNIQUE,
	stages     TEXT NOT NULL DEFAULT '[]',
	students   INTEGER NOT NULL DEFAULT 0,
	staff      INTEGER NOT NULL DEFAULT 0,
	version    INTEGER NOT NULL,
	created_at INTEGER,
	updated_at INTEGER
) WITHOUT ROWID;

CREATE INDEX orgs_parent ON orgs (parent_id, id);
CREATE INDEX orgs_kind ON orgs (kind, id);

CREATE TABLE org_scope (
	ancestor_id TEXT NOT NULL,
	org_id      TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	PRIMARY KEY (ancestor_id, org_id)
) WITHOUT ROWID;

CREATE INDEX org_scope_org ON org_scope (org_id);

CREATE TABLE users (
	id                   TEXT PRIMARY KEY,
	username             TEXT NOT NULL UNIQUE,
	name                 TEXT NOT NULL,
	mobile               TEXT UNIQUE,
	role                 TEXT NOT NULL,
	org_id               TEXT NOT NULL DEFAULT '',
	org_path             TEXT NOT NULL DEFAULT '[]',
	password_hash        TEXT NOT NULL,
	must_change_password INTEGER NOT NULL DEFAULT 0,
	disabled             INTEGER NOT NULL DEFAULT 0,
	password_changed_at  INTEGER,
	version              INTEGER NOT NULL,
	created_at           INTEGER,
	updated_at           INTEGER
) WITHOUT ROWID;

CREATE INDEX users_org ON users (org_id, id);
CREATE INDEX users_role ON users (role, id);

CREATE TABLE user_scope (
	ancestor_id TEXT NOT NULL,
	user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	PRIMARY KEY (ancestor_id, user_id)
) WITHOUT ROWID;

CREATE INDEX user_scope_user ON user_scope (user_id);

CREATE TABLE sessions (
	id           TEXT PRIMARY KEY,
	user_id      TEXT NOT NULL,
	device       TEXT NOT NULL,
	user_agent   TEXT NOT NULL,
	ip           TEXT NOT NULL,
	current_hash TEXT NOT NULL,
	prev_hash    TEXT NOT NULL,
	generation   INTEGER NOT NULL,
	created_at   INTEGER,
	rotated_at   INTEGER,
	last_used_at INTEGER,
	expires_at   INTEGER,
	revoked_at   INTEGER
) WITHOUT ROWID;

CREATE INDEX sessions_user ON sessions (user_id, created_at);
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX sessions_revoked ON sessions (revoked_at);

CREATE TABLE signing_keys (
	id          TEXT PRIMARY KEY,
	algorithm   TEXT NOT NULL,
	private_key BLOB NOT NULL,
	created_at  INTEGER,
	retired_at  INTEGER
) WITHOUT ROWID;
