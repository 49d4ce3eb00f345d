"""The member-facing side of :mod:`bot.services.notices`: each notice as a direct message.

Each DM is in the member's language as the bot last saw it (see :class:`DirectMessages`).

A notice about a reaction is a card that says which post it was about, so the member knows without opening
anything: the song (title and artist, or its Apple Music link when the catalog did not say), the server, and a
link back to the post.
"""

from __future__ import annotations

import logging
from typing import Any

import discord

from bot.i18n import N_, LocaleLike, RecentLocales, t, tn
from bot.i18n.commands import slash
from bot.services import notices
from bot.services.sharing import EMOJI_FOR_VALUE
from bot.ui.embeds import APPLE_RED, kind_title
from bot.ui.errors import ERROR_COLOUR, describe_error
from bot.ui.views import link_button_view

log = logging.getLogger(__name__)


def post_url(post: notices.Post) -> str:
    """The post's address in Discord (``@me`` for a direct message)."""
    guild = post.guild_id if post.guild_id is not None else "@me"
    return f"https://discord.com/channels/{guild}/{post.channel_id}/{post.message_id}"


def _md(text: str) -> str:
    return discord.utils.escape_markdown(text)


def song_line(post: notices.Post, locale: LocaleLike) -> str | None:
    """What the post shares, as a member recognizes it: "**Title** by Artist" (linked to Apple Music), or the
    Apple Music link when the title is unknown; None when the item itself is unknown."""
    if post.title:
        title = f"**{f'[{_md(post.title)}]({post.url})' if post.url else _md(post.title)}**"
        return t(locale, "{title} by {artist}", title=title, artist=_md(post.artist)) if post.artist else title
    return post.url


def post_card(
    title: str, text: str, post: notices.Post | None, server: str | None, colour: discord.Colour, locale: LocaleLike
) -> discord.Embed:
    """A DM card about a reaction on ``post``: ``text`` first, then the song, the server and the post's link."""
    embed = discord.Embed(title=title, description=text, colour=colour)
    if post is None:
        return embed
    song = song_line(post, locale)
    if song is not None:
        embed.add_field(name=kind_title(locale, post.kind), value=song[:1024], inline=False)
    if post.guild_id is not None:
        where = _md(server) if server else t(locale, "A server you are in")
        embed.add_field(name=t(locale, "Server"), value=where[:1024], inline=True)
    embed.add_field(name=t(locale, "Post"), value=t(locale, "[Go to the post]({url})", url=post_url(post)), inline=True)
    return embed


def link_prompt(minutes: int, locale: LocaleLike) -> str:
    return tn(
        locale,
        "You reacted to a shared post, but your Apple Music account is not linked yet. Link it in the next {n} "
        "minute and your rating is saved in your Apple Music: press the button to start.",
        "You reacted to a shared post, but your Apple Music account is not linked yet. Link it in the next {n} "
        "minutes and your rating is saved in your Apple Music: press the button to start.",
        minutes,
    )


RELINK_PROMPT = N_(
    "Apple Music no longer accepts your Apple Music link (it expired or was turned off). Your ratings are "
    "waiting: link again and they are saved. Press the button to start."
)


def reaction_not_saved(notice: notices.ReactionNotSaved, locale: LocaleLike) -> str:
    emoji = EMOJI_FOR_VALUE[notice.value]
    if notice.refused is not None:
        if notice.added:
            said = t(locale, "I could not save your {emoji} on this post.", emoji=emoji)
        else:
            said = t(locale, "I could not save your removal of {emoji} on this post.", emoji=emoji)
        later = t(locale, "Reactions you add before then are not saved either (I will not write about each one).")
        return f"{said} {describe_error(notice.refused, locale)} {later}"
    if notice.added:
        return t(
            locale,
            "I could not save your {emoji} on this post: my database is unavailable right now, so it did not reach "
            "Apple Music. Please react again in a few minutes.",
            emoji=emoji,
        )
    return t(
        locale,
        "I could not save your removal of {emoji} on this post: my database is unavailable right now, so it did not "
        "reach Apple Music. Please add {emoji} and remove it again in a few minutes.",
        emoji=emoji,
    )


