"""Quarterly assessment: KPI results for the centre and each client, frozen when final.

Finalising a quarter stores its results (re-running changes nothing) and raises a
service credit, once, for each client whose SLA KPI ended red.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing.adjustments import raise_service_credit
from billing.charges import charges_by_client_service, rated_charges
from billing.outturn import costed_months, service_costs
from opsplatform.audit import record
from opsplatform.calendars import ServiceClock, load_calendars, load_opening_hours
from opsplatform.errors import Refused
from opsplatform.models import (
    PROFILE_ALL,
    Client,
    Kpi,
    KpiBaseline,
    KpiFigure,
    KpiProfile,
    Service,
    Sla,
    Subscription,
    UsageEvent,
)
from opsplatform.money import ZERO, format_gbp, round_money
from opsplatform.periods import Month, Quarter, london_date, london_midnight_utc
from opsplatform.settings import centre_settings, monthly_values
from opsplatform.vocabulary import FIGURE_METHODS
from sla import measures
from sla.models import KpiResult
from sla.visibility import STAFF, Audience

CENTRE = "centre"


@dataclass(frozen=True)
class Result:
    """One KPI's result for a quarter, for one client or (client None) the whole centre."""

    kpi: Kpi
    client: str | None
    quarter: Quarter
    measure: measures.Measure
    target: Decimal
    amber: Decimal
    status: str
    final: bool
    previous: Decimal | None = None
    last_year: Decimal | None = None
    profile_month: str | None = None  # the month whose profiled target judged it, if any

    @property
    def target_set_by(self) -> str:
        """Which target judged the result, in words: a month's profile, or the year's."""
        if self.profile_month:
            return f"the profile for {Month.parse(self.profile_month).label}"
        return "the year's target"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kpi": self.kpi.code,
            "kpi_name": self.kpi.name,
            "client": self.client,
            "quarter": str(self.quarter),
            "value": _number(self.measure.value, 2),
            "target": _number(self.target),
            "amber": _number(self.amber),
            "status": self.status,
            "numerator": _number(self.measure.numerator, 4),
            "denominator": _number(self.measure.denominator, 4),
            "unit": self.kpi.unit,
            "direction": self.kpi.direction,
            "events": self.measure.events,
            "final": self.final,
            "previous_quarter": _number(self.previous, 2),
            "same_quarter_last_year": _number(self.last_year, 2),
            "profile_month": self.profile_month,
        }


def _number(value: Decimal | None, places: int = 6) -> int | float | None:
    if value is None:
        return None
    rounded = round(value, places)
    return int(rounded) if rounded == rounded.to_integral_value() else float(rounded)


def assess_quarter(session: Session, quarter: Quarter) -> list[Result]:
    """Results for every KPI, each with its previous quarter's and last year's value: a
    finalised quarter's frozen results, any other's as measured now."""
    results = quarter_results(session, quarter)
    previous = quarter_values(session, quarter.previous())
    last_year = quarter_values(session, Quarter(quarter.year.previous(), quarter.number))
    return [
        replace(r, previous=previous.get(_key(r)), last_year=last_year.get(_key(r)))
        for r in results
    ]


def finalise_quarter(session: Session, quarter: Quarter, actor: str) -> list[Result]:
    """Freeze the quarter's results and raise its service credits, once (a quarter already
    final stays as it is), as `actor` (who the audit log names); its results."""
    if not quarter_is_final(session, quarter):
        measured = _measure_all(session, quarter)
        _freeze(session, measured)
        _raise_credits(session, quarter, measured)
    results = assess_quarter(session, quarter)
    record(session, actor, "sla final", str(quarter), results=len(results))
    return results


def visible_results(session: Session, quarter: Quarter, audience: Audience) -> list[Result]:
    """The quarter's results that `audience` may see (sla.visibility)."""
    results = assess_quarter(session, quarter)
    final = any(r.final for r in results)
    return [r for r in results if audience.sees_result(r.client, final)]


def _key(result: Result) -> tuple[str, str | None]:
    return result.kpi.code, result.client


def quarter_results(session: Session, quarter: Quarter) -> list[Result]:
    """A quarter's results alone, without the quarters they are compared with: frozen
    where final, else measured."""
    return _frozen(session, quarter) or _measure_all(session, quarter)


