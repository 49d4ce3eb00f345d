"""Housekeeping: periodically deletes what can no longer be used (expired link states, expired holds, the rows
of processes that stopped without removing their own, the rating intents of items no shared post shares).

Every deletion is idempotent, so every process may run them (several processes on one PostgreSQL simply
delete the same rows; the second finds none). Nothing a member can still use is touched.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from bot.aio import repeat
from bot.services.presence import STALE_AFTER_SECONDS
from bot.storage import Store, StoreUnavailable

log = logging.getLogger(__name__)


class Housekeeping:
    """Runs :meth:`run_once` every ``interval`` seconds (the first time right away) until stopped."""

    def __init__(self, store: Store, *, interval: float = 3600.0, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.interval = interval
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def run_once(self) -> tuple[int, int, int, int]:
        """Delete expired link states, expired holds, stale process rows and unshared items' rating intents now;
        returns how many of each."""
        now = self._clock()
        states = await self.store.purge_expired_link_states(now)
        holds = await self.store.purge_expired_holds(now)
        processes = await self.store.purge_stale_processes(now - STALE_AFTER_SECONDS)
        intents = await self.store.purge_unshared_intents()
        if states or holds or processes or intents:
            log.info(
                "housekeeping: deleted %d expired link states, %d expired held ratings, %d stale process rows"
                " and %d rating intents of items no longer shared",
                states,
                holds,
                processes,
                intents,
            )
        return states, holds, processes, intents

    async def start(self) -> None:
        if self._task is None:
            self._stop.clear()
            self._task = asyncio.create_task(self._loop(), name="housekeeping")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            self._stop.set()
            await task

    async def _loop(self) -> None:
        await repeat(self.run_once, self.interval, self._stop, what="housekeeping", expected=(StoreUnavailable,))
