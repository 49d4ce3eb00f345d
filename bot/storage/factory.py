"""Pick a storage backend from ``DATABASE_URL``."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from bot.storage.base import Store
from bot.storage.crypto import TokenCipher
from bot.storage.errors import UnsupportedDatabaseURL
from bot.storage.options import StoreOptions
from bot.storage.sqlite import Clock, SqliteStore

_SQLITE_SCHEMES = {"sqlite", "sqlite3"}
_POSTGRES_SCHEMES = {"postgres", "postgresql", "postgresql+asyncpg"}


@dataclass(frozen=True, slots=True)
class DatabaseURL:
    """A parsed ``DATABASE_URL``: the engine, and the SQLite path or the PostgreSQL DSN."""

    engine: str  # "sqlite" or "postgres"
    target: str


def parse_database_url(database_url: str) -> DatabaseURL:
    """Check ``database_url`` as :func:`open_store` will use it; :class:`UnsupportedDatabaseURL` if it cannot."""
    scheme = urlsplit(database_url.strip()).scheme.lower()
    if scheme in _SQLITE_SCHEMES:
        return DatabaseURL("sqlite", sqlite_path_from_url(database_url))
    if scheme in _POSTGRES_SCHEMES:
        return DatabaseURL("postgres", postgres_dsn_from_url(database_url))
    raise UnsupportedDatabaseURL(
        f"DATABASE_URL scheme {scheme or 'missing'!r} is not supported; "
        "use sqlite:///path/to/bot.db or postgresql://user:password@host:5432/database"
    )


def sqlite_path_from_url(database_url: str) -> str:
    """``sqlite:///relative/path.db`` → ``relative/path.db``; ``sqlite:////abs/path.db`` → ``/abs/path.db``.

    ``sqlite:///:memory:`` gives an in-memory database (tests only: nothing survives a restart).
    """
    parts = urlsplit(database_url.strip())
    if parts.scheme.lower() not in _SQLITE_SCHEMES:
        raise UnsupportedDatabaseURL(f"not an SQLite DATABASE_URL (scheme {parts.scheme or 'missing'!r})")
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
        raise UnsupportedDatabaseURL("the SQLite DATABASE_URL names no database file (example: sqlite:///data/bot.db)")
    return path


async def open_store(
    database_url: str, cipher: TokenCipher, *, clock: Clock = time.time, options: StoreOptions | None = None
) -> Store:
    """Open and migrate the store ``database_url`` points at (parent directories are created)."""
    scheme = urlsplit(database_url.strip()).scheme.lower()
    if scheme in _SQLITE_SCHEMES:
        path = sqlite_path_from_url(database_url)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        ttl = (options or StoreOptions()).token_cache_seconds
        return await SqliteStore.open(path, cipher, clock=clock, token_cache_ttl=ttl)
    if scheme in _POSTGRES_SCHEMES:
        # Imported here so that SQLite deployments never load asyncpg. Never echo the URL: it may carry a
        # password (PostgresStore's messages name host, port and database only).
        from bot.storage.postgres import PostgresStore

        opts = options or StoreOptions()
        dsn = postgres_dsn_from_url(database_url)
        return await PostgresStore.open(
            dsn, cipher, clock=clock, min_size=opts.pool_min_size, max_size=opts.pool_max_size
        )
    raise UnsupportedDatabaseURL(
        f"DATABASE_URL scheme {scheme or 'missing'!r} is not supported; "
        "use sqlite:///path/to/bot.db or postgresql://user:password@host:5432/database"
    )


def postgres_dsn_from_url(database_url: str) -> str:
    """A DSN asyncpg accepts: ``postgres://`` and ``postgresql+asyncpg://`` become ``postgresql://``."""
    url = database_url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in _POSTGRES_SCHEMES:
        raise UnsupportedDatabaseURL(f"not a PostgreSQL DATABASE_URL (scheme {parts.scheme or 'missing'!r})")
    if not parts.netloc and not parts.query:
        raise UnsupportedDatabaseURL(
            "the PostgreSQL DATABASE_URL names no server (example: postgresql://bot:password@db:5432/bot)"
        )
    return "postgresql" + url[len(parts.scheme) :]
