"""Issue 13: ``/unlink`` means now. Once it has answered, no request carrying the member's token leaves the bot:
a rating waiting to be retried (from a reaction, through the outbox, or from ``/rating``) is stopped, and a retry
checks the link first, also when another process removed it.

Apple answers 503 to the member's rating; the bot's retry wait is a :class:`RetryGate`, so the test decides when
the retry would fire (no clock): the rating is parked at its retry point, the member unlinks, and only then is
the retry point released.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from bot.app import RatingsBot
from bot.applemusic import AppleMusicClient, RequestWithdrawn, ResourceType, UpstreamError
from loopback.apple import LoopbackApple
from loopback.discord import LoopbackDiscord
from tests.fixtures.apple import FAST_RETRY, AppleKey
from tests.fixtures.bot import ALICE_MUT, BotFactory
from tests.fixtures.e2e import RATINGS, eventually, settled, share, writes

#: every command is answered within Discord's deadline (the loopback refuses a late callback with 10062)
pytestmark = pytest.mark.usefixtures("no_late_callbacks")


class RetryGate:
    """The bot's wait between Apple retries, held by the test: every retry waits here until :meth:`open`."""

    def __init__(self) -> None:
        #: retries that reached their retry point
        self.reached = 0
        self._open = asyncio.Event()

    async def __call__(self, delay: float) -> None:
        self.reached += 1
        await self._open.wait()

    def open(self) -> None:
        """Let every waiting retry (and every later one) go on at once."""
        self._open.set()


def sent_with(apple: LoopbackApple, token: str, since: int = 0) -> list[tuple[str, str]]:
    """(method, path) of the requests carrying ``token`` that Apple received, from index ``since`` on."""
    return [(r.method, r.path) for r in apple.requests[since:] if r.user_token == token]


async def link_alice(bot: RatingsBot, apple_server: LoopbackApple, discord_server: LoopbackDiscord) -> int:
    apple_server.add_user(ALICE_MUT, storefront="us")
    await bot.svc.store.link_account(discord_server.alice_id, ALICE_MUT, "us")
    return discord_server.alice_id


async def react_and_park(
    bot: RatingsBot, gate: RetryGate, discord_server: LoopbackDiscord, apple_server: LoopbackApple, *, failures: int
) -> str:
    """Link alice, share a song, make Apple answer 503 to the next ``failures`` rating writes, and have alice react
    👍: returns the song once her rating waits at its retry point."""
    alice = await link_alice(bot, apple_server, discord_server)
    song = apple_server.add_song()
    mid = await share(bot, discord_server, alice, song)
    apple_server.fail_next(failures, 503, path_contains=RATINGS)
    await discord_server.add_reaction(discord_server.channel_id, mid, alice, "👍")
    await eventually(lambda: gate.reached == 1, what="the rating at its retry point")
    return song


