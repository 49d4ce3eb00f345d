"""The loopback Discord against the real discord.py 2.7.1 client (only its documented URL globals changed).

Raw aiohttp requests are used where a rule of Discord's must be shown that discord.py would not let us break.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
import time
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from loopback.discord import (
    CallbackType,
    CommandUnavailable,
    LoopbackDiscord,
    Permissions,
    point_discordpy_at,
    running_client,
    shard_for_guild,
)
from tests.fixtures.e2e import eventually
from tests.fixtures.storage import FakeClock

pytestmark = pytest.mark.timeout(30)

REPO = Path(__file__).resolve().parent.parent
#: Seconds a wait may last before the test fails as hung: a guard against hangs, not a speed requirement.
HANG_GUARD = 20.0


def make_bot(intents: discord.Intents | None = None, **kwargs: Any) -> commands.Bot:
    return commands.Bot(
        command_prefix="!",
        intents=intents or discord.Intents.default(),
        guild_ready_timeout=0.05,
        **kwargs,
    )


def auth(server: LoopbackDiscord) -> dict[str, str]:
    return {"Authorization": f"Bot {server.bot_token}"}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def ghost_command(server: LoopbackDiscord) -> None:
    """A command synced earlier that the test bot's tree does not handle (tests answer it over raw HTTP)."""
    server.register_commands([{"name": "ghost", "description": "answered by the test", "type": 1}], server.guild_id)


# ------------------------------------------------------------ login & gateway
async def test_login_ready_and_guild_create(discordpy_at_server: LoopbackDiscord) -> None:
    server = discordpy_at_server
    bot = make_bot()
    async with running_client(bot, server.bot_token):
        assert bot.user is not None and bot.user.id == server.bot_user_id
        assert bot.application_id == server.application_id
        guild = bot.get_guild(server.guild_id)
        assert guild is not None and guild.name == "Test Guild"
        assert [c.name for c in guild.text_channels] == ["music"]
        assert guild.member_count == 3  # owner, bot, alice
        assert guild.me is not None
        perms = guild.me.guild_permissions
        assert perms.add_reactions and perms.send_messages and not perms.manage_messages
    assert [r.path for r in server.requests[:2]] == ["/users/@me", "/oauth2/applications/@me"]
    identify = server.identify_payloads[0]
    assert identify["intents"] == discord.Intents.default().value
    assert identify["token"] == "[redacted]"
    # discord.py asked for zlib-stream transport compression; the server honoured it like Discord does
    conn = server.connections[0]
    assert conn.query["compress"] == "zlib-stream" and conn.query["v"] == "10" and conn.compressed
    session = next(iter(server.sessions.values()))
    assert [e for e, _ in session.events[:2]] == ["READY", "GUILD_CREATE"]
    assert not session.connected
    everything = repr(server.requests) + repr(server.gateway_frames) + repr(server.sessions)
    assert server.bot_token not in everything


async def test_gateway_handshake_over_raw_websocket(
    discord_server: LoopbackDiscord, http: aiohttp.ClientSession
) -> None:
    server = discord_server
    server.heartbeat_interval = 1234
    url = f"{server.gateway_url}?v=10&encoding=json&compress=zlib-stream"
    async with http.ws_connect(url) as ws:
        inflate = zlib.decompressobj()

        async def receive() -> dict[str, Any]:
            msg = await ws.receive(timeout=HANG_GUARD)
            assert msg.type is aiohttp.WSMsgType.BINARY
            assert msg.data[-4:] == b"\x00\x00\xff\xff"
            result: dict[str, Any] = json.loads(inflate.decompress(msg.data))
            return result

        hello = await receive()
        assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] == 1234
        await ws.send_str(json.dumps({"op": 1, "d": None}))
        assert (await receive())["op"] == 11
        await ws.send_str(json.dumps({"op": 2, "d": {"token": server.bot_token, "intents": 513, "properties": {}}}))
        ready = await receive()
        assert ready["t"] == "READY" and ready["s"] == 1
        assert ready["d"]["guilds"] == [{"id": str(server.guild_id), "unavailable": True}]
        assert ready["d"]["application"]["id"] == str(server.application_id)
        assert ready["d"]["resume_gateway_url"] == server.resume_gateway_url
        guild_create = await receive()
        assert guild_create["t"] == "GUILD_CREATE" and guild_create["s"] == 2
        # without GUILD_MEMBERS only the bot's member is sent, member_count is the real count
        assert [m["user"]["id"] for m in guild_create["d"]["members"]] == [str(server.bot_user_id)]
        assert guild_create["d"]["member_count"] == 3
        await ws.send_str(json.dumps({"op": 2, "d": {"token": server.bot_token, "intents": 0}}))
        closing = await ws.receive(timeout=HANG_GUARD)
        assert closing.type is aiohttp.WSMsgType.CLOSE and closing.data == 4005  # already authenticated

    async with http.ws_connect(f"{server.gateway_url}?v=10&encoding=json") as ws:
        assert json.loads((await ws.receive(timeout=HANG_GUARD)).data)["op"] == 10  # plain text without compress
        await ws.send_str(json.dumps({"op": 2, "d": {"token": "wrong", "intents": 0}}))
        closing = await ws.receive(timeout=HANG_GUARD)
        assert closing.type is aiohttp.WSMsgType.CLOSE and closing.data == 4004

    async with http.ws_connect(f"{server.gateway_url}?v=10&encoding=json") as ws:
        await ws.receive(timeout=HANG_GUARD)
        await ws.send_str(json.dumps({"op": 2, "d": {"token": server.bot_token, "intents": 1, "shard": [2, 2]}}))
        closing = await ws.receive(timeout=HANG_GUARD)
        assert closing.type is aiohttp.WSMsgType.CLOSE and closing.data == 4010  # invalid shard


async def test_bad_token_and_disallowed_intents(discordpy_at_server: LoopbackDiscord) -> None:
    server = discordpy_at_server
    with pytest.raises(discord.LoginFailure):
        async with running_client(make_bot(), "not-the-token"):
            pass
    server.privileged_intents = 0  # MESSAGE_CONTENT not enabled "in the portal"
    with pytest.raises(discord.PrivilegedIntentsRequired):
        async with running_client(
            make_bot(discord.Intents.default() | discord.Intents(message_content=True)), server.bot_token
        ):
            pass
    assert server.requests[0].status == 401 and server.requests[0].response == {
        "message": "401: Unauthorized",
        "code": 0,
    }


