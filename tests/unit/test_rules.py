"""Charging rules on plain values (CONTRACT.md section 5)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.rules import (
    Band,
    Charge,
    apportion,
    banded,
    fixed_fee,
    format_gbp_rate,
    graduated,
    parse_bands,
    unit_rate,
)
from opsplatform.money import PENNY, round_money

D = Decimal

GRADUATED = "1000@3.00; 4000@2.50; *@2.00"
BANDED = "5000=4000; 10000=7000; *=9000"


# -- parse_bands --------------------------------------------------------------------


def test_parse_graduated_bands():
    assert parse_bands(GRADUATED, "graduated") == [
        Band(D(1000), D("3.00")),
        Band(D(4000), D("2.50")),
        Band(None, D("2.00")),
    ]


def test_parse_banded_bands():
    assert parse_bands(BANDED, "banded") == [
        Band(D(5000), D(4000)),
        Band(D(10000), D(7000)),
        Band(None, D(9000)),
    ]


def test_parse_bands_tolerates_spaces_and_a_trailing_semicolon():
    assert parse_bands(" 1000 @ 3.00 ;*@2.00; ", "graduated") == [
        Band(D(1000), D("3.00")),
        Band(None, D("2.00")),
    ]


def test_a_single_open_band():
    assert parse_bands("*@1.25", "graduated") == [Band(None, D("1.25"))]


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("1000@3.00; 4000@2.50", "graduated"),  # no '*' band
        ("5000=4000; 10000=7000", "banded"),  # no '*' band
        ("*@2.00; 1000@3.00", "graduated"),  # '*' not last
        ("1000@3.00; *@2.50; *@2.00", "graduated"),  # two '*' bands
        ("1000=3.00; *=2.00", "graduated"),  # wrong separator for graduated
        ("5000@4000; *@9000", "banded"),  # wrong separator for banded
        ("1000@3.00; *=2.00", "graduated"),  # mixed separators
        ("10000=7000; 5000=4000; *=9000", "banded"),  # limits fall
        ("5000=4000; 5000=7000; *=9000", "banded"),  # limits do not rise
        ("0@3.00; *@2.00", "graduated"),  # zero-width band
        ("1000@3.00; 0@2.50; *@2.00", "graduated"),  # zero-width band in the middle
        ("", "graduated"),
        ("  ;  ", "banded"),
        ("1000@; *@2.00", "graduated"),
        ("abc@3.00; *@2.00", "graduated"),
        ("-5@3.00; *@2.00", "graduated"),
        ("1000@3.00 *@2.00", "graduated"),  # missing ';'
    ],
)
def test_bad_bands_are_refused(text, rule):
    with pytest.raises(ValueError):
        parse_bands(text, rule)


# -- unit_rate ----------------------------------------------------------------------


def test_unit_rate():
    charge = unit_rate(D(120), D("4.75"), "payslip")
    assert charge.amount == D("570.00")
    assert charge.rate == D("4.75")
    assert "120" in charge.basis and "£4.75" in charge.basis


def test_unit_rate_rounds_once_at_the_end():
    # 10 x 0.0015 = 0.015 -> 0.02; rounding the rate or each unit first would give 0.00.
    assert unit_rate(D(10), D("0.0015"), "call").amount == D("0.02")
    # 3 x 2.345 = 7.035 -> 7.04; rounding the rate first would give 7.05.
    assert unit_rate(D(3), D("2.345"), "call").amount == D("7.04")
    # half up: 1 x 0.0050 -> 0.01
    assert unit_rate(D(1), D("0.0050"), "call").amount == D("0.01")
    assert unit_rate(D(7), D("1.2345"), "call").amount == D("8.64")  # 8.6415


def test_unit_rate_at_zero():
    charge = unit_rate(D(0), D("4.75"), "payslip")
    assert charge.amount == D("0.00")
    assert charge.basis


def test_unit_rate_with_four_decimal_rate_in_the_basis():
    assert format_gbp_rate(D("0.1234")) == "£0.1234"
    assert format_gbp_rate(D("3")) == "£3.00"
    assert format_gbp_rate(D("1250.5")) == "£1,250.50"
    assert "£0.1234" in unit_rate(D(1000), D("0.1234"), "call").basis


@given(
    st.integers(0, 10**7).map(lambda n: D(n).scaleb(-2)),
    st.integers(0, 10**7).map(lambda n: D(n).scaleb(-4)),
)
def test_unit_rate_is_q_times_rate_rounded_half_up(quantity, rate):
    charge = unit_rate(quantity, rate, "unit")
    assert charge.amount == round_money(quantity * rate)
    assert charge.amount == charge.amount.quantize(PENNY)


# -- graduated ----------------------------------------------------------------------

GRADUATED_BANDS = parse_bands(GRADUATED, "graduated")


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        ("0", "0.00"),
        ("1", "3.00"),
        ("1000", "3000.00"),
        ("1001", "3002.50"),  # 3000 + 1 x 2.50
        ("5000", "13000.00"),  # 3000 + 4000 x 2.50
        ("5001", "13002.00"),  # 13000 + 1 x 2.00
        ("6000", "15000.00"),  # the contract's example: 3000 + 10000 + 2000
        ("1000000", "2003000.00"),  # 13000 + 995000 x 2.00
        ("999.5", "2998.50"),
        ("1000.5", "3001.25"),
    ],
)
def test_graduated_against_hand_worked_figures(quantity, expected):
    assert graduated(D(quantity), GRADUATED_BANDS, "claim").amount == D(expected)


def test_graduated_basis_names_each_slice():
    basis = graduated(D(6000), GRADUATED_BANDS, "claim").basis
    assert "1,000 claims x £3.00" in basis
    assert "4,000 claims x £2.50" in basis
    assert "1,000 claims x £2.00" in basis
    assert graduated(D(0), GRADUATED_BANDS, "claim").basis


def test_graduated_rounds_once():
    bands = parse_bands("3@0.0015; *@0.0015", "graduated")
    # 10 x 0.0015 = 0.015 -> 0.02, however it is sliced
    assert graduated(D(10), bands, "call").amount == D("0.02")


@given(st.integers(0, 10**6))
def test_graduated_never_falls_as_quantity_rises(q):
    assert (
        graduated(D(q + 1), GRADUATED_BANDS, "u").amount
        >= graduated(D(q), GRADUATED_BANDS, "u").amount
    )


# -- banded -------------------------------------------------------------------------

BANDED_BANDS = parse_bands(BANDED, "banded")


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        ("0", "4000.00"),  # charged even at q = 0
        ("1", "4000.00"),
        ("5000", "4000.00"),
        ("5000.5", "7000.00"),
        ("5001", "7000.00"),
        ("10000", "7000.00"),
        ("10001", "9000.00"),
        ("1000000", "9000.00"),
    ],
)
def test_banded(quantity, expected):
    charge = banded(D(quantity), BANDED_BANDS, "call")
    assert charge.amount == D(expected)
    assert charge.basis


def test_banded_basis_names_the_band():
    assert "over the last limit" in banded(D(10001), BANDED_BANDS, "call").basis
    assert "up to 5,000" in banded(D(5000), BANDED_BANDS, "call").basis


# -- fixed_fee ----------------------------------------------------------------------


def test_fixed_fee_instalments():
    amounts = [fixed_fee(D("1000.00"), i).amount for i in range(12)]
    assert amounts[:11] == [D("83.33")] * 11  # April to February
    assert amounts[11] == D("83.37")  # March takes the rest
    assert fixed_fee(D("1000.00"), 0).basis


def test_fixed_fee_march_can_be_less_than_the_others():
    # 100.06 / 12 = 8.33833 -> 8.34; March = 100.06 - 91.74 = 8.32
    assert fixed_fee(D("100.06"), 11).amount == D("8.32")
    assert fixed_fee(D("100.06"), 0).amount == D("8.34")


@given(st.integers(0, 10**10).map(lambda p: D(p) * PENNY))
def test_fixed_fee_twelve_instalments_sum_to_the_annual_amount(annual):
    amounts = [fixed_fee(annual, i).amount for i in range(12)]
    assert sum(amounts) == annual
    assert amounts[:11] == [round_money(annual / 12)] * 11


# -- apportion ----------------------------------------------------------------------


def test_apportion_by_a_driver():
    charges = apportion(D("1000.00"), {"LAN": D(100000), "PRS": D(300000)}, "population", "payslip")
    assert {c: ch.amount for c, ch in charges.items()} == {
        "LAN": D("250.00"),
        "PRS": D("750.00"),
    }
    assert "population" in charges["LAN"].basis
    assert "100,000" in charges["LAN"].basis and "400,000" in charges["LAN"].basis
    assert "£1,000.00" in charges["LAN"].basis


def test_apportion_equal_sums_to_the_pool():
    charges = apportion(D("10000.00"), {"WYR": D(1), "PRS": D(1), "LAN": D(1)}, "equal", "payslip")
    assert charges["LAN"].amount == D("3333.34")
    assert charges["PRS"].amount == D("3333.33")
    assert sum(c.amount for c in charges.values()) == D("10000.00")
    assert "equal share" in charges["WYR"].basis
    assert "1 of 3" in charges["WYR"].basis


def test_apportion_by_usage_all_zero_is_equal():
    charges = apportion(D("100.00"), {"A": D(0), "B": D(0)}, "usage", "claim")
    assert [charges[k].amount for k in ("A", "B")] == [D("50.00"), D("50.00")]
    assert all(c.basis for c in charges.values())


def test_apportion_by_usage():
    charges = apportion(D("90.00"), {"A": D(1), "B": D(2)}, "usage", "claim")
    assert charges["A"].amount == D("30.00")
    assert charges["B"].amount == D("60.00")
    assert "claims" in charges["A"].basis


@given(
    st.integers(0, 10**9).map(lambda p: D(p) * PENNY),
    st.dictionaries(
        st.text(alphabet="ABCDEFGH", min_size=2, max_size=3),
        st.integers(0, 10**6).map(D),
        min_size=1,
        max_size=6,
    ),
)
def test_apportion_sums_to_the_pool_and_explains_every_share(pool, weights):
    charges = apportion(pool, weights, "headcount", "payslip")
    assert set(charges) == set(weights)
    assert sum(c.amount for c in charges.values()) == pool
    assert all(isinstance(c, Charge) and c.basis.strip() for c in charges.values())
