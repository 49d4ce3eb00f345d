"""``copy-db``: moving a deployment's data between real databases (SQLite files and a throwaway PostgreSQL).

Stores are filled through the Store API, copied with :func:`copy_database` (or ``python -m bot copy-db`` as a
real subprocess), and read back through the Store API of the target. Refusals leave the target unchanged.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import asyncpg
import pytest

from bot.storage import (
    CopyReport,
    HoldReason,
    LinkStateResult,
    OutboxEntry,
    PendingMatch,
    RawRow,
    SqliteStore,
    StorageError,
    Store,
    TokenCipher,
    copy_database,
    open_store,
)
from bot.storage.postgres import PostgresStore
from bot.storage.transfer import TABLES, SameDatabase, SourceInUse, TargetNotEmpty
from tests.fixtures.e2e import run_bot
from tests.fixtures.storage import FakeClock, PostgresServer

TOKENS = {
    1: "MUT-copy-Aq1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuVwXyZ-user-one-secret",
    2: "MUT-copy-Zy9X8w7V6u5T4s3R2q1P0oNmLkJiHgFeDcBa-user-two-secret",
    3: "MUT-copy-stale-0123456789abcdefghijklmnopqrstuvwxyz-three-secret",
    4: "MUT-copy-stale-notified-9876543210zyxwvutsrqponmlkjih-four-secret",
}
ACTIVE, STALE, STALE_NOTIFIED, UNLINKED = 1, 3, 4, 20


@pytest.fixture
async def pg_url(postgres_server: PostgresServer) -> str:
    return await postgres_server.create_database()


@pytest.fixture
async def opened() -> AsyncIterator[list[Store]]:
    """Stores a test opens; all closed at teardown."""
    stores: list[Store] = []
    yield stores
    for store in reversed(stores):
        await store.close()


async def _open(opened: list[Store], url: str, cipher: TokenCipher, clock: FakeClock) -> Store:
    store = await open_store(url, cipher, clock=clock)
    opened.append(store)
    return store


async def fill(store: Store, clock: FakeClock) -> dict[str, OutboxEntry]:
    """A deployment with a bit of everything, written through the Store API. Returns some outbox rows."""
    t0 = clock.now
    for user, token in TOKENS.items():
        await store.link_account(user, token, "us" if user % 2 else "gb", now=t0 + user)
    await store.touch_account(ACTIVE, now=t0 + 500)
    assert await store.mark_stale(STALE) and await store.mark_stale(STALE_NOTIFIED)
    assert await store.mark_stale_notified(STALE_NOTIFIED)

    # Two nonces of one user created in the same instant: the later one is the pending one.
    await store.create_link_state("nonce-z-older", 10, t0 + 600, now=t0)
    await store.create_link_state("nonce-a-newer", 10, t0 + 600, now=t0)
    await store.create_link_state("nonce-used", 11, t0 + 600, now=t0)
    assert await store.consume_link_state("nonce-used", 11, t0 + 1) is LinkStateResult.OK
    await store.create_link_state("nonce-expired", 12, t0 + 5, now=t0)

    for guild, channel in ((100, 1000), (100, 1001), (100, 1002), (200, 2000), (300, 3000)):
        assert await store.add_share_channel(guild, channel)
    assert await store.set_share_buttons(200, True)
    await store.record_shared_message(5000, 1000, 100, "songs", "1613600188", created_at=t0 + 10)
    await store.record_shared_message(5001, 1001, 100, "albums", "1613600183", created_at=t0 + 11)
    await store.record_shared_message(5002, 77, None, "playlists", "pl.f4d106fed2bd41149aaacabb233eb5eb", t0 + 12)
    await store.record_share(5000, 100, 1000, ACTIVE, "songs", "1613600188", t0 + 10)
    await store.record_share(5001, 100, 1001, STALE, "albums", "1613600183", t0 + 11)
    await store.record_vote(100, STALE, "songs", "1613600188", 1, t0 + 14)
    await store.record_vote(100, UNLINKED, "songs", "1613600188", -1, t0 + 15)
    await store.record_vote(100, ACTIVE, "albums", "1613600183", 1, t0 + 16)
    assert await store.set_taste_named(100, ACTIVE, True, t0 + 17)
    assert await store.mixtape_join(100, ACTIVE, "Loopback Server", t0 + 18)
    assert await store.mixtape_join(100, STALE, "Loopback Server", t0 + 19)
    assert (
        await store.mixtape_enqueue(
            100, [ACTIVE, STALE], t0, t0 + 20, "Loopback Server — 2026-W48", ["1", "2"], t0 + 20
        )
        == 2
    )
    [job, _] = await store.mixtape_claim("copier", t0 + 21, limit=2)
    assert await store.mixtape_sent(job, t0 + 21)
    assert await store.mixtape_done(job, "p.AbCdEf123", now=t0 + 22)
    assert await store.set_listen_elsewhere(200, False)
    waiting = PendingMatch(999, 11, 100, ACTIVE, "https://open.spotify.com/track/4uLU6hMCjMI75M1", 2, t0 + 90, t0)
    assert await store.add_pending_match(waiting, max_per_guild=5)
    await store.set_recap(100, 1001, 6, 18, "Europe/Berlin", t0 + 23)
    assert await store.claim_week(100, "2026-W48", t0 + 24, "copier", 300.0, t0 + 25)
    assert await store.close_week(100, "2026-W48", "copier", 777, t0 + 26)

    assert await store.claim_notice(STALE, "stale-link", t0)
    assert await store.claim_notice(UNLINKED, "link-first", t0)
    assert await store.record_guild_departure(300, t0 + 13)

    rows: dict[str, OutboxEntry] = {}
    # Due, changed twice (version 3), failed once (attempts, last_error).
    await store.enqueue(ACTIVE, "songs", "111", 1, t0, debounce=0)
    await store.enqueue(ACTIVE, "songs", "111", -1, t0 + 1, debounce=0)
    await store.enqueue(ACTIVE, "songs", "111", 1, t0 + 2, debounce=0)
    [claimed] = await store.claim_due("old-worker", t0 + 3, limit=1)
    assert await store.retry_later(claimed, t0 + 20, "HTTP 503 from Apple")
    # Due and claimed by a worker whose lease runs out at t0 + 64 (the copy runs later).
    await store.enqueue(2, "albums", "1613600183", 0, t0 + 3, debounce=0)
    [leased] = await store.claim_due("dead-worker", t0 + 4, limit=1, lease=60)
    assert leased.item_id == "1613600183"
    # Held: reacted before linking; and the rows of a stale account.
    rows["unlinked"] = await store.enqueue(
        UNLINKED, "songs", "222", 1, t0 + 5, debounce=0, hold=HoldReason.UNLINKED, hold_expires_at=t0 + 86400
    )
    await store.enqueue(STALE, "songs", "333", -1, t0 + 6, debounce=0)
    await store.enqueue(STALE, "library-songs", "i.abc", 1, t0 + 7, debounce=0)
    await store.hold_user(STALE, HoldReason.STALE)
    # A completed row leaves a gap in the ids: the largest id is not the row count.
    done = await store.enqueue(2, "songs", "444", 1, t0 + 8, debounce=0)
    assert await store.complete(done)
    rows["last"] = await store.enqueue(2, "songs", "555", 1, t0 + 9, debounce=5)
    clock.advance(100)  # every lease has expired: no bot is running on the source any more
    return rows


async def dump(store: Store, batch: int = 1000) -> dict[str, list[RawRow]]:
    """Every copied table's rows, as the engine-neutral export sees them (claims dropped)."""
    tables: dict[str, list[RawRow]] = {}
    for spec in TABLES:
        rows: list[RawRow] = []
        async for chunk in store.export_rows(spec.name, batch=batch):
            assert 0 < len(chunk) <= batch
            rows.extend(chunk)
        if spec.name == "outbox":
            rows = [{**row, "claimed_by": None, "lease_until": None} for row in rows]
        tables[spec.name] = rows
    return tables


