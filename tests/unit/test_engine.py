"""Rating a financial year on plain values (CONTRACT.md section 5)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.engine import Subscribed, Terms, YearInputs, rate_year, rule_terms, tariff_for
from billing.rules import RULES, Band, parse_bands
from opsplatform.errors import Refused
from opsplatform.money import round_money
from opsplatform.periods import FinancialYear, Month

D = Decimal
FY = FinancialYear(2026)
APRIL, MAY, JUNE, JULY = Month(2026, 4), Month(2026, 5), Month(2026, 6), Month(2026, 7)
FEBRUARY, MARCH = Month(2027, 2), Month(2027, 3)
YEAR_START, YEAR_END = date(2026, 4, 1), date(2027, 3, 31)


def terms(rule: str = "unit_rate", scope: str = "all", service: str = "PAY", **kw) -> Terms:
    terms.counter += 1
    return Terms(id=terms.counter, version=1, service=service, scope=scope, rule=rule, **kw)


terms.counter = 0


def sub(client: str, start=YEAR_START, end=None, tier="standard", service="PAY") -> Subscribed:
    return Subscribed(client, service, start, end, tier)


def inputs(subscriptions, tariffs, usage=None, **kw) -> YearInputs:
    return YearInputs(
        year=FY,
        units={"PAY": "payslip", "HR": "case"},
        subscriptions=subscriptions,
        tariffs=tariffs,
        usage=usage or {},
        **kw,
    )


def run(data: YearInputs, upto: Month = MARCH):
    return rate_year(data, upto)


def charge(result, client, month, service="PAY") -> Decimal:
    lines = [ln for ln in result[(client, service, month)] if ln.kind == "charge"]
    assert len(lines) == 1
    return lines[0].amount


def kinds(result, client, month, service="PAY") -> dict[str, Decimal]:
    return {ln.kind: ln.amount for ln in result[(client, service, month)]}


def year_total(result, client, service="PAY") -> Decimal:
    return sum(
        (
            ln.amount
            for (c, s, _m), lines in result.items()
            if (c, s) == (client, service)
            for ln in lines
        ),
        D(0),
    )


def every_month(client: str, q, service="PAY") -> dict:
    return {(client, service, m): D(q) for m in FY.months()}


# -- tariff specificity -------------------------------------------------------------


def test_most_specific_tariff_applies():
    general = terms(rate=D("1.00"))
    tier = terms(scope="tier:premium", rate=D("0.90"))
    own = terms(scope="client:LAN", rate=D("0.80"))
    other = terms(scope="client:XYZ", rate=D("0.10"))
    tariffs = [general, tier, own, other]
    assert tariff_for(tariffs, "PAY", "LAN", "premium") is own
    assert tariff_for(tariffs, "PAY", "PRS", "premium") is tier
    assert tariff_for(tariffs, "PAY", "WYR", "standard") is general
    assert tariff_for(tariffs, "HR", "LAN", "premium") is None


def test_specificity_in_the_charges():
    data = inputs(
        [sub("LAN", tier="premium"), sub("PRS", tier="premium"), sub("WYR")],
        [
            terms(scope="client:LAN", rate=D("0.80")),
            terms(scope="tier:premium", rate=D("0.90")),
            terms(rate=D("1.00")),
        ],
        {**every_month("LAN", 100), **every_month("PRS", 100), **every_month("WYR", 100)},
    )
    result = run(data, APRIL)
    assert charge(result, "LAN", APRIL) == D("80.00")
    assert charge(result, "PRS", APRIL) == D("90.00")
    assert charge(result, "WYR", APRIL) == D("100.00")


def test_no_tariff_for_a_subscribed_client_is_refused_naming_service_and_client():
    data = inputs([sub("LAN"), sub("PRS")], [terms(scope="client:LAN", rate=D(1))])
    with pytest.raises(Refused) as caught:
        run(data, APRIL)
    assert "PAY" in str(caught.value)
    assert "PRS" in str(caught.value)


# -- each rule's own terms ----------------------------------------------------------


def test_an_unknown_rule_raises_rather_than_being_charged_as_a_fixed_fee():
    data = inputs([sub("LAN")], [terms("per_head", annual_amount=D("1200.00"))])
    with pytest.raises(ValueError, match="per_head"):
        run(data, APRIL)


def test_each_rule_the_tariffs_sheet_takes_has_terms_of_its_own():
    every_field = {"rate": D(1), "bands": (Band(None, D(1)),), "annual_amount": D(12)}
    built = {type(rule_terms(terms(rule, driver="equal", **every_field))) for rule in RULES}
    assert len(built) == len(RULES)


def test_a_field_the_rule_needs_left_empty_raises():
    with pytest.raises(ValueError, match="needs rate"):
        rule_terms(terms("unit_rate"))
    with pytest.raises(ValueError, match="needs driver"):
        rule_terms(terms("apportion", annual_amount=D(12)))
    with pytest.raises(ValueError, match="unit_rate tariffs only"):
        rule_terms(terms("fixed_fee", annual_amount=D(12), billing="estimate"))


# -- which months are charged -------------------------------------------------------


def test_fixed_fee_charged_in_any_month_the_subscription_touches():
    data = inputs(
        [sub("LAN", start=date(2026, 5, 31), end=date(2026, 6, 1))],
        [terms("fixed_fee", annual_amount=D("1200.00"))],
    )
    result = run(data)
    assert (("LAN", "PAY", APRIL)) not in result
    assert charge(result, "LAN", MAY) == D("100.00")
    assert charge(result, "LAN", JUNE) == D("100.00")
    assert ("LAN", "PAY", JULY) not in result
    assert {m for (_c, _s, m) in result} == {MAY, JUNE}


def test_fixed_fee_full_year_sums_to_the_annual_amount():
    data = inputs([sub("LAN")], [terms("fixed_fee", annual_amount=D("1000.00"))])
    result = run(data)
    assert [charge(result, "LAN", m) for m in FY.months()] == [D("83.33")] * 11 + [D("83.37")]
    assert year_total(result, "LAN") == D("1000.00")


def test_upto_limits_the_months_rated():
    data = inputs([sub("LAN")], [terms("fixed_fee", annual_amount=D("1200.00"))])
    assert {m for (_c, _s, m) in run(data, JUNE)} == {APRIL, MAY, JUNE}


def test_unsubscribed_service_is_not_rated():
    data = inputs(
        [sub("LAN")], [terms(rate=D(1)), terms(service="HR", rate=D(5))], every_month("LAN", 3)
    )
    assert all(s == "PAY" for (_c, s, _m) in run(data))


def test_banded_is_charged_at_zero_usage():
    data = inputs(
        [sub("LAN")], [terms("banded", bands=tuple(parse_bands("5000=4000; *=9000", "banded")))]
    )
    assert charge(run(data, APRIL), "LAN", APRIL) == D("4000.00")


def test_graduated_on_the_months_total():
    bands = tuple(parse_bands("1000@3.00; 4000@2.50; *@2.00", "graduated"))
    data = inputs([sub("LAN")], [terms("graduated", bands=bands)], {("LAN", "PAY", APRIL): D(6000)})
    assert charge(run(data, APRIL), "LAN", APRIL) == D("15000.00")


# -- apportion ----------------------------------------------------------------------


def test_apportion_equal_across_clients_subscribed_that_month():
    data = inputs(
        [sub("WYR", start=date(2026, 7, 15)), sub("PRS"), sub("LAN")],
        [terms("apportion", annual_amount=D("12000.00"), driver="equal")],
    )
    result = run(data)
    # April: the month's pool of 1000 between LAN and PRS only.
    assert charge(result, "LAN", APRIL) == D("500.00")
    assert charge(result, "PRS", APRIL) == D("500.00")
    assert ("WYR", "PAY", APRIL) not in result
    # July: three ways, the odd penny to LAN.
    assert charge(result, "LAN", JULY) == D("333.34")
    assert charge(result, "PRS", JULY) == D("333.33")
    assert charge(result, "WYR", JULY) == D("333.33")
    for month in FY.months():
        pool = sum(
            charge(result, c, month) for c in ("LAN", "PRS", "WYR") if (c, "PAY", month) in result
        )
        assert pool == D("1000.00")


def test_a_leaver_in_notice_keeps_its_pool_share_and_the_lines_say_why():
    """PRS stopped using the pool on 28 February and is in notice until 31 March: March
    is still split three ways, and its March line says so."""
    leaver = Subscribed("PRS", "PAY", YEAR_START, YEAR_END, "standard", left=date(2027, 2, 28))
    data = inputs(
        [sub("WYR"), sub("LAN"), leaver],
        [terms("apportion", annual_amount=D("12000.00"), driver="equal")],
    )
    result = run(data)
    assert [charge(result, c, MARCH) for c in ("WYR", "LAN", "PRS")] == [
        D("333.33"),
        D("333.34"),
        D("333.33"),
    ]
    (march,) = result[("PRS", "PAY", MARCH)]
    assert march.basis.endswith(
        "PRS left on 28 February 2027 and pays its share until its notice ends on 31 March 2027"
    )
    (february,) = result[("PRS", "PAY", FEBRUARY)]
    assert "notice" not in february.basis  # it still used the service in February


def test_apportion_pool_uses_the_fixed_fee_instalments():
    data = inputs(
        [sub("LAN"), sub("PRS")], [terms("apportion", annual_amount=D("1000.00"), driver="equal")]
    )
    result = run(data)
    assert charge(result, "LAN", APRIL) + charge(result, "PRS", APRIL) == D("83.33")
    assert charge(result, "LAN", MARCH) + charge(result, "PRS", MARCH) == D("83.37")
    assert year_total(result, "LAN") + year_total(result, "PRS") == D("1000.00")


def test_apportion_by_usage():
    usage = {("LAN", "PAY", APRIL): D(100), ("PRS", "PAY", APRIL): D(300)}
    data = inputs(
        [sub("LAN"), sub("PRS")],
        [terms("apportion", annual_amount=D("12000.00"), driver="usage")],
        usage,
    )
    result = run(data, MAY)
    assert charge(result, "LAN", APRIL) == D("250.00")
    assert charge(result, "PRS", APRIL) == D("750.00")
    # May: nobody used it, so equal shares.
    assert charge(result, "LAN", MAY) == D("500.00")
    assert charge(result, "PRS", MAY) == D("500.00")


def test_apportion_by_a_named_driver():
    data = inputs(
        [sub("LAN"), sub("PRS"), sub("WYR")],
        [terms("apportion", annual_amount=D("12000.00"), driver="population")],
        drivers={
            ("LAN", "population"): D(100000),
            ("PRS", "population"): D(150000),
            ("WYR", "population"): D(250000),
            ("LAN", "headcount"): D(1),
        },
    )
    result = run(data, APRIL)
    assert charge(result, "LAN", APRIL) == D("200.00")
    assert charge(result, "PRS", APRIL) == D("300.00")
    assert charge(result, "WYR", APRIL) == D("500.00")
    basis = next(ln.basis for ln in result[("WYR", "PAY", APRIL)] if ln.kind == "charge")
    assert "population" in basis


def test_apportion_missing_driver_is_refused():
    data = inputs(
        [sub("LAN"), sub("PRS")],
        [terms("apportion", annual_amount=D("12000.00"), driver="population")],
        drivers={("LAN", "population"): D(100000)},
    )
    with pytest.raises(Refused) as caught:
        run(data, APRIL)
    assert "PRS" in str(caught.value)
    assert "population" in str(caught.value)


# -- minimum and annual cap ---------------------------------------------------------


def test_minimum_raises_a_low_month_only():
    usage = {("LAN", "PAY", APRIL): D(10), ("LAN", "PAY", MAY): D(80)}
    data = inputs([sub("LAN")], [terms(rate=D("1.00"), minimum=D("50.00"))], usage)
    result = run(data, JUNE)
    assert charge(result, "LAN", APRIL) == D("50.00")
    assert charge(result, "LAN", MAY) == D("80.00")
    assert charge(result, "LAN", JUNE) == D("50.00")  # no usage, still subscribed
    basis = next(ln.basis for ln in result[("LAN", "PAY", APRIL)])
    assert "minimum" in basis


def test_annual_cap_limits_the_crossing_month_and_zeroes_later_ones():
    data = inputs(
        [sub("LAN")], [terms(rate=D("10.00"), annual_cap=D("2500.00"))], every_month("LAN", 100)
    )
    result = run(data)
    amounts = [charge(result, "LAN", m) for m in FY.months()]
    assert amounts[:3] == [D("1000.00"), D("1000.00"), D("500.00")]
    assert amounts[3:] == [D("0.00")] * 9
    assert year_total(result, "LAN") == D("2500.00")
    assert "cap" in result[("LAN", "PAY", JUNE)][0].basis


def test_cap_applies_after_minimum():
    data = inputs(
        [sub("LAN")], [terms(rate=D("1.00"), minimum=D("100.00"), annual_cap=D("250.00"))]
    )
    result = run(data)
    amounts = [charge(result, "LAN", m) for m in FY.months()]
    assert amounts[:4] == [D("100.00"), D("100.00"), D("50.00"), D("0.00")]
    assert year_total(result, "LAN") == D("250.00")


# -- de minimis ---------------------------------------------------------------------


def test_de_minimis_carries_small_amounts_until_they_are_worth_billing():
    usage = {
        ("LAN", "PAY", APRIL): D(3),
        ("LAN", "PAY", MAY): D(4),
        ("LAN", "PAY", JUNE): D(5),
        ("LAN", "PAY", JULY): D(20),
    }
    data = inputs([sub("LAN")], [terms(rate=D("1.00"))], usage, de_minimis=D("10.00"))
    result = run(data, JULY)
    assert kinds(result, "LAN", APRIL) == {"charge": D(0)}
    assert "carried forward" in result[("LAN", "PAY", APRIL)][0].basis
    assert kinds(result, "LAN", MAY) == {"charge": D(0)}  # 3 + 4 = 7, still below
    # June: 5 + 7 carried = 12 >= 10: the charge beside a carried_forward line.
    assert kinds(result, "LAN", JUNE) == {"charge": D("5.00"), "carried_forward": D("7.00")}
    assert kinds(result, "LAN", JULY) == {"charge": D("20.00")}
    # the quantity is kept on the zero charge line
    assert result[("LAN", "PAY", APRIL)][0].quantity == D(3)


def test_everything_carried_is_billed_in_march():
    usage = {("LAN", "PAY", FEBRUARY): D(2), ("LAN", "PAY", MARCH): D(1)}
    data = inputs([sub("LAN")], [terms(rate=D("1.00"))], usage, de_minimis=D("10.00"))
    result = run(data)
    assert kinds(result, "LAN", FEBRUARY) == {"charge": D(0)}
    assert kinds(result, "LAN", MARCH) == {"charge": D("1.00"), "carried_forward": D("2.00")}
    assert year_total(result, "LAN") == D("3.00")


def test_an_amount_at_the_de_minimis_is_billed():
    data = inputs(
        [sub("LAN")], [terms(rate=D("1.00"))], {("LAN", "PAY", APRIL): D(10)}, de_minimis=D(10)
    )
    assert kinds(run(data, APRIL), "LAN", APRIL) == {"charge": D("10.00")}


def test_de_minimis_never_loses_money_when_a_subscription_ends():
    # A small June amount is carried, but the subscription ends in June: it must still be
    # billed by the end of the year ("whatever is carried is billed in March").
    usage = {("LAN", "PAY", APRIL): D(50), ("LAN", "PAY", JUNE): D(3)}
    data = inputs(
        [sub("LAN", end=date(2026, 6, 30))], [terms(rate=D("1.00"))], usage, de_minimis=D(10)
    )
    result = run(data)
    assert year_total(result, "LAN") == D("53.00")


# -- estimate billing ---------------------------------------------------------------


def estimate_inputs(estimate, actual_by_month, rate="0.50", tolerance="0"):
    return inputs(
        [sub("LAN")],
        [terms(rate=D(rate), billing="estimate", true_up_tolerance=D(tolerance))],
        {("LAN", "PAY", m): D(q) for m, q in actual_by_month.items()},
        estimates={("LAN", "PAY"): D(estimate)},
    )


def test_estimate_billing_with_a_true_up():
    # estimate 10000 x 0.50 = 5000.00 a year; actual 12000 x 0.50 = 6000.00
    actual = {m: 1000 for m in FY.months()}
    result = run(estimate_inputs(10000, actual))
    for month in FY.months()[:11]:
        assert kinds(result, "LAN", month) == {"charge": D("416.67")}  # round(5000 / 12)
    march = kinds(result, "LAN", MARCH)
    assert march["charge"] == D("5000.00") - 11 * D("416.67")  # 416.63
    assert march["true_up"] == D("1000.00")
    assert year_total(result, "LAN") == D("6000.00")
    true_up = next(ln for ln in result[("LAN", "PAY", MARCH)] if ln.kind == "true_up")
    assert true_up.quantity == D(12000)
    assert true_up.basis


def test_estimate_true_up_can_be_a_credit():
    actual = {APRIL: 3000, MAY: 3000}
    result = run(estimate_inputs(10000, actual))
    assert kinds(result, "LAN", MARCH)["true_up"] == D("-2000.00")
    assert year_total(result, "LAN") == D("3000.00")


def test_estimate_monthly_instalment_rounds_the_unrounded_annual():
    # 1234 x 0.1235 = 152.399 -> a year of 152.40; 152.399 / 12 = 12.6999 -> 12.70
    result = run(estimate_inputs(1234, {APRIL: 1234}, rate="0.1235"))
    assert charge(result, "LAN", APRIL) == D("12.70")
    assert charge(result, "LAN", MARCH) == D("152.40") - 11 * D("12.70")
    assert "true_up" not in kinds(result, "LAN", MARCH)  # actual == estimate
    assert year_total(result, "LAN") == D("152.40")


def test_no_true_up_within_the_tolerance():
    # actual 10400 is 4% over the estimate of 10000; tolerance 5%
    actual = {APRIL: 10400}
    result = run(estimate_inputs(10000, actual, tolerance="5"))
    assert "true_up" not in kinds(result, "LAN", MARCH)
    assert year_total(result, "LAN") == D("5000.00")


def test_true_up_at_the_edge_of_and_beyond_the_tolerance():
    at_edge = run(estimate_inputs(10000, {APRIL: 10500}, tolerance="5"))
    assert "true_up" not in kinds(at_edge, "LAN", MARCH)  # exactly 5% is within
    beyond = run(estimate_inputs(10000, {APRIL: 10600}, tolerance="5"))
    assert kinds(beyond, "LAN", MARCH)["true_up"] == D("300.00")
    below = run(estimate_inputs(10000, {APRIL: 9400}, tolerance="5"))
    assert kinds(below, "LAN", MARCH)["true_up"] == D("-300.00")


def test_estimate_billing_needs_an_estimate():
    data = inputs([sub("LAN")], [terms(rate=D(1), billing="estimate")])
    with pytest.raises(Refused):
        run(data, APRIL)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 10**6),
    st.lists(st.integers(0, 10**5), min_size=12, max_size=12),
    st.integers(1, 99999).map(lambda n: D(n).scaleb(-4)),
)
def test_estimate_year_total_is_the_actual_charge(estimate, monthly, rate):
    data = inputs(
        [sub("LAN")],
        [terms(rate=rate, billing="estimate")],
        {("LAN", "PAY", m): D(q) for m, q in zip(FY.months(), monthly, strict=True)},
        estimates={("LAN", "PAY"): D(estimate)},
    )
    result = run(data)
    assert year_total(result, "LAN") == round_money(sum(monthly) * rate)
    regular = round_money(D(estimate) * rate / 12)
    assert [charge(result, "LAN", m) for m in FY.months()[:11]] == [regular] * 11


# -- every line explains itself ----------------------------------------------------


def test_every_line_has_a_basis():
    data = inputs(
        [sub("LAN"), sub("PRS"), sub("LAN", service="HR"), sub("PRS", service="HR")],
        [
            terms(rate=D("0.75"), minimum=D(5)),
            terms("apportion", service="HR", annual_amount=D("999.99"), driver="usage"),
        ],
        {**every_month("LAN", 7), **every_month("PRS", 2, service="HR")},
        de_minimis=D(6),
    )
    result = run(data)
    assert result
    for lines in result.values():
        for line in lines:
            assert line.basis.strip()
