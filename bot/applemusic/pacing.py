"""Client-side pacing: a `Pacer` is awaited before every attempt and told how Apple answered."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

from ..aio import Sleep
from .transport import Outcome, Request, Response, Sender

__all__ = ["PacedSender", "Pacer", "TokenBucketPacer"]


class Pacer(Protocol):
    """Something awaited before every request, told about 429s and successes."""

    async def acquire(self) -> None: ...

    def on_rate_limited(self) -> None: ...

    def on_success(self) -> None: ...


class PacedSender:
    """Waits for the pacer before each attempt; then tells it about a 429, or about any other answer below 500
    (an answer, even a refusal, means Apple is not limiting us). 5xx and unanswered attempts tell it nothing."""

    def __init__(self, sender: Sender, pacer: Pacer) -> None:
        self.sender = sender
        self.pacer = pacer

    async def send(self, request: Request) -> Outcome:
        await self.pacer.acquire()
        outcome = await self.sender.send(request)
        if isinstance(outcome, Response):
            if outcome.status == 429:
                self.pacer.on_rate_limited()
            elif outcome.status < 500:
                self.pacer.on_success()
        return outcome


class TokenBucketPacer:
    """A token bucket whose rate adapts AIMD-style: halved on a 429, raised a little on each success.

    `rate_per_s` is the ceiling (the rate Apple is believed to allow); the rate never drops below `min_rate`.
    Waiters are served in arrival order. `clock` and `sleep` are injectable for tests.
    """

    def __init__(
        self,
        rate_per_s: float,
        burst: int = 1,
        *,
        min_rate: float | None = None,
        decrease: float = 0.5,
        increase: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        if not 0 < decrease < 1:
            raise ValueError("decrease must be in (0, 1)")
        self.max_rate = float(rate_per_s)
        self.min_rate = float(min_rate) if min_rate is not None else self.max_rate / 16
        self.rate = self.max_rate
        self.burst = burst
        self.decrease = decrease
        self.increase = increase if increase is not None else self.max_rate / 50
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._updated = clock()
        self._lock = asyncio.Lock()
        self.rate_limited_count = 0

    def __repr__(self) -> str:
        return f"TokenBucketPacer(rate={self.rate:.2f}/s, max={self.max_rate:.2f}/s, burst={self.burst})"

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    async def acquire(self) -> None:
        async with self._lock:
            self._refill()
            while self._tokens < 1:
                await self._sleep((1 - self._tokens) / self.rate)
                self._refill()
            self._tokens -= 1

    def on_rate_limited(self) -> None:
        self.rate_limited_count += 1
        self._refill()
        self.rate = max(self.min_rate, self.rate * self.decrease)
        self._tokens = min(self._tokens, 0.0)

    def on_success(self) -> None:
        self._refill()
        self.rate = min(self.max_rate, self.rate + self.increase)
