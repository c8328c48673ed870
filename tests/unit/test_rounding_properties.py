"""Property: every charge is the exact arithmetic rounded once, half up, to the penny."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from hypothesis import given
from hypothesis import strategies as st

from billing.rules import Band, graduated, unit_rate

quantities = st.decimals(min_value=0, max_value=10_000_000, places=3)
rates = st.decimals(min_value=0, max_value=1000, places=4)


def once(exact: Decimal) -> Decimal:
    return exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@given(quantities, rates)
def test_a_unit_rate_line_is_rounded_once(quantity, rate):
    assert unit_rate(quantity, rate, "item").amount == once(quantity * rate)


@given(quantities, rates, rates, st.integers(min_value=1, max_value=100_000))
def test_a_graduated_line_rounds_the_sum_not_each_band(quantity, first, rest, size):
    charge = graduated(quantity, [Band(Decimal(size), first), Band(None, rest)], "item")
    in_first = min(quantity, Decimal(size))
    assert charge.amount == once(in_first * first + (quantity - in_first) * rest)
