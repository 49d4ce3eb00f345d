"""One HTTP attempt at Apple Music, and the values that travel through the client's layers.

The client is a stack of senders (after tekore's): `RetryingSender(PacedSender(HttpTransport))`. Each takes a
`Request`; the transport makes exactly one attempt and answers an `Outcome`: a `Response` when Apple answered
(whatever the status), a `NoAnswer` when it did not (timeout, connection failure). Turning statuses into
errors and deciding about retries happen above it (`errors.py`, `retry.py`).
"""

from __future__ import annotations

import email.utils
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias

import aiohttp
from yarl import URL

from .errors import ApiErrorEntry, AppleMusicError, UpstreamError, UpstreamTimeout, parse_error_entries
from .tokens import DeveloperToken

__all__ = ["HttpTransport", "NoAnswer", "Outcome", "Request", "Response", "Sender", "parse_retry_after"]


@dataclass(frozen=True, slots=True)
class Request:
    """One logical request. `user_token` is the caller's music user token (None for catalog calls)."""

    method: str
    path: str
    params: Mapping[str, str] | None = None
    json: Any = None
    user_token: str | None = field(default=None, repr=False)
    #: A 404 is an answer ("not rated", "nothing to delete", "unknown id"), not an error.
    not_found_ok: bool = False

    def accepts(self, status: int) -> bool:
        """Whether an answer with `status` is a success for this request."""
        return status < 300 or (status == 404 and self.not_found_ok)


@dataclass(frozen=True, slots=True)
class Response:
    """Apple's answer: the decoded JSON body (None when empty or not JSON), its `errors[]` entries with
    every token redacted, and `Retry-After` in seconds (None when absent or unreadable)."""

    status: int
    payload: Any
    errors: tuple[ApiErrorEntry, ...] = ()
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class NoAnswer:
    """An attempt Apple did not answer: the error to raise if no retry helps, and a label for the log."""

    error: AppleMusicError
    reason: str


Outcome: TypeAlias = Response | NoAnswer


class Sender(Protocol):
    """Something that makes one attempt of a request (possibly through other senders)."""

    async def send(self, request: Request) -> Outcome: ...


class HttpTransport:
    """Exactly one HTTP attempt on the shared session, with the developer token and the caller's user token."""

    def __init__(
        self, session: aiohttp.ClientSession, base_url: URL, developer_token: DeveloperToken, timeout: float
    ) -> None:
        self._session = session
        self._base_url = base_url
        self._developer_token = developer_token
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"HttpTransport(base_url={str(self._base_url)!r}, timeout={self.timeout:g})"

    async def send(self, request: Request) -> Outcome:
        url = self._base_url.with_path(self._base_url.path.rstrip("/") + request.path)
        dev_token = self._developer_token.token  # re-signed when close to expiry
        headers = {"Authorization": f"Bearer {dev_token}", "Accept": "application/json"}
        if request.user_token is not None:
            headers["Music-User-Token"] = request.user_token
        try:
            async with self._session.request(
                request.method,
                url,
                params=request.params,
                json=request.json,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as resp:
                status = resp.status
                body = await resp.read()
                retry_after = resp.headers.get("Retry-After")
        except TimeoutError:
            return NoAnswer(UpstreamTimeout(f"Apple Music did not answer within {self.timeout:g} s"), "timeout")
        except aiohttp.ClientError as exc:
            reason = type(exc).__name__
            return NoAnswer(UpstreamError(f"Could not reach Apple Music ({reason})"), reason)
        payload = _decode(body)
        secrets = (dev_token, request.user_token or "")
        errors = () if status < 300 else tuple(e.redacted(secrets) for e in parse_error_entries(payload))
        return Response(status, payload, errors, parse_retry_after(retry_after))


def _decode(body: bytes) -> Any:
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def parse_retry_after(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or an HTTP date); None when absent or garbage."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - now()
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)
