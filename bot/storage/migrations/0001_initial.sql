-- Migration 1: linked accounts, one-time link states, guild settings.
-- Times are REAL seconds since the Unix epoch (UTC); Discord ids are 64-bit integers.

CREATE TABLE accounts (
    user_id        INTEGER PRIMARY KEY,            -- Discord user id
    token_enc      BLOB    NOT NULL,               -- Fernet ciphertext of the music user token
    storefront     TEXT    NOT NULL,               -- e.g. 'us'
    linked_at      REAL    NOT NULL,
    last_used      REAL    NOT NULL,
    status         TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'stale')),
    stale_notified INTEGER NOT NULL DEFAULT 0 CHECK (stale_notified IN (0, 1))
);

CREATE TABLE link_states (
    nonce      TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL,
    created_at REAL    NOT NULL,
    expires_at REAL    NOT NULL,
    used_at    REAL
);
CREATE INDEX link_states_by_user ON link_states (user_id, created_at);
CREATE INDEX link_states_by_expiry ON link_states (expires_at);

CREATE TABLE guild_share_channels (
    guild_id   INTEGER NOT NULL,
    channel_id INTEGER NOT NULL,
    added_at   REAL    NOT NULL,
    PRIMARY KEY (guild_id, channel_id)
);
