"""The loopback Apple Music API itself behaves like Apple (raw HTTP, no client code involved)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest

from bot.applemusic import generate_private_key
from loopback.apple import LoopbackApple
from tests.fixtures.apple import AppleKey
from tests.fixtures.storage import FakeClock

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _jwt(key: AppleKey, *, pem: str | None = None, kid: str | None = None, iss: str | None = None, **times: int) -> str:
    now = int(time.time())
    claims = {"iss": iss or key.team_id, "iat": times.get("iat", now), "exp": times.get("exp", now + 3600)}
    return jwt.encode(claims, pem or key.pem, algorithm="ES256", headers={"kid": kid or key.key_id})


class Api:
    """Raw requests with chosen headers."""

    def __init__(self, http: aiohttp.ClientSession, server: LoopbackApple, key: AppleKey) -> None:
        self.http, self.server, self.key = http, server, key

    async def call(
        self,
        method: str,
        path: str,
        *,
        user: str | None = None,
        dev: str | None = None,
        body: Any = None,
        params: dict[str, str] | None = None,
    ) -> tuple[int, bytes, Any]:
        headers = {"Authorization": f"Bearer {dev if dev is not None else _jwt(self.key)}"}
        if user is not None:
            headers["Music-User-Token"] = user
        async with self.http.request(
            method, self.server.base_url + path, headers=headers, json=body, params=params
        ) as resp:
            raw = await resp.read()
            return resp.status, raw, (json.loads(raw) if raw else None)


@pytest.fixture
def api(http: aiohttp.ClientSession, apple_server: LoopbackApple, apple_key: AppleKey) -> Api:
    return Api(http, apple_server, apple_key)


def _error(payload: Any) -> dict[str, Any]:
    [entry] = payload["errors"]
    assert isinstance(entry["status"], str) and isinstance(entry["code"], str)
    assert entry["id"] and entry["title"]
    return dict(entry)


async def test_a_valid_token_is_accepted(api: Api, apple_user: str) -> None:
    status, _, payload = await api.call("GET", "/v1/me/ratings/songs", user=apple_user, params={"ids": "1"})
    assert (status, payload) == (200, {"data": []})


@pytest.mark.parametrize(
    "how",
    [
        "missing",
        "not-bearer",
        "garbage",
        "other-key",
        "expired",
        "wrong-kid",
        "wrong-iss",
        "180-days",
        "future",
    ],
)
async def test_bad_developer_tokens_get_401_with_an_empty_body(
    how: str,
    api: Api,
    apple_key: AppleKey,
    apple_user: str,
    http: aiohttp.ClientSession,
    apple_server: LoopbackApple,
) -> None:
    now = int(time.time())
    tokens = {
        "garbage": "not.a.jwt",
        "other-key": _jwt(apple_key, pem=generate_private_key()),
        "expired": _jwt(apple_key, iat=now - 7200, exp=now - 60),
        "wrong-kid": _jwt(apple_key, kid="OTHERKEY12"),
        "wrong-iss": _jwt(apple_key, iss="OTHERTEAM1"),
        "180-days": _jwt(apple_key, iat=now, exp=now + 15_777_000),
        "future": _jwt(apple_key, iat=now + 3600, exp=now + 7200),
    }
    if how in tokens:
        status, raw, _ = await api.call("GET", "/v1/me/storefront", user=apple_user, dev=tokens[how])
    else:
        headers = {"Music-User-Token": apple_user}
        if how == "not-bearer":
            headers["Authorization"] = "Basic " + _jwt(apple_key)
        async with http.get(apple_server.base_url + "/v1/me/storefront", headers=headers) as resp:
            status, raw = resp.status, await resp.read()
    assert (status, raw) == (401, b"")


@pytest.mark.parametrize("how", ["missing", "unknown", "revoked"])
async def test_bad_user_tokens_get_403_with_errors(
    how: str, api: Api, apple_server: LoopbackApple, apple_user: str
) -> None:
    user = {"missing": None, "unknown": "mut-stranger", "revoked": apple_user}[how]
    if how == "revoked":
        apple_server.revoke(apple_user)
    status, _, payload = await api.call("PUT", "/v1/me/ratings/songs/1", user=user, body={"type": "ratings"})
    assert status == 403
    assert _error(payload)["code"] == "40300"


async def test_a_token_that_expires_mid_run(api: Api, apple_server: LoopbackApple, apple_user: str) -> None:
    apple_server.expire_after(apple_user, 3)
    statuses = [(await api.call("GET", "/v1/me/storefront", user=apple_user))[0] for _ in range(5)]
    assert statuses == [200, 200, 200, 403, 403]
    apple_server.add_user(apple_user)  # re-linking issues a working token again
    assert (await api.call("GET", "/v1/me/storefront", user=apple_user))[0] == 200


async def test_unknown_type_segment_is_40008(api: Api, apple_user: str) -> None:
    for method, path in [
        ("GET", "/v1/me/ratings/artists/1"),
        ("GET", "/v1/me/ratings/library-stations"),
        ("PUT", "/v1/me/ratings/song/1"),
    ]:
        status, _, payload = await api.call(method, path, user=apple_user, params={"ids": "1"})
        assert status == 400
        entry = _error(payload)
        assert (entry["status"], entry["code"]) == ("400", "40008")


async def test_id_limits(api: Api, apple_user: str) -> None:
    ok = ",".join(str(n) for n in range(200))
    too_many = ",".join(str(n) for n in range(201))
    assert (await api.call("GET", "/v1/me/ratings/songs", user=apple_user, params={"ids": ok}))[0] == 200
    status, _, payload = await api.call("GET", "/v1/me/ratings/songs", user=apple_user, params={"ids": too_many})
    assert status == 400 and _error(payload)["source"] == {"parameter": "ids"}


async def test_get_many_needs_ids(api: Api, apple_user: str) -> None:
    for params in (None, {"ids": ""}):
        status, _, payload = await api.call("GET", "/v1/me/ratings/albums", user=apple_user, params=params)
        assert status == 400
        assert _error(payload)["source"] == {"parameter": "ids"}


async def test_rating_lifecycle(api: Api, apple_user: str) -> None:
    path = "/v1/me/ratings/songs/907242702"
    status, _, payload = await api.call("GET", path, user=apple_user)
    assert status == 404 and _error(payload)["status"] == "404"
    # Apple's own examples send "rating"; the documented resource type is "ratings": both are accepted.
    for kind, value in (("rating", 1), ("ratings", -1)):
        status, _, payload = await api.call(
            "PUT", path, user=apple_user, body={"type": kind, "attributes": {"value": value}}
        )
        assert status == 200
        assert payload == {
            "data": [{"id": "907242702", "type": "ratings", "href": path, "attributes": {"value": value}}]
        }
    status, _, payload = await api.call("GET", path, user=apple_user)
    assert payload["data"][0]["attributes"] == {"value": -1}
    status, _, payload = await api.call("GET", "/v1/me/ratings/songs", user=apple_user, params={"ids": "1,907242702,2"})
    assert [d["id"] for d in payload["data"]] == ["907242702"]
    status, raw, _ = await api.call("DELETE", path, user=apple_user)
    assert (status, raw) == (204, b"")
    status, _, payload = await api.call("DELETE", path, user=apple_user)
    assert status == 404 and _error(payload)["code"] == "40400"


@pytest.mark.parametrize(
    "body",
    [
        {"type": "ratings", "attributes": {"value": 2}},
        {"type": "ratings", "attributes": {"value": 0}},
        {"type": "ratings", "attributes": {"value": True}},
        {"type": "ratings", "attributes": {"value": "1"}},
        {"type": "ratings", "attributes": {}},
        {"type": "likes", "attributes": {"value": 1}},
        [1],
        None,
    ],
)
async def test_put_refuses_bad_bodies(body: Any, api: Api, apple_server: LoopbackApple, apple_user: str) -> None:
    status, _, payload = await api.call("PUT", "/v1/me/ratings/songs/1", user=apple_user, body=body)
    assert status == 400 and _error(payload)["status"] == "400"
    assert apple_server.rating(apple_user, "songs", "1") is None


async def test_library_and_catalog_share_a_rating(api: Api, apple_server: LoopbackApple, apple_user: str) -> None:
    apple_server.add_library_item(apple_user, "l.qrRWYhq", "albums", "1613600183")
    body = {"type": "ratings", "attributes": {"value": 1}}
    assert (await api.call("PUT", "/v1/me/ratings/albums/1613600183", user=apple_user, body=body))[0] == 200
    status, _, payload = await api.call("GET", "/v1/me/ratings/library-albums/l.qrRWYhq", user=apple_user)
    assert status == 200 and payload["data"][0]["id"] == "l.qrRWYhq"
    assert apple_server.rating(apple_user, "library-albums", "l.qrRWYhq") == 1
    assert (await api.call("DELETE", "/v1/me/ratings/library-albums/l.qrRWYhq", user=apple_user))[0] == 204
    assert apple_server.rating(apple_user, "albums", "1613600183") is None
    # Another user's library mapping does not leak.
    bob = apple_server.add_user("mut-bob-4444")
    apple_server.set_state(bob, "albums", "1613600183", -1)
    assert apple_server.rating(bob, "library-albums", "l.qrRWYhq") is None


async def test_unknown_paths_and_methods(api: Api, apple_user: str) -> None:
    for path in ["/v1/me/library/songs", "/v2/me/ratings/songs/1", "/", "/v1/me/ratings/songs/1/extra/x"]:
        status, _, payload = await api.call("GET", path, user=apple_user)
        assert status == 404 and _error(payload)["code"] == "40400"
    status, _, payload = await api.call("POST", "/v1/me/ratings/songs/1", user=apple_user)
    assert status == 405


async def test_no_subscription_is_401(api: Api, apple_server: LoopbackApple) -> None:
    token = apple_server.add_user("mut-free-tier", subscription=False)
    status, raw, _ = await api.call("GET", "/v1/me/ratings/songs/1", user=token)
    assert (status, raw) == (401, b"")


async def test_catalog_endpoints(api: Api, apple_server: LoopbackApple) -> None:
    sid = apple_server.add_song(name="Entropy", artist="Beach Bunny")
    status, _, payload = await api.call("GET", "/v1/catalog/us/songs", params={"ids": f"{sid},nope"})
    assert status == 200 and [d["id"] for d in payload["data"]] == [sid]
    song = payload["data"][0]
    assert song["type"] == "songs" and song["href"] == f"/v1/catalog/us/songs/{sid}"
    art = song["attributes"]["artwork"]
    assert "{w}x{h}bb.jpg" in art["url"] and art["url"].startswith("https://is1-ssl.mzstatic.com/image/thumb/")
    assert len(art["bgColor"]) == 6
    assert (await api.call("GET", "/v1/catalog/us/songs/nope"))[0] == 404
    assert (await api.call("GET", "/v1/catalog/us/artists/1"))[0] == 400
    too_many = ",".join(str(n) for n in range(301))
    assert (await api.call("GET", "/v1/catalog/us/songs", params={"ids": too_many}))[0] == 400


async def test_search_shape(api: Api, apple_server: LoopbackApple) -> None:
    for n in range(7):
        apple_server.add_song(name=f"Prom Queen {n}", artist="Beach Bunny")
    status, _, payload = await api.call(
        "GET", "/v1/catalog/us/search", params={"term": "beach bunny", "types": "songs,artists,albums"}
    )
    assert status == 200
    assert list(payload["results"]) == ["songs"]  # types without hits are absent
    songs = payload["results"]["songs"]
    assert len(songs["data"]) == 5  # Apple's default limit
    assert songs["href"] == "/v1/catalog/us/search?limit=5&term=beach%20bunny&types=songs"
    assert songs["next"].endswith("&offset=5")
    assert payload["meta"]["results"]["order"] == ["songs"]
    status, _, payload = await api.call(
        "GET", "/v1/catalog/us/search", params={"term": "x", "types": "songs", "limit": "26"}
    )
    assert status == 400 and _error(payload)["source"] == {"parameter": "limit"}
    status, _, payload = await api.call("GET", "/v1/catalog/us/search", params={"types": "songs"})
    assert status == 400 and _error(payload)["source"] == {"parameter": "term"}


async def test_tracks_are_paged_like_apple(api: Api, apple_server: LoopbackApple) -> None:
    pid = apple_server.add_playlist("pl.f4d106fed2bd41149aaacabb233eb5eb", n_tracks=150)
    status, _, first = await api.call("GET", f"/v1/catalog/us/playlists/{pid}/tracks")
    assert status == 200 and len(first["data"]) == 100
    assert first["next"] == f"/v1/catalog/us/playlists/{pid}/tracks?offset=100"
    _, _, second = await api.call("GET", first["next"])
    assert len(second["data"]) == 50 and "next" not in second
    assert (await api.call("GET", "/v1/catalog/us/albums/404/tracks"))[0] == 404


async def test_failure_injection_and_recording(api: Api, apple_server: LoopbackApple, apple_user: str) -> None:
    apple_server.fail_next(1, 429, retry_after=2, path_contains="/albums")
    apple_server.fail_next(1, 503)
    status, _, _ = await api.call("GET", "/v1/me/storefront", user=apple_user)
    assert status == 503
    async with api.http.get(
        apple_server.base_url + "/v1/me/ratings/albums/1",
        headers={"Authorization": f"Bearer {_jwt(api.key)}", "Music-User-Token": apple_user},
    ) as resp:
        assert resp.status == 429 and resp.headers["Retry-After"] == "2"
        assert _error(await resp.json())["code"] == "42900"
    assert (await api.call("GET", "/v1/me/storefront", user=apple_user))[0] == 200
    assert [r.status for r in apple_server.requests] == [503, 429, 200]
    assert apple_server.count("GET", "/v1/me/ratings") == 1
    assert apple_server.count(path_prefix="/v1/me/storefront") == 2
    assert apple_user not in repr(apple_server.requests)  # headers are kept out of the repr
    apple_server.reset_requests()
    assert apple_server.count() == 0


async def test_seeded_faults_repeat_exactly_for_the_same_seed(
    api: Api, apple_server: LoopbackApple, apple_user: str
) -> None:
    async def run(seed: int, n: int = 40) -> list[int]:
        apple_server.reset_requests()
        apple_server.inject_faults(0.3, statuses=(429, 500, 503), seed=seed)
        statuses = [(await api.call("GET", "/v1/me/storefront", user=apple_user))[0] for _ in range(n)]
        assert apple_server.stop_faults() == sum(1 for s in statuses if s != 200)
        assert [r.status for r in apple_server.requests] == statuses  # faults are recorded like any request
        return statuses

    first = await run(seed=7)
    assert await run(seed=7) == first
    assert 200 in first and len(set(first)) > 2 and set(first) <= {200, 429, 500, 503}
    assert await run(seed=8) != first
    # stopped: nothing fails any more
    assert [(await api.call("GET", "/v1/me/storefront", user=apple_user))[0] for _ in range(10)] == [200] * 10


async def test_seeded_faults_follow_arrival_order_not_timing(
    api: Api, apple_server: LoopbackApple, apple_user: str
) -> None:
    apple_server.inject_faults(0.5, seed=3)
    sequential = [(await api.call("GET", "/v1/me/storefront", user=apple_user))[0] for _ in range(30)]
    apple_server.stop_faults()
    apple_server.reset_requests()
    apple_server.latency = 0.01  # the draw happens on arrival, before the latency
    apple_server.inject_faults(0.5, seed=3)
    await asyncio.gather(*(api.call("GET", "/v1/me/storefront", user=apple_user) for _ in range(30)))
    # the n-th request the server recorded got the n-th draw, however the 30 concurrent requests interleaved
    assert [r.status for r in apple_server.requests] == sequential


async def test_seeded_faults_answer_like_fail_next_and_only_where_asked(
    api: Api, apple_server: LoopbackApple, apple_user: str
) -> None:
    apple_server.inject_faults(1.0, statuses=(429,), retry_after=1.5, path_contains="/ratings/")
    headers = {"Authorization": f"Bearer {_jwt(api.key)}", "Music-User-Token": apple_user}
    async with api.http.get(apple_server.base_url + "/v1/me/ratings/songs/1", headers=headers) as resp:
        assert resp.status == 429 and resp.headers["Retry-After"] == "1.5"
        assert _error(await resp.json())["code"] == "42900"
    assert (await api.call("GET", "/v1/me/storefront", user=apple_user))[0] == 200  # no draw, no fault
    apple_server.inject_faults(1.0, statuses=(401, 500))
    answers = [await api.call("GET", "/v1/me/storefront", user=apple_user) for _ in range(20)]
    assert {status for status, _, _ in answers} == {401, 500}
    for status, raw, payload in answers:  # as fail_next answers: 401 with an empty body, 500 with errors
        assert raw == b"" if status == 401 else _error(payload)["code"] == "50000"
    with pytest.raises(ValueError):
        apple_server.inject_faults(1.5)
    with pytest.raises(ValueError):
        apple_server.inject_faults(0.5, statuses=())


async def test_sustained_rate_limit(
    api: Api, apple_server: LoopbackApple, apple_user: str, fake_clock: FakeClock
) -> None:
    apple_server.clock = fake_clock  # the bucket refills on the server's clock, which the test moves

    async def statuses(n: int) -> list[int]:
        return [(await api.call("GET", "/v1/me/storefront", user=apple_user))[0] for _ in range(n)]

    apple_server.rate_limit(4, burst=3)  # one new request every 250 ms (binary-exact steps below)
    assert await statuses(5) == [200, 200, 200, 429, 429]
    fake_clock.advance(0.125)
    assert await statuses(1) == [429]
    fake_clock.advance(0.125)
    assert await statuses(2) == [200, 429]
    fake_clock.advance(10)  # a long pause refills the burst, no more
    assert await statuses(3) == [200, 200, 200]
    async with api.http.get(
        apple_server.base_url + "/v1/me/storefront",
        headers={"Authorization": f"Bearer {_jwt(api.key)}", "Music-User-Token": apple_user},
    ) as resp:  # Apple's 429 for a sustained rate says nothing about when to retry
        assert resp.status == 429 and "Retry-After" not in resp.headers
        assert _error(await resp.json())["code"] == "42900"
    apple_server.rate_limit(None)
    assert await statuses(10) == [200] * 10


async def test_latency(api: Api, apple_server: LoopbackApple, apple_user: str) -> None:
    apple_server.latency = 0.15
    started = time.perf_counter()
    await api.call("GET", "/v1/me/storefront", user=apple_user)
    assert time.perf_counter() - started >= 0.15


async def test_admin_api(http: aiohttp.ClientSession, apple_server: LoopbackApple) -> None:
    async def admin(op: str, **kwargs: Any) -> tuple[int, Any]:
        async with http.post(f"{apple_server.base_url}/_admin/{op}", json=kwargs) as resp:
            return resp.status, await resp.json()

    assert await admin("add_user", token="mut-admin-user", storefront="gb") == (
        200,
        {"result": "mut-admin-user"},
    )
    assert (await admin("set_state", token="mut-admin-user", type="songs", id="1", value=1))[0] == 200
    assert await admin("rating", token="mut-admin-user", type="songs", id="1") == (200, {"result": 1})
    status, payload = await admin("add_song", name="Via Admin")
    assert status == 200 and payload["result"] in apple_server.catalog["songs"]
    assert (await admin("fail_next", n=1, status=500))[0] == 200
    assert await admin("inject_faults", rate=1.0, statuses=[503], seed=1) == (200, {"result": None})
    assert await admin("stop_faults") == (200, {"result": 0})
    assert (await admin("inject_faults", rate=2))[0] == 400
    assert (await admin("count"))[1] == {"result": 0}  # admin calls are not recorded
    assert (await admin("close"))[0] == 404  # only whitelisted operations
    assert (await admin("set_state", token="mut-admin-user", type="songs", id="1", value=5))[0] == 400


async def test_runs_as_a_separate_process(apple_key: AppleKey, tmp_path: Path) -> None:
    public = tmp_path / "key.pub.pem"
    public.write_text(apple_key.public_pem)
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"users": [{"token": "mut-proc-user"}], "songs": [{"id": "77", "name": "Seeded"}]}))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "loopback.apple",
        "--public-key",
        str(public),
        "--team-id",
        apple_key.team_id,
        "--key-id",
        apple_key.key_id,
        "--config",
        str(seed),
        stdout=asyncio.subprocess.PIPE,
        cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().strip()
        assert line.startswith("listening on http://127.0.0.1:")
        base = line.removeprefix("listening on ")
        async with aiohttp.ClientSession() as http:
            headers = {"Authorization": f"Bearer {_jwt(apple_key)}", "Music-User-Token": "mut-proc-user"}
            async with http.get(base + "/v1/catalog/us/songs/77", headers=headers) as resp:
                assert resp.status == 200
                assert (await resp.json())["data"][0]["attributes"]["name"] == "Seeded"
            async with http.get(base + "/v1/me/storefront", headers=headers) as resp:
                assert resp.status == 200
            async with http.post(base + "/_admin/count", json={}) as resp:
                assert await resp.json() == {"result": 2}
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 10) == 0  # SIGTERM ends it cleanly