async def check_reads_back(source: Store, target: Store, clock: FakeClock) -> None:
    """Everything the bot reads comes back the same from the copy."""
    for user in (*TOKENS, 10, 11, 12, UNLINKED, 999):
        assert await target.get_account(user) == await source.get_account(user)
        assert await target.get_user_token(user) == await source.get_user_token(user)
        expected = [
            dataclasses.replace(e, claimed_by=None, lease_until=None) for e in await source.pending_for_user(user)
        ]
        assert await target.pending_for_user(user) == expected
    assert await target.get_user_token(ACTIVE) == TOKENS[ACTIVE]
    assert await target.get_user_token(STALE) is None  # still stale
    notified, active = await target.get_account(STALE_NOTIFIED), await target.get_account(ACTIVE)
    assert notified is not None and notified.stale_notified is True
    assert active is not None and active.last_used == clock.now - 100 + 500  # touched after linking
    assert await target.count_rows("accounts") == 4
    statuses = [account.status for account in [await target.get_account(user) for user in TOKENS] if account]
    assert sorted(statuses) == ["active", "active", "stale", "stale"]
    assert await target.count_undecryptable_tokens() == 0
    for guild in (100, 200, 300, 400):
        assert await target.list_share_channels(guild) == await source.list_share_channels(guild)
    assert await target.is_share_channel(100, 1002) and not await target.is_share_channel(200, 1002)
    assert await target.share_buttons(200) and not await target.share_buttons(100)
    for message in (5000, 5001, 5002, 5003):
        assert await target.get_shared_message(message) == await source.get_shared_message(message)
    assert await target.recent_shared_messages(0) == await source.recent_shared_messages(0)
    assert await target.outbox_size() == await source.outbox_size() == 6
    for user, item_type, item_id in ((ACTIVE, "songs", "111"), (2, "songs", "444"), (STALE, "songs", "333")):
        assert await target.get_intent(user, item_type, item_id) == await source.get_intent(user, item_type, item_id)
    assert await target.get_intent(2, "songs", "444") == 1, "an applied rating's intent is kept (and copied)"
    assert await target.recap_settings(100) == await source.recap_settings(100) is not None
    assert await target.closed_week(100, "2026-W48") == await source.closed_week(100, "2026-W48") is not None
    assert await target.next_due_at() is not None


