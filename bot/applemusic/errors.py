"""One error tree for everything Apple Music answers badly.

Messages are short, built by us (never from request headers), and never contain token text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

__all__ = [
    "STATUS_ERRORS",
    "ApiErrorEntry",
    "AppleMusicError",
    "BadRequest",
    "DeveloperKeyError",
    "DeveloperTokenRejected",
    "NotFound",
    "RateLimited",
    "UpstreamError",
    "UpstreamTimeout",
    "UserTokenInvalid",
    "error_class",
    "error_for_status",
    "parse_error_entries",
]


@dataclass(frozen=True, slots=True)
class ApiErrorEntry:
    """One entry of Apple's `errors[]` array. `status` and `code` are strings, as Apple sends them."""

    id: str | None = None
    title: str | None = None
    detail: str | None = None
    status: str | None = None
    code: str | None = None
    source_parameter: str | None = None
    source_pointer: str | None = None

    @classmethod
    def from_api(cls, raw: Mapping[str, Any]) -> ApiErrorEntry:
        source = raw.get("source")
        source = source if isinstance(source, Mapping) else {}
        return cls(
            id=_str_or_none(raw.get("id")),
            title=_str_or_none(raw.get("title")),
            detail=_str_or_none(raw.get("detail")),
            status=_str_or_none(raw.get("status")),
            code=_str_or_none(raw.get("code")),
            source_parameter=_str_or_none(source.get("parameter")),
            source_pointer=_str_or_none(source.get("pointer")),
        )

    def redacted(self, secrets: Iterable[str]) -> ApiErrorEntry:
        """A copy with every occurrence of a secret replaced by `[redacted]` (defence in depth)."""
        secrets = [s for s in secrets if s]
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
        text = self.default_message
        if self.status is not None:
            text += f" (HTTP {self.status})"
        first = self.errors[0] if self.errors else None
        if first is not None:
            bits = [b for b in (first.code, first.title) if b]
            if bits:
                text += ": " + " ".join(bits)
            if first.source_parameter:
                text += f" [parameter {first.source_parameter}]"
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


class UpstreamError(AppleMusicError):
    """5xx (or a broken connection) after retries ran out."""

    default_message = "Apple Music is having trouble"


class UpstreamTimeout(AppleMusicError):
    """Every attempt timed out."""

    default_message = "Apple Music did not answer in time"


#: The error raised for each status Apple answers with; any other 5xx is an `UpstreamError`, and any other
#: status a plain `AppleMusicError`. (404 reaches this table only where "not found" is an error.)
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
    return STATUS_ERRORS.get(status) or (UpstreamError if status >= 500 else AppleMusicError)


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
