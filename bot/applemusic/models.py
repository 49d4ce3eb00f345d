"""Typed values parsed from Apple Music API resources. Parsing is lenient: missing attributes become None."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from .types import ResourceType

__all__ = ["Artwork", "CatalogItem", "Rating", "Storefront"]

_HEX_COLOUR = re.compile(r"^[0-9a-fA-F]{6}$")


def _str(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    return value if isinstance(value, str) else None


def _int(raw: Mapping[str, Any], key: str) -> int | None:
    value = raw.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _bool(raw: Mapping[str, Any], key: str) -> bool | None:
    value = raw.get(key)
    return value if isinstance(value, bool) else None


def _data_of(raw: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    data = raw.get("data")
    return [d for d in data if isinstance(d, Mapping)] if isinstance(data, list) else []


def _mapping(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = raw.get(key)
    return value if isinstance(value, Mapping) else {}


@dataclass(frozen=True, slots=True)
class Rating:
    """A personal rating: `value` is 1 (like) or -1 (dislike)."""

    id: str
    type: ResourceType
    value: int

    @property
    def liked(self) -> bool:
        return self.value == 1

    @property
    def disliked(self) -> bool:
        return self.value == -1

    @classmethod
    def from_api(cls, raw: Mapping[str, Any], type: ResourceType) -> Rating | None:
        """Parse one rating resource; None when it has no usable id/value."""
        rid = _str(raw, "id")
        value = _int(_mapping(raw, "attributes"), "value")
        if rid is None or value not in (1, -1):
            return None
        return cls(id=rid, type=type, value=value)


@dataclass(frozen=True, slots=True)
class Artwork:
    """Artwork with a URL template containing `{w}` and `{h}` (and sometimes `{f}`) placeholders."""

    url_template: str
    width: int | None = None
    height: int | None = None
    bg_color: str | None = None
    text_color1: str | None = None
    text_color2: str | None = None
    text_color3: str | None = None
    text_color4: str | None = None

    def url(self, width: int = 600, height: int | None = None, *, format: str = "jpg") -> str:
        """The template filled for `width` x `height` (square by default), never larger than the original."""
        if width <= 0 or (height is not None and height <= 0):
            raise ValueError("artwork size must be positive")
        h = width if height is None else height
        w = width
        if self.width and w > self.width:
            w = self.width
        if self.height and h > self.height:
            h = self.height
        return self.url_template.replace("{w}", str(w)).replace("{h}", str(h)).replace("{f}", format)

    @staticmethod
    def colour_value(hex_colour: str | None) -> int | None:
        """`"fa5fb3"` -> 0xFA5FB3 (what an embed colour wants); None when absent or malformed."""
        if hex_colour is None or not _HEX_COLOUR.fullmatch(hex_colour):
            return None
        return int(hex_colour, 16)

    @property
    def bg_colour(self) -> int | None:
        """The background colour as an int, for an embed colour."""
        return self.colour_value(self.bg_color)

    @classmethod
    def from_api(cls, raw: Mapping[str, Any]) -> Artwork | None:
        url = _str(raw, "url")
        if not url:
            return None
        return cls(
            url_template=url,
            width=_int(raw, "width"),
            height=_int(raw, "height"),
            bg_color=_str(raw, "bgColor"),
            text_color1=_str(raw, "textColor1"),
            text_color2=_str(raw, "textColor2"),
            text_color3=_str(raw, "textColor3"),
            text_color4=_str(raw, "textColor4"),
        )


@dataclass(frozen=True, slots=True)
class CatalogItem:
    """A catalog song, album, music video, playlist or station (the fields an embed needs)."""

    id: str
    type: ResourceType
    name: str
    artist_name: str | None = None
    album_name: str | None = None
    curator_name: str | None = None
    url: str | None = None
    artwork: Artwork | None = None
    duration_ms: int | None = None
    release_date: str | None = None
    track_number: int | None = None
    track_count: int | None = None
    preview_url: str | None = None
    genre_names: tuple[str, ...] = ()
    isrc: str | None = None
    upc: str | None = None
    #: an album's kind (None when Apple did not say)
    is_compilation: bool | None = None
    is_single: bool | None = None
    #: a song's album, when asked with ``include=albums``
    album: CatalogItem | None = None

    @property
    def duration(self) -> timedelta | None:
        return None if self.duration_ms is None else timedelta(milliseconds=self.duration_ms)

    @property
    def byline(self) -> str | None:
        """Who made it: the artist, or a playlist's curator."""
        return self.artist_name or self.curator_name

    @classmethod
    def from_api(cls, raw: Mapping[str, Any], fallback_type: ResourceType | None = None) -> CatalogItem | None:
        """Parse one catalog resource; None when it has no id or an unratable type (artists, curators...)."""
        rid = _str(raw, "id")
        type_text = _str(raw, "type")
        rtype: ResourceType | None = fallback_type
        if type_text is not None:
            try:
                rtype = ResourceType(type_text)
            except ValueError:
                return None
        if rid is None or rtype is None:
            return None
        attrs = _mapping(raw, "attributes")
        previews = attrs.get("previews")
        preview_url = None
        if isinstance(previews, list) and previews and isinstance(previews[0], Mapping):
            preview_url = _str(previews[0], "url")
        genres = attrs.get("genreNames")
        albums = _data_of(_mapping(_mapping(raw, "relationships"), "albums"))
        album = cls.from_api(albums[0], ResourceType.ALBUMS) if albums and rtype is not ResourceType.ALBUMS else None
        return cls(
            id=rid,
            type=rtype,
            name=_str(attrs, "name") or "",
            artist_name=_str(attrs, "artistName"),
            album_name=_str(attrs, "albumName"),
            curator_name=_str(attrs, "curatorName"),
            url=_str(attrs, "url"),
            artwork=Artwork.from_api(_mapping(attrs, "artwork")),
            duration_ms=_int(attrs, "durationInMillis"),
            release_date=_str(attrs, "releaseDate"),
            track_number=_int(attrs, "trackNumber"),
            track_count=_int(attrs, "trackCount"),
            preview_url=preview_url,
            genre_names=tuple(g for g in genres if isinstance(g, str)) if isinstance(genres, list) else (),
            isrc=_str(attrs, "isrc"),
            upc=_str(attrs, "upc"),
            is_compilation=_bool(attrs, "isCompilation"),
            is_single=_bool(attrs, "isSingle"),
            album=album,
        )


