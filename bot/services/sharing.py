"""Shared posts: which message shares which item, and reactions turned into durable rating intents.

👍 means like (1), 👎 dislike (-1); removing the reaction that matches the user's intended rating clears it
(0). Every intent goes into the store's outbox (``Store.enqueue``) before anything else happens; the
:class:`~bot.services.outbox.OutboxWorker` applies it. Users who have not linked get their intent held
(``unlinked``, for ``OutboxConfig.unlinked_hold`` seconds) and a prompt at most once a day; users whose link
is stale get it held until they link again.

The caller (the cog) must serialise the handling of one user's reactions (:meth:`SharingService.user_lock`),
so intents are recorded in the order the reactions arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from bot import applemusic as am
from bot.services.outbox import OutboxConfig
from bot.storage import HoldReason, SharedMessage, Store

log = logging.getLogger(__name__)

LIKE_EMOJI = "👍"
DISLIKE_EMOJI = "👎"
REACTION_EMOJIS: tuple[str, str] = (LIKE_EMOJI, DISLIKE_EMOJI)
EMOJI_FOR_VALUE = {1: LIKE_EMOJI, -1: DISLIKE_EMOJI}
#: notice kinds for ``Store.claim_notice`` (one DM a day per kind)
NOTICE_LINK = "reaction-link-prompt"
NOTICE_RELINK = "reaction-relink-prompt"
def shard_of(guild_id: int | None, shard_count: int) -> int:
    """The shard Discord sends a guild's events to (``(guild_id >> 22) % shard_count``); DMs go to shard 0."""
    return 0 if guild_id is None else (guild_id >> 22) % shard_count


#: how far back the start-up catch-up looks, and how much it reads
CATCH_UP_WINDOW = 24 * 3600.0
CATCH_UP_MESSAGES = 50

_MODIFIERS = {chr(c) for c in range(0x1F3FB, 0x1F400)} | {"\ufe0f"}


def reaction_value(emoji: str | None) -> int | None:
    """1 for 👍, -1 for 👎 (any skin tone), None for any other emoji."""
    if not emoji:
        return None
    base = "".join(ch for ch in emoji if ch not in _MODIFIERS)
    if base == LIKE_EMOJI:
        return 1
    if base == DISLIKE_EMOJI:
        return -1
    return None


def ratable_link(text: str) -> am.ShareLink | None:
    """The first link in ``text`` that anyone can rate (library links are the sharer's own)."""
    for link in am.find_links(text):
        if not link.type.is_library:
            return link
    return None


class ReactionStatus(StrEnum):
    QUEUED = "queued"  # in the outbox, will be applied
    HELD_UNLINKED = "held-unlinked"  # waiting for the user to link
    HELD_STALE = "held-stale"  # waiting for the user to link again
    IGNORED = "ignored"  # nothing to do (e.g. removing a reaction that is not the intended one)


@dataclass(frozen=True, slots=True)
class ReactionResult:
    status: ReactionStatus
    value: int | None = None  # the intent recorded (1, -1, 0), None when ignored
    previous: int | None = None  # the intent known before this action, if any
    #: a notice the cog should send now ("link" or "relink"); claimed at most once a day per user
    notify: str | None = None


_Key = tuple[int, str, str]


