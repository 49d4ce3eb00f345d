"""Who waits for an Apple Music request: a person (interactive) or nobody in particular (background).

Every `Request` carries a `Priority`; the pacer serves waiting interactive requests first. The default is decided
here, once: a request is interactive unless the code that makes it runs inside `background()` (the outbox, the
start-up catch-up, anything scheduled). The priority travels in a context variable, so the tasks a request fans out
into (`get_ratings` of many ids) inherit it, and no client method needs a parameter for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from enum import IntEnum

__all__ = ["Priority", "background", "current_priority"]


class Priority(IntEnum):
    """Lower is served first."""

    INTERACTIVE = 0  # a command, a button, the message menu, autocomplete, linking: a person waits
    BACKGROUND = 1  # the outbox, the catch-up, anything scheduled: served with what is left


_PRIORITY: ContextVar[Priority] = ContextVar("apple_music_priority", default=Priority.INTERACTIVE)


def current_priority() -> Priority:
    """The priority of a request made here (interactive unless inside `background()`)."""
    return _PRIORITY.get()


@contextmanager
def background() -> Iterator[None]:
    """Requests made inside (and in tasks started inside) are background work."""
    token = _PRIORITY.set(Priority.BACKGROUND)
    try:
        yield
    finally:
        _PRIORITY.reset(token)
