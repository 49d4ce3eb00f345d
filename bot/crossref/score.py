"""Title matching: normalising what a page calls a song, and how sure a catalog candidate is.

``confidence = 0.6 * title + 0.4 * artist`` when the source names an artist, else ``0.75 * title`` (a title alone
never reaches the default threshold 0.8: the member is asked first); ``title`` and ``artist`` are
:func:`similarity` of the normalised names (difflib's ratio, 1.0 when equal); a candidate whose title carries a
version word (live, remix, acoustic, instrumental, karaoke, ...) that the source's title does not is worth 0.8 of
that.
"""

from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher

__all__ = ["confidence", "normalise", "similarity", "split_artist_title"]

_NOISE = re.compile(
    r"[\(\[][^\)\]]*(?:official|video|audio|lyric|lyrics|visuali[sz]er|hd|hq|4k|mv|m/v|clip|music video)[^\)\]]*[\)\]]",
    re.IGNORECASE,
)
_SUFFIX = re.compile(r"\s+-\s+(?:single|ep)\s*$", re.IGNORECASE)
_FEAT = re.compile(r"[\(\[]?\s*\b(?:feat|ft|featuring|with)\b\.?\s[^\)\]]*[\)\]]?", re.IGNORECASE)
_VERSION_WORDS = ("live", "remix", "acoustic", "instrumental", "karaoke", "sped up", "slowed", "demo", "cover")


def normalise(text: str) -> str:
    """Lower case, no diacritics, no "(Official Video)"/"[Lyrics]"/" - Single"/" - EP"/"feat. X", words only."""
    text = _SUFFIX.sub("", _NOISE.sub(" ", text))
    text = _FEAT.sub(" ", text)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold().replace("&", " and ")
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


def similarity(a: str, b: str) -> float:
    na, nb = normalise(a), normalise(b)
    if not na or not nb:
        return 0.0
    return 1.0 if na == nb else SequenceMatcher(None, na, nb).ratio()


def split_artist_title(text: str) -> tuple[str | None, str]:
    """ "Artist - Title (Official Video)" -> ("Artist", "Title (Official Video)"); no separator: (None, text)."""
    for sep in (" - ", " – ", " — ", " | "):
        if sep in text:
            artist, title = text.split(sep, 1)
            if artist.strip() and title.strip():
                return artist.strip(), title.strip()
    return None, text.strip()


def confidence(source_title: str, source_artist: str | None, title: str, artist: str | None) -> float:
    t = similarity(source_title, title)
    if source_artist:
        score = 0.6 * t + 0.4 * max(similarity(source_artist, artist or ""), _contains(source_artist, artist or ""))
    else:
        score = 0.75 * t
    source_words, candidate_words = normalise(source_title), normalise(title)
    if any(f" {w} " in f" {candidate_words} " and f" {w} " not in f" {source_words} " for w in _VERSION_WORDS):
        score *= 0.8
    return round(min(1.0, max(0.0, score)), 3)


def _contains(a: str, b: str) -> float:
    """1.0 when one artist credit contains the other ("Artist" in "Artist & Friend")."""
    na, nb = normalise(a), normalise(b)
    return 1.0 if na and nb and (f" {na} " in f" {nb} " or f" {nb} " in f" {na} ") else 0.0
