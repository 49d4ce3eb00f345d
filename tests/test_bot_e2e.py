"""End to end: the real RatingsBot, the real discord.py client, the loopback Discord and Apple servers."""

from __future__ import annotations

import asyncio

import pytest

from bot.app import RatingsBot
from loopback.discord import LoopbackDiscord

EPHEMERAL = 1 << 6


async def test_bot_logs_in_and_syncs_every_command_to_the_dev_guild(
    running_bot: RatingsBot, discord_server: LoopbackDiscord
) -> None:
    assert running_bot.user is not None and running_bot.user.id == discord_server.bot_user_id
    puts = discord_server.requests_to("PUT", rf"/applications/\d+/guilds/{discord_server.guild_id}/commands$")
    assert len(puts) == 1, "commands are bulk-overwritten once, in the dev guild"
    assert not discord_server.requests_to("PUT", r"/applications/\d+/commands$"), "never a global sync at start"
    sent = {(c["name"], c.get("type", 1)) for c in puts[0].json}
    expected = {("about", 1), ("link", 1), ("unlink", 1), ("account", 1), ("rating", 1), ("Apple Music ratings", 3)}
    assert expected <= sent
    rating = next(c for c in puts[0].json if c["name"] == "rating")
    assert {o["name"] for o in rating["options"]} == {"show", "like", "dislike", "clear", "tracks"}
    assert not discord_server.unknown_requests


async def test_about_answers_in_time_with_an_ephemeral_embed(
    running_bot: RatingsBot, discord_server: LoopbackDiscord
) -> None:
    rec = await discord_server.send_command("about", discord_server.alice_id, discord_server.channel_id)
    callback = await discord_server.wait_for_callback(rec)
    assert callback.accepted
    assert callback.type == 4
    data = callback.data
    assert data is not None and data["flags"] & EPHEMERAL
    embed = data["embeds"][0]
    assert embed["title"] == "Apple Music ratings"
    listed = {f["name"]: f["value"] for f in embed["fields"]}
    for group, name in [("Get started", "/link"), ("Get started", "/about"), ("Your data", "/unlink")]:
        assert f"`{name}`" in listed[group]
    for name in ("/account", "/rating like", "/rating tracks"):
        assert any(f"`{name}`" in value for value in listed.values())


@pytest.mark.both_engines
async def test_bot_restarts_on_the_same_database(bot_factory, discord_server: LoopbackDiscord) -> None:  # type: ignore[no-untyped-def]
    async with bot_factory() as first:
        await first.svc.store.link_account(discord_server.alice_id, "A" * 120, "gb")
    async with bot_factory() as second:
        account = await second.svc.store.get_account(discord_server.alice_id)
        assert account is not None and account.storefront == "gb"


async def test_about_shows_the_learned_apple_pace_to_the_owner_only(
    running_bot: RatingsBot, discord_server: LoopbackDiscord
) -> None:
    discord_server.add_member(discord_server.guild_id, discord_server.app_owner_id)
    fields = {}
    for user in (discord_server.app_owner_id, discord_server.alice_id):
        rec = await discord_server.send_command("about", user, discord_server.channel_id)
        callback = await discord_server.wait_for_callback(rec)
        assert callback.data is not None
        fields[user] = {f["name"]: f["value"] for f in callback.data["embeds"][0]["fields"]}
    pace = fields[discord_server.app_owner_id]["Apple Music pace (owner only)"]
    assert pace.startswith("10.0 requests/s learned")  # the start rate: nothing asked of Apple yet
    assert "Apple Music pace (owner only)" not in fields[discord_server.alice_id]


async def test_a_burst_of_about_asks_discord_for_the_owner_never(
    running_bot: RatingsBot, discord_server: LoopbackDiscord
) -> None:
    """The owner is read once at start: 20 /about at once make no application lookup (each one did, and the
    lookups' rate limit made the burst miss Discord's deadline)."""
    assert len(discord_server.requests_to("GET", r"/applications/@me$")) == 1
    discord_server.add_member(discord_server.guild_id, discord_server.app_owner_id)
    users = [discord_server.app_owner_id, discord_server.alice_id] * 10
    records = await asyncio.gather(
        *(discord_server.send_command("about", user, discord_server.channel_id) for user in users)
    )
    callbacks = await asyncio.gather(*(discord_server.wait_for_callback(rec) for rec in records))
    assert all(c.accepted for c in callbacks)
    assert len(discord_server.requests_to("GET", r"/applications/@me$")) == 1


@pytest.mark.sqlite_only  # about sharding, not storage; and discord.py waits 5 s before a second IDENTIFY
async def test_without_shard_settings_the_bot_runs_the_recommended_shards(  # type: ignore[no-untyped-def]
    bot_factory, discord_server: LoopbackDiscord
) -> None:
    """SHARD_COUNT unset: the bot asks GET /gateway/bot and runs every recommended shard in this process."""
    discord_server.recommended_shards = 2
    other = discord_server.add_guild("Other shard", discord_server.make_guild_id(1, 2))
    discord_server.add_member(other.id, discord_server.alice_id)
    async with bot_factory(shard_count=None) as bot:
        assert discord_server.requests_to("GET", r"/gateway/bot$")
        assert bot.shard_count == 2 and sorted(bot.shards) == [0, 1]
        assert {s.shard_id for s in discord_server.sessions.values()} == {0, 1}
        assert bot.get_guild(other.id) is not None and bot.get_guild(discord_server.guild_id) is not None
        channel = discord_server.add_text_channel(other.id, "general")
        await bot.sync_commands(None)  # global: the other server has the commands too
        rec = await discord_server.send_command("about", discord_server.alice_id, channel)
        callback = await discord_server.wait_for_callback(rec)
        assert callback.accepted and callback.data is not None
        assert "Shard 1 of 2." in callback.data["embeds"][0]["footer"]["text"]
