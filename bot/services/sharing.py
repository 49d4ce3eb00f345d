"""Shared posts: which message shares which item, and reactions turned into durable rating intents.

👍 means like (1), 👎 dislike (-1); removing the reaction that matches the user's intended rating clears it
(0). The intended rating is the store's (``Store.get_intent``: the last one asked for, by reaction or button), so
an old reaction removed after a restart does not undo a newer choice. Every intent goes into the store's outbox
(``Store.enqueue``) before anything else happens; the :class:`~bot.services.outbox.OutboxWorker` applies it.
Users who have not linked get their intent held (``unlinked``, for ``OutboxConfig.unlinked_hold`` seconds) and a
prompt at most once a day; users whose link is stale get it held until they link again.

One member's reactions are handled one at a time, in the order they arrived (a per-member lock), so intents
are recorded in that order; while the database is unavailable a reaction is retried, still in order, for
``reaction_retry`` seconds, and then its author is told it was not saved. A member with
``OutboxConfig.max_per_user`` ratings waiting has a reaction on another item refused (nothing waiting is
dropped): they are told once, and not again for each refused reaction until one is saved.

Everything Discord-specific (reading a message's reactions, adding or removing one, sending a DM) stays with
the caller: the cog passes plain values in and acts on the :class:`ReactionOutcome` it gets back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, TypeVar
from weakref import WeakValueDictionary

from cachetools import LRUCache, TTLCache

from bot import applemusic as am
from bot.aio import TaskSet, repeat
from bot.crossref import ForeignLink, find_music_link, parse_foreign_link
from bot.errors import LibraryItemNotShareable, LinkStale, MatchUnavailable, TooManyWaiting, UnlinkedMeanwhile
from bot.retrying import Backoff
from bot.services import notices
from bot.services.matching import Matched, MatchingService
from bot.services.outbox import OutboxConfig
from bot.services.ratings import ItemRef, RatedItem, RatingService
from bot.storage import HoldReason, PendingMatch, SharedMessage, StorageError, Store, StoreUnavailable

__all__ = [
    "DISLIKE_EMOJI",
    "EMOJI_FOR_VALUE",
    "LIKE_EMOJI",
    "REACTION_EMOJIS",
    "CatchUpWindow",
    "PendingPolicy",
    "PostActions",
    "PostedMessage",
    "ReactionEvent",
    "ReactionOutcome",
    "ReactionResult",
    "ReactionStatus",
    "SharedMessage",  # the store's value, part of this service's API (catch-up readers take it)
    "SharingService",
    "ratable_link",
    "reaction_value",
    "shard_of",
]

log = logging.getLogger(__name__)
_T = TypeVar("_T")

LIKE_EMOJI = "👍"
DISLIKE_EMOJI = "👎"
REACTION_EMOJIS: tuple[str, str] = (LIKE_EMOJI, DISLIKE_EMOJI)
EMOJI_FOR_VALUE = {1: LIKE_EMOJI, -1: DISLIKE_EMOJI}
#: notice kinds for ``Store.claim_notice`` (one DM a day per kind)
NOTICE_LINK = "reaction-link-prompt"
NOTICE_RELINK = "reaction-relink-prompt"

#: while the database is unavailable, the wait before trying one reaction again (doubling, no jitter)
STORE_RETRY = Backoff(base=0.25, cap=10.0)
#: bots seen reacting (a removal event does not say whether its author is a bot): bounded memory
KNOWN_BOTS = 10_000
#: how long a reaction the bot removed itself is expected to come back as a removal event
EXPECTED_REMOVAL_SECONDS = 30.0

_MODIFIERS = {chr(c) for c in range(0x1F3FB, 0x1F400)} | {"\ufe0f"}


def shard_of(guild_id: int | None, shard_count: int) -> int:
    """The shard Discord sends a guild's events to (``(guild_id >> 22) % shard_count``); DMs go to shard 0."""
    return 0 if guild_id is None else (guild_id >> 22) % shard_count


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


