"""Months, quarters and UK financial years as value objects, and Europe/London assignment.

A financial year runs 1 April to 31 March and is written `2026-27`; its quarters are
`2026-27-Q1` (Apr-Jun) to `2026-27-Q4` (Jan-Mar); a month is `2026-05`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_YEAR = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-(\d{2})-Q([1-4])$")
# The years a person may name: wide enough for any real centre, narrow enough that every
# period named has a year before and after it to be compared with.
FIRST_YEAR, LAST_YEAR = 2000, 2099


def _out_of_range(kind: str, text: str, first: str, last: str) -> PeriodError:
    return PeriodError(f"{kind} {text.strip()} is out of range: use one from {first} to {last}")


class PeriodError(ValueError):
    """A period written in a form the contract does not allow."""


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month, ordered in time."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12 or not 1900 <= self.year <= 9998:
            raise PeriodError(f"no such month: {self.year}-{self.month:02d}")

    @classmethod
    def parse(cls, text: str) -> Month:
        match = _MONTH.match(text.strip())
        if not match:
            raise PeriodError(f"'{text}' is not a month: write YYYY-MM, e.g. 2026-05")
        if not FIRST_YEAR <= int(match[1]) <= LAST_YEAR:
            raise _out_of_range("month", text, f"{FIRST_YEAR}-01", f"{LAST_YEAR}-12")
        return cls(int(match[1]), int(match[2]))

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def label(self) -> str:
        """The month as people write it: "May 2026"."""
        return f"{self.first_day:%B %Y}"

    @property
    def last_day(self) -> date:
        return self.next().first_day - timedelta(days=1)

    def next(self) -> Month:
        return self + 1

    def previous(self) -> Month:
        return self + -1

    def __add__(self, months: int) -> Month:
        index = self.year * 12 + self.month - 1 + months
        return Month(index // 12, index % 12 + 1)

    def __sub__(self, other: Month) -> int:
        """Whole months from `other` to `self`."""
        return (self.year - other.year) * 12 + self.month - other.month

    @property
    def financial_year(self) -> FinancialYear:
        return FinancialYear(self.year if self.month >= 4 else self.year - 1)

    @property
    def quarter(self) -> Quarter:
        return Quarter(self.financial_year, (self.financial_year.months().index(self)) // 3 + 1)

    @property
    def compact(self) -> str:
        """`YYYYMM`, as used in statement numbers."""
        return f"{self.year:04d}{self.month:02d}"


@dataclass(frozen=True, order=True)
class FinancialYear:
    """A UK financial year, named by the calendar year in which it starts."""

    start_year: int

    @classmethod
    def parse(cls, text: str) -> FinancialYear:
        match = _YEAR.match(text.strip())
        if not match:
            raise PeriodError(f"'{text}' is not a financial year: write YYYY-YY, e.g. 2026-27")
        start = int(match[1])
        if (start + 1) % 100 != int(match[2]):
            raise PeriodError(
                f"'{text}' is not a financial year: {start}-{(start + 1) % 100:02d} follows {start}"
            )
        if not FIRST_YEAR <= start < LAST_YEAR:
            first, last = cls(FIRST_YEAR), cls(LAST_YEAR - 1)
            raise _out_of_range("financial year", text, str(first), str(last))
        return cls(start)

    @classmethod
    def of(cls, day: date) -> FinancialYear:
        return Month.of(day).financial_year

    def __str__(self) -> str:
        return f"{self.start_year:04d}-{(self.start_year + 1) % 100:02d}"

    @property
    def first_month(self) -> Month:
        return Month(self.start_year, 4)

    @property
    def last_month(self) -> Month:
        return Month(self.start_year + 1, 3)

    @property
    def first_day(self) -> date:
        return self.first_month.first_day

    @property
    def last_day(self) -> date:
        return self.last_month.last_day

    def months(self) -> list[Month]:
        return [self.first_month + i for i in range(12)]

    def quarters(self) -> list[Quarter]:
        return [Quarter(self, n) for n in range(1, 5)]

    def previous(self) -> FinancialYear:
        return FinancialYear(self.start_year - 1)

    def __contains__(self, item: Month | date) -> bool:
        month = item if isinstance(item, Month) else Month.of(item)
        return month.financial_year == self


@dataclass(frozen=True, order=True)
class Quarter:
    """A quarter of a financial year: Q1 is April to June."""

    year: FinancialYear
    number: int

    def __post_init__(self) -> None:
        if not 1 <= self.number <= 4:
            raise PeriodError(f"no such quarter: Q{self.number}")

    @classmethod
    def parse(cls, text: str) -> Quarter:
        match = _QUARTER.match(text.strip())
        if not match:
            raise PeriodError(f"'{text}' is not a quarter: write YYYY-YY-Qn, e.g. 2026-27-Q1")
        if not FIRST_YEAR <= int(match[1]) < LAST_YEAR:
            first, last = FinancialYear(FIRST_YEAR), FinancialYear(LAST_YEAR - 1)
            raise _out_of_range("quarter", text, f"{first}-Q1", f"{last}-Q4")
        return cls(FinancialYear.parse(f"{match[1]}-{match[2]}"), int(match[3]))

    def __str__(self) -> str:
        return f"{self.year}-Q{self.number}"

    def months(self) -> list[Month]:
        return self.year.months()[(self.number - 1) * 3 : self.number * 3]

    @property
    def short_label(self) -> str:
        """The quarter as people write it: "Q2 2026-27"."""
        return f"Q{self.number} {self.year}"

    @property
    def label(self) -> str:
        """The quarter in words: "Q2 2026-27, July to September 2026"."""
        first, last = self.months()[0], self.months()[-1]
        return f"{self.short_label}, {first.first_day:%B} to {last.label}"

    @property
    def first_day(self) -> date:
        return self.months()[0].first_day

    @property
    def last_day(self) -> date:
        return self.months()[-1].last_day

    def previous(self) -> Quarter:
        if self.number == 1:
            return Quarter(self.year.previous(), 4)
        return Quarter(self.year, self.number - 1)

    def __contains__(self, item: Month | date) -> bool:
        month = item if isinstance(item, Month) else Month.of(item)
        return month in self.months()


def iter_months(first: Month, last: Month) -> Iterator[Month]:
    """Every month from `first` to `last`, both included."""
    month = first
    while month <= last:
        yield month
        month = month.next()


def to_london(moment: datetime) -> datetime:
    """A datetime in Europe/London local time; a naive one is taken to be London time already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=LONDON)
    return moment.astimezone(LONDON)


def to_utc(moment: datetime) -> datetime:
    """The same instant in UTC; a naive datetime is London local time."""
    return to_london(moment).astimezone(UTC)


def london_date(moment: datetime | date) -> date:
    """The Europe/London local date of a moment (a plain date is already local)."""
    if isinstance(moment, datetime):
        return to_london(moment).date()
    return moment


def days_after(moment: datetime | date, day: date) -> int:
    """Whole calendar days from the London date of `moment` to `day`, never negative: how
    long something raised at `moment` has waited on `day`."""
    return max((day - london_date(moment)).days, 0)


def months_after(day: date, months: int) -> date:
    """The same day `months` calendar months later, or the last day of that month when it
    is shorter (31 August + 6 months is 28 or 29 February)."""
    month = Month(day.year, day.month) + months
    return min(month.first_day + timedelta(days=day.day - 1), month.last_day)


@lru_cache(maxsize=4096)
def london_midnight_utc(day: date) -> datetime:
    """The UTC instant at which a London local date begins."""
    return datetime(day.year, day.month, day.day, tzinfo=LONDON).astimezone(UTC)