async def check_still_works(target: Store, clock: FakeClock, rows: dict[str, OutboxEntry]) -> None:
    """The copy is a working database: link states, claims, completions, new rows."""
    now = clock.now
    assert await target.pending_link(10, now) == "nonce-a-newer"  # creation order kept
    assert await target.consume_link_state("nonce-used", 11, now) is LinkStateResult.USED
    assert await target.consume_link_state("nonce-expired", 12, now) is LinkStateResult.EXPIRED
    assert await target.consume_link_state("nonce-a-newer", 99, now) is LinkStateResult.WRONG_USER
    assert await target.consume_link_state("nonce-a-newer", 10, now) is LinkStateResult.OK
    assert await target.pending_link(10, now) == "nonce-z-older"
    await target.create_link_state("nonce-new", 10, now + 600, now=now)
    assert await target.pending_link(10, now) == "nonce-new"
    assert await target.consume_link_state("nonce-new", 10, now) is LinkStateResult.OK

    assert not await target.claim_notice(STALE, "stale-link", now)  # sent 100 s ago: not again today
    assert await target.claim_notice(STALE, "stale-link", now + 86400)

    # The claim of the dead worker was cleared: both due rows are claimable at once; held rows are not.
    claimed = await target.claim_due("new-worker", now, lease=30)
    assert {(e.user_id, e.item_id) for e in claimed} == {(ACTIVE, "111"), (2, "1613600183"), (2, "555")}
    by_item = {e.item_id: e for e in claimed}
    assert (by_item["111"].version, by_item["111"].attempts, by_item["111"].last_error) == (3, 1, "HTTP 503 from Apple")
    assert [await target.complete(e) for e in claimed] == [True, True, True]
    assert await target.claim_due("new-worker", now + 1000) == []

    new = await target.enqueue(7, "songs", "new", 1, now, debounce=0)
    assert new.id > rows["last"].id and new.version == 1  # ids continue after the copied ones
    again = await target.enqueue(UNLINKED, "songs", "222", -1, now, debounce=0, hold="unlinked")
    assert (again.id, again.version) == (rows["unlinked"].id, rows["unlinked"].version + 1)
    await target.link_account(UNLINKED, "MUT-new-link-after-the-copy", "us", now=now)
    assert {e.item_id for e in await target.claim_due("w", now + 1)} == {"new", "222"}
    assert await target.get_user_token(UNLINKED) == "MUT-new-link-after-the-copy"