async def test_rest_auth_content_type_and_unknown_routes(
    discord_server: LoopbackDiscord, http: aiohttp.ClientSession
) -> None:
    server = discord_server
    async with http.get(f"{server.api_base}/users/@me") as resp:
        assert resp.status == 401
        assert resp.headers["Content-Type"] == "application/json"  # exactly, no charset
        assert await resp.json() == {"message": "401: Unauthorized", "code": 0}
    async with http.get(f"{server.api_base}/users/@me", headers={"Authorization": "Bot nope"}) as resp:
        assert resp.status == 401
    async with http.get(f"{server.api_base}/users/@me", headers=auth(server)) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"] == "application/json"
        assert "X-RateLimit-Bucket" in resp.headers
        assert (await resp.json())["id"] == str(server.bot_user_id)
    async with http.get(f"{server.api_base}/users/@me/relationships", headers=auth(server)) as resp:
        assert resp.status == 404 and await resp.json() == {"message": "404: Not Found", "code": 0}
    async with http.delete(f"{server.api_base}/users/@me", headers=auth(server)) as resp:
        assert resp.status == 405
    async with http.get(f"{server.api_base}/gateway/bot", headers=auth(server)) as resp:
        body = await resp.json()
        assert body["shards"] == 1 and body["url"].startswith("ws://127.0.0.1:")
        assert body["session_start_limit"]["max_concurrency"] == 1
    expectations = {
        f"/guilds/{server.guild_id}?with_counts=true": ("approximate_member_count", 3),
        f"/guilds/{server.guild_id}/members/{server.alice_id}": ("user", "alice"),
        f"/users/{server.alice_id}": ("username", "alice"),
        "/applications/@me": ("id", str(server.application_id)),
    }
    for route, (key, expected) in expectations.items():
        async with http.get(f"{server.api_base}{route}", headers=auth(server)) as resp:
            value = (await resp.json())[key]
            assert (value["username"] if key == "user" else value) == expected
    async with http.get(f"{server.api_base}/guilds/{server.guild_id}/channels", headers=auth(server)) as resp:
        assert [c["name"] for c in await resp.json()] == ["music"]
    for route, code in (
        (f"/guilds/{server.guild_id}/members/1", 10007),
        ("/users/1", 10013),
        ("/guilds/1", 10004),
    ):
        async with http.get(f"{server.api_base}{route}", headers=auth(server)) as resp:
            assert resp.status == 404 and (await resp.json())["code"] == code
    assert [(r.method, r.path) for r in server.unknown_requests] == [
        ("GET", "/users/@me/relationships"),
        ("DELETE", "/users/@me"),
    ]
    assert [r.authorized for r in server.requests_to("GET", r"^/users/@me$")] == [False, False, True]
    assert all(r.headers.get("Authorization") in (None, "[redacted]") for r in server.requests)


# -------------------------------------------------------------------------------------------- app commands
async def test_sync_and_slash_command_with_subcommand(discordpy_at_server: LoopbackDiscord) -> None:
    server = discordpy_at_server
    bot = make_bot()
    group = app_commands.Group(name="rate", description="Rate music")

    @group.command(name="song", description="Rate a song")
    async def rate_song(interaction: discord.Interaction, url: str, liked: bool = True) -> None:
        await interaction.response.send_message(f"rated {url} liked={liked}", ephemeral=True)

    guild = discord.Object(server.guild_id)
    bot.tree.add_command(group, guild=guild)
    async with running_client(bot, server.bot_token):
        synced = await bot.tree.sync(guild=guild)
        assert [c.name for c in synced] == ["rate"]
        (put,) = server.requests_to(
            "PUT", rf"^/applications/{server.application_id}/guilds/{server.guild_id}/commands$"
        )
        assert put.json[0]["name"] == "rate" and put.json[0]["options"][0]["name"] == "song"
        assert server.find_command("rate", guild_id=server.guild_id) is not None

        rec = await server.send_command("rate song", server.alice_id, server.channel_id, {"url": "u1", "liked": False})
        assert rec.payload["data"]["guild_id"] == str(server.guild_id)
        assert rec.data["options"] == [
            {
                "name": "song",
                "type": 1,
                "options": [
                    {"name": "url", "type": 3, "value": "u1"},
                    {"name": "liked", "type": 5, "value": False},
                ],
            }
        ]
        for key in (
            "app_permissions",
            "entitlements",
            "authorizing_integration_owners",
            "context",
            "channel",
            "locale",
            "guild_locale",
            "attachment_size_limit",
            "member",
            "version",
        ):
            assert key in rec.payload
        cb = await server.wait_for_callback(rec)
    assert cb.accepted and cb.with_response and cb.type == CallbackType.CHANNEL_MESSAGE_WITH_SOURCE
    assert cb.data is not None and cb.data["content"] == "rated u1 liked=False" and cb.data["flags"] == 64
    message = server.messages[rec.original_message_id or 0]
    assert message.ephemeral and message.type == 20 and message.author_id == server.bot_user_id
    with pytest.raises(LookupError):
        await server.send_command("unsynced", server.alice_id, server.channel_id)


