"""PostgreSQL engine (asyncpg): a connection pool shared by the coroutines of one process, and any number of
processes (each holding some of Discord's shards) sharing one database.

Concurrency model: every public method is one statement or one transaction on a pooled connection, so it
is atomic with respect to other coroutines *and* other processes. Outbox claims lock the rows they take
with ``FOR UPDATE SKIP LOCKED`` and stamp a lease: two workers never hold the same row, and a row claimed by
a worker that died becomes claimable again when its lease expires. Completion is version-checked, so a
newer desired rating that arrived while a worker was applying the old one is never lost. Tokens are never
cached: another process may have unlinked the user. The SQL itself is :mod:`bot.storage.sql`'s, shared with
SQLite.

Migrations live in ``bot/storage/migrations/postgres`` (same numbers and names as the SQLite ones); each is
applied in its own transaction under a transaction-scoped advisory lock, so processes starting at once
apply each migration exactly once.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Self

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information

from bot.storage.base import Clock
from bot.storage.crypto import TokenCipher
from bot.storage.dialect import OUTBOX_RELEASED_CHANNEL, POSTGRES, Session
from bot.storage.errors import StorageError, StorageFault
from bot.storage.factory import describe_dsn
from bot.storage.models import Row
from bot.storage.options import StoreOptions
from bot.storage.sql import SqlStore
from bot.storage.transfer import TABLES, TableSpec

log = logging.getLogger(__name__)

#: SQLSTATEs (exact codes first, then their two-character class) that mean the database cannot be used right now,
#: whatever the statement: https://www.postgresql.org/docs/current/errcodes-appendix.html
_FAULTS: dict[str, StorageFault] = {
    "25006": StorageFault.READ_ONLY,  # read_only_sql_transaction: a standby, default_transaction_read_only
    "53100": StorageFault.FULL,  # disk_full
    "55P03": StorageFault.BUSY,  # lock_not_available: lock_timeout, NOWAIT
    "57014": StorageFault.BUSY,  # query_canceled: statement_timeout
    "40P01": StorageFault.BUSY,  # deadlock_detected (this transaction was the one rolled back)
    "55000": StorageFault.UNREACHABLE,  # "database ... is not currently accepting connections"
    "08": StorageFault.UNREACHABLE,  # connection exception (and "connection was closed in the middle of operation")
    "53": StorageFault.RESOURCES,  # insufficient resources: out of memory, too many connections
    "57": StorageFault.UNREACHABLE,  # operator intervention: shutdown, terminated, cannot connect now
    "58": StorageFault.IO,  # system error: I/O error (58030), undefined or duplicate file
}
#: errors without a SQLSTATE that mean the same: the network, a client-side timeout, a connection broken in
#: mid-operation ("cannot switch to state ...")
_CLIENT_FAULTS: tuple[tuple[type[BaseException], StorageFault], ...] = (
    (TimeoutError, StorageFault.BUSY),  # the pool's command_timeout, or connect_timeout
    (OSError, StorageFault.UNREACHABLE),
    (asyncpg.InternalClientError, StorageFault.UNREACHABLE),
)


def application_name(pid: int | None = None) -> str:
    """The ``application_name`` the bot's connections carry: ``ratings-bot:<pid>:<host>`` (63 bytes at most)."""
    return f"ratings-bot:{os.getpid() if pid is None else pid}:{socket.gethostname()}"[:63]


