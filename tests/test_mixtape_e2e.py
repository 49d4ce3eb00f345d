"""End to end, the real bot against the loopback Discord and Apple: ``/mixtape join``, a week of shares and votes,
``week_closed``, and each joined member's library after the mixtape jobs drained (must-show 2 of issue 18)."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot import applemusic as am
from bot.app import RatingsBot
from bot.services.mixtape import MixtapeWorker
from bot.services.weeks import Week
from loopback.apple import LoopbackApple
from loopback.discord import LoopbackDiscord
from tests.fixtures.bot import ALICE_MUT
from tests.fixtures.e2e import FAST_OUTBOX, eventually, message_text, settled, share

EPHEMERAL = 1 << 6
PLAYLISTS = "/v1/me/library/playlists"
DAY = 86400.0
_MESSAGES = itertools.count(10**15)

pytestmark = pytest.mark.usefixtures("no_late_callbacks")


@pytest.fixture
async def bot(fast_bot: Callable[..., Any]) -> AsyncIterator[RatingsBot]:
    async with fast_bot() as running:
        yield running


async def member(
    bot: RatingsBot, discord: LoopbackDiscord, apple: LoopbackApple, name: str, *, linked: bool = True
) -> tuple[int, str]:
    """A member of the test guild (linked: Apple knows their token and the store holds it)."""
    user = discord.alice_id if name == "alice" else discord.add_user(name)
    if name != "alice":
        discord.add_member(discord.guild_id, user)
    token = ALICE_MUT if name == "alice" else "Ag" + f"{name:_<8}"[:8] * 24
    if linked:
        apple.add_user(token)
        await bot.svc.store.link_account(user, token, "us")
    return user, token


async def command(discord: LoopbackDiscord, name: str, user: int) -> dict[str, Any]:
    rec = await discord.send_command(name, user, discord.channel_id)
    callback = await discord.wait_for_callback(rec)
    assert callback.accepted and callback.data is not None
    data: dict[str, Any] = callback.data
    return data


def bot_dms(discord: LoopbackDiscord, user: int) -> list[Any]:
    return [m for m in discord.channel_messages(discord.dm_channel(user)) if m.author_id == discord.bot_user_id]


async def vote(bot: RatingsBot, guild: int, song: str, at: float, likes: int, dislikes: int = 0) -> None:
    """A share of ``song`` in the guild at ``at`` and members' votes on it (through the store: many voters)."""
    store = bot.svc.store
    message = next(_MESSAGES)
    await store.record_share(message, guild, 1, 999, "songs", song, at)
    for n in range(likes + dislikes):
        await store.record_vote(guild, 5000 + n, "songs", song, 1 if n < likes else -1, at + 1)


