-- Migration 14: the weekly recap. A server's recap settings (the channel it is posted in, or none: off; the weekday
-- and hour its week ends; its time zone), and one row per server and week that closed: which process claimed the
-- week (a lease, so a process that died mid-post lets another retry), when it was closed, and the recap's message.
-- Nothing here is about a member. Settings go LEFT_GUILD_DAYS after the bot leaves the server; closed weeks
-- CLOSED_WEEK_DAYS after the week ended (only the latest ended week is ever claimed).

CREATE TABLE recap_settings (
    guild_id   INTEGER PRIMARY KEY,                -- Discord guild id
    channel_id INTEGER,                            -- where the recap is posted; NULL: no recap
    weekday    INTEGER NOT NULL CHECK (weekday BETWEEN 0 AND 6),   -- 0 = Monday
    hour       INTEGER NOT NULL CHECK (hour BETWEEN 0 AND 23),
    timezone   TEXT    NOT NULL,                   -- IANA name: 'Europe/Berlin'
    updated_at REAL    NOT NULL                    -- weeks that end before this are not posted
);

CREATE TABLE closed_weeks (
    guild_id    INTEGER NOT NULL,
    week_label  TEXT    NOT NULL,                  -- '2026-W48' (bot/services/weeks.py)
    week_end    REAL    NOT NULL,
    claimed_by  TEXT    NOT NULL,                  -- the process closing it
    lease_until REAL    NOT NULL,                  -- another process may take it over after this
    closed_at   REAL,                              -- NULL while being closed
    message_id  INTEGER,                           -- the recap posted, if any
    PRIMARY KEY (guild_id, week_label)
);
CREATE INDEX closed_weeks_by_end ON closed_weeks (week_end);
