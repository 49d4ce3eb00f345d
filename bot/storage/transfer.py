"""Copy a whole deployment's data from one store to another (``python -m bot copy-db``), in any direction:
SQLite → PostgreSQL (the usual move), PostgreSQL → SQLite, SQLite → SQLite.

The logic here is engine-neutral. The store provides raw-row hooks (see :class:`~bot.storage.base.Store`):
``export_rows`` (batches in a stable order), ``import_rows`` (everything in one transaction), ``count_rows``,
``count_active_claims``, ``database_identity`` and ``location``. :data:`TABLES` is the one place that lists the
copied tables and their columns; the store's SQL (:mod:`bot.storage.sql`, one text for both engines) is built
from it.

Rows travel as plain dicts of ``bytes``, ``int``, ``float``, ``str``, ``bool`` or ``None``
(:meth:`TableSpec.normalize`): PostgreSQL ``BOOLEAN`` and SQLite ``0``/``1`` both become ``bool``; ``bytea``
and ``BLOB`` both become ``bytes``.
Encrypted tokens are copied verbatim (no decryption needed; the same keys keep working).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.storage.base import RawRow, Store
from bot.storage.errors import StorageError
from bot.storage.models import Row

log = logging.getLogger(__name__)

DEFAULT_BATCH = 2000

_KINDS: dict[str, type] = {"int": int, "float": float, "str": str, "bytes": bytes, "bool": bool}


@dataclass(frozen=True, slots=True)
class TableSpec:
    """One copied table: its columns (name → kind) and the unique key its rows are exported in order of.

    ``insertion_ordered`` tables are exported in the order their rows were inserted (SQLite ``rowid``,
    PostgreSQL ``seq``) and inserted in that order, so ties on ``created_at`` keep their order.
    ``identity`` names a column whose values are kept and whose id generator must be advanced past them.
    ``user_column`` names the column holding the Discord user a row is about: such rows are a member's data
    (``/export`` shows them, ``/unlink`` and ``/forget-me`` delete them).
    """

    name: str
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...]
    insertion_ordered: bool = False
    identity: str | None = None
    user_column: str | None = None

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    @property
    def bool_columns(self) -> frozenset[str]:
        return frozenset(name for name, kind in self.columns if kind == "bool")

    def normalize(self, row: Mapping[str, object]) -> RawRow:
        """The engine-neutral form of a row: exactly this table's columns, each value of its kind (or None)."""
        names = self.column_names
        if set(row) != set(names):
            unexpected = sorted(set(row) - set(names))
            missing = sorted(set(names) - set(row))
            raise ValueError(f"a {self.name} row has unexpected columns {unexpected} / lacks columns {missing}")
        out: RawRow = {}
        for name, kind in self.columns:
            value = row[name]
            if value is None:
                out[name] = None
            elif kind == "bytes":
                out[name] = bytes(value)  # type: ignore[call-overload]  # memoryview, bytearray, bytes
            elif kind == "bool":
                out[name] = bool(value)
            else:
                out[name] = _KINDS[kind](value)
        return out


