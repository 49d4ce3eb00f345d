"""The discord.py side: pointing the real, unpatched discord.py at a loopback Discord, and running a client.

* :func:`point_discordpy_at` / :func:`set_discordpy_urls` set discord.py's documented URL globals (and restore
  them).
* :func:`running_client` starts a ``discord.Client`` / ``commands.Bot`` and waits until it is ready.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

import yarl

if TYPE_CHECKING:
    from loopback.discord.server import LoopbackDiscord


@contextlib.asynccontextmanager
async def running_client(client: Any, token: str, *, timeout: float = 10.0) -> AsyncIterator[Any]:
    """Start a ``discord.Client`` (``client.start(token)``) in a task, wait until ready, yield it, close it.

    Raises what ``start`` raised if the client dies before it is ready (e.g. ``LoginFailure``,
    ``PrivilegedIntentsRequired``), ``TimeoutError`` if it is not ready in ``timeout`` seconds.
    """
    task = asyncio.ensure_future(client.start(token))
    ready = asyncio.ensure_future(client.wait_until_ready())
    try:
        done, _ = await asyncio.wait({task, ready}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            task.result()
            raise RuntimeError("the client stopped before it was ready")
        if ready not in done:
            raise TimeoutError(f"the client was not ready after {timeout}s")
        yield client
    finally:
        ready.cancel()
        await client.close()
        if not task.done():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), 5)
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: errors after close are not the test's business


# ---------------------------------------------------------------------------------------- discord.py globals
def set_discordpy_urls(api_base: str, gateway_url: str) -> Callable[[], None]:
    """Point discord.py's URL globals at a server; returns a function that restores the previous values.

    The globals (all of them; checked against discord.py 2.7.1):

    * ``discord.http.Route.BASE`` — every REST route, including the webhook adapter's routes
      (``discord.webhook.async_.Route`` *is* ``discord.http.Route``): interaction callbacks
      (``/interactions/{id}/{token}/callback``), follow-ups and ``@original`` edits all go through it.
      ``Route`` reads it when a route object is built, so changing it affects later requests only.
    * ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`` — the first gateway connection of a ``Client`` (an
      ``AutoShardedClient`` without ``shard_count`` asks ``GET /gateway/bot`` instead, served here too;
      reconnects use READY's ``resume_gateway_url``).

    Not changed (never contacted by a bot in tests): ``Webhook.url`` strings and CDN asset URLs.
    """
    import discord.gateway
    import discord.http

    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)

    def restore() -> None:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway

    return restore


@contextlib.contextmanager
def point_discordpy_at(server: LoopbackDiscord) -> Iterator[LoopbackDiscord]:
    """Context manager: discord.py talks to ``server`` inside the block (see :func:`set_discordpy_urls`)."""
    restore = set_discordpy_urls(server.api_base, server.gateway_url)
    try:
        yield server
    finally:
        restore()
