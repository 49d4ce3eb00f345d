-- Migration 5: the last rating each member asked for, per item, kept after it was applied, so that removing an
-- old reaction after a restart clears a rating only when that reaction still shows what the member wants.
-- A row lives while a shared message of its item is still recorded; housekeeping deletes the others.

CREATE TABLE rating_intents (
    user_id    INTEGER NOT NULL,                   -- Discord user id
    item_type  TEXT    NOT NULL,                   -- Apple type segment: 'songs', 'albums', ...
    item_id    TEXT    NOT NULL,
    value      INTEGER NOT NULL CHECK (value IN (-1, 0, 1)),
    updated_at REAL    NOT NULL,
    PRIMARY KEY (user_id, item_type, item_id)
);
CREATE INDEX rating_intents_by_item ON rating_intents (item_type, item_id);
CREATE INDEX shared_messages_by_item ON shared_messages (item_type, item_id);

-- What was pending before this migration is what its members want.
INSERT INTO rating_intents (user_id, item_type, item_id, value, updated_at)
    SELECT user_id, item_type, item_id, value, updated_at FROM outbox;
