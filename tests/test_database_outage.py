"""The shared PostgreSQL goes away for a while: nothing anyone asked for is lost, and nobody is left guessing.

The outage is real: the test database stops accepting connections (``ALLOW_CONNECTIONS false``) and every
connection of the bot is terminated, as when the server restarts or fails over; then it comes back.

* A 👍 made during a short outage is saved once the database is back, and reaches Apple Music.
* A 👍 made during an outage longer than the bot's retry window is not saved: the user gets a DM saying so.
* A command during the outage answers with a clear message (no "something went wrong").
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import asyncpg
import pytest

from bot.app import RatingsBot
from bot.storage import SharedMessage, StoreUnavailable
from bot.ui.errors import describe_error
from bot.web.texts import page_title
from loopback.apple import LoopbackApple
from loopback.discord import LoopbackDiscord
from tests.fixtures.bot import ALICE_MUT
from tests.fixtures.e2e import FAST_OUTBOX, eventually, handled, message_text, share
from tests.test_linking_http import check_headers

pytestmark = pytest.mark.postgres_only


@contextlib.asynccontextmanager
async def outage(database_url: str) -> AsyncIterator[None]:
    """While inside, the database refuses connections and the bot's open ones are gone."""
    base, name = database_url.rsplit("/", 1)
    admin = await asyncpg.connect(f"{base}/postgres")
    try:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        yield
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()


@pytest.fixture
def bot_with_alice(
    bot_factory: Callable[..., contextlib.AbstractAsyncContextManager[RatingsBot]],
    discord_server: LoopbackDiscord,
    apple_server: LoopbackApple,
) -> Callable[[], contextlib.AbstractAsyncContextManager[tuple[RatingsBot, int, str]]]:
    @contextlib.asynccontextmanager
    async def start() -> AsyncIterator[tuple[RatingsBot, int, str]]:
        apple_server.add_user(ALICE_MUT)
        song = apple_server.add_song()
        async with bot_factory(outbox_config=FAST_OUTBOX) as bot:
            await bot.svc.store.link_account(discord_server.alice_id, ALICE_MUT, "us")
            mid = await share(bot, discord_server, discord_server.alice_id, song)
            yield bot, mid, song

    return start


async def test_a_reaction_during_a_short_outage_is_saved_when_the_database_is_back(
    bot_with_alice: Callable[..., Any],
    database_url: str,
    discord_server: LoopbackDiscord,
    apple_server: LoopbackApple,
) -> None:
    async with bot_with_alice() as (bot, mid, song):
        before = handled(bot)
        async with outage(database_url):
            assert await discord_server.add_reaction(discord_server.channel_id, mid, discord_server.alice_id, "👍")
            await eventually(lambda: bot.svc.sharing.store_retries >= 3, what="the bot trying again, and again")
            assert handled(bot) == before, "the reaction is still being retried, not dropped"
            assert apple_server.rating(ALICE_MUT, "songs", song) is None
        await eventually(lambda: apple_server.rating(ALICE_MUT, "songs", song) == 1, timeout=15, what="the like")
        assert handled(bot) == before + 1
    dm = discord_server.dm_channel(discord_server.alice_id)
    assert not [m for m in discord_server.channel_messages(dm) if "could not save" in message_text(m)]


async def test_a_reaction_during_a_long_outage_is_reported_to_the_user(
    bot_with_alice: Callable[..., Any],
    database_url: str,
    discord_server: LoopbackDiscord,
    apple_server: LoopbackApple,
) -> None:
    alice = discord_server.alice_id
    async with bot_with_alice() as (bot, mid, song):
        bot.svc.sharing.reaction_retry = 1.0
        async with outage(database_url):
            assert await discord_server.add_reaction(discord_server.channel_id, mid, alice, "👎")
            dm = discord_server.dm_channel(alice)
            told = await discord_server.wait_for_message(
                dm,
                author_id=discord_server.bot_user_id,
                predicate=lambda m: "could not save" in message_text(m),
                timeout=10,
            )
        text = message_text(told)
        assert "👎" in text and str(mid) in text and "react again" in text
        await bot.svc.outbox.wait_until_drained()
        assert apple_server.rating(ALICE_MUT, "songs", song) is None, "an unsaved reaction is not applied later"


