"""Housekeeping: the one background job that applies the retention rules (README, "What the bot keeps").

Every run deletes what the rules no longer allow:

* link states past their expiry (a ``/link`` address works ``LINK_MINUTES``, once);
* ratings held for someone who did not link within ``UNLINKED_REACTION_MINUTES`` (each owner is noted to be told
  at their next ``/account``);
* shared posts recorded more than ``SHARED_MESSAGE_DAYS`` ago (reactions on them no longer rate);
* notices older than ``NOTICE_DAYS``;
* the server taste (who shared what, members' votes) recorded or last changed more than ``TASTE_DAYS`` ago;
* the record of a server's closed week (its recap) ``CLOSED_WEEK_DAYS`` after the week ended;
* everything about a server ``LEFT_GUILD_DAYS`` after the bot was removed from it (the departure is recorded on
  Discord's ``GUILD_DELETE``, and cancelled when the bot is back);
* posts whose link of another music service waits to be matched, kept more than ``PENDING_MATCH_HOURS`` (the retry
  loop drops one sooner after ``PENDING_MATCH_ATTEMPTS`` tries);
* the rows of processes that stopped without removing their own;
* the last rating asked for (``rating_intents``) of items no recorded shared post shares any more (after the
  shared posts above are gone).

Applied ratings are not kept: the outbox deletes a row once Apple has it. Every deletion is idempotent, so every
process may run them (several processes on one PostgreSQL simply delete the same rows; the second finds none).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass

from bot.aio import Loop, repeat
from bot.services.presence import STALE_AFTER_SECONDS
from bot.storage import Store, StoreUnavailable

log = logging.getLogger(__name__)

DAY = 86_400.0
#: how long a closed week's row is kept (only the latest ended week is ever claimed: five weeks is plenty)
CLOSED_WEEK_DAYS = 35.0


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long data without a fixed end is kept (``SHARED_MESSAGE_DAYS``, ``NOTICE_DAYS``, ``LEFT_GUILD_DAYS``,
    ``TASTE_DAYS``)."""

    shared_message_days: float = 90
    notice_days: float = 30
    left_guild_days: float = 7
    taste_days: float = 365
    pending_match_hours: float = 24


@dataclass(frozen=True, slots=True)
class Purged:
    """What one housekeeping run deleted (rows, or servers for ``guilds``)."""

    link_states: int = 0
    held_ratings: int = 0
    shared_messages: int = 0
    notices: int = 0
    guilds: int = 0
    processes: int = 0
    rating_intents: int = 0
    taste: int = 0
    pending_matches: int = 0
    closed_weeks: int = 0

    @property
    def total(self) -> int:
        return sum(asdict(self).values())


class Housekeeping:
    """Runs :meth:`run_once` every ``interval`` seconds (the first time right away) until stopped; records the
    servers the bot leaves and rejoins."""

    def __init__(
        self,
        store: Store,
        policy: RetentionPolicy | None = None,
        *,
        interval: float = 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.policy = policy or RetentionPolicy()
        self.interval = interval
        self._clock = clock
        self._loop = Loop("housekeeping", self._run)

    async def run_once(self) -> Purged:
        """Delete now what the retention rules no longer allow; returns how much of each."""
        now = self._clock()
        policy = self.policy
        purged = Purged(
            link_states=await self.store.purge_expired_link_states(now),
            held_ratings=await self.store.purge_expired_holds(now),
            shared_messages=await self.store.purge_shared_messages(now - policy.shared_message_days * DAY),
            notices=await self.store.purge_notices(now - policy.notice_days * DAY),
            guilds=len(await self.store.purge_departed_guilds(now - policy.left_guild_days * DAY)),
            processes=await self.store.purge_stale_processes(now - STALE_AFTER_SECONDS),
            rating_intents=await self.store.purge_unshared_intents(),
            taste=await self.store.purge_taste(now - policy.taste_days * DAY),
            pending_matches=await self.store.purge_pending_matches(now - policy.pending_match_hours * 3600.0),
            closed_weeks=await self.store.purge_closed_weeks(now - CLOSED_WEEK_DAYS * DAY),
        )
        if purged.total:
            log.info("housekeeping deleted %s", ", ".join(f"{n} {what}" for what, n in asdict(purged).items() if n))
        return purged

    async def guild_left(self, guild_id: int) -> None:
        """Discord says the bot was removed from the server: its data goes ``LEFT_GUILD_DAYS`` from now."""
        if await self.store.record_guild_departure(guild_id, self._clock()):
            log.info(
                "left guild %d: its data is deleted in %g days unless the bot is back",
                guild_id,
                self.policy.left_guild_days,
            )

    async def reconcile_guilds(self, present: Collection[int], mine: Callable[[int], bool]) -> list[int]:
        """At start, once every shard of this process is ready: a server the store knows, that is ``mine`` (on one
        of this process's shards) and not ``present`` (Discord did not list it in READY) removed the bot while it
        was offline, so Discord never sent its ``GUILD_DELETE``: its departure is recorded now. Returns those."""
        here = set(present)
        gone = sorted(g for g in await self.store.known_guilds() if g not in here and mine(g))
        for guild_id in gone:
            await self.guild_left(guild_id)
        return gone

    async def guild_present(self, guild_id: int) -> None:
        """The bot is in the server (joined again, or seen at start): keep its data."""
        if await self.store.cancel_guild_departure(guild_id):
            log.info("back in guild %d: its data is kept", guild_id)

    async def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def _run(self, stopping: asyncio.Event) -> None:
        await repeat(self.run_once, self.interval, stopping, what="housekeeping", expected=(StoreUnavailable,))
