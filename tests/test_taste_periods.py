"""The periods of ``/ratings top`` (``TasteService.span``, the one place they are computed): a rolling week or the
server's own week when it has a weekly slot, a rolling month, and everything kept (``TASTE_DAYS``)."""

from __future__ import annotations

from typing import Any

from bot.services.taste import DAY, Period, TasteService
from bot.services.weeks import WeeklySlot, last_week
from bot.storage import Store

NOW = 1_760_000_000.0  # a Thursday (2025-10-09 08:53 UTC)


def taste(store: Store, **options: Any) -> TasteService:
    # only the store is used by periods: the other services are not needed
    return TasteService(store, None, None, taste_days=365, clock=lambda: NOW, **options)  # type: ignore[arg-type]


async def test_without_a_weekly_slot_periods_are_rolling_and_include_now(store: Store) -> None:
    service = taste(store)
    week = await service.span(1, Period.WEEK)
    assert (week.since, week.server_week) == (NOW - 7 * DAY, False)
    assert week.since <= NOW < week.until and week.until - NOW < 1e-3
    assert (await service.span(1, Period.MONTH)).since == NOW - 30 * DAY
    assert (await service.span(1, Period.ALL)).since == NOW - 365 * DAY


async def test_with_a_weekly_slot_this_week_starts_where_the_servers_last_week_ended(store: Store) -> None:
    slot = WeeklySlot(weekday=0, hour=18, timezone="Europe/Paris")
    asked: list[int] = []

    async def slot_of(guild_id: int) -> WeeklySlot | None:
        asked.append(guild_id)
        return slot if guild_id == 1 else None

    service = taste(store, week_slot=slot_of)
    week = await service.span(1, Period.WEEK)
    assert week.server_week and week.since == last_week(1, slot, NOW).end
    assert NOW - 7 * DAY < week.since <= NOW
    assert (await service.span(2, Period.WEEK)).since == NOW - 7 * DAY, "a server without a slot rolls"
    assert (await service.span(1, Period.MONTH)).since == NOW - 30 * DAY
    assert asked == [1, 2]
