"""The outbox is fair between people (issue 15): users are served in turn, not first come first served.

* Store: claims take users in turn (each user's rows in the order queued), a newcomer is next whatever backlog is
  in flight, released held rows take their member's next turn, two processes claiming at once stay fair and
  never take a row twice; a per-user ceiling refuses a new item (nothing written) and never a re-rating.
* Worker, proven with the loopback Apple's request log: a user with 200 queued writes delays two others' few
  writes by about one request (one worker, several slots, two workers on one database).
* Bot: a member over the ceiling is told (once, in words that cover the next refusals) and every accepted rating
  reaches Apple Music.

Every test waits on Apple's held requests, drained queues and handled events; none bounds wall time.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from bot.applemusic import AppleMusicClient, RetryPolicy
from bot.errors import TooManyWaiting
from bot.services.notices import Post, ReactionNotSaved
from bot.services.outbox import OutboxConfig, OutboxWorker
from bot.storage import Store
from bot.ui.errors import describe_error
from bot.ui.notices import render
from loopback.apple import LoopbackApple
from loopback.discord import LoopbackDiscord
from tests.fixtures.bot import ALICE_MUT
from tests.fixtures.e2e import FAST_OUTBOX, RATINGS, embed_text, eventually, handled, message_text, settled, share
from tests.fixtures.storage import FakeClock, StoreFactory

A, B, C = 1001, 1002, 1003
TOKENS = {A: "mut-fair-a-" + "a" * 30, B: "mut-fair-b-" + "b" * 30, C: "mut-fair-c-" + "c" * 30}
#: the outbox of the worker tests: no debounce (every row is due when queued), short sleeps
CONFIG = OutboxConfig(debounce=0, max_delay=0, poll_interval=0.05, concurrency=1, lease=600.0)


@pytest.fixture
def apple_retry() -> RetryPolicy:
    """One try per write, and no timeout a held request could reach on a busy machine: a write made twice would
    be the outbox's doing."""
    return RetryPolicy(max_attempts=1, timeout=3600.0)


async def queue(store: Store, user: int, count: int, prefix: str, **options: Any) -> None:
    for i in range(count):
        await store.enqueue(user, "songs", f"{prefix}{i}", 1, debounce=0, max_delay=0, **options)


async def drain_in_order(store: Store, worker: str = "w") -> list[str]:
    """Claim one row at a time and complete it: the order the rows are served in."""
    order: list[str] = []
    while batch := await store.claim_due(worker, limit=1):
        order.append(batch[0].item_id)
        assert await store.complete(batch[0])
    return order


# ---------------------------------------------------------------------------------------------- store


async def test_users_take_turns_each_in_the_order_queued(store_factory: StoreFactory, fake_clock: FakeClock) -> None:
    store = await store_factory(clock=fake_clock)
    await queue(store, A, 50, "a")
    fake_clock.advance(1)
    await queue(store, B, 3, "b")
    fake_clock.advance(1)
    await queue(store, C, 1, "c")
    order = await drain_in_order(store)
    # first come first served would be a0..a49, then b0 b1 b2 c0
    assert order[:8] == ["a0", "b0", "c0", "a1", "b1", "a2", "b2", "a3"]
    assert order[8:] == [f"a{i}" for i in range(4, 50)]


async def test_a_newcomer_is_next_while_a_backlog_is_in_flight(
    store_factory: StoreFactory, fake_clock: FakeClock
) -> None:
    store = await store_factory(clock=fake_clock)
    await queue(store, A, 200, "a")
    in_flight = await store.claim_due("w", limit=8)
    assert [e.item_id for e in in_flight] == [f"a{i}" for i in range(8)]
    fake_clock.advance(1)
    await queue(store, B, 1, "b")
    [newcomer] = await store.claim_due("w", limit=1)
    assert newcomer.item_id == "b0"
    assert [e.item_id for e in await store.claim_due("w", limit=2)] == ["a8", "a9"]


