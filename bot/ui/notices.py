"""The member-facing side of :mod:`bot.services.notices`: each notice as a direct message.

A notice about a reaction is a card that says which post it was about, so the member knows without opening
anything: the song (title and artist, or its Apple Music link when the catalog did not say), the server, and a
link back to the post.
"""

from __future__ import annotations

import logging
from typing import Any

import discord

from bot.services import notices
from bot.services.sharing import EMOJI_FOR_VALUE
from bot.ui.embeds import APPLE_RED
from bot.ui.errors import ERROR_COLOUR, describe_error
from bot.ui.views import link_button_view

log = logging.getLogger(__name__)


def post_url(post: notices.Post) -> str:
    """The post's address in Discord (``@me`` for a direct message)."""
    guild = post.guild_id if post.guild_id is not None else "@me"
    return f"https://discord.com/channels/{guild}/{post.channel_id}/{post.message_id}"


def _md(text: str) -> str:
    return discord.utils.escape_markdown(text)


def song_line(post: notices.Post) -> str | None:
    """What the post shares, as a member recognizes it: "**Title** by Artist" (linked to Apple Music), or the
    Apple Music link when the title is unknown; None when the item itself is unknown."""
    if post.title:
        title = f"[{_md(post.title)}]({post.url})" if post.url else _md(post.title)
        return f"**{title}**" + (f" by {_md(post.artist)}" if post.artist else "")
    return post.url


def post_card(
    title: str, text: str, post: notices.Post | None, server: str | None, colour: discord.Colour
) -> discord.Embed:
    """A DM card about a reaction on ``post``: ``text`` first, then the song, the server and the post's link."""
    embed = discord.Embed(title=title, description=text, colour=colour)
    if post is None:
        return embed
    song = song_line(post)
    if song is not None:
        embed.add_field(name=(post.kind or "item").capitalize(), value=song[:1024], inline=False)
    if post.guild_id is not None:
        embed.add_field(name="Server", value=_md(server or "A server you are in")[:1024], inline=True)
    embed.add_field(name="Post", value=f"[Go to the post]({post_url(post)})", inline=True)
    return embed


def link_prompt(minutes: int) -> str:
    return (
        "You reacted to a shared post, but your Apple Music account is not linked yet. "
        f"Link it in the next {minutes} minutes and your rating is saved in your Apple Music: "
        "press the button to start."
    )


RELINK_PROMPT = (
    "Apple Music no longer accepts your Apple Music link (it expired or was turned off). Your ratings are "
    "waiting: link again and they are saved. Press the button to start."
)


def reaction_not_saved(notice: notices.ReactionNotSaved) -> str:
    emoji = EMOJI_FOR_VALUE[notice.value]
    what = emoji if notice.added else f"removal of {emoji}"
    again = "react again" if notice.added else f"add {emoji} and remove it again"
    if notice.refused is not None:
        return (
            f"I could not save your {what} on this post. {describe_error(notice.refused)} Reactions you add before "
            "then are not saved either (I will not write about each one)."
        )
    return (
        f"I could not save your {what} on this post: my database is unavailable right now, so it did not reach "
        f"Apple Music. Please {again} in a few minutes."
    )


def mixtape_missed(playlist: str) -> str:
    return (
        f"This week's mixtape, **{_md(playlist)}**, was not added to your Apple Music: Apple Music no longer accepts "
        "your link (it expired or was turned off). Link again and next week's mixtape is made. Press the button to "
        "start, or use `/mixtape leave` to stop the mixtape."
    )


def linked_embed(country: str) -> discord.Embed:
    return discord.Embed(
        title="Apple Music linked ✅",
        description=(
            f"Your Apple Music is linked (country or region: {country.upper()}). React 👍 or 👎 on shared songs, "
            "or use `/rating`. `/unlink` removes your Apple Music link at any time."
        ),
        colour=discord.Colour.green(),
    )


def render(notice: notices.Notice, server: str | None = None) -> dict[str, Any]:
    """The keyword arguments of ``User.send`` for ``notice``; ``server`` is the name of the post's server."""
    match notice:
        case notices.LinkPrompt(minutes=minutes, post=post):
            card = post_card("Link Apple Music to save your rating", link_prompt(minutes), post, server, APPLE_RED)
            return {"embed": card, "view": link_button_view()}
        case notices.RelinkPrompt(post=post):
            card = post_card("Link Apple Music again", RELINK_PROMPT, post, server, APPLE_RED)
            return {"embed": card, "view": link_button_view()}
        case notices.Linked(storefront=country):
            return {"embed": linked_embed(country)}
        case notices.ReactionNotSaved(post=post):
            card = post_card("Your reaction was not saved", reaction_not_saved(notice), post, server, ERROR_COLOUR)
            return {"embed": card}
        case notices.MixtapeMissed(playlist=playlist):
            card = discord.Embed(
                title="Your mixtape was not made", description=mixtape_missed(playlist), colour=APPLE_RED
            )
            return {"embed": card, "view": link_button_view()}


def _post_of(notice: notices.Notice) -> notices.Post | None:
    if isinstance(notice, notices.LinkPrompt | notices.RelinkPrompt | notices.ReactionNotSaved):
        return notice.post
    return None


class DirectMessages:
    """A :class:`~bot.services.notices.Notifier` that sends each notice as a DM."""

    def __init__(self, client: discord.Client) -> None:
        self.client = client

    def server_name(self, notice: notices.Notice) -> str | None:
        post = _post_of(notice)
        guild = self.client.get_guild(post.guild_id) if post is not None and post.guild_id is not None else None
        return guild.name if guild is not None else None

    async def notify(self, user_id: int, notice: notices.Notice) -> bool:
        try:
            user = self.client.get_user(user_id) or await self.client.fetch_user(user_id)
            await user.send(**render(notice, self.server_name(notice)))
        except discord.HTTPException as exc:
            log.info("could not DM user %d a %s (%s)", user_id, type(notice).__name__, exc.status)
            return False
        except discord.DiscordException as exc:  # e.g. not connected: a notice is never worth a failure
            log.warning("could not DM user %d a %s (%s)", user_id, type(notice).__name__, type(exc).__name__)
            return False
        return True
