"""Rating intents (the last rating each member asked for, per item) and forgetting shared messages, on both engines."""

from __future__ import annotations

import pytest

from bot.storage import Store
from bot.storage import sql as sql_store
from bot.storage.schema import POSTGRES_MIGRATIONS, load_migrations
from tests.fixtures.storage import StoreFactory

U1, U2 = 1001, 1002
T0 = 1_700_000_000.0


async def test_enqueue_records_the_intent_and_it_outlives_the_outbox_row(store: Store) -> None:
    assert await store.get_intent(U1, "songs", "1") is None
    entry = await store.enqueue(U1, "songs", "1", 1, T0, debounce=0)
    assert await store.get_intent(U1, "songs", "1") == 1
    await store.enqueue(U1, "songs", "1", -1, T0 + 1, debounce=0)
    [claimed] = await store.claim_due("w", T0 + 2)
    assert claimed.id == entry.id and await store.complete(claimed)
    assert await store.outbox_size() == 0
    assert await store.get_intent(U1, "songs", "1") == -1, "applied: still what she wants"
    assert await store.get_intent(U2, "songs", "1") is None and await store.get_intent(U1, "albums", "1") is None


async def test_record_intent_replaces_and_checks_its_value(store: Store) -> None:
    await store.enqueue(U1, "songs", "1", 1, T0)
    await store.record_intent(U1, "songs", "1", 0, T0 + 1)  # e.g. the Clear button
    assert await store.get_intent(U1, "songs", "1") == 0
    for bad in (2, True):
        with pytest.raises(ValueError, match="rating value"):
            await store.record_intent(U1, "songs", "1", bad)
    with pytest.raises(ValueError, match="must not be empty"):
        await store.record_intent(U1, "", "1", 1)
    assert await store.get_intent(U1, "songs", "1") == 0


async def test_unlink_deletes_the_intents(store: Store) -> None:
    await store.link_account(U1, "token-of-u1-" + "x" * 30, "us", now=T0)
    await store.enqueue(U1, "songs", "1", 1, T0)
    await store.record_intent(U2, "songs", "1", -1, T0)
    assert await store.unlink(U1)
    assert await store.get_intent(U1, "songs", "1") is None
    assert await store.get_intent(U2, "songs", "1") == -1
    assert await store.count_rows("rating_intents") == 1


async def test_forget_shared_messages_and_purge_the_intents_of_unshared_items(store: Store) -> None:
    for message, item in ((10, "a"), (11, "a"), (12, "b")):
        await store.record_shared_message(message, 1, 2, "songs", item, created_at=T0)
    for user, item in ((U1, "a"), (U2, "a"), (U1, "b"), (U1, "c")):
        await store.record_intent(user, "songs", item, 1, T0)
    assert await store.purge_unshared_intents() == 1  # "c": no post shares it
    assert await store.forget_shared_messages([10, 12, 99]) == 2
    assert await store.forget_shared_messages([10]) == 0
    assert await store.get_shared_message(10) is None and await store.get_shared_message(12) is None
    assert await store.get_shared_message(11) is not None
    assert await store.purge_unshared_intents() == 1  # "b" went with message 12; "a" is still shared by 11
    assert [await store.get_intent(u, "songs", i) for u, i in ((U1, "a"), (U2, "a"), (U1, "b"))] == [1, 1, None]
    assert await store.forget_shared_messages([]) == 0


async def test_the_migration_takes_the_pending_ratings_as_intents(
    store_factory: StoreFactory, store_backend: str
) -> None:
    migrations = load_migrations(directory=POSTGRES_MIGRATIONS) if store_backend == "postgres" else load_migrations()
    [before] = [m for m in migrations if m.name == "rating_intents"]
    old = await store_factory(migrations=migrations[: before.version - 1])
    assert isinstance(old, sql_store.SqlStore)
    params = {"user_id": U1, "item_type": "songs", "item_id": "1", "value": -1, "now": T0}
    old_enqueue = (  # the outbox row as the code before the migration wrote it (the columns of that schema)
        "INSERT INTO outbox (user_id, item_type, item_id, value, version, created_at, updated_at, due_at, attempts)"
        " VALUES (:user_id, :item_type, :item_id, :value, 1, :now::float8, :now::float8, :now::float8, 0)"
    )
    await old._write(old_enqueue, params)
    await old.close()
    new = await store_factory()
    assert await new.schema_version() == migrations[-1].version
    assert await new.get_intent(U1, "songs", "1") == -1
    assert await new.outbox_size() == 1
