"""This process, as the database sees it: one row per running bot process (``processes``), so that a command run
beside it can tell which processes run and which keys they hold.

:class:`Presence` adds the row at start, renews it every ``HEARTBEAT_SECONDS`` (``seen_at``) and deletes it on a
clean stop; housekeeping deletes the rows of processes that died without doing so. A process whose row was not
renewed for ``STALE_AFTER_SECONDS`` counts as stopped.

``python -m bot rotate-keys`` asks it: re-encrypting every token with a new first key while a running process
does not encrypt with that key too would leave tokens the process cannot read once the old key is dropped, and
tokens it writes that the others cannot; :func:`holdouts` names those processes, and the command refuses.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterable

from bot.aio import Loop, repeat
from bot.storage import ProcessRecord, StorageError, Store

__all__ = ["HEARTBEAT_SECONDS", "STALE_AFTER_SECONDS", "Presence", "holdouts", "this_process"]

log = logging.getLogger(__name__)

#: how often a running process renews its row
HEARTBEAT_SECONDS = 30.0
#: a row not renewed for this long is a process that stopped without deleting it (four heartbeats missed)
STALE_AFTER_SECONDS = 120.0


def this_process(key_fingerprints: Iterable[str], *, now: float | None = None) -> ProcessRecord:
    """The row of the current process: ``host:pid:random`` (unique per run), started now."""
    host, pid = socket.gethostname(), os.getpid()
    at = time.time() if now is None else now
    return ProcessRecord(f"{host}:{pid}:{secrets.token_hex(3)}", host, pid, at, at, tuple(key_fingerprints))


def holdouts(processes: Iterable[ProcessRecord], first_key: str) -> list[ProcessRecord]:
    """The processes whose first key is not the key fingerprinted ``first_key``: they would go on encrypting
    with another key after a rotation to it."""
    return [p for p in processes if not p.key_fingerprints or p.key_fingerprints[0] != first_key]


class Presence:
    """Keeps this process's row: added by :meth:`start`, renewed every ``interval`` seconds, deleted by
    :meth:`stop`."""

    def __init__(
        self,
        store: Store,
        process: ProcessRecord,
        *,
        interval: float = HEARTBEAT_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.process = process
        self.interval = interval
        self._clock = clock
        self._loop = Loop("presence heartbeat", self._beat)

    def __repr__(self) -> str:
        return f"Presence({self.process.name}, running={self._loop.running})"

    async def start(self) -> None:
        """Add the row now (a store error propagates: the process does not start unseen), then keep it fresh."""
        if self._loop.running:
            return
        await self.heartbeat()
        self._loop.start()

    async def heartbeat(self) -> None:
        self.process = dataclasses.replace(self.process, seen_at=self._clock())
        await self.store.announce_process(self.process)

    async def stop(self) -> None:
        """Stop renewing, and delete the row (a process that cannot reach the database leaves it to expire)."""
        if not await self._loop.stop():
            return
        try:
            await self.store.retire_process(self.process.id)
        except StorageError as exc:
            log.warning("could not remove this process (%s) from the database: %s", self.process.name, exc)

    async def _beat(self, stopping: asyncio.Event) -> None:
        what = "renewing this process's row in the database"
        await repeat(self.heartbeat, self.interval, stopping, what=what, expected=(StorageError,), wait_first=True)
