"""The weekly recap with the real bot, the loopback Discord and Apple (issue 18, must-show 1's recap part).

The recaps' time is injected: every bot of a test shares one :class:`WeekClock`, which the test moves (a sleep on it
ends when the test moves the clock past its end: no real seconds). Shares and votes are recorded at the real time
(``time.time``), so the server's week is chosen to end an hour or two after the test starts; the test then moves
the recaps' clock to just before that end, and to it, and waits for a look at the servers' weeks to finish
(:meth:`Recaps.looked`) before asserting what was (not) posted.
"""

from __future__ import annotations

import asyncio
import datetime
import re
import time
import zoneinfo
from dataclasses import dataclass
from typing import Any

import pytest

from bot.app import RatingsBot
from bot.services.recap import Recaps
from bot.services.weeks import WEEKDAYS
from loopback.apple import LoopbackApple
from loopback.discord import LoopbackDiscord, Permissions
from tests.fixtures.bot import BotFactory
from tests.fixtures.e2e import message_text, settled, share

pytestmark = pytest.mark.usefixtures("no_late_callbacks")

ZONE = "Europe/Berlin"


class WeekClock:
    """The recaps' clock: ``clock()`` is its time; :meth:`sleep` ends when the test moves the time past its end."""

    def __init__(self, start: float) -> None:
        self.now = start
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def __call__(self) -> float:
        return self.now

    def move_to(self, at: float) -> None:
        assert at >= self.now, "the clock only moves forward"
        self.now = at
        for end, sleeper in self._sleepers:
            if end <= at and not sleeper.done():
                sleeper.set_result(None)
        self._sleepers = [(end, s) for end, s in self._sleepers if not s.done()]

    async def sleep(self, seconds: float) -> None:
        sleeper = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + seconds, sleeper))
        await sleeper


@dataclass
class Setup:
    guild: int
    channel: int  # where songs are shared
    recap_channel: int
    admin: int
    week_end: float  # the end of the week the shares fall in (epoch seconds)
    weekday: str
    hour: int
    songs: list[str]  # shared songs, in the order the recap must list them
    named: int  # a sharer who chose to be named
    unnamed: int  # a sharer who did not


def week_end_after(now: float) -> datetime.datetime:
    """A week end (whole hour, Berlin time) one to two hours after ``now``: the test's shares are made before it."""
    local = datetime.datetime.fromtimestamp(now + 7200, tz=zoneinfo.ZoneInfo(ZONE))
    return local.replace(minute=0, second=0, microsecond=0)


async def set_recap(discord: LoopbackDiscord, admin: int, channel: int, options: dict[str, Any]) -> str:
    """``/ratings-admin recap set`` by ``admin``; the ephemeral answer's words."""
    rec = await discord.send_command("ratings-admin recap set", admin, channel, options)
    callback = await discord.wait_for_callback(rec)
    assert callback.accepted
    message = await discord.wait_for_original(rec)
    assert message.ephemeral
    return message_text(message)