def quarter_values(session: Session, quarter: Quarter) -> dict[tuple[str, str | None], Decimal]:
    """A quarter's values by (KPI code, client code or None): frozen where final, else measured."""
    results = quarter_results(session, quarter)
    return {_key(r): r.measure.value for r in results if r.measure.value is not None}


def _measure_all(session: Session, quarter: Quarter) -> list[Result]:
    clients = {c.id: c for c in session.scalars(select(Client).order_by(Client.code))}
    slas = {(s.client_id, s.kpi_id): s for s in session.scalars(select(Sla))}
    profiles = _profiles(session)
    results = []
    for kpi in session.scalars(select(Kpi).order_by(Kpi.code)):
        per_client = _client_measures(session, kpi, quarter, clients)
        centre = _combine(kpi, list(per_client.values()))
        profiled = profiles.get(kpi.id, {})
        latest = _latest_months(session, kpi, quarter) if profiled else {}
        judged = _judged(profiled, PROFILE_ALL, max(latest.values(), default=None))
        results.append(_result(kpi, None, quarter, centre, kpi.target, kpi.amber, judged))
        for client_id, measure in sorted(per_client.items(), key=lambda kv: clients[kv[0]].code):
            sla = slas.get((client_id, kpi.id))
            target = sla.target if sla is not None and sla.target is not None else kpi.target
            amber = sla.amber if sla is not None and sla.amber is not None else kpi.amber
            code = clients[client_id].code
            judged = _judged(profiled, code, latest.get(client_id))
            results.append(_result(kpi, code, quarter, measure, target, amber, judged))
    return results


# a KPI's profiles: by scope (a client's code, or PROFILE_ALL), by month, (target, amber)
Profiles = dict[str, dict[str, tuple[Decimal, Decimal | None]]]


def _profiles(session: Session) -> dict[int, Profiles]:
    """Every KPI's profiled targets, by KPI id."""
    found: dict[int, Profiles] = defaultdict(lambda: defaultdict(dict))
    for p in session.scalars(select(KpiProfile)):
        found[p.kpi_id][p.scope][p.month] = (p.target, p.amber)
    return found


def _latest_months(session: Session, kpi: Kpi, quarter: Quarter) -> dict[int, str]:
    """Each client's last month of `quarter` with figures (for a KPI measured from them)
    or completed events of the KPI's service: the month whose profile judges it."""
    if kpi.method in FIGURE_METHODS:
        rows = session.execute(
            select(KpiFigure.client_id, func.max(KpiFigure.month))
            .where(
                KpiFigure.kpi_id == kpi.id,
                KpiFigure.month.in_([str(m) for m in quarter.months()]),
            )
            .group_by(KpiFigure.client_id)
        )
        return {client_id: month for client_id, month in rows}
    events = session.execute(
        select(UsageEvent.client_id, func.max(UsageEvent.completed_at))
        .where(
            UsageEvent.service_id == kpi.service_id,
            UsageEvent.started_at.is_not(None),
            UsageEvent.completed_at >= london_midnight_utc(quarter.first_day),
            UsageEvent.completed_at < london_midnight_utc(quarter.last_day + timedelta(days=1)),
        )
        .group_by(UsageEvent.client_id)
    )
    return {client_id: str(Month.of(london_date(last))) for client_id, last in events if last}


def _judged(
    profiled: Profiles, scope: str, month: str | None
) -> tuple[Decimal, Decimal | None, str] | None:
    """The profile that judges `scope` (its own, else every client's) in `month`, as
    (target, amber or None, month); None where there is none."""
    if month is None:
        return None
    found = profiled.get(scope, {}).get(month) or profiled.get(PROFILE_ALL, {}).get(month)
    return (*found, month) if found else None


def _result(
    kpi: Kpi,
    client: str | None,
    quarter: Quarter,
    measure: measures.Measure,
    target: Decimal,
    amber: Decimal,
    judged: tuple[Decimal, Decimal | None, str] | None = None,
) -> Result:
    """A result judged against `target` and `amber` (the KPI's, or the client's SLA's), or
    against a profile where one applies: its amber, or, where it has none, one as far
    from its target as `amber` is from `target`."""
    month = None
    if judged is not None:
        profile_target, profile_amber, month = judged
        amber = profile_amber if profile_amber is not None else profile_target - (target - amber)
        target = profile_target
    status = measures.status(measure.value, target, amber, kpi.direction)
    return Result(kpi, client, quarter, measure, target, amber, status, False, profile_month=month)


