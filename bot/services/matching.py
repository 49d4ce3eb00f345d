"""What a member gives as an item — an Apple Music link, id or name, or a link of another music service — as the Apple
Music item it names, and how it was matched (:mod:`bot.crossref`).

A link of another service (Spotify, YouTube, Deezer, ...) is matched by the process's one
:class:`~bot.crossref.LinkResolver`: the answer says how (``Match.method``) and how sure it is (``Match.confidence``;
confident at or above ``MATCH_CONFIDENCE``). A member's commands match at most ``MATCH_LOOKUPS_PER_MINUTE`` such links
a minute (each may cost requests to several outside services). Returns values; ``bot.ui`` renders them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.applemusic import ResourceType
from bot.crossref import ForeignLink, LinkResolver, Match, find_music_link, listen_elsewhere_url
from bot.errors import CannotMatchNow, MatchUnavailable, NoForeignMatch, TooManyLookups
from bot.ratelimit import RateWindow
from bot.services.ratings import ItemRef, RatingService

__all__ = ["Matched", "MatchingService", "elsewhere_url", "foreign_link"]

log = logging.getLogger(__name__)


def foreign_link(text: str) -> ForeignLink | None:
    """The link of another music service ``text`` starts with (a command's item), or None (an Apple Music link, an
    id, a name...). Never raises."""
    found = find_music_link(text or "")
    return found if isinstance(found, ForeignLink) else None


def elsewhere_url(ref: ItemRef, match: Match | None = None) -> str | None:
    """The song.link page listing a song or album on other services (the match's, when it gave one); None for other
    kinds (song.link lists songs and albums)."""
    if ref.type not in (ResourceType.SONGS, ResourceType.ALBUMS):
        return None
    if match is not None and match.ref == ref and match.elsewhere_url:
        return match.elsewhere_url
    return listen_elsewhere_url(ref)


@dataclass(frozen=True, slots=True)
class Matched:
    """The Apple Music item a member named. ``match`` says how a link of another service was matched (None: they
    named the Apple Music item themselves); ``confident`` is False for a match to confirm before acting on it."""

    ref: ItemRef
    match: Match | None = None
    confident: bool = True


class MatchingService:
    """Links of other services -> Apple Music items, for commands and posts. One per process."""

    def __init__(
        self,
        resolver: LinkResolver,
        ratings: RatingService,
        *,
        lookups_per_minute: int = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.resolver = resolver
        self.ratings = ratings
        self._lookups = RateWindow(lookups_per_minute, 60.0, clock=clock)

    def confident(self, match: Match) -> bool:
        """Sure enough to act on without asking (``MATCH_CONFIDENCE``)."""
        return match.confidence >= self.resolver.confidence

    async def item_for(self, text: str, kind: ResourceType | None, storefront: str | None, *, user_id: int) -> Matched:
        """The item a command's ``text`` names in the member's country: a link of another service is matched (at
        most ``MATCH_LOOKUPS_PER_MINUTE`` a minute per member: :class:`~bot.errors.TooManyLookups`), anything else is
        read as :meth:`RatingService.resolve` reads it. Raises :class:`~bot.errors.CannotMatchNow` when the matching
        services are unavailable, :class:`~bot.errors.NoForeignMatch` when Apple Music has no such item."""
        link = foreign_link(text)
        if link is None:
            return Matched(await self.ratings.resolve(text, kind, storefront))
        wait = self._lookups.acquire(user_id)
        if wait > 0:
            raise TooManyLookups(wait)
        match = await self.match(link, storefront or "us")
        if match is None:
            raise NoForeignMatch(link.service)
        return Matched(match.ref, match, self.confident(match))

    async def match(self, link: ForeignLink, storefront: str) -> Match | None:
        """The Apple Music item ``link`` names in ``storefront``, or None when there is none. Raises
        :class:`~bot.errors.CannotMatchNow` (naming the link's service) when the services that match it are down,
        slow or rate-limited."""
        try:
            return await self.resolver.resolve(link, storefront)
        except MatchUnavailable as exc:
            log.info("a %s link could not be matched now: %s", link.service, exc)
            raise CannotMatchNow(link.service, exc.service, exc.retry_after) from exc
