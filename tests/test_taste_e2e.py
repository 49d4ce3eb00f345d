"""End to end: a server's taste (issue 18) with the real bot, the loopback Discord and Apple.

* must-show 1 (``/ratings top``): 30 members react 👍/👎 on 40 songs shared over a simulated week (the store's clock
  is injected: each share and vote happens at its simulated time); the top lists exactly the order the test computes
  from the votes it made (net, then likes, then the earliest share), with the right counts; the channel filter and
  "all time" too.
* must-show 3: no output of the bot names a member who did not choose to be named (a search of every payload).
* ``/ratings match``: exact agreement for seeded votes; a refusal says nothing about the other member.
* Like / Dislike on a public ``/share`` card are the presser's vote in the server.
* ``/privacy`` says whether the member is named here; ``/export`` holds their shares, votes and choice.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from bot import errors as e
from bot.app import RatingsBot
from bot.services.taste import Period
from bot.ui.errors import MESSAGES, describe_error
from loopback.apple import LoopbackApple
from loopback.discord import LoopbackDiscord
from tests.fixtures.bot import ALICE_MUT
from tests.fixtures.e2e import buttons, eventually, settled, share
from tests.fixtures.names import named
from tests.fixtures.storage import FakeClock

pytestmark = pytest.mark.usefixtures("no_late_callbacks")

DAY = 86_400.0
EPHEMERAL = 1 << 6
ENTRY = re.compile(r"^\*\*(\d+)\.\*\* \[(.+?)\]\((\S+?)\)(?: — .*)?$")
COUNTS = re.compile(r"^👍 (\d+) · 👎 (\d+) · shared by (.+)$")


@dataclass
class Shared:
    song: str
    name: str
    channel_id: int
    sharer: int
    at: float
    likes: int = 0
    dislikes: int = 0

    @property
    def net(self) -> int:
        return self.likes - self.dislikes


@dataclass(frozen=True)
class Row:
    rank: int
    name: str
    url: str
    likes: int
    dislikes: int
    by: str


def expected_order(shares: list[Shared], *, limit: int = 10) -> list[Shared]:
    """The top computed from the test's own record of the votes: net, then likes, then the earliest share."""
    voted = [s for s in shares if s.likes or s.dislikes]
    return sorted(voted, key=lambda s: (-s.net, -s.likes, s.at))[:limit]


def rows_of(embed: dict[str, Any]) -> list[Row]:
    if str(embed["description"]).startswith("Nothing shared here"):
        return []
    lines = [line for line in str(embed["description"]).splitlines() if not line.startswith("Shared in")]
    rows = []
    for head, counts in zip(lines[::2], lines[1::2], strict=True):
        entry, count = ENTRY.match(head), COUNTS.match(counts)
        assert entry is not None and count is not None, (head, counts)
        rows.append(Row(int(entry[1]), entry[2], entry[3], int(count[1]), int(count[2]), count[3]))
    return rows


async def command(
    discord: LoopbackDiscord, name: str, user_id: int, options: dict[str, Any] | None = None, **kwargs: Any
) -> tuple[Any, dict[str, Any]]:
    """Run a command; (its callback, the embed it answered with: the deferred answer's edit, or the message)."""
    rec = await discord.send_command(name, user_id, kwargs.get("channel_id", discord.channel_id), options or {})
    callback = await discord.wait_for_callback(rec)
    assert callback.accepted, callback
    if callback.type == 5:
        edit = await discord.wait_for_original_edit(rec)
        return callback, edit["embeds"][0]
    assert callback.data is not None
    return callback, (callback.data.get("embeds") or [{"description": callback.data.get("content", "")}])[0]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(float(int(time.time())))


@pytest.fixture
async def bot(fast_bot: Callable[..., Any], clock: FakeClock) -> AsyncIterator[RatingsBot]:
    async with fast_bot(store_clock=clock) as running:
        yield running


def add_members(discord: LoopbackDiscord, count: int, prefix: str = "member") -> list[int]:
    members = [discord.add_user(f"{prefix}{n:02d}") for n in range(count)]
    for member in members:
        discord.add_member(discord.guild_id, member)
    return members


# ---------------------------------------------------------------------------------------------- must-show 1


