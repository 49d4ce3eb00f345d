"""Linking a Discord user to their Apple Music account.

A link starts with a one-time *state*: random, bound to one Discord user, single-use, valid for ten
minutes, and signed with HMAC so it can be neither forged nor moved to another user. The user finishes it
on the linking page (MusicKit JS) or by pasting a token in a DM. Either way the token is checked with
Apple (``GET /v1/me/storefront``) before it is stored, encrypted, with the user's storefront.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlencode

from bot import applemusic as am
from bot.errors import (
    AppleRefusedToken,
    AppleUnavailable,
    NoPendingLink,
    NoSubscription,
    NotAToken,
    StateExpired,
    StateInvalid,
    StateUsed,
)
from bot.services import notices
from bot.services.guard import LinkGuard
from bot.storage import EXPIRED_HOLDS_NOTICE, Account, LinkStateResult, OutboxEntry, Store

log = logging.getLogger(__name__)

_STATE_RE = re.compile(r"^([A-Za-z0-9_-]{16,64})\.(\d{1,20})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$")
# Music user tokens are long opaque strings of base64 characters; this is how a paste is recognised.
_TOKEN_RE = re.compile(r"^[A-Za-z0-9+/=_.\-]{100,2048}$")
# The same kind of run anywhere in a longer text ("here is my token: Ag...")
_TOKEN_RUN_RE = re.compile(r"(?<![A-Za-z0-9+/=_.\-])[A-Za-z0-9+/=_.\-]{100,}")
#: any catalog song id: the ratings probe only checks that the account may use the ratings API
_PROBE_SONG_ID = "1440857781"


@dataclass(frozen=True, slots=True)
class Linked:
    user_id: int
    storefront: str


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


def redact_tokens(text: str) -> str:
    """``text`` with every token-like run replaced by ``[redacted]``."""
    return _TOKEN_RUN_RE.sub("[redacted]", text)


class TokenRedactingFilter(logging.Filter):
    """A logging filter that removes token-like runs from a record's message.

    discord.py logs whole gateway events at DEBUG (``discord.gateway``), and a DM holding a pasted music
    user token is one of them; this filter, attached to such a logger, keeps the token out of the log.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to logging's own error handling
            return True
        if _TOKEN_RUN_RE.search(message) is not None:
            record.msg = redact_tokens(message)
            record.args = None
        return True


#: the loggers that may see a user's raw message (gateway events, HTTP bodies)
REDACTED_LOGGERS = ("discord.gateway", "discord.http", "discord.client", "discord.state")
_FILTER = TokenRedactingFilter()


def install_token_redaction(names: tuple[str, ...] = REDACTED_LOGGERS) -> None:
    """Attach the redacting filter to ``names`` (idempotent)."""
    for name in names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


