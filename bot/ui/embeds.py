"""Embeds the bot sends. Every builder takes plain values and returns a ``discord.Embed``."""

from __future__ import annotations

import datetime

import discord

from bot.applemusic import CatalogItem, ResourceType
from bot.services.linking import AccountStatus
from bot.services.privacy import RetentionTerms
from bot.services.ratings import RatedItem
from bot.ui.texts import RATINGS_EXPIRED, waiting_reasons

APPLE_RED = discord.Colour(0xFA243C)


RATING_TEXT = {1: "👍 Liked", -1: "👎 Disliked", None: "Not rated"}
RATING_ICON = {1: "👍", -1: "👎", None: "▫️"}
TRACKS_PER_PAGE = 20


def rating_text(value: int | None) -> str:
    return RATING_TEXT.get(value, "Not rated")


def _colour(item: CatalogItem | None) -> discord.Colour:
    if item is not None and item.artwork is not None and item.artwork.bg_colour is not None:
        return discord.Colour(item.artwork.bg_colour)
    return APPLE_RED


def item_embed(rated: RatedItem, *, note: str | None = None) -> discord.Embed:
    """One item: title linked to Apple Music, artist, album or curator, kind, artwork, and the rating."""
    item, ref = rated.item, rated.ref
    kind = ref.type.label.capitalize()
    if item is None:
        embed = discord.Embed(title=f"{kind} {ref.id}", colour=APPLE_RED)
        if ref.type.is_library:
            embed.description = "An item in your Apple Music library."
    else:
        embed = discord.Embed(title=item.name[:256] or f"{kind} {ref.id}", url=item.url, colour=_colour(item))
        if item.artist_name:
            embed.add_field(name="Artist", value=item.artist_name[:1024], inline=True)
        if item.album_name and ref.type in (ResourceType.SONGS, ResourceType.MUSIC_VIDEOS):
            embed.add_field(name="Album", value=item.album_name[:1024], inline=True)
        if item.curator_name and not item.artist_name:
            embed.add_field(name="Curator", value=item.curator_name[:1024], inline=True)
        if item.artwork is not None:
            embed.set_thumbnail(url=item.artwork.url(300, 300))
    embed.add_field(name="Kind", value=kind, inline=True)
    embed.add_field(name="Your rating", value=rating_text(rated.rating), inline=False)
    if note:
        embed.set_footer(text=note[:2048])
    return embed


SHARE_FOOTER = "React 👍 or 👎 (or press a button) to rate it in your own Apple Music."


def share_embed(shared: RatedItem, sharer: str) -> discord.Embed:
    """The public ``/share`` card: the item without anyone's rating, who shared it, and how to rate it."""
    embed = item_embed(shared)
    for index, field in enumerate(embed.fields):  # a shared card has no "your rating"
        if field.name == "Your rating":
            embed.remove_field(index)
            break
    embed.set_author(name=f"Shared by {sharer}"[:256])
    embed.set_footer(text=SHARE_FOOTER)
    return embed


def items_embed(rows: list[RatedItem]) -> discord.Embed:
    """Several items (a message's links): one line each with the rating."""
    embed = discord.Embed(title="Your Apple Music ratings", colour=APPLE_RED)
    lines = []
    for n, rated in enumerate(rows, 1):
        name = rated.item.name if rated.item else f"{rated.ref.type.label} {rated.ref.id}"
        by = f" — {rated.item.byline}" if rated.item and rated.item.byline else ""
        link = rated.item.url if rated.item and rated.item.url else None
        title = f"[{_md(name)}]({link})" if link else _md(name)
        lines.append(f"**{n}.** {title}{_md(by)} · {rated.ref.type.label} · {rating_text(rated.rating)}")
    embed.description = "\n".join(lines)[:4096]
    return embed


