-- 0013: a subtree's records of one template are one index range. The
-- export of a city's drills read every record of the city through
-- record_scope and kept one in thirteen (the template was checked on the
-- record, row by row); record_scope now carries the record's template
-- (which never changes) and an index leads with (ancestor, template).
ALTER TABLE record_scope ADD COLUMN template TEXT NOT NULL DEFAULT '';
UPDATE record_scope SET template = (SELECT r.template FROM records r WHERE r.id = record_scope.record_id);
CREATE INDEX record_scope_template ON record_scope (ancestor_id, template, record_id);
