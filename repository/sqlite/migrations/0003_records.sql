-- 0003: report templates, records with their history, attachments.
--
-- Templates are few (hundreds): visibility is checked row by row on the
-- owner path. Every version of a template is kept whole in
-- template_versions; templates holds the current one, with the columns
-- lists filter on.
--
-- Records are many (a million and more). Standard fields are columns, the
-- template data is JSON text. Scope is searched through record_scope, one
-- row per ancestor of the record's unit (itself included), the same way
-- org_scope and user_scope work: its primary key answers "records under X,
-- newest first, before Y" as one index range, and (ancestor_id,
-- updated_at, record_id) answers the sync list "changed under X since T"
-- the same way. It carries its own copy of the path rather than joining
-- org_scope so a record stays in scope whatever happens to its unit.

CREATE TABLE templates (
	key        TEXT PRIMARY KEY,
	owner_id   TEXT NOT NULL DEFAULT '',
	owner_path TEXT NOT NULL DEFAULT '[]',
	builtin    INTEGER NOT NULL DEFAULT 0,
	active     INTEGER NOT NULL DEFAULT 1,
	category   TEXT NOT NULL DEFAULT '',
	version    INTEGER NOT NULL,
	definition TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE template_versions (
	key        TEXT NOT NULL,
	version    INTEGER NOT NULL,
	definition TEXT NOT NULL,
	PRIMARY KEY (key, version)
) WITHOUT ROWID;

CREATE TABLE records (
	id               TEXT PRIMARY KEY,
	client_id        TEXT NOT NULL,
	author_id        TEXT NOT NULL,
	author_role      TEXT NOT NULL DEFAULT '',
	template         TEXT NOT NULL,
	template_version INTEGER NOT NULL,
	org_id           TEXT NOT NULL,
	org_path         TEXT NOT NULL DEFAULT '[]',
	occurred_on      TEXT NOT NULL DEFAULT '',
	end_on           TEXT NOT NULL DEFAULT '',
	title            TEXT NOT NULL DEFAULT '',
	description      TEXT NOT NULL DEFAULT '',
	data             TEXT NOT NULL DEFAULT '{}',
	attachments      TEXT NOT NULL DEFAULT '[]',
	status           TEXT NOT NULL,
	warnings         TEXT NOT NULL DEFAULT '[]',
	review_by        TEXT NOT NULL DEFAULT '',
	review_role      TEXT NOT NULL DEFAULT '',
	review_at        INTEGER,
	review_action    TEXT NOT NULL DEFAULT '',
	review_comment   TEXT NOT NULL DEFAULT '',
	hash             TEXT NOT NULL DEFAULT '',
	version          INTEGER NOT NULL,
	created_at       INTEGER,
	updated_at       INTEGER NOT NULL,
	deleted_at       INTEGER,
	UNIQUE (author_id, client_id)
);

-- A teacher's own list (newest first) and sync (changed since).
CREATE INDEX records_author ON records (author_id, id);
CREATE INDEX records_author_updated ON records (author_id, updated_at, id);
-- Deployment-wide lists by template, and the deployment-wide sync.
CREATE INDEX records_template ON records (template, id);
CREATE INDEX records_updated ON records (updated_at, id);

CREATE TABLE record_scope (
	ancestor_id TEXT NOT NULL,
	record_id   TEXT NOT NULL REFERENCES records (id) ON DELETE CASCADE,
	updated_at  INTEGER NOT NULL,
	PRIMARY KEY (ancestor_id, record_id)
) WITHOUT ROWID;

CREATE INDEX record_scope_updated ON record_scope (ancestor_id, updated_at, record_id);

CREATE TABLE record_events (
	record_id  TEXT NOT NULL REFERENCES records (id) ON DELETE CASCADE,
	version    INTEGER NOT NULL,
	id         TEXT NOT NULL,
	at         INTEGER,
	actor_id   TEXT NOT NULL DEFAULT '',
	actor_role TEXT NOT NULL DEFAULT '',
	action     TEXT NOT NULL DEFAULT '',
	comment    TEXT NOT NULL DEFAULT '',
	changes    TEXT NOT NULL DEFAULT '[]',
	PRIMARY KEY (record_id, version)
) WITHOUT ROWID;

-- Attachment bytes live apart from the metadata so metadata reads never
-- page through megabytes. Rowid tables: WITHOUT ROWID suits small rows.
CREATE TABLE attachments (
	id           TEXT PRIMARY KEY,
	client_id    TEXT NOT NULL,
	owner_id     TEXT NOT NULL,
	org_id       TEXT NOT NULL,
	org_path     TEXT NOT NULL DEFAULT '[]',
	name         TEXT NOT NULL DEFAULT '',
	content_type TEXT NOT NULL DEFAULT '',
	size         INTEGER NOT NULL,
	sha256       TEXT NOT NULL DEFAULT '',
	width        INTEGER NOT NULL DEFAULT 0,
	height       INTEGER NOT NULL DEFAULT 0,
	thumb_size   INTEGER NOT NULL DEFAULT 0,
	created_at   INTEGER,
	UNIQUE (owner_id, client_id)
) WITHOUT ROWID;

CREATE TABLE blobs (
	attachment_id TEXT NOT NULL REFERENCES attachments (id) ON DELETE CASCADE,
	kind          TEXT NOT NULL CHECK (kind IN ('content', 'thumb')),
	bytes         BLOB NOT NULL,
	PRIMARY KEY (attachment_id, kind)
);
