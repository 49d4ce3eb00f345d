"""Numbered SQL migrations (``migrations/NNNN_name.sql``) applied in order, recorded in ``schema_version``.

One runner for both engines: each engine's :class:`~bot.storage.dialect.Session` says how it runs a
transaction and a script, and its :class:`~bot.storage.dialect.Dialect` how it finds a table and how
concurrent processes take turns (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: an advisory lock).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Final

from bot.storage.dialect import POSTGRES, SQLITE, Session
from bot.storage.errors import MigrationError, SchemaTooNew

log = logging.getLogger(__name__)

_FILENAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at {float_type} NOT NULL)"
)
_RECORD = "INSERT INTO schema_version (version, name, applied_at) VALUES (:version, :name, :applied_at)"


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


SQLITE_MIGRATIONS: Final = SQLITE.migrations
POSTGRES_MIGRATIONS: Final = POSTGRES.migrations


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


async def current_version(db: Session) -> int:
    """The schema version the database is at (0 for a new, empty database)."""
    if not await db.value("{table_exists}", {"name": "schema_version"}):
        return 0
    return int(await db.value("SELECT COALESCE(MAX(version), 0) FROM schema_version"))


async def apply_migrations(db: Session, migrations: Sequence[Migration] | None, *, database: str) -> int:
    """Bring the database to the last migration (default: the engine's shipped files); returns the final version.

    Each migration runs in its own transaction that first takes the engine's migration lock and re-checks the
    version, so processes starting at once apply each migration exactly once. Raises :class:`SchemaTooNew` if
    the database is ahead of the code, :class:`MigrationError` (the migration rolled back) if one fails.
    """
    known_migrations = tuple(migrations) if migrations is not None else load_migrations(directory=db.dialect.migrations)
    known = known_migrations[-1].version if known_migrations else 0
    version = await current_version(db)
    if version > known:
        raise SchemaTooNew(database, version, known)
    for migration in known_migrations:
        if migration.version <= version:
            continue
        try:
            async with db.transaction():
                if db.dialect.fragments["migration_lock"]:
                    await db.write("{migration_lock}")
                await db.write(_VERSION_TABLE)
                version = await current_version(db)
                if version > known:
                    raise SchemaTooNew(database, version, known)
                if version >= migration.version:  # another process applied it meanwhile
                    continue
                await db.script(migration.sql)
                await db.write(
                    _RECORD, {"version": migration.version, "name": migration.name, "applied_at": time.time()}
                )
        except db.failures as exc:
            raise MigrationError(f"migration {migration.label} failed and was rolled back: {exc}") from exc
        version = migration.version
        log.info("Applied database migration %s", migration.label)
    return version
