"""Bounded retries and optional client-side pacing for Apple Music requests."""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Pacer", "RetryPolicy", "TokenBucketPacer", "parse_retry_after"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try. Every ratings call is idempotent, so 429, 5xx and timeouts are all retried.

    - `max_attempts`: total attempts per request (1 = no retry).
    - `base_delay`: first backoff; doubles per retry, capped at `max_delay`, with +/- `jitter` (a fraction).
    - `max_total_wait`: give up rather than sleep past this many seconds in total for one request.
    - `timeout`: per-attempt timeout in seconds.
    """

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_total_wait: float = 20.0
    timeout: float = 10.0
    jitter: float = 0.25

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_total_wait < 0:
            raise ValueError("delays must not be negative")
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")

    def backoff(self, retry: int, rng: random.Random | None = None) -> float:
        """Delay before retry number `retry` (1 for the first retry)."""
        delay = min(self.max_delay, self.base_delay * (2.0 ** max(0, retry - 1)))
        if self.jitter:
            factor: float = (rng or random).uniform(1 - self.jitter, 1 + self.jitter)
            delay *= factor
        return min(self.max_delay, delay)


def parse_retry_after(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or an HTTP date); None when absent or garbage."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - now()
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


class Pacer(Protocol):
    """Something awaited before every request, told about 429s and successes."""

    async def acquire(self) -> None: ...

    def on_rate_limited(self) -> None: ...

    def on_success(self) -> None: ...


class TokenBucketPacer:
    """A token bucket whose rate adapts AIMD-style: halved on a 429, raised a little on each success.

    `rate_per_s` is the ceiling (the rate Apple is believed to allow); the rate never drops below `min_rate`.
    Waiters are served in arrival order.
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
                await asyncio.sleep((1 - self._tokens) / self.rate)
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
