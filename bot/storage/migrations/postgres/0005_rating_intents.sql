-- Migration 5 (PostgreSQL): the last rating each member asked for, per item. Same table and meaning as
-- ../0005_rating_intents.sql.

CREATE TABLE rating_intents (
    user_id    BIGINT           NOT NULL,          -- Discord user id
    item_type  TEXT             NOT NULL,          -- Apple type segment: 'songs', 'albums', ...
    item_id    TEXT             NOT NULL,
    value      SMALLINT         NOT NULL CHECK (value IN (-1, 0, 1)),
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (user_id, item_type, item_id)
);
CREATE INDEX rating_intents_by_item ON rating_intents (item_type, item_id);
CREATE INDEX shared_messages_by_item ON shared_messages (item_type, item_id);

-- What was pending before this migration is what its members want.
INSERT INTO rating_intents (user_id, item_type, item_id, value, updated_at)
    SELECT user_id, item_type, item_id, value, updated_at FROM outbox;
