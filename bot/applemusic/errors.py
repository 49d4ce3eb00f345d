"""One error tree for everything Apple Music answers badly.

Messages are short and built by us from the HTTP status and Apple's numeric error `code` only: Apple's free text
(`title`, `detail`, `source`) can echo what a request carried (a token, URL-encoded or not), so it is kept on the
error for code that wants it but never reaches `str()`, `repr()`, a log line or the database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import quote, quote_plus

__all__ = [
    "STATUS_ERRORS",
    "ApiErrorEntry",
    "AppleMusicError",
    "BadRequest",
    "DeveloperKeyError",
    "DeveloperTokenRejected",
    "NotFound",
    "RateLimited",
    "Redirected",
    "ResponseTooLarge",
    "UpstreamError",
    "UpstreamTimeout",
    "UserTokenInvalid",
    "error_class",
    "error_for_status",
    "parse_error_entries",
]


#: What a `status` or `code` of Apple's looks like ("403", "40300"); anything else is free text and is dropped.
_NUMERIC = re.compile(r"[0-9]{1,8}")


@dataclass(frozen=True, slots=True)
class ApiErrorEntry:
    """One entry of Apple's `errors[]` array. `status` and `code` are strings of digits, as Apple sends them (any
    other value is dropped). The free-text fields are Apple's words, possibly echoing the request: they are left out
    of `repr()`, and nothing logs or stores them."""

    id: str | None = field(default=None, repr=False)
    title: str | None = field(default=None, repr=False)
    detail: str | None = field(default=None, repr=False)
    status: str | None = None
    code: str | None = None
    source_parameter: str | None = field(default=None, repr=False)
    source_pointer: str | None = field(default=None, repr=False)

    @classmethod
    def from_api(cls, raw: Mapping[str, Any]) -> ApiErrorEntry:
        source = raw.get("source")
        source = source if isinstance(source, Mapping) else {}
        return cls(
            id=_str_or_none(raw.get("id")),
            title=_str_or_none(raw.get("title")),
            detail=_str_or_none(raw.get("detail")),
            status=_numeric_or_none(raw.get("status")),
            code=_numeric_or_none(raw.get("code")),
            source_parameter=_str_or_none(source.get("parameter")),
            source_pointer=_str_or_none(source.get("pointer")),
        )

    def redacted(self, secrets: Iterable[str]) -> ApiErrorEntry:
        """A copy with every occurrence of a secret, as sent or URL-encoded, replaced by `[redacted]` (defence in
        depth: these fields never leave the process anyway)."""
        forms = {form for s in secrets if s for form in (s, quote(s, safe=""), quote_plus(s))}
        # longest first, so a secret inside a longer form is not replaced halfway
        secrets = sorted(forms, key=len, reverse=True)
        if not secrets:
            return self

        def clean(value: str | None) -> str | None:
            if value is None:
                return None
            for secret in secrets:
                value = value.replace(secret, "[redacted]")
            return value

        return ApiErrorEntry(
            id=clean(self.id),
            title=clean(self.title),
            detail=clean(self.detail),
            status=clean(self.status),
            code=clean(self.code),
            source_parameter=clean(self.source_parameter),
            source_pointer=clean(self.source_pointer),
        )


def _str_or_none(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def _numeric_or_none(value: object) -> str | None:
    text = _str_or_none(value)
    return text if text is not None and _NUMERIC.fullmatch(text) else None


def parse_error_entries(payload: object) -> tuple[ApiErrorEntry, ...]:
    """Parse `{"errors": [...]}` defensively: any other shape (None, "", a list, garbage) gives ()."""
    if not isinstance(payload, Mapping):
        return ()
    raw = payload.get("errors")
    if not isinstance(raw, list):
        return ()
    return tuple(ApiErrorEntry.from_api(item) for item in raw if isinstance(item, Mapping))


class AppleMusicError(Exception):
    """Base of every Apple Music API error. Carries the HTTP status and Apple's `errors[]` entries."""

    default_message = "Apple Music answered with an error"

    def __init__(
        self,
        message: str | None = None,
        *,
        status: int | None = None,
        errors: Iterable[ApiErrorEntry] = (),
    ) -> None:
        self.status = status
        self.errors: tuple[ApiErrorEntry, ...] = tuple(errors)
        self.message = message or self._describe()
        super().__init__(self.message)

    def _describe(self) -> str:
        """Our words, the HTTP status and Apple's numeric code: never Apple's free text (see the module)."""
        text = self.default_message
        if self.status is not None:
            text += f" (HTTP {self.status})"
        if self.code is not None:
            text += f": code {self.code}"
        return text

    @property
    def code(self) -> str | None:
        """Apple's error code of the first entry (e.g. "40008"), if any."""
        for entry in self.errors:
            if entry.code:
                return entry.code
        return None

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, message={self.message!r})"


