"""Discord's identify budget shared through the database (``bot/identify.py``): one IDENTIFY per 5 s per bucket
(``shard_id % max_concurrency``), whichever process or run sends it. Both engines.

* The store's turn is one conditional write: of two stores on one database asking at once, one gets the turn.
* :class:`IdentifyTurns` waits (on an injected clock) until the interval after the bucket's last turn; an unusable
  database makes it wait one whole interval instead of failing the connection.
* The real ``RatingsBot`` against the loopback Discord, which refuses a second IDENTIFY in a bucket within 5 s of
  its clock: two shards in one process, and a restart, are spaced and never refused. The bots' waits move the
  loopback's clock (``gateway_time``), so no real seconds are spent.
  (Two ``python -m bot`` processes starting together: ``tests/test_sharded_processes.py``.)
"""

from __future__ import annotations

import asyncio
import itertools
import logging

import pytest

from bot.identify import IDENTIFY_INTERVAL, IDENTIFY_MARGIN, IdentifyTurns
from bot.storage import Store
from loopback.discord import LoopbackDiscord
from tests.fixtures.bot import BotFactory
from tests.fixtures.storage import FakeClock, StoreFactory

SPACING = IDENTIFY_INTERVAL + IDENTIFY_MARGIN


class Sleeper:
    """An injected sleep: records each wait and moves the fake clock by it."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(seconds)
        await asyncio.sleep(0)


async def test_a_turn_is_taken_only_when_the_last_one_is_old_enough(store: Store, fake_clock: FakeClock) -> None:
    t0 = fake_clock()
    assert await store.take_identify_turn(0, SPACING, now=t0) is None  # never taken: ours
    assert await store.take_identify_turn(0, SPACING, now=t0 + 1) == t0  # taken 1 s ago: wait
    assert await store.take_identify_turn(1, SPACING, now=t0 + 1) is None  # another bucket is free
    assert await store.take_identify_turn(0, SPACING, now=t0 + SPACING - 0.001) == t0
    assert await store.take_identify_turn(0, SPACING, now=t0 + SPACING) is None
    # a turn stamped far in the future (a clock that went back) does not block the bucket for good
    assert await store.take_identify_turn(0, SPACING, now=t0 - 10 * SPACING) is None


async def test_two_processes_asking_at_once_get_one_turn(store_factory: StoreFactory, fake_clock: FakeClock) -> None:
    one, two = await store_factory(), await store_factory()  # two stores (on PostgreSQL two pools), one database
    t0 = fake_clock()
    for bucket in range(20):
        results = await asyncio.gather(*(s.take_identify_turn(bucket, SPACING, now=t0) for s in (one, two)))
        assert sorted(results, key=lambda r: r is not None) == [None, t0], results


async def test_turns_wait_until_the_interval_after_the_last_identify(
    store_factory: StoreFactory, fake_clock: FakeClock
) -> None:
    sleep = Sleeper(fake_clock)
    first = IdentifyTurns(await store_factory(), clock=fake_clock, sleep=sleep)
    second = IdentifyTurns(await store_factory(), clock=fake_clock, sleep=sleep)  # another process, same database
    t0 = fake_clock()
    await first.wait(0)
    assert sleep.waits == []
    fake_clock.advance(2.0)
    await second.wait(0)  # bucket 0 identified 2 s ago: the rest of the interval
    assert sleep.waits == [SPACING - 2.0] and fake_clock() == t0 + SPACING
    await second.wait(1)  # bucket 1 is free
    fake_clock.advance(SPACING)
    await asyncio.gather(first.wait(0), second.wait(0))  # both at once: one goes, the other waits a whole interval
    assert sleep.waits == [SPACING - 2.0, SPACING] and fake_clock() == t0 + 3 * SPACING


async def test_an_unusable_database_means_waiting_one_whole_interval(
    store_factory: StoreFactory, fake_clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    store = await store_factory()
    await store.close()
    sleep = Sleeper(fake_clock)
    with caplog.at_level(logging.WARNING, logger="bot.identify"):
        await IdentifyTurns(store, clock=fake_clock, sleep=sleep).wait(0)
    assert sleep.waits == [SPACING]
    assert "waiting 6 s instead of a turn" in caplog.text


def accepted_gaps(server: LoopbackDiscord) -> list[float]:
    times = [i.at for i in server.identifies if i.accepted]
    return [b - a for a, b in itertools.pairwise(times)]


async def test_two_shards_of_one_bot_take_turns(bot_factory: BotFactory, discord_server: LoopbackDiscord) -> None:
    server = discord_server
    server.recommended_shards = 2  # GET /gateway/bot: two shards, both in bucket 0 (max_concurrency 1)
    async with bot_factory(shard_count=None) as bot:
        assert sorted(bot.shards) == [0, 1]
    assert [(i.shard, i.bucket) for i in server.identifies] == [((0, 2), 0), ((1, 2), 0)]
    assert not server.refused_identifies
    assert all(gap >= IDENTIFY_INTERVAL for gap in accepted_gaps(server))


async def test_a_restart_waits_for_the_turn_of_the_run_before(
    bot_factory: BotFactory, discord_server: LoopbackDiscord
) -> None:
    for _ in range(3):
        async with bot_factory():
            pass
    assert len(discord_server.identifies) == 3 and not discord_server.refused_identifies
    assert all(gap >= IDENTIFY_INTERVAL for gap in accepted_gaps(discord_server))


async def test_buckets_of_a_large_bot_identify_at_once(
    bot_factory: BotFactory, discord_server: LoopbackDiscord
) -> None:
    server = discord_server
    server.recommended_shards = 2
    server.max_concurrency = 2  # GET /gateway/bot says two buckets: shards 0 and 1 need not wait for each other
    async with bot_factory(shard_count=None):
        pass
    assert [(i.bucket, i.accepted) for i in server.identifies] == [(0, True), (1, True)]
    assert accepted_gaps(server)[0] < IDENTIFY_INTERVAL  # no turn was waited for
