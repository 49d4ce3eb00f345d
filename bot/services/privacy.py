"""A member's data in their own hands: what the bot keeps about them and for how long (``/privacy``), all of it as
a file (``/export``), and all of it deleted in one step (``/forget-me``).

A member's data is every row of the tables that name a Discord user (``transfer.USER_TABLES``: their link, their
link requests, their ratings waiting for Apple Music, the notices sent to them); the export is built from those
rows, so a table added later is exported too. Token ciphertexts and other secrets (any binary column, the link
request's one-time code) never leave the store. ``/forget-me`` is ``/unlink``: the store deletes every such row in
one transaction, and :class:`~bot.services.guard.LinkGuard` stops the work running with the member's token.
"""

from __future__ import annotations

import datetime
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.services.housekeeping import RetentionPolicy
from bot.services.linking import LinkService, Unlinked
from bot.storage import Store
from bot.storage.transfer import table_spec

log = logging.getLogger(__name__)

#: what each table of a member's data is called in their export
SECTIONS: Mapping[str, str] = {
    "accounts": "apple_music_link",
    "link_states": "link_requests",
    "outbox": "ratings_waiting",
    "notices": "notices",
    "taste_shares": "posts_you_shared_in_servers",
    "taste_votes": "your_votes_in_servers",
    "taste_named": "servers_where_you_are_named",
    "mixtape_members": "server_mixtapes_you_joined",
    "mixtape_jobs": "your_server_mixtape_playlists",
}
#: columns never exported, besides every binary column (token ciphertexts): a link request's one-time code, and
#: the outbox's bookkeeping of which process is applying a rating
HIDDEN: Mapping[str, frozenset[str]] = {
    "link_states": frozenset({"state_hash", "signin_hash", "browser_hash"}),
    "outbox": frozenset({"claimed_by", "lease_until", "last_error", "version", "turn"}),
    "mixtape_jobs": frozenset({"claimed_by", "lease_until", "last_error", "sent_at", "due_at", "attempts"}),
}
#: column names as a member reads them
RENAMED: Mapping[str, str] = {"storefront": "country", "value": "rating", "held": "waiting_because"}
RATING_WORDS: Mapping[int, str] = {1: "like", -1: "dislike", 0: "clear"}
EXPORT_NOTES = (
    "Your Apple Music access (the token Apple gave the bot when you linked) is never exported, not even encrypted.",
    "For a server's tops the bot keeps who shared a post there and each member's like or dislike of what was shared"
    " there; you are named in those tops only in the servers where you chose to be.",
    "Times are UTC.",
)


@dataclass(frozen=True, slots=True)
class RetentionTerms:
    """What ``/privacy`` states: how long each kind of data is kept (from the settings)."""

    link_minutes: int
    unlinked_minutes: int
    shared_message_days: int
    notice_days: int
    left_guild_days: int
    taste_days: int


class PrivacyService:
    """``/privacy``, ``/export`` and ``/forget-me`` (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        linking: LinkService,
        policy: RetentionPolicy,
        *,
        unlinked_hold: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.linking = linking
        self.terms = RetentionTerms(
            link_minutes=linking.minutes,
            unlinked_minutes=max(1, round(unlinked_hold / 60)),
            shared_message_days=round(policy.shared_message_days),
            notice_days=round(policy.notice_days),
            left_guild_days=round(policy.left_guild_days),
            taste_days=round(policy.taste_days),
        )
        self._clock = clock

    async def export(self, user_id: int) -> dict[str, Any]:
        """Everything the bot holds about the member, as JSON-ready values (never a token)."""
        rows = await self.store.user_rows(user_id)
        data: dict[str, Any] = {
            "discord_user_id": str(user_id),
            "exported_at": _when(self._clock()),
            "notes": list(EXPORT_NOTES),
        }
        for table, table_rows in rows.items():
            shown = [_readable(table, row) for row in table_rows]
            name = SECTIONS.get(table, table)
            data[name] = (shown[0] if shown else None) if table == "accounts" else shown
        return data

    async def export_file(self, user_id: int) -> bytes:
        """:meth:`export` as an indented UTF-8 JSON document."""
        return json.dumps(await self.export(user_id), indent=2, ensure_ascii=False).encode()

    async def forget(self, user_id: int) -> Unlinked:
        """Delete everything about the member and stop the work running with their token (``/unlink``)."""
        result = await self.linking.unlink(user_id)
        log.info("user %d asked to be forgotten: done", user_id)
        return result


def _readable(table: str, row: Mapping[str, object]) -> dict[str, object]:
    spec = table_spec(table)
    hidden = HIDDEN.get(table, frozenset()) | {spec.user_column}
    out: dict[str, object] = {}
    for column, kind in spec.columns:
        value = row[column]
        if column in hidden or kind == "bytes":
            continue
        if kind == "float" and value is not None:  # every float column is a time (seconds since the epoch)
            value = _when(float(value))  # type: ignore[arg-type]
        elif table in ("outbox", "taste_votes") and column == "value" and isinstance(value, int):
            value = RATING_WORDS.get(value, value)
        out[RENAMED.get(column, column)] = value
    return out


def _when(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, tz=datetime.UTC).isoformat(timespec="seconds")