def tracks_embed(parent: RatedItem, rows: list[RatedItem], page: int) -> tuple[discord.Embed, int]:
    """A page of an album's or playlist's tracks with the user's ratings; returns (embed, page count)."""
    pages = max(1, -(-len(rows) // TRACKS_PER_PAGE))
    page = min(max(page, 0), pages - 1)
    start = page * TRACKS_PER_PAGE
    item = parent.item
    title = item.name if item else f"{parent.ref.type.label.capitalize()} {parent.ref.id}"
    embed = discord.Embed(title=title[:256], url=item.url if item else None, colour=_colour(item))
    if item is not None and item.artwork is not None:
        embed.set_thumbnail(url=item.artwork.url(300, 300))
    lines = []
    for n, rated in enumerate(rows[start : start + TRACKS_PER_PAGE], start + 1):
        name = rated.item.name if rated.item else rated.ref.id
        artist = f" — {rated.item.artist_name}" if rated.item and rated.item.artist_name else ""
        lines.append(f"`{n:>3}` {RATING_ICON.get(rated.rating, '▫️')} {_md(name)}{_md(artist)}")
    embed.description = "\n".join(lines)[:4096] or "No tracks."
    liked = sum(1 for r in rows if r.rating == 1)
    disliked = sum(1 for r in rows if r.rating == -1)
    embed.set_footer(text=f"{len(rows)} tracks · 👍 {liked} · 👎 {disliked} · page {page + 1}/{pages}")
    return embed, pages


def _md(text: str) -> str:
    return discord.utils.escape_markdown(text)


def account_embed(status: AccountStatus) -> discord.Embed:
    """``/account``: link status, storefront, linked since, last used, queued ratings. Never the token."""
    account, pending, pending_reason = status.account, status.waiting, waiting_reasons(status.reasons)
    if account is None:
        embed = discord.Embed(
            title="Apple Music account",
            description="Not linked. Run `/link` to link your Apple Music account.",
            colour=APPLE_RED,
        )
    else:
        state = "✅ Linked" if account.is_active else "⚠️ Needs relinking — Apple no longer accepts it; run `/link`"
        embed = discord.Embed(title="Apple Music account", colour=APPLE_RED)
        embed.add_field(name="Status", value=state, inline=False)
        embed.add_field(name="Storefront", value=account.storefront.upper(), inline=True)
        embed.add_field(name="Linked since", value=discord.utils.format_dt(_dt(account.linked_at), "D"), inline=True)
        embed.add_field(name="Last used", value=discord.utils.format_dt(_dt(account.last_used), "R"), inline=True)
    if pending:
        why = f" ({pending_reason})" if pending_reason else ""
        embed.add_field(name="Ratings waiting", value=f"{pending}{why}", inline=False)
    if status.expired:
        embed.add_field(name="Not applied", value=RATINGS_EXPIRED, inline=False)
    embed.set_footer(text="/unlink removes your token from the bot at once.")
    return embed


def _dt(epoch: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(epoch, tz=datetime.UTC)


def privacy_embed(terms: RetentionTerms) -> discord.Embed:
    """``/privacy``: what the bot keeps about a member, why, and for how long, in plain words."""
    days = _plural
    embed = discord.Embed(title="What this bot keeps about you", colour=APPLE_RED)
    embed.description = (
        "Only what it needs to put your 👍/👎 in your own Apple Music account. `/export` sends you all of it as a "
        "file; `/forget-me` deletes all of it at once."
    )
    rows = [
        (
            "Your Apple Music link",
            "Your Apple Music access (encrypted), your Apple Music country, when you linked and when it was last "
            "used. Kept until you `/unlink` or `/forget-me`.",
        ),
        (
            "Link requests",
            f"Each `/link` makes a one-time address that works for {days(terms.link_minutes, 'minute')}; it is "
            "deleted soon after.",
        ),
        (
            "Ratings on their way",
            "A 👍/👎 waits here only until Apple Music has it, then it is deleted: the bot keeps no history of your "
            f"ratings. If you are not linked, it waits {days(terms.unlinked_minutes, 'minute')} for you to link "
            "(your next `/account` tells you if it was dropped); if Apple stopped accepting your link, it waits "
            "until you link again.",
        ),
        (
            "Messages it sent you",
            "Which reminders it sent you and when (so it sends at most one a day), and a note for your next "
            f"`/account`; kept {days(terms.notice_days, 'day')}.",
        ),
        (
            "Shared posts",
            "Which Apple Music item a shared post links to (not who shared it), so reactions on it can be rated; "
            f"kept {days(terms.shared_message_days, 'day')}. A server's sharing channels and posts are deleted "
            f"{days(terms.left_guild_days, 'day')} after the bot is removed from it.",
        ),
    ]
    for name, value in rows:
        embed.add_field(name=name, value=value, inline=False)
    embed.set_footer(text="Nothing else: no messages, no listening history, no names.")
    return embed


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"
