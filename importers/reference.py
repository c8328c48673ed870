"""The centre's reference data as staff read it: clients, services, subscriptions and a
year's tariffs, with who takes what.

Read models: plain functions on a Session returning plain dataclasses (codes, names,
values and dates), which outlive the session; the pages (entrypoints/web/reference.py)
choose the words. They live beside the setup workbook that writes this data, so that
what a page shows and what a workbook loads are read from the same tables in the same
terms (docs/ARCHITECTURE.md). Nothing here writes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from billing.rules import Band, parse_bands
from opsplatform.models import Client, Service, Subscription, Tariff
from opsplatform.vocabulary import SubscriptionStatus


@dataclass(frozen=True)
class Named:
    """A client or service by its code and name."""

    code: str
    name: str


@dataclass(frozen=True)
class ClientEntry:
    code: str
    name: str
    nation: str
    address: str | None
    vat_number: str | None
    email: str | None
    takes: list[Named]  # the services it is subscribed to now or from a later day


@dataclass(frozen=True)
class ServiceEntry:
    code: str
    name: str
    unit: str
    vat_rate: Decimal
    cost_centre: str | None
    subjective: str | None
    taken_by: list[Named]  # the clients subscribed to it now or from a later day


@dataclass(frozen=True)
class SubscriptionEntry:
    client: Named
    service: Named
    start: date
    end: date | None
    tier: str
    po_number: str | None
    vat: str
    basis: str | None
    notice_months: int | None
    notice_given: date | None
    notice_ends: date | None
    review_date: date | None
    status: SubscriptionStatus


@dataclass(frozen=True)
class TariffEntry:
    service: Named
    unit: str
    scope: str  # all, tier:NAME or client:CODE
    rule: str
    rate: Decimal | None
    bands: list[Band]
    annual_amount: Decimal | None
    driver: str | None
    minimum: Decimal | None
    annual_cap: Decimal | None
    billing: str
    true_up_tolerance: Decimal
    version: int


def status_of(subscription: Subscription, today: date) -> SubscriptionStatus:
    """Where a subscription stands on `today`: a leaver that gave notice is in notice until
    its notice or its subscription runs out, whichever is later."""
    if subscription.start > today:
        return SubscriptionStatus.FUTURE
    last = max(filter(None, (subscription.end, subscription.notice_ends())), default=None)
    if last is not None and last < today:
        return SubscriptionStatus.ENDED
    if subscription.notice_given is not None and subscription.end is not None:
        return SubscriptionStatus.NOTICE
    return SubscriptionStatus.ACTIVE


def _current(session: Session, today: date) -> list[Subscription]:
    """Subscriptions running on `today` or starting later, with their client and service."""
    return list(
        session.scalars(
            select(Subscription)
            .options(selectinload(Subscription.client), selectinload(Subscription.service))
            .where((Subscription.end.is_(None)) | (Subscription.end >= today))
        )
    )


def clients(session: Session, today: date) -> list[ClientEntry]:
    """Every client in code order, with the services it takes."""
    takes: dict[int, set[Named]] = defaultdict(set)
    for s in _current(session, today):
        takes[s.client_id].add(Named(s.service.code, s.service.name))
    return [
        ClientEntry(
            c.code,
            c.name,
            c.nation,
            c.address,
            c.vat_number,
            c.email,
            sorted(takes[c.id], key=lambda n: n.code),
        )
        for c in session.scalars(select(Client).order_by(Client.code))
    ]


def services(session: Session, today: date) -> list[ServiceEntry]:
    """Every service in code order, with the clients that take it."""
    taken: dict[int, set[Named]] = defaultdict(set)
    for s in _current(session, today):
        taken[s.service_id].add(Named(s.client.code, s.client.name))
    return [
        ServiceEntry(
            s.code,
            s.name,
            s.unit,
            s.vat_rate,
            s.cost_centre,
            s.subjective,
            sorted(taken[s.id], key=lambda n: n.code),
        )
        for s in session.scalars(select(Service).order_by(Service.code))
    ]


def subscriptions(
    session: Session, today: date, client: str | None = None, service: str | None = None
) -> list[SubscriptionEntry]:
    """Every subscription (of `client` and to `service`, when named), by client, service
    and start, with where it stands on `today`."""
    query = (
        select(Subscription)
        .join(Client, Subscription.client_id == Client.id)
        .join(Service, Subscription.service_id == Service.id)
        .options(selectinload(Subscription.client), selectinload(Subscription.service))
        .order_by(Client.code, Service.code, Subscription.start)
    )
    if client:
        query = query.where(Client.code == client)
    if service:
        query = query.where(Service.code == service)
    return [
        SubscriptionEntry(
            Named(s.client.code, s.client.name),
            Named(s.service.code, s.service.name),
            s.start,
            s.end,
            s.tier,
            s.po_number,
            s.vat,
            s.basis,
            s.notice_months,
            s.notice_given,
            s.notice_ends(),
            s.review_date,
            status_of(s, today),
        )
        for s in session.scalars(query)
    ]


def tariff_years(session: Session) -> list[str]:
    """The financial years that have tariffs, latest first."""
    found = session.scalars(select(Tariff.financial_year).distinct())
    return sorted(found, reverse=True)


def tariffs(session: Session, year: str) -> list[TariffEntry]:
    """Year `year`'s tariffs by service, then scope: general, a client's, a tier's."""
    query = (
        select(Tariff)
        .join(Service, Tariff.service_id == Service.id)
        .options(selectinload(Tariff.service))
        .where(Tariff.financial_year == year)
        .order_by(Service.code, Tariff.scope)
    )
    return [
        TariffEntry(
            Named(t.service.code, t.service.name),
            t.service.unit,
            t.scope,
            t.rule,
            t.rate,
            parse_bands(t.bands, t.rule) if t.bands else [],
            t.annual_amount,
            t.driver,
            t.minimum,
            t.annual_cap,
            t.billing,
            t.true_up_tolerance,
            t.version,
        )
        for t in session.scalars(query)
    ]
