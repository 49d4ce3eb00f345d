"""SQLite engine (aiosqlite): one connection, WAL, ``synchronous=NORMAL``, foreign keys, secure delete.

Concurrency model: aiosqlite runs the connection on one thread and executes calls in order; an
``asyncio.Lock`` makes each public method (and so each multi-statement transaction) atomic with respect to
other coroutines of this process. Statements that must be atomic across *processes* (claims, nonce
consumption, notices) are single statements or ``BEGIN IMMEDIATE`` transactions, with a busy timeout.
The SQL itself is :mod:`bot.storage.sql`'s, shared with PostgreSQL.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Self

import aiosqlite

from bot.storage.base import Clock
from bot.storage.crypto import TokenCipher
from bot.storage.dialect import SQLITE, Session
from bot.storage.errors import MigrationError, StorageFault
from bot.storage.models import Row
from bot.storage.options import StoreOptions
from bot.storage.sql import SqlStore

log = logging.getLogger(__name__)

#: how often a checkpoint that failed to fold deleted data out of the WAL is tried again
SCRUB_RETRY_SECONDS = 60.0

#: SQLite's primary result codes that mean the database cannot be used right now (whatever the statement)
_FAULTS = {
    sqlite3.SQLITE_FULL: StorageFault.FULL,  # also a write past RLIMIT_FSIZE cut short (EFBIG)
    sqlite3.SQLITE_READONLY: StorageFault.READ_ONLY,  # read-only file, directory or file system; query_only
    sqlite3.SQLITE_IOERR: StorageFault.IO,  # a failed read, write, fsync, truncate (EFBIG, EIO...)
    sqlite3.SQLITE_CANTOPEN: StorageFault.IO,  # the journal, WAL or a temporary file cannot be opened
    sqlite3.SQLITE_BUSY: StorageFault.BUSY,  # another connection held the lock past the busy timeout
    sqlite3.SQLITE_LOCKED: StorageFault.BUSY,
    sqlite3.SQLITE_PROTOCOL: StorageFault.BUSY,  # a WAL lock race lost again and again
    sqlite3.SQLITE_NOMEM: StorageFault.RESOURCES,
}


class SqliteSession(Session):
    """The store's one aiosqlite connection (autocommit mode: transactions are explicit), and the lock that
    gives it to one public method at a time."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        super().__init__(SQLITE, failures=(sqlite3.Error,))
        self.lock = asyncio.Lock()
        self._db = db

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """``BEGIN IMMEDIATE`` (the write lock at once, waiting up to the busy timeout) ... ``COMMIT``.

        Whatever fails, the body or the ``COMMIT`` itself (a full disk, an I/O error, a busy lock), ends in a
        ``ROLLBACK``: SQLite may have rolled the transaction back by itself already (after ``SQLITE_FULL`` or
        ``SQLITE_IOERR``), or may have kept it open (a ``COMMIT`` that got ``SQLITE_BUSY``); either way nothing
        is left half-done and the connection takes the next ``BEGIN``."""
        await self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
            await self._db.execute("COMMIT")
        except BaseException:
            await self.roll_back()
            raise

    async def roll_back(self) -> None:
        """End an open transaction, if any, without keeping anything of it."""
        try:
            await self._db.execute("ROLLBACK")
        except sqlite3.Error:  # no transaction was open any more (SQLite rolled it back itself)
            pass

    @property
    def in_transaction(self) -> bool:
        return self._db.in_transaction

    async def script(self, sql: str) -> None:
        for statement in split_statements(sql):
            await self._db.execute(statement)

    async def _fetch(self, text: str, args: Any) -> list[Row]:
        return list(await self._db.execute_fetchall(text, args))

    async def _execute(self, text: str, args: Any) -> int:
        cursor = await self._db.execute(text, args)
        count = cursor.rowcount
        await cursor.close()
        return count

    async def _execute_many(self, text: str, args: list[Any]) -> None:
        await self._db.executemany(text, args)

    async def close(self) -> None:
        try:
            await self._db.execute("PRAGMA optimize")
        except sqlite3.Error:  # best effort
            pass
        await self._db.close()


