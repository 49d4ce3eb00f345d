"""The member-facing side of :mod:`bot.services.notices`: each notice as a direct message."""

from __future__ import annotations

import logging
from typing import Any

import discord

from bot.services import notices
from bot.services.sharing import EMOJI_FOR_VALUE
from bot.ui.embeds import linked_embed
from bot.ui.errors import describe_error
from bot.ui.views import link_button_view

log = logging.getLogger(__name__)


def link_prompt(minutes: int) -> str:
    return (
        "You reacted to a shared Apple Music post, but your Apple Music account is not linked yet. "
        f"Link it in the next {minutes} minutes and your rating is applied; press the button to start."
    )


RELINK_PROMPT = (
    "Apple Music no longer accepts your linked account (the authorization expired or was revoked). "
    "Your ratings are waiting: link again and they are applied. Press the button to start."
)


def reaction_not_saved(notice: notices.ReactionNotSaved) -> str:
    guild = notice.guild_id if notice.guild_id is not None else "@me"
    link = f"https://discord.com/channels/{guild}/{notice.channel_id}/{notice.message_id}"
    emoji = EMOJI_FOR_VALUE[notice.value]
    what = emoji if notice.added else f"removal of {emoji}"
    again = "react again" if notice.added else f"add {emoji} and remove it again"
    if notice.refused is not None:
        return (
            f"I could not save your {what} on {link}. {describe_error(notice.refused)} Reactions you add before "
            "then are not saved either (I will not write about each one)."
        )
    return (
        f"I could not save your {what} on {link}: my database is unavailable right now, so it did not reach Apple "
        f"Music. Please {again} in a few minutes."
    )


def render(notice: notices.Notice) -> dict[str, Any]:
    """The keyword arguments of ``User.send`` for ``notice``."""
    match notice:
        case notices.LinkPrompt(minutes=minutes):
            return {"content": link_prompt(minutes), "view": link_button_view()}
        case notices.RelinkPrompt():
            return {"content": RELINK_PROMPT, "view": link_button_view()}
        case notices.Linked(storefront=storefront):
            return {"embed": linked_embed(storefront)}
        case notices.ReactionNotSaved():
            return {"content": reaction_not_saved(notice)}


class DirectMessages:
    """A :class:`~bot.services.notices.Notifier` that sends each notice as a DM."""

    def __init__(self, client: discord.Client) -> None:
        self.client = client

    async def notify(self, user_id: int, notice: notices.Notice) -> bool:
        try:
            user = self.client.get_user(user_id) or await self.client.fetch_user(user_id)
            await user.send(**render(notice))
        except discord.HTTPException as exc:
            log.info("could not DM user %d a %s (%s)", user_id, type(notice).__name__, exc.status)
            return False
        except discord.DiscordException as exc:  # e.g. not connected: a notice is never worth a failure
            log.warning("could not DM user %d a %s (%s)", user_id, type(notice).__name__, type(exc).__name__)
            return False
        return True