def _combine(kpi: Kpi, parts: list[measures.Measure]) -> measures.Measure:
    """The whole centre's measure: sums of the clients' numerators and denominators."""
    numerator = sum((p.numerator for p in parts), ZERO)
    denominator = sum((p.denominator for p in parts), ZERO)
    return measures.ratio(
        numerator, denominator, kpi.unit == "percent", sum(p.events for p in parts)
    )


def _client_measures(
    session: Session, kpi: Kpi, quarter: Quarter, clients: dict[int, Client]
) -> dict[int, measures.Measure]:
    """Each relevant client's measure: those subscribed to the KPI's service in the quarter,
    with an SLA on the KPI, or with figures or events."""
    relevant = set(session.scalars(select(Sla.client_id).where(Sla.kpi_id == kpi.id)))
    if kpi.service_id is not None:
        relevant |= set(
            session.scalars(
                select(Subscription.client_id).where(
                    Subscription.service_id == kpi.service_id,
                    Subscription.start <= quarter.last_day,
                    Subscription.end.is_(None) | (Subscription.end >= quarter.first_day),
                )
            )
        )
    if kpi.method in FIGURE_METHODS:
        figures: dict[int, list[tuple[str, Decimal, Decimal]]] = defaultdict(list)
        for client_id, month, numerator, denominator in session.execute(
            select(
                KpiFigure.client_id, KpiFigure.month, KpiFigure.numerator, KpiFigure.denominator
            ).where(
                KpiFigure.kpi_id == kpi.id,
                KpiFigure.month.in_([str(m) for m in quarter.months()]),
            )
        ):
            figures[client_id].append((month, numerator, denominator))
        relevant |= set(figures)
        percent = kpi.unit == "percent"
        if kpi.method == "as_at":
            return {c: measures.as_at(figures.get(c, []), percent) for c in relevant}
        return {
            c: measures.submitted([(n, d) for _, n, d in figures.get(c, [])], percent)
            for c in relevant
        }
    times = _elapsed_times(session, kpi, quarter, clients)
    relevant |= set(times)
    if kpi.method == "within":
        limit = kpi.limit
        if limit is None:
            raise Refused(
                f"KPI {kpi.code} counts events within a time limit but has none: "
                "set it on the KPIs sheet"
            )
        return {c: measures.within(times.get(c, []), limit) for c in relevant}
    return {c: measures.average_elapsed(times.get(c, [])) for c in relevant}


def _elapsed_times(
    session: Session, kpi: Kpi, quarter: Quarter, clients: dict[int, Client]
) -> dict[int, list[Decimal]]:
    """Elapsed time of each event of the KPI's service completed in the quarter, by client:
    on the client's nation's calendar (and the service's opening hours), less any pause."""
    calendars = load_calendars(session)
    hours = load_opening_hours(session, kpi.service_id)
    clocks = {nation: ServiceClock(hours, calendar) for nation, calendar in calendars.items()}
    times: dict[int, list[Decimal]] = defaultdict(list)
    rows = session.execute(
        select(
            UsageEvent.client_id,
            UsageEvent.started_at,
            UsageEvent.completed_at,
            UsageEvent.paused_at,
            UsageEvent.resumed_at,
        ).where(
            UsageEvent.service_id == kpi.service_id,
            UsageEvent.started_at.is_not(None),
            UsageEvent.completed_at >= london_midnight_utc(quarter.first_day),
            UsageEvent.completed_at < london_midnight_utc(quarter.last_day + timedelta(days=1)),
        )
    )
    for client_id, started, completed, paused, resumed in rows:
        assert started is not None and completed is not None  # the query's condition
        nation = clients[client_id].nation
        pause = (paused, resumed) if paused is not None and resumed is not None else None
        times[client_id].append(
            measures.elapsed(
                started, completed, kpi.calendar, calendars[nation], clocks[nation], pause
            )
        )
    return times


def _frozen(session: Session, quarter: Quarter) -> list[Result]:
    rows = session.execute(
        select(KpiResult, Kpi, Client.code)
        .join(Kpi, KpiResult.kpi_id == Kpi.id)
        .outerjoin(Client, KpiResult.client_id == Client.id)
        .where(KpiResult.quarter == str(quarter))
        .order_by(Kpi.code, KpiResult.client_id.is_not(None), Client.code)
    )
    return [
        Result(
            kpi,
            code,
            quarter,
            measures.Measure(r.numerator, r.denominator, r.value, r.events),
            r.target,
            r.amber,
            r.status,
            True,
            profile_month=r.profile_month,
        )
        for r, kpi, code in rows
    ]


