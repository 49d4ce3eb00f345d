"""What the SQL of the two engines differs in, and the one connection interface both engines provide.

The store's SQL is written once (:mod:`bot.storage.sql`), with named parameters (``:name``) and a few dialect
fragments in braces (``{least}``, ``{same_as}``...). A :class:`Dialect` compiles such a text once (cached) into
what its driver takes: ``:name`` for sqlite3, ``$1..$n`` for asyncpg. ``:name::float8`` casts the parameter
on PostgreSQL (where asyncpg must know a parameter's type) and is a plain ``:name`` on SQLite.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from bot.storage.models import Row

#: A statement's parameters, by name.
Params = Mapping[str, object]
NO_PARAMS: Params = {}

# ``:name`` or ``:name::type`` (never the ``::type`` of a cast written in the SQL itself).
_PARAMETER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)(::[A-Za-z_]\w*(?:\[\])?)?")

#: PostgreSQL type of each column kind of :data:`bot.storage.transfer.TABLES` (for ``:name::type`` casts).
CAST_TYPES = {"int": "bigint", "float": "float8", "str": "text", "bytes": "bytea", "bool": "boolean"}

# Arbitrary constant key for pg_advisory_xact_lock: "migrations of this bot's schema".
_MIGRATION_LOCK_KEY = 0x41504D5F4D494752  # "APM_MIGR"
# ... and the first key of the two-key form: "one member's outbox rows" (the second key is their id, hashed).
_OUTBOX_USER_LOCK_KEY = 0x4F555458  # "OUTX"
#: the PostgreSQL channel a process NOTIFYs on when it released outbox claims (``Store.release_claims``)
OUTBOX_RELEASED_CHANNEL = "outbox_released"

#: Every fragment the shared SQL uses, as (SQLite, PostgreSQL) spell it.
FRAGMENTS: dict[str, tuple[str, str]] = {
    # the smaller of two values
    "least": ("MIN", "LEAST"),
    # the larger of two values
    "greatest": ("MAX", "GREATEST"),
    # null-safe equality (NULL {same_as} NULL is true)
    "same_as": ("IS", "IS NOT DISTINCT FROM"),
    # lock the rows a SELECT reads until the transaction ends (SQLite: BEGIN IMMEDIATE locks the database)
    "for_update": ("", " FOR UPDATE"),
    # ... skipping rows another transaction is claiming (outbox claims; SQLite has one writer at a time)
    "skip_locked": ("", " FOR UPDATE SKIP LOCKED"),
    # a column that grows with every inserted row (orders link states made in one instant)
    "insertion_order": ("rowid", "seq"),
    # the type of a float column (the schema_version table's)
    "float_type": ("REAL", "DOUBLE PRECISION"),
    # let an INSERT give identity columns their values (copy-db keeps outbox ids; SQLite's AUTOINCREMENT
    # takes them and moves sqlite_sequence past them)
    "keep_identity": ("", " OVERRIDING SYSTEM VALUE"),
    # 1 when the table :name exists, else 0
    "table_exists": (
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = :name",
        "SELECT CASE WHEN to_regclass(:name::text) IS NULL THEN 0 ELSE 1 END",
    ),
    # tell the other processes on the database that outbox rows became claimable at once (a process released its
    # claims: ``Store.watch_outbox``); SQLite has one process
    "outbox_released_notify": ("", f"SELECT pg_notify('{OUTBOX_RELEASED_CHANNEL}', '')"),
    # run first in each migration's transaction, so concurrent processes migrate one at a time (SQLite:
    # BEGIN IMMEDIATE already admits one writer)
    "migration_lock": ("", f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_KEY})"),
    # run first in a transaction that counts and numbers one member's outbox rows (:user_id), so two processes
    # enqueueing for the same member take turns (SQLite: one writer at a time already)
    "outbox_user_lock": ("", f"SELECT pg_advisory_xact_lock({_OUTBOX_USER_LOCK_KEY}, hashint8(:user_id::bigint))"),
}


class Dialect:
    """How one engine spells the SQL (:data:`FRAGMENTS`) and takes parameters; compiles texts once."""

    __slots__ = ("_compiled", "fragments", "migrations", "name", "numbered")

    def __init__(self, name: str, *, column: int, numbered: bool, migrations: str) -> None:
        self.name = name
        #: ``$1..$n`` parameters (asyncpg) rather than ``:name`` ones (sqlite3); also keeps ``::type`` casts.
        self.numbered = numbered
        #: The package directory of this engine's migration files.
        self.migrations = migrations
        self.fragments = {key: spellings[column] for key, spellings in FRAGMENTS.items()}
        self._compiled: dict[str, tuple[str, tuple[str, ...]]] = {}

    def __repr__(self) -> str:
        return f"<Dialect {self.name}>"

    def compile(self, sql: str) -> tuple[str, tuple[str, ...]]:
        """``sql`` with its fragments filled in and its parameters in the driver's style, and the parameter
        names in ``$n`` order (cached: each text is compiled once)."""
        compiled = self._compiled.get(sql)
        if compiled is None:
            compiled = self._compiled[sql] = self._compile(sql)
        return compiled

    def bind(self, sql: str, params: Params) -> tuple[str, Any]:
        """The driver's text and arguments: a dict for sqlite3, a tuple of positional values for asyncpg."""
        text, names = self.compile(sql)
        if self.numbered:
            return text, tuple(params[name] for name in names)
        return text, dict(params)

    def _compile(self, sql: str) -> tuple[str, tuple[str, ...]]:
        names: list[str] = []

        def parameter(match: re.Match[str]) -> str:
            name, cast = match.group(1), match.group(2) or ""
            if not self.numbered:
                return f":{name}"
            if name not in names:
                names.append(name)
            return f"${names.index(name) + 1}{cast}"

        return _PARAMETER.sub(parameter, sql.format_map(self.fragments)), tuple(names)


