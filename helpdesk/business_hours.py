"""Working time between two instants: seconds inside opening hours, in the configured time zone.

Issue 7 asks for time to take and time to resolve "optionally counted in business hours". A
working day is one of the working weekdays, not a public holiday, open from `opens` to `closes`
local time (one stretch: the desk answers over lunch, so there is no break to model). A ticket
opened on Friday at 17:00 and taken on Monday at 09:00 took 2 h.

Pure: no Flask, no database. `WorkingClock` keeps, per local day, the UTC instants of its opening
and closing (taken from the time zone, so a DST change inside opening hours shortens or lengthens
that day) and the working seconds before it: a span is two lookups and a subtraction, whatever its
length, cheap enough for every ticket of a stats page. The table grows by whole years on demand;
whole weeks are never walked minute by minute.
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:  # imported where the arrays are used: settings import this module, and the mail
    import numpy as np  # poller and every CLI command would pay numpy's ~0.1 s import for nothing

ISO_WEEKDAYS = range(1, 8)  # 1 Monday ... 7 Sunday, as date.isoweekday()


@dataclass(frozen=True)
class BusinessHours:
    """When the desk works: weekdays (ISO numbers), local opening and closing time, holidays."""

    tz: str
    weekdays: frozenset[int]
    opens: time
    closes: time
    holidays: frozenset[date]

    @classmethod
    def parse(cls, tz: str, weekdays, opens: str, closes: str, holidays) -> "BusinessHours":
        """Build from plain setting values ("08:00", ["2026-05-01"], [1, 2, 3, 4, 5]); ValueError names the bad one."""
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {tz!r}") from exc
        days = frozenset(weekdays)
        if not days or not days <= set(ISO_WEEKDAYS) or not all(type(d) is int for d in days):
            raise ValueError(f"working days must be ISO weekday numbers 1 (Monday) to 7, got {list(weekdays)!r}")
        try:
            start, end = time.fromisoformat(opens), time.fromisoformat(closes)
            off = frozenset(date.fromisoformat(d) for d in holidays)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"opening hours must be HH:MM and holidays YYYY-MM-DD: {exc}") from exc
        if start >= end:
            raise ValueError(f"opening time {opens} must come before closing time {closes}")
        return cls(tz, days, start, end, off)


def hours_from_settings(settings: dict) -> BusinessHours | None:
    """The business hours the settings describe, or None when `stats_business_hours` is off."""
    if not settings["stats_business_hours"]:
        return None
    return BusinessHours.parse(settings["timezone"], settings["stats_working_days"], settings["stats_day_opens"],
                               settings["stats_day_closes"], settings["stats_holidays"])


class WorkingClock:
    """Working seconds between UTC epoch seconds for one BusinessHours, over a table of local days."""

    def __init__(self, hours: BusinessHours):
        self.hours = hours
        self._zone = ZoneInfo(hours.tz)
        self._first: date | None = None  # first local day of the table
        self._midnights: list[int] = []  # UTC epoch of each day's local midnight, one more for the end
        self._opens: list[int] = []  # UTC epoch of each day's opening (its midnight when it is not worked)
        self._closes: list[int] = []
        self._before: list[int] = []  # working seconds from the table's first day to each day's midnight

    def seconds(self, start: int, end: int) -> int:
        """Working seconds in [start, end); 0 when end is not after start (a wrong clock subtracts nothing)."""
        if end <= start:
            return 0
        for instant in (start, end):  # both first: growing the table moves its origin
            if not self._midnights or not self._midnights[0] <= instant < self._midnights[-1]:
                self._cover(instant)
        return self._elapsed(end) - self._elapsed(start)

    def seconds_of(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """seconds() of each (start, end) pair of two integer arrays, as array operations."""
        import numpy as np

        result = np.zeros(len(starts), dtype=np.int64)
        counted = ends > starts
        if not counted.any():
            return result
        starts, ends = starts[counted], ends[counted]
        for instant in (int(starts.min()), int(ends.max())):
            if not self._midnights or not self._midnights[0] <= instant < self._midnights[-1]:
                self._cover(instant)
        table = [np.array(column, dtype=np.int64) for column in (self._midnights, self._opens, self._closes,
                                                                  self._before)]
        result[counted] = self._elapsed_of(ends, *table) - self._elapsed_of(starts, *table)
        return result

    @staticmethod
    def _elapsed_of(instants: np.ndarray, midnights, opens, closes, before) -> np.ndarray:
        """_elapsed() of each instant of an array (all inside the table)."""
        import numpy as np

        day = np.searchsorted(midnights, instants, side="right") - 1
        return before[day] + np.clip(instants, opens[day], closes[day]) - opens[day]

    def _elapsed(self, instant: int) -> int:
        """Working seconds from the table's first midnight to `instant` (inside the table)."""
        day = bisect_right(self._midnights, instant) - 1
        opens = self._opens[day]
        return self._before[day] + min(max(instant, opens), self._closes[day]) - opens

    def _cover(self, instant: int) -> None:
        """Rebuild the table so that it spans whole local years around `instant` and what it held."""
        year = datetime.fromtimestamp(instant, self._zone).year
        first = date(year, 1, 1) if self._first is None else min(self._first, date(year, 1, 1))
        last = date(year, 12, 31) if self._first is None else max(self._last(), date(year, 12, 31))
        self._first, self._midnights, self._opens, self._closes, self._before = first, [], [], [], []
        total, day = 0, first
        while day <= last:
            midnight = self._utc(day, time(0))
            worked = day.isoweekday() in self.hours.weekdays and day not in self.hours.holidays
            opens, closes = (self._utc(day, self.hours.opens), self._utc(day, self.hours.closes)) if worked \
                else (midnight, midnight)
            self._midnights.append(midnight)
            self._opens.append(opens)
            self._closes.append(closes)
            self._before.append(total)
            total += closes - opens
            day += timedelta(days=1)
        self._midnights.append(self._utc(day, time(0)))

    def _last(self) -> date:
        return self._first + timedelta(days=len(self._opens) - 1)

    def _utc(self, day: date, at: time) -> int:
        # A local time skipped by a DST change (02:30 in Paris on the last Sunday of March) is read
        # with the offset before it, as zoneinfo does with fold=0.
        return int(datetime.combine(day, at, tzinfo=self._zone).timestamp())


def working_seconds(hours: BusinessHours, start: datetime, end: datetime) -> int:
    """Working seconds between two aware instants (0 when end is not after start)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("working_seconds needs timezone-aware instants")
    return WorkingClock(hours).seconds(int(start.astimezone(timezone.utc).timestamp()),
                                       int(end.astimezone(timezone.utc).timestamp()))
