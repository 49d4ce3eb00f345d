"""Linking: ``/link``, ``/unlink``, ``/account``, the Link button, and tokens pasted in DMs."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.services.linking import (
    Linked,
    LinkError,
    NotAToken,
    contains_token,
    install_token_redaction,
    looks_like_token,
)
from bot.ui.embeds import account_embed, link_embed, linked_embed
from bot.ui.errors import error_embed, reply_with_error

if TYPE_CHECKING:
    from bot.app import RatingsBot

log = logging.getLogger(__name__)

DM_HELP = (
    "Hi! To link Apple Music, run `/link` in a server or here, then open the page I send, or paste your "
    "Apple Music user token in this DM. `/about` lists what I can do."
)


def _reason_text(reasons: set[str]) -> str:
    words = {
        "stale": "your link needs renewing: run /link",
        "unlinked": "waiting for you to link: run /link",
        "retrying": "Apple Music is busy; retrying",
        "queued": "being sent",
    }
    return "; ".join(words.get(r, r) for r in sorted(reasons))


class Linking(commands.Cog):
    def __init__(self, bot: RatingsBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        # DMs carry pasted tokens: keep them out of discord.py's DEBUG logs of gateway events and HTTP bodies
        install_token_redaction()
        if self.bot.services is not None:
            self.bot.services.linking.on_linked.append(self.confirm_linked)

    async def start_link(self, interaction: discord.Interaction[RatingsBot]) -> None:
        """Create a one-time link and deliver it by DM, or in the interaction when DMs are closed."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        url = await self.bot.svc.linking.start(interaction.user.id)
        in_bot_dm = (
            isinstance(interaction.channel, discord.DMChannel)
            and interaction.guild is None
            and (interaction.channel.recipient is None or interaction.channel.recipient.id == interaction.user.id)
        )
        if in_bot_dm:
            await interaction.edit_original_response(embed=link_embed(url, in_dm=True))
            return
        try:
            await interaction.user.send(embed=link_embed(url, in_dm=True))
        except discord.Forbidden:
            # 50007: DMs closed; the link goes in this ephemeral answer instead
            await interaction.edit_original_response(embed=link_embed(url, in_dm=False))
            return
        await interaction.edit_original_response(
            content="📬 I sent you a DM with your personal link (valid 10 minutes)."
        )

    @app_commands.command(name="link", description="Link your Apple Music account so your ratings land in it")
    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    async def link(self, interaction: discord.Interaction[RatingsBot]) -> None:
        await self.start_link(interaction)

    @app_commands.command(name="unlink", description="Remove your Apple Music token from the bot, now")
    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    async def unlink(self, interaction: discord.Interaction[RatingsBot]) -> None:
        removed = await self.bot.svc.linking.unlink(interaction.user.id)
        text = (
            "🗑️ Unlinked. Your Apple Music token is deleted from the bot, with anything that was waiting to be sent."
            if removed
            else "You had no Apple Music account linked; there was nothing to delete."
        )
        await interaction.response.send_message(text, ephemeral=True)

    @app_commands.command(name="account", description="Your Apple Music link: status, storefront, waiting ratings")
    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    async def account(self, interaction: discord.Interaction[RatingsBot]) -> None:
        svc = self.bot.svc
        account = await svc.linking.account(interaction.user.id)
        pending = await svc.store.pending_for_user(interaction.user.id)
        reasons = {(p.held.value if p.held else ("retrying" if p.attempts else "queued")) for p in pending}
        await interaction.response.send_message(
            embed=account_embed(account, len(pending), _reason_text(reasons) if pending else None),
            ephemeral=True,
        )

    @commands.Cog.listener()
    async def on_link_button(self, interaction: discord.Interaction[RatingsBot]) -> None:
        try:
            await self.start_link(interaction)
        except Exception as exc:  # every failure becomes a message for the presser
            await reply_with_error(interaction, exc)

    async def confirm_linked(self, linked: Linked) -> None:
        """After a successful link: confirmation DM (best effort)."""
        try:
            user = self.bot.get_user(linked.user_id) or await self.bot.fetch_user(linked.user_id)
            await user.send(embed=linked_embed(linked.storefront))
        except discord.HTTPException:
            log.info("could not DM a link confirmation to user %d", linked.user_id)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot:
            return
        if message.guild is None:
            await self._dm(message)
        elif message.content and contains_token(message.content):
            await self._token_in_channel(message)

    async def _dm(self, message: discord.Message) -> None:
        text = message.content.strip()
        if not text:
            return
        if not looks_like_token(text):
            await message.channel.send(DM_HELP)
            return
        try:
            linked = await self.bot.svc.linking.complete_with_paste(message.author.id, text)
        except NotAToken:
            await message.channel.send(DM_HELP)
        except LinkError as exc:
            await message.channel.send(embed=error_embed(str(exc)))
        else:
            del linked  # the confirmation DM is sent by confirm_linked

    async def _token_in_channel(self, message: discord.Message) -> None:
        """Someone pasted what looks like a token in a channel: remove it if we may, and tell them privately."""
        deleted = False
        try:
            await message.delete()
            deleted = True
        except discord.HTTPException:
            pass
        note = "I deleted it. " if deleted else "I could not delete it: please delete it yourself. "
        try:
            await message.author.send(
                "⚠️ You posted what looks like an Apple Music token in a channel. "
                + note
                + "It was not stored. Use `/link` to link your account privately."
            )
        except discord.HTTPException:
            log.info("could not warn user %d about a token posted in a channel", message.author.id)


async def setup(bot: RatingsBot) -> None:
    await bot.add_cog(Linking(bot))
