"""The one storage interface the rest of the bot uses. No SQL lives outside ``bot/storage/``.

Conventions for every backend:

* All methods are coroutines; every write is committed before the method returns.
* Times are float seconds since the Unix epoch (UTC). Methods that take ``now`` use the store's clock when
  it is omitted (``open_store(..., clock=...)`` injects one for tests).
* Discord ids are ints; Apple item types are the API's type segment (``"songs"``, ``"albums"``,
  ``"library-songs"``...) and item ids are strings.
* Nothing returned, raised or logged contains a music user token or key material.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterable, AsyncIterator, Callable, Collection, Sequence
from types import TracebackType
from typing import Self, TypeAlias

from bot.storage.errors import StorageFault
from bot.storage.models import (
    Account,
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
    SharedMessage,
    StoreCounts,
    TopItem,
    TopSharer,
)

#: A raw table row as ``copy-db`` moves it between engines: column name → ``bytes``, ``int``, ``float``, ``str``,
#: ``bool`` or ``None`` (see :mod:`bot.storage.transfer`).
RawRow: TypeAlias = dict[str, object]
#: The store's clock: float seconds since the Unix epoch (``time.time``; tests inject a fake one).
Clock: TypeAlias = Callable[[], float]
#: The Apple budget the processes on one database share: (requests per second, rate of the last 429 or None,
#: decreases so far).
BudgetRow: TypeAlias = tuple[float, float | None, int]
#: Given the shared row (None before any process wrote one), the row to write.
BudgetMerge: TypeAlias = Callable[[BudgetRow | None], BudgetRow]


class Store(ABC):
    """Accounts, link states, guild settings, shared messages, notices, the ratings outbox and running processes."""

    #: Called with the fault each time a call raises :class:`~bot.storage.errors.StoreUnavailable` (the process's
    #: metrics count them); None: nobody is told.
    on_fault: Callable[[StorageFault], None] | None = None

    # ------------------------------------------------------------------ lifecycle
    @abstractmethod
    async def close(self) -> None:
        """Close the connection(s). Idempotent."""

    @abstractmethod
    async def schema_version(self) -> int:
        """The schema version the database is at (for ``check``)."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ------------------------------------------------------------------ accounts
    @abstractmethod
    async def link_account(self, user_id: int, token: str, storefront: str, *, now: float | None = None) -> Account:
        """Insert or replace the user's account (status active, token encrypted).

        In the same transaction, the user's held outbox rows (``unlinked`` within their expiry, ``stale``)
        are released and become due: linking is what makes waiting ratings go out.
        """

    @abstractmethod
    async def get_account(self, user_id: int) -> Account | None: ...

    @abstractmethod
    async def get_user_token(self, user_id: int) -> str | None:
        """The decrypted music user token of an *active* account; ``None`` if not linked or stale.

        SQLite (one process) caches it in memory for a short time (``StoreOptions.token_cache_seconds``),
        invalidated by link, unlink and mark_stale. PostgreSQL reads it every time, by design: another process
        may have unlinked or marked the account stale.
        Raises :class:`~bot.storage.errors.TokenDecryptError` if no configured key can decrypt it.
        """

    @abstractmethod
    async def touch_account(self, user_id: int, *, now: float | None = None) -> None:
        """Record use (``last_used``). Cheap: writes at most once a minute per user."""

    @abstractmethod
    async def mark_stale(self, user_id: int) -> bool:
        """Mark the account stale (Apple rejected its token) and hold its outbox rows as ``stale``.

        Returns True only on the active→stale transition, so the user is told once.
        """

    @abstractmethod
    async def mark_stale_notified(self, user_id: int) -> bool:
        """Remember that the user was told their link is stale (e.g. the DM went through)."""

    @abstractmethod
    async def unlink(self, user_id: int) -> bool:
        """Delete the account and everything kept about the user (outbox rows, rating intents, link states,
        notices).

        Afterwards no trace of the token remains in the database files. True if an account existed.
        """

    @abstractmethod
    async def rotate_keys(self) -> int:
        """Re-encrypt every stored token with the cipher's first key; returns the number of rows."""

    @abstractmethod
    async def count_undecryptable_tokens(self) -> int:
        """How many stored tokens no configured key can decrypt (for ``check``); 0 when all is well."""

    # ------------------------------------------------------------------ link states
    # A link state is found by its ``key``: the SHA-256 (hex) of the state in the link's URL, which the linking
    # service computes. The store never sees the state itself.
    @abstractmethod
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
        """Store a one-time link (with the member's name and avatar to show on the page). ``ValueError`` if the
        key already exists."""

    @abstractmethod
    async def get_link_state(self, key: str) -> LinkState | None:
        """The link state of ``key`` (used, expired or not), or None."""

    @abstractmethod
    async def count_link_attempt(self, key: str, max_attempts: int, now: float | None = None) -> int | None:
        """Spend one of the link's ``max_attempts`` tries; returns the try's number (1, 2...).

        Atomic across processes: of concurrent callers at most ``max_attempts`` in all ever get a number. None
        when the link is unknown, used, expired or has no try left.
        """

    @abstractmethod
    async def begin_link_signin(self, key: str, signin_hash: str, now: float | None = None) -> bool:
        """Record the digest of a Discord sign-in started for an open link (it replaces an earlier one)."""

    @abstractmethod
    async def finish_link_signin(
        self, key: str, signin_hash: str, browser_hash: str | None, now: float | None = None
    ) -> bool:
        """End the sign-in ``signin_hash`` of an open link, once: True if it was the link's current sign-in.

        ``browser_hash`` (when not None) becomes the link's browser: the one that proved to be the member.
        """

    @abstractmethod
    async def consume_link_state(self, key: str, user_id: int, now: float | None = None) -> LinkStateResult:
        """Use a link once. Atomic: of concurrent consumers (any process) exactly one gets OK.

        A consume by the wrong user does not use the link up.
        """

    @abstractmethod
    async def pending_link(self, user_id: int, now: float | None = None) -> str | None:
        """The key of the user's latest unexpired, unused link, if any."""

    @abstractmethod
    async def purge_expired_link_states(self, now: float | None = None) -> int: ...

    # ------------------------------------------------------------------ guild settings
    @abstractmethod
    async def add_share_channel(self, guild_id: int, channel_id: int) -> bool:
        """True if the channel was not a share channel before."""

    @abstractmethod
    async def remove_share_channel(self, guild_id: int, channel_id: int) -> bool:
        """True if the channel was a share channel."""

    @abstractmethod
    async def list_share_channels(self, guild_id: int) -> list[int]: ...

    @abstractmethod
    async def is_share_channel(self, guild_id: int, channel_id: int) -> bool:
        """Hot path (every message/reaction): answered from an in-memory cache after the first call."""

    @abstractmethod
    async def set_share_buttons(self, guild_id: int, on: bool) -> bool:
        """Turn the server's /share buttons on or off; True if that changed the setting."""

    @abstractmethod
    async def share_buttons(self, guild_id: int) -> bool:
        """Whether the server's /share cards carry Like / Dislike buttons (off unless turned on)."""

    @abstractmethod
    async def set_listen_elsewhere(self, guild_id: int, on: bool) -> bool:
        """Turn the server's "Listen on other services" buttons on or off; True if that changed the setting."""

    @abstractmethod
    async def listen_elsewhere(self, guild_id: int) -> bool:
        """Whether cards of songs shared in the server carry a "Listen on other services" button (on unless
        turned off)."""

    # ------------------------------------------------------------------ posts whose link waits to be matched
    @abstractmethod
    async def add_pending_match(self, pending: PendingMatch, *, max_per_guild: int) -> bool:
        """Keep a post whose link could not be matched yet; False when the server already has ``max_per_guild``
        waiting (nothing kept) or the post is already kept."""

    @abstractmethod
    async def due_pending_matches(self, now: float, *, limit: int) -> list[PendingMatch]:
        """The waiting posts due at ``now``, the longest due first."""

    @abstractmethod
    async def retry_pending_match(self, message_id: int, attempts: int, next_try_at: float) -> None: ...

    @abstractmethod
    async def forget_pending_match(self, message_id: int) -> bool: ...

    @abstractmethod
    async def purge_pending_matches(self, before: float) -> int:
        """Drop the waiting posts kept since before ``before``."""

    # ------------------------------------------------------------------ shared messages
    @abstractmethod
    async def record_shared_message(
        self,
        message_id: int,
        channel_id: int,
        guild_id: int | None,
        item_type: str,
        item_id: str,
        created_at: float | None = None,
    ) -> SharedMessage:
        """Remember which item a message shares (insert or replace)."""

    @abstractmethod
    async def get_shared_message(self, message_id: int) -> SharedMessage | None: ...

    @abstractmethod
    async def recent_shared_messages(self, since: float, *, limit: int = 100) -> list[SharedMessage]:
        """Messages recorded at or after ``since``, newest first."""

    @abstractmethod
    async def forget_shared_messages(self, message_ids: Collection[int]) -> int:
        """Drop the records of these messages (deleted, or edited to share something else): reactions on them
        rate nothing any more. Returns the records deleted."""

    # ------------------------------------------------------------------ server taste
    # Who shared what in a server, members' current votes (like 1 / dislike -1) on items shared there, and who chose
    # to be named in the server's tops. Periods are half-open: ``since <= shared_at < until``.
    @abstractmethod
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
        """Remember that ``sharer_id`` shared the item in the server with this post (insert or replace)."""

    @abstractmethod
    async def record_vote(
        self, guild_id: int, user_id: int, item_type: str, item_id: str, value: int, now: float | None = None
    ) -> None:
        """The member's current vote on an item shared in the server: 1, -1, or 0 (no vote: the row goes)."""

    @abstractmethod
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
        """Items first shared in the server (in the channel, if given) in the period that have at least one vote,
        by net likes, then likes, then the earliest share; each with its first share in the period."""

    @abstractmethod
    async def top_sharers(self, guild_id: int, since: float, until: float, *, limit: int = 5) -> list[TopSharer]:
        """Who shared in the server in the period: by the net likes of what they shared, then how much."""

    @abstractmethod
    async def member_votes(self, guild_id: int, user_id: int) -> dict[tuple[str, str], int]:
        """The member's current votes in the server: (item type, item id) -> 1 or -1."""

    @abstractmethod
    async def set_taste_named(self, guild_id: int, user_id: int, on: bool, now: float | None = None) -> bool:
        """The member chooses (``on``) or stops choosing to be named in the server's tops; True if that changed."""

    @abstractmethod
    async def taste_named(self, guild_id: int, user_ids: Collection[int]) -> set[int]:
        """Which of these members chose to be named in the server's tops."""

    @abstractmethod
    async def purge_taste(self, before: float) -> int:
        """Delete shares recorded and votes last changed before ``before`` (``TASTE_DAYS``). Returns rows deleted."""

    # ------------------------------------------------------------------ the server mixtape
    # Members who joined a server's weekly mixtape, and one durable job per (server, member, week) making that week's
    # playlist in the member's library: claimed with a lease and retried with backoff like the outbox.
    @abstractmethod
    async def mixtape_join(self, guild_id: int, user_id: int, guild_name: str, now: float | None = None) -> bool:
        """The member joins the server's mixtape (the server's name is kept for the playlists' names: every join
        updates it for all of the server's members). True if they were not a member yet."""

    @abstractmethod
    async def mixtape_leave(self, guild_id: int, user_id: int) -> bool:
        """The member leaves: their membership and their jobs of the server not yet done are deleted."""

    @abstractmethod
    async def mixtape_members(self, guild_id: int) -> list[MixtapeMember]:
        """The server's members who joined, first joined first."""

    @abstractmethod
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
        """One job per member for the week starting ``week_start``, due now; a (server, member, week) that already
        has a job (waiting or done) gets none. Returns jobs created."""

    @abstractmethod
    async def mixtape_claim(
        self, worker_id: str, now: float | None = None, limit: int = 10, lease: float = 120.0
    ) -> list[MixtapeJob]:
        """Atomically claim up to ``limit`` jobs not done, due and not leased, oldest due first (as ``claim_due``)."""

    @abstractmethod
    async def mixtape_sent(self, job: MixtapeJob, now: float | None = None) -> bool:
        """Note, before sending it, that a create of the job's playlist is on its way. False: the claim was lost."""

    @abstractmethod
    async def mixtape_done(
        self, job: MixtapeJob, playlist_id: str | None, error: str | None = None, now: float | None = None
    ) -> bool:
        """Finish the job: the playlist made, or None and why not. False: the claim was lost (or the job is gone)."""

    @abstractmethod
    async def mixtape_retry_later(self, job: MixtapeJob, next_due_at: float, error: str) -> bool:
        """Count a failed attempt and release the claim (as ``retry_later``)."""

    @abstractmethod
    async def mixtape_next_due(self) -> float | None:
        """When the next job not done becomes claimable, or None."""

    @abstractmethod
    async def mixtape_jobs(self, guild_id: int) -> list[MixtapeJob]:
        """The server's jobs, done or not, in the order they were made."""

    # ------------------------------------------------------------------ the weekly recap
    # A server's recap settings, and the weeks that closed: each (server, week) is claimed by one process with a
    # lease, and marked closed once its recap was posted (another process takes it over if the lease runs out).
    @abstractmethod
    async def set_recap(
        self,
        guild_id: int,
        channel_id: int | None,
        weekday: int,
        hour: int,
        timezone: str,
        now: float | None = None,
    ) -> RecapSettings:
        """Insert or replace the server's recap settings (``channel_id`` None: no recap); ``updated_at`` is now."""

    @abstractmethod
    async def recap_settings(self, guild_id: int) -> RecapSettings | None: ...

    @abstractmethod
    async def all_recap_settings(self) -> list[RecapSettings]:
        """Every server's recap settings, by guild id."""

    @abstractmethod
    async def shared_guilds(self, since: float) -> list[int]:
        """The servers where something was shared at or after ``since``, by guild id."""

    @abstractmethod
    async def claim_week(
        self, guild_id: int, week_label: str, week_end: float, worker_id: str, lease: float, now: float | None = None
    ) -> bool:
        """Claim the closing of the server's week for ``lease`` seconds. True for exactly one caller at a time across
        processes: when the week was never claimed, or its last claim's lease ran out before it was closed."""

    @abstractmethod
    async def close_week(
        self, guild_id: int, week_label: str, worker_id: str, message_id: int | None, now: float | None = None
    ) -> bool:
        """Mark the week closed (with the recap's message, if one was posted). False if ``worker_id`` no longer holds
        the claim (its lease ran out and another process took it) or the week was already closed."""

    @abstractmethod
    async def closed_week(self, guild_id: int, week_label: str) -> ClosedWeek | None:
        """The week's row (claimed or closed), or None."""

    @abstractmethod
    async def purge_closed_weeks(self, before: float) -> int:
        """Delete the rows of weeks that ended before ``before``. Returns rows deleted."""

    # ------------------------------------------------------------------ rating intents
    # The last rating a member asked for per item (1, -1, 0), kept after the outbox applied it: a reaction removed
    # later clears the rating only if it still shows that. ``enqueue`` records it in its own transaction.
    @abstractmethod
    async def record_intent(
        self, user_id: int, item_type: str, item_id: str, value: int, now: float | None = None
    ) -> None:
        """Remember that the member's rating of the item is ``value`` (rated now, or found so at Apple)."""

    @abstractmethod
    async def get_intent(self, user_id: int, item_type: str, item_id: str) -> int | None:
        """The member's last rating of the item the bot applied or will apply, if it knows one."""

    @abstractmethod
    async def purge_unshared_intents(self) -> int:
        """Delete the intents of items no recorded shared message shares (no reaction can refer to them any
        more). Returns rows deleted."""

    # ------------------------------------------------------------------ notices
    @abstractmethod
    async def claim_notice(self, user_id: int, kind: str, now: float | None = None, interval: float = 86400.0) -> bool:
        """True at most once per ``interval`` seconds per (user, kind): "may I send this notice now?"."""

    # ------------------------------------------------------------------ outbox
    @abstractmethod
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
        """Durably record the desired rating (1 like, -1 dislike, 0 clear) before any Apple call.

        One row per (user, item): a new action replaces the value, bumps ``version`` and sets
        ``due_at = min(now + debounce, created_at + max_delay)``, keeping the row's turn. A new row takes the
        user's next turn: the one after their last row's, and never before the turn being served now (the smallest
        turn of the rows not held), so a user with nothing waiting is served next. ``hold`` is stored as given
        (the caller knows whether the user is linked/stale). The value is also the member's rating intent
        (``get_intent``), recorded in the same transaction. Committed before returning.

        With ``max_per_user``, a new item is refused while the user has that many rows (held or not): raises
        :class:`~bot.errors.TooManyWaiting` and writes nothing (neither the row nor the intent). A new rating of
        an item already waiting replaces its row and is never refused.
        """

    @abstractmethod
    async def claim_due(
        self, worker_id: str, now: float | None = None, limit: int = 100, lease: float = 60.0
    ) -> list[OutboxEntry]:
        """Atomically claim up to ``limit`` unheld rows that are due and not leased (or whose lease expired).

        Taken and returned in turn order (then due order): users in turn, each user's rows in the order they were
        queued, so one user's backlog never holds back another user's rows. Several processes may claim at once;
        none takes a row another holds. A worker must not start applying an entry after its ``lease_until``;
        choose ``lease`` longer than the longest apply (HTTP timeout and retries).
        """

    @abstractmethod
    async def complete(self, entry: OutboxEntry, applied_version: int | None = None) -> bool:
        """Delete the row if its version is still ``applied_version`` (default ``entry.version``).

        If a newer action arrived meanwhile the row stays, its lease is released and it is due again:
        returns False.
        """

    @abstractmethod
    async def retry_later(self, entry: OutboxEntry, next_due_at: float, error: str) -> bool:
        """Count a failed attempt: ``attempts + 1``, ``last_error`` (shortened, redacted), lease released.

        False if the claim was lost (lease expired and another worker took the row, or the row is gone).
        """

    @abstractmethod
    async def hold_user(self, user_id: int, reason: HoldReason | str, *, hold_expires_at: float | None = None) -> int:
        """Hold all of the user's rows (they are not claimed until released). Returns rows held."""

    @abstractmethod
    async def purge_expired_holds(self, now: float | None = None, *, user_id: int | None = None) -> int:
        """Delete held rows (of ``user_id``, or everyone's) whose ``hold_expires_at`` has passed, and note for each
        owner (a notice of kind :data:`~bot.storage.models.EXPIRED_HOLDS_NOTICE`) that their next ``/account``
        tells them. Returns rows deleted. ``link_account`` does the same for the member who links."""

    @abstractmethod
    async def pending_for_user(self, user_id: int) -> list[OutboxEntry]:
        """The user's rows, oldest first (for an ``/account`` "N ratings waiting" view)."""

    @abstractmethod
    async def outbox_size(self) -> int: ...

    @abstractmethod
    async def health_counts(self, now: float | None = None) -> StoreCounts:
        """The outbox's waiting ratings and the age of the oldest, held ratings by reason, accounts by status (one
        short read for an operator's metrics)."""

    @abstractmethod
    async def ping(self) -> None:
        """Ask the database the cheapest question there is; raises :class:`~bot.storage.errors.StoreUnavailable`
        when it cannot answer (readiness)."""

    @abstractmethod
    async def next_due_at(self) -> float | None:
        """When the next unheld row becomes claimable (its due time, or its lease expiry), or None."""

    @abstractmethod
    async def release_claims(self, process_id: str) -> int:
        """Give up every claim ``process_id`` still holds in the outbox (its unfinished rows: ``claimed_by`` and
        ``lease_until`` cleared), so any worker may claim them at once instead of after the lease; neither
        ``attempts`` nor ``last_error`` change (the rows did not fail). A process calls it as it stops. Returns rows
        released; when there were some, the other processes are told (:meth:`watch_outbox`)."""

    @abstractmethod
    async def release_mixtape_claims(self, worker_id: str) -> int:
        """:meth:`release_claims` for the mixtape's playlist jobs not done yet (the next claimant first looks for a
        playlist a cut-short call may have made)."""

    async def watch_outbox(self, wake: Callable[[], None]) -> bool:
        """Call ``wake()`` whenever another process on this database makes outbox rows claimable at once (released
        its claims). True while that works; calling it again is cheap, and re-establishes a watch a database outage
        broke. Engines used by one process only have nobody to watch: False."""
        return False

    # ------------------------------------------------------------------ retention and members' data
    @abstractmethod
    async def purge_shared_messages(self, before: float) -> int:
        """Forget the shared posts recorded before ``before`` (their reactions no longer rate). Returns rows."""

    @abstractmethod
    async def purge_notices(self, before: float) -> int:
        """Delete notices last sent (or noted) before ``before``. Returns rows deleted."""

    @abstractmethod
    async def take_notice(self, user_id: int, kind: str) -> bool:
        """Delete the member's notice of ``kind``; True if there was one (it is now told)."""

    @abstractmethod
    async def record_guild_departure(self, guild_id: int, now: float | None = None) -> bool:
        """The bot was removed from the server: remember when (the first time counts). True if newly recorded."""

    @abstractmethod
    async def cancel_guild_departure(self, guild_id: int) -> bool:
        """The bot is in the server (again): its data is kept. True if a departure was recorded."""

    @abstractmethod
    async def known_guilds(self) -> set[int]:
        """Every server the store holds something about (sharing channels, switches, shared posts, taste), besides
        departures already recorded."""

    @abstractmethod
    async def purge_departed_guilds(self, left_before: float) -> list[int]:
        """Delete everything about the servers the bot left before ``left_before`` (sharing channels, shared
        posts, the departure itself), in one transaction. Returns those servers' ids."""

    @abstractmethod
    async def user_rows(self, user_id: int) -> dict[str, list[RawRow]]:
        """Every row about the member, per table that holds members' data (``transfer.USER_TABLES``), normalized
        as ``export_rows`` does (token ciphertexts included: the caller decides what to show)."""

    # ------------------------------------------------------------------ running processes
    # Each bot process announces itself (and the fingerprints of its keys) and renews that while it runs, so
    # ``rotate-keys`` can refuse while a running process does not hold the new key. Not copied by ``copy-db``.
    @abstractmethod
    async def announce_process(self, process: ProcessRecord) -> None:
        """Insert the process's row, or renew it: ``seen_at`` and ``key_fingerprints`` are replaced."""

    @abstractmethod
    async def retire_process(self, process_id: str) -> bool:
        """Delete the process's row (it stops cleanly). True if it existed."""

    @abstractmethod
    async def live_processes(self, since: float) -> list[ProcessRecord]:
        """The processes seen at or after ``since``, oldest start first."""

    @abstractmethod
    async def purge_stale_processes(self, before: float) -> int:
        """Delete the rows of processes last seen before ``before`` (they died without retiring). Returns rows
        deleted."""

    # ------------------------------------------------------------------ Discord's identify turns
    @abstractmethod
    async def take_identify_turn(self, bucket: int, interval: float, now: float | None = None) -> float | None:
        """Take the identify turn of ``bucket`` (``shard_id % max_concurrency``) at ``now`` if its last turn is at
        least ``interval`` seconds old (or was never taken): returns None, and the turn is recorded. Otherwise
        returns when the last turn was taken (the caller waits until ``interval`` after it). Atomic across
        processes: of concurrent callers, one takes the turn. Not copied by ``copy-db``."""

    # ------------------------------------------------------------------ the shared Apple budget
    # Processes on one PostgreSQL share Apple's rate limit: the rate they learned and who is sending. A process
    # writes at most once a second while it sends (``bot.services.budget``). Not copied by ``copy-db``.
    #: Whether several processes may use this database (then they share one Apple budget through it).
    shared_by_processes: bool = False

    @abstractmethod
    async def share_apple_budget(
        self, process_id: str, merge: BudgetMerge, *, now: float, live_since: float
    ) -> tuple[BudgetRow, int]:
        """In one transaction: write ``merge(shared row)``, renew this process's membership (seen ``now``),
        forget members last seen before ``live_since``; returns the row written and how many members are left
        (this one included)."""

    @abstractmethod
    async def leave_apple_budget(self, process_id: str) -> None:
        """This process stops sending: its membership is deleted (its share returns to the others at once)."""

    # ------------------------------------------------------------------ raw rows (copy-db)
    # Used by :mod:`bot.storage.transfer` only. ``table`` is always one of ``transfer.TABLES``, whose columns
    # and keys the store builds its SQL from; other names raise ``ValueError``.
    @property
    @abstractmethod
    def location(self) -> str:
        """A printable name of the database: the SQLite path, or ``postgresql://host:port/database`` (never a
        user name or password)."""

    @abstractmethod
    async def database_identity(self) -> str:
        """A value equal for two stores exactly when they open the same database (same file, same cluster and
        database), whatever URL spelling reached it."""

    @abstractmethod
    async def count_rows(self, table: str) -> int: ...

    @abstractmethod
    async def count_active_claims(self, now: float | None = None) -> int:
        """Outbox rows a worker holds an unexpired lease on (a bot process is probably running)."""

    @abstractmethod
    def export_rows(self, table: str, *, batch: int = 2000) -> AsyncIterator[list[RawRow]]:
        """The table's rows in batches of at most ``batch``, normalized (``TableSpec.normalize``), in key
        order (insertion order for ``insertion_ordered`` tables). Each batch is one short query."""

    @abstractmethod
    async def import_rows(self, batches: AsyncIterable[tuple[str, Sequence[RawRow]]]) -> dict[str, int]:
        """Insert every ``(table, rows)`` batch in ONE transaction, keeping every column as given (ids too;
        identity generators are advanced past the largest id), and return the rows inserted per table.

        Raises :class:`~bot.storage.transfer.TargetNotEmpty` (before inserting anything) if any copied table
        holds a row. Any exception, including one raised by ``batches``, rolls everything back.
        """
