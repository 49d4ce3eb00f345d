"""The one backoff formula of the bot: Apple Music retries, the outbox and the store retries all use it.

`Backoff(base, cap, jitter).delay(attempt)` is `min(cap, base * 2**(attempt - 1))`, times a factor drawn
uniformly from the `jitter` range, capped at `cap` again. Today's three retry loops are three parameter sets:

- the Apple Music client: `Backoff(0.5, 8.0, jitter=(0.75, 1.25))` (the `RetryPolicy` defaults, +/- 25 %);
- the outbox: `Backoff(2.0, 600.0, jitter=(0.5, 1.0))` (between half and all of the nominal delay);
- the store retry of reactions: `Backoff(0.25, 10.0)` (no jitter: 0.25, 0.5, 1, ... 8, 10, 10 s).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["Backoff"]

#: Above this many doublings every base delay is past any sensible cap (and 2.0 ** 1024 overflows).
_MAX_DOUBLINGS = 1000


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff: `base` seconds before the first retry, doubling, at most `cap` seconds.

    `jitter` is the range of the random factor applied to each delay; `(1.0, 1.0)` means none (and then no
    random number is drawn, so a shared `random.Random` is not advanced).
    """

    base: float
    cap: float
    jitter: tuple[float, float] = (1.0, 1.0)

    def __post_init__(self) -> None:
        if self.base < 0 or self.cap < 0:
            raise ValueError("backoff delays must not be negative")
        low, high = self.jitter
        if not 0 <= low <= high:
            raise ValueError("the jitter range must satisfy 0 <= low <= high")

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number `attempt` (1 for the first retry; below 1 counts as 1)."""
        doublings = min(max(0, attempt - 1), _MAX_DOUBLINGS)
        delay = min(self.cap, self.base * 2.0**doublings)
        low, high = self.jitter
        if (low, high) != (1.0, 1.0):
            delay *= (rng or random).uniform(low, high)
        return min(self.cap, delay)
