"""Catalog answers are spent once: cached for everyone and every command, and requested once when many ask at once.

* 20 members' ``/rating show`` of the same song, not cached yet, arriving together: the loopback Apple sees exactly
  one catalog request (held until every show is waiting on it), and all 20 answers carry the song's name.
* A failed catalog request is one failure for all who waited on it (its retries included), and is not kept: the
  next show asks again.
* ``/share``, 20 reactions on the card, then 20 ``/rating show`` of the song: one catalog request in all.
* :class:`bot.aio.SingleFlight` itself: a caller that is cancelled leaves the others their value; a failure reaches
  every caller and is not kept.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

import pytest

from bot.aio import SingleFlight, TaskSet
from bot.app import RatingsBot
from loopback.apple import LoopbackApple
from loopback.discord import InteractionRecord, LoopbackDiscord
from tests.fixtures.apple import FAST_RETRY
from tests.fixtures.e2e import eventually, settled, share

MEMBERS = 20
CATALOG = "/v1/catalog/"


@dataclass
class Member:
    user_id: int
    token: str


@pytest.fixture
async def members(
    running_bot: RatingsBot, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> list[Member]:
    """20 members of the test guild, each linked to their own Apple Music account (country us)."""
    out = []
    for n in range(MEMBERS):
        uid = discord_server.add_user(f"listener{n}")
        discord_server.add_member(discord_server.guild_id, uid)
        token = apple_server.add_user(f"Ag{n:02d}" + "CatalogMut" * 20)
        await running_bot.svc.store.link_account(uid, token, "us")
        out.append(Member(uid, token))
    return out


async def show_all(discord: LoopbackDiscord, members: list[Member], song: str) -> list[InteractionRecord]:
    return [await discord.send_command("rating show", m.user_id, discord.channel_id, {"item": song}) for m in members]


async def titles(discord: LoopbackDiscord, recs: list[InteractionRecord]) -> list[str]:
    """The item's name each card shows: the first line of its description, bold and linked to Apple Music."""
    names = []
    for rec in recs:
        head = str((await discord.wait_for_original_edit(rec))["embeds"][0]["description"]).split("\n", 1)[0]
        names.append(re.sub(r"^\*\*\[?(.*?)\]?(\(.*\))?\*\*$", r"\1", head))
    return names


async def every_show_is_looking_up(apple: LoopbackApple, song: str) -> None:
    """Each show reads the member's rating and the catalog at once: once all 20 rating reads reached Apple, all 20
    catalog lookups have been asked for."""
    await eventually(lambda: apple.count("GET", f"/v1/me/ratings/songs/{song}") >= MEMBERS, what="20 rating reads")


async def test_concurrent_shows_of_an_uncached_song_make_one_catalog_request(
    running_bot: RatingsBot, members: list[Member], discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    song = apple_server.add_song(name="Asked Once")
    apple_server.hold(CATALOG)  # Apple answers the catalog only when every show waits for it
    recs = await show_all(discord_server, members, song)
    await every_show_is_looking_up(apple_server, song)
    assert apple_server.count("GET", CATALOG) == 1
    apple_server.release()
    assert await titles(discord_server, recs) == ["Asked Once"] * MEMBERS
    assert apple_server.count("GET", CATALOG) == 1
    [request] = [r for r in apple_server.requests if r.path.startswith(CATALOG)]
    assert request.path == "/v1/catalog/us/songs" and request.query["ids"] == song


async def test_a_failed_catalog_request_fails_once_for_all_and_is_not_kept(
    running_bot: RatingsBot, members: list[Member], discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    song = apple_server.add_song(name="Second Time Lucky")
    apple_server.hold(CATALOG)
    apple_server.fail_next(FAST_RETRY.max_attempts, 500, path_contains=CATALOG)  # every try of one request fails
    recs = await show_all(discord_server, members, song)
    await every_show_is_looking_up(apple_server, song)
    apple_server.release()
    shown = await titles(discord_server, recs)
    assert "Second Time Lucky" not in shown and len(set(shown)) == 1  # all 20 shown by id, alike
    assert apple_server.count("GET", CATALOG) == FAST_RETRY.max_attempts  # one request and its retries, for all 20
    # the failure was not kept: the next show asks Apple again, and gets the name
    assert await titles(discord_server, await show_all(discord_server, members[:1], song)) == ["Second Time Lucky"]
    assert apple_server.count("GET", CATALOG) == FAST_RETRY.max_attempts + 1


async def test_share_reactions_and_shows_of_one_song_cost_one_catalog_request(
    running_bot: RatingsBot, members: list[Member], discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    song = apple_server.add_song(name="Shared Song")
    message_id = await share(running_bot, discord_server, members[0].user_id, song)
    for m in members:
        assert await discord_server.add_reaction(discord_server.channel_id, message_id, m.user_id, "👍")
    await settled(running_bot, MEMBERS)
    assert all(apple_server.rating(m.token, "songs", song) == 1 for m in members)
    recs = await show_all(discord_server, members, song)
    assert await titles(discord_server, recs) == ["Shared Song"] * MEMBERS
    # the card's name came from the one catalog request of /share; reactions and shows reused it
    assert apple_server.count("GET", CATALOG) == 1
    assert apple_server.count("PUT", "/v1/me/ratings/songs/") == MEMBERS
    assert apple_server.count("GET", f"/v1/me/ratings/songs/{song}") == MEMBERS


# ---------------------------------------------------------------------- SingleFlight itself
async def test_single_flight_survives_a_cancelled_caller_and_keeps_no_failure() -> None:
    tasks = TaskSet("test")
    flights: SingleFlight[str, int] = SingleFlight(tasks, "test fetch")
    gate = asyncio.Event()
    calls: list[list[str]] = []
    failing = True

    async def fetch(keys: list[str]) -> dict[str, int]:
        calls.append(keys)
        await gate.wait()
        if failing:
            raise LookupError("upstream said no")
        return {key: len(key) for key in keys}

    first = asyncio.create_task(flights.get(["a", "bb"], fetch))
    second = asyncio.create_task(flights.get(["bb", "ccc"], fetch))  # "bb" is in flight: only "ccc" is fetched
    await eventually(lambda: len(calls) == 2, what="both fetches started")
    assert calls == [["a", "bb"], ["ccc"]]
    gate.set()
    for task in (first, second):
        with pytest.raises(LookupError, match="upstream said no"):
            await task

    failing, gate = False, asyncio.Event()
    leaving = asyncio.create_task(flights.get(["a"], fetch))  # the failure was not kept: fetched again
    staying = asyncio.create_task(flights.get(["a"], fetch))
    await eventually(lambda: len(calls) == 3, what="the fetch after the failure")
    leaving.cancel()  # the caller that started the fetch goes away: the other still gets the value
    with pytest.raises(asyncio.CancelledError):
        await leaving
    gate.set()
    assert await staying == {"a": 1}
    assert calls == [["a", "bb"], ["ccc"], ["a"]]
    await tasks.close()