@pytest.mark.both_engines
async def test_top_of_a_simulated_week_lists_the_order_computed_from_the_votes(
    bot: RatingsBot, discord_server: LoopbackDiscord, apple_server: LoopbackApple, clock: FakeClock
) -> None:
    rng = random.Random(1818)
    guild, main = discord_server.guild_id, discord_server.channel_id
    second = discord_server.add_text_channel(guild, "music-2")
    members = add_members(discord_server, 30)
    start = clock.now
    now = start + 10 * DAY  # when the tops are asked for: the week is (now - 7 days, now]
    # 5 songs shared before the week, then 40 spread over it, in two channels
    times = [start + n * 0.4 * DAY for n in range(5)]
    times += [now - 7 * DAY + DAY / 24 + n * (7 * DAY - DAY / 12) / 40 for n in range(40)]
    shares: list[Shared] = []
    reactions = 0
    for n, at in enumerate(times):
        clock.now = at
        name = f"Song {n:02d}"
        song = apple_server.add_song(name=name, artist="Weekly Artist")
        channel = main if n % 2 == 0 else second
        sharer = members[rng.randrange(len(members))]
        mid = await share(bot, discord_server, sharer, song, channel_id=channel)
        shared = Shared(song, name, channel, sharer, at)
        shares.append(shared)
        for member in members:  # every member's vote, as the seeded generator decides
            roll = rng.random()
            if roll < 0.45:
                await discord_server.add_reaction(channel, mid, member, "👍")
                shared.likes += 1
                reactions += 1
            elif roll < 0.7:
                await discord_server.add_reaction(channel, mid, member, "👎")
                shared.dislikes += 1
                reactions += 1
            elif roll < 0.75:  # liked, then changed their mind: no vote
                await discord_server.add_reaction(channel, mid, member, "👍")
                await discord_server.remove_reaction(channel, mid, member, "👍")
                reactions += 2
        clock.advance(60.0)  # the votes came within a minute of the share
    await settled(bot, reactions, timeout=60.0)
    clock.now = now
    week = shares[5:]

    async def top(options: dict[str, Any]) -> list[Row]:
        callback, embed = await command(discord_server, "ratings top", members[0], options)
        assert callback.data is not None and callback.data["flags"] & EPHEMERAL, "only the asker sees it by default"
        return rows_of(embed)

    def check(rows: list[Row], expected: list[Shared]) -> None:
        assert [r.name for r in rows] == [s.name for s in expected]
        assert [(r.likes, r.dislikes) for r in rows] == [(s.likes, s.dislikes) for s in expected]
        assert [r.rank for r in rows] == list(range(1, len(expected) + 1))
        for row, shared in zip(rows, expected, strict=True):  # linked to Apple Music, in the asker's country
            assert row.url.startswith("https://music.apple.com/us/") and row.url.endswith(shared.song), row.url
        assert {r.by for r in rows} == {"a member"}, "nobody chose to be named"

    expected = expected_order(week)
    assert len(expected) == 10 and len({(s.net, s.likes) for s in expected}) < 10, "ties are part of the test"
    check(await top({"period": "week"}), expected)
    check(await top({}), expected)  # this week is the default
    check(await top({"period": "week", "channel": second}), expected_order([s for s in week if s.channel_id == second]))
    everything = expected_order(shares)
    assert set(s.name for s in everything) & {s.name for s in shares[:5]}, "all time reaches the older shares"
    check(await top({"period": "all"}), everything)
    check(await top({"period": "month", "kind": "songs"}), everything)
    assert await top({"period": "week", "kind": "albums"}) == []


async def test_an_empty_server_gets_a_friendly_answer(bot: RatingsBot, discord_server: LoopbackDiscord) -> None:
    _, embed = await command(discord_server, "ratings top", discord_server.alice_id, {"period": "month"})
    assert embed["title"] == "Most liked shares this month"
    assert embed["description"].startswith("Nothing shared here this month has a 👍 or 👎 yet.")


# ---------------------------------------------------------------------------------------------- match


