-- Migration 12: the server mixtape. Who joined their server's weekly mixtape (and the server's name as it was when
-- they last joined, for the playlist's name), and one job per (server, member, week): create that week's playlist
-- in the member's Apple Music library. A job is claimed with a lease and retried with backoff like the outbox; it
-- stays once finished (playlist_id: the playlist made; or last_error and no playlist) so a second run of the week
-- makes nothing twice. sent_at: a create was sent and no answer said whether Apple made the playlist (the next try
-- looks for it in the library first). Rows go TASTE_DAYS after the week ended, LEFT_GUILD_DAYS after the bot left
-- the server, and with /unlink or /forget-me (and /mixtape leave: the membership and the jobs not yet done).

CREATE TABLE mixtape_members (
    guild_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,                   -- Discord user id of the member who joined
    guild_name TEXT    NOT NULL,                   -- the server's name when they last joined
    joined_at  REAL    NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);
CREATE INDEX mixtape_members_by_user ON mixtape_members (user_id);

CREATE TABLE mixtape_jobs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,                  -- whose library gets the playlist
    week_start  REAL    NOT NULL,
    week_end    REAL    NOT NULL,
    name        TEXT    NOT NULL,                  -- the playlist's name: server and week
    tracks      TEXT    NOT NULL,                  -- catalog song ids, comma-separated, in order
    created_at  REAL    NOT NULL,
    due_at      REAL    NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    claimed_by  TEXT,
    lease_until REAL,
    sent_at     REAL,
    playlist_id TEXT,
    done_at     REAL,
    UNIQUE (guild_id, user_id, week_start)
);
CREATE INDEX mixtape_jobs_due ON mixtape_jobs (due_at) WHERE done_at IS NULL;
CREATE INDEX mixtape_jobs_by_user ON mixtape_jobs (user_id);
CREATE INDEX mixtape_jobs_by_week ON mixtape_jobs (week_end);
