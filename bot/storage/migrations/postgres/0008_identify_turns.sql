-- Migration 8 (PostgreSQL): Discord's identify budget, shared by the processes on one database.
-- Same table and meaning as ../0008_identify_turns.sql.

CREATE TABLE identify_turns (
    bucket        INTEGER          PRIMARY KEY,    -- shard_id % max_concurrency
    identified_at DOUBLE PRECISION NOT NULL        -- when a process last took the bucket's turn
);