SQLITE = Dialect("sqlite", column=0, numbered=False, migrations="migrations")
POSTGRES = Dialect("postgres", column=1, numbered=True, migrations="migrations/postgres")


class Session(ABC):
    """One connection of an engine, running SQL written for :meth:`Dialect.compile`."""

    def __init__(self, dialect: Dialect, *, failures: tuple[type[BaseException], ...]) -> None:
        self.dialect = dialect
        #: What a failed statement raises (a migration that failed is reported as such).
        self.failures = failures

    # ------------------------------------------------------------------ what each engine's driver does
    @abstractmethod
    async def _fetch(self, text: str, args: Any) -> list[Row]:
        """Every row a compiled statement returns (``args`` as :meth:`Dialect.bind` made them)."""

    @abstractmethod
    async def _execute(self, text: str, args: Any) -> int:
        """Run a compiled statement; how many rows it changed."""

    @abstractmethod
    async def _execute_many(self, text: str, args: list[Any]) -> None:
        """Run a compiled statement once per argument set."""

    @abstractmethod
    async def script(self, sql: str) -> None:
        """Run a migration file (several statements, no parameters)."""

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[None]:
        """Everything inside commits together, or (on any exception) not at all."""

    # ------------------------------------------------------------------ written once
    async def rows(self, sql: str, params: Params = NO_PARAMS) -> list[Row]:
        """Every row the statement returns."""
        return await self._fetch(*self.dialect.bind(sql, params))

    async def one(self, sql: str, params: Params = NO_PARAMS) -> Row | None:
        """The first row, or None."""
        rows = await self.rows(sql, params)
        return rows[0] if rows else None

    async def value(self, sql: str, params: Params = NO_PARAMS) -> Any:
        """The first column of the first row (None without a row)."""
        row = await self.one(sql, params)
        return None if row is None else row[0]

    async def write(self, sql: str, params: Params = NO_PARAMS) -> int:
        """Run one statement; how many rows it changed."""
        return await self._execute(*self.dialect.bind(sql, params))

    async def write_many(self, sql: str, params: Sequence[Params]) -> None:
        """Run one statement once per parameter set."""
        await self._execute_many(self.dialect.compile(sql)[0], [self.dialect.bind(sql, p)[1] for p in params])
