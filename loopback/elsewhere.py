"""Loopback stand-ins for the music services a shared link may come from, each its own small aiohttp app on
127.0.0.1, each answering as the service's public documentation says:

- :class:`LoopbackOdesli` — ``GET /v1-alpha.1/links?url=&userCountry=[&key=]``: ``entityUniqueId``, ``pageUrl``,
  ``entitiesByUniqueId``, ``linksByPlatform``; an unknown link 404 ``{"statusCode": 404, "code":
  "could_not_resolve_entity"}``; without a key, more than 10 requests in a minute (on the injectable ``clock``) 429.
- :class:`LoopbackSpotify` — accounts ``POST /api/token`` (``grant_type=client_credentials``, Basic auth; a wrong
  client 400 ``{"error": "invalid_client", "error_description": "Invalid client"}``), Web API ``/v1/tracks/{id}``,
  ``/v1/albums/{id}`` with ``external_ids`` (errors as Spotify's error object ``{"error": {"status", "message"}}``: an
  unknown token 401 "Invalid access token", a token :meth:`LoopbackSpotify.expire_tokens` ended 401 "The access
  token expired", both with ``WWW-Authenticate: Bearer``; unknown 404; ``rate_limit_next`` 429 "API rate limit
  exceeded" with ``Retry-After`` in seconds), and ``/oembed?url=`` (title only, as Spotify's).
- :class:`LoopbackDeezer` — ``/track/{id}`` (``isrc``), ``/album/{id}`` (``upc``); an unknown id answers **200**
  with ``{"error": {"type": "DataException", "message": "no data", "code": 800}}``, as Deezer documents; quota:
  code 4.
- :class:`LoopbackOEmbed` — YouTube's (``/oembed?url=&format=json``: 404 "Not Found" unknown, 401 "Unauthorized"
  embedding disabled or private, 400 "Bad Request" without a ``url``) or SoundCloud's (404 unknown).
- :class:`LoopbackPages` — pages with Open Graph ``og:title`` (Tidal, Amazon Music), 404 for others.
- :class:`LoopbackShortLinks` — ``/<code>`` answers 302 to where the short link leads.

Every one can be switched down (``down = True``: 503), made slow without timing (``hold()``: requests wait until
``release()``), or fail its next requests (``fail_next(n, status)``); it records ``requests``.
"""

from __future__ import annotations

import asyncio
import base64
import html
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from loopback.process import listen


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]


