//! Full-text search over stored messages (SQLite FTS5), for the console inbox.
