-- Migration 6: servers the bot was removed from. Housekeeping deletes everything about such a server
-- (its sharing channels and shared posts) once the grace period (LEFT_GUILD_DAYS) has passed; the row goes
-- away with that data, or at once when the bot rejoins the server.

CREATE TABLE guild_departures (
    guild_id INTEGER PRIMARY KEY,                  -- Discord guild id
    left_at  REAL    NOT NULL                      -- when Discord said the bot was removed (GUILD_DELETE)
);
CREATE INDEX guild_departures_by_time ON guild_departures (left_at);
CREATE INDEX shared_messages_by_guild ON shared_messages (guild_id);