def _freeze(session: Session, results: list[Result]) -> None:
    ids = dict(session.execute(select(Client.code, Client.id)).all())
    for r in results:
        session.add(
            KpiResult(
                quarter=str(r.quarter),
                kpi_id=r.kpi.id,
                scope=r.client or CENTRE,
                client_id=ids[r.client] if r.client else None,
                value=round(r.measure.value, 6) if r.measure.value is not None else None,
                numerator=round(r.measure.numerator, 6),
                denominator=round(r.measure.denominator, 6),
                target=r.target,
                amber=r.amber,
                status=r.status,
                events=r.measure.events,
                profile_month=r.profile_month,
            )
        )
    session.flush()


@dataclass(frozen=True)
class Credit:
    """A service credit a final quarter raises for a client's next statement."""

    client_id: int
    client: str  # the client's code
    service_id: int
    amount: Decimal  # negative: a credit
    description: str
    reason: str
    corrects: str
    not_before: Month


def service_credits(session: Session, quarter: Quarter, results: list[Result]) -> list[Credit]:
    """A service credit for each red client result with an SLA credit percentage, capped:
    what finalising `results` raises, computed without writing anything."""
    last = quarter.months()[-1]  # the cap in force for the quarter, as its months were issued
    cap_percent = monthly_values(session, "service_credit_cap_percent", [last]).get(
        last, centre_settings(session).service_credit_cap_percent
    )
    ids = dict(session.execute(select(Client.code, Client.id)).all())
    slas = {(s.client_id, s.kpi_id): s for s in session.scalars(select(Sla))}
    services = {s.id: s for s in session.scalars(select(Service))}
    credited: dict[tuple[int, int], Decimal] = defaultdict(lambda: ZERO)
    charged = rated_charges(session, quarter.months())
    credits = []
    for r in results:
        if r.client is None or r.status != "red" or r.kpi.service_id is None:
            continue
        sla = slas.get((ids[r.client], r.kpi.id))
        if sla is None or not sla.service_credit_percent:
            continue
        key = (ids[r.client], r.kpi.service_id)
        charges = charged.get(key, ZERO)
        cap = round_money(charges * cap_percent / 100)
        due = round_money(charges * sla.service_credit_percent / 100)
        credit = min(due, cap - credited[key])
        if credit <= 0:
            continue
        credited[key] += credit
        service = services[r.kpi.service_id]
        unit = "%" if r.kpi.unit == "percent" else f" {r.kpi.unit}"
        credits.append(
            Credit(
                client_id=key[0],
                client=r.client,
                service_id=key[1],
                amount=-credit,
                description=f"{service.name}: service credit, {r.kpi.code} missed in {quarter}",
                reason=(
                    f"{r.kpi.name} ended red at {r.measure.value:.2f}{unit} against a target of "
                    f"{r.target.normalize():f}{unit}: {sla.service_credit_percent.normalize():f}% "
                    f"of {format_gbp(charges)} charged for {service.name} in {quarter}"
                    + (
                        f", limited to {format_gbp(credit)} by the cap of "
                        f"{cap_percent.normalize():f}% on a quarter's credits"
                        if credit < due
                        else ""
                    )
                ),
                corrects=f"{r.kpi.code} {quarter}",
                not_before=last + 1,
            )
        )
    return credits


def credits_due(session: Session, quarter: Quarter) -> list[Credit]:
    """The service credits finalising `quarter` now would raise (none once it is final)."""
    if quarter_is_final(session, quarter):
        return []
    return service_credits(session, quarter, _measure_all(session, quarter))


def _raise_credits(session: Session, quarter: Quarter, results: list[Result]) -> None:
    """Raise each of the quarter's service credits for the client's next statement."""
    for c in service_credits(session, quarter, results):
        raise_service_credit(
            session,
            client_id=c.client_id,
            service_id=c.service_id,
            amount=c.amount,
            description=c.description,
            reason=c.reason,
            corrects=c.corrects,
            not_before=c.not_before,
        )


def quarter_is_final(session: Session, quarter: Quarter) -> bool:
    """Whether `quarter` has been finalised (its results frozen)."""
    found = select(KpiResult.id).where(KpiResult.quarter == str(quarter)).limit(1)
    return session.scalar(found) is not None


