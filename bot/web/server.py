"""The linking page server (aiohttp.web).

Routes:
    GET  /link?state=…      the page; MusicKit JS is configured with a short-lived developer token whose
                            ``origin`` claim is this page's origin
    POST /link/complete     JSON ``{"state", "token"}`` → JSON ``{"ok", "code", "message"}``
    GET  /static/…          the page's script and style
    GET  /healthz           liveness

Every answer carries strict headers (CSP, no referrer, no caching). Nothing is ever served back that
contains a music user token.
"""

from __future__ import annotations

import html
import json
import logging
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from bot import applemusic as am
from bot import errors as e
from bot.services.linking import LinkService
from bot.ui.errors import describe_error

log = logging.getLogger(__name__)

_STATIC = {"link.js": "text/javascript", "link.css": "text/css"}
_MAX_BODY = 16 * 1024


#: a failed link, as the page sees it: (HTTP status, the code the page's script reacts to)
LINK_FAILURES: dict[type[e.LinkError], tuple[int, str]] = {
    e.StateInvalid: (400, "invalid_link"),
    e.StateExpired: (410, "expired"),
    e.StateUsed: (409, "already_used"),
    e.NoPendingLink: (400, "no_pending_link"),
    e.NotAToken: (400, "not_a_token"),
    e.AppleRefusedToken: (403, "apple_refused"),
    e.NoSubscription: (402, "no_subscription"),
    e.AppleUnavailable: (503, "apple_unavailable"),
}


def link_failure(error: e.LinkError) -> tuple[int, str]:
    return LINK_FAILURES.get(type(error), (400, "link_failed"))


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class LinkWebServer:
    def __init__(
        self,
        links: LinkService,
        developer_token: am.DeveloperToken,
        *,
        link_base_url: str,
        musickit_js_url: str,
        host: str,
        port: int,
        token_lifetime: float = 1800.0,
        app_name: str = "Apple Music ratings for Discord",
    ) -> None:
        self.links = links
        self.developer_token = developer_token
        self.origin = origin_of(link_base_url)
        self.musickit_js_url = musickit_js_url
        self.host = host
        self.port = port
        self.app_name = app_name
        #: how long the developer token given to the page's MusicKit JS lives
        self.token_lifetime = token_lifetime
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._template = resources.files("bot.web").joinpath("static/link.html").read_text("utf-8")
        self._static = {name: resources.files("bot.web").joinpath(f"static/{name}").read_bytes() for name in _STATIC}
        musickit_origin = origin_of(musickit_js_url)
        self._csp = "; ".join(
            [
                "default-src 'none'",
                f"script-src 'self' {musickit_origin}",
                # MusicKit JS talks to Apple and opens Apple's sign-in; its web components inject styles
                f"connect-src 'self' {musickit_origin} https://*.apple.com",
                "frame-src https://*.apple.com",
                "img-src 'self' data: https://*.mzstatic.com",
                "style-src 'self' 'unsafe-inline'",
                "base-uri 'none'",
                "form-action 'none'",
                "frame-ancestors 'none'",
            ]
        )

    @property
    def bound_port(self) -> int:
        """The port actually listened on (useful with ``port=0``)."""
        assert self._site is not None and self._runner is not None
        server = self._runner.server
        assert server is not None
        for address in self._runner.addresses:
            return int(address[1])
        return self.port

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=_MAX_BODY, middlewares=[self._headers])
        app.router.add_get("/link", self.page)
        app.router.add_post("/link/complete", self.complete)
        app.router.add_get("/static/{name}", self.static)
        app.router.add_get("/healthz", self.health)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.make_app(), access_log=None)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, self.host, self.port)
        await self._site.start()
        log.info("linking page listening on %s:%d (public at %s)", self.host, self.bound_port, self.origin)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._site = None

    @web.middleware
    async def _headers(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            response: web.StreamResponse = await handler(request)
        except web.HTTPException as exc:
            # 404, 405 (GET /link/complete), 413 ...: the same headers, then let aiohttp answer it
            self._secure(exc.headers)
            raise
        self._secure(response.headers)
        return response

    def _secure(self, headers: Any) -> None:
        headers["Content-Security-Policy"] = self._csp
        headers["Referrer-Policy"] = "no-referrer"
        headers["Cache-Control"] = "no-store"
        headers["Pragma"] = "no-cache"
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        headers["Cross-Origin-Opener-Policy"] = "same-origin-allow-popups"
        headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"

    def _render(self, config: dict[str, Any], status: int = 200) -> web.Response:
        # JSON inside <script type="application/json">: escape "<" so nothing can close the element
        blob = json.dumps(config).replace("<", "\\u003c")
        body = self._template.replace("__CONFIG__", blob).replace("__MUSICKIT_URL__", html.escape(self.musickit_js_url))
        return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")

    async def page(self, request: web.Request) -> web.Response:
        state = request.query.get("state", "")
        try:
            await self.links.check_state(state)
        except e.LinkError as exc:
            status, code = link_failure(exc)
            return self._render({"state": None, "error": describe_error(exc), "code": code}, status=status)
        developer_token = self.developer_token.sign_for(origin=[self.origin], lifetime=self.token_lifetime)
        return self._render(
            {"state": state, "developerToken": developer_token, "appName": self.app_name, "appBuild": "1.0"}
        )

    async def complete(self, request: web.Request) -> web.Response:
        if request.content_type != "application/json":
            return web.json_response({"ok": False, "code": "bad_request", "message": "Send JSON."}, status=415)
        try:
            payload = await request.json()
        except (ValueError, UnicodeDecodeError):
            payload = None
        if (
            not isinstance(payload, dict)
            or not isinstance(payload.get("state"), str)
            or not isinstance(payload.get("token"), str)
        ):
            return web.json_response(
                {"ok": False, "code": "bad_request", "message": "The page sent an incomplete request."},
                status=400,
            )
        try:
            linked = await self.links.complete_with_state(payload["state"], payload["token"])
        except e.LinkError as exc:
            status, code = link_failure(exc)
            log.info("linking page refused a link: %s", code)
            return web.json_response({"ok": False, "code": code, "message": describe_error(exc)}, status=status)
        return web.json_response(
            {
                "ok": True,
                "code": "linked",
                "message": f"Linked (storefront {linked.storefront.upper()}). "
                "You can close this page and go back to Discord.",
            }
        )

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in _STATIC:
            raise web.HTTPNotFound()
        return web.Response(body=self._static[name], content_type=_STATIC[name])

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})
