-- Migration 3: the bot processes running on this database, so `rotate-keys` can tell whether every one of them
-- already holds the new key. A process adds its row at start, renews `seen_at` while it runs, and deletes the
-- row when it stops; housekeeping deletes the rows of processes that died without doing so.

CREATE TABLE processes (
    id               TEXT    PRIMARY KEY,          -- host:pid:random, as the outbox's claimed_by
    host             TEXT    NOT NULL,
    pid              INTEGER NOT NULL,
    started_at       REAL    NOT NULL,
    seen_at          REAL    NOT NULL,             -- its last heartbeat
    key_fingerprints TEXT    NOT NULL              -- short HMACs of its TOKEN_ENCRYPTION_KEY keys, in order,
                                                   -- comma-separated: never key material
);
