-- 0004: pre-aggregated totals.
--
-- A record adds itself to a few cells (services.Rollup.Cells): per org
-- unit, template, status and month, one cell of all its records, one per
-- dimension value, one for its combination of values and one for its
-- author. CreateRecord and UpdateRecord move the record's contribution
-- from records.rollup (what it added last time, as JSON) to the new one in
-- the same transaction, so totals never drift from the records.
--
-- The primary key leads with the district (district_id: path[1], '' for a
-- city's own records) so a district's or a school's totals for a kind of
-- cell are one index range, already in (template, unit) order, so totals
-- by school and template group without sorting; a city's go through
-- totals_city. Sums are "key:value,..." in 1/10000 units.
--
-- totals_district sums the cells of a district per month (the district's
-- own records included; dimension combinations and authors left out),
-- with the number of schools whose cell is not empty: totals of a
-- district or a city by month read a few hundred of its rows instead of
-- every school's.

ALTER TABLE records ADD COLUMN rollup TEXT NOT NULL DEFAULT '';
ALTER TABLE records ADD COLUMN submitted_at INTEGER;

CREATE TABLE totals (
	district_id TEXT NOT NULL,
	status      TEXT NOT NULL,
	dim         TEXT NOT NULL,
	month       TEXT NOT NULL,
	template    TEXT NOT NULL,
	org_id      TEXT NOT NULL,
	value       TEXT NOT NULL,
	city_id     TEXT NOT NULL,
	school      INTEGER NOT NULL,
	n           INTEGER NOT NULL,
	sums        TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (district_id, status, dim, template, org_id, month, value)
) WITHOUT ROWID;

CREATE INDEX totals_city ON totals (city_id, status, dim, month);

CREATE TABLE totals_district (
	district_id TEXT NOT NULL,
	status      TEXT NOT NULL,
	dim         TEXT NOT NULL,
	template    TEXT NOT NULL,
	month       TEXT NOT NULL,
	value       TEXT NOT NULL,
	city_id     TEXT NOT NULL,
	n           INTEGER NOT NULL,
	sums        TEXT NOT NULL DEFAULT '',
	schools     INTEGER NOT NULL,
	PRIMARY KEY (district_id, status, dim, template, month, value)
) WITHOUT ROWID;

CREATE INDEX totals_district_city ON totals_district (city_id, status, dim, month);

-- Reconciling one unit reads its own records.
CREATE INDEX records_org ON records (org_id);
