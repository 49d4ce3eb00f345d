"""Share links and bare ids: a table of real-world forms; a property test shows only InvalidLink escapes."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.applemusic import InvalidLink, ResourceType, ShareLink, check_id, find_links, parse_link

S, A, MV, PL, ST = (
    ResourceType.SONGS,
    ResourceType.ALBUMS,
    ResourceType.MUSIC_VIDEOS,
    ResourceType.PLAYLISTS,
    ResourceType.STATIONS,
)
LS, LA, LMV, LP = (
    ResourceType.LIBRARY_SONGS,
    ResourceType.LIBRARY_ALBUMS,
    ResourceType.LIBRARY_MUSIC_VIDEOS,
    ResourceType.LIBRARY_PLAYLISTS,
)

VALID: list[tuple[str, ShareLink]] = [
    # the forms of the spec's table
    ("https://music.apple.com/us/album/entropy/1613600183?i=1613600188", ShareLink(S, "1613600188", "us")),
    ("https://music.apple.com/us/album/entropy/1613600183", ShareLink(A, "1613600183", "us")),
    ("https://music.apple.com/gb/song/name/1613600188", ShareLink(S, "1613600188", "gb")),
    ("https://music.apple.com/us/music-video/name/1445892316", ShareLink(MV, "1445892316", "us")),
    (
        "https://music.apple.com/us/playlist/name/pl.f4d106fed2bd41149aaacabb233eb5eb",
        ShareLink(PL, "pl.f4d106fed2bd41149aaacabb233eb5eb", "us"),
    ),
    (
        "https://music.apple.com/us/station/apple-music-country/ra.1498157166",
        ShareLink(ST, "ra.1498157166", "us"),
    ),
    ("https://itunes.apple.com/us/album/name/id1613600183?i=1613600188", ShareLink(S, "1613600188", "us")),
    ("https://itunes.apple.com/us/album/name/id1613600183", ShareLink(A, "1613600183", "us")),
    # geo links and tracking parameters
    (
        "https://geo.music.apple.com/us/album/entropy/1613600183?i=1613600188&app=music&at=1000lHKX",
        ShareLink(S, "1613600188", "us"),
    ),
    (
        "https://geo.music.apple.com/gb/album/_/1613600183?mt=1&app=music&ls=1",
        ShareLink(A, "1613600183", "gb"),
    ),
    ("https://music.apple.com/us/album/entropy/1613600183?l=es-MX&uo=4", ShareLink(A, "1613600183", "us")),
    (
        "https://music.apple.com/us/song/entropy/1613600188?at=1l3vuUo&ct=discord&itscg=30200",
        ShareLink(S, "1613600188", "us"),
    ),
    (
        "https://music.apple.com/us/album/entropy/1613600183?ls&i=1613600188#fragment",
        ShareLink(S, "1613600188", "us"),
    ),
    # slugs missing, percent-encoded, in other scripts
    ("https://music.apple.com/us/album/1613600183", ShareLink(A, "1613600183", "us")),
    ("https://music.apple.com/us/album/1613600183?i=1613600188", ShareLink(S, "1613600188", "us")),
    (
        "https://music.apple.com/jp/album/%E3%81%82%E3%81%84%E3%81%86/1455437880",
        ShareLink(A, "1455437880", "jp"),
    ),
    ("https://music.apple.com/jp/song/夜に駆ける/1487434498", ShareLink(S, "1487434498", "jp")),
    ("https://music.apple.com/ru/album/кино/1444062525?i=1444062526", ShareLink(S, "1444062526", "ru")),
    (
        "https://music.apple.com/kr/album/%EB%B4%84%EB%82%A0/1225364540?i=1225364547",
        ShareLink(S, "1225364547", "kr"),
    ),
    ("https://music.apple.com/us/playlist/pl.u-8aAVZAPsxLaBQ", ShareLink(PL, "pl.u-8aAVZAPsxLaBQ", "us")),
    # trailing slashes, case, scheme, no storefront
    ("https://music.apple.com/us/album/entropy/1613600183/", ShareLink(A, "1613600183", "us")),
    (
        "https://music.apple.com/us/playlist/chill/pl.pm-20e9f373919087e2/",
        ShareLink(PL, "pl.pm-20e9f373919087e2", "us"),
    ),
    ("HTTPS://Music.Apple.com/US/Album/Entropy/1613600183", ShareLink(A, "1613600183", "us")),
    ("http://music.apple.com/de/song/x/1613600188", ShareLink(S, "1613600188", "de")),
    ("music.apple.com/fr/album/x/1613600183?i=1613600188", ShareLink(S, "1613600188", "fr")),
    ("https://music.apple.com/album/entropy/1613600183", ShareLink(A, "1613600183", None)),
    ("https://music.apple.com//us//album//entropy//1613600183", ShareLink(A, "1613600183", "us")),
    ("  <https://music.apple.com/us/album/entropy/1613600183>  ", ShareLink(A, "1613600183", "us")),
    (
        "https://embed.music.apple.com/us/album/entropy/1613600183?i=1613600188",
        ShareLink(S, "1613600188", "us"),
    ),
    (
        "https://music.apple.com/us/station/my-station/ra.u-2d8d8b0b55f3e9a5",
        ShareLink(ST, "ra.u-2d8d8b0b55f3e9a5", "us"),
    ),
    ("https://music.apple.com/us/station/x/ra.cp-1055074639", ShareLink(ST, "ra.cp-1055074639", "us")),
    ("https://itunes.apple.com/us/music-video/name/id1445892316?uo=4", ShareLink(MV, "1445892316", "us")),
    ("https://music.apple.com/us/album/entropy/1613600183?i=garbage", ShareLink(A, "1613600183", "us")),
    # bare ids
    ("1613600188", ShareLink(S, "1613600188")),
    ("pl.f4d106fed2bd41149aaacabb233eb5eb", ShareLink(PL, "pl.f4d106fed2bd41149aaacabb233eb5eb")),
    ("pl.u-8aAVZAPsxLaBQ", ShareLink(PL, "pl.u-8aAVZAPsxLaBQ")),
    ("ra.1498157166", ShareLink(ST, "ra.1498157166")),
    ("i.PkdJNdAIrQozOW", ShareLink(LS, "i.PkdJNdAIrQozOW")),
    ("l.qrRWYhq", ShareLink(LA, "l.qrRWYhq")),
    ("p.ZOAXxWRTXJ8Bme", ShareLink(LP, "p.ZOAXxWRTXJ8Bme")),
    ("  907242702\n", ShareLink(S, "907242702")),
]


@pytest.mark.parametrize(("text", "expected"), VALID, ids=[str(n) for n in range(len(VALID))])
def test_real_world_link_forms(text: str, expected: ShareLink) -> None:
    assert len(VALID) >= 30
    assert parse_link(text) == expected


@pytest.mark.parametrize(
    ("text", "hint", "expected"),
    [
        ("1613600183", A, ShareLink(A, "1613600183")),
        ("1445892316", MV, ShareLink(MV, "1445892316")),
        ("1613600188", S, ShareLink(S, "1613600188")),
        ("i.mv8Jd9LpQ2", LMV, ShareLink(LMV, "i.mv8Jd9LpQ2")),
        ("i.mv8Jd9LpQ2", MV, ShareLink(LMV, "i.mv8Jd9LpQ2")),
        ("l.qrRWYhq", A, ShareLink(LA, "l.qrRWYhq")),
        ("pl.abc", PL, ShareLink(PL, "pl.abc")),
        # a link says what it is: the hint does not override it
        ("https://music.apple.com/us/album/x/1613600183", S, ShareLink(A, "1613600183", "us")),
    ],
)
def test_type_hints(text: str, hint: ResourceType, expected: ShareLink) -> None:
    assert parse_link(text, hint) == expected


@pytest.mark.parametrize(
    ("text", "hint", "reason"),
    [
        ("1613600183", PL, "not a playlist"),
        ("1613600183", LS, "not a library song"),
        ("pl.abc", S, "playlist id, not a song"),
        ("ra.1", A, "station id, not an album"),
        ("l.abc", LP, "library album id, not a library playlist"),
    ],
)
def test_contradicting_hints_are_refused(text: str, hint: ResourceType, reason: str) -> None:
    with pytest.raises(InvalidLink, match=reason):
        parse_link(text, hint)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("https://music.apple.com/library/playlist/p.xxxxYYYY", "someone's personal library"),
        ("https://music.apple.com/us/library/albums/l.qrRWYhq", "someone's personal library"),
        ("https://music.apple.com/us/artist/beach-bunny/1147783278", "Artists can't be rated"),
        ("https://music.apple.com/us/curator/apple-music-alternative/976439548", "can't be rated"),
        ("https://music.apple.com/us/browse", "can't be rated"),
        ("https://music.apple.com/us/album/entropy", "no song, album"),
        ("https://music.apple.com/us/album/entropy/pl.123", "no song, album"),
        ("https://music.apple.com/us/playlist/name/1613600183", "no song, album"),
        ("https://music.apple.com/us/album/a/b/c/1613600183", "no song, album"),
        ("https://music.apple.com/", "no song, album"),
        ("https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC", "not a music link I can use"),
        ("https://music.apple.com.evil.example/us/album/x/1613600183", "not a music link I can use"),
        ("https://evilmusic.apple.com.example/us/album/x/1", "not a music link I can use"),
        ("ftp://music.apple.com/us/album/x/1613600183", "not a music link I can use"),
        ("https://[music.apple.com/us/album/x/1", "not a music link I can use"),
        ("", "Paste an Apple Music link"),
        ("   ", "Paste an Apple Music link"),
        ("hello there", "doesn't look like"),
        ("pl.", "doesn't look like"),
        ("pl.has space", "doesn't look like"),
        ("１２３", "doesn't look like"),  # fullwidth digits are not an id
        ("https://music.apple.com/us/album/x/" + "1" * 3000, "too long"),
    ],
)
def test_invalid_links_have_readable_reasons(text: str, reason: str) -> None:
    with pytest.raises(InvalidLink, match=reason) as caught:
        parse_link(text)
    assert isinstance(caught.value, ValueError)
    assert len(str(caught.value)) < 200


def test_library_refusal_explains_itself() -> None:
    with pytest.raises(InvalidLink) as caught:
        parse_link("https://music.apple.com/library/playlist/p.ZOAXxWRTXJ8Bme")
    assert str(caught.value).startswith("That is a link to someone's personal library")
    assert "p.ZOAXxWRTXJ8Bme" not in str(caught.value)


def test_share_link_canonical_url() -> None:
    assert ShareLink(S, "1613600188", "gb").url == "https://music.apple.com/gb/song/1613600188"
    assert ShareLink(PL, "pl.abc").url == "https://music.apple.com/us/playlist/pl.abc"
    assert ShareLink(LS, "i.abc").url is None
    for _, link in VALID:
        if link.url is not None:
            assert parse_link(link.url) == ShareLink(link.type, link.id, link.storefront or "us")


def test_find_links_in_a_chat_message() -> None:
    message = (
        "two bangers: https://music.apple.com/us/album/entropy/1613600183?i=1613600188, and "
        "(https://geo.music.apple.com/gb/album/honeymoon/1441134591). Also <https://music.apple.com/us/playlist/"
        "x/pl.u-8aAVZAPsxLaBQ> and again https://music.apple.com/gb/song/entropy/1613600188! "
        "not mine: https://music.apple.com/library/playlist/p.xyz, not apple: https://example.com/1 "
        "an artist https://music.apple.com/us/artist/x/1 and a station ||https://music.apple.com/us/station/"
        "country/ra.1498157166|| and [md](https://music.apple.com/us/music-video/clip/1445892316) "
        "itunes.apple.com/us/album/name/id1?i=2."
    )
    assert find_links(message) == [
        ShareLink(S, "1613600188", "us"),  # once, though linked twice
        ShareLink(A, "1441134591", "gb"),
        ShareLink(PL, "pl.u-8aAVZAPsxLaBQ", "us"),
        ShareLink(ST, "ra.1498157166", "us"),
        ShareLink(MV, "1445892316", "us"),
        ShareLink(S, "2", "us"),
    ]


def test_find_links_ignores_bare_ids_and_prose() -> None:
    assert find_links("my favourite is 1613600188, pl.abc or music.apple.com") == []
    assert find_links("") == []


# ---------------------------------------------------------------- property tests

_segment = st.text(min_size=0, max_size=20)
_hosts = st.sampled_from(
    [
        "music.apple.com",
        "geo.music.apple.com",
        "itunes.apple.com",
        "MUSIC.APPLE.COM",
        "example.com",
        "apple.com",
        "",
    ]
)
_kinds = st.sampled_from(["album", "song", "music-video", "playlist", "station", "library", "artist", "", "x"])
_ids = st.one_of(
    st.from_regex(r"(id)?[0-9]{1,25}", fullmatch=True),
    st.from_regex(r"(pl|ra|i|l|p)\.[A-Za-z0-9_.-]{0,110}", fullmatch=True),
    _segment,
)


@st.composite
def link_like(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["https://", "http://", "", "ftp://", "https:/", "//"]))
    parts = [
        draw(st.sampled_from(["us", "gb", "", "Ü1", "library"])),
        draw(_kinds),
        draw(_segment),
        draw(_ids),
    ]
    query = draw(st.sampled_from(["", "?i=", "?i=123", "?i=id9&l=en", "?%zz", "?i=" + draw(_segment)]))
    tail = draw(st.sampled_from(["", "/", "#x", "//", "%", "?"]))
    return scheme + draw(_hosts) + "/" + "/".join(parts) + query + tail


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=300), link_like(), st.binary(max_size=100).map(lambda b: b.decode("latin-1"))))
@example("https://[::1")
@example("https://music.apple.com:99999/us/album/x/1")
@example("https://music.apple.com/us/album/x/1?i=" + "9" * 5000)
@example("music.apple.com")
@example("\x00")
@example("<>")
def test_only_invalid_link_ever_escapes(text: str) -> None:
    for hint in (None, S, PL, LMV):
        try:
            link = parse_link(text, hint)
        except InvalidLink as invalid:
            message = str(invalid)
            assert message and len(message) < 200
            if len(text) > 100:
                assert text[:100] not in message
            continue
        assert isinstance(link, ShareLink) and isinstance(link.type, ResourceType)
        assert link.id and link.id.isascii() and " " not in link.id
        assert link.storefront is None or (len(link.storefront) == 2 and link.storefront.islower())
        assert not link.type.is_library or "/" not in text.strip()  # links never yield the sharer's library


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(link_like(), st.text(max_size=40)), max_size=8).map(" ".join))
def test_find_links_never_raises_and_finds_parseable_links(text: str) -> None:
    links = find_links(text)
    assert len({(link.type, link.id) for link in links}) == len(links)
    for link in links:
        assert not link.type.is_library


@pytest.mark.parametrize(
    ("rtype", "good", "bad"),
    [
        (S, "1440857781", ["..", "-x", "", "12a", "1" * 21, "pl.abc", "１２３"]),
        (A, "1613600183", ["../songs/1", "id1613600183"]),
        (PL, "pl.u-abc_DEF-1", ["pl.", "pl..", "123", "pl.a/b", "p.abc"]),
        (ST, "ra.1498157166", ["ra.", "123", "ra.a b"]),
        (LS, "i.abc123", ["l.abc", "i.", "i../x"]),
        (LMV, "i.abc123", ["p.abc"]),
        (LA, "l.abc123", ["i.abc"]),
        (LP, "p.abc123", ["pl.abc"]),
    ],
)
def test_check_id_accepts_apples_shapes_only(rtype: ResourceType, good: str, bad: list[str]) -> None:
    assert check_id(rtype, good) == good
    for text in bad:
        with pytest.raises(InvalidLink) as caught:
            check_id(rtype, text)
        assert str(caught.value).startswith(f"That is not a{'n' if rtype.label[0] in 'aeiou' else ''} {rtype.label} id")
        assert "/" not in str(caught.value) and ".." not in str(caught.value)  # the input is not echoed
