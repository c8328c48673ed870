"""Parsing the cells people type into spreadsheets and CSV files (importers/tables.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from importers.tables import code, day, decimal, moment, money, text, whole

D = Decimal


# -- text and code ------------------------------------------------------------------


def test_text_strips_and_shows_whole_floats_without_a_point():
    assert text("  Lancaster  ") == "Lancaster"
    assert text(3.0) == "3"  # a spreadsheet number cell holding 3
    assert text(3.5) == "3.5"
    assert text(42) == "42"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("lan", "LAN"), (" prs ", "PRS"), ("WYR-2", "WYR-2"), ("AB", "AB"), ("A" * 12, "A" * 12)],
)
def test_codes_are_upper_cased(value, expected):
    assert code(value) == expected


def test_a_numeric_code_cell():
    assert code(12.0) == "12"


@pytest.mark.parametrize("value", ["L", "A" * 13, "LAN CC", "LAN_1", "LÄN", "", "   ", "L.A"])
def test_bad_codes_are_refused(value):
    with pytest.raises(ValueError):
        code(value)


# -- decimal, money, whole ----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12", D("12")),
        ("12.50", D("12.50")),
        (" 7 ", D("7")),
        ("1,234.5", D("1234.5")),
        ("£1,234.56", D("1234.56")),
        ("-3.25", D("-3.25")),
        ("0.123456", D("0.123456")),
        (5, D(5)),
        (0.1, D("0.1")),  # from the float's shortest repr, not its binary expansion
        (2.675, D("2.675")),
        (D("4.75"), D("4.75")),
    ],
)
def test_decimal(value, expected):
    got = decimal(value)
    assert isinstance(got, Decimal)
    assert got == expected


@pytest.mark.parametrize(
    "value", ["abc", "", "1.2.3", "12p", "NaN", "Infinity", "-inf", True, False, "0.1234567"]
)
def test_bad_decimals_are_refused(value):
    with pytest.raises(ValueError):
        decimal(value)


def test_decimal_places_limit():
    assert decimal("1.1234", places=4) == D("1.1234")
    with pytest.raises(ValueError, match="decimal places"):
        decimal("1.12345", places=4)
    assert decimal("1.000000000") == D(1)  # trailing zeros are not extra precision


@pytest.mark.parametrize("value", ["1" + "0" * 24, "1e30", "9" * 40])
def test_huge_numbers_are_a_value_error_or_exact_never_a_crash(value):
    # A stray long number in a quantity cell must be a bad row (ValueError), not a crash
    # with decimal.InvalidOperation, which the importers do not catch.
    try:
        got = decimal(value)
    except ValueError:
        return
    assert got == Decimal(value)


def test_money():
    assert money("£1,234.50") == D("1234.50")
    assert money("-12.5") == D("-12.5")
    assert money(12.5) == D("12.5")
    with pytest.raises(ValueError):
        money("1.005")
    with pytest.raises(ValueError):
        money("twelve pounds")


@pytest.mark.parametrize(
    ("value", "expected"), [("3", 3), ("3.0", 3), (3.0, 3), (0, 0), ("1,000", 1000)]
)
def test_whole(value, expected):
    got = whole(value)
    assert got == expected
    assert isinstance(got, int)


@pytest.mark.parametrize("value", ["3.5", "-1", -1, "x", 2.5, ""])
def test_bad_whole_numbers_are_refused(value):
    with pytest.raises(ValueError):
        whole(value)


@given(st.decimals(min_value=-(10**12), max_value=10**12, places=2, allow_nan=False))
def test_money_round_trips_its_text(amount):
    assert money(str(amount)) == amount
    assert money(f"£{amount:,}") == amount


# -- day ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-05-01", date(2026, 5, 1)),
        (" 2026-05-01 ", date(2026, 5, 1)),
        ("01/05/2026", date(2026, 5, 1)),  # UK order: 1 May, not 5 January
        ("31/12/2026", date(2026, 12, 31)),
        (date(2026, 5, 1), date(2026, 5, 1)),
        (datetime(2026, 5, 1, 0, 0), date(2026, 5, 1)),  # an Excel date cell
    ],
)
def test_day(value, expected):
    got = day(value)
    assert got == expected
    assert type(got) is date


@pytest.mark.parametrize(
    "value",
    ["2026-02-30", "2026-13-01", "31/02/2026", "12/31/2026", "yesterday", "", "1 May 2026"],
)
def test_bad_days_are_refused(value):
    with pytest.raises(ValueError):
        day(value)


def test_a_day_with_a_time_is_refused():
    with pytest.raises(ValueError, match="time"):
        day(datetime(2026, 5, 1, 9, 30))


# -- moment -------------------------------------------------------------------------


def test_moment_of_a_plain_date_is_a_date():
    got = moment("2026-05-01")
    assert got == date(2026, 5, 1)
    assert type(got) is date
    assert moment("01/05/2026") == date(2026, 5, 1)


def test_moment_without_an_offset_is_naive():
    got = moment("2026-05-01T09:30:00")
    assert got == datetime(2026, 5, 1, 9, 30)
    assert got.tzinfo is None
    assert moment("2026-05-01 09:30") == datetime(2026, 5, 1, 9, 30)
    assert moment("01/05/2026 09:30") == datetime(2026, 5, 1, 9, 30)
    assert moment("01/05/2026 09:30:15") == datetime(2026, 5, 1, 9, 30, 15)


def test_moment_keeps_its_offset():
    got = moment("2026-03-31T23:30:00+00:00")
    assert got == datetime(2026, 3, 31, 23, 30, tzinfo=UTC)
    assert got.utcoffset() == timedelta(0)
    bst = moment("2026-05-01T09:30:00+01:00")
    assert bst.utcoffset() == timedelta(hours=1)
    assert bst == datetime(2026, 5, 1, 8, 30, tzinfo=UTC)


def test_moment_z_means_utc():
    for raw in ("2026-05-01T09:30:00Z", "2026-05-01T09:30:00z"):
        got = moment(raw)
        assert got == datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
        assert got.utcoffset() == timedelta(0)


def test_moment_passes_datetime_and_date_cells_through():
    aware = datetime(2026, 5, 1, 9, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert moment(aware) is aware
    assert moment(datetime(2026, 5, 1, 9, 30)) == datetime(2026, 5, 1, 9, 30)
    assert moment(date(2026, 5, 1)) == date(2026, 5, 1)


@pytest.mark.parametrize(
    "value", ["soon", "2026-05-01T25:00:00", "2026-05-32T09:00", "01/05/2026 9.30am", ""]
)
def test_bad_moments_are_refused(value):
    with pytest.raises(ValueError):
        moment(value)


@given(st.datetimes(min_value=datetime(1950, 1, 1), max_value=datetime(2100, 1, 1)))
def test_moment_round_trips_iso_text(value):
    value = value.replace(microsecond=0)
    assert moment(value.isoformat()) == value
    aware = value.replace(tzinfo=UTC)
    assert moment(aware.isoformat()) == aware
