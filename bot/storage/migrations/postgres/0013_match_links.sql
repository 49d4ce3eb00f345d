-- Migration 13 (PostgreSQL): links of other music services. Same columns and meaning as ../0013_match_links.sql.

ALTER TABLE guild_settings ADD COLUMN listen_elsewhere BOOLEAN NOT NULL DEFAULT TRUE;

CREATE TABLE pending_matches (
    message_id  BIGINT           PRIMARY KEY,      -- the post (Discord message id)
    channel_id  BIGINT           NOT NULL,
    guild_id    BIGINT           NOT NULL,
    author_id   BIGINT           NOT NULL,         -- Discord user id of who posted it
    link        TEXT             NOT NULL,         -- the music link of the post, as the parser made it canonical
    attempts    INTEGER          NOT NULL DEFAULT 0,
    next_try_at DOUBLE PRECISION NOT NULL,
    created_at  DOUBLE PRECISION NOT NULL
);
CREATE INDEX pending_matches_by_time ON pending_matches (next_try_at);
CREATE INDEX pending_matches_by_guild ON pending_matches (guild_id);
CREATE INDEX pending_matches_by_author ON pending_matches (author_id);