class _UserLocks:
    """One asyncio.Lock per user, dropped when nobody holds or waits for it (FIFO per user)."""

    def __init__(self) -> None:
        self._locks: dict[int, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, user_id: int) -> AsyncIterator[None]:
        lock, users = self._locks.get(user_id, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[user_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[user_id]
            if users <= 1:
                del self._locks[user_id]
            else:
                self._locks[user_id] = (lock, users - 1)


class SharingService:
    """Shared messages and reaction intents. One per bot; cheap."""

    def __init__(
        self,
        store: Store,
        config: OutboxConfig | None = None,
        *,
        apple: am.AppleMusicClient | None = None,
        wake: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.time,
        intent_cache_size: int = 100_000,
    ) -> None:
        self.store = store
        self.config = config or OutboxConfig()
        self.apple = apple
        self._wake = wake
        self._clock = clock
        self._locks = _UserLocks()
        #: (user, type, id) -> (last intent recorded by this process, generation): an LRU
        self._intents: OrderedDict[_Key, tuple[int, int]] = OrderedDict()
        self._intent_cache_size = intent_cache_size
        self._generation = 0

    # ------------------------------------------------------------------ shared messages

    async def record(
        self, message_id: int, channel_id: int, guild_id: int | None, item_type: str, item_id: str
    ) -> SharedMessage:
        return await self.store.record_shared_message(message_id, channel_id, guild_id, item_type, item_id)

    async def resolve(self, message_id: int) -> SharedMessage | None:
        return await self.store.get_shared_message(message_id)

    async def recent(
        self,
        window: float = CATCH_UP_WINDOW,
        limit: int = CATCH_UP_MESSAGES,
        *,
        shard_ids: Collection[int] | None = None,
        shard_count: int = 1,
    ) -> list[SharedMessage]:
        """Messages shared in the last ``window`` seconds, newest first, at most ``limit``.

        With ``shard_ids``, only those of guilds on these shards (DMs belong to shard 0): in a multi-process
        deployment each process catches up its own servers, and reconciling another process's servers here
        would race with the reactions that process is handling.
        """
        since = self._clock() - window
        if shard_ids is None or shard_count <= 1:
            return await self.store.recent_shared_messages(since, limit=limit)
        wanted = set(shard_ids)
        # other shards' messages are read and skipped: read proportionally more
        rows = await self.store.recent_shared_messages(since, limit=limit * shard_count // max(1, len(wanted)))
        return [m for m in rows if shard_of(m.guild_id, shard_count) in wanted][:limit]

    # ------------------------------------------------------------------ intents

    def user_lock(self, user_id: int) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold while handling one reaction of ``user_id``: acquired in arrival order."""
        return self._locks.hold(user_id)

    async def known_intent(self, user_id: int, item_type: str, item_id: str) -> int | None:
        """The user's intended rating: a pending outbox row's value, else what this process last recorded."""
        for entry in await self.store.pending_for_user(user_id):
            if entry.item_type == item_type and entry.item_id == item_id:
                return entry.value
        cached = self._intents.get((user_id, item_type, item_id))
        return cached[0] if cached is not None else None

    async def react(self, user_id: int, shared: SharedMessage, value: int, *, added: bool) -> ReactionResult:
        """A 👍 (``value=1``) or 👎 (``-1``) added or removed on a shared message."""
        previous = await self.known_intent(user_id, shared.item_type, shared.item_id)
        if added:
            new = value
        elif previous == value:
            new = 0  # removing the reaction that shows the intended rating clears it
        elif previous is None and await self.store.get_account(user_id) is not None:
            # nothing known: the reaction was the intent, added before this process started
            new = 0
        else:
            return ReactionResult(ReactionStatus.IGNORED, previous=previous)
        result = await self.set_intent(user_id, shared.item_type, shared.item_id, new)
        return ReactionResult(result.status, result.value, previous, result.notify)

    async def set_intent(self, user_id: int, item_type: str, item_id: str, value: int) -> ReactionResult:
        """Durably record that the user wants ``value`` (1, -1, 0) for the item; hold it if they cannot act."""
        now = self._clock()
        account = await self.store.get_account(user_id)
        hold: HoldReason | None = None
        expires: float | None = None
        status = ReactionStatus.QUEUED
        notice: str | None = None
        if account is None:
            hold, expires, status, notice = (
                HoldReason.UNLINKED,
                now + self.config.unlinked_hold,
                ReactionStatus.HELD_UNLINKED,
                NOTICE_LINK,
            )
        elif not account.is_active:
            hold, status, notice = HoldReason.STALE, ReactionStatus.HELD_STALE, NOTICE_RELINK
        await self.store.enqueue(
            user_id,
            item_type,
            item_id,
            value,
            now,
            debounce=self.config.debounce,
            max_delay=self.config.max_delay,
            hold=hold,
            hold_expires_at=expires,
        )
        self._remember(user_id, item_type, item_id, value)
        notify: str | None = None
        if notice is not None and await self.store.claim_notice(user_id, notice, now):
            notify = "link" if notice == NOTICE_LINK else "relink"
        if hold is None and self._wake is not None:
            self._wake()
        log.debug("user %d wants %s %s = %d (%s)", user_id, item_type, item_id, value, status.value)
        return ReactionResult(status, value, None, notify)

    def _remember(self, user_id: int, item_type: str, item_id: str, value: int) -> None:
        self._generation += 1
        key = (user_id, item_type, item_id)
        self._intents[key] = (value, self._generation)
        self._intents.move_to_end(key)
        while len(self._intents) > self._intent_cache_size:
            self._intents.popitem(last=False)

    # ------------------------------------------------------------------ catch-up

    def generation(self) -> int:
        """A counter of recorded intents; :meth:`catch_up` skips items touched after the ``since`` given."""
        return self._generation

    def _touched_since(self, key: _Key, generation: int) -> bool:
        cached = self._intents.get(key)
        return cached is not None and cached[1] > generation

    async def catch_up(
        self, seen: Iterable[tuple[SharedMessage, Mapping[int, set[int]]]], *, since_generation: int
    ) -> int:
        """Reconcile reactions made while the bot was offline.

        ``seen`` gives, per shared message, each user's visible reaction values ({1}, {-1} or both). For every
        linked user showing exactly one of 👍/👎 with nothing pending for the item and not acted on since
        ``since_generation``, the user's ratings are read from Apple (one request per user and kind) and an
        intent is enqueued only where Apple differs. Users showing both are ambiguous and left alone; removals
        made while offline cannot be seen. Returns the number of intents enqueued.
        """
        if self.apple is None:
            return 0
        wanted: dict[int, dict[tuple[str, str], int]] = {}
        for shared, reactions in seen:
            for user_id, values in reactions.items():
                if len(values) == 1:
                    wanted.setdefault(user_id, {})[(shared.item_type, shared.item_id)] = next(iter(values))
        enqueued = 0
        for user_id, items in wanted.items():
            account = await self.store.get_account(user_id)
            if account is None or not account.is_active:
                continue  # prompting users who reacted while the bot was away would be noise
            token = await self.store.get_user_token(user_id)
            if token is None:
                continue
            pending = {(e.item_type, e.item_id) for e in await self.store.pending_for_user(user_id)}
            by_type: dict[str, list[str]] = {}
            for item_type, item_id in items:
                if (item_type, item_id) not in pending:
                    by_type.setdefault(item_type, []).append(item_id)
            for item_type, ids in by_type.items():
                try:
                    current = await self.apple.get_ratings(am.ResourceType(item_type), ids, token)
                except (am.AppleMusicError, ValueError) as exc:
                    log.info("catch-up: reading user %d's ratings failed (%s); skipped", user_id, type(exc).__name__)
                    continue
                for item_id in ids:
                    value = items[(item_type, item_id)]
                    key = (user_id, item_type, item_id)
                    have = current[item_id].value if item_id in current else None
                    if have == value or self._touched_since(key, since_generation):
                        if have == value and key not in self._intents:
                            self._remember(user_id, item_type, item_id, value)
                        continue
                    async with self.user_lock(user_id):
                        if self._touched_since(key, since_generation):
                            continue
                        await self.set_intent(user_id, item_type, item_id, value)
                    enqueued += 1
        if enqueued:
            log.info("catch-up: %d reactions made while offline were queued", enqueued)
        return enqueued
