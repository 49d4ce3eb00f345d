"""Storms: many users reacting on many shared posts while Apple answers 429 and 500 to a share of requests.

At the end Apple's state must equal, for every user and item, the intent of their last action, where
adding 👍/👎 sets like/dislike and removing the reaction that matches the current intent clears it.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.app import RatingsBot
from bot.applemusic import AdaptivePacer
from bot.services.outbox import OutboxConfig
from loopback.apple import LoopbackApple
from loopback.discord import LoopbackDiscord
from tests.fixtures.e2e import RATINGS, eventually, handled, share

#: the outbox under a storm: every test here runs on both engines
pytestmark = pytest.mark.both_engines

USERS = 50
MESSAGES = 20
STORM_OUTBOX = OutboxConfig(debounce=0.2, max_delay=1.0, poll_interval=0.2, retry_base=0.05, retry_max=0.4, lease=15.0)
VALUE = {"👍": 1, "👎": -1}


@dataclass
class World:
    users: list[tuple[int, str]]  # (discord id, music user token)
    messages: list[tuple[int, str]]  # (message id, song id)
    visible: dict[tuple[int, int], set[str]] = field(default_factory=dict)  # (user, message) -> emojis shown
    intent: dict[tuple[int, int], int] = field(default_factory=dict)  # (user, message) -> 1 / -1 / 0
    sent: int = 0  # reaction events the bot must handle


async def make_world(bot: RatingsBot, discord: LoopbackDiscord, apple: LoopbackApple) -> World:
    users = []
    for n in range(USERS):
        uid = discord.add_user(f"listener{n}")
        discord.add_member(discord.guild_id, uid)
        token = f"Ag{n:02d}" + "StormMut" * 24
        apple.add_user(token)
        await bot.svc.store.link_account(uid, token, "us")
        users.append((uid, token))
    messages = []
    for _ in range(MESSAGES):
        song = apple.add_song()
        messages.append((await share(bot, discord, users[0][0], song), song))
    return World(users, messages)


async def act(world: World, discord: LoopbackDiscord, rng: random.Random, *, toggle: bool) -> None:
    """One random action by a random user on a random post, applied to Discord and to the model.

    ``toggle``: users never show both reactions (switching removes the other one first, as most people do).
    """
    uid, _ = rng.choice(world.users)
    mid, _ = rng.choice(world.messages)
    key = (uid, mid)
    shown = world.visible.setdefault(key, set())
    choices = [("add", e) for e in VALUE if e not in shown] + [("remove", e) for e in shown]
    op, emoji = rng.choice(choices)
    ch = discord.channel_id
    if op == "add":
        if toggle:
            for other in list(shown):
                await remove(world, discord, uid, mid, other)
        assert await discord.add_reaction(ch, mid, uid, emoji)
        shown.add(emoji)
        world.intent[key] = VALUE[emoji]
        world.sent += 1
    else:
        await remove(world, discord, uid, mid, emoji)


async def remove(world: World, discord: LoopbackDiscord, uid: int, mid: int, emoji: str) -> None:
    key = (uid, mid)
    assert await discord.remove_reaction(discord.channel_id, mid, uid, emoji)
    world.visible[key].discard(emoji)
    if world.intent.get(key) == VALUE[emoji]:
        world.intent[key] = 0
    world.sent += 1


@contextlib.contextmanager
def flaky_apple(apple: LoopbackApple, seed: int) -> Iterator[None]:
    """While inside: a fifth of Apple's answers are 429 or 500, drawn per request from a seeded generator."""
    apple.inject_faults(0.2, (429, 500), seed=seed)
    try:
        yield
    finally:
        apple.stop_faults()


def failures(apple: LoopbackApple) -> int:
    return sum(1 for r in apple.requests if r.status in (429, 500))


async def settle_and_check(bot: RatingsBot, world: World, apple: LoopbackApple, handled_before: int = 0) -> None:
    await eventually(lambda: handled(bot) >= world.sent - handled_before, timeout=20, what="every reaction handled")
    assert bot.svc.outbox is not None
    await bot.svc.outbox.wait_until_drained(timeout=20)
    wrong = []
    for (uid, mid), value in world.intent.items():
        token = next(t for u, t in world.users if u == uid)
        song = next(s for m, s in world.messages if m == mid)
        want = value if value in (1, -1) else None
        have = apple.rating(token, "songs", song)
        if have != want:
            wrong.append((uid, song, want, have))
    assert not wrong, f"{len(wrong)} ratings differ from the last action: {wrong[:5]}"


def successful_writes(apple: LoopbackApple) -> int:
    return sum(
        1
        for r in apple.requests
        if r.method in ("PUT", "DELETE") and r.path.startswith(RATINGS) and r.status in (200, 204, 404)
    )


@pytest.fixture
def storm_bot(bot_factory: Callable[..., contextlib.AbstractAsyncContextManager[RatingsBot]]) -> Callable[..., Any]:
    def start() -> contextlib.AbstractAsyncContextManager[RatingsBot]:
        # The injected 429s are random faults, not a rate limit: a learning pacer would rightly slow down to its
        # floor and pause after each under a fifth of 429s; the storm is about correctness, not pace: this one neither
        # pauses nor goes under 200/s.
        return bot_factory(outbox_config=STORM_OUTBOX, apple_pacer=AdaptivePacer(start=200, floor=200, pause=0))

    return start


async def test_storm_under_429_and_500_ends_in_the_intended_state(
    storm_bot: Callable[..., Any], discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    rng = random.Random(20240611)
    async with storm_bot() as bot:
        world = await make_world(bot, discord_server, apple_server)
        with flaky_apple(apple_server, seed=1):
            for _ in range(1200):
                await act(world, discord_server, rng, toggle=False)
            await settle_and_check(bot, world, apple_server)
    assert failures(apple_server) > 20, "the storm really met 429s and 500s"
    assert successful_writes(apple_server) < world.sent, "bursts were coalesced"


async def test_storm_with_a_restart_in_the_middle_loses_nothing_and_doubles_nothing(
    storm_bot: Callable[..., Any], discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    rng = random.Random(777)
    async with storm_bot() as first:
        world = await make_world(first, discord_server, apple_server)
        with flaky_apple(apple_server, seed=2):
            for _ in range(600):
                await act(world, discord_server, rng, toggle=True)
            # every reaction was received and queued; the bot stops with writes queued and in flight
            await eventually(lambda: handled(first) >= world.sent, timeout=20, what="first half handled")
            assert first.svc.outbox is not None
            pending_at_stop = await first.svc.store.outbox_size()
    assert pending_at_stop > 0, "the restart happened with work still queued"
    sent_before = world.sent
    async with storm_bot() as second:
        with flaky_apple(apple_server, seed=3):
            for _ in range(600):
                await act(world, discord_server, rng, toggle=True)
            await settle_and_check(second, world, apple_server, handled_before=sent_before)
        assert await second.svc.store.outbox_size() == 0
    assert failures(apple_server) > 20
    assert successful_writes(apple_server) < world.sent, "nothing was applied more often than asked"