async def test_deferred_response_then_followups(discordpy_at_server: LoopbackDiscord) -> None:
    server = discordpy_at_server
    bot = make_bot()
    done: asyncio.Future[discord.WebhookMessage] = asyncio.get_running_loop().create_future()

    @bot.tree.command(name="slow", description="Takes a while")
    async def slow(interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await interaction.followup.send("first")  # replaces the "thinking" message
        await interaction.edit_original_response(content="edited")
        done.set_result(await interaction.followup.send("second", wait=True))

    bot.tree.copy_global_to(guild=discord.Object(server.guild_id))
    async with running_client(bot, server.bot_token):
        await bot.tree.sync(guild=discord.Object(server.guild_id))
        rec = await server.send_command("slow", server.alice_id, server.channel_id)
        second = await asyncio.wait_for(done, HANG_GUARD)
    cb = rec.callback
    assert cb is not None and cb.type == CallbackType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
    assert cb.data == {"flags": 64}
    original = server.messages[rec.original_message_id or 0]
    assert rec.followup_ids[0] == original.id
    assert original.content == "edited" and original.ephemeral and not original.flags & 128
    assert rec.original_edits == [{"content": "edited"}] or rec.original_edits[0]["content"] == "edited"
    assert second.id == rec.followup_ids[1] != original.id
    assert server.messages[second.id].content == "second" and not server.messages[second.id].ephemeral
    hooks = server.requests_to("POST", rf"^/webhooks/{server.application_id}/")
    assert len(hooks) == 2 and not any(r.authorized for r in hooks)  # webhooks need no bot auth


async def test_late_callback_is_refused_with_10062(discordpy_at_server: LoopbackDiscord, fake_clock: FakeClock) -> None:
    server = discordpy_at_server
    server.clock = fake_clock  # Discord's 3 s deadline, on a clock the test moves
    bot = make_bot()
    outcome: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()

    @bot.tree.command(name="late", description="Answers after 3 s")
    async def late(interaction: discord.Interaction) -> None:
        fake_clock.advance(3.1)  # the handler "took" 3.1 s
        try:
            await interaction.response.send_message("too late")
        except discord.HTTPException as exc:
            outcome.set_result(exc)
        else:
            outcome.set_result(None)

    bot.tree.copy_global_to(guild=discord.Object(server.guild_id))
    async with running_client(bot, server.bot_token):
        await bot.tree.sync(guild=discord.Object(server.guild_id))
        rec = await server.send_command("late", server.alice_id, server.channel_id)
        error = await asyncio.wait_for(outcome, HANG_GUARD)
    assert isinstance(error, discord.NotFound)
    assert error.status == 404 and error.code == 10062
    cb = rec.callback
    assert cb is not None and not cb.accepted and cb.error_code == 10062
    assert cb.elapsed == pytest.approx(3.1)
    assert rec.original_message_id is None and not rec.acknowledged
    assert all(m.author_id != server.bot_user_id for m in server.messages.values())


async def test_deadline_double_ack_and_webhook_rules_over_raw_http(
    discordpy_at_server: LoopbackDiscord, http: aiohttp.ClientSession, fake_clock: FakeClock
) -> None:
    server = discordpy_at_server
    server.clock = fake_clock  # interactions age only when the test says so
    ghost_command(server)
    async with running_client(make_bot(), server.bot_token):
        just_in_time = await server.send_command("ghost", server.alice_id, server.channel_id)
        too_late = await server.send_command("ghost", server.alice_id, server.channel_id)
        fresh = await server.send_command("ghost", server.alice_id, server.channel_id)
    server.age_interaction(just_in_time, 2.8)
    server.age_interaction(too_late, 3.05)

    def callback_url(rec: Any, token: str | None = None) -> str:
        return f"{server.api_base}/interactions/{rec.id}/{token or rec.token}/callback"

    def hook(rec: Any, suffix: str = "") -> str:
        return f"{server.api_base}/webhooks/{server.application_id}/{rec.token}{suffix}"

    body = {"type": 4, "data": {"content": "hi"}}
    async with http.post(callback_url(too_late), json=body) as resp:
        assert resp.status == 404 and await resp.json() == {"message": "Unknown interaction", "code": 10062}
    async with http.post(callback_url(just_in_time, "wrong-token"), json=body) as resp:
        assert (await resp.json())["code"] == 10062
    # follow-up / @original before any response
    async with http.post(hook(just_in_time), json={"content": "x"}) as resp:
        assert resp.status == 404 and (await resp.json())["code"] == 10015
    async with http.get(hook(just_in_time, "/messages/@original")) as resp:
        assert resp.status == 404 and (await resp.json())["code"] == 10008
    async with http.post(callback_url(just_in_time), json=body) as resp:
        assert resp.status == 204  # no with_response → no body
    async with http.post(callback_url(just_in_time), json=body) as resp:
        assert resp.status == 400
        assert await resp.json() == {"message": "Interaction has already been acknowledged.", "code": 40060}
    async with http.get(hook(just_in_time, "/messages/@original")) as resp:
        assert resp.status == 200 and (await resp.json())["content"] == "hi"
    # multipart follow-up (payload_json + a file), as discord.py sends with attachments
    form = aiohttp.FormData()
    form.add_field(
        "payload_json",
        json.dumps({"content": "with file", "attachments": [{"id": 0, "filename": "a.txt"}]}),
        content_type="application/json",
    )
    form.add_field("files[0]", b"hello", filename="a.txt", content_type="text/plain")
    async with http.post(hook(just_in_time) + "?wait=true", data=form) as resp:
        followup = await resp.json()
        assert resp.status == 200 and followup["content"] == "with file"
        assert followup["attachments"][0]["filename"] == "a.txt" and followup["attachments"][0]["size"] == 5
    server.age_interaction(just_in_time, 15 * 60)
    async with http.post(hook(just_in_time), json={"content": "too late"}) as resp:
        assert resp.status == 401 and (await resp.json())["code"] == 50027
    async with http.post(f"{server.api_base}/webhooks/1/{fresh.token}", json={"content": "x"}) as resp:
        assert (await resp.json())["code"] == 10015
    # with_response → InteractionCallbackResponse; invalid callback type for a command → 50035
    async with http.post(callback_url(fresh) + "?with_response=true", json={"type": 7, "data": {}}) as resp:
        assert resp.status == 400 and (await resp.json())["code"] == 50035
    async with http.post(callback_url(fresh) + "?with_response=true", json={"type": 5}) as resp:
        answer = await resp.json()
        assert answer["interaction"]["id"] == str(fresh.id)
        assert answer["interaction"]["response_message_loading"] is True
        assert answer["resource"]["type"] == 5 and answer["resource"]["message"]["flags"] == 128
    assert [cb.status for cb in server.callbacks] == [404, 404, 204, 400, 400, 200]


async def test_deadline_token_lifetime_clock_and_max_concurrency_are_settings(
    http: aiohttp.ClientSession, fake_clock: FakeClock
) -> None:
    server = LoopbackDiscord(
        bot_token="settings-token",
        interaction_deadline=0.5,
        interaction_token_lifetime=60.0,
        clock=fake_clock,
        max_concurrency=16,
    )
    async with server:
        server.populate_default_world()
        ghost_command(server)
        async with http.get(f"{server.api_base}/gateway/bot", headers=auth(server)) as resp:
            assert (await resp.json())["session_start_limit"]["max_concurrency"] == 16
        with point_discordpy_at(server):
            async with running_client(make_bot(), server.bot_token):
                in_time = await server.send_command("ghost", server.alice_id, server.channel_id)
                late = await server.send_command("ghost", server.alice_id, server.channel_id)
        assert in_time.dispatched_at == late.dispatched_at == fake_clock.now

        async def callback(rec: Any) -> tuple[int, Any]:
            url = f"{server.api_base}/interactions/{rec.id}/{rec.token}/callback"
            async with http.post(url, json={"type": 5}) as resp:
                return resp.status, await resp.read()

        async def followup(rec: Any) -> int:
            url = f"{server.api_base}/webhooks/{server.application_id}/{rec.token}"
            async with http.post(url, json={"content": "later"}) as resp:
                return resp.status

        fake_clock.advance(0.375)  # binary-exact steps: elapsed times compare exactly
        assert await callback(in_time) == (204, b"")
        fake_clock.advance(0.25)
        status, body = await callback(late)
        assert status == 404 and json.loads(body)["code"] == 10062
        assert [(cb.status, cb.elapsed) for cb in server.callbacks] == [(204, 0.375), (404, 0.625)]
        fake_clock.advance(59)  # 59.625 s after the dispatch: the token still works
        assert await followup(in_time) == 204
        fake_clock.advance(0.5)
        assert await followup(in_time) == 401
    default = LoopbackDiscord()
    assert (default.max_concurrency, default.interaction_deadline, default.clock) == (1, 3.0, time.monotonic)


async def test_autocomplete_more_than_25_choices_is_refused(discordpy_at_server: LoopbackDiscord) -> None:
    server = discordpy_at_server
    bot = make_bot()
    how_many = {"n": 25}

    @bot.tree.command(name="pick", description="Pick a song")
    async def pick(interaction: discord.Interaction, song: str) -> None:
        await interaction.response.send_message(song)

    @pick.autocomplete("song")
    async def song_choices(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=f"{current}{i}", value=f"v{i}") for i in range(how_many["n"])]

    bot.tree.copy_global_to(guild=discord.Object(server.guild_id))
    async with running_client(bot, server.bot_token):
        await bot.tree.sync(guild=discord.Object(server.guild_id))
        ok = await server.send_autocomplete("pick", server.alice_id, server.channel_id, {"song": "ab"}, "song")
        accepted = await server.wait_for_callback(ok)
        how_many["n"] = 26
        too_many = await server.send_autocomplete("pick", server.alice_id, server.channel_id, {"song": "a"}, "song")
        refused = await server.wait_for_callback(too_many)
    assert ok.data["options"] == [{"name": "song", "type": 3, "value": "ab", "focused": True}]
    assert accepted.accepted and accepted.type == 8 and accepted.data is not None
    assert len(accepted.data["choices"]) == 25 and accepted.data["choices"][0] == {
        "name": "ab0",
        "value": "v0",
    }
    assert refused.status == 400 and refused.error_code == 50035 and refused.type == 8
    body = server.requests_to("POST", rf"/interactions/{too_many.id}/")[0].response
    assert body["errors"]["data"]["choices"]["_errors"][0]["code"] == "BASE_TYPE_MAX_LENGTH"
    assert not too_many.acknowledged


