"""The centre's current reference data as the setup workbook's rows, to download, edit and
load again.

`setup_rows` reads every sheet of importers.setup_sheets.SHEETS from the database, a row
per stored row in the sheet's key order, each cell as the sheet's parser reads it back to
the same value: codes for the rows a row names by id, numbers as numbers, dates as dates,
defaults written out. So a workbook written from them (importers.templates) loads back
with every row unchanged. `centre_codes` gives the codes the templates' drop-down lists
offer. Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from importers.setup_sheets import SHEETS
from opsplatform.calendars import WEEKDAYS
from opsplatform.models import (
    PROFILE_ALL,
    CalendarOverride,
    Client,
    CostCentreShare,
    Driver,
    Estimate,
    Kpi,
    KpiBaseline,
    KpiProfile,
    PostingColumn,
    Service,
    ServiceHours,
    Setting,
    Sla,
    Subscription,
    Tariff,
)
from opsplatform.workbooks import CellValue

SheetRows = dict[str, list[list[CellValue]]]  # each sheet's rows by name, without the header


def cell_value(value: CellValue) -> CellValue:
    """A stored value as a cell that reads back the same: a number without its stored
    trailing zeros, as a number where a spreadsheet's float holds it exactly and as text
    where it does not (more than 15 significant digits); anything else as it is."""
    if not isinstance(value, Decimal):
        return value
    exact = value.quantize(1) if value == value.to_integral_value() else value.normalize()
    return exact if Decimal(repr(float(exact))) == exact else f"{exact:f}"


def _settings(session: Session) -> Iterator[Sequence[CellValue]]:
    for s in session.scalars(select(Setting).order_by(Setting.key)):
        yield s.key, s.value


def _clients(session: Session) -> Iterator[Sequence[CellValue]]:
    for c in session.scalars(select(Client).order_by(Client.code)):
        yield (
            c.code,
            c.name,
            c.nation,
            c.email,
            c.address,
            c.vat_number,
            c.vat_recoverable_code,
            c.creditors_code,
        )


def _services(session: Session) -> Iterator[Sequence[CellValue]]:
    for s in session.scalars(select(Service).order_by(Service.code)):
        yield (
            s.code,
            s.name,
            s.unit,
            s.vat_rate,
            s.cost_centre,
            s.subjective,
            s.funding,
            s.baseline_unit_cost,
            s.baseline_period,
        )


def _service_hours(session: Session) -> Iterator[Sequence[CellValue]]:
    query = select(ServiceHours, Service.code).join(Service, ServiceHours.service_id == Service.id)
    rows = sorted(session.execute(query), key=lambda r: (r[1], WEEKDAYS.index(r[0].weekday)))
    for h, service in rows:
        yield service, h.weekday, h.open, h.close


def _subscriptions(session: Session) -> Iterator[Sequence[CellValue]]:
    query = (
        select(Subscription, Client.code, Service.code)
        .join(Client, Subscription.client_id == Client.id)
        .join(Service, Subscription.service_id == Service.id)
        .order_by(Client.code, Service.code, Subscription.start)
    )
    for s, client, service in session.execute(query):
        yield (
            client,
            service,
            s.start,
            s.end,
            s.tier,
            s.po_number,
            s.vat,
            s.client_cost_centre,
            s.client_subjective,
            s.basis,
            s.notice_months,
            s.review_date,
            s.notice_given,
        )


def _cost_centres(session: Session) -> Iterator[Sequence[CellValue]]:
    query = (
        select(CostCentreShare, Service.code)
        .join(Service, CostCentreShare.service_id == Service.id)
        .order_by(CostCentreShare.cost_centre, Service.code)
    )
    for c, service in session.execute(query):
        yield c.cost_centre, service, c.name, c.share, c.driver


def _drivers(session: Session) -> Iterator[Sequence[CellValue]]:
    query = (
        select(Driver, Client.code)
        .join(Client, Driver.client_id == Client.id)
        .order_by(Client.code, Driver.financial_year, Driver.driver)
    )
    for d, client in session.execute(query):
        yield client, d.financial_year, d.driver, d.value


def _tariffs(session: Session) -> Iterator[Sequence[CellValue]]:
    query = (
        select(Tariff, Service.code, Client.code)
        .join(Service, Tariff.service_id == Service.id)
        .outerjoin(Client, Tariff.client_id == Client.id)
        .order_by(Service.code, Tariff.financial_year, Tariff.scope)
    )
    for t, service, client in session.execute(query):
        yield (
            service,
            t.financial_year,
            t.rule,
            client,
            t.tier,
            t.rate,
            t.bands,
            t.annual_amount,
            t.driver,
            t.minimum,
            t.annual_cap,
            t.billing,
            t.true_up_tolerance,
        )


def _estimates(session: Session) -> Iterator[Sequence[CellValue]]:
    query = (
        select(Estimate, Client.code, Service.code)
        .join(Client, Estimate.client_id == Client.id)
        .join(Service, Estimate.service_id == Service.id)
        .order_by(Client.code, Service.code, Estimate.financial_year)
    )
    for e, client, service in session.execute(query):
        yield client, service, e.financial_year, e.quantity


def _kpis(session: Session) -> Iterator[Sequence[CellValue]]:
    query = select(Kpi, Service.code).outerjoin(Service, Kpi.service_id == Service.id)
    for k, service in session.execute(query.order_by(Kpi.code)):
        yield (
            k.code,
            k.name,
            service,
            k.unit,
            k.direction,
            k.target,
            k.amber,
            k.method,
            k.limit,
            k.calendar,
        )


def _slas(session: Session) -> Iterator[Sequence[CellValue]]:
    query = (
        select(Sla, Client.code, Kpi.code)
        .join(Client, Sla.client_id == Client.id)
        .join(Kpi, Sla.kpi_id == Kpi.id)
        .order_by(Client.code, Kpi.code)
    )
    for s, client, kpi in session.execute(query):
        yield client, kpi, s.target, s.amber, s.service_credit_percent


def _holidays(session: Session) -> Iterator[Sequence[CellValue]]:
    query = select(CalendarOverride).order_by(CalendarOverride.nation, CalendarOverride.day)
    for h in session.scalars(query):
        yield h.nation, h.day, h.action, h.name


def _baselines(session: Session) -> Iterator[Sequence[CellValue]]:
    query = (
        select(KpiBaseline, Kpi.code)
        .join(Kpi, KpiBaseline.kpi_id == Kpi.id)
        .order_by(Kpi.code, KpiBaseline.scope)
    )
    for b, kpi in session.execute(query):
        yield kpi, None if b.scope == "centre" else b.scope, b.value, b.period


def _profiles(session: Session) -> Iterator[Sequence[CellValue]]:
    query = (
        select(KpiProfile, Kpi.code)
        .join(Kpi, KpiProfile.kpi_id == Kpi.id)
        .order_by(Kpi.code, KpiProfile.scope != PROFILE_ALL, KpiProfile.scope, KpiProfile.month)
    )
    for p, kpi in session.execute(query):
        yield kpi, None if p.scope == PROFILE_ALL else p.scope, p.month, p.target, p.amber


def _posting_columns(session: Session) -> Iterator[Sequence[CellValue]]:
    owner = aliased(Client)
    query = (
        select(PostingColumn, owner.code)
        .join(owner, PostingColumn.client_id == owner.id)
        .order_by(owner.code, PostingColumn.position)
    )
    for p, client in session.execute(query):
        yield client, p.position, p.heading, p.source


# each sheet's rows, in the order of its columns (importers.setup_sheets.SHEETS)
_READERS: dict[str, Callable[[Session], Iterator[Sequence[CellValue]]]] = {
    "Settings": _settings,
    "Clients": _clients,
    "Services": _services,
    "ServiceHours": _service_hours,
    "Subscriptions": _subscriptions,
    "CostCentres": _cost_centres,
    "Drivers": _drivers,
    "Tariffs": _tariffs,
    "Estimates": _estimates,
    "KPIs": _kpis,
    "SLAs": _slas,
    "Holidays": _holidays,
    "Baselines": _baselines,
    "Profiles": _profiles,
    "PostingColumns": _posting_columns,
}


def setup_rows(session: Session) -> SheetRows:
    """Every setup sheet's rows as the database holds them now, in SHEETS' order."""
    return {
        sheet.name: [[cell_value(v) for v in row] for row in _READERS[sheet.name](session)]
        for sheet in SHEETS
    }


def centre_codes(session: Session) -> dict[str, list[str]]:
    """The codes a centre's templates offer in their drop-down lists: its clients,
    services and KPIs, in code order."""
    return {
        "client": list(session.scalars(select(Client.code).order_by(Client.code))),
        "service": list(session.scalars(select(Service.code).order_by(Service.code))),
        "kpi": list(session.scalars(select(Kpi.code).order_by(Kpi.code))),
    }
