"""Serving a loopback server: on a port of 127.0.0.1 (tests), or as its own process until signalled (benchmarks).

``python -m loopback.apple`` and ``python -m loopback.discord`` each parse their own arguments, build
their server and hand it to :func:`run`, which is written once here: start, print one ``listening on
<addresses>`` line (the benchmarks read it), serve until SIGINT or SIGTERM, close.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web


async def listen(
    app: web.Application, host: str = "127.0.0.1", port: int = 0, **runner_options: Any
) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on ``host:port`` (0: a free port). Returns the runner (``cleanup()`` stops it) and the port."""
    runner = web.AppRunner(app, access_log=None, **runner_options)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner, int(runner.addresses[0][1])


def run(start: Callable[[], Awaitable[str]], close: Callable[[], Awaitable[None]]) -> None:
    """Run a server as this process: ``await start()`` (it returns the addresses to announce), print
    ``listening on <addresses>``, serve until SIGINT or SIGTERM, then ``await close()`` (also when ``start``
    failed half-way)."""
    asyncio.run(_serve(start, close))


async def _serve(start: Callable[[], Awaitable[str]], close: Callable[[], Awaitable[None]]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        addresses = await start()
        print(f"listening on {addresses}", flush=True)  # the benchmarks read this line
        await stop.wait()
    finally:
        await close()
