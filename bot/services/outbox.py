"""The outbox worker: applies the desired ratings the store holds to Apple Music, durably and in order.

Every intended write is in the store's outbox before any Apple call (``Store.enqueue``). This worker claims
due rows with a lease, applies each with the Apple client (``1``/``-1`` → PUT, ``0`` → DELETE), and completes
the row *by version*: if the user acted again meanwhile, the row stays and is applied again with the newer
value. Failures are kept and retried later with exponential backoff and jitter, across restarts.

Users are served in turn, not first come first served (``Store.claim_due`` takes rows by turn): a user with a
thousand waiting ratings delays another user's one rating by about one Apple request (the next free slot), and
each user's rows go in the order they were queued. Every process claims the same way from a shared database.
A user may have at most ``OutboxConfig.max_per_user`` rows waiting (``Store.enqueue`` refuses more).

* ``RateLimited`` / ``UpstreamError`` / ``UpstreamTimeout`` (after the client's own bounded retries) →
  ``retry_later`` with backoff (``Retry-After`` honoured when Apple sent one).
* ``UserTokenInvalid`` (403) → the link is marked stale (which holds the user's rows until they link again)
  and ``on_stale(user_id)`` is called once, on the active → stale transition.
* no linked account → the user's rows are held ``unlinked`` for ``unlinked_hold`` seconds.
* ``DeveloperTokenRejected``, ``Redirected``, ``ResponseTooLarge`` → kept and retried after ``retry_max``: an
  operator's or Apple's problem, not the rating's.
* other 4xx (unknown path value, not ratable) → dropped with a warning: retrying cannot help.
* the member unlinked while their rating was being applied (``/unlink`` cancels it through the
  :class:`~bot.services.guard.LinkGuard`, or a retry's check found the link gone) → nothing more is sent; the
  row was deleted with the account (a row held ``stale`` meanwhile waits, released).

The worker sleeps until the next row is due (``Store.next_due_at``), at most ``poll_interval``, and
:meth:`OutboxWorker.wake` wakes it at once (call it after enqueueing). At most ``concurrency`` rows are
applied at a time; it claims only as many rows as it can start at once, so no claim sits idle.
:meth:`OutboxWorker.stop` lets in-flight applies finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from bot import applemusic as am
from bot.errors import LinkStale, UnlinkedMeanwhile
from bot.logs import about
from bot.retrying import Backoff
from bot.services.guard import LinkGuard
from bot.storage import HoldReason, OutboxEntry, Store, StoreUnavailable, TokenDecryptError

log = logging.getLogger(__name__)

StaleCallback = Callable[[int], Awaitable[None]]


class Leased(Protocol):
    """A row of leased work: its id, and how many tries failed (the backoff grows with them)."""

    @property
    def id(self) -> int: ...

    @property
    def attempts(self) -> int: ...

    @property
    def user_id(self) -> int: ...


_Job = TypeVar("_Job", bound=Leased)


class LeaseLost(Exception):
    """Another worker holds the job now (our lease expired): it is theirs to finish."""


@dataclass(frozen=True, slots=True)
class OutboxConfig:
    """How the outbox behaves. The defaults suit production; tests shrink the times.

    - ``debounce``: a new action is applied this long after the last one (a burst collapses to one write).
    - ``max_delay``: ... but never later than this after the first pending action.
    - ``poll_interval``: the longest the worker sleeps without being woken (rows released by another process).
    - ``concurrency``: rows applied at once.
    - ``lease``: how long a claim is exclusive; longer than the client's longest apply (timeouts + retries).
    - ``retry_base`` / ``retry_max``: backoff after a failed apply, doubling per attempt, capped.
    - ``unlinked_hold``: how long a reaction by a user who has not linked waits for them to link.
    - ``max_per_user``: rows one user may have waiting (held or not); a rating of another item is then refused
      (a new rating of an item already waiting replaces it and is never refused).
    """

    debounce: float = 1.0
    max_delay: float = 10.0
    poll_interval: float = 5.0
    concurrency: int = 8
    lease: float = 120.0
    retry_base: float = 2.0
    retry_max: float = 600.0
    unlinked_hold: float = 600.0
    max_per_user: int = 500

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.max_per_user < 1:
            raise ValueError("concurrency and max_per_user must be at least 1")
        if min(self.debounce, self.max_delay, self.retry_base, self.retry_max) < 0:
            raise ValueError("outbox times must not be negative")
        if self.poll_interval <= 0 or self.lease <= 0:
            raise ValueError("poll_interval and lease must be positive")

    @property
    def backoff(self) -> Backoff:
        """The wait before the next try after a failed one: doubling from ``retry_base``, capped at ``retry_max``,
        jittered to 50–100 %."""
        return Backoff(self.retry_base, self.retry_max, jitter=(0.5, 1.0))


_RETRYABLE = (am.RateLimited, am.UpstreamError, am.UpstreamTimeout)


class LeasedWorker(Generic[_Job]):
    """The loop of durable background work claimed from the database with a lease (the outbox's ratings, the
    mixtape's playlists): claim what is due, up to ``concurrency`` at once, apply each in its own task, sleep until
    the next is due (at most ``poll_interval``) or :meth:`wake`. Subclasses say how to claim, when the next is due,
    and how to apply one (which never raises: it settles its row). ``start()`` once; ``stop()`` before the store
    and the HTTP session close."""

    #: how the worker is named in logs and task names
    kind = "worker"

    def __init__(
        self,
        store: Store,
        config: OutboxConfig,
        *,
        concurrency: int | None,
        worker_id: str | None,
        rng: random.Random | None,
        clock: Callable[[], float],
    ) -> None:
        self.store = store
        #: leases, backoff and polling (the outbox's settings)
        self.config = config
        self.concurrency = concurrency or config.concurrency
        self.poll_interval = config.poll_interval
        self._rng = rng or random.Random()  # jitter, not cryptography
        #: stored as ``claimed_by`` on the rows it holds: host and pid say which process that is
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._clock = clock
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        #: counters for logs and tests
        self.applied = 0
        self.failed = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.worker_id!r}, running={self.running}, in_flight={len(self._inflight)})"

    async def _claim(self, limit: int) -> list[_Job]:
        raise NotImplementedError

    async def _next_due(self) -> float | None:
        raise NotImplementedError

    async def _apply_checked(self, job: _Job) -> None:
        """Apply one claimed job and settle it; store errors propagate (``_apply`` handles them)."""
        raise NotImplementedError

    async def _retry_later(self, job: _Job, due_at: float, error: str) -> None:
        raise NotImplementedError

    async def _apply(self, job: _Job) -> None:
        """Apply one claimed job and settle it (done, retried later, held or dropped). Never raises."""
        with about(user=job.user_id):  # its log lines name the member
            await self._apply_logged(job)

    async def _apply_logged(self, job: _Job) -> None:
        try:
            await self._apply_checked(job)
        except (StoreUnavailable, LeaseLost) as exc:
            # the lease expires and the job is claimed again (once the database is back)
            log.warning("%s: job %d is left to its lease: %s", self.kind, job.id, exc)
            self.failed += 1
        except Exception as exc:
            # the store itself failed: the lease expires and the job is claimed again
            log.exception("%s: settling job %d failed", self.kind, job.id)
            self.failed += 1
            with contextlib.suppress(Exception):
                await self._retry_later(job, self._clock() + self._backoff(job), type(exc).__name__)

    def _backoff(self, job: _Job, retry_after: float | None = None) -> float:
        delay = self.config.backoff.delay(job.attempts + 1, self._rng)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.config.retry_max))
        return delay

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    def wake(self) -> None:
        """Something was enqueued or released: look for due rows now (and again when their debounce ends)."""
        self._wakeup.set()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self.running:
            return
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=f"{self.kind} {self.worker_id}")
        log.info("%s worker %s started", self.kind, self.worker_id)

    async def stop(self, timeout: float = 30.0) -> None:
        """Stop claiming, let in-flight applies finish (cancelled after ``timeout``), then return. Stopping a
        stopped worker does nothing."""
        if self._task is None and not self._inflight:
            return
        self._stopping = True
        self._wakeup.set()
        task, self._task = self._task, None
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._inflight:
            _, pending = await asyncio.wait(set(self._inflight), timeout=timeout)
            for t in pending:
                t.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
                log.warning("%s: %d applies did not finish in time; their leases will expire", self.kind, len(pending))
        log.info("%s worker %s stopped (applied %d, failed %d)", self.kind, self.worker_id, self.applied, self.failed)

    # ------------------------------------------------------------------ loop

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self._tick()
            except asyncio.CancelledError:
                raise
            except StoreUnavailable as exc:
                log.warning("%s: %s; trying again shortly", self.kind, exc)
                await self._sleep(min(self.poll_interval, 2.0))
            except Exception:
                log.exception("%s worker loop failed; retrying shortly", self.kind)
                await self._sleep(min(self.poll_interval, 1.0))

    async def _tick(self) -> None:
        self._wakeup.clear()
        free = self.concurrency - len(self._inflight)
        if free > 0:
            entries = await self._claim(free)
            for entry in entries:
                task = asyncio.create_task(self._apply(entry), name=f"{self.kind} apply")
                self._inflight.add(task)
                task.add_done_callback(self._done)
            if len(entries) == free:
                return  # there may be more due rows: claim again as soon as a slot is free
        else:
            # every slot is busy: a finishing apply sets the event
            await self._sleep(self.poll_interval)
            return
        next_due = await self._next_due()
        if next_due is None:
            delay = self.poll_interval
        else:
            delay = min(self.poll_interval, max(0.005, next_due - self._clock()))
        await self._sleep(delay)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._wakeup.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("%s apply crashed", self.kind, exc_info=task.exception())

    async def _sleep(self, delay: float) -> None:
        if self._stopping:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), delay)

    async def wait_until_drained(self, timeout: float = 10.0) -> None:
        """Wait until no unheld row is left and nothing is in flight (tests, graceful maintenance)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if not self._inflight and await self._next_due() is None:
                return
            if loop.time() >= deadline:
                raise TimeoutError(f"the {self.kind} was not drained in time")
            await asyncio.sleep(0.02)


class OutboxWorker(LeasedWorker[OutboxEntry]):
    """Applies due outbox rows. ``start()`` once; ``stop()`` before the store and the HTTP session close."""

    kind = "outbox"

    def __init__(
        self,
        store: Store,
        apple: am.AppleMusicClient,
        config: OutboxConfig | None = None,
        *,
        worker_id: str | None = None,
        on_stale: StaleCallback | None = None,
        guard: LinkGuard | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(store, config or OutboxConfig(), concurrency=None, worker_id=worker_id, rng=rng, clock=clock)
        self.apple = apple
        #: what /unlink cancels: every apply runs through it
        self.guard = guard or LinkGuard(store)
        #: called with the user id when Apple rejects a token (once per active → stale transition)
        self.on_stale = on_stale

    async def _claim(self, limit: int) -> list[OutboxEntry]:
        return await self.store.claim_due(self.worker_id, self._clock(), limit=limit, lease=self.config.lease)

    async def _next_due(self) -> float | None:
        return await self.store.next_due_at()

    # ------------------------------------------------------------------ one row

    async def _retry_later(self, job: OutboxEntry, due_at: float, error: str) -> None:
        await self.store.retry_later(job, due_at, error)

    async def _apply_checked(self, entry: OutboxEntry) -> None:
        store = self.store
        try:
            use = await self.guard.token(entry.user_id)
        except TokenDecryptError:
            log.error("outbox: user %d's token cannot be decrypted; retrying later", entry.user_id)
            await store.retry_later(entry, self._clock() + self.config.retry_max, "token cannot be decrypted")
            return
        if use is None:
            await self._hold_without_token(entry)
            return
        try:
            await self.guard.run(use, lambda allowed: self._send(entry, use.token, allowed))
        except (UnlinkedMeanwhile, LinkStale) as exc:
            log.info(
                "outbox: user %d's link went away (%s); entry %d was stopped",
                entry.user_id,
                type(exc).__name__,
                entry.id,
            )
            # the row went with the account (a stale one is held: release our claim on it)
            await store.retry_later(entry, self._clock(), "the link went away while applying")
            return
        except am.UserTokenInvalid:
            await self._token_rejected(entry)
            return
        except _RETRYABLE as exc:
            self.failed += 1
            retry_after = exc.retry_after if isinstance(exc, am.RateLimited) else None
            delay = self._backoff(entry, retry_after)
            log.info(
                "outbox: %s %s for user %d failed (%s, attempt %d); retry in %.1f s",
                entry.item_type,
                entry.item_id,
                entry.user_id,
                type(exc).__name__,
                entry.attempts + 1,
                delay,
            )
            await store.retry_later(entry, self._clock() + delay, str(exc))
            return
        except (am.DeveloperTokenRejected, am.Redirected, am.ResponseTooLarge) as exc:
            # an operator problem (or the user's subscription lapsed), or Apple answering what it should not
            # (a redirect, an answer far over the size cap): the rating is not at fault; keep the row, try much later
            self.failed += 1
            log.warning("outbox: %s (user %d); retrying later", type(exc).__name__, entry.user_id)
            await store.retry_later(entry, self._clock() + self.config.retry_max, str(exc))
            return
        except (am.AppleMusicError, ValueError) as exc:
            # not ratable / invalid id: retrying cannot help; drop this version
            self.failed += 1
            log.warning("outbox: dropping %s %s for user %d: %s", entry.item_type, entry.item_id, entry.user_id, exc)
            await store.complete(entry)
            return
        self.applied += 1
        if not await store.complete(entry):
            log.debug("outbox: entry %d changed while applying; it is applied again", entry.id)
            self.wake()

    async def _send(self, entry: OutboxEntry, token: str, allowed: am.StillAllowed) -> None:
        rtype = am.ResourceType(entry.item_type)
        with am.background():  # nobody waits on this very request: commands go first
            if entry.value == 0:
                await self.apple.delete_rating(rtype, entry.item_id, token, still_allowed=allowed)
            else:
                await self.apple.set_rating(rtype, entry.item_id, entry.value, token, still_allowed=allowed)

    async def _hold_without_token(self, entry: OutboxEntry) -> None:
        account = await self.store.get_account(entry.user_id)
        if account is not None and not account.is_active:
            await self.store.hold_user(entry.user_id, HoldReason.STALE)
        else:
            await self.store.hold_user(
                entry.user_id, HoldReason.UNLINKED, hold_expires_at=self._clock() + self.config.unlinked_hold
            )
        # release our lease so the row is claimable at once when the user links
        await self.store.retry_later(entry, self._clock(), "not linked")

    async def _token_rejected(self, entry: OutboxEntry) -> None:
        changed = await self.store.mark_stale(entry.user_id)  # also holds the user's rows as 'stale'
        await self.store.retry_later(entry, self._clock(), "Apple Music rejected the user token")
        if changed and self.on_stale is not None:
            try:
                await self.on_stale(entry.user_id)
            except Exception:
                log.exception("outbox: telling user %d about the stale link failed", entry.user_id)
