"""Embeds the bot sends. Every builder takes plain values and returns a ``discord.Embed``."""

from __future__ import annotations

import datetime

import discord

from bot.applemusic import CatalogItem, ResourceType
from bot.services.linking import AccountStatus
from bot.services.privacy import RetentionTerms
from bot.services.ratings import ItemRef, RatedItem
from bot.services.recap import Recap
from bot.services.weeks import time_zone
from bot.ui.texts import RATINGS_EXPIRED, waiting_reasons

APPLE_RED = discord.Colour(0xFA243C)


#: a member's state, the first thing their card says (its title), and its colour. Fixed colours, bright enough for
#: Discord's dark theme (an artwork's colour is often near-black there)
STATE_TEXT = {1: "👍 You like this", -1: "👎 You dislike this", None: "Not rated yet"}
STATE_COLOUR = {1: discord.Colour(0x57F287), -1: discord.Colour(0xED4245), None: discord.Colour(0x99AAB5)}


RATING_ICON = {1: "👍", -1: "👎", None: "▫️"}
TRACKS_PER_PAGE = 20
SHARE_HINT = "React 👍 or 👎 to rate it in your own Apple Music."


def state_text(value: int | None) -> str:
    return STATE_TEXT.get(value, STATE_TEXT[None])


def kind_label(ref: ItemRef) -> str:
    """The kind as a member reads it, capitalised the same everywhere: "Song", "Music video", "Library album"."""
    return ref.type.label.capitalize()


def item_name(rated: RatedItem) -> str:
    item = rated.item
    return (item.name if item is not None else "") or f"{kind_label(rated.ref)} {rated.ref.id}"


def item_line(rated: RatedItem) -> str:
    """One line under the name: the kind (not for a plain song), then artist (or curator) and a song's album."""
    item, ref = rated.item, rated.ref
    parts = [] if ref.type is ResourceType.SONGS else [kind_label(ref)]
    if item is None:
        if ref.type.is_library:
            parts.append("in your Apple Music library")
    else:
        if item.byline:
            parts.append(item.byline)
        if item.album_name and ref.type.catalog_twin in (ResourceType.SONGS, ResourceType.MUSIC_VIDEOS):
            parts.append(item.album_name)
    return " · ".join(parts)


def _item_card(rated: RatedItem, *, title: str, colour: discord.Colour, head: str | None) -> discord.Embed:
    """The one card layout: a title, ``head`` (if any), one line about the item, and its artwork as a thumbnail."""
    lines = (head, _md(item_line(rated)))
    embed = discord.Embed(title=title[:256], colour=colour, description="\n".join(x for x in lines if x)[:4096])
    return _with_artwork(embed, rated.item)


def _with_artwork(embed: discord.Embed, item: CatalogItem | None) -> discord.Embed:
    if item is not None and item.artwork is not None:
        embed.set_thumbnail(url=item.artwork.url(300, 300))
    return embed


def _linked_name(rated: RatedItem) -> str:
    name = _md(item_name(rated))
    url = rated.item.url if rated.item is not None else None
    return f"[{name}]({url})" if url else name


def item_embed(rated: RatedItem) -> discord.Embed:
    """A member's card for one item: their rating first (title and colour), then the item linked to Apple Music,
    artist and album on one line, artwork. The buttons under it (``bot.ui.views.card_view``) show the same state."""
    head = f"**{_linked_name(rated)}**"
    return _item_card(rated, title=state_text(rated.rating), colour=STATE_COLOUR[rated.rating], head=head)


def share_embed(shared: RatedItem) -> discord.Embed:
    """The public ``/share`` card: the item (its name is the title, linked to Apple Music) and one line about it;
    nobody's rating, nor who shared it (Discord shows that), and one hint: the reactions."""
    item = shared.item
    embed = _item_card(shared, title=item_name(shared), colour=APPLE_RED, head=None)
    embed.url = item.url if item is not None else None
    embed.set_footer(text=SHARE_HINT)
    return embed