async def test_component_click_and_modal_submit(discordpy_at_server: LoopbackDiscord) -> None:
    server = discordpy_at_server
    bot = make_bot()

    class Buttons(discord.ui.View):
        @discord.ui.button(label="Like", custom_id="rating:like:songs:1440857781")
        async def like(self, interaction: discord.Interaction, button: discord.ui.Button[Buttons]) -> None:
            await interaction.response.edit_message(content="liked", view=None)

    class Feedback(discord.ui.Modal, title="Feedback"):
        text: discord.ui.TextInput[Feedback] = discord.ui.TextInput(label="Your words", custom_id="fb_text")

        async def on_submit(self, interaction: discord.Interaction) -> None:
            await interaction.response.send_message(f"got {self.text.value}", ephemeral=True)

    @bot.tree.command(name="feedback", description="Tell us")
    async def feedback(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(Feedback())

    bot.tree.copy_global_to(guild=discord.Object(server.guild_id))
    async with running_client(bot, server.bot_token):
        await bot.tree.sync(guild=discord.Object(server.guild_id))
        channel = bot.get_channel(server.channel_id)
        assert isinstance(channel, discord.TextChannel)
        sent = await channel.send("rate this", view=Buttons(timeout=None))
        click = await server.send_component(server.alice_id, server.channel_id, sent.id, "rating:like:songs:1440857781")
        clicked = await server.wait_for_callback(click)
        asked = await server.send_command("feedback", server.alice_id, server.channel_id)
        modal_cb = await server.wait_for_callback(asked)
        submit = await server.send_modal_submit(asked, {"fb_text": "great"})
        submitted = await server.wait_for_callback(submit)
    assert click.payload["message"]["id"] == str(sent.id)
    assert clicked.accepted and clicked.type == CallbackType.UPDATE_MESSAGE
    assert server.messages[sent.id].content == "liked" and server.messages[sent.id].components == []
    assert modal_cb.type == CallbackType.MODAL and modal_cb.data is not None
    assert modal_cb.data["custom_id"] == submit.data["custom_id"]
    assert submitted.accepted and submitted.data is not None and submitted.data["content"] == "got great"
    with pytest.raises(ValueError, match="no component"):
        await server.send_component(server.alice_id, server.channel_id, sent.id, "missing")


async def test_message_context_menu_sees_target_content(discordpy_at_server: LoopbackDiscord) -> None:
    server = discordpy_at_server
    bot = make_bot()  # no message_content intent

    @bot.tree.context_menu(name="Rate this song", guild=discord.Object(server.guild_id))
    async def rate_this(interaction: discord.Interaction, message: discord.Message) -> None:
        await interaction.response.send_message(f"target: {message.content}", ephemeral=True)

    async with running_client(bot, server.bot_token):
        await bot.tree.sync(guild=discord.Object(server.guild_id))
        post = await server.send_message(server.channel_id, server.alice_id, "https://music.apple.com/song/1")
        rec = await server.send_message_command("Rate this song", server.alice_id, server.channel_id, post.id)
        cb = await server.wait_for_callback(rec)
    assert cb.data is not None and cb.data["content"] == "target: https://music.apple.com/song/1"
    assert server.messages[rec.original_message_id or 0].type == 23


async def test_command_validation_like_discord(discord_server: LoopbackDiscord, http: aiohttp.ClientSession) -> None:
    server = discord_server
    url = f"{server.api_base}/applications/{server.application_id}/guilds/{server.guild_id}/commands"

    async def put(commands_: Any) -> tuple[int, Any]:
        async with http.put(url, json=commands_, headers=auth(server)) as resp:
            return resp.status, await resp.json()

    status, body = await put([{"name": "Rate", "description": "x", "type": 1}])
    assert status == 400 and body["code"] == 50035
    assert body["errors"]["0"]["name"]["_errors"][0]["code"] == "APPLICATION_COMMAND_INVALID_NAME"
    status, body = await put([{"name": "rate", "description": "x" * 101}])
    assert status == 400 and "description" in body["errors"]["0"]
    options = [{"type": 3, "name": f"o{i}", "description": "d"} for i in range(26)]
    status, body = await put([{"name": "rate", "description": "d", "options": options}])
    assert status == 400 and body["errors"]["0"]["options"]["_errors"][0]["code"] == "BASE_TYPE_MAX_LENGTH"
    status, body = await put([{"name": f"c{i}", "description": "d"} for i in range(101)])
    assert status == 400
    status, body = await put([{"name": "Rate this song", "type": 3}, {"name": "rate", "description": "d"}])
    assert status == 200 and [c["name"] for c in body] == ["Rate this song", "rate"]
    first_ids = [c["id"] for c in body]
    status, body = await put([{"name": "rate", "description": "changed"}, {"name": "Rate this song", "type": 3}])
    assert [c["id"] for c in body] == first_ids[::-1]  # same name+type keeps its id
    async with http.get(url, headers=auth(server)) as resp:
        assert [c["description"] for c in await resp.json()] == ["changed", ""]


# -------------------------------------------------------------------------------------- messages & failures
async def test_rate_limit_429_is_retried_transparently(discordpy_at_server: LoopbackDiscord) -> None:
    server = discordpy_at_server
    path = rf"^/channels/{server.channel_id}/messages$"
    server.fail_next("POST", path, 429, retry_after=0.15)
    async with running_client(make_bot(), server.bot_token) as bot:
        channel = bot.get_channel(server.channel_id)
        assert isinstance(channel, discord.TextChannel)
        started = time.monotonic()
        sent = await channel.send("hello after a 429")
        elapsed = time.monotonic() - started
    attempts = server.requests_to("POST", path)
    assert [r.status for r in attempts] == [429, 200]
    assert attempts[0].response == {
        "message": "You are being rate limited.",
        "retry_after": 0.15,
        "global": False,
    }
    assert elapsed >= 0.15
    assert [m.id for m in server.channel_messages(server.channel_id)] == [sent.id]


async def test_429_headers_and_500_retry(discordpy_at_server: LoopbackDiscord, http: aiohttp.ClientSession) -> None:
    server = discordpy_at_server
    server.fail_next(None, r"^/users/@me$", 429, retry_after=1.5, global_=True)
    async with http.get(f"{server.api_base}/users/@me", headers=auth(server)) as resp:
        assert resp.status == 429 and resp.headers["Via"] == "1.1 google"
        assert resp.headers["Retry-After"] == "2" and resp.headers["X-RateLimit-Global"] == "true"
        assert resp.headers["X-RateLimit-Scope"] == "global" and resp.headers["X-RateLimit-Remaining"] == "0"
        assert resp.headers["Content-Type"] == "application/json"
        assert (await resp.json())["global"] is True
    server.fail_next("GET", rf"^/channels/{server.channel_id}$", 500)
    async with running_client(make_bot(), server.bot_token) as bot:
        channel = await bot.fetch_channel(server.channel_id)  # discord.py waits 1 s and retries a 500
    assert isinstance(channel, discord.TextChannel) and channel.name == "music"
    assert [r.status for r in server.requests_to("GET", rf"^/channels/{server.channel_id}$")] == [500, 200]


async def test_dm_to_user_with_closed_dms_is_forbidden(discordpy_at_server: LoopbackDiscord) -> None:
    server = discordpy_at_server
    bob = server.add_user("bob", dms_open=False)
    server.add_member(server.guild_id, bob)
    async with running_client(make_bot(), server.bot_token) as bot:
        closed = await bot.fetch_user(bob)
        with pytest.raises(discord.Forbidden) as exc_info:
            await closed.send("your rating was saved")
        alice = await bot.fetch_user(server.alice_id)
        delivered = await alice.send("your rating was saved")
    assert exc_info.value.code == 50007 and exc_info.value.status == 403
    dm = server.dm_channel(server.alice_id)
    assert delivered.channel.id == dm and server.channels[dm].type == 1
    assert [m.content for m in server.channel_messages(dm)] == ["your rating was saved"]
    assert len(server.requests_to("POST", r"^/users/@me/channels$")) == 2


async def test_message_limits_are_validated(discordpy_at_server: LoopbackDiscord) -> None:
    server = discordpy_at_server
    async with running_client(make_bot(), server.bot_token) as bot:
        channel = bot.get_channel(server.channel_id)
        assert isinstance(channel, discord.TextChannel)
        with pytest.raises(discord.HTTPException) as too_long_title:
            await channel.send(embed=discord.Embed(title="t" * 257))
        with pytest.raises(discord.HTTPException) as too_long_content:
            await channel.send("c" * 2001)
        with pytest.raises(discord.HTTPException) as too_many_fields:
            embed = discord.Embed(title="ok")
            for i in range(26):
                embed.add_field(name=f"f{i}", value="v")
            await channel.send(embed=embed)
        fine = await channel.send("c" * 2000, embed=discord.Embed(title="t" * 256, description="d" * 4096))
        with pytest.raises(discord.Forbidden) as not_own:
            alice_post = await server.send_message(server.channel_id, server.alice_id, "mine")
            await (await channel.fetch_message(alice_post.id)).delete()
        await fine.delete()
    assert too_long_title.value.code == 50035 and "embeds.0.title" in str(too_long_title.value)
    assert too_long_content.value.code == 50035 and "content" in str(too_long_content.value)
    assert too_many_fields.value.code == 50035
    assert not_own.value.code == 50013
    assert server.messages[fine.id].deleted


async def test_message_content_is_emptied_without_the_intent(discordpy_at_server: LoopbackDiscord) -> None:
    server = discordpy_at_server
    bot = make_bot()
    received: asyncio.Queue[discord.Message] = asyncio.Queue()

    async def on_message(message: discord.Message) -> None:
        await received.put(message)

    bot.add_listener(on_message)
    async with running_client(bot, server.bot_token):
        await server.send_message(server.channel_id, server.alice_id, "https://music.apple.com/song/1")
        plain = await asyncio.wait_for(received.get(), HANG_GUARD)
        await server.send_message(server.channel_id, server.alice_id, f"<@{server.bot_user_id}> rate it")
        mention = await asyncio.wait_for(received.get(), HANG_GUARD)
        await server.send_message(server.dm_channel(server.alice_id), server.alice_id, "in a DM")
        dm = await asyncio.wait_for(received.get(), HANG_GUARD)
        channel = bot.get_channel(server.channel_id)
        assert isinstance(channel, discord.TextChannel)
        await channel.send("bot's own")
        own = await asyncio.wait_for(received.get(), HANG_GUARD)
    assert plain.content == "" and plain.author.id == server.alice_id
    assert mention.content == f"<@{server.bot_user_id}> rate it"
    assert dm.content == "in a DM" and isinstance(dm.channel, discord.DMChannel)
    assert own.content == "bot's own"

    intents = discord.Intents.default()
    intents.message_content = True
    reader = make_bot(intents)
    reader.add_listener(on_message)
    async with running_client(reader, server.bot_token):
        await server.send_message(server.channel_id, server.alice_id, "now visible")
        visible = await asyncio.wait_for(received.get(), HANG_GUARD)
    assert visible.content == "now visible"


async def test_reactions_dispatch_raw_events_and_rest_rules(discordpy_at_server: LoopbackDiscord) -> None:
    server = discordpy_at_server
    bot = make_bot()
    added: asyncio.Queue[discord.RawReactionActionEvent] = asyncio.Queue()
    removed: asyncio.Queue[discord.RawReactionActionEvent] = asyncio.Queue()

    async def on_raw_reaction_add(event: discord.RawReactionActionEvent) -> None:
        await added.put(event)

    async def on_raw_reaction_remove(event: discord.RawReactionActionEvent) -> None:
        await removed.put(event)

    bot.add_listener(on_raw_reaction_add)
    bot.add_listener(on_raw_reaction_remove)
    async with running_client(bot, server.bot_token):
        post = await server.send_message(server.channel_id, server.alice_id, "a song")
        assert await server.add_reaction(server.channel_id, post.id, server.alice_id, "👍")
        event = await asyncio.wait_for(added.get(), HANG_GUARD)
        assert (event.user_id, event.message_id, event.channel_id, event.guild_id) == (
            server.alice_id,
            post.id,
            server.channel_id,
            server.guild_id,
        )
        assert str(event.emoji) == "👍" and event.event_type == "REACTION_ADD"
        assert event.member is not None and event.member.id == server.alice_id
        assert event.type is discord.ReactionType.normal and not event.burst
        assert event.message_author_id == server.alice_id

        assert await server.remove_reaction(server.channel_id, post.id, server.alice_id, "👍")
        gone = await asyncio.wait_for(removed.get(), HANG_GUARD)
        assert gone.user_id == server.alice_id and gone.member is None and gone.event_type == "REACTION_REMOVE"

        await server.add_reaction(server.channel_id, post.id, server.alice_id, "👍")
        await asyncio.wait_for(added.get(), HANG_GUARD)
        channel = bot.get_channel(server.channel_id)
        assert isinstance(channel, discord.TextChannel)
        message = await channel.fetch_message(post.id)
        await message.add_reaction("👍")  # PUT .../reactions/👍/@me
        mine = await asyncio.wait_for(added.get(), HANG_GUARD)
        assert mine.user_id == server.bot_user_id
        message = await channel.fetch_message(post.id)
        assert message.reactions[0].count == 2 and message.reactions[0].me
        users = [u.id async for u in message.reactions[0].users(limit=10)]
        assert set(users) == {server.alice_id, server.bot_user_id}
        listed = server.requests_to("GET", rf"/messages/{post.id}/reactions/👍$")[0]
        assert [u["id"] for u in listed.response] == sorted([str(server.alice_id), str(server.bot_user_id)])

        with pytest.raises(discord.Forbidden) as no_manage:
            await message.remove_reaction("👍", discord.Object(server.alice_id))
        server.set_bot_permissions(server.guild_id, Permissions.BOT_DEFAULT | Permissions.MANAGE_MESSAGES)
        await server.wait_for_dispatch("GUILD_ROLE_UPDATE")
        await message.remove_reaction("👍", discord.Object(server.alice_id))
        assert (await asyncio.wait_for(removed.get(), HANG_GUARD)).user_id == server.alice_id
        guild = bot.get_guild(server.guild_id)
        # the GUILD_ROLE_UPDATE reached discord.py's cache
        assert guild is not None and guild.me.guild_permissions.manage_messages

        server.set_bot_permissions(server.guild_id, Permissions.BOT_DEFAULT & ~Permissions.ADD_REACTIONS)
        with pytest.raises(discord.Forbidden) as no_add:
            await message.add_reaction("👎")  # a new reaction needs ADD_REACTIONS
        await server.add_reaction(server.channel_id, post.id, server.alice_id, "👍")
        await asyncio.wait_for(added.get(), HANG_GUARD)
        assert bot.user is not None
        await message.remove_reaction("👍", bot.user)  # DELETE .../👍/@me
        assert (await asyncio.wait_for(removed.get(), HANG_GUARD)).user_id == server.bot_user_id
        await message.add_reaction("👍")  # joining an existing reaction needs no ADD_REACTIONS
    assert no_manage.value.code == 50013 and no_add.value.code == 50013
    assert [r.status for r in server.requests_to("PUT", r"/reactions/")] == [204, 403, 204]
    assert server.messages[post.id].reactions["👍"].user_ids == [server.alice_id, server.bot_user_id]


async def test_two_processes_as_shards_0_and_1(discordpy_at_server: LoopbackDiscord) -> None:
    server = discordpy_at_server
    extra = {
        0: server.add_guild("Shard zero", guild_id=server.make_guild_id(0, 2)),
        1: server.add_guild("Shard one", guild_id=server.make_guild_id(1, 2)),
    }
    channel_one = server.add_text_channel(extra[1].id, "general")
    server.add_member(extra[1].id, server.alice_id)
    server.max_concurrency = 2  # shards 0 and 1 are in buckets 0 and 1: they may identify at once
    loop = asyncio.get_running_loop()
    seen: dict[int, asyncio.Future[int]] = {0: loop.create_future(), 1: loop.create_future()}
    bots = {i: make_bot(shard_id=i, shard_count=2) for i in (0, 1)}
    for i, bot in bots.items():

        async def on_interaction(interaction: discord.Interaction, shard: int = i) -> None:
            seen[shard].set_result(interaction.id)

        bot.add_listener(on_interaction)
    ghost = [{"name": "ghost", "description": "d"}]
    server.register_commands(ghost)  # global: usable in DMs
    server.register_commands(ghost, extra[1].id)
    async with running_client(bots[0], server.bot_token), running_client(bots[1], server.bot_token):
        for shard, bot in bots.items():
            expected = {g.id for g in server.guilds.values() if shard_for_guild(g.id, 2) == shard}
            assert {g.id for g in bot.guilds} == expected
            assert extra[shard].id in expected and extra[1 - shard].id not in expected
        rec = await server.send_command("ghost", server.alice_id, channel_one)
        dm_rec = await server.send_command("ghost", server.alice_id, server.dm_channel(server.alice_id))
        assert await asyncio.wait_for(seen[1], HANG_GUARD) == rec.id
        assert await asyncio.wait_for(seen[0], HANG_GUARD) == dm_rec.id
    assert (rec.shard_id, dm_rec.shard_id) == (1, 0)
    assert "guild_id" not in dm_rec.payload and dm_rec.payload["user"]["id"] == str(server.alice_id)
    assert dm_rec.payload["context"] == 1
    delivered = {s.shard_id: [d["id"] for d in s.events_named("INTERACTION_CREATE")] for s in server.sessions.values()}
    assert delivered == {0: [str(dm_rec.id)], 1: [str(rec.id)]}
    assert sorted(p["shard"] for p in server.identify_payloads) == [[0, 2], [1, 2]]
    assert [i.bucket for i in server.identifies] == [0, 1] and not server.refused_identifies


class TurnTakingBot(commands.Bot):
    """A client whose wait before identifying again moves the server's fake clock by Discord's 5 s (discord.py's
    default hook sleeps 5 real seconds)."""

    def __init__(self, clock: FakeClock, **kwargs: Any) -> None:
        super().__init__(command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.05, **kwargs)
        self.clock = clock

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        if not initial:
            self.clock.advance(5.0)


async def test_a_second_identify_in_one_bucket_within_5_s_gets_invalid_session(
    discordpy_at_server: LoopbackDiscord, fake_clock: FakeClock
) -> None:
    server = discordpy_at_server
    server.clock = fake_clock  # Discord's 5 s per bucket, on a clock the test moves
    assert server.max_concurrency == 1  # every shard is in bucket 0
    start = fake_clock()
    first = TurnTakingBot(fake_clock, shard_id=0, shard_count=2)
    second = TurnTakingBot(fake_clock, shard_id=1, shard_count=2)
    async with running_client(first, server.bot_token), running_client(second, server.bot_token):
        assert first.is_ready() and second.is_ready()
    # shard 1 identified at the same instant as shard 0: op 9 Invalid Session (d false), no session; 5 s later, READY
    assert [(i.shard, i.bucket, i.at - start, i.accepted) for i in server.identifies] == [
        ((0, 2), 0, 0.0, True),
        ((1, 2), 0, 0.0, False),
        ((1, 2), 0, 5.0, True),
    ]
    assert sorted(s.shard_id for s in server.sessions.values()) == [0, 1]
    refused = next(f for f in server.gateway_frames if f.op == 2 and f.d["shard"] == [1, 2])
    assert refused.session_id is None  # the refused IDENTIFY started no session


async def test_identify_buckets_are_shard_id_modulo_max_concurrency(
    discordpy_at_server: LoopbackDiscord, fake_clock: FakeClock
) -> None:
    server = discordpy_at_server
    server.clock = fake_clock
    server.max_concurrency = 2
    bots = [TurnTakingBot(fake_clock, shard_id=shard, shard_count=3) for shard in range(3)]
    async with running_client(bots[0], server.bot_token), running_client(bots[1], server.bot_token):
        async with running_client(bots[2], server.bot_token):  # shard 2 shares bucket 0 with shard 0
            pass
    assert [(i.shard[0], i.bucket, i.accepted) for i in server.identifies] == [
        (0, 0, True),
        (1, 1, True),
        (2, 0, False),
        (2, 0, True),
    ]
    assert server.identifies[-1].at - server.identifies[0].at == 5.0


async def test_auto_sharded_bot_uses_gateway_bot(discord_server: LoopbackDiscord) -> None:
    server = discord_server
    server.recommended_shards = 2
    server.max_concurrency = 2  # both shards may identify at once
    server.add_guild("other shard", guild_id=server.make_guild_id(1 - shard_for_guild(server.guild_id, 2), 2))

    class FastSharded(commands.AutoShardedBot):
        async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
            return None  # documented hook; the default sleeps 5 s between shards

    with point_discordpy_at(server):
        bot = FastSharded(command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.05)
        async with running_client(bot, server.bot_token):
            assert bot.shard_count == 2 and len(bot.guilds) == 2
            assert {g.shard_id for g in bot.guilds} == {0, 1}
    assert server.requests_to("GET", r"^/gateway/bot$")


async def test_resume_after_disconnect_replays_missed_events(discordpy_at_server: LoopbackDiscord) -> None:
    server = discordpy_at_server
    bot = make_bot()
    resumed = asyncio.Event()
    received: asyncio.Queue[discord.Message] = asyncio.Queue()

    async def on_resumed() -> None:
        resumed.set()

    async def on_message(message: discord.Message) -> None:
        await received.put(message)

    bot.add_listener(on_resumed)
    bot.add_listener(on_message)
    async with running_client(bot, server.bot_token):
        session = await server.wait_for_session(0)
        await server.disconnect(0)
        assert not server.sessions_for_shard(0)[0].connected
        await server.send_message(server.channel_id, server.alice_id, f"<@{server.bot_user_id}> while away")
        await asyncio.wait_for(resumed.wait(), HANG_GUARD)
        missed = await asyncio.wait_for(received.get(), HANG_GUARD)
        assert session.connected and session.resumes == 1
    assert missed.content.endswith("while away")
    assert len(server.sessions) == 1  # resumed, not re-identified
    resume_frames = [f for f in server.gateway_frames if f.op == 6]
    assert resume_frames[0].d["token"] == "[redacted]" and resume_frames[0].d["session_id"] == session.session_id
    assert server.connections[1].path == "/resume"


async def test_channel_message_routes_over_raw_http(
    discord_server: LoopbackDiscord, http: aiohttp.ClientSession
) -> None:
    server = discord_server
    base = f"{server.api_base}/channels/{server.channel_id}/messages"
    posts = [await server.send_message(server.channel_id, server.alice_id, f"m{i}") for i in range(5)]
    ids = [m.id for m in posts]

    async def listed(query: str) -> list[int]:
        async with http.get(f"{base}?{query}", headers=auth(server)) as resp:
            assert resp.status == 200
            return [int(m["id"]) for m in await resp.json()]

    assert await listed("limit=2") == [ids[4], ids[3]]  # newest first
    assert await listed(f"before={ids[2]}&limit=10") == [ids[1], ids[0]]
    assert await listed(f"after={ids[2]}") == [ids[4], ids[3]]
    assert await listed(f"around={ids[2]}&limit=3") == [ids[3], ids[2], ids[1]]
    async with http.get(f"{base}?limit=101", headers=auth(server)) as resp:
        assert resp.status == 400 and (await resp.json())["code"] == 50035
    # the app has MESSAGE_CONTENT enabled in the "portal": REST shows content
    async with http.get(f"{base}/{ids[0]}", headers=auth(server)) as resp:
        assert (await resp.json())["content"] == "m0"
    async with http.patch(f"{base}/{ids[0]}", json={"content": "hijack"}, headers=auth(server)) as resp:
        assert resp.status == 403 and (await resp.json())["code"] == 50005
    async with http.post(
        base,
        json={"content": "reply", "message_reference": {"message_id": str(ids[0])}},
        headers=auth(server),
    ) as resp:
        reply = await resp.json()
        assert reply["type"] == 19 and reply["referenced_message"]["id"] == str(ids[0])
        assert [u["id"] for u in reply["mentions"]] == [str(server.alice_id)]  # the replied-to author
    async with http.patch(f"{base}/{reply['id']}", json={"content": "edited"}, headers=auth(server)) as resp:
        assert resp.status == 200 and (await resp.json())["edited_timestamp"] is not None
    async with http.post(base, json={}, headers=auth(server)) as resp:
        assert resp.status == 400 and (await resp.json())["code"] == 50006
    async with http.get(f"{server.api_base}/channels/1/messages", headers=auth(server)) as resp:
        assert resp.status == 404 and (await resp.json())["code"] == 10003
    server.set_bot_permissions(server.guild_id, Permissions.VIEW_CHANNEL)
    async with http.post(base, json={"content": "x"}, headers=auth(server)) as resp:
        assert resp.status == 403 and await resp.json() == {"message": "Missing Permissions", "code": 50013}

    # knobs: latency and a counted failure with a custom body
    server.set_latency("GET", r"^/users/@me$", 0.2)
    server.fail_next("GET", r"^/users/@me$", 502, count=2, body={"message": "bad gateway", "code": 0})
    started = time.monotonic()
    statuses = []
    for _ in range(3):
        async with http.get(f"{server.api_base}/users/@me", headers=auth(server)) as resp:
            statuses.append(resp.status)
    assert statuses == [502, 502, 200] and time.monotonic() - started >= 0.6


async def test_user_context_menu_gets_resolved_member(discordpy_at_server: LoopbackDiscord) -> None:
    server = discordpy_at_server
    bot = make_bot()

    @bot.tree.context_menu(name="Show ratings", guild=discord.Object(server.guild_id))
    async def show_ratings(interaction: discord.Interaction, member: discord.Member) -> None:
        await interaction.response.send_message(f"{member.name} in {member.guild.name}", ephemeral=True)

    async with running_client(bot, server.bot_token):
        await bot.tree.sync(guild=discord.Object(server.guild_id))
        rec = await server.send_user_command("Show ratings", server.alice_id, server.channel_id, server.alice_id)
        cb = await server.wait_for_callback(rec)
    assert rec.data["target_id"] == str(server.alice_id)
    assert str(server.alice_id) in rec.data["resolved"]["members"]
    assert cb.data is not None and cb.data["content"] == "alice in Test Guild"
    reply = await server.wait_for_message(server.channel_id, author_id=server.bot_user_id)
    assert reply.id == rec.original_message_id and reply.type == 23


async def test_runs_as_a_separate_process(http: aiohttp.ClientSession) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "loopback.discord",
        "--bot-token",
        "process-token",
        stdout=asyncio.subprocess.PIPE,
        cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), HANG_GUARD)).decode().split()
        assert line[:2] == ["listening", "on"]
        api_base, gateway_url, admin_url = line[2:]
        bot_auth = {"Authorization": "Bot process-token"}
        async with http.get(f"{api_base}/gateway/bot", headers=bot_auth) as resp:
            assert resp.status == 200 and (await resp.json())["url"] == gateway_url.rstrip("/")
        async with http.post(f"{admin_url}/_admin/world", json={}) as resp:
            world = (await resp.json())["result"]
        async with http.get(f"{api_base}/channels/{world['channel_id']}", headers=bot_auth) as resp:
            assert (await resp.json())["name"] == "music"  # the default world
        async with http.post(f"{admin_url}/_admin/requests_count", json={}) as resp:
            assert await resp.json() == {"result": 2}  # admin calls are not Discord requests
        async with http.post(f"{admin_url}/_admin/close", json={}) as resp:
            assert resp.status == 404  # only whitelisted operations
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), HANG_GUARD) == 0  # SIGTERM ends it cleanly


