-- Migration 14 (PostgreSQL): the weekly recap. Same tables and meaning as ../0014_weekly_recap.sql.

CREATE TABLE recap_settings (
    guild_id   BIGINT           PRIMARY KEY,       -- Discord guild id
    channel_id BIGINT,                             -- where the recap is posted; NULL: no recap
    weekday    SMALLINT         NOT NULL CHECK (weekday BETWEEN 0 AND 6),   -- 0 = Monday
    hour       SMALLINT         NOT NULL CHECK (hour BETWEEN 0 AND 23),
    timezone   TEXT             NOT NULL,          -- IANA name: 'Europe/Berlin'
    updated_at DOUBLE PRECISION NOT NULL           -- weeks that end before this are not posted
);

CREATE TABLE closed_weeks (
    guild_id    BIGINT           NOT NULL,
    week_label  TEXT             NOT NULL,         -- '2026-W48' (bot/services/weeks.py)
    week_end    DOUBLE PRECISION NOT NULL,
    claimed_by  TEXT             NOT NULL,         -- the process closing it
    lease_until DOUBLE PRECISION NOT NULL,         -- another process may take it over after this
    closed_at   DOUBLE PRECISION,                  -- NULL while being closed
    message_id  BIGINT,                            -- the recap posted, if any
    PRIMARY KEY (guild_id, week_label)
);
CREATE INDEX closed_weeks_by_end ON closed_weeks (week_end);
