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
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import TypeVar

from billing import rules
from billing.rules import Band, Charge
from opsplatform.errors import Refused
from opsplatform.money import ZERO, format_gbp, instalments, round_money
from opsplatform.periods import FinancialYear, Month


@dataclass(frozen=True)
class Terms:
    """A tariff row as stored: every rule's fields, each empty where its rule takes none.

    `rule_terms` reads it into the terms of its own rule, which the engine rates by.
    """

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


@dataclass(frozen=True, kw_only=True)
class _Limits:
    """What bounds a month's charge under every rule: a monthly floor and a yearly ceiling."""

    minimum: Decimal | None
    annual_cap: Decimal | None


@dataclass(frozen=True, kw_only=True)
class UnitRateTerms(_Limits):
    """q x rate; on estimate billing, twelfths of estimate x rate and a March true-up."""

    rate: Decimal
    billing: str  # actual or estimate
    true_up_tolerance: Decimal  # percent of the estimate


@dataclass(frozen=True, kw_only=True)
class GraduatedTerms(_Limits):
    """Each slice of q at its band's price."""

    bands: tuple[Band, ...]


@dataclass(frozen=True, kw_only=True)
class BandedTerms(_Limits):
    """The flat fee of the band q falls in."""

    bands: tuple[Band, ...]


@dataclass(frozen=True, kw_only=True)
class FixedFeeTerms(_Limits):
    """Twelve instalments of an annual amount."""

    annual_amount: Decimal


@dataclass(frozen=True, kw_only=True)
class ApportionTerms(_Limits):
    """Each month's instalment of an annual pool, split by a driver across the clients."""

    annual_amount: Decimal
    driver: str  # equal, usage or a Drivers name


RatedTerms = UnitRateTerms | GraduatedTerms | BandedTerms | FixedFeeTerms
RuleTerms = RatedTerms | ApportionTerms

_T = TypeVar("_T")


def rule_terms(t: Terms) -> RuleTerms:
    """The terms of `t`'s own rule, built from the fields that rule reads.

    Raises ValueError on a rule the engine does not know, rather than charging it as
    some other rule, and on a field the rule needs left empty (the setup loader refuses
    both, so either means the tariffs were written some other way).
    """
    if t.billing != "actual" and t.rule != "unit_rate":
        raise ValueError(f"tariff {t.id}: {t.billing} billing is for unit_rate tariffs only")
    match t.rule:
        case "unit_rate":
            return UnitRateTerms(
                rate=_needs(t, "rate", t.rate),
                billing=t.billing,
                true_up_tolerance=t.true_up_tolerance,
                minimum=t.minimum,
                annual_cap=t.annual_cap,
            )
        case "graduated":
            return GraduatedTerms(
                bands=_needs(t, "bands", t.bands or None),
                minimum=t.minimum,
                annual_cap=t.annual_cap,
            )
        case "banded":
            return BandedTerms(
                bands=_needs(t, "bands", t.bands or None),
                minimum=t.minimum,
                annual_cap=t.annual_cap,
            )
        case "fixed_fee":
            return FixedFeeTerms(
                annual_amount=_needs(t, "annual_amount", t.annual_amount),
                minimum=t.minimum,
                annual_cap=t.annual_cap,
            )
        case "apportion":
            return ApportionTerms(
                annual_amount=_needs(t, "annual_amount", t.annual_amount),
                driver=_needs(t, "driver", t.driver),
                minimum=t.minimum,
                annual_cap=t.annual_cap,
            )
    raise ValueError(
        f"tariff {t.id} has the charging rule '{t.rule}', which the engine does not know"
    )


def _needs(t: Terms, name: str, value: _T | None) -> _T:
    if value is None:
        raise ValueError(f"tariff {t.id}: a {t.rule} tariff needs {name}")
    return value


@dataclass(frozen=True)
class Subscribed:
    """One subscription as the engine sees it: `client` used `service` from `start` to
    `end` (inclusive) at `tier`."""

    client: str
    service: str
    start: date
    end: date | None
    tier: str = "standard"
    left: date | None = None  # a leaver in its notice: the day its use ended, before `end`

    def overlaps(self, month: Month) -> bool:
        return self.start <= month.last_day and (self.end is None or self.end >= month.first_day)

    def in_notice(self, month: Month) -> bool:
        return self.left is not None and self.left < month.first_day and self.overlaps(month)


