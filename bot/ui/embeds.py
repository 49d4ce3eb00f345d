"""Embeds the bot sends. Every builder takes plain values and a locale and returns a ``discord.Embed`` in that
language (the member's for their own cards, the server's for public posts: see :mod:`bot.i18n`). Item names, artists
and albums are Apple's, as Apple gives them."""

from __future__ import annotations

import datetime

import babel.lists
import discord

from bot.applemusic import CatalogItem, ResourceType
from bot.crossref import Match, MatchMethod
from bot.i18n import N_, LocaleLike, babel_locale, date, number, t, tn
from bot.i18n.commands import command, slash
from bot.services.linking import AccountStatus
from bot.services.privacy import RetentionTerms
from bot.services.ratings import ItemRef, RatedItem
from bot.services.recap import Recap
from bot.services.taste import MATCH_MIN_COMMON, Kind, Period, ShownItem, TasteMatch, Top
from bot.services.weeks import time_zone
from bot.ui.texts import ratings_expired, service_name, waiting_reasons

APPLE_RED = discord.Colour(0xFA243C)


#: a member's state, the first thing their card says (its title), and its colour. Fixed colours, bright enough for
#: Discord's dark theme (an artwork's colour is often near-black there)
STATE_TEXT = {1: N_("👍 You like this"), -1: N_("👎 You dislike this"), None: N_("Not rated yet")}
STATE_COLOUR = {1: discord.Colour(0x57F287), -1: discord.Colour(0xED4245), None: discord.Colour(0x99AAB5)}


RATING_ICON = {1: "👍", -1: "👎", None: "▫️"}
TRACKS_PER_PAGE = 20
SHARE_HINT = N_("React 👍 or 👎 to rate it in your own Apple Music.")

#: each kind of item as a card names it on its own (a label), and inside a sentence (msgctxt "in a sentence")
KIND_LABEL = {
    ResourceType.SONGS: N_("Song"),
    ResourceType.ALBUMS: N_("Album"),
    ResourceType.MUSIC_VIDEOS: N_("Music video"),
    ResourceType.PLAYLISTS: N_("Playlist"),
    ResourceType.STATIONS: N_("Station"),
    ResourceType.LIBRARY_SONGS: N_("Library song"),
    ResourceType.LIBRARY_ALBUMS: N_("Library album"),
    ResourceType.LIBRARY_MUSIC_VIDEOS: N_("Library music video"),
    ResourceType.LIBRARY_PLAYLISTS: N_("Library playlist"),
}
#: the same inside a sentence: "Apple Music has no song with id ..."
KIND_NOUN = {
    ResourceType.SONGS: N_("song"),
    ResourceType.ALBUMS: N_("album"),
    ResourceType.MUSIC_VIDEOS: N_("music video"),
    ResourceType.PLAYLISTS: N_("playlist"),
    ResourceType.STATIONS: N_("station"),
    ResourceType.LIBRARY_SONGS: N_("library song"),
    ResourceType.LIBRARY_ALBUMS: N_("library album"),
    ResourceType.LIBRARY_MUSIC_VIDEOS: N_("library music video"),
    ResourceType.LIBRARY_PLAYLISTS: N_("library playlist"),
}
#: "Is this the song you meant?", by the catalog kind of the item matched
QUESTION = {
    ResourceType.SONGS: N_("Is this the song you meant?"),
    ResourceType.ALBUMS: N_("Is this the album you meant?"),
    ResourceType.MUSIC_VIDEOS: N_("Is this the music video you meant?"),
    ResourceType.PLAYLISTS: N_("Is this the playlist you meant?"),
    ResourceType.STATIONS: N_("Is this the station you meant?"),
}
ITEM_QUESTION = N_("Is this the item you meant?")


def kind_noun(locale: LocaleLike, kind: ResourceType | str | None) -> str:
    """A kind of item inside a sentence ("song", "library album"), by type or by its label; "item" if unknown."""
    rtype = kind if isinstance(kind, ResourceType) else _BY_LABEL.get(kind or "")
    return t(locale, KIND_NOUN[rtype]) if rtype is not None else t(locale, "item")


