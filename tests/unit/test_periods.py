"""Months, quarters, financial years and Europe/London assignment (CONTRACT.md section 1)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opsplatform.periods import (
    FIRST_YEAR,
    LAST_YEAR,
    FinancialYear,
    Month,
    PeriodError,
    Quarter,
    days_after,
    iter_months,
    london_date,
    london_midnight_utc,
    months_after,
    to_utc,
)

FY26 = FinancialYear(2026)

months = st.builds(Month, st.integers(2000, 8000), st.integers(1, 12))
years = st.builds(FinancialYear, st.integers(1900, 9000))
# what people may name: the years they may type, each with a year before and after it
named_months = st.builds(Month, st.integers(FIRST_YEAR, LAST_YEAR), st.integers(1, 12))
named_years = st.builds(FinancialYear, st.integers(FIRST_YEAR, LAST_YEAR - 1))


# -- parsing ------------------------------------------------------------------------


def test_parse_month():
    assert Month.parse("2026-05") == Month(2026, 5)
    assert str(Month.parse("2026-05")) == "2026-05"
    assert Month.parse("2026-05").compact == "202605"


def test_a_month_reads_as_people_write_it():
    assert Month(2026, 5).label == "May 2026"
    assert Month(2027, 1).label == "January 2027"


def test_parse_financial_year():
    fy = FinancialYear.parse("2026-27")
    assert fy == FinancialYear(2026)
    assert fy.first_day == date(2026, 4, 1)
    assert fy.last_day == date(2027, 3, 31)
    assert str(fy) == "2026-27"


def test_financial_year_across_a_century():
    assert FinancialYear.parse("2000-01") == FinancialYear(2000)
    assert str(FinancialYear(1999)) == "1999-00"
    assert str(FinancialYear(2099)) == "2099-00"


def test_parse_quarter():
    q = Quarter.parse("2026-27-Q1")
    assert q == Quarter(FY26, 1)
    assert q.months() == [Month(2026, 4), Month(2026, 5), Month(2026, 6)]
    assert str(q) == "2026-27-Q1"


@pytest.mark.parametrize(
    "text", ["2026-13", "2026-00", "26-05", "2026-5", "2026/05", "May 2026", ""]
)
def test_bad_months_are_refused(text):
    with pytest.raises(PeriodError):
        Month.parse(text)


@pytest.mark.parametrize("text", ["2026-28", "2026-26", "2026-2027", "26-27", "2026", "2026-05x"])
def test_bad_financial_years_are_refused(text):
    with pytest.raises(PeriodError):
        FinancialYear.parse(text)


@pytest.mark.parametrize("text", ["2026-27-Q5", "2026-27-Q0", "2026-28-Q1", "2026-27Q1", "2026-Q1"])
def test_bad_quarters_are_refused(text):
    with pytest.raises(PeriodError):
        Quarter.parse(text)


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (Month.parse, "1999-12", "month 1999-12 is out of range: use one from 2000-01 to 2099-12"),
        (Month.parse, "9998-01", "month 9998-01 is out of range"),
        (FinancialYear.parse, "1999-00", "financial year 1999-00 is out of range"),
        (FinancialYear.parse, "2099-00", "use one from 2000-01 to 2098-99"),
        (Quarter.parse, "0001-02-Q1", "quarter 0001-02-Q1 is out of range"),
        (Quarter.parse, "9998-99-Q4", "use one from 2000-01-Q1 to 2098-99-Q4"),
    ],
)
def test_periods_outside_the_years_people_may_name_are_refused(parse, text, message):
    with pytest.raises(PeriodError, match=message):
        parse(text)


@given(st.builds(Quarter, named_years, st.integers(1, 4)))
def test_every_quarter_people_may_name_has_a_quarter_before_and_a_year_before(quarter):
    earlier = [quarter.previous(), Quarter(quarter.year.previous(), quarter.number)]
    assert all(len(q.months()) == 3 for q in [quarter, *earlier])
    assert Quarter.parse(str(quarter)) == quarter


def test_period_error_is_a_value_error():
    assert issubclass(PeriodError, ValueError)


def test_month_out_of_range_is_refused():
    with pytest.raises(PeriodError):
        Month(2026, 13)
    with pytest.raises(PeriodError):
        Month(2026, 0)


# -- financial year and quarter of a month -----------------------------------------


@pytest.mark.parametrize(
    ("month", "fy", "quarter"),
    [
        (Month(2026, 4), "2026-27", 1),
        (Month(2026, 6), "2026-27", 1),
        (Month(2026, 7), "2026-27", 2),
        (Month(2026, 9), "2026-27", 2),
        (Month(2026, 10), "2026-27", 3),
        (Month(2026, 12), "2026-27", 3),
        (Month(2027, 1), "2026-27", 4),
        (Month(2027, 3), "2026-27", 4),
        (Month(2026, 3), "2025-26", 4),
        (Month(2026, 1), "2025-26", 4),
    ],
)
def test_financial_year_and_quarter_of_a_month(month, fy, quarter):
    assert str(month.financial_year) == fy
    assert month.quarter == Quarter(FinancialYear.parse(fy), quarter)


def test_financial_year_of_a_date():
    assert FinancialYear.of(date(2027, 3, 31)) == FY26
    assert FinancialYear.of(date(2027, 4, 1)) == FinancialYear(2027)
    assert FinancialYear.of(date(2026, 3, 31)) == FinancialYear(2025)


def test_months_of_a_financial_year():
    months_ = FY26.months()
    assert len(months_) == 12
    assert months_[0] == Month(2026, 4)
    assert months_[-1] == Month(2027, 3)
    assert FY26.first_month == Month(2026, 4)
    assert FY26.last_month == Month(2027, 3)


def test_quarters_of_a_financial_year():
    quarters = FY26.quarters()
    assert [str(q) for q in quarters] == [
        "2026-27-Q1",
        "2026-27-Q2",
        "2026-27-Q3",
        "2026-27-Q4",
    ]
    assert quarters[3].months() == [Month(2027, 1), Month(2027, 2), Month(2027, 3)]
    assert quarters[1].first_day == date(2026, 7, 1)
    assert quarters[1].last_day == date(2026, 9, 30)
    assert quarters[3].first_day == date(2027, 1, 1)
    assert quarters[3].last_day == date(2027, 3, 31)


def test_quarter_previous_crosses_the_year():
    assert Quarter(FY26, 1).previous() == Quarter(FinancialYear(2025), 4)
    assert Quarter(FY26, 3).previous() == Quarter(FY26, 2)
    assert FY26.previous() == FinancialYear(2025)


# -- days and containment -----------------------------------------------------------


def test_first_and_last_day_of_months():
    assert Month(2026, 5).first_day == date(2026, 5, 1)
    assert Month(2026, 5).last_day == date(2026, 5, 31)
    assert Month(2026, 4).last_day == date(2026, 4, 30)
    assert Month(2027, 2).last_day == date(2027, 2, 28)
    assert Month(2028, 2).last_day == date(2028, 2, 29)
    assert Month(2026, 12).last_day == date(2026, 12, 31)


def test_containment():
    assert Month(2027, 3) in FY26
    assert Month(2026, 3) not in FY26
    assert date(2026, 4, 1) in FY26
    assert date(2027, 3, 31) in FY26
    assert date(2027, 4, 1) not in FY26
    assert date(2026, 3, 31) not in FY26
    q4 = Quarter(FY26, 4)
    assert Month(2027, 1) in q4
    assert date(2027, 3, 31) in q4
    assert Month(2026, 1) not in q4  # January of the previous financial year
    assert Month(2026, 12) not in q4


# -- month arithmetic ---------------------------------------------------------------


def test_month_arithmetic():
    assert Month(2026, 12) + 1 == Month(2027, 1)
    assert Month(2026, 1) + -1 == Month(2025, 12)
    assert Month(2026, 5) + 24 == Month(2028, 5)
    assert Month(2026, 3).next() == Month(2026, 4)
    assert Month(2026, 1).previous() == Month(2025, 12)
    assert Month(2027, 3) - Month(2026, 4) == 11
    assert Month(2026, 4) - Month(2027, 3) == -11
    assert Month(2026, 12) < Month(2027, 1)


def test_iter_months_includes_both_ends():
    got = list(iter_months(Month(2026, 11), Month(2027, 2)))
    assert got == [Month(2026, 11), Month(2026, 12), Month(2027, 1), Month(2027, 2)]
    assert list(iter_months(Month(2026, 5), Month(2026, 4))) == []


# -- Europe/London assignment -------------------------------------------------------


def test_naive_datetime_is_london_local_time():
    assert to_utc(datetime(2026, 7, 1, 9, 0)) == datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
    assert to_utc(datetime(2026, 1, 15, 9, 0)) == datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
    assert to_utc(datetime(2026, 7, 1, 9, 0)).utcoffset() == timedelta(0)
    # A naive late evening stays on its own London date.
    assert london_date(datetime(2026, 4, 30, 23, 59)) == date(2026, 4, 30)


def test_offset_datetime_is_converted():
    moment = datetime(2026, 5, 1, 9, 0, tzinfo=timezone(timedelta(hours=2)))
    assert to_utc(moment) == datetime(2026, 5, 1, 7, 0, tzinfo=UTC)


def test_utc_late_on_31_march_is_1_april_in_bst():
    moment = datetime.fromisoformat("2026-03-31T23:30:00+00:00")
    assert london_date(moment) == date(2026, 4, 1)
    assert Month.of(london_date(moment)) == Month(2026, 4)
    # ...and so it belongs to the new financial year.
    assert london_date(moment) in FY26


def test_utc_late_in_winter_stays_on_the_same_date():
    moment = datetime(2027, 1, 31, 23, 30, tzinfo=UTC)
    assert Month.of(london_date(moment)) == Month(2027, 1)
    # Before the clocks go forward (29 March 2026) London is on GMT.
    assert london_date(datetime(2026, 3, 28, 23, 30, tzinfo=UTC)) == date(2026, 3, 28)


def test_dates_across_the_october_2026_clock_change():
    # 23:30 UTC on 24 October is 00:30 BST on 25 October.
    assert london_date(datetime(2026, 10, 24, 23, 30, tzinfo=UTC)) == date(2026, 10, 25)
    # 23:30 UTC on 25 October is 23:30 GMT: the same date.
    assert london_date(datetime(2026, 10, 25, 23, 30, tzinfo=UTC)) == date(2026, 10, 25)
    # 30 September 23:30 UTC is 1 October BST; 31 October 23:30 UTC is still October (GMT).
    assert Month.of(london_date(datetime(2026, 9, 30, 23, 30, tzinfo=UTC))) == Month(2026, 10)
    assert Month.of(london_date(datetime(2026, 10, 31, 23, 30, tzinfo=UTC))) == Month(2026, 10)


def test_london_midnight_utc():
    assert london_midnight_utc(date(2026, 7, 1)) == datetime(2026, 6, 30, 23, 0, tzinfo=UTC)
    assert london_midnight_utc(date(2026, 1, 1)) == datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    # 25 October 2026 begins in BST and lasts 25 hours; 29 March 2026 lasts 23.
    start = london_midnight_utc(date(2026, 10, 25))
    assert start == datetime(2026, 10, 24, 23, 0, tzinfo=UTC)
    assert london_midnight_utc(date(2026, 10, 26)) - start == timedelta(hours=25)
    spring = london_midnight_utc(date(2026, 3, 30)) - london_midnight_utc(date(2026, 3, 29))
    assert spring == timedelta(hours=23)


def test_a_plain_date_is_already_local():
    assert london_date(date(2026, 3, 31)) == date(2026, 3, 31)


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)))
def test_an_instant_lies_within_its_london_day(naive_utc):
    instant = naive_utc.replace(tzinfo=UTC)
    day = london_date(instant)
    assert london_midnight_utc(day) <= instant < london_midnight_utc(day + timedelta(days=1))


# -- properties ---------------------------------------------------------------------


@given(named_months)
def test_month_round_trips_through_text(month):
    assert Month.parse(str(month)) == month


@given(st.builds(Month, st.integers(3000, 7000), st.integers(1, 12)), st.integers(-12000, 12000))
def test_month_addition_and_difference_agree(month, k):
    assert (month + k) - month == k


@given(months)
def test_every_month_lies_in_exactly_one_quarter_of_its_year(month):
    fy = month.financial_year
    assert month in fy
    holding = [q for q in fy.quarters() if month in q]
    assert holding == [month.quarter]
    assert month.first_day in fy


@given(named_years)
def test_financial_year_round_trips_through_text(fy):
    assert FinancialYear.parse(str(fy)) == fy


@given(named_years)
def test_a_years_months_are_consecutive_and_its_quarters_partition_them(fy):
    months_ = fy.months()
    assert len(months_) == 12
    assert months_[0] == Month(fy.start_year, 4)
    assert all(b - a == 1 for a, b in pairwise(months_))
    assert [m for q in fy.quarters() for m in q.months()] == months_
    assert all(m.financial_year == fy for m in months_)
    assert Quarter.parse(str(fy.quarters()[3])) == Quarter(fy, 4)


def test_days_after_counts_london_dates_and_is_never_negative():
    late_evening_utc = datetime(2026, 6, 30, 23, 30, tzinfo=UTC)  # 1 July, 00:30 in London
    assert days_after(late_evening_utc, date(2026, 7, 1)) == 0
    assert days_after(late_evening_utc, date(2026, 7, 6)) == 5
    assert days_after(late_evening_utc, date(2026, 6, 1)) == 0
    assert days_after(date(2026, 3, 28), date(2026, 3, 30)) == 2  # across the clock change


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 9, 1), 6, date(2027, 3, 1)),
        (date(2026, 8, 31), 6, date(2027, 2, 28)),  # February is shorter
        (date(2027, 8, 31), 6, date(2028, 2, 29)),  # a leap year
        (date(2026, 3, 31), 0, date(2026, 3, 31)),
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2026, 12, 15), 12, date(2027, 12, 15)),
    ],
)
def test_months_after_keeps_the_day_or_the_month_end(day, months, expected):
    assert months_after(day, months) == expected


@given(st.dates(date(1990, 1, 1), date(2090, 12, 31)), st.integers(0, 120))
def test_months_after_lands_in_the_month_that_many_months_on(day, months):
    later = months_after(day, months)
    assert Month.of(later) == Month.of(day) + months
    assert later.day == day.day or later == Month.of(later).last_day