# ---------------------------------------------------------------------- round trips
async def test_sqlite_to_postgres_copies_everything(
    tmp_path: Path, pg_url: str, cipher: TokenCipher, fake_clock: FakeClock, opened: list[Store]
) -> None:
    source = await _open(opened, f"sqlite:///{tmp_path / 'bot.db'}", cipher, fake_clock)
    rows = await fill(source, fake_clock)
    target = await _open(opened, pg_url, cipher, fake_clock)
    assert isinstance(source, SqliteStore) and isinstance(target, PostgresStore)

    report = await copy_database(source, target, batch=2)  # many small batches: keyset paging on every key
    assert isinstance(report, CopyReport)
    assert report.rows == {
        "accounts": 4,
        "link_states": 4,
        "guild_share_channels": 5,
        "guild_settings": 1,
        "shared_messages": 3,
        "outbox": 6,
        "rating_intents": 7,
        "notices": 2,
        "taste_shares": 2,
        "taste_votes": 3,
        "taste_named": 1,
        "mixtape_members": 2,
        "mixtape_jobs": 2,
        "pending_matches": 1,
        "recap_settings": 1,
        "closed_weeks": 1,
        "guild_departures": 1,
    }
    assert report.total == 46 and report.tokens == 4 and report.undecryptable_tokens == 0
    assert report.source == str(tmp_path / "bot.db") and report.target.startswith("postgresql://127.0.0.1:")
    assert list(report.rows) == [spec.name for spec in TABLES]
    assert await dump(target) == await dump(source)

    # Token ciphertexts are copied verbatim, not re-encrypted.
    conn = await asyncpg.connect(pg_url)
    try:
        stored = {int(r[0]): bytes(r[1]) for r in await conn.fetch("SELECT user_id, token_enc FROM accounts")}
        assert await conn.fetchval("SELECT COUNT(*) FROM outbox WHERE claimed_by IS NOT NULL") == 0
    finally:
        await conn.close()
    source_rows = (await dump(source))["accounts"]
    assert stored == {r["user_id"]: r["token_enc"] for r in source_rows}
    assert all(isinstance(token, bytes) and token.startswith(b"gAAAAA") for token in stored.values())

    await check_reads_back(source, target, fake_clock)
    await check_still_works(target, fake_clock, rows)


async def test_postgres_to_sqlite_round_trip_is_identical(
    tmp_path: Path, pg_url: str, cipher: TokenCipher, fake_clock: FakeClock, opened: list[Store]
) -> None:
    original = await _open(opened, f"sqlite:///{tmp_path / 'original.db'}", cipher, fake_clock)
    rows = await fill(original, fake_clock)
    middle = await _open(opened, pg_url, cipher, fake_clock)
    await copy_database(original, middle)
    back = await _open(opened, f"sqlite:///{tmp_path / 'back' / 'bot.db'}", cipher, fake_clock)
    report = await copy_database(middle, back, batch=3)
    assert report.total == 46 and report.undecryptable_tokens == 0

    assert await dump(back) == await dump(original)
    await check_reads_back(original, back, fake_clock)
    await check_still_works(back, fake_clock, rows)


