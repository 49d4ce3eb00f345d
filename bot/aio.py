"""Small asyncio helpers: a bounded `gather` that fails like a single call, `TaskSet` for background tasks that
must not be lost, `SingleFlight` so that concurrent identical requests are made once, `repeat` for periodic work,
and the `Sleep` type.

`gather` runs awaitables in an `asyncio.TaskGroup`: results come back in input order; the first failure
cancels the others and is raised itself (not wrapped in an `ExceptionGroup`), so a caller can write
`except am.UserTokenInvalid` around a batched call exactly as around a single one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Hashable, Iterable, Mapping
from typing import Any, Generic, TypeAlias, TypeVar

__all__ = ["SingleFlight", "Sleep", "TaskSet", "gather", "gather2", "repeat"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_U = TypeVar("_U")
_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V")

#: What `asyncio.sleep` is to code that lets tests inject time.
Sleep: TypeAlias = Callable[[float], Awaitable[None]]


async def gather(aws: Iterable[Awaitable[_T]], *, limit: int | None = None) -> list[_T]:
    """Await all of `aws` concurrently (at most `limit` at a time) and return their results in order.

    On the first failure the others are cancelled and that failure is raised.
    """
    return [task.result() for task in await _run(aws, limit)]


async def gather2(first: Awaitable[_T], second: Awaitable[_U]) -> tuple[_T, _U]:
    """`gather` for two awaitables of different types: `(await first, await second)`, run concurrently."""
    a, b = await _run((first, second), None)
    return a.result(), b.result()


async def _run(aws: Iterable[Awaitable[Any]], limit: int | None) -> list[asyncio.Task[Any]]:
    """The finished tasks of `aws`, all successful; else the first failure, raised after the rest are cancelled."""
    if limit is not None and limit < 1:
        raise ValueError("limit must be at least 1")
    slots = asyncio.Semaphore(limit) if limit is not None else None

    async def run(aw: Awaitable[Any]) -> Any:
        if slots is None:
            return await aw
        async with slots:
            return await aw

    failure: BaseException | None = None
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(run(aw)) for aw in aws]
    except BaseExceptionGroup as failed:
        failure = failed.exceptions[0]  # the group lists failures in the order they happened
    if failure is not None:
        raise failure  # outside the handler: the group does not become the failure's context
    return tasks


async def repeat(
    work: Callable[[], Awaitable[object]],
    interval: float,
    stop: asyncio.Event,
    *,
    what: str,
    expected: tuple[type[Exception], ...] = (),
    wait_first: bool = False,
    wake: asyncio.Event | None = None,
) -> None:
    """Run ``work`` every ``interval`` seconds (the first time at once, or after one interval with ``wait_first``)
    until ``stop`` is set; setting ``wake`` runs it at once (it is cleared when the work starts). A failure never ends
    the loop: an ``expected`` one is a WARNING, any other is logged with its traceback."""
    if wait_first:
        await _pause(stop, interval, wake)
    while not stop.is_set():
        if wake is not None:
            wake.clear()
        try:
            await work()
        except expected as exc:
            log.warning("%s: %s; trying again later", what, exc)
        except Exception:
            log.exception("%s failed; trying again later", what)
        await _pause(stop, interval, wake)


async def _pause(stop: asyncio.Event, interval: float, wake: asyncio.Event | None) -> None:
    """Wait ``interval`` seconds, or until ``stop`` (or ``wake``) is set."""
    events = [stop] if wake is None else [stop, wake]
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()


class Loop:
    """One long-running background task (housekeeping, the heartbeat, the weekly recaps): ``start`` runs
    ``run(stopping)`` once (a second start does nothing); ``stop`` sets ``stopping`` and waits for the task to end."""

    def __init__(self, name: str, run: Callable[[asyncio.Event], Awaitable[None]]) -> None:
        self._name = name
        self._run = run
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self) -> bool:
        """Start the task; False if it runs already."""
        if self._task is not None:
            return False
        self._stopping.clear()
        self._task = asyncio.create_task(self._main(), name=self._name)
        return True

    async def _main(self) -> None:
        await self._run(self._stopping)

    async def stop(self) -> bool:
        """Ask the task to end and wait for it; False if it was not running."""
        task, self._task = self._task, None
        if task is None:
            return False
        self._stopping.set()
        await task
        return True


class TaskSet:
    """Fire-and-forget tasks, kept referenced until done; a failure is logged, never lost silently."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Coroutine[Any, Any, _T], name: str) -> asyncio.Task[_T]:
        task = asyncio.create_task(coro, name=f"{self._name}: {name}")
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %r failed", task.get_name(), exc_info=task.exception())

    async def wait(self) -> None:
        """Wait until every task (including those spawned meanwhile) has ended."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """Cancel what is still running and wait for it to end."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


class SingleFlight(Generic[_K, _V]):
    """At most one request in flight per key: callers asking for a key already being fetched await that fetch.

    ``fetch(keys)`` fetches several keys at once (one batched request) and returns a value for each; it runs in a
    task of ``tasks``, not in a caller's, so a caller that is cancelled leaves the others (and the fetch) running.
    Its failure is raised to every caller of its keys; nothing is kept of it, so the next call fetches again. A
    cache is ``fetch``'s business: filled inside it, it holds the value before the key stops being in flight.
    """

    def __init__(self, tasks: TaskSet, what: str) -> None:
        self._tasks = tasks
        self._what = what
        self._flights: dict[_K, asyncio.Future[_V]] = {}

    async def get(self, keys: Iterable[_K], fetch: Callable[[list[_K]], Awaitable[Mapping[_K, _V]]]) -> dict[_K, _V]:
        """The value of each key: from the fetch in flight for it, or from one new ``fetch`` of those that are not."""
        wanted = list(dict.fromkeys(keys))
        new = [key for key in wanted if key not in self._flights]
        if new:
            loop = asyncio.get_running_loop()
            futures: dict[_K, asyncio.Future[_V]] = {}
            for key in new:
                futures[key] = self._flights[key] = loop.create_future()
                futures[key].add_done_callback(_consume)
            self._tasks.spawn(self._fly(futures, fetch), self._what)
        flights = [(key, self._flights[key]) for key in wanted]
        # shielded: a caller cancelled while waiting must not cancel the value the other callers wait for
        return {key: await asyncio.shield(future) for key, future in flights}

    async def _fly(
        self, futures: dict[_K, asyncio.Future[_V]], fetch: Callable[[list[_K]], Awaitable[Mapping[_K, _V]]]
    ) -> None:
        try:
            found = await fetch(list(futures))
            for key, future in futures.items():
                future.set_result(found[key])
        except asyncio.CancelledError:
            for future in futures.values():
                future.cancel()
            raise
        except Exception as exc:  # every caller of these keys gets it (a KeyError: ``fetch`` missed a key)
            for future in futures.values():
                if not future.done():
                    future.set_exception(exc)
        finally:
            for key, future in futures.items():
                if self._flights.get(key) is future:
                    del self._flights[key]


def _consume(future: asyncio.Future[Any]) -> None:
    """Mark a flight's failure as seen (its callers may all have gone): asyncio would log it as never retrieved."""
    if not future.cancelled():
        future.exception()