def items_embed(rows: list[RatedItem]) -> discord.Embed:
    """Several items (a message's links), numbered as their rows of buttons are: name, kind and artist, and the
    member's rating."""
    embed = discord.Embed(title="Your Apple Music ratings", colour=APPLE_RED)
    lines = []
    for n, rated in enumerate(rows, 1):
        about = " · ".join(x for x in (kind_label(rated.ref), rated.item.byline if rated.item else None) if x)
        lines.append(f"**{n}. {_linked_name(rated)}**\n{_md(about)} — {state_text(rated.rating)}")
    embed.description = "\n".join(lines)[:4096]
    return embed


def tracks_embed(parent: RatedItem, rows: list[RatedItem], page: int) -> tuple[discord.Embed, int]:
    """A page of an album's or playlist's tracks with the user's ratings; returns (embed, page count)."""
    pages = max(1, -(-len(rows) // TRACKS_PER_PAGE))
    page = min(max(page, 0), pages - 1)
    start = page * TRACKS_PER_PAGE
    item = parent.item
    embed = _with_artwork(
        discord.Embed(title=item_name(parent)[:256], url=item.url if item else None, colour=APPLE_RED), item
    )
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
    """``/account``: link status, country or region, linked since, last used, queued ratings. Never the token."""
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
        embed.add_field(name="Country or region", value=account.storefront.upper(), inline=True)
        embed.add_field(name="Linked since", value=discord.utils.format_dt(_dt(account.linked_at), "D"), inline=True)
        embed.add_field(name="Last used", value=discord.utils.format_dt(_dt(account.last_used), "R"), inline=True)
    if pending:
        why = f" ({pending_reason})" if pending_reason else ""
        embed.add_field(name="Ratings waiting", value=f"{pending}{why}", inline=False)
    if status.expired:
        embed.add_field(name="Not applied", value=RATINGS_EXPIRED, inline=False)
    embed.set_footer(text="/unlink removes your Apple Music link from the bot at once.")
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


def recap_embed(recap: Recap) -> discord.Embed:
    """The weekly recap, posted in a server's recap channel: the week's most liked songs (each linked to Apple Music,
    with its 👍 and 👎), then who shared them: by name only those who chose to be named here, the others counted."""
    embed = discord.Embed(title="This week's most liked songs", colour=APPLE_RED)
    lines = []
    for n, song in enumerate(recap.songs, 1):
        name = _md(song.name) if song.name else "A song"
        artist = f" — {_md(song.artist)}" if song.artist else ""
        lines.append(f"**{n}. [{name}]({song.url})**{artist} · 👍 {song.likes} · 👎 {song.dislikes}")
    embed.description = "\n".join(lines)[:4096]
    if recap.named_sharers or recap.other_sharers:
        embed.add_field(name="Shared by", value=sharers_line(recap.named_sharers, recap.other_sharers), inline=False)
    embed.set_footer(text=f"{week_span(recap)} · Rate what is shared here with 👍 👎: it goes to your Apple Music.")
    return embed


def sharers_line(named: list[tuple[int, int]], others: int) -> str:
    """ "<@1> (3 songs), <@2> (1 song) and 2 other members": names only of those given (who chose to be named)."""
    parts = [f"<@{user_id}> ({_plural(shares, 'share')})" for user_id, shares in named]
    if others:
        parts.append(f"{others} other member{'s' if others != 1 else ''}" if parts else _plural(others, "member"))
    text = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
    return text[:1024]


def week_span(recap: Recap) -> str:
    """ "12 May – 18 May 2026": the week's first and last day in the server's time zone."""
    zone = time_zone(recap.timezone)
    first = datetime.datetime.fromtimestamp(recap.week.start, tz=zone)
    last = datetime.datetime.fromtimestamp(recap.week.end - 1, tz=zone)
    return f"{first.day} {first:%B} – {last.day} {last:%B %Y}"
