"""KPI measures and status rules as pure functions on plain values.

Ratios over a quarter are ratios of sums: the numerator and denominator are summed
first and divided once, never averaged month by month. Cumulative figures (`as_at`) are
read at the latest month, never summed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from opsplatform.calendars import WorkingCalendar, elapsed_calendar_days, elapsed_seconds
from opsplatform.periods import london_date


@dataclass(frozen=True)
class Measure:
    """What a KPI came to: value = numerator / denominator (x 100 for percentages)."""

    numerator: Decimal
    denominator: Decimal
    value: Decimal | None
    events: int


def elapsed(
    started: datetime, completed: datetime, calendar: str, working: WorkingCalendar
) -> Decimal:
    """Elapsed time in the KPI's calendar: working days, calendar days (London dates) or seconds."""
    if calendar == "seconds":
        return Decimal(str(elapsed_seconds(started, completed)))
    start, end = london_date(started), london_date(completed)
    if calendar == "calendar_days":
        return Decimal(elapsed_calendar_days(start, end))
    return Decimal(working.working_days_between(start, end))


def ratio(numerator: Decimal, denominator: Decimal, percent: bool, events: int) -> Measure:
    if denominator == 0:
        return Measure(numerator, denominator, None, events)
    value = numerator / denominator * (100 if percent else 1)
    return Measure(numerator, denominator, value, events)


def within(elapsed_times: Iterable[Decimal], limit: Decimal) -> Measure:
    """Percent of events whose elapsed time is at most `limit`."""
    times = list(elapsed_times)
    hits = sum(1 for t in times if t <= limit)
    return ratio(Decimal(hits), Decimal(len(times)), True, len(times))


def average_elapsed(elapsed_times: Iterable[Decimal]) -> Measure:
    """Mean elapsed time of the events."""
    times = list(elapsed_times)
    return ratio(sum(times, Decimal(0)), Decimal(len(times)), False, len(times))


def submitted(figures: Iterable[tuple[Decimal, Decimal]], percent: bool) -> Measure:
    """Sum of numerators over sum of denominators of submitted monthly figures."""
    rows = list(figures)
    numerator = sum((n for n, _ in rows), Decimal(0))
    denominator = sum((d for _, d in rows), Decimal(0))
    return ratio(numerator, denominator, percent, len(rows))


def as_at(figures: Iterable[tuple[str, Decimal, Decimal]], percent: bool) -> Measure:
    """Cumulative figures to date, `(month, numerator, denominator)` a month: the latest
    month's, never a sum over months (7.1m of 10m collected by October, then 8.0m of 10m
    by November, is 80% in November, not 75.5%)."""
    rows = list(figures)
    if not rows:
        return ratio(Decimal(0), Decimal(0), percent, 0)
    _, numerator, denominator = max(rows, key=lambda row: row[0])
    return ratio(numerator, denominator, percent, 1)


def status(value: Decimal | None, target: Decimal, amber: Decimal, direction: str) -> str:
    """Red, amber or green against target and amber thresholds; no data is never red."""
    if value is None:
        return "no_data"
    if direction == "lower":
        value, target, amber = -value, -target, -amber
    if value >= target:
        return "green"
    if value >= amber:
        return "amber"
    return "red"
