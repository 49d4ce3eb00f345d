"""The weekly recap, and the one scheduler of "a server's week has ended".

Every server has a week (``bot.services.weeks``): the one its admins chose for the recap (weekday, hour, time zone),
or Monday 00:00 UTC when they chose none. When a server's week ends, exactly one process closes it, chosen through
the database: it claims (server, week) with a lease (``RECAP_LEASE_SECONDS``; a process that dies while closing it is
replaced once the lease runs out), runs the callbacks registered with :meth:`Recaps.on_week_closed` (the mixtape),
posts the recap (when the server has a recap channel and the week has rated songs), and marks the week closed.

Which servers: those with recap settings, and those where something was shared in the last eight days (a server with
nothing shared has no week to close). Any process may close any server's week: the post goes through Discord's REST
API, which needs no gateway connection to the server's shard, so a week closes even when the process of that shard
is down; the claim makes it once.

Catch-up: a process looks at the latest ended week of each server, never older ones. A recap missed while every
process was down is posted once when one comes back; if more than one week was missed, only the latest is posted
(an old recap is news no more). A week that ended before its server's recap settings were last changed gets no post.

Waking: at the next end of any server's week, at the latest ``RECAP_CHECK_SECONDS`` after the last look (new servers,
new settings of other processes), and at once when this process changes a server's settings (:meth:`Recaps.wake`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import zoneinfo
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeAlias

from bot import applemusic as am
from bot.aio import Loop, Sleep
from bot.errors import BadRecapTime, BadTimeZone
from bot.services.ratings import DEFAULT_STOREFRONT, ItemRef, RatingService
from bot.services.weeks import DEFAULT_TIMEZONE, UnknownTimeZone, Week, WeeklySlot, last_week, next_end, time_zone
from bot.storage import RecapSettings, StorageError, Store, TopItem

__all__ = [
    "COMMON_ZONES",
    "Recap",
    "RecapPostFailed",
    "RecapPoster",
    "RecapSong",
    "Recaps",
    "WeekClosed",
    "zones_matching",
]

log = logging.getLogger(__name__)

#: what runs once a server's week has ended, on the process that closes it
WeekClosed: TypeAlias = Callable[[Week], Awaitable[None]]
DAY = 86_400.0
#: songs on a recap card
RECAP_SONGS = 10
#: sharers a recap card may name (among those who chose to be named)
RECAP_SHARERS = 5
#: a claim is not used to post when less than this is left of its lease (another process may take it over)
LEASE_MARGIN = 10.0


@dataclass(frozen=True, slots=True)
class RecapSong:
    """One song of a recap: its name and artist (None when the catalog did not say), its Apple Music link, its votes."""

    name: str | None
    artist: str | None
    url: str
    likes: int
    dislikes: int

    @property
    def net(self) -> int:
        return self.likes - self.dislikes


@dataclass(frozen=True, slots=True)
class Recap:
    """A server's week: its most liked songs, the sharers who chose to be named, and how many others shared."""

    week: Week
    timezone: str
    songs: list[RecapSong]
    named_sharers: list[tuple[int, int]]  # (user id, songs shared), best first
    other_sharers: int


class RecapPostFailed(Exception):
    """Discord did not take the recap, for a reason that may pass (the week is retried after its lease)."""


class RecapPoster(Protocol):
    """Posts a recap card (``bot.ui``, through Discord)."""

    async def post(self, channel_id: int, recap: Recap) -> int | None:
        """The posted message's id; None when the channel cannot take it (gone, or the bot may not post there: the
        week closes without a post). Raises :class:`RecapPostFailed` for a failure worth retrying (the week is retried
        after the lease)."""


