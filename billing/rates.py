"""Rate setting: next year's tariffs for the services funded on cost, proposed from next
year's budget in the cost ledger and this year's volumes, with each partner's charge
against this year's; written as next year's tariffs once accepted.

A pool (`apportion`) becomes the budget, shared on the same driver (next year's values,
or this year's where next year's are not loaded yet); a unit rate becomes the budget over
the forecast volume (this year's use, moved by a volume change), rounded up to the
hundredth of a penny so that it recovers the budget; a fixed fee becomes the budget over
the partners, rounded up to the penny. Graduated and banded prices are set by hand.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing.charges import rated_charges, subscriptions_in
from billing.models import Statement
from billing.outturn import service_costs
from billing.rules import format_gbp_rate
from opsplatform.audit import record
from opsplatform.errors import Refused
from opsplatform.models import Client, Driver, Service, Tariff, UsageEvent, YearLock
from opsplatform.money import ZERO, format_gbp, round_money, split
from opsplatform.periods import FinancialYear, Month
from opsplatform.vocabulary import CostKind, Funding

SET_BY_RATE = ("apportion", "unit_rate", "fixed_fee")  # the rules a budget sets
RATE_PLACES = Decimal("0.0001")


@dataclass(frozen=True)
class PartnerCharge:
    client: str
    name: str
    this_year: Decimal  # this year's tariff for the whole year (a rate: on the forecast use)
    next_year: Decimal  # what the proposal charges it, on this year's use

    @property
    def change(self) -> Decimal:
        return self.next_year - self.this_year


@dataclass(frozen=True)
class RateProposal:
    year: FinancialYear
    service: str
    name: str
    unit: str
    rule: str
    budget: Decimal
    current: Decimal | None  # this year's rate or annual amount
    proposed: Decimal
    driver: str | None
    basis: str  # how the proposal was reached, in a sentence
    partners: list[PartnerCharge]

    @property
    def recovers(self) -> Decimal:
        return sum((p.next_year for p in self.partners), ZERO)

    def shown(self, amount: Decimal | None) -> str:
        if amount is None:
            return "none"
        return format_gbp_rate(amount) if self.rule == "unit_rate" else format_gbp(amount)


def propose_rates(
    session: Session, year: FinancialYear, volume_change: Decimal = Decimal(0)
) -> list[RateProposal]:
    """A proposal for `year` for each service funded on cost, from its budget for `year`
    and its use in the year before (moved by `volume_change` percent)."""
    base = year.previous()
    services = list(
        session.scalars(
            select(Service).where(Service.funding == Funding.COST).order_by(Service.code)
        )
    )
    if not services:
        raise Refused(
            "no service is funded on cost: set funding = cost on the Services sheet for those "
            "whose rates recover a budget"
        )
    budgets = service_costs(session, year.months(), CostKind.BUDGET)
    charged = rated_charges(session, base.months())
    names = dict(session.execute(select(Client.code, Client.name)).all())
    ids = dict(session.execute(select(Client.id, Client.code)).all())
    partners = defaultdict(set)
    for s in subscriptions_in(session, year, tariffs_from=base):
        partners[s.service].add(s.client)
    used, forecast = _use(session, base, volume_change)
    proposals = []
    problems = []
    for service in services:
        budget = budgets[service.code].amount
        tariff = session.scalars(
            select(Tariff).filter_by(service_id=service.id, financial_year=str(base), scope="all")
        ).one_or_none()
        if budget <= 0:
            problems.append(
                f"{service.code} has no budget for {year} in the cost ledger: import its budget "
                "lines (costs import, kind budget)"
            )
            continue
        if tariff is None or tariff.rule not in SET_BY_RATE:
            problems.append(
                f"{service.code}'s {base} tariff for everyone is "
                f"{'missing' if tariff is None else tariff.rule}: a budget sets only "
                f"{', '.join(SET_BY_RATE)} tariffs; set it on the Tariffs sheet"
            )
            continue
        who = sorted(partners[service.code])
        use = used.get(service.id, {})
        before = {c: charged.get((cid, service.id), ZERO) for cid, c in ids.items() if c in who}
        if tariff.rule == "unit_rate" and tariff.rate is not None:  # on the same volumes
            before = {c: round_money(use.get(c, Decimal(0)) * tariff.rate) for c in who}
        proposal = _propose(session, year, service, tariff, budget, who, use, forecast)
        proposals.append(
            RateProposal(
                year,
                service.code,
                service.name,
                service.unit,
                tariff.rule,
                budget,
                tariff.rate if tariff.rule == "unit_rate" else tariff.annual_amount,
                proposal[0],
                tariff.driver,
                proposal[1],
                [
                    PartnerCharge(c, names[c], before.get(c, ZERO), proposal[2].get(c, ZERO))
                    for c in who
                ],
            )
        )
    if problems:
        raise Refused(problems)
    return proposals


def _use(
    session: Session, year: FinancialYear, change: Decimal
) -> tuple[dict[int, dict[str, Decimal]], str]:
    """Each service's forecast use by client, and what it rests on: the use of the 12
    months to `year`'s last month with usage (its whole year once it has ended), moved by
    `change` percent."""
    latest = select(func.max(UsageEvent.month)).where(UsageEvent.month <= str(year.last_month))
    last = session.scalar(latest)
    upto = Month.parse(last) if last else year.last_month
    first = upto + -11
    rows = session.execute(
        select(UsageEvent.service_id, Client.code, func.sum(UsageEvent.quantity))
        .join(Client, UsageEvent.client_id == Client.id)
        .where(UsageEvent.month >= str(first), UsageEvent.month <= str(upto))
        .group_by(UsageEvent.service_id, Client.code)
    )
    found: dict[int, dict[str, Decimal]] = defaultdict(dict)
    for service_id, client, quantity in rows:
        found[service_id][client] = quantity * (100 + change) / 100
    moved = f", {change.normalize():+f}%" if change else ""
    return found, f"use from {first.label} to {upto.label}{moved}"


def _propose(
    session: Session,
    year: FinancialYear,
    service: Service,
    tariff: Tariff,
    budget: Decimal,
    partners: list[str],
    use: dict[str, Decimal],
    forecast: str,
) -> tuple[Decimal, str, dict[str, Decimal]]:
    """The proposed rate or amount, how it was reached, and each partner's charge."""
    if tariff.rule == "unit_rate":
        volume = sum((use.get(c, Decimal(0)) for c in partners), Decimal(0))
        if volume <= 0:
            raise Refused(f"{service.code} had no use in {year.previous()} to set a rate on")
        rate = (budget / volume).quantize(RATE_PLACES, rounding=ROUND_CEILING)
        basis = (
            f"{format_gbp(budget)} budget over {volume.normalize():,f} {service.unit}s "
            f"forecast ({forecast}), rounded up to {format_gbp_rate(rate)} per {service.unit}"
        )
        return rate, basis, {c: round_money(use.get(c, Decimal(0)) * rate) for c in partners}
    if tariff.rule == "fixed_fee":
        fee = (budget / len(partners)).quantize(Decimal("0.01"), rounding=ROUND_CEILING)
        basis = f"{format_gbp(budget)} budget over {len(partners)} partners, rounded up"
        return fee, basis, dict.fromkeys(partners, fee)
    weights, source = _weights(session, year, tariff.driver or "equal", partners, use, forecast)
    basis = f"the {format_gbp(budget)} budget shared by {tariff.driver} ({source})"
    return budget, basis, split(budget, weights)


