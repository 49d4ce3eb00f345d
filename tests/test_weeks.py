"""A server's weeks (bot/services/weeks.py): where a week ends and starts, its label, time zones and DST."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.services.weeks import UnknownTimeZone, WeeklySlot, last_week, next_end


def ts(text: str, zone: str = "UTC") -> float:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp()


def test_the_last_week_ends_at_the_last_slot_at_or_before_now() -> None:
    slot = WeeklySlot(weekday=6, hour=18)  # Sunday 18:00 UTC
    week = last_week(7, slot, ts("2026-12-01 10:00"))  # a Tuesday
    assert (week.guild_id, week.start, week.end) == (7, ts("2026-11-22 18:00"), ts("2026-11-29 18:00"))
    assert week.label == "2026-W48"
    assert last_week(7, slot, ts("2026-11-29 18:00")).end == ts("2026-11-29 18:00"), "the very hour: ended"
    assert last_week(7, slot, ts("2026-11-29 17:59")).end == ts("2026-11-22 18:00"), "not yet"
    assert next_end(slot, ts("2026-12-01 10:00")) == ts("2026-12-06 18:00")
    assert next_end(slot, ts("2026-11-29 18:00")) == ts("2026-12-06 18:00")


def test_the_servers_time_zone_and_daylight_saving() -> None:
    slot = WeeklySlot(weekday=0, hour=9, timezone="Europe/Berlin")  # Monday 09:00 Berlin
    week = last_week(1, slot, ts("2026-11-02 12:00", "Europe/Berlin"))
    # the clocks went back on Sunday 25 October 2026: that week is 169 hours long
    assert (week.start, week.end) == (ts("2026-10-26 09:00", "Europe/Berlin"), ts("2026-11-02 09:00", "Europe/Berlin"))
    dst_week = last_week(1, slot, ts("2026-10-26 09:00", "Europe/Berlin"))
    assert dst_week.end - dst_week.start == 169 * 3600
    assert week.end - week.start == 168 * 3600
    assert week.label == "2026-W45"


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "../../etc/passwd", "/etc/localtime", "x" * 65])
def test_an_unknown_time_zone_is_refused(name: str) -> None:
    with pytest.raises(UnknownTimeZone):
        WeeklySlot(timezone=name)


@pytest.mark.parametrize(("weekday", "hour"), [(7, 0), (-1, 0), (0, 24), (0, -1)])
def test_a_weekday_and_hour_out_of_range_are_refused(weekday: int, hour: int) -> None:
    with pytest.raises(ValueError, match="weekday"):
        WeeklySlot(weekday=weekday, hour=hour)
