-- Migration 3 (PostgreSQL): the bot processes running on this database.
-- Same table and meaning as ../0003_processes.sql.

CREATE TABLE processes (
    id               TEXT             PRIMARY KEY, -- host:pid:random, as the outbox's claimed_by
    host             TEXT             NOT NULL,
    pid              BIGINT           NOT NULL,
    started_at       DOUBLE PRECISION NOT NULL,
    seen_at          DOUBLE PRECISION NOT NULL,    -- its last heartbeat
    key_fingerprints TEXT             NOT NULL     -- short HMACs of its TOKEN_ENCRYPTION_KEY keys, in order,
                                                   -- comma-separated: never key material
);
