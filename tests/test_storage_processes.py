"""The ``processes`` table: each running bot process announces itself with its keys' fingerprints, renews its row,
and removes it when it stops; rows of processes that died are purged. Both engines."""

from __future__ import annotations

import dataclasses

import pytest

from bot.services.housekeeping import Housekeeping, Purged
from bot.services.presence import STALE_AFTER_SECONDS, Presence, holdouts, this_process
from bot.storage import ProcessRecord, Store, TokenCipher
from tests.fixtures.storage import FakeClock

T0 = 1_700_000_000.0


def record(name: str, seen_at: float, fingerprints: tuple[str, ...] = ("aaaa", "bbbb")) -> ProcessRecord:
    host, pid = name.split(":")
    return ProcessRecord(f"{name}:x", host, int(pid), T0, seen_at, fingerprints)


async def test_announce_renews_and_retire_removes(store: Store) -> None:
    one, two = record("host-a:10", T0), record("host-b:20", T0 + 5, ("cccc",))
    await store.announce_process(one)
    await store.announce_process(two)
    assert await store.live_processes(T0) == [one, two]
    assert await store.live_processes(T0 + 1) == [two], "one was last seen before T0 + 1"

    renewed = dataclasses.replace(one, seen_at=T0 + 30, key_fingerprints=("dddd", "aaaa"))
    await store.announce_process(renewed)  # a heartbeat: the same row, renewed
    assert await store.live_processes(T0 + 1) == [renewed, two]

    assert await store.retire_process(one.id) is True
    assert await store.retire_process(one.id) is False
    assert await store.live_processes(0) == [two]


async def test_stale_rows_are_purged(store: Store, fake_clock: FakeClock) -> None:
    alive, dead = record("host-a:10", T0 + STALE_AFTER_SECONDS), record("host-b:20", T0)
    await store.announce_process(alive)
    await store.announce_process(dead)
    fake_clock.now = T0 + 2 * STALE_AFTER_SECONDS
    assert await Housekeeping(store, clock=fake_clock).run_once() == Purged(processes=1)
    assert await store.live_processes(0) == [alive]


async def test_presence_adds_renews_and_removes_its_row(store: Store, fake_clock: FakeClock) -> None:
    cipher = TokenCipher([TokenCipher.generate_key(), TokenCipher.generate_key()])
    me = this_process(cipher.fingerprints, now=fake_clock.now)
    presence = Presence(store, me, interval=3600, clock=fake_clock)
    await presence.start()
    [row] = await store.live_processes(0)
    assert row == me and row.key_fingerprints == cipher.fingerprints
    fake_clock.advance(30)
    await presence.heartbeat()
    [row] = await store.live_processes(0)
    assert row.seen_at == fake_clock.now and row.started_at == me.started_at
    await presence.stop()
    assert await store.live_processes(0) == []


def test_holdouts_are_the_processes_without_the_key_first() -> None:
    first = "f1f1"
    ready = record("host-a:10", T0, (first, "0101"))
    second = record("host-b:20", T0, ("0101", first))
    old = record("host-c:30", T0, ("0101",))
    assert holdouts([ready, second, old], first) == [second, old]
    assert holdouts([ready], first) == []


async def test_fingerprints_must_not_hold_commas(store: Store) -> None:
    with pytest.raises(ValueError):
        await store.announce_process(record("host-a:10", T0, ("a,b",)))
    assert await store.live_processes(0) == []
