-- Migration 6 (PostgreSQL): servers the bot was removed from. Same table and meaning as ../0006_guild_departures.sql.

CREATE TABLE guild_departures (
    guild_id BIGINT           PRIMARY KEY,         -- Discord guild id
    left_at  DOUBLE PRECISION NOT NULL             -- when Discord said the bot was removed (GUILD_DELETE)
);
CREATE INDEX guild_departures_by_time ON guild_departures (left_at);
CREATE INDEX shared_messages_by_guild ON shared_messages (guild_id);