class StateSigner:
    """Signs and checks link states: ``nonce.user_id.expires.hmac``."""

    def __init__(self, key: bytes) -> None:
        self._key = hashlib.sha256(b"link-state-v1\x00" + key).digest()

    def __repr__(self) -> str:
        return "StateSigner(<key>)"

    def _mac(self, body: str) -> str:
        digest = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def sign(self, nonce: str, user_id: int, expires: int) -> str:
        body = f"{nonce}.{user_id}.{expires}"
        return f"{body}.{self._mac(body)}"

    def verify(self, state: str) -> tuple[str, int, int]:
        """Return (nonce, user_id, expires) of an authentic state, or raise :class:`StateInvalid`."""
        match = _STATE_RE.match(state or "")
        if match is None:
            raise StateInvalid()
        nonce, user, expires, mac = match.groups()
        if not hmac.compare_digest(mac, self._mac(f"{nonce}.{user}.{expires}")):
            raise StateInvalid()
        return nonce, int(user), int(expires)


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
    """Starts links, completes them (page or DM paste), unlinks, and reports a member's link."""

    def __init__(
        self,
        store: Store,
        apple: am.AppleMusicClient,
        signer: StateSigner,
        link_base_url: str,
        notifier: notices.Notifier,
        *,
        ttl: float = 600.0,
        on_linked: Callable[[], None] = lambda: None,
        guard: LinkGuard | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        #: what an unlink stops: the work running with the member's token
        self.guard = guard or LinkGuard(store)
        self.apple = apple
        self.signer = signer
        self.link_base_url = link_base_url.rstrip("/")
        self.notifier = notifier
        self.ttl = ttl
        #: called after a link is stored: the ratings it released are due (the outbox is woken)
        self.on_linked = on_linked
        self.clock = clock

    @property
    def minutes(self) -> int:
        """How long a link works, in whole minutes (what members are told)."""
        return max(1, round(self.ttl / 60))

    async def start(self, user_id: int) -> str:
        """Create a one-time link for ``user_id`` and return the page URL."""
        nonce = secrets.token_urlsafe(24)
        expires = int(self.clock() + self.ttl)
        await self.store.create_link_state(nonce, user_id, float(expires))
        state = self.signer.sign(nonce, user_id, expires)
        return f"{self.link_base_url}/link?{urlencode({'state': state})}"

    async def check_state(self, state: str) -> tuple[str, int]:
        """Raise the :class:`~bot.errors.LinkError` a link would fail with (forged, expired, used), without
        using it up.

        The page's GET calls it, so a used or expired link says so before the user signs in to Apple Music.
        Returns (nonce, user id).
        """
        nonce, user_id, expires = self.signer.verify(state)
        if self.clock() > expires:
            raise StateExpired(self.minutes)
        if await self.store.pending_link(user_id, self.clock()) is None:
            # no link of this user is open, so this one is used (or expired, or unknown): say which
            # (consuming changes nothing here: there is nothing left to consume)
            self._raise_for(await self.store.consume_link_state(nonce, user_id, self.clock()))
        return nonce, user_id

    async def complete_with_state(self, state: str, token: str) -> Linked:
        """The linking page's POST: check the state, then the token with Apple, then store it."""
        self.signer.verify(state)
        token = token.strip()
        if not looks_like_token(token):
            raise NotAToken()
        nonce, user_id = await self.check_state(state)
        # check the token with Apple before using up the state: a refused token can be retried
        storefront = await self._validate(token)
        self._raise_for(await self.store.consume_link_state(nonce, user_id, self.clock()))
        return await self._store(user_id, token, storefront)

    def _raise_for(self, result: LinkStateResult) -> None:
        if result is LinkStateResult.OK:
            return
        if result is LinkStateResult.EXPIRED:
            raise StateExpired(self.minutes)
        if result is LinkStateResult.USED:
            raise StateUsed()
        raise StateInvalid()

    async def complete_with_paste(self, user_id: int, text: str) -> Linked:
        """A token pasted in a DM by a user who asked to link (a pending, unexpired state)."""
        token = text.strip()
        if not looks_like_token(token):
            raise NotAToken()
        nonce = await self.store.pending_link(user_id, self.clock())
        if nonce is None:
            raise NoPendingLink()
        storefront = await self._validate(token)
        result = await self.store.consume_link_state(nonce, user_id, self.clock())
        if result is not LinkStateResult.OK:
            raise NoPendingLink()
        return await self._store(user_id, token, storefront)

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

    async def status(self, user_id: int) -> AccountStatus:
        """The member's link, their ratings waiting to be applied, and whether ratings they made before linking
        expired since they last asked (they are told once: the note is taken)."""
        # held ratings past their wait are dropped (and noted) now, not at the next housekeeping run
        await self.store.purge_expired_holds(self.clock(), user_id=user_id)
        expired = await self.store.take_notice(user_id, EXPIRED_HOLDS_NOTICE)
        account = await self.store.get_account(user_id)
        waiting = await self.store.pending_for_user(user_id)
        return AccountStatus(account, len(waiting), frozenset(_waiting_reason(e) for e in waiting), expired)
