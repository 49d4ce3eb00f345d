"""Populated guilds in the loopback Discord (issue 17, capacity): GUILD_CREATE as Discord documents it, and the bot
with its lean caches in many such guilds.

The shapes below are Discord's documented Guild object, GUILD_CREATE's extra fields, and the channel, role, emoji
and voice state objects (discord-api-docs: Guild, Gateway Events "Guild Create", Channel, Permissions, Emoji,
Voice). Memory is the benchmark's business (``python -m bench --only capacity``), never a test's.
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.app import RatingsBot
from loopback.apple import LoopbackApple
from loopback.discord import ChannelType, GuildShape, Intents, LoopbackDiscord
from tests.fixtures.apple import AppleKey
from tests.fixtures.bot import ALICE_MUT, BotFactory
from tests.fixtures.e2e import eventually, share, writes

pytestmark = pytest.mark.timeout(60)

#: Seconds a wait may last before the test fails as hung: a guard against hangs, not a speed requirement.
HANG_GUARD = 20.0
GUILDS = 30

SNOWFLAKE = "snowflake"
OPT_SNOWFLAKE = "snowflake?"
ISO = "iso8601"
_NONE = type(None)

#: Discord's Guild object (fields a GUILD_CREATE carries) and the event's extra fields: name -> type
GUILD_CREATE: dict[str, Any] = {
    "id": SNOWFLAKE,
    "name": str,
    "icon": (str, _NONE),
    "splash": (str, _NONE),
    "discovery_splash": (str, _NONE),
    "owner_id": SNOWFLAKE,
    "afk_channel_id": OPT_SNOWFLAKE,
    "afk_timeout": int,
    "verification_level": int,
    "default_message_notifications": int,
    "explicit_content_filter": int,
    "roles": list,
    "emojis": list,
    "features": list,
    "mfa_level": int,
    "application_id": OPT_SNOWFLAKE,
    "system_channel_id": OPT_SNOWFLAKE,
    "system_channel_flags": int,
    "rules_channel_id": OPT_SNOWFLAKE,
    "max_members": int,
    "vanity_url_code": (str, _NONE),
    "description": (str, _NONE),
    "banner": (str, _NONE),
    "premium_tier": int,
    "premium_subscription_count": int,
    "preferred_locale": str,
    "public_updates_channel_id": OPT_SNOWFLAKE,
    "max_video_channel_users": int,
    "max_stage_video_channel_users": int,
    "nsfw_level": int,
    "stickers": list,
    "premium_progress_bar_enabled": bool,
    "safety_alerts_channel_id": OPT_SNOWFLAKE,
    # GUILD_CREATE's extra fields
    "joined_at": ISO,
    "large": bool,
    "unavailable": bool,
    "member_count": int,
    "voice_states": list,
    "members": list,
    "channels": list,
    "threads": list,
    "presences": list,
    "stage_instances": list,
    "guild_scheduled_events": list,
    "soundboard_sounds": list,
}
ROLE = {
    "id": SNOWFLAKE,
    "name": str,
    "color": int,
    "hoist": bool,
    "icon": (str, _NONE),
    "unicode_emoji": (str, _NONE),
    "position": int,
    "permissions": str,
    "managed": bool,
    "mentionable": bool,
    "flags": int,
}
EMOJI = {"id": SNOWFLAKE, "name": str, "roles": list, "require_colons": bool, "managed": bool, "animated": bool}
EMOJI_AVAILABLE = {**EMOJI, "available": bool}
OVERWRITE = {"id": SNOWFLAKE, "type": int, "allow": str, "deny": str}
CHANNEL = {
    "id": SNOWFLAKE,
    "type": int,
    "name": str,
    "position": int,
    "permission_overwrites": list,
    "nsfw": bool,
    "parent_id": OPT_SNOWFLAKE,
    "flags": int,
}
TEXT = {**CHANNEL, "topic": (str, _NONE), "last_message_id": OPT_SNOWFLAKE, "rate_limit_per_user": int}
VOICE = {
    **CHANNEL,
    "bitrate": int,
    "user_limit": int,
    "rtc_region": (str, _NONE),
    "last_message_id": OPT_SNOWFLAKE,
    "rate_limit_per_user": int,
}
VOICE_STATE = {
    "channel_id": OPT_SNOWFLAKE,
    "user_id": SNOWFLAKE,
    "session_id": str,
    "deaf": bool,
    "mute": bool,
    "self_deaf": bool,
    "self_mute": bool,
    "self_video": bool,
    "suppress": bool,
    "request_to_speak_timestamp": (str, _NONE),
}
MEMBER = {"user": dict, "roles": list, "joined_at": ISO, "deaf": bool, "mute": bool, "flags": int}


def check(obj: dict[str, Any], spec: dict[str, Any], what: str) -> None:
    """Every field of ``spec`` is in ``obj`` with its documented type."""
    for name, kind in spec.items():
        assert name in obj, f"{what}: no {name}"
        value = obj[name]
        if kind in (SNOWFLAKE, OPT_SNOWFLAKE):
            ok = (value is None and kind == OPT_SNOWFLAKE) or (isinstance(value, str) and value.isdigit())
        elif kind == ISO:
            ok = isinstance(value, str) and "T" in value
        else:
            ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        assert ok, f"{what}: {name}={value!r} is not {kind}"


@pytest.fixture
def populated(discord_server: LoopbackDiscord) -> list[int]:
    """``GUILDS`` populated guilds (seeded shapes) besides the default world's, added before anyone connects."""
    rng = random.Random(17)
    guilds = [discord_server.add_populated_guild(f"server {i}", GuildShape.varied(rng)) for i in range(GUILDS - 1)]
    # one guild as large as discord.py's threshold (250) makes it, with members in voice
    big = discord_server.add_populated_guild("big server", GuildShape(member_count=5000, in_voice=3))
    return [g.id for g in [*guilds, big]]


