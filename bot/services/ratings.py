"""Reading and setting a user's own ratings. Returns values; ``bot.ui`` renders them.

The user's music user token is fetched from the store for each action and passed to each Apple call;
nothing here keeps per-user state but small TTL caches of public catalog data and storefront languages.
Catalog data (names, artwork, track lists) is one cache shared by every member and command (``/share``, the cards,
``/rating``, buttons); concurrent requests for the same item are made once (:class:`~bot.aio.SingleFlight`).
Every action with the token runs through the :class:`~bot.services.guard.LinkGuard`, so ``/unlink`` stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cachetools import TTLCache

from bot import applemusic as am
from bot.aio import SingleFlight, TaskSet, gather, gather2
from bot.applemusic import CatalogItem, ResourceType
from bot.applemusic import ItemRef as ItemRef  # re-exported: it lived here first
from bot.errors import LinkStale, NeedsAlbumOrPlaylist, NoMatch, NotInCatalog, NotLinked, UnlinkedMeanwhile
from bot.services.guard import LinkGuard, TokenUse
from bot.storage import HoldReason, StorageError, Store, StoreUnavailable

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
#: text that is meant as an id (so an InvalidLink about it is the right answer, not a name search)
_ID_LIKE_RE = re.compile(r"^(?:\d+|(?:pl|ra|i|l|p)\.\S*|id\d+)$", re.IGNORECASE)
DEFAULT_STOREFRONT = "us"
_TYPE_VALUES = frozenset(t.value for t in ResourceType)


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
    #: the member's unlink generation when the token was read (see :class:`~bot.services.guard.LinkGuard`)
    generation: int = 0

    def __repr__(self) -> str:
        return f"UserContext(user_id={self.user_id}, storefront={self.storefront!r}, language={self.language!r})"

    @property
    def use(self) -> TokenUse:
        return TokenUse(self.user_id, self.token, self.generation)


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


def not_in_storefront(ref: ItemRef, storefront: str) -> NotInCatalog:
    return NotInCatalog(ref.type.label, ref.id, storefront)


def _looks_like_link_or_id(text: str) -> bool:
    lowered = text.lower()
    return (
        "://" in text
        or "apple.com" in lowered
        or lowered.startswith(("www.", "music.", "itunes."))
        or text.startswith("<")
        or _ID_LIKE_RE.fullmatch(text) is not None
    )


def describe_suggestion(item: CatalogItem) -> str:
    label = item.type.label.capitalize()
    by = f" — {item.byline}" if item.byline else ""
    text = f"{label} · {item.name}{by}"
    return text if len(text) <= 100 else text[:99] + "…"


@dataclass(frozen=True, slots=True)
class CacheSizes:
    """Sizes (entries) and lifetimes (seconds) of the ratings service's caches of public catalog data."""

    catalog: tuple[int, float] = (20_000, 3600.0)
    search: tuple[int, float] = (2_000, 300.0)
    track_lists: tuple[int, float] = (500, 600.0)
    #: a member's country's languages (one Apple request per member per lifetime)
    languages: tuple[int, float] = (10_000, 86_400.0)


def _ttl_cache(size_and_ttl: tuple[int, float]) -> TTLCache[Any, Any]:
    size, ttl = size_and_ttl
    return TTLCache(size, max(ttl, 1e-9))


#: a catalog cache key: (storefront, language, type, id)
CatalogKey = tuple[str, str | None, str, str]


