-- Migration 8: Discord's identify budget, shared by the processes on one database. Discord accepts one IDENTIFY
-- per 5 seconds per bucket (shard_id % max_concurrency); a process takes its bucket's turn with one conditional
-- write of this row (only when the last identify is old enough) and otherwise waits for it. Runtime state: not
-- copied by copy-db.

CREATE TABLE identify_turns (
    bucket        INTEGER PRIMARY KEY,             -- shard_id % max_concurrency
    identified_at REAL    NOT NULL                 -- when a process last took the bucket's turn
);
