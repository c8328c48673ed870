"""The service-hours clock and paused time, on plain values (CONTRACT.md section 10)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsplatform.calendars import ServiceClock, WorkingCalendar, minutes
from opsplatform.entrypoints.web.kpis import how_measured, limit_text
from opsplatform.models import Kpi
from opsplatform.periods import LONDON
from sla import measures

D = Decimal
HOUR = 3600
ENGLAND = WorkingCalendar("england")
WEEKDAYS_8_TO_6 = {day: (8 * 60, 18 * 60) for day in range(5)}  # Monday to Friday
EVERY_DAY_8_TO_6 = {day: (8 * 60, 18 * 60) for day in range(7)}
OFFICE = ServiceClock(WEEKDAYS_8_TO_6, ENGLAND)


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A Europe/London local time."""
    return datetime(year, month, day, hour, minute, tzinfo=LONDON)


def test_times_are_read_as_minutes_after_midnight():
    assert minutes("08:30") == 510
    assert minutes("24:00") == 1440


def test_friday_evening_to_monday_morning_is_the_two_open_hours():
    # the contract's example: logged 17:00 Friday, resolved 09:00 Monday, open 08:00-18:00
    assert OFFICE.seconds_between(at(2026, 6, 5, 17), at(2026, 6, 8, 9)) == 2 * HOUR


def test_an_event_before_opening_counts_from_opening():
    assert OFFICE.seconds_between(at(2026, 6, 3, 6), at(2026, 6, 3, 9)) == HOUR


def test_an_event_after_closing_counts_to_closing():
    assert OFFICE.seconds_between(at(2026, 6, 3, 17), at(2026, 6, 3, 22)) == HOUR


def test_an_event_wholly_outside_the_hours_takes_no_time():
    assert OFFICE.seconds_between(at(2026, 6, 3, 19), at(2026, 6, 4, 7, 59)) == 0
    assert OFFICE.seconds_between(at(2026, 6, 6, 9), at(2026, 6, 7, 17)) == 0  # a weekend


def test_a_day_has_its_local_hours_when_the_clocks_change():
    sundays = ServiceClock(EVERY_DAY_8_TO_6, ENGLAND)
    for change in (date(2026, 3, 29), date(2026, 10, 25)):  # last Sundays of March, October
        day = at(change.year, change.month, change.day)
        assert sundays.seconds_between(day, day + timedelta(days=1)) == 10 * HOUR
        opens, closes = sundays.open_on(change) or (day, day)
        assert (opens.astimezone(LONDON).hour, closes.astimezone(LONDON).hour) == (8, 18)
    # across a weekend with a change, Friday 17:00 to Monday 09:00 is still two hours
    assert OFFICE.seconds_between(at(2026, 3, 27, 17), at(2026, 3, 30, 9)) == 2 * HOUR
    assert OFFICE.seconds_between(at(2026, 10, 23, 17), at(2026, 10, 26, 9)) == 2 * HOUR


def test_instants_in_any_zone_are_the_same_instants():
    # 17:00 BST is 16:00 UTC
    started = datetime(2026, 6, 5, 16, tzinfo=UTC)
    assert OFFICE.seconds_between(started, at(2026, 6, 8, 9)) == 2 * HOUR


def test_bank_holidays_are_closed_including_the_substitute_days():
    # Christmas 2027 falls on a Saturday: Monday 27 and Tuesday 28 December are closed
    assert OFFICE.seconds_between(at(2027, 12, 24, 17), at(2027, 12, 29, 9)) == 2 * HOUR
    every_day = ServiceClock(EVERY_DAY_8_TO_6, ENGLAND)
    assert every_day.seconds_between(at(2027, 12, 24, 17), at(2027, 12, 29, 9)) == 2 * HOUR


def test_the_centres_closures_and_reopenings_apply():
    closed = ServiceClock(WEEKDAYS_8_TO_6, WorkingCalendar(added=[date(2026, 6, 8)]))
    assert closed.seconds_between(at(2026, 6, 5, 17), at(2026, 6, 9, 9)) == 2 * HOUR
    reopened = ServiceClock(WEEKDAYS_8_TO_6, WorkingCalendar(removed=[date(2026, 5, 25)]))
    # Spring bank holiday 2026 is Monday 25 May
    assert OFFICE.seconds_between(at(2026, 5, 25, 8), at(2026, 5, 25, 18)) == 0
    assert reopened.seconds_between(at(2026, 5, 25, 8), at(2026, 5, 25, 18)) == 10 * HOUR


def test_a_nations_own_holidays_are_closed():
    # 2 January is a bank holiday in Scotland only
    scotland = ServiceClock(WEEKDAYS_8_TO_6, WorkingCalendar("scotland"))
    assert OFFICE.seconds_between(at(2026, 1, 2, 8), at(2026, 1, 2, 18)) == 10 * HOUR
    assert scotland.seconds_between(at(2026, 1, 2, 8), at(2026, 1, 2, 18)) == 0


