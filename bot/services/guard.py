"""What ``/unlink`` stops at once: every piece of work that sends a member's music user token to Apple.

Work with a member's token (a rating from the outbox, a ``/rating`` command or button, a language lookup, a
catch-up read) goes through one :class:`LinkGuard`:

* :meth:`LinkGuard.token` reads the token with the member's *generation* (how many times they unlinked in this
  process), the generation first, so an unlink in between is always seen;
* :meth:`LinkGuard.run` runs the work as its own task, registered under the member, and hands it the
  ``still_allowed`` check to give every Apple call; work of an old generation is refused before it starts;
* :meth:`LinkGuard.revoke`, called by ``/unlink`` once the store has deleted the account, bumps the generation
  and cancels every such task, and waits for them to end;
* :meth:`LinkGuard.still_allowed` is the check the Apple client awaits before every retry: the in-process
  generation first (free), then the store, because another process sharing PostgreSQL may have unlinked the
  member: the token must still be the member's active link.

Work stopped either way raises :class:`~bot.errors.UnlinkedMeanwhile` (or :class:`~bot.errors.LinkStale` when
the link turned stale rather than deleted).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bot import applemusic as am
from bot.errors import LinkStale, UnlinkedMeanwhile
from bot.storage import Store

__all__ = ["LinkGuard", "TokenUse", "Work"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

#: work with a member's token, given the check to pass to each Apple call it makes
Work = Callable[[am.StillAllowed], Coroutine[Any, Any, _T]]

#: how long ``revoke`` waits for cancelled work to end (``/unlink`` answers within Discord's 3 s)
REVOKE_WAIT = 1.0


@dataclass(frozen=True, slots=True)
class TokenUse:
    """A member's token as read for one piece of work, with the generation it was read under."""

    user_id: int
    token: str = field(repr=False)
    generation: int


class LinkGuard:
    """Registers the work done with members' tokens, so that an unlink stops it (see the module docstring)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        #: user id -> how many times they unlinked in this process (absent: never)
        self._generations: dict[int, int] = {}
        #: user id -> their work running now
        self._work: dict[int, set[asyncio.Task[Any]]] = {}

    def __repr__(self) -> str:
        return f"LinkGuard(members_with_work={len(self._work)})"

    def generation(self, user_id: int) -> int:
        return self._generations.get(user_id, 0)

    def running(self, user_id: int) -> int:
        """How many pieces of the member's work are running now."""
        return len(self._work.get(user_id, ()))

    async def token(self, user_id: int) -> TokenUse | None:
        """The member's token with its generation; None when not linked (or stale). Store errors propagate."""
        generation = self.generation(user_id)  # before the read: an unlink during it bumps it
        token = await self.store.get_user_token(user_id)
        return None if token is None else TokenUse(user_id, token, generation)

    async def still_allowed(self, use: TokenUse) -> bool:
        """Whether ``use.token`` may still be sent: the member has not unlinked here, and the store still holds
        that token as their active link (another process may have unlinked them)."""
        if self.generation(use.user_id) != use.generation:
            return False
        return await self.store.get_user_token(use.user_id) == use.token

    async def run(self, use: TokenUse, work: Work[_T]) -> _T:
        """Run ``work(still_allowed)`` as a task an unlink of ``use.user_id`` cancels; its result, or its error.

        Raises :class:`UnlinkedMeanwhile` when the member unlinked before or while it ran (in this process, or
        in another one as a retry's check found), :class:`LinkStale` when the check found the link stale.
        """
        if self.generation(use.user_id) != use.generation:
            raise UnlinkedMeanwhile()
        check = functools.partial(self.still_allowed, use)
        task = asyncio.create_task(work(check), name=f"Apple Music work of user {use.user_id}")
        tasks = self._work.setdefault(use.user_id, set())
        tasks.add(task)
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            ours = current is None or current.cancelling() == 0  # not a cancellation of the caller itself
            if ours and task.cancelled() and self.generation(use.user_id) != use.generation:
                raise UnlinkedMeanwhile() from None
            raise
        except am.RequestWithdrawn:
            account = await self.store.get_account(use.user_id)
            if account is not None and not account.is_active:
                raise LinkStale() from None
            raise UnlinkedMeanwhile() from None
        finally:
            tasks.discard(task)
            if not tasks and self._work.get(use.user_id) is tasks:
                del self._work[use.user_id]

    async def revoke(self, user_id: int) -> int:
        """The member unlinked (the store has already deleted the account): refuse their work from now on,
        cancel what runs, and wait (briefly) for it to end. Returns how many pieces of work were cancelled."""
        self._generations[user_id] = self.generation(user_id) + 1
        tasks = self._work.pop(user_id, set())
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=REVOKE_WAIT)
            if pending:
                log.warning(
                    "user %d unlinked: %d cancelled Apple Music requests are still ending", user_id, len(pending)
                )
            log.info("user %d unlinked: %d running Apple Music requests were stopped", user_id, len(tasks))
        return len(tasks)
