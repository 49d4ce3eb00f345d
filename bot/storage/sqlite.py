"""SQLite backend (aiosqlite): one connection, WAL, ``synchronous=NORMAL``, foreign keys, secure delete.

Concurrency model: aiosqlite runs the connection on one thread and executes calls in order; an
``asyncio.Lock`` makes each public method (and so each multi-statement transaction) atomic with respect to
other coroutines of this process. Statements that must be atomic across *processes* (claims, nonce
consumption, notices) are single statements or ``BEGIN IMMEDIATE`` transactions, with a busy timeout.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sqlite3
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite
from cachetools import TTLCache

from bot.storage.base import RawRow, Store
from bot.storage.crypto import TokenCipher
from bot.storage.errors import StorageError, TokenDecryptError
from bot.storage.models import (
    Account,
    AccountStatus,
    HoldReason,
    LinkStateResult,
    OutboxEntry,
    SharedMessage,
)
from bot.storage.schema import Migration, apply_migrations, current_version, load_migrations
from bot.storage.transfer import TABLES, TargetNotEmpty, keyset_pages, table_spec

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Params = Sequence[Any] | dict[str, Any]

MAX_ERROR_LENGTH = 200
_BUSY_TIMEOUT_S = 10.0
_TOKEN_CACHE_MAX = 10_000
# Long runs of token-ish characters (JWTs, base64 blobs, Fernet tokens) are redacted from stored errors.
_SECRETISH = re.compile(r"[A-Za-z0-9+/=_\-.]{40,}")

_SELECT_ACCOUNT = (
    "SELECT user_id, storefront, linked_at, last_used, status, stale_notified FROM accounts WHERE user_id = ?"
)
_SELECT_PENDING = (
    "SELECT id, user_id, item_type, item_id, value, version, created_at, updated_at, due_at, attempts,"
    " last_error, held, hold_expires_at, claimed_by, lease_until"
    " FROM outbox WHERE user_id = ? ORDER BY created_at, id"
)
_ENQUEUE = (
    "INSERT INTO outbox (user_id, item_type, item_id, value, version, created_at, updated_at,"
    " due_at, attempts, held, hold_expires_at)"
    " VALUES (:user_id, :item_type, :item_id, :value, 1, :now, :now, :first_due, 0, :held, :hold_expires_at)"
    " ON CONFLICT (user_id, item_type, item_id) DO UPDATE SET"
    " value = excluded.value, version = outbox.version + 1, updated_at = excluded.updated_at,"
    " due_at = MIN(:debounced, outbox.created_at + :max_delay), attempts = 0, last_error = NULL,"
    " held = excluded.held, hold_expires_at = excluded.hold_expires_at"
    " RETURNING id, user_id, item_type, item_id, value, version, created_at, updated_at, due_at, attempts,"
    " last_error, held, hold_expires_at, claimed_by, lease_until"
)
_CLAIM = (
    "UPDATE outbox SET claimed_by = ?, lease_until = ? WHERE id IN ("
    " SELECT id FROM outbox WHERE held IS NULL AND due_at <= ?"
    " AND (lease_until IS NULL OR lease_until <= ?) ORDER BY due_at, id LIMIT ?)"
    " RETURNING id, user_id, item_type, item_id, value, version, created_at, updated_at, due_at, attempts,"
    " last_error, held, hold_expires_at, claimed_by, lease_until"
)


class SqliteStore(Store):
    """The SQLite implementation of :class:`~bot.storage.base.Store`. Create it with :meth:`open`."""

    def __init__(
        self,
        db: aiosqlite.Connection,
        path: str,
        cipher: TokenCipher,
        *,
        clock: Clock,
        token_cache_ttl: float,
        touch_interval: float,
    ) -> None:
        self._db = db
        self._path = path
        self._cipher = cipher
        self._clock = clock
        self._token_cache_ttl = token_cache_ttl
        self._touch_interval = touch_interval
        self._lock = asyncio.Lock()
        self._closed = False
        # user_id -> token, for token_cache_ttl seconds. Only active accounts' tokens are cached.
        self._token_cache: TTLCache[int, str] = TTLCache(_TOKEN_CACHE_MAX, max(token_cache_ttl, 1e-9), time.monotonic)
        self._share_channels: dict[int, frozenset[int]] = {}

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    async def open(
        cls,
        path: str | Path,
        cipher: TokenCipher,
        *,
        clock: Clock = time.time,
        migrations: Sequence[Migration] | None = None,
        token_cache_ttl: float = 60.0,
        touch_interval: float = 60.0,
    ) -> SqliteStore:
        """Open (creating parent directories and the file if needed) and migrate to the latest schema.

        ``migrations`` defaults to the files shipped in ``bot/storage/migrations``; tests pass a prefix of
        them to build an older database.
        """
        target = str(path)
        if target != ":memory:":
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(target, isolation_level=None, timeout=_BUSY_TIMEOUT_S)
        try:
            db.row_factory = sqlite3.Row
            await db.execute("PRAGMA foreign_keys = ON")
            await db.execute("PRAGMA secure_delete = ON")
            await db.execute(f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT_S * 1000)}")
            mode = await _enable_wal(db)
            if mode != "wal" and target != ":memory:":
                log.warning("SQLite did not switch to WAL mode (journal_mode=%s) for %s", mode, target)
            await db.execute("PRAGMA synchronous = NORMAL")
            known = tuple(migrations) if migrations is not None else load_migrations()
            version = await apply_migrations(db, known, database=target)
        except BaseException:
            await db.close()
            raise
        log.debug("Opened SQLite store %s at schema version %d", target, version)
        return cls(
            db,
            target,
            cipher,
            clock=clock,
            token_cache_ttl=token_cache_ttl,
            touch_interval=touch_interval,
        )

    @property
    def path(self) -> str:
        return self._path

    def __repr__(self) -> str:
        return f"<SqliteStore {self._path!r}{' closed' if self._closed else ''}>"

    async def close(self) -> None:
        if self._closed:
            return
        async with self._lock:
            self._closed = True
            self._token_cache.clear()
            try:
                await self._db.execute("PRAGMA optimize")
            except sqlite3.Error:  # best effort
                pass
            await self._db.close()

    async def schema_version(self) -> int:
        async with self._locked():
            return await current_version(self._db)

    async def pragmas(self) -> dict[str, str]:
        """The connection's safety settings (for ``check`` and tests): journal mode, synchronous, ..."""
        names = ("journal_mode", "synchronous", "foreign_keys", "secure_delete", "busy_timeout")
        result: dict[str, str] = {}
        async with self._locked():
            for name in names:
                row = await self._one(f"PRAGMA {name}")
                result[name] = "" if row is None else str(row[0])
        return result

    # ------------------------------------------------------------------ helpers
    def _now(self, now: float | None) -> float:
        return self._clock() if now is None else float(now)

    @asynccontextmanager
    async def _locked(self) -> AsyncIterator[None]:
        async with self._lock:
            if self._closed:
                raise StorageError("the store is closed")
            yield

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[None]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on any error). Call with the lock held."""
        await self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            try:
                await self._db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            raise
        await self._db.execute("COMMIT")

    async def _rows(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        return list(await self._db.execute_fetchall(sql, params))

    async def _one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        rows = await self._rows(sql, params)
        return rows[0] if rows else None

    async def _write(self, sql: str, params: Params = ()) -> int:
        """Run one statement and return how many rows it changed."""
        cursor = await self._db.execute(sql, params)
        count = cursor.rowcount
        await cursor.close()
        return count

    async def _checkpoint(self) -> None:
        """Fold the WAL into the main file and truncate it, so deleted data does not linger in ``-wal``."""
        row = await self._one("PRAGMA wal_checkpoint(TRUNCATE)")
        if row is not None and int(row[0]) != 0:
            log.warning(
                "SQLite checkpoint was blocked by another connection; deleted data may remain in the "
                "write-ahead log until the next checkpoint"
            )

    # ------------------------------------------------------------------ accounts
    async def link_account(self, user_id: int, token: str, storefront: str, *, now: float | None = None) -> Account:
        if not token:
            raise ValueError("the music user token is empty")
        at = self._now(now)
        encrypted = self._cipher.encrypt(token)
        async with self._locked():
            self._token_cache.pop(user_id, None)
            async with self._transaction():
                await self._write(
                    "INSERT INTO accounts (user_id, token_enc, storefront, linked_at, last_used, status,"
                    " stale_notified) VALUES (?, ?, ?, ?, ?, 'active', 0)"
                    " ON CONFLICT (user_id) DO UPDATE SET token_enc = excluded.token_enc,"
                    " storefront = excluded.storefront, linked_at = excluded.linked_at,"
                    " last_used = excluded.last_used, status = 'active', stale_notified = 0",
                    (user_id, encrypted, storefront, at, at),
                )
                released = await self._release_user(user_id, at)
        if released:
            log.debug("Linking user %d released %d waiting ratings", user_id, released)
        return Account(user_id, storefront, at, at, AccountStatus.ACTIVE, False)

    async def get_account(self, user_id: int) -> Account | None:
        async with self._locked():
            row = await self._one(_SELECT_ACCOUNT, (user_id,))
        return Account.from_row(row) if row is not None else None

    async def get_user_token(self, user_id: int) -> str | None:
        cached = self._token_cache.get(user_id)
        if cached is not None:
            return cached
        async with self._locked():
            row = await self._one("SELECT token_enc FROM accounts WHERE user_id = ? AND status = 'active'", (user_id,))
            if row is None:
                return None
            token = self._cipher.decrypt_token(row[0], user_id)
            if self._token_cache_ttl > 0:
                self._token_cache[user_id] = token
            return token

    async def touch_account(self, user_id: int, *, now: float | None = None) -> None:
        at = self._now(now)
        async with self._locked():
            await self._write(
                "UPDATE accounts SET last_used = ? WHERE user_id = ? AND last_used <= ?",
                (at, user_id, at - self._touch_interval),
            )

    async def mark_stale(self, user_id: int) -> bool:
        async with self._locked():
            self._token_cache.pop(user_id, None)
            async with self._transaction():
                changed = await self._write(
                    "UPDATE accounts SET status = 'stale', stale_notified = 0 WHERE user_id = ? AND status = 'active'",
                    (user_id,),
                )
                exists = await self._one("SELECT 1 FROM accounts WHERE user_id = ?", (user_id,))
                if exists is not None:
                    await self._write(
                        "UPDATE outbox SET held = 'stale', hold_expires_at = NULL WHERE user_id = ?",
                        (user_id,),
                    )
        if changed:
            log.info("Apple Music link of user %d is stale (token rejected)", user_id)
        return changed == 1

    async def mark_stale_notified(self, user_id: int) -> bool:
        async with self._locked():
            changed = await self._write(
                "UPDATE accounts SET stale_notified = 1 WHERE user_id = ? AND status = 'stale' AND stale_notified = 0",
                (user_id,),
            )
        return changed == 1

    async def unlink(self, user_id: int) -> bool:
        async with self._locked():
            self._token_cache.pop(user_id, None)
            async with self._transaction():
                deleted = await self._write("DELETE FROM accounts WHERE user_id = ?", (user_id,))
                await self._write("DELETE FROM outbox WHERE user_id = ?", (user_id,))
                await self._write("DELETE FROM link_states WHERE user_id = ?", (user_id,))
                await self._write("DELETE FROM notices WHERE user_id = ?", (user_id,))
            await self._checkpoint()
        if deleted:
            log.info("Unlinked user %d and deleted their data", user_id)
        return deleted == 1

    async def count_accounts(self, status: str | None = None) -> int:
        async with self._locked():
            if status is None:
                row = await self._one("SELECT COUNT(*) FROM accounts")
            else:
                row = await self._one("SELECT COUNT(*) FROM accounts WHERE status = ?", (AccountStatus(status).value,))
        return int(row[0]) if row is not None else 0

    async def rotate_keys(self) -> int:
        async with self._locked():
            async with self._transaction():
                rows = await self._rows("SELECT user_id, token_enc FROM accounts ORDER BY user_id")
                updates: list[tuple[bytes, int]] = []
                for row in rows:
                    user = int(row["user_id"])
                    updates.append((self._cipher.rotate_token(row["token_enc"], user), user))
                await self._db.executemany("UPDATE accounts SET token_enc = ? WHERE user_id = ?", updates)
            await self._checkpoint()
        log.info("Re-encrypted %d stored tokens with the first key", len(updates))
        return len(updates)

    async def count_undecryptable_tokens(self) -> int:
        async with self._locked():
            rows = await self._rows("SELECT token_enc FROM accounts")
        bad = 0
        for row in rows:
            try:
                self._cipher.decrypt(row[0])
            except TokenDecryptError:
                bad += 1
        return bad

    # ------------------------------------------------------------------ link states
    async def create_link_state(self, nonce: str, user_id: int, expires_at: float, *, now: float | None = None) -> None:
        if not nonce:
            raise ValueError("empty nonce")
        at = self._now(now)
        async with self._locked():
            try:
                await self._write(
                    "INSERT INTO link_states (nonce, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
                    (nonce, user_id, at, float(expires_at)),
                )
            except sqlite3.IntegrityError:
                raise ValueError("this link state nonce already exists") from None

    async def consume_link_state(self, nonce: str, user_id: int, now: float | None = None) -> LinkStateResult:
        at = self._now(now)
        async with self._locked():
            used = await self._rows(
                "UPDATE link_states SET used_at = ?"
                " WHERE nonce = ? AND user_id = ? AND used_at IS NULL AND expires_at > ? RETURNING nonce",
                (at, nonce, user_id, at),
            )
            if used:
                return LinkStateResult.OK
            row = await self._one("SELECT user_id, expires_at, used_at FROM link_states WHERE nonce = ?", (nonce,))
        if row is None:
            return LinkStateResult.UNKNOWN
        if int(row["user_id"]) != user_id:
            return LinkStateResult.WRONG_USER
        if row["used_at"] is not None:
            return LinkStateResult.USED
        return LinkStateResult.EXPIRED

    async def pending_link(self, user_id: int, now: float | None = None) -> str | None:
        at = self._now(now)
        async with self._locked():
            row = await self._one(
                "SELECT nonce FROM link_states WHERE user_id = ? AND used_at IS NULL AND expires_at > ?"
                " ORDER BY created_at DESC, rowid DESC LIMIT 1",
                (user_id, at),
            )
        return str(row[0]) if row is not None else None

    async def purge_expired_link_states(self, now: float | None = None) -> int:
        at = self._now(now)
        async with self._locked():
            return await self._write("DELETE FROM link_states WHERE expires_at <= ?", (at,))

    # ------------------------------------------------------------------ guild settings
    async def add_share_channel(self, guild_id: int, channel_id: int) -> bool:
        async with self._locked():
            added = await self._write(
                "INSERT INTO guild_share_channels (guild_id, channel_id, added_at) VALUES (?, ?, ?)"
                " ON CONFLICT (guild_id, channel_id) DO NOTHING",
                (guild_id, channel_id, self._clock()),
            )
            self._share_channels.pop(guild_id, None)
        return added == 1

    async def remove_share_channel(self, guild_id: int, channel_id: int) -> bool:
        async with self._locked():
            removed = await self._write(
                "DELETE FROM guild_share_channels WHERE guild_id = ? AND channel_id = ?",
                (guild_id, channel_id),
            )
            self._share_channels.pop(guild_id, None)
        return removed == 1

    async def list_share_channels(self, guild_id: int) -> list[int]:
        async with self._locked():
            channels = await self._load_share_channels(guild_id)
        return sorted(channels)

    async def _load_share_channels(self, guild_id: int) -> frozenset[int]:
        rows = await self._rows("SELECT channel_id FROM guild_share_channels WHERE guild_id = ?", (guild_id,))
        channels = frozenset(int(r[0]) for r in rows)
        self._share_channels[guild_id] = channels
        return channels

    async def is_share_channel(self, guild_id: int, channel_id: int) -> bool:
        cached = self._share_channels.get(guild_id)
        if cached is None:
            async with self._locked():
                cached = await self._load_share_channels(guild_id)
        return channel_id in cached

    async def forget_guild(self, guild_id: int) -> int:
        async with self._locked():
            removed = await self._write("DELETE FROM guild_share_channels WHERE guild_id = ?", (guild_id,))
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
        async with self._locked():
            await self._write(
                "INSERT INTO shared_messages (message_id, channel_id, guild_id, item_type, item_id,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (message_id) DO UPDATE SET"
                " channel_id = excluded.channel_id, guild_id = excluded.guild_id,"
                " item_type = excluded.item_type, item_id = excluded.item_id,"
                " created_at = excluded.created_at",
                (message_id, channel_id, guild_id, item_type, item_id, at),
            )
        return SharedMessage(message_id, channel_id, guild_id, item_type, item_id, at)

    async def get_shared_message(self, message_id: int) -> SharedMessage | None:
        async with self._locked():
            row = await self._one(
                "SELECT message_id, channel_id, guild_id, item_type, item_id, created_at"
                " FROM shared_messages WHERE message_id = ?",
                (message_id,),
            )
        return SharedMessage.from_row(row) if row is not None else None

    async def recent_shared_messages(self, since: float, *, limit: int = 100) -> list[SharedMessage]:
        async with self._locked():
            rows = await self._rows(
                "SELECT message_id, channel_id, guild_id, item_type, item_id, created_at"
                " FROM shared_messages WHERE created_at >= ? ORDER BY created_at DESC, message_id DESC"
                " LIMIT ?",
                (float(since), int(limit)),
            )
        return [SharedMessage.from_row(r) for r in rows]

    async def purge_shared_messages(self, before: float) -> int:
        async with self._locked():
            return await self._write("DELETE FROM shared_messages WHERE created_at < ?", (float(before),))

    # ------------------------------------------------------------------ notices
    async def claim_notice(self, user_id: int, kind: str, now: float | None = None, interval: float = 86400.0) -> bool:
        at = self._now(now)
        async with self._locked():
            rows = await self._rows(
                "INSERT INTO notices (user_id, kind, last_sent_at) VALUES (?, ?, ?)"
                " ON CONFLICT (user_id, kind) DO UPDATE SET last_sent_at = excluded.last_sent_at"
                " WHERE notices.last_sent_at <= ? RETURNING user_id",
                (user_id, kind, at, at - float(interval)),
            )
        return bool(rows)

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
        params = {
            "user_id": user_id,
            "item_type": item_type,
            "item_id": item_id,
            "value": int(value),
            "now": at,
            "first_due": at + min(debounce, max_delay),
            "debounced": at + debounce,
            "max_delay": float(max_delay),
            "held": held,
            "hold_expires_at": None if held is None else hold_expires_at,
        }
        async with self._locked():
            rows = await self._rows(_ENQUEUE, params)
        return OutboxEntry.from_row(rows[0])

    async def claim_due(
        self, worker_id: str, now: float | None = None, limit: int = 100, lease: float = 60.0
    ) -> list[OutboxEntry]:
        if not worker_id:
            raise ValueError("worker_id must not be empty")
        if limit <= 0:
            return []
        at = self._now(now)
        async with self._locked():
            async with self._transaction():
                rows = await self._rows(_CLAIM, (worker_id, at + float(lease), at, at, int(limit)))
        entries = [OutboxEntry.from_row(r) for r in rows]
        entries.sort(key=lambda e: (e.due_at, e.id))
        return entries

    async def complete(self, entry: OutboxEntry, applied_version: int | None = None) -> bool:
        version = entry.version if applied_version is None else int(applied_version)
        async with self._locked():
            deleted = await self._write("DELETE FROM outbox WHERE id = ? AND version = ?", (entry.id, version))
            if deleted:
                return True
            # A newer desired state arrived while we were applying: keep it, release our claim.
            await self._write(
                "UPDATE outbox SET claimed_by = NULL, lease_until = NULL WHERE id = ? AND claimed_by IS ?",
                (entry.id, entry.claimed_by),
            )
        return False

    async def complete_many(self, entries: Sequence[OutboxEntry]) -> int:
        if not entries:
            return 0
        deleted = 0
        async with self._locked():
            async with self._transaction():
                for chunk in _chunks(entries, 400):
                    pairs = ", ".join("(?, ?)" for _ in chunk)
                    params: list[Any] = []
                    for e in chunk:
                        params.extend((e.id, e.version))
                    gone = await self._rows(
                        f"DELETE FROM outbox WHERE (id, version) IN (VALUES {pairs}) RETURNING id",  # noqa: S608
                        params,
                    )
                    deleted += len(gone)
                    gone_ids = {int(r[0]) for r in gone}
                    kept = [(e.id, e.claimed_by) for e in chunk if e.id not in gone_ids]
                    if kept:
                        await self._db.executemany(
                            "UPDATE outbox SET claimed_by = NULL, lease_until = NULL WHERE id = ? AND claimed_by IS ?",
                            kept,
                        )
        return deleted

    async def retry_later(self, entry: OutboxEntry, next_due_at: float, error: str) -> bool:
        message = _short_error(error)
        async with self._locked():
            changed = await self._write(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?, due_at = ?,"
                " claimed_by = NULL, lease_until = NULL WHERE id = ? AND claimed_by IS ?",
                (message, float(next_due_at), entry.id, entry.claimed_by),
            )
        return changed == 1

    async def hold_user(self, user_id: int, reason: HoldReason | str, *, hold_expires_at: float | None = None) -> int:
        held = HoldReason(reason).value
        async with self._locked():
            return await self._write(
                "UPDATE outbox SET held = ?, hold_expires_at = ? WHERE user_id = ?",
                (held, hold_expires_at, user_id),
            )

    async def release_user(self, user_id: int, now: float | None = None) -> int:
        at = self._now(now)
        async with self._locked():
            async with self._transaction():
                return await self._release_user(user_id, at)

    async def _release_user(self, user_id: int, at: float) -> int:
        """Inside a transaction: drop the user's expired holds, make the others due now."""
        await self._write(
            "DELETE FROM outbox WHERE user_id = ? AND held IS NOT NULL"
            " AND hold_expires_at IS NOT NULL AND hold_expires_at <= ?",
            (user_id, at),
        )
        return await self._write(
            "UPDATE outbox SET held = NULL, hold_expires_at = NULL, attempts = 0, due_at = MIN(due_at, ?)"
            " WHERE user_id = ? AND held IS NOT NULL",
            (at, user_id),
        )

    async def purge_expired_holds(self, now: float | None = None) -> int:
        at = self._now(now)
        async with self._locked():
            return await self._write(
                "DELETE FROM outbox WHERE held IS NOT NULL AND hold_expires_at IS NOT NULL AND hold_expires_at <= ?",
                (at,),
            )

    async def pending_for_user(self, user_id: int) -> list[OutboxEntry]:
        async with self._locked():
            rows = await self._rows(_SELECT_PENDING, (user_id,))
        return [OutboxEntry.from_row(r) for r in rows]

    async def outbox_size(self) -> int:
        async with self._locked():
            row = await self._one("SELECT COUNT(*) FROM outbox")
        return int(row[0]) if row is not None else 0

    async def next_due_at(self) -> float | None:
        async with self._locked():
            row = await self._one(
                "SELECT MIN(CASE WHEN lease_until IS NOT NULL AND lease_until > due_at"
                " THEN lease_until ELSE due_at END) FROM outbox WHERE held IS NULL"
            )
        if row is None or row[0] is None:
            return None
        return float(row[0])

    # ------------------------------------------------------------------ raw rows (copy-db)
    @property
    def location(self) -> str:
        return self._path

    async def database_identity(self) -> str:
        if self._path == ":memory:":
            return f"sqlite-memory:{id(self)}"
        return await asyncio.to_thread(_file_identity, self._path)

    async def count_rows(self, table: str) -> int:
        spec = table_spec(table)
        async with self._locked():
            row = await self._one(f"SELECT COUNT(*) FROM {spec.name}")  # noqa: S608 (name from TABLES)
        return int(row[0]) if row is not None else 0

    async def count_active_claims(self, now: float | None = None) -> int:
        at = self._now(now)
        async with self._locked():
            row = await self._one("SELECT COUNT(*) FROM outbox WHERE claimed_by IS NOT NULL AND lease_until > ?", (at,))
        return int(row[0]) if row is not None else 0

    async def export_rows(self, table: str, *, batch: int = 2000) -> AsyncIterator[list[RawRow]]:
        spec = table_spec(table)
        order = ("rowid",) if spec.insertion_ordered else spec.key
        keys = ", ".join(order)
        aliases = ", ".join(f"{column} AS _key{i}" for i, column in enumerate(order))
        select = f"SELECT {', '.join(spec.column_names)}, {aliases} FROM {spec.name}"  # noqa: S608 (from TABLES)
        after = f" WHERE ({keys}) > ({', '.join('?' for _ in order)})"
        tail = f" ORDER BY {keys} LIMIT ?"

        async def fetch(last: tuple[Any, ...] | None) -> list[sqlite3.Row]:
            async with self._locked():
                if last is None:
                    return await self._rows(select + tail, (batch,))
                return await self._rows(select + after + tail, (*last, batch))

        async for rows in keyset_pages(spec, batch, len(order), fetch):
            yield rows

    async def import_rows(self, batches: AsyncIterable[tuple[str, Sequence[RawRow]]]) -> dict[str, int]:
        counts = {spec.name: 0 for spec in TABLES}
        async with self._locked():
            async with self._transaction():
                existing = {spec.name: await self._count(spec.name) for spec in TABLES}
                if any(existing.values()):
                    raise TargetNotEmpty(self._path, existing)
                async for table, rows in batches:
                    spec = table_spec(table)
                    if not rows:
                        continue
                    names = spec.column_names
                    await self._db.executemany(
                        f"INSERT INTO {spec.name} ({', '.join(names)})"  # noqa: S608 (names from TABLES)
                        f" VALUES ({', '.join('?' for _ in names)})",
                        [tuple(spec.normalize(row)[name] for name in names) for row in rows],
                    )
                    counts[spec.name] += len(rows)
                for spec in TABLES:  # AUTOINCREMENT already moved sqlite_sequence past the copied ids
                    if await self._count(spec.name) != counts[spec.name]:
                        raise StorageError(f"the copy into {spec.name} did not insert every row; rolled back")
            self._token_cache.clear()
            self._share_channels.clear()
        return counts

    async def _count(self, table: str) -> int:
        row = await self._one(f"SELECT COUNT(*) FROM {table_spec(table).name}")  # noqa: S608 (from TABLES)
        return int(row[0]) if row is not None else 0


