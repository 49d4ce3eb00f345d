-- Migration 10: a server's switches, one row per server that changed one. `share_buttons`: the public /share card
-- carries Like / Dislike buttons besides the 👍 👎 reactions (off by default: reactions are the one way to rate).
-- Nothing here is about a member; the row goes with the server's other data LEFT_GUILD_DAYS after the bot leaves.

CREATE TABLE guild_settings (
    guild_id      INTEGER PRIMARY KEY,             -- Discord guild id
    share_buttons INTEGER NOT NULL DEFAULT 0 CHECK (share_buttons IN (0, 1)),
    updated_at    REAL    NOT NULL
);
