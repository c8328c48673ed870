"""The arithmetic of a budget projection (billing.projection): joiners' months filled at
the mean of their subscribed months, volume changes and inflation uplifts."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.engine import Subscribed, Terms, YearInputs, rate_year
from billing.projection import (
    Fill,
    Scenario,
    changed,
    growth,
    projected_usage,
    subscribed_months,
    uplifted,
)
from billing.rules import Band
from opsplatform.errors import Refused
from opsplatform.periods import FinancialYear, Month

D = Decimal
BASE, NEXT = FinancialYear(2026), FinancialYear(2027)
ALL = frozenset(range(12))
FROM_NOVEMBER = frozenset(range(7, 12))  # November to March


def moved(usage: dict[tuple[str, str, int], Decimal]) -> dict[tuple[str, str, Month], Decimal]:
    """Usage given by month index (0 is April), on the projected year's months."""
    return {(c, s, NEXT.months()[i]): q for (c, s, i), q in usage.items()}


# -- which months were subscribed ------------------------------------------------------


def test_a_month_subscribed_on_any_day_counts_as_subscribed():
    months = subscribed_months(
        [
            Subscribed("LAN", "PAY", date(2026, 10, 31), None),  # the last day of October
            Subscribed("WYR", "PAY", date(2026, 4, 1), date(2026, 6, 1)),  # leaves 1 June
            Subscribed("PRS", "PAY", date(2025, 4, 1), date(2027, 3, 31)),  # the whole year
            Subscribed("CHO", "PAY", date(2026, 4, 1), date(2026, 4, 30)),  # April,
            Subscribed("CHO", "PAY", date(2027, 1, 1), None),  # and January on
        ],
        BASE,
    )
    assert months[("LAN", "PAY")] == frozenset(range(6, 12))  # October to March
    assert months[("WYR", "PAY")] == frozenset({0, 1, 2})  # April to June
    assert months[("PRS", "PAY")] == ALL
    assert months[("CHO", "PAY")] == frozenset({0, 9, 10, 11})


# -- filling a joiner's months ---------------------------------------------------------


def test_a_joiner_in_november_is_projected_at_the_mean_of_its_months_for_april_to_october():
    # LAN joined payroll in November: 100, 150, 120, 110, 120 payslips, 600 in 5 months,
    # a mean of 120. Subscribed all the projected year: April-October at 120, then as
    # last year; 7 x 120 + 600 = 1,440 payslips.
    usage = moved(
        {
            ("LAN", "PAY", i): D(q)
            for i, q in zip(range(7, 12), (100, 150, 120, 110, 120), strict=True)
        }
    )
    result, fills = projected_usage(
        usage, {("LAN", "PAY"): FROM_NOVEMBER}, {("LAN", "PAY"): ALL}, NEXT, D(0)
    )
    assert [result[("LAN", "PAY", m)] for m in NEXT.months()] == [D(120)] * 7 + [
        D(100),
        D(150),
        D(120),
        D(110),
        D(120),
    ]
    assert sum(result.values()) == 1440
    assert fills == [Fill("LAN", "PAY", FROM_NOVEMBER, D(120))]
    assert fills[0].filled == list(range(7))


def test_the_mean_is_kept_to_the_millionth_rounded_half_up():
    # 100 + 100 + 101 = 301 in 3 months: 100.333333...
    usage = moved({("LAN", "PAY", i): D(q) for i, q in ((9, 100), (10, 100), (11, 101))})
    result, _ = projected_usage(
        usage, {("LAN", "PAY"): frozenset({9, 10, 11})}, {("LAN", "PAY"): ALL}, NEXT, D(0)
    )
    assert result[("LAN", "PAY", Month(2027, 4))] == D("100.333333")
    # and 2 / 3 = 0.666666... rounds up to 0.666667
    usage = moved({("LAN", "PAY", 10): D(1), ("LAN", "PAY", 11): D(1)})
    result, _ = projected_usage(
        usage, {("LAN", "PAY"): frozenset({9, 10, 11})}, {("LAN", "PAY"): ALL}, NEXT, D(0)
    )
    assert result[("LAN", "PAY", Month(2027, 4))] == D("0.666667")


def test_a_client_subscribed_in_no_base_month_has_nothing_to_project_from():
    result, fills = projected_usage({}, {}, {("PRS", "PAY"): ALL}, NEXT, D(10))
    assert result == {}
    assert fills == [Fill("PRS", "PAY", frozenset(), None)]


def test_only_the_months_the_projected_year_covers_get_a_quantity():
    # LAN leaves at the end of September; subscribed all the base year, 50 a month.
    usage = moved({("LAN", "PAY", i): D(50) for i in range(12)})
    result, fills = projected_usage(
        usage, {("LAN", "PAY"): ALL}, {("LAN", "PAY"): frozenset(range(6))}, NEXT, D(0)
    )
    assert sorted(result) == [("LAN", "PAY", m) for m in NEXT.months()[:6]]
    assert fills == []  # subscribed all the base year: nothing filled


# -- scenario arithmetic ---------------------------------------------------------------


