"""The ratings outbox: durable, coalescing, leased, held, ordered. "Never lose a rating"."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bot.storage import HoldReason, OutboxEntry, SqliteStore, TokenCipher
from tests.fixtures.storage import FakeClock, StoreFactory, wal_file_exists

ROOT = Path(__file__).resolve().parent.parent

U1, U2 = 1001, 1002
T0 = 1_700_000_000.0


async def test_enqueue_creates_a_due_row(store: SqliteStore) -> None:
    entry = await store.enqueue(U1, "songs", "111", 1, T0, debounce=1.0, max_delay=10.0)
    assert isinstance(entry, OutboxEntry)
    assert (entry.user_id, entry.item_type, entry.item_id, entry.value) == (U1, "songs", "111", 1)
    assert entry.version == 1 and entry.attempts == 0 and entry.held is None
    assert entry.created_at == T0 and entry.due_at == T0 + 1.0
    assert entry.claimed_by is None and entry.lease_until is None
    assert await store.outbox_size() == 1
    assert await store.next_due_at() == T0 + 1.0
    assert await store.claim_due("w", T0 + 0.5) == []  # debounced: not yet
    [claimed] = await store.claim_due("w", T0 + 1.0, lease=30)
    assert claimed.id == entry.id and claimed.claimed_by == "w" and claimed.lease_until == T0 + 31


async def test_burst_collapses_into_one_write_of_the_last_state(store: SqliteStore) -> None:
    await store.enqueue(U1, "songs", "111", 1, T0, debounce=1.0)
    await store.enqueue(U1, "songs", "111", -1, T0 + 0.3, debounce=1.0)
    last = await store.enqueue(U1, "songs", "111", 1, T0 + 0.6, debounce=1.0)
    assert last.version == 3 and last.value == 1 and last.created_at == T0
    assert last.due_at == pytest.approx(T0 + 1.6)
    assert await store.outbox_size() == 1
    assert await store.claim_due("w", T0 + 1.5) == []
    [claimed] = await store.claim_due("w", T0 + 1.6)
    assert (claimed.value, claimed.version) == (1, 3)
    assert await store.complete(claimed) is True
    assert await store.outbox_size() == 0


async def test_toggling_forever_is_still_applied_after_max_delay(store: SqliteStore) -> None:
    now = T0
    value = 1
    for _ in range(30):  # a toggle every 0.5 s for 15 s
        entry = await store.enqueue(U1, "songs", "111", value, now, debounce=1.0, max_delay=5.0)
        assert entry.due_at == min(now + 1.0, T0 + 5.0)
        if now >= T0 + 5.0:
            break
        now += 0.5
        value = -value
    claimed = await store.claim_due("w", T0 + 5.0)
    assert [e.value for e in claimed] == [entry.value]


async def test_complete_checks_version_and_keeps_newer_action(store: SqliteStore) -> None:
    await store.enqueue(U1, "songs", "111", 1, T0, debounce=0)
    [first] = await store.claim_due("w1", T0, lease=60)
    # While w1 applies the like, the user switches to dislike.
    newer = await store.enqueue(U1, "songs", "111", -1, T0 + 1, debounce=0.5)
    assert newer.version == 2 and newer.claimed_by == "w1"  # lease kept: nobody else may apply it now
    assert await store.claim_due("w2", T0 + 2) == []  # ordering per item: not while w1 holds it
    assert await store.complete(first) is False  # v1 applied, v2 wanted: row stays
    [row] = await store.pending_for_user(U1)
    assert (row.value, row.version, row.claimed_by, row.lease_until) == (-1, 2, None, None)
    [second] = await store.claim_due("w2", T0 + 2)
    assert (second.value, second.version) == (-1, 2)
    assert await store.complete(second) is True
    assert await store.outbox_size() == 0
    assert await store.complete(second) is False  # already gone: harmless


async def test_complete_with_explicit_applied_version(store: SqliteStore) -> None:
    await store.enqueue(U1, "songs", "111", 1, T0, debounce=0)
    [entry] = await store.claim_due("w", T0)
    await store.enqueue(U1, "songs", "111", -1, T0 + 1, debounce=0)
    assert await store.complete(entry, applied_version=2) is True  # the worker re-read and applied v2
    assert await store.outbox_size() == 0


async def test_a_late_complete_never_deletes_a_new_row_for_the_same_item(store: SqliteStore) -> None:
    await store.enqueue(U1, "songs", "111", 1, T0, debounce=0)
    [stale] = await store.claim_due("slow", T0, lease=10)
    [again] = await store.claim_due("fast", T0 + 11, lease=10)  # lease expired: re-claimed
    assert await store.complete(again) is True
    fresh = await store.enqueue(U1, "songs", "111", -1, T0 + 12, debounce=0)
    assert fresh.version == 1 and fresh.id != stale.id  # ids are never reused
    assert await store.complete(stale) is False  # the slow worker finishes late
    assert [e.value for e in await store.pending_for_user(U1)] == [-1]


async def test_crashed_workers_claims_come_back_after_the_lease(store: SqliteStore) -> None:
    for item in ("1", "2", "3"):
        await store.enqueue(U1, "songs", item, 1, T0, debounce=0)
    claimed = await store.claim_due("crashed", T0, lease=30)
    assert len(claimed) == 3
    assert await store.claim_due("other", T0 + 29.9) == []
    assert await store.next_due_at() == T0 + 30
    reclaimed = await store.claim_due("other", T0 + 30, lease=30)
    assert sorted(e.item_id for e in reclaimed) == ["1", "2", "3"]
    assert {e.claimed_by for e in reclaimed} == {"other"}
    # The crashed worker's late retry_later must not steal the row back.
    assert await store.retry_later(claimed[0], T0 + 100, "boom") is False
    assert [await store.complete(e) for e in reclaimed] == [True, True, True]


async def test_retry_later_counts_attempts_and_delays(store: SqliteStore) -> None:
    await store.enqueue(U1, "songs", "111", 1, T0, debounce=0)
    [entry] = await store.claim_due("w", T0)
    assert await store.retry_later(entry, T0 + 20, "HTTP 503 Service Unavailable") is True
    [row] = await store.pending_for_user(U1)
    assert (row.attempts, row.last_error, row.due_at) == (1, "HTTP 503 Service Unavailable", T0 + 20)
    assert row.claimed_by is None and row.lease_until is None
    assert await store.claim_due("w", T0 + 19) == []
    [entry] = await store.claim_due("w", T0 + 20)
    assert entry.attempts == 1
    assert await store.retry_later(entry, T0 + 60, "again") is True
    [row] = await store.pending_for_user(U1)
    assert row.attempts == 2
    # A new action from the user gives the item a fresh start (attempts reset, due soon).
    renewed = await store.enqueue(U1, "songs", "111", -1, T0 + 30, debounce=1, max_delay=10)
    assert renewed.attempts == 0 and renewed.last_error is None and renewed.due_at == T0 + 10


async def test_unlinked_holds_wait_for_link_and_expire(store: SqliteStore, fake_clock: FakeClock) -> None:
    await store.enqueue(U1, "songs", "1", 1, T0, debounce=0, hold=HoldReason.UNLINKED, hold_expires_at=T0 + 600)
    await store.enqueue(U2, "songs", "1", -1, T0, debounce=0, hold="unlinked", hold_expires_at=T0 + 600)
    assert await store.claim_due("w", T0 + 1) == []
    assert await store.next_due_at() is None  # held rows never wake the worker
    [waiting] = await store.pending_for_user(U1)
    assert waiting.held is HoldReason.UNLINKED and waiting.hold_expires_at == T0 + 600

    await store.link_account(U1, "token-u1-" + "a" * 40, "us", now=T0 + 300)  # releases U1's rows
    [claimed] = await store.claim_due("w", T0 + 300)
    assert claimed.user_id == U1 and claimed.held is None and claimed.due_at == T0

    assert await store.purge_expired_holds(T0 + 599) == 0
    assert await store.purge_expired_holds(T0 + 600) == 1  # U2 never linked: dropped after 10 minutes
    assert await store.pending_for_user(U2) == []


async def test_linking_drops_expired_holds_and_releases_the_others(store: SqliteStore) -> None:
    await store.enqueue(U1, "songs", "old", 1, T0, debounce=0, hold="unlinked", hold_expires_at=T0 + 600)
    await store.enqueue(U1, "songs", "new", 1, T0 + 500, debounce=0, hold="unlinked", hold_expires_at=T0 + 1100)
    await store.link_account(U1, "token-u1-" + "a" * 40, "us", now=T0 + 700)
    assert [e.item_id for e in await store.claim_due("w", T0 + 700)] == ["new"]
    assert await store.outbox_size() == 1


async def test_hold_user_until_the_user_links_again(store: SqliteStore) -> None:
    for item in ("1", "2"):
        await store.enqueue(U1, "songs", item, 1, T0, debounce=0)
    await store.enqueue(U2, "songs", "1", 1, T0, debounce=0)
    assert await store.hold_user(U1, HoldReason.STALE) == 2
    assert [e.user_id for e in await store.claim_due("w", T0 + 1)] == [U2]
    assert {e.held for e in await store.pending_for_user(U1)} == {HoldReason.STALE}
    assert await store.purge_expired_holds(T0 + 10**9) == 0  # stale holds have no expiry
    await store.link_account(U1, "token-u1-" + "a" * 40, "us", now=T0 + 5)  # releases both rows
    assert {e.held for e in await store.pending_for_user(U1)} == {None}
    assert sorted(e.item_id for e in await store.claim_due("w", T0 + 5)) == ["1", "2"]
    with pytest.raises(ValueError):
        await store.hold_user(U1, "whatever")


async def test_a_users_claims_are_in_the_order_queued_and_limited(store: SqliteStore) -> None:
    # one user's rows go in the order they were queued (their turns), whatever their due times; users take turns
    # (tests/test_outbox_fairness.py)
    for i in range(10):
        await store.enqueue(U1, "songs", f"item{i}", 1, T0 + 9 - i, debounce=0)  # item9 is due first
    await store.enqueue(U1, "songs", "item1", -1, T0 + 10, debounce=0)  # a new choice keeps the row's place
    first = await store.claim_due("w", T0 + 100, limit=3)
    assert [(e.item_id, e.turn) for e in first] == [("item0", 0), ("item1", 1), ("item2", 2)]
    assert first[1].value == -1 and first[1].version == 2
    rest = await store.claim_due("w", T0 + 100, limit=100)
    assert [e.item_id for e in rest] == [f"item{i}" for i in range(3, 10)]
    assert await store.claim_due("w", T0 + 100, limit=0) == []
    assert [e.item_id for e in await store.pending_for_user(U1)][:2] == ["item9", "item8"]


async def test_next_due_at(store: SqliteStore) -> None:
    assert await store.next_due_at() is None
    await store.enqueue(U1, "songs", "a", 1, T0, debounce=5)
    await store.enqueue(U1, "songs", "b", 1, T0, debounce=3)
    assert await store.next_due_at() == T0 + 3
    [claimed] = await store.claim_due("w", T0 + 3, limit=1, lease=60)
    assert claimed.item_id == "b"
    assert await store.next_due_at() == T0 + 5
    await store.complete(claimed)
    await store.hold_user(U1, "stale")
    assert await store.next_due_at() is None


async def test_enqueue_validates_input(store: SqliteStore) -> None:
    for bad in (2, -2, True):
        with pytest.raises(ValueError):
            await store.enqueue(U1, "songs", "1", bad, T0)
    with pytest.raises(ValueError):
        await store.enqueue(U1, "", "1", 1, T0)
    with pytest.raises(ValueError):
        await store.enqueue(U1, "songs", "1", 1, T0, hold="maybe")
    with pytest.raises(ValueError):
        await store.claim_due("", T0)
    assert await store.outbox_size() == 0


async def test_outbox_survives_close_and_reopen(store_factory: StoreFactory) -> None:
    first = await store_factory()
    await first.enqueue(U1, "songs", "1", 1, T0, debounce=0)
    await first.enqueue(U1, "songs", "1", -1, T0 + 0.2, debounce=0)
    await first.enqueue(U2, "albums", "2", 0, T0, debounce=0, hold="unlinked", hold_expires_at=T0 + 600)
    await first.claim_due("w-before-restart", T0 + 1, lease=30)  # claimed, then the bot stops
    await first.close()

    second = await store_factory()
    assert await second.outbox_size() == 2
    assert await second.claim_due("w-after-restart", T0 + 2) == []  # lease still running
    [entry] = await second.claim_due("w-after-restart", T0 + 31)
    assert (entry.user_id, entry.value, entry.version) == (U1, -1, 2)
    [held] = await second.pending_for_user(U2)
    assert (held.item_type, held.value, held.held) == ("albums", 0, HoldReason.UNLINKED)


async def test_enqueue_is_durable_across_a_process_crash(db_path: Path, encryption_key: str) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, os
        from bot.storage import SqliteStore, TokenCipher

        async def main():
            store = await SqliteStore.open({str(db_path)!r}, TokenCipher.from_setting({encryption_key!r}))
            for i in range(50):
                await store.enqueue(42, "songs", str(i), 1, {T0})
            os._exit(0)  # no close, no checkpoint: a crash right after enqueue returned

        asyncio.run(main())
        """
    )
    result = subprocess.run(  # noqa: ASYNC221 (a short child process is the point of the test)
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True
    )
    assert result.returncode == 0, result.stderr.decode()
    assert wal_file_exists(db_path)  # the rows live only in the WAL: recovery must find them
    store = await SqliteStore.open(db_path, TokenCipher.from_setting(encryption_key))
    try:
        assert await store.outbox_size() == 50
    finally:
        await store.close()


