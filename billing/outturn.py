"""Full cost recovery: each service's cost from the centre's ledger, and the year-end
outturn of a service funded on cost.

A service's cost for a year is what its cost centres booked (importers.costs): all of a
direct cost centre's, and an overhead's share by the CostCentres sheet's driver values,
split to the penny by largest remainder. A service funded on cost (`funding = cost`) is
charged on its tariffs through the year, on account; at the outturn its actual cost is
compared with what its partners were charged for the year's months, and the surplus or
deficit is shared in proportion to those charges (the year's basis: a pool's shares, a
rate's volumes, a fee's fees), to the penny. Approving raises one `outturn` pending
line per partner, due on its first statement after March; the accruals report of a
locked year lists them (billing.yearend). `lines_behind` lists the cost lines a
service's cost rests on, each with the file and row it came from.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing.charges import charges_by_client_service
from billing.models import Outturn, PendingLine, Statement
from opsplatform.audit import record
from opsplatform.errors import Refused
from opsplatform.models import Client, CostCentreShare, CostLine, Service, UsageEvent
from opsplatform.money import ZERO, format_gbp, split
from opsplatform.periods import FinancialYear, Month, london_date
from opsplatform.vocabulary import CostKind, Funding, LineKind


@dataclass(frozen=True)
class CostSource:
    """What one cost centre gives a service in a year: all of its cost (direct) or a share."""

    cost_centre: str
    name: str | None
    total: Decimal  # the cost centre's cost for the year
    amount: Decimal  # the service's part of it
    driver: str | None  # what the shares measure, for an overhead
    share: Decimal | None  # the service's share, for an overhead
    shares: Decimal | None  # all the cost centre's shares
    lines: int  # cost lines behind `total`

    @property
    def how(self) -> str:
        """How the service's part was reached: "all of it (direct)", or its share of the
        overhead, "420 of 1,500 floor area of £180,000.00"."""
        if self.share is None:
            return "all of it (direct)"
        return (
            f"{self.share.normalize():,f} of {self.shares.normalize() if self.shares else 0:,f} "
            f"{self.driver or 'shares'} of {format_gbp(self.total)}"
        )

    @property
    def sentence(self) -> str:
        named = f"{self.cost_centre} {self.name}" if self.name else self.cost_centre
        return f"{named}: {format_gbp(self.amount)}, {self.how}, from {self.lines} lines"


@dataclass(frozen=True)
class ServiceCost:
    service: str
    name: str
    unit: str
    funding: str
    amount: Decimal
    sources: list[CostSource]


def service_costs(
    session: Session, months: list[Month], kind: CostKind = CostKind.ACTUAL
) -> dict[str, ServiceCost]:
    """Each service's cost of `kind` over `months` (a year's, a quarter's), by service
    code, with where it came from; every service is listed, at £0.00 where its cost
    centres booked nothing."""
    totals = session.execute(
        select(CostLine.cost_centre, func.sum(CostLine.amount), func.count())
        .where(CostLine.kind == kind, CostLine.month.in_([str(m) for m in months]))
        .group_by(CostLine.cost_centre)
    ).all()
    booked = {centre: (amount, count) for centre, amount, count in totals}
    maps: dict[str, list[tuple[CostCentreShare, str]]] = defaultdict(list)
    query = select(CostCentreShare, Service.code).join(Service)
    for share, service in session.execute(query.order_by(CostCentreShare.cost_centre)):
        maps[share.cost_centre].append((share, service))
    sources: dict[str, list[CostSource]] = defaultdict(list)
    for centre, (total, count) in sorted(booked.items()):
        rows = maps[centre]
        direct = len(rows) == 1
        weights = {service: share.share for share, service in rows}
        shares = sum(weights.values(), Decimal(0))
        for service, amount in split(total, weights).items():
            share = next(s for s, code in rows if code == service)
            sources[service].append(
                CostSource(
                    centre,
                    share.name,
                    total,
                    amount,
                    share.driver,
                    None if direct else share.share,
                    None if direct else shares,
                    count,
                )
            )
    return {
        s.code: ServiceCost(
            s.code,
            s.name,
            s.unit,
            s.funding,
            sum((c.amount for c in sources[s.code]), ZERO),
            sources[s.code],
        )
        for s in session.scalars(select(Service).order_by(Service.code))
    }


@dataclass(frozen=True)
class TracedLine:
    """A cost line behind a service's cost: the line, and the service's share of its cost
    centre (1 for a direct cost)."""

    line: CostLine
    share: Decimal
    shares: Decimal


def lines_behind(
    session: Session, service: str, months: list[Month], kind: CostKind = CostKind.ACTUAL
) -> list[TracedLine]:
    """Every cost line of `kind` over `months` booked to a cost centre whose cost goes (in
    whole or part) to `service`, in month and cost centre order, with the file and row it
    came from: what a service's cost in an outturn rests on."""
    found = session.scalars(select(Service).where(Service.code == service.upper())).one_or_none()
    if found is None:
        raise Refused(f"unknown service '{service}'")
    maps = session.scalars(select(CostCentreShare)).all()
    whole: dict[str, Decimal] = defaultdict(Decimal)
    for m in maps:
        whole[m.cost_centre] += m.share
    mine = {m.cost_centre: m.share for m in maps if m.service_id == found.id}
    lines = session.scalars(
        select(CostLine)
        .where(
            CostLine.kind == kind,
            CostLine.cost_centre.in_(mine),
            CostLine.month.in_([str(m) for m in months]),
        )
        .order_by(CostLine.month, CostLine.cost_centre, CostLine.subjective, CostLine.id)
    )
    return [TracedLine(line, mine[line.cost_centre], whole[line.cost_centre]) for line in lines]


