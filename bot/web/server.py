"""The linking page server (aiohttp.web).

Routes:
    GET  /link?state=…      the page. With Discord sign-in on (``DISCORD_CLIENT_SECRET``), a browser that has not
                            signed in as the member is first sent to Discord; otherwise the page shows the member
                            and asks "this is me" before Apple's sign-in. MusicKit JS gets one developer token
                            bound to this page's origin, re-signed only when half its life is over.
    GET  /link/discord      Discord's return (``?code&state`` or ``?error``): who signed in decides what follows
    POST /link/complete     JSON ``{"state", "token", "confirmed"}`` → JSON ``{"ok", "code", "message"}``
    GET  /static/…          the page's script and style
    GET  /healthz           liveness
    GET  /readyz, /metrics  with ``OPS_LISTENER=web`` only (:mod:`bot.web.ops`); ``/metrics`` only with a
                            ``METRICS_TOKEN``, and only for a request bearing it

Every answer (errors included) carries strict headers (CSP, no referrer, no caching, HSTS on an https base URL)
and no ``Server`` version. Requests to ``/link…`` are limited per client address. Nothing is ever served back
that contains a music user token, and nothing Discord or Apple wrote is logged.
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from bot import applemusic as am
from bot import errors as e
from bot.discord_signin import DiscordSignIn
from bot.i18n import from_accept_language, t
from bot.ratelimit import RateWindow
from bot.services.linking import LinkService, is_secret_value
from bot.storage import LinkState, StoreUnavailable
from bot.ui.errors import describe_error
from bot.web.ops import OpsEndpoints
from bot.web.proxies import Network, client_address
from bot.web.texts import (
    INCOMPLETE,
    NOT_ALLOWED,
    PAGE_TITLE,
    REFUSED,
    SEND_JSON,
    SEND_UTF8,
    TOO_LARGE,
    linked_message,
    not_found,
    page_html,
    page_title,
    script_texts,
)

log = logging.getLogger(__name__)

_STATIC = {"link.js": "text/javascript", "link.css": "text/css"}
_MAX_BODY = 16 * 1024
_MARKER = re.compile(r"__(?:CONFIG|TITLE|BOT|MUSICKIT_URL|LANG|INTRO|SCOPE|DISCORD_ACCOUNT|CONFIRM_NOTE|LOADING)__")
#: the browser's cookie: ``<link state>.<sign-in state or browser key>``, HttpOnly, for /link only
COOKIE = "link_browser"
#: the path Discord sends the browser back to (register ``LINK_BASE_URL`` + this as a redirect URL)
SIGNIN_RETURN_PATH = "/link/discord"
_HSTS = "max-age=31536000"


#: a failed link, as the page sees it: (HTTP status, the code the page's script reacts to)
LINK_FAILURES: dict[type[e.LinkError], tuple[int, str]] = {
    e.StateInvalid: (400, "invalid_link"),
    e.StateExpired: (410, "expired"),
    e.StateUsed: (409, "already_used"),
    e.StateSpent: (410, "too_many_attempts"),
    e.TooManyTries: (429, "rate_limited"),
    e.NotConfirmed: (400, "not_confirmed"),
    e.NotSignedIn: (403, "not_signed_in"),
    e.WrongDiscordAccount: (403, "wrong_account"),
    e.DiscordSignInCancelled: (403, "discord_cancelled"),
    e.DiscordSignInFailed: (400, "discord_failed"),
    e.DiscordUnavailable: (503, "discord_unavailable"),
    e.NoPendingLink: (400, "no_pending_link"),
    e.NotAToken: (400, "not_a_token"),
    e.AppleRefusedToken: (403, "apple_refused"),
    e.NoSubscription: (402, "no_subscription"),
    e.AppleUnavailable: (503, "apple_unavailable"),
}


def link_failure(error: e.LinkError | StoreUnavailable) -> tuple[int, str]:
    if isinstance(error, StoreUnavailable):
        return 503, "database_unavailable"
    return LINK_FAILURES.get(type(error), (400, "link_failed"))


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _retry_after(error: e.LinkError | StoreUnavailable) -> dict[str, str]:
    if isinstance(error, e.TooManyTries):
        return {"Retry-After": str(max(1, round(error.retry_after)))}
    return {}


def _locale(request: web.Request) -> str:
    """The shipped language the visitor's browser prefers (English when none)."""
    return from_accept_language(request.headers.get("Accept-Language"))