def test_midnight_closing_counts_to_the_end_of_the_day():
    late = ServiceClock({2: (22 * 60, 24 * 60)}, ENGLAND)  # Wednesdays 22:00 to midnight
    assert late.seconds_between(at(2026, 6, 3, 23), at(2026, 6, 4, 1)) == HOUR


def test_no_hours_is_never_open():
    assert ServiceClock({}, ENGLAND).seconds_between(at(2026, 6, 1), at(2026, 7, 1)) == 0


# -- elapsed on a KPI calendar, less a pause ----------------------------------------


def test_service_hours_elapsed_less_a_pause_spanning_closing_time():
    started, completed = at(2026, 6, 3, 9), at(2026, 6, 4, 12)  # 9 + 4 open hours
    pause = (at(2026, 6, 3, 16), at(2026, 6, 4, 10))  # 2 hours before close, 2 after open
    elapsed = measures.elapsed(started, completed, "service_hours", ENGLAND, OFFICE, pause)
    assert elapsed == D(9 * HOUR)
    assert measures.elapsed(started, completed, "service_hours", ENGLAND, OFFICE) == 13 * HOUR


def test_a_pause_is_measured_on_every_calendar():
    started, completed = at(2026, 6, 1, 9), at(2026, 6, 10, 9)  # Monday to Wednesday week
    pause = (at(2026, 6, 3, 9), at(2026, 6, 8, 9))  # Wednesday to Monday
    assert measures.elapsed(started, completed, "seconds", ENGLAND, pause=pause) == D(4 * 86400)
    assert measures.elapsed(started, completed, "calendar_days", ENGLAND, pause=pause) == 4
    assert measures.elapsed(started, completed, "working_days", ENGLAND, pause=pause) == 4


def test_service_hours_needs_a_clock():
    with pytest.raises(ValueError, match="opening hours"):
        measures.elapsed(at(2026, 6, 1), at(2026, 6, 2), "service_hours", ENGLAND)


def test_the_kpi_pages_say_a_limit_on_opening_hours_in_hours():
    kpi = Kpi(method="within", limit=D(7200), calendar="service_hours", service=None)
    assert how_measured(kpi) == (
        "The share of the centre's work completed within 2 opening hours of being started."
    )


@pytest.mark.parametrize(
    "limit, calendar, text",
    [
        (D(28800), "seconds", "8 hours"),
        (D(3600), "service_hours", "1 opening hour"),
        (D(1800), "seconds", "30 minutes"),
        (D(90), "seconds", "90 seconds"),
        (D(5000), "service_hours", "5000 seconds of opening hours"),
        (D(3), "working_days", "3 working days"),
    ],
)
def test_a_limit_reads_in_whole_hours_or_minutes_where_it_is_one(limit, calendar, text):
    assert limit_text(limit, calendar) == text


# -- properties ---------------------------------------------------------------------

# instants from 2025 to 2028, at any second: over weekends, bank holidays and clock changes
INSTANTS = st.integers(
    int(datetime(2025, 1, 1, tzinfo=UTC).timestamp()),
    int(datetime(2028, 12, 31, tzinfo=UTC).timestamp()),
).map(lambda s: datetime.fromtimestamp(s, UTC))
HOURS = st.dictionaries(
    st.integers(0, 6),
    st.tuples(st.integers(0, 1439), st.integers(1, 1440))
    .filter(lambda t: t[0] < t[1])
    .map(lambda t: (t[0], t[1])),
)
NATION_CALENDARS = st.sampled_from(
    [WorkingCalendar(n) for n in ("england", "wales", "scotland", "northern_ireland")]
)
SHORT = timedelta(days=40)


@settings(max_examples=200, deadline=None)
@given(HOURS, NATION_CALENDARS, INSTANTS, st.integers(0, int(SHORT.total_seconds())))
def test_service_time_is_never_negative_nor_more_than_wall_time(hours, calendar, start, seconds):
    clock = ServiceClock(hours, calendar)
    end = start + timedelta(seconds=seconds)
    assert 0 <= clock.seconds_between(start, end) <= (end - start).total_seconds()
    assert clock.seconds_between(end, start) == 0


@settings(max_examples=200, deadline=None)
@given(
    HOURS,
    NATION_CALENDARS,
    INSTANTS,
    st.integers(0, int(SHORT.total_seconds())),
    st.integers(0, int(SHORT.total_seconds())),
)
def test_service_time_adds_up_over_split_intervals(hours, calendar, a, first, second):
    clock = ServiceClock(hours, calendar)
    b = a + timedelta(seconds=first)
    c = b + timedelta(seconds=second)
    whole = clock.seconds_between(a, c)
    assert whole == pytest.approx(clock.seconds_between(a, b) + clock.seconds_between(b, c))
