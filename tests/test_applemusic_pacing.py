"""The Apple pacer (`bot/applemusic/pacing.py`): it learns the rate Apple allows (AIMD), serves interactive requests
first, and shares the learned rate between processes on one PostgreSQL.

Time is virtual. The pacer's clock and sleep, the loopback Apple's rate limiter and (for two processes) the shared
budget's clock are one `VirtualTime`, which moves only when every worker waits for its turn at a pacer and every
pacer that has waiters is asleep: a request is answered at the virtual instant it was granted, whatever the real
HTTP round trip takes, so a run's requests, answers and learned rates are the same on any machine.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

import aiohttp
import pytest

from bot import applemusic as am
from bot.applemusic import AdaptivePacer, AppleMusicClient, BudgetState, Priority, RetryPolicy
from bot.applemusic.pacing import DEFAULT_START_RATE
from bot.services.budget import SharedBudget
from bot.storage import TokenCipher
from bot.storage.postgres import PostgresStore
from loopback.apple import LoopbackApple, RecordedRequest
from tests.fixtures.apple import AppleKey
from tests.fixtures.storage import PostgresServer

SONGS = am.ResourceType.SONGS
#: retries wait nothing (the pacer's pause after a 429 is what spaces them) and never give up
PATIENT = RetryPolicy(max_attempts=1000, base_delay=0.5, max_delay=0.5, max_total_wait=1e9, timeout=30)


class VirtualTime:
    """A clock and a sleep: `sleep` waits until `advance` moves the clock past the sleeper's wake-up time."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(0.0, delay), next(self._order), future))
        await future

    @property
    def sleeping(self) -> int:
        return sum(1 for _, _, f in self._sleepers if not f.done())

    def advance(self) -> None:
        """Move the clock to the earliest wake-up, and wake every sleeper due then."""
        wake = self._sleepers[0][0]
        self.now = max(self.now, wake)
        while self._sleepers and self._sleepers[0][0] <= self.now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)


async def nudge() -> None:
    """Let the event loop run (the loopback HTTP round trips happen in real time)."""
    await asyncio.sleep(0.0005)


@dataclass
class Process:
    """One bot process as far as Apple is concerned: a pacer and a client, and workers writing ratings."""

    pacer: AdaptivePacer
    client: AppleMusicClient
    user: str
    workers: list[asyncio.Task[None]] = field(default_factory=list)
    written: int = 0

    def start(self, n: int, until: float, vt: VirtualTime, ids: Callable[[], str]) -> None:
        async def work() -> None:
            with am.background():
                while vt.now < until:
                    await self.client.set_rating(SONGS, ids(), 1, self.user)
                    self.written += 1

        self.workers += [asyncio.create_task(work()) for _ in range(n)]

    def running(self) -> int:
        self.workers = [w for w in self.workers if not w.done()]
        return len(self.workers)


async def drive(vt: VirtualTime, processes: Sequence[Process]) -> None:
    """Run the processes' workers to their end, moving virtual time only when all of them wait for a turn."""
    while True:
        for process in processes:
            for worker in process.workers:
                if worker.done() and worker.exception() is not None:
                    raise worker.exception()  # type: ignore[misc]
        running = sum(p.running() for p in processes)
        if not running:
            return
        waiting = sum(p.pacer.waiting for p in processes)
        dispatching = sum(1 for p in processes if p.pacer.waiting)
        if waiting == running and vt.sleeping == dispatching and vt.sleeping:
            vt.advance()
        await nudge()


def statuses(requests: Sequence[RecordedRequest], start: float, end: float) -> tuple[int, int]:
    """(answered, refused with 429) among the requests Apple received in [start, end)."""
    inside = [r for r in requests if start <= r.timestamp < end]
    return sum(1 for r in inside if r.status != 429), sum(1 for r in inside if r.status == 429)


@pytest.fixture
def vt(apple_server: LoopbackApple) -> VirtualTime:
    time = VirtualTime()
    apple_server.clock = time.clock
    return time


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def make_process(
    apple_server: LoopbackApple,
    apple_key: AppleKey,
    session: aiohttp.ClientSession,
    vt: VirtualTime,
    user: str,
    **pacer_options: object,
) -> Process:
    pacer = AdaptivePacer(clock=vt.clock, sleep=vt.sleep, **pacer_options)  # type: ignore[arg-type]
    client = AppleMusicClient(
        apple_key.developer_token(),
        session=session,
        base_url=apple_server.base_url,
        retry=PATIENT,
        pacer=pacer,
        sleep=lambda _: asyncio.sleep(0),
    )
    return Process(pacer, client, user)


def song_ids() -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: str(next(counter))


# ---------------------------------------------------------------------------------------------- learning


