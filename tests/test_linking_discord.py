"""Issue 4 through Discord: paste in DM, DMs closed, /unlink, /account, the stale-token path, a token posted
in a guild channel. The real bot against the loopback Discord and Apple servers."""

from __future__ import annotations

import datetime
import json
import logging
import sqlite3
from typing import Any

import pytest

from bot.app import RatingsBot
from bot.config import load_settings
from bot.i18n import date as i18n_date
from bot.storage import AccountStatus
from loopback.apple import LoopbackApple
from loopback.discord import LoopbackDiscord, Permissions
from tests.fixtures.bot import BotFactory
from tests.fixtures.storage import stored_bytes

#: linking stores tokens: every test here runs on both engines
pytestmark = pytest.mark.both_engines

EPHEMERAL = 1 << 6
PASTED = "Ag" + "Pa5tedInDM+/" * 30


async def account_ciphertext(database_url: str, user_id: int) -> bytes:
    """The stored ``token_enc`` of one account, read with the engine's own driver (not through the store)."""
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
            (value,) = db.execute("SELECT token_enc FROM accounts WHERE user_id = ?", (user_id,)).fetchone()
    else:
        import asyncpg

        conn = await asyncpg.connect(database_url)
        try:
            value = await conn.fetchval("SELECT token_enc FROM accounts WHERE user_id = $1", user_id)
        finally:
            await conn.close()
    return value.encode() if isinstance(value, str) else bytes(value)


def sent_to_discord(discord_server: LoopbackDiscord) -> str:
    parts: list[Any] = [r.json for r in discord_server.requests] + [c.data for c in discord_server.callbacks]
    return json.dumps(parts, default=str)


async def bot_dm(discord_server: LoopbackDiscord, user_id: int, after: int | None, **kw: Any) -> Any:
    return await discord_server.wait_for_message(
        discord_server.dm_channel(user_id), author_id=discord_server.bot_user_id, after=after, **kw
    )


