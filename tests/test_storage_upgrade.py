"""A database written by the previous release opens and works (issue 12, must-show 4).

The fixtures in ``tests/fixtures/data`` were written by the bot at commit e94e0e0, before storage was written
once, through its Store API (``tests/fixtures/data/make_upgrade_db.py`` says how): an SQLite file, and a plain-SQL
``pg_dump`` of a PostgreSQL database filled the same way. Each test opens a copy with today's code and reads and
uses every row through the Store API.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bot.storage import (
    Account,
    AccountStatus,
    HoldReason,
    LinkStateResult,
    OutboxEntry,
    SharedMessage,
    Store,
    TokenCipher,
    load_migrations,
    open_store,
)
from tests.fixtures.data.make_upgrade_db import (
    ACTIVE,
    CHANNELS,
    GUILD,
    KEY,
    OTHER_GUILD,
    SHARED,
    STALE,
    T0,
    TOKENS,
    UNLINKED,
)
from tests.fixtures.storage import FakeClock, PostgresServer, stored_bytes

DATA = Path(__file__).parent / "fixtures" / "data"
SQLITE_FIXTURE = DATA / "upgrade-e94e0e0.db"
POSTGRES_FIXTURE = DATA / "upgrade-e94e0e0.postgres.sql"
NOW = T0 + 100  # after the fixture was written: the claimed row's lease (until T0 + 144) still runs


async def _restore_dump(server: PostgresServer) -> str:
    """A new database holding the fixture dump (psql's backslash commands left out); its URL."""
    url = await server.create_database()
    script = "\n".join(line for line in POSTGRES_FIXTURE.read_text().splitlines() if not line.startswith("\\"))
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(script)
    finally:
        await conn.close()
    return url


@pytest.fixture
async def old_database(store_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A ``DATABASE_URL`` of a copy of the previous release's database."""
    if store_backend == "postgres":
        return await _restore_dump(request.getfixturevalue("postgres_server"))
    path = tmp_path / "bot.db"
    shutil.copyfile(SQLITE_FIXTURE, path)
    return f"sqlite:///{path}"


@pytest.fixture
async def upgraded(old_database: str) -> AsyncIterator[Store]:
    store = await open_store(old_database, TokenCipher.from_setting(KEY), clock=FakeClock(NOW))
    yield store
    await store.close()


ERROR_503 = "HTTP 503 from Apple"


def entry(
    id_: int, user: int, item: str, value: int, version: int, created: float, updated: float, due: float, **rest: Any
) -> OutboxEntry:
    """An outbox row: ``item`` is ``type/id``; the columns not given have their defaults (unheld, unclaimed)."""
    item_type, item_id = item.split("/")
    defaults = dict(attempts=0, last_error=None, held=None, hold_expires_at=None, claimed_by=None, lease_until=None)
    return OutboxEntry(id_, user, item_type, item_id, value, version, created, updated, due, **(defaults | rest))


def test_the_fixtures_are_the_previous_releases_files() -> None:
    assert SQLITE_FIXTURE.read_bytes().startswith(b"SQLite format 3\x00")
    dump = POSTGRES_FIXTURE.read_text()
    assert "CREATE TABLE public.outbox" in dump and "INSERT INTO public.accounts" in dump


async def test_every_row_reads_back(upgraded: Store) -> None:
    store = upgraded
    assert await store.schema_version() == load_migrations()[-1].version  # migrated past the fixture's 2

    assert await store.get_account(ACTIVE) == Account(ACTIVE, "us", T0, T0, AccountStatus.ACTIVE, False)
    assert await store.get_account(STALE) == Account(STALE, "gb", T0 + 1, T0 + 1, AccountStatus.STALE, True)
    assert await store.get_account(UNLINKED) is None
    assert await store.get_user_token(ACTIVE) == TOKENS[ACTIVE]
    assert await store.get_user_token(STALE) is None  # stale: not handed out
    assert await store.count_undecryptable_tokens() == 0  # both decrypt with the fixture's key

    # migration 7 gave each member's waiting rows turns in their due order (row 3 is due first: turn 0)
    assert await store.pending_for_user(ACTIVE) == [
        entry(1, ACTIVE, "songs/111", -1, 2, T0 + 20, T0 + 21, T0 + 30, attempts=1, last_error=ERROR_503, turn=1),
        entry(3, ACTIVE, "albums/444", 1, 1, T0 + 23, T0 + 23, T0 + 23, claimed_by="old-worker", lease_until=T0 + 144),
    ]
    assert await store.pending_for_user(UNLINKED) == [
        entry(
            4,
            UNLINKED,
            "songs/222",
            1,
            1,
            T0 + 25,
            T0 + 25,
            T0 + 25,
            held=HoldReason.UNLINKED,
            hold_expires_at=T0 + 625,
        )
    ]
    assert await store.pending_for_user(STALE) == [
        entry(5, STALE, "songs/333", -1, 1, T0 + 26, T0 + 26, T0 + 27, held=HoldReason.STALE)
    ]
    assert await store.outbox_size() == 4
    assert await store.next_due_at() == T0 + 30
    assert await store.count_active_claims() == 1

    for guild, channels in CHANNELS.items():
        assert await store.list_share_channels(guild) == channels
    assert await store.is_share_channel(OTHER_GUILD, 6001) and not await store.is_share_channel(GUILD, 6001)
    for message, (channel, guild_id, item_type, item_id, at) in SHARED.items():
        expected = SharedMessage(message, channel, guild_id, item_type, item_id, at)
        assert await store.get_shared_message(message) == expected
    assert [m.message_id for m in await store.recent_shared_messages(T0)] == [7002, 7001]

    assert await store.claim_notice(STALE, "stale-link", NOW) is False  # sent at T0 + 27: not again today
    assert await store.claim_notice(STALE, "stale-link", T0 + 27 + 86400) is True
    assert await store.claim_notice(UNLINKED, "link-first", NOW) is False


async def test_the_old_rows_keep_working(upgraded: Store, old_database: str) -> None:
    store = upgraded
    # Migration 3 dropped the old link states (signed, ten minutes of life: their URLs match no stored hash);
    # the new table works.
    assert await store.pending_link(UNLINKED, NOW) is None
    assert await store.consume_link_state("nonce-unused", UNLINKED, NOW) is LinkStateResult.UNKNOWN
    assert await store.count_rows("link_states") == 0
    await store.create_link_state("a" * 64, UNLINKED, NOW + 600, now=NOW)
    assert await store.pending_link(UNLINKED, NOW) == "a" * 64
    assert await store.consume_link_state("a" * 64, UNLINKED, NOW) is LinkStateResult.OK

    # The due row is claimed and completed; the old worker's claim comes back when its lease runs out.
    [due] = await store.claim_due("new-worker", NOW, lease=30)
    assert (due.id, due.version, due.attempts, due.claimed_by) == (1, 2, 1, "new-worker")
    assert await store.complete(due) is True
    [abandoned] = await store.claim_due("new-worker", T0 + 144, lease=30)
    assert (abandoned.id, abandoned.claimed_by) == (3, "new-worker")
    assert await store.complete(abandoned) is True

    # Linking the stale user again releases the rating held for them.
    await store.link_account(STALE, "MUT-upgrade-relinked-" + "r" * 40, "gb", now=T0 + 200)
    assert await store.get_user_token(STALE) == "MUT-upgrade-relinked-" + "r" * 40
    [released] = await store.claim_due("new-worker", T0 + 200)
    assert (released.id, released.held, released.due_at, released.value) == (5, None, T0 + 27, -1)
    assert await store.complete(released) is True
    # The user who reacted before linking links after the ten minutes: their held rating was dropped.
    await store.link_account(UNLINKED, "MUT-upgrade-late-" + "l" * 40, "us", now=T0 + 700)
    assert await store.pending_for_user(UNLINKED) == []
    new = await store.enqueue(ACTIVE, "songs", "new", 1, T0 + 700, debounce=0)
    assert new.id == 6  # ids continue after the old ones, never reused
    assert [e.id for e in await store.claim_due("new-worker", T0 + 700)] == [6]

    # Unlinking leaves no trace of the old ciphertext (SQLite: in the file's bytes, write-ahead log included).
    [accounts] = [rows async for rows in store.export_rows("accounts")]
    [ciphertext] = [row["token_enc"] for row in accounts if row["user_id"] == ACTIVE]
    assert isinstance(ciphertext, bytes) and ciphertext in await stored_bytes(old_database)
    assert await store.unlink(ACTIVE) is True
    stored = await stored_bytes(old_database)
    for trace in (ciphertext, ciphertext[40:80], TOKENS[ACTIVE].encode()):
        assert trace not in stored
    assert await store.get_user_token(ACTIVE) is None and await store.pending_for_user(ACTIVE) == []
    assert await store.outbox_size() == 0
