"""Budget estimates: each client's projected charges for a financial year.

Councils set their budgets in February for April, so the centre sends each client a
projection: last year's volumes, month for month, priced with the new year's tariffs
and subscriptions. Drivers missing for the new year fall back to last year's values,
and the workbook says so.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Font
from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.charges import year_inputs
from billing.engine import rate_year
from opsplatform.errors import Refused
from opsplatform.models import Client, Driver, Service, Tariff
from opsplatform.money import ZERO, round_money
from opsplatform.periods import FinancialYear
from opsplatform.settings import centre_settings
from opsplatform.workbooks import CellValue, active_sheet, write_cell, write_table


@dataclass
class ServiceProjection:
    service: str
    name: str
    unit: str
    quantity: Decimal
    monthly: list[Decimal]
    vat_rate: Decimal

    @property
    def net(self) -> Decimal:
        return sum(self.monthly, ZERO)

    @property
    def vat(self) -> Decimal:
        return sum((round_money(m * self.vat_rate / 100) for m in self.monthly), ZERO)


@dataclass
class Projection:
    year: FinancialYear
    basis: FinancialYear
    clients: dict[str, list[ServiceProjection]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def project_year(
    session: Session, year: FinancialYear, basis: FinancialYear | None = None
) -> Projection:
    """Price `basis` year's usage (default: the year before) with `year`'s tariffs."""
    basis = basis or year.previous()
    if not session.scalars(select(Tariff.id).where(Tariff.financial_year == str(year))).first():
        raise Refused(f"there are no tariffs for {year} yet: load them before estimating budgets")
    settings = centre_settings(session)
    inputs = year_inputs(session, year, year.last_month, settings.de_minimis, usage_from=basis)
    projection = Projection(year, basis)
    clients = {c.id: c.code for c in session.scalars(select(Client))}
    for driver in session.scalars(select(Driver).where(Driver.financial_year == str(basis))):
        key = (clients[driver.client_id], driver.driver)
        if key not in inputs.drivers:
            inputs.drivers[key] = driver.value
            projection.notes.append(
                f"{key[0]}: {driver.driver} for {year} not yet set; {basis} value "
                f"{driver.value.normalize():,f} used"
            )
    lines = rate_year(inputs, year.last_month)
    services = {s.code: s for s in session.scalars(select(Service))}
    amounts: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [ZERO] * 12)
    quantities: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for (client, service, month), ideal in lines.items():
        index = month - year.first_month
        amounts[(client, service)][index] += sum((line.amount for line in ideal), ZERO)
        quantities[(client, service)] += sum(
            (line.quantity for line in ideal if line.kind == "charge"), ZERO
        )
    for client, service in sorted(amounts):
        s = services[service]
        projection.clients.setdefault(client, []).append(
            ServiceProjection(
                service,
                s.name,
                s.unit,
                quantities[(client, service)],
                amounts[(client, service)],
                s.vat_rate,
            )
        )
    return projection


def write_budget_workbook(session: Session, projection: Projection, path: Path) -> None:
    """A summary of every client, then one sheet per client to send as its budget letter."""
    settings = centre_settings(session)
    names = dict(session.execute(select(Client.code, Client.name)).all())
    book = Workbook()
    summary = active_sheet(book)
    summary.title = "Summary"
    title = write_cell(
        summary, 1, 1, f"{settings.centre_name}: projected charges for {projection.year}"
    )
    title.font = Font(bold=True, size=14)
    write_cell(
        summary,
        2,
        1,
        f"Based on {projection.basis} volumes, month for month, at {projection.year} tariffs "
        "and subscriptions. Estimates, not bills.",
    )
    rows: list[list[CellValue]] = [
        [
            code,
            names[code],
            sum((p.net for p in ps), ZERO),
            sum((p.vat for p in ps), ZERO),
            sum((p.net + p.vat for p in ps), ZERO),
        ]
        for code, ps in projection.clients.items()
    ]
    write_table(
        summary,
        ["client", "name", "net", "VAT", "total"],
        rows,
        money_columns=(2, 3, 4),
        start_row=4,
        widths=[10, 40, 16, 14, 16],
    )
    months = [m.label for m in projection.year.months()]
    for code, services in projection.clients.items():
        ws = book.create_sheet(code)
        write_cell(ws, 1, 1, f"{names[code]}: projected charges for {projection.year}").font = Font(
            bold=True, size=14
        )
        write_cell(ws, 2, 1, f"From {settings.centre_name}; based on {projection.basis} volumes.")
        headers = [
            "service",
            "name",
            "unit",
            f"{projection.basis} quantity",
            "net",
            "VAT",
            "total",
            *months,
        ]
        body: list[list[CellValue]] = [
            [p.service, p.name, p.unit, p.quantity, p.net, p.vat, p.net + p.vat, *p.monthly]
            for p in services
        ]
        write_table(
            ws,
            headers,
            body,
            money_columns=range(4, 7 + 12),
            start_row=4,
            widths=[10, 30, 12, 16, 14, 12, 14, *[14] * 12],
        )
    if projection.notes:
        ws = book.create_sheet("Notes")
        write_table(ws, ["note"], [[n] for n in projection.notes], widths=[100])
    book.save(path)
