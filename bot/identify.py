"""Discord's identify budget, shared by every process on one database.

Discord accepts one IDENTIFY per 5 seconds per bucket, a shard's bucket being ``shard_id % max_concurrency``
(``max_concurrency`` comes with ``GET /gateway/bot``); a second one in the bucket within 5 s is answered with an
op 9 Invalid Session, and the shard has to identify again later (Discord's Gateway documentation, "Identifying" and
"Max Concurrency"). discord.py spaces the shards of one process itself, but knows nothing of the other processes
of a sharded deployment, nor of a previous run of the same process that identified a moment ago.

:class:`IdentifyTurns` is what ``RatingsBot.before_identify_hook`` waits on: each bucket's last identify is one row
in the database (:meth:`~bot.storage.Store.take_identify_turn`, one conditional write), so processes starting
together take turns, on PostgreSQL as on SQLite (where it also spaces a restart from the run before). If the
database cannot be used (an outage, or any storage error), the process waits one full interval and identifies:
Discord refuses at worst one IDENTIFY, which discord.py retries.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from bot.aio import Sleep
from bot.storage import StorageError, Store

log = logging.getLogger(__name__)

#: Discord's rule: one IDENTIFY per this many seconds per ``max_concurrency`` bucket
IDENTIFY_INTERVAL = 5.0
#: added to the interval between two turns: a turn is stamped just before its IDENTIFY leaves, and Discord counts
#: from when it arrives, which may be later for one process than for the next
IDENTIFY_MARGIN = 1.0


class IdentifyTurns:
    """Waits for a bucket's turn to identify (see the module docstring). ``clock`` (epoch seconds, as every
    process's clock) and ``sleep`` are injected by tests that move time."""

    def __init__(
        self,
        store: Store,
        *,
        interval: float = IDENTIFY_INTERVAL + IDENTIFY_MARGIN,
        clock: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.store = store
        self.interval = interval
        self.clock = clock
        self.sleep = sleep

    async def wait(self, bucket: int) -> None:
        """Return once this process holds ``bucket``'s turn: it may IDENTIFY now."""
        while True:
            now = self.clock()
            try:
                last = await self.store.take_identify_turn(bucket, self.interval, now=now)
            except StorageError as exc:
                log.warning(
                    "identify bucket %d: the database is unavailable (%s); waiting %.0f s instead of a turn",
                    bucket,
                    exc,
                    self.interval,
                )
                await self.sleep(self.interval)
                return
            if last is None:
                log.debug("identify bucket %d: turn taken", bucket)
                return
            wait = min(self.interval, max(0.0, last + self.interval - now))
            log.info("identify bucket %d: another identify %.1f s ago; waiting %.1f s", bucket, now - last, wait)
            await self.sleep(wait)