def kind_title(locale: LocaleLike, kind: ResourceType | str | None) -> str:
    """A kind of item on its own, capitalised ("Song", "Library album"), by type or by its label; "Item" if unknown."""
    rtype = kind if isinstance(kind, ResourceType) else _BY_LABEL.get(kind or "")
    return t(locale, KIND_LABEL[rtype]) if rtype is not None else t(locale, "Item")


_BY_LABEL = {rtype.label: rtype for rtype in ResourceType}


#: how a link of another service was matched, as the card says it
MATCH_WORDS = {
    MatchMethod.ISRC: N_("Matched by ISRC · from {service}"),
    MatchMethod.UPC: N_("Matched by UPC · from {service}"),
    MatchMethod.ODESLI: N_("Matched by song.link · from {service}"),
    MatchMethod.TITLE: N_("Best match by title · from {service}"),
}


def match_line(match: Match | None, locale: LocaleLike) -> str | None:
    """ "Matched by ISRC · from Spotify" (the source linked), for an item matched from another service's link."""
    if match is None or match.method not in MATCH_WORDS:
        return None
    service = f"[{service_name(match.source.service)}]({match.source.url})"
    return t(locale, MATCH_WORDS[match.method], service=service)


def state_text(value: int | None, locale: LocaleLike) -> str:
    return t(locale, STATE_TEXT.get(value, STATE_TEXT[None]))


def kind_label(ref: ItemRef, locale: LocaleLike) -> str:
    """The kind as a member reads it, capitalised the same everywhere: "Song", "Music video", "Library album"."""
    return kind_title(locale, ref.type)


def item_name(rated: RatedItem, locale: LocaleLike) -> str:
    item = rated.item
    return (item.name if item is not None else "") or f"{kind_label(rated.ref, locale)} {rated.ref.id}"


def item_line(rated: RatedItem, locale: LocaleLike) -> str:
    """One line under the name: the kind (not for a plain song), then artist (or curator) and a song's album."""
    item, ref = rated.item, rated.ref
    parts = [] if ref.type is ResourceType.SONGS else [kind_label(ref, locale)]
    if item is None:
        if ref.type.is_library:
            parts.append(t(locale, "in your Apple Music library"))
    else:
        if item.byline:
            parts.append(item.byline)
        if item.album_name and ref.type.catalog_twin in (ResourceType.SONGS, ResourceType.MUSIC_VIDEOS):
            parts.append(item.album_name)
    return " · ".join(parts)


def _item_card(
    rated: RatedItem,
    *,
    title: str,
    colour: discord.Colour,
    head: str | None,
    locale: LocaleLike,
    match: Match | None = None,
) -> discord.Embed:
    """The one card layout: a title, ``head`` (if any), one line about the item, how it was matched (for another
    service's link), and its artwork as a thumbnail."""
    lines = (head, _md(item_line(rated, locale)), match_line(match, locale))
    embed = discord.Embed(title=title[:256], colour=colour, description="\n".join(x for x in lines if x)[:4096])
    return _with_artwork(embed, rated.item)


def _with_artwork(embed: discord.Embed, item: CatalogItem | None) -> discord.Embed:
    if item is not None and item.artwork is not None:
        embed.set_thumbnail(url=item.artwork.url(300, 300))
    return embed


def _linked_name(rated: RatedItem, locale: LocaleLike) -> str:
    name = _md(item_name(rated, locale))
    url = rated.item.url if rated.item is not None else None
    return f"[{name}]({url})" if url else name


def item_embed(rated: RatedItem, match: Match | None = None, *, locale: LocaleLike) -> discord.Embed:
    """A member's card for one item: their rating first (title and colour), then the item linked to Apple Music,
    artist and album on one line, how it was matched, artwork. The buttons under it (``bot.ui.views.card_view``)
    show the same state."""
    head = f"**{_linked_name(rated, locale)}**"
    title = state_text(rated.rating, locale)
    return _item_card(rated, title=title, colour=STATE_COLOUR[rated.rating], head=head, locale=locale, match=match)


