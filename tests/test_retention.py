"""Retention (issue 14): after 120 simulated days of activity the database holds only what the README's table "What
the bot keeps" allows, checked row by row on both engines; every table has a rule and a README row.

Time is injected: the store, :class:`Housekeeping` and :class:`LinkService` share one :class:`FakeClock`, and
housekeeping runs every six simulated hours (its interval in production is one hour).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.services.budget import BUDGET_LIVE_SECONDS
from bot.services.housekeeping import CLOSED_WEEK_DAYS, DAY, Housekeeping, RetentionPolicy
from bot.services.linking import LinkService
from bot.services.presence import STALE_AFTER_SECONDS
from bot.storage import EXPIRED_HOLDS_NOTICE, HoldReason, PendingMatch, ProcessRecord, Store, TokenCipher, open_store
from tests.fixtures.storage import FakeClock, database_rows

ROOT = Path(__file__).resolve().parents[1]
HOUR = 3600.0
POLICY = RetentionPolicy(shared_message_days=90, notice_days=30, left_guild_days=7, taste_days=60)
DAYS = 120
#: servers: the bot stays in one, is removed from one and invited back 2 days later, and leaves one for good
STAYS, BACK, GONE = 1001, 1002, 1003
LEFT_BACK, REJOINED_BACK, LEFT_GONE = 50, 52, 60
LINKED = (1, 2, 3)
STALE = 4
NEWCOMERS = tuple(range(100, 110))  # react before linking, and never link
HOLD = 600.0  # UNLINKED_REACTION_MINUTES = 10


class Quiet:
    """A notifier that delivers nothing (nothing here is about direct messages)."""

    async def notify(self, user_id: int, notice: Any) -> bool:
        return False


def retention_rules(
    end: float, shared_items: set[tuple[str, str]], last_sync: float
) -> dict[str, Callable[[dict[str, Any]], bool]]:
    """What the README's table allows at ``end`` (the last housekeeping run), one rule per table; ``shared_items`` are
    the items of the shared posts still recorded."""
    return {
        "schema_version": lambda row: 1 <= row["version"],
        # until /unlink or /forget-me
        "accounts": lambda row: row["user_id"] in (*LINKED, STALE),
        # until expired (LINK_MINUTES)
        "link_states": lambda row: row["expires_at"] > end,
        # applied ratings are deleted; unlinked holds until their wait is over; stale holds until the member links
        "outbox": lambda row: (
            (row["held"] == "stale" and row["user_id"] == STALE)
            or (row["held"] == "unlinked" and row["hold_expires_at"] > end)
        ),
        # SHARED_MESSAGE_DAYS, and nothing of a server left more than LEFT_GUILD_DAYS ago
        "shared_messages": lambda row: (
            row["created_at"] >= end - POLICY.shared_message_days * DAY and row["guild_id"] != GONE
        ),
        "guild_share_channels": lambda row: row["guild_id"] in (STAYS, BACK),
        # a server's switches: until LEFT_GUILD_DAYS after the bot leaves it
        "guild_settings": lambda row: row["guild_id"] in (STAYS, BACK),
        "guild_departures": lambda row: row["left_at"] > end - POLICY.left_guild_days * DAY,
        # NOTICE_DAYS
        "notices": lambda row: row["last_sent_at"] >= end - POLICY.notice_days * DAY,
        # while a recorded shared post shares the item
        "rating_intents": lambda row: (row["item_type"], row["item_id"]) in shared_items,
        # processes seen in the last STALE_AFTER_SECONDS
        "processes": lambda row: row["seen_at"] >= end - STALE_AFTER_SECONDS,
        # one row per bucket of Discord shards, about no member: for the life of the database
        "identify_turns": lambda row: row["bucket"] >= 0,
        # server taste: TASTE_DAYS, and nothing of a server left more than LEFT_GUILD_DAYS ago
        "taste_shares": lambda row: row["shared_at"] >= end - POLICY.taste_days * DAY and row["guild_id"] != GONE,
        "taste_votes": lambda row: row["voted_at"] >= end - POLICY.taste_days * DAY and row["guild_id"] != GONE,
        # a member's choice to be named: until changed; nothing of a server left more than LEFT_GUILD_DAYS ago
        "taste_named": lambda row: row["guild_id"] in (STAYS, BACK),
        # who joined a server's mixtape: until they leave (or unlink); nothing of a server left LEFT_GUILD_DAYS ago
        "mixtape_members": lambda row: row["guild_id"] in (STAYS, BACK),
        # a week's playlist jobs, done or not: TASTE_DAYS after the week ended; nothing of a server left
        "mixtape_jobs": lambda row: row["week_end"] >= end - POLICY.taste_days * DAY and row["guild_id"] != GONE,
        # posts waiting to be matched: PENDING_MATCH_HOURS; nothing of a server left more than LEFT_GUILD_DAYS ago
        "pending_matches": lambda row: (
            row["created_at"] >= end - POLICY.pending_match_hours * HOUR and row["guild_id"] in (STAYS, BACK)
        ),
        # a server's recap settings: until changed; nothing of a server left more than LEFT_GUILD_DAYS ago
        "recap_settings": lambda row: row["guild_id"] in (STAYS, BACK),
        # a closed week: CLOSED_WEEK_DAYS after it ended; nothing of a server left more than LEFT_GUILD_DAYS ago
        "closed_weeks": lambda row: row["week_end"] >= end - CLOSED_WEEK_DAYS * DAY and row["guild_id"] != GONE,
        # the one learned rate of the processes together
        "apple_budget": lambda row: row["id"] == 1,
        # processes sending to Apple: a sync deletes those that had not synced in BUDGET_LIVE_SECONDS
        "apple_budget_members": lambda row: row["seen_at"] >= last_sync - BUDGET_LIVE_SECONDS,
    }


async def test_after_120_days_the_database_holds_only_what_the_retention_table_allows(
    database_url: str, cipher: TokenCipher, fake_clock: FakeClock
) -> None:
    store = await open_store(database_url, cipher, clock=fake_clock)
    try:
        await simulate(store, fake_clock, database_url)
    finally:
        await store.close()


async def simulate(store: Store, clock: FakeClock, database_url: str) -> None:
    housekeeping = Housekeeping(store, POLICY, clock=clock)
    linking = LinkService(store, None, "http://127.0.0.1", Quiet(), ttl=600, clock=clock)  # type: ignore[arg-type]
    t0 = clock.now
    for user in (*LINKED, STALE):
        await store.link_account(user, f"token-of-{user}-" + "x" * 100, "us", now=t0)
    assert await store.mark_stale(STALE)
    for guild in (STAYS, BACK, GONE):
        assert await store.add_share_channel(guild, guild * 10)
        assert await store.set_share_buttons(guild, True)
        assert await store.set_taste_named(guild, LINKED[1], True, t0)
        assert await store.mixtape_join(guild, LINKED[1], f"Server {guild}", t0)
        await store.set_recap(guild, guild * 10, 0, 9, "Europe/Berlin", t0)
    messages = itertools.count(1)
    for day in range(DAYS):
        for quarter in range(4):
            now = clock.now = t0 + day * DAY + quarter * 6 * HOUR
            await linking.start(LINKED[day % 3])  # a /link address, never used
            for guild in (STAYS, BACK, GONE, None):
                if guild == GONE and day >= LEFT_GONE:
                    continue  # the bot is no longer there
                channel = (guild or 7) * 10
                message = next(messages)
                await store.record_shared_message(message, channel, guild, "songs", f"{day}", now)
                if guild is not None:
                    await store.record_share(message, guild, channel, LINKED[0], "songs", f"{day}", now)
                    await store.record_vote(guild, LINKED[1], "songs", f"{day}", 1, now)
                    # a post whose link of another service waits (the matching services are down for good)
                    waiting = PendingMatch(-message, channel, guild, LINKED[2], "https://youtu.be/x", 0, now + DAY, now)
                    assert await store.add_pending_match(waiting, max_per_guild=100)
                    if quarter == 0:  # a week closes (one a day here: more rows to keep or delete)
                        assert await store.claim_week(guild, f"d{day}", now, "worker", 60.0, now)
                        assert await store.close_week(guild, f"d{day}", "worker", message, now)
            newcomer = NEWCOMERS[(day * 4 + quarter) % len(NEWCOMERS)]
            await store.enqueue(
                newcomer, "songs", f"{day}-{quarter}", 1, now, hold=HoldReason.UNLINKED, hold_expires_at=now + HOLD
            )
            await store.claim_notice(newcomer, "reaction-link-prompt", now)
            await store.enqueue(STALE, "songs", f"{day}", -1, now, hold=HoldReason.STALE)
            await store.enqueue(LINKED[0], "songs", f"q{day}-{quarter}", 1, now, debounce=0)
            for entry in await store.claim_due("worker", now):
                assert await store.complete(entry)  # applied: nothing of it is kept
            await store.announce_process(ProcessRecord(f"host:{day}:x", "host", day, now, now, ("aaaa",)))
            last_sync = now
            await store.share_apple_budget(
                f"host:{day}:x", lambda _: (10.0, None, 0), now=now, live_since=now - BUDGET_LIVE_SECONDS
            )
            if quarter == 0 and day == LEFT_BACK:
                await housekeeping.guild_left(BACK)
            if quarter == 0 and day == REJOINED_BACK:
                await housekeeping.guild_present(BACK)
            if quarter == 0 and day == LEFT_GONE:
                await housekeeping.guild_left(GONE)
            if quarter == 0:  # a week closes every day here: each member's playlist job, made at once
                for guild in (STAYS, BACK) if day >= LEFT_GONE else (STAYS, BACK, GONE):
                    await store.mixtape_enqueue(guild, [LINKED[1]], now - 7 * DAY, now, f"Server {guild}", ["1"], now)
                for job in await store.mixtape_claim("worker", now, limit=10):
                    assert await store.mixtape_done(job, f"p.{job.id}", now=now)
            purged = await housekeeping.run_once()
            if (day, quarter) == (LEFT_GONE + 7, 0):
                assert purged.guilds == 1, "the server left 7 days ago is deleted now"
            elif day == LEFT_GONE + 6:
                assert purged.guilds == 0 and await store.list_share_channels(GONE) == [GONE * 10]
    end = clock.now = t0 + DAYS * DAY
    await housekeeping.run_once()

    rows = await database_rows(database_url)
    rules = retention_rules(end, {(r["item_type"], r["item_id"]) for r in rows["shared_messages"]}, last_sync)
    assert sorted(rows) == sorted(rules), "every table has a retention rule"
    for table, table_rows in rows.items():
        for row in table_rows:
            assert rules[table](row), (table, row)
    # ... and the rules were exercised: what is left is exactly what they allow
    assert sorted(r["user_id"] for r in rows["accounts"]) == [*LINKED, STALE]
    assert rows["link_states"] == [] and rows["processes"] == [] and rows["guild_departures"] == []
    assert [r["process_id"] for r in rows["apple_budget_members"]] == [f"host:{DAYS - 1}:x"]
    assert len(rows["outbox"]) == DAYS and {r["held"] for r in rows["outbox"]} == {"stale"}
    kept_days = range(DAYS - int(POLICY.shared_message_days), DAYS)
    shared = sorted((r["guild_id"] or 0, int(r["item_id"])) for r in rows["shared_messages"])
    assert shared == sorted((g, d) for g in (0, STAYS, BACK) for d in kept_days for _ in range(4))
    assert sorted(r["guild_id"] for r in rows["guild_share_channels"]) == [STAYS, BACK]
    assert sorted(r["guild_id"] for r in rows["guild_settings"]) == [STAYS, BACK]
    assert sorted(r["guild_id"] for r in rows["taste_named"]) == [STAYS, BACK]
    # the last day's posts (4 a day, one each six hours; the one at exactly 24 h before the end run is kept too)
    waiting = sorted((r["guild_id"], r["created_at"]) for r in rows["pending_matches"])
    assert waiting == sorted((g, t0 + (DAYS - 1) * DAY + q * 6 * HOUR) for g in (STAYS, BACK) for q in range(4))
    assert sorted(r["guild_id"] for r in rows["recap_settings"]) == [STAYS, BACK]
    closed_days = range(DAYS - int(CLOSED_WEEK_DAYS), DAYS)
    assert sorted((r["guild_id"], r["week_label"]) for r in rows["closed_weeks"]) == sorted(
        (g, f"d{d}") for g in (STAYS, BACK) for d in closed_days
    )
    taste_days = range(DAYS - int(POLICY.taste_days), DAYS)
    assert sorted(r["guild_id"] for r in rows["mixtape_members"]) == [STAYS, BACK]
    kept_weeks = sorted((r["guild_id"], round((r["week_end"] - t0) / DAY)) for r in rows["mixtape_jobs"])
    assert kept_weeks == sorted((g, d) for g in (STAYS, BACK) for d in taste_days)
    for table in ("taste_shares", "taste_votes"):
        kept = sorted((r["guild_id"], int(r["item_id"])) for r in rows[table])
        per_day = 4 if table == "taste_shares" else 1  # a share every six hours; one vote per item
        expected = [(g, d) for g in (STAYS, BACK) for d in taste_days for _ in range(per_day)]
        assert kept == sorted(expected), table
    # newcomers: their daily prompt within 30 days, and the note that their reactions expired (for /account)
    assert {(r["user_id"], r["kind"]) for r in rows["notices"]} == {
        (u, kind) for u in NEWCOMERS for kind in ("reaction-link-prompt", EXPIRED_HOLDS_NOTICE)
    }
    # a newcomer's next /account says their reactions were not applied, once
    status = await linking.status(NEWCOMERS[0])
    assert status.expired and status.waiting == 0 and status.account is None
    assert not (await linking.status(NEWCOMERS[0])).expired


async def test_an_expired_hold_is_not_shown_as_waiting_and_linking_later_says_it_was_not_applied(
    store: Store, fake_clock: FakeClock
) -> None:
    linking = LinkService(store, None, "http://x", Quiet(), clock=fake_clock)  # type: ignore[arg-type]
    now = fake_clock.now
    await store.enqueue(7, "songs", "1", 1, now, hold=HoldReason.UNLINKED, hold_expires_at=now + HOLD)
    waiting = await linking.status(7)
    assert (waiting.waiting, waiting.reasons, waiting.expired) == (1, frozenset({"unlinked"}), False)
    fake_clock.advance(HOLD)
    # before any housekeeping run: no longer "waiting for you to link", but "not applied", once
    expired = await linking.status(7)
    assert (expired.waiting, expired.expired) == (0, True)
    assert (await linking.status(7)).expired is False
    # linking after the wait: the expired rating is dropped (not applied) and the next /account says so
    await store.enqueue(
        7, "songs", "2", 1, fake_clock.now, hold=HoldReason.UNLINKED, hold_expires_at=fake_clock.now + HOLD
    )
    fake_clock.advance(HOLD + 1)
    await store.link_account(7, "t" * 120, "us")
    assert await store.pending_for_user(7) == []
    linked = await linking.status(7)
    assert linked.account is not None and linked.expired and linked.waiting == 0


def readme_retention_tables() -> list[str]:
    """The first column of the README's "What the bot keeps" table."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### What the bot keeps", 1)[1].split("\n#", 1)[0]
    return [m.group(1) for m in re.finditer(r"^\| `([a-z_]+)` \|", section, re.MULTILINE)]


async def test_the_readme_has_one_retention_row_per_table(database_url: str, cipher: TokenCipher) -> None:
    store = await open_store(database_url, cipher)  # a database of the current schema
    await store.close()
    tables = sorted(await database_rows(database_url))
    assert sorted(readme_retention_tables()) == tables
