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

from opsplatform.calendars import (
    ServiceClock,
    WorkingCalendar,
    elapsed_calendar_days,
    elapsed_seconds,
)
from opsplatform.periods import london_date


@dataclass(frozen=True)
class Measure:
    """What a KPI came to: value = numerator / denominator (x 100 for percentages)."""

    numerator: Decimal
    denominator: Decimal
    value: Decimal | None
    events: int


def elapsed(
    started: datetime,
    completed: datetime,
    calendar: str,
    working: WorkingCalendar,
    clock: ServiceClock | None = None,
    pause: tuple[datetime, datetime] | None = None,
) -> Decimal:
    """Elapsed time in the KPI's calendar (working days, calendar days, seconds, or
    seconds of the service's opening hours on `clock`), less the time of `pause` (paused,
    resumed) measured on the same calendar; never negative."""
    time = on_calendar(started, completed, calendar, working, clock)
    if pause is not None:
        time -= on_calendar(*pause, calendar, working, clock)
    return max(time, Decimal(0))


def on_calendar(
    start: datetime,
    end: datetime,
    calendar: str,
    working: WorkingCalendar,
    clock: ServiceClock | None = None,
) -> Decimal:
    """Time from `start` to `end` in a KPI calendar: working days, calendar days (London
    dates), seconds, or seconds the service is open (service_hours, on `clock`)."""
    if calendar == "seconds":
        return Decimal(str(elapsed_seconds(start, end)))
    if calendar == "service_hours":
        if clock is None:
            raise ValueError("a service_hours calendar needs the service's opening hours")
        return Decimal(str(clock.seconds_between(start, end)))
    first, last = london_date(start), london_date(end)
    if calendar == "calendar_days":
        return Decimal(elapsed_calendar_days(first, last))
    return Decimal(working.working_days_between(first, last))


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
