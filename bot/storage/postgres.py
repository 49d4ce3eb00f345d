"""PostgreSQL backend (asyncpg): a connection pool shared by the coroutines of one process, and any number of
processes (each holding some of Discord's shards) sharing one database.

Concurrency model: every public method is one statement or one transaction on a pooled connection, so it
is atomic with respect to other coroutines *and* other processes. Outbox claims lock the rows they take
with ``FOR UPDATE SKIP LOCKED`` and stamp a lease: two workers never hold the same row, and a row claimed by
a worker that died becomes claimable again when its lease expires. Completion is version-checked, so a
newer desired rating that arrived while a worker was applying the old one is never lost.

Migrations live in ``bot/storage/migrations/postgres`` (same numbers and names as the SQLite ones); each is
applied in its own transaction under a transaction-scoped advisory lock, so processes starting at once
apply each migration exactly once.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information
from cachetools import TTLCache

from bot.storage.base import RawRow, Store
from bot.storage.crypto import TokenCipher
from bot.storage.errors import MigrationError, SchemaTooNew, StorageError, StoreUnavailable, TokenDecryptError
from bot.storage.models import (
    Account,
    AccountStatus,
    HoldReason,
    LinkStateResult,
    OutboxEntry,
    SharedMessage,
)
from bot.storage.schema import POSTGRES_MIGRATIONS, Migration, load_migrations
from bot.storage.sqlite import Clock, _check_enqueue, _check_item, _short_error
from bot.storage.transfer import TABLES, TableSpec, TargetNotEmpty, keyset_pages, table_spec

log = logging.getLogger(__name__)

_TOKEN_CACHE_MAX = 10_000
# Arbitrary constant key for pg_advisory_xact_lock: "migrations of this bot's schema".
_MIGRATION_LOCK_KEY = 0x41504D5F4D494752  # "APM_MIGR"
_CONNECT_TIMEOUT_S = 10.0

_ENTRY_COLUMNS = (
    "id, user_id, item_type, item_id, value, version, created_at, updated_at, due_at, attempts,"
    " last_error, held, hold_expires_at, claimed_by, lease_until"
)
_SELECT_ACCOUNT = (
    "SELECT user_id, storefront, linked_at, last_used, status, stale_notified FROM accounts WHERE user_id = $1"
)
_ENQUEUE = (
    "INSERT INTO outbox (user_id, item_type, item_id, value, version, created_at, updated_at,"
    " due_at, attempts, held, hold_expires_at)"
    " VALUES ($1, $2, $3, $4, 1, $5::float8, $5::float8, $6::float8, 0, $7::text, $8::float8)"
    " ON CONFLICT (user_id, item_type, item_id) DO UPDATE SET"
    " value = excluded.value, version = outbox.version + 1, updated_at = excluded.updated_at,"
    " due_at = LEAST($9::float8, outbox.created_at + $10::float8), attempts = 0, last_error = NULL,"
    " held = excluded.held, hold_expires_at = excluded.hold_expires_at"
    " RETURNING id, user_id, item_type, item_id, value, version, created_at, updated_at, due_at, attempts,"
    " last_error, held, hold_expires_at, claimed_by, lease_until"
)
# SKIP LOCKED: rows another transaction is claiming right now are skipped, not waited for; rows it already
# claimed are excluded by the lease condition (re-evaluated on the latest row version under FOR UPDATE).
_CLAIM = (
    "WITH picked AS ("
    " SELECT id FROM outbox WHERE held IS NULL AND due_at <= $3::float8"
    " AND (lease_until IS NULL OR lease_until <= $3::float8)"
    " ORDER BY due_at, id LIMIT $4 FOR UPDATE SKIP LOCKED)"
    " UPDATE outbox SET claimed_by = $1, lease_until = $2::float8 FROM picked WHERE outbox.id = picked.id"
    " RETURNING outbox.id, outbox.user_id, outbox.item_type, outbox.item_id, outbox.value, outbox.version,"
    " outbox.created_at, outbox.updated_at, outbox.due_at, outbox.attempts, outbox.last_error, outbox.held,"
    " outbox.hold_expires_at, outbox.claimed_by, outbox.lease_until"
)
_VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
)


#: what a lost or refused connection raises: the database is unavailable, not the query wrong
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,  # class 08 (and "connection was closed in the middle of operation")
    asyncpg.exceptions.OperatorInterventionError,  # class 57: shutdown, terminated, cannot connect now, timeout
    asyncpg.exceptions.InsufficientResourcesError,  # class 53: too many connections, disk full
    asyncpg.exceptions.ObjectNotInPrerequisiteStateError,  # 55000: "database is not accepting connections"
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.InternalClientError,  # "cannot switch to state ...": a connection broken in mid-operation
)


def application_name(pid: int | None = None) -> str:
    """The ``application_name`` the bot's connections carry: ``ratings-bot:<pid>:<host>`` (63 bytes at most)."""
    return f"ratings-bot:{os.getpid() if pid is None else pid}:{socket.gethostname()}"[:63]