@dataclass(frozen=True)
class PartnerShare:
    client: str
    name: str
    charged: Decimal  # for the service's months of the year
    amount: Decimal  # its share of the difference: positive owes more, negative a refund
    sentence: str


@dataclass(frozen=True)
class ServiceOutturn:
    year: FinancialYear
    cost: ServiceCost
    budget: Decimal
    charged: Decimal
    partners: list[PartnerShare]
    approved_by: str | None
    approved_at: datetime | None

    @property
    def difference(self) -> Decimal:
        """Actual cost less what was charged: a deficit above zero, a surplus below."""
        return self.cost.amount - self.charged

    @property
    def sentence(self) -> str:
        verdict = (
            "breaks even"
            if self.difference == 0
            else f"has a deficit of {format_gbp(self.difference)}"
            if self.difference > 0
            else f"has a surplus of {format_gbp(-self.difference)}"
        )
        return (
            f"{self.cost.name} {verdict} in {self.year}: it cost {format_gbp(self.cost.amount)} "
            f"(budget {format_gbp(self.budget)}) and its partners were charged "
            f"{format_gbp(self.charged)}"
        )


def share_difference(difference: Decimal, charged: dict[str, Decimal]) -> dict[str, Decimal]:
    """`difference` shared in proportion to what each partner was charged, to the penny
    (largest remainder; a partner charged nothing, or a net credit, shares nothing)."""
    return split(difference, {client: max(amount, ZERO) for client, amount in charged.items()})


def _partner_sentence(
    name: str, service: str, year: FinancialYear, amount: Decimal, charged: Decimal, whole: Decimal
) -> str:
    what = "deficit" if amount >= 0 else "surplus"
    percent = (charged / whole * 100) if whole else Decimal(0)
    return (
        f"{name}'s share of the {year} {what} on {service}: it was charged "
        f"{format_gbp(charged)} of the {format_gbp(whole)} charged for the year "
        f"({percent:.2f}%), so it {'pays' if amount >= 0 else 'is refunded'} "
        f"{format_gbp(abs(amount))}"
    )


