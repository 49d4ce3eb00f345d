"""The weekly recap with the real bot, the loopback Discord and Apple (issue 18, must-show 1's recap part).

Time is injected: the bot's store and its recaps read one :class:`WeekClock` (``store_clock``), which the test moves
through a simulated week: each share and vote is recorded at its simulated time, and the recaps' wait for the end of
the week (``recap_sleep``) ends when the test moves the clock past it (no real seconds). After a move the test waits
for a look at the servers' weeks at that time to finish (:meth:`Recaps.looked`) before it asserts what was (not)
posted.
"""

from __future__ import annotations

import asyncio
import datetime
import re
import time
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from bot.app import RatingsBot
from bot.services.mixtape import playlist_name
from bot.services.recap import Recaps
from bot.services.taste import Period
from bot.services.weeks import WEEKDAYS, Week, WeeklySlot, last_week
from loopback.apple import LoopbackApple
from loopback.discord import LoopbackDiscord, Permissions
from tests.fixtures.bot import ALICE_MUT, BotFactory, free_port
from tests.fixtures.e2e import message_text, settled, share
from tests.fixtures.names import named
from tests.fixtures.storage import FakeClock

pytestmark = pytest.mark.usefixtures("no_late_callbacks")

ZONE = "Europe/Berlin"
DAY = 86_400.0


class WeekClock(FakeClock):
    """The bot's store and recaps clock: ``clock()`` is its time; a :meth:`sleep` ends when the test moves the time
    to its end or past it."""

    def __init__(self, start: float) -> None:
        super().__init__(start)
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def advance(self, seconds: float) -> float:
        self.move_to(self.now + seconds)
        return self.now

    def move_to(self, at: float) -> None:
        assert at >= self.now, "the clock only moves forward"
        self.now = at
        for end, sleeper in self._sleepers:
            if end <= at and not sleeper.done():
                sleeper.set_result(None)
        self._sleepers = [(end, s) for end, s in self._sleepers if not s.done()]

    def sleep(self, seconds: float) -> asyncio.Future[None]:
        """A future done once the clock reaches now + ``seconds`` (its end is fixed when called, not when awaited)."""
        sleeper = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + seconds, sleeper))
        return sleeper


@dataclass
class Setup:
    guild: int
    channel: int  # where songs are shared
    recap_channel: int
    admin: int
    week: Week  # the week the shares fall in
    weekday: str
    hour: int
    songs: list[str]  # shared songs, in the order the recap must list them
    named: int  # a sharer who chose to be named (alice: linked, and in the server's mixtape)
    unnamed: int  # a sharer who did not

    @property
    def week_end(self) -> float:
        return self.week.end


def week_end_after(now: float) -> datetime.datetime:
    """A week end (whole hour, Berlin time) one to two hours less than seven days after ``now``: the week that ends
    then began before ``now``, and the test's shares spread over it."""
    local = datetime.datetime.fromtimestamp(now + 7 * DAY - 3600, tz=zoneinfo.ZoneInfo(ZONE))
    return local.replace(minute=0, second=0, microsecond=0)


async def set_recap(discord: LoopbackDiscord, admin: int, channel: int, options: dict[str, Any]) -> str:
    """``/ratings-admin recap set`` by ``admin``; the ephemeral answer's words."""
    rec = await discord.send_command("ratings-admin recap set", admin, channel, options)
    callback = await discord.wait_for_callback(rec)
    assert callback.accepted
    message = await discord.wait_for_original(rec)
    assert message.ephemeral
    return message_text(message)