def confirm_embed(rated: RatedItem, match: Match, *, locale: LocaleLike) -> discord.Embed:
    """The question before acting on a match that is not sure: "Is this the song you meant?", then the card's lines."""
    head = f"**{_linked_name(rated, locale)}**"
    title = t(locale, QUESTION.get(rated.ref.type.catalog_twin, ITEM_QUESTION))
    return _item_card(rated, title=title, colour=STATE_COLOUR[None], head=head, locale=locale, match=match)


def share_embed(shared: RatedItem, match: Match | None = None, *, locale: LocaleLike) -> discord.Embed:
    """The public ``/share`` card (in the server's language): the item (its name is the title, linked to Apple Music),
    one line about it and how it was matched; nobody's rating, nor who shared it (Discord shows that), and one hint:
    the reactions."""
    item = shared.item
    embed = _item_card(shared, title=item_name(shared, locale), colour=APPLE_RED, head=None, locale=locale, match=match)
    embed.url = item.url if item is not None else None
    embed.set_footer(text=t(locale, SHARE_HINT))
    return embed


def items_embed(rows: list[RatedItem], *, locale: LocaleLike) -> discord.Embed:
    """Several items (a message's links), numbered as their rows of buttons are: name, kind and artist, and the
    member's rating."""
    embed = discord.Embed(title=t(locale, "Your Apple Music ratings"), colour=APPLE_RED)
    lines = []
    for n, rated in enumerate(rows, 1):
        kind = kind_label(rated.ref, locale)
        about = " · ".join(x for x in (kind, rated.item.byline if rated.item else None) if x)
        lines.append(f"**{n}. {_linked_name(rated, locale)}**\n{_md(about)} — {state_text(rated.rating, locale)}")
    embed.description = "\n".join(lines)[:4096]
    return embed


