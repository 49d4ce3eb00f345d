"""``/about``: what the bot does and every command it has."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.services.sharing import shard_of
from bot.ui.embeds import about_embed

if TYPE_CHECKING:
    from bot.app import RatingsBot


class Meta(commands.Cog):
    def __init__(self, bot: RatingsBot) -> None:
        self.bot = bot

    @app_commands.command(name="about", description="What this bot does and the commands it offers")
    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    async def about(self, interaction: discord.Interaction[RatingsBot]) -> None:
        count = self.bot.shard_count or 1
        shard = (shard_of(interaction.guild_id, count), count)
        pace = None
        if self.bot.services is not None and await self.bot.is_owner(interaction.user):
            pace = self.bot.services.apple_pace()  # the bot's owner sees how fast Apple is asked
        embed = about_embed(self.bot.tree.walk_commands(), shard=shard, pace=pace)
        await interaction.response.send_message(embed=embed, ephemeral=True)


async def setup(bot: RatingsBot) -> None:
    await bot.add_cog(Meta(bot))
