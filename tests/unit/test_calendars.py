"""Working-day calendars per UK nation and elapsed working days (CONTRACT.md section 6)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from opsplatform.calendars import (
    NATIONS,
    WorkingCalendar,
    elapsed_calendar_days,
    elapsed_seconds,
)

ENGLAND = WorkingCalendar("england")
WALES = WorkingCalendar("wales")
SCOTLAND = WorkingCalendar("scotland")
NI = WorkingCalendar("northern_ireland")
ALL = {"england": ENGLAND, "wales": WALES, "scotland": SCOTLAND, "northern_ireland": NI}


def test_the_four_nations():
    assert set(NATIONS) == {"england", "wales", "scotland", "northern_ireland"}
    assert WorkingCalendar().nation == "england"


def test_unknown_nation_is_refused():
    with pytest.raises(ValueError, match="cornwall"):
        WorkingCalendar("cornwall")


def test_weekends_are_not_working_days():
    assert ENGLAND.is_working_day(date(2026, 5, 6))  # Wednesday
    assert not ENGLAND.is_working_day(date(2026, 5, 9))  # Saturday
    assert not ENGLAND.is_working_day(date(2026, 5, 10))  # Sunday


# -- elapsed working days -----------------------------------------------------------


def test_same_day_is_zero():
    assert ENGLAND.working_days_between(date(2026, 5, 6), date(2026, 5, 6)) == 0


def test_friday_to_monday_is_one():
    assert ENGLAND.working_days_between(date(2026, 5, 15), date(2026, 5, 18)) == 1


def test_friday_to_saturday_is_zero():
    assert ENGLAND.working_days_between(date(2026, 5, 15), date(2026, 5, 16)) == 0


def test_a_week_with_the_early_may_bank_holiday():
    # 1 May 2026 is a Friday; Monday 4 May is a bank holiday.
    assert ENGLAND.working_days_between(date(2026, 5, 1), date(2026, 5, 8)) == 4
    # A normal week: Friday 8 May to Friday 15 May.
    assert ENGLAND.working_days_between(date(2026, 5, 8), date(2026, 5, 15)) == 5


def test_completion_before_start_is_zero():
    assert ENGLAND.working_days_between(date(2026, 5, 8), date(2026, 5, 1)) == 0


def test_completion_on_a_holiday_does_not_count_it():
    # Thursday 2 April to Easter Monday 6 April: nothing but holidays and a weekend after start.
    assert ENGLAND.working_days_between(date(2026, 4, 2), date(2026, 4, 6)) == 0
    assert SCOTLAND.working_days_between(date(2026, 4, 2), date(2026, 4, 6)) == 1


# -- bank holidays per nation -------------------------------------------------------


@pytest.mark.parametrize("nation", list(ALL))
def test_good_friday_2026_everywhere(nation):
    assert not ALL[nation].is_working_day(date(2026, 4, 3))


def test_easter_monday_2026_not_in_scotland():
    for nation in ("england", "wales", "northern_ireland"):
        assert not ALL[nation].is_working_day(date(2026, 4, 6)), nation
    assert SCOTLAND.is_working_day(date(2026, 4, 6))


@pytest.mark.parametrize("nation", list(ALL))
def test_christmas_2026_with_the_boxing_day_substitute(nation):
    calendar = ALL[nation]
    assert not calendar.is_working_day(date(2026, 12, 25))  # Friday
    assert calendar.is_holiday(date(2026, 12, 26))  # Saturday
    assert not calendar.is_working_day(date(2026, 12, 28))  # Monday, substitute
    assert calendar.is_working_day(date(2026, 12, 29))
    # Thursday 24 December to Tuesday 29 December: one working day.
    assert calendar.working_days_between(date(2026, 12, 24), date(2026, 12, 29)) == 1


def test_new_year_2027():
    # 1 January 2027 is a Friday: a holiday everywhere. 2 January (Saturday) is Scotland's
    # second holiday, observed on Monday 4 January; elsewhere the 4th is a working day.
    for calendar in ALL.values():
        assert not calendar.is_working_day(date(2027, 1, 1))
    assert SCOTLAND.is_holiday(date(2027, 1, 2))
    assert not SCOTLAND.is_working_day(date(2027, 1, 4))
    for nation in ("england", "wales", "northern_ireland"):
        assert not ALL[nation].is_holiday(date(2027, 1, 2)), nation
        assert ALL[nation].is_working_day(date(2027, 1, 4)), nation


def test_second_of_january_2026_is_a_holiday_in_scotland_only():
    # Friday 2 January 2026.
    assert not SCOTLAND.is_working_day(date(2026, 1, 2))
    assert ENGLAND.is_working_day(date(2026, 1, 2))


def test_st_andrews_day_2026_scotland_only():
    assert not SCOTLAND.is_working_day(date(2026, 11, 30))  # Monday
    for nation in ("england", "wales", "northern_ireland"):
        assert ALL[nation].is_working_day(date(2026, 11, 30)), nation


def test_st_patricks_day_2027_northern_ireland_only():
    assert not NI.is_working_day(date(2027, 3, 17))  # Wednesday
    for nation in ("england", "wales", "scotland"):
        assert ALL[nation].is_working_day(date(2027, 3, 17)), nation


def test_summer_bank_holiday_differs_in_scotland():
    assert not ENGLAND.is_working_day(date(2026, 8, 31))
    assert SCOTLAND.is_working_day(date(2026, 8, 31))
    assert not SCOTLAND.is_working_day(date(2026, 8, 3))
    assert ENGLAND.is_working_day(date(2026, 8, 3))


# -- local changes ------------------------------------------------------------------


def test_an_added_local_holiday():
    calendar = WorkingCalendar("england", added=[date(2026, 6, 10)])  # a Wednesday
    assert not calendar.is_working_day(date(2026, 6, 10))
    assert calendar.working_days_between(date(2026, 6, 8), date(2026, 6, 12)) == 3
    assert ENGLAND.working_days_between(date(2026, 6, 8), date(2026, 6, 12)) == 4


def test_a_removed_holiday_becomes_a_working_day():
    calendar = WorkingCalendar("england", removed=[date(2026, 12, 28)])
    assert calendar.is_working_day(date(2026, 12, 28))
    assert calendar.working_days_between(date(2026, 12, 24), date(2026, 12, 29)) == 2
    assert not calendar.is_working_day(date(2026, 12, 25))  # other holidays untouched


def test_a_removed_weekend_day_is_still_not_a_working_day():
    calendar = WorkingCalendar("england", removed=[date(2026, 12, 26)])
    assert not calendar.is_working_day(date(2026, 12, 26))


def test_local_changes_apply_to_one_calendar_only():
    WorkingCalendar("england", added=[date(2026, 6, 10)])
    assert ENGLAND.is_working_day(date(2026, 6, 10))


# -- nth working day and adding working days ----------------------------------------


def test_nth_working_day():
    # June 2026 starts on a Monday.
    assert ENGLAND.nth_working_day(2026, 6, 1) == date(2026, 6, 1)
    assert ENGLAND.nth_working_day(2026, 6, 3) == date(2026, 6, 3)
    # May 2026: Friday 1st, then the bank holiday on Monday 4th.
    assert ENGLAND.nth_working_day(2026, 5, 3) == date(2026, 5, 6)
    # January 2027: 1st a holiday everywhere; Scotland also has Monday 4th.
    assert ENGLAND.nth_working_day(2027, 1, 1) == date(2027, 1, 4)
    assert SCOTLAND.nth_working_day(2027, 1, 1) == date(2027, 1, 5)
    assert SCOTLAND.nth_working_day(2027, 1, 3) == date(2027, 1, 7)


def test_nth_working_day_beyond_the_month_is_refused():
    with pytest.raises(ValueError):
        ENGLAND.nth_working_day(2026, 6, 23)  # June 2026 has 22 working days
    assert ENGLAND.nth_working_day(2026, 6, 22) == date(2026, 6, 30)


# -- calendar days and seconds ------------------------------------------------------


def test_elapsed_calendar_days_and_seconds():
    assert elapsed_calendar_days(date(2026, 5, 1), date(2026, 5, 8)) == 7
    assert elapsed_calendar_days(date(2026, 5, 8), date(2026, 5, 1)) == 0
    start = datetime(2026, 5, 1, 9, 0)
    assert elapsed_seconds(start, start + timedelta(minutes=2)) == 120
    assert elapsed_seconds(start, start - timedelta(minutes=2)) == 0
