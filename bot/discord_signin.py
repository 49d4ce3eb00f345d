"""Which Discord account a browser belongs to: Discord's OAuth2 authorization-code flow, scope ``identify``.

The linking page sends the browser to :meth:`DiscordSignIn.authorize_url` (``DISCORD_OAUTH_AUTHORIZE_URL``);
Discord sends it back to ``redirect_uri`` with a ``code``, which :meth:`DiscordSignIn.identify` exchanges at
``{DISCORD_API_BASE}/oauth2/token`` (client id and secret as HTTP Basic auth), then reads ``/users/@me`` with the
bearer token and revokes that token at once: the bot keeps nothing of the sign-in but the user id.

Discord's answers are read as status and a short error code only: their free text is never logged or raised.
Every failure is one of three :mod:`bot.errors` types (cancelled, failed, Discord unreachable).
"""

from __future__ import annotations

import base64
import json
import logging
import re
from typing import Any
from urllib.parse import urlencode

import aiohttp

from bot.errors import DiscordSignInFailed, DiscordUnavailable

log = logging.getLogger(__name__)

#: Discord's answers here are a few hundred bytes; anything much larger is not an answer to read
_MAX_BODY = 64 * 1024
_TIMEOUT = aiohttp.ClientTimeout(total=10)
#: an OAuth2 error code (``invalid_grant``...): safe to log; anything else is free text and is not logged
_ERROR_CODE = re.compile(r"^[a-z_]{1,40}$")


class DiscordSignIn:
    """The bot's side of Discord's OAuth2 sign-in (one per process, on the process's HTTP session)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        client_id: int,
        client_secret: str,
        authorize_url: str,
        api_base: str,
        redirect_uri: str,
    ) -> None:
        self._session = session
        self.client_id = client_id
        credentials = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode("ascii")
        self._auth = {"Authorization": f"Basic {credentials}"}  # HTTP Basic client authentication
        self._authorize_url = authorize_url
        self._api_base = api_base.rstrip("/")
        self.redirect_uri = redirect_uri

    def __repr__(self) -> str:
        return f"DiscordSignIn(client_id={self.client_id}, redirect_uri={self.redirect_uri!r})"

    def authorize_url(self, state: str) -> str:
        """Where to send the browser: Discord's consent page for scope ``identify``, carrying ``state``."""
        query = {
            "client_id": str(self.client_id),
            "response_type": "code",
            "redirect_uri": self.redirect_uri,
            "scope": "identify",
            "state": state,
        }
        return f"{self._authorize_url}?{urlencode(query)}"

    async def identify(self, code: str) -> int:
        """The id of the Discord user who granted ``code``. The access token is revoked before returning."""
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri}
        status, body = await self._call("POST", "/oauth2/token", data=form, headers=self._auth)
        access_token = body.get("access_token") if status == 200 else None
        if not isinstance(access_token, str) or not access_token:
            raise self._failure("exchanging the sign-in code", status, body)
        try:
            status, user = await self._call("GET", "/users/@me", headers={"Authorization": f"Bearer {access_token}"})
            user_id = user.get("id") if status == 200 else None
            if not isinstance(user_id, str) or not user_id.isdigit():
                raise self._failure("reading the signed-in user", status, user)
            return int(user_id)
        finally:
            await self._revoke(access_token)

    async def _revoke(self, access_token: str) -> None:
        form = {"token": access_token, "token_type_hint": "access_token"}
        try:
            status, _ = await self._call("POST", "/oauth2/token/revoke", data=form, headers=self._auth)
        except DiscordUnavailable:
            log.warning("could not revoke a Discord sign-in (Discord unreachable); it expires by itself")
            return
        if status != 200:
            log.warning("Discord answered %d to revoking a sign-in; it expires by itself", status)

    async def _call(self, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        """(status, JSON object or {}) of one request; :class:`DiscordUnavailable` when Discord cannot answer."""
        try:
            async with self._session.request(
                method, self._api_base + path, timeout=_TIMEOUT, allow_redirects=False, **kwargs
            ) as response:
                if response.status >= 500 or response.status == 429:
                    log.warning("Discord answered %d to %s %s", response.status, method, path)
                    raise DiscordUnavailable()
                raw = await _read_capped(response)
                status = response.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            log.warning("Discord could not be reached for %s %s (%s)", method, path, type(exc).__name__)
            raise DiscordUnavailable() from None
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        return status, body if isinstance(body, dict) else {}

    @staticmethod
    def _failure(what: str, status: int, body: dict[str, Any]) -> DiscordSignInFailed:
        code = body.get("error")
        shown = code if isinstance(code, str) and _ERROR_CODE.match(code) else "-"
        # invalid_grant: a used or expired code (a reload of the return page); others point at the settings
        level = logging.INFO if shown == "invalid_grant" else logging.WARNING
        log.log(level, "Discord sign-in failed %s: status %d, error %s", what, status, shown)
        return DiscordSignInFailed()


async def _read_capped(response: aiohttp.ClientResponse) -> bytes:
    if (response.content_length or 0) > _MAX_BODY:
        raise DiscordUnavailable()
    data = bytearray()
    async for chunk in response.content.iter_chunked(16 * 1024):
        data += chunk
        if len(data) > _MAX_BODY:
            raise DiscordUnavailable()
    return bytes(data)
