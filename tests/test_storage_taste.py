"""Server taste in the store (issue 18): who shared what in a server, members' votes on it, the opt-in to be named,
the tops, and what deletes them; on both engines."""

from __future__ import annotations

import pytest

from bot.storage import Store

G, OTHER_G = 500, 501
MUSIC, CHAT = 50, 51
ALICE, BOB, CAROL, DAN = 1, 2, 3, 4
T0 = 1_700_000_000.0
DAY = 86_400.0


async def share(store: Store, message: int, sharer: int, item: str, at: float, *, channel: int = MUSIC) -> None:
    await store.record_shared_message(message, channel, G, "songs", item, at)
    await store.record_share(message, G, channel, sharer, "songs", item, at)


async def vote(store: Store, user: int, item: str, value: int, *, guild: int = G, kind: str = "songs") -> None:
    await store.record_vote(guild, user, kind, item, value, T0)


async def test_tops_order_by_net_likes_then_likes_then_the_earliest_share(store: Store) -> None:
    await share(store, 11, ALICE, "a", T0 + 1)
    await share(store, 12, BOB, "b", T0 + 2)
    await share(store, 13, CAROL, "c", T0 + 3)
    await share(store, 14, ALICE, "d", T0 + 4)
    await share(store, 15, DAN, "quiet", T0 + 5)  # no vote: not in the tops
    for user in (ALICE, BOB, CAROL):
        await vote(store, user, "b", 1)  # b: +3
    await vote(store, DAN, "b", -1)  # b: net 2, 3 likes
    await vote(store, ALICE, "a", 1)
    await vote(store, BOB, "a", 1)  # a: net 2, 2 likes
    await vote(store, ALICE, "c", 1)
    await vote(store, BOB, "c", 1)  # c: net 2, 2 likes, shared after a
    await vote(store, CAROL, "d", -1)  # d: net -1
    await vote(store, ALICE, "a", 1, guild=OTHER_G)  # another server's vote does not count here
    top = await store.top_items(G, T0, T0 + DAY)
    assert [(t.item_id, t.likes, t.dislikes, t.net) for t in top] == [
        ("b", 3, 1, 2),
        ("a", 2, 0, 2),
        ("c", 2, 0, 2),
        ("d", 0, 1, -1),
    ]
    assert [(t.sharer_id, t.message_id, t.channel_id, t.shared_at) for t in top[:1]] == [(BOB, 12, MUSIC, T0 + 2)]
    assert [t.item_id for t in await store.top_items(G, T0, T0 + DAY, limit=2)] == ["b", "a"]


async def test_a_period_a_channel_and_kinds_narrow_the_tops(store: Store) -> None:
    await share(store, 11, ALICE, "a", T0)
    await share(store, 12, BOB, "b", T0 + 3 * DAY, channel=CHAT)
    await share(store, 13, CAROL, "a", T0 + 4 * DAY, channel=CHAT)  # shared again later, elsewhere
    await store.record_share(14, G, MUSIC, DAN, "albums", "x", T0 + 4 * DAY)
    for item in ("a", "b"):
        await vote(store, ALICE, item, 1)
    await vote(store, BOB, "x", 1, kind="albums")
    assert [(t.item_id, t.message_id) for t in await store.top_items(G, T0, T0 + 7 * DAY)] == [
        ("a", 11),  # counted once, at its first share in the period; ties: the earliest share first
        ("b", 12),
        ("x", 14),
    ]
    # the week from day 2: "a" counts at its share of day 4, by Carol
    later = await store.top_items(G, T0 + 2 * DAY, T0 + 9 * DAY)
    assert [(t.item_id, t.sharer_id) for t in later] == [("b", BOB), ("a", CAROL), ("x", DAN)]
    assert [t.item_id for t in await store.top_items(G, T0, T0 + 7 * DAY, channel_id=CHAT)] == ["b", "a"]
    assert [t.item_id for t in await store.top_items(G, T0, T0 + 7 * DAY, item_types=["albums"])] == ["x"]
    assert await store.top_items(G, T0, T0 + 7 * DAY, item_types=[]) == []
    assert await store.top_items(G, T0 + DAY, T0 + 2 * DAY) == [], "the period is half-open and had no share"


