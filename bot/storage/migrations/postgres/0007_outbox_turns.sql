-- Migration 7 (PostgreSQL): the outbox serves people in turn. Same column and meaning as ../0007_outbox_turns.sql.

ALTER TABLE outbox ADD COLUMN turn BIGINT NOT NULL DEFAULT 0;
UPDATE outbox SET turn = ranked.n
FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY due_at, id) - 1 AS n FROM outbox) AS ranked
WHERE ranked.id = outbox.id;
CREATE INDEX outbox_turns ON outbox (turn, due_at, id) WHERE held IS NULL;