# ------------------------------------------------------------ who may use a command (contexts, installs, overrides)
async def test_discord_refuses_commands_where_they_are_not_available(discordpy_at_server: LoopbackDiscord) -> None:
    server = discordpy_at_server
    guild, channel, alice = server.guild_id, server.channel_id, server.alice_id
    server.register_commands(
        [
            {"name": "servers", "description": "d", "contexts": [0], "integration_types": [0]},
            {"name": "anywhere", "description": "d"},
            {"name": "nodm", "description": "d", "dm_permission": False},
            {"name": "admins", "description": "d", "default_member_permissions": str(Permissions.MANAGE_GUILD)},
        ]
    )
    bot_less = server.add_guild("No bot", with_bot=False)
    bot_less_channel = server.add_text_channel(bot_less.id, "general")
    server.add_member(bot_less.id, alice)
    dm = server.dm_channel(alice)
    async with running_client(make_bot(), server.bot_token):
        await server.send_command("servers", alice, channel)
        await server.send_command("anywhere", alice, dm)
        await server.send_command("anywhere", alice, bot_less_channel, installed_by_user=True)
        for name, where, user_install in [
            ("servers", dm, False),  # context 1 not in [0]
            ("servers", bot_less_channel, True),  # a user install, the command is for guild installs
            ("nodm", dm, False),
            ("admins", channel, False),  # alice lacks Manage Server
        ]:
            with pytest.raises(CommandUnavailable):
                await server.send_command(name, alice, where, installed_by_user=user_install)
        admins = server.find_command("admins")
        assert admins is not None
        admins_id = int(admins["id"])
        alice_role = server.guilds[guild].members[alice].role_ids[0]
        # command permissions v2: a role allowed on the command lets her in; her user denied wins over the role
        server.set_command_permissions(guild, admins_id, [{"id": str(alice_role), "type": 1, "permission": True}])
        await server.send_command("admins", alice, channel)
        server.set_command_permissions(
            guild,
            admins_id,
            [
                {"id": str(alice_role), "type": 1, "permission": True},
                {"id": str(alice), "type": 2, "permission": False},
            ],
        )
        with pytest.raises(CommandUnavailable):
            await server.send_command("admins", alice, channel)
        # app-wide overrides apply when the command has none; a channel denied closes it there
        server.set_command_permissions(guild, admins_id, [])
        server.set_command_permissions(guild, None, [{"id": str(guild), "type": 1, "permission": True}])
        await server.send_command("admins", alice, channel)
        server.set_command_permissions(guild, admins_id, [{"id": str(channel), "type": 3, "permission": False}])
        with pytest.raises(CommandUnavailable):
            await server.send_command("admins", alice, channel)
        owner = server.guilds[guild].owner_id
        server.set_command_permissions(guild, admins_id, [])
        await server.send_command("admins", owner, channel)  # the owner has every permission


