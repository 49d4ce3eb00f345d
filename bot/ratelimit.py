"""Rate windows: at most ``limit`` events per key in any ``window`` seconds, in this process's memory.

A sliding log (the times of the last ``limit`` events of each key) gives an exact "N in any W seconds" with no
burst at a window's edge. Keys live in a :class:`cachetools.TTLCache`: a key unseen for a whole window is
forgotten, and at most ``max_keys`` are kept (the oldest go first), so a flood of distinct keys cannot grow
memory. Time comes from an injected clock (tests move a fake one; nothing here sleeps).

Why not the ``limits`` library: its asyncio memory storage reads the wall clock itself and runs a background
expiry task; these windows need neither, fit in a few lines on ``cachetools`` (already a dependency) and are
tested with an injected clock.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable

from cachetools import TTLCache

__all__ = ["RateWindow", "first_wait"]


class RateWindow:
    """``acquire(key)`` admits at most ``limit`` events per key in any ``window`` seconds."""

    def __init__(
        self, limit: int, window: float, *, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a rate window needs a limit of at least 1 and a positive window")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._events: TTLCache[Hashable, deque[float]] = TTLCache(max_keys, window, timer=clock)

    def __repr__(self) -> str:
        return f"RateWindow(limit={self.limit}, window={self.window:g})"

    def wait(self, key: Hashable) -> float:
        """Seconds until ``key`` may have another event (0.0: now)."""
        events = self._events.get(key)
        if events is None or len(events) < self.limit:
            return 0.0
        return max(0.0, events[0] + self.window - self._clock())

    def hit(self, key: Hashable) -> None:
        """Record an event of ``key`` now (whether or not it was admitted)."""
        now = self._clock()
        events = self._events.get(key)
        if events is None:
            events = deque(maxlen=self.limit)
        events.append(now)
        self._events[key] = events  # (re)set: the key lives one window past its last event

    def acquire(self, key: Hashable) -> float:
        """Record an event of ``key`` and return 0.0, or return the seconds to wait (nothing recorded)."""
        wait = self.wait(key)
        if wait == 0.0:
            self.hit(key)
        return wait


def first_wait(*checks: tuple[RateWindow, Hashable]) -> float:
    """Acquire every ``(window, key)`` at once, or none: 0.0 when all admitted the event, else the longest wait.

    No ``await`` in between: concurrent coroutines cannot slip past a window together.
    """
    wait = max((window.wait(key) for window, key in checks), default=0.0)
    if wait == 0.0:
        for window, key in checks:
            window.hit(key)
    return wait
