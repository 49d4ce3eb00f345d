"""The storage knobs in one place, with the values the bot has always used as defaults."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StoreOptions:
    """How a store caches, throttles and connects. Every field has the value the bot has always used.

    Token cache (SQLite only): a linked user's decrypted token is kept in memory for ``token_cache_seconds``
    (at most ``token_cache_size`` users), dropped at once by link, unlink and mark_stale. PostgreSQL never
    caches tokens, by design and whatever these say: several processes share its database, and a token cached
    in one of them would outlive an ``/unlink`` or a stale mark handled by another. ``token_cache_seconds=0``
    turns the SQLite cache off too.
    """

    #: SQLite only: how long a decrypted token is kept in memory (0 turns the cache off).
    token_cache_seconds: float = 60.0
    #: SQLite only: how many users' tokens the cache holds at most.
    token_cache_size: int = 10_000
    #: ``touch_account`` writes ``last_used`` at most once per this many seconds per user.
    touch_interval: float = 60.0
    #: SQLite: how long a statement waits for another connection's write lock before giving up.
    busy_timeout: float = 10.0
    #: PostgreSQL: connections the pool keeps open, and at most opens.
    pool_min_size: int = 1
    pool_max_size: int = 10
    #: PostgreSQL: seconds to establish a connection, and at most for one statement.
    connect_timeout: float = 10.0
    command_timeout: float = 60.0

    def __post_init__(self) -> None:
        for name in ("token_cache_seconds", "touch_interval", "busy_timeout"):
            if getattr(self, name) < 0:
                raise ValueError(f"StoreOptions.{name} must not be negative")
        for name in ("connect_timeout", "command_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"StoreOptions.{name} must be positive")
        if self.token_cache_size < 1:
            raise ValueError("StoreOptions.token_cache_size must be at least 1")
        if not 0 <= self.pool_min_size <= self.pool_max_size or self.pool_max_size < 1:
            raise ValueError("StoreOptions needs 0 <= pool_min_size <= pool_max_size and pool_max_size >= 1")
