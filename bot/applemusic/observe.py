"""Telling an observer about every attempt at Apple Music, without this package knowing who listens.

`ObservedSender` sits right on the transport (under the pacer and the retries), so each HTTP attempt is reported
once: its `kind` (`request_kind`: which endpoint, never an id or a token) and its `status` (the HTTP status as text,
or `"no answer"` for a timeout or a failed connection). The process's metrics are one such observer (`bot.metrics`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, TypeAlias

from .transport import NoAnswer, Outcome, Request, Sender

__all__ = ["NO_ANSWER", "ObservedSender", "RequestObserver", "request_kind"]

#: Told of each attempt: (kind, status).
RequestObserver: TypeAlias = Callable[[str, str], None]
#: The status of an attempt Apple did not answer.
NO_ANSWER: Final = "no answer"

_RATING_KINDS: Final = {"GET": "rating get", "PUT": "rating put", "DELETE": "rating delete"}


def request_kind(request: Request) -> str:
    """Which endpoint a request is for: ``rating get|put|delete``, ``storefront``, ``search``, ``tracks``,
    ``catalog`` or ``other``."""
    parts = request.path.strip("/").split("/")
    if parts[:3] == ["v1", "me", "ratings"]:
        return _RATING_KINDS.get(request.method, "other")
    if parts[:3] == ["v1", "me", "storefront"]:
        return "storefront"
    if parts[:2] == ["v1", "catalog"]:
        if len(parts) == 4 and parts[3] == "search":
            return "search"
        return "tracks" if parts[-1] == "tracks" else "catalog"
    return "other"


class ObservedSender:
    """Passes each request on, then tells `observer` its kind and what came of it."""

    def __init__(self, sender: Sender, observer: RequestObserver) -> None:
        self._sender = sender
        self._observer = observer

    async def send(self, request: Request) -> Outcome:
        outcome = await self._sender.send(request)
        status = NO_ANSWER if isinstance(outcome, NoAnswer) else str(outcome.status)
        self._observer(request_kind(request), status)
        return outcome
