"""Which scheduled runs are due (CONTRACT.md section 7): pure date arithmetic."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from opsplatform.calendars import WorkingCalendar
from opsplatform.periods import Month
from opsplatform.schedule import MONTHLY_CLOSE, QUARTERLY_ASSESS, due_runs

ENGLAND = WorkingCalendar("england")


def due(today: date, since: str, close_day: int = 3, calendar: WorkingCalendar = ENGLAND):
    return due_runs(today, Month.parse(since), close_day, calendar)


def close(month: str) -> tuple[str, str]:
    return (MONTHLY_CLOSE, month)


def assess(quarter: str) -> tuple[str, str]:
    return (QUARTERLY_ASSESS, quarter)


def test_close_is_due_on_the_third_working_day_and_not_before():
    # June 2026: Mon 1, Tue 2, Wed 3 June
    assert due(date(2026, 6, 1), "2026-05") == []
    assert due(date(2026, 6, 2), "2026-05") == []
    assert due(date(2026, 6, 3), "2026-05") == [close("2026-05")]
    # and stays due (until it has run: the caller skips what is done)
    assert due(date(2026, 6, 30), "2026-05") == [close("2026-05")]


def test_a_bank_holiday_pushes_the_close_back():
    # May 2026: Fri 1, Mon 4 (Early May bank holiday), Tue 5, Wed 6
    assert due(date(2026, 5, 4), "2026-04") == []
    assert due(date(2026, 5, 5), "2026-04") == []
    assert due(date(2026, 5, 6), "2026-04") == [close("2026-04")]


def test_easter_pushes_the_year_end_close_and_assessment_back():
    # April 2026: Wed 1, Thu 2, Good Friday 3, Easter Monday 6, Tue 7
    assert due(date(2026, 4, 6), "2026-03") == []
    assert due(date(2026, 4, 7), "2026-03") == [close("2026-03"), assess("2025-26-Q4")]


def test_weekends_do_not_count():
    # October 2026: Thu 1, Fri 2, (Sat 3, Sun 4), Mon 5
    assert due(date(2026, 10, 4), "2026-09") == []
    assert due(date(2026, 10, 5), "2026-09") == [close("2026-09"), assess("2026-27-Q2")]


@pytest.mark.parametrize(
    ("month", "run_day", "quarter"),
    [
        ("2026-06", date(2026, 7, 3), "2026-27-Q1"),
        ("2026-09", date(2026, 10, 5), "2026-27-Q2"),
        ("2026-12", date(2027, 1, 6), "2026-27-Q3"),  # 1 Jan 2027 is a bank holiday
        ("2027-03", date(2027, 4, 5), "2026-27-Q4"),  # Easter 2027: 26 and 29 March
    ],
)
def test_quarterly_assessment_is_due_with_the_close_of_the_quarters_last_month(
    month, run_day, quarter
):
    assert due(run_day - timedelta(days=1), month) == []
    assert due(run_day, month) == [close(month), assess(quarter)]


@pytest.mark.parametrize("month", ["2026-04", "2026-05", "2026-07", "2026-08", "2026-10"])
def test_no_assessment_after_other_months(month):
    runs = due(date(2027, 12, 31), month)
    assert runs[0] == close(month)
    assert runs[1][0] == MONTHLY_CLOSE


def test_catch_up_lists_every_missed_run_since_oldest_first():
    expected = [
        close("2026-04"),
        close("2026-05"),
        close("2026-06"),
        assess("2026-27-Q1"),
        close("2026-07"),
        close("2026-08"),
        close("2026-09"),
        assess("2026-27-Q2"),
        close("2026-10"),
        close("2026-11"),
        close("2026-12"),
        assess("2026-27-Q3"),
    ]
    assert due(date(2027, 1, 6), "2026-04") == expected
    # the day before, December's close (and so Q3) is not yet due
    assert due(date(2027, 1, 5), "2026-04") == expected[:-2]
    # no (job, period) is listed twice
    assert len(set(expected)) == len(expected)


def test_catch_up_across_a_financial_year_end():
    runs = due(date(2027, 5, 31), "2026-12")
    assert runs == [
        close("2026-12"),
        assess("2026-27-Q3"),
        close("2027-01"),
        close("2027-02"),
        close("2027-03"),
        assess("2026-27-Q4"),
        close("2027-04"),
    ]


def test_nothing_is_due_for_the_current_month_or_before_since():
    assert due(date(2026, 6, 30), "2026-06") == []
    assert due(date(2026, 6, 30), "2026-09") == []
    assert due(date(2026, 4, 30), "2026-04") == []


@pytest.mark.parametrize(
    ("close_day", "first_due"),
    [(1, date(2026, 6, 1)), (2, date(2026, 6, 2)), (5, date(2026, 6, 5)), (6, date(2026, 6, 8))],
)
def test_the_close_working_day_setting_is_honoured(close_day, first_due):
    assert due(first_due - timedelta(days=1), "2026-05", close_day) == []
    assert due(first_due, "2026-05", close_day) == [close("2026-05")]


def test_local_holiday_changes_move_the_close():
    extra = WorkingCalendar("england", added=[date(2026, 6, 2)])
    assert due(date(2026, 6, 3), "2026-05", calendar=extra) == []
    assert due(date(2026, 6, 4), "2026-05", calendar=extra) == [close("2026-05")]
    moved = WorkingCalendar("england", removed=[date(2026, 5, 4)])
    assert due(date(2026, 5, 5), "2026-04", calendar=moved) == [close("2026-04")]


def test_the_nation_calendar_matters():
    # 2 January is a bank holiday in Scotland only; in 2027 it is a Saturday, so Scotland
    # takes Mon 4 Jan instead: its working days are Tue 5, Wed 6, Thu 7 (England: 4, 5, 6).
    scotland = WorkingCalendar("scotland")
    assert due(date(2027, 1, 6), "2026-12", calendar=ENGLAND) != []
    assert due(date(2027, 1, 6), "2026-12", calendar=scotland) == []
    assert due(date(2027, 1, 7), "2026-12", calendar=scotland) == [
        close("2026-12"),
        assess("2026-27-Q3"),
    ]


def test_due_runs_is_pure():
    args = (date(2026, 9, 3), Month.parse("2026-04"), 3, ENGLAND)
    assert due_runs(*args) == due_runs(*args)