async def test_edits_and_deletions_dispatch_raw_events_and_bulk_delete_rules(
    discordpy_at_server: LoopbackDiscord, http: aiohttp.ClientSession
) -> None:
    """MESSAGE_UPDATE carries the whole edited message (its content with the Message Content intent); MESSAGE_DELETE
    one id; MESSAGE_DELETE_BULK every id of a moderator's purge or of ``POST .../messages/bulk-delete``, which takes
    2 to 100 distinct ids of messages under 14 days old and needs Manage Messages."""
    server = discordpy_at_server
    bot = make_bot(intents=discord.Intents.default() | discord.Intents(message_content=True))
    edits: asyncio.Queue[discord.RawMessageUpdateEvent] = asyncio.Queue()
    deletes: asyncio.Queue[discord.RawMessageDeleteEvent] = asyncio.Queue()
    bulk: asyncio.Queue[discord.RawBulkMessageDeleteEvent] = asyncio.Queue()
    bot.add_listener(edits.put, "on_raw_message_edit")
    bot.add_listener(deletes.put, "on_raw_message_delete")
    bot.add_listener(bulk.put, "on_raw_bulk_message_delete")
    ch = server.channel_id
    async with running_client(bot, server.bot_token):
        post = await server.send_message(ch, server.alice_id, "first https://music.apple.com/us/song/x/1")
        await server.edit_message(post.id, "second https://music.apple.com/us/song/x/2")
        edit = await asyncio.wait_for(edits.get(), HANG_GUARD)
        assert (edit.message_id, edit.channel_id, edit.guild_id) == (post.id, ch, server.guild_id)
        assert edit.data["content"] == edit.message.content == "second https://music.apple.com/us/song/x/2"
        assert edit.message.author.id == server.alice_id and edit.message.edited_at is not None

        await server.delete_message(post.id)
        deleted = await asyncio.wait_for(deletes.get(), HANG_GUARD)
        assert (deleted.message_id, deleted.channel_id, deleted.guild_id) == (post.id, ch, server.guild_id)

        purged = [(await server.send_message(ch, server.alice_id, f"post {i}")).id for i in range(3)]
        await server.bulk_delete_messages(ch, purged)
        event = await asyncio.wait_for(bulk.get(), HANG_GUARD)
        assert (event.message_ids, event.channel_id, event.guild_id) == (set(purged), ch, server.guild_id)

        channel = bot.get_channel(ch)
        assert isinstance(channel, discord.TextChannel)
        two = [await channel.send(f"mine {i}") for i in range(2)]
        with pytest.raises(discord.Forbidden) as no_manage:
            await channel.delete_messages(two)
        server.set_bot_permissions(server.guild_id, Permissions.BOT_DEFAULT | Permissions.MANAGE_MESSAGES)
        await server.wait_for_dispatch("GUILD_ROLE_UPDATE")
        await channel.delete_messages(two)
        event = await asyncio.wait_for(bulk.get(), HANG_GUARD)
        assert event.message_ids == {m.id for m in two} and all(server.messages[m.id].deleted for m in two)

        url = f"{server.api_base}/channels/{ch}/messages/bulk-delete"
        fresh = [(await server.send_message(ch, server.alice_id, f"x {i}")).id for i in range(2)]
        old = discord.utils.time_snowflake(discord.utils.utcnow() - dt.timedelta(days=15))
        refused = []
        for ids in ([fresh[0]], [fresh[0], fresh[0]], [fresh[0], old], list(range(1, 102))):
            async with http.post(url, json={"messages": [str(i) for i in ids]}, headers=auth(server)) as resp:
                refused.append((resp.status, (await resp.json())["code"]))
        assert refused == [(400, 50035), (400, 50016), (400, 50034), (400, 50035)]
        assert not any(server.messages[m].deleted for m in fresh), "a refused bulk delete deletes nothing"
    assert no_manage.value.code == 50013
    assert bulk.empty() and edits.empty()


