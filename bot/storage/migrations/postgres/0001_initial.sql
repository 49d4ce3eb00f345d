-- Migration 1 (PostgreSQL): linked accounts, one-time link states, guild settings.
-- Same tables and meaning as ../0001_initial.sql. Times are DOUBLE PRECISION seconds since the Unix epoch
-- (UTC), always supplied by the application's clock; Discord ids are BIGINT.

CREATE TABLE accounts (
    user_id        BIGINT           PRIMARY KEY,   -- Discord user id
    token_enc      BYTEA            NOT NULL,      -- Fernet ciphertext of the music user token
    storefront     TEXT             NOT NULL,      -- e.g. 'us'
    linked_at      DOUBLE PRECISION NOT NULL,
    last_used      DOUBLE PRECISION NOT NULL,
    status         TEXT             NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'stale')),
    stale_notified BOOLEAN          NOT NULL DEFAULT FALSE
);

-- seq orders nonces created in the same instant (SQLite uses its rowid for that).
CREATE TABLE link_states (
    nonce      TEXT             PRIMARY KEY,
    seq        BIGINT           GENERATED ALWAYS AS IDENTITY,
    user_id    BIGINT           NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL,
    used_at    DOUBLE PRECISION
);
CREATE INDEX link_states_by_user ON link_states (user_id, created_at);
CREATE INDEX link_states_by_expiry ON link_states (expires_at);

CREATE TABLE guild_share_channels (
    guild_id   BIGINT           NOT NULL,
    channel_id BIGINT           NOT NULL,
    added_at   DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (guild_id, channel_id)
);
