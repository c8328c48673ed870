"""Exact money: rounding, splits and instalments (CONTRACT.md section 1)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opsplatform.money import PENNY, format_gbp, instalments, round_money, split

D = Decimal

pence = st.integers(-(10**10), 10**10).map(lambda p: D(p) * PENNY)
weight = st.integers(0, 10**8).map(lambda n: D(n).scaleb(-4))  # up to 4 decimal places
codes = st.text(alphabet="ABCDEFGHIJ", min_size=2, max_size=4)
weight_maps = st.dictionaries(codes, weight, min_size=1, max_size=8)


def is_whole_pence(amount: Decimal) -> bool:
    return amount == amount.quantize(PENNY)


# -- rounding -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("2.345", "2.35"),
        ("2.344", "2.34"),
        ("-2.345", "-2.35"),
        ("-2.344", "-2.34"),
        ("0.005", "0.01"),
        ("2.3449999", "2.34"),
        ("2.355", "2.36"),  # half up, not to even
        ("2.365", "2.37"),
        ("5", "5.00"),
    ],
)
def test_round_money_is_half_up(amount, expected):
    got = round_money(D(amount))
    assert got == D(expected)
    assert str(got) == expected


def test_format_gbp():
    assert format_gbp(D("1234.5")) == "£1,234.50"
    assert format_gbp(D("-1234.50")) == "-£1,234.50"


# -- split --------------------------------------------------------------------------


def test_contract_example_equal_split_ties_to_first_code():
    # Insertion order deliberately not alphabetical: the penny goes to LAN because it sorts first.
    parts = split(D("10000.00"), {"WYR": D(1), "PRS": D(1), "LAN": D(1)})
    assert parts == {"LAN": D("3333.34"), "PRS": D("3333.33"), "WYR": D("3333.33")}
    assert sum(parts.values()) == D("10000.00")


def test_pennies_left_over_go_one_each_in_code_order():
    assert split(D("0.02"), {"C": D(1), "B": D(1), "A": D(1)}) == {
        "A": D("0.01"),
        "B": D("0.01"),
        "C": D("0.00"),
    }


def test_split_by_weights():
    assert split(D("100.00"), {"A": D(1), "B": D(2)}) == {"A": D("33.33"), "B": D("66.67")}
    parts = split(D("1000.00"), {"LAN": D(100000), "PRS": D(300000)})
    assert parts == {"LAN": D("250.00"), "PRS": D("750.00")}


def test_largest_remainder_wins_the_penny_not_the_first_code():
    # Exact shares: A 0.3333..., B 0.6666... pence -> the leftover penny goes to B.
    assert split(D("0.01"), {"A": D(1), "B": D(2)}) == {"A": D("0.00"), "B": D("0.01")}


def test_a_zero_weight_gets_nothing():
    assert split(D("10.00"), {"A": D(0), "B": D(3)}) == {"A": D("0.00"), "B": D("10.00")}


def test_all_zero_weights_means_equal_shares():
    parts = split(D("10000.00"), {"WYR": D(0), "PRS": D(0), "LAN": D(0)})
    assert parts == {"LAN": D("3333.34"), "PRS": D("3333.33"), "WYR": D("3333.33")}


def test_negative_total_splits_to_negative_parts_summing_to_it():
    parts = split(D("-10000.00"), {"WYR": D(1), "PRS": D(1), "LAN": D(1)})
    assert parts == {"LAN": D("-3333.34"), "PRS": D("-3333.33"), "WYR": D("-3333.33")}
    assert sum(parts.values()) == D("-10000.00")


def test_zero_total():
    assert split(D("0.00"), {"A": D(1), "B": D(2)}) == {"A": D(0), "B": D(0)}


def test_nothing_to_split_across():
    assert split(D("10.00"), {}) == {}


def test_refuses_fractions_of_a_penny():
    with pytest.raises(ValueError):
        split(D("10.005"), {"A": D(1), "B": D(1)})


def test_refuses_negative_weights():
    with pytest.raises(ValueError):
        split(D("10.00"), {"A": D(-1), "B": D(2)})


@given(pence, weight_maps)
def test_split_properties(total, weights):
    parts = split(total, weights)
    assert set(parts) == set(weights)
    assert sum(parts.values()) == total
    weight_sum = sum((Fraction(w) for w in weights.values()), Fraction(0))
    for key, part in parts.items():
        assert is_whole_pence(part)
        if weight_sum:
            exact = Fraction(total) * Fraction(weights[key]) / weight_sum
        else:
            exact = Fraction(total) / len(weights)
        assert abs(Fraction(part) - exact) < Fraction(1, 100)


@given(pence, st.lists(codes, min_size=1, max_size=8, unique=True))
def test_equal_split_differs_by_at_most_a_penny_and_favours_first_codes(total, keys):
    parts = split(total, dict.fromkeys(keys, D(1)))
    ordered = [abs(parts[k]) for k in sorted(keys)]
    assert max(ordered) - min(ordered) <= PENNY
    assert ordered == sorted(ordered, reverse=True)


# -- instalments --------------------------------------------------------------------


def test_instalments_of_1000():
    parts = instalments(D("1000.00"))
    assert parts == [D("83.33")] * 11 + [D("83.37")]
    assert sum(parts) == D("1000.00")


def test_instalments_of_an_even_amount():
    assert instalments(D("12000.00")) == [D("1000.00")] * 12


def test_instalments_of_an_unrounded_amount_sum_to_its_rounding():
    # e.g. an estimate of 12345.678 units x £0.1 = 1234.5678
    parts = instalments(D("1234.5678"))
    assert parts[:11] == [D("102.88")] * 11
    assert parts[11] == D("102.89")
    assert sum(parts) == D("1234.57")


@given(st.integers(0, 10**11).map(lambda p: D(p) * PENNY))
def test_instalments_properties(annual):
    parts = instalments(annual)
    assert len(parts) == 12
    assert sum(parts) == annual
    assert parts[:11] == [round_money(annual / 12)] * 11
    assert all(is_whole_pence(part) for part in parts)