@pytest.mark.both_engines
async def test_joined_members_get_the_weeks_playlist_once_and_a_stale_link_one_notice(
    bot: RatingsBot, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    alice, alice_token = await member(bot, discord_server, apple_server, "alice")
    bob, bob_token = await member(bot, discord_server, apple_server, "bob")
    carol, carol_token = await member(bot, discord_server, apple_server, "carol")
    dave, _ = await member(bot, discord_server, apple_server, "dave", linked=False)
    guild = discord_server.guild_id

    # members join; the answer is private, in plain words, and says when no playlist can be made yet
    for user in (alice, bob, carol):
        answer = await command(discord_server, "mixtape join", user)
        assert answer["flags"] & EPHEMERAL
        assert (
            "You joined the weekly mixtape of **Test Guild**" in answer["content"] and "/link" not in answer["content"]
        )
    answer = await command(discord_server, "mixtape join", dave)
    assert answer["flags"] & EPHEMERAL and "not linked yet" in answer["content"] and "/link" in answer["content"]
    assert "already in" in (await command(discord_server, "mixtape join", alice))["content"]

    # a week: one song shared with /share and liked with real reactions, others voted through the store
    now = time.time()
    week = Week(guild, now - 6 * DAY, now + DAY, "2026-W49")
    a, b, c, d, e, f, old = (apple_server.add_song() for _ in range(7))
    shared = await share(bot, discord_server, alice, a)
    for user in (alice, bob):
        await discord_server.add_reaction(discord_server.channel_id, shared, user, "👍")
    await settled(bot, 2)
    await vote(bot, guild, b, now - 5 * DAY, likes=3)  # net 3
    await vote(bot, guild, c, now - 4 * DAY, likes=3, dislikes=1)  # net 2, 3 likes: before a (net 2, 2 likes)
    await vote(bot, guild, d, now - 3 * DAY, likes=2, dislikes=1)  # net 1
    await vote(bot, guild, e, now - 2 * DAY, likes=1, dislikes=1)  # net 0: not in the mixtape
    await vote(bot, guild, f, now - 2 * DAY, likes=0, dislikes=2)  # disliked: not in the mixtape
    await vote(bot, guild, old, now - 9 * DAY, likes=9)  # shared the week before
    apple_server.revoke(carol_token)  # Apple stopped accepting carol's link

    assert await bot.svc.mixtape.week_closed(week) == 4
    await bot.svc.mixtape.worker.wait_until_drained(timeout=20)
    name = "Test Guild — 2026-W49"
    for token in (alice_token, bob_token):
        [playlist] = apple_server.library_playlists(token)
        assert (playlist["name"], playlist["tracks"]) == (name, [b, c, a, d])
    assert apple_server.library_playlists(carol_token) == []
    # carol: one notice, in plain words, with the button to link again; her link is stale now
    notice = await eventually(lambda: bot_dms(discord_server, carol), what="carol's notice")
    assert "Your mixtape was not made" in message_text(notice[0]) and name in message_text(notice[0])
    assert notice[0].components, "a Link button"
    assert not (await bot.svc.store.get_account(carol)).is_active  # type: ignore[union-attr]
    # dave, not linked: skipped without a word
    assert bot_dms(discord_server, dave) == []

    # the week closes again (a second scheduler run): nothing more is made, nobody is told twice
    assert await bot.svc.mixtape.week_closed(week) == 0
    await bot.svc.mixtape.worker.wait_until_drained(timeout=20)
    assert [len(apple_server.library_playlists(t)) for t in (alice_token, bob_token)] == [1, 1]
    assert apple_server.count("POST", PLAYLISTS) == 3  # alice, bob, and carol's refused try
    assert len(bot_dms(discord_server, carol)) == 1

    # leaving stops next week's playlist; /unlink deletes the membership too
    assert "You left" in (await command(discord_server, "mixtape leave", bob))["content"]
    await command(discord_server, "unlink", alice)
    assert [m.user_id for m in await bot.svc.store.mixtape_members(guild)] == [carol, dave]


async def test_a_create_whose_answer_was_lost_is_found_in_the_library_not_made_twice(
    bot: RatingsBot, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    alice, token = await member(bot, discord_server, apple_server, "alice")
    await command(discord_server, "mixtape join", alice)
    now = time.time()
    song = apple_server.add_song()
    await vote(bot, discord_server.guild_id, song, now - DAY, likes=2)
    week = Week(discord_server.guild_id, now - 6 * DAY, now + DAY, "2026-W50")
    # Apple makes the playlist but its answer is lost (a gateway timeout): the client does not send it again, and
    # the job's next try finds the playlist in the library
    apple_server.lose_answer_next(1, 504, path_contains=PLAYLISTS)
    assert await bot.svc.mixtape.week_closed(week) == 1
    await bot.svc.mixtape.worker.wait_until_drained(timeout=20)
    assert apple_server.count("POST", PLAYLISTS) == 1
    [playlist] = apple_server.library_playlists(token)
    [job] = await bot.svc.store.mixtape_jobs(discord_server.guild_id)
    assert job.playlist_id == playlist["id"] and job.attempts >= 1
    searches = [r for r in apple_server.requests if r.method == "GET" and r.path == PLAYLISTS]
    assert searches, "the retry looked in the library before creating"


async def test_commands_are_served_ahead_of_queued_mixtape_requests(
    bot_factory: Callable[..., Any], discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    # Apple at 4 requests a second, one at a time: the mixtape's creates queue in the pacer
    pacer = am.AdaptivePacer(4.0, start=4.0, floor=4.0, reserve=0.0)
    async with bot_factory(apple_pacer=pacer, env={"MIXTAPE_CONCURRENCY": "8"}) as bot:
        alice, _ = await member(bot, discord_server, apple_server, "alice")
        others = [(await member(bot, discord_server, apple_server, f"m{n}"))[0] for n in range(7)]
        for user in (alice, *others):
            await bot.svc.mixtape.join(discord_server.guild_id, user, "Test Guild")
        now = time.time()
        song = apple_server.add_song()
        await vote(bot, discord_server.guild_id, song, now - DAY, likes=3)
        assert await bot.svc.mixtape.week_closed(Week(discord_server.guild_id, now - 6 * DAY, now + DAY, "W")) == 8
        await eventually(lambda: pacer.waiting >= 5, what="mixtape creates waiting for their turn")
        waiting, sent = pacer.waiting, len(apple_server.requests)
        rec = await discord_server.send_command("rating show", alice, discord_server.channel_id, {"item": song})
        assert (await discord_server.wait_for_callback(rec)).accepted
        await bot.svc.mixtape.worker.wait_until_drained(timeout=30)
        after = [(r.method, r.path) for r in apple_server.requests[sent:]]
        first_command = next(i for i, (method, _) in enumerate(after) if method == "GET")
        # at most the one create already given its turn went first; the waiting ones all went after the command
        assert first_command <= 1
        assert [m for m, p in after[first_command:]].count("POST") >= waiting - 1
        assert apple_server.count("POST", PLAYLISTS) == 8


@pytest.mark.both_engines
async def test_two_workers_on_one_database_make_each_playlist_once(
    bot: RatingsBot, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    """A second process's worker (its own claims, on the same database) and the bot's share the week's jobs."""
    members = [await member(bot, discord_server, apple_server, f"w{n}") for n in range(12)]
    for user, _ in members:
        await bot.svc.mixtape.join(discord_server.guild_id, user, "Test Guild")
    other = MixtapeWorker(bot.svc.store, bot.svc.apple, Quiet(), FAST_OUTBOX, worker_id="other-process")
    await other.start()
    try:
        now = time.time()
        songs = [apple_server.add_song() for _ in range(3)]
        for n, song in enumerate(songs):
            await vote(bot, discord_server.guild_id, song, now - DAY, likes=5 - n)
        week = Week(discord_server.guild_id, now - 6 * DAY, now + DAY, "2026-W51")
        assert await bot.svc.mixtape.week_closed(week) == 12
        other.wake()
        assert await bot.svc.mixtape.week_closed(week) == 0  # the scheduler ran twice
        await bot.svc.mixtape.worker.wait_until_drained(timeout=20)
        await other.wait_until_drained(timeout=20)
    finally:
        await other.stop()
    for _, token in members:
        [playlist] = apple_server.library_playlists(token)
        assert playlist["tracks"] == songs
    assert bot.svc.mixtape.worker.applied + other.applied == 12
    assert apple_server.count("POST", PLAYLISTS) == 12


class Quiet:
    async def notify(self, user_id: int, notice: object) -> bool:
        return True
