"""Share links and bare ids a user pastes -> (type, id, storefront).

`parse_link` raises only `InvalidLink` (a `ValueError`) whatever the input; its messages are short,
readable by a user, and never echo the input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

from .types import ResourceType

__all__ = ["FIXED_REASONS", "InvalidLink", "ShareLink", "check_id", "find_links", "parse_link", "trim_link"]

MAX_INPUT = 2000

_HOSTS = frozenset(
    {
        "music.apple.com",
        "geo.music.apple.com",
        "embed.music.apple.com",
        "beta.music.apple.com",
        "www.music.apple.com",
        "itunes.apple.com",
        "geo.itunes.apple.com",
    }
)
_KINDS = {
    "song": ResourceType.SONGS,
    "album": ResourceType.ALBUMS,
    "music-video": ResourceType.MUSIC_VIDEOS,
    "playlist": ResourceType.PLAYLISTS,
    "station": ResourceType.STATIONS,
}
_URL_KIND = {v: k for k, v in _KINDS.items()}

_NUMERIC = re.compile(r"(?:id)?([0-9]{1,20})", re.IGNORECASE)
_SUFFIX = r"[A-Za-z0-9_-]{1,100}"
_PREFIXED = {
    "pl.": (ResourceType.PLAYLISTS, re.compile(rf"pl\.{_SUFFIX}")),
    "ra.": (ResourceType.STATIONS, re.compile(rf"ra\.{_SUFFIX}")),
    "i.": (ResourceType.LIBRARY_SONGS, re.compile(rf"i\.{_SUFFIX}")),
    "l.": (ResourceType.LIBRARY_ALBUMS, re.compile(rf"l\.{_SUFFIX}")),
    "p.": (ResourceType.LIBRARY_PLAYLISTS, re.compile(rf"p\.{_SUFFIX}")),
}
_VIDEOS = ResourceType.MUSIC_VIDEOS
_CATALOG_NUMBER = re.compile(r"[0-9]{1,20}")
#: the shape of an id of each type, and how a member is told it (Apple's ids: catalog songs, albums and videos
#: are digits; playlists ``pl.``, stations ``ra.``; library ``i.`` songs and videos, ``l.`` albums, ``p.`` playlists)
_ID_SHAPES: dict[ResourceType, tuple[re.Pattern[str], str]] = {
    ResourceType.SONGS: (_CATALOG_NUMBER, "digits, like 1440857781"),
    ResourceType.ALBUMS: (_CATALOG_NUMBER, "digits, like 1440857781"),
    ResourceType.MUSIC_VIDEOS: (_CATALOG_NUMBER, "digits, like 1440857781"),
    ResourceType.PLAYLISTS: (_PREFIXED["pl."][1], "pl. followed by letters and digits"),
    ResourceType.STATIONS: (_PREFIXED["ra."][1], "ra. followed by letters and digits"),
    ResourceType.LIBRARY_SONGS: (_PREFIXED["i."][1], "i. followed by letters and digits"),
    ResourceType.LIBRARY_MUSIC_VIDEOS: (_PREFIXED["i."][1], "i. followed by letters and digits"),
    ResourceType.LIBRARY_ALBUMS: (_PREFIXED["l."][1], "l. followed by letters and digits"),
    ResourceType.LIBRARY_PLAYLISTS: (_PREFIXED["p."][1], "p. followed by letters and digits"),
}
_NUMERIC_TYPES = (ResourceType.SONGS, ResourceType.ALBUMS, ResourceType.MUSIC_VIDEOS)


def N_(text: str) -> str:
    """Marks a sentence for the bot's message catalogs (bot.i18n): the words a member reads are translated where they
    are shown (bot.ui.errors); this package stays free of Discord and of the catalogs."""
    return text


_EMPTY = N_("Paste an Apple Music link or id.")
_TOO_LONG = N_("That is too long to be an Apple Music link.")
_NOT_APPLE = N_(
    "That is not a music link I can use. Paste a link from Apple Music, Spotify, YouTube, YouTube Music, Deezer, "
    "Tidal, SoundCloud or Amazon Music."
)
_NOT_A_LINK = N_("That doesn't look like an Apple Music link or id.")
_LIBRARY = N_(
    "That is a link to someone's personal library, which only its owner can see. "
    "Share the item from the Apple Music catalog instead."
)
_ARTIST = N_("Artists can't be rated. Share a song, album, music video, playlist or station instead.")
_UNRATABLE = N_("That kind of Apple Music page can't be rated. Share a song, album, music video, playlist or station.")
_NO_ID = N_("That Apple Music link has no song, album, video, playlist or station id in it.")

#: the reasons that are whole sentences (the others name an id's shape): the ones the catalogs translate
FIXED_REASONS = frozenset({_EMPTY, _TOO_LONG, _NOT_APPLE, _NOT_A_LINK, _LIBRARY, _ARTIST, _UNRATABLE, _NO_ID})

# A link in a chat message: optional scheme, an Apple host, then anything up to whitespace or a delimiter.
_LINK_RE = re.compile(
    r"(?<![\w.@-])(?:https?://)?(?:[a-z0-9-]{1,63}\.){0,3}(?:music|itunes)\.apple\.com(?:[/?#][^\s<>|`\"'\[\]{}]*)?",
    re.IGNORECASE,
)
_TRAILING = ".,;:!?'\"*_~"


class InvalidLink(ValueError):
    """The text is not a ratable Apple Music link or id. `str()` is a sentence a user can read."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class ShareLink:
    """A ratable item named by a link or id. `storefront` is the link's country code, if it had one."""

    type: ResourceType
    id: str
    storefront: str | None = None

    @property
    def url(self) -> str | None:
        """A canonical catalog link (None for library ids, which have no public page)."""
        kind = _URL_KIND.get(self.type)
        if kind is None:
            return None
        return f"https://music.apple.com/{self.storefront or 'us'}/{kind}/{self.id}"