def month_is_final(session: Session, month: Month) -> bool:
    """Whether the quarter holding `month` has been finalised."""
    return quarter_is_final(session, month.quarter)


def unit_costs(
    session: Session, quarter: Quarter, audience: Audience = STAFF
) -> list[dict[str, Any]]:
    """Cost per transaction for each service: charges for the quarter over units used
    (`cost_per_unit`, the price), per client and for the whole centre (client None), as far
    as `audience` may see them; no set-up needed. Where the cost ledger holds the quarter's
    actual costs, beside it the actual cost of a unit (the service's cost over all its
    units: a unit costs the same whoever uses it), and on the centre's row the unit's cost
    before sharing (the service's baseline) and what sharing saved on the quarter's units."""
    final = quarter_is_final(session, quarter)
    costed = costed_months(session, quarter.months())
    actual = service_costs(session, quarter.months()) if costed else {}
    clients = dict(session.execute(select(Client.id, Client.code)).all())
    services = {s.id: s for s in session.scalars(select(Service))}
    charged = charges_by_client_service(session, quarter.months())
    units = dict(
        ((client, service), quantity)
        for client, service, quantity in session.execute(
            select(UsageEvent.client_id, UsageEvent.service_id, func.sum(UsageEvent.quantity))
            .where(UsageEvent.month.in_([str(m) for m in quarter.months()]))
            .group_by(UsageEvent.client_id, UsageEvent.service_id)
        )
    )
    rows = []
    for service_id in sorted(services, key=lambda i: services[i].code):
        keys = sorted(
            (k for k in set(charged) | set(units) if k[1] == service_id),
            key=lambda k: clients[k[0]],
        )
        if not keys:
            continue
        total_charges = sum((charged.get(k, ZERO) for k in keys), ZERO)
        total_units = sum((units.get(k, ZERO) for k in keys), ZERO)
        service = services[service_id]
        cost = actual[service.code].amount if service.code in actual else None
        per_unit = cost / total_units if cost is not None and total_units else None
        for client, charges, used in [(None, total_charges, total_units)] + [
            (clients[k[0]], charged.get(k, ZERO), units.get(k, ZERO)) for k in keys
        ]:
            if not audience.sees_charges(client, final):
                continue
            rows.append(
                {
                    "service": service.code,
                    "unit": service.unit,
                    "client": client,
                    "quarter": str(quarter),
                    "charges": f"{charges:.2f}",
                    "units": _number(used, 6),
                    "cost_per_unit": _number(charges / used, 4) if used else None,
                    "actual_cost_per_unit": None if per_unit is None else _number(per_unit, 4),
                    **_sharing(service, client, cost, per_unit, used),
                }
            )
    return rows


def latest_costed_quarter(session: Session, upto: Quarter) -> Quarter:
    """The latest quarter up to `upto`, within a year of it, whose every month the cost
    ledger holds (so its true unit costs are whole); `upto` itself if none is."""
    quarter = upto
    for _ in range(4):
        if costed_months(session, quarter.months()):
            return quarter
        quarter = quarter.previous()
    return upto


def _sharing(
    service: Service,
    client: str | None,
    cost: Decimal | None,
    per_unit: Decimal | None,
    used: Decimal,
) -> dict[str, Any]:
    """The centre row's actual cost, the unit's cost before sharing and what sharing saved
    on the quarter's units at the actual cost (None where either is not known)."""
    baseline = service.baseline_unit_cost if client is None else None
    saving = None
    if baseline is not None and per_unit is not None:
        saving = f"{round_money((baseline - per_unit) * used):.2f}"
    return {
        "actual_cost": None if cost is None or client is not None else f"{cost:.2f}",
        "baseline_cost_per_unit": None if baseline is None else _number(baseline, 4),
        "baseline_period": service.baseline_period if baseline is not None else None,
        "saving": saving,
    }


def baselines(session: Session) -> dict[tuple[str, str | None], tuple[Decimal, str | None]]:
    """Pre-sharing baselines by (KPI code, client code or None for the centre)."""
    rows = session.execute(
        select(Kpi.code, KpiBaseline.scope, KpiBaseline.value, KpiBaseline.period).join(
            Kpi, KpiBaseline.kpi_id == Kpi.id
        )
    )
    return {
        (code, None if scope == CENTRE else scope): (value, period)
        for code, scope, value, period in rows
    }