def _weights(
    session: Session,
    year: FinancialYear,
    driver: str,
    partners: list[str],
    use: dict[str, Decimal],
    forecast: str,
) -> tuple[dict[str, Decimal], str]:
    """A pool's weights for `year`: the driver's values for it, or for the year before
    where it has none yet, and which they are."""
    if driver == "equal":
        return dict.fromkeys(partners, Decimal(1)), "equal shares"
    if driver == "usage":
        return {c: use.get(c, Decimal(0)) for c in partners}, forecast
    for source in (year, year.previous()):
        values = dict(
            session.execute(
                select(Client.code, Driver.value)
                .join(Client, Driver.client_id == Client.id)
                .where(Driver.financial_year == str(source), Driver.driver == driver)
            ).all()
        )
        if all(c in values for c in partners):
            return {c: values[c] for c in partners}, f"{source}'s values"
    raise Refused(f"the {driver} driver has no values for every partner in {year} or before")


def accept_rates(
    session: Session, year: FinancialYear, actor: str, volume_change: Decimal = Decimal(0)
) -> list[RateProposal]:
    """Write the proposals as `year`'s tariffs for everyone; refused once `year` has an
    issued statement or is locked (its tariffs then change only by `setup load --rerate`)."""
    if session.get(YearLock, str(year)) is not None:
        raise Refused(f"{year} is locked: its tariffs never change")
    issued = (
        select(func.count())
        .select_from(Statement)
        .where(Statement.month.in_([str(m) for m in year.months()]), Statement.status == "issued")
    )
    if session.scalar(issued):
        raise Refused(
            f"{year} has issued statements: change its tariffs on the Tariffs sheet "
            "(setup load), which shows what every partner's charges become"
        )
    proposals = propose_rates(session, year, volume_change)
    for p in proposals:
        service = session.scalars(select(Service).filter_by(code=p.service)).one()
        base = session.scalars(
            select(Tariff).filter_by(
                service_id=service.id, financial_year=str(year.previous()), scope="all"
            )
        ).one()
        tariff = session.scalars(
            select(Tariff).filter_by(service_id=service.id, financial_year=str(year), scope="all")
        ).one_or_none()
        if tariff is None:
            tariff = Tariff(
                service_id=service.id,
                financial_year=str(year),
                scope="all",
                rule=base.rule,
                driver=base.driver,
                minimum=base.minimum,
                annual_cap=base.annual_cap,
                billing=base.billing,
                true_up_tolerance=base.true_up_tolerance,
                version=0,
            )
            session.add(tariff)
        tariff.rule = base.rule
        tariff.rate = p.proposed if p.rule == "unit_rate" else None
        tariff.annual_amount = None if p.rule == "unit_rate" else p.proposed
        tariff.version += 1
        record(
            session,
            actor,
            "billing rates",
            f"{year} {p.service}",
            rule=p.rule,
            proposed=p.proposed,
            budget=p.budget,
        )
    session.flush()
    return proposals


def rate_document(proposal: RateProposal) -> dict[str, object]:
    """A proposal as `billing rates --json` gives it: amounts as strings."""
    return {
        "financial_year": str(proposal.year),
        "service": proposal.service,
        "name": proposal.name,
        "rule": proposal.rule,
        "driver": proposal.driver,
        "budget": f"{proposal.budget:.2f}",
        "current": None if proposal.current is None else f"{proposal.current.normalize():f}",
        "proposed": f"{proposal.proposed.normalize():f}",
        "recovers": f"{proposal.recovers:.2f}",
        "explanation": proposal.basis,
        "partners": [
            {
                "client": p.client,
                "name": p.name,
                "this_year": f"{p.this_year:.2f}",
                "next_year": f"{p.next_year:.2f}",
                "change": f"{p.change:.2f}",
            }
            for p in proposal.partners
        ],
    }
