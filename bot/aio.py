"""Small asyncio helpers: a bounded `gather` that fails like a single call, and the `Sleep` type.

`gather` runs awaitables in an `asyncio.TaskGroup`: results come back in input order; the first failure
cancels the others and is raised itself (not wrapped in an `ExceptionGroup`), so a caller can write
`except am.UserTokenInvalid` around a batched call exactly as around a single one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeAlias, TypeVar

__all__ = ["Sleep", "gather", "gather2"]

_T = TypeVar("_T")
_U = TypeVar("_U")

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
