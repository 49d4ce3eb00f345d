-- Migration 7: the outbox serves people in turn (issue 15). Each row has a turn: a member's rows take
-- consecutive turns in the order they acted, and a member with nothing waiting starts at the turn being served
-- now (the smallest turn of the rows not held). Rows are claimed by turn, so someone with a thousand waiting
-- ratings delays another member's one rating by about one Apple request, not a thousand (fair queueing).
-- Rows already waiting take turns by their due order: each member's first row turn 0, second turn 1, ...

ALTER TABLE outbox ADD COLUMN turn INTEGER NOT NULL DEFAULT 0;
UPDATE outbox SET turn = ranked.n
FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY due_at, id) - 1 AS n FROM outbox) AS ranked
WHERE ranked.id = outbox.id;
CREATE INDEX outbox_turns ON outbox (turn, due_at, id) WHERE held IS NULL;