async def _read_ratings(
    apple: am.AppleMusicClient, rtype: am.ResourceType, ids: list[str], token: str, allowed: am.StillAllowed
) -> dict[str, am.Rating]:
    with am.background():  # the start-up catch-up: nobody waits on it
        return await apple.get_ratings(rtype, ids, token, still_allowed=allowed)


class ReactionStatus(StrEnum):
    QUEUED = "queued"  # in the outbox, will be applied
    HELD_UNLINKED = "held-unlinked"  # waiting for the user to link
    HELD_STALE = "held-stale"  # waiting for the user to link again
    IGNORED = "ignored"  # nothing to do (e.g. removing a reaction that is not the intended one)


@dataclass(frozen=True, slots=True)
class CatchUpWindow:
    """Which shared posts the start-up catch-up reads (every reactor of each): those shared in the last
    ``seconds``, at most the ``messages`` newest (``CATCH_UP_HOURS``, ``CATCH_UP_MESSAGES``)."""

    seconds: float = 24 * 3600.0
    messages: int = 500


@dataclass(frozen=True, slots=True)
class PendingPolicy:
    """Posts whose link of another service waits to be matched (the matching services were unavailable): at most
    ``per_guild`` a server (``PENDING_MATCHES_PER_GUILD``), tried ``attempts`` times (``PENDING_MATCH_ATTEMPTS``),
    the first retry ``retry`` seconds after the post (``PENDING_MATCH_RETRY_SECONDS``), doubling up to an hour;
    at most ``concurrency`` posts matched at once (``MATCH_CONCURRENCY``); ``interval`` seconds between two looks
    at the posts due."""

    per_guild: int = 100
    attempts: int = 10
    retry: float = 60.0
    concurrency: int = 4
    interval: float = 30.0
    batch: int = 50

    @property
    def backoff(self) -> Backoff:
        return Backoff(base=self.retry, cap=max(self.retry, 3600.0))


class PostActions(Protocol):
    """What the retry of waiting posts does on Discord (the cog provides it)."""

    async def add_reactions(self, shared: SharedMessage) -> None:
        """Add the bot's 👍 and 👎 to the post."""

    async def read_reactions(self, shared: SharedMessage) -> Mapping[int, set[int]]:
        """Who shows 👍 or 👎 on the post now (bots aside), as {user: {1, -1}}."""


@dataclass(frozen=True, slots=True)
class ReactionResult:
    status: ReactionStatus
    value: int | None = None  # the intent recorded (1, -1, 0), None when ignored
    previous: int | None = None  # the intent known before this action, if any
    #: a notice to send now ("link" or "relink"); claimed at most once a day per user
    notify: str | None = None


@dataclass(frozen=True, slots=True)
class ReactionEvent:
    """A reaction added or removed, as Discord reported it."""

    user_id: int
    message_id: int
    channel_id: int
    guild_id: int | None
    #: 1 for 👍, -1 for 👎 (the caller parsed the emoji with :func:`reaction_value`)
    value: int
    added: bool
    #: the reacting member is a bot (None: the event did not say, as removal events never do)
    member_is_bot: bool | None = None
    #: the bot itself, or a user the client knows to be a bot
    known_bot: bool = False
    #: the bot may remove members' reactions in that channel (Manage Messages)
    may_remove_reactions: bool = False


@dataclass(frozen=True, slots=True)
class ReactionOutcome:
    """What the caller does on Discord afterwards: remove the member's ``remove`` reaction (the opposite of
    their new choice), so the message shows it."""

    remove: int | None = None


@dataclass(frozen=True, slots=True)
class PostedMessage:
    """A message posted in a guild channel (for the admin-chosen sharing channels)."""

    message_id: int
    channel_id: int
    guild_id: int
    text: str
    by_a_person: bool
    #: who posted it (for the server's tops)
    author_id: int


NOTHING = ReactionOutcome()
_Key = tuple[int, str, str]
ReactionReader = Callable[[SharedMessage], Awaitable[Mapping[int, set[int]]]]


