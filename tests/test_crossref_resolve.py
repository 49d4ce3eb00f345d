"""Matching other services' links to Apple Music, over real HTTP against loopback stand-ins of every service."""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import aiohttp
import pytest

from bot.applemusic import AppleMusicClient, ItemRef, ResourceType
from bot.crossref import ForeignLink, LinkResolver, MatchMethod, ResolverConfig, parse_foreign_link
from bot.errors import MatchUnavailable
from loopback.apple import LoopbackApple
from tests.fixtures.elsewhere import ElsewhereServers
from tests.test_crossref_links import FORMS, SP_ALBUM, SP_TRACK, YT

ISRC_NIGHT, ISRC_MOON, UPC_BLUE = "USAB12300001", "USAB12300003", "111111111111"


@dataclass
class World:
    apple: LoopbackApple
    servers: ElsewhereServers
    client: AppleMusicClient
    session: aiohttp.ClientSession
    config: ResolverConfig
    ids: dict[str, str]

    def resolver(self, **changes: object) -> LinkResolver:
        return LinkResolver(self.client, self.session, replace(self.config, **changes), clock=self.servers.clock)


@pytest.fixture
async def world(
    apple_server: LoopbackApple, apple_client: AppleMusicClient, elsewhere_servers: ElsewhereServers
) -> AsyncIterator[World]:
    a = apple_server
    # a compilation first (Apple's order would put it first), then the original album with the same recording
    night_comp = a.add_song(name="Night Drive", artist="Mira Vale", isrc=ISRC_NIGHT)
    a.add_album(
        name="Drive Hits", artist="Various Artists", tracks=[night_comp], compilation=True, release_date="2021-05-01"
    )
    night = a.add_song(name="Night Drive", artist="Mira Vale", isrc=ISRC_NIGHT)
    blue = a.add_album(name="Blue Hours", artist="Mira Vale", tracks=[night], upc=UPC_BLUE, release_date="2020-01-10")
    a.catalog["songs"][night]["_album"] = blue
    a.catalog["songs"][night_comp]["_album"] = a.add_album(
        name="Drive Hits 2", artist="Various Artists", tracks=[night_comp], compilation=True, release_date="2021-06-01"
    )
    moon = a.add_song(name="Paper Moon", artist="Odin Lark", isrc=ISRC_MOON)
    flicker = a.add_song(name="Flickermood", artist="Forss")
    soulhack = a.add_album(name="Soulhack", artist="Forss", tracks=1)
    ids = {
        "night": night,
        "night_comp": night_comp,
        "blue": blue,
        "moon": moon,
        "flicker": flicker,
        "soulhack": soulhack,
    }

    w = elsewhere_servers
    odesli, spotify, deezer, youtube, soundcloud, pages, short = w.all  # type: ignore[misc]
    spotify.add_track(SP_TRACK, name="Night Drive", artist="Mira Vale", isrc=ISRC_NIGHT)
    spotify.add_album(SP_ALBUM, name="Blue Hours", artist="Mira Vale", upc=UPC_BLUE)
    deezer.add_track("3135556", title="Paper Moon", artist="Odin Lark", isrc=ISRC_MOON)
    deezer.add_album("302127", title="Blue Hours", artist="Mira Vale", upc=UPC_BLUE)
    youtube.add(
        f"https://www.youtube.com/watch?v={YT}", title="Odin Lark - Paper Moon (Official Video)", author="OdinLarkVEVO"
    )
    soundcloud.add("https://soundcloud.com/forss/flickermood", title="Flickermood by Forss", author="Forss")
    soundcloud.add("https://soundcloud.com/forss/sets/soulhack", title="Soulhack by Forss", author="Forss")
    odesli.add("https://tidal.com/browse/track/77646168", "songs", moon, title="Paper Moon", artist="Odin Lark")
    for album in ("playlist?list=OLAK5uy_kA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUv", "browse/MPREb_abcdEFGH123"):
        odesli.add(f"https://music.youtube.com/{album}", "albums", blue, title="Blue Hours", artist="Mira Vale")
    pages.add("/browse/album/77646164", "Blue Hours by Mira Vale")
    pages.add("/albums/B07QFBG8QV?trackAsin=B07QD6YD4Q", "Paper Moon by Odin Lark on Amazon Music")
    pages.add("/tracks/B07QD6YD4Q", "Paper Moon by Odin Lark on Amazon Music")
    pages.add("/albums/B07QFBG8QV", "Blue Hours by Mira Vale on Amazon Music")
    short.add("/ZxYw1234AbC", f"https://open.spotify.com/track/{SP_TRACK}?si=abc")
    short.add("/A1b2C3d4E5", "https://deezer.page.link/Hop2")  # a second hop, within Deezer
    short.add("/Hop2", "https://www.deezer.com/en/track/3135556?utm_source=deezer")
    short.add("/s/30Ab1cD2", "https://www.deezer.com/album/302127")
    short.add("/Ab12Cd34", "https://m.soundcloud.com/forss/flickermood?ref=clipboard")
    async with aiohttp.ClientSession() as session:
        yield World(a, w, apple_client, session, w.resolver_config(), ids)