def test_a_volume_change_is_applied_to_every_quantity_filled_or_not():
    assert changed(D(700), D(-5)) == D(665)
    assert changed(D("0.000001"), D(50)) == D("0.000002")  # 0.0000015, half up
    assert changed(D(123), D(0)) == D(123)
    usage = moved({("LAN", "PAY", 11): D(200)})
    result, _ = projected_usage(
        usage, {("LAN", "PAY"): frozenset({11})}, {("LAN", "PAY"): ALL}, NEXT, D("-2.5")
    )
    # 200 x 0.975 = 195, the filled months too
    assert set(result.values()) == {D(195)}


def test_inflation_compounds_per_year_and_rounds_each_charge_half_up_to_the_penny():
    assert growth(D(3), 2) == D("1.0609")
    assert growth(D(3), 0) == 1
    assert uplifted(D("2827.50"), D(3), 1) == D("2912.33")  # 2,912.325, half up
    assert uplifted(D("5250.00"), D(3), 2) == D("5569.73")  # 5,569.725
    assert uplifted(D("3166.67"), D(3), 2) == D("3359.52")  # 3,359.520203
    assert uplifted(D("-100.00"), D("2.5"), 1) == D("-102.50")  # a credit is raised alike
    assert uplifted(D("100.00"), D(-100), 1) == 0
    assert uplifted(D("100.00"), D(-100), 0) == D("100.00")  # a year at its own tariffs
    # exact beyond the 28 digits of Python's default context: 1.000001^5 has 31
    assert growth(D("0.0001"), 5) == D("1.000005000010000010000005000001")


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        ({"years": 0}, "the years projected must be from 1 to 5, not 0"),
        ({"years": 6}, "the years projected must be from 1 to 5, not 6"),
        ({"volume_change": D(-101)}, "the volume change must be from -100% to 1000%, not -101%"),
        ({"inflation": D("1000.01")}, "the inflation must be from -100% to 1000%, not 1000.01%"),
    ],
)
def test_a_scenario_out_of_range_is_refused(scenario, message):
    with pytest.raises(Refused) as refused:
        Scenario(**scenario)
    assert [p.message for p in refused.value.problems] == [message]


def test_the_extremes_are_allowed():
    Scenario(volume_change=D(-100), inflation=D(1000), years=5)
    assert Scenario().uplift == 0 and Scenario(inflation=D(2)).uplift == 2


# -- property: full-year partners project as before ------------------------------------

quantities = st.decimals(min_value=0, max_value=5000, places=2)
twelve = st.lists(quantities, min_size=12, max_size=12)
rated_tariffs = st.sampled_from(
    [
        Terms(1, 1, "PAY", "all", "unit_rate", rate=D("4.25")),
        Terms(2, 1, "PAY", "all", "graduated", bands=(Band(D(500), D("4.50")), Band(None, D(3)))),
        Terms(3, 1, "PAY", "all", "banded", bands=(Band(D(800), D(900)), Band(None, D(2000)))),
        Terms(4, 1, "PAY", "all", "unit_rate", rate=D("0.10"), minimum=D(50), annual_cap=D(900)),
    ]
)


def rated(usage, tariff: Terms, de_minimis: Decimal = Decimal(0)) -> dict:
    """A year's ideal lines for WYR (all year) and LAN (all year), PAY at `tariff`."""
    whole_year = [Subscribed(c, "PAY", NEXT.first_day, None) for c in ("WYR", "LAN")]
    inputs = YearInputs(
        NEXT, {"PAY": "payslip"}, whole_year, [tariff], usage, de_minimis=de_minimis
    )
    return rate_year(inputs, NEXT.last_month)


@given(twelve, twelve, st.integers(min_value=0, max_value=11), rated_tariffs, quantities)
def test_a_client_subscribed_all_the_base_year_is_projected_as_before(
    wyre, lancaster, joined, tariff, de_minimis
):
    """With no volume change, WYR, subscribed all the base year, is charged exactly what
    today's projection (the base year's usage as it stands) charges it, whenever LAN
    joined and whatever the rated tariff."""
    usage = moved({("WYR", "PAY", i): q for i, q in enumerate(wyre)})
    usage |= moved({("LAN", "PAY", i): q for i, q in enumerate(lancaster) if i >= joined})
    base = {("WYR", "PAY"): ALL, ("LAN", "PAY"): frozenset(range(joined, 12))}
    projected, _ = projected_usage(usage, base, dict.fromkeys(base, ALL), NEXT, D(0))
    today = rated(usage, tariff, de_minimis)
    now = rated(projected, tariff, de_minimis)
    for month in NEXT.months():
        assert now[("WYR", "PAY", month)] == today[("WYR", "PAY", month)]


@given(twelve, twelve, st.decimals(min_value=-100, max_value=1000, places=2))
def test_when_every_client_was_subscribed_all_year_only_the_volume_change_moves_usage(
    wyre, lancaster, percent
):
    """Nothing is filled for clients subscribed all the base year, and a pool split by
    usage is split as before: every quantity is the base year's changed by `percent`."""
    usage = moved({("WYR", "PAY", i): q for i, q in enumerate(wyre)})
    usage |= moved({("LAN", "PAY", i): q for i, q in enumerate(lancaster)})
    base = {("WYR", "PAY"): ALL, ("LAN", "PAY"): ALL}
    projected, fills = projected_usage(usage, base, base, NEXT, percent)
    assert fills == []
    assert projected == {key: changed(q, percent) for key, q in usage.items()}
    if percent == 0:
        pool = Terms(5, 1, "PAY", "all", "apportion", annual_amount=D(60000), driver="usage")
        assert rated(projected, pool) == rated(usage, pool)