class DeveloperKeyError(AppleMusicError, ValueError):
    """The MusicKit private key, key id or team id is unusable (raised at start, before any request)."""

    default_message = "The MusicKit developer key is not usable"


class DeveloperTokenRejected(AppleMusicError):
    """401: Apple rejected the developer token (or the account has no subscription). Operator problem."""

    default_message = "Apple Music rejected the developer token (or the account has no active subscription)"


class UserTokenInvalid(AppleMusicError):
    """403: the music user token is invalid, expired or revoked; the user must link again."""

    default_message = "The Apple Music user token is invalid or expired"


class NotFound(AppleMusicError):
    """404 where "not found" is an error (catalog lookups, unknown paths)."""

    default_message = "Apple Music has no such resource"


class BadRequest(AppleMusicError):
    """400: Apple refused the request; `code` tells why (40008 invalid path value, 40015 tier...)."""

    default_message = "Apple Music refused the request"


class RateLimited(AppleMusicError):
    """429 after retries ran out. `retry_after` is the last Retry-After seen (seconds), if Apple sent one."""

    default_message = "Apple Music is rate limiting requests"

    def __init__(
        self,
        message: str | None = None,
        *,
        status: int | None = 429,
        errors: Iterable[ApiErrorEntry] = (),
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, status=status, errors=errors)


class Redirected(AppleMusicError):
    """3xx: Apple answered with a redirect. The client follows none (a redirect would carry the user's token to
    whatever host it names), and retrying cannot help. The `Location` is never read."""

    default_message = "Apple Music answered with a redirect, which is not followed"


class ResponseTooLarge(AppleMusicError):
    """Apple's answer is larger than `APPLE_MAX_RESPONSE_BYTES`; it was refused without being read whole (when
    its `Content-Length` said so, without reading it at all). Not retried: the same request gets the same answer.

    `limit` is the cap in bytes; `received` how many body bytes had been read when the answer was refused."""

    default_message = "Apple Music's answer is larger than the allowed size"

    def __init__(self, *, limit: int, received: int, status: int | None = None) -> None:
        self.limit = limit
        self.received = received
        super().__init__(f"{self.default_message} ({limit} bytes)", status=status)


class UpstreamError(AppleMusicError):
    """5xx (or a broken connection) after retries ran out."""

    default_message = "Apple Music is having trouble"


class UpstreamTimeout(AppleMusicError):
    """Every attempt timed out."""

    default_message = "Apple Music did not answer in time"


#: The error raised for each status Apple answers with; any other 5xx is an `UpstreamError`, any 3xx a
#: `Redirected`, and any other status a plain `AppleMusicError`. (404 reaches this table only where "not found"
#: is an error.)
STATUS_ERRORS: Final[Mapping[int, type[AppleMusicError]]] = MappingProxyType(
    {
        400: BadRequest,
        401: DeveloperTokenRejected,
        403: UserTokenInvalid,
        404: NotFound,
        429: RateLimited,
    }
)


def error_class(status: int) -> type[AppleMusicError]:
    """The error type for an HTTP status, from `STATUS_ERRORS`."""
    if status in STATUS_ERRORS:
        return STATUS_ERRORS[status]
    if 300 <= status < 400:
        return Redirected
    return UpstreamError if status >= 500 else AppleMusicError


def error_for_status(
    status: int, errors: Iterable[ApiErrorEntry] = (), *, retry_after: float | None = None
) -> AppleMusicError:
    """The error for an answer with `status` and Apple's (already redacted) `errors` entries.

    `retry_after` (seconds, from the answer's `Retry-After`) is kept by `RateLimited` and ignored otherwise.
    """
    cls = error_class(status)
    if issubclass(cls, RateLimited):
        return cls(status=status, errors=errors, retry_after=retry_after)
    return cls(status=status, errors=errors)
