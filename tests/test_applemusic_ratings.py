"""The 36 personal ratings endpoints, over real HTTP against the loopback Apple Music API."""

from __future__ import annotations

import asyncio

import pytest

from bot.applemusic import AppleMusicClient, Rating, ResourceType
from loopback.apple import LoopbackApple, RecordedRequest
from tests.fixtures.e2e import eventually

# A realistic id for each type (catalog ids are digits or pl./ra.; library ids are i./l./p.).
IDS: dict[ResourceType, tuple[str, str, str]] = {
    ResourceType.SONGS: ("1613600188", "907242702", "1440857781"),
    ResourceType.ALBUMS: ("1613600183", "1138988512", "475655712"),
    ResourceType.MUSIC_VIDEOS: ("1445892316", "639032181", "870852283"),
    ResourceType.PLAYLISTS: (
        "pl.f4d106fed2bd41149aaacabb233eb5eb",
        "pl.u-8aAVZAPsxLaBQ",
        "pl.pm-20e9f373919",
    ),
    ResourceType.STATIONS: ("ra.1498157166", "ra.u-2d8d8b0b55", "ra.cp-1055074639"),
    ResourceType.LIBRARY_SONGS: ("i.PkdJNdAIrQozOW", "i.b1JP4OqsNr1jRx", "i.Z6Ae8Hvt3B0v2k"),
    ResourceType.LIBRARY_ALBUMS: ("l.qrRWYhq", "l.ABCdef1", "l.zz9YY8x"),
    ResourceType.LIBRARY_MUSIC_VIDEOS: ("i.mv8Jd9LpQ2", "i.mvAaBbCc3", "i.mvZ0Y9X8"),
    ResourceType.LIBRARY_PLAYLISTS: ("p.ZOAXxWRTXJ8Bme", "p.qQXLxPLtA75zg8", "p.V7VYVB0hZo4JjL"),
}
TYPES = list(ResourceType)


def _only_request(server: LoopbackApple) -> RecordedRequest:
    assert len(server.requests) == 1, server.requests
    return server.requests[0]


def test_the_table_covers_every_type() -> None:
    assert set(IDS) == set(ResourceType)
    assert len(TYPES) * 4 == 36  # GET one, GET many, PUT, DELETE per type


def _assert_apple_headers(rec: RecordedRequest, user_token: str) -> None:
    assert rec.headers["Authorization"].startswith("Bearer ey")
    assert rec.headers["Music-User-Token"] == user_token


@pytest.mark.parametrize("rtype", TYPES, ids=str)
async def test_get_one_rating(
    rtype: ResourceType, apple_server: LoopbackApple, apple_client: AppleMusicClient, apple_user: str
) -> None:
    rid = IDS[rtype][0]
    apple_server.set_state(apple_user, rtype, rid, -1)

    rating = await apple_client.get_rating(rtype, rid, apple_user)

    assert rating == Rating(id=rid, type=rtype, value=-1)
    assert rating.disliked and not rating.liked
    rec = _only_request(apple_server)
    assert (rec.method, rec.path, rec.query, rec.json, rec.status) == (
        "GET",
        f"/v1/me/ratings/{rtype.value}/{rid}",
        {},
        None,
        200,
    )
    _assert_apple_headers(rec, apple_user)


@pytest.mark.parametrize("rtype", TYPES, ids=str)
async def test_get_many_ratings(
    rtype: ResourceType, apple_server: LoopbackApple, apple_client: AppleMusicClient, apple_user: str
) -> None:
    a, b, c = IDS[rtype]
    apple_server.set_state(apple_user, rtype, a, 1)
    apple_server.set_state(apple_user, rtype, c, -1)

    ratings = await apple_client.get_ratings(rtype, [a, b, c], apple_user)

    assert ratings == {a: Rating(a, rtype, 1), c: Rating(c, rtype, -1)}  # b absent: not rated
    rec = _only_request(apple_server)
    assert (rec.method, rec.path, rec.query, rec.json, rec.status) == (
        "GET",
        f"/v1/me/ratings/{rtype.value}",
        {"ids": f"{a},{b},{c}"},
        None,
        200,
    )
    assert rec.raw_query == f"ids={a},{b},{c}"  # commas sent as commas, like Apple's examples
    _assert_apple_headers(rec, apple_user)


