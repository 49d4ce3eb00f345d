"""A member's data: ``/privacy``, ``/export``, ``/forget-me`` (with its confirmation button); and the servers the
bot leaves and rejoins (their data is deleted some days after it left, see ``Housekeeping``)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.i18n import t
from bot.ui import texts
from bot.ui.embeds import privacy_embed
from bot.ui.views import forget_view
from cogs.linking import EVERYWHERE

if TYPE_CHECKING:
    from bot.app import RatingsBot

EXPORT_FILENAME = "apple-music-ratings-bot-data.json"


class Privacy(commands.Cog):
    def __init__(self, bot: RatingsBot) -> None:
        self.bot = bot

    @app_commands.command(name="privacy", description="What the bot keeps about you, and for how long")
    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(**EVERYWHERE)
    async def privacy(self, interaction: discord.Interaction[RatingsBot]) -> None:
        named_here = None
        if interaction.guild_id is not None and interaction.is_guild_integration():
            named_here = await self.bot.svc.taste.is_named(interaction.guild_id, interaction.user.id)
        embed = privacy_embed(self.bot.svc.privacy.terms, named_here, locale=interaction.locale)
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @app_commands.command(name="export", description="Get everything the bot keeps about you, as a file")
    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(**EVERYWHERE)
    async def export(self, interaction: discord.Interaction[RatingsBot]) -> None:
        data = await self.bot.svc.privacy.export_file(interaction.user.id)
        file = discord.File(io.BytesIO(data), filename=EXPORT_FILENAME)
        await interaction.response.send_message(t(interaction.locale, texts.EXPORT_READY), file=file, ephemeral=True)

    @app_commands.command(name="forget-me", description="Delete everything the bot keeps about you (asks first)")
    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(**EVERYWHERE)
    async def forget_me(self, interaction: discord.Interaction[RatingsBot]) -> None:
        view = forget_view(interaction.user.id, locale=interaction.locale)
        await interaction.response.send_message(texts.forget_confirm(interaction.locale), view=view, ephemeral=True)

    async def forget_button(self, interaction: discord.Interaction[RatingsBot], confirmed: bool) -> None:
        """A press of ``/forget-me``'s button by the member who ran it (``ForgetButton`` checked that)."""
        if not confirmed:
            await interaction.response.edit_message(content=t(interaction.locale, texts.FORGET_CANCELLED), view=None)
            return
        result = await self.bot.svc.privacy.forget(interaction.user.id)
        done = texts.forgotten(result.removed, result.dropped, locale=interaction.locale)
        await interaction.response.edit_message(content=done, view=None)

    @commands.Cog.listener()
    async def on_guild_remove(self, guild: discord.Guild) -> None:
        # discord.py calls this for a GUILD_DELETE without ``unavailable`` (removed, kicked, banned, server gone);
        # an outage (``unavailable: true``) is ``on_guild_unavailable`` and keeps everything
        await self.bot.svc.housekeeping.guild_left(guild.id)

    @commands.Cog.listener()
    async def on_guild_join(self, guild: discord.Guild) -> None:
        await self.bot.svc.housekeeping.guild_present(guild.id)

    @commands.Cog.listener()
    async def on_guild_available(self, guild: discord.Guild) -> None:
        # at start (and after an outage) every server the bot is in: one removed and re-added meanwhile is kept
        await self.bot.svc.housekeeping.guild_present(guild.id)


async def setup(bot: RatingsBot) -> None:
    await bot.add_cog(Privacy(bot))
