"""A rolling restart inside one process: the real bot against the loopback Discord and Apple, stopped with
``close()`` (what SIGTERM calls) while an Apple call is in flight.

While it drains, the bot answers every interaction "restarting" (ephemeral, nothing run) and still records
reactions durably (the outbox claims nothing more; another process, or this one back, applies them). An Apple
call in flight is finished within ``SHUTDOWN_GRACE_SECONDS``; past it, the call is cut short and its row released
as it was (no attempt counted, no error kept), and Apple did nothing. The grace that runs out is 0 seconds: no
clock decides who wins. Both engines.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest

from bot.app import RatingsBot
from bot.applemusic import RetryPolicy
from bot.storage import OutboxEntry, open_store
from bot.ui.errors import ERROR_COLOUR
from loopback.apple import LoopbackApple, RecordedRequest
from loopback.discord import LoopbackDiscord
from tests.fixtures.bot import ALICE_MUT, link_alice
from tests.fixtures.e2e import RATINGS, buttons, eventually, handled, share, writes

#: the outbox's rows and their release are the subject: on SQLite and on PostgreSQL
pytestmark = pytest.mark.both_engines

EPHEMERAL = 1 << 6
#: the whole callback payload of an interaction that arrives while the bot drains
RESTARTING = {
    "type": 4,  # CHANNEL_MESSAGE_WITH_SOURCE: the answer itself, not "thinking..."
    "data": {
        "tts": False,
        "content": None,
        "embeds": [
            {
                "type": "rich",
                "description": "⚠️ The bot is restarting; try again in a moment.",
                "color": ERROR_COLOUR.value,
                "flags": 0,
            }
        ],
        "flags": EPHEMERAL,
        "allowed_mentions": {"parse": []},
    },
}
OUTBOX_LOGGER = "bot.services.outbox"
#: one attempt that never times out here: a held Apple call ends when Apple answers it or the grace ends it
ONE_PATIENT_ATTEMPT = RetryPolicy(max_attempts=1, timeout=3600)


async def rating_in_flight(
    bot: RatingsBot, apple: LoopbackApple, discord: LoopbackDiscord, song: str
) -> RecordedRequest:
    """Alice likes a shared ``song`` while Apple holds rating calls: returns the PUT Apple received and holds."""
    mid = await share(bot, discord, discord.alice_id, song)
    apple.hold(RATINGS)
    await discord.add_reaction(discord.channel_id, mid, discord.alice_id, "👍")
    put: RecordedRequest = await eventually(
        lambda: next((r for r in apple.requests if r.method == "PUT" and r.path == RATINGS + song), None),
        what="the held PUT",
    )
    assert not put.ended
    return put


async def outbox_after_close(bot: RatingsBot, user_id: int) -> list[OutboxEntry]:
    """The user's outbox rows as the database holds them once the bot has closed (a fresh connection)."""
    store = await open_store(bot.settings.database_url, bot.settings.cipher())
    try:
        return await store.pending_for_user(user_id)
    finally:
        await store.close()


