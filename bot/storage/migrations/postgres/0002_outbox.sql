-- Migration 2 (PostgreSQL): shared messages, the durable ratings outbox, rate-limited notices.
-- Same tables and meaning as ../0002_outbox.sql.

CREATE TABLE shared_messages (
    message_id BIGINT           PRIMARY KEY,       -- Discord message id
    channel_id BIGINT           NOT NULL,
    guild_id   BIGINT,                             -- NULL in DMs
    item_type  TEXT             NOT NULL,          -- Apple type segment: 'songs', 'albums', ...
    item_id    TEXT             NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX shared_messages_by_time ON shared_messages (created_at);

-- One row per (user, item) holding the latest desired rating. An identity column never reuses an id, so a
-- late complete() for a row that was already deleted can never delete a newer row.
CREATE TABLE outbox (
    id              BIGINT           GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         BIGINT           NOT NULL,
    item_type       TEXT             NOT NULL,
    item_id         TEXT             NOT NULL,
    value           SMALLINT         NOT NULL CHECK (value IN (-1, 0, 1)),
    version         BIGINT           NOT NULL DEFAULT 1,
    created_at      DOUBLE PRECISION NOT NULL,     -- first pending at: start of the max_delay window
    updated_at      DOUBLE PRECISION NOT NULL,
    due_at          DOUBLE PRECISION NOT NULL,
    attempts        INTEGER          NOT NULL DEFAULT 0,
    last_error      TEXT,
    held            TEXT CHECK (held IS NULL OR held IN ('unlinked', 'stale')),
    hold_expires_at DOUBLE PRECISION,
    claimed_by      TEXT,
    lease_until     DOUBLE PRECISION,
    UNIQUE (user_id, item_type, item_id)
);
CREATE INDEX outbox_due ON outbox (due_at, id) WHERE held IS NULL;
CREATE INDEX outbox_hold_expiry ON outbox (hold_expires_at) WHERE held IS NOT NULL;

CREATE TABLE notices (
    user_id      BIGINT           NOT NULL,
    kind         TEXT             NOT NULL,
    last_sent_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (user_id, kind)
);