def _file_identity(path: str) -> str:
    """The same string for every path (relative, symlinked, hard-linked) that reaches the same file."""
    real = os.path.realpath(path)
    try:
        info = os.stat(real)
    except OSError:
        return f"sqlite:{real}"
    return f"sqlite:{info.st_dev}:{info.st_ino}"


async def _enable_wal(db: aiosqlite.Connection) -> str:
    """Switch to WAL (persistent in the file). Another connection creating the same new file can make the
    switch fail with "database is locked" without waiting for the busy timeout: retry for a while."""
    deadline = time.monotonic() + _BUSY_TIMEOUT_S
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


# ---------------------------------------------------------------------- row mapping


def _check_item(item_type: str, item_id: str) -> None:
    if not item_type or not item_id:
        raise ValueError("item_type and item_id must not be empty")


def _check_enqueue(
    item_type: str, item_id: str, value: int, debounce: float, max_delay: float, hold: HoldReason | str | None
) -> str | None:
    """``Store.enqueue``'s argument checks (both engines); returns the hold reason as stored, or None."""
    _check_item(item_type, item_id)
    if value not in (-1, 0, 1) or isinstance(value, bool):
        raise ValueError("a rating value is 1 (like), -1 (dislike) or 0 (clear)")
    if debounce < 0 or max_delay < 0:
        raise ValueError("debounce and max_delay must not be negative")
    return HoldReason(hold).value if hold is not None else None


def _short_error(error: str) -> str:
    text = _SECRETISH.sub("[redacted]", " ".join(str(error).split()))
    return text if len(text) <= MAX_ERROR_LENGTH else text[: MAX_ERROR_LENGTH - 1] + "…"


def _chunks(items: Sequence[OutboxEntry], size: int) -> Iterable[Sequence[OutboxEntry]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
