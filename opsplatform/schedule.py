"""Which scheduled runs are due: pure date arithmetic, no clock and no database.

Monthly: on the `close_working_day`-th working day of a month, close the month before.
Quarterly: on that same day of the month after a quarter ends, assess the quarter and
draft its publication. Every run due since `since` is listed, so that runs missed while
the scheduler was stopped are caught up. Daily, on working days: remind finance of
statement queries waiting too long (today's only: a missed day's reminder is stale).
"""

from __future__ import annotations

from datetime import date

from opsplatform.calendars import WorkingCalendar
from opsplatform.periods import Month, iter_months

MONTHLY_CLOSE = "monthly_close"
QUARTERLY_ASSESS = "quarterly_assess"
QUERY_REMINDER = "query_reminder"


def due_runs(
    today: date, since: Month, close_day: int, calendar: WorkingCalendar
) -> list[tuple[str, str]]:
    """(job, period) pairs due on or before `today`, for periods from `since` on, oldest first."""
    runs = []
    for month in iter_months(since, Month.of(today).previous()):
        run_month = month.next()
        if calendar.nth_working_day(run_month.year, run_month.month, close_day) > today:
            continue
        runs.append((MONTHLY_CLOSE, str(month)))
        if month.month in (6, 9, 12, 3):
            runs.append((QUARTERLY_ASSESS, str(month.quarter)))
    return runs


def reminder_due(today: date, calendar: WorkingCalendar) -> list[tuple[str, str]]:
    """Today's query reminder, if today is a working day."""
    return [(QUERY_REMINDER, today.isoformat())] if calendar.is_working_day(today) else []