# ------------------------------------------------------------ leaving a guild, attachments on callbacks
async def test_removing_the_bot_sends_guild_delete_without_unavailable_and_rejoining_guild_create(
    discordpy_at_server: LoopbackDiscord,
) -> None:
    server = discordpy_at_server
    bot = make_bot()
    removed: list[int] = []
    joined: list[int] = []
    unavailable: list[int] = []

    async def on_guild_remove(guild: discord.Guild) -> None:
        removed.append(guild.id)

    async def on_guild_join(guild: discord.Guild) -> None:
        joined.append(guild.id)

    async def on_guild_unavailable(guild: discord.Guild) -> None:
        unavailable.append(guild.id)

    for listener in (on_guild_remove, on_guild_join, on_guild_unavailable):
        bot.add_listener(listener)
    other = server.add_guild("Other Guild")
    async with running_client(bot, server.bot_token):
        await server.wait_for_dispatch("GUILD_CREATE", predicate=lambda d: d["id"] == str(other.id), timeout=HANG_GUARD)
        # an admin removes the bot: the bot is no longer a member, and Discord says so (no "unavailable")
        server.remove_bot_from_guild(server.guild_id)
        data = await server.wait_for_dispatch("GUILD_DELETE", timeout=HANG_GUARD)
        assert data == {"id": str(server.guild_id)}
        await eventually(lambda: removed == [server.guild_id], HANG_GUARD, "on_guild_remove")
        assert bot.get_guild(server.guild_id) is None and unavailable == []
        # the bot leaves the other guild itself (DELETE /users/@me/guilds/{id}): the same event
        await other_guild(bot, other.id).leave()
        await eventually(lambda: removed == [server.guild_id, other.id], HANG_GUARD, "on_guild_remove (left)")
        assert server.bot_user_id not in server.guilds[other.id].members
        # invited again: GUILD_CREATE, which discord.py reports as a join
        server.add_bot_to_guild(server.guild_id)
        await eventually(lambda: joined == [server.guild_id], HANG_GUARD, "on_guild_join")
        assert bot.get_guild(server.guild_id) is not None
    with pytest.raises(ValueError, match="not in this guild"):
        server.remove_bot_from_guild(other.id)