S, A = ResourceType.SONGS, ResourceType.ALBUMS
#: (service, kind of the link as parsed, id) -> (what it is at Apple, how it is found)
EXPECTED: dict[tuple[str, str], tuple[ResourceType, str, MatchMethod]] = {
    ("spotify", SP_TRACK): (S, "night", MatchMethod.ISRC),
    ("spotify", SP_ALBUM): (A, "blue", MatchMethod.UPC),
    ("spotify", "ZxYw1234AbC"): (S, "night", MatchMethod.ISRC),
    ("youtube", YT): (S, "moon", MatchMethod.TITLE),
    ("youtube-music", YT): (S, "moon", MatchMethod.TITLE),
    ("youtube-music", "OLAK5uy_kA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUv"): (A, "blue", MatchMethod.ODESLI),
    ("youtube-music", "MPREb_abcdEFGH123"): (A, "blue", MatchMethod.ODESLI),
    ("deezer", "3135556"): (S, "moon", MatchMethod.ISRC),
    ("deezer", "302127"): (A, "blue", MatchMethod.UPC),
    ("deezer", "A1b2C3d4E5"): (S, "moon", MatchMethod.ISRC),
    ("deezer", "30Ab1cD2"): (A, "blue", MatchMethod.UPC),
    ("tidal", "77646168"): (S, "moon", MatchMethod.ODESLI),
    ("tidal", "77646164"): (A, "blue", MatchMethod.TITLE),
    ("soundcloud", "forss/flickermood"): (S, "flicker", MatchMethod.TITLE),
    ("soundcloud", "forss/sets/soulhack"): (A, "soulhack", MatchMethod.TITLE),
    ("soundcloud", "Ab12Cd34"): (S, "flicker", MatchMethod.TITLE),
    ("amazon-music", "B07QD6YD4Q"): (S, "moon", MatchMethod.TITLE),
    ("amazon-music", "B07QFBG8QV"): (A, "blue", MatchMethod.TITLE),
}
CORPUS = [(text, link) for text, link in FORMS if link is not None]


def test_the_corpus_is_large_and_covers_every_service() -> None:
    assert len(CORPUS) >= 40
    assert {link.service for _, link in CORPUS} == {
        "spotify",
        "youtube",
        "youtube-music",
        "deezer",
        "tidal",
        "soundcloud",
        "amazon-music",
    }
    assert {("spotify", "ZxYw1234AbC"), ("deezer", "A1b2C3d4E5"), ("soundcloud", "Ab12Cd34")} <= {
        (link.service, link.id) for _, link in CORPUS
    }


async def test_every_link_form_resolves_to_the_expected_item(world: World) -> None:
    resolver = world.resolver()
    for text, link in CORPUS:
        rtype, name, method = EXPECTED[(link.service, link.id)]
        match = await resolver.resolve(link, "us")
        assert match is not None, text
        assert (match.ref, match.method) == (ItemRef(rtype, world.ids[name]), method), text
        assert match.source == link and 0.0 <= match.confidence <= 1.0
        assert match.confidence >= resolver.confidence, text
        assert match.elsewhere_url and match.elsewhere_url.startswith("https://")


