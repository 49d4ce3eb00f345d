"""The store, written once in SQL for both engines.

:class:`SqlStore` implements every method of :class:`~bot.storage.base.Store` over an engine's
:class:`~bot.storage.dialect.Session`. An engine (:mod:`bot.storage.sqlite`, :mod:`bot.storage.postgres`) only
opens its connections and provides:

* :meth:`SqlStore._connect`: connect and set up a store (:meth:`SqlStore.open` then migrates it).
* :meth:`SqlStore._connection`: a connection for one public method. SQLite: its one connection, under an
  ``asyncio.Lock`` (so each method is atomic among this process's coroutines); PostgreSQL: a pooled connection.
* :meth:`SqlStore._fault`: which of the driver's errors are storage faults (:class:`~bot.storage.errors.StorageFault`:
  lost or refused connections, disk full, read-only, I/O errors, lock timeouts). :meth:`SqlStore._session`, the
  one place both engines' errors are translated, raises them as :class:`~bot.storage.errors.StoreUnavailable`
  (after :meth:`SqlStore._after_fault`), so every caller treats them all as the outage they are.
* :meth:`SqlStore._scrub`: after a transaction deleted or replaced token ciphertexts (unlink, rotate-keys),
  make sure no copy is left behind (SQLite folds and truncates its write-ahead log).
* :meth:`SqlStore._before_import` and :meth:`SqlStore._after_import`: table locking and identity generators
  for ``copy-db``.
* :meth:`SqlStore._disconnect` and ``database_identity``.

Concurrency across processes rests on single statements and transactions: an outbox claim is one statement
that takes only due, unleased rows, in turn order (on PostgreSQL with ``FOR UPDATE SKIP LOCKED``, so two processes
never take the same row) and stamps a lease; what counts and numbers one member's rows (enqueue, link) first takes
a per-member advisory lock on PostgreSQL; completion is version-checked, so a newer desired rating that arrived while a
worker applied the old one is never lost; a link state is consumed (and its tries counted) by one conditional UPDATE.
"""

from __future__ import annotations

import logging
import re
import time
from abc import abstractmethod
from collections.abc import AsyncIterable, AsyncIterator, Collection, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, ClassVar, Self

from cachetools import TTLCache

from bot.errors import TooManyWaiting
from bot.storage.base import BudgetMerge, BudgetRow, Clock, RawRow, Store
from bot.storage.crypto import TokenCipher
from bot.storage.dialect import CAST_TYPES, Session
from bot.storage.errors import StorageError, StorageFault, StoreUnavailable, TokenDecryptError
from bot.storage.models import (
    EXPIRED_HOLDS_NOTICE,
    Account,
    AccountStatus,
    ClosedWeek,
    HoldReason,
    LinkState,
    LinkStateResult,
    MixtapeJob,
    MixtapeMember,
    OutboxEntry,
    PendingMatch,
    ProcessRecord,
    RecapSettings,
    Row,
    SharedMessage,
    StoreCounts,
    TopItem,
    TopSharer,
)
from bot.storage.options import StoreOptions
from bot.storage.schema import Migration, apply_migrations, current_version
from bot.storage.transfer import TABLES, USER_TABLES, TableSpec, TargetNotEmpty, keyset_pages, table_spec

log = logging.getLogger(__name__)

MAX_ERROR_LENGTH = 200
# Long runs of token-ish characters (JWTs, base64 blobs, Fernet tokens), also URL-encoded (``%2B``, ``%2F``...),
# are redacted from stored errors.
_SECRETISH = re.compile(r"(?:[A-Za-z0-9+/=_\-.]|%[0-9A-Fa-f]{2}){40,}")

_ENTRY = (
    "id, user_id, item_type, item_id, value, version, created_at, updated_at, due_at, attempts,"
    " last_error, held, hold_expires_at, claimed_by, lease_until, turn"
)
_SHARED = "message_id, channel_id, guild_id, item_type, item_id, created_at"

# ---------------------------------------------------------------------- accounts
_LINK = (
    "INSERT INTO accounts (user_id, token_enc, storefront, linked_at, last_used, status, stale_notified)"
    " VALUES (:user_id, :token_enc, :storefront, :at, :at, 'active', FALSE)"
    " ON CONFLICT (user_id) DO UPDATE SET token_enc = excluded.token_enc, storefront = excluded.storefront,"
    " linked_at = excluded.linked_at, last_used = excluded.last_used, status = 'active', stale_notified = FALSE"
)
_ACCOUNT = (
    "SELECT user_id, storefront, linked_at, last_used, status, stale_notified FROM accounts WHERE user_id = :user_id"
)
_CIPHERTEXT = "SELECT token_enc FROM accounts WHERE user_id = :user_id AND status = 'active'"
_TOUCH = "UPDATE accounts SET last_used = :at WHERE user_id = :user_id AND last_used <= :since"
_MARK_STALE = (
    "UPDATE accounts SET status = 'stale', stale_notified = FALSE WHERE user_id = :user_id AND status = 'active'"
)
_ACCOUNT_EXISTS = "SELECT 1 FROM accounts WHERE user_id = :user_id"
_HOLD_STALE = "UPDATE outbox SET held = 'stale', hold_expires_at = NULL WHERE user_id = :user_id"
_MARK_NOTIFIED = (
    "UPDATE accounts SET stale_notified = TRUE WHERE user_id = :user_id AND status = 'stale' AND stale_notified = FALSE"
)
_ALL_TOKENS = "SELECT user_id, token_enc FROM accounts ORDER BY user_id{for_update}"
_SET_CIPHERTEXT = "UPDATE accounts SET token_enc = :token_enc WHERE user_id = :user_id"

# ---------------------------------------------------------------------- link states
_STATE_COLUMNS = (
    "state_hash, user_id, created_at, expires_at, used_at, attempts, display_name, avatar_url, signin_hash,"
    " browser_hash"
)
_CREATE_STATE = (
    "INSERT INTO link_states (state_hash, user_id, created_at, expires_at, display_name, avatar_url)"
    " VALUES (:key, :user_id, :at, :expires_at, :display_name, :avatar_url) ON CONFLICT (state_hash) DO NOTHING"
)
#: the condition of a link that can still be used
_OPEN = "state_hash = :key AND used_at IS NULL AND expires_at > :at"
_CONSUME_STATE = f"UPDATE link_states SET used_at = :at WHERE {_OPEN} AND user_id = :user_id RETURNING state_hash"  # noqa: S608
_COUNT_ATTEMPT = (
    f"UPDATE link_states SET attempts = attempts + 1 WHERE {_OPEN} AND attempts < :max_attempts"  # noqa: S608
    " RETURNING attempts"
)
_BEGIN_SIGNIN = f"UPDATE link_states SET signin_hash = :signin_hash WHERE {_OPEN}"  # noqa: S608
_FINISH_SIGNIN = (
    "UPDATE link_states SET signin_hash = NULL, browser_hash = COALESCE(:browser_hash, browser_hash)"  # noqa: S608
    f" WHERE {_OPEN} AND signin_hash = :signin_hash"
)
_STATE = f"SELECT {_STATE_COLUMNS} FROM link_states WHERE state_hash = :key"  # noqa: S608
_PENDING_STATE = (
    "SELECT state_hash FROM link_states WHERE user_id = :user_id AND used_at IS NULL AND expires_at > :at"
    " ORDER BY created_at DESC, {insertion_order} DESC LIMIT 1"
)

