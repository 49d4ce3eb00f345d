"""Links of other music services: real-world forms parse to typed links; any text yields typed links or nothing."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.applemusic import ResourceType, ShareLink
from bot.crossref import SERVICES, ForeignLink, find_music_link, find_music_links, parse_foreign_link

SP_TRACK, SP_ALBUM = "4cOdK2wGLETKBW3PvgPWqT", "4aawyAB9vmqN3uQ7FjRGTy"
YT = "dQw4w9WgXcQ"


def fl(service: str, kind: str, id: str, url: str) -> ForeignLink:
    return ForeignLink(service, kind, id, url)


SPOTIFY_SONG = fl("spotify", "song", SP_TRACK, f"https://open.spotify.com/track/{SP_TRACK}")
SPOTIFY_ALBUM = fl("spotify", "album", SP_ALBUM, f"https://open.spotify.com/album/{SP_ALBUM}")
YOUTUBE = fl("youtube", "unknown", YT, f"https://www.youtube.com/watch?v={YT}")

#: (what a member pastes, what it is)
FORMS: list[tuple[str, ForeignLink | None]] = [
    (f"https://open.spotify.com/track/{SP_TRACK}", SPOTIFY_SONG),
    (f"https://open.spotify.com/track/{SP_TRACK}?si=1a2b3c4d5e6f4a7b", SPOTIFY_SONG),
    (f"https://open.spotify.com/intl-de/track/{SP_TRACK}?si=x", SPOTIFY_SONG),
    (f"https://open.spotify.com/intl-pt/album/{SP_ALBUM}", SPOTIFY_ALBUM),
    (f"open.spotify.com/album/{SP_ALBUM}?si=abc&nd=1", SPOTIFY_ALBUM),
    (f"https://open.spotify.com/embed/track/{SP_TRACK}", SPOTIFY_SONG),
    (f"https://play.spotify.com/track/{SP_TRACK}", SPOTIFY_SONG),
    (f"spotify:track:{SP_TRACK}", SPOTIFY_SONG),
    (f"spotify:album:{SP_ALBUM}", SPOTIFY_ALBUM),
    ("https://spotify.link/ZxYw1234AbC", fl("spotify", "unknown", "ZxYw1234AbC", "https://spotify.link/ZxYw1234AbC")),
    (f"https://open.spotify.com/intl-fr/track/{SP_TRACK}?si=Qx", SPOTIFY_SONG),
    (f"http://open.spotify.com/track/{SP_TRACK}", SPOTIFY_SONG),
    ("https://spotify.app.link/e/x", None),  # not a short-link code form
    (f"https://open.spotify.com/artist/{SP_TRACK}", None),
    (f"https://open.spotify.com/track/{SP_TRACK[:-1]}", None),
    (f"https://www.youtube.com/watch?v={YT}", YOUTUBE),
    (f"https://www.youtube.com/watch?v={YT}&t=42s&list=RD{YT}", YOUTUBE),
    (f"https://m.youtube.com/watch?v={YT}", YOUTUBE),
    (f"https://youtu.be/{YT}?si=abc", YOUTUBE),
    (f"https://youtube.com/shorts/{YT}", YOUTUBE),
    (f"https://www.youtube.com/embed/{YT}", YOUTUBE),
    (
        f"https://music.youtube.com/watch?v={YT}&feature=share",
        fl("youtube-music", "song", YT, f"https://music.youtube.com/watch?v={YT}"),
    ),
    (
        "https://music.youtube.com/playlist?list=OLAK5uy_kA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUv",
        fl(
            "youtube-music",
            "album",
            "OLAK5uy_kA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUv",
            "https://music.youtube.com/playlist?list=OLAK5uy_kA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUv",
        ),
    ),
    ("https://music.youtube.com/playlist?list=PLx0sYbCqOb8TBPRdmBHs5Iftvv9TPboYG", None),  # a member's playlist
    (
        "https://music.youtube.com/browse/MPREb_abcdEFGH123",
        fl("youtube-music", "album", "MPREb_abcdEFGH123", "https://music.youtube.com/browse/MPREb_abcdEFGH123"),
    ),
    ("https://www.youtube.com/@channel", None),
    (f"https://youtube.com/watch?feature=share&v={YT}", YOUTUBE),
    (f"https://m.youtube.com/shorts/{YT}?feature=share", YOUTUBE),
    (
        "https://www.deezer.com/fr/track/3135556",
        fl("deezer", "song", "3135556", "https://www.deezer.com/track/3135556"),
    ),
    ("https://www.deezer.com/en/album/302127", fl("deezer", "album", "302127", "https://www.deezer.com/album/302127")),
    (
        "https://deezer.com/track/3135556?utm_source=deezer",
        fl("deezer", "song", "3135556", "https://www.deezer.com/track/3135556"),
    ),
    (
        "https://deezer.page.link/A1b2C3d4E5",
        fl("deezer", "unknown", "A1b2C3d4E5", "https://deezer.page.link/A1b2C3d4E5"),
    ),
    ("https://link.deezer.com/s/30Ab1cD2", fl("deezer", "unknown", "30Ab1cD2", "https://link.deezer.com/s/30Ab1cD2")),
    ("https://www.deezer.com/fr/artist/27", None),
    (
        "https://listen.tidal.com/track/77646168",
        fl("tidal", "song", "77646168", "https://tidal.com/browse/track/77646168"),
    ),
    (
        "https://tidal.com/browse/track/77646168",
        fl("tidal", "song", "77646168", "https://tidal.com/browse/track/77646168"),
    ),
    (
        "https://tidal.com/browse/track/77646168/u",
        fl("tidal", "song", "77646168", "https://tidal.com/browse/track/77646168"),
    ),
    (
        "https://listen.tidal.com/album/77646164",
        fl("tidal", "album", "77646164", "https://tidal.com/browse/album/77646164"),
    ),
    ("https://tidal.com/track/77646168", fl("tidal", "song", "77646168", "https://tidal.com/browse/track/77646168")),
    (
        "https://soundcloud.com/forss/flickermood",
        fl("soundcloud", "song", "forss/flickermood", "https://soundcloud.com/forss/flickermood"),
    ),
    (
        "https://m.soundcloud.com/Forss/Flickermood?si=abc&utm_source=clipboard",
        fl("soundcloud", "song", "forss/flickermood", "https://soundcloud.com/forss/flickermood"),
    ),
    (
        "https://soundcloud.com/forss/sets/soulhack",
        fl("soundcloud", "album", "forss/sets/soulhack", "https://soundcloud.com/forss/sets/soulhack"),
    ),
    (
        "https://on.soundcloud.com/Ab12Cd34",
        fl("soundcloud", "unknown", "Ab12Cd34", "https://on.soundcloud.com/Ab12Cd34"),
    ),
    ("https://soundcloud.com/discover/sets", None),
    ("https://soundcloud.com/forss/likes", None),
    (
        "https://music.amazon.com/albums/B07QFBG8QV?trackAsin=B07QD6YD4Q&do=play",
        fl("amazon-music", "song", "B07QD6YD4Q", "https://music.amazon.com/albums/B07QFBG8QV?trackAsin=B07QD6YD4Q"),
    ),
    (
        "https://music.amazon.de/albums/B07QFBG8QV",
        fl("amazon-music", "album", "B07QFBG8QV", "https://music.amazon.de/albums/B07QFBG8QV"),
    ),
    (
        "https://music.amazon.co.uk/tracks/B07QD6YD4Q",
        fl("amazon-music", "song", "B07QD6YD4Q", "https://music.amazon.co.uk/tracks/B07QD6YD4Q"),
    ),
    (
        "https://www.amazon.com/music/player/albums/B07QFBG8QV?trackAsin=B07QD6YD4Q",
        fl("amazon-music", "song", "B07QD6YD4Q", "https://music.amazon.com/albums/B07QFBG8QV?trackAsin=B07QD6YD4Q"),
    ),
    ("https://www.amazon.com/dp/B07QFBG8QV", None),
    (
        "https://music.amazon.co.jp/albums/B07QFBG8QV?trackAsin=B07QD6YD4Q",
        fl("amazon-music", "song", "B07QD6YD4Q", "https://music.amazon.co.jp/albums/B07QFBG8QV?trackAsin=B07QD6YD4Q"),
    ),
    ("https://amzn.to/3abcd", None),
    ("https://music.amazon.evil.com/albums/B07QFBG8QV", None),
    ("https://open.spotify.com.evil.example/track/" + SP_TRACK, None),
]


@pytest.mark.parametrize(("text", "expected"), FORMS, ids=[f[0][:60] for f in FORMS])
def test_real_world_forms(text: str, expected: ForeignLink | None) -> None:
    assert parse_foreign_link(text) == expected
    found = find_music_link(f"listen to this <{text}> !!")
    assert found == expected


def test_short_links_say_so() -> None:
    assert parse_foreign_link("https://spotify.link/ZxYw1234AbC").is_short  # type: ignore[union-attr]
    assert not SPOTIFY_SONG.is_short


def test_the_first_music_link_of_a_message_wins_apple_or_not() -> None:
    text = f"first https://music.apple.com/us/album/x/1613600183?i=1613600188, then https://youtu.be/{YT}."
    assert find_music_link(text) == ShareLink(ResourceType.SONGS, "1613600188", "us")
    text = f"(https://youtu.be/{YT}) and https://music.apple.com/us/song/x/1613600188"
    assert find_music_link(text) == YOUTUBE
    assert find_music_links(text) == [YOUTUBE, ShareLink(ResourceType.SONGS, "1613600188", "us")]
    assert find_music_links(f"https://youtu.be/{YT} https://youtu.be/{YT} spotify:track:{SP_TRACK}", limit=5) == [
        YOUTUBE,
        SPOTIFY_SONG,
    ]
    assert find_music_link("no links here, just spotify and youtube.com words") is None


_hosts = st.sampled_from(
    [
        "open.spotify.com",
        "spotify.link",
        "youtube.com",
        "youtu.be",
        "music.youtube.com",
        "www.deezer.com",
        "deezer.page.link",
        "link.deezer.com",
        "tidal.com",
        "listen.tidal.com",
        "soundcloud.com",
        "on.soundcloud.com",
        "music.amazon.com",
        "music.amazon.co.jp",
        "www.amazon.de",
        "music.apple.com",
        "x.youtube.com",
    ]
)
_segment = st.text(alphabet=st.characters(codec="utf-8"), max_size=30).map(lambda s: s.replace(" ", ""))
_ids = st.one_of(st.from_regex(r"[0-9A-Za-z_-]{0,30}", fullmatch=True), _segment)


@st.composite
def link_like(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["https://", "http://", "", "ftp://", "//", "spotify:"]))
    words = [
        "track",
        "album",
        "intl-de",
        "browse",
        "watch",
        "shorts",
        "sets",
        "s",
        "albums",
        "tracks",
        "music",
        "player",
    ]
    parts = draw(st.lists(st.one_of(st.sampled_from(words), _ids), max_size=4))
    query = draw(st.sampled_from(["", "?v=" + YT, "?list=OLAK5uy_x", "?trackAsin=B07QD6YD4Q", "?%zz", "?si="]))
    return scheme + draw(_hosts) + "/" + "/".join(parts) + query


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(link_like(), st.text(max_size=60)), max_size=8).map(" ".join))
@example("https://[::1")
@example("https://open.spotify.com:99999/track/" + SP_TRACK)
@example("spotify:track:" + "a" * 5000)
@example("\x00https://youtu.be/" + YT)
def test_any_text_yields_typed_links_or_nothing(text: str) -> None:
    links = find_music_links(text, limit=5)
    assert len(links) <= 5 and len(set(links)) == len(links)
    first = find_music_link(text)
    assert first == (links[0] if links else None)
    for link in links:
        if isinstance(link, ShareLink):
            assert not link.type.is_library
            continue
        assert isinstance(link, ForeignLink)
        assert link.service in SERVICES and link.kind in ("song", "album", "unknown")
        assert link.id and link.id.isascii() and re.fullmatch(r"[0-9A-Za-z_/-]+", link.id)
        assert link.url.startswith("https://") and link.url.isascii() and " " not in link.url
        assert parse_foreign_link(link.url) == link  # the canonical URL names the same item
