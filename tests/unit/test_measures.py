"""KPI measures and statuses as pure functions (CONTRACT.md section 6)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opsplatform.calendars import WorkingCalendar
from sla import measures

D = Decimal
BST = timezone(timedelta(hours=1))
ENGLAND = WorkingCalendar("england")


# -- status -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("100", "green"),
        ("95", "green"),  # exactly on target
        ("94.99", "amber"),  # just below target
        ("90", "amber"),  # exactly on the amber threshold
        ("89.99", "red"),  # just below amber
        ("0", "red"),
    ],
)
def test_status_when_higher_is_better(value, expected):
    assert measures.status(D(value), D(95), D(90), "higher") == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", "green"),
        ("2", "green"),  # exactly on target
        ("2.01", "amber"),  # just worse than target
        ("3", "amber"),  # exactly on the amber threshold
        ("3.01", "red"),  # just worse than amber
        ("40", "red"),
    ],
)
def test_status_when_lower_is_better_is_mirrored(value, expected):
    assert measures.status(D(value), D(2), D(3), "lower") == expected


@pytest.mark.parametrize("direction", ["higher", "lower"])
def test_no_value_is_no_data_never_red(direction):
    assert measures.status(None, D(95), D(90), direction) == "no_data"


def test_amber_equal_to_target_has_no_amber_band():
    assert measures.status(D(95), D(95), D(95), "higher") == "green"
    assert measures.status(D("94.9"), D(95), D(95), "higher") == "red"


# -- within, average, submitted ------------------------------------------------------


def test_within_counts_events_exactly_at_the_limit_as_within():
    result = measures.within([D(4), D(5), D(6)], D(5))
    assert (result.numerator, result.denominator, result.events) == (D(2), D(3), 3)
    assert result.value == D(2) / D(3) * 100
    assert round(result.value, 2) == D("66.67")


def test_within_all_at_the_limit_is_one_hundred_percent():
    assert measures.within([D(5), D(5)], D(5)).value == D(100)


def test_within_with_no_events_has_no_value():
    result = measures.within([], D(5))
    assert result.value is None
    assert result.events == 0
    assert measures.status(result.value, D(95), D(90), "higher") == "no_data"


def test_average_elapsed_is_the_mean():
    result = measures.average_elapsed([D(1), D(2), D(4)])
    assert (result.numerator, result.denominator, result.events) == (D(7), D(3), 3)
    assert result.value == D(7) / D(3)  # not x 100: an average is not a percentage


def test_average_elapsed_with_no_events_has_no_value():
    assert measures.average_elapsed([]).value is None


def test_submitted_is_a_ratio_of_sums_not_a_mean_of_ratios():
    result = measures.submitted([(D(1), D(1)), (D(0), D(99))], percent=True)
    assert (result.numerator, result.denominator) == (D(1), D(100))
    assert result.value == D(1)  # 1 %, not the 50 % a mean of monthly ratios gives


def test_submitted_is_multiplied_by_100_only_for_percentages():
    figures = [(D(30), D(10)), (D(12), D(4))]
    assert measures.submitted(figures, percent=False).value == D("3")
    assert measures.submitted(figures, percent=True).value == D("300")


def test_submitted_with_no_figures_or_zero_denominators_has_no_value():
    assert measures.submitted([], percent=True).value is None
    assert measures.submitted([(D(0), D(0))], percent=True).value is None


def test_as_at_reads_the_latest_months_figures_to_date_never_a_sum():
    # council tax collected to date: 7.1m of 10m by October, 8.0m of 10m by November
    figures = [("2026-11", D("8000000"), D("10000000")), ("2026-10", D("7100000"), D("10000000"))]
    result = measures.as_at(figures, percent=True)
    assert result.value == D(80)  # not 75.5, the sum of the two months
    assert (result.numerator, result.denominator, result.events) == (D(8000000), D(10000000), 1)


def test_as_at_with_no_figures_has_no_value():
    assert measures.as_at([], percent=True).value is None
    assert measures.as_at([("2026-12", D(0), D(0))], percent=True).value is None


@given(
    st.lists(
        st.tuples(
            st.integers(1, 12).map(lambda m: f"2026-{m:02d}"),
            st.integers(0, 10**9),
            st.integers(1, 10**9),
        ),
        min_size=1,
        unique_by=lambda row: row[0],
    )
)
def test_as_at_is_the_latest_months_ratio_in_any_order(rows):
    figures = [(month, D(n), D(d)) for month, n, d in rows]
    _, n, d = max(figures)
    for ordered in (figures, figures[::-1]):
        assert measures.as_at(ordered, percent=False).value == n / d


# -- elapsed time --------------------------------------------------------------------


def at(*args, tz=UTC) -> datetime:
    return datetime(*args, tzinfo=tz)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (date(2026, 6, 3), date(2026, 6, 3), 0),  # same day
        (date(2026, 6, 5), date(2026, 6, 8), 1),  # Friday to Monday
        (date(2026, 6, 5), date(2026, 6, 6), 0),  # Friday to Saturday
        (date(2026, 6, 1), date(2026, 6, 5), 4),  # Monday to Friday
        (date(2026, 6, 1), date(2026, 6, 8), 5),  # a week
        (date(2026, 5, 1), date(2026, 5, 4), 0),  # Friday to the early May bank holiday
        (date(2026, 5, 1), date(2026, 5, 5), 1),  # ... and the day after it
        (date(2026, 5, 22), date(2026, 6, 1), 5),  # over the spring bank holiday
        (date(2026, 12, 24), date(2026, 12, 29), 1),  # Christmas and Boxing Day (substitute)
    ],
)
def test_elapsed_working_days(start, end, expected):
    started = at(start.year, start.month, start.day, 9, 0, tz=BST)
    completed = at(end.year, end.month, end.day, 16, 0, tz=BST)
    assert measures.elapsed(started, completed, "working_days", ENGLAND) == D(expected)


def test_elapsed_working_days_skip_the_nations_own_bank_holidays():
    # St Andrew's Day, Monday 30 November 2026, is a bank holiday in Scotland only.
    started, completed = at(2026, 11, 27, 10), at(2026, 12, 1, 10)
    assert measures.elapsed(started, completed, "working_days", ENGLAND) == 2
    assert measures.elapsed(started, completed, "working_days", WorkingCalendar("wales")) == 2
    assert measures.elapsed(started, completed, "working_days", WorkingCalendar("scotland")) == 1


def test_elapsed_working_days_use_local_holiday_changes():
    added = WorkingCalendar("england", added=[date(2026, 6, 8)])
    removed = WorkingCalendar("england", removed=[date(2026, 5, 4)])
    assert measures.elapsed(at(2026, 6, 5, 9), at(2026, 6, 8, 9), "working_days", added) == 0
    assert measures.elapsed(at(2026, 5, 1, 9), at(2026, 5, 4, 9), "working_days", removed) == 1


def test_elapsed_working_days_count_london_dates():
    # Completed at 00:30 BST on Monday 8 June: still Sunday 7 June in UTC.
    started = at(2026, 6, 5, 16, 0)
    completed = at(2026, 6, 7, 23, 30)
    assert measures.elapsed(started, completed, "working_days", ENGLAND) == 1
    # Started at 00:30 BST on Friday 5 June (Thursday in UTC), done that Friday: same day.
    started = at(2026, 6, 4, 23, 30)
    assert measures.elapsed(started, at(2026, 6, 5, 15), "working_days", ENGLAND) == 0
    # Started at 23:30 BST on Thursday 4 June: one working day to Friday.
    started = at(2026, 6, 4, 22, 30)
    assert measures.elapsed(started, at(2026, 6, 5, 15), "working_days", ENGLAND) == 1


def test_elapsed_calendar_days_count_london_dates():
    assert measures.elapsed(at(2026, 5, 1, 9), at(2026, 5, 8, 16), "calendar_days", ENGLAND) == 7
    assert measures.elapsed(at(2026, 6, 5, 9), at(2026, 6, 8, 9), "calendar_days", ENGLAND) == 3
    # 00:30 BST on 2 June to 11:00 BST the same London day: 0, though UTC dates differ.
    same_day = measures.elapsed(
        at(2026, 6, 1, 23, 30), at(2026, 6, 2, 10), "calendar_days", ENGLAND
    )
    assert same_day == 0
    # 23:30 BST on 1 June to 00:30 BST on 2 June: one London day, though UTC dates agree.
    assert (
        measures.elapsed(at(2026, 6, 1, 22, 30), at(2026, 6, 1, 23, 30), "calendar_days", ENGLAND)
        == 1
    )


def test_elapsed_calendar_days_in_winter_are_utc_dates():
    assert (
        measures.elapsed(at(2026, 12, 1, 23, 30), at(2026, 12, 2, 0, 30), "calendar_days", ENGLAND)
        == 1
    )


def test_elapsed_seconds():
    assert measures.elapsed(at(2026, 6, 1, 9), at(2026, 6, 1, 9, 30), "seconds", ENGLAND) == 1800
    # Mixed offsets: 09:00 BST is 08:00 UTC.
    assert (
        measures.elapsed(at(2026, 6, 1, 9, tz=BST), at(2026, 6, 1, 8, 30), "seconds", ENGLAND)
        == 1800
    )
    # Over the clocks going forward (29 March 2026, 01:00 GMT): two real hours.
    started = at(2026, 3, 29, 0, 30)  # 00:30 GMT
    completed = at(2026, 3, 29, 3, 30, tz=BST)  # 03:30 BST
    assert measures.elapsed(started, completed, "seconds", ENGLAND) == 7200