async def prepare(bot: RatingsBot, discord: LoopbackDiscord, apple: LoopbackApple) -> Setup:
    """An admin sets the recap (Berlin time, the week ending one to two hours from now); two members share six songs
    (one of them chose to be named); eight members rate them. The expected order: net likes, then likes, then the
    earliest share."""
    guild, channel = discord.guild_id, discord.channel_id
    recap_channel = discord.add_text_channel(guild, "weekly")
    admin = discord.add_user("admin")
    discord.add_member(guild, admin, Permissions.MEMBER_DEFAULT | Permissions.MANAGE_GUILD)
    end = week_end_after(time.time())
    day = WEEKDAYS[end.weekday()].capitalize()
    answer = await set_recap(
        discord, admin, channel, {"channel": recap_channel, "day": day, "hour": end.hour, "time_zone": ZONE}
    )
    assert f"Every {day} at {end.hour:02d}:00 ({ZONE})" in answer and f"<#{recap_channel}>" in answer
    assert f"<t:{int(end.timestamp())}:F>" in answer

    named, unnamed = discord.alice_id, discord.add_user("bob the sharer")
    discord.add_member(guild, unnamed)
    assert await bot.svc.store.set_taste_named(guild, named, True)
    voters = [discord.add_user(f"listener{n}") for n in range(8)]
    for voter in voters:
        discord.add_member(guild, voter)
    songs = [apple.add_song(name=f"Weekly hit {n}", artist=f"Band {n}") for n in range(6)]
    # (likes, dislikes) per song, in the order shared
    votes = [(2, 0), (5, 1), (3, 0), (5, 1), (0, 2), (4, 0)]
    reactions = 0
    for n, (song, (likes, dislikes)) in enumerate(zip(songs, votes, strict=True)):
        message_id = await share(bot, discord, named if n % 2 == 0 else unnamed, song)
        for voter in voters[:likes]:
            assert await discord.add_reaction(channel, message_id, voter, "👍")
        for voter in voters[likes : likes + dislikes]:
            assert await discord.add_reaction(channel, message_id, voter, "👎")
        reactions += likes + dislikes
    await settled(bot, reactions)
    # net 4 (6 votes, shared 2nd), net 4 (shared 4th), net 4 (4 likes), net 3, net 2, net -2
    order = [songs[1], songs[3], songs[5], songs[2], songs[0], songs[4]]
    return Setup(guild, channel, recap_channel, admin, end.timestamp(), day, end.hour, order, named, unnamed)


def recaps_in(discord: LoopbackDiscord, channel: int) -> list[Any]:
    return [m for m in discord.messages.values() if m.channel_id == channel and m.author_id == discord.bot_user_id]


def check_card(message: Any, setup: Setup, apple: LoopbackApple, discord: LoopbackDiscord) -> None:
    """The recap lists the songs in order, each linked to Apple Music, and names only the sharer who chose it."""
    (embed,) = message.embeds
    assert embed["title"] == "This week's most liked songs"
    lines = embed["description"].split("\n")
    assert len(lines) == len(setup.songs) - 1  # the song more disliked than liked is not among the most liked
    for n, (line, song) in enumerate(zip(lines, setup.songs[:-1], strict=True), 1):
        name = apple.catalog["songs"][song]["attributes"]["name"]
        assert line.startswith(f"**{n}. [{name}](https://music.apple.com/us/song/")
        assert re.search(rf"/{song}\)\*\*", line), line
    shared_by = embed["fields"][0]
    assert shared_by["name"] == "Shared by"
    assert shared_by["value"] == f"<@{setup.named}> (3 shares) and 1 other member"
    for text in (message.content, str(message.embeds)):
        assert str(setup.unnamed) not in text
        assert "bob" not in text