async def test_match_counts_agreement_exactly_and_lists_songs_both_love(
    bot: RatingsBot, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    store, guild = bot.svc.store, discord_server.guild_id
    me, other, third = add_members(discord_server, 3, "matcher")
    songs = [apple_server.add_song(name=f"Match {n:02d}") for n in range(30)]
    rng = random.Random(77)
    votes: dict[int, dict[str, int]] = {me: {}, other: {}, third: {}}
    for song in songs:
        for member in (me, other, third):
            if rng.random() < 0.9:
                value = rng.choice((1, 1, -1))
                votes[member][song] = value
                await store.record_vote(guild, member, "songs", song, value)
    await store.record_vote(discord_server.guild_id + 1, other, "songs", songs[0], -votes[me].get(songs[0], 1))
    for member in (me, other):
        await command(discord_server, "ratings name-me", member, {"setting": "on"})

    common = votes[me].keys() & votes[other].keys()
    agree = sum(1 for s in common if votes[me][s] == votes[other][s])
    loved = sorted(s for s in common if votes[me][s] == votes[other][s] == 1)
    assert len(common) >= 3 and agree < len(common) and len(loved) > 5

    _, embed = await command(discord_server, "ratings match", me, {"member": other})
    lines = embed["description"].splitlines()
    assert lines[0] == (
        f"You and <@{other}> agree on **{agree} of the {len(common)}** items you both voted on here "
        f"(**{round(100 * agree / len(common))}%**)."
    )
    assert lines[2] == "Songs you both love:"
    names = [re.match(r"^• \[(.+?)\]\((\S+)\)", line) for line in lines[3:]]
    assert all(names) and len(names) == 5
    assert all(m is not None and m[2].endswith(tuple(loved)) for m in names)

    # fewer than 3 items in common: not enough yet
    few = add_members(discord_server, 1, "newcomer")[0]
    await command(discord_server, "ratings name-me", few, {"setting": "on"})
    await store.record_vote(guild, few, "songs", songs[0], 1)
    _, embed = await command(discord_server, "ratings match", me, {"member": few})
    expected_common = 1 if songs[0] in votes[me] else 0
    assert embed["description"].startswith(f"You and <@{few}> have both voted on {expected_common} ")
    assert "not enough yet to compare (it takes 3)" in embed["description"]


async def test_a_match_refusal_reveals_nothing_about_the_other_member(
    bot: RatingsBot, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    store, guild = bot.svc.store, discord_server.guild_id
    me, quiet = add_members(discord_server, 2, "asker")
    song = apple_server.add_song(name="Secret")
    await command(discord_server, "ratings name-me", me, {"setting": "on"})
    before = len(discord_server.requests)
    _, no_votes = await command(discord_server, "ratings match", me, {"member": quiet})
    for value in (1, -1, 1):
        await store.record_vote(guild, quiet, "songs", song, value)
        await store.record_vote(guild, me, "songs", song, value)
    _, with_votes = await command(discord_server, "ratings match", me, {"member": quiet})
    assert no_votes == with_votes, "the answer is the same whatever the other member's votes"
    assert MESSAGES[e.MemberNotNamed] in with_votes["description"]
    assert not named(discord_server, [quiet]), "the other member is not named"
    assert len(discord_server.requests) > before

    # the caller who did not choose to be named is told how to
    _, embed = await command(discord_server, "ratings match", quiet, {"member": me})
    assert "`/ratings name-me setting:on`" in embed["description"]
    _, embed = await command(discord_server, "ratings match", me, {"member": me})
    assert embed["description"].endswith(str(MESSAGES[e.MatchWithSelf]))


# ---------------------------------------------------------------------------------------------- buttons


async def test_like_and_dislike_on_a_public_share_card_are_the_pressers_vote(
    bot: RatingsBot, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    guild, channel = discord_server.guild_id, discord_server.channel_id
    apple_server.add_user(ALICE_MUT, storefront="us")
    alice = discord_server.alice_id
    await bot.svc.store.link_account(alice, ALICE_MUT, "us")
    await bot.svc.sharing.set_share_buttons(guild, True)
    song = apple_server.add_song(name="Pressed")
    mid = await share(bot, discord_server, alice, song)
    # (the card's "Listen on other services" is a link button, without a custom id)
    assert [b["custom_id"] for b in buttons(discord_server.messages[mid].components) if "custom_id" in b] == [
        f"rating:like:songs:{song}",
        f"rating:dislike:songs:{song}",
    ]

    async def press(action: str) -> None:
        rec = await discord_server.send_component(alice, channel, mid, f"rating:{action}:songs:{song}")
        await discord_server.wait_for_original_edit(rec)

    await press("like")
    assert await bot.svc.store.member_votes(guild, alice) == {("songs", song): 1}
    assert apple_server.rating(ALICE_MUT, "songs", song) == 1
    await press("dislike")
    assert await bot.svc.store.member_votes(guild, alice) == {("songs", song): -1}
    top = await bot.svc.taste.top(guild, alice, Period.WEEK)
    assert [(t.likes, t.dislikes, t.sharer_id) for t in top.entries] == [(0, 1, None)]
    # the presser's private card is not the shared post: a press there rates, and is no vote
    own = next(m for m in discord_server.channel_messages(channel) if m.ephemeral and m.components)
    rec = await discord_server.send_component(alice, channel, own.id, f"rating:like:songs:{song}")
    await discord_server.wait_for_callback(rec)
    await eventually(lambda: apple_server.rating(ALICE_MUT, "songs", song) == 1, what="the like from the private card")
    assert await bot.svc.store.member_votes(guild, alice) == {("songs", song): -1}
    # a press by someone not linked counts as their vote, as their 👍 would (they are told to link)
    bob = add_members(discord_server, 1, "bob")[0]
    rec = await discord_server.send_component(bob, channel, mid, f"rating:like:songs:{song}")
    edit = await discord_server.wait_for_original_edit(rec)
    assert describe_error(e.NotLinked()) in edit["embeds"][0]["description"]
    assert await bot.svc.store.member_votes(guild, bob) == {("songs", song): 1}


# ---------------------------------------------------------------------------------------------- must-show 3


async def test_no_output_names_a_member_who_did_not_choose_to_be_named(
    bot: RatingsBot, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    guild, channel = discord_server.guild_id, discord_server.channel_id
    await bot.svc.sharing.set_share_buttons(guild, True)
    shown, quiet = add_members(discord_server, 2, "shownmember"), add_members(discord_server, 3, "quietmember")
    for n, member in enumerate([*shown, *quiet]):  # every way a member can be called: nickname, global name
        discord_server.users[member].global_name = f"Global{n}Name"
        if n % 2 == 0:
            discord_server.guilds[guild].members[member].nick = f"Nick{n}Name"
    for member in shown:
        await command(discord_server, "ratings name-me", member, {"setting": "on"})
    # one quiet member was named for a while, then stopped it
    await command(discord_server, "ratings name-me", quiet[2], {"setting": "on"})
    await command(discord_server, "ratings name-me", quiet[2], {"setting": "off"})
    songs = [apple_server.add_song(name=f"Taste {n}") for n in range(5)]
    posts = [
        await share(bot, discord_server, sharer, song)
        for sharer, song in zip([shown[0], quiet[0], quiet[1], shown[1], quiet[2]], songs, strict=True)
    ]
    reactions = 0
    for n, post in enumerate(posts):
        for m, member in enumerate([*shown, *quiet]):
            await discord_server.add_reaction(channel, post, member, "👍" if (n + m) % 3 else "👎")
            reactions += 1
    rec = await discord_server.send_component(quiet[0], channel, posts[1], f"rating:like:songs:{songs[1]}")
    await discord_server.wait_for_original_edit(rec)
    await settled(bot, reactions)

    for period in ("week", "all"):
        await command(discord_server, "ratings top", quiet[1], {"period": period})
        await command(discord_server, "ratings top", shown[0], {"period": period, "public": True})
    await command(discord_server, "ratings match", shown[0], {"member": shown[1]})
    for asker, other in ((shown[0], quiet[0]), (quiet[0], shown[0]), (quiet[1], quiet[2]), (quiet[2], shown[1])):
        await command(discord_server, "ratings match", asker, {"member": other})
    for member in (quiet[0], shown[0]):
        await command(discord_server, "privacy", member)
    await bot.svc.sharing.idle()

    public = next(
        m
        for m in discord_server.channel_messages(channel)
        if not m.ephemeral and m.embeds and "Most liked" in m.embeds[0].get("title", "")
    )
    assert "shared by a member" in public.embeds[0]["description"]
    assert not named(discord_server, quiet, guild), "a member who did not choose to be named is never named"
    found = {user for _, user, _ in named(discord_server, shown, guild)}
    assert found == set(shown), "the members who chose it are named (the search finds names)"


# ---------------------------------------------------------------------------------------------- /privacy, /export


async def test_privacy_says_whether_the_member_is_named_here_and_export_holds_their_taste(
    bot: RatingsBot, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    guild, channel, alice = discord_server.guild_id, discord_server.channel_id, discord_server.alice_id

    async def privacy(where: int) -> dict[str, str]:
        _, embed = await command(discord_server, "privacy", alice, channel_id=where)
        return {f["name"]: f["value"] for f in embed["fields"]}

    fields = await privacy(channel)
    assert "365 days" in fields["Server tops"] and "`/ratings name-me`" in fields["Server tops"]
    assert fields["In this server"].startswith("You are not named")
    await command(discord_server, "ratings name-me", alice, {"setting": "on"})
    assert (await privacy(channel))["In this server"].startswith("You chose to be named")
    await bot.sync_commands(None)  # global: /privacy in a DM
    assert "In this server" not in await privacy(discord_server.dm_channel(alice))

    song = apple_server.add_song(name="Exported")
    post = await share(bot, discord_server, alice, song)
    await discord_server.add_reaction(channel, post, alice, "👎")
    await settled(bot, 1)
    rec = await discord_server.send_command("export", alice, channel)
    message = await discord_server.wait_for_original(rec)
    export = json.loads(discord_server.attachment_bytes(message.attachments[0]))
    assert [(s["item_id"], s["message_id"]) for s in export["posts_you_shared_in_servers"]] == [(song, post)]
    assert [(v["item_id"], v["rating"]) for v in export["your_votes_in_servers"]] == [(song, "dislike")]
    assert [n["guild_id"] for n in export["servers_where_you_are_named"]] == [guild]