async def prepare(bot: RatingsBot, discord: LoopbackDiscord, apple: LoopbackApple, clock: WeekClock) -> Setup:
    """An admin sets the recap (Berlin time, the week ending in a little less than seven days); over the simulated
    week two members share six songs (one of them chose to be named, is linked and joined the mixtape); eight members
    rate them. The expected order: net likes, then likes, then the earliest share."""
    guild, channel = discord.guild_id, discord.channel_id
    recap_channel = discord.add_text_channel(guild, "weekly")
    admin = discord.add_user("admin")
    discord.add_member(guild, admin, Permissions.MEMBER_DEFAULT | Permissions.MANAGE_GUILD)
    end = week_end_after(clock.now)
    day = WEEKDAYS[end.weekday()].capitalize()
    answer = await set_recap(
        discord, admin, channel, {"channel": recap_channel, "day": day, "hour": end.hour, "time_zone": ZONE}
    )
    assert f"Every {day} at {end.hour:02d}:00 ({ZONE})" in answer and f"<#{recap_channel}>" in answer
    assert f"<t:{int(end.timestamp())}:F>" in answer
    week = last_week(guild, WeeklySlot(end.weekday(), end.hour, ZONE), end.timestamp())
    assert week.end == end.timestamp() and week.start < clock.now
    # from now on, "this week" of /ratings top is the server's week (it began at the end of the last one)
    span = await bot.svc.taste.span(guild, Period.WEEK)
    assert span.server_week and span.since == week.start

    named_id, unnamed = discord.alice_id, discord.add_user("bob the sharer")
    discord.add_member(guild, unnamed)
    assert await bot.svc.store.set_taste_named(guild, named_id, True)
    apple.add_user(ALICE_MUT)
    await bot.svc.store.link_account(named_id, ALICE_MUT, "us")
    assert (await bot.svc.mixtape.join(guild, named_id, "Test Guild")).linked
    voters = [discord.add_user(f"listener{n}") for n in range(8)]
    for voter in voters:
        discord.add_member(guild, voter)
    songs = [apple.add_song(name=f"Weekly hit {n}", artist=f"Band {n}") for n in range(6)]
    # (likes, dislikes) per song, in the order shared
    votes = [(2, 0), (5, 1), (3, 0), (5, 1), (0, 2), (4, 0)]
    reactions = 0
    step = (week.end - clock.now - 2 * 3600) / len(songs)
    for n, (song, (likes, dislikes)) in enumerate(zip(songs, votes, strict=True)):
        clock.advance(3600 if n == 0 else step)  # the shares spread over the week
        message_id = await share(bot, discord, named_id if n % 2 == 0 else unnamed, song)
        for voter in voters[:likes]:
            assert await discord.add_reaction(channel, message_id, voter, "👍")
        for voter in voters[likes : likes + dislikes]:
            assert await discord.add_reaction(channel, message_id, voter, "👎")
        reactions += likes + dislikes
    assert week.start < clock.now < week.end
    await settled(bot, reactions)
    # net 4 (6 votes, shared 2nd), net 4 (shared 4th), net 4 (4 likes), net 3, net 2, net -2
    order = [songs[1], songs[3], songs[5], songs[2], songs[0], songs[4]]
    return Setup(guild, channel, recap_channel, admin, week, day, end.hour, order, named_id, unnamed)


def recaps_in(discord: LoopbackDiscord, channel: int) -> list[Any]:
    return [m for m in discord.messages.values() if m.channel_id == channel and m.author_id == discord.bot_user_id]


#: the words of the card, in the server's language: title, the sharers' field and its value (``{named}``: the mention)
CARD_WORDS = {
    "en-US": ("This week's most liked songs", "Shared by", "{named} (3 shares) and 1 other member"),
    "de": ("Die beliebtesten Songs der Woche", "Geteilt von", "{named} (3 geteilt) und 1 weiteres Mitglied"),
}


def check_card(
    message: Any, setup: Setup, apple: LoopbackApple, discord: LoopbackDiscord, locale: str = "en-US"
) -> None:
    """The recap lists the songs in order, each linked to Apple Music, and names only the sharer who chose it; in the
    server's language (``locale``), with the week's dates in its words."""
    (embed,) = message.embeds
    title, field, value = CARD_WORDS[locale]
    assert embed["title"] == title
    lines = embed["description"].split("\n")
    assert len(lines) == len(setup.songs) - 1  # the song more disliked than liked is not among the most liked
    for n, (line, song) in enumerate(zip(lines, setup.songs[:-1], strict=True), 1):
        name = apple.catalog["songs"][song]["name"]
        assert line.startswith(f"**{n}. [{name}](https://music.apple.com/us/"), line
        assert re.search(rf"[/=]{song}\)\*\* — Band \d", line), line  # the song's own link (?i=<song> on its album)
    shared_by = embed["fields"][0]
    assert (shared_by["name"], shared_by["value"]) == (field, value.format(named=f"<@{setup.named}>"))
    zone = zoneinfo.ZoneInfo(ZONE)
    first, last = (datetime.datetime.fromtimestamp(t, tz=zone) for t in (setup.week.start, setup.week.end - 1))
    if locale == "de":  # 24.11.2026
        assert embed["footer"]["text"].startswith(f"{first:%d.%m.%Y} – {last:%d.%m.%Y} · Bewerte, was hier geteilt")
    else:  # Nov 24, 2026
        assert embed["footer"]["text"].startswith(f"{first:%b} {first.day}, {first.year} – {last:%b} {last.day},")
    # no payload of the bot names the sharer who did not choose it; the search finds the one who did
    assert not named(discord, [setup.unnamed], setup.guild)
    assert named(discord, [setup.named], setup.guild)


async def look(clock: WeekClock, at: float, *recaps: Recaps) -> None:
    """Move the clock to ``at`` and wait for a look at the servers' weeks at that time by each of ``recaps`` (woken:
    a look is made even when none is due)."""
    clock.move_to(at)
    for each in recaps:
        each.wake()
    for each in recaps:
        await each.looked(at)


def bot_with(bot_factory: BotFactory, clock: WeekClock) -> Callable[[], Any]:
    return lambda: bot_factory(store_clock=clock, recap_sleep=clock.sleep)