def _cols(text: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for part in text.split(","):
        name, kind = part.split(":")
        if kind.strip() not in _KINDS:
            raise ValueError(f"unknown column kind {kind!r}")
        pairs.append((name.strip(), kind.strip()))
    return tuple(pairs)


#: Every table a deployment's data lives in, in copy order. ``schema_version`` is not copied: opening a store
#: migrates it to the current schema. Add a table or a column here when a migration adds one.
TABLES: tuple[TableSpec, ...] = (
    TableSpec(
        "accounts",
        _cols(
            "user_id:int, token_enc:bytes, storefront:str, linked_at:float, last_used:float, status:str,"
            " stale_notified:bool"
        ),
        key=("user_id",),
        user_column="user_id",
    ),
    TableSpec(
        "link_states",
        _cols(
            "state_hash:str, user_id:int, created_at:float, expires_at:float, used_at:float, attempts:int,"
            " display_name:str, avatar_url:str, signin_hash:str, browser_hash:str"
        ),
        key=("state_hash",),
        insertion_ordered=True,
        user_column="user_id",
    ),
    TableSpec(
        "guild_share_channels",
        _cols("guild_id:int, channel_id:int, added_at:float"),
        key=("guild_id", "channel_id"),
    ),
    TableSpec(
        "guild_settings",
        _cols("guild_id:int, share_buttons:bool, updated_at:float, listen_elsewhere:bool"),
        key=("guild_id",),
    ),
    TableSpec(
        "shared_messages",
        _cols("message_id:int, channel_id:int, guild_id:int, item_type:str, item_id:str, created_at:float"),
        key=("message_id",),
    ),
    TableSpec(
        "outbox",
        _cols(
            "id:int, user_id:int, item_type:str, item_id:str, value:int, version:int, created_at:float,"
            " updated_at:float, due_at:float, attempts:int, last_error:str, held:str, hold_expires_at:float,"
            " claimed_by:str, lease_until:float, turn:int"
        ),
        key=("id",),
        identity="id",
        user_column="user_id",
    ),
    TableSpec(
        "rating_intents",
        _cols("user_id:int, item_type:str, item_id:str, value:int, updated_at:float"),
        key=("user_id", "item_type", "item_id"),
        user_column="user_id",
    ),
    TableSpec(
        "notices",
        _cols("user_id:int, kind:str, last_sent_at:float"),
        key=("user_id", "kind"),
        user_column="user_id",
    ),
    TableSpec(
        "taste_shares",
        _cols(
            "message_id:int, guild_id:int, channel_id:int, sharer_id:int, item_type:str, item_id:str, shared_at:float"
        ),
        key=("message_id",),
        user_column="sharer_id",
    ),
    TableSpec(
        "taste_votes",
        _cols("guild_id:int, user_id:int, item_type:str, item_id:str, value:int, voted_at:float"),
        key=("guild_id", "user_id", "item_type", "item_id"),
        user_column="user_id",
    ),
    TableSpec(
        "taste_named",
        _cols("guild_id:int, user_id:int, opted_at:float"),
        key=("guild_id", "user_id"),
        user_column="user_id",
    ),
    TableSpec(
        "mixtape_members",
        _cols("guild_id:int, user_id:int, guild_name:str, joined_at:float"),
        key=("guild_id", "user_id"),
        user_column="user_id",
    ),
    TableSpec(
        "mixtape_jobs",
        _cols(
            "id:int, guild_id:int, user_id:int, week_start:float, week_end:float, name:str, tracks:str,"
            " created_at:float, due_at:float, attempts:int, last_error:str, claimed_by:str, lease_until:float,"
            " sent_at:float, playlist_id:str, done_at:float"
        ),
        key=("id",),
        identity="id",
        user_column="user_id",
    ),
    TableSpec(
        "pending_matches",
        _cols(
            "message_id:int, channel_id:int, guild_id:int, author_id:int, link:str, attempts:int, next_try_at:float,"
            " created_at:float"
        ),
        key=("message_id",),
        user_column="author_id",
    ),
    TableSpec(
        "recap_settings",
        _cols("guild_id:int, channel_id:int, weekday:int, hour:int, timezone:str, updated_at:float"),
        key=("guild_id",),
    ),
    TableSpec(
        "closed_weeks",
        _cols(
            "guild_id:int, week_label:str, week_end:float, claimed_by:str, lease_until:float, closed_at:float,"
            " message_id:int"
        ),
        key=("guild_id", "week_label"),
    ),
    TableSpec(
        "guild_departures",
        _cols("guild_id:int, left_at:float"),
        key=("guild_id",),
    ),
)

#: The tables that hold rows about one Discord user (see ``TableSpec.user_column``).
USER_TABLES: tuple[TableSpec, ...] = tuple(spec for spec in TABLES if spec.user_column is not None)

TABLES_BY_NAME: dict[str, TableSpec] = {spec.name: spec for spec in TABLES}


def table_spec(name: str) -> TableSpec:
    """The spec of a copied table; ``ValueError`` for any other name (names are never taken from input)."""
    try:
        return TABLES_BY_NAME[name]
    except KeyError:
        raise ValueError(f"{name!r} is not one of the copied tables") from None


# ---------------------------------------------------------------------- errors
class CopyRefused(StorageError):
    """The copy was not started (or was rolled back) for a reason the operator must act on."""


class SameDatabase(CopyRefused):
    def __init__(self, where: str) -> None:
        super().__init__(f"SOURCE and TARGET are the same database ({where}); nothing was copied.")


class SourceInUse(CopyRefused):
    def __init__(self, where: str, claims: int) -> None:
        self.claims = claims
        super().__init__(
            f"The source database {where} has {claims} outbox row(s) claimed by a running bot: "
            "stop every bot process first, then run copy-db again (nothing was copied)."
        )


class TargetNotEmpty(CopyRefused):
    def __init__(self, where: str, counts: Mapping[str, int]) -> None:
        self.counts = dict(counts)
        held = ", ".join(f"{table} ({count})" for table, count in counts.items() if count)
        super().__init__(
            f"The target database {where} already holds data in {held}; copy-db only copies into an empty "
            "database, and it was left unchanged."
        )


class SourceChanged(CopyRefused):
    def __init__(self, where: str, table: str, copied: int, now: int) -> None:
        super().__init__(
            f"The source database {where} changed during the copy ({table}: {copied} rows read, {now} now): "
            "stop every bot process first; the target was left unchanged."
        )


class CopyVerificationFailed(StorageError):
    """After the copy, the row counts of SOURCE and TARGET differ."""


# ---------------------------------------------------------------------- the copy
@dataclass(frozen=True, slots=True)
class CopyReport:
    """What :func:`copy_database` did. ``rows`` is in :data:`TABLES` order."""

    source: str
    target: str
    rows: dict[str, int] = field(default_factory=dict)
    tokens: int = 0
    undecryptable_tokens: int = 0

    @property
    def total(self) -> int:
        return sum(self.rows.values())

    def table_lines(self) -> list[str]:
        """A small text table of rows copied per table, with a total."""
        width = max(len("total"), *(len(name) for name in self.rows))
        numbers = max(len("rows"), len(str(self.total)))
        lines = [f"{'table':<{width}}  {'rows':>{numbers}}"]
        lines += [f"{name:<{width}}  {count:>{numbers}}" for name, count in self.rows.items()]
        lines.append(f"{'total':<{width}}  {self.total:>{numbers}}")
        return lines


async def keyset_pages(
    spec: TableSpec,
    batch: int,
    key_count: int,
    fetch: Callable[[tuple[Any, ...] | None], Awaitable[Sequence[Row]]],
) -> AsyncIterator[list[RawRow]]:
    """The paging loop of every engine's ``export_rows``: ``fetch(None)`` reads the first ``batch`` rows,
    ``fetch(last_key)`` those after it (rows carry their paging key as ``_key0``, ``_key1``...)."""
    if batch <= 0:
        raise ValueError("batch must be a positive number of rows")
    last: tuple[Any, ...] | None = None
    while True:
        rows = await fetch(last)
        if not rows:
            return
        yield [spec.normalize({name: row[name] for name in spec.column_names}) for row in rows]
        if len(rows) < batch:
            return
        last = tuple(rows[-1][f"_key{i}"] for i in range(key_count))


async def count_tables(store: Store) -> dict[str, int]:
    return {spec.name: await store.count_rows(spec.name) for spec in TABLES}


async def copy_database(
    source: Store, target: Store, *, batch: int = DEFAULT_BATCH, now: float | None = None
) -> CopyReport:
    """Copy every row of every table in :data:`TABLES` from ``source`` into the empty ``target``.

    Refuses (:class:`CopyRefused`, nothing written) when both are the same database, when ``source`` has
    unexpired outbox claims (a bot is running on it), or when ``target`` holds any row. The whole import is
    one transaction in ``target``: any failure (including ``source`` changing meanwhile) leaves it unchanged.
    Outbox rows keep their ids, versions, attempts and errors; their claims are cleared. Afterwards the row
    counts of both databases are compared (:class:`CopyVerificationFailed`) and the target's tokens checked
    against the current keys (``undecryptable_tokens``).
    """
    if batch <= 0:
        raise ValueError("batch must be a positive number of rows")
    src, dst = source.location, target.location
    if await source.database_identity() == await target.database_identity():
        raise SameDatabase(dst)
    claims = await source.count_active_claims(now)
    if claims:
        raise SourceInUse(src, claims)
    existing = await count_tables(target)
    if any(existing.values()):
        raise TargetNotEmpty(dst, existing)

    read: dict[str, int] = {}

    async def stream() -> AsyncIterator[tuple[str, list[RawRow]]]:
        for spec in TABLES:
            count = 0
            async for rows in source.export_rows(spec.name, batch=batch):
                if spec.name == "outbox":  # no worker owns these rows in the new database
                    rows = [{**row, "claimed_by": None, "lease_until": None} for row in rows]
                count += len(rows)
                yield spec.name, rows
            read[spec.name] = count
            now_count = await source.count_rows(spec.name)
            if now_count != count:  # raised inside target.import_rows: its transaction rolls back
                raise SourceChanged(src, spec.name, count, now_count)
            log.debug("Read %d %s rows from the source", count, spec.name)

    log.info("Copying the database %s into %s", src, dst)
    copied = await target.import_rows(stream())
    rows = {spec.name: copied.get(spec.name, 0) for spec in TABLES}

    before, after = await count_tables(source), await count_tables(target)
    for spec in TABLES:
        if not before[spec.name] == after[spec.name] == rows[spec.name] == read[spec.name]:
            raise CopyVerificationFailed(
                f"row counts differ after the copy in {spec.name}: source {before[spec.name]}, "
                f"target {after[spec.name]}, copied {rows[spec.name]}"
            )
    undecryptable = await target.count_undecryptable_tokens()
    log.info("Copied %d rows from %s into %s", sum(rows.values()), src, dst)
    return CopyReport(src, dst, rows, tokens=rows["accounts"], undecryptable_tokens=undecryptable)