async def test_a_command_during_an_outage_says_the_database_is_unavailable(
    bot_with_alice: Callable[..., Any], database_url: str, discord_server: LoopbackDiscord
) -> None:
    async with bot_with_alice() as (_bot, _mid, song):
        async with outage(database_url):
            rec = await discord_server.send_command(
                "rating like", discord_server.alice_id, discord_server.channel_id, {"item": song}
            )
            callback = await discord_server.wait_for_callback(rec)
            assert callback.accepted
            answer = callback.data if callback.type == 4 else await discord_server.wait_for_original_edit(rec)
            assert answer is not None
            text = str(answer.get("content") or "") + str(answer.get("embeds") or "")
            assert "database is unavailable" in text, text
        rec = await discord_server.send_command(
            "rating like", discord_server.alice_id, discord_server.channel_id, {"item": song}
        )
        await discord_server.wait_for_callback(rec)
        edit = await discord_server.wait_for_original_edit(rec)
        assert "unavailable" not in str(edit), "after the outage the same command works"


async def test_catch_up_during_an_outage_waits_for_the_database_then_applies_what_it_saw(
    bot_with_alice: Callable[..., Any],
    database_url: str,
    discord_server: LoopbackDiscord,
    apple_server: LoopbackApple,
) -> None:
    """The start-up catch-up meets the outage (here run again by hand, with the reactions Discord would show): it
    retries instead of ending with a traceback, and applies the 👍 once the database is back."""
    alice = discord_server.alice_id
    async with bot_with_alice() as (bot, mid, song):
        sharing = bot.svc.sharing
        await eventually(sharing.caught_up.is_set, what="the start-up catch-up")
        sharing.caught_up.clear()

        async def reactions_on_discord(shared: SharedMessage) -> dict[int, set[int]]:
            return {alice: {1}} if shared.message_id == mid else {}

        async with outage(database_url):
            before = sharing.store_retries
            catching_up = asyncio.create_task(sharing.catch_up(reactions_on_discord))
            await eventually(lambda: sharing.store_retries >= before + 2, what="catch-up trying again, and again")
            assert not catching_up.done() and not sharing.caught_up.is_set()
        assert await asyncio.wait_for(catching_up, 60) == 1
        await eventually(lambda: apple_server.rating(ALICE_MUT, "songs", song) == 1, timeout=15, what="the like")


async def test_the_linking_page_during_an_outage_says_the_database_is_unavailable(
    bot_with_alice: Callable[..., Any], database_url: str, discord_server: LoopbackDiscord
) -> None:
    """A 503 with the page's headers and the same words as a command, never a 500."""
    async with bot_with_alice() as (bot, _mid, _song):
        url = await bot.svc.linking.start(discord_server.alice_id)
        state = url.split("state=", 1)[1]
        async with aiohttp.ClientSession() as http:
            async with outage(database_url):
                async with http.get(url) as page:
                    check_headers(page.headers)
                    assert page.status == 503 and "database is unavailable" in await page.text()
                body = {"state": state, "token": "Ag" + "x" * 200, "confirmed": True}
                async with http.post(f"{bot.settings.link_base_url}/link/complete", json=body) as answer:
                    check_headers(answer.headers)
                    assert answer.status == 503
                    assert await answer.json() == {
                        "ok": False,
                        "code": "database_unavailable",
                        "message": describe_error(StoreUnavailable("x", "y")),
                        "title": page_title(None, "database_unavailable"),
                    }
            async with http.get(url) as page:
                assert page.status == 200, "the link works again once the database is back"