@pytest.mark.parametrize("rtype", TYPES, ids=str)
async def test_put_rating(
    rtype: ResourceType, apple_server: LoopbackApple, apple_client: AppleMusicClient, apple_user: str
) -> None:
    rid = IDS[rtype][1]

    rating = await apple_client.set_rating(rtype, rid, 1, apple_user)

    assert rating == Rating(rid, rtype, 1)
    assert apple_server.rating(apple_user, rtype, rid) == 1
    rec = _only_request(apple_server)
    assert (rec.method, rec.path, rec.query, rec.status) == (
        "PUT",
        f"/v1/me/ratings/{rtype.value}/{rid}",
        {},
        200,
    )
    assert rec.json == {"type": "ratings", "attributes": {"value": 1}}
    assert rec.headers["Content-Type"].startswith("application/json")
    _assert_apple_headers(rec, apple_user)


@pytest.mark.parametrize("rtype", TYPES, ids=str)
async def test_delete_rating(
    rtype: ResourceType, apple_server: LoopbackApple, apple_client: AppleMusicClient, apple_user: str
) -> None:
    rid = IDS[rtype][2]
    apple_server.set_state(apple_user, rtype, rid, 1)

    assert await apple_client.delete_rating(rtype, rid, apple_user) is None

    assert apple_server.rating(apple_user, rtype, rid) is None
    rec = _only_request(apple_server)
    assert (rec.method, rec.path, rec.query, rec.json, rec.status) == (
        "DELETE",
        f"/v1/me/ratings/{rtype.value}/{rid}",
        {},
        None,
        204,
    )
    _assert_apple_headers(rec, apple_user)


async def test_get_one_unrated_is_none_not_an_error(
    apple_server: LoopbackApple, apple_client: AppleMusicClient, apple_user: str
) -> None:
    assert await apple_client.get_rating(ResourceType.SONGS, "1613600188", apple_user) is None
    assert apple_server.requests[0].status == 404


async def test_delete_of_nothing_succeeds(
    apple_server: LoopbackApple, apple_client: AppleMusicClient, apple_user: str
) -> None:
    await apple_client.delete_rating(ResourceType.ALBUMS, "1613600183", apple_user)
    assert [r.status for r in apple_server.requests] == [404]  # one request: 404 is not retried


async def test_get_many_with_nothing_rated(
    apple_server: LoopbackApple, apple_client: AppleMusicClient, apple_user: str
) -> None:
    assert await apple_client.get_ratings(ResourceType.SONGS, ["1", "2"], apple_user) == {}
    assert apple_server.count("GET", "/v1/me/ratings/songs") == 1


async def test_language_include_and_extend_pass_through(
    apple_server: LoopbackApple, apple_client: AppleMusicClient, apple_user: str
) -> None:
    apple_server.set_state(apple_user, "songs", "5", 1)
    await apple_client.get_rating(ResourceType.SONGS, "5", apple_user, l="es-MX", include="catalog", extend=["x"])
    await apple_client.get_ratings(ResourceType.SONGS, ["5"], apple_user, l="es-MX", include=["a", "b"])
    await apple_client.set_rating(ResourceType.SONGS, "5", -1, apple_user, l="es-MX")
    await apple_client.delete_rating(ResourceType.SONGS, "5", apple_user, l="es-MX")
    assert [r.query for r in apple_server.requests] == [
        {"l": "es-MX", "include": "catalog", "extend": "x"},
        {"ids": "5", "l": "es-MX", "include": "a,b"},
        {"l": "es-MX"},  # PUT and DELETE take only `l`
        {"l": "es-MX"},
    ]


async def test_250_ids_make_exactly_three_requests(
    apple_server: LoopbackApple, apple_client: AppleMusicClient, apple_user: str
) -> None:
    ids = [str(1_000_000 + n) for n in range(250)]
    expected = {}
    for n, rid in enumerate(ids):
        if n % 3 == 0:
            apple_server.set_state(apple_user, "songs", rid, 1)
            expected[rid] = 1
        elif n % 3 == 1:
            apple_server.set_state(apple_user, "songs", rid, -1)
            expected[rid] = -1

    ratings = await apple_client.get_ratings(ResourceType.SONGS, ids, apple_user)

    assert {rid: r.value for rid, r in ratings.items()} == expected
    assert apple_server.count() == 3
    sizes = sorted((len(r.ids) for r in apple_server.requests), reverse=True)
    assert sizes == [100, 100, 50]
    sent = [rid for r in apple_server.requests for rid in r.ids]
    assert sorted(sent) == sorted(ids)  # every id asked exactly once


