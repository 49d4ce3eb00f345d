"""The Apple budget the processes on one PostgreSQL share (Apple rate-limits the whole developer team).

:class:`SharedBudget` is the pacer's :class:`~bot.applemusic.pacing.BudgetSync` over the store: at most once per
``interval`` seconds, and only while this process sends, one transaction merges the pacer's learned rate into the
database's (``apple_budget``), renews this process's row in ``apple_budget_members`` and counts the processes
seen in the last ``live_seconds``: each paces at its share. A process that stops sending, or dies, is no longer
counted after ``live_seconds``, and its share returns to the others; a clean stop deletes its row at once.
On SQLite (one process) there is no ``SharedBudget``: the pacer keeps everything in memory.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from bot import applemusic as am
from bot.storage import Store
from bot.storage.base import BudgetRow

__all__ = ["BUDGET_LIVE_SECONDS", "BUDGET_SYNC_SECONDS", "SharedBudget"]

#: how often a sending process merges its rate with the database's (its only writes for the budget)
BUDGET_SYNC_SECONDS: Final = 1.0
#: a process that has not synced for this long no longer takes a share (it stopped sending, or died)
BUDGET_LIVE_SECONDS: Final = 5.0


class SharedBudget:
    """One process's membership of the shared Apple budget (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        process_id: str,
        *,
        interval: float = BUDGET_SYNC_SECONDS,
        live_seconds: float = BUDGET_LIVE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.process_id = process_id
        self.interval = interval
        self.live_seconds = live_seconds
        self._clock = clock  # wall time: the rows are compared across processes

    def __repr__(self) -> str:
        return f"SharedBudget({self.process_id}, every {self.interval:g} s)"

    async def sync(self, state: am.BudgetState, *, decreased: bool) -> tuple[am.BudgetState, int]:
        def merge(row: BudgetRow | None) -> BudgetRow:
            shared = None if row is None else am.BudgetState(*row)
            merged = state.merged_with(shared, decreased=decreased)
            return merged.rate, merged.peak, merged.epoch

        now = self._clock()
        row, processes = await self.store.share_apple_budget(
            self.process_id, merge, now=now, live_since=now - self.live_seconds
        )
        return am.BudgetState(*row), processes

    async def leave(self) -> None:
        await self.store.leave_apple_budget(self.process_id)
