"""The weekly recap in the store (issue 18): a server's recap settings, and the claim of a server's week by one
process (``claim_week`` / ``close_week``); on both engines, with two stores on one database for the processes."""

from __future__ import annotations

import asyncio

from bot.storage import Store
from tests.fixtures.storage import StoreFactory

G, OTHER_G = 700, 701
WEEK, NEXT_WEEK = "2026-W48", "2026-W49"
T0 = 1_700_000_000.0
END = T0 - 60.0  # the week ended a minute before the first claim
LEASE = 300.0


async def two_processes(store_factory: StoreFactory) -> tuple[Store, Store]:
    """Two stores on one database: two bot processes."""
    return await store_factory(), await store_factory()


async def test_of_processes_claiming_a_week_at_the_same_moment_exactly_one_wins(store_factory: StoreFactory) -> None:
    stores = [await store_factory() for _ in range(4)]
    claims = await asyncio.gather(
        *(s.claim_week(G, WEEK, END, f"process-{n}", LEASE, T0) for n, s in enumerate(stores))
    )
    assert sorted(claims) == [False, False, False, True]
    winner = f"process-{claims.index(True)}"
    row = await stores[0].closed_week(G, WEEK)
    assert row is not None
    assert (row.claimed_by, row.lease_until, row.week_end, row.closed_at, row.message_id) == (
        winner,
        T0 + LEASE,
        END,
        None,
        None,
    )
    # the same process asking again while it holds the lease is refused too: a claim is taken once
    assert not await stores[claims.index(True)].claim_week(G, WEEK, END, winner, LEASE, T0 + 1)
    # another server's week, and the next week of this one, are claims of their own
    assert await stores[1].claim_week(OTHER_G, WEEK, END, "process-1", LEASE, T0)
    assert await stores[2].claim_week(G, NEXT_WEEK, END + 7 * 86_400, "process-2", LEASE, T0)


async def test_a_lapsed_lease_is_taken_over_and_the_first_holder_can_no_longer_close(
    store_factory: StoreFactory,
) -> None:
    first, second = await two_processes(store_factory)
    assert await first.claim_week(G, WEEK, END, "first", LEASE, T0)
    # one second before the lease ends it still holds; at its end it has lapsed
    assert not await second.claim_week(G, WEEK, END, "second", LEASE, T0 + LEASE - 1)
    assert await second.claim_week(G, WEEK, END, "second", LEASE, T0 + LEASE)
    row = await second.closed_week(G, WEEK)
    assert row is not None and (row.claimed_by, row.lease_until) == ("second", T0 + 2 * LEASE)
    # the first process (it stalled) comes back: it no longer holds the week, and closes nothing
    assert not await first.close_week(G, WEEK, "first", 111, T0 + LEASE + 5)
    assert await second.close_week(G, WEEK, "second", 222, T0 + LEASE + 5)
    row = await first.closed_week(G, WEEK)
    assert row is not None and (row.claimed_by, row.closed_at, row.message_id) == ("second", T0 + LEASE + 5, 222)


async def test_a_closed_week_is_never_claimed_again(store_factory: StoreFactory) -> None:
    first, second = await two_processes(store_factory)
    assert await first.claim_week(G, WEEK, END, "first", LEASE, T0)
    assert await first.close_week(G, WEEK, "first", None, T0 + 1)  # closed without a post (no rated song)
    # long after the lease, by anyone, and closing twice: nothing
    for store, worker in ((first, "first"), (second, "second")):
        assert not await store.claim_week(G, WEEK, END, worker, LEASE, T0 + 10 * LEASE)
    assert not await first.close_week(G, WEEK, "first", 333, T0 + 2)
    row = await second.closed_week(G, WEEK)
    assert row is not None and (row.claimed_by, row.closed_at, row.message_id) == ("first", T0 + 1, None)


async def test_closed_weeks_are_purged_by_their_end(store: Store) -> None:
    assert await store.claim_week(G, WEEK, END, "p", LEASE, T0)
    assert await store.claim_week(G, NEXT_WEEK, END + 7 * 86_400, "p", LEASE, T0)
    assert await store.purge_closed_weeks(END) == 0  # ended at END: not before it
    assert await store.purge_closed_weeks(END + 1) == 1
    assert await store.closed_week(G, WEEK) is None
    assert await store.closed_week(G, NEXT_WEEK) is not None


async def test_recap_settings_are_replaced_and_listed(store: Store) -> None:
    assert await store.recap_settings(G) is None
    await store.set_recap(G, 42, 6, 18, "Europe/Berlin", now=T0)
    await store.set_recap(OTHER_G, None, 0, 0, "UTC", now=T0)
    changed = await store.set_recap(G, None, 4, 9, "Asia/Tokyo", now=T0 + 5)
    assert await store.recap_settings(G) == changed
    assert (changed.channel_id, changed.weekday, changed.hour, changed.timezone, changed.updated_at) == (
        None,
        4,
        9,
        "Asia/Tokyo",
        T0 + 5,
    )
    assert [s.guild_id for s in await store.all_recap_settings()] == [G, OTHER_G]