class RatingService:
    def __init__(
        self,
        apple: am.AppleMusicClient,
        store: Store,
        *,
        caches: CacheSizes | None = None,
        autocomplete_budget: float = 2.0,
        guard: LinkGuard | None = None,
    ) -> None:
        self.apple = apple
        self.store = store
        #: what /unlink cancels: every action below that sends a member's token runs through it
        self.guard = guard or LinkGuard(store)
        sizes = caches or CacheSizes()
        self.autocomplete_budget = autocomplete_budget
        self._catalog: TTLCache[CatalogKey, CatalogItem | None] = _ttl_cache(sizes.catalog)
        self._searches: TTLCache[tuple[str, str | None, str], list[Suggestion]] = _ttl_cache(sizes.search)
        #: user id -> (the storefront's default language, its supported languages)
        self._languages: TTLCache[int, tuple[str, tuple[str, ...]]] = _ttl_cache(sizes.languages)
        self._tracks: TTLCache[CatalogKey, list[CatalogItem]] = _ttl_cache(sizes.track_lists)
        self._inflight: dict[tuple[str, str | None, str], asyncio.Task[list[Suggestion]]] = {}
        #: background work (language lookups, catalog requests in flight) kept referenced until done
        self._background = TaskSet("ratings")
        #: catalog requests in flight, which identical concurrent lookups await instead of asking again
        self._catalog_flights: SingleFlight[CatalogKey, CatalogItem | None] = SingleFlight(
            self._background, "catalog lookup"
        )
        self._track_flights: SingleFlight[CatalogKey, list[CatalogItem]] = SingleFlight(self._background, "track list")
        self._language_lookups: set[int] = set()

    async def close(self) -> None:
        """Cancel background work (language lookups, autocomplete searches still running)."""
        await self._background.close()

    async def idle(self) -> None:
        """Wait until the background work (languages lookups, autocomplete searches) has finished."""
        await self._background.wait()

    async def storefront(self, user_id: int) -> str:
        """The member's Apple Music country, or the default one when they have not linked."""
        account = await self.store.get_account(user_id)
        return account.storefront if account is not None else DEFAULT_STOREFRONT

    async def suggest_for(self, user_id: int, term: str) -> list[Suggestion]:
        """Autocomplete for a member: catalog matches in their country, within the autocomplete budget. Never
        fails: the box offers nothing rather than an error (an unreadable database counts as "not linked")."""
        storefront = await self._storefront_or_default(user_id, "autocomplete")
        return await self.suggest(term, storefront, None, budget=self.autocomplete_budget)

    async def _storefront_or_default(self, user_id: int, what: str) -> str:
        """The member's country, or the default one when the database cannot say (for answers that never fail)."""
        try:
            return await self.storefront(user_id)
        except StorageError:
            log.warning("%s: the member's country could not be read; using %s", what, DEFAULT_STOREFRONT)
            return DEFAULT_STOREFRONT

    async def describe(self, user_id: int, ref: ItemRef) -> tuple[CatalogItem | None, str | None]:
        """What a member would recognize ``ref`` by, for a message that is not an answer to a command: the
        catalog item in their country (cached; None when unknown or Apple fails) and its Apple Music link (None
        for library items). Never fails; nobody waits on it (background priority)."""
        storefront = await self._storefront_or_default(user_id, "describing an item")
        try:
            return (await self.describe_many([ref], storefront, background=True))[ref]
        except am.AppleMusicError as exc:
            log.info("could not describe %s %s (%s); naming it by its link", ref.type.value, ref.id, type(exc).__name__)
            return None, am.ShareLink(ref.type, ref.id, storefront).url

    async def describe_many(
        self, refs: list[ItemRef], storefront: str, *, background: bool = False
    ) -> dict[ItemRef, tuple[CatalogItem | None, str | None]]:
        """Each item's catalog data in ``storefront`` (cached; None when unknown) and its Apple Music link (the
        catalog's, else one made from the id; None for library items). ``background``: nobody waits on it. Apple's
        failures propagate (each caller decides what a list without names is worth)."""
        with am.background() if background else contextlib.nullcontext():
            items = await self.catalog_items(refs, storefront, None)
        described: dict[ItemRef, tuple[CatalogItem | None, str | None]] = {}
        for ref in refs:
            item = items.get(ref)
            described[ref] = item, (item.url if item is not None and item.url else None) or am.ShareLink(
                ref.type, ref.id, storefront
            ).url
        return described

    # ------------------------------------------------------------------ who

    async def user(self, user_id: int, locale: str | None = None) -> UserContext:
        """The acting user's token and storefront; raises :class:`NotLinked` or :class:`LinkStale`."""
        account = await self.store.get_account(user_id)
        if account is None:
            raise NotLinked()
        if not account.is_active:
            raise LinkStale()
        use = await self.guard.token(user_id)
        if use is None:
            raise NotLinked()
        language = None
        if locale:
            known = self._languages.get(user_id)
            if known is None:
                # never make the user wait for this: names come in the storefront's default language
                # until the lookup (one per user per day) is done
                self._learn_languages(use)
            else:
                default, supported = known
                language = pick_language(locale, supported)
                if language is not None and language.lower() == default.lower():
                    language = None  # Apple's default anyway: fewer cache variants, shorter URLs
        await self.store.touch_account(user_id)
        return UserContext(user_id, use.token, account.storefront, language, use.generation)

    def _learn_languages(self, use: TokenUse) -> None:
        user_id = use.user_id
        if user_id in self._language_lookups:
            return
        self._language_lookups.add(user_id)

        async def learn() -> None:
            try:
                with am.background():  # learnt on the side: the command that started it does not wait for it
                    storefront = await self.guard.run(
                        use, lambda allowed: self.apple.get_storefront(use.token, still_allowed=allowed)
                    )
            except (UnlinkedMeanwhile, LinkStale):
                return  # the member's link went away meanwhile: nothing to learn
            except am.UserTokenInvalid:
                await self.token_rejected(user_id)
            except am.AppleMusicError:
                log.info("user %d: could not read the storefront's languages", user_id)
                self._languages[user_id] = ("", ())
            else:
                self._languages[user_id] = (storefront.default_language_tag, storefront.supported_language_tags)

        async def run() -> None:
            try:
                await learn()
            except Exception:
                log.debug("storefront language lookup failed", exc_info=True)
            finally:
                self._language_lookups.discard(user_id)

        self._background.spawn(run(), f"languages of user {user_id}")

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
        if match is not None and match["type"] in _TYPE_VALUES:
            # ``type:id`` (autocomplete values, buttons' refs): the id must have the shape of that type's ids
            rtype = ResourceType(match["type"])
            return ItemRef(rtype, am.check_id(rtype, match["id"]))
        if not text or _looks_like_link_or_id(text):
            # parse_link applies ``kind`` where the id alone is ambiguous (digits, ``i.`` ids) and explains
            # why a link is not usable (not Apple, a sharer's library, an artist...)
            link = am.parse_link(text, kind)
            return ItemRef(link.type, link.id)
        # a name: take the best match from the catalog (of the given kind, if any)
        sf = storefront or DEFAULT_STOREFRONT
        types = (kind,) if kind is not None and kind in SEARCH_TYPES else SEARCH_TYPES
        results = await self.apple.search(text[:200], sf, types, limit=1)
        for rtype in types:
            if results.get(rtype):
                found = results[rtype][0]
                self._catalog[(sf, None, found.type.value, found.id)] = found
                return ItemRef(found.type, found.id)
        raise NoMatch(text[:80])

    async def catalog_items(
        self, refs: Iterable[ItemRef], storefront: str, language: str | None
    ) -> dict[ItemRef, CatalogItem | None]:
        """Catalog data for each ref (cached); library refs and unknown ids map to None."""
        items, _unknown = await self._lookup(refs, storefront, language)
        return items

    async def _lookup(
        self, refs: Iterable[ItemRef], storefront: str, language: str | None
    ) -> tuple[dict[ItemRef, CatalogItem | None], set[ItemRef]]:
        """Catalog data for each ref, and the refs the catalog says it does not have (a failed lookup
        makes no such claim: those refs map to None and are shown by id)."""
        unknown: set[ItemRef] = set()
        result: dict[ItemRef, CatalogItem | None] = {}
        missing: dict[ResourceType, list[ItemRef]] = {}
        for ref in refs:
            if ref.type.is_library:
                result[ref] = None
                continue
            key = (storefront, language, ref.type.value, ref.id)
            if key in self._catalog:
                result[ref] = self._catalog[key]
                if result[ref] is None:
                    unknown.add(ref)
            else:
                missing.setdefault(ref.type, []).append(ref)
        for group in missing.values():
            keys = {ref: (storefront, language, ref.type.value, ref.id) for ref in group}
            try:
                found = await self._catalog_flights.get(keys.values(), self._fetch_catalog)
            except (am.BadRequest, am.UpstreamError, am.UpstreamTimeout, am.RateLimited):
                log.warning("catalog lookup failed; showing ids only", exc_info=True)
                for ref in group:
                    result[ref] = None
                continue
            for ref, key in keys.items():
                result[ref] = found[key]
                if found[key] is None:
                    unknown.add(ref)
        return result, unknown

    async def _fetch_catalog(self, keys: list[CatalogKey]) -> Mapping[CatalogKey, CatalogItem | None]:
        """One catalog request for keys of one storefront, language and type; what it says is cached, including
        that the catalog does not have an id (a failure is not)."""
        storefront, language, rtype, _ = keys[0]
        try:
            found = await self.apple.get_catalog(ResourceType(rtype), [key[3] for key in keys], storefront, l=language)
        except am.NotFound:
            found = {}
        for key in keys:
            self._catalog[key] = found.get(key[3])
        return {key: found.get(key[3]) for key in keys}

    # ------------------------------------------------------------------ ratings

    async def show(self, ctx: UserContext, ref: ItemRef) -> RatedItem:
        """The item and the user's rating of it, read concurrently."""
        return await self.guard.run(ctx.use, lambda allowed: self._show(ctx, ref, allowed))

    async def _show(self, ctx: UserContext, ref: ItemRef, allowed: am.StillAllowed) -> RatedItem:
        async def rating() -> am.Rating | None:
            try:
                return await self.apple.get_rating(ref.type, ref.id, ctx.token, l=ctx.language, still_allowed=allowed)
            except am.UserTokenInvalid:
                await self.token_rejected(ctx.user_id)
                raise LinkStale() from None

        (items, unknown), current = await gather2(self._lookup([ref], ctx.storefront, ctx.language), rating())
        if ref in unknown and current is None:
            raise not_in_storefront(ref, ctx.storefront)
        return RatedItem(ref, items.get(ref), current.value if current else None)

    async def rate(self, ctx: UserContext, ref: ItemRef, value: int) -> RatedItem:
        """Set (1 / -1) or clear (0) the rating now, and return the item as it stands.

        An item the catalog does not have in the user's storefront is refused before anything is written.
        """
        if value not in (1, -1, 0):
            raise ValueError("a rating is 1, -1 or 0 (clear)")
        rated = await self.guard.run(ctx.use, lambda allowed: self._rate(ctx, ref, value, allowed))
        try:  # the member's latest choice, so an older reaction of theirs removed later does not undo it
            await self.store.record_intent(ctx.user_id, ref.type.value, ref.id, value)
        except StoreUnavailable:
            log.warning("user %d's rating was applied but not remembered: the database is unavailable", ctx.user_id)
        return rated

    async def _rate(self, ctx: UserContext, ref: ItemRef, value: int, allowed: am.StillAllowed) -> RatedItem:
        items, unknown = await self._lookup([ref], ctx.storefront, ctx.language)
        if ref in unknown and value != 0:
            raise not_in_storefront(ref, ctx.storefront)
        try:
            if value == 0:
                await self.apple.delete_rating(ref.type, ref.id, ctx.token, l=ctx.language, still_allowed=allowed)
                rating: int | None = None
            else:
                applied = await self.apple.set_rating(
                    ref.type, ref.id, value, ctx.token, l=ctx.language, still_allowed=allowed
                )
                rating = applied.value
        except am.UserTokenInvalid:
            await self.token_rejected(ctx.user_id)
            raise LinkStale() from None
        log.info("user %d rated %s %s: %s", ctx.user_id, ref.type.value, ref.id, value)
        return RatedItem(ref, items.get(ref), rating)

    async def show_many(self, ctx: UserContext, refs: list[ItemRef]) -> list[RatedItem]:
        """Several items of any kinds: one batched ratings request per kind (per 100 ids)."""
        return await self.guard.run(ctx.use, lambda allowed: self._show_many(ctx, refs, allowed))

    async def _show_many(self, ctx: UserContext, refs: list[ItemRef], allowed: am.StillAllowed) -> list[RatedItem]:
        unique = list(dict.fromkeys(refs))
        by_type: dict[ResourceType, list[str]] = {}
        for ref in unique:
            by_type.setdefault(ref.type, []).append(ref.id)

        async def read() -> list[dict[str, am.Rating]]:
            try:
                return await gather(
                    self.apple.get_ratings(t, ids, ctx.token, l=ctx.language, still_allowed=allowed)
                    for t, ids in by_type.items()
                )
            except am.UserTokenInvalid:
                await self.token_rejected(ctx.user_id)
                raise LinkStale() from None

        items, found = await gather2(self.catalog_items(unique, ctx.storefront, ctx.language), read())
        ratings: dict[tuple[ResourceType, str], int] = {}
        for rtype, got in zip(by_type, found, strict=True):
            for rid, rating in got.items():
                ratings[(rtype, rid)] = rating.value
        return [RatedItem(ref, items.get(ref), ratings.get((ref.type, ref.id))) for ref in unique]

    async def tracks(self, ctx: UserContext, ref: ItemRef) -> tuple[RatedItem, list[RatedItem]]:
        """Every track of an album or playlist with the user's rating: the tracks' pages, then one
        ratings request per 100 tracks, sent concurrently."""
        if ref.type not in (ResourceType.ALBUMS, ResourceType.PLAYLISTS):
            raise NeedsAlbumOrPlaylist()
        return await self.guard.run(ctx.use, lambda allowed: self._tracks_of(ctx, ref, allowed))

    async def _tracks_of(
        self, ctx: UserContext, ref: ItemRef, allowed: am.StillAllowed
    ) -> tuple[RatedItem, list[RatedItem]]:
        (parent_items, _unknown), tracks = await gather2(
            self._lookup([ref], ctx.storefront, ctx.language), self._track_list(ref, ctx.storefront, ctx.language)
        )
        by_type: dict[ResourceType, list[str]] = {}
        for track in tracks:
            by_type.setdefault(track.type, []).append(track.id)
        ratings: dict[tuple[ResourceType, str], int] = {}
        try:
            found = await gather(
                self.apple.get_ratings(rtype, ids, ctx.token, l=ctx.language, still_allowed=allowed)
                for rtype, ids in by_type.items()
            )
        except am.UserTokenInvalid:
            await self.token_rejected(ctx.user_id)
            raise LinkStale() from None
        for rtype, got in zip(by_type, found, strict=True):
            for rid, rating in got.items():
                ratings[(rtype, rid)] = rating.value
        parent = RatedItem(ref, parent_items.get(ref), None)
        rows = [RatedItem(ItemRef(t.type, t.id), t, ratings.get((t.type, t.id))) for t in tracks]
        return parent, rows

    async def _track_list(self, ref: ItemRef, storefront: str, language: str | None) -> list[CatalogItem]:
        """The tracks of an album or playlist (public catalog data, cached so that paging costs only the
        ratings requests)."""
        key = (storefront, language, ref.type.value, ref.id)
        cached = self._tracks.get(key)
        if cached is not None:
            return cached
        try:
            return (await self._track_flights.get([key], self._fetch_tracks))[key]
        except am.NotFound:
            raise not_in_storefront(ref, storefront) from None

    async def _fetch_tracks(self, keys: list[CatalogKey]) -> Mapping[CatalogKey, list[CatalogItem]]:
        [key] = keys
        storefront, language, rtype, rid = key
        tracks = await self.apple.get_tracks(ResourceType(rtype), rid, storefront, l=language)
        self._tracks[key] = tracks
        return {key: tracks}

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
            task = self._background.spawn(self._search(key, term, storefront, language), "autocomplete search")
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
