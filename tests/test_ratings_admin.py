"""``/ratings-admin`` checks its own permissions: ``default_member_permissions`` (Manage Server) is only a default
that a server's admins can override (command permissions v2), and user installs must not reach it. The loopback
Discord enforces what Discord enforces (contexts, integration types, permission overrides), so each refusal below is
the bot's own."""

from __future__ import annotations

import logging

import pytest

from bot.app import RatingsBot
from loopback.discord import CommandUnavailable, LoopbackDiscord, Permissions

pytestmark = pytest.mark.usefixtures("no_late_callbacks")


def no_error_logged(caplog: pytest.LogCaptureFixture) -> None:
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


def admin_command_id(discord_server: LoopbackDiscord, guild_id: int | None) -> int:
    command = discord_server.find_command("ratings-admin", guild_id=guild_id)
    assert command is not None
    return int(command["id"])


async def test_a_member_let_in_by_a_server_override_still_needs_manage_server(
    running_bot: RatingsBot, discord_server: LoopbackDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    guild, channel = discord_server.guild_id, discord_server.channel_id
    mallory = discord_server.add_user("mallory")
    discord_server.add_member(guild, mallory)  # a member's usual permissions: no Manage Server
    with pytest.raises(CommandUnavailable):  # Discord hides it from her by default
        await discord_server.send_command("ratings-admin channels add", mallory, channel)
    # the server's admins let everyone use the command (Server Settings → Integrations)
    override = [{"id": str(guild), "type": 1, "permission": True}]
    discord_server.set_command_permissions(guild, admin_command_id(discord_server, guild), override)
    for command in ("ratings-admin channels add", "ratings-admin channels remove", "ratings-admin channels list"):
        rec = await discord_server.send_command(command, mallory, channel)
        callback = await discord_server.wait_for_callback(rec)
        assert callback.accepted
        message = await discord_server.wait_for_original(rec)
        assert message.ephemeral
        assert "You need the Manage Server permission in this server to do that" in message.embeds[0]["description"]
    assert await running_bot.svc.store.list_share_channels(guild) == []
    no_error_logged(caplog)

    # someone with Manage Server may (the override does not take it away)
    admin = discord_server.add_user("admin")
    discord_server.add_member(guild, admin, Permissions.MEMBER_DEFAULT | Permissions.MANAGE_GUILD)
    rec = await discord_server.send_command("ratings-admin channels add", admin, channel)
    callback = await discord_server.wait_for_callback(rec)
    assert callback.accepted and "now a sharing channel" in str(callback.data and callback.data["content"])
    assert await running_bot.svc.store.list_share_channels(guild) == [channel]


async def test_the_command_is_registered_for_servers_that_added_the_bot_only(
    running_bot: RatingsBot, discord_server: LoopbackDiscord
) -> None:
    await running_bot.sync_commands(None)
    command = discord_server.find_command("ratings-admin")
    assert command is not None
    assert command["contexts"] == [0] and command["integration_types"] == [0]
    assert int(command["default_member_permissions"]) == Permissions.MANAGE_GUILD
    # a member who installed the app on their account, in a server without the bot: Discord offers nothing
    owner = discord_server.add_user("owner of another server")
    other = discord_server.add_guild("No bot here", owner_id=owner, with_bot=False)
    other_channel = discord_server.add_text_channel(other.id, "general")
    with pytest.raises(CommandUnavailable):
        await discord_server.send_command("ratings-admin channels add", owner, other_channel, installed_by_user=True)


async def test_an_older_registration_open_to_user_installs_is_refused_by_the_handler(
    running_bot: RatingsBot, discord_server: LoopbackDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    """Discord still has the command as registered before it said where it may run (no contexts, no
    integration types: the application's, user installs included)."""
    await running_bot.sync_commands(None)
    commands = [dict(c) for c in discord_server.commands[None]]
    for command in commands:
        if command["name"] == "ratings-admin":
            command.pop("contexts")
            command.pop("integration_types")
    discord_server.register_commands(commands)
    owner = discord_server.add_user("owner of another server")
    other = discord_server.add_guild("No bot here", owner_id=owner, with_bot=False)
    other_channel = discord_server.add_text_channel(other.id, "general")
    rec = await discord_server.send_command("ratings-admin channels add", owner, other_channel, installed_by_user=True)
    callback = await discord_server.wait_for_callback(rec)
    assert callback.accepted
    message = await discord_server.wait_for_original(rec)
    assert message.ephemeral
    assert "works only in a server that has added the bot" in message.embeds[0]["description"]
    assert await running_bot.svc.store.list_share_channels(other.id) == []
    no_error_logged(caplog)
