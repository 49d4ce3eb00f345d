-- Migration 9 (PostgreSQL): the Apple budget the processes share. Same tables and meaning as
-- ../0009_apple_budget.sql.

CREATE TABLE apple_budget (
    id         INTEGER          PRIMARY KEY CHECK (id = 1),
    rate       DOUBLE PRECISION NOT NULL,          -- requests per second the processes together may send
    peak       DOUBLE PRECISION,                   -- the rate the last 429 was met at (NULL: none yet)
    epoch      BIGINT           NOT NULL,          -- decreases made so far (a process that sees more, adopts)
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE apple_budget_members (
    process_id TEXT             PRIMARY KEY,       -- host:pid:random, as processes.id
    seen_at    DOUBLE PRECISION NOT NULL           -- its last sync
);
