"""Plain values returned by the store. None of them ever holds a token or a key."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any, Protocol


class Row(Protocol):
    """A database row as both engines return it: sqlite3.Row and asyncpg.Record, read by column name or position."""

    def __getitem__(self, key: str | int, /) -> Any: ...


class AccountStatus(StrEnum):
    ACTIVE = "active"
    STALE = "stale"  # Apple rejected the token (403): the user must link again


class LinkStateResult(StrEnum):
    OK = "ok"
    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"
    WRONG_USER = "wrong_user"


#: The notice kind that says "reactions you made before linking waited in vain": written when such held ratings
#: expire (``Store.purge_expired_holds``, or a link after the wait), taken by the member's next ``/account``.
EXPIRED_HOLDS_NOTICE = "held-ratings-expired"


class HoldReason(StrEnum):
    UNLINKED = "unlinked"  # reacted before linking: kept for a while (hold_expires_at), applied on link
    STALE = "stale"  # the token was rejected: kept until the user links again


class RatingValue(IntEnum):
    """The desired state of a rating in the outbox (0 means "no rating": DELETE it)."""

    DISLIKE = -1
    CLEAR = 0
    LIKE = 1


@dataclass(frozen=True, slots=True)
class Account:
    """A linked Discord user. Deliberately has no token field: use ``Store.get_user_token``."""

    user_id: int
    storefront: str
    linked_at: float
    last_used: float
    status: AccountStatus
    stale_notified: bool

    @property
    def is_active(self) -> bool:
        return self.status is AccountStatus.ACTIVE

    @classmethod
    def from_row(cls, row: Row) -> Account:
        return cls(
            user_id=int(row["user_id"]),
            storefront=str(row["storefront"]),
            linked_at=float(row["linked_at"]),
            last_used=float(row["last_used"]),
            status=AccountStatus(row["status"]),
            stale_notified=bool(row["stale_notified"]),
        )


@dataclass(frozen=True, slots=True)
class LinkState:
    """A one-time link as stored: ``key`` is the SHA-256 of the state in the link's URL (never the state itself).

    ``signin_hash`` and ``browser_hash`` are SHA-256 digests too: of the Discord sign-in under way, and of the
    cookie of the browser that signed in to Discord as ``user_id``.
    """

    key: str
    user_id: int
    created_at: float
    expires_at: float
    used_at: float | None
    attempts: int
    display_name: str | None
    avatar_url: str | None
    signin_hash: str | None
    browser_hash: str | None

    @classmethod
    def from_row(cls, row: Row) -> LinkState:
        return cls(
            key=str(row["state_hash"]),
            user_id=int(row["user_id"]),
            created_at=float(row["created_at"]),
            expires_at=float(row["expires_at"]),
            used_at=None if row["used_at"] is None else float(row["used_at"]),
            attempts=int(row["attempts"]),
            display_name=row["display_name"],
            avatar_url=row["avatar_url"],
            signin_hash=row["signin_hash"],
            browser_hash=row["browser_hash"],
        )


@dataclass(frozen=True, slots=True)
class SharedMessage:
    """A Discord message that shares one Apple Music item (so reactions on it can be rated)."""

    message_id: int
    channel_id: int
    guild_id: int | None
    item_type: str
    item_id: str
    created_at: float

    @classmethod
    def from_row(cls, row: Row) -> SharedMessage:
        return cls(
            message_id=int(row["message_id"]),
            channel_id=int(row["channel_id"]),
            guild_id=None if row["guild_id"] is None else int(row["guild_id"]),
            item_type=str(row["item_type"]),
            item_id=str(row["item_id"]),
            created_at=float(row["created_at"]),
        )


@dataclass(frozen=True, slots=True)
class PendingMatch:
    """A post in a sharing channel whose link of another music service waits to be matched to Apple Music (the
    services that match it were unavailable): tried again at ``next_try_at``."""

    message_id: int
    channel_id: int
    guild_id: int
    author_id: int
    link: str
    attempts: int
    next_try_at: float
    created_at: float

    @classmethod
    def from_row(cls, row: Row) -> PendingMatch:
        return cls(
            message_id=int(row["message_id"]),
            channel_id=int(row["channel_id"]),
            guild_id=int(row["guild_id"]),
            author_id=int(row["author_id"]),
            link=str(row["link"]),
            attempts=int(row["attempts"]),
            next_try_at=float(row["next_try_at"]),
            created_at=float(row["created_at"]),
        )


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """The latest desired rating of one user for one item, waiting to be applied to Apple Music.

    ``version`` grows with every new desired state for the same row; ``id`` is never reused.
    ``created_at`` is when the row first became pending (the start of the ``max_delay`` window).
    """

    id: int
    user_id: int
    item_type: str
    item_id: str
    value: int
    version: int
    created_at: float
    updated_at: float
    due_at: float
    attempts: int
    last_error: str | None
    held: HoldReason | None
    hold_expires_at: float | None
    claimed_by: str | None
    lease_until: float | None
    #: rows are claimed by turn, so members are served in turn (see ``Store.claim_due``)
    turn: int = 0

    @classmethod
    def from_row(cls, row: Row) -> OutboxEntry:
        return cls(
            id=int(row["id"]),
            user_id=int(row["user_id"]),
            item_type=str(row["item_type"]),
            item_id=str(row["item_id"]),
            value=int(row["value"]),
            version=int(row["version"]),
            created_at=float(row["created_at"]),
            updated_at=float(row["updated_at"]),
            due_at=float(row["due_at"]),
            attempts=int(row["attempts"]),
            last_error=row["last_error"],
            held=None if row["held"] is None else HoldReason(row["held"]),
            hold_expires_at=None if row["hold_expires_at"] is None else float(row["hold_expires_at"]),
            claimed_by=row["claimed_by"],
            lease_until=None if row["lease_until"] is None else float(row["lease_until"]),
            turn=int(row["turn"]),
        )


@dataclass(frozen=True, slots=True)
class ProcessRecord:
    """A bot process running on the database, as it announced itself: where it runs, since when, its last
    heartbeat (``seen_at``) and the fingerprints of its ``TOKEN_ENCRYPTION_KEY`` keys, in their order (short
    HMACs: never key material). ``id`` is unique per process run (``host:pid:random``)."""

    id: str
    host: str
    pid: int
    started_at: float
    seen_at: float
    key_fingerprints: tuple[str, ...]

    @property
    def name(self) -> str:
        """``host:pid``: how an operator finds the process."""
        return f"{self.host}:{self.pid}"

    @classmethod
    def from_row(cls, row: Row) -> ProcessRecord:
        fingerprints = str(row["key_fingerprints"])
        return cls(
            id=str(row["id"]),
            host=str(row["host"]),
            pid=int(row["pid"]),
            started_at=float(row["started_at"]),
            seen_at=float(row["seen_at"]),
            key_fingerprints=tuple(fingerprints.split(",")) if fingerprints else (),
        )


@dataclass(frozen=True, slots=True)
class MixtapeMember:
    """A member who joined their server's weekly mixtape, with the server's name when they last joined."""

    user_id: int
    guild_name: str


@dataclass(frozen=True, slots=True)
class MixtapeJob:
    """Make one week's playlist of one server in one member's library (``tracks``: catalog song ids, in order).

    Done when ``done_at`` is set: ``playlist_id`` is the playlist made (None: none was, ``last_error`` says why).
    ``sent_at``: a create was sent and no answer said whether Apple made it (look in the library first)."""

    id: int
    guild_id: int
    user_id: int
    week_start: float
    week_end: float
    name: str
    tracks: tuple[str, ...]
    created_at: float
    due_at: float
    attempts: int
    last_error: str | None
    claimed_by: str | None
    lease_until: float | None
    sent_at: float | None
    playlist_id: str | None
    done_at: float | None

    @classmethod
    def from_row(cls, row: Row) -> MixtapeJob:
        def opt(key: str) -> float | None:
            return None if row[key] is None else float(row[key])

        return cls(
            id=int(row["id"]),
            guild_id=int(row["guild_id"]),
            user_id=int(row["user_id"]),
            week_start=float(row["week_start"]),
            week_end=float(row["week_end"]),
            name=str(row["name"]),
            tracks=tuple(t for t in str(row["tracks"]).split(",") if t),
            created_at=float(row["created_at"]),
            due_at=float(row["due_at"]),
            attempts=int(row["attempts"]),
            last_error=row["last_error"],
            claimed_by=row["claimed_by"],
            lease_until=opt("lease_until"),
            sent_at=opt("sent_at"),
            playlist_id=row["playlist_id"],
            done_at=opt("done_at"),
        )


@dataclass(frozen=True, slots=True)
class TopItem:
    """An item shared in a server, with its members' current votes through the bot: net likes (likes minus
    dislikes), and its first share in the period asked for (who shared it, where, when)."""

    item_type: str
    item_id: str
    likes: int
    dislikes: int
    sharer_id: int
    channel_id: int
    message_id: int
    shared_at: float

    @property
    def net(self) -> int:
        return self.likes - self.dislikes

    @classmethod
    def from_row(cls, row: Row) -> TopItem:
        return cls(
            item_type=str(row["item_type"]),
            item_id=str(row["item_id"]),
            likes=int(row["likes"]),
            dislikes=int(row["dislikes"]),
            sharer_id=int(row["sharer_id"]),
            channel_id=int(row["channel_id"]),
            message_id=int(row["message_id"]),
            shared_at=float(row["shared_at"]),
        )


@dataclass(frozen=True, slots=True)
class TopSharer:
    """A member who shared items in a server in a period: how many, and the net likes those items have."""

    user_id: int
    shares: int
    net_likes: int

    @classmethod
    def from_row(cls, row: Row) -> TopSharer:
        return cls(user_id=int(row["sharer_id"]), shares=int(row["shares"]), net_likes=int(row["net_likes"]))


@dataclass(frozen=True, slots=True)
class RecapSettings:
    """A server's weekly recap: the channel it is posted in (None: no recap), when its week ends (weekday 0 =
    Monday, hour, IANA time zone) and when that was last changed (weeks ending earlier are not posted)."""

    guild_id: int
    channel_id: int | None
    weekday: int
    hour: int
    timezone: str
    updated_at: float

    @classmethod
    def from_row(cls, row: Row) -> RecapSettings:
        channel = row["channel_id"]
        return cls(
            guild_id=int(row["guild_id"]),
            channel_id=None if channel is None else int(channel),
            weekday=int(row["weekday"]),
            hour=int(row["hour"]),
            timezone=str(row["timezone"]),
            updated_at=float(row["updated_at"]),
        )


@dataclass(frozen=True, slots=True)
class ClosedWeek:
    """A server's week being closed or closed: who claimed it, until when, when it was closed, the recap posted."""

    guild_id: int
    week_label: str
    week_end: float
    claimed_by: str
    lease_until: float
    closed_at: float | None
    message_id: int | None

    @classmethod
    def from_row(cls, row: Row) -> ClosedWeek:
        closed, message = row["closed_at"], row["message_id"]
        return cls(
            guild_id=int(row["guild_id"]),
            week_label=str(row["week_label"]),
            week_end=float(row["week_end"]),
            claimed_by=str(row["claimed_by"]),
            lease_until=float(row["lease_until"]),
            closed_at=None if closed is None else float(closed),
            message_id=None if message is None else int(message),
        )


@dataclass(frozen=True, slots=True)
class StoreCounts:
    """What an operator's metrics read from the database (``Store.health_counts``): the outbox's ratings waiting for
    Apple Music (not held) and how long the oldest of them has waited, the held ratings by reason, and the linked
    accounts by status."""

    outbox_waiting: int
    oldest_waiting_seconds: float
    held: dict[str, int]
    accounts: dict[str, int]