def other_guild(bot: commands.Bot, guild_id: int) -> discord.Guild:
    guild = bot.get_guild(guild_id)
    assert guild is not None
    return guild


async def test_an_interaction_callback_carries_an_attachment_served_at_its_url(
    discordpy_at_server: LoopbackDiscord, http: aiohttp.ClientSession
) -> None:
    server = discordpy_at_server
    ghost_command(server)
    async with running_client(make_bot(), server.bot_token):
        rec = await server.send_command("ghost", server.alice_id, server.channel_id)
    # multipart/form-data: payload_json (the callback, with attachments referring to files[n]) and the file
    form = aiohttp.FormData()
    payload = {"type": 4, "data": {"flags": 64, "attachments": [{"id": 0, "filename": "data.json"}]}}
    form.add_field("payload_json", json.dumps(payload), content_type="application/json")
    form.add_field("files[0]", b'{"a": 1}', filename="data.json", content_type="application/json")
    url = f"{server.api_base}/interactions/{rec.id}/{rec.token}/callback?with_response=true"
    async with http.post(url, data=form) as resp:
        assert resp.status == 200
        message = (await resp.json())["resource"]["message"]
    [attachment] = message["attachments"]
    assert attachment["filename"] == "data.json" and attachment["size"] == 8 and message["flags"] & 64
    assert server.attachment_bytes(attachment) == b'{"a": 1}'
    async with http.get(attachment["url"]) as resp:
        assert resp.status == 200 and await resp.read() == b'{"a": 1}'
    # the request record lists the file, not its bytes
    [recorded] = server.requests_to("POST", r"/callback$")
    assert recorded.files == [
        {"field": "files[0]", "filename": "data.json", "content_type": "application/json", "size": 8}
    ]
