"""Discord's OAuth2 authorization-code grant, as https://discord.com/developers/docs/topics/oauth2 documents it.

* The application's OAuth2 client: its id is the application id; its secret and registered redirect URIs are set by
  tests with :meth:`OAuth2.set_oauth2_client` (until then no redirect URI is registered, so every authorization
  request is refused).
* The browser's Discord sign-in: Discord knows a browser by its session cookie. :meth:`OAuth2.browser_sign_in_url`
  gives a one-time, test-only URL (``/__loopback__/sign-in/<nonce>``) that sets the session cookie of a user and
  redirects to ``next``; :meth:`OAuth2.browser_sign_out_url` clears it.
* ``GET /oauth2/authorize`` at the web root (as ``discord.com/oauth2/authorize``, not under ``/api``): checks
  ``client_id``, ``redirect_uri`` (exactly a registered one), ``response_type=code`` and ``scope`` (known scopes,
  ``identify`` among them: the loopback models that one). A bad request gets an error page, never a redirect. With
  no session, a "sign in" page (nothing can be authorized). Otherwise the authorize page: the app's name, the
  scopes, and one form posting back with an "Authorize" and a "Cancel" button; Authorize redirects (302) to
  ``redirect_uri?code=...&state=...``, Cancel to ``redirect_uri?error=access_denied&error_description=...&state=...``
  (``state`` echoed when given). ``prompt=none`` skips the page when the user already authorized these scopes.
* ``POST /api/v10/oauth2/token`` (``application/x-www-form-urlencoded`` only): client authentication by HTTP Basic
  or ``client_id``/``client_secret`` fields; ``grant_type=authorization_code`` (``code``, ``redirect_uri`` equal to
  the one the code was issued for; a code is single-use and lives :attr:`OAuth2.oauth2_code_lifetime` seconds of
  the server's ``clock``; reusing one revokes what it gave, as RFC 6749 §4.1.2 asks), ``refresh_token`` and
  ``client_credentials`` (``scope`` required: a token for the application's owner, without a refresh token).
  Answers ``{access_token, token_type: "Bearer", expires_in: 604800, refresh_token, scope}``; errors as RFC 6749
  §5.2: 400 ``invalid_request`` / ``invalid_grant`` / ``invalid_scope`` / ``unsupported_grant_type``,
  401 ``invalid_client``.
* ``POST /api/v10/oauth2/token/revoke`` (form: ``token``, client authentication): revokes the authorization the
  access or refresh token belongs to (RFC 7009: 200 even for an unknown token).
* ``GET /api/v10/users/@me`` with ``Authorization: Bearer <access_token>``: that user (``identify``); an unknown,
  revoked or expired token gets 401 ``{"message": "401: Unauthorized", "code": 0}``. ``Bot <token>`` still answers
  the bot user.

Secrets (client secret, codes, tokens) are redacted in :attr:`~loopback.discord.rest.Rest.requests`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import html
import secrets
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from loopback.discord.model import JSON
from loopback.discord.responses import Responses
from loopback.discord.rest import Ctx, DiscordApiError, FormBody

#: Discord's documented OAuth2 scopes (https://discord.com/developers/docs/topics/oauth2#shared-resources-oauth2-scopes).
KNOWN_SCOPES = frozenset(
    {
        "activities.read",
        "activities.write",
        "applications.builds.read",
        "applications.builds.upload",
        "applications.commands",
        "applications.commands.update",
        "applications.commands.permissions.update",
        "applications.entitlements",
        "applications.store.update",
        "bot",
        "connections",
        "dm_channels.read",
        "email",
        "gdm.join",
        "guilds",
        "guilds.join",
        "guilds.members.read",
        "identify",
        "messages.read",
        "relationships.read",
        "role_connections.write",
        "rpc",
        "rpc.activities.write",
        "rpc.notifications.read",
        "rpc.voice.read",
        "rpc.voice.write",
        "voice",
        "webhook.incoming",
    }
)
#: Discord's access token lifetime (``expires_in`` of its token responses).
ACCESS_TOKEN_LIFETIME = 604800
SESSION_COOKIE = "loopback_discord_session"
ACCESS_DENIED = "The resource owner or authorization server denied the request"
SIGN_IN_PATH = "/__loopback__/sign-in/{nonce}"
SIGN_OUT_PATH = "/__loopback__/sign-out"
AUTHORIZE_PATH = "/oauth2/authorize"


class OAuth2Error(Exception):
    """An RFC 6749 §5.2 error of the token endpoints: ``{"error", "error_description"?}`` with ``status``."""

    def __init__(self, status: int, error: str, description: str | None = None) -> None:
        super().__init__(f"{status} {error}")
        self.status = status
        self.error = error
        self.description = description

    def body(self) -> JSON:
        body: JSON = {"error": self.error}
        if self.description:
            body["error_description"] = self.description
        return body


@dataclass
class _Code:
    user_id: int
    redirect_uri: str
    scopes: tuple[str, ...]
    issued_at: float
    used: bool = False
    grant: _Grant | None = None


@dataclass
class _Grant:
    """One authorization: its access and refresh tokens (revoking one revokes both, as Discord documents)."""

    user_id: int
    scopes: tuple[str, ...]
    access_token: str
    refresh_token: str
    expires_at: float
    revoked: bool = False


@dataclass
class _AuthorizeRequest:
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None
    prompt: str


@dataclass
class _Session:
    user_id: int
    form_nonces: set[str] = field(default_factory=set)


class OAuth2(Responses):
    """OAuth2 (see the module docstring)."""

    def __init__(self, *, oauth2_code_lifetime: float, **responses: Any) -> None:
        super().__init__(**responses)
        #: Seconds of ``clock`` an authorization code can be exchanged (RFC 6749 recommends at most 10 minutes).
        self.oauth2_code_lifetime = oauth2_code_lifetime
        #: The OAuth2 client secret and redirect URIs "on the application's OAuth2 page".
        self.oauth2_client_secret = secrets.token_urlsafe(24)
        self.oauth2_redirect_uris: list[str] = []
        self._codes: dict[str, _Code] = {}
        self._grants_by_token: dict[str, _Grant] = {}
        self._sessions: dict[str, _Session] = {}
        self._sign_in_nonces: dict[str, tuple[int, str | None]] = {}
        #: Scopes each user has authorized the application for (``prompt=none`` skips the page for them).
        self.oauth2_authorizations: dict[int, set[str]] = {}

    # ----------------------------------------------------------------------------------------- test helpers
    def set_oauth2_client(self, *, secret: str | None = None, redirect_uris: list[str] | None = None) -> None:
        """Set the client secret and/or the registered redirect URIs (as on the developer portal)."""
        if secret is not None:
            self.oauth2_client_secret = secret
        if redirect_uris is not None:
            self.oauth2_redirect_uris = list(redirect_uris)

    @property
    def authorize_url(self) -> str:
        """``https://discord.com/oauth2/authorize`` of this server."""
        return f"{self.base_url}{AUTHORIZE_PATH}"

    def browser_sign_in_url(self, user_id: int, next: str | None = None) -> str:
        """A one-time URL that signs the browser opening it in as ``user_id`` (session cookie) and redirects to
        ``next`` (else shows "signed in")."""
        self._user(user_id)
        nonce = secrets.token_urlsafe(16)
        self._sign_in_nonces[nonce] = (user_id, next)
        return self.base_url + SIGN_IN_PATH.format(nonce=nonce)

    def browser_sign_out_url(self) -> str:
        return self.base_url + SIGN_OUT_PATH

    def _add_oauth2_routes(self, app: web.Application) -> None:
        app.router.add_route("*", AUTHORIZE_PATH, self._authorize_handler)
        app.router.add_get(SIGN_IN_PATH, self._sign_in_handler)
        app.router.add_get(SIGN_OUT_PATH, self._sign_out_handler)

    # ------------------------------------------------------------------------------------------- browser
    async def _sign_in_handler(self, request: web.Request) -> web.StreamResponse:
        entry = self._sign_in_nonces.pop(request.match_info["nonce"], None)
        if entry is None:
            return _page("Sign-in link used", "<p>This sign-in link is unknown or was used already.</p>", 404)
        user_id, next_url = entry
        session_id = secrets.token_urlsafe(24)
        self._sessions[session_id] = _Session(user_id)
        response: web.Response
        if next_url:
            response = _found(next_url)
        else:
            response = _page("Signed in", f"<p>Signed in as {html.escape(self._display_name(user_id))}.</p>")
        response.set_cookie(SESSION_COOKIE, session_id, path="/oauth2", httponly=True, samesite="Lax")
        return response

    async def _sign_out_handler(self, request: web.Request) -> web.StreamResponse:
        self._sessions.pop(request.cookies.get(SESSION_COOKIE, ""), None)
        response = _page("Signed out", "<p>Signed out of Discord.</p>")
        response.del_cookie(SESSION_COOKIE, path="/oauth2")
        return response

    def _application_payload(self) -> JSON:
        return {**super()._application_payload(), "redirect_uris": list(self.oauth2_redirect_uris)}

    def _display_name(self, user_id: int) -> str:
        user = self.users[user_id]
        return user.global_name or user.username

    def _parse_authorize(self, params: Any) -> _AuthorizeRequest | str:
        """The request, or what is wrong with it (shown on an error page: no redirect to an unchecked URI)."""
        client_id = str(params.get("client_id") or "")
        if client_id != str(self.application_id):
            return "Unknown application (client_id)."
        redirect_uri = str(params.get("redirect_uri") or "")
        if redirect_uri not in self.oauth2_redirect_uris:
            return "Invalid OAuth2 redirect_uri: it is not registered for this application."
        if params.get("response_type") != "code":
            return "Unsupported response_type: only 'code' is supported."
        scopes = tuple(dict.fromkeys(str(params.get("scope") or "").split()))
        unknown_scopes = [s for s in scopes if s not in KNOWN_SCOPES]
        if unknown_scopes:
            return f"Invalid scope: {', '.join(unknown_scopes)}."
        if "identify" not in scopes:
            return "Invalid scope: the scope must include identify."
        prompt = str(params.get("prompt") or "consent")
        if prompt not in ("consent", "none"):
            return "Invalid prompt: use consent or none."
        state = params.get("state")
        return _AuthorizeRequest(client_id, redirect_uri, scopes, None if state is None else str(state), prompt)

    async def _authorize_handler(self, request: web.Request) -> web.StreamResponse:
        if request.method not in ("GET", "POST"):
            return _page("Method not allowed", "<p>Method not allowed.</p>", 405)
        params: Any = request.query if request.method == "GET" else await request.post()
        parsed = self._parse_authorize(params)
        if isinstance(parsed, str):
            return _page("Authorization error", f"<p class='error'>{html.escape(parsed)}</p>", 400)
        session_id = request.cookies.get(SESSION_COOKIE, "")
        session = self._sessions.get(session_id)
        if session is None:
            body = "<p>You need to sign in to Discord to continue.</p><p>Open Discord and sign in, then try again.</p>"
            return _page("Sign in to Discord", body, 401 if request.method == "POST" else 200)
        if request.method == "POST":
            nonce = str(params.get("nonce") or "")
            if nonce not in session.form_nonces:
                return _page("Authorization error", "<p class='error'>This form expired: start again.</p>", 400)
            session.form_nonces.discard(nonce)
            if params.get("decision") == "authorize":
                return self._grant(session.user_id, parsed)
            return _redirect(
                parsed.redirect_uri, {"error": "access_denied", "error_description": ACCESS_DENIED}, parsed.state
            )
        already = self.oauth2_authorizations.get(session.user_id, set())
        if parsed.prompt == "none" and set(parsed.scopes) <= already:
            return self._grant(session.user_id, parsed)
        nonce = secrets.token_urlsafe(16)
        session.form_nonces.add(nonce)
        return _page("Authorize " + self._app_name(), self._authorize_form(session.user_id, parsed, nonce))

    def _app_name(self) -> str:
        return self.users[self.bot_user_id].username

    def _authorize_form(self, user_id: int, req: _AuthorizeRequest, nonce: str) -> str:
        fields = {
            "client_id": req.client_id,
            "redirect_uri": req.redirect_uri,
            "response_type": "code",
            "scope": " ".join(req.scopes),
            "prompt": req.prompt,
            "nonce": nonce,
        }
        if req.state is not None:
            fields["state"] = req.state
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in fields.items()
        )
        scopes = "".join(f"<li>{html.escape(s)}</li>" for s in req.scopes)
        host = urllib.parse.urlsplit(req.redirect_uri).netloc
        return (
            f"<h1 id='app-name'>{html.escape(self._app_name())}</h1>"
            f"<p>wants to access your Discord account "
            f"<strong id='signed-in-as'>{html.escape(self._display_name(user_id))}</strong></p>"
            f"<ul id='scopes'>{scopes}</ul>"
            f"<p>Once you authorize, you will be redirected to {html.escape(host)}.</p>"
            f"<form method='post' action='{AUTHORIZE_PATH}'>{hidden}"
            "<button type='submit' name='decision' value='cancel'>Cancel</button>"
            "<button type='submit' name='decision' value='authorize'>Authorize</button></form>"
        )

    def _grant(self, user_id: int, req: _AuthorizeRequest) -> web.StreamResponse:
        code = secrets.token_urlsafe(24)
        self._codes[code] = _Code(user_id, req.redirect_uri, req.scopes, self.clock())
        self.oauth2_authorizations.setdefault(user_id, set()).update(req.scopes)
        return _redirect(req.redirect_uri, {"code": code}, req.state)

    # ------------------------------------------------------------------------------------------- REST
    def _register_oauth2_routes(self) -> None:
        self._route("POST", "/oauth2/token", self._h_token, auth=False)
        self._route("POST", "/oauth2/token/revoke", self._h_revoke, auth=False)

    async def _oauth2_answer(self, ctx: Ctx, step: Callable[[FormBody], JSON]) -> tuple[int, Any]:
        try:
            return 200, step(self._oauth2_form(ctx))
        except OAuth2Error as exc:
            return exc.status, exc.body()

    def _oauth2_form(self, ctx: Ctx) -> FormBody:
        """The form of a token request, once the client authenticated (RFC 6749 §2.3.1)."""
        form = ctx.body
        if not isinstance(form, FormBody):
            if ctx.body is not None:
                raise OAuth2Error(400, "invalid_request", "Content-Type must be application/x-www-form-urlencoded")
            form = FormBody([])
        if form.repeated:
            raise OAuth2Error(400, "invalid_request", f"Parameters given more than once: {sorted(form.repeated)}")
        client_id, secret = form.get("client_id"), form.get("client_secret")
        header = ctx.request.headers.get("Authorization", "")
        if header.lower().startswith("basic "):
            login, password = _basic_credentials(header)
            if client_id is not None and client_id != login:
                raise OAuth2Error(401, "invalid_client")
            client_id, secret = login, password
        if client_id != str(self.application_id) or not hmac.compare_digest(
            (secret or "").encode(), self.oauth2_client_secret.encode()
        ):
            raise OAuth2Error(401, "invalid_client")
        return form

    async def _h_token(self, ctx: Ctx) -> tuple[int, Any]:
        return await self._oauth2_answer(ctx, self._token_step)

    def _token_step(self, form: FormBody) -> JSON:
        grant_type = form.get("grant_type")
        if not grant_type:
            raise OAuth2Error(400, "invalid_request", "Missing grant_type")
        if grant_type == "authorization_code":
            grant = self._exchange_code(form)
        elif grant_type == "refresh_token":
            grant = self._refresh(form)
        elif grant_type == "client_credentials":
            # a token for the application's owner, without a refresh token (Discord's "Client Credentials Grant")
            grant = self._new_grant(self.app_owner_id, self._credential_scopes(form))
            return {
                "access_token": grant.access_token,
                "token_type": "Bearer",
                "expires_in": ACCESS_TOKEN_LIFETIME,
                "scope": " ".join(grant.scopes),
            }
        else:
            raise OAuth2Error(400, "unsupported_grant_type", f"Grant type {grant_type} is not supported")
        return {
            "access_token": grant.access_token,
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_LIFETIME,
            "refresh_token": grant.refresh_token,
            "scope": " ".join(grant.scopes),
        }

    @staticmethod
    def _credential_scopes(form: FormBody) -> tuple[str, ...]:
        """The ``scope`` of a client credentials request: required, space-separated, each a known scope."""
        scopes = tuple((form.get("scope") or "").split())
        if not scopes:
            raise OAuth2Error(400, "invalid_request", 'Missing "scope" in request.')
        if any(scope not in KNOWN_SCOPES for scope in scopes):
            raise OAuth2Error(400, "invalid_scope", "The requested scope is invalid, unknown, or malformed.")
        return scopes

    def _exchange_code(self, form: FormBody) -> _Grant:
        for name in ("code", "redirect_uri"):
            if not form.get(name):
                raise OAuth2Error(400, "invalid_request", f'Missing "{name}" in request.')
        code = self._codes.get(form["code"])
        if code is None or code.used or self.clock() - code.issued_at > self.oauth2_code_lifetime:
            if code is not None and code.used and code.grant is not None:
                code.grant.revoked = True  # a replayed code: what it gave is revoked (RFC 6749 §4.1.2)
            raise OAuth2Error(400, "invalid_grant", 'Invalid "code" in request.')
        if form["redirect_uri"] != code.redirect_uri:
            raise OAuth2Error(400, "invalid_grant", 'Invalid "redirect_uri" in request.')
        code.used = True
        code.grant = self._new_grant(code.user_id, code.scopes)
        return code.grant

    def _refresh(self, form: FormBody) -> _Grant:
        token = form.get("refresh_token")
        if not token:
            raise OAuth2Error(400, "invalid_request", 'Missing "refresh_token" in request.')
        old = self._grants_by_token.get(token)
        if old is None or old.revoked or old.refresh_token != token:
            raise OAuth2Error(400, "invalid_grant", 'Invalid "refresh_token" in request.')
        old.revoked = True
        return self._new_grant(old.user_id, old.scopes)

    def _new_grant(self, user_id: int, scopes: tuple[str, ...]) -> _Grant:
        grant = _Grant(
            user_id,
            scopes,
            secrets.token_urlsafe(24),
            secrets.token_urlsafe(24),
            self.clock() + ACCESS_TOKEN_LIFETIME,
        )
        self._grants_by_token[grant.access_token] = grant
        self._grants_by_token[grant.refresh_token] = grant
        return grant

    async def _h_revoke(self, ctx: Ctx) -> tuple[int, Any]:
        return await self._oauth2_answer(ctx, self._revoke_step)

    def _revoke_step(self, form: FormBody) -> JSON:
        token = form.get("token")
        if not token:
            raise OAuth2Error(400, "invalid_request", 'Missing "token" in request.')
        grant = self._grants_by_token.get(token)
        if grant is not None:
            grant.revoked = True
        return {}

    def bearer_user(self, authorization: str | None) -> int | None:
        """The user an ``Authorization: Bearer <token>`` header speaks for (None: no valid access token)."""
        if not authorization or not authorization.startswith("Bearer "):
            return None
        token = authorization.removeprefix("Bearer ")
        grant = self._grants_by_token.get(token)
        if grant is None or grant.revoked or grant.access_token != token or self.clock() >= grant.expires_at:
            return None
        return grant.user_id if "identify" in grant.scopes else None

    async def _h_me(self, ctx: Ctx) -> tuple[int, Any]:
        if ctx.record.authorized:
            return await super()._h_me(ctx)
        user_id = self.bearer_user(ctx.request.headers.get("Authorization"))
        if user_id is None:
            raise DiscordApiError(401, 0, "401: Unauthorized")
        user = self.users[user_id]
        return 200, {**user.to_dict(), "locale": user.locale, "mfa_enabled": False}