async def test_two_processes_claim_disjoint_rows(store_factory: StoreFactory) -> None:
    a = await store_factory()
    b = await store_factory()  # a second connection on the same file, as a second process would have
    for i in range(200):
        await a.enqueue(U1, "songs", str(i), 1, T0, debounce=0)

    async def drain(store: SqliteStore, worker: str) -> list[int]:
        got: list[int] = []
        while batch := await store.claim_due(worker, T0 + 1, limit=7, lease=60):
            got.extend(e.id for e in batch)
            await asyncio.sleep(0)
        return got

    got_a, got_b = await asyncio.gather(drain(a, "a"), drain(b, "b"))
    assert not set(got_a) & set(got_b)
    assert len(got_a) + len(got_b) == 200


async def test_randomized_workers_never_lose_or_reorder_a_rating(
    store_factory: StoreFactory, fake_clock: FakeClock
) -> None:
    """Users click at random; workers claim, apply, crash and retry; at the end Apple holds the last wish."""
    store = await store_factory(clock=fake_clock)
    rng = random.Random(20240501)
    keys = [(user, f"song{i}") for user in (1, 2, 3) for i in range(4)]
    desired: dict[tuple[int, str], int] = {}
    apple: dict[tuple[int, str], int] = {}
    held_by: dict[str, list[OutboxEntry]] = {"w1": [], "w2": []}
    lease = 5.0

    async def work(worker: str) -> None:
        now = fake_clock.now
        for entry in held_by[worker]:
            assert entry.lease_until is not None
            if entry.lease_until <= now:
                continue  # a worker never applies after its lease ran out
            roll = rng.random()
            if roll < 0.15:
                await store.retry_later(entry, now + rng.uniform(0, 3), "HTTP 503")
                continue
            if roll < 0.25:
                continue  # crashed mid-way: claim abandoned
            key = (entry.user_id, entry.item_id)
            if entry.value == 0:
                apple.pop(key, None)
            else:
                apple[key] = entry.value
            await store.complete(entry)
        held_by[worker] = await store.claim_due(worker, now, limit=rng.randint(1, 5), lease=lease)

    for _ in range(600):
        fake_clock.advance(rng.uniform(0, 0.8))
        action = rng.random()
        if action < 0.5:
            key = rng.choice(keys)
            value = rng.choice((1, -1, 0))
            desired[key] = value
            await store.enqueue(key[0], "songs", key[1], value, debounce=1.0, max_delay=4.0)
        else:
            await work(rng.choice(("w1", "w2")))

    # Drain: time passes, every lease expires, a healthy worker empties the outbox.
    held_by = {"w1": [], "w2": []}
    for _ in range(100):
        fake_clock.advance(lease + 5)
        batch = await store.claim_due("final", limit=50, lease=lease)
        if not batch and await store.outbox_size() == 0:
            break
        for entry in batch:
            key = (entry.user_id, entry.item_id)
            if entry.value == 0:
                apple.pop(key, None)
            else:
                apple[key] = entry.value
            assert await store.complete(entry)
    assert await store.outbox_size() == 0
    assert apple == {k: v for k, v in desired.items() if v != 0}


async def test_throughput_sanity_2000_cycles(store: SqliteStore) -> None:
    """Not a timing assertion: 2,000 enqueue→claim→complete cycles simply work (the benchmark measures)."""
    for i in range(2000):
        await store.enqueue(i % 50, "songs", str(i), 1 if i % 2 else -1, T0, debounce=0)
    assert await store.outbox_size() == 2000
    completed = 0
    while batch := await store.claim_due("bench", T0 + 1, limit=100, lease=60):
        for entry in batch:
            completed += await store.complete(entry)
    assert completed == 2000
    assert await store.outbox_size() == 0
