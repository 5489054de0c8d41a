-- 0011: indicators (指标): ratios of totals a bureau defines. Visible like
-- templates: built-ins (owner ''), those of the caller's unit and its
-- ancestors, and those of units inside the caller's scope.
CREATE TABLE indicators (
	key        TEXT PRIMARY KEY,
	owner_id   TEXT NOT NULL DEFAULT '',
	owner_path TEXT NOT NULL DEFAULT '[]',
	builtin    INTEGER NOT NULL DEFAULT 0,
	definition TEXT NOT NULL
);
CREATE INDEX indicators_owner ON indicators (owner_id, key);