async def gateway_events(server: LoopbackDiscord, intents: int, count: int) -> list[dict[str, Any]]:
    """IDENTIFY over a raw websocket (large_threshold 250, as discord.py sends) and read ``count`` dispatches."""
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{server.gateway_url}?v=10&encoding=json") as ws:
        assert json.loads((await ws.receive(timeout=HANG_GUARD)).data)["op"] == 10
        identify = {"token": server.bot_token, "intents": intents, "properties": {}, "large_threshold": 250}
        await ws.send_str(json.dumps({"op": 2, "d": identify}))
        return [json.loads((await ws.receive(timeout=HANG_GUARD)).data) for _ in range(count)]


async def test_guild_create_is_shaped_as_discord_documents(
    discord_server: LoopbackDiscord, populated: list[int]
) -> None:
    server = discord_server
    intents = Intents.GUILDS | (1 << 7) | Intents.GUILD_MESSAGES  # guilds, voice states, messages: no presences
    events = await gateway_events(server, intents, 1 + len(server.guilds))
    ready, creates = events[0], events[1:]
    # READY lists every guild unavailable, then one GUILD_CREATE each, in order
    assert ready["t"] == "READY"
    assert ready["d"]["guilds"] == [{"id": str(g), "unavailable": True} for g in server.guilds]
    assert [e["t"] for e in creates] == ["GUILD_CREATE"] * len(server.guilds)
    assert [e["d"]["id"] for e in creates] == [str(g) for g in server.guilds]
    assert [e["s"] for e in events] == list(range(1, len(events) + 1))

    by_id = {int(e["d"]["id"]): e["d"] for e in creates}
    for gid in populated:
        data, guild = by_id[gid], server.guilds[gid]
        check(data, GUILD_CREATE, f"guild {gid}")
        assert data["unavailable"] is False
        assert data["member_count"] == guild.member_count == len(guild.members) + guild.crowd
        assert data["large"] is (guild.member_count > 250)
        for role in data["roles"]:
            check(role, ROLE, "role")
        assert sum(1 for r in data["roles"] if r.get("tags", {}).get("bot_id") == str(server.bot_user_id)) == 1
        for emoji in data["emojis"]:
            check(emoji, EMOJI_AVAILABLE, "emoji")
        kinds = {c["type"] for c in data["channels"]}
        assert kinds == {ChannelType.GUILD_TEXT, ChannelType.GUILD_VOICE, ChannelType.GUILD_CATEGORY}
        categories = {c["id"] for c in data["channels"] if c["type"] == ChannelType.GUILD_CATEGORY}
        for channel in data["channels"]:
            spec = {ChannelType.GUILD_TEXT: TEXT, ChannelType.GUILD_VOICE: VOICE}.get(channel["type"], CHANNEL)
            check(channel, spec, f"channel {channel['name']}")
            for overwrite in channel["permission_overwrites"]:
                check(overwrite, OVERWRITE, "overwrite")
            if channel["type"] == ChannelType.GUILD_CATEGORY:
                assert channel["parent_id"] is None
            else:
                assert channel["parent_id"] in categories
        voice_channels = {c["id"] for c in data["channels"] if c["type"] == ChannelType.GUILD_VOICE}
        for state in data["voice_states"]:
            check(state, VOICE_STATE, "voice state")
            assert "guild_id" not in state  # GUILD_CREATE's voice states lack it
            assert state["channel_id"] in voice_channels
        # no GUILD_PRESENCES: only the bot and the members in voice channels
        in_voice = [s["user_id"] for s in data["voice_states"]]
        assert [m["user"]["id"] for m in data["members"]] == [str(server.bot_user_id), *in_voice]
        for member in data["members"]:
            check(member, MEMBER, "member")

    shapes = [server.guilds[g] for g in populated]
    assert any(data["large"] for data in by_id.values()) and not all(data["large"] for data in by_id.values())
    assert any(g.voice_states for g in shapes)
    assert all(2 <= sum(1 for c in g.channel_ids if server.channels[c].type == 4) <= 6 for g in shapes)
    assert all(len(g.channel_ids) >= 16 and len(g.roles) >= 10 and len(g.emojis) >= 10 for g in shapes)