def _cookie(request: web.Request) -> tuple[str, str] | None:
    """(link state, secret) of the browser's cookie, if it has a well-formed one."""
    raw = request.cookies.get(COOKIE, "")
    state, _, secret = raw.partition(".")
    return (state, secret) if is_secret_value(state) and is_secret_value(secret) else None


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
        signin: DiscordSignIn | None = None,
        avatar_base_url: str = "https://cdn.discordapp.com",
        requests_per_ip_minute: int = 60,
        trusted_proxies: Sequence[Network] = (),
        clock: Callable[[], float] | None = None,
        ops: OpsEndpoints | None = None,
    ) -> None:
        self.links = links
        #: the operator's endpoints served here too (``OPS_LISTENER=web``), None: not served here
        self.ops = ops
        self.developer_token = developer_token
        self.origin = origin_of(link_base_url)
        self.https = self.origin.startswith("https://")
        self.musickit_js_url = musickit_js_url
        self.host = host
        self.port = port
        self.app_name = app_name
        #: the bot's Discord name, once it is known (``on_ready``); the page names the bot with it
        self.bot_name: str | None = None
        #: how long the developer token given to the page's MusicKit JS lives
        self.token_lifetime = token_lifetime
        #: Discord sign-in before Apple's (None: the page asks the visitor to confirm the member instead)
        self.signin = signin
        self.avatar_origin = origin_of(avatar_base_url)
        self.trusted_proxies = tuple(trusted_proxies)
        self._clock = clock or links.clock
        self._requests = RateWindow(requests_per_ip_minute, 60.0, clock=self._clock)
        self._page_token: tuple[str, float] | None = None
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
                # the member's Discord avatar (recorded when /link ran)
                f"img-src 'self' data: https://*.mzstatic.com {self.avatar_origin}",
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
        for address in self._runner.addresses:
            return int(address[1])
        return self.port

    def make_app(self) -> web.Application:
        app = web.Application(
            client_max_size=_MAX_BODY, middlewares=[self._limit_requests, self._outage, self._http_errors]
        )
        app.on_response_prepare.append(self._secure)
        app.router.add_get("/link", self.page)
        app.router.add_get(SIGNIN_RETURN_PATH, self.signed_in)
        app.router.add_post("/link/complete", self.complete)
        app.router.add_get("/static/{name}", self.static)
        app.router.add_get("/healthz", self.health)
        if self.ops is not None:  # never the metrics of a public page without a bearer token
            self.ops.add_to(app, healthz=False, metrics=self.ops.requires_token)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.make_app(), access_log=None)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, self.host, self.port)
        await self._site.start()
        log.info(
            "linking page listening on %s:%d (public at %s, Discord sign-in %s)",
            self.host,
            self.bound_port,
            self.origin,
            "on" if self.signin else "off",
        )

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._site = None

    # ------------------------------------------------------------------ every answer
    async def _secure(self, request: web.Request, response: web.StreamResponse) -> None:
        """on_response_prepare: the same headers on every answer (404, 405, 413 and 500 included)."""
        headers = response.headers
        headers.popall("Server", None)
        headers["Content-Security-Policy"] = self._csp
        headers["Referrer-Policy"] = "no-referrer"
        headers["Cache-Control"] = "no-store"
        headers["Pragma"] = "no-cache"
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        headers["Cross-Origin-Opener-Policy"] = "same-origin-allow-popups"
        headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        if self.https:
            headers["Strict-Transport-Security"] = _HSTS

    @web.middleware
    async def _limit_requests(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """At most ``LINK_REQUESTS_PER_IP_MINUTE`` requests to /link… per client address per minute."""
        if request.path == "/link" or request.path.startswith("/link/"):
            wait = self._requests.acquire(self.client(request))
            if wait > 0:
                return self._refuse(request, e.TooManyTries(wait))
        response: web.StreamResponse = await handler(request)
        return response

    @web.middleware
    async def _outage(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """The database is unavailable: say so (503, the page or JSON), as a command would; never a 500."""
        try:
            response: web.StreamResponse = await handler(request)
        except StoreUnavailable as exc:
            log.warning("linking page: the database is unavailable (%s)", exc.fault.value)
            return self._refuse(request, exc)
        return response

    @web.middleware
    async def _http_errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """A 4xx of aiohttp's own (no such address or method, a body over the size limit) in the visitor's
        language: JSON for a POST, else the page with the words; its status and headers (``Allow``) kept."""
        try:
            response: web.StreamResponse = await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400 or exc.status >= 500:
                raise
            locale = _locale(request)
            code = "not_found" if exc.status in (404, 405) else "bad_request"
            if exc.status == 404:
                message = not_found(locale)
            else:
                message = t(locale, {405: NOT_ALLOWED, 413: TOO_LARGE}.get(exc.status, REFUSED))
            headers = {name: exc.headers[name] for name in ("Allow",) if name in exc.headers}
            if request.method == "POST":
                return web.json_response(
                    {"ok": False, "code": code, "title": page_title(locale, code), "message": message},
                    status=exc.status,
                    headers=headers,
                )
            return self._render(
                locale,
                {"state": None, "error": message, "code": code},
                exc.status,
                headers,
                title=page_title(locale, code),
            )
        return response

    def client(self, request: web.Request) -> str:
        return client_address(request, self.trusted_proxies)

    def _refuse(self, request: web.Request, error: e.LinkError | StoreUnavailable) -> web.Response:
        """A failure as the asker reads it: JSON for the page's script, else the page with the words."""
        status, code = link_failure(error)
        locale = _locale(request)
        message = describe_error(error, locale)
        if request.method == "POST":
            log.info("linking page refused a link: %s", code)
            return web.json_response(
                {"ok": False, "code": code, "title": page_title(locale, code), "message": message},
                status=status,
                headers=_retry_after(error),
            )
        return self._render(
            locale,
            {"state": None, "error": message, "code": code},
            status,
            _retry_after(error),
            title=page_title(locale, code),
        )

    @property
    def display_name(self) -> str:
        """How the page names the bot: its Discord name once known, else the app's name."""
        return self.bot_name or self.app_name

    def _render(
        self,
        locale: str,
        config: dict[str, Any],
        status: int = 200,
        headers: dict[str, str] | None = None,
        *,
        title: str | None = None,
    ) -> web.Response:
        """The page in ``locale`` (its words, ``<html lang>``, and the script's messages in its configuration)."""
        # JSON inside <script type="application/json">: escape "<" so nothing can close the element
        blob = json.dumps({**config, "bot": self.display_name, "text": script_texts(locale)}).replace("<", "\\u003c")
        fields = {
            **page_html(locale, self.display_name),
            "__LANG__": html.escape(locale),
            "__CONFIG__": blob,
            "__TITLE__": html.escape(title if title is not None else t(locale, PAGE_TITLE)),
            "__BOT__": html.escape(self.display_name),
            "__MUSICKIT_URL__": html.escape(self.musickit_js_url),
        }
        # one pass: nothing filled in (a member's name, the bot's) is read as a marker
        body = _MARKER.sub(lambda m: fields[m.group(0)], self._template)
        # the words follow the browser's languages: a shared cache must not hand them to another browser
        response = web.Response(text=body, status=status, content_type="text/html", charset="utf-8", headers=headers)
        response.headers["Vary"] = "Accept-Language"
        return response

    def _set_cookie(self, response: web.StreamResponse, state: str, secret: str) -> None:
        response.set_cookie(
            COOKIE,
            f"{state}.{secret}",
            max_age=round(self.links.ttl),
            path="/link",
            httponly=True,
            samesite="Lax",
            secure=self.https,
        )

    def _developer_token(self) -> str:
        """One origin-bound developer token, re-signed when less than half its lifetime is left."""
        now = self._clock()
        if self._page_token is None or now >= self._page_token[1] - self.token_lifetime / 2:
            token = self.developer_token.sign_for(origin=[self.origin], lifetime=self.token_lifetime)
            self._page_token = (token, now + self.token_lifetime)
        return self._page_token[0]

    # ------------------------------------------------------------------ routes
    async def page(self, request: web.Request) -> web.StreamResponse:
        state = request.query.get("state", "")
        try:
            link = await self.links.open(state)
            if self.signin is not None:
                cookie = _cookie(request)
                browser = cookie[1] if cookie is not None and cookie[0] == state else None
                if not self.links.is_bound(link, browser):
                    return await self._to_discord(state)
        except e.LinkError as exc:
            return self._refuse(request, exc)
        return self._render(
            _locale(request),
            {
                "state": state,
                "developerToken": self._developer_token(),
                "appName": self.app_name,
                "appBuild": "1.0",
                "member": {"name": link.display_name, "avatar": self._avatar(link)},
                "confirm": self.signin is None,
            },
        )

    def _avatar(self, link: LinkState) -> str | None:
        url = link.avatar_url
        return url if url is not None and url.startswith(self.avatar_origin + "/") else None

    async def _to_discord(self, state: str) -> web.StreamResponse:
        assert self.signin is not None
        signin = await self.links.begin_signin(state)
        response = web.Response(status=302, headers={"Location": self.signin.authorize_url(signin)})
        self._set_cookie(response, state, signin)
        return response

    async def signed_in(self, request: web.Request) -> web.StreamResponse:
        """Discord sent the browser back: continue to Apple's sign-in only as the member who ran /link."""
        if self.signin is None:
            raise web.HTTPNotFound()
        cookie = _cookie(request)
        try:
            if cookie is None or request.query.get("state") != cookie[1]:
                # not the browser that started this sign-in (or its cookie is gone): nothing to continue
                raise e.NotSignedIn()
            state, signin = cookie
            link = await self.links.check_signin(state, signin)
            error = request.query.get("error")
            if error is not None:  # (the sign-in stays open: the next visit of the link starts a new one)
                raise e.DiscordSignInCancelled() if error == "access_denied" else e.DiscordSignInFailed()
            code = request.query.get("code", "")
            if not code or len(code) > 512:
                raise e.DiscordSignInFailed()
            user_id = await self.signin.identify(code)
            browser = await self.links.finish_signin(link, signin, user_id)
        except e.LinkError as exc:
            response = self._refuse(request, exc)
            response.del_cookie(COOKIE, path="/link")
            return response
        # back to the page, now as the member's browser (303: a plain GET of the link)
        found = web.Response(status=303, headers={"Location": f"/link?{urlencode({'state': state})}"})
        self._set_cookie(found, state, browser)
        return found

    async def complete(self, request: web.Request) -> web.Response:
        if request.content_type != "application/json":
            return self._bad_request(request, 415, SEND_JSON)
        if (request.charset or "utf-8").lower() not in ("utf-8", "utf8"):
            return self._bad_request(request, 415, SEND_UTF8)
        try:
            payload = json.loads((await request.read()).decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            payload = None
        if (
            not isinstance(payload, dict)
            or not isinstance(payload.get("state"), str)
            or not isinstance(payload.get("token"), str)
        ):
            return self._bad_request(request, 400, INCOMPLETE)
        state = payload["state"]
        cookie = _cookie(request)
        try:
            linked = await self.links.complete_with_state(
                state,
                payload["token"],
                client=self.client(request),
                browser=cookie[1] if cookie is not None and cookie[0] == state else None,
                confirmed=payload.get("confirmed") is True,
            )
        except e.LinkError as exc:
            return self._refuse(request, exc)
        response = web.json_response(
            {
                "ok": True,
                "code": "linked",
                "title": page_title(_locale(request), "linked"),
                "message": linked_message(_locale(request), linked.storefront),
            }
        )
        if cookie is not None:
            response.del_cookie(COOKIE, path="/link")
        return response

    @staticmethod
    def _bad_request(request: web.Request, status: int, message: str) -> web.Response:
        """A request the page's script would never send (``message``: a msgid of :mod:`bot.web.texts`)."""
        return web.json_response(
            {"ok": False, "code": "bad_request", "message": t(_locale(request), message)}, status=status
        )

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in _STATIC:
            raise web.HTTPNotFound()
        return web.Response(body=self._static[name], content_type=_STATIC[name])

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})
