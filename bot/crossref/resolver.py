"""Matching a link of another music service to an Apple Music catalog item.

See the package docstring for the order of trust. Built once (``LinkResolver.from_settings``) with the process's
one HTTP session and Apple client.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp
from cachetools import TTLCache

from bot import applemusic as am

from .links import ForeignLink
from .model import Match

if TYPE_CHECKING:
    from bot.config import Settings

__all__ = ["LinkResolver", "ResolverConfig"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ResolverConfig:
    """Where the outside services are, and how the resolver treats them (``bot.config`` ``ODESLI_*``, ...)."""

    odesli_api_base: str = "https://api.song.link"
    odesli_enabled: bool = True
    odesli_api_key: str | None = None
    odesli_requests_per_minute: int = 10
    spotify_client_id: str | None = None
    spotify_client_secret: str | None = None
    spotify_accounts_base: str = "https://accounts.spotify.com"
    spotify_api_base: str = "https://api.spotify.com"
    spotify_oembed_base: str = "https://open.spotify.com"
    deezer_api_base: str = "https://api.deezer.com"
    youtube_oembed_base: str = "https://www.youtube.com"
    soundcloud_oembed_base: str = "https://soundcloud.com"
    tidal_page_base: str | None = None
    amazon_music_page_base: str | None = None
    short_link_base: str | None = None
    confidence: float = 0.8
    cache_size: int = 10_000
    cache_seconds: float = 86_400.0
    request_seconds: float = 2.0

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
    """Links of other services -> Apple Music items. One per process; safe to share between tasks."""

    def __init__(
        self,
        apple: am.AppleMusicClient,
        session: aiohttp.ClientSession,
        config: ResolverConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._apple = apple
        self._session = session
        self.config = config or ResolverConfig()
        self._clock = clock
        self._cache: TTLCache[tuple[str, str, str, str], Match | None] = TTLCache(
            self.config.cache_size, self.config.cache_seconds, timer=clock
        )

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
        down, slow or rate-limited (not cached: try again later)."""
        key = (link.service, link.kind, link.id, country.lower())
        if key in self._cache:
            return self._cache[key]
        result: Match | None = None  # filled in by the matching methods
        self._cache[key] = result
        return result