class _Loopback:
    """Start/close, down/slow/fail switches and the request record, shared by every stand-in."""

    def __init__(self) -> None:
        self.base_url = ""
        self.requests: list[Seen] = []
        self.down = False
        self._fail: list[int] = []
        self._held: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> Any:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner, port = await listen(app, shutdown_timeout=0.5, handler_cancellation=True)
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def close(self) -> None:
        if self._held is not None:
            self._held.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def fail_next(self, n: int, status: int) -> None:
        self._fail += [status] * n

    def hold(self) -> None:
        """Requests wait, unanswered, until :meth:`release` (a slow service, without timing)."""
        self._held = asyncio.Event()

    def release(self) -> None:
        if self._held is not None:
            self._held.set()
            self._held = None

    def count(self, path_prefix: str = "/") -> int:
        return sum(1 for r in self.requests if r.path.startswith(path_prefix))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(Seen(request.method, request.path, dict(request.query)))
        if self._held is not None:
            await self._held.wait()
        if self.down:
            return web.Response(status=503, text="Service Unavailable")
        if self._fail:
            return web.Response(status=self._fail.pop(0), text="error")
        return await self.answer(request)

    async def answer(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError


# ---------------------------------------------------------------------- Odesli
ODESLI_PLATFORM = {"songs": "ITUNES_SONG", "albums": "ITUNES_ALBUM"}


class LoopbackOdesli(_Loopback):
    """Odesli's ``links`` endpoint. ``add(source_url, apple_type, apple_id, title, artist)`` teaches it a link."""

    LIMIT_PER_MINUTE = 10

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.clock = clock
        self.links: dict[str, dict[str, Any]] = {}
        self.keys: set[str] = set()
        self._window: list[float] = []

    def add(self, source_url: str, apple_type: str, apple_id: str, *, title: str, artist: str) -> None:
        kind = "album" if apple_type == "albums" else "song"
        unique = f"{ODESLI_PLATFORM[apple_type]}::{apple_id}"
        apple_url = (
            f"https://geo.music.apple.com/us/album/_/{apple_id}?app=music&at=1000lHKX"
            if kind == "album"
            else f"https://geo.music.apple.com/us/album/_/1?i={apple_id}&app=music&at=1000lHKX"
        )
        self.links[source_url] = {
            "entityUniqueId": unique,
            "userCountry": "US",
            "pageUrl": f"https://{'album' if kind == 'album' else 'song'}.link/i/{apple_id}",
            "entitiesByUniqueId": {
                unique: {
                    "id": apple_id,
                    "type": kind,
                    "title": title,
                    "artistName": artist,
                    "apiProvider": "itunes",
                    "platforms": ["appleMusic", "itunes"],
                }
            },
            "linksByPlatform": {
                "appleMusic": {"url": apple_url, "entityUniqueId": unique},
                "itunes": {"url": apple_url.replace("geo.music", "geo.itunes"), "entityUniqueId": unique},
            },
        }

    async def answer(self, request: web.Request) -> web.StreamResponse:
        if request.path != "/v1-alpha.1/links":
            return web.json_response({"statusCode": 404, "code": "not_found"}, status=404)
        key = request.query.get("key")
        if key is None or key not in self.keys:
            now = self.clock()
            self._window = [t for t in self._window if now - t < 60.0]
            if len(self._window) >= self.LIMIT_PER_MINUTE:
                retry = 60.0 - (now - self._window[0])
                return web.json_response(
                    {"statusCode": 429, "code": "too_many_requests"},
                    status=429,
                    headers={"Retry-After": f"{retry:.0f}"},
                )
            self._window.append(now)
        url = request.query.get("url")
        if not url:
            return web.json_response({"statusCode": 400, "code": "invalid_request"}, status=400)
        found = self.links.get(url)
        if found is None:
            return web.json_response({"statusCode": 404, "code": "could_not_resolve_entity"}, status=404)
        return web.json_response(found)


# ---------------------------------------------------------------------- Spotify
class LoopbackSpotify(_Loopback):
    """Spotify's accounts service, Web API and oEmbed in one app (each base URL points here)."""

    def __init__(self, client_id: str = "spotify-client", client_secret: str = "spotify-secret") -> None:
        super().__init__()
        self.client_id, self.client_secret = client_id, client_secret
        self.tokens: set[str] = set()
        self.expired: set[str] = set()
        self.issued = 0
        #: every access token is refused (401 "Invalid access token"), even one just given
        self.refuse_tokens = False
        self.tracks: dict[str, dict[str, Any]] = {}
        self.albums: dict[str, dict[str, Any]] = {}
        self._retry_after: list[int] = []

    def add_track(self, id: str, *, name: str, artist: str, isrc: str | None, album: str = "Album") -> None:
        external = {"isrc": isrc} if isrc else {}
        self.tracks[id] = {
            "id": id,
            "type": "track",
            "name": name,
            "artists": [{"name": artist, "type": "artist"}],
            "album": {"name": album, "album_type": "album"},
            "external_ids": external,
            "external_urls": {"spotify": f"https://open.spotify.com/track/{id}"},
        }

    def add_album(self, id: str, *, name: str, artist: str, upc: str | None) -> None:
        self.albums[id] = {
            "id": id,
            "type": "album",
            "album_type": "album",
            "name": name,
            "artists": [{"name": artist, "type": "artist"}],
            "external_ids": {"upc": upc} if upc else {},
        }

    def rate_limit_next(self, n: int, retry_after: int) -> None:
        self._retry_after += [retry_after] * n

    def expire_tokens(self) -> None:
        """Every access token given so far expires now (whatever its ``expires_in`` said)."""
        self.expired |= self.tokens
        self.tokens.clear()

    @staticmethod
    def _api_error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
        return web.json_response({"error": {"status": status, "message": message}}, status=status, headers=headers)

    @classmethod
    def _unauthorized(cls, description: str) -> web.Response:
        challenge = f'Bearer realm="spotify", error="invalid_token", error_description="{description}"'
        return cls._api_error(401, description, {"WWW-Authenticate": challenge})

    async def answer(self, request: web.Request) -> web.StreamResponse:
        if request.path == "/api/token":
            return await self._token(request)
        if request.path == "/oembed":
            return self._oembed(request)
        if request.path.startswith("/v1/"):
            return self._api(request)
        return web.Response(status=404)

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if request.method != "POST" or form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return web.json_response({"error": "invalid_client", "error_description": "Invalid client"}, status=400)
        self.issued += 1
        token = f"BQ{self.issued:04d}loopback"
        self.tokens.add(token)
        return web.json_response({"access_token": token, "token_type": "Bearer", "expires_in": 3600})

    def _api(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        if token in self.expired:
            return self._unauthorized("The access token expired")
        if token not in self.tokens or self.refuse_tokens:
            return self._unauthorized("Invalid access token")
        if self._retry_after:
            retry = self._retry_after.pop(0)
            return self._api_error(429, "API rate limit exceeded", {"Retry-After": str(retry)})
        parts = request.path.strip("/").split("/")
        if len(parts) != 3 or parts[1] not in ("tracks", "albums"):
            return self._api_error(404, "Service not found")
        table = self.tracks if parts[1] == "tracks" else self.albums
        if parts[2] not in table:
            return self._api_error(
                404 if len(parts[2]) == 22 else 400,
                "Resource not found" if len(parts[2]) == 22 else "Invalid base62 id",
            )
        return web.json_response(table[parts[2]])

    def _oembed(self, request: web.Request) -> web.Response:
        url = request.query.get("url", "")
        sid = url.rstrip("/").rsplit("/", 1)[-1]
        item = self.tracks.get(sid) or self.albums.get(sid)
        if item is None:
            return web.Response(status=404, text="Not Found")
        return web.json_response(
            {"type": "rich", "version": "1.0", "provider_name": "Spotify", "title": item["name"], "html": "<iframe/>"}
        )


# ---------------------------------------------------------------------- Deezer
class LoopbackDeezer(_Loopback):
    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.quota_next = 0

    def add_track(self, id: str, *, title: str, artist: str, isrc: str) -> None:
        self.items[("track", id)] = {
            "id": int(id),
            "type": "track",
            "title": title,
            "isrc": isrc,
            "artist": {"name": artist},
        }

    def add_album(self, id: str, *, title: str, artist: str, upc: str) -> None:
        self.items[("album", id)] = {
            "id": int(id),
            "type": "album",
            "title": title,
            "upc": upc,
            "artist": {"name": artist},
        }

    async def answer(self, request: web.Request) -> web.StreamResponse:
        if self.quota_next > 0:
            self.quota_next -= 1
            return web.json_response({"error": {"type": "Exception", "message": "Quota limit exceeded", "code": 4}})
        parts = request.path.strip("/").split("/")
        item = self.items.get((parts[0], parts[1])) if len(parts) == 2 else None
        if item is None:
            return web.json_response({"error": {"type": "DataException", "message": "no data", "code": 800}})
        return web.json_response(item)


# ---------------------------------------------------------------------- oEmbed (YouTube, SoundCloud)
class LoopbackOEmbed(_Loopback):
    """``/oembed?url=...&format=json``: ``add(url, title, author)``; ``private(url)`` answers 401 (YouTube's answer
    for a video whose embedding is disabled)."""

    def __init__(self, provider: str) -> None:
        super().__init__()
        self.provider = provider
        self.entries: dict[str, dict[str, str]] = {}
        self.unauthorized: set[str] = set()

    def add(self, url: str, *, title: str, author: str) -> None:
        self.entries[url] = {"title": title, "author_name": author}

    async def answer(self, request: web.Request) -> web.StreamResponse:
        url = request.query.get("url", "")
        if request.path != "/oembed":
            return web.Response(status=404, text="Not Found")
        if not url:
            return web.Response(status=400, text="Bad Request")
        if url in self.unauthorized:
            return web.Response(status=401, text="Unauthorized")
        entry = self.entries.get(url)
        if entry is None:
            return web.Response(status=404, text="Not Found")
        return web.json_response({"type": "video", "version": "1.0", "provider_name": self.provider, **entry})


# ---------------------------------------------------------------------- pages with Open Graph (Tidal, Amazon)
class LoopbackPages(_Loopback):
    def __init__(self) -> None:
        super().__init__()
        self.pages: dict[str, str] = {}

    def add(self, path: str, og_title: str) -> None:
        self.pages[path] = og_title

    async def answer(self, request: web.Request) -> web.StreamResponse:
        title = self.pages.get(request.path_qs) or self.pages.get(request.path)
        if title is None:
            return web.Response(status=404, text="<html><title>Not found</title></html>", content_type="text/html")
        body = (
            f'<html><head><meta property="og:title" content="{html.escape(title)}">'
            f'<meta property="og:type" content="music.song"><title>x</title></head><body></body></html>'
        )
        return web.Response(text=body, content_type="text/html")


# ---------------------------------------------------------------------- short links
class LoopbackShortLinks(_Loopback):
    def __init__(self) -> None:
        super().__init__()
        self.targets: dict[str, str] = {}

    def add(self, path: str, location: str) -> None:
        self.targets[path] = location

    async def answer(self, request: web.Request) -> web.StreamResponse:
        location = self.targets.get(request.path)
        if location is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(status=302, headers={"Location": location})
