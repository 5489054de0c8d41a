-- 0010: the audit log of account and security events.
--
-- Events are appended, never changed. Their ids sort by time, so "newest
-- first" is the primary key read backwards. audit_scope holds one row per
-- unit on the event's org path, so a district's events, newest first, are
-- one range of its key; events of no unit have no scope rows and only
-- system administrators (who read audit itself) see them.

CREATE TABLE audit (
	id           TEXT PRIMARY KEY,
	at           INTEGER NOT NULL,
	kind         TEXT NOT NULL,
	actor_id     TEXT NOT NULL DEFAULT '',
	actor_name   TEXT NOT NULL DEFAULT '',
	login        TEXT NOT NULL DEFAULT '',
	ip           TEXT NOT NULL DEFAULT '',
	user_agent   TEXT NOT NULL DEFAULT '',
	subject_type TEXT NOT NULL DEFAULT '',
	subject_id   TEXT NOT NULL DEFAULT '',
	subject_name TEXT NOT NULL DEFAULT '',
	org_path     TEXT NOT NULL DEFAULT '[]',
	detail       TEXT NOT NULL DEFAULT ''
);

CREATE INDEX audit_kind ON audit (kind, id);
CREATE INDEX audit_actor ON audit (actor_id, id);
CREATE INDEX audit_subject ON audit (subject_id, id);

CREATE TABLE audit_scope (
	ancestor_id TEXT NOT NULL,
	audit_id    TEXT NOT NULL REFERENCES audit (id) ON DELETE CASCADE,
	PRIMARY KEY (ancestor_id, audit_id)
) WITHOUT ROWID;
