"""Working-day calendars for the four UK nations, and elapsed time as KPIs count it.

Working days are Monday to Friday less the bank holidays of the nation, from the
`holidays` package, with local additions and removals for one-off changes. A service's
clock (`ServiceClock`) counts seconds only within its opening hours, in Europe/London
local time, on days that are not holidays of the nation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import holidays
from sqlalchemy import select
from sqlalchemy.orm import Session

from opsplatform.models import CalendarOverride, ServiceHours
from opsplatform.periods import LONDON, london_date

NATIONS = {"england": "ENG", "wales": "WLS", "scotland": "SCT", "northern_ireland": "NIR"}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # as date.weekday() numbers them

# A service's opening hours: by weekday (0 Monday), the minutes after local midnight at
# which it opens and closes (1440: midnight ending the day); a weekday absent is closed.
OpeningHours = Mapping[int, tuple[int, int]]


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


def minutes(text: str) -> int:
    """Minutes after midnight of a time written HH:MM (00:00 to 24:00)."""
    hours, _, mins = text.partition(":")
    return int(hours) * 60 + int(mins)


class ServiceClock:
    """A service's opening hours on one nation's calendar: seconds between two instants
    counted only while the service is open, in Europe/London local time (so an 08:00 to
    18:00 day is ten hours on the days the clocks change too), and never on the nation's
    holidays (`WorkingCalendar.is_holiday`, the centre's closures and re-openings
    included). It walks the days an interval spans, each day's open interval worked out
    once."""

    def __init__(self, hours: OpeningHours, calendar: WorkingCalendar) -> None:
        self.hours = dict(hours)
        self.calendar = calendar
        self._open: dict[date, tuple[datetime, datetime] | None] = {}

    def open_on(self, day: date) -> tuple[datetime, datetime] | None:
        """The UTC instants the service opens and closes on London date `day`; None if
        it is closed all day."""
        if day in self._open:
            return self._open[day]
        found = None
        opening = self.hours.get(day.weekday())
        if opening is not None and not self.calendar.is_holiday(day):
            midnight = datetime(day.year, day.month, day.day, tzinfo=LONDON)
            # added to the local midnight as wall-clock time, then made an instant
            found = (
                (midnight + timedelta(minutes=opening[0])).astimezone(UTC),
                (midnight + timedelta(minutes=opening[1])).astimezone(UTC),
            )
        self._open[day] = found
        return found

    def seconds_between(self, start: datetime, end: datetime) -> float:
        """Seconds from `start` to `end` (aware datetimes) while the service is open,
        never negative."""
        if end <= start:
            return 0.0
        total = 0.0
        day, last = london_date(start), london_date(end)
        while day <= last:
            found = self.open_on(day)
            if found is not None:
                opens, closes = found
                total += max((min(end, closes) - max(start, opens)).total_seconds(), 0.0)
            day += timedelta(days=1)
        return total


def load_opening_hours(session: Session, service_id: int | None) -> dict[int, tuple[int, int]]:
    """A service's opening hours (ServiceHours rows) by weekday number."""
    rows = session.scalars(select(ServiceHours).where(ServiceHours.service_id == service_id))
    return {WEEKDAYS.index(h.weekday): (minutes(h.open), minutes(h.close)) for h in rows}


def load_calendars(session: Session) -> dict[str, WorkingCalendar]:
    """Each nation's working calendar with the centre's local holiday changes applied."""
    added: dict[str, set[date]] = {nation: set() for nation in NATIONS}
    removed: dict[str, set[date]] = {nation: set() for nation in NATIONS}
    for override in session.scalars(select(CalendarOverride)):
        (added if override.action == "add" else removed)[override.nation].add(override.day)
    return {n: WorkingCalendar(n, added[n], removed[n]) for n in NATIONS}
