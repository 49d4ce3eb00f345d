"""Apple Music API client: personal ratings (36 endpoints), storefront, catalog lookups, tracks, search.

One `aiohttp.ClientSession` is injected; the user's music user token is an argument of each personal call,
so one client serves every user and holds no per-user state. Each personal call also takes an optional
`still_allowed` check, awaited before every retry (see `retry.py`): the caller's way to stop a request whose
member unlinked while it waited to be retried.

Requests go through a stack of small senders: `HttpTransport` (one attempt, `transport.py`), the optional
`ObservedSender` (tells an observer of each attempt, `observe.py`), `PacedSender`
(the optional `Pacer`, `pacing.py`) and `RetryingSender` (retry decisions and bounds, `retry.py`), which turns
an unsuccessful answer into an error with the status table of `errors.py`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import aiohttp
from yarl import URL

from ..aio import Sleep, gather
from .errors import UpstreamError, UserTokenInvalid
from .models import CatalogItem, LibraryPlaylist, Rating, Storefront
from .observe import ObservedSender, RequestObserver
from .pacing import PacedSender, Pacer
from .retry import RetryingSender, RetryPolicy, StillAllowed
from .tokens import DeveloperToken
from .transport import DEFAULT_MAX_RESPONSE_BYTES, HttpTransport, Request, Response, Sender
from .types import ResourceType

__all__ = ["CATALOG_CHUNK", "DEFAULT_BASE_URL", "RATINGS_CHUNK", "AppleMusicClient"]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL: Final = "https://api.music.apple.com"
#: Ids per ratings request. Apple documents no limit but fails on long lists; public clients use 100.
RATINGS_CHUNK: Final = 100
#: Ids per catalog request (documented maximum 300, but 504s were seen at 300 with includes).
CATALOG_CHUNK: Final = 100
#: Apple's maximum `limit` for catalog search.
SEARCH_LIMIT_MAX: Final = 25
#: Library playlists per page of "Get All Library Playlists" (Apple's maximum `limit`).
LIBRARY_PAGE: Final = 100
#: What a library playlist's tracklist takes: songs and music videos, catalog or library.
PLAYLIST_TRACK_TYPES: Final = frozenset(
    {ResourceType.SONGS, ResourceType.MUSIC_VIDEOS, ResourceType.LIBRARY_SONGS, ResourceType.LIBRARY_MUSIC_VIDEOS}
)

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
_STOREFRONT_RE = re.compile(r"^[a-z]{2}$")
#: an ISRC (12 letters and digits) or a UPC/EAN (12 or 13 digits)
_CODE_RE = re.compile(r"^(?:[A-Za-z]{2}[A-Za-z0-9]{3}[0-9]{7}|[0-9]{12,14})$")


def _check_id(rid: str) -> str:
    if not isinstance(rid, str) or not _ID_RE.fullmatch(rid):
        raise ValueError(f"not a valid Apple Music id: {str(rid)[:40]!r}")
    return rid


def _check_storefront(storefront: str) -> str:
    if not isinstance(storefront, str) or not _STOREFRONT_RE.fullmatch(storefront):
        raise ValueError(f"not a storefront code (two lowercase letters): {str(storefront)[:10]!r}")
    return storefront


def _check_catalog_type(type: ResourceType) -> ResourceType:
    type = ResourceType(type)
    if type.is_library:
        raise ValueError(f"{type.value} is not a catalog type")
    return type


def _dedupe(ids: Iterable[str]) -> list[str]:
    return [_check_id(i) for i in dict.fromkeys(ids)]


def _chunks(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _csv(value: str | Iterable[str] | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    joined = ",".join(value)
    return joined or None


def _query(**params: str | None) -> dict[str, str]:
    return {k: v for k, v in params.items() if v is not None}


def _data(payload: Any) -> list[Mapping[str, Any]]:
    if not isinstance(payload, Mapping):
        return []
    data = payload.get("data")
    if not isinstance(data, list):
        return []
    return [item for item in data if isinstance(item, Mapping)]


class AppleMusicClient:
    """Async Apple Music API client. Construct once per process with the shared session."""

    def __init__(
        self,
        developer_token: DeveloperToken,
        *,
        session: aiohttp.ClientSession,
        base_url: str = DEFAULT_BASE_URL,
        retry: RetryPolicy | None = None,
        pacer: Pacer | None = None,
        max_concurrency: int = 8,
        rng: random.Random | None = None,
        sleep: Sleep = asyncio.sleep,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        observer: RequestObserver | None = None,
    ) -> None:
        """`sleep` is what waits between retries (injectable so tests can record the delays);
        `max_response_bytes` the largest answer read (a larger one raises `ResponseTooLarge`); `observer` is told
        of every HTTP attempt (`observe.py`)."""
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self._base_url = URL(base_url.rstrip("/"))
        policy = retry or RetryPolicy()
        self._pacer = pacer
        self.max_concurrency = max_concurrency
        sender: Sender = HttpTransport(
            session, self._base_url, developer_token, policy.timeout, max_response_bytes=max_response_bytes
        )
        if observer is not None:
            sender = ObservedSender(sender, observer)
        if pacer is not None:
            sender = PacedSender(sender, pacer)
        rng = rng or random.Random()  # jitter, not cryptography
        self._sender = RetryingSender(sender, policy, rng=rng, log=log, sleep=sleep)

    def __repr__(self) -> str:
        return f"AppleMusicClient(base_url={str(self._base_url)!r}, retry={self.retry!r})"

    @property
    def base_url(self) -> str:
        return str(self._base_url)

    @property
    def retry(self) -> RetryPolicy:
        return self._sender.policy

    @property
    def pacer(self) -> Pacer | None:
        return self._pacer

    async def _request(
        self,
        method: str,
        path: str,
        *,
        user_token: str | None = None,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        not_found_ok: bool = False,
        still_allowed: StillAllowed | None = None,
    ) -> Response:
        """One logical request with bounded retries. Raises an `AppleMusicError` subclass on failure."""
        if user_token is not None:
            user_token = self._user_token(user_token)
        request = Request(method, path, params, json_body, user_token, not_found_ok)
        return await self._sender.send(request, still_allowed=still_allowed)

    @staticmethod
    def _user_token(user_token: str) -> str:
        if not isinstance(user_token, str) or not user_token.strip():
            raise UserTokenInvalid("No Apple Music user token was given")
        return user_token

    # ------------------------------------------------------------------ ratings

    @staticmethod
    def _ratings_path(type: ResourceType, rid: str | None = None) -> str:
        type = ResourceType(type)
        return f"/v1/me/ratings/{type.value}" + (f"/{_check_id(rid)}" if rid is not None else "")

    async def get_rating(
        self,
        type: ResourceType,
        id: str,
        user_token: str,
        *,
        l: str | None = None,  # noqa: E741 - Apple's parameter name
        include: str | Iterable[str] | None = None,
        extend: str | Iterable[str] | None = None,
        still_allowed: StillAllowed | None = None,
    ) -> Rating | None:
        """The user's rating of one item; None when not rated (Apple answers 404)."""
        reply = await self._request(
            "GET",
            self._ratings_path(type, id),
            user_token=user_token,
            params=_query(l=l, include=_csv(include), extend=_csv(extend)),
            not_found_ok=True,
            still_allowed=still_allowed,
        )
        if reply.status == 404:
            return None
        for raw in _data(reply.payload):
            rating = Rating.from_api(raw, ResourceType(type))
            if rating is not None:
                return rating
        return None

    async def get_ratings(
        self,
        type: ResourceType,
        ids: Iterable[str],
        user_token: str,
        *,
        l: str | None = None,  # noqa: E741
        include: str | Iterable[str] | None = None,
        extend: str | Iterable[str] | None = None,
        still_allowed: StillAllowed | None = None,
    ) -> dict[str, Rating]:
        """Ratings of any number of items, keyed by id; an id absent from the result is not rated.

        Duplicate ids are asked once; requests carry at most `RATINGS_CHUNK` ids and run concurrently.
        """
        type = ResourceType(type)
        unique = _dedupe(ids)
        path = self._ratings_path(type)
        extra = _query(l=l, include=_csv(include), extend=_csv(extend))

        async def one(chunk: Sequence[str]) -> list[Rating]:
            params = {"ids": ",".join(chunk), **extra}
            reply = await self._request("GET", path, user_token=user_token, params=params, still_allowed=still_allowed)
            wanted = set(chunk)
            found = (Rating.from_api(raw, type) for raw in _data(reply.payload))
            return [r for r in found if r is not None and r.id in wanted]

        result: dict[str, Rating] = {}
        for ratings in await gather((one(c) for c in _chunks(unique, RATINGS_CHUNK)), limit=self.max_concurrency):
            for rating in ratings:
                result[rating.id] = rating
        return result

    async def set_rating(
        self,
        type: ResourceType,
        id: str,
        value: int,
        user_token: str,
        *,
        l: str | None = None,  # noqa: E741
        still_allowed: StillAllowed | None = None,
    ) -> Rating:
        """Like (1) or dislike (-1) an item. Any other value is a `ValueError` before any request."""
        if isinstance(value, bool) or not isinstance(value, int) or value not in (1, -1):
            raise ValueError("a rating value is 1 (like) or -1 (dislike)")
        type = ResourceType(type)
        reply = await self._request(
            "PUT",
            self._ratings_path(type, id),
            user_token=user_token,
            params=_query(l=l),
            json_body={"type": "ratings", "attributes": {"value": value}},
            still_allowed=still_allowed,
        )
        for raw in _data(reply.payload):
            rating = Rating.from_api(raw, type)
            if rating is not None:
                return rating
        return Rating(id=id, type=type, value=value)

    async def delete_rating(
        self,
        type: ResourceType,
        id: str,
        user_token: str,
        *,
        l: str | None = None,  # noqa: E741
        still_allowed: StillAllowed | None = None,
    ) -> None:
        """Clear a rating. Deleting a rating that does not exist (404) also succeeds."""
        await self._request(
            "DELETE",
            self._ratings_path(type, id),
            user_token=user_token,
            params=_query(l=l),
            not_found_ok=True,
            still_allowed=still_allowed,
        )

    # ------------------------------------------------------------------ user

    async def get_storefront(self, user_token: str, *, still_allowed: StillAllowed | None = None) -> Storefront:
        """The user's storefront; also the cheapest way to check that a music user token works."""
        reply = await self._request("GET", "/v1/me/storefront", user_token=user_token, still_allowed=still_allowed)
        for raw in _data(reply.payload):
            storefront = Storefront.from_api(raw)
            if storefront is not None:
                return storefront
        raise UpstreamError("Apple Music sent no storefront for this user", status=reply.status)

    # ------------------------------------------------------------------ library playlists

    @staticmethod
    def _track_data(tracks: Iterable[tuple[ResourceType, str]]) -> list[dict[str, str]]:
        data = []
        for type, rid in tracks:
            type = ResourceType(type)
            if type not in PLAYLIST_TRACK_TYPES:
                raise ValueError(f"a playlist holds songs and music videos, not {type.value}")
            data.append({"id": _check_id(rid), "type": type.value})
        return data

    async def create_library_playlist(
        self,
        name: str,
        tracks: Iterable[tuple[ResourceType, str]],
        user_token: str,
        *,
        description: str | None = None,
        folder_id: str | None = None,
        still_allowed: StillAllowed | None = None,
    ) -> LibraryPlaylist:
        """Create a playlist in the user's library holding `tracks` in order (Apple answers 201 with it); in the
        library folder `folder_id` when given. Not idempotent: retried only after a 429, never after a timeout or
        a 5xx (the playlist may exist then: look for it with `find_library_playlists`)."""
        if not name.strip():
            raise ValueError("a playlist needs a name")
        attributes: dict[str, Any] = {"name": name}
        if description is not None:
            attributes["description"] = description
        relationships: dict[str, Any] = {"tracks": {"data": self._track_data(tracks)}}
        if folder_id is not None:
            relationships["parent"] = {"data": [{"id": _check_id(folder_id), "type": "library-playlist-folders"}]}
        request = Request(
            "POST",
            "/v1/me/library/playlists",
            json={"attributes": attributes, "relationships": relationships},
            user_token=self._user_token(user_token),
            idempotent=False,
        )
        reply = await self._sender.send(request, still_allowed=still_allowed)
        for raw in _data(reply.payload):
            playlist = LibraryPlaylist.from_api(raw)
            if playlist is not None:
                return playlist
        raise UpstreamError("Apple Music sent no playlist for the one it created", status=reply.status)

    async def add_library_playlist_tracks(
        self,
        playlist_id: str,
        tracks: Iterable[tuple[ResourceType, str]],
        user_token: str,
        *,
        still_allowed: StillAllowed | None = None,
    ) -> None:
        """Append `tracks` to a library playlist (Apple answers 204). Not idempotent (a track sent twice is added
        twice): retried only after a 429."""
        request = Request(
            "POST",
            f"/v1/me/library/playlists/{_check_id(playlist_id)}/tracks",
            json={"data": self._track_data(tracks)},
            user_token=self._user_token(user_token),
            idempotent=False,
        )
        await self._sender.send(request, still_allowed=still_allowed)

    async def find_library_playlists(
        self, name: str, user_token: str, *, still_allowed: StillAllowed | None = None, max_pages: int = 50
    ) -> list[LibraryPlaylist]:
        """The user's library playlists named exactly `name` (reading "Get All Library Playlists" page by page, at
        most `max_pages`). A playlist created moments ago may not be listed yet (Apple's delay)."""
        found: list[LibraryPlaylist] = []
        params: dict[str, str] = {"limit": str(LIBRARY_PAGE)}
        for _ in range(max_pages):
            reply = await self._request(
                "GET", "/v1/me/library/playlists", user_token=user_token, params=params, still_allowed=still_allowed
            )
            for raw in _data(reply.payload):
                playlist = LibraryPlaylist.from_api(raw)
                if playlist is not None and playlist.name == name:
                    found.append(playlist)
            nxt = reply.payload.get("next") if isinstance(reply.payload, Mapping) else None
            offset = URL(nxt).query.get("offset") if isinstance(nxt, str) else None
            if offset is None or not offset.isdigit():
                break
            params = {"limit": str(LIBRARY_PAGE), "offset": offset}
        return found

    # ------------------------------------------------------------------ catalog

    async def get_catalog(
        self,
        type: ResourceType,
        ids: Iterable[str],
        storefront: str,
        *,
        l: str | None = None,  # noqa: E741
        include: str | Iterable[str] | None = None,
        extend: str | Iterable[str] | None = None,
    ) -> dict[str, CatalogItem]:
        """Catalog items keyed by id (unknown ids are absent), batched and concurrent like `get_ratings`."""
        type = _check_catalog_type(type)
        path = f"/v1/catalog/{_check_storefront(storefront)}/{type.value}"
        unique = _dedupe(ids)
        extra = _query(l=l, include=_csv(include), extend=_csv(extend))

        async def one(chunk: Sequence[str]) -> list[CatalogItem]:
            reply = await self._request("GET", path, params={"ids": ",".join(chunk), **extra})
            items = (CatalogItem.from_api(raw, type) for raw in _data(reply.payload))
            return [i for i in items if i is not None]

        result: dict[str, CatalogItem] = {}
        for items in await gather((one(c) for c in _chunks(unique, CATALOG_CHUNK)), limit=self.max_concurrency):
            for item in items:
                result[item.id] = item
        return result

    async def songs_by_isrc(self, isrc: str, storefront: str) -> list[CatalogItem]:
        """Catalog songs with this ISRC in a storefront (Apple's ``filter[isrc]``), each with its album
        (``include=albums``: ``isCompilation``, ``isSingle``, release date); often several (the original album,
        singles, compilations), possibly none."""
        return await self._by_code(ResourceType.SONGS, "isrc", isrc, storefront)

    async def albums_by_upc(self, upc: str, storefront: str) -> list[CatalogItem]:
        """Catalog albums with this UPC in a storefront (Apple's ``filter[upc]``); possibly none."""
        return await self._by_code(ResourceType.ALBUMS, "upc", upc, storefront)

    async def _by_code(self, type: ResourceType, kind: str, code: str, storefront: str) -> list[CatalogItem]:
        if not isinstance(code, str) or not _CODE_RE.fullmatch(code):
            raise ValueError(f"not an {kind.upper()}: {str(code)[:20]!r}")
        params = {f"filter[{kind}]": code.upper()}
        if type is ResourceType.SONGS:
            params["include"] = "albums"
        reply = await self._request("GET", f"/v1/catalog/{_check_storefront(storefront)}/{type.value}", params=params)
        items = (CatalogItem.from_api(raw, type) for raw in _data(reply.payload))
        return [i for i in items if i is not None and i.type is type]

    async def get_catalog_item(
        self,
        type: ResourceType,
        id: str,
        storefront: str,
        *,
        l: str | None = None,  # noqa: E741
    ) -> CatalogItem | None:
        """One catalog item; None when the id is unknown in that storefront."""
        type = _check_catalog_type(type)
        path = f"/v1/catalog/{_check_storefront(storefront)}/{type.value}/{_check_id(id)}"
        reply = await self._request("GET", path, params=_query(l=l), not_found_ok=True)
        if reply.status == 404:
            return None
        for raw in _data(reply.payload):
            item = CatalogItem.from_api(raw, type)
            if item is not None:
                return item
        return None

    async def get_tracks(
        self,
        type: ResourceType,
        id: str,
        storefront: str,
        *,
        l: str | None = None,  # noqa: E741
        max_items: int = 5000,
    ) -> list[CatalogItem]:
        """All tracks of a catalog album or playlist, following `next` pages (up to `max_items`).

        Raises `NotFound` when the album or playlist is unknown.
        """
        type = ResourceType(type)
        if type not in (ResourceType.ALBUMS, ResourceType.PLAYLISTS):
            raise ValueError("tracks exist only for albums and playlists")
        path = f"/v1/catalog/{_check_storefront(storefront)}/{type.value}/{_check_id(id)}/tracks"
        params = _query(l=l)
        tracks: list[CatalogItem] = []
        seen_pages: set[str] = set()
        while len(tracks) < max_items:
            reply = await self._request("GET", path, params=params)
            for raw in _data(reply.payload):
                item = CatalogItem.from_api(raw, ResourceType.SONGS)
                if item is not None:
                    tracks.append(item)
            nxt = reply.payload.get("next") if isinstance(reply.payload, Mapping) else None
            if not isinstance(nxt, str) or not nxt.startswith("/v1/") or nxt in seen_pages:
                break
            seen_pages.add(nxt)
            next_url = URL(nxt)
            path = next_url.path
            params = {**dict(next_url.query), **_query(l=l)}
        return tracks[:max_items]

    async def search(
        self,
        term: str,
        storefront: str,
        types: Iterable[ResourceType] = (ResourceType.SONGS, ResourceType.ALBUMS),
        limit: int = 5,
        *,
        l: str | None = None,  # noqa: E741
    ) -> dict[ResourceType, list[CatalogItem]]:
        """Catalog search. Returns one list per requested type (empty when nothing matched)."""
        term = term.strip()
        if not term:
            raise ValueError("search term is empty")
        if not 1 <= limit <= SEARCH_LIMIT_MAX:
            raise ValueError(f"search limit must be between 1 and {SEARCH_LIMIT_MAX}")
        wanted = [_check_catalog_type(t) for t in dict.fromkeys(types)]
        if not wanted:
            raise ValueError("search needs at least one type")
        reply = await self._request(
            "GET",
            f"/v1/catalog/{_check_storefront(storefront)}/search",
            params=_query(term=term, types=",".join(t.value for t in wanted), limit=str(limit), l=l),
        )
        results = reply.payload.get("results") if isinstance(reply.payload, Mapping) else None
        results = results if isinstance(results, Mapping) else {}
        out: dict[ResourceType, list[CatalogItem]] = {}
        for t in wanted:
            group = results.get(t.value)
            items = (CatalogItem.from_api(raw, t) for raw in _data(group))
            out[t] = [i for i in items if i is not None]
        return out