async def test_isrc_beats_title_and_the_original_beats_a_compilation(world: World) -> None:
    link = parse_foreign_link(f"https://open.spotify.com/track/{SP_TRACK}")
    assert link is not None
    match = await world.resolver().resolve(link, "us")
    assert match is not None and match.method is MatchMethod.ISRC and match.confidence == 1.0
    assert match.ref == ItemRef(S, world.ids["night"])  # not the compilation's copy, which Apple lists first
    # without Spotify credentials the same link is matched by title (lower trust)
    titled = await world.resolver(spotify_client_id=None, odesli_enabled=False).resolve(link, "us")
    assert titled is not None and titled.method is MatchMethod.TITLE
    assert titled.confidence < 1.0


async def test_odesli_off_falls_back_to_the_title(world: World) -> None:
    link = parse_foreign_link("https://tidal.com/browse/track/77646168")
    assert link is not None
    world.servers.pages.add("/browse/track/77646168", "Paper Moon by Odin Lark")
    match = await world.resolver(odesli_enabled=False).resolve(link, "us")
    assert match is not None and match.method is MatchMethod.TITLE and match.ref == ItemRef(S, world.ids["moon"])
    assert world.servers.odesli.count() == 0


async def test_a_service_down_is_unavailable_unless_a_later_method_matches(world: World) -> None:
    link = parse_foreign_link("https://tidal.com/browse/track/77646168")
    assert link is not None
    world.servers.odesli.down = True
    with pytest.raises(MatchUnavailable) as caught:
        await world.resolver().resolve(link, "us")  # Tidal's page has no metadata for it: only Odesli could tell
    assert caught.value.service == "odesli"
    # Spotify down: Odesli does not know the link either, the title (oEmbed, also Spotify) cannot be read
    world.servers.spotify.down = True
    spotify = parse_foreign_link(f"https://open.spotify.com/track/{SP_TRACK}")
    assert spotify is not None
    with pytest.raises(MatchUnavailable):
        await world.resolver().resolve(spotify, "us")
    # nothing was cached: once the services are back, the same resolver answers
    resolver = world.resolver()
    world.servers.spotify.down = world.servers.odesli.down = False
    match = await resolver.resolve(spotify, "us")
    assert match is not None and match.method is MatchMethod.ISRC
    # Deezer down: Odesli is the next method (it knows this link)
    world.servers.deezer.down = True
    deezer = parse_foreign_link("https://www.deezer.com/track/3135556")
    assert deezer is not None
    world.servers.odesli.add(deezer.url, "songs", world.ids["moon"], title="Paper Moon", artist="Odin Lark")
    match = await resolver.resolve(deezer, "us")
    assert match is not None and match.method is MatchMethod.ODESLI


async def test_a_slow_service_is_given_up_after_the_request_time(world: World) -> None:
    link = parse_foreign_link("https://tidal.com/browse/track/77646168")
    assert link is not None
    world.servers.odesli.hold()
    with pytest.raises(MatchUnavailable):
        await world.resolver(request_seconds=0.2).resolve(link, "us")
    world.servers.odesli.release()


async def test_odesli_rate_limit_is_respected_without_a_key(world: World) -> None:
    resolver = world.resolver(odesli_api_key=None, spotify_client_id=None)
    unknown = [ForeignLink("tidal", "song", str(n), f"https://tidal.com/browse/track/{n}") for n in range(1, 13)]
    for link in unknown[:10]:
        assert await resolver.resolve(link, "us") is None  # 404 at Odesli, no page: a definite "no match"
    with pytest.raises(MatchUnavailable) as caught:
        await resolver.resolve(unknown[10], "us")
    assert caught.value.service == "odesli" and caught.value.retry_after is not None
    assert world.servers.odesli.count() == 10  # the eleventh was never sent
    world.servers.clock.now += 61
    assert await resolver.resolve(unknown[10], "us") is None
    # the server's own limit: another client spent the minute -> 429, Retry-After honoured
    world.servers.odesli._window = [world.servers.clock.now] * 10
    with pytest.raises(MatchUnavailable) as caught:
        await resolver.resolve(unknown[11], "us")
    assert caught.value.retry_after is not None and caught.value.retry_after > 0
    sent = world.servers.odesli.count()
    with pytest.raises(MatchUnavailable):
        await resolver.resolve(unknown[11], "us")
    assert world.servers.odesli.count() == sent  # paused: not asked again before Retry-After


