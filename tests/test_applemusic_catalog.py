"""Catalog lookups, tracks (paged), search and storefront over real HTTP, and the typed models."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.applemusic import (
    AppleMusicClient,
    Artwork,
    CatalogItem,
    NotFound,
    ResourceType,
    Storefront,
    UserTokenInvalid,
)
from loopback.apple import LoopbackApple

SONGS, ALBUMS, PLAYLISTS = ResourceType.SONGS, ResourceType.ALBUMS, ResourceType.PLAYLISTS


async def test_get_catalog_songs(apple_server: LoopbackApple, apple_client: AppleMusicClient) -> None:
    album = apple_server.add_album("1613600183", name="Entropy", artist="Beach Bunny", tracks=["1613600188", "5"])
    assert album == "1613600183"

    items = await apple_client.get_catalog(SONGS, ["1613600188", "999", "5"], "gb")

    assert list(items) == ["1613600188", "5"]  # the unknown id is simply absent
    song = items["1613600188"]
    assert song.type is SONGS
    assert song.name == "Song 1613600188"
    assert song.artist_name == "Beach Bunny" and song.byline == "Beach Bunny"
    assert song.album_name == "Entropy"
    assert song.url == "https://music.apple.com/gb/album/entropy/1613600183?i=1613600188"
    assert song.duration == timedelta(milliseconds=215_000)
    assert song.track_number == 1
    assert song.preview_url and song.preview_url.endswith(".m4a")
    assert song.artwork is not None
    assert song.artwork.url(300).endswith("/300x300bb.jpg")
    assert song.artwork.url(300).startswith("https://is1-ssl.mzstatic.com/image/thumb/")
    assert song.artwork.bg_colour == 0x334455
    rec = apple_server.requests[0]
    assert (rec.method, rec.path, rec.query) == ("GET", "/v1/catalog/gb/songs", {"ids": "1613600188,999,5"})
    assert "Music-User-Token" not in rec.headers  # the catalog needs only the developer token


async def test_get_catalog_is_batched_by_100(apple_server: LoopbackApple, apple_client: AppleMusicClient) -> None:
    ids = [apple_server.add_song() for _ in range(230)]
    items = await apple_client.get_catalog(SONGS, ids + ids[:10], "us")
    assert set(items) == set(ids)
    assert sorted(len(r.ids) for r in apple_server.requests) == [30, 100, 100]


async def test_get_catalog_item_kinds(apple_server: LoopbackApple, apple_client: AppleMusicClient) -> None:
    pid = apple_server.add_playlist(name="Today's Hits", curator="Apple Music", n_tracks=3)
    rid = apple_server.add_station("ra.1498157166", name="Apple Music Country")
    vid = apple_server.add_music_video("1445892316", name="Clip", artist="Someone")

    playlist = await apple_client.get_catalog_item(PLAYLISTS, pid, "us")
    station = await apple_client.get_catalog_item(ResourceType.STATIONS, rid, "us")
    video = await apple_client.get_catalog_item(ResourceType.MUSIC_VIDEOS, vid, "us", l="en-US")

    assert playlist is not None and playlist.curator_name == "Apple Music" and playlist.byline == "Apple Music"
    assert playlist.name == "Today's Hits" and playlist.artist_name is None
    assert playlist.url == f"https://music.apple.com/us/playlist/today-s-hits/{pid}"
    assert station is not None and station.name == "Apple Music Country" and station.type is ResourceType.STATIONS
    assert video is not None and video.artist_name == "Someone" and video.duration_ms == 240_000
    assert apple_server.requests[2].query == {"l": "en-US"}
    assert await apple_client.get_catalog_item(SONGS, "404404", "us") is None


async def test_album_tracks(apple_server: LoopbackApple, apple_client: AppleMusicClient) -> None:
    aid = apple_server.add_album(name="Honeymoon", tracks=12)
    tracks = await apple_client.get_tracks(ALBUMS, aid, "us")
    assert [t.track_number for t in tracks] == list(range(1, 13))
    assert all(t.type is SONGS and t.album_name == "Honeymoon" for t in tracks)
    assert apple_server.count() == 1
    assert apple_server.requests[0].path == f"/v1/catalog/us/albums/{aid}/tracks"


async def test_playlist_tracks_follow_next_pages(apple_server: LoopbackApple, apple_client: AppleMusicClient) -> None:
    video = apple_server.add_music_video()
    songs = [apple_server.add_song() for _ in range(249)]
    pid = apple_server.add_playlist(tracks=[*songs[:150], video, *songs[150:]])

    tracks = await apple_client.get_tracks(PLAYLISTS, pid, "us", l="en-US")

    assert [t.id for t in tracks] == [*songs[:150], video, *songs[150:]]
    assert tracks[150].type is ResourceType.MUSIC_VIDEOS
    assert [(r.path, r.query) for r in apple_server.requests] == [
        (f"/v1/catalog/us/playlists/{pid}/tracks", {"l": "en-US"}),
        (f"/v1/catalog/us/playlists/{pid}/tracks", {"offset": "100", "l": "en-US"}),
        (f"/v1/catalog/us/playlists/{pid}/tracks", {"offset": "200", "l": "en-US"}),
    ]


async def test_tracks_of_an_unknown_album_is_not_found(
    apple_server: LoopbackApple, apple_client: AppleMusicClient
) -> None:
    with pytest.raises(NotFound):
        await apple_client.get_tracks(ALBUMS, "123", "us")
    with pytest.raises(ValueError, match="albums and playlists"):
        await apple_client.get_tracks(SONGS, "123", "us")


async def test_tracks_stop_at_max_items(apple_server: LoopbackApple, apple_client: AppleMusicClient) -> None:
    pid = apple_server.add_playlist(n_tracks=250)
    tracks = await apple_client.get_tracks(PLAYLISTS, pid, "us", max_items=150)
    assert len(tracks) == 150
    assert apple_server.count() == 2


async def test_search(apple_server: LoopbackApple, apple_client: AppleMusicClient) -> None:
    apple_server.add_album(name="Emotional Creature", artist="Beach Bunny", tracks=3)
    apple_server.add_song(name="Entropy", artist="Beach Bunny")
    apple_server.add_song(name="Cloud 9", artist="Beach Bunny")
    apple_server.add_song(name="Unrelated", artist="Someone Else")
    apple_server.add_playlist(name="Beach Bunny Essentials", curator="Apple Music", n_tracks=2)

    results = await apple_client.search("beach bunny", "us", [SONGS, ALBUMS], limit=4)

    assert list(results) == [SONGS, ALBUMS]
    assert len(results[SONGS]) == 4  # 5 Beach Bunny songs, limit 4
    assert all(i.artist_name == "Beach Bunny" and i.type is SONGS for i in results[SONGS])
    assert [i.name for i in results[ALBUMS]] == ["Emotional Creature"]
    rec = apple_server.requests[0]
    assert (rec.path, rec.query) == (
        "/v1/catalog/us/search",
        {"term": "beach bunny", "types": "songs,albums", "limit": "4"},
    )


async def test_search_with_no_hits(apple_server: LoopbackApple, apple_client: AppleMusicClient) -> None:
    results = await apple_client.search("nothing at all", "us", [SONGS, PLAYLISTS])
    assert results == {SONGS: [], PLAYLISTS: []}


@pytest.mark.parametrize(
    ("term", "types", "limit"),
    [
        ("", [SONGS], 5),
        ("x", [SONGS], 0),
        ("x", [SONGS], 26),
        ("x", [], 5),
        ("x", [ResourceType.LIBRARY_SONGS], 5),
    ],
)
async def test_search_arguments_are_checked_first(
    apple_server: LoopbackApple,
    apple_client: AppleMusicClient,
    term: str,
    types: list[ResourceType],
    limit: int,
) -> None:
    with pytest.raises(ValueError):
        await apple_client.search(term, "us", types, limit)
    assert apple_server.count() == 0


async def test_catalog_arguments_are_checked_first(apple_server: LoopbackApple, apple_client: AppleMusicClient) -> None:
    with pytest.raises(ValueError, match="catalog type"):
        await apple_client.get_catalog(ResourceType.LIBRARY_SONGS, ["i.x"], "us")
    with pytest.raises(ValueError, match="storefront"):
        await apple_client.get_catalog(SONGS, ["1"], "USA")
    with pytest.raises(ValueError, match="storefront"):
        await apple_client.get_catalog_item(SONGS, "1", "../me")
    assert apple_server.count() == 0


async def test_storefront(apple_server: LoopbackApple, apple_client: AppleMusicClient, apple_user: str) -> None:
    storefront = await apple_client.get_storefront(apple_user)
    assert storefront == Storefront("us", "United States", "en-US", ("en-US", "es-MX"))
    rec = apple_server.requests[0]
    assert (rec.method, rec.path, rec.user_token) == ("GET", "/v1/me/storefront", apple_user)
    jp = apple_server.add_user("mut-jp-user-123456789", storefront="jp")
    assert (await apple_client.get_storefront(jp)).default_language_tag == "ja"


async def test_storefront_of_a_bad_token(apple_server: LoopbackApple, apple_client: AppleMusicClient) -> None:
    with pytest.raises(UserTokenInvalid):
        await apple_client.get_storefront("mut-unknown")
    with pytest.raises(UserTokenInvalid):
        await apple_client.get_storefront("   ")
    assert apple_server.count() == 1  # a blank token is refused without asking Apple


# ---------------------------------------------------------------- models


def test_artwork_url_fills_and_clamps() -> None:
    art = Artwork("https://is1-ssl.mzstatic.com/image/thumb/x/{w}x{h}bb.{f}", width=1000, height=800, bg_color="FA5FB3")
    assert art.url(300) == "https://is1-ssl.mzstatic.com/image/thumb/x/300x300bb.jpg"
    assert art.url(640, 360, format="webp") == "https://is1-ssl.mzstatic.com/image/thumb/x/640x360bb.webp"
    assert art.url(5000) == "https://is1-ssl.mzstatic.com/image/thumb/x/1000x800bb.jpg"  # never upscaled
    assert art.bg_colour == 0xFA5FB3
    assert Artwork.colour_value("zzzzzz") is None and Artwork.colour_value(None) is None
    with pytest.raises(ValueError):
        art.url(0)


def test_models_parse_leniently() -> None:
    assert CatalogItem.from_api({}) is None
    assert CatalogItem.from_api({"id": "1", "type": "artists"}) is None  # artists cannot be rated
    bare = CatalogItem.from_api({"id": "1", "attributes": {"name": 5, "artwork": {"url": ""}}}, SONGS)
    assert bare == CatalogItem(id="1", type=SONGS, name="")
    assert Storefront.from_api({"attributes": {}}) is None
    assert Storefront.from_api({"id": "fr"}) == Storefront("fr", "fr", "", ())


def test_resource_type_helpers() -> None:
    assert len(ResourceType) == 9
    assert ResourceType.LIBRARY_MUSIC_VIDEOS.value == "library-music-videos"
    assert ResourceType.LIBRARY_ALBUMS.is_library and not ALBUMS.is_library
    assert ResourceType.LIBRARY_SONGS.catalog_twin is SONGS and SONGS.catalog_twin is SONGS
    assert SONGS.library_twin is ResourceType.LIBRARY_SONGS
    assert ResourceType.STATIONS.library_twin is None
    labels = {t: t.label for t in ResourceType}
    assert labels[SONGS] == "song"
    assert labels[ResourceType.MUSIC_VIDEOS] == "music video"
    assert labels[ResourceType.LIBRARY_ALBUMS] == "library album"
    assert ResourceType.LIBRARY_PLAYLISTS.plural_label == "library playlists"
    assert f"{ResourceType.MUSIC_VIDEOS}" == "music-videos"  # a StrEnum formats as its path segment
    for text in ("songs", "song", "SONGS", "library song", "library_music_videos", " Music Video "):
        assert isinstance(ResourceType.parse(text), ResourceType)
    with pytest.raises(ValueError):
        ResourceType.parse("artists")
