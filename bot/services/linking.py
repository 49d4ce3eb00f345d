"""Linking a Discord user to their Apple Music account.

A link starts with a one-time *state*: 32 random bytes in the link's URL, of which the database keeps only the
SHA-256 (a copy of the database opens no link, and no key is involved). It belongs to the Discord user who ran
``/link``, works once, for ``LINK_MINUTES``, for at most ``LINK_MAX_ATTEMPTS`` tries.

Before anyone can sign in to Apple on the page, the page makes sure the browser belongs to that user: with
``DISCORD_CLIENT_SECRET`` set, the browser signs in to Discord (:mod:`bot.discord_signin`) and only the member
who ran ``/link`` goes on, bound to the link by a cookie (only its SHA-256 is stored); without it, the page shows
the member's name and avatar and the visitor must confirm that this is them.

The user finishes on the page (MusicKit JS) or by pasting a token in a DM. Either way the token is checked with
Apple (``GET /v1/me/storefront``) before it is stored, encrypted, with the user's storefront. Apple checks are
limited per link, per Discord user and per client address (:class:`LinkLimits`): a stranger cannot use the bot
as a free token-testing oracle, nor spend the team's Apple rate limit.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlencode

from bot import applemusic as am
from bot.errors import (
    AppleRefusedToken,
    AppleUnavailable,
    LinkError,
    NoPendingLink,
    NoSubscription,
    NotAToken,
    NotConfirmed,
    NotSignedIn,
    StateExpired,
    StateInvalid,
    StateSpent,
    StateUsed,
    TooManyTries,
    WrongDiscordAccount,
    kind_of,
)
from bot.ratelimit import RateWindow, first_wait
from bot.services import notices
from bot.services.guard import LinkGuard
from bot.storage import EXPIRED_HOLDS_NOTICE, Account, LinkState, LinkStateResult, OutboxEntry, StorageError, Store

log = logging.getLogger(__name__)

#: random bytes in a link's state (and in the Discord sign-in's state and the browser's cookie)
STATE_BYTES = 32
#: what ``secrets.token_urlsafe(STATE_BYTES)`` gives: 43 url-safe base64 characters
_STATE_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
# Music user tokens are long opaque strings of base64 characters; this is how a paste is recognised.
_TOKEN_RE = re.compile(r"^[A-Za-z0-9+/=_.\-]{100,2048}$")
#: any catalog song id: the ratings probe only checks that the account may use the ratings API
_PROBE_SONG_ID = "1440857781"


def digest(secret: str) -> str:
    """The SHA-256 (hex) the database keeps of a state, a sign-in state or a browser cookie."""
    return hashlib.sha256(secret.encode()).hexdigest()


def is_secret_value(value: str) -> bool:
    """``value`` has the shape of a state this module made (43 url-safe characters)."""
    return bool(_STATE_RE.match(value))


@dataclass(frozen=True, slots=True)
class Linked:
    user_id: int
    storefront: str


@dataclass(frozen=True, slots=True)
class Member:
    """Who a link is for, as the page shows them: recorded when ``/link`` runs."""

    name: str
    avatar_url: str | None = None


@dataclass(frozen=True, slots=True)
class LinkLimits:
    """How much linking one link, one member and one client address may try (``LINK_*`` settings)."""

    #: tries (Apple checks, Discord sign-ins as someone else) one link allows before it is spent
    max_attempts: int = 5
    #: Apple checks per Discord user, and per client address, in any ``window`` seconds
    checks_per_user: int = 10
    checks_per_ip: int = 20
    window: float = 3600.0


def looks_like_token(text: str) -> bool:
    """The whole text is one token (a paste in a DM)."""
    return bool(_TOKEN_RE.match(text.strip()))


def contains_token(text: str) -> bool:
    """Some word of the text could be a token (a paste in a channel).

    Stricter than :func:`looks_like_token`: a link (``://``) never counts, and the word must mix upper and
    lower case letters and digits, as base64 does, so a long lowercase URL slug is not taken for a token.
    """
    for raw in text.split():
        word = raw.strip("`'\"<>()[]{},;:|*_~")
        if "://" in word or not looks_like_token(word):
            continue
        if any(c.isupper() for c in word) and any(c.islower() for c in word) and any(c.isdigit() for c in word):
            return True
    return False


@contextmanager
def _apple_check(what: str, level: int) -> Iterator[None]:
    """Apple's answer to a linking check, as the linking error a member understands."""
    try:
        yield
    except am.UserTokenInvalid as exc:
        raise AppleRefusedToken() from exc
    except am.DeveloperTokenRejected as exc:
        # 401 for a valid developer token means the account has no active subscription / sign-in
        log.log(level, "Apple answered 401 to %s", what)
        raise NoSubscription() from exc
    except am.AppleMusicError as exc:
        raise AppleUnavailable() from exc


@dataclass(frozen=True, slots=True)
class Unlinked:
    """What ``/unlink`` did: whether an account was deleted, and how many ratings waiting to be sent went with it."""

    removed: bool
    dropped: int


@dataclass(frozen=True, slots=True)
class AccountStatus:
    """What ``/account`` shows: the link (None when not linked) and the ratings waiting for Apple."""

    account: Account | None
    waiting: int
    #: why they wait: a hold reason ("stale", "unlinked"), "retrying" or "queued"
    reasons: frozenset[str]
    #: reactions they made before linking waited in vain and were dropped since their last ``/account``
    expired: bool = False


def _waiting_reason(entry: OutboxEntry) -> str:
    if entry.held is not None:
        return entry.held.value
    return "retrying" if entry.attempts else "queued"


class LinkService:
    """Starts links, proves who opened them, completes them (page or DM paste), unlinks, reports a member's link."""

    def __init__(
        self,
        store: Store,
        apple: am.AppleMusicClient,
        link_base_url: str,
        notifier: notices.Notifier,
        *,
        ttl: float = 600.0,
        limits: LinkLimits | None = None,
        signin_required: bool = False,
        on_linked: Callable[[], None] = lambda: None,
        guard: LinkGuard | None = None,
        clock: Callable[[], float] = time.time,
        on_refused: Callable[[str], None] = lambda reason: None,
    ) -> None:
        self.store = store
        #: told why each link attempt (page or pasted) was refused (:func:`bot.errors.kind_of`; the metrics count them)
        self.on_refused = on_refused
        #: what an unlink stops: the work running with the member's token
        self.guard = guard or LinkGuard(store)
        self.apple = apple
        self.link_base_url = link_base_url.rstrip("/")
        self.notifier = notifier
        self.ttl = ttl
        self.limits = limits or LinkLimits()
        #: True when the page signs the browser in to Discord (DISCORD_CLIENT_SECRET): completing a link then
        #: needs the cookie of the browser that signed in as the member; else the page's explicit confirmation
        self.signin_required = signin_required
        #: called after a link is stored: the ratings it released are due (the outbox is woken)
        self.on_linked = on_linked
        self.clock = clock
        self._per_user = RateWindow(self.limits.checks_per_user, self.limits.window, clock=clock)
        self._per_ip = RateWindow(self.limits.checks_per_ip, self.limits.window, clock=clock)

    @property
    def minutes(self) -> int:
        """How long a link works, in whole minutes (what members are told)."""
        return max(1, round(self.ttl / 60))

    async def start(self, user_id: int, member: Member | None = None) -> str:
        """Create a one-time link for ``user_id`` and return the page URL (the state in it is opaque)."""
        state = secrets.token_urlsafe(STATE_BYTES)
        now = self.clock()
        await self.store.create_link_state(
            digest(state),
            user_id,
            now + self.ttl,
            display_name=member.name if member else None,
            avatar_url=member.avatar_url if member else None,
            now=now,
        )
        return f"{self.link_base_url}/link?{urlencode({'state': state})}"

    async def open(self, state: str) -> LinkState:
        """The link of ``state`` if it can still be used; else the :class:`~bot.errors.LinkError` saying why
        (unknown, used, expired, tried too often). Nothing is used up."""
        if not is_secret_value(state or ""):
            raise StateInvalid()
        link = await self.store.get_link_state(digest(state))
        if link is None:
            raise StateInvalid()
        if link.used_at is not None:
            raise StateUsed()
        if self.clock() >= link.expires_at:
            raise StateExpired(self.minutes)
        if link.attempts >= self.limits.max_attempts:
            raise StateSpent()
        return link

    # ------------------------------------------------------------------ Discord sign-in (DISCORD_CLIENT_SECRET)
    @staticmethod
    def is_bound(link: LinkState, browser: str | None) -> bool:
        """``browser`` (the page's cookie value) is the one that signed in to Discord as the link's member."""
        if link.browser_hash is None or browser is None:
            return False
        return hmac.compare_digest(link.browser_hash, digest(browser))

    async def begin_signin(self, state: str) -> str:
        """Start a Discord sign-in for the link: returns its random state (for Discord and the browser's cookie)."""
        link = await self.open(state)
        signin = secrets.token_urlsafe(STATE_BYTES)
        if not await self.store.begin_link_signin(link.key, digest(signin), self.clock()):
            await self.open(state)  # it was used or expired meanwhile: say which
            raise StateInvalid()
        return signin

    async def check_signin(self, state: str, signin: str) -> LinkState:
        """The link, if ``signin`` is the sign-in under way for it; else :class:`NotSignedIn`."""
        link = await self.open(state)
        if link.signin_hash is None or not hmac.compare_digest(link.signin_hash, digest(signin)):
            raise NotSignedIn()
        return link

    async def finish_signin(self, link: LinkState, signin: str, discord_user_id: int) -> str:
        """Discord says the browser is ``discord_user_id``: bind the browser to the link if that is the member
        who ran ``/link`` and return the browser's new cookie value. Anyone else is refused
        (:class:`WrongDiscordAccount`), spends one of the link's tries, and is bound to nothing."""
        now = self.clock()
        if discord_user_id != link.user_id:
            await self.store.finish_link_signin(link.key, digest(signin), None, now)
            await self.store.count_link_attempt(link.key, self.limits.max_attempts, now)
            log.info("a Discord sign-in for another account's link was refused")
            raise WrongDiscordAccount(link.display_name)
        browser = secrets.token_urlsafe(STATE_BYTES)
        if not await self.store.finish_link_signin(link.key, digest(signin), digest(browser), now):
            raise NotSignedIn()  # another sign-in for this link started meanwhile, or the link was used
        return browser

    # ------------------------------------------------------------------ completing
    async def complete_with_state(
        self, state: str, token: str, *, client: str | None, browser: str | None = None, confirmed: bool = False
    ) -> Linked:
        """The linking page's POST: the link, the browser's proof, the limits, then the token with Apple, then
        store it. ``client`` is the visitor's address; ``browser`` the page's cookie value (Discord sign-in);
        ``confirmed`` the page's "this is me" (without Discord sign-in)."""
        with self._counting_refusals():
            link = await self.open(state)
            if self.signin_required:
                if not self.is_bound(link, browser):
                    raise NotSignedIn()
            elif not confirmed:
                raise NotConfirmed()
            token = token.strip()
            if not looks_like_token(token):
                raise NotAToken()
            await self._spend_try(link.key, link.user_id, client)
            # check the token with Apple before using up the state: a refused token can be retried (a few times)
            storefront = await self._validate(token)
            self._raise_for(await self.store.consume_link_state(link.key, link.user_id, self.clock()))
            return await self._store(link.user_id, token, storefront)

    async def complete_with_paste(self, user_id: int, text: str) -> Linked:
        """A token pasted in a DM by a user who asked to link (a pending, unexpired state)."""
        with self._counting_refusals():
            token = text.strip()
            if not looks_like_token(token):
                raise NotAToken()
            key = await self.store.pending_link(user_id, self.clock())
            if key is None:
                raise NoPendingLink()
            await self._spend_try(key, user_id, None)
            storefront = await self._validate(token)
            result = await self.store.consume_link_state(key, user_id, self.clock())
            if result is not LinkStateResult.OK:
                raise NoPendingLink()
            return await self._store(user_id, token, storefront)

    @contextmanager
    def _counting_refusals(self) -> Iterator[None]:
        try:
            yield
        except LinkError as exc:
            self.on_refused(kind_of(exc))
            raise

    async def _spend_try(self, key: str, user_id: int, client: str | None) -> None:
        """Take one Apple check from the member's and the address's windows and one try from the link, or raise
        (:class:`TooManyTries`, :class:`StateSpent`) before Apple is asked anything."""
        checks: list[tuple[RateWindow, Hashable]] = [(self._per_user, user_id)]
        if client is not None:
            checks.append((self._per_ip, client))
        wait = first_wait(*checks)
        if wait > 0:
            log.info("linking: a limit of Apple checks was reached (retry in %.0f s)", wait)
            raise TooManyTries(wait)
        if await self.store.count_link_attempt(key, self.limits.max_attempts, self.clock()) is None:
            raise StateSpent()  # the last try went to a concurrent request (or the link was used meanwhile)

    def _raise_for(self, result: LinkStateResult) -> None:
        if result is LinkStateResult.OK:
            return
        if result is LinkStateResult.EXPIRED:
            raise StateExpired(self.minutes)
        if result is LinkStateResult.USED:
            raise StateUsed()
        raise StateInvalid()

    async def has_pending_link(self, user_id: int) -> bool:
        return await self.store.pending_link(user_id, self.clock()) is not None

    async def _validate(self, token: str) -> str:
        """Check the token with Apple; return the account's storefront."""
        with _apple_check("validating a user token (subscription, or the developer key)", logging.WARNING):
            storefront = await self.apple.get_storefront(token)
        # the storefront answers for any signed-in Apple account; the ratings API only for subscribers
        with _apple_check("a ratings probe while linking (no active subscription)", logging.INFO):
            await self.apple.get_ratings(am.ResourceType.SONGS, [_PROBE_SONG_ID], token)
        return storefront.id

    async def _store(self, user_id: int, token: str, storefront: str) -> Linked:
        await self.store.link_account(user_id, token, storefront)
        log.info("user %d linked Apple Music (storefront %s)", user_id, storefront)
        self.on_linked()
        await self.notifier.notify(user_id, notices.Linked(storefront))
        return Linked(user_id=user_id, storefront=storefront)

    async def tell_stale(self, user_id: int) -> None:
        """Apple rejected the member's token (found by the outbox): tell them once."""
        if await self.notifier.notify(user_id, notices.RelinkPrompt()):
            await self.store.mark_stale_notified(user_id)

    async def unlink(self, user_id: int) -> Unlinked:
        """Delete the member's account and everything waiting for it, then stop the work running with their token
        in this process (other processes stop at their next retry: the token is gone from the store). When this
        returns, nothing more is sent to Apple with that token from this process."""
        dropped = len(await self.store.pending_for_user(user_id))
        removed = await self.store.unlink(user_id)
        await self.guard.revoke(user_id)
        log.info("user %d unlinked (had an account: %s, ratings dropped: %d)", user_id, removed, dropped)
        return Unlinked(removed, dropped)

    async def is_linked(self, user_id: int) -> bool:
        """Whether the member's Apple Music is linked and still accepted (a stale link must be made again). Never
        fails: while the database cannot say, False (asking someone linked to ``/link`` does no harm)."""
        try:
            account = await self.store.get_account(user_id)
        except StorageError:
            log.warning("could not read whether user %d is linked", user_id)
            return False
        return account is not None and account.is_active

    async def status(self, user_id: int) -> AccountStatus:
        """The member's link, their ratings waiting to be applied, and whether ratings they made before linking
        expired since they last asked (they are told once: the note is taken)."""
        # held ratings past their wait are dropped (and noted) now, not at the next housekeeping run
        await self.store.purge_expired_holds(self.clock(), user_id=user_id)
        expired = await self.store.take_notice(user_id, EXPIRED_HOLDS_NOTICE)
        account = await self.store.get_account(user_id)
        waiting = await self.store.pending_for_user(user_id)
        return AccountStatus(account, len(waiting), frozenset(_waiting_reason(e) for e in waiting), expired)