def describe_dsn(dsn: str) -> str:
    """``host:port/database`` of a PostgreSQL URL, for messages: never the user name or password."""
    from urllib.parse import urlsplit

    parts = urlsplit(dsn)
    host = parts.hostname or "localhost"
    try:
        port = parts.port or 5432
    except ValueError:
        port = 5432
    database = parts.path.lstrip("/") or "(default)"
    return f"postgresql://{host}:{port}/{database}"


class PostgresStore(Store):
    """The PostgreSQL implementation of :class:`~bot.storage.base.Store`. Create it with :meth:`open`."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        where: str,
        cipher: TokenCipher,
        *,
        clock: Clock,
        token_cache_ttl: float,
        touch_interval: float,
    ) -> None:
        self._pool_obj = pool
        self._where = where
        self._cipher = cipher
        self._clock = clock
        self._token_cache_ttl = token_cache_ttl
        self._touch_interval = touch_interval
        self._closed = False
        # user_id -> token, for token_cache_ttl seconds. Only active accounts' tokens are cached.
        self._token_cache: TTLCache[int, str] = TTLCache(_TOKEN_CACHE_MAX, max(token_cache_ttl, 1e-9), time.monotonic)
        self._share_channels: dict[int, frozenset[int]] = {}

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    async def open(
        cls,
        dsn: str,
        cipher: TokenCipher,
        *,
        clock: Clock = time.time,
        migrations: Sequence[Migration] | None = None,
        token_cache_ttl: float = 0.0,
        touch_interval: float = 60.0,
        min_size: int = 1,
        max_size: int = 10,
    ) -> PostgresStore:
        """Connect a pool to ``dsn`` (``postgresql://user:password@host:port/database``) and migrate.

        ``migrations`` defaults to the files shipped in ``bot/storage/migrations/postgres``.

        Tokens are not cached by default (``token_cache_ttl=0``): several processes share the database, and a
        token cached here would outlive an ``/unlink`` handled by another process. Each connection reports
        ``application_name`` = :func:`application_name` (unless the DSN sets one), so ``pg_stat_activity``
        tells which bot process holds it.
        """
        where = describe_dsn(dsn)
        settings = {} if "application_name" in dsn else {"application_name": application_name()}
        try:
            pool = await asyncpg.create_pool(
                dsn,
                min_size=min_size,
                max_size=max_size,
                timeout=_CONNECT_TIMEOUT_S,
                command_timeout=60.0,
                server_settings=settings,
            )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            # asyncpg's messages name host, port, user and database, never the password; still, say it ourselves.
            raise StorageError(
                f"cannot connect to the PostgreSQL database {where} ({type(exc).__name__}); check DATABASE_URL "
                "and that the server is running"
            ) from None
        try:
            known = tuple(migrations) if migrations is not None else load_migrations(directory=POSTGRES_MIGRATIONS)
            async with pool.acquire() as conn:
                version = await apply_postgres_migrations(conn, known, database=where)
        except BaseException:
            await pool.close()
            raise
        log.debug("Opened PostgreSQL store %s at schema version %d", where, version)
        return cls(pool, where, cipher, clock=clock, token_cache_ttl=token_cache_ttl, touch_interval=touch_interval)

    def __repr__(self) -> str:
        return f"<PostgresStore {self._where}{' closed' if self._closed else ''}>"

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._token_cache.clear()
        try:
            await self._pool_obj.close()
        except Exception:  # closing is best effort; never hang shutdown
            self._pool_obj.terminate()

    async def schema_version(self) -> int:
        async with self._conn() as conn:
            return await postgres_schema_version(conn)

    # ------------------------------------------------------------------ helpers
    def _now(self, now: float | None) -> float:
        return self._clock() if now is None else float(now)

    def _pool(self) -> asyncpg.Pool:
        if self._closed:
            raise StorageError("the store is closed")
        return self._pool_obj

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[asyncpg.Connection]:
        try:
            async with self._pool().acquire() as conn:
                yield conn
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc) from None

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[asyncpg.Connection]:
        try:
            async with self._pool().acquire() as conn, conn.transaction():
                yield conn
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc) from None

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        # our own words only (host, port, database and the error's type): never the DSN
        return StoreUnavailable(self._where, type(exc).__name__)

    async def _fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async with self._conn() as conn:
            return list(await conn.fetch(sql, *args))

    async def _fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        async with self._conn() as conn:
            row: asyncpg.Record | None = await conn.fetchrow(sql, *args)
            return row

    async def _execute(self, sql: str, *args: Any) -> int:
        async with self._conn() as conn:
            return _affected(await conn.execute(sql, *args))

    # ------------------------------------------------------------------ accounts
    async def link_account(self, user_id: int, token: str, storefront: str, *, now: float | None = None) -> Account:
        if not token:
            raise ValueError("the music user token is empty")
        at = self._now(now)
        encrypted = self._cipher.encrypt(token)
        self._token_cache.pop(user_id, None)
        async with self._transaction() as conn:
            await conn.execute(
                "INSERT INTO accounts (user_id, token_enc, storefront, linked_at, last_used, status,"
                " stale_notified) VALUES ($1, $2, $3, $4, $4, 'active', FALSE)"
                " ON CONFLICT (user_id) DO UPDATE SET token_enc = excluded.token_enc,"
                " storefront = excluded.storefront, linked_at = excluded.linked_at,"
                " last_used = excluded.last_used, status = 'active', stale_notified = FALSE",
                user_id,
                encrypted,
                storefront,
                at,
            )
            released = await _release_user(conn, user_id, at)
        self._token_cache.pop(user_id, None)
        if released:
            log.debug("Linking user %d released %d waiting ratings", user_id, released)
        return Account(user_id, storefront, at, at, AccountStatus.ACTIVE, False)

    async def get_account(self, user_id: int) -> Account | None:
        row = await self._fetchrow(_SELECT_ACCOUNT, user_id)
        return Account.from_row(row) if row is not None else None

    async def get_user_token(self, user_id: int) -> str | None:
        cached = self._token_cache.get(user_id)
        if cached is not None:
            return cached
        row = await self._fetchrow("SELECT token_enc FROM accounts WHERE user_id = $1 AND status = 'active'", user_id)
        if row is None:
            return None
        token = self._cipher.decrypt_token(row[0], user_id)
        if self._token_cache_ttl > 0:
            self._token_cache[user_id] = token
        return token

    async def touch_account(self, user_id: int, *, now: float | None = None) -> None:
        at = self._now(now)
        await self._execute(
            "UPDATE accounts SET last_used = $1 WHERE user_id = $2 AND last_used <= $3",
            at,
            user_id,
            at - self._touch_interval,
        )

    async def mark_stale(self, user_id: int) -> bool:
        self._token_cache.pop(user_id, None)
        async with self._transaction() as conn:
            changed = _affected(
                await conn.execute(
                    "UPDATE accounts SET status = 'stale', stale_notified = FALSE"
                    " WHERE user_id = $1 AND status = 'active'",
                    user_id,
                )
            )
            exists = await conn.fetchval("SELECT 1 FROM accounts WHERE user_id = $1", user_id)
            if exists is not None:
                await conn.execute(
                    "UPDATE outbox SET held = 'stale', hold_expires_at = NULL WHERE user_id = $1", user_id
                )
        self._token_cache.pop(user_id, None)
        if changed:
            log.info("Apple Music link of user %d is stale (token rejected)", user_id)
        return changed == 1

    async def mark_stale_notified(self, user_id: int) -> bool:
        changed = await self._execute(
            "UPDATE accounts SET stale_notified = TRUE"
            " WHERE user_id = $1 AND status = 'stale' AND stale_notified = FALSE",
            user_id,
        )
        return changed == 1

    async def unlink(self, user_id: int) -> bool:
        self._token_cache.pop(user_id, None)
        async with self._transaction() as conn:
            deleted = _affected(await conn.execute("DELETE FROM accounts WHERE user_id = $1", user_id))
            await conn.execute("DELETE FROM outbox WHERE user_id = $1", user_id)
            await conn.execute("DELETE FROM link_states WHERE user_id = $1", user_id)
            await conn.execute("DELETE FROM notices WHERE user_id = $1", user_id)
        self._token_cache.pop(user_id, None)
        if deleted:
            log.info("Unlinked user %d and deleted their data", user_id)
        return deleted == 1

    async def count_accounts(self, status: str | None = None) -> int:
        if status is None:
            value = await self._fetchrow("SELECT COUNT(*) FROM accounts")
        else:
            value = await self._fetchrow("SELECT COUNT(*) FROM accounts WHERE status = $1", AccountStatus(status).value)
        return int(value[0]) if value is not None else 0

    async def rotate_keys(self) -> int:
        async with self._transaction() as conn:
            rows = await conn.fetch("SELECT user_id, token_enc FROM accounts ORDER BY user_id FOR UPDATE")
            updates: list[tuple[bytes, int]] = []
            for row in rows:
                user = int(row["user_id"])
                updates.append((self._cipher.rotate_token(row["token_enc"], user), user))
            if updates:
                await conn.executemany("UPDATE accounts SET token_enc = $1 WHERE user_id = $2", updates)
        log.info("Re-encrypted %d stored tokens with the first key", len(updates))
        return len(updates)

    async def count_undecryptable_tokens(self) -> int:
        rows = await self._fetch("SELECT token_enc FROM accounts")
        bad = 0
        for row in rows:
            try:
                self._cipher.decrypt(bytes(row[0]))
            except TokenDecryptError:
                bad += 1
        return bad

    # ------------------------------------------------------------------ link states
    async def create_link_state(self, nonce: str, user_id: int, expires_at: float, *, now: float | None = None) -> None:
        if not nonce:
            raise ValueError("empty nonce")
        at = self._now(now)
        try:
            await self._execute(
                "INSERT INTO link_states (nonce, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
                nonce,
                user_id,
                at,
                float(expires_at),
            )
        except asyncpg.UniqueViolationError:
            raise ValueError("this link state nonce already exists") from None

    async def consume_link_state(self, nonce: str, user_id: int, now: float | None = None) -> LinkStateResult:
        at = self._now(now)
        used = await self._fetchrow(
            "UPDATE link_states SET used_at = $1"
            " WHERE nonce = $2 AND user_id = $3 AND used_at IS NULL AND expires_at > $1 RETURNING nonce",
            at,
            nonce,
            user_id,
        )
        if used is not None:
            return LinkStateResult.OK
        row = await self._fetchrow("SELECT user_id, expires_at, used_at FROM link_states WHERE nonce = $1", nonce)
        if row is None:
            return LinkStateResult.UNKNOWN
        if int(row["user_id"]) != user_id:
            return LinkStateResult.WRONG_USER
        if row["used_at"] is not None:
            return LinkStateResult.USED
        return LinkStateResult.EXPIRED

    async def pending_link(self, user_id: int, now: float | None = None) -> str | None:
        at = self._now(now)
        row = await self._fetchrow(
            "SELECT nonce FROM link_states WHERE user_id = $1 AND used_at IS NULL AND expires_at > $2"
            " ORDER BY created_at DESC, seq DESC LIMIT 1",
            user_id,
            at,
        )
        return str(row[0]) if row is not None else None

    async def purge_expired_link_states(self, now: float | None = None) -> int:
        at = self._now(now)
        return await self._execute("DELETE FROM link_states WHERE expires_at <= $1", at)

    # ------------------------------------------------------------------ guild settings
    async def add_share_channel(self, guild_id: int, channel_id: int) -> bool:
        added = await self._execute(
            "INSERT INTO guild_share_channels (guild_id, channel_id, added_at) VALUES ($1, $2, $3)"
            " ON CONFLICT (guild_id, channel_id) DO NOTHING",
            guild_id,
            channel_id,
            self._clock(),
        )
        self._share_channels.pop(guild_id, None)
        return added == 1

    async def remove_share_channel(self, guild_id: int, channel_id: int) -> bool:
        removed = await self._execute(
            "DELETE FROM guild_share_channels WHERE guild_id = $1 AND channel_id = $2", guild_id, channel_id
        )
        self._share_channels.pop(guild_id, None)
        return removed == 1

    async def list_share_channels(self, guild_id: int) -> list[int]:
        return sorted(await self._load_share_channels(guild_id))

    async def _load_share_channels(self, guild_id: int) -> frozenset[int]:
        rows = await self._fetch("SELECT channel_id FROM guild_share_channels WHERE guild_id = $1", guild_id)
        channels = frozenset(int(r[0]) for r in rows)
        self._share_channels[guild_id] = channels
        return channels

    async def is_share_channel(self, guild_id: int, channel_id: int) -> bool:
        cached = self._share_channels.get(guild_id)
        if cached is None:
            cached = await self._load_share_channels(guild_id)
        return channel_id in cached

    async def forget_guild(self, guild_id: int) -> int:
        removed = await self._execute("DELETE FROM guild_share_channels WHERE guild_id = $1", guild_id)
        self._share_channels.pop(guild_id, None)
        return removed

    # ------------------------------------------------------------------ shared messages
    async def record_shared_message(
        self,
        message_id: int,
        channel_id: int,
        guild_id: int | None,
        item_type: str,
        item_id: str,
        created_at: float | None = None,
    ) -> SharedMessage:
        _check_item(item_type, item_id)
        at = self._now(created_at)
        await self._execute(
            "INSERT INTO shared_messages (message_id, channel_id, guild_id, item_type, item_id,"
            " created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (message_id) DO UPDATE SET"
            " channel_id = excluded.channel_id, guild_id = excluded.guild_id,"
            " item_type = excluded.item_type, item_id = excluded.item_id,"
            " created_at = excluded.created_at",
            message_id,
            channel_id,
            guild_id,
            item_type,
            item_id,
            at,
        )
        return SharedMessage(message_id, channel_id, guild_id, item_type, item_id, at)

    async def get_shared_message(self, message_id: int) -> SharedMessage | None:
        row = await self._fetchrow(
            "SELECT message_id, channel_id, guild_id, item_type, item_id, created_at"
            " FROM shared_messages WHERE message_id = $1",
            message_id,
        )
        return SharedMessage.from_row(row) if row is not None else None

    async def recent_shared_messages(self, since: float, *, limit: int = 100) -> list[SharedMessage]:
        rows = await self._fetch(
            "SELECT message_id, channel_id, guild_id, item_type, item_id, created_at"
            " FROM shared_messages WHERE created_at >= $1 ORDER BY created_at DESC, message_id DESC LIMIT $2",
            float(since),
            int(limit),
        )
        return [SharedMessage.from_row(r) for r in rows]

    async def purge_shared_messages(self, before: float) -> int:
        return await self._execute("DELETE FROM shared_messages WHERE created_at < $1", float(before))

    # ------------------------------------------------------------------ notices
    async def claim_notice(self, user_id: int, kind: str, now: float | None = None, interval: float = 86400.0) -> bool:
        at = self._now(now)
        row = await self._fetchrow(
            "INSERT INTO notices (user_id, kind, last_sent_at) VALUES ($1, $2, $3)"
            " ON CONFLICT (user_id, kind) DO UPDATE SET last_sent_at = excluded.last_sent_at"
            " WHERE notices.last_sent_at <= $4 RETURNING user_id",
            user_id,
            kind,
            at,
            at - float(interval),
        )
        return row is not None

    # ------------------------------------------------------------------ outbox
    async def enqueue(
        self,
        user_id: int,
        item_type: str,
        item_id: str,
        value: int,
        now: float | None = None,
        *,
        debounce: float = 1.0,
        max_delay: float = 10.0,
        hold: HoldReason | str | None = None,
        hold_expires_at: float | None = None,
    ) -> OutboxEntry:
        held = _check_enqueue(item_type, item_id, value, debounce, max_delay, hold)
        at = self._now(now)
        row = await self._fetchrow(
            _ENQUEUE,
            user_id,
            item_type,
            item_id,
            int(value),
            at,
            at + min(debounce, max_delay),
            held,
            None if held is None or hold_expires_at is None else float(hold_expires_at),
            at + debounce,
            float(max_delay),
        )
        assert row is not None  # INSERT ... ON CONFLICT DO UPDATE always returns the row
        return OutboxEntry.from_row(row)

    async def claim_due(
        self, worker_id: str, now: float | None = None, limit: int = 100, lease: float = 60.0
    ) -> list[OutboxEntry]:
        if not worker_id:
            raise ValueError("worker_id must not be empty")
        if limit <= 0:
            return []
        at = self._now(now)
        rows = await self._fetch(_CLAIM, worker_id, at + float(lease), at, int(limit))
        entries = [OutboxEntry.from_row(r) for r in rows]
        entries.sort(key=lambda e: (e.due_at, e.id))
        return entries

    async def complete(self, entry: OutboxEntry, applied_version: int | None = None) -> bool:
        version = entry.version if applied_version is None else int(applied_version)
        async with self._conn() as conn:
            deleted = _affected(
                await conn.execute("DELETE FROM outbox WHERE id = $1 AND version = $2", entry.id, version)
            )
            if deleted:
                return True
            # A newer desired state arrived while we were applying: keep it, release our claim.
            await conn.execute(
                "UPDATE outbox SET claimed_by = NULL, lease_until = NULL"
                " WHERE id = $1 AND claimed_by IS NOT DISTINCT FROM $2::text",
                entry.id,
                entry.claimed_by,
            )
        return False

    async def complete_many(self, entries: Sequence[OutboxEntry]) -> int:
        if not entries:
            return 0
        ids = [e.id for e in entries]
        versions = [e.version for e in entries]
        async with self._transaction() as conn:
            gone = await conn.fetch(
                "DELETE FROM outbox USING unnest($1::bigint[], $2::bigint[]) AS done(id, version)"
                " WHERE outbox.id = done.id AND outbox.version = done.version RETURNING outbox.id",
                ids,
                versions,
            )
            gone_ids = {int(r[0]) for r in gone}
            kept = [(e.id, e.claimed_by) for e in entries if e.id not in gone_ids]
            if kept:
                await conn.executemany(
                    "UPDATE outbox SET claimed_by = NULL, lease_until = NULL"
                    " WHERE id = $1 AND claimed_by IS NOT DISTINCT FROM $2::text",
                    kept,
                )
        return len(gone_ids)

    async def retry_later(self, entry: OutboxEntry, next_due_at: float, error: str) -> bool:
        message = _short_error(error)
        changed = await self._execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $1, due_at = $2,"
            " claimed_by = NULL, lease_until = NULL WHERE id = $3 AND claimed_by IS NOT DISTINCT FROM $4::text",
            message,
            float(next_due_at),
            entry.id,
            entry.claimed_by,
        )
        return changed == 1

    async def hold_user(self, user_id: int, reason: HoldReason | str, *, hold_expires_at: float | None = None) -> int:
        held = HoldReason(reason).value
        return await self._execute(
            "UPDATE outbox SET held = $1, hold_expires_at = $2::float8 WHERE user_id = $3",
            held,
            None if hold_expires_at is None else float(hold_expires_at),
            user_id,
        )

    async def release_user(self, user_id: int, now: float | None = None) -> int:
        at = self._now(now)
        async with self._transaction() as conn:
            return await _release_user(conn, user_id, at)

    async def purge_expired_holds(self, now: float | None = None) -> int:
        at = self._now(now)
        return await self._execute(
            "DELETE FROM outbox WHERE held IS NOT NULL AND hold_expires_at IS NOT NULL AND hold_expires_at <= $1",
            at,
        )

    async def pending_for_user(self, user_id: int) -> list[OutboxEntry]:
        rows = await self._fetch(
            f"SELECT {_ENTRY_COLUMNS} FROM outbox WHERE user_id = $1 ORDER BY created_at, id",  # noqa: S608
            user_id,
        )
        return [OutboxEntry.from_row(r) for r in rows]

    async def outbox_size(self) -> int:
        row = await self._fetchrow("SELECT COUNT(*) FROM outbox")
        return int(row[0]) if row is not None else 0

    async def next_due_at(self) -> float | None:
        row = await self._fetchrow(
            "SELECT MIN(CASE WHEN lease_until IS NOT NULL AND lease_until > due_at"
            " THEN lease_until ELSE due_at END) FROM outbox WHERE held IS NULL"
        )
        if row is None or row[0] is None:
            return None
        return float(row[0])

    # ------------------------------------------------------------------ raw rows (copy-db)
    @property
    def location(self) -> str:
        return self._where

    async def database_identity(self) -> str:
        async with self._conn() as conn:
            try:  # the cluster's unique id; readable by superusers (and those granted it) only
                cluster = await conn.fetchval("SELECT system_identifier::text FROM pg_control_system()")
            except asyncpg.InsufficientPrivilegeError:
                cluster = None
            if cluster is None:  # the same server process, found under any host name
                cluster = await conn.fetchval(
                    "SELECT pg_postmaster_start_time()::text || '/' || current_setting('port')"
                )
            database = await conn.fetchval("SELECT oid::text FROM pg_database WHERE datname = current_database()")
        return f"postgresql:{cluster}:{database}"

    async def count_rows(self, table: str) -> int:
        spec = table_spec(table)
        row = await self._fetchrow(f"SELECT COUNT(*) FROM {spec.name}")  # noqa: S608 (name from TABLES)
        return int(row[0]) if row is not None else 0

    async def count_active_claims(self, now: float | None = None) -> int:
        at = self._now(now)
        row = await self._fetchrow(
            "SELECT COUNT(*) FROM outbox WHERE claimed_by IS NOT NULL AND lease_until > $1::float8", at
        )
        return int(row[0]) if row is not None else 0

    async def export_rows(self, table: str, *, batch: int = 2000) -> AsyncIterator[list[RawRow]]:
        spec = table_spec(table)
        kinds = dict(spec.columns)
        order = [("seq", "bigint")] if spec.insertion_ordered else [(c, _PG_TYPES[kinds[c]]) for c in spec.key]
        keys = ", ".join(column for column, _ in order)
        aliases = ", ".join(f"{column} AS _key{i}" for i, (column, _) in enumerate(order))
        select = f"SELECT {', '.join(spec.column_names)}, {aliases} FROM {spec.name}"  # noqa: S608 (from TABLES)
        after = " WHERE ({}) > ({})".format(keys, ", ".join(f"${i}::{kind}" for i, (_, kind) in enumerate(order, 1)))

        async def fetch(last: tuple[Any, ...] | None) -> list[asyncpg.Record]:
            if last is None:
                return await self._fetch(f"{select} ORDER BY {keys} LIMIT $1", batch)
            return await self._fetch(f"{select}{after} ORDER BY {keys} LIMIT ${len(order) + 1}", *last, batch)

        async for rows in keyset_pages(spec, batch, len(order), fetch):
            yield rows

    async def import_rows(self, batches: AsyncIterable[tuple[str, Sequence[RawRow]]]) -> dict[str, int]:
        counts = {spec.name: 0 for spec in TABLES}
        async with self._transaction() as conn:
            # Nobody else writes these tables until we commit (readers are not blocked).
            await conn.execute(f"LOCK TABLE {', '.join(spec.name for spec in TABLES)} IN EXCLUSIVE MODE")
            existing = {spec.name: await _count(conn, spec) for spec in TABLES}
            if any(existing.values()):
                raise TargetNotEmpty(self._where, existing)
            async for table, rows in batches:
                spec = table_spec(table)
                if not rows:
                    continue
                names = spec.column_names
                await conn.executemany(
                    _insert_sql(spec), [tuple(spec.normalize(row)[name] for name in names) for row in rows]
                )
                counts[spec.name] += len(rows)
            for spec in TABLES:
                if spec.identity is not None:
                    await _advance_identity(conn, spec.name, spec.identity)
                if await _count(conn, spec) != counts[spec.name]:
                    raise StorageError(f"the copy into {spec.name} did not insert every row; rolled back")
        self._token_cache.clear()
        self._share_channels.clear()
        return counts


async def _release_user(conn: asyncpg.Connection, user_id: int, at: float) -> int:
    """Inside a transaction: drop the user's expired holds, make the others due now."""
    await conn.execute(
        "DELETE FROM outbox WHERE user_id = $1 AND held IS NOT NULL"
        " AND hold_expires_at IS NOT NULL AND hold_expires_at <= $2",
        user_id,
        at,
    )
    return _affected(
        await conn.execute(
            "UPDATE outbox SET held = NULL, hold_expires_at = NULL, attempts = 0, due_at = LEAST(due_at, $1)"
            " WHERE user_id = $2 AND held IS NOT NULL",
            at,
            user_id,
        )
    )


# ---------------------------------------------------------------------- raw rows (copy-db)
_PG_TYPES = {"int": "bigint", "float": "float8", "str": "text", "bytes": "bytea", "bool": "boolean"}


def _insert_sql(spec: TableSpec) -> str:
    """INSERT of every column of ``spec``, typed; identity values are kept (``OVERRIDING SYSTEM VALUE``)."""
    names = ", ".join(spec.column_names)
    values = ", ".join(f"${i}::{_PG_TYPES[kind]}" for i, (_, kind) in enumerate(spec.columns, 1))
    overriding = " OVERRIDING SYSTEM VALUE" if spec.identity is not None else ""
    return f"INSERT INTO {spec.name} ({names}){overriding} VALUES ({values})"  # noqa: S608 (from TABLES)


async def _count(conn: asyncpg.Connection, spec: TableSpec) -> int:
    return int(await conn.fetchval(f"SELECT COUNT(*) FROM {spec.name}"))  # noqa: S608 (name from TABLES)


async def _advance_identity(conn: asyncpg.Connection, table: str, column: str) -> None:
    """Make the identity generator of ``table.column`` continue after the largest id (inside the caller's
    transaction: ``ALTER TABLE ... RESTART`` is rolled back with it). Never moves it backwards."""
    largest = await conn.fetchval(f"SELECT MAX({column}) FROM {table}")  # noqa: S608 (names from TABLES)
    if largest is None:
        return
    sequence = await conn.fetchval("SELECT pg_get_serial_sequence($1, $2)", table, column)
    state = await conn.fetchrow(f"SELECT last_value, is_called FROM {sequence}")  # noqa: S608 (from the catalog)
    upcoming = int(state["last_value"]) + (1 if state["is_called"] else 0)
    restart = max(int(largest) + 1, upcoming)
    await conn.execute(f"ALTER TABLE {table} ALTER COLUMN {column} RESTART WITH {restart}")


# ---------------------------------------------------------------------- migrations
async def postgres_schema_version(conn: asyncpg.Connection) -> int:
    exists = await conn.fetchval("SELECT to_regclass('schema_version') IS NOT NULL")
    if not exists:
        return 0
    return int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version"))


async def apply_postgres_migrations(conn: asyncpg.Connection, migrations: Sequence[Migration], *, database: str) -> int:
    """Bring the database to the last migration; returns the final version.

    Each migration runs in its own transaction holding a transaction-scoped advisory lock and re-checks the
    version inside it, so concurrent processes apply each migration exactly once. Raises
    :class:`SchemaTooNew` if the database is ahead of the code.
    """
    known = migrations[-1].version if migrations else 0
    version = await postgres_schema_version(conn)
    if version > known:
        raise SchemaTooNew(database, version, known)
    if version == known:
        return version
    for migration in migrations:
        if migration.version <= version:
            continue
        try:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK_KEY)
                await conn.execute(_VERSION_TABLE)
                current = await postgres_schema_version(conn)
                if current > known:
                    raise SchemaTooNew(database, current, known)
                if current >= migration.version:  # another process applied it meanwhile
                    version = current
                    continue
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_version (version, name, applied_at) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    time.time(),
                )
        except asyncpg.PostgresError as exc:
            raise MigrationError(f"migration {migration.label} failed and was rolled back: {exc}") from exc
        version = migration.version
        log.info("Applied database migration %s", migration.label)
    return version


# ---------------------------------------------------------------------- row mapping
def _affected(status: str) -> int:
    """Rows affected, from a command status such as ``UPDATE 3``, ``DELETE 0`` or ``INSERT 0 1``."""
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0