async def test_sqlite_to_sqlite_with_more_rows_than_a_batch(
    tmp_path: Path, cipher: TokenCipher, fake_clock: FakeClock, opened: list[Store]
) -> None:
    source = await _open(opened, f"sqlite:///{tmp_path / 'a.db'}", cipher, fake_clock)
    for user in range(1, 301):
        await source.enqueue(user, "songs", str(user % 7), 1, fake_clock.now, debounce=0, hold="unlinked")
        await source.add_share_channel(user % 5, user)
    target = await _open(opened, f"sqlite:///{tmp_path / 'b.db'}", cipher, fake_clock)
    report = await copy_database(source, target, batch=64)
    assert report.rows["outbox"] == 300 and report.rows["guild_share_channels"] == 300
    assert await dump(target, batch=64) == await dump(source, batch=64)
    assert (await target.enqueue(1, "songs", "x", 1)).id == 301


async def test_a_key_the_target_cannot_decrypt_with_is_reported(
    tmp_path: Path, cipher: TokenCipher, fake_clock: FakeClock, opened: list[Store]
) -> None:
    source = await _open(opened, f"sqlite:///{tmp_path / 'a.db'}", cipher, fake_clock)
    await source.link_account(1, TOKENS[1], "us")
    other = TokenCipher.from_setting(TokenCipher.generate_key())
    target = await _open(opened, f"sqlite:///{tmp_path / 'b.db'}", other, fake_clock)
    report = await copy_database(source, target)
    assert (report.tokens, report.undecryptable_tokens) == (1, 1)


# ---------------------------------------------------------------------- refusals and rollback
async def test_refuses_a_target_that_holds_data_and_leaves_it_unchanged(
    tmp_path: Path, pg_url: str, cipher: TokenCipher, fake_clock: FakeClock, opened: list[Store]
) -> None:
    source = await _open(opened, f"sqlite:///{tmp_path / 'bot.db'}", cipher, fake_clock)
    await fill(source, fake_clock)
    target = await _open(opened, pg_url, cipher, fake_clock)
    await target.record_shared_message(1, 2, 3, "songs", "4", created_at=fake_clock.now)
    before, source_before = await dump(target), await dump(source)

    with pytest.raises(TargetNotEmpty, match=r"already holds data in shared_messages \(1\)") as info:
        await copy_database(source, target)
    assert info.value.counts["shared_messages"] == 1
    assert "\n" not in str(info.value) and str(info.value).endswith("left unchanged.")
    assert await dump(target) == before and await dump(source) == source_before

    # import_rows checks again inside its own transaction (a racing writer cannot slip in).
    async def one_batch() -> AsyncIterator[tuple[str, Sequence[RawRow]]]:
        yield "notices", [{"user_id": 1, "kind": "k", "last_sent_at": 1.0}]

    with pytest.raises(TargetNotEmpty):
        await target.import_rows(one_batch())
    assert await dump(target) == before


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
async def test_a_failure_during_the_import_rolls_everything_back(
    engine: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    cipher: TokenCipher,
    fake_clock: FakeClock,
    opened: list[Store],
) -> None:
    source = await _open(opened, f"sqlite:///{tmp_path / 'bot.db'}", cipher, fake_clock)
    await fill(source, fake_clock)
    if engine == "postgres":
        url = await request.getfixturevalue("postgres_server").create_database()
    else:
        url = f"sqlite:///{tmp_path / 'target.db'}"
    target = await _open(opened, url, cipher, fake_clock)
    exported = await dump(source)

    async def then_fail() -> AsyncIterator[tuple[str, Sequence[RawRow]]]:
        for spec in TABLES:
            yield spec.name, exported[spec.name]
        raise RuntimeError("the source went away")

    with pytest.raises(RuntimeError, match="went away"):
        await target.import_rows(then_fail())

    async def duplicate_key() -> AsyncIterator[tuple[str, Sequence[RawRow]]]:
        yield "accounts", exported["accounts"]
        yield "outbox", exported["outbox"]
        yield "notices", [exported["notices"][0], exported["notices"][0]]

    with pytest.raises((sqlite3.IntegrityError, asyncpg.UniqueViolationError)):
        await target.import_rows(duplicate_key())

    assert all(count == 0 for count in [await target.count_rows(spec.name) for spec in TABLES])
    # Nothing was left behind, not even an advanced id generator: the target is as it was.
    first = await target.enqueue(1, "songs", "1", 1, fake_clock.now)
    assert first.id == 1
    await target.complete(first)
    await target.unlink(1)  # the rating intent an applied rating leaves: the target is empty again
    report = await copy_database(source, target)  # and a later copy still works
    assert report.total == 46


