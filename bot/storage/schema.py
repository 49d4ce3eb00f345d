"""Numbered SQL migrations (``migrations/NNNN_name.sql``) applied in order, recorded in ``schema_version``."""

from __future__ import annotations

import logging
import re
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Final

import aiosqlite

from bot.storage.errors import MigrationError, SchemaTooNew

log = logging.getLogger(__name__)

_FILENAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


SQLITE_MIGRATIONS: Final = "migrations"
POSTGRES_MIGRATIONS: Final = "migrations/postgres"


def load_migrations(package: str = "bot.storage", directory: str = SQLITE_MIGRATIONS) -> tuple[Migration, ...]:
    """Read the migration files shipped as package data; they must be numbered 1, 2, 3... without gaps.

    The default directory holds the SQLite migrations; :data:`POSTGRES_MIGRATIONS` holds the PostgreSQL
    ones, numbered and named the same (one file per engine where the SQL must differ).
    """
    folder = resources.files(package)
    for part in directory.split("/"):
        folder = folder.joinpath(part)
    found: list[Migration] = []
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILENAME.match(entry.name)
        if match is None:
            raise MigrationError(f"migration file {entry.name!r} is not named NNNN_lowercase_name.sql")
        found.append(Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise MigrationError(
                f"migrations must be numbered 1, 2, 3... without gaps or duplicates; "
                f"expected {expected:04d}, found {migration.label}"
            )
    return tuple(found)


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


async def current_version(db: aiosqlite.Connection) -> int:
    rows = list(
        await db.execute_fetchall("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'")
    )
    if not rows:
        return 0
    rows = list(await db.execute_fetchall("SELECT COALESCE(MAX(version), 0) FROM schema_version"))
    return int(rows[0][0])


async def apply_migrations(db: aiosqlite.Connection, migrations: Sequence[Migration], *, database: str) -> int:
    """Bring the database to the last migration; returns the final version.

    The connection must be in autocommit mode (``isolation_level=None``). Each migration runs in its own
    ``BEGIN IMMEDIATE`` transaction, re-checking the version inside it, so two processes starting at once
    apply each migration exactly once. Raises :class:`SchemaTooNew` if the database is ahead of the code.
    """
    known = migrations[-1].version if migrations else 0
    version = await current_version(db)
    if version > known:
        raise SchemaTooNew(database, version, known)
    if version == known:
        return version
    await db.execute(_VERSION_TABLE)
    for migration in migrations:
        if migration.version <= version:
            continue
        statements = split_statements(migration.sql)
        await db.execute("BEGIN IMMEDIATE")
        try:
            version = await current_version(db)
            if version >= migration.version:  # another process applied it meanwhile
                await db.execute("COMMIT")
                continue
            for statement in statements:
                await db.execute(statement)
            await db.execute(
                "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, time.time()),
            )
            await db.execute("COMMIT")
        except BaseException as exc:
            await _rollback_quietly(db)
            if isinstance(exc, sqlite3.Error):
                raise MigrationError(f"migration {migration.label} failed and was rolled back: {exc}") from exc
            raise
        version = migration.version
        log.info("Applied database migration %s", migration.label)
    return version


async def _rollback_quietly(db: aiosqlite.Connection) -> None:
    try:
        await db.execute("ROLLBACK")
    except sqlite3.Error:  # no transaction was open
        pass