@dataclass
class YearInputs:
    """Everything the engine reads for one financial year."""

    year: FinancialYear
    units: dict[str, str]  # service code -> unit name
    subscriptions: list[Subscribed]
    tariffs: list[Terms]
    usage: dict[tuple[str, str, Month], Decimal]  # (client, service, month) -> quantity
    drivers: dict[tuple[str, str], Decimal] = field(default_factory=dict)  # (client, driver)
    estimates: dict[tuple[str, str], Decimal] = field(default_factory=dict)  # (client, service)
    de_minimis: Decimal = ZERO
    # the de minimis of months whose own value differs, a change having applied from a
    # month on (CONTRACT section 9)
    de_minimis_by_month: dict[Month, Decimal] = field(default_factory=dict)

    def de_minimis_in(self, month: Month) -> Decimal:
        return self.de_minimis_by_month.get(month, self.de_minimis)


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
    leavers: dict[tuple[str, str], list[Subscribed]] = defaultdict(list)
    for p in inputs.subscriptions:
        if p.left is not None:
            leavers[(p.client, p.service)].append(p)
    for service in sorted({p.service for p in inputs.subscriptions}):
        for month in months:
            active = _active(inputs.subscriptions, service, month)
            if not active:
                continue
            charges = _charges(inputs, service, month, active)
            staying = _active(inputs.subscriptions, service, month + 1) if month.month != 3 else {}
            for client, (charge, tariff, terms) in sorted(charges.items()):
                quantity = inputs.usage.get((client, service, month), ZERO)
                last = client not in staying  # March, or the subscription's last month
                lines = _modify(
                    inputs,
                    month,
                    client,
                    service,
                    quantity,
                    charge,
                    tariff,
                    terms,
                    year_to_date,
                    carried,
                    last,
                )
                result[(client, service, month)] = _noticed(leavers, service, month, client, lines)
    return result


def _noticed(
    leavers: dict[tuple[str, str], list[Subscribed]],
    service: str,
    month: Month,
    client: str,
    lines: list[Ideal],
) -> list[Ideal]:
    """A leaver's lines in its notice period say so (`leavers`: the subscriptions with a
    notice period, by client and service)."""
    for p in leavers.get((client, service), ()):
        if p.in_notice(month):
            assert p.left is not None and p.end is not None  # what in_notice means
            note = (
                f"; {client} left on {p.left:%-d %B %Y} and pays its share until its "
                f"notice ends on {p.end:%-d %B %Y}"
            )
            return [replace(line, basis=line.basis + note) for line in lines]
    return lines


def _active(subscriptions: list[Subscribed], service: str, month: Month) -> dict[str, str]:
    """Clients subscribed to `service` on any day of `month`, with their tier (latest start wins)."""
    tiers: dict[str, tuple[date, str]] = {}
    for p in subscriptions:
        latest = tiers.get(p.client)
        if p.service == service and p.overlaps(month) and (latest is None or p.start > latest[0]):
            tiers[p.client] = (p.start, p.tier)
    return {client: tier for client, (_, tier) in tiers.items()}