# ---------------------------------------------------------------------- guild settings, shared messages, notices
_ADD_CHANNEL = (
    "INSERT INTO guild_share_channels (guild_id, channel_id, added_at) VALUES (:guild_id, :channel_id, :at)"
    " ON CONFLICT (guild_id, channel_id) DO NOTHING"
)
_REMOVE_CHANNEL = "DELETE FROM guild_share_channels WHERE guild_id = :guild_id AND channel_id = :channel_id"
_CHANNELS = "SELECT channel_id FROM guild_share_channels WHERE guild_id = :guild_id"
#: a server's switch (a column of guild_settings: share_buttons, listen_elsewhere) set; the others keep their defaults
_SET_SWITCH = (
    "INSERT INTO guild_settings (guild_id, {switch}, updated_at) VALUES (:guild_id, :on, :at)"
    " ON CONFLICT (guild_id) DO UPDATE SET {switch} = excluded.{switch}, updated_at = excluded.updated_at"
    " WHERE guild_settings.{switch} <> excluded.{switch}"
)
_SWITCH = "SELECT {switch} FROM guild_settings WHERE guild_id = :guild_id"
#: the switches and their values for a server without a row
_SWITCH_DEFAULTS = {"share_buttons": False, "listen_elsewhere": True}
# ---------------------------------------------------------------------- posts whose link waits to be matched
_PENDING_MATCH_COLUMNS = "message_id, channel_id, guild_id, author_id, link, attempts, next_try_at, created_at"
_ADD_PENDING_MATCH = (
    f"INSERT INTO pending_matches ({_PENDING_MATCH_COLUMNS})"  # noqa: S608 (constants)
    " SELECT :message_id, :channel_id, :guild_id, :author_id, :link, 0, :next_try_at::float8, :at::float8"
    " WHERE (SELECT COUNT(*) FROM pending_matches WHERE guild_id = :guild_id::bigint) < :max_per_guild::bigint"
    " ON CONFLICT (message_id) DO NOTHING"
)
_DUE_PENDING_MATCHES = (
    f"SELECT {_PENDING_MATCH_COLUMNS} FROM pending_matches WHERE next_try_at <= :now"  # noqa: S608 (constants)
    " ORDER BY next_try_at, message_id LIMIT :limit"
)
_RETRY_PENDING_MATCH = (
    "UPDATE pending_matches SET attempts = :attempts, next_try_at = :next_try_at WHERE message_id = :message_id"
)
_FORGET_PENDING_MATCH = "DELETE FROM pending_matches WHERE message_id = :message_id"
_RECORD_SHARED = (
    f"INSERT INTO shared_messages ({_SHARED})"  # noqa: S608 (constants)
    " VALUES (:message_id, :channel_id, :guild_id, :item_type, :item_id, :created_at)"
    " ON CONFLICT (message_id) DO UPDATE SET channel_id = excluded.channel_id, guild_id = excluded.guild_id,"
    " item_type = excluded.item_type, item_id = excluded.item_id, created_at = excluded.created_at"
)
_SHARED_MESSAGE = f"SELECT {_SHARED} FROM shared_messages WHERE message_id = :message_id"  # noqa: S608 (constants)
_RECENT_SHARED = (
    f"SELECT {_SHARED} FROM shared_messages WHERE created_at >= :since"  # noqa: S608 (constants)
    " ORDER BY created_at DESC, message_id DESC LIMIT :limit"
)
_FORGET_SHARED = "DELETE FROM shared_messages WHERE message_id = :message_id"
_CLAIM_NOTICE = (
    "INSERT INTO notices (user_id, kind, last_sent_at) VALUES (:user_id, :kind, :at)"
    " ON CONFLICT (user_id, kind) DO UPDATE SET last_sent_at = excluded.last_sent_at"
    " WHERE notices.last_sent_at <= :since RETURNING user_id"
)

# ---------------------------------------------------------------------- rating intents
# ---------------------------------------------------------------------- server taste
_RECORD_SHARE = (
    "INSERT INTO taste_shares (message_id, guild_id, channel_id, sharer_id, item_type, item_id, shared_at)"
    " VALUES (:message_id, :guild_id, :channel_id, :sharer_id, :item_type, :item_id, :now)"
    " ON CONFLICT (message_id) DO UPDATE SET guild_id = excluded.guild_id, channel_id = excluded.channel_id,"
    " sharer_id = excluded.sharer_id, item_type = excluded.item_type, item_id = excluded.item_id,"
    " shared_at = excluded.shared_at"
)
_RECORD_VOTE = (
    "INSERT INTO taste_votes (guild_id, user_id, item_type, item_id, value, voted_at)"
    " VALUES (:guild_id, :user_id, :item_type, :item_id, :value, :now)"
    " ON CONFLICT (guild_id, user_id, item_type, item_id) DO UPDATE SET value = excluded.value,"
    " voted_at = excluded.voted_at"
)
_DROP_VOTE = (
    "DELETE FROM taste_votes WHERE guild_id = :guild_id AND user_id = :user_id AND item_type = :item_type"
    " AND item_id = :item_id"
)
# {where}: the period's shares (guild, time, optional channel and kinds). A share's item counts once, at its first
# share in the period; its votes are the server's, whenever they were given.
_TOP_ITEMS = (
    "WITH shares AS (SELECT message_id, channel_id, sharer_id, item_type, item_id, shared_at,"
    " ROW_NUMBER() OVER (PARTITION BY item_type, item_id ORDER BY shared_at, message_id) AS nth"
    " FROM taste_shares WHERE {where}),"
    " votes AS (SELECT item_type, item_id, SUM(CASE WHEN value = 1 THEN 1 ELSE 0 END) AS likes,"
    " SUM(CASE WHEN value = -1 THEN 1 ELSE 0 END) AS dislikes FROM taste_votes WHERE guild_id = :guild_id"
    " GROUP BY item_type, item_id)"
    " SELECT s.item_type, s.item_id, v.likes, v.dislikes, s.sharer_id, s.channel_id, s.message_id, s.shared_at"
    " FROM shares s JOIN votes v ON v.item_type = s.item_type AND v.item_id = s.item_id WHERE s.nth = 1"
    " ORDER BY v.likes - v.dislikes DESC, v.likes DESC, s.shared_at, s.message_id LIMIT :limit"
)
_TOP_SHARERS = (
    "WITH nets AS (SELECT item_type, item_id, SUM(value) AS net FROM taste_votes WHERE guild_id = :guild_id"
    " GROUP BY item_type, item_id)"
    " SELECT s.sharer_id, COUNT(*) AS shares, COALESCE(SUM(n.net), 0) AS net_likes FROM taste_shares s"
    " LEFT JOIN nets n ON n.item_type = s.item_type AND n.item_id = s.item_id"
    " WHERE s.guild_id = :guild_id AND s.shared_at >= :since AND s.shared_at < :until"
    " GROUP BY s.sharer_id ORDER BY net_likes DESC, shares DESC, s.sharer_id LIMIT :limit"
)
_MEMBER_VOTES = "SELECT item_type, item_id, value FROM taste_votes WHERE guild_id = :guild_id AND user_id = :user_id"
_NAME_ME = (
    "INSERT INTO taste_named (guild_id, user_id, opted_at) VALUES (:guild_id, :user_id, :now)"
    " ON CONFLICT (guild_id, user_id) DO NOTHING"
)
_UNNAME_ME = "DELETE FROM taste_named WHERE guild_id = :guild_id AND user_id = :user_id"
_FORGET_TASTE_SHARE = "DELETE FROM taste_shares WHERE message_id = :message_id"

# ---------------------------------------------------------------------- the weekly recap
_RECAP_COLUMNS = "guild_id, channel_id, weekday, hour, timezone, updated_at"
_SET_RECAP = (
    f"INSERT INTO recap_settings ({_RECAP_COLUMNS})"  # noqa: S608 (constants)
    " VALUES (:guild_id, :channel_id, :weekday, :hour, :timezone, :now)"
    " ON CONFLICT (guild_id) DO UPDATE SET channel_id = excluded.channel_id, weekday = excluded.weekday,"
    " hour = excluded.hour, timezone = excluded.timezone, updated_at = excluded.updated_at"
)
_RECAP = f"SELECT {_RECAP_COLUMNS} FROM recap_settings"  # noqa: S608 (constants)
_SHARED_GUILDS = "SELECT DISTINCT guild_id FROM taste_shares WHERE shared_at >= :since ORDER BY guild_id"
# One statement claims a week: a new row, or a row whose claim ran out before the week was closed. Of concurrent
# claimers one inserts (or updates); the others find the row claimed (PostgreSQL re-checks the WHERE on the row
# the winner committed) and get no row back.
_CLAIM_WEEK = (
    "INSERT INTO closed_weeks (guild_id, week_label, week_end, claimed_by, lease_until)"
    " VALUES (:guild_id, :week_label, :week_end, :worker, :lease_until)"
    " ON CONFLICT (guild_id, week_label) DO UPDATE SET claimed_by = excluded.claimed_by,"
    " lease_until = excluded.lease_until"
    " WHERE closed_weeks.closed_at IS NULL AND closed_weeks.lease_until <= :now::float8 RETURNING guild_id"
)
_CLOSE_WEEK = (
    "UPDATE closed_weeks SET closed_at = :now, message_id = :message_id::bigint WHERE guild_id = :guild_id"
    " AND week_label = :week_label AND claimed_by = :worker AND closed_at IS NULL"
)
_CLOSED_WEEK = (
    "SELECT guild_id, week_label, week_end, claimed_by, lease_until, closed_at, message_id FROM closed_weeks"
    " WHERE guild_id = :guild_id AND week_label = :week_label"
)

_RECORD_INTENT = (
    "INSERT INTO rating_intents (user_id, item_type, item_id, value, updated_at)"
    " VALUES (:user_id, :item_type, :item_id, :value, :now::float8)"
    " ON CONFLICT (user_id, item_type, item_id) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
)
_INTENT = "SELECT value FROM rating_intents WHERE user_id = :user_id AND item_type = :item_type AND item_id = :item_id"
_PURGE_UNSHARED_INTENTS = (
    "DELETE FROM rating_intents WHERE NOT EXISTS (SELECT 1 FROM shared_messages s"
    " WHERE s.item_type = rating_intents.item_type AND s.item_id = rating_intents.item_id)"
)

