"""What clients are charged: the engine's inputs loaded from the database, what the
tariffs say a client's use costs now, and what statements have charged for it.

`year_inputs` feeds the month close, the budget projection and `rated_charges` (the
base of a quarter's service credits); `subscriptions_in` tells the budget projection
which months of its base year each client was subscribed; `charges_by_client_service`
is what cost per transaction divides.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing.engine import Subscribed, Terms, YearInputs, rate_year
from billing.models import Statement, StatementLine
from billing.rules import parse_bands
from opsplatform.models import Client, Driver, Estimate, Service, Subscription, Tariff, UsageEvent
from opsplatform.money import ZERO
from opsplatform.periods import FinancialYear, Month
from opsplatform.settings import centre_settings, monthly_values

# the kinds of statement line that price usage (not adjustments or credits)
RATED_KINDS = ("charge", "prior_period", "true_up", "carried_forward")


def year_inputs(
    session: Session,
    year: FinancialYear,
    upto: Month,
    de_minimis: Decimal,
    usage_from: FinancialYear | None = None,
    tariffs_from: FinancialYear | None = None,
) -> YearInputs:
    """Load what the engine needs for a financial year, aggregating usage in SQL.

    With `usage_from`, that year's usage stands in for this year's, month for month
    (a projection from last year's volumes); with `tariffs_from`, that year's tariffs
    stand in for this year's (a projection beyond the last tariffs set).
    """
    client_code = dict(session.execute(select(Client.id, Client.code)).all())
    service_code = dict(session.execute(select(Service.id, Service.code)).all())
    units = dict(session.execute(select(Service.code, Service.unit)).all())
    subscriptions = subscriptions_in(session, year, tariffs_from)
    tariffs = [
        Terms(
            id=t.id,
            version=t.version,
            service=service_code[t.service_id],
            scope=t.scope,
            rule=t.rule,
            rate=t.rate,
            bands=tuple(parse_bands(t.bands, t.rule)) if t.bands else (),
            annual_amount=t.annual_amount,
            driver=t.driver,
            minimum=t.minimum,
            annual_cap=t.annual_cap,
            billing=t.billing,
            true_up_tolerance=t.true_up_tolerance,
        )
        for t in session.scalars(
            select(Tariff).where(Tariff.financial_year == str(tariffs_from or year))
        )
    ]
    source = usage_from or year
    shift = 12 * (year.start_year - source.start_year)
    usage_rows = session.execute(
        select(
            UsageEvent.client_id,
            UsageEvent.service_id,
            UsageEvent.month,
            func.sum(UsageEvent.quantity),
        )
        .where(UsageEvent.month >= str(source.first_month), UsageEvent.month <= str(upto + -shift))
        .group_by(UsageEvent.client_id, UsageEvent.service_id, UsageEvent.month)
    )
    usage = {
        (client_code[c], service_code[s], Month.parse(m) + shift): q for c, s, m, q in usage_rows
    }
    drivers = {
        (client_code[d.client_id], d.driver): d.value
        for d in session.scalars(select(Driver).where(Driver.financial_year == str(year)))
    }
    estimates = {
        (client_code[e.client_id], service_code[e.service_id]): e.quantity
        for e in session.scalars(select(Estimate).where(Estimate.financial_year == str(year)))
    }
    return YearInputs(
        year,
        units,
        subscriptions,
        tariffs,
        usage,
        drivers,
        estimates,
        de_minimis,
        monthly_values(session, "de_minimis", year.months()),
    )


def _subscribed(s: Subscription, client: str, service: str, pooled: bool) -> Subscribed:
    """A subscription as the engine rates it: a leaver of a pooled service that gave
    notice is in the pool until its notice ends (docs/CHARGING.md, exit terms)."""
    notice_ends = s.notice_ends() if pooled else None
    if s.end is not None and notice_ends is not None and notice_ends > s.end:
        return Subscribed(client, service, s.start, notice_ends, s.tier, left=s.end)
    return Subscribed(client, service, s.start, s.end, s.tier)


def subscriptions_in(
    session: Session, year: FinancialYear, tariffs_from: FinancialYear | None = None
) -> list[Subscribed]:
    """Every subscription active on any day of `year`, as the engine rates it: a leaver
    of a pooled service (an apportion tariff of `tariffs_from or year`) that gave notice
    is in the pool until its notice ends (docs/CHARGING.md, exit terms)."""
    pooled = set(
        session.scalars(
            select(Tariff.service_id).where(
                Tariff.financial_year == str(tariffs_from or year), Tariff.rule == "apportion"
            )
        )
    )
    client_code = dict(session.execute(select(Client.id, Client.code)).all())
    service_code = dict(session.execute(select(Service.id, Service.code)).all())
    found = [
        _subscribed(s, client_code[s.client_id], service_code[s.service_id], s.service_id in pooled)
        for s in session.scalars(select(Subscription).where(Subscription.start <= year.last_day))
    ]
    return [s for s in found if s.end is None or s.end >= year.first_day]


def charges_by_client_service(
    session: Session, months: list[Month]
) -> dict[tuple[int, int], Decimal]:
    """What each client has been charged for each service for the given months, on any
    statement (charges and their re-ratings; not adjustments or credits), by ids."""
    rows = session.execute(
        select(Statement.client_id, StatementLine.service_id, func.sum(StatementLine.amount))
        .join(Statement, StatementLine.statement_id == Statement.id)
        .where(
            StatementLine.service_id.is_not(None),
            StatementLine.period.in_([str(m) for m in months]),
            StatementLine.kind.in_(RATED_KINDS),
        )
        .group_by(Statement.client_id, StatementLine.service_id)
    )
    charged = {}
    for client, service, amount in rows:
        assert service is not None  # the query's condition
        charged[(client, service)] = amount
    return charged


def rated_charges(session: Session, months: list[Month]) -> dict[tuple[int, int], Decimal]:
    """What each client's use of each service costs for the given months of one financial
    year, by (client id, service id), as the tariffs say now, closed or not."""
    year = months[0].financial_year
    settings = centre_settings(session)
    ideal = rate_year(year_inputs(session, year, max(months), settings.de_minimis), max(months))
    clients = dict(session.execute(select(Client.code, Client.id)).all())
    services = dict(session.execute(select(Service.code, Service.id)).all())
    totals: dict[tuple[int, int], Decimal] = defaultdict(lambda: ZERO)
    for (client, service, month), lines in ideal.items():
        if month in months:
            totals[(clients[client], services[service])] += sum((x.amount for x in lines), ZERO)
    return dict(totals)
