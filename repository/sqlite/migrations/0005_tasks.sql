-- 0005: collection tasks (填报任务).
--
-- A task is one row; its lists (templates, stages, target schools) are
-- JSON. Scope works as for records: task_scope holds one row per ancestor
-- of the task's bureau (itself included), so "tasks under X, newest
-- first" is one range of its primary key. task_targets holds one row per
-- target school, so a school's list ("tasks asking something of me,
-- newest first") is one range too, and a school may read a task it is
-- targeted by. A task row holds up to 2,000 school ids: a rowid table.

CREATE TABLE tasks (
	id             TEXT PRIMARY KEY,
	name           TEXT NOT NULL,
	templates      TEXT NOT NULL DEFAULT '[]',
	period         TEXT NOT NULL,
	period_from    TEXT NOT NULL,
	period_to      TEXT NOT NULL,
	org_id         TEXT NOT NULL,
	org_path       TEXT NOT NULL DEFAULT '[]',
	stages         TEXT NOT NULL DEFAULT '[]',
	school_ids     TEXT NOT NULL DEFAULT '[]',
	due_on         TEXT NOT NULL,
	min_per_school INTEGER NOT NULL,
	note           TEXT NOT NULL DEFAULT '',
	created_by     TEXT NOT NULL DEFAULT '',
	created_at     INTEGER,
	version        INTEGER NOT NULL
);

CREATE TABLE task_scope (
	ancestor_id TEXT NOT NULL,
	task_id     TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
	PRIMARY KEY (ancestor_id, task_id)
) WITHOUT ROWID;

CREATE TABLE task_targets (
	school_id TEXT NOT NULL,
	task_id   TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
	due_on    TEXT NOT NULL,
	PRIMARY KEY (school_id, task_id)
) WITHOUT ROWID;
