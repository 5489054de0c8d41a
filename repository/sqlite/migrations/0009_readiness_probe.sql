-- One row that readiness rewrites after a write failed for the disk's
-- sake (full, read-only): when the probe commits, the server is ready again.
CREATE TABLE readiness_probe (
  id INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  pad BLOB
);
