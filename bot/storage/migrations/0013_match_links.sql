-- Migration 13: links of other music services (issue 19). `guild_settings.listen_elsewhere`: cards of shared songs
-- carry a "Listen on other services" button (on by default). `pending_matches`: a post in a sharing channel whose
-- link of another service (Spotify, YouTube, ...) could not be matched yet because the services that match it were
-- unavailable; retried with backoff until matched, dropped after PENDING_MATCH_ATTEMPTS tries or
-- PENDING_MATCH_HOURS, when the post is deleted, LEFT_GUILD_DAYS after the bot leaves the server, and with the
-- author's /unlink or /forget-me.

ALTER TABLE guild_settings ADD COLUMN listen_elsewhere INTEGER NOT NULL DEFAULT 1 CHECK (listen_elsewhere IN (0, 1));

CREATE TABLE pending_matches (
    message_id  INTEGER PRIMARY KEY,               -- the post (Discord message id)
    channel_id  INTEGER NOT NULL,
    guild_id    INTEGER NOT NULL,
    author_id   INTEGER NOT NULL,                  -- Discord user id of who posted it
    link        TEXT    NOT NULL,                  -- the music link of the post, as the parser made it canonical
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_try_at REAL    NOT NULL,
    created_at  REAL    NOT NULL
);
CREATE INDEX pending_matches_by_time ON pending_matches (next_try_at);
CREATE INDEX pending_matches_by_guild ON pending_matches (guild_id);
CREATE INDEX pending_matches_by_author ON pending_matches (author_id);
