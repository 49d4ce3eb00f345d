-- Migration 2: shared messages, the durable ratings outbox, rate-limited notices.

CREATE TABLE shared_messages (
    message_id INTEGER PRIMARY KEY,                -- Discord message id
    channel_id INTEGER NOT NULL,
    guild_id   INTEGER,                            -- NULL in DMs
    item_type  TEXT    NOT NULL,                   -- Apple type segment: 'songs', 'albums', ...
    item_id    TEXT    NOT NULL,
    created_at REAL    NOT NULL
);
CREATE INDEX shared_messages_by_time ON shared_messages (created_at);

-- One row per (user, item) holding the latest desired rating. AUTOINCREMENT: an id is never reused, so a
-- late complete() for a row that was already deleted can never delete a newer row.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id         INTEGER NOT NULL,
    item_type       TEXT    NOT NULL,
    item_id         TEXT    NOT NULL,
    value           INTEGER NOT NULL CHECK (value IN (-1, 0, 1)),
    version         INTEGER NOT NULL DEFAULT 1,
    created_at      REAL    NOT NULL,              -- first pending at: start of the max_delay window
    updated_at      REAL    NOT NULL,
    due_at          REAL    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    held            TEXT CHECK (held IS NULL OR held IN ('unlinked', 'stale')),
    hold_expires_at REAL,
    claimed_by      TEXT,
    lease_until     REAL,
    UNIQUE (user_id, item_type, item_id)
);
CREATE INDEX outbox_due ON outbox (due_at) WHERE held IS NULL;
CREATE INDEX outbox_hold_expiry ON outbox (hold_expires_at) WHERE held IS NOT NULL;

CREATE TABLE notices (
    user_id      INTEGER NOT NULL,
    kind         TEXT    NOT NULL,
    last_sent_at REAL    NOT NULL,
    PRIMARY KEY (user_id, kind)
);