def parse_link(text: str, type_hint: ResourceType | None = None) -> ShareLink:
    """Parse one link or bare id. `type_hint` says what a bare number is (default: a song)."""
    if not isinstance(text, str):
        raise InvalidLink(_NOT_A_LINK)
    s = text.strip()
    if s.startswith("<") and s.endswith(">"):  # Discord's "no embed" form <https://...>
        s = s[1:-1].strip()
    if not s:
        raise InvalidLink(_EMPTY)
    if len(s) > MAX_INPUT:
        raise InvalidLink(_TOO_LONG)
    lowered = s.lower()
    if "://" in s or "/" in s or lowered.startswith(tuple(_HOSTS)):
        return _parse_url(s)
    return _parse_id(s, type_hint)


def check_id(rtype: ResourceType, item_id: str) -> str:
    """``item_id`` if it has the shape of an Apple Music id of ``rtype``; else `InvalidLink` saying which shape
    is accepted (the id itself is not echoed)."""
    pattern, shape = _ID_SHAPES[rtype]
    if not isinstance(item_id, str) or pattern.fullmatch(item_id) is None:
        raise InvalidLink(f"That is not {_a(rtype.label)} id: {rtype.label} ids are {shape}.")
    return item_id


def find_links(text: str) -> list[ShareLink]:
    """Every ratable Apple Music link in a chat message, in order, each item once. Never raises."""
    found: dict[tuple[ResourceType, str], ShareLink] = {}
    for match in _LINK_RE.finditer(text):
        candidate = trim_link(match.group(0))
        try:
            link = parse_link(candidate)
        except InvalidLink:
            continue
        found.setdefault((link.type, link.id), link)
    return list(found.values())


def _a(label: str) -> str:
    return ("an " if label[:1] in "aeiou" else "a ") + label


def trim_link(candidate: str) -> str:
    """Drop sentence punctuation and unbalanced closing brackets that follow a link in prose."""
    while candidate:
        last = candidate[-1]
        if last in _TRAILING or (last == ")" and candidate.count(")") > candidate.count("(")):
            candidate = candidate[:-1]
        else:
            break
    return candidate


def _parse_url(s: str) -> ShareLink:
    if "://" not in s:
        s = "https://" + s
    try:
        parts = urlsplit(s)
        host = (parts.hostname or "").rstrip(".")
    except ValueError:
        raise InvalidLink(_NOT_APPLE) from None
    if parts.scheme.lower() not in ("http", "https") or host not in _HOSTS:
        raise InvalidLink(_NOT_APPLE)

    segments = [seg for seg in parts.path.split("/") if seg]
    storefront: str | None = None
    if segments and len(segments[0]) == 2 and segments[0].isascii() and segments[0].isalpha():
        storefront = segments[0].lower()
        segments = segments[1:]
    if not segments:
        raise InvalidLink(_NO_ID)
    kind = unquote(segments[0]).lower()
    if kind == "library":
        raise InvalidLink(_LIBRARY)
    if kind == "artist":
        raise InvalidLink(_ARTIST)
    rtype = _KINDS.get(kind)
    if rtype is None:
        raise InvalidLink(_UNRATABLE)
    rest = segments[1:]
    if not rest or len(rest) > 2:
        raise InvalidLink(_NO_ID)
    raw_id = unquote(rest[-1]).strip()

    if rtype in _NUMERIC_TYPES:
        m = _NUMERIC.fullmatch(raw_id)
        if m is None:
            raise InvalidLink(_NO_ID)
        rid = m.group(1)
        if rtype is ResourceType.ALBUMS:
            song = _song_from_query(parts.query)
            if song is not None:
                return ShareLink(ResourceType.SONGS, song, storefront)
        return ShareLink(rtype, rid, storefront)

    prefix = "pl." if rtype is ResourceType.PLAYLISTS else "ra."
    pattern = _PREFIXED[prefix][1]
    if pattern.fullmatch(raw_id) is None:
        raise InvalidLink(_NO_ID)
    return ShareLink(rtype, raw_id, storefront)


def _song_from_query(query: str) -> str | None:
    for key, value in parse_qsl(query):
        if key == "i":
            m = _NUMERIC.fullmatch(value.strip())
            if m is not None:
                return m.group(1)
    return None


def _parse_id(s: str, type_hint: ResourceType | None) -> ShareLink:
    hint = ResourceType(type_hint) if type_hint is not None else None
    m = _NUMERIC.fullmatch(s)
    if m is not None:
        if hint is None:
            return ShareLink(ResourceType.SONGS, m.group(1))
        if hint in _NUMERIC_TYPES:
            return ShareLink(hint, m.group(1))
        raise InvalidLink(f"A number is a song, album or music video id, not {_a(hint.label)} id.")

    for prefix, (rtype, pattern) in _PREFIXED.items():
        if s.startswith(prefix):
            if pattern.fullmatch(s) is None:
                raise InvalidLink(_NOT_A_LINK)
            if rtype is ResourceType.LIBRARY_SONGS and hint is not None and hint.catalog_twin is _VIDEOS:
                rtype = ResourceType.LIBRARY_MUSIC_VIDEOS  # `i.` ids name library songs and music videos
            if hint is not None and hint.catalog_twin is not rtype.catalog_twin:
                raise InvalidLink(f"That id is {_a(rtype.label)} id, not {_a(hint.label)} id.")
            return ShareLink(rtype, s)
    raise InvalidLink(_NOT_A_LINK)