# ---------------------------------------------------------------------- outbox
# Turns (fair queueing): rows are claimed by turn, so members are served in turn. The turn being served now is the
# smallest turn of the rows not held; a member's next row takes the turn after their last one, and never one before
# the turn being served now (a member with nothing waiting is next, whoever else has a thousand rows waiting).
_TURN_NOW = "COALESCE((SELECT MIN(turn) FROM outbox WHERE held IS NULL), 0)"
_NEXT_TURN = (
    "{greatest}(COALESCE((SELECT MAX(turn) + 1 FROM outbox WHERE user_id = :user_id::bigint), 0), "  # noqa: S608
    f"{_TURN_NOW})"
)
# A new item is inserted only while the member has fewer than :max_per_user rows (NULL: no ceiling); a new rating
# of an item already waiting replaces its row (and keeps its turn) whatever their count. No row back: refused.
_ENQUEUE = (
    "INSERT INTO outbox (user_id, item_type, item_id, value, version, created_at, updated_at,"  # noqa: S608
    " due_at, attempts, held, hold_expires_at, turn)"
    " SELECT :user_id::bigint, :item_type::text, :item_id::text, :value::int, 1, :now::float8, :now::float8,"
    f" :first_due::float8, 0, :held::text, :hold_expires_at::float8, {_NEXT_TURN}"
    # a re-rating (its row exists: one probe of the primary key) is never refused, and is not counted
    " WHERE :max_per_user::bigint IS NULL"
    " OR EXISTS (SELECT 1 FROM outbox WHERE user_id = :user_id::bigint AND item_type = :item_type::text"
    " AND item_id = :item_id::text)"
    " OR (SELECT COUNT(*) FROM outbox WHERE user_id = :user_id::bigint) < :max_per_user::bigint"
    " ON CONFLICT (user_id, item_type, item_id) DO UPDATE SET"
    " value = excluded.value, version = outbox.version + 1, updated_at = excluded.updated_at,"
    " due_at = {least}(:debounced::float8, outbox.created_at + :max_delay::float8), attempts = 0,"
    f" last_error = NULL, held = excluded.held, hold_expires_at = excluded.hold_expires_at RETURNING {_ENTRY}"
)


# The claim picks (and on PostgreSQL locks, skipping rows another transaction is claiming right now) the due,
# unleased rows in turn order, then stamps them in the same statement. Rows another worker already claimed are
# excluded by the lease condition (on PostgreSQL re-evaluated on the latest row version under FOR UPDATE).
# MATERIALIZED: the picked ids are computed once, whatever plan the UPDATE gets.
# Written once for every table of leased work (the outbox, mixtape jobs): ``ready`` says which rows wait to be done.
def _claim_sql(table: str, ready: str, order: str, columns: str) -> str:
    return (
        f"WITH picked AS MATERIALIZED (SELECT id FROM {table} WHERE {ready} AND due_at <= :now::float8"  # noqa: S608
        f" AND (lease_until IS NULL OR lease_until <= :now::float8) ORDER BY {order} LIMIT :limit{{skip_locked}})"
        f" UPDATE {table} SET claimed_by = :worker, lease_until = :lease_until::float8"
        f" WHERE id IN (SELECT id FROM picked) RETURNING {columns}"
    )


def _retry_later_sql(table: str) -> str:
    return (
        f"UPDATE {table} SET attempts = attempts + 1, last_error = :error, due_at = :due_at::float8,"  # noqa: S608
        " claimed_by = NULL, lease_until = NULL WHERE id = :id AND claimed_by {same_as} :claimed_by::text"
    )


def _next_due_sql(table: str, ready: str) -> str:
    return (
        "SELECT MIN(CASE WHEN lease_until IS NOT NULL AND lease_until > due_at THEN lease_until ELSE due_at END)"  # noqa: S608
        f" FROM {table} WHERE {ready}"
    )


_CLAIM = _claim_sql("outbox", "held IS NULL", "turn, due_at, id", _ENTRY)
_COMPLETE = "DELETE FROM outbox WHERE id = :id AND version = :version"
_UNCLAIM = (
    "UPDATE outbox SET claimed_by = NULL, lease_until = NULL WHERE id = :id AND claimed_by {same_as} :claimed_by::text"
)
_RETRY_LATER = _retry_later_sql("outbox")
_HOLD = "UPDATE outbox SET held = :held, hold_expires_at = :expires_at::float8 WHERE user_id = :user_id"
# Held rows whose wait is over (of one user, or of everyone when :user_id is NULL); each owner is then told at
# their next /account (_NOTE_EXPIRED: a notice row of kind EXPIRED_HOLDS_NOTICE).
_EXPIRE_HOLDS = (
    "DELETE FROM outbox WHERE held IS NOT NULL AND hold_expires_at IS NOT NULL AND hold_expires_at <= :at::float8"
    " AND (:user_id::bigint IS NULL OR user_id = :user_id::bigint) RETURNING user_id"
)
_NOTE_EXPIRED = (
    "INSERT INTO notices (user_id, kind, last_sent_at) VALUES (:user_id, :kind, :at)"
    " ON CONFLICT (user_id, kind) DO UPDATE SET last_sent_at = excluded.last_sent_at"
)
# Released rows take the member's next turns (_NEXT_TURN among the rows not held: :next_turn), one after another in
# the order they were queued; the turns they had date from when they were held.
_RELEASE = (
    "UPDATE outbox SET held = NULL, hold_expires_at = NULL, attempts = 0,"
    " due_at = {least}(outbox.due_at, :at::float8), turn = :next_turn::bigint + ranked.n"
    " FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY turn, id) - 1 AS n FROM outbox"
    " WHERE user_id = :user_id::bigint AND held IS NOT NULL) AS ranked WHERE outbox.id = ranked.id"
)
_RELEASED_TURN = (
    "SELECT {greatest}(COALESCE((SELECT MAX(turn) + 1 FROM outbox"  # noqa: S608
    f" WHERE user_id = :user_id::bigint AND held IS NULL), 0), {_TURN_NOW})"
)
_PENDING = f"SELECT {_ENTRY} FROM outbox WHERE user_id = :user_id ORDER BY created_at, id"  # noqa: S608 (constants)
_NEXT_DUE = _next_due_sql("outbox", "held IS NULL")
#: a stopping worker's claims, given up: in the outbox (ratings), in the mixtape's jobs (playlists)
_RELEASE_CLAIMS = "UPDATE outbox SET claimed_by = NULL, lease_until = NULL WHERE claimed_by = :process_id"
_RELEASE_MIXTAPE_CLAIMS = (
    "UPDATE mixtape_jobs SET claimed_by = NULL, lease_until = NULL WHERE claimed_by = :process_id AND done_at IS NULL"
)
# ---------------------------------------------------------------------- an operator's metrics
_WAITING = "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox WHERE held IS NULL"
_HELD_BY_REASON = "SELECT held, COUNT(*) AS n FROM outbox WHERE held IS NOT NULL GROUP BY held"
_ACCOUNTS_BY_STATUS = "SELECT status, COUNT(*) AS n FROM accounts GROUP BY status"
_ACTIVE_CLAIMS = "SELECT COUNT(*) FROM outbox WHERE claimed_by IS NOT NULL AND lease_until > :now::float8"

# ---------------------------------------------------------------------- the server mixtape
_MIXTAPE_JOB = (
    "id, guild_id, user_id, week_start, week_end, name, tracks, created_at, due_at, attempts, last_error,"
    " claimed_by, lease_until, sent_at, playlist_id, done_at"
)
_MIXTAPE_READY = "done_at IS NULL"
_MIXTAPE_JOIN = (
    "INSERT INTO mixtape_members (guild_id, user_id, guild_name, joined_at) VALUES (:guild_id, :user_id, :name, :at)"
    " ON CONFLICT (guild_id, user_id) DO UPDATE SET guild_name = excluded.guild_name RETURNING joined_at"
)
_MIXTAPE_MEMBERS = (
    "SELECT user_id, guild_name FROM mixtape_members WHERE guild_id = :guild_id ORDER BY joined_at, user_id"
)
_MIXTAPE_ENQUEUE = (
    "INSERT INTO mixtape_jobs (guild_id, user_id, week_start, week_end, name, tracks, created_at, due_at, attempts)"
    " VALUES (:guild_id, :user_id, :week_start::float8, :week_end::float8, :name, :tracks, :at::float8, :at::float8, 0)"
    " ON CONFLICT (guild_id, user_id, week_start) DO NOTHING RETURNING id"
)
_MIXTAPE_CLAIM = _claim_sql("mixtape_jobs", _MIXTAPE_READY, "due_at, id", _MIXTAPE_JOB)
_MIXTAPE_RETRY_LATER = _retry_later_sql("mixtape_jobs")
_MIXTAPE_NEXT_DUE = _next_due_sql("mixtape_jobs", _MIXTAPE_READY)
_MIXTAPE_SENT = (
    "UPDATE mixtape_jobs SET sent_at = :at::float8 WHERE id = :id AND claimed_by {same_as} :claimed_by::text"
)
_MIXTAPE_DONE = (
    "UPDATE mixtape_jobs SET done_at = :at::float8, playlist_id = :playlist_id, last_error = :error,"
    " claimed_by = NULL, lease_until = NULL WHERE id = :id AND claimed_by {same_as} :claimed_by::text"
)