async def test_a_new_choice_keeps_its_rows_turn(store_factory: StoreFactory, fake_clock: FakeClock) -> None:
    store = await store_factory(clock=fake_clock)
    await queue(store, A, 3, "a")
    await queue(store, B, 2, "b")
    fake_clock.advance(1)
    changed = await store.enqueue(A, "songs", "a2", -1, debounce=0, max_delay=0)
    assert (changed.version, changed.turn) == (2, 2)
    assert await drain_in_order(store) == ["a0", "b0", "a1", "b1", "a2"]


async def test_released_rows_take_their_members_next_turn_in_order(
    store_factory: StoreFactory, fake_clock: FakeClock
) -> None:
    """Ratings held for a member who had not linked wait their turn once they link: neither ahead of everyone
    (their turns date from when they reacted) nor behind everyone."""
    store = await store_factory(clock=fake_clock)
    await queue(store, C, 2, "c", hold="unlinked", hold_expires_at=fake_clock.now + 10_000)
    fake_clock.advance(1)
    await queue(store, A, 20, "a")
    for _ in range(10):
        [done] = await store.claim_due("w", limit=1)
        await store.complete(done)
    fake_clock.advance(1)
    await queue(store, C, 1, "c2-", hold="unlinked", hold_expires_at=fake_clock.now + 10_000)  # turn 10 when held
    await store.link_account(C, TOKENS[C], "us")
    assert [e.turn for e in await store.pending_for_user(C)] == [10, 11, 12], "consecutive, in the order queued"
    order = await drain_in_order(store)
    assert order[:7] == ["c0", "a10", "c1", "a11", "a12", "c2-0", "a13"]  # in a turn, due order


async def test_two_processes_claim_in_turn_and_never_the_same_row(
    store_factory: StoreFactory, fake_clock: FakeClock
) -> None:
    """Two stores on one database (two processes) claim at once: every row once, users in turn throughout."""
    first = await store_factory(clock=fake_clock)
    second = await store_factory(clock=fake_clock)
    users = [A, B, C, 1004, 1005]
    for user in users:  # one user's whole backlog after another's: first come first served would starve the last
        await queue(first, user, 30, f"u{user}-")
        fake_clock.advance(1)
    served: list[tuple[int, int]] = []  # (user, i: their i-th row, of turn i) in the order the claims were made
    # One claim at a time across the two processes, so ``served`` is the order the database decided (when two claims
    # overlap, which returns first is up to the machine's scheduling, not to the store); each process's completions
    # still run while the other claims, and every claim skips the rows the other holds.
    one_claim_at_a_time = asyncio.Lock()

    async def drain(store: Store, worker: str) -> None:
        while True:
            async with one_claim_at_a_time:
                batch = await store.claim_due(worker, limit=3)
                served.extend((e.user_id, int(e.item_id.rsplit("-", 1)[1])) for e in batch)
            if not batch:
                return
            for entry in batch:
                assert await store.complete(entry)
            await asyncio.sleep(0)

    await asyncio.gather(drain(first, "process-1"), drain(second, "process-2"))
    assert len(served) == len(set(served)) == 150, "every row claimed once"
    assert Counter(user for user, _ in served) == {user: 30 for user in users}
    for position, (_, turn) in enumerate(served):
        # a row of turn t comes after the 5 * t rows of the earlier turns, give or take the rows the other process
        # holds claimed and not yet completed (one batch of 3)
        assert position < 5 * (turn + 1) + 3, f"turn {turn} served at {position}"


async def test_the_per_user_ceiling_refuses_a_new_item_and_never_a_new_choice(
    store_factory: StoreFactory, fake_clock: FakeClock
) -> None:
    store = await store_factory(clock=fake_clock)
    await queue(store, A, 3, "a", max_per_user=3)
    with pytest.raises(TooManyWaiting) as refused:
        await store.enqueue(A, "songs", "a3", 1, max_per_user=3)
    assert refused.value.limit == 3
    assert await store.outbox_size() == 3 and await store.get_intent(A, "songs", "a3") is None, "nothing written"
    again = await store.enqueue(A, "songs", "a1", -1, max_per_user=3)  # a new choice for an item waiting
    assert (again.value, again.version) == (-1, 2) and await store.get_intent(A, "songs", "a1") == -1
    await store.enqueue(B, "songs", "b0", 1, max_per_user=3)  # another member's count is their own

    await queue(store, C, 2, "c", hold="unlinked", hold_expires_at=fake_clock.now + 600, max_per_user=2)
    with pytest.raises(TooManyWaiting):  # held rows are waiting work too
        await store.enqueue(C, "songs", "c2", 1, hold="unlinked", hold_expires_at=fake_clock.now + 600, max_per_user=2)

    [first] = await store.claim_due("w", limit=1)
    assert first.user_id == A and await store.complete(first)
    await store.enqueue(A, "songs", "a3", 1, max_per_user=3)  # one went through: room for one more
    assert [e.item_id for e in await store.pending_for_user(A)] == ["a1", "a2", "a3"]
    with pytest.raises(ValueError):
        await store.enqueue(A, "songs", "a4", 1, max_per_user=0)