class Recaps:
    """The scheduler of servers' weeks and their recaps (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        ratings: RatingService,
        worker_id: str,
        *,
        poster: RecapPoster | None = None,
        lease: float = 300.0,
        interval: float = 600.0,
        clock: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.store = store
        self.ratings = ratings
        self.worker_id = worker_id
        self.poster = poster
        self.lease = lease
        self.interval = interval
        self._clock = clock
        self._sleep = sleep
        self._callbacks: list[WeekClosed] = []
        #: (guild, week label) known closed: not asked again
        self._closed: set[tuple[int, str]] = set()
        self._wake = asyncio.Event()
        self._loop = Loop("weekly recaps", self._run)
        self._looked = asyncio.Condition()
        #: the clock's time of the last finished look at the servers' weeks
        self.looked_at = float("-inf")
        #: recaps this process posted
        self.posted = 0

    # ------------------------------------------------------------------ settings (``/ratings-admin recap``)
    async def configure(
        self, guild_id: int, channel_id: int, weekday: int, hour: int, timezone: str | None
    ) -> RecapSettings:
        """Post the server's recap in ``channel_id`` when its week ends (``timezone`` None: the one it has, or UTC)."""
        if not 0 <= weekday <= 6:
            raise BadRecapTime("weekday", weekday)
        if not 0 <= hour <= 23:
            raise BadRecapTime("hour", hour)
        if timezone is None:
            current = await self.store.recap_settings(guild_id)
            timezone = current.timezone if current is not None else DEFAULT_TIMEZONE
        settings = await self.store.set_recap(guild_id, channel_id, weekday, hour, self.check_zone(timezone))
        self.wake()
        return settings

    async def turn_off(self, guild_id: int) -> bool:
        """No more recaps in the server (its week and time zone stay). True if a recap was on."""
        current = await self.store.recap_settings(guild_id)
        if current is None or current.channel_id is None:
            return False
        await self.store.set_recap(guild_id, None, current.weekday, current.hour, current.timezone)
        self.wake()
        return True

    @staticmethod
    def check_zone(name: str) -> str:
        """``name`` as stored (``BadTimeZone`` if it is not an IANA time zone)."""
        try:
            time_zone(name.strip())
        except UnknownTimeZone:
            raise BadTimeZone(name) from None
        return name.strip()

    async def slot(self, guild_id: int) -> WeeklySlot | None:
        """When the server's week ends, if its admins chose it (the recap on or off); None: they never did."""
        settings = await self.store.recap_settings(guild_id)
        return slot_of(settings) if settings is not None else None

    def next_post(self, settings: RecapSettings) -> float:
        """When the server's next recap is due."""
        return next_end(slot_of(settings), self._clock())

    # ------------------------------------------------------------------ weeks closed
    def on_week_closed(self, callback: WeekClosed) -> None:
        """Run ``callback`` when a server's week has ended, on the process that closes it, before the recap is
        posted. It runs again if the closing is retried (the process died, or Discord failed the post before the
        week was marked closed): make it idempotent per (server, week label)."""
        self._callbacks.append(callback)

    async def run_once(self) -> float:
        """Close every server's latest ended week not closed yet; returns when to look again (clock time)."""
        now = self._clock()
        settings = {s.guild_id: s for s in await self.store.all_recap_settings()}
        guilds = set(settings) | set(await self.store.shared_guilds(now - 8 * DAY))
        wake_at = now + self.interval
        for guild_id in sorted(guilds):
            found = settings.get(guild_id)
            slot = slot_of(found) if found is not None else WeeklySlot()
            wake_at = min(wake_at, next_end(slot, now))
            week = last_week(guild_id, slot, now)
            if (guild_id, week.label) in self._closed:
                continue
            try:
                if not await self._close(week, found, now):
                    wake_at = min(wake_at, now + self.lease)  # held by another process: look again after its lease
            except (StorageError, am.AppleMusicError, OSError, RecapPostFailed) as exc:
                log.warning("closing week %s of server %d failed (%s); retried later", week.label, guild_id, exc)
                wake_at = min(wake_at, now + self.lease)
            except Exception:
                log.exception("closing week %s of server %d failed; retried later", week.label, guild_id)
                wake_at = min(wake_at, now + self.lease)
        async with self._looked:
            self.looked_at = now
            self._looked.notify_all()
        return wake_at

    async def _close(self, week: Week, settings: RecapSettings | None, now: float) -> bool:
        """Close the week if this process can claim it; False while another process holds it."""
        store, key = self.store, (week.guild_id, week.label)
        if not await store.claim_week(week.guild_id, week.label, week.end, self.worker_id, self.lease, now):
            row = await store.closed_week(week.guild_id, week.label)
            if row is not None and row.closed_at is not None:
                self._closed.add(key)
                return True
            return False
        for callback in self._callbacks:
            try:
                await callback(week)
            except Exception:
                log.exception("a week-closed job failed for week %s of server %d", week.label, week.guild_id)
        message_id = None
        if settings is not None and settings.channel_id is not None and settings.updated_at <= week.end:
            message_id = await self._post(settings.channel_id, week, settings.timezone, now)
        if await store.close_week(week.guild_id, week.label, self.worker_id, message_id):
            log.info("closed week %s of server %d (recap message %s)", week.label, week.guild_id, message_id)
        self._closed.add(key)
        return True

    async def _post(self, channel_id: int, week: Week, timezone: str, claimed_at: float) -> int | None:
        recap = await self.recap_of(week, timezone)
        if not recap.songs or self.poster is None:
            log.info("week %s of server %d had no rated songs: no recap posted", week.label, week.guild_id)
            return None
        if self._clock() > claimed_at + self.lease - LEASE_MARGIN:
            raise StorageError("the claim of the week ran out before its recap was posted")
        message_id = await self.poster.post(channel_id, recap)
        if message_id is not None:
            self.posted += 1
        return message_id

    async def recap_of(self, week: Week, timezone: str = DEFAULT_TIMEZONE) -> Recap:
        """The week's recap: its most liked songs (more likes than dislikes; with names from Apple's catalog, in the
        default country: a server has no country, and Apple Music links open in each listener's own), and its
        sharers (named only if they chose to be named in the server)."""
        top = await self.store.top_items(week.guild_id, week.start, week.end, item_types=("songs",), limit=RECAP_SONGS)
        top = [t for t in top if t.net > 0]  # a song more disliked than liked is not among the most liked
        sharers = await self.store.top_sharers(week.guild_id, week.start, week.end, limit=1000)
        named = await self.store.taste_named(week.guild_id, [s.user_id for s in sharers[:RECAP_SHARERS]])
        shown = [(s.user_id, s.shares) for s in sharers[:RECAP_SHARERS] if s.user_id in named]
        return Recap(week, timezone, await self._songs(top), shown, len(sharers) - len(shown))

    async def _songs(self, top: list[TopItem]) -> list[RecapSong]:
        refs = [ItemRef(am.ResourceType(t.item_type), t.item_id) for t in top]
        described = await self.ratings.describe_many(refs, DEFAULT_STOREFRONT, background=True)
        songs = []
        for ref, t in zip(refs, top, strict=True):
            item, url = described[ref]
            if url is None:  # a library song has no public page (never recorded as shared; skipped all the same)
                continue
            name = item.name if item is not None else None
            songs.append(RecapSong(name, item.artist_name if item is not None else None, url, t.likes, t.dislikes))
        return songs

    # ------------------------------------------------------------------ running
    def wake(self) -> None:
        """Look at the servers' weeks now (a server's settings changed)."""
        self._wake.set()

    async def looked(self, at: float) -> None:
        """Wait until a look at the servers' weeks has finished at clock time ``at`` or later."""
        async with self._looked:
            await self._looked.wait_for(lambda: self.looked_at >= at)

    async def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def _run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            self._wake.clear()
            try:
                wake_at = await self.run_once()
            except Exception as exc:  # never ends the loop: the database may be back at the next look
                if isinstance(exc, StorageError):
                    log.warning("the weekly recaps could not look at the servers' weeks: %s; trying again later", exc)
                else:
                    log.exception("the weekly recaps failed; trying again later")
                wake_at = self._clock() + min(self.interval, self.lease)
            # the wait is counted from the clock's time now, not from the look's start: when the clock passed
            # ``wake_at`` during the look (a slow look, or a test moved it), the next look is at once (every look ends
            # with a ``wake_at`` after its own start: never a busy loop)
            delay = wake_at - self._clock()
            if delay > 0:
                await self._wait(delay, stopping)

    async def _wait(self, seconds: float, stopping: asyncio.Event) -> None:
        """Until ``seconds`` have passed on the clock, :meth:`wake` or :meth:`stop`, whichever comes first."""
        waits = [
            asyncio.ensure_future(self._sleep(seconds)),
            asyncio.ensure_future(self._wake.wait()),
            asyncio.ensure_future(stopping.wait()),
        ]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
            for waiting in waits:
                with contextlib.suppress(asyncio.CancelledError):
                    await waiting


#: offered first when an admin picks a time zone
COMMON_ZONES = (
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Paris",
    "Europe/Madrid",
    "Europe/Moscow",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "America/Mexico_City",
    "Asia/Tokyo",
    "Asia/Seoul",
    "Asia/Shanghai",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Australia/Sydney",
    "Pacific/Auckland",
    "Africa/Johannesburg",
)


@functools.cache
def _all_zones() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))


def zones_matching(text: str, limit: int = 25) -> list[str]:
    """Time zone names for an admin typing ``text``: common ones first, then every IANA name containing it."""
    needle = text.strip().lower().replace(" ", "_")
    found = [z for z in COMMON_ZONES if needle in z.lower()]
    found += [z for z in _all_zones() if needle in z.lower() and z not in found]
    return found[:limit]


def slot_of(settings: RecapSettings) -> WeeklySlot:
    """When the server's week ends, as its admins chose."""
    return WeeklySlot(settings.weekday, settings.hour, settings.timezone)
