"""Matching a link of another music service to an Apple Music catalog item.

See the package docstring for the order of trust. Built once (``LinkResolver.from_settings``) with the process's
one HTTP session and Apple client.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import aiohttp
from cachetools import TTLCache

from bot import applemusic as am
from bot.errors import MatchUnavailable

from .links import ForeignLink, parse_foreign_link
from .model import Match, MatchMethod, listen_elsewhere_url
from .score import confidence, split_artist_title

if TYPE_CHECKING:
    from bot.config import Settings

__all__ = ["LinkResolver", "ResolverConfig"]

log = logging.getLogger(__name__)

#: the largest answer read from an outside service
MAX_ANSWER_BYTES: Final = 1024 * 1024
#: short-link redirects followed
MAX_REDIRECTS: Final = 3
#: how sure an Odesli mapping is (Odesli matches by its own codes and titles; a mapping is almost always right)
ODESLI_CONFIDENCE: Final = 0.95
#: catalog candidates a title search looks at
SEARCH_LIMIT: Final = 10
#: the most of an error answer read (for its OAuth ``error`` code)
MAX_ERROR_BYTES: Final = 4096
_STOREFRONT = re.compile(r"[a-z]{2}")


class _Rejected(MatchUnavailable):
    """A service refused the request itself (HTTP 400/401/403): ``status`` and, from an OAuth error answer
    (``{"error": "invalid_client"}``), its ``code``. Never its text, which could echo what was sent."""

    def __init__(self, service: str, status: int, code: str | None) -> None:
        super().__init__(service)
        self.status, self.code = status, code


@dataclass(frozen=True, slots=True)
class Facts:
    """What the source says of its item: its codes and names (any may be unknown)."""

    kind: str
    isrc: str | None = None
    upc: str | None = None
    title: str | None = None
    artist: str | None = None


class _OgTitle(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.title: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "meta" and found.get("property") == "og:title" and self.title is None:
            self.title = found.get("content")


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolverConfig:
    """Where the outside services are, and how the resolver treats them. No defaults of its own: it is built from
    the settings (:meth:`from_settings`; ``bot.config`` holds every default, ``ODESLI_*``, ``SPOTIFY_*``, ...)."""

    odesli_api_base: str
    odesli_enabled: bool
    odesli_api_key: str | None
    odesli_requests_per_minute: int
    spotify_client_id: str | None
    spotify_client_secret: str | None
    spotify_accounts_base: str
    spotify_api_base: str
    spotify_oembed_base: str
    deezer_api_base: str
    youtube_oembed_base: str
    soundcloud_oembed_base: str
    tidal_page_base: str | None
    amazon_music_page_base: str | None
    short_link_base: str | None
    confidence: float
    cache_size: int
    cache_seconds: float
    request_seconds: float

    def __repr__(self) -> str:  # never show the secrets
        return f"ResolverConfig(odesli_enabled={self.odesli_enabled}, spotify={self.spotify_client_id is not None})"

    @classmethod
    def from_settings(cls, settings: Settings) -> ResolverConfig:
        key = settings.odesli_api_key
        secret = settings.spotify_client_secret
        return cls(
            odesli_api_base=settings.odesli_api_base,
            odesli_enabled=settings.odesli_enabled,
            odesli_api_key=key.get_secret_value() if key is not None else None,
            odesli_requests_per_minute=settings.odesli_requests_per_minute,
            spotify_client_id=settings.spotify_client_id,
            spotify_client_secret=secret.get_secret_value() if secret is not None else None,
            spotify_accounts_base=settings.spotify_accounts_base,
            spotify_api_base=settings.spotify_api_base,
            spotify_oembed_base=settings.spotify_oembed_base,
            deezer_api_base=settings.deezer_api_base,
            youtube_oembed_base=settings.youtube_oembed_base,
            soundcloud_oembed_base=settings.soundcloud_oembed_base,
            tidal_page_base=settings.tidal_page_base,
            amazon_music_page_base=settings.amazon_music_page_base,
            short_link_base=settings.short_link_base,
            confidence=settings.match_confidence,
            cache_size=settings.match_cache_size,
            cache_seconds=settings.match_cache_seconds,
            request_seconds=settings.match_request_seconds,
        )


class LinkResolver:
    """Links of other services -> Apple Music items. One per process; safe to share between tasks.

    Order of trust: the ISRC (songs) or UPC (albums) the source gives (Spotify Web API with client credentials,
    Deezer's public API) looked up in Apple's catalog (confidence 1.0); Odesli (0.95); Apple catalog search by the
    title and artist of the source's public metadata (``bot.crossref.score``). A method whose service is down, slow
    (``request_seconds``) or rate-limited is skipped; if no later method matches, ``MatchUnavailable`` is raised and
    nothing is cached. A definite answer (a match, or None) is cached per (link, country) for ``cache_seconds``.
    """

    def __init__(
        self,
        apple: am.AppleMusicClient,
        session: aiohttp.ClientSession,
        config: ResolverConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._apple = apple
        self._session = session
        self.config = config
        self._clock = clock
        self._cache: TTLCache[tuple[str, str, str, str], Match | None] = TTLCache(
            self.config.cache_size, self.config.cache_seconds, timer=clock
        )
        self._spotify_token: tuple[str, float] | None = None
        #: Spotify refused the client credentials (``invalid_client``): its Web API is not asked again
        self._spotify_refused = False
        self._odesli_sent: list[float] = []
        #: host -> the time before which it is not asked again (its 429's ``Retry-After``)
        self._paused_until: dict[str, float] = {}
        self._inflight: dict[tuple[str, str, str, str], asyncio.Future[Match | None]] = {}

    def __repr__(self) -> str:
        return f"LinkResolver({self.config!r})"

    @classmethod
    def from_settings(
        cls, settings: Settings, *, apple: am.AppleMusicClient, session: aiohttp.ClientSession
    ) -> LinkResolver:
        return cls(apple, session, ResolverConfig.from_settings(settings))

    @property
    def confidence(self) -> float:
        """The threshold at or above which a match is confident (``MATCH_CONFIDENCE``)."""
        return self.config.confidence

    async def resolve(self, link: ForeignLink, country: str) -> Match | None:
        """The Apple Music item ``link`` names in ``country`` (a two-letter storefront), or None when none was
        found (a definite answer, cached). Raises ``bot.errors.MatchUnavailable`` when a service needed to answer is
        down, slow or rate-limited (not cached: try again later). Concurrent calls for one link ask once."""
        storefront = country.lower()
        if not _STOREFRONT.fullmatch(storefront):
            raise ValueError("a country is two letters")
        key = (link.service, link.kind, link.id, storefront)
        if key in self._cache:
            cached = self._cache[key]
            return None if cached is None else _with_source(cached, link)
        pending = self._inflight.get(key)
        if pending is not None:
            shared = await asyncio.shield(pending)
            return None if shared is None else _with_source(shared, link)
        future: asyncio.Future[Match | None] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            result, definite = await self._resolve(link, storefront)
            if definite:
                self._cache[key] = result
            future.set_result(result)
            return result
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: a lone caller's failure is not "never retrieved"
            raise
        finally:
            del self._inflight[key]

    async def _resolve(self, link: ForeignLink, storefront: str) -> tuple[Match | None, bool]:
        source = link
        if link.is_short:
            expanded = await self._expand(link)
            if expanded is None:
                return None, True
            link = expanded
        unavailable: MatchUnavailable | None = None
        facts = Facts(kind=link.kind)
        steps = (self._by_code, self._by_odesli, self._by_title)
        for step in steps:
            try:
                facts, match = await step(link, storefront, facts)
            except MatchUnavailable as exc:
                log.info("matching a %s link: %s unavailable", link.service, exc.service)
                unavailable = unavailable or exc
                continue
            except am.AppleMusicError as exc:
                unavailable = unavailable or MatchUnavailable("apple", getattr(exc, "retry_after", None))
                continue
            if match is not None:
                return _with_source(match, source), unavailable is None
        if unavailable is not None:
            raise unavailable
        return None, True

    # ------------------------------------------------------------------ 1: ISRC / UPC
    async def _by_code(self, link: ForeignLink, storefront: str, facts: Facts) -> tuple[Facts, Match | None]:
        if link.service == "deezer":
            facts = await self._deezer(link)
        elif link.service == "spotify" and self._spotify_usable():
            facts = await self._spotify(link)
        if facts.isrc and facts.kind != "album":
            songs = await self._apple.songs_by_isrc(facts.isrc, storefront)
            best = _original(songs)
            if best is not None:
                return facts, self._match(best, MatchMethod.ISRC, 1.0, link)
        if facts.upc and facts.kind == "album":
            albums = await self._apple.albums_by_upc(facts.upc, storefront)
            best = _original(albums)
            if best is not None:
                return facts, self._match(best, MatchMethod.UPC, 1.0, link)
        return facts, None

    async def _deezer(self, link: ForeignLink) -> Facts:
        word = "album" if link.kind == "album" else "track"
        data = await self._get_json("deezer", f"{self.config.deezer_api_base}/{word}/{link.id}")
        error = data.get("error") if isinstance(data, Mapping) else None
        if isinstance(error, Mapping):  # Deezer answers 200 with an error object
            if error.get("code") in (4, 700):  # quota exceeded, service busy
                raise MatchUnavailable("deezer", 5.0)
            return Facts(kind=link.kind)
        artist = data.get("artist") if isinstance(data, Mapping) else None
        return Facts(
            kind=link.kind,
            isrc=_text(data, "isrc"),
            upc=_text(data, "upc"),
            title=_text(data, "title"),
            artist=_text(artist, "name"),
        )

    def _spotify_usable(self) -> bool:
        config = self.config
        return bool(config.spotify_client_id and config.spotify_client_secret) and not self._spotify_refused

    async def _spotify(self, link: ForeignLink) -> Facts:
        word = "albums" if link.kind == "album" else "tracks"
        url = f"{self.config.spotify_api_base}/v1/{word}/{link.id}"
        token = await self._spotify_access()
        if token is None:
            return Facts(kind=link.kind)
        try:
            data = await self._get_json("spotify", url, headers={"Authorization": f"Bearer {token}"}, not_found_ok=True)
        except _Rejected as exc:
            if exc.status != 401:
                raise
            # "The access token expired" (or was revoked) before the time it was given for: one new token, one retry
            token = await self._spotify_access(stale=token)
            if token is None:
                return Facts(kind=link.kind)
            data = await self._get_json("spotify", url, headers={"Authorization": f"Bearer {token}"}, not_found_ok=True)
        if data is None:
            return Facts(kind=link.kind)
        external = data.get("external_ids") if isinstance(data, Mapping) else None
        artists = data.get("artists") if isinstance(data, Mapping) else None
        first = artists[0] if isinstance(artists, list) and artists else None
        return Facts(
            kind=link.kind,
            isrc=_text(external, "isrc"),
            upc=_text(external, "upc"),
            title=_text(data, "name"),
            artist=_text(first, "name"),
        )

    async def _spotify_access(self, *, stale: str | None = None) -> str | None:
        """A client-credentials access token: the cached one while it lasts (unless it is ``stale``: Spotify refused
        it), else a new one. None when Spotify refuses the client credentials (then never asked again: an operator
        must fix ``SPOTIFY_CLIENT_ID``/``SPOTIFY_CLIENT_SECRET``; one warning, and links are matched otherwise)."""
        now = self._clock()
        cached = self._spotify_token
        if cached is not None and cached[1] > now and cached[0] != stale:
            return cached[0]
        if self._spotify_refused:
            return None
        basic = f"{self.config.spotify_client_id}:{self.config.spotify_client_secret}".encode()
        url = f"{self.config.spotify_accounts_base}/api/token"
        headers = {"Authorization": "Basic " + base64.b64encode(basic).decode()}
        try:
            data = await self._request(
                "spotify", "POST", url, headers=headers, data={"grant_type": "client_credentials"}
            )
        except _Rejected as exc:
            if exc.code != "invalid_client":
                raise
            if not self._spotify_refused:
                self._spotify_refused = True
                log.warning(
                    "Spotify refused the client credentials (invalid_client): check SPOTIFY_CLIENT_ID and "
                    "SPOTIFY_CLIENT_SECRET. Until the bot restarts, Spotify links are matched without their ISRC "
                    "(Odesli, then by title)"
                )
            return None
        token = _text(data, "access_token")
        expires = data.get("expires_in") if isinstance(data, Mapping) else None
        if token is None or not isinstance(expires, int):
            raise MatchUnavailable("spotify")
        self._spotify_token = (token, now + max(0, expires - 60))
        return token

    # ------------------------------------------------------------------ 2: Odesli
    async def _by_odesli(self, link: ForeignLink, storefront: str, facts: Facts) -> tuple[Facts, Match | None]:
        if not self.config.odesli_enabled:
            return facts, None
        self._odesli_slot()
        params = {"url": link.url, "userCountry": storefront.upper()}
        if self.config.odesli_api_key:
            params["key"] = self.config.odesli_api_key
        url = f"{self.config.odesli_api_base}/v1-alpha.1/links"
        data = await self._get_json("odesli", url, params=params, not_found_ok=True)
        if not isinstance(data, Mapping):
            return facts, None
        links = data.get("linksByPlatform")
        apple = (links.get("appleMusic") or links.get("itunes")) if isinstance(links, Mapping) else None
        apple_url = _text(apple, "url")
        if apple_url is None:
            return facts, None
        try:
            share = am.parse_link(apple_url)
        except am.InvalidLink:
            return facts, None
        entities = data.get("entitiesByUniqueId")
        entity = entities.get(_text(apple, "entityUniqueId") or "") if isinstance(entities, Mapping) else None
        ref = am.ItemRef(share.type, share.id)
        page = _text(data, "pageUrl")
        match = Match(
            ref=ref,
            method=MatchMethod.ODESLI,
            confidence=ODESLI_CONFIDENCE,
            title=_text(entity, "title"),
            artist=_text(entity, "artistName"),
            source=link,
            elsewhere_url=page if page and page.startswith("https://") else listen_elsewhere_url(ref),
        )
        return facts, match

    def _odesli_slot(self) -> None:
        """The client-side limiter: at most ``odesli_requests_per_minute`` in any minute."""
        self._check_pause(self.config.odesli_api_base, "odesli")
        now = self._clock()
        self._odesli_sent = [t for t in self._odesli_sent if now - t < 60.0]
        if len(self._odesli_sent) >= self.config.odesli_requests_per_minute:
            raise MatchUnavailable("odesli", 60.0 - (now - self._odesli_sent[0]))
        self._odesli_sent.append(now)

    # ------------------------------------------------------------------ 3: title
    async def _by_title(self, link: ForeignLink, storefront: str, facts: Facts) -> tuple[Facts, Match | None]:
        if facts.title is None:
            facts = await self._metadata(link, facts)
        if not facts.title:
            return facts, None
        rtype = am.ResourceType.ALBUMS if facts.kind == "album" else am.ResourceType.SONGS
        term = " ".join(x for x in (facts.artist, _clean_title(facts.title)) if x)[:200]
        found = await self._apple.search(term, storefront, (rtype,), SEARCH_LIMIT)
        best: tuple[float, am.CatalogItem] | None = None
        for item in found.get(rtype, []):
            score = confidence(facts.title, facts.artist, item.name, item.artist_name)
            if best is None or score > best[0]:
                best = (score, item)
        if best is None:
            return facts, None
        return facts, self._match(best[1], MatchMethod.TITLE, best[0], link)

    async def _metadata(self, link: ForeignLink, facts: Facts) -> Facts:
        """Title and artist from the source's public metadata (oEmbed, Open Graph)."""
        if link.service == "spotify":
            data = await self._get_json(
                "spotify", f"{self.config.spotify_oembed_base}/oembed", params={"url": link.url}, not_found_ok=True
            )
            return Facts(kind=facts.kind, title=_text(data, "title"))
        if link.service in ("youtube", "youtube-music", "soundcloud"):
            if link.service == "soundcloud":
                base, url = self.config.soundcloud_oembed_base, link.url
            elif link.kind == "album":
                return facts  # a YouTube Music album has no oEmbed
            else:
                base, url = self.config.youtube_oembed_base, f"https://www.youtube.com/watch?v={link.id}"
            params = {"url": url, "format": "json"}
            data = await self._get_json(link.service, f"{base}/oembed", params=params, not_found_ok=True)
            return _from_oembed(facts.kind, _text(data, "title"), _text(data, "author_name"))
        if link.service in ("tidal", "amazon-music"):
            page_base = self.config.tidal_page_base if link.service == "tidal" else self.config.amazon_music_page_base
            parts = urlsplit(link.url)
            url = (page_base + parts.path + (f"?{parts.query}" if parts.query else "")) if page_base else link.url
            page = await self._request(link.service, "GET", url, text=True, not_found_ok=True)
            parser = _OgTitle()
            parser.feed(page if isinstance(page, str) else "")
            return _from_og(facts.kind, parser.title)
        return facts

    # ------------------------------------------------------------------ short links
    async def _expand(self, link: ForeignLink) -> ForeignLink | None:
        """Follow a short link's redirects (at most ``MAX_REDIRECTS``, each within the service) to the link it
        stands for; None when it leads nowhere known."""
        current = link
        for _ in range(MAX_REDIRECTS):
            parts = urlsplit(current.url)
            base = self.config.short_link_base
            url = f"{base}{parts.path}" if base else current.url
            location = await self._location(link.service, url)
            if location is None:
                return None
            target = parse_foreign_link(location)
            host = (urlsplit(location).hostname or "").lower()
            if target is None or target.service != link.service:
                log.info("a %s short link leads off the service (%s)", link.service, host[:60])
                return None
            if not target.is_short:
                return target
            current = target
        return None

    async def _location(self, service: str, url: str) -> str | None:
        timeout = aiohttp.ClientTimeout(total=self.config.request_seconds)
        try:
            async with self._session.get(url, allow_redirects=False, timeout=timeout) as reply:
                if reply.status in (301, 302, 303, 307, 308):
                    return reply.headers.get("Location")
                if reply.status == 404:
                    return None
                raise MatchUnavailable(service)
        except (TimeoutError, aiohttp.ClientError):
            raise MatchUnavailable(service) from None

    # ------------------------------------------------------------------ HTTP
    async def _get_json(
        self,
        service: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        not_found_ok: bool = False,
    ) -> Any:
        return await self._request(service, "GET", url, params=params, headers=headers, not_found_ok=not_found_ok)

    async def _request(
        self,
        service: str,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        not_found_ok: bool = False,
        text: bool = False,
    ) -> Any:
        """One request to an outside service within ``request_seconds``: the decoded answer (None for a 404 when
        ``not_found_ok``, and for a 401 of an oEmbed: a private video). A refusal of the request itself (400, 401,
        403) raises ``_Rejected``; anything else unusable ``MatchUnavailable(service)``. A 429 carries its
        ``Retry-After``, and its host is not asked again before then. No URL, header or body is logged."""
        self._check_pause(url, service)
        timeout = aiohttp.ClientTimeout(total=self.config.request_seconds)
        try:
            async with self._session.request(
                method, url, params=params, headers=headers, data=data, timeout=timeout, allow_redirects=False
            ) as reply:
                if reply.status == 429:
                    retry = am.parse_retry_after(reply.headers.get("Retry-After"))
                    self._paused_until[urlsplit(url).netloc] = self._clock() + (retry or 60.0)
                    raise MatchUnavailable(service, retry)
                if (not_found_ok and reply.status in (404, 400)) or (reply.status == 401 and url.endswith("/oembed")):
                    return None
                if reply.status in (400, 401, 403):
                    raise _Rejected(service, reply.status, _oauth_error(await reply.content.read(MAX_ERROR_BYTES)))
                if reply.status != 200:
                    raise MatchUnavailable(service)
                if reply.content_length is not None and reply.content_length > MAX_ANSWER_BYTES:
                    raise MatchUnavailable(service)
                body = await reply.content.read(MAX_ANSWER_BYTES + 1)
                if len(body) > MAX_ANSWER_BYTES:
                    raise MatchUnavailable(service)
        except (TimeoutError, aiohttp.ClientError):
            raise MatchUnavailable(service) from None
        if text:
            return body.decode("utf-8", "replace")
        try:
            return json.loads(body)
        except ValueError:
            raise MatchUnavailable(service) from None

    def _check_pause(self, url: str, service: str) -> None:
        """Raises ``MatchUnavailable`` while ``url``'s host is paused by its ``Retry-After``."""
        left = self._paused_until.get(urlsplit(url).netloc, 0.0) - self._clock()
        if left > 0:
            raise MatchUnavailable(service, left)

    def _match(self, item: am.CatalogItem, method: MatchMethod, score: float, link: ForeignLink) -> Match:
        ref = am.ItemRef(item.type, item.id)
        return Match(ref, method, score, item.name or None, item.artist_name, link, listen_elsewhere_url(ref))


def _with_source(match: Match, source: ForeignLink) -> Match:
    """The match names the link as shared (a short link stays short)."""
    if match.source == source:
        return match
    return Match(match.ref, match.method, match.confidence, match.title, match.artist, source, match.elsewhere_url)


def _original(items: list[am.CatalogItem]) -> am.CatalogItem | None:
    """Of the catalog items sharing one code, the original release: not a compilation, then the earliest
    release date, then an album before a single (Apple's order breaks ties)."""
    if not items:
        return None

    def rank(pair: tuple[int, am.CatalogItem]) -> tuple[bool, str, bool, int]:
        n, item = pair
        album = item.album or item
        released = album.release_date or item.release_date or "9999"
        return (album.is_compilation is True, released, album.is_single is True, n)

    return min(enumerate(items), key=rank)[1]


def _oauth_error(body: bytes) -> str | None:
    """The ``error`` code of an OAuth error answer (``{"error": "invalid_client", ...}``), or None."""
    try:
        return _text(json.loads(body), "error")
    except (ValueError, RecursionError):
        return None


def _text(raw: Any, key: str) -> str | None:
    value = raw.get(key) if isinstance(raw, Mapping) else None
    return value.strip() or None if isinstance(value, str) else None


_TOPIC = re.compile(r"\s*(?:-\s*Topic|VEVO)$", re.IGNORECASE)
_NOISE_WORDS = re.compile(r"[\(\[][^\)\]]*(?:official|video|audio|lyric|visuali[sz]er)[^\)\]]*[\)\]]", re.IGNORECASE)


def _clean_title(title: str) -> str:
    return " ".join(_NOISE_WORDS.sub(" ", title).split())


def _from_oembed(kind: str, title: str | None, author: str | None) -> Facts:
    """YouTube: "Artist - Title (Official Video)" by "ArtistVEVO"/"Artist - Topic"; SoundCloud: "Title by Artist"
    by "Artist"."""
    if not title:
        return Facts(kind=kind)
    artist, name = split_artist_title(title)
    if artist is None and author and title.endswith(f" by {author}"):
        name = title[: -len(f" by {author}")]
    if artist is None and author:
        artist = _TOPIC.sub("", author).strip() or None
    return Facts(kind=kind, title=name, artist=artist)


def _from_og(kind: str, title: str | None) -> Facts:
    """Tidal: "Title by Artist"; Amazon Music: "Title by Artist on Amazon Music"."""
    if not title:
        return Facts(kind=kind)
    title = re.sub(r"\s+on Amazon Music(?: Unlimited)?$", "", title)
    if " by " in title:
        name, artist = title.rsplit(" by ", 1)
        return Facts(kind=kind, title=name.strip(), artist=artist.strip())
    return Facts(kind=kind, title=title.strip())