class PostgresSession(Session):
    """One pooled asyncpg connection."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        super().__init__(POSTGRES, failures=(asyncpg.PostgresError,))
        self._conn = conn

    async def _fetch(self, text: str, args: Any) -> list[Row]:
        return list(await self._conn.fetch(text, *args))

    async def _execute(self, text: str, args: Any) -> int:
        status: str = await self._conn.execute(text, *args)
        tail = status.rsplit(" ", 1)[-1]  # "UPDATE 3", "DELETE 0", "INSERT 0 1"
        return int(tail) if tail.isdigit() else 0

    async def _execute_many(self, text: str, args: list[Any]) -> None:
        await self._conn.executemany(text, args)

    async def script(self, sql: str) -> None:
        await self._conn.execute(sql)  # without arguments: the simple protocol, several statements at once

    def transaction(self) -> AbstractAsyncContextManager[None]:
        transaction: AbstractAsyncContextManager[None] = self._conn.transaction()
        return transaction


class PostgresStore(SqlStore):
    """The PostgreSQL :class:`~bot.storage.base.Store`: ``await PostgresStore.open(dsn, cipher)``.

    Tokens are never cached (whatever ``StoreOptions.token_cache_seconds`` says): several processes share the
    database, and a token cached here would outlive an ``/unlink`` handled by another process. Each connection
    reports ``application_name`` = :func:`application_name` (unless the DSN sets one), so ``pg_stat_activity``
    tells which bot process holds it.
    """

    caches_tokens = False
    shared_by_processes = True

    def __init__(
        self,
        pool: asyncpg.Pool,
        where: str,
        cipher: TokenCipher,
        *,
        clock: Clock,
        options: StoreOptions,
        connect: Callable[[], Any] | None = None,
    ) -> None:
        super().__init__(where, cipher, clock=clock, options=options)
        self._pool = pool
        #: opens one connection outside the pool, as the pool's are opened (the DSN stays inside it)
        self._connect_one = connect
        #: the connection LISTENing for released outbox rows (:meth:`watch_outbox`), outside the pool
        self._listener: asyncpg.Connection | None = None

    @classmethod
    async def _connect(cls, dsn: str, cipher: TokenCipher, *, clock: Clock, options: StoreOptions) -> Self:
        where = describe_dsn(dsn)
        settings = {} if "application_name" in dsn else {"application_name": application_name()}
        try:
            pool = await asyncpg.create_pool(
                dsn,
                min_size=options.pool_min_size,
                max_size=options.pool_max_size,
                timeout=options.connect_timeout,
                command_timeout=options.command_timeout,
                server_settings=settings,
            )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            # asyncpg's messages name host, port, user and database, never the password; still, say it ourselves.
            raise StorageError(
                f"cannot connect to the PostgreSQL database {where} ({type(exc).__name__}); check DATABASE_URL "
                "and that the server is running"
            ) from None

        def connect_one() -> Any:
            return asyncpg.connect(dsn, timeout=options.connect_timeout, server_settings=settings)

        return cls(pool, where, cipher, clock=clock, options=options, connect=connect_one)

    async def database_identity(self) -> str:
        async with self._session() as db:
            try:  # the cluster's unique id; readable by superusers (and those granted it) only
                cluster = await db.value("SELECT system_identifier::text FROM pg_control_system()")
            except asyncpg.InsufficientPrivilegeError:
                cluster = None
            if cluster is None:  # the same server process, found under any host name
                cluster = await db.value("SELECT pg_postmaster_start_time()::text || '/' || current_setting('port')")
            database = await db.value("SELECT oid::text FROM pg_database WHERE datname = current_database()")
        return f"postgresql:{cluster}:{database}"

    async def watch_outbox(self, wake: Callable[[], None]) -> bool:
        """LISTEN on one connection of its own (outside the pool) for the NOTIFY :meth:`release_claims` sends at
        commit; a notification calls ``wake()``. A lost connection is replaced at the next call."""
        self._check_open()
        if self._listener is not None and not self._listener.is_closed():
            return True
        if self._connect_one is None:
            return False
        conn = None
        try:
            conn = await self._connect_one()
            await conn.add_listener(OUTBOX_RELEASED_CHANNEL, lambda *_: wake())
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("cannot watch for released outbox rows on %s (%s)", self.location, type(exc).__name__)
            if conn is not None:
                conn.terminate()
            return False
        if self._closed:  # closed while connecting
            conn.terminate()
            return False
        self._listener = conn
        return True

    # ------------------------------------------------------------------ engine hooks
    async def _disconnect(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.terminate()  # it only listens: nothing to finish
        try:
            await self._pool.close()
        except Exception:  # closing is best effort; never hang shutdown
            self._pool.terminate()

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[PostgresSession]:
        self._check_open()
        async with self._pool.acquire() as conn:
            yield PostgresSession(conn)

    def _fault(self, error: BaseException) -> tuple[StorageFault, str] | None:
        # our own words only (the SQLSTATE or the error's type): never the driver's message, never the DSN
        if isinstance(error, asyncpg.PostgresError):
            code = str(getattr(error, "sqlstate", "") or "")
            fault = _FAULTS.get(code) or _FAULTS.get(code[:2])
            return None if fault is None else (fault, f"SQLSTATE {code} {type(error).__name__}")
        for kind, fault in _CLIENT_FAULTS:
            if isinstance(error, kind):
                return fault, type(error).__name__
        return None

    async def _after_fault(self, fault: StorageFault) -> None:
        """Replace the pooled connections at their next use: a connection made while the database was read-only
        keeps ``default_transaction_read_only``, one made to a standby stays there; fresh ones see the
        database as it is now (lock timeouts leave the connections as they are)."""
        if fault is not StorageFault.BUSY:
            await self._pool.expire_connections()

    async def _before_import(self, db: Session) -> None:
        # Nobody else writes these tables until we commit (readers are not blocked).
        await db.write(f"LOCK TABLE {', '.join(spec.name for spec in TABLES)} IN EXCLUSIVE MODE")

    async def _after_import(self, db: Session, spec: TableSpec) -> None:
        """Make the identity generator of the copied table continue after the largest id (inside the import's
        transaction: ``ALTER TABLE ... RESTART`` is rolled back with it). Never moves it backwards."""
        if spec.identity is None:
            return
        table, column = spec.name, spec.identity
        largest = await db.value(f"SELECT MAX({column}) FROM {table}")  # noqa: S608 (names from TABLES)
        if largest is None:
            return
        sequence = await db.value(
            "SELECT pg_get_serial_sequence(:table::text, :column::text)", {"table": table, "column": column}
        )
        state: Any = await db.one(f"SELECT last_value, is_called FROM {sequence}")  # noqa: S608 (from the catalog)
        upcoming = int(state["last_value"]) + (1 if state["is_called"] else 0)
        restart = max(int(largest) + 1, upcoming)
        await db.write(f"ALTER TABLE {table} ALTER COLUMN {column} RESTART WITH {restart}")
