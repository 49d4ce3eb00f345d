"""The Discord side of :mod:`bot.services.recap`: the recap card posted in a server's recap channel, through
Discord's REST API (no gateway connection to the server's shard is needed, so any process can post it)."""

from __future__ import annotations

import logging

import discord

from bot.i18n import resolve
from bot.services.recap import Recap, RecapPostFailed
from bot.ui.embeds import recap_embed

log = logging.getLogger(__name__)


class ChannelRecaps:
    """Posts recaps with the bot's REST client. Mentions of the named sharers never ping (``AllowedMentions.none``)."""

    def __init__(self, bot: discord.Client) -> None:
        self.bot = bot

    async def post(self, channel_id: int, recap: Recap) -> int | None:
        channel = self.bot.get_partial_messageable(channel_id, guild_id=recap.week.guild_id)
        embed = recap_embed(recap, locale=await self.server_locale(recap.week.guild_id))
        try:
            message = await channel.send(embed=embed, allowed_mentions=discord.AllowedMentions.none())
        except (discord.Forbidden, discord.NotFound) as exc:
            log.warning(
                "could not post the recap of server %d in channel %d (HTTP %d, Discord code %d): the channel is gone "
                "or the bot may not post there; an admin can choose another with /ratings-admin recap set",
                recap.week.guild_id,
                channel_id,
                exc.status,
                exc.code,
            )
            return None
        except discord.HTTPException as exc:
            raise RecapPostFailed(f"Discord answered HTTP {exc.status} (code {exc.code})") from None
        return message.id

    async def server_locale(self, guild_id: int) -> str:
        """The server's language (Discord's ``preferred_locale``) as the bot speaks it: a public post. The process
        that closes a week may not be connected to the server's shard: then Discord is asked (English if it fails)."""
        guild = self.bot.get_guild(guild_id)
        if guild is None:
            try:
                guild = await self.bot.fetch_guild(guild_id)
            except discord.HTTPException as exc:
                log.warning(
                    "the language of server %d is unknown (HTTP %d): its recap is in English", guild_id, exc.status
                )
                return resolve(None)
        return resolve(guild.preferred_locale)
