"""The client's library playlist calls, over real HTTP against the loopback Apple."""

from __future__ import annotations

import pytest

from bot import applemusic as am
from bot.applemusic import AppleMusicClient, ResourceType
from loopback.apple import LoopbackApple

SONGS = ResourceType.SONGS


async def test_create_with_tracks_in_order_and_add_more(
    apple_client: AppleMusicClient, apple_server: LoopbackApple, apple_user: str
) -> None:
    a, b, c = (apple_server.add_song() for _ in range(3))
    playlist = await apple_client.create_library_playlist(
        "Server — week 12", [(SONGS, b), (SONGS, a)], apple_user, description="The week's most liked"
    )
    assert playlist.id.startswith("p.") and playlist.name == "Server — week 12"
    await apple_client.add_library_playlist_tracks(playlist.id, [(SONGS, c)], apple_user)
    assert apple_server.library_playlists(apple_user) == [
        {
            "id": playlist.id,
            "name": "Server — week 12",
            "description": "The week's most liked",
            "parent": None,
            "tracks": [b, a, c],
        }
    ]
    [create] = [r for r in apple_server.requests if r.method == "POST" and r.path == "/v1/me/library/playlists"]
    assert create.json["relationships"]["tracks"]["data"] == [{"id": b, "type": "songs"}, {"id": a, "type": "songs"}]
    assert create.headers["Content-Type"].startswith("application/json")


async def test_find_by_exact_name_across_pages(
    apple_client: AppleMusicClient, apple_server: LoopbackApple, apple_user: str
) -> None:
    song = apple_server.add_song()
    for n in range(120):
        await apple_client.create_library_playlist(f"List {n:03d}", [(SONGS, song)], apple_user)
    wanted = await apple_client.create_library_playlist("Zz mixtape", [(SONGS, song)], apple_user)
    await apple_client.create_library_playlist("Zz mixtape 2", [(SONGS, song)], apple_user)
    apple_server.reset_requests()
    assert await apple_client.find_library_playlists("Zz mixtape", apple_user) == [wanted]
    assert [r.query.get("offset") for r in apple_server.requests] == [None, "100"]
    assert await apple_client.find_library_playlists("nothing", apple_user) == []


async def test_not_found_until_apple_shows_it(
    apple_client: AppleMusicClient, apple_server: LoopbackApple, apple_user: str
) -> None:
    apple_server.set_library_delay(3600.0)
    await apple_client.create_library_playlist("Later", [(SONGS, apple_server.add_song())], apple_user)
    assert await apple_client.find_library_playlists("Later", apple_user) == []


async def test_a_create_is_not_retried_after_a_5xx_but_is_after_a_429(
    apple_client: AppleMusicClient, apple_server: LoopbackApple, apple_user: str
) -> None:
    song = apple_server.add_song()
    apple_server.fail_next(1, 503)
    with pytest.raises(am.UpstreamError):
        await apple_client.create_library_playlist("Once", [(SONGS, song)], apple_user)
    assert apple_server.count("POST") == 1
    apple_server.fail_next(1, 429)
    await apple_client.create_library_playlist("Once", [(SONGS, song)], apple_user)
    assert apple_server.count("POST") == 3
    assert [p["name"] for p in apple_server.library_playlists(apple_user)] == ["Once"]


async def test_errors_are_the_typed_errors(
    apple_client: AppleMusicClient, apple_server: LoopbackApple, apple_user: str
) -> None:
    song = apple_server.add_song()
    with pytest.raises(am.UserTokenInvalid):
        await apple_client.create_library_playlist("X", [(SONGS, song)], "mut-unknown")
    with pytest.raises(am.BadRequest):
        await apple_client.create_library_playlist("X", [(SONGS, "404404")], apple_user)
    with pytest.raises(am.NotFound):
        await apple_client.add_library_playlist_tracks("p.unknown", [(SONGS, song)], apple_user)
    apple_server.reset_requests()
    with pytest.raises(ValueError):
        await apple_client.create_library_playlist("X", [(ResourceType.ALBUMS, song)], apple_user)
    with pytest.raises(ValueError):
        await apple_client.create_library_playlist("  ", [(SONGS, song)], apple_user)
    with pytest.raises(am.UserTokenInvalid):
        await apple_client.create_library_playlist("X", [(SONGS, song)], "")
    assert apple_server.requests == []