async def test_refuses_the_same_database(
    tmp_path: Path, pg_url: str, cipher: TokenCipher, fake_clock: FakeClock, opened: list[Store]
) -> None:
    path = tmp_path / "bot.db"
    source = await _open(opened, f"sqlite:///{path}", cipher, fake_clock)
    await fill(source, fake_clock)
    (tmp_path / "alias").symlink_to(tmp_path)
    same = await _open(opened, f"sqlite:///{tmp_path / 'alias' / 'bot.db'}", cipher, fake_clock)
    with pytest.raises(SameDatabase, match="same database"):
        await copy_database(source, same)

    first = await _open(opened, pg_url, cipher, fake_clock)
    # Another spelling of the same database (trust authentication ignores the password).
    second = await _open(opened, pg_url.replace("postgresql://bot@", "postgres://bot:pw-s3cr3t@"), cipher, fake_clock)
    with pytest.raises(SameDatabase) as info:
        await copy_database(first, second)
    assert "pw-s3cr3t" not in str(info.value) and "127.0.0.1" in str(info.value)
    assert await source.outbox_size() == 6


async def test_refuses_a_source_with_unexpired_claims(
    tmp_path: Path, pg_url: str, cipher: TokenCipher, fake_clock: FakeClock, opened: list[Store]
) -> None:
    source = await _open(opened, f"sqlite:///{tmp_path / 'bot.db'}", cipher, fake_clock)
    await source.link_account(1, TOKENS[1], "us")
    await source.enqueue(1, "songs", "1", 1, fake_clock.now, debounce=0)
    await source.claim_due("running-bot", fake_clock.now, lease=60)
    target = await _open(opened, pg_url, cipher, fake_clock)

    fake_clock.advance(59)
    with pytest.raises(SourceInUse, match="stop every bot process first") as info:
        await copy_database(source, target)
    assert info.value.claims == 1
    assert all(count == 0 for count in [await target.count_rows(spec.name) for spec in TABLES])
    fake_clock.advance(1)  # the lease ran out: the bot is gone
    assert (await copy_database(source, target)).rows["outbox"] == 1


async def test_hooks_reject_unknown_tables_and_bad_batches(tmp_path: Path, cipher: TokenCipher) -> None:
    async with await SqliteStore.open(tmp_path / "bot.db", cipher) as store:
        with pytest.raises(ValueError, match="not one of the copied tables"):
            await store.count_rows("schema_version")
        with pytest.raises(ValueError, match="not one of the copied tables"):
            await anext(store.export_rows("accounts; DROP TABLE accounts"))
        with pytest.raises(ValueError, match="positive"):
            await anext(store.export_rows("accounts", batch=0))
        with pytest.raises(ValueError, match="positive"):
            await copy_database(store, store, batch=0)
        with pytest.raises(StorageError):
            await copy_database(store, store)


# ---------------------------------------------------------------------- python -m bot copy-db
_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def operator_lines(stderr: str) -> list[str]:
    """What the command itself wrote to stderr (log lines, e.g. "Applied database migration", left out)."""
    return [line for line in stderr.strip().splitlines() if line and not _LOG_LINE.match(line)]


