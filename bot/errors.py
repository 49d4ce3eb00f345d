"""Errors raised by the services, turned into words in one place (``bot.ui.errors``)."""

from __future__ import annotations


class BotError(Exception):
    """Base of the bot's own errors. ``str(error)`` is safe to show to the user who caused it."""


class NotLinked(BotError):
    """The user has not linked an Apple Music account."""

    def __init__(self) -> None:
        super().__init__("Link your Apple Music first: run `/link`, it takes a minute.")


class LinkStale(BotError):
    """Apple no longer accepts the user's token; they must link again."""

    def __init__(self) -> None:
        super().__init__(
            "Apple Music no longer accepts your linked account (the authorization expired or was revoked). "
            "Run `/link` to link it again; nothing else is lost."
        )


class NotRatable(BotError):
    """The item cannot be rated (artists, someone else's library, unknown kinds)."""
