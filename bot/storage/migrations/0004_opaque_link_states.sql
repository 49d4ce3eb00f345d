-- Migration 4: opaque link states (issue 13).
-- The URL of a /link page carries 32 random bytes; the database keeps only their SHA-256 (state_hash), so a
-- copy of the database opens no link, and nothing depends on TOKEN_ENCRYPTION_KEY (links used to be signed
-- with a key derived from it). Open links of the old kind live ten minutes: they are dropped, not converted
-- (their URLs cannot be matched to a hash anyway); a member whose link stops working runs /link again.

DROP TABLE link_states;

CREATE TABLE link_states (
    state_hash   TEXT    PRIMARY KEY,              -- SHA-256 (hex) of the state in the link's URL
    user_id      INTEGER NOT NULL,                 -- the Discord user who ran /link
    created_at   REAL    NOT NULL,
    expires_at   REAL    NOT NULL,
    used_at      REAL,
    attempts     INTEGER NOT NULL DEFAULT 0,       -- sign-in tries spent on it (Apple checks, wrong Discord accounts)
    display_name TEXT,                             -- the member's name and avatar when /link ran (shown on the page)
    avatar_url   TEXT,
    signin_hash  TEXT,                             -- SHA-256 of the Discord sign-in's state while one is under way
    browser_hash TEXT                              -- SHA-256 of the cookie of the browser that signed in as the member
);
CREATE INDEX link_states_by_user ON link_states (user_id, created_at);
CREATE INDEX link_states_by_expiry ON link_states (expires_at);
