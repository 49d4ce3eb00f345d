"""The server mixtape: each week, a playlist of the server's most liked songs in every joined member's library.

A member joins or leaves their server's mixtape (``/mixtape join`` / ``leave``). When a server's week closes, the
recap scheduler calls :meth:`MixtapeService.week_closed`: it takes the week's most liked songs (net likes above
zero, at most ``size``, in the order of ``Store.top_items``) and durably queues one job per joined member: "create
the playlist '<server> — <week>' with these songs in your library". A week with no liked song makes no job.

The jobs are background work, applied by a :class:`MixtapeWorker`: the outbox's loop (:class:`LeasedWorker`), its
claims, leases and backoff (``OutboxConfig``), every Apple request inside ``am.background()`` under the shared
Apple budget, so a person waiting for a command is always served first. Each job runs through the
:class:`~bot.services.guard.LinkGuard`: ``/unlink`` stops it, and deletes the member's memberships and jobs.

Never two playlists for one (server, member, week): the store keeps one job per (server, member, week), done or
not, and a job that sent a create without learning whether Apple made the playlist (a timeout, a 5xx: the client
does not retry a create then) first looks in the member's library for a playlist of that exact name.

Who gets no playlist: a member who is not linked (skipped without a word: they were told at ``/mixtape join`` that
it needs a link), and a member whose link went stale (Apple refused it now, or it was already refused): they are
told once per stale link (``Store.mark_stale_notified``: the same "once" as the outbox's notice), that this week's
mixtape was not made and that linking again brings the next one.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot import applemusic as am
from bot.errors import LinkStale, UnlinkedMeanwhile
from bot.services import notices
from bot.services.guard import LinkGuard
from bot.services.outbox import LeasedWorker, LeaseLost, OutboxConfig
from bot.services.weeks import Week
from bot.storage import MixtapeJob, Store, TokenDecryptError

__all__ = ["MixtapeJoined", "MixtapeService", "MixtapeWorker", "playlist_name"]

log = logging.getLogger(__name__)

_RETRYABLE = (am.RateLimited, am.UpstreamError, am.UpstreamTimeout)


def playlist_name(server: str, week: Week) -> str:
    """The playlist's name: the server and the week (``My Server — 2026-W48``)."""
    return f"{server.strip() or 'Server'} — {week.label}"


def playlist_description(server: str) -> str:
    return f"The songs members of {server} liked most this week, through the ratings bot."


@dataclass(frozen=True, slots=True)
class MixtapeJoined:
    """What ``join`` did: whether they were new, and whether their Apple Music is linked (else no playlist)."""

    new: bool
    linked: bool