@dataclass(frozen=True, slots=True)
class LibraryPlaylist:
    """A playlist in the user's library (`library-playlists`, a `p.` id)."""

    id: str
    name: str

    @classmethod
    def from_api(cls, raw: Mapping[str, Any]) -> LibraryPlaylist | None:
        pid = _str(raw, "id")
        if pid is None or raw.get("type") not in (None, "library-playlists"):
            return None
        return cls(id=pid, name=_str(_mapping(raw, "attributes"), "name") or "")


@dataclass(frozen=True, slots=True)
class Storefront:
    """The user's storefront (country) from `/v1/me/storefront`."""

    id: str
    name: str
    default_language_tag: str
    supported_language_tags: tuple[str, ...] = ()

    @classmethod
    def from_api(cls, raw: Mapping[str, Any]) -> Storefront | None:
        sid = _str(raw, "id")
        if sid is None:
            return None
        attrs = _mapping(raw, "attributes")
        tags = attrs.get("supportedLanguageTags")
        supported = tuple(t for t in tags if isinstance(t, str)) if isinstance(tags, list) else ()
        return cls(
            id=sid,
            name=_str(attrs, "name") or sid,
            default_language_tag=_str(attrs, "defaultLanguageTag") or "",
            supported_language_tags=supported,
        )
