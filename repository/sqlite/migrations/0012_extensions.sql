-- 0012: template extensions (a bureau's own options and fields for a
-- template, keeping its key), every version kept; the current one of a
-- (template, owner) is the row with current = 1. Records pin the versions
-- they were written against, as JSON [{"owner":..,"version":..}].
CREATE TABLE template_extensions (
	template   TEXT NOT NULL,
	owner_id   TEXT NOT NULL,
	version    INTEGER NOT NULL,
	current    INTEGER NOT NULL,
	definition TEXT NOT NULL,
	PRIMARY KEY (template, owner_id, version)
) WITHOUT ROWID;
CREATE UNIQUE INDEX template_extensions_current ON template_extensions (template, owner_id) WHERE current = 1;

ALTER TABLE records ADD COLUMN extensions TEXT NOT NULL DEFAULT '[]';
