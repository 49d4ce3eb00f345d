"""``/ratings top|match|name-me``: a server's taste (``bot.services.taste`` holds the logic; this adapts Discord).

``/ratings`` (the server's ratings) is a group of its own beside ``/rating`` (a member's own ratings): it works only
in a server that added the bot, so Discord does not offer it in DMs or where only a member installed the app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.i18n import server_locale
from bot.services.taste import Kind, Period
from bot.ui import texts
from bot.ui.embeds import match_embed, top_embed

if TYPE_CHECKING:
    from bot.app import RatingsBot

PERIOD_CHOICES = [
    app_commands.Choice(name="This week", value=Period.WEEK.value),
    app_commands.Choice(name="This month", value=Period.MONTH.value),
    app_commands.Choice(name="All time", value=Period.ALL.value),
]
KIND_CHOICES = [
    app_commands.Choice(name="Songs", value=Kind.SONGS.value),
    app_commands.Choice(name="Albums", value=Kind.ALBUMS.value),
    app_commands.Choice(name="Everything shared", value=Kind.EVERYTHING.value),
]


@app_commands.guild_only()
@app_commands.allowed_installs(guilds=True, users=False)
class Taste(commands.GroupCog, group_name="ratings", group_description="What this server likes most"):
    def __init__(self, bot: RatingsBot) -> None:
        self.bot = bot
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        """Only in a server that added the bot (one where a member merely installed the app has no shares)."""
        if interaction.guild_id is None or not interaction.is_guild_integration():
            raise app_commands.NoPrivateMessage()
        return True

    @app_commands.command(name="top", description="The songs and albums shared here that members liked most")
    @app_commands.describe(
        period="Which shares count (default: this week)",
        channel="Only what was shared in this channel",
        kind="Songs, albums, or everything shared (default: everything)",
        public="Post the list in the channel (default: only you see the list)",
    )
    @app_commands.choices(period=PERIOD_CHOICES, kind=KIND_CHOICES)
    async def top(
        self,
        interaction: discord.Interaction[RatingsBot],
        period: app_commands.Choice[str] | None = None,
        channel: discord.TextChannel | None = None,
        kind: app_commands.Choice[str] | None = None,
        public: bool = False,
    ) -> None:
        assert interaction.guild_id is not None
        interaction.extras["public"] = public
        await interaction.response.defer(ephemeral=not public, thinking=True)
        top = await self.bot.svc.taste.top(
            interaction.guild_id,
            interaction.user.id,
            Period(period.value) if period is not None else Period.WEEK,
            channel_id=channel.id if channel is not None else None,
            kind=Kind(kind.value) if kind is not None else Kind.EVERYTHING,
        )
        # a list posted in the channel is in the server's language, a private one in the member's
        locale = server_locale(interaction.guild_locale, interaction.locale) if public else interaction.locale
        await interaction.edit_original_response(embed=top_embed(top, locale=locale))

    @app_commands.command(name="match", description="How much your votes here agree with another member's")
    @app_commands.describe(member="The member to compare with (both of you must have chosen to be named)")
    async def match(self, interaction: discord.Interaction[RatingsBot], member: discord.User) -> None:
        assert interaction.guild_id is not None
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await self.bot.svc.taste.match(
            interaction.guild_id, interaction.user.id, member.id, other_is_bot=member.bot
        )
        await interaction.edit_original_response(embed=match_embed(result, locale=interaction.locale))

    @app_commands.command(name="name-me", description="Be named in this server's tops, recaps and taste matches")
    @app_commands.describe(setting="on: be named here; off (the default): your votes count, unnamed")
    async def name_me(self, interaction: discord.Interaction[RatingsBot], setting: Literal["on", "off"]) -> None:
        assert interaction.guild_id is not None
        on = setting == "on"
        changed = await self.bot.svc.taste.set_named(interaction.guild_id, interaction.user.id, on)
        await interaction.response.send_message(
            texts.taste_named_set(on, changed, locale=interaction.locale), ephemeral=True
        )


async def setup(bot: RatingsBot) -> None:
    await bot.add_cog(Taste(bot))