async def test_a_link_resolves_once_per_cache_lifetime(world: World) -> None:
    resolver = world.resolver(cache_seconds=100.0)
    link = parse_foreign_link("https://www.deezer.com/track/3135556")
    assert link is not None
    first = await resolver.resolve(link, "us")
    asked = world.servers.deezer.count()
    assert await resolver.resolve(link, "us") == first and world.servers.deezer.count() == asked
    world.servers.clock.now += 101
    assert await resolver.resolve(link, "us") == first and world.servers.deezer.count() == asked + 1


async def test_short_links_never_leave_the_service(world: World) -> None:
    world.servers.short.add("/EvilCode1", "https://evil.example/track/1")
    world.servers.short.add("/OtherSvc1", f"https://youtu.be/{YT}")
    resolver = world.resolver()
    for code in ("EvilCode1", "OtherSvc1"):
        link = ForeignLink("spotify", "unknown", code, f"https://spotify.link/{code}")
        assert await resolver.resolve(link, "us") is None


# ---------------------------------------------------------------------------------------------- services' errors


async def test_an_expired_spotify_token_is_replaced_once_and_the_request_retried(world: World) -> None:
    link = parse_foreign_link(f"https://open.spotify.com/track/{SP_TRACK}")
    assert link is not None
    spotify = world.servers.spotify
    resolver = world.resolver(odesli_enabled=False, cache_seconds=0.0)
    assert (await resolver.resolve(link, "us")) is not None and spotify.count("/api/token") == 1
    # well within the hour the token was given for, Spotify ends it: "The access token expired"
    spotify.expire_tokens()
    match = await resolver.resolve(link, "us")
    assert match is not None and match.method is MatchMethod.ISRC
    assert spotify.count("/api/token") == 2 and spotify.count("/v1/tracks/") == 3  # the 401, then the retry
    # the new token is kept: no token request for the next link
    assert (await resolver.resolve(link, "us")) is not None and spotify.count("/api/token") == 2
    # a 401 even for a new token: one new token, one retry, then the next method (never a loop)
    spotify.refuse_tokens = True
    fresh = world.resolver(odesli_enabled=False)
    asked = spotify.count("/api/token"), spotify.count("/v1/tracks/")
    titled = await fresh.resolve(link, "us")
    assert titled is not None and titled.method is MatchMethod.TITLE
    assert (spotify.count("/api/token"), spotify.count("/v1/tracks/")) == (asked[0] + 2, asked[1] + 2)


async def test_a_wrong_spotify_secret_falls_back_warns_once_and_never_shows_the_secret(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "not-the-secret-Xq7"
    resolver = world.resolver(spotify_client_secret=secret)
    spotify = world.servers.spotify
    world.servers.odesli.add(
        f"https://open.spotify.com/track/{SP_TRACK}",
        "songs",
        world.ids["night"],
        title="Night Drive",
        artist="Mira Vale",
    )
    links = [
        parse_foreign_link(f"https://open.spotify.com/{kind}/{sid}")
        for kind, sid in (("track", SP_TRACK), ("album", SP_ALBUM))
    ]
    caplog.set_level(logging.DEBUG)
    track, album = links
    assert track is not None and album is not None
    match = await resolver.resolve(track, "us")  # 400 invalid_client: Odesli is the next method
    assert match is not None and match.method is MatchMethod.ODESLI and match.ref == ItemRef(S, world.ids["night"])
    titled = await resolver.resolve(album, "us")  # Odesli does not know it: by title
    assert titled is not None and titled.method is MatchMethod.TITLE and titled.ref == ItemRef(A, world.ids["blue"])
    assert spotify.count("/api/token") == 1 and spotify.count("/v1/") == 0  # refused once: not asked again
    # definite answers: cached
    assert await resolver.resolve(track, "us") == match and world.servers.odesli.count() == 2
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.name for r in warnings] == ["bot.crossref.resolver"] and "SPOTIFY_CLIENT_SECRET" in warnings[
        0
    ].getMessage()
    told = "\n".join(r.getMessage() for r in caplog.records) + repr(resolver) + repr(resolver.config)
    for shown in (secret, base64.b64encode(f"spotify-client:{secret}".encode()).decode()):
        assert shown not in told and shown not in caplog.text