async def command_and_park(
    bot: RatingsBot, gate: RetryGate, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> tuple[str, Any]:
    """Link alice and have her run ``/rating like`` while Apple answers 503 to every rating write: returns the
    song and the interaction once the rating waits at its retry point (and the background lookups are over)."""
    alice = await link_alice(bot, apple_server, discord_server)
    song = apple_server.add_song(name="Entropy")
    apple_server.fail_next(100, 503, path_contains=RATINGS)
    rec = await discord_server.send_command("rating like", alice, discord_server.channel_id, {"item": song})
    await eventually(lambda: gate.reached == 1, what="the rating at its retry point")
    await bot.svc.ratings.idle()  # the background lookup of alice's languages is over too
    return song, rec


async def unlink(discord_server: LoopbackDiscord, user_id: int) -> str:
    """Run /unlink; its answer, once the loopback Discord has it."""
    rec = await discord_server.send_command("unlink", user_id, discord_server.channel_id)
    callback = await discord_server.wait_for_callback(rec)
    assert callback.accepted and callback.data is not None
    return str(callback.data["content"])


async def test_the_client_asks_before_every_retry_and_stops_when_told_no(
    apple_server: LoopbackApple, apple_key: AppleKey, apple_user: str
) -> None:
    asked: list[int] = []  # how many requests Apple had received each time the client asked

    async def still_allowed() -> bool:
        asked.append(len(apple_server.requests))
        return len(asked) < 2  # yes before the first retry, no before the second

    async def no_wait(delay: float) -> None:
        pass

    apple_server.fail_next(100, 503, path_contains=RATINGS)
    async with aiohttp.ClientSession() as session:
        client = AppleMusicClient(
            apple_key.developer_token(),
            session=session,
            base_url=apple_server.base_url,
            retry=FAST_RETRY,
            sleep=no_wait,
        )
        with pytest.raises(RequestWithdrawn) as caught:
            await client.set_rating(ResourceType.SONGS, "1", 1, apple_user, still_allowed=still_allowed)
        assert asked == [1, 2], "asked before each retry, never before the first attempt"
        assert apple_server.count() == 2
        assert apple_user not in str(caught.value)
        # without a check the same request is retried to the policy's end
        apple_server.reset_requests()
        with pytest.raises(UpstreamError):
            await client.set_rating(ResourceType.SONGS, "1", 1, apple_user)
        assert apple_server.count() == FAST_RETRY.max_attempts


async def test_unlink_stops_a_reaction_rating_waiting_for_its_retry(
    fast_bot: Callable[..., Any], discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    gate = RetryGate()
    async with fast_bot(apple_sleep=gate) as bot:
        song = await react_and_park(bot, gate, discord_server, apple_server, failures=100)
        assert writes(apple_server) == [("PUT", RATINGS + song)]

        answer = await unlink(discord_server, discord_server.alice_id)
        answered = len(apple_server.requests)

        gate.open()  # the retry would fire now
        await settled(bot, 1)
        assert sent_with(apple_server, ALICE_MUT, answered) == [], "nothing with alice's token after /unlink"
        assert answer.startswith("🗑️ Unlinked.")
        assert answer.endswith(" 1 rating waiting to be sent to Apple Music was dropped.")
        assert sent_with(apple_server, ALICE_MUT) == [("PUT", RATINGS + song)]
        assert bot.svc.outbox.in_flight == 0 and await bot.svc.store.outbox_size() == 0


async def test_unlink_stops_a_rating_command_waiting_for_its_retry(
    bot_factory: BotFactory, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    gate = RetryGate()
    async with bot_factory(apple_sleep=gate) as bot:
        song, rec = await command_and_park(bot, gate, discord_server, apple_server)
        assert writes(apple_server) == [("PUT", RATINGS + song)]

        answer = await unlink(discord_server, discord_server.alice_id)
        answered = len(apple_server.requests)

        gate.open()
        edit = await discord_server.wait_for_original_edit(rec)  # the command's answer: after this, nothing more
        assert sent_with(apple_server, ALICE_MUT, answered) == [], "nothing with alice's token after /unlink"
        assert answer.startswith("🗑️ Unlinked.") and "dropped" not in answer  # nothing waited in the outbox
        assert edit["embeds"][0]["description"].startswith("⚠️ You unlinked your Apple Music account")
        assert bot.svc.ratings.guard.running(discord_server.alice_id) == 0


@pytest.mark.both_engines
async def test_a_retry_checks_the_link_another_process_removed(
    fast_bot: Callable[..., Any], discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    """Another process (sharing PostgreSQL) unlinked alice: this one learns it from the store at the retry."""
    gate = RetryGate()
    async with fast_bot(apple_sleep=gate) as bot:
        await react_and_park(bot, gate, discord_server, apple_server, failures=100)
        alice = discord_server.alice_id

        assert await bot.svc.store.unlink(alice)  # as another process's /unlink does: only the database knows
        unlinked_at = len(apple_server.requests)
        gate.open()
        await settled(bot, 1)
        assert sent_with(apple_server, ALICE_MUT, unlinked_at) == []
        assert bot.svc.ratings.guard.running(alice) == 0


async def test_the_retry_goes_on_while_the_member_stays_linked(
    fast_bot: Callable[..., Any], discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    """The control: the same rating, not unlinked, is retried and lands."""
    gate = RetryGate()
    async with fast_bot(apple_sleep=gate) as bot:
        song = await react_and_park(bot, gate, discord_server, apple_server, failures=1)
        gate.open()
        await settled(bot, 1)
        assert writes(apple_server) == [("PUT", RATINGS + song)] * 2
        assert apple_server.rating(ALICE_MUT, "songs", song) == 1


async def test_a_retry_finding_the_link_stale_says_so(
    bot_factory: BotFactory, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    """Another process found alice's link refused by Apple meanwhile: the retry is not sent, and she is told to link
    again (not that she unlinked)."""
    gate = RetryGate()
    async with bot_factory(apple_sleep=gate) as bot:
        _song, rec = await command_and_park(bot, gate, discord_server, apple_server)

        assert await bot.svc.store.mark_stale(discord_server.alice_id)
        stale_at = len(apple_server.requests)
        gate.open()
        edit = await discord_server.wait_for_original_edit(rec)
        assert sent_with(apple_server, ALICE_MUT, stale_at) == []
        assert edit["embeds"][0]["description"].startswith("⚠️ Apple Music no longer accepts your Apple Music link")
