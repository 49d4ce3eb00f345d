"""`bot.aio.gather`, the bounded gather the Apple Music client batches with: order, limit, first failure, cancel.

Every test orders its coroutines with events, never with time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from bot.aio import gather, gather2


class Probe:
    """Coroutines that record how they ended and how many of them ran at once."""

    def __init__(self) -> None:
        self.running = 0
        self.peak = 0
        self.finished: list[int] = []
        self.cancelled: list[int] = []
        self._changed = asyncio.Condition()

    async def until(self, predicate: Callable[[], bool]) -> None:
        """Wait until `predicate()` holds, re-checking each time a coroutine starts or finishes."""
        async with self._changed:
            await self._changed.wait_for(predicate)

    async def until_finished(self, n: int) -> None:
        await self.until(lambda: n in self.finished)

    async def _note_change(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def hold(self, n: int, until: asyncio.Event) -> int:
        """Run until `until` is set, then return `n`."""
        self.running += 1
        self.peak = max(self.peak, self.running)
        await self._note_change()
        try:
            await until.wait()
        except asyncio.CancelledError:
            self.cancelled.append(n)
            raise
        finally:
            self.running -= 1
        self.finished.append(n)
        await self._note_change()
        return n

    async def forever(self, n: int) -> int:
        return await self.hold(n, asyncio.Event())


async def fail(exc: BaseException, after: asyncio.Event | None = None) -> int:
    if after is not None:
        await after.wait()
    raise exc


async def test_results_come_in_input_order_whatever_the_finishing_order() -> None:
    probe = Probe()
    go = [asyncio.Event() for _ in range(5)]

    async def release_backwards() -> None:
        for n in reversed(range(5)):
            go[n].set()
            await probe.until_finished(n)

    releaser = asyncio.create_task(release_backwards())
    assert await gather(probe.hold(n, go[n]) for n in range(5)) == [0, 1, 2, 3, 4]
    await releaser
    assert probe.finished == [4, 3, 2, 1, 0]


async def test_the_first_failure_is_raised_itself_and_the_rest_are_cancelled() -> None:
    probe = Probe()
    with pytest.raises(KeyError) as caught:  # the error itself: no ExceptionGroup to unwrap
        await gather([probe.forever(0), fail(KeyError("chunk 1")), probe.forever(2)])
    assert caught.value.args == ("chunk 1",)
    assert sorted(probe.cancelled) == [0, 2]
    assert probe.running == 0  # nothing is left behind


async def test_of_two_failures_the_earlier_one_wins_not_the_first_listed() -> None:
    first_failed = asyncio.Event()

    async def fail_first() -> int:
        first_failed.set()
        raise LookupError("first")

    with pytest.raises(LookupError, match="first"):
        await gather([fail(ValueError("second"), after=first_failed), fail_first()])


async def test_limit_bounds_how_many_run_at_once() -> None:
    probe = Probe()
    go = asyncio.Event()
    call = asyncio.create_task(gather((probe.hold(n, go) for n in range(6)), limit=2))
    await probe.until(lambda: probe.running >= 2)
    for _ in range(10):  # give the other four every chance to start: the limit must hold them back
        await asyncio.sleep(0)
    assert probe.running == 2
    go.set()
    assert await call == [0, 1, 2, 3, 4, 5]
    assert probe.peak == 2


async def test_limit_must_be_positive_and_nothing_gives_nothing() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        await gather([], limit=0)
    assert await gather([]) == []
    assert await gather([], limit=3) == []


async def test_any_awaitable_goes() -> None:
    future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    future.set_result("done")
    assert await gather([future, asyncio.sleep(0, result="slept")]) == ["done", "slept"]


async def test_cancelling_the_caller_cancels_everything() -> None:
    probe = Probe()
    call = asyncio.create_task(gather([probe.forever(0), probe.forever(1)]))
    await probe.until(lambda: probe.running >= 2)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert sorted(probe.cancelled) == [0, 1]


async def test_gather2_keeps_each_type_and_fails_like_gather() -> None:
    async def word() -> str:
        return "two"

    number, text = await gather2(asyncio.sleep(0, result=1), word())
    assert (number, text) == (1, "two")

    probe = Probe()
    with pytest.raises(PermissionError):
        await gather2(probe.forever(0), fail(PermissionError()))
    assert probe.cancelled == [0]