async def test_a_spotify_429_is_unavailable_for_its_retry_after_then_recovers(world: World) -> None:
    link = parse_foreign_link(f"https://open.spotify.com/track/{SP_TRACK}")
    assert link is not None
    spotify = world.servers.spotify
    resolver = world.resolver(odesli_enabled=False)
    spotify.rate_limit_next(1, 7)
    with pytest.raises(MatchUnavailable) as caught:
        await resolver.resolve(link, "us")
    assert (caught.value.service, caught.value.retry_after) == ("spotify", 7.0)
    asked = spotify.count()
    # not asked again before Retry-After (nor its oEmbed, on the same host here): still unavailable, not cached
    world.servers.clock.advance(6)
    with pytest.raises(MatchUnavailable) as caught:
        await resolver.resolve(link, "us")
    assert caught.value.retry_after == pytest.approx(1.0) and spotify.count() == asked
    world.servers.clock.advance(1)
    match = await resolver.resolve(link, "us")
    assert match is not None and match.method is MatchMethod.ISRC and match.ref == ItemRef(S, world.ids["night"])


async def test_youtube_oembed_401_and_404_are_a_definite_no_match(world: World) -> None:
    youtube = world.servers.youtube
    private = ForeignLink("youtube", "song", "PrIvAtE0001", "https://www.youtube.com/watch?v=PrIvAtE0001")
    unknown = ForeignLink("youtube", "song", "GoNe0000001", "https://youtu.be/GoNe0000001")
    youtube.unauthorized.add(private.url)  # embedding disabled, or a private video: 401 Unauthorized
    resolver = world.resolver()
    for link in (private, unknown):
        assert await resolver.resolve(link, "us") is None
    assert [(r.path, r.query["url"], r.query["format"]) for r in youtube.requests] == [
        ("/oembed", private.url, "json"),
        ("/oembed", "https://www.youtube.com/watch?v=GoNe0000001", "json"),
    ]
    for link in (private, unknown):  # cached: not asked again
        assert await resolver.resolve(link, "us") is None
    assert youtube.count() == 2


async def test_deezer_quota_is_unavailable_and_an_unknown_id_is_a_cached_no_match(world: World) -> None:
    deezer = world.servers.deezer
    resolver = world.resolver()
    link = parse_foreign_link("https://www.deezer.com/track/3135556")
    assert link is not None
    deezer.quota_next = 1  # HTTP 200 {"error": {"type": "Exception", "message": "Quota limit exceeded", "code": 4}}
    with pytest.raises(MatchUnavailable) as caught:
        await resolver.resolve(link, "us")
    assert caught.value.service == "deezer"
    match = await resolver.resolve(link, "us")  # not cached: asked again, and the quota is back
    assert match is not None and match.method is MatchMethod.ISRC and match.ref == ItemRef(S, world.ids["moon"])
    assert deezer.count("/track/3135556") == 2
    # an id Deezer does not know: HTTP 200 {"error": {"type": "DataException", "message": "no data", "code": 800}}
    unknown = parse_foreign_link("https://www.deezer.com/track/999999999")
    assert unknown is not None
    assert await resolver.resolve(unknown, "us") is None
    assert await resolver.resolve(unknown, "us") is None
    assert deezer.count("/track/999999999") == 1
