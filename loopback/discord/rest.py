"""The loopback Discord's REST API machinery: routing, auth, recording, errors, rate-limit headers, failures.

* Routes live under ``/api/v10`` (and ``/api/v9``); each is registered with :meth:`Rest._route` (the table is in
  :meth:`~loopback.discord.server.LoopbackDiscord._register_routes`) and answers ``(status, body)`` or raises
  :class:`DiscordApiError`, which becomes Discord's ``{"message", "code", "errors"?}`` body.
* ``Authorization: Bot <token>`` on every route except interaction callbacks, webhooks and OAuth2's (401
  ``{"message": "401: Unauthorized", "code": 0}`` otherwise). JSON responses carry ``Content-Type:
  application/json`` with no charset, and ``X-RateLimit-*`` headers. Unknown routes: 404 / 405 with code 0.
* Every request is recorded (:attr:`Rest.requests`, ``Authorization`` redacted) with its status and answer.
* Knobs: :meth:`Rest.fail_next` (429 with ``Via``/``retry_after`` as discord.py expects, 500, or any status and
  body) and :meth:`Rest.set_latency` / :attr:`Rest.latency`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import math
import re
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aiohttp import BodyPartReader, web

from loopback.discord.interactions import Interactions
from loopback.discord.model import (
    JSON,
    REDACTED,
    Channel,
    Guild,
    Message,
    Permissions,
    RecordedRequest,
    parse_emoji,
)
from loopback.discord.validation import FormErrors, validate_message_body


# -------------------------------------------------------------------------------------------------- errors
class DiscordApiError(Exception):
    """Raised inside route handlers; becomes Discord's JSON error body."""

    def __init__(self, status: int, code: int, message: str, errors: FormErrors | None = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> JSON:
        body: JSON = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors.tree
        return body


def invalid_form(errors: FormErrors) -> DiscordApiError:
    """400 / 50035 "Invalid Form Body" with the ``errors`` tree."""
    return DiscordApiError(400, 50035, "Invalid Form Body", errors)


def unknown(what: str, code: int) -> DiscordApiError:
    """404 "Unknown <what>" with Discord's code for it (10003 channel, 10008 message, 10062 interaction, ...)."""
    return DiscordApiError(404, code, f"Unknown {what}")


MISSING_PERMISSIONS = (403, 50013, "Missing Permissions")
MISSING_ACCESS = (403, 50001, "Missing Access")

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
#: Form fields that are secrets (OAuth2): recordings show :data:`REDACTED` in their place.
SECRET_FORM_FIELDS = frozenset({"client_secret", "code", "token", "refresh_token"})


class FormBody(dict[str, str]):
    """An ``application/x-www-form-urlencoded`` body (the OAuth2 routes take nothing else); ``repeated`` holds the
    names given more than once (RFC 6749 forbids it)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        super().__init__(pairs)
        names = [name for name, _ in pairs]
        self.repeated = {name for name in names if names.count(name) > 1}

    def redacted(self) -> JSON:
        return {k: REDACTED if k in SECRET_FORM_FIELDS else v for k, v in self.items()}


# --------------------------------------------------------------------------------------------- plumbing
@dataclass
class _Failure:
    """A :meth:`Rest.fail_next` rule: the next ``remaining`` matching requests answer ``status``."""

    method: str | None
    pattern: re.Pattern[str]
    status: int
    remaining: int
    retry_after: float
    global_: bool
    body: Any


@dataclass
class _Route:
    """One REST route: ``template`` as in Discord's docs (``/channels/{channel_id}``), compiled to ``pattern``."""

    method: str
    pattern: re.Pattern[str]
    template: str
    handler: Callable[[Ctx], Awaitable[tuple[int, Any]]]
    auth: bool


@dataclass
class Ctx:
    """What a route handler gets: the request, the path parameters, the parsed body and files, its record."""

    request: web.Request
    params: dict[str, str]
    body: Any
    files: list[JSON]
    query: dict[str, str]
    record: RecordedRequest

    def json_object(self) -> JSON:
        if not isinstance(self.body, dict) or isinstance(self.body, FormBody):
            raise DiscordApiError(400, 50109, "The request body contains invalid JSON.")
        return self.body

    def int_param(self, name: str) -> int:
        return int(self.params[name])


def query_flag(value: str | None) -> bool:
    """A boolean query parameter as Discord reads it (``?wait=true``, ``?with_response=1``)."""
    return value is not None and value.lower() in ("1", "true")


class Rest(Interactions):
    """The REST API's plumbing (see the module docstring); the handlers are in :mod:`.routes` and :mod:`.responses`."""

    def __init__(self, **interactions: Any) -> None:
        super().__init__(**interactions)
        #: Seconds added before answering every REST request (see also :meth:`set_latency`).
        self.latency = 0.0
        self.requests: list[RecordedRequest] = []
        self._failures: list[_Failure] = []
        self._latencies: list[tuple[str | None, re.Pattern[str], float]] = []
        self._routes: list[_Route] = []

    @property
    def api_base(self) -> str:
        """What ``discord.http.Route.BASE`` must be set to."""
        return f"{self.base_url}/api/v10"

    # ------------------------------------------------------------------------------------------- recording
    def requests_to(self, method: str | None, path_regex: str) -> list[RecordedRequest]:
        """Recorded REST requests whose method matches (None = any) and path (no /api/v10) re.search-es."""
        pattern = re.compile(path_regex)
        return [r for r in self.requests if (method is None or r.method == method.upper()) and pattern.search(r.path)]

    @property
    def unknown_requests(self) -> list[RecordedRequest]:
        """Requests to routes this server does not implement (answered 404 / code 0)."""
        return [r for r in self.requests if r.route is None and r.status in (404, 405)]

    # ------------------------------------------------------------------------------------------- knobs
    def fail_next(
        self,
        method: str | None,
        path_regex: str,
        status: int = 429,
        *,
        count: int = 1,
        retry_after: float = 0.2,
        global_: bool = False,
        body: Any = None,
    ) -> None:
        """The next ``count`` requests matching (method None = any; re.search on the path) get ``status``.

        429 answers as Discord does: ``Via: 1.1 google``, ``Retry-After``, ``X-RateLimit-*`` headers (scope,
        global) and ``{"message": "You are being rate limited.", "retry_after": x, "global": bool}``. Other
        statuses answer ``{"message": "<status>: <reason>", "code": 0}`` unless ``body`` is given.
        """
        self._failures.append(
            _Failure(
                method.upper() if method else None,
                re.compile(path_regex),
                status,
                count,
                retry_after,
                global_,
                body,
            )
        )

    def set_latency(self, method: str | None, path_regex: str, seconds: float) -> None:
        """Delay answers to matching REST requests (added to :attr:`latency`)."""
        self._latencies.append((method.upper() if method else None, re.compile(path_regex), seconds))

    # ------------------------------------------------------------------------------------------- REST core
    @staticmethod
    def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
        merged = {"Content-Type": "application/json"}
        merged.update(headers or {})
        return web.Response(status=status, body=json.dumps(body).encode(), headers=merged)

    def _route(
        self,
        method: str,
        template: str,
        handler: Callable[[Ctx], Awaitable[tuple[int, Any]]],
        *,
        auth: bool = True,
    ) -> None:
        regex = re.sub(r"\{(\w+)\}", lambda m: rf"(?P<{m.group(1)}>[^/]+)", template)
        self._routes.append(_Route(method, re.compile(f"^{regex}$"), template, handler, auth))

    async def _read_body(self, request: web.Request) -> tuple[Any, list[JSON], str | None]:
        content_type = request.headers.get("Content-Type")
        files: list[JSON] = []
        if request.content_type.startswith("multipart/"):
            body: Any = None
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader):
                    continue
                if part.name == "payload_json":
                    body = json.loads(await part.text())
                else:
                    raw = await part.read()
                    files.append(
                        {
                            "field": part.name,
                            "filename": part.filename,
                            "content_type": part.headers.get("Content-Type"),
                            "size": len(raw),
                            "data": bytes(raw),
                        }
                    )
            return body, files, content_type
        raw_bytes = await request.read()
        if not raw_bytes:
            return None, files, content_type
        if request.content_type == FORM_CONTENT_TYPE:
            text = raw_bytes.decode(errors="replace")
            return FormBody(urllib.parse.parse_qsl(text, keep_blank_values=True)), files, content_type
        try:
            return json.loads(raw_bytes), files, content_type
        except ValueError:
            return raw_bytes.decode(errors="replace"), files, content_type

    def _ratelimit_headers(self, template: str | None) -> dict[str, str]:
        if template is None:
            return {}
        return {
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "4",
            "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
            "X-RateLimit-Reset-After": "1.000",
            "X-RateLimit-Bucket": hashlib.md5(template.encode(), usedforsecurity=False).hexdigest()[:16],
        }

    def _failure_response(self, failure: _Failure, path: str) -> web.Response:
        if failure.status == 429:
            headers = {
                "Via": "1.1 google",
                "Retry-After": str(max(1, math.ceil(failure.retry_after))),
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": f"{time.time() + failure.retry_after:.3f}",
                "X-RateLimit-Reset-After": f"{failure.retry_after:.3f}",
                "X-RateLimit-Bucket": hashlib.md5(path.encode(), usedforsecurity=False).hexdigest()[:16],
                "X-RateLimit-Scope": "global" if failure.global_ else "user",
            }
            if failure.global_:
                headers["X-RateLimit-Global"] = "true"
            body = (
                failure.body
                if failure.body is not None
                else {
                    "message": "You are being rate limited.",
                    "retry_after": failure.retry_after,
                    "global": failure.global_,
                }
            )
            return self._json(429, body, headers)
        if failure.body is not None:
            return self._json(failure.status, failure.body)
        try:
            reason = HTTPStatus(failure.status).phrase
        except ValueError:
            reason = "Error"
        return self._json(failure.status, {"message": f"{failure.status}: {reason}", "code": 0})

    async def _rest_handler(self, request: web.Request) -> web.StreamResponse:
        match = re.match(r"^/api(?:/v(\d+))?(/.*)?$", request.path)
        version = match.group(1) if match else None
        path = (match.group(2) if match else None) or "/"
        try:
            body, files, content_type = await self._read_body(request)
        except ValueError:
            body, files, content_type = None, [], request.headers.get("Content-Type")
        headers = {k: v for k, v in request.headers.items()}
        auth_header = request.headers.get("Authorization")
        authorized = auth_header is not None and hmac.compare_digest(
            auth_header.encode(), f"Bot {self.bot_token}".encode()
        )
        if "Authorization" in headers:
            headers["Authorization"] = REDACTED
        record = RecordedRequest(
            method=request.method,
            path=path,
            raw_path=request.raw_path,
            query=dict(request.query),
            json=body.redacted() if isinstance(body, FormBody) else body,
            files=[{k: v for k, v in f.items() if k != "data"} for f in files],  # the bytes: ``attachment_data``
            headers=headers,
            authorized=authorized,
            time=time.monotonic(),
            content_type=content_type,
        )
        self.requests.append(record)
        response_body: Any = None
        response: web.Response
        try:
            delay = self.latency + sum(
                s for m, p, s in self._latencies if (m is None or m == request.method) and p.search(path)
            )
            if delay > 0:
                await asyncio.sleep(delay)
            failure = next(
                (
                    f
                    for f in self._failures
                    if f.remaining > 0 and (f.method is None or f.method == request.method) and f.pattern.search(path)
                ),
                None,
            )
            if failure is not None:
                failure.remaining -= 1
                response = self._failure_response(failure, path)
                record.status = response.status
                record.response = json.loads(response.body) if isinstance(response.body, bytes) else None
                return response
            route, params = self._match(request.method, path, version)
            record.route = route.template
            if route.auth and not authorized:
                raise DiscordApiError(401, 0, "401: Unauthorized")
            ctx = Ctx(request, params, body, files, dict(request.query), record)
            status, response_body = await route.handler(ctx)
            headers_out = self._ratelimit_headers(route.template)
            if status == 204:
                response = web.Response(status=204, headers=headers_out)
            else:
                response = self._json(status, response_body, headers_out)
        except DiscordApiError as exc:
            response_body = exc.body()
            response = self._json(exc.status, response_body, self._ratelimit_headers(record.route))
        record.status = response.status
        record.response = response_body
        self._notify()
        return response

    def _match(self, method: str, path: str, version: str | None) -> tuple[_Route, dict[str, str]]:
        if version not in ("9", "10"):
            raise DiscordApiError(404, 0, "404: Not Found")
        path_matched = False
        for route in self._routes:
            m = route.pattern.match(path)
            if m is None:
                continue
            path_matched = True
            if route.method == method:
                return route, m.groupdict()
        if path_matched:
            raise DiscordApiError(405, 0, "405: Method Not Allowed")
        raise DiscordApiError(404, 0, "404: Not Found")

    # --------------------------------------------------------------------------------------- REST helpers
    def _rest_channel(self, ctx: Ctx) -> Channel:
        try:
            channel = self.channels[ctx.int_param("channel_id")]
        except (KeyError, ValueError):
            raise unknown("Channel", 10003) from None
        if channel.guild_id is not None:
            guild = self.guilds[channel.guild_id]
            if not self._bot_in(guild):
                raise DiscordApiError(*MISSING_ACCESS)
            if not self.bot_permissions(channel.id) & Permissions.VIEW_CHANNEL:
                raise DiscordApiError(*MISSING_ACCESS)
        elif self.bot_user_id not in channel.recipient_ids and not self._dm_with_bot(channel):
            raise DiscordApiError(*MISSING_ACCESS)
        return channel

    def _dm_with_bot(self, channel: Channel) -> bool:
        return channel.type == 1 and any(self._dm_by_user.get(u) == channel.id for u in channel.recipient_ids)

    def _rest_message(self, ctx: Ctx, channel: Channel) -> Message:
        try:
            msg = self.messages[ctx.int_param("message_id")]
        except (KeyError, ValueError):
            raise unknown("Message", 10008) from None
        if msg.channel_id != channel.id or msg.deleted or msg.ephemeral:
            raise unknown("Message", 10008)
        return msg

    def _require(self, channel: Channel, permission: int) -> None:
        if not self.bot_permissions(channel.id) & permission:
            raise DiscordApiError(*MISSING_PERMISSIONS)

    def _rest_guild(self, ctx: Ctx) -> Guild:
        try:
            guild = self.guilds[ctx.int_param("guild_id")]
        except (KeyError, ValueError):
            raise unknown("Guild", 10004) from None
        if not self._bot_in(guild):
            raise DiscordApiError(*MISSING_ACCESS)
        return guild

    def _rest_emoji(self, ctx: Ctx) -> JSON:
        emoji = parse_emoji(ctx.params["emoji"])
        if emoji.get("id"):
            if not any(int(emoji["id"]) in g.emojis for g in self.guilds.values()):
                raise DiscordApiError(400, 10014, "Unknown Emoji")
            known = next(g.emojis[int(emoji["id"])] for g in self.guilds.values() if int(emoji["id"]) in g.emojis)
            emoji = {"id": str(known.id), "name": known.name}
            if known.animated:
                emoji["animated"] = True
        elif not emoji["name"] or all(ord(ch) < 0x80 for ch in emoji["name"]):
            raise DiscordApiError(400, 10014, "Unknown Emoji")
        return emoji

    def _check_message_body(self, body: JSON, *, require_content: bool = True, files: list[JSON] | None = None) -> None:
        errors = FormErrors()
        non_empty = validate_message_body(body, errors, require_content=require_content)
        if errors:
            raise invalid_form(errors)
        if not non_empty and not files:
            raise DiscordApiError(400, 50006, "Cannot send an empty message")
