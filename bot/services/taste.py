"""A server's taste: what its members liked most among the items shared there (``/ratings top``), how much two
members' votes agree (``/ratings match``), and who chose to be named (``/ratings name-me``).

A vote is a member's current 👍/👎 through the bot on an item shared in the server: a reaction on a shared post
(``SharingService.react``), or a Like / Dislike / Clear press on a public ``/share`` card (:meth:`TasteService.
button_vote`). Counts are shown for everyone; a member is named (as the one who shared an item, or in a match) only
if they chose it in that server (``taste_named``): :meth:`TasteService.named` is the one place that decides it.

Periods: "this week" is the server's current week when the server has a weekly slot (``week_slot``, given by the
recaps once they exist), else the last 7 days; "this month" the last 30 days; "all time" everything kept
(``TASTE_DAYS``). :meth:`TasteService.span` is the one place that computes them.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from enum import StrEnum

from bot import applemusic as am
from bot.applemusic import CatalogItem, ResourceType
from bot.errors import MatchWithSelf, MemberNotNamed, NotNamedHere
from bot.services.ratings import ItemRef, RatingService
from bot.services.sharing import SharingService
from bot.services.weeks import WeeklySlot, last_week
from bot.storage import StorageError, Store, TopItem

log = logging.getLogger(__name__)

DAY = 86_400.0
#: rolling spans when the server has no weekly slot
WEEK_DAYS = 7
MONTH_DAYS = 30
#: items a top shows
TOP_ITEMS = 10
#: items two members must both have voted on before their agreement means anything
MATCH_MIN_COMMON = 3
#: songs both members love, shown in a match
MATCH_BOTH_LOVE = 5

#: the server's weekly slot, if its admins set one (the recaps' setting); None: rolling weeks
SlotOf = Callable[[int], Awaitable[WeeklySlot | None]]


class Period(StrEnum):
    WEEK = "week"
    MONTH = "month"
    ALL = "all"


class Kind(StrEnum):
    SONGS = "songs"
    ALBUMS = "albums"
    EVERYTHING = "everything"

    @property
    def item_types(self) -> tuple[str, ...] | None:
        """The item types counted (None: every kind)."""
        if self is Kind.EVERYTHING:
            return None
        return (ResourceType.SONGS.value,) if self is Kind.SONGS else (ResourceType.ALBUMS.value,)


@dataclass(frozen=True, slots=True)
class Span:
    """A period as times: items first shared in ``[since, until)`` count."""

    period: Period
    since: float
    until: float
    #: the server's own week (its weekly slot), not a rolling 7 days
    server_week: bool = False


@dataclass(frozen=True, slots=True)
class ShownItem:
    """An item as a member reads it: its catalog data (None when unknown or Apple failed) and its Apple Music link."""

    ref: ItemRef
    item: CatalogItem | None
    url: str | None

    @property
    def name(self) -> str:
        return (self.item.name if self.item is not None else "") or f"{self.ref.type.label.capitalize()} {self.ref.id}"


@dataclass(frozen=True, slots=True)
class TopEntry:
    rank: int
    shown: ShownItem
    likes: int
    dislikes: int
    channel_id: int
    #: who shared it first in the period, only when they chose to be named in the server (else None)
    sharer_id: int | None


@dataclass(frozen=True, slots=True)
class Top:
    span: Span
    kind: Kind
    channel_id: int | None
    entries: list[TopEntry]


@dataclass(frozen=True, slots=True)
class TasteMatch:
    """Two named members' votes on items shared in a server: over the items both voted on (``common``), how many
    votes are equal (``agree``); and up to :data:`MATCH_BOTH_LOVE` songs both like."""

    other_id: int
    common: int
    agree: int
    both_love: list[ShownItem]

    @property
    def enough(self) -> bool:
        return self.common >= MATCH_MIN_COMMON

    @property
    def percent(self) -> int:
        return round(100 * self.agree / self.common) if self.common else 0


class TasteService:
    """The server's taste (see the module docstring). One per bot, built in ``bot.app.start_services``."""

    def __init__(
        self,
        store: Store,
        sharing: SharingService,
        ratings: RatingService,
        *,
        taste_days: float,
        clock: Callable[[], float] = time.time,
        week_slot: SlotOf | None = None,
    ) -> None:
        self.store = store
        self.sharing = sharing
        self.ratings = ratings
        self.taste_days = taste_days
        self._clock = clock
        #: the recaps' weekly slot of a server, once they exist (``None``: every week is a rolling 7 days)
        self.week_slot = week_slot

    # ------------------------------------------------------------------ who may be named

    async def named(self, guild_id: int, user_ids: Collection[int]) -> set[int]:
        """Which of these members chose to be named in the server: the only ones any answer may name."""
        return await self.store.taste_named(guild_id, user_ids) if user_ids else set()

    async def is_named(self, guild_id: int, user_id: int) -> bool:
        return user_id in await self.named(guild_id, [user_id])

    async def set_named(self, guild_id: int, user_id: int, on: bool) -> bool:
        """The member chooses (``on``) or stops choosing to be named in the server; True if that changed it."""
        return await self.store.set_taste_named(guild_id, user_id, on)

    # ------------------------------------------------------------------ periods

    async def span(self, guild_id: int, period: Period, now: float | None = None) -> Span:
        """The times ``period`` covers in the server, up to and including ``now``."""
        now = self._clock() if now is None else now
        until = math.nextafter(now, math.inf)
        if period is Period.ALL:
            return Span(period, now - self.taste_days * DAY, until)
        if period is Period.MONTH:
            return Span(period, now - MONTH_DAYS * DAY, until)
        slot = await self.week_slot(guild_id) if self.week_slot is not None else None
        if slot is None:
            return Span(period, now - WEEK_DAYS * DAY, until)
        return Span(period, last_week(guild_id, slot, now).end, until, server_week=True)

    # ------------------------------------------------------------------ /ratings top

    async def top(
        self,
        guild_id: int,
        viewer_id: int,
        period: Period,
        *,
        channel_id: int | None = None,
        kind: Kind = Kind.EVERYTHING,
        limit: int = TOP_ITEMS,
    ) -> Top:
        """The most liked items first shared in the period (net likes, then likes, then the earliest share), named
        and linked in the viewer's Apple Music country; each sharer named only if they chose it."""
        span = await self.span(guild_id, period)
        rows = await self.store.top_items(
            guild_id, span.since, span.until, channel_id=channel_id, item_types=kind.item_types, limit=limit
        )
        named = await self.named(guild_id, {row.sharer_id for row in rows})
        shown = await self.show(viewer_id, [_ref(row) for row in rows])
        entries = [
            TopEntry(
                rank=n,
                shown=shown[_ref(row)],
                likes=row.likes,
                dislikes=row.dislikes,
                channel_id=row.channel_id,
                sharer_id=row.sharer_id if row.sharer_id in named else None,
            )
            for n, row in enumerate(rows, 1)
        ]
        return Top(span, kind, channel_id, entries)

    async def show(self, viewer_id: int, refs: list[ItemRef]) -> dict[ItemRef, ShownItem]:
        """Names and links of items for a member: the catalog (cached, shared with every command) in their Apple
        Music country (the default one when not linked). When Apple fails, items are shown by kind and id, linked."""
        storefront = await self.ratings.storefront(viewer_id)
        try:
            described = await self.ratings.describe_many(refs, storefront)
        except am.AppleMusicError as exc:
            log.info("top: catalog lookup failed (%s); items shown by id", type(exc).__name__)
            described = {ref: (None, am.ShareLink(ref.type, ref.id, storefront).url) for ref in refs}
        return {ref: ShownItem(ref, *described[ref]) for ref in refs}

    # ------------------------------------------------------------------ /ratings match

    async def match(self, guild_id: int, user_id: int, other_id: int, *, other_is_bot: bool = False) -> TasteMatch:
        """How much two members' votes in the server agree. Both must have chosen to be named there: the caller is
        told first (:class:`NotNamedHere`), then :class:`MemberNotNamed`, which carries nothing about the other."""
        if other_id == user_id or other_is_bot:
            raise MatchWithSelf()
        named = await self.named(guild_id, [user_id, other_id])
        if user_id not in named:
            raise NotNamedHere()
        if other_id not in named:
            raise MemberNotNamed()
        mine = await self.store.member_votes(guild_id, user_id)
        theirs = await self.store.member_votes(guild_id, other_id)
        common = sorted(mine.keys() & theirs.keys())
        agree = sum(1 for key in common if mine[key] == theirs[key])
        loved = [
            ItemRef(ResourceType(t), i)
            for t, i in common
            if t == ResourceType.SONGS.value and mine[(t, i)] == 1 and theirs[(t, i)] == 1
        ][:MATCH_BOTH_LOVE]
        shown = await self.show(user_id, loved) if loved else {}
        return TasteMatch(other_id, len(common), agree, [shown[ref] for ref in loved])

    # ------------------------------------------------------------------ votes from buttons

    async def button_vote(self, guild_id: int, message_id: int, user_id: int, ref: ItemRef, value: int) -> bool:
        """A Like (1) / Dislike (-1) / Clear (0) press on a public card in a server: if the card is a shared post of
        that item in that server, the press is the member's vote there (as a reaction would be). True if recorded.
        A database failure is logged, not raised: the member's rating in Apple Music goes on without it."""
        try:
            shared = await self.sharing.resolve(message_id)
            if (
                shared is None
                or shared.guild_id != guild_id
                or (shared.item_type, shared.item_id) != (ref.type.value, ref.id)
            ):
                return False
            await self.store.record_vote(guild_id, user_id, ref.type.value, ref.id, value)
        except StorageError as exc:
            log.warning("a button vote on message %d was not counted in the server's tops: %s", message_id, exc)
            return False
        return True


def _ref(row: TopItem) -> ItemRef:
    return ItemRef(ResourceType(row.item_type), row.item_id)