async def test_paste_in_dm_links_and_nothing_leaks(
    running_bot: RatingsBot,
    discord_server: LoopbackDiscord,
    apple_server: LoopbackApple,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    apple_server.add_user(PASTED, storefront="ca")
    alice = discord_server.alice_id
    dm = discord_server.dm_channel(alice)
    store = running_bot.svc.store

    # a token with no pending link: not stored, told to run /link first (and Apple is never asked)
    before = apple_server.count()
    msg = await discord_server.send_message(dm, alice, PASTED)
    reply = await bot_dm(discord_server, alice, msg.id)
    assert "/link" in reply.embeds[0]["description"] and "not stored" in reply.embeds[0]["description"]
    assert await store.get_account(alice) is None
    assert apple_server.count() == before

    # something that is not a token: the short help
    msg = await discord_server.send_message(dm, alice, "hello bot")
    reply = await bot_dm(discord_server, alice, msg.id)
    assert "/link" in reply.content and len(reply.content) < 300

    # /link, then the paste: validated with Apple, stored with the storefront, confirmed by DM
    rec = await discord_server.send_command("link", alice, discord_server.channel_id)
    link_dm = await bot_dm(discord_server, alice, reply.id)
    assert "fallback" in link_dm.embeds[0]["description"] and "paste" in link_dm.embeds[0]["description"]
    await discord_server.wait_for_original_edit(rec)
    msg = await discord_server.send_message(dm, alice, f"  {PASTED}\n")
    confirmation = await bot_dm(discord_server, alice, msg.id)
    assert confirmation.embeds[0]["title"].startswith("Apple Music linked")
    account = await store.get_account(alice)
    assert account is not None and account.storefront == "ca" and account.status is AccountStatus.ACTIVE
    assert await store.get_user_token(alice) == PASTED
    assert any(r.path == "/v1/me/storefront" for r in apple_server.requests)

    # the pending link is used up: pasting again is refused, nothing changes
    msg = await discord_server.send_message(dm, alice, PASTED)
    reply = await bot_dm(discord_server, alice, msg.id)
    assert "/link" in reply.embeds[0]["description"]

    # the token is in the user's own DM (Discord holds it) but nowhere the bot wrote
    assert PASTED.encode() not in await stored_bytes(running_bot.settings.database_url)
    assert PASTED not in sent_to_discord(discord_server)
    assert any("MESSAGE_CREATE" in r.getMessage() for r in caplog.records), "gateway events were logged"
    assert PASTED not in caplog.text
    for record in caplog.records:
        assert PASTED not in record.getMessage()


async def test_link_with_dms_closed_answers_with_the_link(
    running_bot: RatingsBot, discord_server: LoopbackDiscord
) -> None:
    discord_server.users[discord_server.alice_id].dms_open = False
    rec = await discord_server.send_command("link", discord_server.alice_id, discord_server.channel_id)
    callback = await discord_server.wait_for_callback(rec)
    assert callback.accepted and callback.data is not None and callback.data["flags"] & EPHEMERAL
    edit = await discord_server.wait_for_original_edit(rec)
    embed = edit["embeds"][0]
    assert embed["url"].startswith(running_bot.settings.link_base_url + "/link?state=")
    assert embed["url"] in embed["description"]
    assert discord_server.requests_to("POST", r"/channels/\d+/messages$")[-1].status == 403
    state = embed["url"].split("state=", 1)[1]
    link = await running_bot.svc.linking.open(state)
    assert link.user_id == discord_server.alice_id and link.display_name == "@alice"
    # the answer warns never to forward the link (it used to say the link works "for you only")
    assert "Never forward it" in embed["description"] and "for you only" not in embed["description"]


async def test_account_then_unlink_leaves_no_trace(
    running_bot: RatingsBot, discord_server: LoopbackDiscord, linked_user: str
) -> None:
    alice = discord_server.alice_id
    store = running_bot.svc.store
    url = running_bot.settings.database_url
    ciphertext = await account_ciphertext(url, alice)
    assert len(ciphertext) > 100 and ciphertext in await stored_bytes(url)

    rec = await discord_server.send_command("account", alice, discord_server.channel_id)
    callback = await discord_server.wait_for_callback(rec)
    assert callback.accepted and callback.data is not None and callback.data["flags"] & EPHEMERAL
    embed = callback.data["embeds"][0]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert "Linked" in fields["Status"]
    assert fields["Country or region"] == "US"
    # the day of linking in the member's words (Babel; English here), the last use as Discord's own relative time
    account = await store.get_account(alice)
    assert account is not None
    assert fields["Linked since"] == i18n_date(None, datetime.datetime.fromtimestamp(account.linked_at, datetime.UTC))
    assert fields["Last used"].startswith("<t:")
    assert linked_user not in json.dumps(callback.data)

    rec = await discord_server.send_command("unlink", alice, discord_server.channel_id)
    callback = await discord_server.wait_for_callback(rec)
    assert callback.accepted and callback.data is not None and callback.data["flags"] & EPHEMERAL
    assert "Unlinked" in callback.data["content"]
    assert await store.get_account(alice) is None
    assert await store.get_user_token(alice) is None
    data = await stored_bytes(url)
    assert linked_user.encode() not in data
    assert ciphertext not in data, "the encrypted token is gone (from SQLite's file and WAL too)"

    rec = await discord_server.send_command("account", alice, discord_server.channel_id)
    callback = await discord_server.wait_for_callback(rec)
    assert callback.data is not None and "Not linked" in callback.data["embeds"][0]["description"]
    rec = await discord_server.send_command("unlink", alice, discord_server.channel_id)
    callback = await discord_server.wait_for_callback(rec)
    assert callback.data is not None and "nothing to delete" in callback.data["content"]
    assert linked_user not in sent_to_discord(discord_server)


async def test_apple_403_marks_the_link_stale_and_the_button_relinks(
    running_bot: RatingsBot, discord_server: LoopbackDiscord, apple_server: LoopbackApple, linked_user: str
) -> None:
    alice = discord_server.alice_id
    song = apple_server.add_song(name="Entropy")
    apple_server.revoke(linked_user)
    rec = await discord_server.send_command("rating like", alice, discord_server.channel_id, {"item": song})
    await discord_server.wait_for_callback(rec)
    original = await discord_server.wait_for_original(rec)
    # the deferred answer is replaced by the "link again" message with the Link button
    await discord_server.wait_for_original_edit(rec)
    original = discord_server.messages[original.id]
    text = json.dumps(original.embeds) + original.content
    assert "link" in text.lower()
    assert '"link:start"' in json.dumps(original.components)
    assert original.ephemeral
    account = await running_bot.svc.store.get_account(alice)
    assert account is not None and account.status is AccountStatus.STALE

    # pressing it starts the link flow: a DM with a fresh link
    press = await discord_server.send_component(alice, discord_server.channel_id, original.id, "link:start")
    callback = await discord_server.wait_for_callback(press)
    assert callback.accepted and callback.data is not None and callback.data["flags"] & EPHEMERAL
    link_dm = await bot_dm(discord_server, alice, None, predicate=lambda m: bool(m.embeds) and "url" in m.embeds[0])
    assert link_dm.embeds[0]["url"].startswith(running_bot.settings.link_base_url + "/link?state=")
    assert await running_bot.svc.linking.has_pending_link(alice)


async def test_token_posted_in_a_channel_is_deleted_and_the_author_warned(
    bot_factory: BotFactory, bot_env: dict[str, str], discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    settings = load_settings({**bot_env, "MESSAGE_CONTENT_INTENT": "true"}, env_file=None)
    settings.require()
    apple_server.add_user(PASTED)
    alice = discord_server.alice_id
    channel = discord_server.channel_id
    discord_server.set_bot_permissions(discord_server.guild_id, Permissions.BOT_DEFAULT | Permissions.MANAGE_MESSAGES)
    async with bot_factory(settings) as bot:
        # a share link with a long slug is not a token
        share = "https://music.apple.com/us/album/" + "a-very-long-album-title-" * 6 + "/1613600183?i=1613600188"
        kept = await discord_server.send_message(channel, alice, share)
        msg = await discord_server.send_message(channel, alice, f"here is my token: {PASTED}")
        warning = await bot_dm(discord_server, alice, None)
        assert "/link" in warning.content and "deleted" in warning.content
        assert discord_server.messages[msg.id].deleted
        assert not discord_server.messages[kept.id].deleted
        assert await bot.svc.store.get_account(alice) is None
        assert PASTED not in sent_to_discord(discord_server)
        assert PASTED.encode() not in await stored_bytes(bot.settings.database_url)


async def test_token_in_a_channel_without_manage_messages_is_not_deleted(
    bot_factory: BotFactory, bot_env: dict[str, str], discord_server: LoopbackDiscord
) -> None:
    settings = load_settings({**bot_env, "MESSAGE_CONTENT_INTENT": "true"}, env_file=None)
    alice = discord_server.alice_id
    async with bot_factory(settings) as bot:
        msg = await discord_server.send_message(discord_server.channel_id, alice, PASTED)
        warning = await bot_dm(discord_server, alice, None)
        assert "could not delete" in warning.content
        assert not discord_server.messages[msg.id].deleted
        assert await bot.svc.store.get_account(alice) is None
