"""``/mixtape join`` and ``/mixtape leave``: a member joins or leaves their server's weekly mixtape (a playlist of
the week's most liked songs, made in their own Apple Music library; see ``bot.services.mixtape``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.ui import texts

if TYPE_CHECKING:
    from bot.app import RatingsBot


class Mixtape(
    commands.GroupCog, group_name="mixtape", group_description="This server's weekly mixtape in your Apple Music"
):
    def __init__(self, bot: RatingsBot) -> None:
        self.bot = bot
        super().__init__()

    @app_commands.command(name="join", description="Get this server's most liked songs as a playlist every week")
    @app_commands.guild_only()
    async def join(self, interaction: discord.Interaction[RatingsBot]) -> None:
        assert interaction.guild is not None
        joined = await self.bot.svc.mixtape.join(interaction.guild.id, interaction.user.id, interaction.guild.name)
        text = texts.mixtape_joined(
            interaction.guild.name, new=joined.new, linked=joined.linked, locale=interaction.locale
        )
        await interaction.response.send_message(text, ephemeral=True)

    @app_commands.command(name="leave", description="Stop getting this server's weekly mixtape")
    @app_commands.guild_only()
    async def leave(self, interaction: discord.Interaction[RatingsBot]) -> None:
        assert interaction.guild is not None
        left = await self.bot.svc.mixtape.leave(interaction.guild.id, interaction.user.id)
        text = texts.mixtape_left(interaction.guild.name, left, locale=interaction.locale)
        await interaction.response.send_message(text, ephemeral=True)


async def setup(bot: RatingsBot) -> None:
    await bot.add_cog(Mixtape(bot))