async def test_cli_copies_sqlite_to_postgres_and_prints_no_secret(
    tmp_path: Path, pg_url: str, encryption_key: str, cipher: TokenCipher, fake_clock: FakeClock
) -> None:
    path = tmp_path / "bot.db"
    async with await SqliteStore.open(path, cipher, clock=fake_clock) as source:
        await fill(source, fake_clock)
    url = pg_url.replace("postgresql://bot@", "postgresql://bot:pw-s3cr3t@")  # must never be printed
    env = {"DATABASE_URL": url, "TOKEN_ENCRYPTION_KEY": encryption_key}

    result = await asyncio.to_thread(run_bot, "copy-db", "--from", f"sqlite:///{path}", env=env)
    assert result.returncode == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines()]
    expected = (
        ("accounts", 4),
        ("link_states", 4),
        ("outbox", 6),
        ("rating_intents", 7),
        ("notices", 2),
        ("guild_departures", 1),
        ("recap_settings", 1),
        ("closed_weeks", 1),
    )
    for table, count in (*expected, ("total", 46)):
        assert [table, str(count)] in lines
    assert "All 4 stored token(s) can be decrypted" in result.stdout
    assert "Copied. Point DATABASE_URL at the new database and start the bot." in result.stdout
    assert str(path) in result.stdout
    output = result.stdout + result.stderr
    assert "pw-s3cr3t" not in output and encryption_key not in output and "Traceback" not in output
    for token in TOKENS.values():
        assert token not in output and token[9:40] not in output

    async with await PostgresStore.open(pg_url, cipher) as target:
        assert await target.get_user_token(ACTIVE) == TOKENS[ACTIVE]
        assert await target.count_rows("outbox") == 6

    # Again: the target now holds data. Exit 2, one clear sentence, nothing changed.
    again = await asyncio.to_thread(run_bot, "copy-db", "--from", f"sqlite:///{path}", "--to", url, env=env)
    assert again.returncode == 2
    [message] = operator_lines(again.stderr)
    assert "already holds data" in message and "left unchanged" in message
    assert "pw-s3cr3t" not in again.stdout + again.stderr and "Traceback" not in again.stderr
    async with await PostgresStore.open(pg_url, cipher) as target:
        assert await target.count_rows("accounts") == 4


async def test_cli_refusals_exit_2_with_one_sentence(tmp_path: Path, encryption_key: str, cipher: TokenCipher) -> None:
    path = tmp_path / "bot.db"
    async with await SqliteStore.open(path, cipher) as source:
        await source.link_account(1, TOKENS[1], "us")
        await source.enqueue(1, "songs", "1", 1, debounce=0)
        await source.claim_due("a-running-bot", lease=600)
    env = {"DATABASE_URL": f"sqlite:///{path}", "TOKEN_ENCRYPTION_KEY": encryption_key}
    cases = {
        # --to defaults to DATABASE_URL, which is the source here
        ("--from", f"sqlite:///{path}"): "same database",
        ("--from", f"sqlite:///{path}", "--to", f"sqlite:///{tmp_path / 'new.db'}"): "stop every bot process first",
        ("--from", f"sqlite:///{tmp_path / 'typo.db'}", "--to", f"sqlite:///{tmp_path / 'new.db'}"): "does not exist",
        ("--from", "mysql://db/bot", "--to", f"sqlite:///{tmp_path / 'new.db'}"): "--from",
    }
    for args, expected in cases.items():
        result = await asyncio.to_thread(run_bot, "copy-db", *args, env=env)
        assert result.returncode == 2, (args, result.stderr)
        [message] = operator_lines(result.stderr)
        assert expected in message, (args, message)
        assert TOKENS[1] not in result.stdout + result.stderr and encryption_key not in result.stderr
    assert not (tmp_path / "typo.db").exists()
    missing_key = await asyncio.to_thread(
        run_bot, "copy-db", "--from", f"sqlite:///{path}", env={"DATABASE_URL": env["DATABASE_URL"]}
    )
    assert missing_key.returncode == 2 and "TOKEN_ENCRYPTION_KEY" in missing_key.stderr
