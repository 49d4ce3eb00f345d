"""Reading and setting a user's own ratings. Returns values; ``bot.ui`` renders them.

The user's music user token is fetched from the store for each action and passed to each Apple call;
nothing here keeps per-user state but small TTL caches of public catalog data and storefront languages.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cachetools import TTLCache

from bot import applemusic as am
from bot.applemusic import CatalogItem, ResourceType
from bot.errors import LinkStale, NotLinked, NotRatable
from bot.storage import HoldReason, Store

log = logging.getLogger(__name__)

#: the kinds autocomplete searches (catalog kinds only: library items are not searchable by others)
SEARCH_TYPES = (
    ResourceType.SONGS,
    ResourceType.ALBUMS,
    ResourceType.PLAYLISTS,
    ResourceType.MUSIC_VIDEOS,
    ResourceType.STATIONS,
)
_REF_RE = re.compile(r"^(?P<type>[a-z-]{4,24}):(?P<id>[A-Za-z0-9._-]{1,64})$")
DEFAULT_STOREFRONT = "us"


@dataclass(frozen=True, slots=True)
class ItemRef:
    type: ResourceType
    id: str

    @property
    def key(self) -> str:
        """Compact form used as an autocomplete value: ``songs:1613600188``."""
        return f"{self.type.value}:{self.id}"


@dataclass(frozen=True, slots=True)
class RatedItem:
    ref: ItemRef
    item: CatalogItem | None  # None for library items and ids the catalog does not know
    rating: int | None  # 1 like, -1 dislike, None not rated


@dataclass(frozen=True, slots=True)
class Suggestion:
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class UserContext:
    """Who acts, with what. ``repr`` hides the token."""

    user_id: int
    token: str
    storefront: str
    language: str | None

    def __repr__(self) -> str:
        return f"UserContext(user_id={self.user_id}, storefront={self.storefront!r}, language={self.language!r})"


def pick_language(locale: str | None, supported: Iterable[str]) -> str | None:
    """The storefront language matching a Discord locale (``fr`` → ``fr-FR``), or None for the default."""
    if not locale:
        return None
    tags = list(supported)
    lowered = {t.lower(): t for t in tags}
    if locale.lower() in lowered:
        return lowered[locale.lower()]
    lang = locale.split("-")[0].lower()
    for tag in tags:
        if tag.split("-")[0].lower() == lang:
            return tag
    return None


def describe_suggestion(item: CatalogItem) -> str:
    label = item.type.label.capitalize()
    by = f" — {item.byline}" if item.byline else ""
    text = f"{label} · {item.name}{by}"
    return text if len(text) <= 100 else text[:99] + "…"


class RatingService:
    def __init__(
        self,
        apple: am.AppleMusicClient,
        store: Store,
        *,
        catalog_ttl: float = 3600.0,
        search_ttl: float = 300.0,
    ) -> None:
        self.apple = apple
        self.store = store
        self._catalog: TTLCache[tuple[str, str | None, str, str], CatalogItem | None] = TTLCache(20_000, catalog_ttl)
        self._searches: TTLCache[tuple[str, str | None, str], list[Suggestion]] = TTLCache(2_000, search_ttl)
        self._languages: TTLCache[int, tuple[str, ...]] = TTLCache(10_000, 86_400)
        self._inflight: dict[tuple[str, str | None, str], asyncio.Task[list[Suggestion]]] = {}

    # ------------------------------------------------------------------ who

    async def user(self, user_id: int, locale: str | None = None) -> UserContext:
        """The acting user's token and storefront; raises :class:`NotLinked` or :class:`LinkStale`."""
        account = await self.store.get_account(user_id)
        if account is None:
            raise NotLinked()
        if not account.is_active:
            raise LinkStale()
        token = await self.store.get_user_token(user_id)
        if token is None:
            raise NotLinked()
        language = None
        if locale:
            supported = self._languages.get(user_id)
            if supported is None:
                try:
                    storefront = await self.apple.get_storefront(token)
                except am.UserTokenInvalid:
                    await self.token_rejected(user_id)
                    raise LinkStale() from None
                except am.AppleMusicError:
                    supported = ()
                else:
                    supported = storefront.supported_language_tags
                self._languages[user_id] = supported
            language = pick_language(locale, supported)
        await self.store.touch_account(user_id)
        return UserContext(user_id=user_id, token=token, storefront=account.storefront, language=language)

    async def token_rejected(self, user_id: int) -> bool:
        """Apple said 403 for this user: mark the link stale and park their queued ratings."""
        changed = await self.store.mark_stale(user_id)
        await self.store.hold_user(user_id, HoldReason.STALE)
        self._languages.pop(user_id, None)
        if changed:
            log.info("user %d: Apple rejected the token; link marked stale", user_id)
        return changed

    # ------------------------------------------------------------------ what

    async def resolve(self, text: str, kind: ResourceType | None, storefront: str | None) -> ItemRef:
        """A link, a bare id, an autocomplete value, or a name (best search match) → the item it names."""
        text = (text or "").strip()
        match = _REF_RE.match(text)
        if match is not None:
            try:
                return ItemRef(ResourceType(match["type"]), match["id"])
            except ValueError:
                pass
        try:
            link = am.parse_link(text, kind)
        except am.InvalidLink as invalid:
            if not text or "/" in text or "apple.com" in text.lower():
                raise
            # a name: take the best match from the catalog
            results = await self.apple.search(text, storefront or DEFAULT_STOREFRONT, SEARCH_TYPES, limit=1)
            for rtype in SEARCH_TYPES:
                if results.get(rtype):
                    found = results[rtype][0]
                    self._catalog[(storefront or DEFAULT_STOREFRONT, None, found.type.value, found.id)] = found
                    return ItemRef(found.type, found.id)
            raise NotRatable(
                f"Nothing in Apple Music matches “{text[:80]}”. Try a link or pick a suggestion."
            ) from invalid
        rtype = link.type
        if kind is not None and kind != rtype:
            # an explicit kind wins where the id alone is ambiguous (digits, or i. ids)
            rtype = kind
        return ItemRef(rtype, link.id)

    async def catalog_items(
        self, refs: Iterable[ItemRef], storefront: str, language: str | None
    ) -> dict[ItemRef, CatalogItem | None]:
        """Catalog data for each ref (cached); library refs and unknown ids map to None."""
        result: dict[ItemRef, CatalogItem | None] = {}
        missing: dict[ResourceType, list[ItemRef]] = {}
        for ref in refs:
            if ref.type.is_library:
                result[ref] = None
                continue
            key = (storefront, language, ref.type.value, ref.id)
            if key in self._catalog:
                result[ref] = self._catalog[key]
            else:
                missing.setdefault(ref.type, []).append(ref)
        for rtype, group in missing.items():
            try:
                found = await self.apple.get_catalog(rtype, [r.id for r in group], storefront, l=language)
            except am.NotFound:
                found = {}
            except (am.BadRequest, am.UpstreamError, am.UpstreamTimeout, am.RateLimited):
                log.warning("catalog lookup failed; showing ids only", exc_info=True)
                for ref in group:
                    result[ref] = None
                continue
            for ref in group:
                item = found.get(ref.id)
                self._catalog[(storefront, language, ref.type.value, ref.id)] = item
                result[ref] = item
        return result

    # ------------------------------------------------------------------ ratings

    async def show(self, ctx: UserContext, ref: ItemRef) -> RatedItem:
        items = await self.catalog_items([ref], ctx.storefront, ctx.language)
        try:
            rating = await self.apple.get_rating(ref.type, ref.id, ctx.token, l=ctx.language)
        except am.UserTokenInvalid:
            await self.token_rejected(ctx.user_id)
            raise LinkStale() from None
        return RatedItem(ref, items.get(ref), rating.value if rating else None)

    async def rate(self, ctx: UserContext, ref: ItemRef, value: int) -> RatedItem:
        """Set (1 / -1) or clear (0) the rating now, and return the item as it stands."""
        items = await self.catalog_items([ref], ctx.storefront, ctx.language)
        try:
            if value == 0:
                await self.apple.delete_rating(ref.type, ref.id, ctx.token, l=ctx.language)
                rating: int | None = None
            else:
                applied = await self.apple.set_rating(ref.type, ref.id, value, ctx.token, l=ctx.language)
                rating = applied.value
        except am.UserTokenInvalid:
            await self.token_rejected(ctx.user_id)
            raise LinkStale() from None
        log.info("user %d rated %s %s: %s", ctx.user_id, ref.type.value, ref.id, value)
        return RatedItem(ref, items.get(ref), rating)

    async def show_many(self, ctx: UserContext, refs: list[ItemRef]) -> list[RatedItem]:
        """Several items of any kinds: one batched ratings request per kind (per 100 ids)."""
        unique = list(dict.fromkeys(refs))
        items = await self.catalog_items(unique, ctx.storefront, ctx.language)
        by_type: dict[ResourceType, list[str]] = {}
        for ref in unique:
            by_type.setdefault(ref.type, []).append(ref.id)
        ratings: dict[tuple[ResourceType, str], int] = {}
        try:
            for rtype, ids in by_type.items():
                for rid, rating in (await self.apple.get_ratings(rtype, ids, ctx.token, l=ctx.language)).items():
                    ratings[(rtype, rid)] = rating.value
        except am.UserTokenInvalid:
            await self.token_rejected(ctx.user_id)
            raise LinkStale() from None
        return [RatedItem(ref, items.get(ref), ratings.get((ref.type, ref.id))) for ref in unique]

    async def tracks(self, ctx: UserContext, ref: ItemRef) -> tuple[RatedItem, list[RatedItem]]:
        """Every track of an album or playlist with the user's rating: the tracks' pages, then one
        ratings request per 100 tracks, sent concurrently."""
        if ref.type not in (ResourceType.ALBUMS, ResourceType.PLAYLISTS):
            raise NotRatable("Track lists exist for albums and playlists only.")
        parent_items = await self.catalog_items([ref], ctx.storefront, ctx.language)
        try:
            tracks = await self.apple.get_tracks(ref.type, ref.id, ctx.storefront, l=ctx.language)
        except am.NotFound:
            raise NotRatable("Apple Music does not have that album or playlist in your storefront.") from None
        try:
            ratings = await self.apple.get_ratings(
                ResourceType.SONGS, [t.id for t in tracks], ctx.token, l=ctx.language
            )
        except am.UserTokenInvalid:
            await self.token_rejected(ctx.user_id)
            raise LinkStale() from None
        parent = RatedItem(ref, parent_items.get(ref), None)
        rows = [
            RatedItem(ItemRef(ResourceType.SONGS, t.id), t, ratings[t.id].value if t.id in ratings else None)
            for t in tracks
        ]
        return parent, rows

    # ------------------------------------------------------------------ autocomplete

    async def suggest(
        self, term: str, storefront: str, language: str | None, *, budget: float = 2.0
    ) -> list[Suggestion]:
        """Up to 25 catalog matches, within ``budget`` seconds or none at all.

        A search that is still running when the budget is spent goes on and fills the cache, so the
        next keystroke is answered at once.
        """
        term = " ".join(term.split())[:100]
        if len(term) < 2:
            return []
        try:
            link = am.parse_link(term)
        except am.InvalidLink:
            link = None
        if link is not None:
            ref = ItemRef(link.type, link.id)
            return [Suggestion(name=f"{link.type.label.capitalize()} {link.id} (from your link)"[:100], value=ref.key)]
        key = (storefront, language, term.lower())
        cached = self._searches.get(key)
        if cached is not None:
            return cached
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.create_task(self._search(key, term, storefront, language))
            self._inflight[key] = task
            task.add_done_callback(lambda _t, k=key: self._inflight.pop(k, None))  # type: ignore[misc]
        done, _ = await asyncio.wait({task}, timeout=budget)
        if task in done and not task.cancelled() and task.exception() is None:
            return task.result()
        return []

    async def _search(
        self, key: tuple[str, str | None, str], term: str, storefront: str, language: str | None
    ) -> list[Suggestion]:
        try:
            results = await self.apple.search(term, storefront, SEARCH_TYPES, limit=5, l=language)
        except (am.AppleMusicError, ValueError):
            log.info("autocomplete search failed", exc_info=True)
            return []
        suggestions: list[Suggestion] = []
        for rtype in SEARCH_TYPES:
            for item in results.get(rtype, []):
                self._catalog[(storefront, language, item.type.value, item.id)] = item
                suggestions.append(Suggestion(describe_suggestion(item), ItemRef(item.type, item.id).key))
        suggestions = suggestions[:25]
        self._searches[key] = suggestions
        return suggestions