async def test_the_recap_is_posted_once_at_the_chosen_hour_not_before(
    bot_factory: BotFactory, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    clock = WeekClock(time.time())
    async with bot_factory(recap_clock=clock, recap_sleep=clock.sleep) as bot:
        setup = await prepare(bot, discord_server, apple_server)
        recaps: Recaps = bot.svc.recaps
        clock.move_to(setup.week_end - 1)
        await recaps.looked(setup.week_end - 1)
        assert recaps_in(discord_server, setup.recap_channel) == []

        clock.move_to(setup.week_end)
        await recaps.looked(setup.week_end)
        (posted,) = recaps_in(discord_server, setup.recap_channel)
        check_card(posted, setup, apple_server, discord_server)
        # later looks (a week of them) post nothing more
        for hours in (1, 24, 24 * 6):
            clock.move_to(setup.week_end + hours * 3600)
            await recaps.looked(clock.now)
        assert len(recaps_in(discord_server, setup.recap_channel)) == 1
        assert recaps.posted == 1


async def test_a_restart_that_spans_the_hour_posts_the_recap_once_after_it(
    bot_factory: BotFactory, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    clock = WeekClock(time.time())
    async with bot_factory(recap_clock=clock, recap_sleep=clock.sleep) as bot:
        setup = await prepare(bot, discord_server, apple_server)
        clock.move_to(setup.week_end - 60)
        await bot.svc.recaps.looked(clock.now)
    assert recaps_in(discord_server, setup.recap_channel) == []

    clock.move_to(setup.week_end + 3 * 3600)  # the bot was down when the week ended
    async with bot_factory(recap_clock=clock, recap_sleep=clock.sleep) as bot:
        await bot.svc.recaps.looked(clock.now)
        (posted,) = recaps_in(discord_server, setup.recap_channel)
        check_card(posted, setup, apple_server, discord_server)
        row = await bot.svc.store.closed_week(setup.guild, bot.svc.recaps.posted and last_label(bot, setup))
        assert row is not None and row.message_id == posted.id and row.closed_at is not None

    clock.move_to(clock.now + 3600)
    async with bot_factory(recap_clock=clock, recap_sleep=clock.sleep) as bot:
        await bot.svc.recaps.looked(clock.now)
        assert bot.svc.recaps.posted == 0
    assert len(recaps_in(discord_server, setup.recap_channel)) == 1


def last_label(bot: RatingsBot, setup: Setup) -> str:
    from bot.services.weeks import WeeklySlot, last_week

    return last_week(
        setup.guild, WeeklySlot(WEEKDAYS.index(setup.weekday.lower()), setup.hour, ZONE), setup.week_end
    ).label


async def test_recap_settings_need_manage_server_in_the_handler_and_say_what_is_wrong(
    running_bot: RatingsBot, discord_server: LoopbackDiscord
) -> None:
    guild, channel = discord_server.guild_id, discord_server.channel_id
    mallory = discord_server.add_user("mallory")
    discord_server.add_member(guild, mallory)
    command = discord_server.find_command("ratings-admin", guild_id=guild)
    assert command is not None
    # the server's admins let everyone use /ratings-admin: the handler still asks for Manage Server
    discord_server.set_command_permissions(
        guild, int(command["id"]), [{"id": str(guild), "type": 1, "permission": True}]
    )
    options = {"channel": channel, "day": "Sunday", "hour": 18, "time_zone": "Europe/Berlin"}
    for name, opts in (("ratings-admin recap set", options), ("ratings-admin recap off", {})):
        rec = await discord_server.send_command(name, mallory, channel, opts)
        message = await discord_server.wait_for_original(rec)
        assert message.ephemeral
        assert "You need the Manage Server permission in this server to do that" in message_text(message)
    assert await running_bot.svc.store.recap_settings(guild) is None

    admin = discord_server.add_user("admin")
    discord_server.add_member(guild, admin, Permissions.MEMBER_DEFAULT | Permissions.MANAGE_GUILD)
    answer = await set_recap(discord_server, admin, channel, {**options, "time_zone": "Mars/Olympus_Mons"})
    assert "“Mars/Olympus\\_Mons” is not a time zone I know" in answer and "Nothing was changed" in answer
    answer = await set_recap(discord_server, admin, channel, {**options, "time_zone": "../../etc/passwd"})
    assert "is not a time zone I know" in answer
    answer = await set_recap(discord_server, admin, channel, {**options, "hour": 24})  # an older registration
    assert "The hour is a whole hour from 0 to 23" in answer
    assert await running_bot.svc.store.recap_settings(guild) is None

    answer = await set_recap(discord_server, admin, channel, options)
    assert "Every Sunday at 18:00 (Europe/Berlin)" in answer
    saved = await running_bot.svc.store.recap_settings(guild)
    assert saved is not None and (saved.channel_id, saved.weekday, saved.hour, saved.timezone) == (
        channel,
        6,
        18,
        "Europe/Berlin",
    )
    rec = await discord_server.send_command("ratings-admin recap off", admin, channel, {})
    assert "The weekly recap is off" in message_text(await discord_server.wait_for_original(rec))
    saved = await running_bot.svc.store.recap_settings(guild)
    assert saved is not None and saved.channel_id is None and saved.timezone == "Europe/Berlin"

    rec = await discord_server.send_autocomplete(
        "ratings-admin recap set", admin, channel, {**options, "time_zone": "berl"}, "time_zone"
    )
    callback = await discord_server.wait_for_callback(rec)
    assert callback.data is not None
    assert [c["value"] for c in callback.data["choices"]] == ["Europe/Berlin"]