def tracks_embed(
    parent: RatedItem, rows: list[RatedItem], page: int, *, locale: LocaleLike
) -> tuple[discord.Embed, int]:
    """A page of an album's or playlist's tracks with the user's ratings; returns (embed, page count)."""
    pages = max(1, -(-len(rows) // TRACKS_PER_PAGE))
    page = min(max(page, 0), pages - 1)
    start = page * TRACKS_PER_PAGE
    item = parent.item
    embed = _with_artwork(
        discord.Embed(title=item_name(parent, locale)[:256], url=item.url if item else None, colour=APPLE_RED), item
    )
    lines = []
    for n, rated in enumerate(rows[start : start + TRACKS_PER_PAGE], start + 1):
        name = rated.item.name if rated.item else rated.ref.id
        artist = f" — {rated.item.artist_name}" if rated.item and rated.item.artist_name else ""
        lines.append(f"`{n:>3}` {RATING_ICON.get(rated.rating, '▫️')} {_md(name)}{_md(artist)}")
    embed.description = "\n".join(lines)[:4096] or t(locale, "No tracks.")
    liked = number(locale, sum(1 for r in rows if r.rating == 1))
    disliked = number(locale, sum(1 for r in rows if r.rating == -1))
    tracks = tn(locale, "{n} track", "{n} tracks", len(rows))
    where = t(locale, "page {page}/{pages}", page=number(locale, page + 1), pages=number(locale, pages))
    embed.set_footer(text=f"{tracks} · 👍 {liked} · 👎 {disliked} · {where}")
    return embed, pages


#: how a top names its period and its kind
TOP_TITLE = {
    (Kind.SONGS, Period.WEEK): N_("Most liked songs this week"),
    (Kind.SONGS, Period.MONTH): N_("Most liked songs this month"),
    (Kind.SONGS, Period.ALL): N_("Most liked songs of all time"),
    (Kind.ALBUMS, Period.WEEK): N_("Most liked albums this week"),
    (Kind.ALBUMS, Period.MONTH): N_("Most liked albums this month"),
    (Kind.ALBUMS, Period.ALL): N_("Most liked albums of all time"),
    (Kind.EVERYTHING, Period.WEEK): N_("Most liked shares this week"),
    (Kind.EVERYTHING, Period.MONTH): N_("Most liked shares this month"),
    (Kind.EVERYTHING, Period.ALL): N_("Most liked shares of all time"),
}
#: a top with no votes yet, by period (and whether it is about one channel)
TOP_EMPTY = {
    Period.WEEK: N_("Nothing shared here this week has a 👍 or 👎 yet."),
    Period.MONTH: N_("Nothing shared here this month has a 👍 or 👎 yet."),
    Period.ALL: N_("Nothing shared here has a 👍 or 👎 yet."),
}
TOP_EMPTY_IN = {
    Period.WEEK: N_("Nothing shared in {channel} this week has a 👍 or 👎 yet."),
    Period.MONTH: N_("Nothing shared in {channel} this month has a 👍 or 👎 yet."),
    Period.ALL: N_("Nothing shared in {channel} has a 👍 or 👎 yet."),
}
TOP_FOOTER = N_(
    "Net likes: 👍 minus 👎 given through the bot on posts shared here. Only members who chose {name_me} are named."
)
GREY = STATE_COLOUR[None]


def _shown_link(shown: ShownItem) -> str:
    name = _md(shown.name)
    return f"[{name}]({shown.url})" if shown.url else name


def _byline(shown: ShownItem) -> str:
    by = shown.item.byline if shown.item is not None else None
    return f" — {_md(by)}" if by else ""


def _mention(user_id: int) -> str:
    return f"<@{user_id}>"


def top_embed(top: Top, *, locale: LocaleLike) -> discord.Embed:
    """``/ratings top``: the server's most liked items of a period, ranked, each linked to Apple Music with its 👍 and
    👎 counts and who shared it, by name only if they chose to be named (``TopEntry.sharer_id`` is None otherwise).
    ``locale``: the member's when only they see it, the server's when posted in the channel."""
    channel = f"<#{top.channel_id}>" if top.channel_id is not None else None
    period = top.span.period
    title = t(locale, TOP_TITLE[top.kind, period])
    if not top.entries:
        empty = t(locale, TOP_EMPTY[period]) if channel is None else t(locale, TOP_EMPTY_IN[period], channel=channel)
        hint = t(locale, "Share a song with {share}, and react to what others share!", share=slash(locale, "share"))
        return discord.Embed(title=title, description=f"{empty} {hint}", colour=GREY)
    lines = [t(locale, "Shared in {channel}:", channel=channel)] if channel is not None else []
    for entry in top.entries:
        if entry.sharer_id is not None:
            by = t(locale, "shared by {member}", member=_mention(entry.sharer_id))
        else:
            by = t(locale, "shared by a member")
        lines.append(f"**{number(locale, entry.rank)}.** {_shown_link(entry.shown)}{_byline(entry.shown)}")
        lines.append(f"👍 {number(locale, entry.likes)} · 👎 {number(locale, entry.dislikes)} · {by}")
    embed = discord.Embed(title=title, description="\n".join(lines)[:4096], colour=APPLE_RED)
    embed.set_footer(text=t(locale, TOP_FOOTER, name_me=command(locale, "ratings name-me")))
    return _with_artwork(embed, top.entries[0].shown.item)


def match_embed(match: TasteMatch, *, locale: LocaleLike) -> discord.Embed:
    """``/ratings match``: how often two named members' votes agree, and songs they both love."""
    other = _mention(match.other_id)
    title = t(locale, "Taste match")
    if not match.enough:
        text = tn(
            locale,
            "You and {other} have both voted on {n} item shared here: not enough yet to compare (it takes "
            "{needed}). React 👍 or 👎 to more shared songs!",
            "You and {other} have both voted on {n} items shared here: not enough yet to compare (it takes "
            "{needed}). React 👍 or 👎 to more shared songs!",
            match.common,
            other=other,
            needed=number(locale, MATCH_MIN_COMMON),
        )
        return discord.Embed(title=title, description=text, colour=GREY)
    lines = [
        t(
            locale,
            "You and {other} agree on **{agree} of the {common}** items you both voted on here (**{percent}%**).",
            other=other,
            agree=number(locale, match.agree),
            common=number(locale, match.common),
            percent=number(locale, match.percent),
        )
    ]
    if match.both_love:
        lines.append("\n" + t(locale, "Songs you both love:"))
        lines += [f"• {_shown_link(shown)}{_byline(shown)}" for shown in match.both_love]
    embed = discord.Embed(title=title, description="\n".join(lines)[:4096], colour=APPLE_RED)
    embed.set_footer(text=t(locale, "Votes are 👍/👎 given through the bot on posts shared in this server."))
    return embed


def _md(text: str) -> str:
    return discord.utils.escape_markdown(text)


def account_embed(status: AccountStatus, *, locale: LocaleLike) -> discord.Embed:
    """``/account``: link status, country or region, linked since (a date in the member's language), last used
    (Discord's relative time, which Discord words in the reader's language), queued ratings. Never the token."""
    account, pending = status.account, status.waiting
    pending_reason = waiting_reasons(status.reasons, locale=locale)
    link = slash(locale, "link")
    title = t(locale, "Apple Music account")
    if account is None:
        embed = discord.Embed(
            title=title,
            description=t(locale, "Not linked. Run {link} to link your Apple Music account.", link=link),
            colour=APPLE_RED,
        )
    else:
        if account.is_active:
            state = t(locale, "✅ Linked")
        else:
            state = t(locale, "⚠️ Needs relinking — Apple no longer accepts it; run {link}", link=link)
        embed = discord.Embed(title=title, colour=APPLE_RED)
        embed.add_field(name=t(locale, "Status"), value=state, inline=False)
        embed.add_field(name=t(locale, "Country or region"), value=account.storefront.upper(), inline=True)
        embed.add_field(name=t(locale, "Linked since"), value=date(locale, _dt(account.linked_at)), inline=True)
        embed.add_field(
            name=t(locale, "Last used"), value=discord.utils.format_dt(_dt(account.last_used), "R"), inline=True
        )
    if pending:
        count = number(locale, pending)
        value = t(locale, "{count} ({why})", count=count, why=pending_reason) if pending_reason else count
        embed.add_field(name=t(locale, "Ratings waiting"), value=value, inline=False)
    if status.expired:
        embed.add_field(name=t(locale, "Not applied"), value=ratings_expired(locale), inline=False)
    embed.set_footer(
        text=t(locale, "{unlink} removes your Apple Music link from the bot at once.", unlink=command(locale, "unlink"))
    )
    return embed


def _dt(epoch: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(epoch, tz=datetime.UTC)


def privacy_embed(terms: RetentionTerms, named_here: bool | None = None, *, locale: LocaleLike) -> discord.Embed:
    """``/privacy``: what the bot keeps about a member, why, and for how long, in plain words; in a server, whether
    they chose to be named in its tops (``named_here``; None elsewhere)."""

    def minutes(n: int) -> str:
        return tn(locale, "{n} minute", "{n} minutes", n)

    def days(n: int) -> str:
        return tn(locale, "{n} day", "{n} days", n)

    cmd = {
        "link": slash(locale, "link"),
        "unlink": slash(locale, "unlink"),
        "forget_me": slash(locale, "forget-me"),
        "export": slash(locale, "export"),
        "account": slash(locale, "account"),
        "name_me": slash(locale, "ratings name-me"),
    }
    embed = discord.Embed(title=t(locale, "What this bot keeps about you"), colour=APPLE_RED)
    embed.description = t(
        locale,
        "Only what it needs to put your 👍/👎 in your own Apple Music account. {export} sends you all of it as a "
        "file; {forget_me} deletes all of it at once.",
        **cmd,
    )
    rows = [
        (
            t(locale, "Your Apple Music link"),
            t(
                locale,
                "Your Apple Music access (encrypted), your Apple Music country, when you linked and when it was last "
                "used. Kept until you {unlink} or {forget_me}.",
                **cmd,
            ),
        ),
        (
            t(locale, "Link requests"),
            t(
                locale,
                "Each {link} makes a one-time address that works for {minutes}; it is deleted soon after.",
                minutes=minutes(terms.link_minutes),
                **cmd,
            ),
        ),
        (
            t(locale, "Ratings on their way"),
            t(
                locale,
                "A 👍/👎 waits here only until Apple Music has it, then it is deleted: the bot keeps no history of "
                "your ratings (only your current vote on posts shared in a server, below). If you are not linked, it "
                "waits {minutes} for you to link (your next {account} tells you if it was dropped); if Apple stopped "
                "accepting your link, it waits until you link again.",
                minutes=minutes(terms.unlinked_minutes),
                **cmd,
            ),
        ),
        (
            t(locale, "Messages it sent you"),
            t(
                locale,
                "Which reminders it sent you and when (so it sends at most one a day), and a note for your next "
                "{account}; kept {days}.",
                days=days(terms.notice_days),
                **cmd,
            ),
        ),
        (
            t(locale, "Shared posts"),
            t(
                locale,
                "Which Apple Music item a shared post links to (not who shared it), so reactions on it can be rated; "
                "kept {days}. A server's sharing channels and posts are deleted {left_days} after the bot is "
                "removed from it.",
                days=days(terms.shared_message_days),
                left_days=days(terms.left_guild_days),
            ),
        ),
        (
            t(locale, "Server tops"),
            t(
                locale,
                "In a server: who shared which Apple Music item there through the bot, and your current 👍 or 👎 on "
                "what was shared there, for its tops and taste matches; kept {days}. Tops show counts: you are named "
                "in them (as the one who shared, in recaps and in taste matches) only in the servers where you chose "
                "it with {name_me}.",
                days=days(terms.taste_days),
                **cmd,
            ),
        ),
    ]
    if named_here is not None:
        if named_here:
            here = t(
                locale,
                "You chose to be named in its tops, recaps and taste matches ({off} stops it).",
                off=slash(locale, "ratings name-me", setting="off"),
            )
        else:
            here = t(
                locale,
                "You are not named in its tops, recaps or taste matches ({on} to be).",
                on=slash(locale, "ratings name-me", setting="on"),
            )
        rows.append((t(locale, "In this server"), here))
    for name, value in rows:
        embed.add_field(name=name, value=value, inline=False)
    embed.set_footer(text=t(locale, "Nothing else: no messages, no listening history, no names (Discord ids only)."))
    return embed


def recap_embed(recap: Recap, *, locale: LocaleLike) -> discord.Embed:
    """The weekly recap, posted in a server's recap channel (``locale``: the server's): the week's most liked songs
    (each linked to Apple Music, with its 👍 and 👎), then who shared them: by name only those who chose to be named
    here, the others counted."""
    embed = discord.Embed(title=t(locale, "This week's most liked songs"), colour=APPLE_RED)
    lines = []
    for n, song in enumerate(recap.songs, 1):
        name = _md(song.name) if song.name else t(locale, "A song")
        artist = f" — {_md(song.artist)}" if song.artist else ""
        counts = f"👍 {number(locale, song.likes)} · 👎 {number(locale, song.dislikes)}"
        lines.append(f"**{number(locale, n)}. [{name}]({song.url})**{artist} · {counts}")
    embed.description = "\n".join(lines)[:4096]
    if recap.named_sharers or recap.other_sharers:
        shared_by = sharers_line(recap.named_sharers, recap.other_sharers, locale=locale)
        embed.add_field(name=t(locale, "Shared by"), value=shared_by, inline=False)
    footer = t(
        locale,
        "{week} · Rate what is shared here with 👍 👎: it goes to your Apple Music.",
        week=week_span(recap, locale=locale),
    )
    embed.set_footer(text=footer)
    return embed


def sharers_line(named: list[tuple[int, int]], others: int, *, locale: LocaleLike) -> str:
    """ "<@1> (3 shares), <@2> (1 share) and 2 other members": names only of those given (who chose to be named)."""
    parts = [
        tn(locale, "{member} ({n} share)", "{member} ({n} shares)", shares, member=_mention(user_id))
        for user_id, shares in named
    ]
    if others:
        if parts:
            parts.append(tn(locale, "{n} other member", "{n} other members", others))
        else:
            parts.append(tn(locale, "{n} member", "{n} members", others))
    return babel.lists.format_list(parts, locale=babel_locale(locale))[:1024]


def week_span(recap: Recap, *, locale: LocaleLike) -> str:
    """ "May 12, 2026 – May 18, 2026": the week's first and last day in the server's time zone, in ``locale``."""
    zone = time_zone(recap.timezone)
    first = datetime.datetime.fromtimestamp(recap.week.start, tz=zone)
    last = datetime.datetime.fromtimestamp(recap.week.end - 1, tz=zone)
    return f"{date(locale, first, 'medium')} – {date(locale, last, 'medium')}"
