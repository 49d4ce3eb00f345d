"""What the services tell a member on their own, outside any command: values, not words.

A service decides *that* a member must be told something (they reacted before linking, their link went stale,
their reaction could not be saved, their link worked) and hands a :data:`Notice` to the :class:`Notifier` it was
built with. The Discord side (``bot.ui.notices``) turns it into a direct message; tests can use any notifier.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, TypeAlias

from bot.errors import TooManyWaiting


@dataclass(frozen=True, slots=True)
class Post:
    """The shared post a notice is about: where it is and, when known, what it shares (``title`` and ``artist``
    from the catalog; ``url``, the item's Apple Music link, whenever the item is known)."""

    guild_id: int | None
    channel_id: int
    message_id: int
    kind: str | None = None  # "song", "album"... (``ResourceType.label``)
    title: str | None = None
    artist: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class LinkPrompt:
    """They reacted to a shared post but have not linked: the rating waits ``minutes`` for them."""

    minutes: int
    post: Post | None = None


@dataclass(frozen=True, slots=True)
class RelinkPrompt:
    """Apple stopped accepting their link; their ratings wait until they link again (``post``: the reaction that
    found it out, if one did)."""

    post: Post | None = None


@dataclass(frozen=True, slots=True)
class Linked:
    """Their account is linked (``storefront`` is the Apple Music country code)."""

    storefront: str


@dataclass(frozen=True, slots=True)
class ReactionNotSaved:
    """A reaction (``added``) or its removal could not be saved: the database stayed unavailable, or (``refused``)
    the member already has that many ratings waiting; then their next refused reactions are not told again
    until one is saved (this notice says so)."""

    post: Post
    value: int
    added: bool
    refused: TooManyWaiting | None = None


@dataclass(frozen=True, slots=True)
class MixtapeMissed:
    """The week's mixtape (``playlist``: its name, server and week) was not made: their link went stale."""

    playlist: str


Notice: TypeAlias = LinkPrompt | RelinkPrompt | Linked | ReactionNotSaved | MixtapeMissed


class Notifier(Protocol):
    async def notify(self, user_id: int, notice: Notice) -> bool:
        """Tell the member; True if it was delivered. Never raises: a notice that cannot be delivered (closed
        DMs, Discord unreachable) is logged and reported as False."""
        ...
