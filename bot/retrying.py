"""The one backoff formula (placeholder until the Apple client work lands)."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    base: float
    cap: float
    jitter: tuple[float, float] = (1.0, 1.0)

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        delay = min(self.cap, self.base * (2.0 ** max(0, attempt - 1)))
        low, high = self.jitter
        if (low, high) != (1.0, 1.0):
            delay *= (rng or random).uniform(low, high)
        return min(self.cap, delay)