def mixtape_missed(playlist: str, locale: LocaleLike) -> str:
    return t(
        locale,
        "This week's mixtape, **{playlist}**, was not added to your Apple Music: Apple Music no longer accepts your "
        "link (it expired or was turned off). Link again and next week's mixtape is made. Press the button to "
        "start, or use {leave} to stop the mixtape.",
        playlist=_md(playlist),
        leave=slash(locale, "mixtape leave"),
    )


def linked_embed(country: str, locale: LocaleLike) -> discord.Embed:
    return discord.Embed(
        title=t(locale, "Apple Music linked ✅"),
        description=t(
            locale,
            "Your Apple Music is linked (country or region: {country}). React 👍 or 👎 on shared songs, or use "
            "{rating}. {unlink} removes your Apple Music link at any time.",
            country=country.upper(),
            rating=slash(locale, "rating"),
            unlink=slash(locale, "unlink"),
        ),
        colour=discord.Colour.green(),
    )


def render(notice: notices.Notice, server: str | None = None, locale: LocaleLike = None) -> dict[str, Any]:
    """The keyword arguments of ``User.send`` for ``notice``, in ``locale`` (the member's; None: English);
    ``server`` is the name of the post's server."""
    match notice:
        case notices.LinkPrompt(minutes=minutes, post=post):
            title = t(locale, "Link Apple Music to save your rating")
            card = post_card(title, link_prompt(minutes, locale), post, server, APPLE_RED, locale)
            return {"embed": card, "view": link_button_view(locale=locale)}
        case notices.RelinkPrompt(post=post):
            title = t(locale, "Link Apple Music again")
            card = post_card(title, t(locale, RELINK_PROMPT), post, server, APPLE_RED, locale)
            return {"embed": card, "view": link_button_view(locale=locale)}
        case notices.Linked(storefront=country):
            return {"embed": linked_embed(country, locale)}
        case notices.ReactionNotSaved(post=post):
            title = t(locale, "Your reaction was not saved")
            card = post_card(title, reaction_not_saved(notice, locale), post, server, ERROR_COLOUR, locale)
            return {"embed": card}
        case notices.MixtapeMissed(playlist=playlist):
            card = discord.Embed(
                title=t(locale, "Your mixtape was not made"),
                description=mixtape_missed(playlist, locale),
                colour=APPLE_RED,
            )
            return {"embed": card, "view": link_button_view(locale=locale)}


def _post_of(notice: notices.Notice) -> notices.Post | None:
    if isinstance(notice, notices.LinkPrompt | notices.RelinkPrompt | notices.ReactionNotSaved):
        return notice.post
    return None


class DirectMessages:
    """A :class:`~bot.services.notices.Notifier` that sends each notice as a DM, in the language of the member's
    latest interaction with the bot (``locales``; English when the bot has not seen one since it started)."""

    def __init__(self, client: discord.Client, locales: RecentLocales | None = None) -> None:
        self.client = client
        self.locales = locales if locales is not None else RecentLocales()

    def server_name(self, notice: notices.Notice) -> str | None:
        post = _post_of(notice)
        guild = self.client.get_guild(post.guild_id) if post is not None and post.guild_id is not None else None
        return guild.name if guild is not None else None

    async def notify(self, user_id: int, notice: notices.Notice) -> bool:
        try:
            user = self.client.get_user(user_id) or await self.client.fetch_user(user_id)
            await user.send(**render(notice, self.server_name(notice), self.locales.get(user_id)))
        except discord.HTTPException as exc:
            log.info("could not DM user %d a %s (%s)", user_id, type(notice).__name__, exc.status)
            return False
        except discord.DiscordException as exc:  # e.g. not connected: a notice is never worth a failure
            log.warning("could not DM user %d a %s (%s)", user_id, type(notice).__name__, type(exc).__name__)
            return False
        return True
