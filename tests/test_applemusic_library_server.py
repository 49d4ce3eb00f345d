"""The loopback Apple's library playlists behave as Apple documents them (raw HTTP, no client code involved)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from loopback.apple import LoopbackApple
from tests.fixtures.apple import AppleKey
from tests.fixtures.storage import FakeClock
from tests.test_applemusic_server import Api, _error


@pytest.fixture
async def api(apple_server: LoopbackApple, apple_key: AppleKey) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as http:
        yield Api(http, apple_server, apple_key)


PLAYLISTS = "/v1/me/library/playlists"


def _create_body(name: str, *songs: str, description: str | None = None, **extra: Any) -> dict[str, Any]:
    attrs: dict[str, Any] = {"name": name}
    if description is not None:
        attrs["description"] = description
    return {
        "attributes": attrs,
        "relationships": {"tracks": {"data": [{"id": s, "type": "songs"} for s in songs]}, **extra},
    }


async def test_create_with_tracks_then_read_it_back(api: Api, apple_server: LoopbackApple, apple_user: str) -> None:
    a, b, c = (apple_server.add_song(name=n) for n in ("Alpha", "Beta", "Gamma"))
    status, _, payload = await api.call("POST", PLAYLISTS, user=apple_user, body=_create_body("Week 1", c, a, b))
    assert status == 201
    [created] = payload["data"]
    assert created["type"] == "library-playlists" and created["id"].startswith("p.")
    assert created["attributes"]["name"] == "Week 1"
    assert created["attributes"]["playParams"] == {"id": created["id"], "kind": "playlist", "isLibrary": True}
    pid = created["id"]

    status, _, one = await api.call("GET", f"{PLAYLISTS}/{pid}", user=apple_user)
    assert status == 200 and one["data"][0]["id"] == pid
    status, _, tracks = await api.call("GET", f"{PLAYLISTS}/{pid}/tracks", user=apple_user)
    assert status == 200
    assert [t["attributes"]["playParams"]["catalogId"] for t in tracks["data"]] == [c, a, b]
    assert all(t["type"] == "library-songs" and t["id"].startswith("i.") for t in tracks["data"])
    assert [t["attributes"]["name"] for t in tracks["data"]] == ["Gamma", "Alpha", "Beta"]

    # add tracks: 204 without a body, appended at the end in order
    status, raw, _ = await api.call(
        "POST", f"{PLAYLISTS}/{pid}/tracks", user=apple_user, body={"data": [{"id": a, "type": "songs"}]}
    )
    assert (status, raw) == (204, b"")
    assert apple_server.library_playlists(apple_user) == [
        {"id": pid, "name": "Week 1", "description": None, "parent": None, "tracks": [c, a, b, a]}
    ]
    # the library form of a song the playlist added is a valid track too, and shares the catalog song's rating
    library_id = tracks["data"][0]["id"]
    status, _, _ = await api.call(
        "POST",
        f"{PLAYLISTS}/{pid}/tracks",
        user=apple_user,
        body={"data": [{"id": library_id, "type": "library-songs"}]},
    )
    assert status == 204 and apple_server.library_playlists(apple_user)[0]["tracks"][-1] == c


async def test_all_playlists_alphabetical_and_paged(api: Api, apple_server: LoopbackApple, apple_user: str) -> None:
    song = apple_server.add_song()
    names = [f"List {n:02d}" for n in range(30, 0, -1)]
    for name in names:
        status, _, _ = await api.call("POST", PLAYLISTS, user=apple_user, body=_create_body(name, song))
        assert status == 201
    status, _, first = await api.call("GET", PLAYLISTS, user=apple_user)
    assert status == 200 and len(first["data"]) == 25 and first["next"] == f"{PLAYLISTS}?offset=25"
    status, _, rest = await api.call("GET", PLAYLISTS, user=apple_user, params={"offset": "25"})
    assert "next" not in rest
    assert [p["attributes"]["name"] for p in first["data"] + rest["data"]] == sorted(names)
    ids = [p["id"] for p in first["data"][:3]]
    status, _, many = await api.call("GET", PLAYLISTS, user=apple_user, params={"ids": ",".join(ids)})
    assert [p["id"] for p in many["data"]] == ids
    status, _, payload = await api.call("GET", PLAYLISTS, user=apple_user, params={"ids": ",".join(["p.x"] * 26)})
    assert status == 400 and _error(payload)["source"] == {"parameter": "ids"}


async def test_new_playlists_and_tracks_show_after_the_delay(
    api: Api, apple_server: LoopbackApple, apple_user: str, fake_clock: FakeClock
) -> None:
    apple_server.clock = fake_clock
    apple_server.set_library_delay(30.0)
    a, b = apple_server.add_song(), apple_server.add_song()
    status, _, payload = await api.call("POST", PLAYLISTS, user=apple_user, body=_create_body("Slow", a))
    assert status == 201
    pid = payload["data"][0]["id"]
    # not shown yet, in any read
    assert (await api.call("GET", f"{PLAYLISTS}/{pid}", user=apple_user))[0] == 404
    assert (await api.call("GET", f"{PLAYLISTS}/{pid}/tracks", user=apple_user))[0] == 404
    assert (await api.call("GET", PLAYLISTS, user=apple_user))[2]["data"] == []
    # but it takes tracks already
    body = {"data": [{"id": b, "type": "songs"}]}
    assert (await api.call("POST", f"{PLAYLISTS}/{pid}/tracks", user=apple_user, body=body))[0] == 204
    fake_clock.advance(29.0)
    assert (await api.call("GET", f"{PLAYLISTS}/{pid}", user=apple_user))[0] == 404
    fake_clock.advance(1.0)
    _, _, tracks = await api.call("GET", f"{PLAYLISTS}/{pid}/tracks", user=apple_user)
    assert [t["attributes"]["playParams"]["catalogId"] for t in tracks["data"]] == [a, b]
    # tracks added now show 30 s later
    await api.call("POST", f"{PLAYLISTS}/{pid}/tracks", user=apple_user, body={"data": [{"id": a, "type": "songs"}]})
    _, _, tracks = await api.call("GET", f"{PLAYLISTS}/{pid}/tracks", user=apple_user)
    assert len(tracks["data"]) == 2
    fake_clock.advance(30.0)
    _, _, tracks = await api.call("GET", f"{PLAYLISTS}/{pid}/tracks", user=apple_user)
    assert len(tracks["data"]) == 3


async def test_folders_hold_playlists(api: Api, apple_server: LoopbackApple, apple_user: str) -> None:
    status, _, payload = await api.call(
        "POST", "/v1/me/library/playlist-folders", user=apple_user, body={"attributes": {"name": "Mixtapes"}}
    )
    assert status == 201 and payload["data"][0]["type"] == "library-playlist-folders"
    folder = payload["data"][0]["id"]
    parent = {"parent": {"data": [{"id": folder, "type": "library-playlist-folders"}]}}
    song = apple_server.add_song()
    status, _, _ = await api.call("POST", PLAYLISTS, user=apple_user, body=_create_body("In folder", song, **parent))
    assert status == 201
    assert apple_server.library_playlists(apple_user)[0]["parent"] == folder
    assert apple_server.library_folders(apple_user) == {folder: ("Mixtapes", None)}
    unknown = {"parent": {"data": [{"id": "p.nope", "type": "library-playlist-folders"}]}}
    status, _, payload = await api.call("POST", PLAYLISTS, user=apple_user, body=_create_body("X", song, **unknown))
    assert status == 400 and _error(payload)["source"] == {"parameter": "relationships.parent"}


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        ({"attributes": {"name": ""}}, "attributes.name"),
        ({"attributes": {"name": "   "}}, "attributes.name"),
        ({"attributes": {}}, "attributes.name"),
        ({"attributes": {"name": "X", "description": 5}}, "attributes.description"),
        (
            {"attributes": {"name": "X"}, "relationships": {"tracks": {"data": [{"id": "999", "type": "songs"}]}}},
            "relationships.tracks.data",
        ),
        (
            {"attributes": {"name": "X"}, "relationships": {"tracks": {"data": [{"id": "{song}", "type": "albums"}]}}},
            "relationships.tracks.data",
        ),
        (
            {
                "attributes": {"name": "X"},
                "relationships": {"tracks": {"data": [{"id": "i.x", "type": "library-songs"}]}},
            },
            "relationships.tracks.data",
        ),
    ],
)
async def test_create_refuses_what_apple_refuses(
    api: Api, apple_server: LoopbackApple, apple_user: str, body: dict[str, Any], parameter: str
) -> None:
    song = apple_server.add_song()
    body = _fill(body, song)
    status, _, payload = await api.call("POST", PLAYLISTS, user=apple_user, body=body)
    assert status == 400 and _error(payload)["source"] == {"parameter": parameter}
    assert apple_server.library_playlists(apple_user) == []  # nothing was created


def _fill(value: Any, song: str) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, song) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, song) for v in value]
    return value.replace("{song}", song) if isinstance(value, str) else value


async def test_refusals_of_tokens_bodies_and_methods(api: Api, apple_server: LoopbackApple, apple_user: str) -> None:
    song = apple_server.add_song()
    # no music user token, or an unknown one: 403 with errors
    for user in (None, "mut-unknown"):
        status, _, payload = await api.call("POST", PLAYLISTS, user=user, body=_create_body("X", song))
        assert status == 403 and _error(payload)["code"] == "40300"
    # no subscription: 401 with an empty body
    free = apple_server.add_user("mut-free-tier", subscription=False)
    status, raw, _ = await api.call("POST", PLAYLISTS, user=free, body=_create_body("X", song))
    assert (status, raw) == (401, b"")
    # a body that is not JSON
    async with api.http.post(
        apple_server.base_url + PLAYLISTS,
        data=b"name=X",
        headers={
            "Authorization": f"Bearer {api.key.developer_token().token}",
            "Music-User-Token": apple_user,
            "Content-Type": "application/x-www-form-urlencoded",
        },
    ) as resp:
        assert resp.status == 400 and _error(await resp.json())["code"] == "40007"
    _, _, payload = await api.call("POST", PLAYLISTS, user=apple_user, body=_create_body("Mine", song))
    pid = payload["data"][0]["id"]
    # no deleting or editing a playlist, no removing tracks
    for method, path in [
        ("DELETE", f"{PLAYLISTS}/{pid}"),
        ("PATCH", f"{PLAYLISTS}/{pid}"),
        ("PUT", f"{PLAYLISTS}/{pid}"),
        ("DELETE", f"{PLAYLISTS}/{pid}/tracks"),
        ("DELETE", PLAYLISTS),
    ]:
        status, _, payload = await api.call(method, path, user=apple_user)
        assert status == 405 and _error(payload)["code"] == "40500", (method, path)
    # adding to an unknown playlist: 404; bad tracks: 400 and nothing added
    body = {"data": [{"id": song, "type": "songs"}]}
    assert (await api.call("POST", f"{PLAYLISTS}/p.unknown/tracks", user=apple_user, body=body))[0] == 404
    bad = {"data": [{"id": song, "type": "songs"}, {"id": "404404", "type": "songs"}]}
    status, _, payload = await api.call("POST", f"{PLAYLISTS}/{pid}/tracks", user=apple_user, body=bad)
    assert status == 400 and _error(payload)["source"] == {"parameter": "data"}
    assert apple_server.library_playlists(apple_user)[0]["tracks"] == [song]
    # one user's playlists are not another's
    other = apple_server.add_user("mut-other")
    assert (await api.call("GET", f"{PLAYLISTS}/{pid}", user=other))[0] == 404
    assert apple_server.library_playlists(other) == []