async def test_the_pacer_follows_a_step_change_of_apples_limit_without_bursts_of_429s(
    apple_server: LoopbackApple, apple_key: AppleKey, apple_user: str, session: aiohttp.ClientSession, vt: VirtualTime
) -> None:
    """Apple allows 20/s, then 5/s, then 20/s again (30 s each), and is not told to the bot: in each phase the pacer
    settles just under the limit, sends at least 85% of it in the phase's second half, and meets a few 429s, never
    two within the half second it pauses after one."""
    process = make_process(apple_server, apple_key, session, vt, apple_user)
    ids = song_ids()
    learned: list[float] = []
    for n, limit in enumerate((20, 5, 20)):
        apple_server.rate_limit(limit)
        process.start(8, until=30.0 * (n + 1), vt=vt, ids=ids)
        await drive(vt, [process])
        learned.append(process.pacer.rate)
    requests = apple_server.requests
    refusals = [r.timestamp for r in requests if r.status == 429]
    assert all(b - a >= 0.5 for a, b in itertools.pairwise(refusals)), "no burst of 429s"
    for n, limit in enumerate((20, 5, 20)):
        start = 30.0 * n
        answered, refused = statuses(requests, start, start + 30)
        assert refused <= 0.05 * (answered + refused), f"phase {n}: {refused} 429s of {answered + refused}"
        late, _ = statuses(requests, start + 15, start + 30)
        assert late >= 0.85 * limit * 15, f"phase {n}: {late} answered in its second half"
        assert 0.6 * limit <= learned[n] <= 1.3 * limit, f"phase {n}: learned {learned[n]:.1f}/s"
    assert process.written == len([r for r in requests if r.status == 200])


# ---------------------------------------------------------------------------------------------- interactive first


async def test_an_interactive_request_is_served_ahead_of_a_full_queue_of_background_ones(
    apple_server: LoopbackApple, apple_key: AppleKey, apple_user: str, session: aiohttp.ClientSession, vt: VirtualTime
) -> None:
    """40 background writes wait for their turn (an outbox backlog); a command's read made now is the very next
    request Apple receives, and the backlog goes on after it."""
    process = make_process(apple_server, apple_key, session, vt, apple_user)
    ids = song_ids()

    async def write() -> None:
        with am.background():
            await process.client.set_rating(SONGS, ids(), 1, apple_user)

    backlog = [asyncio.create_task(write()) for _ in range(40)]
    while process.pacer.waiting < 39 or not apple_server.requests:  # one went out at once; 39 wait
        await nudge()
    first_sent = len(apple_server.requests)
    assert first_sent == 1
    command = asyncio.create_task(process.client.get_rating(SONGS, "1", apple_user))
    process.workers = [*backlog, command]
    await drive(vt, [process])
    order = [r.method for r in apple_server.requests]
    assert order[first_sent:].index("GET") == 0, "the command's read went out before the waiting writes"
    assert order.count("PUT") == 40 and command.result() is not None
    assert apple_server.requests[first_sent].timestamp == pytest.approx(1 / DEFAULT_START_RATE)  # the next turn


async def test_background_work_leaves_a_reserve_while_people_use_the_bot() -> None:
    """While a command was seen in the last `reserve_seconds`, background turns come at 90% of the pace; later, at
    the full pace."""
    vt = VirtualTime()
    pacer = AdaptivePacer(start=10, reserve=0.1, reserve_seconds=5, clock=vt.clock, sleep=vt.sleep)
    grants: list[float] = []

    async def take(n: int, priority: Priority) -> None:
        for _ in range(n):
            grants.append(await pacer.acquire(priority))

    await take(1, Priority.INTERACTIVE)
    task = asyncio.create_task(take(4, Priority.BACKGROUND))
    while not task.done():
        await asyncio.sleep(0)
        if vt.sleeping:
            vt.advance()
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(grants)]
    assert gaps == [round(1 / 9, 6)] * 4  # 1/(10 x 0.9) apart, from the command's turn on
    vt.now += 5
    grants.clear()
    task = asyncio.create_task(take(3, Priority.BACKGROUND))
    while not task.done():
        await asyncio.sleep(0)
        if vt.sleeping:
            vt.advance()
    assert [round(b - a, 6) for a, b in itertools.pairwise(grants)] == [0.1, 0.1]


# ---------------------------------------------------------------------------------------------- the rules


def test_a_429_decreases_once_per_round_trip_and_pauses() -> None:
    vt = VirtualTime()
    pacer = AdaptivePacer(start=20, clock=vt.clock, sleep=vt.sleep)
    in_flight = [0.0, 0.05, 0.1]  # granted before the 429s come back
    vt.now = 0.2
    for granted in in_flight:
        pacer.on_rate_limited(granted)
    assert pacer.rate == pytest.approx(14) and pacer.peak == 20  # one decrease for the three
    assert pacer.rate_limited_count == 3
    assert pacer._ready_at(Priority.INTERACTIVE) == pytest.approx(0.7)  # nothing goes out for half a second
    pacer.on_rate_limited(0.7)  # a request sent after the decrease met a 429 too: the limit is lower still
    assert pacer.rate == pytest.approx(14 * 0.7)
    assert pacer.peak == pytest.approx(14 * 0.95), "a 429 under the last peak: the limit fell"


