"""Is this process ready to take work, and the gauges of a scrape: what ``/readyz`` and ``/metrics`` answer.

Ready means: every shard this process runs is connected and identified (and the bot is not shutting down), the
database answers a trivial question within :data:`CHECK_SECONDS`, and the outbox worker runs. The Discord side is
seen through :class:`Gateway` (``RatingsBot`` implements it), so this module never imports discord.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final, Protocol

from bot import applemusic as am
from bot.metrics import Metrics
from bot.services.outbox import OutboxWorker
from bot.storage import StorageError, Store, StoreUnavailable

log = logging.getLogger(__name__)

#: How long the database may take to answer a readiness check or a scrape's counts.
CHECK_SECONDS: Final = 2.0
OK: Final = "ok"


class Gateway(Protocol):
    """The Discord side of readiness and metrics."""

    def shards_not_ready(self) -> list[str]:
        """What keeps the shards from being ready (empty: every shard of this process is connected and identified)."""
        ...

    def shutting_down(self) -> bool: ...

    def shard_latencies(self) -> Iterable[tuple[int, float]]: ...

    def guild_count(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Readiness:
    """``/readyz``'s answer: each check is ``"ok"`` or what is wrong."""

    checks: dict[str, str] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return all(value == OK for value in self.checks.values())

    def as_json(self) -> dict[str, object]:
        return {"ready": self.ready, "checks": self.checks}


@dataclass(slots=True)
class Health:
    """Answers readiness and fills the scrape-time gauges of :class:`Metrics`."""

    gateway: Gateway
    store: Store
    outbox: OutboxWorker
    metrics: Metrics
    pacer: am.Pacer | None
    #: how long the database may take to answer
    timeout: float = CHECK_SECONDS

    async def readiness(self) -> Readiness:
        shards = self.gateway.shards_not_ready()
        return Readiness(
            {
                "shards": "; ".join(shards) if shards else OK,
                "database": await self._database(),
                "outbox": OK if self.outbox.running else "the outbox worker is not running",
                "process": "shutting down" if self.gateway.shutting_down() else OK,
            }
        )

    async def _database(self) -> str:
        try:
            await asyncio.wait_for(self.store.ping(), self.timeout)
        except StoreUnavailable as exc:
            return f"unavailable ({exc.fault.value})"
        except StorageError:  # the store is closed (the process is stopping)
            return "closed"
        except TimeoutError:
            return f"no answer within {self.timeout:g} s"
        return OK

    async def scrape(self) -> bytes:
        """Set the gauges (the database's counts read with a timeout; on failure the last values stay and
        ``amrb_database_up`` is 0), then render every metric."""
        self.metrics.set_gateway(self.gateway.shard_latencies(), self.gateway.guild_count())
        if isinstance(self.pacer, am.AdaptivePacer):
            self.metrics.apple_rate.set(self.pacer.view().rate)
        try:
            counts = await asyncio.wait_for(self.store.health_counts(), self.timeout)
        except (StorageError, TimeoutError) as exc:
            log.info("metrics: the database's counts could not be read (%s)", type(exc).__name__)
            self.metrics.database_up.set(0)
        else:
            self.metrics.set_counts(counts)
            self.metrics.database_up.set(1)
        return self.metrics.render()