# ---------------------------------------------------------------------- retention
_RECORD_DEPARTURE = (
    "INSERT INTO guild_departures (guild_id, left_at) VALUES (:guild_id, :at) ON CONFLICT (guild_id) DO NOTHING"
)
_DEPARTED = "SELECT guild_id FROM guild_departures WHERE left_at <= :before ORDER BY guild_id"
#: what is deleted about a server some days after the bot left it, the departure row last
_GUILD_TABLES = (
    "guild_share_channels",
    "guild_settings",
    "shared_messages",
    "taste_shares",
    "taste_votes",
    "taste_named",
    "mixtape_members",
    "mixtape_jobs",
    "pending_matches",
    "recap_settings",
    "closed_weeks",
    "guild_departures",
)

# ---------------------------------------------------------------------- running processes
_ANNOUNCE = (
    "INSERT INTO processes (id, host, pid, started_at, seen_at, key_fingerprints)"
    " VALUES (:id, :host, :pid, :started_at, :seen_at, :key_fingerprints)"
    " ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at, key_fingerprints = excluded.key_fingerprints"
)
_LIVE = (
    "SELECT id, host, pid, started_at, seen_at, key_fingerprints FROM processes WHERE seen_at >= :since"
    " ORDER BY started_at, id"
)
# One conditional write takes a bucket's identify turn: only when its last identify is at least :interval old
# (or stamped more than :interval in the future: a clock that went back must not block the bucket for good).
_TAKE_IDENTIFY_TURN = (
    "INSERT INTO identify_turns (bucket, identified_at) VALUES (:bucket, :at::float8)"
    " ON CONFLICT (bucket) DO UPDATE SET identified_at = excluded.identified_at"
    " WHERE identify_turns.identified_at <= :since::float8 OR identify_turns.identified_at > :until::float8"
    " RETURNING bucket"
)
_LAST_IDENTIFY = "SELECT identified_at FROM identify_turns WHERE bucket = :bucket"

# ---------------------------------------------------------------------- the shared Apple budget
_BUDGET = "SELECT rate, peak, epoch FROM apple_budget WHERE id = 1{for_update}"
_WRITE_BUDGET = (
    "INSERT INTO apple_budget (id, rate, peak, epoch, updated_at) VALUES (1, :rate, :peak::float8, :epoch, :now)"
    " ON CONFLICT (id) DO UPDATE SET rate = excluded.rate, peak = excluded.peak, epoch = excluded.epoch,"
    " updated_at = excluded.updated_at"
)
_JOIN_BUDGET = (
    "INSERT INTO apple_budget_members (process_id, seen_at) VALUES (:id, :now)"
    " ON CONFLICT (process_id) DO UPDATE SET seen_at = excluded.seen_at"
)


