"""The nine kinds of Apple Music items a user can rate, valued as their ratings path segments."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["CATALOG_TYPES", "LIBRARY_TYPES", "ItemRef", "ResourceType"]


class ResourceType(StrEnum):
    """A ratable resource type. The value is the path segment of `/v1/me/ratings/{type}`."""

    SONGS = "songs"
    ALBUMS = "albums"
    MUSIC_VIDEOS = "music-videos"
    PLAYLISTS = "playlists"
    STATIONS = "stations"
    LIBRARY_SONGS = "library-songs"
    LIBRARY_ALBUMS = "library-albums"
    LIBRARY_MUSIC_VIDEOS = "library-music-videos"
    LIBRARY_PLAYLISTS = "library-playlists"

    @property
    def is_library(self) -> bool:
        """True for the `library-*` types (ids from the user's own library)."""
        return self.value.startswith("library-")

    @property
    def catalog_twin(self) -> ResourceType:
        """The catalog type of the same kind (`library-songs` -> `songs`); catalog types return self."""
        if self.is_library:
            return ResourceType(self.value.removeprefix("library-"))
        return self

    @property
    def library_twin(self) -> ResourceType | None:
        """The library type of the same kind of item; None for stations (there is no `library-stations`)."""
        if self.is_library:
            return self
        try:
            return ResourceType("library-" + self.value)
        except ValueError:
            return None

    @property
    def label(self) -> str:
        """Singular human label: "song", "music video", "library album"."""
        base = self.catalog_twin.value.removesuffix("s").replace("-", " ")
        return f"library {base}" if self.is_library else base

    @property
    def plural_label(self) -> str:
        """Plural human label: "songs", "library playlists"."""
        return self.label + "s"

    @classmethod
    def parse(cls, text: str) -> ResourceType:
        """Accept a value (`library-songs`), a member name (`LIBRARY_SONGS`) or a label (`library song`).

        Raises `ValueError` with a short message for anything else.
        """
        key = text.strip().lower().replace("_", "-").replace(" ", "-")
        for candidate in (key, key + "s"):
            try:
                return cls(candidate)
            except ValueError:
                continue
        raise ValueError(f"unknown Apple Music resource type {text[:40]!r}")


CATALOG_TYPES: tuple[ResourceType, ...] = tuple(t for t in ResourceType if not t.is_library)
LIBRARY_TYPES: tuple[ResourceType, ...] = tuple(t for t in ResourceType if t.is_library)


@dataclass(frozen=True, slots=True)
class ItemRef:
    """One Apple Music item: its type and id (what a rating, a card or a matched link names)."""

    type: ResourceType
    id: str

    @property
    def key(self) -> str:
        """Compact form used as an autocomplete value: ``songs:1613600188``."""
        return f"{self.type.value}:{self.id}"
