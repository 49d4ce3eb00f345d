"""The one tree of errors a member can cause or meet. Words live in one place, ``bot.ui.errors`` (a table keyed
by these types); the linking page's HTTP statuses live in the web layer (``bot.web.server``).

Raise them in services; never put member-facing text in them. The values they carry (a name the member typed,
a kind of item) are what the words need, never a secret.
"""

from __future__ import annotations

import re

_WORD_START = re.compile(r"(?<!^)(?=[A-Z])")


def kind_of(error: BaseException) -> str:
    """An error's type as a metric label: ``TooManyTries`` → ``too_many_tries``."""
    return _WORD_START.sub("_", type(error).__name__).lower()


class BotError(Exception):
    """Base of the bot's own errors: something the member can understand and usually act on."""


# ---------------------------------------------------------------------- accounts
class NotLinked(BotError):
    """The member has not linked an Apple Music account."""


class LinkStale(BotError):
    """Apple no longer accepts the member's token; they must link again."""


class UnlinkedMeanwhile(BotError):
    """The member unlinked while work with their link was running: it was stopped, nothing more was sent."""


# ---------------------------------------------------------------------- items
class NotRatable(BotError):
    """The item cannot be rated or used here."""


class NotInCatalog(NotRatable):
    """The catalog has no item of this kind and id in the member's country."""

    def __init__(self, kind: str, item_id: str, storefront: str) -> None:
        self.kind, self.item_id, self.storefront = kind, item_id, storefront
        super().__init__(f"no {kind} {item_id} in {storefront}")


class NoMatch(NotRatable):
    """A name search found nothing."""

    def __init__(self, text: str) -> None:
        self.text = text
        super().__init__("nothing matches")


class NeedsAlbumOrPlaylist(NotRatable):
    """A track list was asked of something that has none."""


class LibraryItemNotShareable(NotRatable):
    """A library item was shared: only its owner can rate it."""


class NoLinksInMessage(NotRatable):
    """The message menu was used on a message without a ratable Apple Music link."""


# ---------------------------------------------------------------------- ratings waiting for Apple Music
class TooManyWaiting(BotError):
    """The member already has ``limit`` ratings waiting to reach Apple Music (``OUTBOX_MAX_PER_USER``): a rating of
    an item not among them was refused and not saved. What was waiting is unchanged (a new rating of an item
    already waiting replaces it, and is never refused)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"{limit} ratings are waiting already")


# ---------------------------------------------------------------------- server taste
class TasteError(BotError):
    """A server-taste answer that cannot be given (tops, matches)."""


class NotNamedHere(TasteError):
    """The member asked for a taste match but has not chosen to be named in this server."""


class MemberNotNamed(TasteError):
    """The other member of a taste match has not chosen to be named in this server. Carries nothing about them:
    the words must not name them or say anything about their votes."""


class MatchWithSelf(TasteError):
    """A taste match was asked with oneself (or with a bot)."""


# ---------------------------------------------------------------------- linking
class LinkError(BotError):
    """A link could not be completed."""


class StateInvalid(LinkError):
    """The link is forged, malformed or unknown."""


class StateExpired(LinkError):
    """The link is older than its lifetime."""

    def __init__(self, minutes: int) -> None:
        self.minutes = minutes
        super().__init__(f"expired after {minutes} minutes")


class StateUsed(LinkError):
    """The link was used already."""


class NoPendingLink(LinkError):
    """A token was pasted without a pending ``/link``."""


class NotAToken(LinkError):
    """The text is not an Apple Music user token."""


class AppleRefusedToken(LinkError):
    """Apple refused the authorization (403)."""


class NoSubscription(LinkError):
    """Apple accepted the sign-in but not the account (no active subscription)."""


class AppleUnavailable(LinkError):
    """Apple could not be reached to check the sign-in."""


class StateSpent(LinkError):
    """The link was tried as many times as a link allows (``LINK_MAX_ATTEMPTS``): it no longer works."""


class TooManyTries(LinkError):
    """A member or an address tried to link too often (``LINK_CHECKS_PER_*``, ``LINK_REQUESTS_PER_IP_MINUTE``)."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(f"retry after {retry_after:.0f} s")


class NotConfirmed(LinkError):
    """The page did not confirm the Discord account it links (linking without Discord sign-in)."""


class NotSignedIn(LinkError):
    """This browser has not signed in to Discord as the member the link is for (or its sign-in is over)."""


class WrongDiscordAccount(LinkError):
    """The browser signed in to Discord as someone else than the member who ran ``/link``."""

    def __init__(self, owner: str | None) -> None:
        #: the name of the account the link is for, as recorded when ``/link`` ran (None if unknown)
        self.owner = owner
        super().__init__("signed in as another Discord account")


class DiscordSignInCancelled(LinkError):
    """The member cancelled the Discord sign-in (``access_denied``)."""


class DiscordSignInFailed(LinkError):
    """Discord did not complete the sign-in (a used or expired code, another refusal)."""


class DiscordUnavailable(LinkError):
    """Discord could not be reached to check who signed in."""


# ---------------------------------------------------------------------- links of other music services
class MatchUnavailable(BotError):
    """A link of another music service could not be matched now: a service needed to match it (Odesli, Spotify,
    Deezer, ..., or Apple Music) is down, slow or rate-limited. Not a definite "no match": the caller may try again
    after ``retry_after`` seconds (None: unknown)."""

    def __init__(self, service: str, retry_after: float | None = None) -> None:
        self.service, self.retry_after = service, retry_after
        super().__init__(
            f"{service} unavailable" + ("" if retry_after is None else f", retry after {retry_after:.0f} s")
        )


class CannotMatchNow(MatchUnavailable):
    """A member's link of ``link_service`` (``spotify``, ``youtube``, ...) could not be matched now: the services
    that match such links are down, slow or rate-limited (``service`` names the one that failed)."""

    def __init__(self, link_service: str, service: str, retry_after: float | None = None) -> None:
        super().__init__(service, retry_after)
        self.link_service = link_service


class NoForeignMatch(NotRatable):
    """A link of another music service was matched to nothing in Apple Music (a definite answer)."""

    def __init__(self, link_service: str) -> None:
        self.link_service = link_service
        super().__init__(f"no Apple Music match for a {link_service} link")


class TooManyLookups(BotError):
    """A member asked to match too many links of other services in a short time (``MATCH_LOOKUPS_PER_MINUTE``)."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(f"too many link lookups; retry after {retry_after:.0f} s")


# ---------------------------------------------------------------------- the bot itself
class Restarting(BotError):
    """The process is stopping (a restart): it takes no new work; another process, or this one once back, will."""


# ---------------------------------------------------------------------- server settings
class BadRecapTime(BotError):
    """A recap hour outside 0-23, or a weekday that is not one (an older registration of the command let it
    through)."""

    def __init__(self, what: str, value: object) -> None:
        self.what, self.value = what, value
        super().__init__(f"bad recap {what}: {str(value)[:32]!r}")


class BadTimeZone(BotError):
    """Not a time zone name (``Europe/Berlin``)."""

    def __init__(self, name: str) -> None:
        self.name = name[:64]
        super().__init__(f"unknown time zone {self.name!r}")