class SqliteStore(SqlStore):
    """The SQLite :class:`~bot.storage.base.Store`: ``await SqliteStore.open(path, cipher)``."""

    caches_tokens = True  # one process uses the file

    def __init__(
        self, db: aiosqlite.Connection, path: str, cipher: TokenCipher, *, clock: Clock, options: StoreOptions
    ) -> None:
        super().__init__(path, cipher, clock=clock, options=options)
        self._db = SqliteSession(db)
        #: a checkpoint that must fold deleted data out of the WAL failed; try it again (see ``_scrub``)
        self._scrub_owed = False
        self._scrub_retry_at = 0.0

    @classmethod
    async def _connect(cls, target: str, cipher: TokenCipher, *, clock: Clock, options: StoreOptions) -> Self:
        if target != ":memory:":
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(target, isolation_level=None, timeout=options.busy_timeout)
        try:
            db.row_factory = sqlite3.Row
            await db.execute("PRAGMA foreign_keys = ON")
            await db.execute("PRAGMA secure_delete = ON")
            await db.execute(f"PRAGMA busy_timeout = {int(options.busy_timeout * 1000)}")
            mode = await _enable_wal(db, options.busy_timeout)
            if mode != "wal" and target != ":memory:":
                log.warning("SQLite did not switch to WAL mode (journal_mode=%s) for %s", mode, target)
            await db.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            await db.close()
            raise
        return cls(db, target, cipher, clock=clock, options=options)

    @property
    def path(self) -> str:
        return self.location

    async def pragmas(self) -> dict[str, str]:
        """The connection's safety settings (for ``check`` and tests): journal mode, synchronous, ..."""
        names = ("journal_mode", "synchronous", "foreign_keys", "secure_delete", "busy_timeout")
        async with self._session() as db:
            return {name: str(await db.value(f"PRAGMA {name}")) for name in names}

    async def database_identity(self) -> str:
        if self.path == ":memory:":
            return f"sqlite-memory:{id(self)}"
        return await asyncio.to_thread(_file_identity, self.path)

    # ------------------------------------------------------------------ engine hooks
    async def _disconnect(self) -> None:
        async with self._db.lock:
            await self._db.close()

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[SqliteSession]:
        async with self._db.lock:
            self._check_open()
            if self._db.in_transaction:
                # a ROLLBACK that failed (an I/O error) left a transaction open: end it before anything else
                await self._db.roll_back()
            yield self._db
            if self._scrub_owed and self._clock() >= self._scrub_retry_at:
                await self._scrub(self._db)

    def _fault(self, error: BaseException) -> tuple[StorageFault, str] | None:
        code = getattr(error, "sqlite_errorcode", None) if isinstance(error, sqlite3.Error) else None
        fault = None if code is None else _FAULTS.get(code & 0xFF)  # the primary result code
        if fault is None:
            return None
        return fault, str(getattr(error, "sqlite_errorname", None) or f"SQLite result code {code}")

    async def _scrub(self, db: Session) -> None:
        """Fold the WAL into the main file and truncate it, so deleted data does not linger in ``-wal``
        (``secure_delete`` already zeroes the freed space of the main file).

        It runs after a committed transaction, so it never fails that transaction: when the checkpoint is
        blocked or fails (a full disk, an I/O error), it is owed, and tried again after a later use of the
        connection (at most every :data:`SCRUB_RETRY_SECONDS`) until it succeeds."""
        try:
            blocked = await db.value("PRAGMA wal_checkpoint(TRUNCATE)") not in (0, None)
            problem = "was blocked by another connection"
        except sqlite3.Error as exc:
            if self._fault(exc) is None:
                raise
            blocked, problem = True, f"failed ({getattr(exc, 'sqlite_errorname', 'error')})"
        if blocked and not self._scrub_owed:
            log.warning(
                "SQLite checkpoint %s; deleted data may remain in the write-ahead log until the next checkpoint "
                "(tried again every minute while the bot uses the database)",
                problem,
            )
        elif not blocked and self._scrub_owed:
            log.info("SQLite checkpoint done: the write-ahead log holds no deleted data any more")
        self._scrub_owed = blocked
        self._scrub_retry_at = self._clock() + SCRUB_RETRY_SECONDS


def _file_identity(path: str) -> str:
    """The same string for every path (relative, symlinked, hard-linked) that reaches the same file."""
    real = os.path.realpath(path)
    try:
        info = os.stat(real)
    except OSError:
        return f"sqlite:{real}"
    return f"sqlite:{info.st_dev}:{info.st_ino}"


async def _enable_wal(db: aiosqlite.Connection, busy_timeout: float) -> str:
    """Switch to WAL (persistent in the file). Another connection creating the same new file can make the
    switch fail with "database is locked" without waiting for the busy timeout: retry for a while."""
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            rows = list(await db.execute_fetchall("PRAGMA journal_mode"))
            if rows and str(rows[0][0]).lower() == "wal":
                return "wal"
            rows = list(await db.execute_fetchall("PRAGMA journal_mode = WAL"))
            return str(rows[0][0]).lower() if rows else "?"
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            await asyncio.sleep(0.02)


def split_statements(sql: str) -> list[str]:
    """Split a script into complete statements (semicolons inside strings, comments or triggers are safe)."""
    statements: list[str] = []
    start = 0
    for index, char in enumerate(sql):
        if char != ";":
            continue
        candidate = sql[start : index + 1]
        if sqlite3.complete_statement(candidate):
            if _has_code(candidate):
                statements.append(candidate.strip())
            start = index + 1
    if _has_code(sql[start:]):
        raise MigrationError("migration script ends with an unterminated statement (missing ';')")
    return statements


def _has_code(text: str) -> bool:
    without_line_comments = re.sub(r"--[^\n]*", "", text)
    without_comments = re.sub(r"/\*.*?\*/", "", without_line_comments, flags=re.DOTALL)
    return bool(without_comments.strip(" \t\r\n;"))