def outturns(
    session: Session, year: FinancialYear, service: str | None = None
) -> list[ServiceOutturn]:
    """The outturn of `year` for each service funded on cost (or for `service`), approved
    or not, with each partner's share of the surplus or deficit."""
    services = {s.code: s for s in session.scalars(select(Service))}
    if service is not None:
        found = services.get(service.upper())
        if found is None:
            raise Refused(f"unknown service '{service}'")
        if found.funding != Funding.COST:
            raise Refused(
                f"{found.code} is funded on price, not cost: set funding = cost on the "
                "Services sheet to reconcile it at outturn"
            )
        wanted = [found.code]
    else:
        wanted = sorted(code for code, s in services.items() if s.funding == Funding.COST)
        if not wanted:
            raise Refused(
                "no service is funded on cost: set funding = cost on the Services sheet for "
                "those reconciled to their actual cost at the year end"
            )
    actual = service_costs(session, year.months())
    budget = service_costs(session, year.months(), CostKind.BUDGET)
    by_pair = charges_by_client_service(session, year.months())
    clients = {c.id: c for c in session.scalars(select(Client))}
    approved = {
        o.service_id: o
        for o in session.scalars(select(Outturn).where(Outturn.financial_year == str(year)))
    }
    found_outturns = []
    for code in wanted:
        s = services[code]
        charged = {
            clients[client_id].code: amount
            for (client_id, service_id), amount in sorted(by_pair.items())
            if service_id == s.id
        }
        whole = sum(charged.values(), ZERO)
        done = approved.get(s.id)
        cost = actual[code]
        if done is not None:  # as approved, whatever the ledger or charges say since
            cost = ServiceCost(code, s.name, s.unit, s.funding, done.actual, cost.sources)
            whole = done.charged
        difference = cost.amount - whole
        names = {c.code: c.name for c in clients.values()}
        partners = [
            PartnerShare(
                client,
                names[client],
                charged[client],
                amount,
                _partner_sentence(names[client], s.name, year, amount, charged[client], whole),
            )
            for client, amount in share_difference(difference, charged).items()
        ]
        if done is not None:  # the lines as raised, whatever the charges say since
            partners = _raised(session, year, s.id, partners)
        found_outturns.append(
            ServiceOutturn(
                year,
                cost,
                budget[code].amount,
                whole,
                partners,
                done.approved_by if done else None,
                done.approved_at if done else None,
            )
        )
    return found_outturns


def _raised(
    session: Session, year: FinancialYear, service_id: int, worked: list[PartnerShare]
) -> list[PartnerShare]:
    """An approved outturn's partners as their lines were raised: each amount and sentence
    from its pending line (a partner whose share was £0.00 had none raised)."""
    lines = session.execute(
        select(Client.code, PendingLine.amount, PendingLine.reason)
        .join(Client, PendingLine.client_id == Client.id)
        .where(
            PendingLine.kind == LineKind.OUTTURN,
            PendingLine.service_id == service_id,
            PendingLine.corrects == f"outturn {year}",
        )
    )
    raised = {code: (amount, reason) for code, amount, reason in lines}
    return [
        replace(p, amount=raised[p.client][0], sentence=raised[p.client][1])
        if p.client in raised
        else replace(p, amount=ZERO)
        for p in worked
    ]


def outturn_is_settled(session: Session, year: FinancialYear) -> bool:
    """Whether any service's outturn of `year` is approved, so its actual costs are final."""
    query = select(Outturn.id).where(Outturn.financial_year == str(year)).limit(1)
    return session.scalar(query) is not None


