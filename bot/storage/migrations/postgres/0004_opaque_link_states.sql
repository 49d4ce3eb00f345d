-- Migration 4 (PostgreSQL): opaque link states. Same table and meaning as ../0004_opaque_link_states.sql:
-- old open links (ten minutes of life) are dropped; the URL's state is stored only as its SHA-256.

DROP TABLE link_states;

-- seq orders link states created in the same instant (SQLite uses its rowid for that).
CREATE TABLE link_states (
    state_hash   TEXT             PRIMARY KEY,
    seq          BIGINT           GENERATED ALWAYS AS IDENTITY,
    user_id      BIGINT           NOT NULL,
    created_at   DOUBLE PRECISION NOT NULL,
    expires_at   DOUBLE PRECISION NOT NULL,
    used_at      DOUBLE PRECISION,
    attempts     INTEGER          NOT NULL DEFAULT 0,
    display_name TEXT,
    avatar_url   TEXT,
    signin_hash  TEXT,
    browser_hash TEXT
);
CREATE INDEX link_states_by_user ON link_states (user_id, created_at);
CREATE INDEX link_states_by_expiry ON link_states (expires_at);