async def test_with_presences_a_small_guild_sends_its_members_and_a_large_one_does_not(
    discord_server: LoopbackDiscord,
) -> None:
    server = discord_server
    small = server.add_populated_guild("small", GuildShape(member_count=10, in_voice=1))
    large = server.add_populated_guild("large", GuildShape(member_count=300, in_voice=1))
    intents = Intents.GUILDS | Intents.GUILD_PRESENCES
    creates = {int(e["d"]["id"]): e["d"] for e in (await gateway_events(server, intents, 4))[1:]}
    assert {m["user"]["id"] for m in creates[small.id]["members"]} == {str(u) for u in small.members}
    assert len(small.members) > 2  # the owner, the bot, the member in voice
    assert creates[small.id]["large"] is False and creates[large.id]["large"] is True
    voice = [str(u) for u in large.voice_states]
    assert [m["user"]["id"] for m in creates[large.id]["members"]] == [str(server.bot_user_id), *voice]


@pytest.fixture
async def bot_in_many_guilds(
    bot_factory: BotFactory, discord_server: LoopbackDiscord, populated: list[int]
) -> AsyncIterator[RatingsBot]:
    """The bot (commands synced to the big guild) in the default world's guild and the populated ones."""
    async with bot_factory(env={"DEV_GUILD_ID": str(populated[-1])}) as bot:
        yield bot


async def test_the_bot_with_lean_caches_sees_every_guild_and_rates_in_one(
    bot_in_many_guilds: RatingsBot,
    discord_server: LoopbackDiscord,
    apple_server: LoopbackApple,
    apple_key: AppleKey,
    populated: list[int],
) -> None:
    bot, server = bot_in_many_guilds, discord_server
    assert {g.id for g in bot.guilds} == set(server.guilds) and len(bot.guilds) == GUILDS + 1
    for guild in bot.guilds:
        world = server.guilds[guild.id]
        assert len(guild.channels) == len(world.channel_ids) and len(guild.roles) == len(world.roles)
        assert len(guild.emojis) == len(world.emojis) and guild.member_count == world.member_count
        # no member cache: only the bot's own member, though GUILD_CREATE carried the members in voice
        assert [m.id for m in guild.members] == [server.bot_user_id] and guild.me is not None
    assert any(server.guilds[g].voice_states for g in populated)

    # a slash command and a reaction in the big guild
    gid = populated[-1]
    guild = server.guilds[gid]
    channel = next(c for c in guild.channel_ids if server.channels[c].name == "general")
    alice = server.alice_id
    server.add_member(gid, alice)
    apple_server.add_user(ALICE_MUT, storefront="us")
    await bot.svc.store.link_account(alice, ALICE_MUT, "us")
    song = apple_server.add_song(name="Many Servers")
    mid = await share(bot, server, alice, song, channel_id=channel)
    message = server.messages[mid]
    assert message.channel_id == channel and message.embeds[0]["title"] == "Many Servers"
    await server.add_reaction(channel, mid, alice, "👍")
    await eventually(lambda: writes(apple_server, song), what="the 👍 applied at Apple")
    assert writes(apple_server, song) == [("PUT", f"/v1/me/ratings/songs/{song}")]
    # no message cache: the post (MESSAGE_CREATE, with the intent to see it) and the reaction left nothing kept
    assert not bot.cached_messages