async def test_top_sharers_by_the_net_likes_of_what_they_shared(store: Store) -> None:
    await share(store, 11, ALICE, "a", T0)
    await share(store, 12, ALICE, "b", T0 + 1)
    await share(store, 13, BOB, "c", T0 + 2)
    await share(store, 14, CAROL, "d", T0 + 3)
    await vote(store, BOB, "a", 1)
    await vote(store, CAROL, "c", 1)
    await vote(store, DAN, "c", 1)
    await vote(store, DAN, "d", -1)
    sharers = await store.top_sharers(G, T0, T0 + DAY)
    assert [(s.user_id, s.shares, s.net_likes) for s in sharers] == [(BOB, 1, 2), (ALICE, 2, 1), (CAROL, 1, -1)]
    assert [s.user_id for s in await store.top_sharers(G, T0 + 2, T0 + DAY, limit=1)] == [BOB]


async def test_a_vote_is_replaced_and_a_zero_removes_it(store: Store) -> None:
    await vote(store, ALICE, "a", 1)
    await vote(store, ALICE, "a", -1)
    await vote(store, ALICE, "b", 1)
    assert await store.member_votes(G, ALICE) == {("songs", "a"): -1, ("songs", "b"): 1}
    await vote(store, ALICE, "b", 0)
    assert await store.member_votes(G, ALICE) == {("songs", "a"): -1}
    assert await store.member_votes(OTHER_G, ALICE) == {}
    with pytest.raises(ValueError, match="vote"):
        await vote(store, ALICE, "a", 2)


async def test_being_named_is_opt_in_per_server(store: Store) -> None:
    assert await store.taste_named(G, [ALICE, BOB]) == set()
    assert await store.set_taste_named(G, ALICE, True, T0)
    assert not await store.set_taste_named(G, ALICE, True, T0), "already chosen: no change"
    assert await store.taste_named(G, [ALICE, BOB, CAROL]) == {ALICE}
    assert await store.taste_named(OTHER_G, [ALICE]) == set(), "per server"
    assert await store.taste_named(G, []) == set()
    assert await store.set_taste_named(G, ALICE, False)
    assert not await store.set_taste_named(G, ALICE, False)
    assert await store.taste_named(G, [ALICE]) == set()


async def test_deleting_a_post_unlinking_and_the_retention_rule_delete_taste(store: Store) -> None:
    await share(store, 11, ALICE, "a", T0)
    await share(store, 12, BOB, "b", T0 + 10 * DAY)
    await vote(store, BOB, "a", 1)
    await store.record_vote(G, CAROL, "songs", "b", 1, T0 + 10 * DAY)
    await store.set_taste_named(G, BOB, True, T0)
    assert await store.forget_shared_messages([11]) == 1  # the post was deleted: it no longer counts
    assert [t.item_id for t in await store.top_items(G, T0, T0 + 30 * DAY)] == ["b"]
    await store.link_account(BOB, "token-of-bob-" + "x" * 60, "us", now=T0)
    await store.unlink(BOB)  # /unlink and /forget-me: his shares, votes and choice go
    assert await store.top_items(G, T0, T0 + 30 * DAY) == []
    assert await store.member_votes(G, BOB) == {} and await store.taste_named(G, [BOB]) == set()
    assert (await store.user_rows(BOB))["taste_votes"] == []
    await share(store, 13, ALICE, "c", T0 + 11 * DAY)
    assert await store.purge_taste(T0 + 10.5 * DAY) == 1, "Carol's vote of day 10"
    assert await store.member_votes(G, CAROL) == {}
    assert await store.purge_taste(T0 + 11.5 * DAY) == 1, "Alice's share of day 11"
