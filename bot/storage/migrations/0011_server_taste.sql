-- Migration 11: server taste. Who shared which item in a server (a post in a sharing channel, or /share), each
-- member's current like or dislike of an item shared in that server (through the bot: a reaction or a card button
-- on a shared post), and which members chose to be named in the server's tops, recaps and matches (opt-in, per
-- server). Rows go TASTE_DAYS after they were last touched, LEFT_GUILD_DAYS after the bot leaves the server, and
-- with /unlink or /forget-me for the member's own rows.

CREATE TABLE taste_shares (
    message_id INTEGER PRIMARY KEY,                -- the shared post (Discord message id)
    guild_id   INTEGER NOT NULL,
    channel_id INTEGER NOT NULL,
    sharer_id  INTEGER NOT NULL,                   -- Discord user id of who shared it
    item_type  TEXT    NOT NULL,                   -- Apple type segment: 'songs', 'albums', ...
    item_id    TEXT    NOT NULL,
    shared_at  REAL    NOT NULL
);
CREATE INDEX taste_shares_by_guild ON taste_shares (guild_id, shared_at);
CREATE INDEX taste_shares_by_sharer ON taste_shares (sharer_id);

CREATE TABLE taste_votes (
    guild_id  INTEGER NOT NULL,
    user_id   INTEGER NOT NULL,                    -- Discord user id of the member who rated
    item_type TEXT    NOT NULL,
    item_id   TEXT    NOT NULL,
    value     INTEGER NOT NULL CHECK (value IN (-1, 1)),
    voted_at  REAL    NOT NULL,
    PRIMARY KEY (guild_id, user_id, item_type, item_id)
);
CREATE INDEX taste_votes_by_item ON taste_votes (guild_id, item_type, item_id);
CREATE INDEX taste_votes_by_user ON taste_votes (user_id);
CREATE INDEX taste_votes_by_time ON taste_votes (voted_at);

CREATE TABLE taste_named (
    guild_id  INTEGER NOT NULL,
    user_id   INTEGER NOT NULL,                    -- a member who chose to be named in this server's tops
    opted_at  REAL    NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);
CREATE INDEX taste_named_by_user ON taste_named (user_id);