# ------------------------------------------------------------------------------------------------ helpers
def _basic_credentials(header: str) -> tuple[str, str]:
    """``Authorization: Basic base64(id:secret)`` (RFC 6749 §2.3.1: each part form-urlencoded first)."""
    try:
        decoded = base64.b64decode(header.split(" ", 1)[1].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise OAuth2Error(401, "invalid_client") from None
    login, sep, password = decoded.partition(":")
    if not sep:
        raise OAuth2Error(401, "invalid_client")
    return urllib.parse.unquote_plus(login), urllib.parse.unquote_plus(password)


def _found(location: str) -> web.Response:
    return web.Response(status=302, headers={"Location": location, "Cache-Control": "no-store"})


def _redirect(redirect_uri: str, params: dict[str, str], state: str | None) -> web.Response:
    """``redirect_uri`` with ``params`` (and ``state``, exactly as given) added to its query."""
    if state is not None:
        params = {**params, "state": state}
    separator = "&" if urllib.parse.urlsplit(redirect_uri).query else ("" if redirect_uri.endswith("?") else "?")
    return _found(redirect_uri + separator + urllib.parse.urlencode(params))


def _page(title: str, body: str, status: int = 200) -> web.Response:
    text = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)} | Discord</title></head><body><main>{body}</main></body></html>"
    )
    return web.Response(
        status=status,
        text=text,
        content_type="text/html",
        headers={
            "Cache-Control": "no-store",
            "X-Frame-Options": "DENY",
            "Content-Security-Policy": "frame-ancestors 'none'",
        },
    )
