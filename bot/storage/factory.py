"""``DATABASE_URL``: parsed in one place (:func:`parse_database_url`), opened by :func:`open_store`.

Parsing opens nothing and never imports asyncpg, so the settings can validate ``DATABASE_URL`` with it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import unquote, urlsplit

from bot.storage.base import Clock, Store
from bot.storage.crypto import TokenCipher
from bot.storage.errors import UnsupportedDatabaseURL
from bot.storage.options import StoreOptions

_SQLITE_SCHEMES = {"sqlite", "sqlite3"}
_POSTGRES_SCHEMES = {"postgres", "postgresql", "postgresql+asyncpg"}

Engine = Literal["sqlite", "postgres"]


@dataclass(frozen=True, slots=True)
class DatabaseURL:
    """A ``DATABASE_URL`` the storage can open. Its repr shows ``location`` only (never a password)."""

    #: ``"sqlite"`` or ``"postgres"``
    engine: Engine
    #: SQLite: the database file's path (``:memory:`` for an in-memory database); PostgreSQL: the DSN asyncpg
    #: takes, which may hold a password: never print it.
    target: str = field(repr=False)
    #: A printable name: the SQLite path, or ``postgresql://host:port/database`` (no user name, no password).
    location: str


def parse_database_url(url: str) -> DatabaseURL:
    """``sqlite:///relative/path.db``, ``sqlite:////abs/path.db`` or ``postgresql://user:password@host:port/db``
    (also ``postgres://`` and ``postgresql+asyncpg://``). Raises :class:`UnsupportedDatabaseURL` saying what to
    write instead. ``sqlite:///:memory:`` gives an in-memory database (tests only: nothing survives a restart).
    """
    text = url.strip()
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme in _SQLITE_SCHEMES:
        if parts.netloc not in ("", "localhost"):
            raise UnsupportedDatabaseURL(
                "an SQLite DATABASE_URL has three slashes before a relative path (sqlite:///data/bot.db) "
                "and four before an absolute one (sqlite:////var/lib/bot/bot.db); it names no host"
            )
        if parts.query or parts.fragment:
            raise UnsupportedDatabaseURL("an SQLite DATABASE_URL takes no query string or fragment")
        path = unquote(parts.path)
        if path.startswith("/"):
            path = path[1:]
        if not path or path.endswith("/"):
            raise UnsupportedDatabaseURL(
                "the SQLite DATABASE_URL names no database file (example: sqlite:///data/bot.db)"
            )
        return DatabaseURL("sqlite", path, path)
    if scheme in _POSTGRES_SCHEMES:
        if not parts.netloc and not parts.query:
            raise UnsupportedDatabaseURL(
                "the PostgreSQL DATABASE_URL names no server (example: postgresql://bot:password@db:5432/bot)"
            )
        dsn = "postgresql" + text[len(parts.scheme) :]  # what asyncpg accepts
        return DatabaseURL("postgres", dsn, describe_dsn(dsn))
    raise UnsupportedDatabaseURL(
        f"DATABASE_URL scheme {scheme or 'missing'!r} is not supported; "
        "use sqlite:///path/to/bot.db or postgresql://user:password@host:5432/database"
    )


def describe_dsn(dsn: str) -> str:
    """``postgresql://host:port/database`` of a PostgreSQL URL, for messages: never the user name or password."""
    parts = urlsplit(dsn)
    host = parts.hostname or "localhost"
    try:
        port = parts.port or 5432
    except ValueError:
        port = 5432
    database = parts.path.lstrip("/") or "(default)"
    return f"postgresql://{host}:{port}/{database}"


async def open_store(
    database_url: str | DatabaseURL,
    cipher: TokenCipher,
    *,
    clock: Clock = time.time,
    options: StoreOptions | None = None,
    migrate: bool = True,
) -> Store:
    """Open and migrate the store ``database_url`` points at (an SQLite file's parent directories are created).
    ``migrate=False`` opens it as it is (see :func:`latest_schema_version`)."""
    url = database_url if isinstance(database_url, DatabaseURL) else parse_database_url(database_url)
    if url.engine == "sqlite":
        from bot.storage.sqlite import SqliteStore

        return await SqliteStore.open(url.target, cipher, clock=clock, options=options, migrate=migrate)
    # Imported here so that SQLite deployments never load asyncpg. Never echo the URL: it may carry a
    # password (PostgresStore's messages name host, port and database only).
    from bot.storage.postgres import PostgresStore

    return await PostgresStore.open(url.target, cipher, clock=clock, options=options, migrate=migrate)


def latest_schema_version(database_url: str | DatabaseURL) -> int:
    """The schema version this release migrates a database of that engine to."""
    from bot.storage.dialect import POSTGRES, SQLITE
    from bot.storage.schema import load_migrations

    url = database_url if isinstance(database_url, DatabaseURL) else parse_database_url(database_url)
    return load_migrations(directory=(SQLITE if url.engine == "sqlite" else POSTGRES).migrations)[-1].version
