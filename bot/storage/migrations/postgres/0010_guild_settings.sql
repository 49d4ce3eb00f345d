-- Migration 10 (PostgreSQL): a server's switches. Same table and meaning as ../0010_guild_settings.sql.

CREATE TABLE guild_settings (
    guild_id      BIGINT           PRIMARY KEY,    -- Discord guild id
    share_buttons BOOLEAN          NOT NULL DEFAULT FALSE,
    updated_at    DOUBLE PRECISION NOT NULL
);