@pytest.fixture
def outbox_log(caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    """The outbox's log lines so far (INFO and up)."""
    caplog.set_level(logging.INFO, logger=OUTBOX_LOGGER)
    return lambda: [r.getMessage() for r in caplog.records if r.name == OUTBOX_LOGGER]


async def test_a_drain_finishes_the_call_in_flight_refuses_interactions_and_keeps_reactions(
    fast_bot: Callable[..., Any],
    apple_server: LoopbackApple,
    discord_server: LoopbackDiscord,
    outbox_log: Callable[[], list[str]],
) -> None:
    discord = discord_server
    # a grace no test reaches: the held call ends because Apple answers it, not because time ran out
    async with fast_bot(env={"SHUTDOWN_GRACE_SECONDS": "3600"}, apple_retry=ONE_PATIENT_ATTEMPT) as bot:
        try:
            alice = await link_alice(bot, apple_server, discord)
            await bot.svc.store.set_share_buttons(discord.guild_id, True)
            in_flight, later = apple_server.add_song(name="In Flight"), apple_server.add_song(name="Arrives Later")
            later_post = await share(bot, discord, alice, later)  # shared before the drain: it has buttons
            put = await rating_in_flight(bot, apple_server, discord, in_flight)
            reactions = handled(bot)

            closing = asyncio.create_task(bot.close())
            await bot.wait_until_draining()
            assert bot.draining and bot.svc.outbox.stopping and not closing.done()

            # interactions: a slash command and a button press get the "restarting" answer, and nothing is run
            command = await discord.send_command("share", alice, discord.channel_id, {"item": later})
            like = buttons(discord.messages[later_post].components)[0]["custom_id"]
            press = await discord.send_component(alice, discord.channel_id, later_post, like)
            for interaction in (command, press):
                callback = await discord.wait_for_callback(interaction)
                assert callback.accepted
                assert {"type": callback.type, "data": callback.data} == RESTARTING
                assert len(interaction.callbacks) == 1 and interaction.followup_ids == [], "nothing else was sent"

            # a reaction is recorded durably, for the next process: nothing is lost, nothing is claimed
            await discord.add_reaction(discord.channel_id, later_post, alice, "👍")
            await eventually(lambda: handled(bot) > reactions, what="the reaction during the drain")
            [queued] = [e for e in await bot.svc.store.pending_for_user(alice) if e.item_id == later]
            assert queued.value == 1 and queued.claimed_by is None

            # Apple answers the held call within the grace: it is applied, and the drain ends
            assert not closing.done()
            apple_server.release()
            await closing
        finally:
            apple_server.release()  # a failed assertion must not leave the drain waiting out the grace

    assert apple_server.rating(ALICE_MUT, "songs", in_flight) == 1
    assert writes(apple_server) == [("PUT", RATINGS + in_flight)], "the button press and the later like sent nothing"
    assert put.status == 200 and put.ended
    rows = await outbox_after_close(bot, alice)
    assert [(e.item_id, e.value, e.claimed_by, e.lease_until, e.attempts) for e in rows] == [(later, 1, None, None, 0)]
    assert "outbox: released 0 claimed ratings for other processes (0 cut short at the shutdown grace)" in (
        outbox_log()
    )


async def test_a_call_past_the_grace_is_cut_short_and_its_row_released_untouched(
    fast_bot: Callable[..., Any],
    apple_server: LoopbackApple,
    discord_server: LoopbackDiscord,
    outbox_log: Callable[[], list[str]],
) -> None:
    # no grace at all: the drain cancels every call in flight at once (no clock involved)
    async with fast_bot(env={"SHUTDOWN_GRACE_SECONDS": "0"}, apple_retry=ONE_PATIENT_ATTEMPT) as bot:
        alice = await link_alice(bot, apple_server, discord_server)
        song = apple_server.add_song(name="Cut Short")
        put = await rating_in_flight(bot, apple_server, discord_server, song)
        [claimed] = await bot.svc.store.pending_for_user(alice)
        assert claimed.claimed_by == bot.svc.outbox.worker_id and claimed.attempts == 0

        await bot.close()

    # the call was given up: Apple saw the client go away before answering ...
    await eventually(lambda: put.ended, what="Apple giving up the abandoned call")
    assert put.status is None
    # ... and the row is back as it was claimed: not a failure (no attempt counted, no error kept)
    [released] = await outbox_after_close(bot, alice)
    assert released.id == claimed.id and released.value == 1
    assert (released.claimed_by, released.lease_until) == (None, None)
    assert (released.attempts, released.last_error, released.due_at) == (0, None, claimed.due_at)
    # Apple never applied it, even once it answers again
    apple_server.release()
    assert apple_server.rating(ALICE_MUT, "songs", song) is None
    assert writes(apple_server) == [("PUT", RATINGS + song)]
    assert "outbox: released 1 claimed ratings for other processes (1 cut short at the shutdown grace)" in (
        outbox_log()
    )
