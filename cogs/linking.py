"""Linking: ``/link``, ``/unlink``, ``/account``, the Link button, and the DM paste of an Apple Music code."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import NotAToken
from bot.services.linking import Member, contains_token, looks_like_token
from bot.ui import texts
from bot.ui.embeds import account_embed
from bot.ui.errors import describe_error, error_embed
from bot.ui.linking import link_embed

if TYPE_CHECKING:
    from bot.app import RatingsBot

log = logging.getLogger(__name__)

EVERYWHERE = {"guilds": True, "dms": True, "private_channels": True}


def member_of(user: discord.User | discord.Member) -> Member:
    """How the linking page shows who a link is for: "Name (@username)" and the avatar."""
    name = f"@{user.name}" if user.display_name == user.name else f"{user.display_name} (@{user.name})"
    return Member(name=name, avatar_url=user.display_avatar.with_size(128).url)


class Linking(commands.Cog):
    def __init__(self, bot: RatingsBot) -> None:
        self.bot = bot

    async def start_link(self, interaction: discord.Interaction[RatingsBot]) -> None:
        """Create a one-time link and deliver it by DM, or in the interaction when DMs are closed."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        linking = self.bot.svc.linking
        url = await linking.start(interaction.user.id, member_of(interaction.user))
        in_bot_dm = (
            isinstance(interaction.channel, discord.DMChannel)
            and interaction.guild is None
            and (interaction.channel.recipient is None or interaction.channel.recipient.id == interaction.user.id)
        )
        locale = interaction.locale
        if in_bot_dm:
            embed = link_embed(url, in_dm=True, minutes=linking.minutes, locale=locale)
            await interaction.edit_original_response(embed=embed)
            return
        try:
            await interaction.user.send(embed=link_embed(url, in_dm=True, minutes=linking.minutes, locale=locale))
        except discord.HTTPException:
            # DMs closed (403 50007), or any other failure to DM: the link goes in this ephemeral answer instead
            embed = link_embed(url, in_dm=False, minutes=linking.minutes, locale=locale)
            await interaction.edit_original_response(embed=embed)
            return
        await interaction.edit_original_response(content=texts.link_sent_by_dm(linking.minutes, locale=locale))

    @app_commands.command(name="link", description="Link your Apple Music account so your 👍 and 👎 are saved there")
    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(**EVERYWHERE)
    async def link(self, interaction: discord.Interaction[RatingsBot]) -> None:
        await self.start_link(interaction)

    @app_commands.command(name="unlink", description="Remove your Apple Music link from the bot, at once")
    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(**EVERYWHERE)
    async def unlink(self, interaction: discord.Interaction[RatingsBot]) -> None:
        result = await self.bot.svc.linking.unlink(interaction.user.id)
        text = texts.unlinked(result.removed, result.dropped, locale=interaction.locale)
        await interaction.response.send_message(text, ephemeral=True)

    @app_commands.command(
        name="account", description="Your Apple Music link: status, country or region, ratings waiting"
    )
    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(**EVERYWHERE)
    async def account(self, interaction: discord.Interaction[RatingsBot]) -> None:
        status = await self.bot.svc.linking.status(interaction.user.id)
        await interaction.response.send_message(embed=account_embed(status, locale=interaction.locale), ephemeral=True)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot:
            return
        if message.guild is None:
            await self._dm(message)
        elif message.content and contains_token(message.content):
            await self._token_in_channel(message)

    async def _dm(self, message: discord.Message) -> None:
        """A DM carries no language: the member's latest interaction's is used (English if none since the start)."""
        text = message.content.strip()
        if not text:
            return
        locale = self.bot.member_locales.get(message.author.id)
        if not looks_like_token(text):
            await message.channel.send(texts.dm_help(locale))
            return
        try:
            await self.bot.svc.linking.complete_with_paste(message.author.id, text)
        except NotAToken:
            await message.channel.send(texts.dm_help(locale))
        except Exception as exc:  # every failure gets its words (a refused link, a storage outage...)
            await message.channel.send(embed=error_embed(describe_error(exc, locale)))
        # on success the confirmation is a notice the linking service sends

    async def _token_in_channel(self, message: discord.Message) -> None:
        """Someone pasted what looks like a token in a channel: remove it if we may, and tell them privately."""
        deleted = False
        try:
            await message.delete()
            deleted = True
        except discord.HTTPException:
            pass
        try:
            locale = self.bot.member_locales.get(message.author.id)
            await message.author.send(texts.token_in_channel(deleted, locale=locale))
        except discord.HTTPException:
            log.info("could not warn user %d about a token posted in a channel", message.author.id)


async def setup(bot: RatingsBot) -> None:
    await bot.add_cog(Linking(bot))
