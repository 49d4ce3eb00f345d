"""What matching a link of another service gives: an Apple Music item, how it was found and how sure it is."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.applemusic import ItemRef, ResourceType

from .links import ForeignLink

__all__ = ["Match", "MatchMethod", "listen_elsewhere_url"]


class MatchMethod(StrEnum):
    """How a link was matched, most trusted first."""

    APPLE = "apple"  # it was an Apple Music link already
    ISRC = "isrc"  # the song's recording code, as the source gave it, found in Apple's catalog
    UPC = "upc"  # the album's barcode, as the source gave it, found in Apple's catalog
    ODESLI = "odesli"  # song.link's mapping of the link to Apple Music
    TITLE = "title"  # Apple catalog search by the title and artist the source's page shows


@dataclass(frozen=True, slots=True)
class Match:
    """An Apple Music item matched to a shared link. ``confidence`` is 0..1 (1.0 for ISRC/UPC/Apple; see
    ``bot.crossref.score`` for title matches); ``title``/``artist`` are the Apple item's, when known;
    ``elsewhere_url`` a song.link page listing the item on other services."""

    ref: ItemRef
    method: MatchMethod
    confidence: float
    title: str | None
    artist: str | None
    source: ForeignLink
    elsewhere_url: str | None


def listen_elsewhere_url(ref: ItemRef) -> str:
    """The song.link page of an Apple Music item (Odesli's documented short forms: ``song.link/i/<id>`` for a
    song, ``album.link/i/<id>`` for an album; any other kind gets its song.link page by Apple URL)."""
    if ref.type is ResourceType.ALBUMS:
        return f"https://album.link/i/{ref.id}"
    if ref.type is ResourceType.SONGS:
        return f"https://song.link/i/{ref.id}"
    kind = ref.type.label.replace(" ", "-")
    return f"https://song.link/https://music.apple.com/us/{kind}/{ref.id}"
