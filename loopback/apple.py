"""A loopback Apple Music API on 127.0.0.1, faithful to /work/shared/apple-music-api.md.

In-process use (tests)::

    server = LoopbackApple(public_key_pem, "TEAMID1234", "KEYID12345")
    await server.start()
    server.add_user("user-token-alice")
    ... point an AppleMusicClient at server.base_url ...
    await server.close()

Out-of-process use (benchmarks)::

    python -m loopback.apple --public-key key.pub.pem --team-id TEAMID1234 --key-id KEYID12345 \
        [--port 8123] [--config seed.json]

prints `listening on http://127.0.0.1:PORT` and serves until SIGINT/SIGTERM (see `loopback/process.py`).
`POST /_admin/<op>` with a JSON object of keyword arguments calls the method of the same name (`add_user`,
`set_state`, `add_song`, `fail_next`, `inject_faults`, `stop_faults`, `rate_limit`, `set_latency`, `count`,
`rating`, `requests_summary`, `reset_requests`, ...) and answers `{"result": ...}`. Admin requests are neither
recorded nor subject to failures.

Faults, all answered as Apple answers that status: `fail_next(n, status)` fails the next `n` requests;
`lose_answer_next(n, status)` does the next `n` requests but answers them `status` (504: an answer lost on the way);
`inject_faults(rate, statuses, seed)` fails each request with probability `rate`, drawn from a generator seeded
with `seed` in arrival order, so a run's faults depend on its requests, never on timing; `rate_limit` is a token
bucket on the server's `clock` (injectable, `time.monotonic` by default).

Hostile answers, for the client's defences (each for the next `n` requests, optionally only on paths containing a
text): `fail_next(..., retry_after="-5")` sends any `Retry-After` text; `fail_next(..., echo_token=True)` quotes
the request's `Music-User-Token`, URL-encoded, in the error's `title` and `detail`; `redirect_next(n, location)`
answers 307 to the same path on another base URL; `huge_body_next(n, size, content_length=...)` streams `size`
bytes of valid JSON, declared or chunked, and records on the request how many bytes it managed to write.

What it does, like Apple: checks the ES256 developer token (signature with the trusted public key, `kid`,
`iss`, `iat`, `exp`, at most 15777000 s ahead) -> 401 with an empty body; checks `Music-User-Token`
-> 403 with an errors body; keeps ratings per user with catalog and library ids of one item sharing one
rating; GET one unrated -> 404, GET many -> only rated ids; DELETE -> 204, nothing to delete -> 404;
unknown type segment -> 400/40008; more than 200 ids -> 400; missing `ids` -> 400 with
`source.parameter: "ids"`; catalog lookups (unknown ids absent; one unknown -> 404), paged tracks and search.
Library playlists, as Apple documents them: "Create a New Library Playlist" (`POST /v1/me/library/playlists`,
`attributes.name` required, optional `description`, `relationships.tracks.data` of songs, music videos or their
library forms, optional `relationships.parent` folder) -> 201 with the `library-playlists` resource; "Create a New
Library Playlist Folder" (`POST /v1/me/library/playlist-folders`) -> 201; "Add Tracks to a Library Playlist"
(`POST .../playlists/{id}/tracks`, `{"data": [...]}`) -> 204; "Get All Library Playlists" (alphabetical, paged
`limit`/`offset` with `next`), "Get Multiple" (`ids`, at most 25), "Get a Library Playlist" and its `tracks`
relationship. A new playlist and added tracks show in GETs only `library_delay` seconds (on `clock`) later ("There
may be a delay before a new resource appears"). Refused: no valid music user token -> 403, no subscription -> 401,
a body that is not JSON or has no name -> 400, an unknown track or folder, or a type that is not a song or music
video -> 400 (nothing is created or added), deleting or editing a playlist or removing tracks (Apple offers no
such endpoint) -> 405. Error `status` and `code` are strings.
Error codes other than 40008/40300 are this server's choice
(Apple documents no list): 40002 missing parameter, 40005 invalid parameter value, 40007 invalid body,
40400 not found, 40500 method not allowed, 42900 rate limited, 50000 server error.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jwt
from aiohttp import web

from loopback.admin import call_admin_op
from loopback.process import listen, run

RATING_TYPES = (
    "songs",
    "albums",
    "music-videos",
    "playlists",
    "stations",
    "library-songs",
    "library-albums",
    "library-music-videos",
    "library-playlists",
)
CATALOG_TYPES = ("songs", "albums", "music-videos", "playlists", "stations")
MAX_RATING_IDS = 200
MAX_CATALOG_IDS = 300
MAX_SEARCH_LIMIT = 25
JWT_MAX_AHEAD = 15_777_000
PAGE_SIZE = {"albums": 300, "playlists": 100}

STOREFRONTS: dict[str, tuple[str, str, list[str]]] = {
    "us": ("United States", "en-US", ["en-US", "es-MX"]),
    "gb": ("United Kingdom", "en-GB", ["en-GB"]),
    "ca": ("Canada", "en-CA", ["en-CA", "fr-CA"]),
    "de": ("Germany", "de-DE", ["de-DE", "en-GB"]),
    "fr": ("France", "fr-FR", ["fr-FR", "en-GB"]),
    "jp": ("Japan", "ja", ["ja", "en-US"]),
}

_RATINGS_MANY = re.compile(r"^/v1/me/ratings/([^/]+)/?$")
_RATINGS_ONE = re.compile(r"^/v1/me/ratings/([^/]+)/([^/]+)/?$")
_CATALOG_SEARCH = re.compile(r"^/v1/catalog/([^/]+)/search/?$")
_CATALOG_MANY = re.compile(r"^/v1/catalog/([^/]+)/([^/]+)/?$")
_CATALOG_ONE = re.compile(r"^/v1/catalog/([^/]+)/([^/]+)/([^/]+)/?$")
_CATALOG_TRACKS = re.compile(r"^/v1/catalog/([^/]+)/([^/]+)/([^/]+)/tracks/?$")
_LIBRARY_PLAYLISTS = re.compile(r"^/v1/me/library/playlists/?$")
_LIBRARY_PLAYLIST = re.compile(r"^/v1/me/library/playlists/([^/]+)/?$")
_LIBRARY_PLAYLIST_TRACKS = re.compile(r"^/v1/me/library/playlists/([^/]+)/tracks/?$")
_LIBRARY_FOLDERS = re.compile(r"^/v1/me/library/playlist-folders/?$")
#: what a library playlist's tracklist takes (Apple: "the songs and music videos to add"): type -> catalog type
TRACK_TYPES = {
    "songs": "songs",
    "music-videos": "music-videos",
    "library-songs": "songs",
    "library-music-videos": "music-videos",
}
#: Get Multiple Library Playlists: "The maximum fetch limit is 25."
MAX_LIBRARY_PLAYLIST_IDS = 25
LIBRARY_PAGE = 25
LIBRARY_PAGE_MAX = 100


@dataclass
class RecordedRequest:
    """One request as the server saw it. `headers` are kept (tests may check them) but not shown in repr."""

    method: str
    path: str
    query: dict[str, str]
    raw_query: str
    json: Any
    body: bytes = field(repr=False)
    headers: dict[str, str] = field(repr=False)
    #: when it arrived, on the server's `clock` (the rate limiter's)
    timestamp: float
    status: int | None = None
    #: body bytes the server handed to the connection, for a streamed answer (`huge_body_next`) ...
    bytes_written: int = 0
    #: ... and whether it stopped writing (the whole body went out, or the client closed the connection)
    stream_done: bool = False

    @property
    def user_token(self) -> str | None:
        return self.headers.get("Music-User-Token")

    @property
    def ids(self) -> list[str]:
        """The `ids` query parameter split on commas ([] when absent)."""
        return [i for i in self.query.get("ids", "").split(",") if i]


@dataclass
class _User:
    token: str
    storefront: str
    subscription: bool
    revoked: bool = False
    remaining: int | None = None
    ratings: dict[tuple[str, str], int] = field(default_factory=dict)
    #: (library type, library id) -> (catalog type, catalog id)
    library: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    #: library playlists by id, in creation order
    playlists: dict[str, _LibraryPlaylist] = field(default_factory=dict)
    #: library playlist folders: id -> (name, parent folder id or None)
    folders: dict[str, tuple[str, str | None]] = field(default_factory=dict)


@dataclass
class _LibraryPlaylist:
    """A playlist in a user's library. Apple shows a new playlist, and tracks added to one, only after a while:
    ``visible_at`` (the playlist) and each track's own time, on the server's clock."""

    id: str
    name: str
    description: str | None
    parent: str | None
    visible_at: float
    #: (library type, library id, visible at), in playlist order
    tracks: list[tuple[str, str, float]] = field(default_factory=list)


#: How a scripted answer (`fail_next`, `redirect_next`, `huge_body_next`) answers one request.
Answer = Callable[[web.Request, "RecordedRequest"], Awaitable[web.StreamResponse]]


@dataclass
class _Scripted:
    """Answers the next `remaining` requests whose path contains `path_contains` (any path when None)."""

    remaining: int
    path_contains: str | None
    answer: Answer


@dataclass
class _Faults:
    """What `inject_faults` set up: each matching request draws from `rng`, in arrival order."""

    rng: random.Random
    rate: float
    statuses: tuple[int, ...]
    retry_after: float | None
    path_contains: str | None
    injected: int = 0

    def draw(self, path: str) -> web.Response | None:
        """The failure this request answers with, or None."""
        if self.path_contains is not None and self.path_contains not in path:
            return None
        if self.rng.random() >= self.rate:
            return None
        self.injected += 1
        return _failure(self.statuses[self.rng.randrange(len(self.statuses))], self.retry_after)


def _failure(status: int, retry_after: float | str | None, echo: str | None = None) -> web.Response:
    """An injected failure, as Apple answers `status`: 401 with an empty body, others with an errors body;
    `Retry-After` when given (a number, or any text as is: "-5", "soon"). With `echo`, the entry's `title` and
    `detail` repeat that text, as a server does that quotes back the value it refused."""
    if status == 401:
        return web.Response(status=401)
    if echo is None:
        resp = LoopbackApple._status_error(status)
    else:
        resp = _error(status, f"{status}00", f"Invalid value {echo}", f"The value '{echo}' is not valid here")
    if retry_after is not None:
        resp.headers["Retry-After"] = retry_after if isinstance(retry_after, str) else f"{retry_after:g}"
    return resp


def _padded_json(size: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """Exactly `size` bytes of valid JSON (an empty `data` and a long padding string), `chunk` bytes at a time."""
    head, tail = b'{"data": [], "meta": {"padding": "', b'"}}'
    if size < len(head) + len(tail):
        raise ValueError(f"a padded JSON body is at least {len(head) + len(tail)} bytes")
    yield head
    left = size - len(head) - len(tail)
    block = b"x" * chunk
    while left > 0:
        yield block[: min(chunk, left)]
        left -= chunk
    yield tail


def _error(status: int, code: str, title: str, detail: str | None = None, parameter: str | None = None) -> web.Response:
    entry: dict[str, Any] = {
        "id": uuid.uuid4().hex.upper(),
        "title": title,
        "status": str(status),
        "code": code,
    }
    if detail is not None:
        entry["detail"] = detail
    if parameter is not None:
        entry["source"] = {"parameter": parameter}
    return web.json_response({"errors": [entry]}, status=status)


def _forbidden() -> web.Response:
    return _error(403, "40300", "Forbidden", "Invalid authentication")


def _not_found(detail: str = "Resource with requested id was not found") -> web.Response:
    return _error(404, "40400", "Resource Not Found", detail)


def _bad_path(value: str) -> web.Response:
    return _error(400, "40008", "Invalid Path Value", f"'{value[:40]}' is not a valid path value", None)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "item"


class LoopbackApple:
    """The loopback server. All state is in memory and inspectable; see the module docstring."""

    def __init__(
        self,
        public_key_pem: str,
        team_id: str,
        key_id: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.public_key_pem = public_key_pem
        self.team_id = team_id
        self.key_id = key_id
        self.host = host
        self.port = port
        #: Seconds slept before answering each request.
        self.latency = 0.0
        self.requests: list[RecordedRequest] = []
        #: Requests being answered now, and the most that ever were at once (shows a client's concurrency).
        self.in_flight = 0
        self.peak_in_flight = 0
        self._users: dict[str, _User] = {}
        self._failures: list[_Scripted] = []
        #: [remaining, path_contains, status] of `lose_answer_next`
        self._lost: list[list[Any]] = []
        self._faults: _Faults | None = None
        #: while set: requests whose path contains the text wait for ``release`` before being answered
        self._held: tuple[asyncio.Event, str] | None = None
        #: Seconds, monotonic: what the rate limiter (`rate_limit`) measures time with.
        self.clock = clock
        self._rate: float | None = None
        self._burst = 1.0
        self._bucket = 0.0
        self._bucket_at = 0.0
        self._verified: dict[str, dict[str, Any]] = {}
        #: type -> id -> attributes (with "{sf}" in urls)
        self.catalog: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in CATALOG_TYPES}
        #: (albums|playlists, id) -> [(type, id), ...]
        self.tracks: dict[tuple[str, str], list[tuple[str, str]]] = {}
        self._ids = itertools.count(1_700_000_001)
        #: seconds (on ``clock``) before a new library playlist, or tracks added to one, show in GETs (Apple: "There
        #: may be a delay before a new resource appears in a user's library")
        self.library_delay = 0.0
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> LoopbackApple:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner, self.port = await listen(
            app, self.host, self.port, shutdown_timeout=0.5, handler_cancellation=True
        )
        self.base_url = f"http://{self.host}:{self.port}"
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> LoopbackApple:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ users and ratings

    def add_user(self, token: str, storefront: str = "us", subscription: bool = True) -> str:
        """Know a music user token. Re-adding a token resets it (un-revokes) but keeps its ratings."""
        user = self._users.get(token)
        if user is None:
            self._users[token] = _User(token, storefront, subscription)
        else:
            user.storefront, user.subscription, user.revoked, user.remaining = (
                storefront,
                subscription,
                False,
                None,
            )
        return token

    def revoke(self, token: str) -> None:
        self._users[token].revoked = True

    def expire_after(self, token: str, n_requests: int) -> None:
        """The token works for `n_requests` more requests, then answers 403 like a revoked one."""
        self._users[token].remaining = n_requests

    def add_library_item(self, token: str, library_id: str, catalog_type: str, catalog_id: str) -> None:
        """Put a catalog item in the user's library under `library_id`; both ids then share one rating."""
        lib_type = "library-" + str(catalog_type)
        if lib_type not in RATING_TYPES:
            raise ValueError(f"{catalog_type} has no library form")
        self._users[token].library[(lib_type, library_id)] = (str(catalog_type), catalog_id)

    def _key(self, user: _User, rtype: str, rid: str) -> tuple[str, str]:
        return user.library.get((rtype, rid), (rtype, rid))

    def rating(self, token: str, type: str, id: str) -> int | None:
        user = self._users[token]
        return user.ratings.get(self._key(user, str(type), id))

    def ratings_of(self, token: str) -> list[tuple[str, str, int]]:
        """Every rating of the user, as (catalog type, catalog id, 1 or -1), in the order they were set: what the
        user would see in the Music app (the playground's Apple panel shows it)."""
        return [(rtype, rid, value) for (rtype, rid), value in self._users[token].ratings.items()]

    def set_state(self, token: str, type: str, id: str, value: int | None) -> None:
        """Set (1/-1) or clear (None) a rating directly, as if the user did it in the Music app."""
        user = self._users[token]
        key = self._key(user, str(type), id)
        if value is None:
            user.ratings.pop(key, None)
        elif value in (1, -1):
            user.ratings[key] = value
        else:
            raise ValueError("a rating is 1 or -1")

    # ------------------------------------------------------------------ library playlists (state for tests)

    def set_library_delay(self, seconds: float) -> None:
        """New library playlists, and tracks added to one, show in GETs ``seconds`` after (on ``clock``)."""
        if seconds < 0:
            raise ValueError("the delay must not be negative")
        self.library_delay = float(seconds)

    def library_playlists(self, token: str) -> list[dict[str, Any]]:
        """The user's library playlists in creation order, whether GETs show them yet or not: ``id``, ``name``,
        ``description``, ``parent`` (folder id or None) and ``tracks``: the catalog ids in playlist order."""
        user = self._users[token]
        return [
            {
                "id": pl.id,
                "name": pl.name,
                "description": pl.description,
                "parent": pl.parent,
                "tracks": [user.library[(t, i)][1] for t, i, _ in pl.tracks],
            }
            for pl in user.playlists.values()
        ]

    def library_folders(self, token: str) -> dict[str, tuple[str, str | None]]:
        """The user's playlist folders: id -> (name, parent folder id or None)."""
        return dict(self._users[token].folders)

    # ------------------------------------------------------------------ catalog seeding

    def _new_id(self) -> str:
        return str(next(self._ids))

    @staticmethod
    def _artwork(bg_color: str) -> dict[str, Any]:
        return {
            "width": 3000,
            "height": 3000,
            "url": f"https://is1-ssl.mzstatic.com/image/thumb/Music126/v4/{uuid.uuid4()}/source/{{w}}x{{h}}bb.jpg",
            "bgColor": bg_color,
            "textColor1": "ffffff",
            "textColor2": "e6e6e6",
            "textColor3": "cccccc",
            "textColor4": "b8b8b8",
        }

    def add_song(
        self,
        id: str | None = None,
        *,
        name: str | None = None,
        artist: str = "Loopback Artist",
        album: str = "Loopback Album",
        album_id: str | None = None,
        duration_ms: int = 215_000,
        track_number: int = 1,
        bg_color: str = "1a2b3c",
        isrc: str | None = None,
    ) -> str:
        """A song; ``isrc`` its recording code (several songs may share one: singles, compilations)."""
        sid = id or self._new_id()
        name = name or f"Song {sid}"
        album_id = album_id or self._new_id()
        self.catalog["songs"][sid] = {
            "name": name,
            "artistName": artist,
            "albumName": album,
            "durationInMillis": duration_ms,
            "trackNumber": track_number,
            "discNumber": 1,
            "genreNames": ["Alternative", "Music"],
            "releaseDate": "2022-03-04",
            "isrc": isrc or f"USLB{sid[-8:]:0>8}",
            "_album": album_id,
            "url": f"https://music.apple.com/{{sf}}/album/{_slug(album)}/{album_id}?i={sid}",
            "artwork": self._artwork(bg_color),
            "previews": [{"url": f"https://audio-ssl.itunes.apple.com/itunes-assets/preview/{sid}.m4a"}],
            "playParams": {"id": sid, "kind": "song"},
            "hasLyrics": True,
        }
        return sid

    def add_music_video(
        self,
        id: str | None = None,
        *,
        name: str | None = None,
        artist: str = "Loopback Artist",
        duration_ms: int = 240_000,
        bg_color: str = "202020",
    ) -> str:
        vid = id or self._new_id()
        name = name or f"Video {vid}"
        self.catalog["music-videos"][vid] = {
            "name": name,
            "artistName": artist,
            "durationInMillis": duration_ms,
            "genreNames": ["Pop"],
            "releaseDate": "2019-01-01",
            "url": f"https://music.apple.com/{{sf}}/music-video/{_slug(name)}/{vid}",
            "artwork": self._artwork(bg_color),
            "previews": [{"url": f"https://video-ssl.itunes.apple.com/preview/{vid}.m3u8"}],
            "playParams": {"id": vid, "kind": "musicVideo"},
        }
        return vid

    def add_album(
        self,
        id: str | None = None,
        *,
        name: str | None = None,
        artist: str = "Loopback Artist",
        tracks: int | Sequence[str] = 10,
        bg_color: str = "334455",
        upc: str | None = None,
        compilation: bool = False,
        release_date: str = "2022-03-04",
    ) -> str:
        """An album; `tracks` is a count (songs are created) or existing/new song ids in order (an existing song
        keeps its own album: a compilation lists songs of other albums)."""
        aid = id or self._new_id()
        name = name or f"Album {aid}"
        ids = [None] * tracks if isinstance(tracks, int) else list(tracks)
        track_ids: list[str] = []
        for n, tid in enumerate(ids, start=1):
            if tid is None or tid not in self.catalog["songs"]:
                tid = self.add_song(tid, artist=artist, album=name, album_id=aid, track_number=n, bg_color=bg_color)
            track_ids.append(tid)
        self.tracks[("albums", aid)] = [("songs", t) for t in track_ids]
        self.catalog["albums"][aid] = {
            "name": name,
            "artistName": artist,
            "trackCount": len(track_ids),
            "genreNames": ["Alternative", "Music"],
            "releaseDate": release_date,
            "isSingle": len(track_ids) == 1,
            "isCompilation": compilation,
            "isComplete": True,
            "upc": upc or f"{int(aid) % 10**12:012d}",
            "recordLabel": "Loopback Records",
            "url": f"https://music.apple.com/{{sf}}/album/{_slug(name)}/{aid}",
            "artwork": self._artwork(bg_color),
            "playParams": {"id": aid, "kind": "album"},
        }
        return aid

    def add_playlist(
        self,
        id: str | None = None,
        *,
        name: str | None = None,
        curator: str = "Apple Music",
        n_tracks: int | None = None,
        tracks: Sequence[str] | None = None,
        bg_color: str = "f0e0d0",
    ) -> str:
        """A playlist of `n_tracks` new songs or of the given song ids (created when unknown)."""
        pid = id or f"pl.{uuid.uuid4().hex}"
        name = name or f"Playlist {pid[-6:]}"
        ids: list[str | None] = [None] * (n_tracks or 0) if tracks is None else list(tracks)
        entries: list[tuple[str, str]] = []
        for tid in ids:
            if tid is not None and tid in self.catalog["music-videos"]:
                entries.append(("music-videos", tid))
                continue
            if tid is None or tid not in self.catalog["songs"]:
                tid = self.add_song(tid)
            entries.append(("songs", tid))
        self.tracks[("playlists", pid)] = entries
        self.catalog["playlists"][pid] = {
            "name": name,
            "curatorName": curator,
            "playlistType": "editorial" if curator == "Apple Music" else "user-shared",
            "description": {"standard": f"{name}, curated by {curator}.", "short": name},
            "lastModifiedDate": "2024-05-01T07:00:00Z",
            "isChart": False,
            "url": f"https://music.apple.com/{{sf}}/playlist/{_slug(name)}/{pid}",
            "artwork": self._artwork(bg_color),
            "playParams": {"id": pid, "kind": "playlist"},
        }
        return pid

    def add_station(self, id: str | None = None, *, name: str | None = None, bg_color: str = "ff2d55") -> str:
        rid = id or f"ra.{self._new_id()}"
        name = name or f"Station {rid[3:]}"
        self.catalog["stations"][rid] = {
            "name": name,
            "isLive": False,
            "mediaKind": "audio",
            "url": f"https://music.apple.com/{{sf}}/station/{_slug(name)}/{rid}",
            "artwork": self._artwork(bg_color),
            "playParams": {"id": rid, "kind": "radioStation", "format": "stream", "stationHash": rid[3:]},
        }
        return rid

    def _resource(self, sf: str, rtype: str, rid: str, include: frozenset[str] = frozenset()) -> dict[str, Any]:
        attrs = {k: v for k, v in self.catalog[rtype][rid].items() if not k.startswith("_")}
        attrs["url"] = attrs["url"].replace("{sf}", sf)
        resource = {"id": rid, "type": rtype, "href": f"/v1/catalog/{sf}/{rtype}/{rid}", "attributes": attrs}
        album = self.catalog[rtype][rid].get("_album")
        if "albums" in include and rtype == "songs":
            data = [self._resource(sf, "albums", album)] if album in self.catalog["albums"] else []
            resource["relationships"] = {"albums": {"href": f"/v1/catalog/{sf}/songs/{rid}/albums", "data": data}}
        return resource

    # ------------------------------------------------------------------ failure injection

    def fail_next(
        self,
        n: int,
        status: int,
        retry_after: float | str | None = None,
        path_contains: str | None = None,
        echo_token: bool = False,
    ) -> None:
        """The next `n` requests (whose path contains `path_contains`, if given) answer `status`.

        401 answers with an empty body, others with an errors body; `Retry-After` is sent when given (a number, or
        a text sent as is, e.g. "-5" or "soon"). With `echo_token`, the error's `title` and `detail` quote the
        request's `Music-User-Token`, URL-encoded (Apple is not known to do this; a client must not care).
        """

        async def answer(request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
            echo = quote(rec.user_token or "", safe="") if echo_token else None
            return _failure(status, retry_after, echo)

        self._failures.append(_Scripted(n, path_contains, answer))

    def redirect_next(self, n: int, location: str, status: int = 307, path_contains: str | None = None) -> None:
        """The next `n` requests (whose path contains `path_contains`, if given) answer a redirect (`status`, 3xx)
        to the same path and query on `location` (another base URL), as a misconfigured proxy or a hijacked
        answer would."""
        if not 300 <= status < 400:
            raise ValueError("a redirect status is 3xx")

        async def answer(request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
            target = location.rstrip("/") + request.path_qs
            return web.Response(status=status, headers={"Location": target}, text=f"Redirecting to {target}")

        self._failures.append(_Scripted(n, path_contains, answer))

    def huge_body_next(
        self,
        n: int,
        size: int,
        *,
        content_length: bool = True,
        status: int = 200,
        path_contains: str | None = None,
    ) -> None:
        """The next `n` requests (whose path contains `path_contains`, if given) answer `status` with `size` bytes
        of valid JSON, streamed in 64 KiB writes; with `content_length` the size is declared up front, else the
        body is sent chunked. The server stops writing when the client closes the connection; each request's
        `bytes_written` says how much it handed to the connection, and `stream_done` when it stopped."""

        async def answer(request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
            resp = web.StreamResponse(status=status, headers={"Content-Type": "application/json; charset=utf-8"})
            if content_length:
                resp.content_length = size
            try:
                await resp.prepare(request)
                for chunk in _padded_json(size):
                    await resp.write(chunk)
                    rec.bytes_written += len(chunk)
            except ConnectionError:
                pass  # the client closed the connection
            finally:
                rec.stream_done = True
            return resp

        self._failures.append(_Scripted(n, path_contains, answer))

    def lose_answer_next(self, n: int, status: int = 504, path_contains: str | None = None) -> None:
        """The next `n` requests (whose path contains `path_contains`, if given) are done, as Apple would do them,
        but answered `status` (a gateway timeout, by default): the client cannot know that they were done."""
        self._lost.append([n, path_contains, status])

    def inject_faults(
        self,
        rate: float,
        statuses: Sequence[int] = (429, 500),
        seed: int = 0,
        path_contains: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        """From now on each request (whose path contains `path_contains`, if given) fails with probability
        `rate`, with a status picked from `statuses`, answering exactly as `fail_next` would for that status.

        Both draws come from `random.Random(seed)`, one request after another in the order they are recorded
        (their arrival, before any latency): the same seed and the same requests give the same faults in the
        same order. A request that
        draws no fault may still answer a failure queued with `fail_next`. Calling it again starts a new
        generator; `stop_faults` ends it.
        """
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate is a probability, between 0 and 1")
        if not statuses:
            raise ValueError("statuses must not be empty")
        self._faults = _Faults(random.Random(seed), rate, tuple(int(s) for s in statuses), retry_after, path_contains)

    def stop_faults(self) -> int:
        """Stop `inject_faults`; returns how many requests it failed."""
        faults, self._faults = self._faults, None
        return faults.injected if faults is not None else 0

    def rate_limit(self, per_second: float | None, burst: int | None = None) -> None:
        """Allow at most `per_second` requests per second, in bursts of up to `burst` (default: one
        second's worth); more get 429 without Retry-After, as Apple does. None lifts the limit."""
        self._rate = per_second
        self._burst = float(burst) if burst is not None else max(1.0, per_second or 0.0)
        self._bucket = self._burst
        self._bucket_at = self.clock()

    def hold(self, path_contains: str = "") -> None:
        """From now on, requests whose path contains ``path_contains`` are received (and recorded, and counted
        in ``in_flight``) but not answered until :meth:`release`: Apple is slower than anything a test waits for,
        without the test waiting for a clock."""
        self._held = (asyncio.Event(), path_contains)

    def release(self) -> None:
        """Answer the held requests, and answer the next ones at once."""
        held, self._held = self._held, None
        if held is not None:
            held[0].set()

    def set_latency(self, seconds: float) -> None:
        self.latency = seconds

    async def _injected(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse | None:
        for failure in self._failures:
            if failure.remaining > 0 and (failure.path_contains is None or failure.path_contains in rec.path):
                failure.remaining -= 1
                return await failure.answer(request, rec)
        self._failures = [f for f in self._failures if f.remaining > 0]
        return None

    @staticmethod
    def _status_error(status: int) -> web.Response:
        if status == 429:
            return _error(429, "42900", "API Capacity Exceeded", "Too many requests")
        if status >= 500:
            return _error(status, f"{status}00", "Upstream Service Error", "An internal error occurred")
        if status == 403:
            return _forbidden()
        return _error(status, f"{status}00", "Error")

    def _over_rate(self) -> bool:
        if self._rate is None:
            return False
        now = self.clock()
        self._bucket = min(self._burst, self._bucket + (now - self._bucket_at) * self._rate)
        self._bucket_at = now
        if self._bucket < 1.0:
            return True
        self._bucket -= 1.0
        return False

    # ------------------------------------------------------------------ inspection

    def count(self, method: str | None = None, path_prefix: str | None = None) -> int:
        return sum(
            1
            for r in self.requests
            if (method is None or r.method == method.upper())
            and (path_prefix is None or r.path.startswith(path_prefix))
        )

    def reset_requests(self) -> None:
        self.requests.clear()

    def requests_summary(self) -> list[dict[str, Any]]:
        """Recorded requests without headers or bodies' bytes (for the admin API)."""
        return [{k: v for k, v in asdict(r).items() if k not in ("headers", "body")} for r in self.requests]

    # ------------------------------------------------------------------ HTTP

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.path.startswith("/_admin/"):
            return await self._admin(request)
        body = await request.read()
        parsed: Any = None
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            raw_query=request.query_string,
            json=parsed,
            body=body,
            headers=dict(request.headers),
            timestamp=self.clock(),
        )
        self.requests.append(record)
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            response = await self._respond(request, record)
            for lost in self._lost:
                if lost[0] > 0 and (lost[1] is None or lost[1] in record.path):
                    lost[0] -= 1
                    response = _failure(int(lost[2]), None)
                    break
        finally:
            self.in_flight -= 1
        record.status = response.status
        return response

    async def _respond(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        fault = self._faults.draw(rec.path) if self._faults is not None else None  # in arrival order
        if self._held is not None and self._held[1] in rec.path:
            await self._held[0].wait()
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        injected = fault if fault is not None else await self._injected(request, rec)
        if injected is not None:
            return injected
        if self._over_rate():
            return self._status_error(429)
        if not self._developer_token_ok(request):
            return web.Response(status=401)

        path = rec.path
        if path.rstrip("/") == "/v1/me/storefront":
            return self._storefront(request)
        if m := _RATINGS_MANY.match(path):
            return self._ratings_many(request, m.group(1), rec)
        if m := _RATINGS_ONE.match(path):
            return self._ratings_one(request, m.group(1), m.group(2), rec)
        if _LIBRARY_PLAYLISTS.match(path):
            return self._library_playlists(request, rec)
        if _LIBRARY_FOLDERS.match(path):
            return self._library_folders(request, rec)
        if m := _LIBRARY_PLAYLIST_TRACKS.match(path):
            return self._library_playlist_tracks(request, m.group(1), rec)
        if m := _LIBRARY_PLAYLIST.match(path):
            return self._library_playlist(request, m.group(1))
        if m := _CATALOG_SEARCH.match(path):
            return self._search(request, m.group(1))
        if m := _CATALOG_TRACKS.match(path):
            return self._catalog_tracks(request, m.group(1), m.group(2), m.group(3))
        if m := _CATALOG_MANY.match(path):
            return self._catalog_many(request, m.group(1), m.group(2))
        if m := _CATALOG_ONE.match(path):
            return self._catalog_one(request, m.group(1), m.group(2), m.group(3))
        return _not_found("No such path")

    def _developer_token_ok(self, request: web.Request) -> bool:
        auth = request.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme != "Bearer" or not token:
            return False
        claims = self._verified.get(token)
        if claims is None:
            try:
                header = jwt.get_unverified_header(token)
                claims = jwt.decode(
                    token,
                    self.public_key_pem,
                    algorithms=["ES256"],
                    options={"require": ["exp", "iat", "iss"], "verify_exp": True, "verify_iat": True},
                )
            except jwt.PyJWTError:
                return False
            if header.get("kid") != self.key_id or claims.get("iss") != self.team_id:
                return False
            if not isinstance(claims.get("exp"), int) or not isinstance(claims.get("iat"), int):
                return False
            if claims["exp"] - claims["iat"] >= JWT_MAX_AHEAD:
                return False
            self._verified[token] = claims
        now = time.time()
        if claims["exp"] <= now or claims["exp"] - now >= JWT_MAX_AHEAD:
            return False
        origins = claims.get("origin")
        origin = request.headers.get("Origin")
        return not (isinstance(origins, list) and origin is not None and origin not in origins)

    def _user(self, request: web.Request) -> _User | web.Response:
        token = request.headers.get("Music-User-Token")
        user = self._users.get(token) if token else None
        if user is None or user.revoked:
            return _forbidden()
        if user.remaining is not None:
            if user.remaining <= 0:
                user.revoked = True
                return _forbidden()
            user.remaining -= 1
        return user

    def _storefront(self, request: web.Request) -> web.Response:
        if request.method != "GET":
            return _error(405, "40500", "Method Not Allowed")
        user = self._user(request)
        if isinstance(user, web.Response):
            return user
        name, default, supported = STOREFRONTS.get(user.storefront, (user.storefront.upper(), "en-US", ["en-US"]))
        return web.json_response(
            {
                "data": [
                    {
                        "id": user.storefront,
                        "type": "storefronts",
                        "href": f"/v1/storefronts/{user.storefront}",
                        "attributes": {
                            "name": name,
                            "defaultLanguageTag": default,
                            "supportedLanguageTags": supported,
                            "explicitContentPolicy": "allowed",
                        },
                    }
                ]
            }
        )

    def _rating_user(self, request: web.Request, rtype: str) -> _User | web.Response:
        if rtype not in RATING_TYPES:
            return _bad_path(rtype)
        return self._subscriber(request)

    @staticmethod
    def _rating_resource(rtype: str, rid: str, value: int) -> dict[str, Any]:
        return {
            "id": rid,
            "type": "ratings",
            "href": f"/v1/me/ratings/{rtype}/{rid}",
            "attributes": {"value": value},
        }

    def _ratings_many(self, request: web.Request, rtype: str, rec: RecordedRequest) -> web.Response:
        user = self._rating_user(request, rtype)
        if isinstance(user, web.Response):
            return user
        if request.method != "GET":
            return _error(405, "40500", "Method Not Allowed")
        ids = rec.ids
        if not ids:
            return _error(400, "40002", "Missing Parameter", "A value for 'ids' is required", "ids")
        if len(ids) > MAX_RATING_IDS:
            return _error(400, "40005", "Invalid Parameter Value", "Too many ids", "ids")
        data = []
        for rid in dict.fromkeys(ids):
            value = user.ratings.get(self._key(user, rtype, rid))
            if value is not None:
                data.append(self._rating_resource(rtype, rid, value))
        return web.json_response({"data": data})

    def _ratings_one(self, request: web.Request, rtype: str, rid: str, rec: RecordedRequest) -> web.Response:
        user = self._rating_user(request, rtype)
        if isinstance(user, web.Response):
            return user
        key = self._key(user, rtype, rid)
        if request.method == "GET":
            value = user.ratings.get(key)
            if value is None:
                return _not_found()
            return web.json_response({"data": [self._rating_resource(rtype, rid, value)]})
        if request.method == "PUT":
            body = rec.json
            if not isinstance(body, dict) or body.get("type") not in ("rating", "ratings"):
                return _error(400, "40007", "Invalid Request Body", "Expected a rating request body")
            attrs = body.get("attributes")
            value = attrs.get("value") if isinstance(attrs, dict) else None
            if type(value) is not int or value not in (1, -1):
                return _error(400, "40005", "Invalid Parameter Value", "Rating value must be 1 or -1")
            user.ratings[key] = value
            return web.json_response({"data": [self._rating_resource(rtype, rid, value)]})
        if request.method == "DELETE":
            if user.ratings.pop(key, None) is None:
                return _not_found()
            return web.Response(status=204)
        return _error(405, "40500", "Method Not Allowed")

    # library playlists -----------------------------------------------------

    def _subscriber(self, request: web.Request) -> _User | web.Response:
        """The user of a personal request: 403 without a valid music user token, 401 without a subscription."""
        user = self._user(request)
        if isinstance(user, web.Response):
            return user
        if not user.subscription:
            return web.Response(status=401)
        return user

    @staticmethod
    def _json_body(request: web.Request, rec: RecordedRequest) -> dict[str, Any] | web.Response:
        if request.content_type != "application/json":
            return _error(
                400, "40007", "Invalid Request Body", "The body must be JSON (Content-Type: application/json)"
            )
        if not isinstance(rec.json, dict):
            return _error(400, "40007", "Invalid Request Body", "Expected a JSON object")
        return rec.json

    def _creation(
        self, request: web.Request, rec: RecordedRequest, what: str
    ) -> tuple[dict[str, Any], str] | web.Response:
        """A create request (POST only): its JSON body and its non-blank ``attributes.name``, or the refusal."""
        if request.method != "POST":
            return _error(405, "40500", "Method Not Allowed")
        body = self._json_body(request, rec)
        if isinstance(body, web.Response):
            return body
        attrs = body.get("attributes")
        name = attrs.get("name") if isinstance(attrs, dict) else None
        if not isinstance(name, str) or not name.strip():
            return _error(400, "40005", "Invalid Parameter Value", f"A {what} needs a name", "attributes.name")
        return body, name

    def _track_entries(self, user: _User, data: Any, pointer: str) -> list[tuple[str, str]] | web.Response:
        """The tracks of a request body (``[{id, type}]``) as (library type, library id), each catalog item put in
        the user's library as Apple does; any bad entry refuses the whole request (nothing is added)."""
        if not isinstance(data, list):
            return _error(400, "40007", "Invalid Request Body", f"'{pointer}' must be an array", pointer)
        entries: list[tuple[str, str]] = []
        for item in data:
            rid = item.get("id") if isinstance(item, dict) else None
            rtype = item.get("type") if isinstance(item, dict) else None
            if not isinstance(rid, str) or not rid or rtype not in TRACK_TYPES:
                return _error(
                    400,
                    "40005",
                    "Invalid Parameter Value",
                    "Each track needs an id and a song or music video type",
                    pointer,
                )
            if rtype.startswith("library-"):
                if (rtype, rid) not in user.library:
                    return _error(
                        400, "40005", "Invalid Parameter Value", f"Unknown library track '{rid[:40]}'", pointer
                    )
                entries.append((rtype, rid))
                continue
            if rid not in self.catalog[rtype]:
                return _error(400, "40005", "Invalid Parameter Value", f"Unknown track '{rid[:40]}'", pointer)
            entries.append(self._library_copy(user, rtype, rid))
        return entries

    @staticmethod
    def _library_copy(user: _User, rtype: str, rid: str) -> tuple[str, str]:
        """The user's library entry of a catalog song or music video (added on first use, like Apple does)."""
        lib_type = "library-" + rtype
        for key, target in user.library.items():
            if key[0] == lib_type and target == (rtype, rid):
                return key
        key = (lib_type, f"i.{uuid.uuid4().hex[:14]}")
        user.library[key] = (rtype, rid)
        return key

    def _playlist_resource(self, pl: _LibraryPlaylist) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            "name": pl.name,
            "canEdit": True,
            "isPublic": False,
            "hasCatalog": False,
            "playParams": {"id": pl.id, "kind": "playlist", "isLibrary": True},
        }
        if pl.description is not None:
            attrs["description"] = {"standard": pl.description}
        return {
            "id": pl.id,
            "type": "library-playlists",
            "href": f"/v1/me/library/playlists/{pl.id}",
            "attributes": attrs,
        }

    def _library_track_resource(self, user: _User, lib_type: str, lib_id: str) -> dict[str, Any]:
        ctype, cid = user.library[(lib_type, lib_id)]
        catalog = self.catalog[ctype].get(cid, {})
        kind = "song" if ctype == "songs" else "musicVideo"
        shown = ("name", "artistName", "albumName", "durationInMillis")
        attrs: dict[str, Any] = {k: catalog[k] for k in shown if k in catalog}
        attrs["playParams"] = {"id": lib_id, "kind": kind, "isLibrary": True, "catalogId": cid}
        return {"id": lib_id, "type": lib_type, "href": f"/v1/me/library/{lib_type[8:]}/{lib_id}", "attributes": attrs}

    def _visible(self, user: _User, pid: str) -> _LibraryPlaylist | None:
        pl = user.playlists.get(pid)
        return pl if pl is not None and pl.visible_at <= self.clock() else None

    def _page(self, request: web.Request, entries: list[Any], href: str) -> tuple[list[Any], str | None] | web.Response:
        limit = self._int_param(request, "limit", LIBRARY_PAGE, 1, LIBRARY_PAGE_MAX)
        offset = self._int_param(request, "offset", 0, 0, 1_000_000)
        if isinstance(limit, web.Response):
            return limit
        if isinstance(offset, web.Response):
            return offset
        nxt = f"{href}?offset={offset + limit}" if offset + limit < len(entries) else None
        return entries[offset : offset + limit], nxt

    def _library_playlists(self, request: web.Request, rec: RecordedRequest) -> web.Response:
        user = self._subscriber(request)
        if isinstance(user, web.Response):
            return user
        if request.method == "GET":
            ids = rec.ids
            if ids:
                if len(ids) > MAX_LIBRARY_PLAYLIST_IDS:
                    return _error(400, "40005", "Invalid Parameter Value", "Too many ids", "ids")
                found = [pl for pid in dict.fromkeys(ids) if (pl := self._visible(user, pid)) is not None]
                return web.json_response({"data": [self._playlist_resource(pl) for pl in found]})
            shown = sorted(
                (pl for pl in user.playlists.values() if pl.visible_at <= self.clock()), key=lambda p: p.name.lower()
            )
            page = self._page(request, shown, "/v1/me/library/playlists")
            if isinstance(page, web.Response):
                return page
            payload: dict[str, Any] = {
                "data": [self._playlist_resource(pl) for pl in page[0]],
                "meta": {"total": len(shown)},
            }
            if page[1] is not None:
                payload["next"] = page[1]
            return web.json_response(payload)
        creation = self._creation(request, rec, "playlist")
        if isinstance(creation, web.Response):
            return creation
        body, name = creation
        description = body["attributes"].get("description")
        if description is not None and not isinstance(description, str):
            return _error(400, "40005", "Invalid Parameter Value", "A description is text", "attributes.description")
        relationships = body.get("relationships") or {}
        if not isinstance(relationships, dict):
            return _error(400, "40007", "Invalid Request Body", "'relationships' must be an object")
        parent = self._parent(user, relationships.get("parent"))
        if isinstance(parent, web.Response):
            return parent
        tracks = relationships.get("tracks")
        entries: list[tuple[str, str]] | web.Response = []
        if tracks is not None:
            data = tracks.get("data") if isinstance(tracks, dict) else None
            entries = self._track_entries(user, data, "relationships.tracks.data")
        if isinstance(entries, web.Response):
            return entries
        at = self.clock() + self.library_delay
        pl = _LibraryPlaylist(
            f"p.{uuid.uuid4().hex[:14]}", name, description, parent, at, [(t, i, at) for t, i in entries]
        )
        user.playlists[pl.id] = pl
        return web.json_response({"data": [self._playlist_resource(pl)]}, status=201)

    def _parent(self, user: _User, parent: Any) -> str | web.Response | None:
        """The folder of a create request's ``relationships.parent`` (``{"data": [{id, type}]}``), or None."""
        if parent is None:
            return None
        data = parent.get("data") if isinstance(parent, dict) else None
        if not isinstance(data, list) or len(data) != 1 or not isinstance(data[0], dict):
            return _error(
                400, "40007", "Invalid Request Body", "'parent.data' holds one folder", "relationships.parent"
            )
        folder_id, folder_type = data[0].get("id"), data[0].get("type")
        if folder_type != "library-playlist-folders" or folder_id not in user.folders:
            return _error(400, "40005", "Invalid Parameter Value", "Unknown playlist folder", "relationships.parent")
        return str(folder_id)

    def _library_folders(self, request: web.Request, rec: RecordedRequest) -> web.Response:
        user = self._subscriber(request)
        if isinstance(user, web.Response):
            return user
        creation = self._creation(request, rec, "folder")
        if isinstance(creation, web.Response):
            return creation
        body, name = creation
        relationships = body.get("relationships") or {}
        parent = self._parent(user, relationships.get("parent") if isinstance(relationships, dict) else None)
        if isinstance(parent, web.Response):
            return parent
        fid = f"p.{uuid.uuid4().hex[:14]}"
        user.folders[fid] = (name, parent)
        resource = {
            "id": fid,
            "type": "library-playlist-folders",
            "href": f"/v1/me/library/playlist-folders/{fid}",
            "attributes": {"name": name},
        }
        return web.json_response({"data": [resource]}, status=201)

    def _library_playlist(self, request: web.Request, pid: str) -> web.Response:
        user = self._subscriber(request)
        if isinstance(user, web.Response):
            return user
        if request.method != "GET":  # Apple offers no way to delete or edit a library playlist
            return _error(405, "40500", "Method Not Allowed")
        pl = self._visible(user, pid)
        if pl is None:
            return _not_found()
        return web.json_response({"data": [self._playlist_resource(pl)]})

    def _library_playlist_tracks(self, request: web.Request, pid: str, rec: RecordedRequest) -> web.Response:
        user = self._subscriber(request)
        if isinstance(user, web.Response):
            return user
        if request.method == "GET":
            pl = self._visible(user, pid)
            if pl is None:
                return _not_found()
            shown = [(t, i) for t, i, at in pl.tracks if at <= self.clock()]
            page = self._page(request, shown, f"/v1/me/library/playlists/{pid}/tracks")
            if isinstance(page, web.Response):
                return page
            data = [self._library_track_resource(user, t, i) for t, i in page[0]]
            payload: dict[str, Any] = {"data": data, "meta": {"total": len(shown)}}
            if page[1] is not None:
                payload["next"] = page[1]
            return web.json_response(payload)
        if request.method != "POST":  # Apple cannot remove tracks from a playlist
            return _error(405, "40500", "Method Not Allowed")
        pl = user.playlists.get(pid)  # a playlist not yet shown in GETs still takes tracks
        if pl is None:
            return _not_found()
        body = self._json_body(request, rec)
        if isinstance(body, web.Response):
            return body
        entries = self._track_entries(user, body.get("data"), "data")
        if isinstance(entries, web.Response):
            return entries
        at = self.clock() + self.library_delay
        pl.tracks.extend((t, i, at) for t, i in entries)
        return web.Response(status=204)

    # catalog ---------------------------------------------------------------

    def _catalog_type(self, request: web.Request, sf: str, rtype: str) -> web.Response | None:
        if request.method != "GET":
            return _error(405, "40500", "Method Not Allowed")
        if not re.fullmatch(r"[a-z]{2}", sf):
            return _bad_path(sf)
        if rtype not in CATALOG_TYPES:
            return _bad_path(rtype)
        return None

    def _catalog_many(self, request: web.Request, sf: str, rtype: str) -> web.Response:
        refused = self._catalog_type(request, sf, rtype)
        if refused is not None:
            return refused
        ids = [i for i in request.query.get("ids", "").split(",") if i]
        code_filter = {"songs": "isrc", "music-videos": "isrc", "albums": "upc"}.get(rtype)
        if not ids and code_filter is not None and f"filter[{code_filter}]" in request.query:
            return self._catalog_by_code(request, sf, rtype, code_filter)
        if not ids:
            return _error(400, "40002", "Missing Parameter", "A value for 'ids' is required", "ids")
        if len(ids) > MAX_CATALOG_IDS:
            return _error(400, "40005", "Invalid Parameter Value", "Too many ids", "ids")
        known = self.catalog[rtype]
        return web.json_response({"data": [self._resource(sf, rtype, i) for i in dict.fromkeys(ids) if i in known]})

    def _catalog_by_code(self, request: web.Request, sf: str, rtype: str, code: str) -> web.Response:
        """``filter[isrc]`` (songs, music videos) / ``filter[upc]`` (albums), as Apple documents: every item with
        that code, ``data: []`` when none; one code per request here (Apple allows a comma list, not used)."""
        value = request.query.get(f"filter[{code}]", "").strip()
        if not value:
            return _error(400, "40005", "Invalid Parameter Value", f"A value for 'filter[{code}]' is required")
        include = frozenset(i for i in request.query.get("include", "").split(",") if i)
        hits = [rid for rid, attrs in self.catalog[rtype].items() if str(attrs.get(code, "")).upper() == value.upper()]
        return web.json_response({"data": [self._resource(sf, rtype, rid, include) for rid in hits]})

    def _catalog_one(self, request: web.Request, sf: str, rtype: str, rid: str) -> web.Response:
        refused = self._catalog_type(request, sf, rtype)
        if refused is not None:
            return refused
        if rid not in self.catalog[rtype]:
            return _not_found()
        return web.json_response({"data": [self._resource(sf, rtype, rid)]})

    @staticmethod
    def _int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int | web.Response:
        raw = request.query.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            return _error(400, "40005", "Invalid Parameter Value", f"Value must be an integer in {low}..{high}", name)
        return value

    def _catalog_tracks(self, request: web.Request, sf: str, rtype: str, rid: str) -> web.Response:
        refused = self._catalog_type(request, sf, rtype)
        if refused is not None:
            return refused
        if rtype not in PAGE_SIZE:
            return _not_found("No such path")
        if rid not in self.catalog[rtype]:
            return _not_found()
        size = PAGE_SIZE[rtype]
        limit = self._int_param(request, "limit", size, 1, size)
        offset = self._int_param(request, "offset", 0, 0, 1_000_000)
        if isinstance(limit, web.Response):
            return limit
        if isinstance(offset, web.Response):
            return offset
        entries = self.tracks.get((rtype, rid), [])
        page = entries[offset : offset + limit]
        payload: dict[str, Any] = {
            "data": [self._resource(sf, t, i) for t, i in page],
            "meta": {"total": len(entries)},
        }
        if offset + limit < len(entries):
            payload["next"] = f"/v1/catalog/{sf}/{rtype}/{rid}/tracks?offset={offset + limit}"
        return web.json_response(payload)

    @staticmethod
    def _haystack(attrs: dict[str, Any]) -> str:
        return " ".join(str(attrs.get(k, "")) for k in ("name", "artistName", "curatorName")).lower()

    def _search(self, request: web.Request, sf: str) -> web.Response:
        if request.method != "GET":
            return _error(405, "40500", "Method Not Allowed")
        if not re.fullmatch(r"[a-z]{2}", sf):
            return _bad_path(sf)
        term = request.query.get("term", "").strip()
        if not term:
            return _error(400, "40002", "Missing Parameter", "A value for 'term' is required", "term")
        types = [t for t in request.query.get("types", "").split(",") if t]
        if not types:
            return _error(400, "40002", "Missing Parameter", "A value for 'types' is required", "types")
        limit = self._int_param(request, "limit", 5, 1, MAX_SEARCH_LIMIT)
        offset = self._int_param(request, "offset", 0, 0, 10_000)
        if isinstance(limit, web.Response):
            return limit
        if isinstance(offset, web.Response):
            return offset
        words = [w for w in re.split(r"[\s+]+", term.lower()) if w]
        results: dict[str, Any] = {}
        for rtype in dict.fromkeys(types):
            if rtype not in CATALOG_TYPES:
                continue  # artists, curators... exist at Apple but not here: no results
            hits = [rid for rid, attrs in self.catalog[rtype].items() if all(w in self._haystack(attrs) for w in words)]
            if not hits:
                continue
            href = f"/v1/catalog/{sf}/search?limit={limit}&term={quote(term)}&types={rtype}"
            group: dict[str, Any] = {
                "href": href + (f"&offset={offset}" if offset else ""),
                "data": [self._resource(sf, rtype, rid) for rid in hits[offset : offset + limit]],
            }
            if offset + limit < len(hits):
                group["next"] = f"{href}&offset={offset + limit}"
            results[rtype] = group
        order = list(results)
        return web.json_response({"results": results, "meta": {"results": {"order": order, "rawOrder": order}}})

    # admin -----------------------------------------------------------------

    _ADMIN_OPS = frozenset(
        {
            "add_user",
            "revoke",
            "expire_after",
            "add_library_item",
            "rating",
            "set_state",
            "set_library_delay",
            "library_playlists",
            "library_folders",
            "add_song",
            "add_album",
            "add_playlist",
            "add_music_video",
            "add_station",
            "fail_next",
            "redirect_next",
            "huge_body_next",
            "inject_faults",
            "lose_answer_next",
            "stop_faults",
            "rate_limit",
            "set_latency",
            "count",
            "reset_requests",
            "requests_summary",
        }
    )

    async def _admin(self, request: web.Request) -> web.Response:
        op = request.path.removeprefix("/_admin/").strip("/")
        return await call_admin_op(request, op, self, self._ADMIN_OPS)

    def seed(self, config: dict[str, Any]) -> None:
        """Apply a JSON seed: {"users": [{"token":..}], "songs": [{..}], "albums": [..], "playlists": [..],
        "music_videos": [..], "stations": [..], "latency": 0.0, "rate_limit": null}."""
        for user in config.get("users", []):
            self.add_user(**user)
        for key, adder in (
            ("songs", self.add_song),
            ("music_videos", self.add_music_video),
            ("albums", self.add_album),
            ("playlists", self.add_playlist),
            ("stations", self.add_station),
        ):
            for item in config.get(key, []):
                adder(**item)
        self.latency = float(config.get("latency", 0.0))
        if config.get("rate_limit") is not None:
            self.rate_limit(float(config["rate_limit"]))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m loopback.apple", description="Loopback Apple Music API for tests and benchmarks"
    )
    parser.add_argument("--public-key", required=True, help="PEM file of the trusted ES256 public key")
    parser.add_argument("--team-id", required=True)
    parser.add_argument("--key-id", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--config", help="JSON seed file (users, catalog, latency, rate_limit)")
    args = parser.parse_args(argv)
    server = LoopbackApple(Path(args.public_key).read_text(), args.team_id, args.key_id, host=args.host, port=args.port)
    if args.config:
        server.seed(json.loads(Path(args.config).read_text()))

    async def start() -> str:
        await server.start()
        return server.base_url

    run(start, server.close)


if __name__ == "__main__":
    main()