class SqlStore(Store):
    """Every :class:`Store` method, once, over the engine hooks listed in the module docstring."""

    #: Whether decrypted tokens may be kept in memory (``StoreOptions.token_cache_seconds``): only where this
    #: process is the only one using the database.
    caches_tokens: ClassVar[bool]

    def __init__(self, location: str, cipher: TokenCipher, *, clock: Clock, options: StoreOptions) -> None:
        self._location = location
        self._cipher = cipher
        self._clock = clock
        self._options = options
        self._closed = False
        # user_id -> decrypted token of an active account, invalidated by link, unlink and mark_stale.
        self._tokens: TTLCache[int, str] | None = None
        if self.caches_tokens and options.token_cache_seconds > 0:
            self._tokens = TTLCache(options.token_cache_size, options.token_cache_seconds, time.monotonic)
        # guild_id -> its share channels (every message and reaction asks).
        self._share_channels: dict[int, frozenset[int]] = {}

    @classmethod
    async def open(
        cls,
        target: str | Path,
        cipher: TokenCipher,
        *,
        clock: Clock = time.time,
        migrations: Sequence[Migration] | None = None,
        options: StoreOptions | None = None,
        migrate: bool = True,
    ) -> Self:
        """Open the database ``target`` (SQLite: a file path, its parent directories and the file created if
        needed; PostgreSQL: a DSN ``postgresql://user:password@host:port/database``) and migrate it.

        ``migrations`` defaults to the engine's shipped files (``bot/storage/migrations``, or its ``postgres``
        folder); tests pass a prefix of them to build an older database. ``options`` defaults to today's values.
        ``migrate=False`` only connects (``doctor`` looks at a database without changing it).
        """
        store = await cls._connect(str(target), cipher, clock=clock, options=options or StoreOptions())
        if not migrate:
            return store
        try:
            async with store._session() as db:
                version = await apply_migrations(db, migrations, database=store.location)
        except BaseException:
            await store.close()
            raise
        log.debug("Opened %r at schema version %d", store, version)
        return store

    @property
    def location(self) -> str:
        return self._location

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._tokens is not None:
            self._tokens.clear()
        await self._disconnect()

    # ------------------------------------------------------------------ engine hooks
    @classmethod
    @abstractmethod
    async def _connect(cls, target: str, cipher: TokenCipher, *, clock: Clock, options: StoreOptions) -> Self:
        """Connect to ``target`` and set the connection(s) up; raises :class:`StorageError` if it cannot."""

    @abstractmethod
    async def _disconnect(self) -> None:
        """Close the connection(s), letting a method that holds one finish first."""

    @abstractmethod
    def _connection(self) -> AbstractAsyncContextManager[Session]:
        """A connection for one public method (raises :class:`StorageError` once the store is closed)."""

    @abstractmethod
    def _fault(self, error: BaseException) -> tuple[StorageFault, str] | None:
        """If ``error`` (raised by the driver) means the database cannot be used right now: the fault, and a
        short reason in our own words (an error code, never the driver's message: it may quote a DSN)."""

    async def _after_fault(self, fault: StorageFault) -> None:
        """After a fault was raised as :class:`StoreUnavailable` (e.g. replace pooled connections)."""

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[Session]:
        """:meth:`_connection`, with every storage fault raised as :class:`StoreUnavailable` (the one place the
        engines' errors are translated). The fault's transaction was rolled back: nothing was written."""
        try:
            async with self._connection() as db:
                yield db
        except StorageError:
            raise
        except Exception as exc:
            found = self._fault(exc)
            if found is None:
                raise
            fault, reason = found
            await self._after_fault(fault)
            if self.on_fault is not None:
                self.on_fault(fault)
            raise StoreUnavailable(self.location, reason, fault) from None

    async def _scrub(self, db: Session) -> None:
        """After a committed transaction that deleted or replaced token ciphertexts: leave no copy behind."""

    async def _before_import(self, db: Session) -> None:
        """First thing in ``import_rows``' transaction (e.g. keep other writers out of the tables)."""

    async def _after_import(self, db: Session, spec: TableSpec) -> None:
        """After ``import_rows`` inserted ``spec``'s rows with their ids (advance its id generator if needed)."""

    # ------------------------------------------------------------------ helpers
    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.location}{' closed' if self._closed else ''}>"

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("the store is closed")

    def _now(self, now: float | None) -> float:
        return self._clock() if now is None else float(now)

    @asynccontextmanager
    async def _transaction(self, *, scrub: bool = False) -> AsyncIterator[Session]:
        """A session whose statements commit together; with ``scrub``, :meth:`_scrub` runs after the commit."""
        async with self._session() as db:
            async with db.transaction():
                yield db
            if scrub:
                await self._scrub(db)

    async def _one(self, sql: str, params: dict[str, Any]) -> Row | None:
        async with self._session() as db:
            return await db.one(sql, params)

    async def _rows(self, sql: str, params: dict[str, Any]) -> list[Row]:
        async with self._session() as db:
            return await db.rows(sql, params)

    async def _write(self, sql: str, params: dict[str, Any]) -> int:
        async with self._session() as db:
            return await db.write(sql, params)

    async def _value(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        async with self._session() as db:
            return await db.value(sql, params or {})

    def _forget_token(self, user_id: int) -> None:
        if self._tokens is not None:
            self._tokens.pop(user_id, None)

    # ------------------------------------------------------------------ lifecycle
    async def schema_version(self) -> int:
        async with self._session() as db:
            return await current_version(db)

    # ------------------------------------------------------------------ accounts
    async def link_account(self, user_id: int, token: str, storefront: str, *, now: float | None = None) -> Account:
        if not token:
            raise ValueError("the music user token is empty")
        at = self._now(now)
        encrypted = self._cipher.encrypt(token)
        async with self._transaction() as db:
            await self._lock_outbox_user(db, user_id)  # first, as enqueue does: neither waits for the other's rows
            self._forget_token(user_id)
            params = {"user_id": user_id, "token_enc": encrypted, "storefront": storefront, "at": at}
            await db.write(_LINK, params)
            # Linking is what makes waiting ratings go out: drop the expired holds, make the others due now.
            await self._expire_holds(db, at, user_id)
            next_turn = int(await db.value(_RELEASED_TURN, {"user_id": user_id}))
            released = await db.write(_RELEASE, {"user_id": user_id, "at": at, "next_turn": next_turn})
        if released:
            log.debug("Linking user %d released %d waiting ratings", user_id, released)
        return Account(user_id, storefront, at, at, AccountStatus.ACTIVE, False)

    async def get_account(self, user_id: int) -> Account | None:
        row = await self._one(_ACCOUNT, {"user_id": user_id})
        return Account.from_row(row) if row is not None else None

    async def get_user_token(self, user_id: int) -> str | None:
        if self._tokens is not None and (cached := self._tokens.get(user_id)) is not None:
            return cached
        async with self._session() as db:
            row = await db.one(_CIPHERTEXT, {"user_id": user_id})
            if row is None:
                return None
            token = self._cipher.decrypt_token(row["token_enc"], user_id)
            if self._tokens is not None:  # set while the session is held: no link or unlink in between
                self._tokens[user_id] = token
        return token

    async def touch_account(self, user_id: int, *, now: float | None = None) -> None:
        at = self._now(now)
        await self._write(_TOUCH, {"at": at, "user_id": user_id, "since": at - self._options.touch_interval})

    async def mark_stale(self, user_id: int) -> bool:
        async with self._transaction() as db:
            self._forget_token(user_id)
            changed = await db.write(_MARK_STALE, {"user_id": user_id})
            if await db.one(_ACCOUNT_EXISTS, {"user_id": user_id}) is not None:
                await db.write(_HOLD_STALE, {"user_id": user_id})
        if changed:
            log.info("Apple Music link of user %d is stale (token rejected)", user_id)
        return changed == 1

    async def mark_stale_notified(self, user_id: int) -> bool:
        return await self._write(_MARK_NOTIFIED, {"user_id": user_id}) == 1

    async def unlink(self, user_id: int) -> bool:
        async with self._transaction(scrub=True) as db:
            self._forget_token(user_id)
            counts = [
                await db.write(f"DELETE FROM {spec.name} WHERE {spec.user_column} = :user_id", {"user_id": user_id})  # noqa: S608
                for spec in USER_TABLES
            ]
        if counts[0]:
            log.info("Unlinked user %d and deleted their data", user_id)
        return counts[0] == 1

    async def rotate_keys(self) -> int:
        async with self._transaction(scrub=True) as db:
            rows = await db.rows(_ALL_TOKENS)
            updates = [
                {
                    "token_enc": self._cipher.rotate_token(row["token_enc"], int(row["user_id"])),
                    "user_id": row["user_id"],
                }
                for row in rows
            ]
            if updates:
                await db.write_many(_SET_CIPHERTEXT, updates)
        log.info("Re-encrypted %d stored tokens with the first key", len(updates))
        return len(updates)

    async def count_undecryptable_tokens(self) -> int:
        async with self._session() as db:
            rows = await db.rows("SELECT token_enc FROM accounts")
        bad = 0
        for row in rows:
            try:
                self._cipher.decrypt(row["token_enc"])
            except TokenDecryptError:
                bad += 1
        return bad

    # ------------------------------------------------------------------ link states
    async def create_link_state(
        self,
        key: str,
        user_id: int,
        expires_at: float,
        *,
        display_name: str | None = None,
        avatar_url: str | None = None,
        now: float | None = None,
    ) -> None:
        if not key:
            raise ValueError("empty link state key")
        params = {
            "key": key,
            "user_id": user_id,
            "at": self._now(now),
            "expires_at": float(expires_at),
            "display_name": display_name,
            "avatar_url": avatar_url,
        }
        if not await self._write(_CREATE_STATE, params):
            raise ValueError("this link state key already exists")

    async def get_link_state(self, key: str) -> LinkState | None:
        row = await self._one(_STATE, {"key": key})
        return LinkState.from_row(row) if row is not None else None

    async def count_link_attempt(self, key: str, max_attempts: int, now: float | None = None) -> int | None:
        rows = await self._rows(_COUNT_ATTEMPT, {"key": key, "at": self._now(now), "max_attempts": max_attempts})
        return int(rows[0]["attempts"]) if rows else None

    async def begin_link_signin(self, key: str, signin_hash: str, now: float | None = None) -> bool:
        return bool(await self._write(_BEGIN_SIGNIN, {"key": key, "at": self._now(now), "signin_hash": signin_hash}))

    async def finish_link_signin(
        self, key: str, signin_hash: str, browser_hash: str | None, now: float | None = None
    ) -> bool:
        params = {"key": key, "at": self._now(now), "signin_hash": signin_hash, "browser_hash": browser_hash}
        return bool(await self._write(_FINISH_SIGNIN, params))

    async def consume_link_state(self, key: str, user_id: int, now: float | None = None) -> LinkStateResult:
        at = self._now(now)
        async with self._session() as db:
            if await db.rows(_CONSUME_STATE, {"at": at, "key": key, "user_id": user_id}):
                return LinkStateResult.OK
            row = await db.one(_STATE, {"key": key})
        if row is None:
            return LinkStateResult.UNKNOWN
        if int(row["user_id"]) != user_id:
            return LinkStateResult.WRONG_USER
        if row["used_at"] is not None:
            return LinkStateResult.USED
        return LinkStateResult.EXPIRED

    async def pending_link(self, user_id: int, now: float | None = None) -> str | None:
        row = await self._one(_PENDING_STATE, {"user_id": user_id, "at": self._now(now)})
        return str(row["state_hash"]) if row is not None else None

    async def purge_expired_link_states(self, now: float | None = None) -> int:
        return await self._write("DELETE FROM link_states WHERE expires_at <= :at", {"at": self._now(now)})

    # ------------------------------------------------------------------ guild settings
    async def add_share_channel(self, guild_id: int, channel_id: int) -> bool:
        async with self._session() as db:
            added = await db.write(_ADD_CHANNEL, {"guild_id": guild_id, "channel_id": channel_id, "at": self._clock()})
            self._share_channels.pop(guild_id, None)
        return added == 1

    async def remove_share_channel(self, guild_id: int, channel_id: int) -> bool:
        async with self._session() as db:
            removed = await db.write(_REMOVE_CHANNEL, {"guild_id": guild_id, "channel_id": channel_id})
            self._share_channels.pop(guild_id, None)
        return removed == 1

    async def list_share_channels(self, guild_id: int) -> list[int]:
        return sorted(await self._load_share_channels(guild_id))

    async def is_share_channel(self, guild_id: int, channel_id: int) -> bool:
        cached = self._share_channels.get(guild_id)
        if cached is None:
            cached = await self._load_share_channels(guild_id)
        return channel_id in cached

    async def set_share_buttons(self, guild_id: int, on: bool) -> bool:
        return await self._set_switch("share_buttons", guild_id, on)

    async def share_buttons(self, guild_id: int) -> bool:
        return await self._switch("share_buttons", guild_id)

    async def set_listen_elsewhere(self, guild_id: int, on: bool) -> bool:
        return await self._set_switch("listen_elsewhere", guild_id, on)

    async def listen_elsewhere(self, guild_id: int) -> bool:
        return await self._switch("listen_elsewhere", guild_id)

    async def _set_switch(self, switch: str, guild_id: int, on: bool) -> bool:
        was = await self._switch(switch, guild_id)
        await self._write(_SET_SWITCH.format(switch=switch), {"guild_id": guild_id, "on": on, "at": self._clock()})
        return was != on

    async def _switch(self, switch: str, guild_id: int) -> bool:
        row = await self._one(_SWITCH.format(switch=switch), {"guild_id": guild_id})
        return _SWITCH_DEFAULTS[switch] if row is None else bool(row[switch])

    # ------------------------------------------------------------------ posts whose link waits to be matched
    async def add_pending_match(self, pending: PendingMatch, *, max_per_guild: int) -> bool:
        params = {
            "message_id": pending.message_id,
            "channel_id": pending.channel_id,
            "guild_id": pending.guild_id,
            "author_id": pending.author_id,
            "link": pending.link,
            "next_try_at": float(pending.next_try_at),
            "at": float(pending.created_at),
            "max_per_guild": int(max_per_guild),
        }
        return await self._write(_ADD_PENDING_MATCH, params) == 1

    async def due_pending_matches(self, now: float, *, limit: int) -> list[PendingMatch]:
        rows = await self._rows(_DUE_PENDING_MATCHES, {"now": float(now), "limit": int(limit)})
        return [PendingMatch.from_row(row) for row in rows]

    async def retry_pending_match(self, message_id: int, attempts: int, next_try_at: float) -> None:
        params = {"message_id": message_id, "attempts": attempts, "next_try_at": float(next_try_at)}
        await self._write(_RETRY_PENDING_MATCH, params)

    async def forget_pending_match(self, message_id: int) -> bool:
        return await self._write(_FORGET_PENDING_MATCH, {"message_id": message_id}) == 1

    async def purge_pending_matches(self, before: float) -> int:
        return await self._write("DELETE FROM pending_matches WHERE created_at < :before", {"before": float(before)})

    async def _load_share_channels(self, guild_id: int) -> frozenset[int]:
        async with self._session() as db:
            rows = await db.rows(_CHANNELS, {"guild_id": guild_id})
            channels = frozenset(int(r["channel_id"]) for r in rows)
            self._share_channels[guild_id] = channels
        return channels

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
        message = SharedMessage(message_id, channel_id, guild_id, item_type, item_id, self._now(created_at))
        await self._write(
            _RECORD_SHARED,
            {
                "message_id": message_id,
                "channel_id": channel_id,
                "guild_id": guild_id,
                "item_type": item_type,
                "item_id": item_id,
                "created_at": message.created_at,
            },
        )
        return message

    async def get_shared_message(self, message_id: int) -> SharedMessage | None:
        row = await self._one(_SHARED_MESSAGE, {"message_id": message_id})
        return SharedMessage.from_row(row) if row is not None else None

    async def recent_shared_messages(self, since: float, *, limit: int = 100) -> list[SharedMessage]:
        rows = await self._rows(_RECENT_SHARED, {"since": float(since), "limit": int(limit)})
        return [SharedMessage.from_row(r) for r in rows]

    async def forget_shared_messages(self, message_ids: Collection[int]) -> int:
        async with self._transaction() as db:
            ids = [{"message_id": int(m)} for m in sorted(set(message_ids))]
            for params in ids:  # a deleted post no longer counts in the server's tops either
                await db.write(_FORGET_TASTE_SHARE, params)
            for params in ids:
                await db.write(_FORGET_PENDING_MATCH, params)
            return sum([await db.write(_FORGET_SHARED, params) for params in ids])

    # ------------------------------------------------------------------ server taste
    async def record_share(
        self,
        message_id: int,
        guild_id: int,
        channel_id: int,
        sharer_id: int,
        item_type: str,
        item_id: str,
        now: float | None = None,
    ) -> None:
        _check_item(item_type, item_id)
        params = {"message_id": message_id, "guild_id": guild_id, "channel_id": channel_id, "sharer_id": sharer_id}
        await self._write(_RECORD_SHARE, params | {"item_type": item_type, "item_id": item_id, "now": self._now(now)})

    async def record_vote(
        self, guild_id: int, user_id: int, item_type: str, item_id: str, value: int, now: float | None = None
    ) -> None:
        if value not in (-1, 0, 1):
            raise ValueError(f"a vote is 1, -1 or 0, not {value!r}")
        params: dict[str, Any] = {"guild_id": guild_id, "user_id": user_id, "item_type": item_type, "item_id": item_id}
        if value == 0:
            await self._write(_DROP_VOTE, params)
        else:
            await self._write(_RECORD_VOTE, params | {"value": value, "now": self._now(now)})

    async def top_items(
        self,
        guild_id: int,
        since: float,
        until: float,
        *,
        channel_id: int | None = None,
        item_types: Collection[str] | None = None,
        limit: int = 10,
    ) -> list[TopItem]:
        where = ["guild_id = :guild_id", "shared_at >= :since", "shared_at < :until"]
        params: dict[str, Any] = {"guild_id": guild_id, "since": float(since), "until": float(until)}
        if channel_id is not None:
            where.append("channel_id = :channel_id")
            params["channel_id"] = channel_id
        if item_types is not None:
            kinds = sorted(set(item_types))
            if not kinds:
                return []
            where.append(f"item_type IN ({', '.join(f':kind{i}' for i in range(len(kinds)))})")
            params |= {f"kind{i}": kind for i, kind in enumerate(kinds)}
        sql = _TOP_ITEMS.format(where=" AND ".join(where))
        return [TopItem.from_row(row) for row in await self._rows(sql, params | {"limit": int(limit)})]

    async def top_sharers(self, guild_id: int, since: float, until: float, *, limit: int = 5) -> list[TopSharer]:
        params = {"guild_id": guild_id, "since": float(since), "until": float(until), "limit": int(limit)}
        return [TopSharer.from_row(row) for row in await self._rows(_TOP_SHARERS, params)]

    async def member_votes(self, guild_id: int, user_id: int) -> dict[tuple[str, str], int]:
        rows = await self._rows(_MEMBER_VOTES, {"guild_id": guild_id, "user_id": user_id})
        return {(str(row["item_type"]), str(row["item_id"])): int(row["value"]) for row in rows}

    async def set_taste_named(self, guild_id: int, user_id: int, on: bool, now: float | None = None) -> bool:
        params: dict[str, Any] = {"guild_id": guild_id, "user_id": user_id}
        if on:
            return await self._write(_NAME_ME, params | {"now": self._now(now)}) == 1
        return await self._write(_UNNAME_ME, params) == 1

    async def taste_named(self, guild_id: int, user_ids: Collection[int]) -> set[int]:
        wanted = sorted({int(u) for u in user_ids})
        if not wanted:
            return set()
        marks = ", ".join(f":user{i}" for i in range(len(wanted)))
        sql = f"SELECT user_id FROM taste_named WHERE guild_id = :guild_id AND user_id IN ({marks})"  # noqa: S608
        params: dict[str, Any] = {"guild_id": guild_id} | {f"user{i}": u for i, u in enumerate(wanted)}
        return {int(row["user_id"]) for row in await self._rows(sql, params)}

    async def purge_taste(self, before: float) -> int:
        async with self._transaction() as db:
            shares = await db.write("DELETE FROM taste_shares WHERE shared_at < :before", {"before": float(before)})
            votes = await db.write("DELETE FROM taste_votes WHERE voted_at < :before", {"before": float(before)})
            jobs = await db.write("DELETE FROM mixtape_jobs WHERE week_end < :before", {"before": float(before)})
        return shares + votes + jobs

    # ------------------------------------------------------------------ the server mixtape
    async def mixtape_join(self, guild_id: int, user_id: int, guild_name: str, now: float | None = None) -> bool:
        at = self._now(now)
        params = {"guild_id": guild_id, "user_id": user_id, "name": guild_name, "at": at}
        async with self._transaction() as db:
            rows = await db.rows(_MIXTAPE_JOIN, params)
            # the server's latest name, for every member's next playlists
            await db.write("UPDATE mixtape_members SET guild_name = :name WHERE guild_id = :guild_id", params)
        return bool(rows) and float(rows[0]["joined_at"]) == at

    async def mixtape_leave(self, guild_id: int, user_id: int) -> bool:
        params = {"guild_id": guild_id, "user_id": user_id}
        async with self._transaction() as db:
            left = await db.write(
                "DELETE FROM mixtape_members WHERE guild_id = :guild_id AND user_id = :user_id", params
            )
            await db.write(
                "DELETE FROM mixtape_jobs WHERE guild_id = :guild_id AND user_id = :user_id AND done_at IS NULL", params
            )
        return left == 1

    async def mixtape_members(self, guild_id: int) -> list[MixtapeMember]:
        return [
            MixtapeMember(int(r["user_id"]), str(r["guild_name"]))
            for r in await self._rows(_MIXTAPE_MEMBERS, {"guild_id": guild_id})
        ]

    async def mixtape_enqueue(
        self,
        guild_id: int,
        user_ids: Collection[int],
        week_start: float,
        week_end: float,
        name: str,
        tracks: Sequence[str],
        now: float | None = None,
    ) -> int:
        if not tracks:
            raise ValueError("a mixtape needs at least one track")
        at = self._now(now)
        base: dict[str, Any] = {"guild_id": guild_id, "week_start": float(week_start), "week_end": float(week_end)}
        base |= {"at": at, "name": name, "tracks": ",".join(tracks)}
        made = 0
        async with self._transaction() as db:
            for user_id in user_ids:
                made += len(await db.rows(_MIXTAPE_ENQUEUE, {**base, "user_id": int(user_id)}))
        return made

    async def mixtape_claim(
        self, worker_id: str, now: float | None = None, limit: int = 10, lease: float = 120.0
    ) -> list[MixtapeJob]:
        jobs = [MixtapeJob.from_row(r) for r in await self._claim(_MIXTAPE_CLAIM, worker_id, now, limit, lease)]
        return sorted(jobs, key=lambda j: (j.due_at, j.id))

    async def mixtape_sent(self, job: MixtapeJob, now: float | None = None) -> bool:
        params = {"at": self._now(now), "id": job.id, "claimed_by": job.claimed_by}
        return await self._write(_MIXTAPE_SENT, params) == 1

    async def mixtape_done(
        self, job: MixtapeJob, playlist_id: str | None, error: str | None = None, now: float | None = None
    ) -> bool:
        params = {
            "at": self._now(now),
            "playlist_id": playlist_id,
            "error": None if error is None else _short_error(error),
            "id": job.id,
            "claimed_by": job.claimed_by,
        }
        return await self._write(_MIXTAPE_DONE, params) == 1

    async def mixtape_retry_later(self, job: MixtapeJob, next_due_at: float, error: str) -> bool:
        params = {
            "error": _short_error(error),
            "due_at": float(next_due_at),
            "id": job.id,
            "claimed_by": job.claimed_by,
        }
        return await self._write(_MIXTAPE_RETRY_LATER, params) == 1

    async def mixtape_next_due(self) -> float | None:
        value = await self._value(_MIXTAPE_NEXT_DUE)
        return None if value is None else float(value)

    async def mixtape_jobs(self, guild_id: int) -> list[MixtapeJob]:
        sql = f"SELECT {_MIXTAPE_JOB} FROM mixtape_jobs WHERE guild_id = :guild_id ORDER BY id"  # noqa: S608
        return [MixtapeJob.from_row(r) for r in await self._rows(sql, {"guild_id": guild_id})]

    # ------------------------------------------------------------------ the weekly recap
    async def set_recap(
        self,
        guild_id: int,
        channel_id: int | None,
        weekday: int,
        hour: int,
        timezone: str,
        now: float | None = None,
    ) -> RecapSettings:
        settings = RecapSettings(guild_id, channel_id, int(weekday), int(hour), timezone, self._now(now))
        params = {"guild_id": guild_id, "channel_id": channel_id, "weekday": settings.weekday, "hour": settings.hour}
        await self._write(_SET_RECAP, params | {"timezone": timezone, "now": settings.updated_at})
        return settings

    async def recap_settings(self, guild_id: int) -> RecapSettings | None:
        row = await self._one(_RECAP + " WHERE guild_id = :guild_id", {"guild_id": guild_id})
        return RecapSettings.from_row(row) if row is not None else None

    async def all_recap_settings(self) -> list[RecapSettings]:
        return [RecapSettings.from_row(row) for row in await self._rows(_RECAP + " ORDER BY guild_id", {})]

    async def shared_guilds(self, since: float) -> list[int]:
        return [int(row["guild_id"]) for row in await self._rows(_SHARED_GUILDS, {"since": float(since)})]

    async def claim_week(
        self, guild_id: int, week_label: str, week_end: float, worker_id: str, lease: float, now: float | None = None
    ) -> bool:
        at = self._now(now)
        params = {"guild_id": guild_id, "week_label": week_label, "week_end": float(week_end), "worker": worker_id}
        return bool(await self._rows(_CLAIM_WEEK, params | {"lease_until": at + float(lease), "now": at}))

    async def close_week(
        self, guild_id: int, week_label: str, worker_id: str, message_id: int | None, now: float | None = None
    ) -> bool:
        params = {"guild_id": guild_id, "week_label": week_label, "worker": worker_id, "message_id": message_id}
        return await self._write(_CLOSE_WEEK, params | {"now": self._now(now)}) == 1

    async def closed_week(self, guild_id: int, week_label: str) -> ClosedWeek | None:
        row = await self._one(_CLOSED_WEEK, {"guild_id": guild_id, "week_label": week_label})
        return ClosedWeek.from_row(row) if row is not None else None

    async def purge_closed_weeks(self, before: float) -> int:
        return await self._write("DELETE FROM closed_weeks WHERE week_end < :before", {"before": float(before)})

    # ------------------------------------------------------------------ rating intents
    async def record_intent(
        self, user_id: int, item_type: str, item_id: str, value: int, now: float | None = None
    ) -> None:
        await self._write(_RECORD_INTENT, _intent_params(user_id, item_type, item_id, value, self._now(now)))

    async def get_intent(self, user_id: int, item_type: str, item_id: str) -> int | None:
        row = await self._one(_INTENT, {"user_id": user_id, "item_type": item_type, "item_id": item_id})
        return int(row["value"]) if row is not None else None

    async def purge_unshared_intents(self) -> int:
        return await self._write(_PURGE_UNSHARED_INTENTS, {})

    # ------------------------------------------------------------------ notices
    async def claim_notice(self, user_id: int, kind: str, now: float | None = None, interval: float = 86400.0) -> bool:
        at = self._now(now)
        params = {"user_id": user_id, "kind": kind, "at": at, "since": at - float(interval)}
        return bool(await self._rows(_CLAIM_NOTICE, params))

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
        max_per_user: int | None = None,
    ) -> OutboxEntry:
        intent = _intent_params(user_id, item_type, item_id, value, self._now(now))
        if debounce < 0 or max_delay < 0:
            raise ValueError("debounce and max_delay must not be negative")
        if max_per_user is not None and max_per_user < 1:
            raise ValueError("max_per_user must be at least 1")
        held = HoldReason(hold).value if hold is not None else None
        at = float(intent["now"])
        params = {
            **intent,
            "first_due": at + min(debounce, max_delay),
            "debounced": at + debounce,
            "max_delay": float(max_delay),
            "held": held,
            "hold_expires_at": None if held is None or hold_expires_at is None else float(hold_expires_at),
            "max_per_user": None if max_per_user is None else int(max_per_user),
        }
        async with self._transaction() as db:
            await self._lock_outbox_user(db, user_id)
            rows = await db.rows(_ENQUEUE, params)
            if not rows:  # a new item over the member's ceiling: nothing was written
                raise TooManyWaiting(int(max_per_user or 0))
            await db.write(_RECORD_INTENT, intent)
        return OutboxEntry.from_row(rows[0])

    @staticmethod
    async def _lock_outbox_user(db: Session, user_id: int) -> None:
        """In ``db``'s transaction, before counting or numbering a member's outbox rows: wait for any other
        transaction doing so for the same member (PostgreSQL; SQLite admits one writer at a time anyway)."""
        if db.dialect.fragments["outbox_user_lock"]:
            await db.write("{outbox_user_lock}", {"user_id": user_id})

    async def claim_due(
        self, worker_id: str, now: float | None = None, limit: int = 100, lease: float = 60.0
    ) -> list[OutboxEntry]:
        entries = [OutboxEntry.from_row(r) for r in await self._claim(_CLAIM, worker_id, now, limit, lease)]
        entries.sort(key=lambda e: (e.turn, e.due_at, e.id))
        return entries

    async def _claim(self, sql: str, worker_id: str, now: float | None, limit: int, lease: float) -> list[Row]:
        """The rows one claim statement (``_claim_sql``) took for ``worker_id`` until ``now + lease``."""
        if not worker_id:
            raise ValueError("worker_id must not be empty")
        if limit <= 0:
            return []
        at = self._now(now)
        return await self._rows(sql, {"worker": worker_id, "lease_until": at + float(lease), "now": at, "limit": limit})

    async def complete(self, entry: OutboxEntry, applied_version: int | None = None) -> bool:
        version = entry.version if applied_version is None else int(applied_version)
        async with self._session() as db:
            if await db.write(_COMPLETE, {"id": entry.id, "version": version}):
                return True
            # A newer desired state arrived while we were applying: keep it, release our claim.
            await db.write(_UNCLAIM, {"id": entry.id, "claimed_by": entry.claimed_by})
        return False

    async def retry_later(self, entry: OutboxEntry, next_due_at: float, error: str) -> bool:
        params = {
            "error": _short_error(error),
            "due_at": float(next_due_at),
            "id": entry.id,
            "claimed_by": entry.claimed_by,
        }
        return await self._write(_RETRY_LATER, params) == 1

    async def hold_user(self, user_id: int, reason: HoldReason | str, *, hold_expires_at: float | None = None) -> int:
        held = HoldReason(reason).value
        expires_at = None if hold_expires_at is None else float(hold_expires_at)
        return await self._write(_HOLD, {"held": held, "expires_at": expires_at, "user_id": user_id})

    async def purge_expired_holds(self, now: float | None = None, *, user_id: int | None = None) -> int:
        async with self._transaction() as db:
            return await self._expire_holds(db, self._now(now), user_id)

    async def _expire_holds(self, db: Session, at: float, user_id: int | None = None) -> int:
        """Delete the held rows whose wait is over (of ``user_id``, or everyone's) and note, for each owner, that
        their next ``/account`` says so. Runs in the caller's transaction; returns rows deleted."""
        rows = await db.rows(_EXPIRE_HOLDS, {"at": at, "user_id": user_id})
        owners = sorted({int(row["user_id"]) for row in rows})
        if owners:
            await db.write_many(
                _NOTE_EXPIRED, [{"user_id": owner, "kind": EXPIRED_HOLDS_NOTICE, "at": at} for owner in owners]
            )
        return len(rows)

    async def pending_for_user(self, user_id: int) -> list[OutboxEntry]:
        return [OutboxEntry.from_row(r) for r in await self._rows(_PENDING, {"user_id": user_id})]

    async def outbox_size(self) -> int:
        return int(await self._value("SELECT COUNT(*) FROM outbox"))

    async def health_counts(self, now: float | None = None) -> StoreCounts:
        async with self._session() as db:
            waiting = await db.one(_WAITING, {})
            held = await db.rows(_HELD_BY_REASON, {})
            accounts = await db.rows(_ACCOUNTS_BY_STATUS, {})
        oldest = None if waiting is None else waiting["oldest"]
        return StoreCounts(
            outbox_waiting=0 if waiting is None else int(waiting["n"]),
            oldest_waiting_seconds=0.0 if oldest is None else max(0.0, self._now(now) - float(oldest)),
            held={str(row["held"]): int(row["n"]) for row in held},
            accounts={str(row["status"]): int(row["n"]) for row in accounts},
        )

    async def ping(self) -> None:
        await self._value("SELECT 1")

    async def next_due_at(self) -> float | None:
        value = await self._value(_NEXT_DUE)
        return None if value is None else float(value)

    async def release_claims(self, process_id: str) -> int:
        if not process_id:
            raise ValueError("process_id must not be empty")
        async with self._transaction() as db:
            released = await db.write(_RELEASE_CLAIMS, {"process_id": process_id})
            if released and db.dialect.fragments["outbox_released_notify"]:
                await db.write("{outbox_released_notify}", {})  # delivered at commit
        return released

    async def release_mixtape_claims(self, worker_id: str) -> int:
        if not worker_id:
            raise ValueError("worker_id must not be empty")
        return await self._write(_RELEASE_MIXTAPE_CLAIMS, {"process_id": worker_id})

    # ------------------------------------------------------------------ running processes
    async def announce_process(self, process: ProcessRecord) -> None:
        if any(not f or "," in f for f in process.key_fingerprints):
            raise ValueError("a key fingerprint is a non-empty text without commas")
        params = {
            "id": process.id,
            "host": process.host,
            "pid": process.pid,
            "started_at": process.started_at,
            "seen_at": process.seen_at,
            "key_fingerprints": ",".join(process.key_fingerprints),
        }
        await self._write(_ANNOUNCE, params)

    async def retire_process(self, process_id: str) -> bool:
        return await self._write("DELETE FROM processes WHERE id = :id", {"id": process_id}) == 1

    async def live_processes(self, since: float) -> list[ProcessRecord]:
        return [ProcessRecord.from_row(r) for r in await self._rows(_LIVE, {"since": float(since)})]

    async def purge_stale_processes(self, before: float) -> int:
        return await self._write("DELETE FROM processes WHERE seen_at < :before", {"before": float(before)})

    async def take_identify_turn(self, bucket: int, interval: float, now: float | None = None) -> float | None:
        at = self._now(now)
        params = {"bucket": int(bucket), "at": at, "since": at - float(interval), "until": at + float(interval)}
        async with self._transaction() as db:
            if await db.rows(_TAKE_IDENTIFY_TURN, params):
                return None
            last = await db.value(_LAST_IDENTIFY, {"bucket": int(bucket)})
        return float(last)

    # ------------------------------------------------------------------ the shared Apple budget
    async def share_apple_budget(
        self, process_id: str, merge: BudgetMerge, *, now: float, live_since: float
    ) -> tuple[BudgetRow, int]:
        async with self._transaction() as db:
            row = await db.one(_BUDGET)
            shared = None if row is None else (float(row["rate"]), _float_or_none(row["peak"]), int(row["epoch"]))
            rate, peak, epoch = merge(shared)
            await db.write(_WRITE_BUDGET, {"rate": float(rate), "peak": peak, "epoch": int(epoch), "now": now})
            await db.write(_JOIN_BUDGET, {"id": process_id, "now": now})
            await db.write("DELETE FROM apple_budget_members WHERE seen_at < :since", {"since": live_since})
            members = int(await db.value("SELECT COUNT(*) FROM apple_budget_members"))
        return (float(rate), peak, int(epoch)), members

    async def leave_apple_budget(self, process_id: str) -> None:
        await self._write("DELETE FROM apple_budget_members WHERE process_id = :id", {"id": process_id})

    # ------------------------------------------------------------------ retention and members' data
    async def purge_shared_messages(self, before: float) -> int:
        return await self._write("DELETE FROM shared_messages WHERE created_at < :before", {"before": float(before)})

    async def purge_notices(self, before: float) -> int:
        return await self._write("DELETE FROM notices WHERE last_sent_at < :before", {"before": float(before)})

    async def take_notice(self, user_id: int, kind: str) -> bool:
        params = {"user_id": user_id, "kind": kind}
        return await self._write("DELETE FROM notices WHERE user_id = :user_id AND kind = :kind", params) > 0

    async def record_guild_departure(self, guild_id: int, now: float | None = None) -> bool:
        return await self._write(_RECORD_DEPARTURE, {"guild_id": guild_id, "at": self._now(now)}) == 1

    async def cancel_guild_departure(self, guild_id: int) -> bool:
        return await self._write("DELETE FROM guild_departures WHERE guild_id = :guild_id", {"guild_id": guild_id}) == 1

    async def known_guilds(self) -> set[int]:
        kept = [t for t in _GUILD_TABLES if t != "guild_departures"]
        union = " UNION ".join(f"SELECT guild_id FROM {t} WHERE guild_id IS NOT NULL" for t in kept)  # noqa: S608
        sql = f"SELECT guild_id FROM ({union}) AS known WHERE guild_id NOT IN (SELECT guild_id FROM guild_departures)"  # noqa: S608
        return {int(row["guild_id"]) for row in await self._rows(sql, {})}

    async def purge_departed_guilds(self, left_before: float) -> list[int]:
        async with self._transaction() as db:
            guilds = [int(row["guild_id"]) for row in await db.rows(_DEPARTED, {"before": float(left_before)})]
            for table in _GUILD_TABLES if guilds else ():
                sql = f"DELETE FROM {table} WHERE guild_id = :guild_id"  # noqa: S608 (constant names)
                await db.write_many(sql, [{"guild_id": guild} for guild in guilds])
            for guild in guilds:
                self._share_channels.pop(guild, None)
        return guilds

    async def user_rows(self, user_id: int) -> dict[str, list[RawRow]]:
        found: dict[str, list[RawRow]] = {}
        async with self._session() as db:
            for spec in USER_TABLES:
                select = f"SELECT {', '.join(spec.column_names)} FROM {spec.name}"  # noqa: S608 (from TABLES)
                where = f" WHERE {spec.user_column} = :user_id ORDER BY {', '.join(spec.key)}"
                rows = await db.rows(select + where, {"user_id": user_id})
                found[spec.name] = [spec.normalize({name: row[name] for name in spec.column_names}) for row in rows]
        return found

    # ------------------------------------------------------------------ raw rows (copy-db)
    async def count_rows(self, table: str) -> int:
        return int(await self._value(_count_sql(table_spec(table))))

    async def count_active_claims(self, now: float | None = None) -> int:
        return int(await self._value(_ACTIVE_CLAIMS, {"now": self._now(now)}))

    async def export_rows(self, table: str, *, batch: int = 2000) -> AsyncIterator[list[RawRow]]:
        spec = table_spec(table)
        kinds = dict(spec.columns)
        order = [("{insertion_order}", "int")] if spec.insertion_ordered else [(c, kinds[c]) for c in spec.key]
        keys = ", ".join(column for column, _ in order)
        aliases = ", ".join(f"{column} AS _key{i}" for i, (column, _) in enumerate(order))
        select = f"SELECT {', '.join(spec.column_names)}, {aliases} FROM {spec.name}"  # noqa: S608 (from TABLES)
        last_key = ", ".join(f":_key{i}::{CAST_TYPES[kind]}" for i, (_, kind) in enumerate(order))
        first_page = f"{select} ORDER BY {keys} LIMIT :batch"
        next_page = f"{select} WHERE ({keys}) > ({last_key}) ORDER BY {keys} LIMIT :batch"

        async def fetch(last: tuple[Any, ...] | None) -> list[Row]:
            if last is None:
                return await self._rows(first_page, {"batch": batch})
            return await self._rows(next_page, {"batch": batch, **{f"_key{i}": v for i, v in enumerate(last)}})

        async for rows in keyset_pages(spec, batch, len(order), fetch):
            yield rows

    async def import_rows(self, batches: AsyncIterable[tuple[str, Sequence[RawRow]]]) -> dict[str, int]:
        counts = {spec.name: 0 for spec in TABLES}
        async with self._transaction() as db:
            await self._before_import(db)
            existing = {spec.name: int(await db.value(_count_sql(spec))) for spec in TABLES}
            if any(existing.values()):
                raise TargetNotEmpty(self.location, existing)
            async for table, rows in batches:
                spec = table_spec(table)
                if rows:
                    await db.write_many(_insert_sql(spec), [spec.normalize(row) for row in rows])
                    counts[spec.name] += len(rows)
            for spec in TABLES:
                await self._after_import(db, spec)
                if int(await db.value(_count_sql(spec))) != counts[spec.name]:
                    raise StorageError(f"the copy into {spec.name} did not insert every row; rolled back")
            if self._tokens is not None:
                self._tokens.clear()
            self._share_channels.clear()
        return counts