# ---------------------------------------------------------------------------------------------- worker + Apple


def put_owners(apple: LoopbackApple) -> list[int]:
    """The user of every rating PUT Apple received, in arrival order."""
    owner = {token: user for user, token in TOKENS.items()}
    return [owner[str(r.user_token)] for r in apple.requests if r.method == "PUT" and r.path.startswith(RATINGS)]


async def link_all(store: Store, apple: LoopbackApple) -> None:
    for user, token in TOKENS.items():
        apple.add_user(token)
        await store.link_account(user, token, "us")


def assert_every_write_once(apple: LoopbackApple, expected: int) -> None:
    puts = Counter((r.user_token, r.path) for r in apple.requests if r.method == "PUT")
    assert sum(puts.values()) == expected and set(puts.values()) == {1}, "every row applied once"


async def backlog_then_newcomers(
    store: Store, apple: LoopbackApple, workers: list[OutboxWorker], in_flight: int
) -> None:
    """A's 200 writes are queued and the workers' first ones are at Apple (held there); then B queues 3 and C 1,
    Apple answers, and everything drains."""
    await link_all(store, apple)
    await queue(store, A, 200, "a")
    apple.hold("/v1/me/ratings/")
    for worker in workers:
        await worker.start()
    await eventually(lambda: apple.in_flight == in_flight, what=f"{in_flight} of A's writes at Apple")
    await queue(store, B, 3, "b")
    await queue(store, C, 1, "c")
    for worker in workers:
        worker.wake()
    apple.release()
    for worker in workers:
        await worker.wait_until_drained(timeout=120)
        await worker.stop()
    assert_every_write_once(apple, 204)
    assert all(apple.rating(TOKENS[A], "songs", f"a{i}") == 1 for i in range(200))


async def test_apple_sees_users_in_turn(
    store_factory: StoreFactory,
    fake_clock: FakeClock,
    apple_server: LoopbackApple,
    apple_client: AppleMusicClient,
) -> None:
    store = await store_factory(clock=fake_clock)
    worker = OutboxWorker(store, apple_client, CONFIG, worker_id="w", clock=fake_clock)
    await backlog_then_newcomers(store, apple_server, [worker], in_flight=1)
    # first come first served: 200 of A's, then B's and C's
    assert put_owners(apple_server)[:9] == [A, B, C, A, B, A, B, A, A]


async def test_apple_sees_newcomers_within_a_round_of_slots(
    store_factory: StoreFactory,
    fake_clock: FakeClock,
    apple_server: LoopbackApple,
    apple_client: AppleMusicClient,
) -> None:
    """With 4 slots, B's and C's writes are claimed right after A's 4 in flight; a later claim of A's may reach
    Apple before one of them only by overtaking it in flight (at most 3 more)."""
    store = await store_factory(clock=fake_clock)
    worker = OutboxWorker(store, apple_client, dataclasses.replace(CONFIG, concurrency=4), clock=fake_clock)
    await backlog_then_newcomers(store, apple_server, [worker], in_flight=4)
    owners = put_owners(apple_server)
    newcomers = [i for i, user in enumerate(owners) if user != A]
    assert len(newcomers) == 4 and max(newcomers) < 4 + 4 + 3, owners[:16]