def _charges(
    inputs: YearInputs, service: str, month: Month, active: dict[str, str]
) -> dict[str, tuple[Charge, Terms, RuleTerms]]:
    unit = inputs.units[service]
    index = month - inputs.year.first_month
    rated: dict[str, tuple[Terms, RatedTerms]] = {}
    pooled: dict[str, tuple[Terms, ApportionTerms]] = {}
    for client, tier in active.items():
        found = tariff_for(inputs.tariffs, service, client, tier)
        if found is None:
            raise Refused(
                f"no tariff for service {service} in {inputs.year} applies to {client} "
                f"(tier {tier}): add one to the Tariffs sheet"
            )
        terms = rule_terms(found)
        if isinstance(terms, ApportionTerms):
            pooled[client] = (found, terms)
        else:
            rated[client] = (found, terms)
    out: dict[str, tuple[Charge, Terms, RuleTerms]] = {}
    if pooled:
        pool_tariff, pool_terms = next(iter(pooled.values()))
        pool = instalments(pool_terms.annual_amount)[index]
        weights = {c: _weight(inputs, pool_terms.driver, c, service, month) for c in pooled}
        for client, charge in rules.apportion(pool, weights, pool_terms.driver, unit).items():
            out[client] = (charge, pool_tariff, pool_terms)
    for client, (tariff, terms) in rated.items():
        quantity = inputs.usage.get((client, service, month), ZERO)
        charge = _rule_charge(inputs, service, terms, client, quantity, index, unit)
        out[client] = (charge, tariff, terms)
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
    inputs: YearInputs,
    service: str,
    terms: RatedTerms,
    client: str,
    quantity: Decimal,
    index: int,
    unit: str,
) -> Charge:
    match terms:
        case UnitRateTerms(billing="estimate"):
            return _estimate_instalment(inputs, service, terms, client, index)
        case UnitRateTerms():
            return rules.unit_rate(quantity, terms.rate, unit)
        case GraduatedTerms():
            return rules.graduated(quantity, list(terms.bands), unit)
        case BandedTerms():
            return rules.banded(quantity, list(terms.bands), unit)
        case FixedFeeTerms():
            return rules.fixed_fee(terms.annual_amount, index)


def _estimate(inputs: YearInputs, service: str, client: str) -> Decimal:
    estimate = inputs.estimates.get((client, service))
    if estimate is None:
        raise Refused(
            f"{service} is billed on estimate in {inputs.year} but {client} has no Estimates row"
        )
    return estimate


def _estimate_instalment(
    inputs: YearInputs, service: str, terms: UnitRateTerms, client: str, index: int
) -> Charge:
    estimate = _estimate(inputs, service, client)
    annual = round_money(estimate * terms.rate)
    amount = instalments(estimate * terms.rate)[index]
    basis = (
        f"estimate of {estimate.normalize():,f} {inputs.units[service]}s a year x "
        f"{rules.format_gbp_rate(terms.rate)} = {format_gbp(annual)}, monthly instalment"
    )
    return Charge(amount, basis, terms.rate)


def _true_up(
    inputs: YearInputs,
    service: str,
    tariff: Terms,
    terms: UnitRateTerms,
    client: str,
    month: Month,
) -> Ideal | None:
    estimate = _estimate(inputs, service, client)
    actual = sum(
        (q for (c, s, _m), q in inputs.usage.items() if c == client and s == service), ZERO
    )
    unit = inputs.units[service]
    if estimate and abs(actual - estimate) * 100 <= terms.true_up_tolerance * estimate:
        return None
    amount = round_money(actual * terms.rate) - round_money(estimate * terms.rate)
    basis = (
        f"actual {actual.normalize():,f} {unit}s against an estimate of "
        f"{estimate.normalize():,f}, at {rules.format_gbp_rate(terms.rate)}"
    )
    return Ideal(client, service, month, "true_up", actual, amount, basis, terms.rate, tariff)


def _modify(
    inputs: YearInputs,
    month: Month,
    client: str,
    service: str,
    quantity: Decimal,
    charge: Charge,
    tariff: Terms,
    terms: RuleTerms,
    year_to_date: dict[tuple[str, str], Decimal],
    carried: dict[tuple[str, str], Decimal],
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
    if isinstance(terms, UnitRateTerms) and terms.billing == "estimate" and month.month == 3:
        true_up = _true_up(inputs, service, tariff, terms, client, month)
    carried_in = carried[key]
    due = amount + carried_in
    de_minimis = inputs.de_minimis_in(month)
    if de_minimis and ZERO < due < de_minimis and not last:
        carried[key] = due
        basis += (
            f"; {format_gbp(due)} is below the de minimis of {format_gbp(de_minimis)}, "
            "so it is carried forward"
        )
        lines.append(
            Ideal(client, service, month, "charge", quantity, ZERO, basis, charge.rate, tariff)
        )
    else:
        carried[key] = ZERO
        lines.append(
            Ideal(client, service, month, "charge", quantity, amount, basis, charge.rate, tariff)
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
                    tariff,
                )
            )
    if true_up is not None:
        lines.append(true_up)
    return lines
