"""What every client should be charged for each month of a financial year: pure rating.

Given plain values (subscriptions, tariffs, monthly quantities, drivers, estimates)
this computes the ideal lines of each (client, service, month), in month order so
that the annual cap, de minimis carry-forward and the March true-up see the months
before. It knows nothing of statements: month close compares these ideal lines with
what was already issued.

Order within a month: rule, then minimum, then annual cap, then de minimis.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from billing import rules
from billing.rules import Band, Charge
from opsplatform.errors import Refused
from opsplatform.money import ZERO, format_gbp, instalments, round_money
from opsplatform.periods import FinancialYear, Month


@dataclass(frozen=True)
class Terms:
    """A tariff row as the engine needs it."""

    id: int
    version: int
    service: str
    scope: str  # all, tier:NAME or client:CODE
    rule: str
    rate: Decimal | None = None
    bands: tuple[Band, ...] = ()
    annual_amount: Decimal | None = None
    driver: str | None = None
    minimum: Decimal | None = None
    annual_cap: Decimal | None = None
    billing: str = "actual"
    true_up_tolerance: Decimal = Decimal(0)


@dataclass(frozen=True)
class Period:
    """One subscription: `client` used `service` from `start` to `end` (inclusive) at `tier`."""

    client: str
    service: str
    start: date
    end: date | None
    tier: str = "standard"

    def overlaps(self, month: Month) -> bool:
        return self.start <= month.last_day and (self.end is None or self.end >= month.first_day)


@dataclass
class YearInputs:
    """Everything the engine reads for one financial year."""

    year: FinancialYear
    units: dict[str, str]  # service code -> unit name
    subscriptions: list[Period]
    tariffs: list[Terms]
    usage: dict[tuple[str, str, Month], Decimal]  # (client, service, month) -> quantity
    drivers: dict[tuple[str, str], Decimal] = field(default_factory=dict)  # (client, driver)
    estimates: dict[tuple[str, str], Decimal] = field(default_factory=dict)  # (client, service)
    de_minimis: Decimal = ZERO


@dataclass(frozen=True)
class Ideal:
    """A line as it should be: kind, quantity, amount, the sentence that explains it."""

    client: str
    service: str
    month: Month
    kind: str
    quantity: Decimal
    amount: Decimal
    basis: str
    rate: Decimal | None
    tariff: Terms | None


def tariff_for(tariffs: list[Terms], service: str, client: str, tier: str) -> Terms | None:
    """The most specific tariff: the client's own, then the tier's, then the general one."""
    by_scope = {t.scope: t for t in tariffs if t.service == service}
    return by_scope.get(f"client:{client}") or by_scope.get(f"tier:{tier}") or by_scope.get("all")


def rate_year(inputs: YearInputs, upto: Month) -> dict[tuple[str, str, Month], list[Ideal]]:
    """Ideal lines for every subscribed (client, service, month) of the year up to `upto`."""
    months = [m for m in inputs.year.months() if m <= upto]
    result: dict[tuple[str, str, Month], list[Ideal]] = {}
    year_to_date: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    carried: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for service in sorted({p.service for p in inputs.subscriptions}):
        for month in months:
            active = _active(inputs.subscriptions, service, month)
            if not active:
                continue
            charges = _charges(inputs, service, month, active)
            staying = _active(inputs.subscriptions, service, month + 1) if month.month != 3 else {}
            for client, (charge, terms) in sorted(charges.items()):
                quantity = inputs.usage.get((client, service, month), ZERO)
                last = client not in staying  # March, or the subscription's last month
                lines = _modify(
                    inputs,
                    month,
                    client,
                    service,
                    quantity,
                    charge,
                    terms,
                    year_to_date,
                    carried,
                    last,
                )
                result[(client, service, month)] = lines
    return result


def _active(subscriptions: list[Period], service: str, month: Month) -> dict[str, str]:
    """Clients subscribed to `service` on any day of `month`, with their tier (latest start wins)."""
    tiers: dict[str, tuple[date, str]] = {}
    for p in subscriptions:
        latest = tiers.get(p.client)
        if p.service == service and p.overlaps(month) and (latest is None or p.start > latest[0]):
            tiers[p.client] = (p.start, p.tier)
    return {client: tier for client, (_, tier) in tiers.items()}


def _charges(
    inputs: YearInputs, service: str, month: Month, active: dict[str, str]
) -> dict[str, tuple[Charge, Terms]]:
    unit = inputs.units[service]
    index = month - inputs.year.first_month
    terms = {}
    for client, tier in active.items():
        found = tariff_for(inputs.tariffs, service, client, tier)
        if found is None:
            raise Refused(
                f"no tariff for service {service} in {inputs.year} applies to {client} "
                f"(tier {tier}): add one to the Tariffs sheet"
            )
        terms[client] = found
    out: dict[str, tuple[Charge, Terms]] = {}
    pooled = [c for c, t in terms.items() if t.rule == "apportion"]
    if pooled:
        pool_terms = terms[pooled[0]]
        pool = instalments(pool_terms.annual_amount)[index]
        weights = {c: _weight(inputs, pool_terms.driver, c, service, month) for c in pooled}
        for client, charge in rules.apportion(pool, weights, pool_terms.driver, unit).items():
            out[client] = (charge, pool_terms)
    for client, t in terms.items():
        if t.rule == "apportion":
            continue
        quantity = inputs.usage.get((client, service, month), ZERO)
        out[client] = (_rule_charge(inputs, t, client, quantity, index, unit), t)
    return out


def _weight(inputs: YearInputs, driver: str, client: str, service: str, month: Month) -> Decimal:
    if driver == "equal":
        return Decimal(1)
    if driver == "usage":
        return inputs.usage.get((client, service, month), ZERO)
    value = inputs.drivers.get((client, driver))
    if value is None:
        raise Refused(
            f"driver '{driver}' has no value for {client} in {inputs.year}: add it to the Drivers "
            f"sheet before closing {month}"
        )
    return value


def _rule_charge(
    inputs: YearInputs, t: Terms, client: str, quantity: Decimal, index: int, unit: str
) -> Charge:
    if t.billing == "estimate":
        return _estimate_instalment(inputs, t, client, index)
    if t.rule == "unit_rate":
        return rules.unit_rate(quantity, t.rate, unit)
    if t.rule == "graduated":
        return rules.graduated(quantity, list(t.bands), unit)
    if t.rule == "banded":
        return rules.banded(quantity, list(t.bands), unit)
    return rules.fixed_fee(t.annual_amount, index)


def _estimate(inputs: YearInputs, t: Terms, client: str) -> Decimal:
    estimate = inputs.estimates.get((client, t.service))
    if estimate is None:
        raise Refused(
            f"{t.service} is billed on estimate in {inputs.year} but {client} has no Estimates row"
        )
    return estimate


def _estimate_instalment(inputs: YearInputs, t: Terms, client: str, index: int) -> Charge:
    estimate = _estimate(inputs, t, client)
    annual = round_money(estimate * t.rate)
    amount = instalments(estimate * t.rate)[index]
    basis = (
        f"estimate of {estimate.normalize():,f} {inputs.units[t.service]}s a year x "
        f"{rules.format_gbp_rate(t.rate)} = {format_gbp(annual)}, monthly instalment"
    )
    return Charge(amount, basis, t.rate)


def _true_up(inputs: YearInputs, t: Terms, client: str, month: Month) -> Ideal | None:
    estimate = _estimate(inputs, t, client)
    actual = sum(
        (q for (c, s, _m), q in inputs.usage.items() if c == client and s == t.service), ZERO
    )
    unit = inputs.units[t.service]
    if estimate and abs(actual - estimate) * 100 <= t.true_up_tolerance * estimate:
        return None
    amount = round_money(actual * t.rate) - round_money(estimate * t.rate)
    basis = (
        f"actual {actual.normalize():,f} {unit}s against an estimate of "
        f"{estimate.normalize():,f}, at {rules.format_gbp_rate(t.rate)}"
    )
    return Ideal(client, t.service, month, "true_up", actual, amount, basis, t.rate, t)


def _modify(
    inputs: YearInputs,
    month: Month,
    client: str,
    service: str,
    quantity: Decimal,
    charge: Charge,
    terms: Terms,
    year_to_date: dict,
    carried: dict,
    last: bool,
) -> list[Ideal]:
    """Apply minimum, annual cap and de minimis to a month's charge; add March's true-up.

    In the last subscribed month of the year (March, or when the subscription ends)
    whatever de minimis has carried is billed, so nothing is lost.
    """
    key = (client, service)
    amount, basis = charge.amount, charge.basis
    if terms.minimum is not None and amount < terms.minimum:
        amount = terms.minimum
        basis += f"; raised to the monthly minimum of {format_gbp(terms.minimum)}"
    if terms.annual_cap is not None and year_to_date[key] + amount > terms.annual_cap:
        amount = max(terms.annual_cap - year_to_date[key], ZERO)
        basis += f"; limited by the annual cap of {format_gbp(terms.annual_cap)}"
    year_to_date[key] += amount
    lines = []
    true_up = None
    if terms.billing == "estimate" and month.month == 3:
        true_up = _true_up(inputs, terms, client, month)
    carried_in = carried[key]
    due = amount + carried_in
    if inputs.de_minimis and ZERO < due < inputs.de_minimis and not last:
        carried[key] = due
        basis += (
            f"; {format_gbp(due)} is below the de minimis of {format_gbp(inputs.de_minimis)}, "
            "so it is carried forward"
        )
        lines.append(
            Ideal(client, service, month, "charge", quantity, ZERO, basis, charge.rate, terms)
        )
    else:
        carried[key] = ZERO
        lines.append(
            Ideal(client, service, month, "charge", quantity, amount, basis, charge.rate, terms)
        )
        if carried_in:
            lines.append(
                Ideal(
                    client,
                    service,
                    month,
                    "carried_forward",
                    ZERO,
                    carried_in,
                    "amounts below the de minimis carried from earlier months",
                    None,
                    terms,
                )
            )
    if true_up is not None:
        lines.append(true_up)
    return lines
