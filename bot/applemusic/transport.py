"""One HTTP attempt at Apple Music, and the values that travel through the client's layers.

The client is a stack of senders (after tekore's): `RetryingSender(PacedSender(HttpTransport))`. Each takes a
`Request`; the transport makes exactly one attempt and answers an `Outcome`: a `Response` when Apple answered
(whatever the status), a `NoAnswer` when it did not (timeout, connection failure). Turning statuses into
errors and deciding about retries happen above it (`errors.py`, `retry.py`).

The transport trusts Apple's answers only as far as it must:

- it follows no redirect: a 3xx is answered as is (and becomes a `Redirected` error above), so the user's token
  never travels to a host the base URL does not name; its `Location` is never read;
- it reads at most `max_response_bytes` of a body: more declared in `Content-Length` is refused unread, and a
  streamed body is refused as soon as it passes the cap (`ResponseTooLarge`, not retried);
- a body over `PARSE_OFF_LOOP_BYTES` is decoded on a worker thread, so a large answer never stalls the event loop;
- `Retry-After` is read only as a positive number of seconds up to `MAX_RETRY_AFTER`.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, TypeAlias

import aiohttp
from yarl import URL

from .errors import (
    ApiErrorEntry,
    AppleMusicError,
    ResponseTooLarge,
    UpstreamError,
    UpstreamTimeout,
    parse_error_entries,
)
from .priority import Priority, current_priority
from .tokens import DeveloperToken

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "MAX_RETRY_AFTER",
    "PARSE_OFF_LOOP_BYTES",
    "READ_CHUNK",
    "HttpTransport",
    "NoAnswer",
    "Outcome",
    "Request",
    "Response",
    "Sender",
    "decode_json",
    "parse_retry_after",
]

#: The largest answer read (`APPLE_MAX_RESPONSE_BYTES`). Apple's largest answers the bot asks for are a page of
#: 300 album tracks or 100 playlist tracks (about 1 MiB with every attribute); 8 MiB leaves room to spare.
DEFAULT_MAX_RESPONSE_BYTES: Final = 8 * 1024 * 1024
#: Bytes read at a time from a body: a refused body was read to at most the cap plus this.
READ_CHUNK: Final = 64 * 1024
#: Bodies larger than this are decoded on a worker thread (decoding 1 MiB of JSON takes milliseconds of CPU).
PARSE_OFF_LOOP_BYTES: Final = 256 * 1024
#: The longest `Retry-After` believed, in seconds; a longer one is taken as this, which is longer than any retry
#: budget: the request gives up, and the outbox waits its own (capped) backoff.
MAX_RETRY_AFTER: Final = 3600.0


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
    #: Whether sending it twice does no more than sending it once. A request that is not (creating a playlist) is
    #: retried only after an answer saying it was not taken (429): after a timeout or a 5xx it may have been.
    idempotent: bool = True
    #: Who waits for it (the pacer serves interactive requests first); decided by `priority.current_priority`.
    priority: Priority = field(default_factory=current_priority)

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
    """An attempt without a usable answer (a timeout, a failed connection, a body over the cap): the error to raise
    if no retry helps, and a label for the log."""

    error: AppleMusicError
    reason: str


Outcome: TypeAlias = Response | NoAnswer


class Sender(Protocol):
    """Something that makes one attempt of a request (possibly through other senders)."""

    async def send(self, request: Request) -> Outcome: ...


class HttpTransport:
    """Exactly one HTTP attempt on the shared session, with the developer token and the caller's user token."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: URL,
        developer_token: DeveloperToken,
        timeout: float,
        *,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        if max_response_bytes < 1:
            raise ValueError("max_response_bytes must be positive")
        self._session = session
        self._base_url = base_url
        self._developer_token = developer_token
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes

    def __repr__(self) -> str:
        return (
            f"HttpTransport(base_url={str(self._base_url)!r}, timeout={self.timeout:g}, "
            f"max_response_bytes={self.max_response_bytes})"
        )

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
                allow_redirects=False,
            ) as resp:
                status = resp.status
                retry_after = resp.headers.get("Retry-After")
                if 300 <= status < 400:
                    resp.close()  # neither the Location nor the body is read
                    body = b""
                else:
                    body = await self._read(resp)
        except ResponseTooLarge as exc:
            return NoAnswer(exc, "answer too large")
        except TimeoutError:
            return NoAnswer(UpstreamTimeout(f"Apple Music did not answer within {self.timeout:g} s"), "timeout")
        except aiohttp.ClientError as exc:
            reason = type(exc).__name__
            return NoAnswer(UpstreamError(f"Could not reach Apple Music ({reason})"), reason)
        payload = await decode_json(body)
        secrets = (dev_token, request.user_token or "")
        errors = () if status < 300 else tuple(e.redacted(secrets) for e in parse_error_entries(payload))
        return Response(status, payload, errors, parse_retry_after(retry_after))

    async def _read(self, resp: aiohttp.ClientResponse) -> bytes:
        """The body, read in chunks up to `max_response_bytes`. Over the cap (declared or read), the connection is
        closed and `ResponseTooLarge` raised."""
        cap = self.max_response_bytes
        declared = resp.content_length
        if declared is not None and declared > cap:
            resp.close()
            raise ResponseTooLarge(limit=cap, received=0, status=resp.status)
        body = bytearray()
        async for chunk in resp.content.iter_chunked(READ_CHUNK):
            body += chunk
            if len(body) > cap:
                resp.close()
                raise ResponseTooLarge(limit=cap, received=len(body), status=resp.status)
        return bytes(body)


Loads = Callable[[bytes], Any]


async def decode_json(body: bytes, *, loads: Loads = json.loads) -> Any:
    """The JSON value of `body` (None when empty or not JSON). A body over `PARSE_OFF_LOOP_BYTES` is decoded on a
    worker thread, a smaller one inline."""
    if len(body) > PARSE_OFF_LOOP_BYTES:
        return await asyncio.to_thread(_decode, body, loads)
    return _decode(body, loads)


def _decode(body: bytes, loads: Loads) -> Any:
    if not body.strip():
        return None
    try:
        return loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def parse_retry_after(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or an HTTP date), at most `MAX_RETRY_AFTER`; None when
    absent, garbage, zero or negative (a date in the past): the retry then waits the policy's backoff, never 0 s."""
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
    if math.isnan(seconds) or seconds <= 0:
        return None
    return min(seconds, MAX_RETRY_AFTER)
