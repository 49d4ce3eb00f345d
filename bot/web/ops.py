"""The operator's endpoints: ``GET /healthz``, ``GET /readyz`` and ``GET /metrics``.

They are served on their own listener (:class:`OpsServer`, ``OPS_HOST``:``OPS_PORT``, 127.0.0.1 by default), or with
``OPS_LISTENER=web`` on the public linking page's server. There ``/metrics`` answers only a request bearing
``Authorization: Bearer <METRICS_TOKEN>`` (compared in constant time), and is not served at all without a token.

* ``/healthz`` — 200 ``{"ok": true}`` while the process answers.
* ``/readyz`` — 200 when ready, else 503; the body says which check is not ready:
  ``{"ready": false, "checks": {"shards": "...", "database": "ok", "outbox": "ok", "process": "ok"}}``.
* ``/metrics`` — Prometheus' text format.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.health import Readiness
from bot.metrics import CONTENT_TYPE

log = logging.getLogger(__name__)

__all__ = ["OpsEndpoints", "OpsServer"]


class OpsEndpoints:
    """The three handlers. ``metrics_token``: the bearer token ``/metrics`` requires (None: none required)."""

    def __init__(
        self,
        readiness: Callable[[], Awaitable[Readiness]],
        scrape: Callable[[], Awaitable[bytes]],
        *,
        metrics_token: str | None = None,
    ) -> None:
        self._readiness = readiness
        self._scrape = scrape
        self._expected = None if metrics_token is None else f"Bearer {metrics_token}".encode()

    @property
    def requires_token(self) -> bool:
        return self._expected is not None

    def add_to(self, app: web.Application, *, healthz: bool = True, metrics: bool = True) -> None:
        """Add the routes to ``app`` (``healthz=False``: the app has its own; ``metrics=False``: leave it out)."""
        if healthz:
            app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        if metrics:
            app.router.add_get("/metrics", self.metrics)

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def readyz(self, request: web.Request) -> web.Response:
        readiness = await self._readiness()
        return web.json_response(readiness.as_json(), status=200 if readiness.ready else 503)

    async def metrics(self, request: web.Request) -> web.Response:
        if self._expected is not None:
            given = request.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(given, self._expected):
                return web.json_response(
                    {"ok": False, "message": "a bearer token is required"},
                    status=401,
                    headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
                )
        body = await self._scrape()
        response = web.Response(body=body)
        response.headers["Content-Type"] = CONTENT_TYPE
        return response


class OpsServer:
    """The endpoints on their own listener (``port=0``: a free port, see :attr:`bound_port`)."""

    def __init__(self, endpoints: OpsEndpoints, *, host: str, port: int) -> None:
        self.endpoints = endpoints
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def bound_port(self) -> int:
        assert self._runner is not None, "the operations listener is not running"
        return int(self._runner.addresses[0][1])

    @property
    def bound_host(self) -> str:
        assert self._runner is not None, "the operations listener is not running"
        return str(self._runner.addresses[0][0])

    async def start(self) -> None:
        app = web.Application()
        self.endpoints.add_to(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        log.info("health and metrics listening on %s:%d", self.host, self.bound_port)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
