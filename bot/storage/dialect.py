"""What the SQL of the two engines differs in, and the one connection interface both engines provide.

The store's SQL is written once (:mod:`bot.storage.sql`), with named parameters (``:name``) and a few dialect
fragments in braces (``{least}``, ``{same_as}``...). A :class:`Dialect` compiles such a text once (cached) into
what its driver takes: ``:name`` for sqlite3, ``$1..$n`` for asyncpg. ``:name::float8`` casts the parameter
on PostgreSQL (where asyncpg must know a parameter's type) and is a plain ``:name`` on SQLite.
"""

from __future__ import annotations

import functools
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict, dataclass
from typing import Any

from bot.storage.models import Row

#: A statement's parameters, by name.
Params = Mapping[str, object]
NO_PARAMS: Params = {}

# ``:name`` or ``:name::type`` (never the ``::type`` of a cast written in the SQL itself).
_PARAMETER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)(::[A-Za-z_]\w*(?:\[\])?)?")

#: PostgreSQL type of each column kind of :data:`bot.storage.transfer.TABLES` (for ``:name::type`` casts).
CAST_TYPES = {"int": "bigint", "float": "float8", "str": "text", "bytes": "bytea", "bool": "boolean"}


@dataclass(frozen=True, slots=True)
class Dialect:
    """The SQL fragments one engine spells its own way, and its parameter style."""

    name: str
    #: ``$1..$n`` parameters (asyncpg) rather than ``:name`` ones (sqlite3); also keeps ``::type`` casts.
    numbered: bool
    #: ``{least}``: the smaller of two values.
    least: str
    #: ``{same_as}``: null-safe equality (``NULL {same_as} NULL`` is true).
    same_as: str
    #: ``{for_update}``: locks the rows a SELECT reads until the transaction ends.
    for_update: str
    #: ``{skip_locked}``: ... skipping rows another transaction has locked (outbox claims).
    skip_locked: str
    #: ``{insertion_order}``: a column that grows with every inserted row (link states made in one instant).
    insertion_order: str
    #: ``{float_type}``: the column type of a float (the ``schema_version`` table's).
    float_type: str
    #: ``{keep_identity}``: lets an INSERT give identity columns their values (``copy-db`` keeps outbox ids).
    keep_identity: str
    #: A query with ``:name`` giving 1 when that table exists, else 0.
    table_exists: str
    #: A statement run first in each migration's transaction so concurrent processes migrate one at a time.
    migration_lock: str | None
    #: The package directory of this engine's migration files.
    migrations: str

    def compile(self, sql: str) -> tuple[str, tuple[str, ...]]:
        """``sql`` with its fragments filled in and its parameters in the driver's style, and the parameter
        names in ``$n`` order (cached: each text is compiled once)."""
        return _compile(self, sql)

    def bind(self, sql: str, params: Params) -> tuple[str, Any]:
        """The driver's text and arguments: a dict for sqlite3, a tuple of positional values for asyncpg."""
        text, names = _compile(self, sql)
        if self.numbered:
            return text, tuple(params[name] for name in names)
        return text, dict(params)


@functools.lru_cache(maxsize=1024)
def _compile(dialect: Dialect, sql: str) -> tuple[str, tuple[str, ...]]:
    fragments = {key: value for key, value in asdict(dialect).items() if isinstance(value, str)}
    filled = sql.format_map(fragments)
    names: list[str] = []

    def parameter(match: re.Match[str]) -> str:
        name, cast = match.group(1), match.group(2) or ""
        if not dialect.numbered:
            return f":{name}"
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}{cast}"

    return _PARAMETER.sub(parameter, filled), tuple(names)


class Session(ABC):
    """One connection of an engine, running SQL written for :meth:`Dialect.compile`."""

    dialect: Dialect
    #: What a failed statement raises (a migration that failed is reported as such).
    failures: tuple[type[BaseException], ...]

    @abstractmethod
    async def rows(self, sql: str, params: Params = NO_PARAMS) -> list[Row]:
        """Every row the statement returns."""

    @abstractmethod
    async def write(self, sql: str, params: Params = NO_PARAMS) -> int:
        """Run one statement; how many rows it changed."""

    @abstractmethod
    async def write_many(self, sql: str, params: Sequence[Params]) -> None:
        """Run one statement once per parameter set."""

    @abstractmethod
    async def script(self, sql: str) -> None:
        """Run a migration file (several statements, no parameters)."""

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[None]:
        """Everything inside commits together, or (on any exception) not at all."""

    async def one(self, sql: str, params: Params = NO_PARAMS) -> Row | None:
        """The first row, or None."""
        rows = await self.rows(sql, params)
        return rows[0] if rows else None

    async def value(self, sql: str, params: Params = NO_PARAMS) -> Any:
        """The first column of the first row (None without a row)."""
        row = await self.one(sql, params)
        return None if row is None else row[0]