def test_the_rate_rises_per_window_of_successes_only_when_used_and_stays_between_floor_and_ceiling() -> None:
    vt = VirtualTime()
    pacer = AdaptivePacer(ceiling=30, start=10, floor=2, clock=vt.clock, sleep=vt.sleep)
    for _ in range(3):  # an idle window (2 answers in a second at 10/s) raises nothing
        vt.now += 0.5
        pacer.on_success(vt.now)
    assert pacer.rate == 10
    rates = []
    for _ in range(4):  # busy windows: slow start, x1.5 each, up to the ceiling
        for _ in range(int(pacer.rate)):
            vt.now += 1 / pacer.rate
            pacer.on_success(vt.now)
        rates.append(pacer.rate)
    assert rates == [15, 22.5, 30, 30]
    for _ in range(20):
        vt.now += 1
        pacer.on_rate_limited(vt.now)
    assert pacer.rate == 2


def test_the_rate_is_logged_when_it_moves_not_per_request(caplog: pytest.LogCaptureFixture) -> None:
    vt = VirtualTime()
    pacer = AdaptivePacer(start=10, clock=vt.clock, sleep=vt.sleep)
    with caplog.at_level(logging.INFO, logger="bot.applemusic.pacing"):
        for _ in range(300):
            vt.now += 0.1
            pacer.on_success(vt.now)
        pacer.on_rate_limited(vt.now)
    lines = [r.getMessage() for r in caplog.records]
    assert 1 <= len(lines) <= 10, lines
    assert lines[-1].startswith("Apple Music pace: ") and "429" in lines[-1]
    assert "requests/s learned" in pacer.view().describe()


def test_merging_the_shared_budget() -> None:
    mine = BudgetState(rate=12.0, peak=None, epoch=0)
    assert mine.merged_with(None, decreased=False) == mine  # the first process writes its own
    shared = BudgetState(rate=18.0, peak=20.0, epoch=3)
    assert mine.merged_with(shared, decreased=False) == shared  # another process met a 429: take its state
    low = BudgetState(rate=9.0, peak=13.0, epoch=1)
    assert low.merged_with(shared, decreased=True) == BudgetState(9.0, 13.0, 4)  # a 429 here lowers everyone's
    ahead = BudgetState(rate=19.0, peak=20.0, epoch=3)
    assert ahead.merged_with(shared, decreased=False) == BudgetState(19.0, 20.0, 3)  # raises do not add up


# ---------------------------------------------------------------------------------------------- shared budget


@pytest.fixture
async def pg_stores(postgres_server: PostgresServer, cipher: TokenCipher) -> AsyncIterator[list[PostgresStore]]:
    url = await postgres_server.create_database()
    stores = [await PostgresStore.open(url, cipher) for _ in range(2)]
    yield stores
    for store in stores:
        await store.close()


async def test_two_processes_share_apples_limit_and_a_dead_ones_share_returns(
    apple_server: LoopbackApple,
    apple_key: AppleKey,
    session: aiohttp.ClientSession,
    vt: VirtualTime,
    pg_stores: list[PostgresStore],
) -> None:
    """Two processes on one PostgreSQL, 8 writers each, Apple allowing 20/s: together they stay within the limit as
    one process does (at most 5% 429s, at least 85% of the limit answered once settled), each pacing at half the
    learned rate. Then one dies (no goodbye): within the budget's live window the other paces at the whole rate."""
    processes = []
    for n, store in enumerate(pg_stores):
        budget = SharedBudget(store, f"host:{n}:abc", clock=vt.clock)
        user = apple_server.add_user(f"mut-user-{n}-0123456789abcdef")
        processes.append(make_process(apple_server, apple_key, session, vt, user, budget=budget))
    apple_server.rate_limit(20)
    ids = song_ids()
    for process in processes:
        process.start(8, until=40.0, vt=vt, ids=ids)
    await drive(vt, processes)
    answered, refused = statuses(apple_server.requests, 0, 40)
    assert refused <= 0.05 * (answered + refused), f"{refused} 429s of {answered + refused}"
    settled, _ = statuses(apple_server.requests, 20, 40)
    assert settled >= 0.85 * 20 * 20
    assert all(p.pacer.processes == 2 for p in processes)
    assert min(p.written for p in processes) >= 0.4 * sum(p.written for p in processes), "each about half"
    a = processes[0]
    assert a.pacer.pace == pytest.approx(a.pacer.rate / 2)

    # b dies: it stops sending and never leaves the budget; a alone fills Apple's limit again
    a.start(8, until=80.0, vt=vt, ids=ids)
    await drive(vt, [a])
    assert a.pacer.processes == 1
    alone, refused_alone = statuses(apple_server.requests, 60, 80)
    assert alone >= 0.85 * 20 * 20, f"{alone} answered in 20 s"
    assert all(r.headers["Music-User-Token"] == a.user for r in apple_server.requests if r.timestamp >= 50)
    assert refused_alone <= 0.05 * (alone + refused_alone)
