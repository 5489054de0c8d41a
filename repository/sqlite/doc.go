// Package sqlite is huizong's embedded store: everything in one SQLite file
// through the pure-Go modernc.org/sqlite driver, so a district can run
// huizong as one binary with nothing else installed.
//
// Writes go through one connection (SQLite has one writer anyway, and
// queueing in database/sql is kinder than SQLITE_BUSY); reads use a pool of
// query-only connections that WAL lets run beside the writer. The schema is
// versioned by the embedded migrations/NNNN_name.sql files.
package sqlite