def approve_outturn(
    session: Session, year: FinancialYear, actor: str, service: str | None = None
) -> list[ServiceOutturn]:
    """Approve `year`'s outturn for each service funded on cost (or `service`) not yet
    approved: record it and raise each partner's share as an `outturn` pending line, due on
    its first statement after March. Refused while the year's statements are not all
    issued, or while the ledger holds no actual cost for March."""
    drafts = session.scalar(
        select(func.count())
        .select_from(Statement)
        .where(Statement.month.in_([str(m) for m in year.months()]), Statement.status == "draft")
    )
    march = session.scalar(
        select(func.count()).select_from(Statement).where(Statement.month == str(year.last_month))
    )
    if drafts or not march:
        raise Refused(
            f"the outturn of {year} waits for every statement of the year to be issued, "
            f"March's ({year.last_month.label}) included"
        )
    ledger = select(CostLine.id).where(
        CostLine.kind == CostKind.ACTUAL, CostLine.month == str(year.last_month)
    )
    if session.scalar(ledger.limit(1)) is None:
        raise Refused(
            f"the cost ledger holds no actual costs for {year.last_month.label}: import the "
            f"year's ledger to its end (costs import) before its outturn"
        )
    found = outturns(session, year, service)
    pending = [o for o in found if o.approved_by is None]
    if not pending:
        done = found[0]
        raise Refused(
            f"the outturn of {year} is already approved (by {done.approved_by} on "
            f"{_day(done.approved_at)})"
        )
    service_ids = dict(session.execute(select(Service.code, Service.id)).all())
    client_ids = dict(session.execute(select(Client.code, Client.id)).all())
    for outturn in pending:
        service_id = service_ids[outturn.cost.service]
        session.add(
            Outturn(
                financial_year=str(year),
                service_id=service_id,
                actual=outturn.cost.amount,
                charged=outturn.charged,
                approved_by=actor,
            )
        )
        for partner in outturn.partners:
            if partner.amount == 0:
                continue
            session.add(
                PendingLine(
                    client_id=client_ids[partner.client],
                    service_id=service_id,
                    kind=LineKind.OUTTURN,
                    amount=partner.amount,
                    description=f"{outturn.cost.name}: outturn {year} at actual cost",
                    reason=partner.sentence,
                    corrects=f"outturn {year}",
                    not_before=str(year.last_month.next()),
                    raised_by=actor,
                    approved_by=actor,
                )
            )
        record(
            session,
            actor,
            "billing outturn",
            f"{year} {outturn.cost.service}",
            actual=outturn.cost.amount,
            charged=outturn.charged,
            difference=outturn.difference,
            partners={p.client: p.amount for p in outturn.partners},
        )
    session.flush()
    approved = outturns(session, year, service)
    return [o for o in approved if o.cost.service in {p.cost.service for p in pending}]


def costed_months(session: Session, months: list[Month]) -> bool:
    """Whether the ledger holds actual costs for every one of `months`, so that a cost
    over them is whole (not a part of the period passed off as all of it)."""
    held = session.scalars(
        select(CostLine.month)
        .where(CostLine.kind == CostKind.ACTUAL, CostLine.month.in_([str(m) for m in months]))
        .distinct()
    )
    return set(held) == {str(m) for m in months}


def _day(moment: datetime | None) -> str:
    """A London date as people write it: "1 December 2026"."""
    if moment is None:
        return "an unknown day"
    day = london_date(moment)
    return f"{day.day} {day:%B %Y}"


def units_used(session: Session, year: FinancialYear) -> dict[str, Decimal]:
    """Each service's units of usage in `year`, by service code."""
    rows = session.execute(
        select(Service.code, func.sum(UsageEvent.quantity))
        .join(Service, UsageEvent.service_id == Service.id)
        .where(UsageEvent.month >= str(year.first_month), UsageEvent.month <= str(year.last_month))
        .group_by(Service.code)
    )
    return {code: quantity or Decimal(0) for code, quantity in rows}


def _money(amount: Decimal) -> str:
    return f"{amount:.2f}"


def outturn_document(outturn: ServiceOutturn) -> dict[str, object]:
    """An outturn as `billing outturn --json` gives it: amounts as strings of pounds."""
    return {
        "financial_year": str(outturn.year),
        "service": outturn.cost.service,
        "name": outturn.cost.name,
        "budget": _money(outturn.budget),
        "actual": _money(outturn.cost.amount),
        "charged": _money(outturn.charged),
        "difference": _money(outturn.difference),
        "explanation": outturn.sentence,
        "approved_by": outturn.approved_by,
        "approved_at": outturn.approved_at.isoformat() if outturn.approved_at else None,
        "costs": [
            {
                "cost_centre": c.cost_centre,
                "name": c.name,
                "amount": _money(c.amount),
                "of": _money(c.total),
                "driver": c.driver,
                "share": None if c.share is None else f"{c.share.normalize():f}",
                "shares": None if c.shares is None else f"{c.shares.normalize():f}",
                "lines": c.lines,
                "explanation": c.sentence,
            }
            for c in outturn.cost.sources
        ],
        "partners": [
            {
                "client": p.client,
                "name": p.name,
                "charged": _money(p.charged),
                "amount": _money(p.amount),
                "explanation": p.sentence,
            }
            for p in outturn.partners
        ],
    }