async def test_the_recap_is_posted_once_at_the_chosen_hour_not_before(
    bot_factory: BotFactory, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    clock = WeekClock(float(int(time.time())))
    async with bot_with(bot_factory, clock)() as bot:
        setup = await prepare(bot, discord_server, apple_server, clock)
        recaps: Recaps = bot.svc.recaps
        await look(clock, setup.week_end - 1, recaps)
        assert recaps_in(discord_server, setup.recap_channel) == []
        assert apple_server.library_playlists(ALICE_MUT) == []

        # the end of the week wakes the scheduler by itself (no wake from the test)
        clock.move_to(setup.week_end)
        await recaps.looked(setup.week_end)
        (posted,) = recaps_in(discord_server, setup.recap_channel)
        check_card(posted, setup, apple_server, discord_server)
        # the week closing ran the mixtape: the joined member's library holds the week's playlist, in the order
        await bot.svc.mixtape.worker.wait_until_drained(timeout=20)
        [playlist] = apple_server.library_playlists(ALICE_MUT)
        assert (playlist["name"], playlist["tracks"]) == (playlist_name("Test Guild", setup.week), setup.songs[:-1])
        # later looks (a week of them) post nothing more
        for hours in (1, 24, 24 * 6):
            clock.move_to(setup.week_end + hours * 3600)
            await recaps.looked(clock.now)
        assert len(recaps_in(discord_server, setup.recap_channel)) == 1
        assert recaps.posted == 1


async def test_a_restart_that_spans_the_hour_posts_the_recap_once_after_it(
    bot_factory: BotFactory, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    clock = WeekClock(float(int(time.time())))
    start = bot_with(bot_factory, clock)
    async with start() as bot:
        setup = await prepare(bot, discord_server, apple_server, clock)
        await look(clock, setup.week_end - 60, bot.svc.recaps)
    assert recaps_in(discord_server, setup.recap_channel) == []

    clock.move_to(setup.week_end + 3 * 3600)  # the bot was down when the week ended
    discord_server.guilds[setup.guild].preferred_locale = "de"  # meanwhile the server's language became German
    async with start() as bot:
        await bot.svc.recaps.looked(clock.now)
        (posted,) = recaps_in(discord_server, setup.recap_channel)
        check_card(posted, setup, apple_server, discord_server, "de")
        assert bot.svc.recaps.posted == 1
        row = await bot.svc.store.closed_week(setup.guild, setup.week.label)
        assert row is not None and row.message_id == posted.id and row.closed_at is not None

    clock.move_to(clock.now + 3600)
    async with start() as bot:
        await bot.svc.recaps.looked(clock.now)
        assert bot.svc.recaps.posted == 0
    assert len(recaps_in(discord_server, setup.recap_channel)) == 1


@pytest.mark.postgres_only
async def test_two_processes_on_one_database_post_the_recap_once(
    bot_factory: BotFactory, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    """Two bot processes (one per shard, both running the weekly recaps) on one PostgreSQL, woken at the same moment
    by the end of the week: one claims the week and posts; the other posts nothing, then or later."""
    clock = WeekClock(float(int(time.time())))
    guild_shard = (discord_server.guild_id >> 22) % 2
    port = free_port()
    other = {"WEB_PORT": str(port), "LINK_BASE_URL": f"http://127.0.0.1:{port}"}  # its own linking page
    options = {"store_clock": clock, "recap_sleep": clock.sleep, "shard_count": 2}
    async with (
        bot_factory(shard_ids=[guild_shard], **options) as first,
        bot_factory(env=other, shard_ids=[1 - guild_shard], **options) as second,
    ):
        setup = await prepare(first, discord_server, apple_server, clock)
        recaps = (first.svc.recaps, second.svc.recaps)
        assert recaps[0].worker_id != recaps[1].worker_id
        # both look just before the end: each then waits for the end of the week on the clock
        await look(clock, setup.week_end - 1, *recaps)
        assert recaps_in(discord_server, setup.recap_channel) == []

        clock.move_to(setup.week_end)  # one move ends both waits: both look at the same moment
        for each in recaps:
            await each.looked(setup.week_end)
        await first.svc.mixtape.worker.wait_until_drained(timeout=20)
        await second.svc.mixtape.worker.wait_until_drained(timeout=20)
        # the one that did not win looks again after the winner's lease: the week is closed by then
        await look(clock, setup.week_end + recaps[0].lease + 1, *recaps)
        (posted,) = recaps_in(discord_server, setup.recap_channel)
        check_card(posted, setup, apple_server, discord_server)
        posts = discord_server.requests_to("POST", rf"/channels/{setup.recap_channel}/messages$")
        assert len(posts) == 1, "one recap in the loopback Discord's record of requests"
        assert sorted(each.posted for each in recaps) == [0, 1]
        row = await second.svc.store.closed_week(setup.guild, setup.week.label)
        winner = next(each for each in recaps if each.posted)
        assert row is not None and row.claimed_by == winner.worker_id and row.message_id == posted.id
        # the week's mixtape was queued once: one playlist in the joined member's library
        assert len(apple_server.library_playlists(ALICE_MUT)) == 1


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