class MixtapeWorker(LeasedWorker[MixtapeJob]):
    """Applies due mixtape jobs (see the module docstring)."""

    kind = "mixtape"

    def __init__(
        self,
        store: Store,
        apple: am.AppleMusicClient,
        notifier: notices.Notifier,
        config: OutboxConfig | None = None,
        *,
        concurrency: int = 2,
        worker_id: str | None = None,
        guard: LinkGuard | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            store, config or OutboxConfig(), concurrency=concurrency, worker_id=worker_id, rng=rng, clock=clock
        )
        self.apple = apple
        self.notifier = notifier
        self.guard = guard or LinkGuard(store)

    async def _claim(self, limit: int) -> list[MixtapeJob]:
        return await self.store.mixtape_claim(self.worker_id, self._clock(), limit=limit, lease=self.config.lease)

    async def _next_due(self) -> float | None:
        return await self.store.mixtape_next_due()

    async def _retry_later(self, job: MixtapeJob, due_at: float, error: str) -> None:
        await self.store.mixtape_retry_later(job, due_at, error)

    async def _apply_checked(self, job: MixtapeJob) -> None:
        store = self.store
        try:
            use = await self.guard.token(job.user_id)
        except TokenDecryptError:
            log.error("mixtape: user %d's token cannot be decrypted; retrying later", job.user_id)
            await store.mixtape_retry_later(job, self._clock() + self.config.retry_max, "token cannot be decrypted")
            return
        if use is None:
            account = await store.get_account(job.user_id)
            if account is not None and not account.is_active:
                await self._stale(job)
            else:
                await store.mixtape_done(job, None, "not linked")  # skipped without a word
            return
        try:
            playlist_id = await self.guard.run(use, lambda allowed: self._make(job, use.token, allowed))
        except UnlinkedMeanwhile:
            log.info("mixtape: user %d unlinked; job %d was stopped (and deleted with their data)", job.user_id, job.id)
            return
        except (LinkStale, am.UserTokenInvalid):
            await store.mark_stale(job.user_id)
            await self._stale(job)
            return
        except _RETRYABLE as exc:
            self.failed += 1
            retry_after = exc.retry_after if isinstance(exc, am.RateLimited) else None
            log.info("mixtape: job %d failed (%s, attempt %d)", job.id, type(exc).__name__, job.attempts + 1)
            await store.mixtape_retry_later(job, self._clock() + self._backoff(job, retry_after), str(exc))
            return
        except (am.DeveloperTokenRejected, am.Redirected, am.ResponseTooLarge) as exc:
            self.failed += 1
            log.warning("mixtape: %s (user %d); retrying later", type(exc).__name__, job.user_id)
            await store.mixtape_retry_later(job, self._clock() + self.config.retry_max, str(exc))
            return
        except (am.AppleMusicError, ValueError) as exc:
            self.failed += 1
            log.warning("mixtape: job %d cannot be made: %s", job.id, exc)
            await store.mixtape_done(job, None, str(exc))
            return
        self.applied += 1
        await store.mixtape_done(job, playlist_id)

    async def _make(self, job: MixtapeJob, token: str, allowed: am.StillAllowed) -> str:
        """The playlist's id: found in the library when an earlier create may have made it, else created."""
        with am.background():  # nobody waits on this: commands go first
            if job.sent_at is not None:
                found = await self.apple.find_library_playlists(job.name, token, still_allowed=allowed)
                if found:
                    log.info("mixtape: job %d's playlist was made by an earlier try", job.id)
                    return found[0].id
            if not await self.store.mixtape_sent(job, self._clock()):
                raise LeaseLost()
            server = job.name.rsplit(" — ", 1)[0]
            playlist = await self.apple.create_library_playlist(
                job.name,
                [(am.ResourceType.SONGS, song) for song in job.tracks],
                token,
                description=playlist_description(server),
                still_allowed=allowed,
            )
            return playlist.id

    async def _stale(self, job: MixtapeJob) -> None:
        """No playlist: the member's link is stale. Told once per stale link (whoever tells first)."""
        await self.store.mixtape_done(job, None, "link stale")
        if await self.store.mark_stale_notified(job.user_id):
            await self.notifier.notify(job.user_id, notices.MixtapeMissed(job.name))


class MixtapeService:
    """Members join and leave; a closed week queues its playlists (see the module docstring)."""

    def __init__(self, store: Store, worker: MixtapeWorker, *, size: int = 25) -> None:
        if size < 1:
            raise ValueError("a mixtape holds at least one song")
        self.store = store
        self.worker = worker
        self.size = size

    def __repr__(self) -> str:
        return f"MixtapeService(size={self.size})"

    async def join(self, guild_id: int, user_id: int, server: str) -> MixtapeJoined:
        new = await self.store.mixtape_join(guild_id, user_id, server)
        account = await self.store.get_account(user_id)
        return MixtapeJoined(new, account is not None and account.is_active)

    async def leave(self, guild_id: int, user_id: int) -> bool:
        return await self.store.mixtape_leave(guild_id, user_id)

    async def week_closed(self, week: Week) -> int:
        """Queue the week's playlist for every joined member of ``week.guild_id``; returns jobs queued (0: no song
        was liked that week, nobody joined, or they were queued already)."""
        top = await self.store.top_items(week.guild_id, week.start, week.end, item_types=["songs"], limit=self.size)
        songs = [item.item_id for item in top if item.net > 0]
        members = await self.store.mixtape_members(week.guild_id)
        if not songs or not members:
            return 0
        name = playlist_name(members[-1].guild_name, week)
        made = await self.store.mixtape_enqueue(
            week.guild_id, [m.user_id for m in members], week.start, week.end, name, songs
        )
        log.info("mixtape: week %s of guild %d queued %d playlists", week.label, week.guild_id, made)
        if made:
            self.worker.wake()
        return made
