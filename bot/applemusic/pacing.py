"""Client-side pacing: a `Pacer` is awaited before every attempt and told how Apple answered.

Apple rate-limits the whole developer team, publishes no number, and answers 429 without `Retry-After` (it clears
in about half a second). `AdaptivePacer` discovers the rate Apple allows and keeps just under it:

- **AIMD.** Each window (about a second) in which this process used its pace without a 429, the rate rises: by half
  each window before any 429 was seen (slow start); after one, half the way back to just under the rate of the last
  429, then by 2% up to that rate, then by steps that double every other window (Apple allows more now). A 429
  multiplies the rate by `decrease` and pauses every request for
  `pause` seconds (Apple clears in about that); only a 429 of a request sent after the last decrease decreases
  again (once per round trip: the answers of requests already in flight say nothing about the new rate).
- **Interactive first.** Waiting interactive requests are served before background ones; while a person used the
  bot in the last `reserve_seconds`, background requests leave `reserve` of the rate unused, so a command never
  meets Apple's limit that the outbox has filled.
- **Shared.** With a `BudgetSync` (processes on one PostgreSQL), the rate is the team's: at most every
  `BudgetSync.interval` seconds the pacer merges it with the database's (a 429 anywhere lowers it everywhere) and
  paces at its share (the rate divided by the processes sending). Without one (SQLite, one process), all is local.

`APPLE_REQUESTS_PER_SECOND` is the ceiling of the learned rate. The rate is logged at INFO when it moves by a
fifth, and `view()` tells an operator where it stands (`/about`, for the bot's owner).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

from ..aio import Sleep
from .priority import Priority
from .transport import Outcome, Request, Response, Sender

__all__ = [
    "DEFAULT_FLOOR_RATE",
    "DEFAULT_START_RATE",
    "AdaptivePacer",
    "BudgetState",
    "BudgetSync",
    "PaceView",
    "PacedSender",
    "Pacer",
]

log = logging.getLogger(__name__)

#: Requests per second before anything is learned: a tenth of a second apart, well under any limit seen of Apple.
DEFAULT_START_RATE: Final = 10.0
#: The learned rate never drops below this (a person's command still goes out within a second).
DEFAULT_FLOOR_RATE: Final = 1.0
#: The most the pacer ever allows without a ceiling (`APPLE_REQUESTS_PER_SECOND`'s upper bound).
TOP_RATE: Final = 1000.0
#: After a 429, nothing is sent for this long: Apple clears in about half a second.
PAUSE_AFTER_429: Final = 0.5
#: The rate is raised at most once per window of this many seconds.
WINDOW: Final = 1.0
#: After a 429 the rate climbs back to this fraction of the rate that met it, then probes slowly.
TARGET: Final = 0.95
#: The probe's step above that target, per window, as a fraction of the rate.
PROBE: Final = 0.02
#: A change of the rate by this fraction since it was last logged is logged.
LOG_CHANGE: Final = 0.2


class Pacer(Protocol):
    """Something awaited before every request, told about 429s and other answers."""

    async def acquire(self, priority: Priority = Priority.INTERACTIVE) -> float:
        """Wait for this request's turn; returns when it was granted (the pacer's clock)."""
        ...

    def on_rate_limited(self, granted_at: float) -> None: ...

    def on_success(self, granted_at: float) -> None: ...


class PacedSender:
    """Waits for the pacer before each attempt (at the request's priority); then tells it about a 429, or about any
    other answer below 500 (an answer, even a refusal, means Apple is not limiting us). 5xx and unanswered attempts
    tell it nothing."""

    def __init__(self, sender: Sender, pacer: Pacer) -> None:
        self.sender = sender
        self.pacer = pacer

    async def send(self, request: Request) -> Outcome:
        granted_at = await self.pacer.acquire(request.priority)
        outcome = await self.sender.send(request)
        if isinstance(outcome, Response):
            if outcome.status == 429:
                self.pacer.on_rate_limited(granted_at)
            elif outcome.status < 500:
                self.pacer.on_success(granted_at)
        return outcome


@dataclass(frozen=True, slots=True)
class BudgetState:
    """The team's learned rate: requests per second, the rate the last 429 was met at (None: never), and how many
    decreases the team has made (a larger number than one's own means another process met a 429)."""

    rate: float
    peak: float | None
    epoch: int

    def merged_with(self, shared: BudgetState | None, *, decreased: bool) -> BudgetState:
        """The team's state after this process's (`self`) meets the database's (`shared`; None: nobody's yet).

        A process that met a 429 since its last sync lowers the team's rate to its own (and counts a decrease);
        one that did not takes the team's state when another process decreased meanwhile, else the higher rate
        (every process raises from the same merged rate, so raises never add up).
        """
        if shared is None:
            return self
        if decreased:
            return BudgetState(min(shared.rate, self.rate), self.peak, max(shared.epoch, self.epoch) + 1)
        if shared.epoch > self.epoch:
            return shared
        return BudgetState(max(shared.rate, self.rate), shared.peak, shared.epoch)


class BudgetSync(Protocol):
    """The budget shared by the processes on one database."""

    #: seconds between two syncs (the database is written at most this often)
    interval: float

    async def sync(self, state: BudgetState, *, decreased: bool) -> tuple[BudgetState, int]:
        """Merge this process's `state` into the shared one (`decreased`: it met a 429 since the last sync) and
        return the merged state and how many processes share it (at least 1). Raises on a storage fault."""
        ...

    async def leave(self) -> None:
        """This process stops sending: its share returns to the others."""
        ...


@dataclass(frozen=True, slots=True)
class PaceView:
    """Where the pacer stands, for an operator."""

    rate: float
    ceiling: float | None
    processes: int
    rate_limited: int
    waiting: int

    @property
    def share(self) -> float:
        return self.rate / self.processes

    def describe(self) -> str:
        text = f"{self.rate:.1f} requests/s learned"
        if self.processes > 1:
            text += f", {self.share:.1f}/s for this process of {self.processes}"
        if self.ceiling is not None:
            text += f" (ceiling {self.ceiling:g}/s)"
        return text + f"; {self.rate_limited} refused since start, {self.waiting} waiting"


class AdaptivePacer:
    """Paces requests one at a time (no bursts) at the learned rate; see the module docstring.

    `ceiling` bounds the learned rate (None: only `TOP_RATE`); `start` is the first rate (at most the ceiling),
    `floor` the least. `clock` (seconds, monotonic) and `sleep` are injectable for tests.
    """

    def __init__(
        self,
        ceiling: float | None = None,
        *,
        start: float = DEFAULT_START_RATE,
        floor: float = DEFAULT_FLOOR_RATE,
        decrease: float = 0.7,
        pause: float = PAUSE_AFTER_429,
        reserve: float = 0.1,
        reserve_seconds: float = 10.0,
        window: float = WINDOW,
        budget: BudgetSync | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if ceiling is not None and ceiling <= 0:
            raise ValueError("ceiling must be positive")
        if not 0 < floor <= start:
            raise ValueError("the floor must be positive and at most the start rate")
        if not 0 < decrease < 1:
            raise ValueError("decrease must be in (0, 1)")
        if not 0 <= reserve < 1:
            raise ValueError("reserve must be in [0, 1)")
        self.ceiling = ceiling
        self.top = min(ceiling, TOP_RATE) if ceiling is not None else TOP_RATE
        self.floor = min(floor, self.top)
        self.rate = min(start, self.top)
        self.decrease = decrease
        self.pause = pause
        self.reserve = reserve
        self.reserve_seconds = reserve_seconds
        self.window = window
        self.budget = budget
        self._clock = clock
        self._sleep = sleep
        #: the rate the last 429 was met at (None: never); the team's decreases seen
        self.peak: float | None = None
        self.epoch = 0
        self._probes = 0  # windows spent above the peak without a 429
        self.processes = 1
        self.rate_limited_count = 0
        now = clock()
        self._next = now  # the earliest next grant (any priority)
        self._next_background = now  # ... and of a background request
        self._paused_until = now
        self._decreased_at = float("-inf")  # a 429 of a request granted before this does not decrease again
        self._decreased = False  # since the last sync
        self._last_interactive = float("-inf")
        self._window_start = now
        self._window_successes = 0
        self._synced_at = float("-inf")
        self._logged_rate = self.rate
        self._queues: tuple[deque[asyncio.Future[float]], deque[asyncio.Future[float]]] = (deque(), deque())
        self._dispatcher: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"AdaptivePacer(rate={self.rate:.2f}/s, ceiling={self.ceiling}, processes={self.processes})"

    # ------------------------------------------------------------------ what an operator sees

    @property
    def waiting(self) -> int:
        """Requests waiting for their turn."""
        return sum(1 for q in self._queues for f in q if not f.done())

    @property
    def pace(self) -> float:
        """This process's requests per second: its share of the learned rate."""
        return self.rate / self.processes

    def view(self) -> PaceView:
        return PaceView(self.rate, self.ceiling, self.processes, self.rate_limited_count, self.waiting)

    # ------------------------------------------------------------------ turns

    async def acquire(self, priority: Priority = Priority.INTERACTIVE) -> float:
        now = self._clock()
        if priority is Priority.INTERACTIVE:
            self._last_interactive = now
        if self._dispatcher is None and not self._due_sync(now) and now >= self._ready_at(priority):
            self._grant(priority, now)
            return now
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._queues[priority].append(future)
        if self._dispatcher is None:
            self._dispatcher = asyncio.create_task(self._dispatch(), name="apple music pacer")
        return await future

    def _interval(self, priority: Priority) -> float:
        pace = self.pace
        if priority is Priority.BACKGROUND and self._clock() - self._last_interactive < self.reserve_seconds:
            pace *= 1 - self.reserve
        return 1.0 / pace

    def _ready_at(self, priority: Priority) -> float:
        ready = max(self._next, self._paused_until)
        return max(ready, self._next_background) if priority is Priority.BACKGROUND else ready

    def _grant(self, priority: Priority, now: float) -> None:
        self._next = now + 1.0 / self.pace
        self._next_background = now + self._interval(Priority.BACKGROUND)

    def _head(self) -> Priority | None:
        """The priority of the request to serve next (cancelled waiters are dropped)."""
        for priority in Priority:
            queue = self._queues[priority]
            while queue and queue[0].done():
                queue.popleft()
            if queue:
                return priority
        return None

    async def _dispatch(self) -> None:
        try:
            while (priority := self._head()) is not None:
                now = self._clock()
                if self._due_sync(now):
                    await self._sync()
                    continue
                ready = self._ready_at(priority)
                if ready > now:
                    await self._sleep(ready - now)
                    continue
                self._queues[priority].popleft().set_result(now)
                self._grant(priority, now)
        finally:
            self._dispatcher = None

    # ------------------------------------------------------------------ learning

    def on_success(self, granted_at: float) -> None:
        now = self._clock()
        self._window_successes += 1
        elapsed = now - self._window_start
        if elapsed < self.window:
            return
        # raise only when this process used about its pace (an idle bot learns nothing about Apple's limit)
        if self._window_successes >= 0.5 * self.pace * elapsed:
            self._set_rate(self._raised(), "no refusals")
        self._window_start = now
        self._window_successes = 0

    def _raised(self) -> float:
        if self.peak is None:
            return self.rate * 1.5  # nothing learned yet: grow fast
        target = TARGET * self.peak
        if self.rate < target:  # back to just under the rate of the last 429, fast
            return max(self.rate + (target - self.rate) / 2, self.rate + PROBE * self.rate)
        if self.rate < self.peak:  # just under it: creep
            return self.rate + PROBE * self.rate
        # past it without a 429: Apple allows more now; the step doubles every other window, up to half the rate
        self._probes += 1
        step: float = min(0.5, PROBE * 2.0 ** (self._probes // 2))
        return self.rate * (1 + step)

    def on_rate_limited(self, granted_at: float) -> None:
        self.rate_limited_count += 1
        if granted_at < self._decreased_at:
            return  # sent before the last decrease: its answer says nothing about the new rate
        now = self._clock()
        # a 429 below the last peak means the limit fell (or another process sends too): forget the old peak
        self.peak = self.rate if self.peak is None or self.rate >= self.peak else self.rate * TARGET
        self._decreased_at = now
        self._decreased = True
        self._paused_until = now + self.pause
        self._window_start, self._window_successes = now + self.pause, 0
        self._probes = 0
        self._set_rate(self.rate * self.decrease, "Apple answered 429")

    def _set_rate(self, rate: float, why: str) -> None:
        self.rate = min(self.top, max(self.floor, rate))
        if abs(self.rate - self._logged_rate) >= LOG_CHANGE * self._logged_rate:
            log.info(
                "Apple Music pace: %.1f requests/s (was %.1f; %s)%s",
                self.rate,
                self._logged_rate,
                why,
                f", {self.pace:.1f}/s for this process of {self.processes}" if self.processes > 1 else "",
            )
            self._logged_rate = self.rate

    # ------------------------------------------------------------------ the shared budget

    def _due_sync(self, now: float) -> bool:
        return self.budget is not None and now - self._synced_at >= self.budget.interval

    async def _sync(self) -> None:
        """Merge with the team's budget (inline: the next grant waits one database round trip, once a second)."""
        assert self.budget is not None
        self._synced_at = self._clock()
        mine = BudgetState(self.rate, self.peak, self.epoch)
        try:
            merged, processes = await self.budget.sync(mine, decreased=self._decreased)
        except Exception as exc:  # the database is away: pace on what this process learned
            log.warning("Apple Music pace: could not share the rate with the other processes (%s)", exc)
            return
        self._decreased = False
        self.peak, self.epoch = merged.peak, merged.epoch
        if processes != self.processes:
            log.info("Apple Music pace: %d processes share the rate", processes)
        self.processes = max(1, processes)
        self._set_rate(merged.rate, "shared with the other processes")

    async def close(self) -> None:
        """Stop: waiting requests fail, and this process leaves the shared budget."""
        if self._dispatcher is not None:
            self._dispatcher.cancel()
        for queue in self._queues:
            while queue:
                queue.popleft().cancel()
        if self.budget is not None:
            try:
                await self.budget.leave()
            except Exception as exc:
                log.warning("Apple Music pace: could not leave the shared budget (%s)", exc)
