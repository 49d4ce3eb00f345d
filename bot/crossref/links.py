"""Music links of other services in a chat message -> typed :class:`ForeignLink` values.

:func:`find_music_link` finds the first Apple Music *or* foreign music link in any text and never raises.
Only links of the services' own hosts are recognised, each by its documented or observed public forms:

=============  ==========================================================================================
service        forms
=============  ==========================================================================================
spotify        ``open.spotify.com/[intl-xx/][embed/]{track|album}/<22 base62>`` (``?si=`` is noise),
               ``play.spotify.com/...``, ``spotify:{track|album}:<id>``; short: ``spotify.link/<code>``,
               ``spotify.app.link/<code>``
youtube        ``[www.|m.]youtube.com/watch?v=<11>``, ``/shorts/<11>``, ``/embed/<11>``, ``/live/<11>``,
               ``youtu.be/<11>`` (a video: ``kind="unknown"``)
youtube-music  ``music.youtube.com/watch?v=<11>`` (song), ``/playlist?list=OLAK5uy_...`` and
               ``/browse/MPREb_...`` (album)
deezer         ``[www.]deezer.com/[xx/]{track|album}/<digits>``; short: ``deezer.page.link/<code>``,
               ``link.deezer.com/s/<code>``
tidal          ``[listen.]tidal.com/[browse/]{track|album}/<digits>[/u]``
soundcloud     ``[m.|www.]soundcloud.com/<user>/<track>`` (song), ``/<user>/sets/<set>`` (album);
               short: ``on.soundcloud.com/<code>``
amazon-music   ``music.amazon.<tld>/albums/<ASIN>[?trackAsin=<ASIN>]``, ``/tracks/<ASIN>``,
               ``[www.]amazon.<tld>/music/player/{albums|tracks}/<ASIN>``
=============  ==========================================================================================

A short link keeps its original URL (``kind="unknown"``, ``id`` the code); the resolver expands it by following
its redirect. ``amzn.to`` is not recognised: it is Amazon's shortener for everything, not a music link.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qsl, urlsplit

from bot import applemusic as am
from bot.applemusic.links import trim_link

__all__ = [
    "MAX_LINKS_PER_MESSAGE",
    "SERVICES",
    "SHORT_LINK_HOSTS",
    "ForeignLink",
    "find_music_link",
    "find_music_links",
    "parse_foreign_link",
]

#: the services a :class:`ForeignLink` names
SERVICES: Final = ("spotify", "youtube", "youtube-music", "deezer", "tidal", "soundcloud", "amazon-music")
#: how many links of one message are looked at (a stranger's message can hold hundreds)
MAX_LINKS_PER_MESSAGE: Final = 5
_MAX_TEXT: Final = 4000  # a Discord message is at most 4000 characters (Nitro); longer input is cut

#: short-link hosts, by service: what the resolver expands, and the hosts a redirect may lead to
SHORT_LINK_HOSTS: Final[dict[str, frozenset[str]]] = {
    "spotify": frozenset({"spotify.link", "spotify.app.link"}),
    "deezer": frozenset({"deezer.page.link", "link.deezer.com"}),
    "soundcloud": frozenset({"on.soundcloud.com"}),
}

_SPOTIFY_ID = re.compile(r"[0-9A-Za-z]{22}")
_YOUTUBE_ID = re.compile(r"[0-9A-Za-z_-]{11}")
_DIGITS = re.compile(r"[0-9]{1,20}")
_ASIN = re.compile(r"[0-9A-Z]{10}")
_SHORT_CODE = re.compile(r"[0-9A-Za-z_-]{1,64}")
_SC_NAME = re.compile(r"[0-9A-Za-z_-]{1,100}")
_YTM_ALBUM_LIST = re.compile(r"OLAK5uy_[0-9A-Za-z_-]{1,100}")
_YTM_BROWSE = re.compile(r"MPREb_[0-9A-Za-z_-]{1,100}")
_LANG = re.compile(r"[a-z]{2}(?:-[a-z]{2})?", re.IGNORECASE)
#: SoundCloud's own pages that are not ``<user>/<track>``
_SC_RESERVED_USERS = frozenset(
    {
        "discover",
        "stream",
        "search",
        "you",
        "upload",
        "charts",
        "settings",
        "messages",
        "notifications",
        "pages",
        "jobs",
        "mobile",
        "imprint",
        "terms-of-use",
        "pro",
        "tags",
        "people",
        "popular",
        "signin",
        "logout",
        "feed",
    }
)
_SC_RESERVED_TRACKS = frozenset(
    {
        "tracks",
        "albums",
        "sets",
        "likes",
        "reposts",
        "followers",
        "following",
        "popular-tracks",
        "comments",
        "spotlight",
        "stations",
        "playlists",
    }
)
_AMAZON_TLDS = frozenset(
    {"com", "co.uk", "de", "fr", "it", "es", "co.jp", "ca", "com.au", "com.br", "com.mx", "in", "nl", "se", "pl"}
)

# A link in prose: optional scheme, a host of a known service, then anything up to whitespace or a delimiter;
# or a Spotify URI. Hosts are matched loosely here and checked exactly by the parser.
_CANDIDATE = re.compile(
    r"(?<![\w.@-])(?:(?:https?://)?(?:[a-z0-9-]{1,63}\.){0,3}"
    r"(?:spotify\.com|spotify\.link|spotify\.app\.link|youtube\.com|youtu\.be|deezer\.com|deezer\.page\.link"
    r"|tidal\.com|soundcloud\.com|amazon\.(?:com|co\.uk|de|fr|it|es|co\.jp|ca|com\.au|com\.br|com\.mx|in|nl|se|pl)"
    r"|(?:music|itunes)\.apple\.com)"
    r"(?:[/?#][^\s<>|`\"'\[\]{}]*)?"
    r"|spotify:(?:track|album):[0-9A-Za-z]{22})",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class ForeignLink:
    """A song or album of another music service, named by a link a member shared.

    ``kind`` is ``"song"``, ``"album"`` or ``"unknown"`` (a YouTube video may be a song; a short link is not
    known until expanded). ``url`` is the canonical URL (what outside services are asked with); a short link
    keeps its original URL.
    """

    service: str
    kind: str
    id: str
    url: str

    @property
    def is_short(self) -> bool:
        """A short link, which the resolver expands by following its redirect."""
        host = (urlsplit(self.url).hostname or "").lower()
        return host in SHORT_LINK_HOSTS.get(self.service, frozenset())


def find_music_link(text: str) -> am.ShareLink | ForeignLink | None:
    """The first Apple Music or other-service music link in a message, or None. Never raises."""
    found = find_music_links(text, limit=1)
    return found[0] if found else None


def find_music_links(text: str, limit: int = MAX_LINKS_PER_MESSAGE) -> list[am.ShareLink | ForeignLink]:
    """The Apple Music and other-service music links in a message, in order, each once, at most ``limit``.
    Never raises."""
    if not isinstance(text, str) or limit < 1:
        return []
    found: list[am.ShareLink | ForeignLink] = []
    for match in _CANDIDATE.finditer(text[:_MAX_TEXT]):
        link = _parse_candidate(trim_link(match.group(0)))
        if link is not None and link not in found:
            found.append(link)
            if len(found) >= limit:
                break
    return found


def parse_foreign_link(text: str) -> ForeignLink | None:
    """One other-service link (a URL or a ``spotify:`` URI), or None when it is not one. Never raises."""
    try:
        return _parse_foreign(text.strip().removeprefix("<").removesuffix(">").strip())
    except (ValueError, AttributeError):
        return None


def _parse_candidate(candidate: str) -> am.ShareLink | ForeignLink | None:
    foreign = parse_foreign_link(candidate)
    if foreign is not None:
        return foreign
    try:
        return am.parse_link(candidate)
    except am.InvalidLink:
        return None


def _parse_foreign(s: str) -> ForeignLink | None:
    if len(s) > 2000 or not s:
        return None
    if s[:8].lower() == "spotify:":
        return _spotify_uri(s)
    if "://" not in s:
        s = "https://" + s
    parts = urlsplit(s)
    if parts.scheme.lower() not in ("http", "https"):
        return None
    host = (parts.hostname or "").lower().rstrip(".")
    segments = [seg for seg in parts.path.split("/") if seg]
    query = dict(parse_qsl(parts.query))
    for service, hosts in SHORT_LINK_HOSTS.items():
        if host in hosts:
            return _short(service, host, segments)
    if host.startswith("www."):
        host = host[4:]
    if host in ("open.spotify.com", "play.spotify.com"):
        return _spotify(segments)
    if host in ("youtube.com", "m.youtube.com", "youtu.be"):
        return _youtube(host, segments, query)
    if host == "music.youtube.com":
        return _youtube_music(segments, query)
    if host == "deezer.com":
        return _deezer(segments)
    if host in ("tidal.com", "listen.tidal.com"):
        return _tidal(segments)
    if host in ("soundcloud.com", "m.soundcloud.com"):
        return _soundcloud(segments)
    if host.startswith("music.amazon.") and host.removeprefix("music.amazon.") in _AMAZON_TLDS:
        return _amazon(host, segments, query)
    if (
        host.startswith("amazon.")
        and host.removeprefix("amazon.") in _AMAZON_TLDS
        and segments[:2]
        == [
            "music",
            "player",
        ]
    ):
        return _amazon("music." + host, segments[2:], query)
    return None


def _kind(word: str) -> str | None:
    return {"track": "song", "album": "album"}.get(word.lower())


def _spotify_uri(s: str) -> ForeignLink | None:
    parts = s.split(":")
    if len(parts) != 3 or _kind(parts[1]) is None or not _SPOTIFY_ID.fullmatch(parts[2]):
        return None
    return _spotify_link(parts[1].lower(), parts[2])


def _spotify_link(word: str, sid: str) -> ForeignLink:
    kind = _kind(word) or "unknown"
    return ForeignLink("spotify", kind, sid, f"https://open.spotify.com/{word}/{sid}")


def _spotify(segments: list[str]) -> ForeignLink | None:
    if segments and segments[0].lower().startswith("intl-"):
        segments = segments[1:]
    if segments and segments[0].lower() == "embed":
        segments = segments[1:]
    if len(segments) < 2 or _kind(segments[0]) is None or not _SPOTIFY_ID.fullmatch(segments[1]):
        return None
    return _spotify_link(segments[0].lower(), segments[1])


def _short(service: str, host: str, segments: list[str]) -> ForeignLink | None:
    if host == "link.deezer.com":  # link.deezer.com/s/<code>
        if len(segments) != 2 or segments[0] != "s":
            return None
        segments = segments[1:]
    if len(segments) != 1 or not _SHORT_CODE.fullmatch(segments[0]):
        return None
    path = "/".join(["s", segments[0]] if host == "link.deezer.com" else segments)
    return ForeignLink(service, "unknown", segments[0], f"https://{host}/{path}")


def _youtube(host: str, segments: list[str], query: dict[str, str]) -> ForeignLink | None:
    vid: str | None = None
    if host == "youtu.be":
        vid = segments[0] if len(segments) == 1 else None
    elif segments == ["watch"]:
        vid = query.get("v")
    elif len(segments) == 2 and segments[0] in ("shorts", "embed", "live", "v"):
        vid = segments[1]
    if vid is None or not _YOUTUBE_ID.fullmatch(vid):
        return None
    return ForeignLink("youtube", "unknown", vid, f"https://www.youtube.com/watch?v={vid}")


def _youtube_music(segments: list[str], query: dict[str, str]) -> ForeignLink | None:
    if segments == ["watch"]:
        vid = query.get("v", "")
        if _YOUTUBE_ID.fullmatch(vid):
            return ForeignLink("youtube-music", "song", vid, f"https://music.youtube.com/watch?v={vid}")
        return None
    if segments == ["playlist"]:
        lid = query.get("list", "")
        if _YTM_ALBUM_LIST.fullmatch(lid):
            return ForeignLink("youtube-music", "album", lid, f"https://music.youtube.com/playlist?list={lid}")
        return None
    if len(segments) == 2 and segments[0] == "browse" and _YTM_BROWSE.fullmatch(segments[1]):
        return ForeignLink("youtube-music", "album", segments[1], f"https://music.youtube.com/browse/{segments[1]}")
    return None


def _deezer(segments: list[str]) -> ForeignLink | None:
    if segments and _LANG.fullmatch(segments[0]):
        segments = segments[1:]
    if len(segments) != 2 or _kind(segments[0]) is None or not _DIGITS.fullmatch(segments[1]):
        return None
    word = segments[0].lower()
    return ForeignLink("deezer", _kind(word) or "unknown", segments[1], f"https://www.deezer.com/{word}/{segments[1]}")


def _tidal(segments: list[str]) -> ForeignLink | None:
    if segments and segments[0] == "browse":
        segments = segments[1:]
    if segments[2:] == ["u"]:
        segments = segments[:2]
    if len(segments) != 2 or _kind(segments[0]) is None or not _DIGITS.fullmatch(segments[1]):
        return None
    word = segments[0].lower()
    return ForeignLink("tidal", _kind(word) or "unknown", segments[1], f"https://tidal.com/browse/{word}/{segments[1]}")


def _soundcloud(segments: list[str]) -> ForeignLink | None:
    if len(segments) == 2:
        user, name = segments
        if user.lower() in _SC_RESERVED_USERS or name.lower() in _SC_RESERVED_TRACKS:
            return None
        kind, path = "song", f"{user}/{name}"
    elif len(segments) == 3 and segments[1] == "sets":
        user, name = segments[0], segments[2]
        if user.lower() in _SC_RESERVED_USERS:
            return None
        kind, path = "album", f"{user}/sets/{name}"
    else:
        return None
    if not (_SC_NAME.fullmatch(user) and _SC_NAME.fullmatch(name)):
        return None
    path = path.lower()
    return ForeignLink("soundcloud", kind, path, f"https://soundcloud.com/{path}")


def _amazon(host: str, segments: list[str], query: dict[str, str]) -> ForeignLink | None:
    if len(segments) != 2 or segments[0] not in ("albums", "tracks") or not _ASIN.fullmatch(segments[1]):
        return None
    album_or_track = segments[1]
    if segments[0] == "tracks":
        return ForeignLink("amazon-music", "song", album_or_track, f"https://{host}/tracks/{album_or_track}")
    track = query.get("trackAsin", "")
    if _ASIN.fullmatch(track):
        url = f"https://{host}/albums/{album_or_track}?trackAsin={track}"
        return ForeignLink("amazon-music", "song", track, url)
    return ForeignLink("amazon-music", "album", album_or_track, f"https://{host}/albums/{album_or_track}")
