"""PostgreSQL-specific storage checks against a real throwaway cluster (``postgres_server``).

The behavioural storage tests run on both backends through the parametrized ``store``/``store_factory``
fixtures; this file covers what only PostgreSQL has: several processes (connection pools) sharing one
database, row locks, leases across pools, its own migrations, and ``python -m bot migrate`` with a
``postgresql://`` URL.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from bot.storage import MigrationError, SchemaTooNew, TokenCipher, load_migrations, open_store
from bot.storage.postgres import PostgresStore, application_name
from bot.storage.schema import POSTGRES_MIGRATIONS, Migration
from tests.fixtures.e2e import run_bot
from tests.fixtures.storage import FakeClock, PostgresServer, find_pg_bin

TOKEN = "MUT-Aq1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuVwXyZ-secret-user-token-0001"


@pytest.fixture
async def pg_url(postgres_server: PostgresServer) -> str:
    return await postgres_server.create_database()


@pytest.fixture
async def two_stores(
    pg_url: str, cipher: TokenCipher, fake_clock: FakeClock
) -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    """Two stores with their own connection pools on one database: two bot processes."""
    first = await PostgresStore.open(pg_url, cipher, clock=fake_clock)
    second = await PostgresStore.open(pg_url, cipher, clock=fake_clock)
    yield first, second
    await first.close()
    await second.close()


async def _versions(url: str) -> list[tuple[int, str]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT version, name FROM schema_version ORDER BY version")
    finally:
        await conn.close()
    return [(int(r[0]), str(r[1])) for r in rows]


# ---------------------------------------------------------------------- outbox across processes
async def test_two_pools_claiming_concurrently_never_get_the_same_row(
    two_stores: tuple[PostgresStore, PostgresStore], fake_clock: FakeClock
) -> None:
    first, second = two_stores
    now = fake_clock.now
    for item in range(300):
        await first.enqueue(item % 7, "songs", str(item), 1, now, debounce=0)
    claimed: dict[str, list[int]] = {"a": [], "b": []}

    async def drain(store: PostgresStore, worker: str) -> None:
        while batch := await store.claim_due(worker, now, limit=5, lease=60):
            claimed[worker].extend(e.id for e in batch)
            await asyncio.sleep(0)  # let the other process in between claims
            assert [await store.complete(e) for e in batch] == [True] * len(batch)

    await asyncio.gather(drain(first, "a"), drain(second, "b"), drain(first, "a"), drain(second, "b"))
    a, b = claimed["a"], claimed["b"]
    assert len(a) + len(b) == 300
    assert len(set(a) | set(b)) == 300 and not set(a) & set(b)
    assert a and b  # both processes really took part
    assert await first.outbox_size() == 0


async def test_claim_skips_rows_locked_by_another_transaction_instead_of_waiting(
    pg_url: str, cipher: TokenCipher, fake_clock: FakeClock
) -> None:
    store = await PostgresStore.open(pg_url, cipher, clock=fake_clock)
    try:
        now = fake_clock.now
        locked = await store.enqueue(1, "songs", "locked", 1, now, debounce=0)
        free = await store.enqueue(1, "songs", "free", 1, now + 0.5, debounce=0)
        other = await asyncpg.connect(pg_url)
        try:
            async with other.transaction():
                # Another process is in the middle of claiming ``locked``.
                await other.execute("SELECT id FROM outbox WHERE id = $1 FOR UPDATE", locked.id)
                claimed = await asyncio.wait_for(store.claim_due("w", now + 1), timeout=5)
                assert [e.id for e in claimed] == [free.id]
            # Lock released without a claim (that transaction took nothing): the row is claimable again.
            assert [e.id for e in await store.claim_due("w2", now + 1)] == [locked.id]
        finally:
            await other.close()
    finally:
        await store.close()


async def test_an_expired_lease_is_reclaimed_by_the_other_process(
    two_stores: tuple[PostgresStore, PostgresStore], fake_clock: FakeClock
) -> None:
    first, second = two_stores
    now = fake_clock.now
    await first.enqueue(42, "songs", "1", -1, now, debounce=0)
    [dead] = await first.claim_due("process-a", now, lease=30)  # process A claims, then dies
    assert dead.claimed_by == "process-a" and dead.lease_until == now + 30

    assert await second.claim_due("process-b", now + 29.9, lease=30) == []  # lease still valid
    assert await second.next_due_at() == now + 30
    [taken] = await second.claim_due("process-b", now + 30, lease=30)
    assert (taken.id, taken.version, taken.value, taken.claimed_by) == (dead.id, dead.version, -1, "process-b")

    # A comes back late: its claim is lost, it cannot release B's claim or count an attempt.
    assert await first.retry_later(dead, now + 100, "timeout") is False
    assert await first.claim_due("process-a", now + 31) == []
    [row] = await first.pending_for_user(42)
    assert (row.claimed_by, row.attempts) == ("process-b", 0)
    assert await second.complete(taken) is True
    assert await first.outbox_size() == 0


async def test_newer_action_during_apply_survives_completion_by_another_process(
    two_stores: tuple[PostgresStore, PostgresStore], fake_clock: FakeClock
) -> None:
    first, second = two_stores
    now = fake_clock.now
    await first.enqueue(7, "albums", "9", 1, now, debounce=0)
    [applying] = await first.claim_due("a", now)
    newer = await second.enqueue(7, "albums", "9", 0, now + 0.1, debounce=0)  # the user changed their mind
    assert newer.id == applying.id and newer.version == applying.version + 1
    assert await first.complete(applying) is False
    [again] = await second.claim_due("b", now + 1)
    assert (again.value, again.version, again.claimed_by) == (0, newer.version, "b")


# ---------------------------------------------------------------------- storage details
async def test_an_unlink_by_another_process_takes_effect_at_once(
    two_stores: tuple[PostgresStore, PostgresStore],
) -> None:
    """No process keeps using a token another process was told to forget (unlink) or Apple refused (stale)."""
    first, second = two_stores
    await first.link_account(1, TOKEN, "us")
    await first.link_account(2, TOKEN + "2", "us")
    assert await first.get_user_token(1) == TOKEN and await first.get_user_token(2) == TOKEN + "2"
    assert await second.unlink(1)
    assert await second.mark_stale(2)
    assert await first.get_user_token(1) is None
    assert await first.get_user_token(2) is None


async def test_connections_name_their_process(pg_url: str, cipher: TokenCipher) -> None:
    """pg_stat_activity shows which bot process holds a connection (application_name ratings-bot:<pid>:<host>)."""
    store = await PostgresStore.open(pg_url, cipher)
    conn = await asyncpg.connect(pg_url)
    try:
        names = {r[0] for r in await conn.fetch("SELECT application_name FROM pg_stat_activity")}
        assert application_name() in names and application_name().startswith(f"ratings-bot:{os.getpid()}:")
    finally:
        await conn.close()
        await store.close()


async def test_token_is_stored_encrypted(pg_url: str, cipher: TokenCipher) -> None:
    async with await PostgresStore.open(pg_url, cipher) as store:
        await store.link_account(1, TOKEN, "us")
        conn = await asyncpg.connect(pg_url)
        try:
            stored = bytes(await conn.fetchval("SELECT token_enc FROM accounts WHERE user_id = 1"))
            dump = await conn.fetchval("SELECT string_agg(a::text, '|') FROM accounts a")
        finally:
            await conn.close()
        assert TOKEN.encode() not in stored and TOKEN not in dump and TOKEN[10:40] not in dump
        assert cipher.decrypt(stored) == TOKEN
        assert TOKEN not in repr(store)


async def test_open_store_chooses_postgres_by_url_scheme(postgres_server: PostgresServer, cipher: TokenCipher) -> None:
    url = await postgres_server.create_database()
    for scheme in ("postgresql", "postgres"):
        store = await open_store(scheme + url.removeprefix("postgresql"), cipher)
        try:
            assert isinstance(store, PostgresStore)
            await store.add_share_channel(1, 2)
            assert await store.schema_version() == load_migrations()[-1].version
        finally:
            await store.close()


# ---------------------------------------------------------------------- migrations
def test_postgres_migrations_mirror_the_sqlite_ones() -> None:
    sqlite = [(m.version, m.name) for m in load_migrations()]
    postgres = [(m.version, m.name) for m in load_migrations(directory=POSTGRES_MIGRATIONS)]
    assert postgres == sqlite


async def test_concurrent_first_opens_apply_each_migration_once(pg_url: str, cipher: TokenCipher) -> None:
    stores = await asyncio.gather(*(PostgresStore.open(pg_url, cipher) for _ in range(4)))
    try:
        expected = [(m.version, m.name) for m in load_migrations(directory=POSTGRES_MIGRATIONS)]
        assert await _versions(pg_url) == expected
        await stores[0].add_share_channel(5, 6)
        assert await stores[3].list_share_channels(5) == [6]
    finally:
        for store in stores:
            await store.close()
    async with await PostgresStore.open(pg_url, cipher) as again:  # reopening is a no-op
        assert await again.list_share_channels(5) == [6]
    assert len(await _versions(pg_url)) == len(load_migrations())


async def test_database_from_migration_1_is_upgraded_in_place(pg_url: str, cipher: TokenCipher) -> None:
    shipped = load_migrations(directory=POSTGRES_MIGRATIONS)
    async with await PostgresStore.open(pg_url, cipher, migrations=shipped[:1]) as old:
        await old.add_share_channel(3, 4)  # a version-1 table (link_account needs the outbox of version 2)
        assert await old.schema_version() == 1
    async with await PostgresStore.open(pg_url, cipher) as new:
        assert await new.schema_version() == shipped[-1].version
        assert await new.list_share_channels(3) == [4]
        await new.link_account(3, TOKEN, "us")
        assert await new.get_user_token(3) == TOKEN and await new.outbox_size() == 0


async def test_failed_migration_is_rolled_back(pg_url: str, cipher: TokenCipher) -> None:
    shipped = load_migrations(directory=POSTGRES_MIGRATIONS)
    broken = (
        *shipped,
        Migration(
            len(shipped) + 1,
            "broken",
            "CREATE TABLE half_done (x INTEGER); INSERT INTO no_such_table VALUES (1);",
        ),
    )
    with pytest.raises(MigrationError, match="broken failed and was rolled back"):
        await PostgresStore.open(pg_url, cipher, migrations=broken)
    conn = await asyncpg.connect(pg_url)
    try:
        assert await conn.fetchval("SELECT to_regclass('half_done')") is None
    finally:
        await conn.close()
    assert (await _versions(pg_url))[-1][0] == shipped[-1].version
    async with await PostgresStore.open(pg_url, cipher) as store:  # still usable
        assert await store.outbox_size() == 0


async def test_newer_schema_stops_with_a_clear_message(pg_url: str, cipher: TokenCipher) -> None:
    async with await PostgresStore.open(pg_url, cipher):
        pass
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute("INSERT INTO schema_version VALUES (99, 'from_the_future', 0)")
    finally:
        await conn.close()
    with pytest.raises(SchemaTooNew, match="upgrade the bot") as info:
        await PostgresStore.open(pg_url, cipher)
    assert info.value.db_version == 99 and "127.0.0.1" in str(info.value)
    assert (await _versions(pg_url))[-1] == (99, "from_the_future")


# ---------------------------------------------------------------------- finding the binaries
def test_the_highest_installed_postgresql_is_used_unless_pg_bin_says_otherwise(tmp_path: Path) -> None:
    """As scripts/setup: any /usr/lib/postgresql/<version>/bin/initdb will do; the newest one is taken."""
    for version, has_initdb in (("9.6", True), ("15", True), ("16", True), ("17", False), ("devel", True)):
        (tmp_path / version / "bin").mkdir(parents=True)
        if has_initdb:
            (tmp_path / version / "bin" / "initdb").touch()
    assert find_pg_bin({}, root=tmp_path) == tmp_path / "16" / "bin"
    assert find_pg_bin({"PG_BIN": "/opt/pg/bin"}, root=tmp_path) == Path("/opt/pg/bin")
    assert find_pg_bin({}, root=tmp_path / "nothing-here") is None
    installed = find_pg_bin({})  # this machine: whatever version apt installed
    assert installed is None or (installed / "initdb").exists()


# ---------------------------------------------------------------------- python -m bot migrate
async def test_python_m_bot_migrate_with_a_postgresql_url(pg_url: str, encryption_key: str) -> None:
    # A password in the URL (trust authentication ignores it) must never be printed.
    url = pg_url.replace("postgresql://bot@", "postgresql://bot:pw-s3cr3t@")
    env = {"DATABASE_URL": url, "TOKEN_ENCRYPTION_KEY": encryption_key}
    result = await asyncio.to_thread(run_bot, "migrate", env=env)
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout
    output = result.stdout + result.stderr
    assert "pw-s3cr3t" not in output and encryption_key not in output
    expected = [(m.version, m.name) for m in load_migrations(directory=POSTGRES_MIGRATIONS)]
    assert await _versions(pg_url) == expected
    again = await asyncio.to_thread(run_bot, "migrate", env=env)  # idempotent
    assert again.returncode == 0, again.stderr
    assert await _versions(pg_url) == expected


async def test_python_m_bot_migrate_reports_an_unreachable_server_without_the_password(encryption_key: str) -> None:
    env = {"DATABASE_URL": "postgresql://bot:pw-s3cr3t@127.0.0.1:1/bot", "TOKEN_ENCRYPTION_KEY": encryption_key}
    result = await asyncio.to_thread(run_bot, "migrate", env=env)
    assert result.returncode != 0
    assert "pw-s3cr3t" not in result.stdout + result.stderr
    assert "cannot connect to the PostgreSQL database" in result.stdout + result.stderr
