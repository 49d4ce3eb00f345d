-- Migration 9: Apple's rate limit is the developer team's, so the processes on one database share one budget:
-- the rate they learned together (one row), and which of them are sending (a row each, renewed at most once a
-- second while it sends; a row not renewed for a few seconds is a process that stopped, whose share returns to
-- the others). SQLite has one process: it keeps all this in memory and never writes these tables.

CREATE TABLE apple_budget (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    rate       REAL    NOT NULL,                   -- requests per second the processes together may send
    peak       REAL,                               -- the rate the last 429 was met at (NULL: none yet)
    epoch      INTEGER NOT NULL,                   -- decreases made so far (a process that sees more, adopts)
    updated_at REAL    NOT NULL
);
CREATE TABLE apple_budget_members (
    process_id TEXT PRIMARY KEY,                   -- host:pid:random, as processes.id
    seen_at    REAL NOT NULL                       -- its last sync
);