class SharingService:
    """Shared messages, sharing channels and reaction intents. One per bot."""

    def __init__(
        self,
        store: Store,
        ratings: RatingService,
        notifier: notices.Notifier,
        config: OutboxConfig | None = None,
        *,
        apple: am.AppleMusicClient | None = None,
        wake: Callable[[], None] = lambda: None,
        watch_channels: bool = False,
        reaction_retry: float = 120.0,
        intent_cache_size: int = 100_000,
        catch_up: CatchUpWindow | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        matching: MatchingService | None = None,
        pending: PendingPolicy | None = None,
        pending_clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        #: links of other services in posts and /share (None: Apple Music links only)
        self.matching = matching
        self.pending = pending or PendingPolicy()
        self._pending_clock = pending_clock
        self._match_slots = asyncio.Semaphore(self.pending.concurrency)
        self._pending_wake = asyncio.Event()
        self._pending_stop = asyncio.Event()
        #: posts in sharing channels whose link of another service was looked at (tests wait on it)
        self.posts_matched = 0
        self.ratings = ratings
        self.notifier = notifier
        self.config = config or OutboxConfig()
        self.apple = apple
        self._wake = wake
        #: links posted in chosen channels are seen (the message content intent is on)
        self.watch_channels = watch_channels
        #: while the database is unavailable, a reaction is retried for this long before its author is told
        self.reaction_retry = reaction_retry
        self.catch_up_window = catch_up or CatchUpWindow()
        self._clock = clock
        self._rng = rng or random.Random()  # jitter, not cryptography
        self._locks: WeakValueDictionary[int, asyncio.Lock] = WeakValueDictionary()
        #: (user, type, id) -> (last intent recorded by this process, generation): tells catch-up which items
        #: this process acted on meanwhile (the intent itself is the store's: ``known_intent``)
        self._intents: LRUCache[_Key, tuple[int, int]] = LRUCache(intent_cache_size)
        self._generation = 0
        self._bots: LRUCache[int, bool] = LRUCache(KNOWN_BOTS)
        #: (message, user, value) of reactions the bot removed itself: their removal events are the bot's
        self._expected_removals: TTLCache[tuple[int, int, int], bool] = TTLCache(
            KNOWN_BOTS, EXPECTED_REMOVAL_SECONDS, timer=time.monotonic
        )
        #: members told that a reaction was refused (too many ratings waiting), until one of theirs is saved again
        self._told_full: LRUCache[int, bool] = LRUCache(KNOWN_BOTS)
        #: reactions refused because their author had too many ratings waiting
        self.reactions_refused = 0
        #: channel -> id of the interaction that chose it (a snowflake: a time by Discord's clock)
        self._chosen_at: dict[int, int] = {}
        self._tasks = TaskSet("sharing")
        #: 👍/👎 reactions by people handled so far (tests wait on it before stopping the bot)
        self.reactions_handled = 0
        #: edits of posts in guilds handled so far
        self.edits_handled = 0
        #: set when the start-up catch-up has finished
        self.caught_up = asyncio.Event()
        #: times a reaction was tried again because the database was unavailable
        self.store_retries = 0

    async def close(self) -> None:
        self._pending_stop.set()
        await self._tasks.close()

    async def idle(self) -> None:
        """Wait until the notices being sent (link prompts, unsaved reactions) are sent."""
        await self._tasks.wait()

    # ------------------------------------------------------------------ /share and shared messages

    async def prepare_share(self, user_id: int, text: str) -> tuple[RatedItem, Matched]:
        """The catalog item ``text`` names, in the sharer's country, ready to be posted (library items refused), and
        how it was matched when ``text`` is a link of another service (a match that is not confident is posted only
        once the sharer confirms it)."""
        storefront = await self.ratings.storefront(user_id)
        if self.matching is not None:
            matched = await self.matching.item_for(text, None, storefront, user_id=user_id)
        else:
            matched = Matched(await self.ratings.resolve(text, None, storefront))
        return await self.share_item(matched.ref, storefront), matched

    async def share_item(self, ref: ItemRef, storefront: str) -> RatedItem:
        """The catalog data of an item to post (library items refused)."""
        if ref.type.is_library:
            raise LibraryItemNotShareable()
        items = await self.ratings.catalog_items([ref], storefront, None)
        return RatedItem(ref, items.get(ref), None)

    async def listen_elsewhere(self, guild_id: int | None) -> bool:
        """Whether cards of shared songs carry "Listen on other services" (on unless the server turned it off; always
        outside servers)."""
        return guild_id is None or await self.store.listen_elsewhere(guild_id)

    async def set_listen_elsewhere(self, guild_id: int, on: bool) -> bool:
        """Turn the server's "Listen on other services" buttons on or off; True if that changed it."""
        return await self.store.set_listen_elsewhere(guild_id, on)

    async def record(
        self, message_id: int, channel_id: int, guild_id: int | None, ref: ItemRef, *, sharer_id: int | None = None
    ) -> SharedMessage:
        """Remember that the message shares ``ref``: reactions on it rate it. In a server, with who shared it, it
        counts in the server's tops."""
        shared = await self.store.record_shared_message(message_id, channel_id, guild_id, ref.type.value, ref.id)
        if guild_id is not None and sharer_id is not None:
            await self.store.record_share(message_id, guild_id, channel_id, sharer_id, ref.type.value, ref.id)
        return shared

    async def resolve(self, message_id: int) -> SharedMessage | None:
        return await self.store.get_shared_message(message_id)

    async def recent(self, *, shard_ids: Collection[int] | None = None, shard_count: int = 1) -> list[SharedMessage]:
        """The messages of the catch-up window (shared in its last seconds, newest first, at most its number).

        With ``shard_ids``, only those of guilds on these shards (DMs belong to shard 0): in a multi-process
        deployment each process catches up its own servers, and reconciling another process's servers here
        would race with the reactions that process is handling.
        """
        since = self._clock() - self.catch_up_window.seconds
        limit = self.catch_up_window.messages
        if limit <= 0:
            return []
        if shard_ids is None or shard_count <= 1:
            return await self.store.recent_shared_messages(since, limit=limit)
        wanted = set(shard_ids)
        # other shards' messages are read and skipped: read proportionally more
        rows = await self.store.recent_shared_messages(since, limit=limit * shard_count // max(1, len(wanted)))
        return [m for m in rows if shard_of(m.guild_id, shard_count) in wanted][:limit]

    # ------------------------------------------------------------------ sharing channels

    async def add_channel(self, guild_id: int, channel_id: int, chosen_by: int) -> bool:
        """Make the channel a sharing channel; ``chosen_by`` is the choosing interaction's id: messages older
        than it are not the channel's business, however late they arrive."""
        added = await self.store.add_share_channel(guild_id, channel_id)
        if added:
            self._chosen_at[channel_id] = chosen_by
        return added

    async def remove_channel(self, guild_id: int, channel_id: int) -> bool:
        self._chosen_at.pop(channel_id, None)
        return await self.store.remove_share_channel(guild_id, channel_id)

    async def channels(self, guild_id: int) -> list[int]:
        return await self.store.list_share_channels(guild_id)

    async def set_share_buttons(self, guild_id: int, on: bool) -> bool:
        """Whether the server's ``/share`` cards carry Like / Dislike buttons; True if that changed it."""
        return await self.store.set_share_buttons(guild_id, on)

    async def share_buttons(self, guild_id: int) -> bool:
        return await self.store.share_buttons(guild_id)

    async def message_posted(self, message: PostedMessage) -> bool:
        """A message in a guild: if it shares a music link in a sharing channel, record it and return True (the
        caller adds 👍 and 👎). An Apple Music link is recorded at once. A link of another service is recorded only
        when matched confidently; while the services that match it are unavailable the post waits (durably, see
        :meth:`retry_pending`) and False is returned."""
        if not self.watch_channels or not message.by_a_person:
            return False
        if not await self.store.is_share_channel(message.guild_id, message.channel_id):
            return False
        if message.message_id < self._chosen_at.get(message.channel_id, 0):
            return False  # posted before the channel was chosen
        first = find_music_link(message.text)
        if isinstance(first, ForeignLink) and self.matching is not None:
            return await self._match_post(message, first)
        link = ratable_link(message.text)
        if link is None:
            return False
        ref = ItemRef(link.type, link.id)
        await self.record(message.message_id, message.channel_id, message.guild_id, ref, sharer_id=message.author_id)
        return True

    async def _match_post(self, message: PostedMessage, link: ForeignLink) -> bool:
        try:
            ref = await self._confident_match(link, message.author_id)
        except MatchUnavailable:
            now = self._pending_clock()
            pending = PendingMatch(
                message.message_id,
                message.channel_id,
                message.guild_id,
                message.author_id,
                link.url,
                0,
                now + self.pending.backoff.delay(1),
                now,
            )
            kept = await self.store.add_pending_match(pending, max_per_guild=self.pending.per_guild)
            log.info("post %d waits to be matched (%s)", message.message_id, "kept" if kept else "not kept: too many")
            return False
        finally:
            self.posts_matched += 1
        if ref is None:
            return False
        await self.record(message.message_id, message.channel_id, message.guild_id, ref, sharer_id=message.author_id)
        return True

    async def _confident_match(self, link: ForeignLink, author_id: int) -> ItemRef | None:
        """The item a post's link names, when matched confidently (in its author's country); None otherwise. At most
        ``MATCH_CONCURRENCY`` posts are matched at once."""
        assert self.matching is not None
        storefront = await self.ratings.storefront(author_id)
        async with self._match_slots:
            match = await self.matching.match(link, storefront)
        if match is None or not self.matching.confident(match):
            log.info("a %s link was not matched confidently: no 👍/👎", link.service)
            return None
        return match.ref

    def wake_pending(self) -> None:
        """Look at the waiting posts now (the retry loop wakes up)."""
        self._pending_wake.set()

    async def run_pending(self, actions: PostActions) -> None:
        """The retry loop of waiting posts, until the service is closed."""
        await repeat(
            lambda: self.retry_pending(actions),
            self.pending.interval,
            self._pending_stop,
            what="matching waiting posts",
            expected=(StoreUnavailable,),
            wake=self._pending_wake,
        )

    async def retry_pending(self, actions: PostActions) -> int:
        """Try again the waiting posts that are due. A post matched confidently is recorded, gets the bot's 👍/👎,
        and the reactions members added while it waited are applied (read from Discord, as the catch-up does); a
        post still unavailable is tried again later (backoff), and dropped after ``PENDING_MATCH_ATTEMPTS`` tries; a
        post matched to nothing, or not confidently, is dropped. Returns the number of posts recorded."""
        if self.matching is None:
            return 0
        recorded = 0
        for pending in await self.store.due_pending_matches(self._pending_clock(), limit=self.pending.batch):
            link = parse_foreign_link(pending.link)
            try:
                ref = None if link is None else await self._confident_match(link, pending.author_id)
            except MatchUnavailable:
                attempts = pending.attempts + 1
                if attempts >= self.pending.attempts:
                    log.info("post %d could not be matched after %d tries: dropped", pending.message_id, attempts)
                    await self.store.forget_pending_match(pending.message_id)
                else:
                    next_try = self._pending_clock() + self.pending.backoff.delay(attempts + 1, self._rng)
                    await self.store.retry_pending_match(pending.message_id, attempts, next_try)
                continue
            await self.store.forget_pending_match(pending.message_id)
            if ref is None:
                continue
            since = self.generation()
            shared = await self.record(
                pending.message_id, pending.channel_id, pending.guild_id, ref, sharer_id=pending.author_id
            )
            await actions.add_reactions(shared)
            await self.reconcile([(shared, await actions.read_reactions(shared))], since_generation=since)
            log.info("post %d was matched after waiting; its reactions are applied", pending.message_id)
            recorded += 1
        return recorded

    async def waiting_posts(self) -> list[PendingMatch]:
        """Every post waiting to be matched (due or not)."""
        return await self.store.due_pending_matches(float("inf"), limit=1_000_000)

    async def message_edited(self, message: PostedMessage) -> bool:
        """A post in a guild was edited. If it is a recorded share post that now names another item, or none, it
        stops counting: its record is dropped and True is returned (the caller removes the bot's 👍 👎).

        Not re-recorded for the new item: the reactions already on the post were given to the old one, and the
        bot cannot remove other members' reactions; counting them (at the next catch-up) for an item those
        members never saw would rate it in their name. Posting the new link again gives it fresh reactions.
        Only posts by people, whose text the bot sees (the message content intent): a ``/share`` post is never
        edited to another item.
        """
        try:
            if not self.watch_channels or not message.by_a_person:
                return False
            shared = await self.resolve(message.message_id)
            if shared is None:
                return False
            try:
                ref = await self._item_of_post(message)
            except MatchUnavailable:
                return False  # its link cannot be matched now: nothing says it names another item
            if ref is not None and (ref.type.value, ref.id) == (shared.item_type, shared.item_id):
                return False  # the same item (the text around it changed, or Discord added the link's preview)
            await self.store.forget_shared_messages([message.message_id])
            log.info("share post %d was edited to another item: its reactions no longer count", message.message_id)
            return True
        finally:
            self.edits_handled += 1

    async def _item_of_post(self, message: PostedMessage) -> ItemRef | None:
        """The item a post's text names now: its Apple Music link, or its other service's link matched confidently."""
        first = find_music_link(message.text)
        if isinstance(first, ForeignLink) and self.matching is not None:
            return await self._confident_match(first, message.author_id)
        link = ratable_link(message.text)
        return None if link is None else ItemRef(link.type, link.id)

    async def messages_deleted(self, message_ids: Collection[int]) -> int:
        """Messages were deleted: drop the records of those that were share posts. Returns how many were."""
        return await self.store.forget_shared_messages(message_ids)

    # ------------------------------------------------------------------ reactions

    def user_lock(self, user_id: int) -> asyncio.Lock:
        """The member's lock: hold it while handling one of their reactions (FIFO: in arrival order). It lives
        as long as someone holds or awaits it."""
        lock = self._locks.get(user_id)
        if lock is None:
            lock = self._locks[user_id] = asyncio.Lock()
        return lock

    def _from_a_bot(self, event: ReactionEvent) -> bool:
        if event.member_is_bot:
            self._bots[event.user_id] = True
            return True
        return event.known_bot or event.user_id in self._bots

    async def on_reaction(self, event: ReactionEvent) -> ReactionOutcome:
        """A 👍/👎 added or removed by a member: record their intent (in order), prompt them if they must link,
        and say whether their opposite reaction should be removed."""
        value = event.value
        if self._from_a_bot(event):
            return NOTHING
        # taken before any other await: one member's reactions are handled in the order they arrived
        async with self.user_lock(event.user_id):
            try:
                return await self._reaction_retrying(event, value)
            except StoreUnavailable:
                log.warning("a reaction on message %d was not saved: the database stayed unavailable", event.message_id)
                self._tell_not_saved(event, None)
                return NOTHING
            except TooManyWaiting as exc:
                self.reactions_refused += 1
                log.info("a reaction by user %d was refused: %s (OUTBOX_MAX_PER_USER)", event.user_id, exc)
                if event.user_id not in self._told_full:
                    self._told_full[event.user_id] = True
                    self._tell_not_saved(event, exc)
                return NOTHING
            finally:
                self.reactions_handled += 1

    def _tell_not_saved(self, event: ReactionEvent, refused: TooManyWaiting | None) -> None:
        def unsaved(post: notices.Post) -> notices.Notice:
            return notices.ReactionNotSaved(post, event.value, event.added, refused)

        self._tasks.spawn(self._tell(event, unsaved), f"unsaved {event.user_id}")

    async def _tell(
        self,
        event: ReactionEvent,
        notice: Callable[[notices.Post], notices.Notice],
        shared: SharedMessage | None = None,
    ) -> None:
        """Send the member a notice about their reaction, naming the post and, when known, what it shares."""
        await self.notifier.notify(event.user_id, notice(await self._post(event, shared)))

    async def _post(self, event: ReactionEvent, shared: SharedMessage | None) -> notices.Post:
        post = notices.Post(event.guild_id, event.channel_id, event.message_id)
        if shared is None:
            try:
                shared = await self.resolve(event.message_id)
            except StorageError:
                shared = None  # the database is still unavailable: the post's address is all there is
        if shared is None:
            return post
        ref = ItemRef(am.ResourceType(shared.item_type), shared.item_id)
        item, url = await self.ratings.describe(event.user_id, ref)
        return dataclasses.replace(
            post,
            kind=ref.type.label,
            title=item.name if item is not None and item.name else None,
            artist=item.byline if item is not None else None,
            url=url,
        )

    async def _while_store_unavailable(
        self,
        work: Callable[[], Awaitable[_T]],
        first_failure: Callable[[StoreUnavailable], None],
        *,
        give_up_after: float | None = None,
    ) -> _T:
        """``work()``, started over with backoff while the database is unavailable (each try counted in
        ``store_retries``; ``first_failure`` logs the first). With ``give_up_after`` (seconds), the
        :class:`StoreUnavailable` of a try whose next wait would end past it is raised; without, it waits for good."""
        loop = asyncio.get_running_loop()
        give_up_at = None if give_up_after is None else loop.time() + give_up_after
        attempt = 0
        while True:
            try:
                return await work()
            except StoreUnavailable as exc:
                attempt += 1
                self.store_retries += 1
                if attempt == 1:
                    first_failure(exc)
                delay = STORE_RETRY.delay(attempt, self._rng)
                if give_up_at is not None and loop.time() + delay > give_up_at:
                    raise
                await asyncio.sleep(delay)

    async def _reaction_retrying(self, event: ReactionEvent, value: int) -> ReactionOutcome:
        """Handle one reaction; while the database is unavailable, try again with backoff (the caller holds the
        member's lock, so their later reactions wait behind this one and keep their order)."""

        async def handle() -> tuple[SharedMessage, ReactionResult] | None:
            shared = await self.resolve(event.message_id)
            if shared is None:
                return None
            if not event.added and self._expected_removals.pop((event.message_id, event.user_id, value), False):
                return None  # the bot removed it to show the member's newer choice
            return shared, await self.react(event.user_id, shared, value, added=event.added)

        def not_yet(exc: StoreUnavailable) -> None:
            log.warning(
                "a reaction by user %d on message %d could not be saved yet (%s); trying again for %.0f s",
                event.user_id,
                event.message_id,
                exc,
                self.reaction_retry,
            )

        handled = await self._while_store_unavailable(handle, not_yet, give_up_after=self.reaction_retry)
        if handled is None:
            return NOTHING
        shared, result = handled
        if result.notify is not None:
            minutes = round(self.config.unlinked_hold / 60)

            def prompt(post: notices.Post) -> notices.Notice:
                if result.notify == "link":
                    return notices.LinkPrompt(minutes, post)
                return notices.RelinkPrompt(post)

            self._tasks.spawn(self._tell(event, prompt, shared), f"prompt {event.user_id}")
        if (
            event.added
            and event.may_remove_reactions
            and result.status is not ReactionStatus.IGNORED
            and result.previous == -value
        ):
            self._expected_removals[(event.message_id, event.user_id, -value)] = True
            return ReactionOutcome(remove=-value)
        return NOTHING

    def removal_failed(self, message_id: int, user_id: int, value: int) -> None:
        """The caller could not remove the reaction :meth:`on_reaction` asked it to: no removal event will come."""
        self._expected_removals.pop((message_id, user_id, value), None)

    async def known_intent(self, user_id: int, item_type: str, item_id: str) -> int | None:
        """The member's intended rating of the item: the last one they asked for, by reaction or button, as the
        store keeps it (it survives restarts and is shared by every process)."""
        return await self.store.get_intent(user_id, item_type, item_id)

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
        if shared.guild_id is not None:  # a vote in the server's taste
            await self.store.record_vote(shared.guild_id, user_id, shared.item_type, shared.item_id, new)
        return ReactionResult(result.status, result.value, previous, result.notify)

    async def set_intent(self, user_id: int, item_type: str, item_id: str, value: int) -> ReactionResult:
        """Durably record that the user wants ``value`` (1, -1, 0) for the item; hold it if they cannot act.
        Raises :class:`~bot.errors.TooManyWaiting` (nothing recorded) when it is a new item and the user already
        has ``max_per_user`` ratings waiting."""
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
            max_per_user=self.config.max_per_user,
        )
        self._told_full.pop(user_id, None)  # saved: a later refusal is told again
        self._remember(user_id, item_type, item_id, value)
        notify: str | None = None
        if notice is not None and await self.store.claim_notice(user_id, notice, now):
            notify = "link" if notice == NOTICE_LINK else "relink"
        if hold is None:
            self._wake()
        log.debug("user %d wants %s %s = %d (%s)", user_id, item_type, item_id, value, status.value)
        return ReactionResult(status, value, None, notify)

    def _remember(self, user_id: int, item_type: str, item_id: str, value: int) -> None:
        self._generation += 1
        self._intents[(user_id, item_type, item_id)] = (value, self._generation)

    # ------------------------------------------------------------------ catch-up

    def generation(self) -> int:
        """A counter of recorded intents; :meth:`reconcile` skips items touched after the ``since`` given."""
        return self._generation

    def _touched_since(self, key: _Key, generation: int) -> bool:
        cached = self._intents.get(key)
        return cached is not None and cached[1] > generation

    async def catch_up(
        self, read_reactions: ReactionReader, *, shard_ids: Collection[int] | None = None, shard_count: int = 1
    ) -> int:
        """Reconcile the 👍/👎 reactions made while the bot was offline on the messages of the catch-up window (of
        this process's shards): ``read_reactions`` reads each message's reactions from Discord (every reactor), as
        {user: {1, -1}}. Returns the number of intents queued.

        While the database is unavailable, catch-up waits for it (with backoff) and starts over: what it would
        queue is not lost to an outage at start-up."""

        async def catch_up_once() -> tuple[int, int]:
            since = self.generation()
            seen: list[tuple[SharedMessage, Mapping[int, set[int]]]] = []
            for shared in await self.recent(shard_ids=shard_ids, shard_count=shard_count):
                reactions = await read_reactions(shared)
                if reactions:
                    seen.append((shared, reactions))
            return len(seen), await self.reconcile(seen, since_generation=since)

        def waiting(exc: StoreUnavailable) -> None:
            log.warning("catch-up waits for the database (%s); trying again until it is back", exc)

        posts, queued = await self._while_store_unavailable(catch_up_once, waiting)
        self.caught_up.set()
        log.info("catch-up done (%d shared posts with reactions)", posts)
        return queued

    async def reconcile(
        self, seen: Iterable[tuple[SharedMessage, Mapping[int, set[int]]]], *, since_generation: int
    ) -> int:
        """Queue the intents the reactions ``seen`` show and Apple does not.

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
                    value = next(iter(values))
                    wanted.setdefault(user_id, {})[(shared.item_type, shared.item_id)] = value
                    if shared.guild_id is not None:  # what the reactions show is the member's vote in the server
                        await self.store.record_vote(shared.guild_id, user_id, shared.item_type, shared.item_id, value)
        enqueued = 0
        for user_id, items in wanted.items():
            account = await self.store.get_account(user_id)
            if account is None or not account.is_active:
                continue  # prompting users who reacted while the bot was away would be noise
            use = await self.ratings.guard.token(user_id)
            if use is None:
                continue
            pending = {(e.item_type, e.item_id) for e in await self.store.pending_for_user(user_id)}
            by_type: dict[str, list[str]] = {}
            for item_type, item_id in items:
                if (item_type, item_id) not in pending:
                    by_type.setdefault(item_type, []).append(item_id)
            for item_type, ids in by_type.items():
                try:
                    read = functools.partial(_read_ratings, self.apple, am.ResourceType(item_type), ids, use.token)
                    current = await self.ratings.guard.run(use, read)
                except (UnlinkedMeanwhile, LinkStale):
                    break  # the member unlinked meanwhile: nothing of theirs to catch up
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
                        try:
                            await self.set_intent(user_id, item_type, item_id, value)
                        except TooManyWaiting as exc:
                            log.info("catch-up: user %d's offline reactions were not queued: %s", user_id, exc)
                            break
                    enqueued += 1
        if enqueued:
            log.info("catch-up: %d reactions made while offline were queued", enqueued)
        return enqueued