async def test_two_workers_on_one_database_serve_users_in_turn(
    store_factory: StoreFactory,
    fake_clock: FakeClock,
    apple_server: LoopbackApple,
    apple_client: AppleMusicClient,
) -> None:
    """Two processes (two stores, two workers) share the outbox: no write is made twice, both work, and the
    newcomers' writes come right after the two of A's that were at Apple: claimed in the order A0 A1 | B0 C0 B1
    A2 B2 (A2 and B2 share turn 2), a write may reach Apple after at most one the other worker claimed later."""
    one, two = await store_factory(clock=fake_clock), await store_factory(clock=fake_clock)
    workers = [
        OutboxWorker(one, apple_client, CONFIG, worker_id="process-1", clock=fake_clock),
        OutboxWorker(two, apple_client, CONFIG, worker_id="process-2", clock=fake_clock),
    ]
    await backlog_then_newcomers(one, apple_server, workers, in_flight=2)
    owners = put_owners(apple_server)
    newcomers = [i for i, user in enumerate(owners) if user != A]
    assert len(newcomers) == 4 and max(newcomers) <= 6 + 1, owners[:16]
    assert all(worker.applied > 0 for worker in workers) and sum(w.applied for w in workers) == 204


# ---------------------------------------------------------------------------------------------- the running bot


@pytest.mark.both_engines
async def test_over_the_ceiling_a_reaction_is_refused_and_told_and_nothing_accepted_is_lost(
    fast_bot: Callable[..., Any], discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    """Alice may have 3 ratings waiting. While Apple holds her writes, she reacts 👍 on 5 posts: 3 are saved, the
    4th and 5th are refused and she gets one DM that says so for both. A new choice on a waiting item is saved at
    the ceiling. Once Apple answers, every saved rating is there; a later reaction is saved again."""
    alice, ch = discord_server.alice_id, discord_server.channel_id
    apple_server.add_user(ALICE_MUT)
    songs = [apple_server.add_song() for _ in range(6)]
    async with fast_bot(outbox_config=dataclasses.replace(FAST_OUTBOX, max_per_user=3)) as bot:
        await bot.svc.store.link_account(alice, ALICE_MUT, "us")
        posts = [await share(bot, discord_server, alice, song) for song in songs]
        apple_server.hold("/v1/me/ratings/")
        for post in posts[:5]:
            assert await discord_server.add_reaction(ch, post, alice, "👍")
        await eventually(lambda: handled(bot) >= 5, what="five reactions handled")
        await discord_server.add_reaction(ch, posts[0], alice, "👎")  # a new choice for a waiting item
        await eventually(lambda: handled(bot) >= 6, what="the new choice handled")
        await bot.svc.sharing.idle()
        assert bot.svc.sharing.reactions_refused == 2
        assert await bot.svc.store.get_intent(alice, "songs", songs[0]) == -1

        dm = discord_server.dm_channel(alice)
        told = [message_text(m) for m in discord_server.channel_messages(dm) if "could not save" in message_text(m)]
        assert len(told) == 1, told
        assert str(posts[3]) in told[0] and "3 ratings waiting" in told[0]
        assert "Reactions you add before then are not saved either" in told[0], "the DM covers the 5th too"

        apple_server.release()
        await settled(bot, 6)
        assert [apple_server.rating(ALICE_MUT, "songs", s) for s in songs[:5]] == [-1, 1, 1, None, None]

        await discord_server.add_reaction(ch, posts[5], alice, "👍")  # room again: saved, and applied
        await settled(bot, 7)
        assert apple_server.rating(ALICE_MUT, "songs", songs[5]) == 1
        assert bot.svc.sharing.reactions_refused == 2


def test_the_words_for_the_ceiling_are_plain() -> None:
    """A command would answer with these words (bot/ui/errors.py); a refused reaction's DM says the same."""
    words = describe_error(TooManyWaiting(500))
    assert "500 ratings waiting" in words and "kept and will be applied" in words
    dm = embed_text(render(ReactionNotSaved(Post(7, 8, 9), -1, True, TooManyWaiting(500)))["embed"].to_dict())
    assert words in dm and "https://discord.com/channels/7/8/9" in dm and "👎" in dm
    for jargon in ("token", "outbox", "queue", "storefront"):
        assert jargon not in dm.lower()