async def test_duplicate_ids_are_asked_once(
    apple_server: LoopbackApple, apple_client: AppleMusicClient, apple_user: str
) -> None:
    apple_server.set_state(apple_user, "albums", "7", 1)
    ratings = await apple_client.get_ratings(ResourceType.ALBUMS, ["7", "8", "7", "8", "7"], apple_user)
    assert list(ratings) == ["7"]
    assert apple_server.requests[0].ids == ["7", "8"]


async def test_no_ids_means_no_request(apple_server: LoopbackApple, apple_client: AppleMusicClient) -> None:
    assert await apple_client.get_ratings(ResourceType.SONGS, [], "any-token") == {}
    assert apple_server.count() == 0


async def test_chunks_are_sent_concurrently(
    apple_server: LoopbackApple, apple_client: AppleMusicClient, apple_user: str
) -> None:
    apple_server.hold()  # no answer yet: whatever the client sent stays in flight
    ids = [str(n) for n in range(1, 251)]
    call = asyncio.create_task(apple_client.get_ratings(ResourceType.SONGS, ids, apple_user))
    # a concurrent client gets all three chunks there before any answer; sequential chunks never do
    await eventually(lambda: apple_server.in_flight == 3, what="three chunks in flight at once")
    assert apple_server.peak_in_flight == 3
    assert sorted(len(r.ids) for r in apple_server.requests) == [50, 100, 100]
    apple_server.release()
    assert await call == {}


@pytest.mark.parametrize("value", [0, 2, -2, True, "1", 1.0, None])
async def test_set_rating_refuses_other_values_before_any_request(
    value: object, apple_server: LoopbackApple, apple_client: AppleMusicClient, apple_user: str
) -> None:
    with pytest.raises(ValueError, match="1 \\(like\\) or -1"):
        await apple_client.set_rating(ResourceType.SONGS, "1", value, apple_user)  # type: ignore[arg-type]
    assert apple_server.count() == 0


@pytest.mark.parametrize("bad_id", ["", "../etc", "a/b", "1 2", "x" * 300, "1?x=1", "é1"])
async def test_malformed_ids_are_refused_before_any_request(
    bad_id: str, apple_server: LoopbackApple, apple_client: AppleMusicClient, apple_user: str
) -> None:
    with pytest.raises(ValueError, match="not a valid Apple Music id"):
        await apple_client.get_rating(ResourceType.SONGS, bad_id, apple_user)
    with pytest.raises(ValueError):
        await apple_client.get_ratings(ResourceType.SONGS, ["1", bad_id], apple_user)
    assert apple_server.count() == 0


async def test_library_and_catalog_ids_share_one_rating(
    apple_server: LoopbackApple, apple_client: AppleMusicClient, apple_user: str
) -> None:
    apple_server.add_library_item(apple_user, "i.PkdJNdAIrQozOW", "songs", "1613600188")
    await apple_client.set_rating(ResourceType.LIBRARY_SONGS, "i.PkdJNdAIrQozOW", -1, apple_user)
    catalog = await apple_client.get_rating(ResourceType.SONGS, "1613600188", apple_user)
    assert catalog == Rating("1613600188", ResourceType.SONGS, -1)
    await apple_client.delete_rating(ResourceType.SONGS, "1613600188", apple_user)
    assert await apple_client.get_rating(ResourceType.LIBRARY_SONGS, "i.PkdJNdAIrQozOW", apple_user) is None


async def test_one_client_serves_many_users(
    apple_server: LoopbackApple, apple_client: AppleMusicClient, apple_user: str
) -> None:
    bob = apple_server.add_user("mut-bob-fedcba9876543210", storefront="gb")
    await apple_client.set_rating(ResourceType.SONGS, "42", 1, apple_user)
    await apple_client.set_rating(ResourceType.SONGS, "42", -1, bob)
    assert apple_server.rating(apple_user, "songs", "42") == 1
    assert apple_server.rating(bob, "songs", "42") == -1
    assert [r.user_token for r in apple_server.requests] == [apple_user, bob]