def _count_sql(spec: TableSpec) -> str:
    return f"SELECT COUNT(*) FROM {spec.name}"  # noqa: S608 (names from TABLES)


def _insert_sql(spec: TableSpec) -> str:
    """INSERT of every column of ``spec``, typed; identity values are kept."""
    values = ", ".join(f":{name}::{CAST_TYPES[kind]}" for name, kind in spec.columns)
    keep = "{keep_identity}" if spec.identity is not None else ""
    return f"INSERT INTO {spec.name} ({', '.join(spec.column_names)}){keep} VALUES ({values})"  # noqa: S608


def _check_item(item_type: str, item_id: str) -> None:
    if not item_type or not item_id:
        raise ValueError("item_type and item_id must not be empty")


def _intent_params(user_id: int, item_type: str, item_id: str, value: int, now: float) -> dict[str, Any]:
    """A checked rating intent, as the parameters of ``_RECORD_INTENT``."""
    _check_item(item_type, item_id)
    if value not in (-1, 0, 1) or isinstance(value, bool):
        raise ValueError("a rating value is 1 (like), -1 (dislike) or 0 (clear)")
    return {"user_id": user_id, "item_type": item_type, "item_id": item_id, "value": int(value), "now": now}


def _short_error(error: str) -> str:
    text = _SECRETISH.sub("[redacted]", " ".join(str(error).split()))
    return text if len(text) <= MAX_ERROR_LENGTH else text[: MAX_ERROR_LENGTH - 1] + "…"


def _float_or_none(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]
