-- Migration 11 (PostgreSQL): server taste. Same tables and meaning as ../0011_server_taste.sql.

CREATE TABLE taste_shares (
    message_id BIGINT           PRIMARY KEY,       -- the shared post (Discord message id)
    guild_id   BIGINT           NOT NULL,
    channel_id BIGINT           NOT NULL,
    sharer_id  BIGINT           NOT NULL,          -- Discord user id of who shared it
    item_type  TEXT             NOT NULL,          -- Apple type segment: 'songs', 'albums', ...
    item_id    TEXT             NOT NULL,
    shared_at  DOUBLE PRECISION NOT NULL
);
CREATE INDEX taste_shares_by_guild ON taste_shares (guild_id, shared_at);
CREATE INDEX taste_shares_by_sharer ON taste_shares (sharer_id);

CREATE TABLE taste_votes (
    guild_id  BIGINT           NOT NULL,
    user_id   BIGINT           NOT NULL,           -- Discord user id of the member who rated
    item_type TEXT             NOT NULL,
    item_id   TEXT             NOT NULL,
    value     SMALLINT         NOT NULL CHECK (value IN (-1, 1)),
    voted_at  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (guild_id, user_id, item_type, item_id)
);
CREATE INDEX taste_votes_by_item ON taste_votes (guild_id, item_type, item_id);
CREATE INDEX taste_votes_by_user ON taste_votes (user_id);
CREATE INDEX taste_votes_by_time ON taste_votes (voted_at);

CREATE TABLE taste_named (
    guild_id BIGINT           NOT NULL,
    user_id  BIGINT           NOT NULL,            -- a member who chose to be named in this server's tops
    opted_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);
CREATE INDEX taste_named_by_user ON taste_named (user_id);
