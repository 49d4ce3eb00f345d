"""Issue 14: a member's data in their own hands (``/privacy``, ``/export``, ``/forget-me``), the data of a server the
bot is removed from, ``/link`` when the DM fails in any way, and a dev-guild command sync that fails at start.
The real bot against the loopback Discord and Apple servers."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest

from bot.app import RatingsBot
from bot.storage import HoldReason
from bot.ui import texts
from loopback.discord import LoopbackDiscord
from tests.fixtures.bot import BotFactory
from tests.fixtures.e2e import eventually
from tests.fixtures.storage import database_rows
from tests.test_linking_discord import account_ciphertext

EPHEMERAL = 1 << 6
WAITING_SONG, HELD_ALBUM = "1440857781", "1613600183"
OTHER_MEMBER = 4242


async def give_alice_data(bot: RatingsBot, alice: int) -> str:
    """A rating waiting for Apple, one held, a /link address and a reminder; another member's rating too. Returns the
    /link address (its one-time code must never be exported)."""
    store = bot.svc.store
    in_an_hour = time.time() + 3600
    await store.enqueue(alice, "songs", WAITING_SONG, 1, debounce=3600, max_delay=3600)
    await store.enqueue(alice, "albums", HELD_ALBUM, -1, hold=HoldReason.UNLINKED, hold_expires_at=in_an_hour)
    await store.enqueue(OTHER_MEMBER, "songs", "9", 1, hold=HoldReason.UNLINKED, hold_expires_at=in_an_hour)
    assert await store.claim_notice(alice, "reaction-link-prompt")
    return await bot.svc.linking.start(alice)


@pytest.mark.both_engines
async def test_export_holds_the_link_waiting_and_held_ratings_link_requests_and_notices_and_no_token(
    running_bot: RatingsBot, discord_server: LoopbackDiscord, linked_user: str
) -> None:
    alice = discord_server.alice_id
    url = await give_alice_data(running_bot, alice)
    rec = await discord_server.send_command("export", alice, discord_server.channel_id)
    callback = await discord_server.wait_for_callback(rec)
    assert callback.accepted and callback.data is not None and callback.data["flags"] & EPHEMERAL
    message = await discord_server.wait_for_original(rec)
    assert message.ephemeral and message.content == texts.EXPORT_READY
    [attachment] = message.attachments
    assert attachment["filename"] == "apple-music-ratings-bot-data.json"
    raw = discord_server.attachment_bytes(attachment)
    export = json.loads(raw)

    assert export["discord_user_id"] == str(alice)
    link = export["apple_music_link"]
    assert (link["country"], link["status"]) == ("us", "active") and link["linked_at"].endswith("+00:00")
    ratings = {(r["item_type"], r["item_id"]): (r["rating"], r["waiting_because"]) for r in export["ratings_waiting"]}
    assert ratings == {("songs", WAITING_SONG): ("like", None), ("albums", HELD_ALBUM): ("dislike", "unlinked")}
    [request] = export["link_requests"]
    assert request["used_at"] is None and request["expires_at"] > request["created_at"]
    assert [n["kind"] for n in export["notices"]] == ["reaction-link-prompt"]
    # never the token, its ciphertext, the /link address's code, or anyone else's data
    ciphertext = await account_ciphertext(running_bot.settings.database_url, alice)
    assert linked_user.encode() not in raw and ciphertext not in raw
    state = url.split("state=", 1)[1]
    nonce = state.split(".", 1)[0]
    assert nonce.encode() not in raw and state.encode() not in raw
    assert str(OTHER_MEMBER).encode() not in raw


def mentions(row: dict[str, Any], user_id: int) -> bool:
    return any(value == user_id or str(user_id) in str(value) for value in row.values())


@pytest.mark.both_engines
async def test_forget_me_asks_only_its_member_then_deletes_every_row_about_them(
    running_bot: RatingsBot, discord_server: LoopbackDiscord, linked_user: str
) -> None:
    alice, channel = discord_server.alice_id, discord_server.channel_id
    store = running_bot.svc.store
    await give_alice_data(running_bot, alice)
    assert await store.add_share_channel(discord_server.guild_id, channel)
    await store.record_shared_message(77, channel, discord_server.guild_id, "songs", WAITING_SONG)
    url = running_bot.settings.database_url
    before = await database_rows(url)
    assert {t for t, rows in before.items() if any(mentions(r, alice) for r in rows)} == {
        "accounts",
        "outbox",
        "rating_intents",
        "link_states",
        "notices",
    }

    async def ask() -> Any:
        rec = await discord_server.send_command("forget-me", alice, channel)
        callback = await discord_server.wait_for_callback(rec)
        assert callback.accepted and callback.data is not None and callback.data["flags"] & EPHEMERAL
        assert callback.data["content"] == texts.forget_confirm(None)
        return await discord_server.wait_for_original(rec)

    async def press(user: int, message: Any, custom_id: str) -> Any:
        rec = await discord_server.send_component(user, channel, message.id, custom_id)
        callback = await discord_server.wait_for_callback(rec)
        assert callback.accepted and callback.data is not None
        return callback

    # "Keep my data": nothing is deleted
    message = await ask()
    cancelled = await press(alice, message, f"privacy:keep:{alice}")
    assert cancelled.type == 7 and cancelled.data["content"] == texts.FORGET_CANCELLED
    assert cancelled.data["components"] == []
    assert await database_rows(url) == before

    # someone else's press of alice's button does nothing but tell them
    message = await ask()
    bob = discord_server.add_user("bob")
    discord_server.add_member(discord_server.guild_id, bob)
    refused = await press(bob, message, f"privacy:forget:{alice}")
    assert refused.type == 4 and refused.data["content"] == texts.NOT_YOUR_BUTTON and refused.data["flags"] & EPHEMERAL
    assert await database_rows(url) == before

    done = await press(alice, message, f"privacy:forget:{alice}")
    assert (
        done.type == 7
        and done.data["content"] == texts.forgotten(True, 2, locale=None)
        and done.data["components"] == []
    )
    after = await database_rows(url)
    for table, rows in after.items():
        for row in rows:
            assert not mentions(row, alice), (table, row)
    # the rest is untouched, and in-flight work with alice's token was stopped as /unlink stops it
    assert sum(len(rows) for rows in after.values()) == sum(len(rows) for rows in before.values()) - 7
    assert await store.get_shared_message(77) is not None
    assert running_bot.svc.linking.guard.generation(alice) == 1
    assert await store.get_user_token(alice) is None


async def test_privacy_export_and_forget_me_work_in_dms_and_user_installs(
    bot_factory: BotFactory, discord_server: LoopbackDiscord
) -> None:
    alice = discord_server.alice_id
    async with bot_factory(env={"SHARED_MESSAGE_DAYS": "45", "LEFT_GUILD_DAYS": "3"}) as bot:
        await bot.sync_commands(None)
        for name in ("privacy", "export", "forget-me"):
            command = discord_server.find_command(name)
            assert command is not None
            assert sorted(command["contexts"]) == [0, 1, 2] and sorted(command["integration_types"]) == [0, 1]
        owner = discord_server.add_user("owner of a server without the bot")
        other = discord_server.add_guild("No bot here", owner_id=owner, with_bot=False)
        discord_server.add_member(other.id, alice)
        elsewhere = discord_server.add_text_channel(other.id, "general")
        for channel, by_user in ((discord_server.dm_channel(alice), False), (elsewhere, True)):
            rec = await discord_server.send_command("privacy", alice, channel, installed_by_user=by_user)
            callback = await discord_server.wait_for_callback(rec)
            assert callback.accepted and callback.data is not None and callback.data["flags"] & EPHEMERAL
            text = json.dumps(callback.data["embeds"])
            assert "kept 45 days" in text and "3 days after the bot is removed" in text
            assert "token" not in text.lower() and "storefront" not in text.lower()
            rec = await discord_server.send_command("export", alice, channel, installed_by_user=by_user)
            message = await discord_server.wait_for_original(rec)
            export = json.loads(discord_server.attachment_bytes(message.attachments[0]))
            assert export["apple_music_link"] is None and export["ratings_waiting"] == []
            rec = await discord_server.send_command("forget-me", alice, channel, installed_by_user=by_user)
            message = await discord_server.wait_for_original(rec)
            press = await discord_server.send_component(alice, channel, message.id, f"privacy:forget:{alice}")
            callback = await discord_server.wait_for_callback(press)
            assert callback.accepted and callback.data is not None and "deleted" in callback.data["content"]


async def departures(bot: RatingsBot) -> list[int]:
    rows = await database_rows(bot.settings.database_url)
    return [int(str(row["guild_id"])) for row in rows["guild_departures"]]


@pytest.mark.both_engines
async def test_a_server_that_removed_the_bot_is_forgotten_after_the_grace_unless_the_bot_is_back(
    bot_factory: BotFactory, discord_server: LoopbackDiscord
) -> None:
    guild, channel = discord_server.guild_id, discord_server.channel_id
    async with bot_factory(env={"LEFT_GUILD_DAYS": "0"}) as bot:
        store = bot.svc.store
        assert await store.add_share_channel(guild, channel)
        await store.record_shared_message(77, channel, guild, "songs", WAITING_SONG)
        # removed, then invited back before the next housekeeping run: everything is kept
        discord_server.remove_bot_from_guild(guild)
        assert await eventually(lambda: departures(bot), what="the departure recorded") == [guild]
        discord_server.add_bot_to_guild(guild)
        await eventually(lambda: bot.get_guild(guild) is not None, what="the guild back")
        assert await eventually(lambda: _none(departures(bot)), what="the departure cancelled")
        assert (await bot.svc.housekeeping.run_once()).guilds == 0
        assert await store.list_share_channels(guild) == [channel] and await store.get_shared_message(77)
        # removed for good: deleted by the first run after LEFT_GUILD_DAYS (0 here)
        discord_server.remove_bot_from_guild(guild)
        assert await eventually(lambda: departures(bot), what="the departure recorded") == [guild]
        assert (await bot.svc.housekeeping.run_once()).guilds == 1
        assert await store.list_share_channels(guild) == [] and await store.get_shared_message(77) is None
        assert await departures(bot) == []


@pytest.mark.both_engines
async def test_a_server_that_removed_the_bot_while_no_process_ran_is_forgotten_after_the_grace(
    bot_factory: BotFactory, discord_server: LoopbackDiscord
) -> None:
    guild, channel = discord_server.guild_id, discord_server.channel_id
    # two servers the bot is in no more: ``gone`` on shard 0 of 2 (this process's), ``another_process`` on shard 1
    gone = (((guild >> 22) // 2 + 1) * 2) << 22 | 7
    another_process = gone + (1 << 22)
    async with bot_factory(env={"LEFT_GUILD_DAYS": "0"}) as bot:
        await bot.guilds_reconciled.wait()
        store = bot.svc.store
        assert await store.add_share_channel(guild, channel)
        assert await store.add_share_channel(gone, 5)
        await store.record_shared_message(78, 5, gone, "songs", WAITING_SONG)
        await store.record_vote(gone, OTHER_MEMBER, "songs", WAITING_SONG, 1)
        assert await store.set_taste_named(gone, OTHER_MEMBER, True)
        assert await store.set_share_buttons(another_process, True)
    # no GUILD_DELETE was ever seen for them, and READY does not list them; only the servers on this process's shards
    # are its business
    assert (gone >> 22) % 2 == 0 and (another_process >> 22) % 2 == 1
    async with bot_factory(env={"LEFT_GUILD_DAYS": "0", "SHARD_COUNT": "2", "SHARD_IDS": "0"}, shard_count=2) as bot:
        await bot.guilds_reconciled.wait()
        assert (bot.shard_count, bot.shard_ids) == (2, [0])
        assert await departures(bot) == [gone]
        assert (await bot.svc.housekeeping.run_once()).guilds == 1
        store = bot.svc.store
        assert await store.list_share_channels(gone) == [] and await store.get_shared_message(78) is None
        assert await store.member_votes(gone, OTHER_MEMBER) == {}
        assert await store.known_guilds() == {guild, another_process}, "the present server and the other shard's"


async def _none(pending: Any) -> bool:
    return not await pending


@pytest.mark.parametrize(
    ("path", "status", "body"),
    [
        (r"/channels/\d+/messages$", 503, None),
        (r"/users/@me/channels$", 503, None),
        (r"/channels/\d+/messages$", 400, {"message": "Cannot send messages to this user", "code": 50007}),
    ],
    ids=["message-503", "dm-channel-503", "message-400-50007"],
)
async def test_link_answers_with_the_link_when_the_dm_fails_in_any_way(
    running_bot: RatingsBot, discord_server: LoopbackDiscord, path: str, status: int, body: Any
) -> None:
    discord_server.fail_next("POST", path, status, body=body)
    rec = await discord_server.send_command("link", discord_server.alice_id, discord_server.channel_id)
    edit = await discord_server.wait_for_original_edit(rec)
    embed = edit["embeds"][0]
    assert embed["url"].startswith(running_bot.settings.link_base_url + "/link?state=")
    assert [r.status for r in discord_server.requests_to("POST", path)] == [status]
    assert await running_bot.svc.linking.has_pending_link(discord_server.alice_id)


async def test_a_refused_dev_guild_sync_is_logged_with_what_to_do_and_the_bot_still_starts(
    bot_factory: BotFactory, discord_server: LoopbackDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    async with bot_factory():
        pass  # a first start synced the commands to the development server
    guild_commands = rf"/applications/\d+/guilds/{discord_server.guild_id}/commands$"
    discord_server.fail_next("PUT", guild_commands, 403, body={"message": "Missing Access", "code": 50001})
    caplog.set_level(logging.ERROR, logger="bot.app")
    async with bot_factory() as bot:
        assert bot.is_ready()
        rec = await discord_server.send_command("about", discord_server.alice_id, discord_server.channel_id)
        callback = await discord_server.wait_for_callback(rec)
        assert callback.accepted and callback.data is not None
        listed = " ".join(f["value"] for f in callback.data["embeds"][0]["fields"])
        assert all(f"`/{name}`" in listed for name in ("privacy", "export", "forget-me", "link", "about"))
    assert [r.status for r in discord_server.requests_to("PUT", guild_commands)] == [200, 403]
    [record] = [r for r in caplog.records if r.name == "bot.app" and r.levelno == logging.ERROR]
    message = record.getMessage()
    assert f"DEV_GUILD_ID {discord_server.guild_id}" in message and "HTTP 403" in message
    assert f"python -m bot sync --guild {discord_server.guild_id}" in message
