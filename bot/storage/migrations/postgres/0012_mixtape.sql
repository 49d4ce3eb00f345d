-- Migration 12 (PostgreSQL): the server mixtape. Same tables and meaning as ../0012_mixtape.sql.

CREATE TABLE mixtape_members (
    guild_id   BIGINT           NOT NULL,
    user_id    BIGINT           NOT NULL,          -- Discord user id of the member who joined
    guild_name TEXT             NOT NULL,          -- the server's name when they last joined
    joined_at  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);
CREATE INDEX mixtape_members_by_user ON mixtape_members (user_id);

CREATE TABLE mixtape_jobs (
    id          BIGINT           GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    guild_id    BIGINT           NOT NULL,
    user_id     BIGINT           NOT NULL,         -- whose library gets the playlist
    week_start  DOUBLE PRECISION NOT NULL,
    week_end    DOUBLE PRECISION NOT NULL,
    name        TEXT             NOT NULL,         -- the playlist's name: server and week
    tracks      TEXT             NOT NULL,         -- catalog song ids, comma-separated, in order
    created_at  DOUBLE PRECISION NOT NULL,
    due_at      DOUBLE PRECISION NOT NULL,
    attempts    INTEGER          NOT NULL DEFAULT 0,
    last_error  TEXT,
    claimed_by  TEXT,
    lease_until DOUBLE PRECISION,
    sent_at     DOUBLE PRECISION,
    playlist_id TEXT,
    done_at     DOUBLE PRECISION,
    UNIQUE (guild_id, user_id, week_start)
);
CREATE INDEX mixtape_jobs_due ON mixtape_jobs (due_at) WHERE done_at IS NULL;
CREATE INDEX mixtape_jobs_by_user ON mixtape_jobs (user_id);
CREATE INDEX mixtape_jobs_by_week ON mixtape_jobs (week_end);
