"""Working-day calendars for the four UK nations, and elapsed time as KPIs count it.

Working days are Monday to Friday less the bank holidays of the nation, from the
`holidays` package, with local additions and removals for one-off changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from functools import lru_cache

import holidays
from sqlalchemy import select
from sqlalchemy.orm import Session

from opsplatform.models import CalendarOverride

NATIONS = {"england": "ENG", "wales": "WLS", "scotland": "SCT", "northern_ireland": "NIR"}


@lru_cache(maxsize=256)
def _bank_holidays(nation: str, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("GB", subdiv=NATIONS[nation], years=year))


class WorkingCalendar:
    """Working days for one nation, with optional local added and removed holidays."""

    def __init__(
        self, nation: str = "england", added: Iterable[date] = (), removed: Iterable[date] = ()
    ) -> None:
        if nation not in NATIONS:
            raise ValueError(f"unknown nation '{nation}': use one of {', '.join(NATIONS)}")
        self.nation = nation
        self.added = frozenset(added)
        self.removed = frozenset(removed)

    def is_holiday(self, day: date) -> bool:
        if day in self.removed:
            return False
        return day in self.added or day in _bank_holidays(self.nation, day.year)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and not self.is_holiday(day)

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after `start` up to and including `end` (same day = 0)."""
        if end <= start:
            return 0
        count = 0
        day = start + timedelta(days=1)
        while day <= end:
            count += self.is_working_day(day)
            day += timedelta(days=1)
        return count

    def working_days_on(self, start: date, days: int) -> date:
        """The `days`-th working day after `start` (`start` itself when `days` is 0)."""
        day = start
        while days > 0:
            day += timedelta(days=1)
            days -= self.is_working_day(day)
        return day

    def nth_working_day(self, year: int, month: int, n: int) -> date:
        """The n-th working day of a calendar month (n >= 1)."""
        day = date(year, month, 1)
        seen = 0
        while True:
            if self.is_working_day(day):
                seen += 1
                if seen == n:
                    return day
            day += timedelta(days=1)
            if day.month != month:
                raise ValueError(f"{year}-{month:02d} has fewer than {n} working days")


def elapsed_calendar_days(start: date, end: date) -> int:
    """Whole calendar days from `start` to `end` (same day = 0)."""
    return max((end - start).days, 0)


def elapsed_seconds(start: datetime, end: datetime) -> float:
    """Seconds from `start` to `end`, never negative."""
    return max((end - start).total_seconds(), 0.0)


def load_calendars(session: Session) -> dict[str, WorkingCalendar]:
    """Each nation's working calendar with the centre's local holiday changes applied."""
    added: dict[str, set[date]] = {nation: set() for nation in NATIONS}
    removed: dict[str, set[date]] = {nation: set() for nation in NATIONS}
    for override in session.scalars(select(CalendarOverride)):
        (added if override.action == "add" else removed)[override.nation].add(override.day)
    return {n: WorkingCalendar(n, added[n], removed[n]) for n in NATIONS}
