"""The weeks of a server's taste: a week ends at the server's chosen weekday and hour, in its time zone.

The recap and the mixtape both work on whole weeks. A week is half-open, ``start <= t < end``, in UTC seconds;
its label is the ISO week of its last day in the server's time zone (``2026-W48``): the same label for the same week
in every process, so "post once per guild per week" can be keyed on it.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: Monday is 0, as in :meth:`datetime.date.weekday`
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DEFAULT_TIMEZONE = "UTC"


class UnknownTimeZone(ValueError):
    """Not an IANA time zone name (``Europe/Berlin``)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown time zone {name[:64]!r}")
        self.name = name


def time_zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (``UnknownTimeZone`` for anything else, including paths)."""
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        raise UnknownTimeZone(name)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise UnknownTimeZone(name) from None


@dataclass(frozen=True, slots=True)
class WeeklySlot:
    """When a server's week ends: a weekday (0 = Monday), an hour (0-23), in a time zone."""

    weekday: int = 0
    hour: int = 0
    timezone: str = DEFAULT_TIMEZONE

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6 or not 0 <= self.hour <= 23:
            raise ValueError(f"weekday 0-6 and hour 0-23, not {self.weekday}, {self.hour}")
        time_zone(self.timezone)


@dataclass(frozen=True, slots=True)
class Week:
    """One week of one server: ``start <= t < end`` (UTC seconds), labelled by the ISO week of its last day."""

    guild_id: int
    start: float
    end: float
    label: str


def last_week(guild_id: int, slot: WeeklySlot, now: float) -> Week:
    """The latest week of the server that has ended at ``now``: it ends at the last occurrence of the slot at or
    before ``now`` and starts at the occurrence before (seven days earlier in local time, so a week with a daylight
    saving change is 167 or 169 hours long)."""
    zone = time_zone(slot.timezone)
    local = datetime.datetime.fromtimestamp(now, tz=zone)
    days_back = (local.weekday() - slot.weekday) % 7
    end_date = local.date() - datetime.timedelta(days=days_back)
    end = _at(end_date, slot.hour, zone)
    if end.timestamp() > now:  # today is the weekday but the hour has not come yet
        end_date -= datetime.timedelta(days=7)
        end = _at(end_date, slot.hour, zone)
    start = _at(end_date - datetime.timedelta(days=7), slot.hour, zone)
    last_day = (end - datetime.timedelta(seconds=1)).date()
    year, number, _ = last_day.isocalendar()
    return Week(guild_id, start.timestamp(), end.timestamp(), f"{year}-W{number:02d}")


def next_end(slot: WeeklySlot, now: float) -> float:
    """When the week running at ``now`` ends (the next occurrence of the slot after ``now``)."""
    zone = time_zone(slot.timezone)
    ended = last_week(0, slot, now)
    end_date = datetime.datetime.fromtimestamp(ended.end, tz=zone).date() + datetime.timedelta(days=7)
    return _at(end_date, slot.hour, zone).timestamp()


def _at(day: datetime.date, hour: int, zone: ZoneInfo) -> datetime.datetime:
    # a local time skipped by a daylight saving change resolves forward (fold=0), as zoneinfo does
    return datetime.datetime(day.year, day.month, day.day, hour, tzinfo=zone)
