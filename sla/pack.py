"""The joint committee's quarterly pack: what a partnership board reads each quarter.

Budget against forecast outturn by service (from the cost ledger), each partner's
charges for the year so far against its budget letter, the KPIs with the managers'
commentary, the savings of sharing against the cost before sharing, and the open
queries; then a sheet for each partner with its own figures, its name on every printed
page. A read model (`board_pack`) for the page, and the workbook written from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.budget import project_year
from billing.charges import charges_by_client_service
from billing.outturn import costed_months, service_costs
from billing.reports import OpenQuery, open_queries
from opsplatform.errors import Refused
from opsplatform.models import Client, Service
from opsplatform.money import ZERO, format_gbp, round_money
from opsplatform.periods import Month, Quarter
from opsplatform.settings import centre_settings
from opsplatform.vocabulary import CostKind, Funding, KpiStatus
from opsplatform.workbooks import (
    CellValue,
    fit_row_height,
    fit_to_width,
    write_cell,
    write_table,
)
from sla.commentary import commentary
from sla.publication import COST_FORMAT, WRAP, Names, paint_status, value_text, write_title
from sla.service import Result, unit_costs, visible_results
from sla.visibility import STAFF


@dataclass(frozen=True)
class ServiceBudget:
    """A service's budget for the year against its forecast outturn: the actual cost of
    the months in the ledger and the budget of the months after them."""

    service: str
    name: str
    funding: str
    budget: Decimal
    budget_to_date: Decimal
    actual_to_date: Decimal
    forecast: Decimal

    @property
    def variance(self) -> Decimal:
        """Forecast less budget: an overspend above zero, an underspend below."""
        return self.forecast - self.budget


@dataclass(frozen=True)
class PartnerService:
    service: str
    name: str
    letter: Decimal | None  # the budget letter's net for the year; None: no letter
    charged: Decimal  # charged for the year's months to the quarter's end


@dataclass(frozen=True)
class PartnerPosition:
    client: str
    name: str
    services: list[PartnerService]
    results: list[Result]
    queries: list[OpenQuery]

    @property
    def letter(self) -> Decimal | None:
        letters = [s.letter for s in self.services if s.letter is not None]
        return sum(letters, ZERO) if letters else None

    @property
    def charged(self) -> Decimal:
        return sum((s.charged for s in self.services), ZERO)


@dataclass(frozen=True)
class BoardPack:
    centre: str
    quarter: Quarter
    final: bool
    months_elapsed: int  # of the year, to the quarter's end
    ledger_to: Month | None  # the last month of the year with actual costs, to the quarter's end
    letters_note: str | None  # why there are no budget letters, if there are none
    services: list[ServiceBudget]
    partners: list[PartnerPosition]
    kpis: list[Result]  # the whole centre's
    commentary: dict[str, str]
    savings: list[dict[str, Any]]  # the centre's rows of sla.service.unit_costs
    queries: list[OpenQuery]

    @property
    def budget(self) -> Decimal:
        return sum((s.budget for s in self.services), ZERO)

    @property
    def forecast(self) -> Decimal:
        return sum((s.forecast for s in self.services), ZERO)

    @property
    def saving(self) -> Decimal:
        return sum((Decimal(s["saving"]) for s in self.savings if s["saving"]), ZERO)

    def expected(self, letter: Decimal | None) -> Decimal | None:
        """What a budget letter's year comes to by the quarter's end, month for month."""
        return None if letter is None else round_money(letter * self.months_elapsed / 12)


def board_pack(session: Session, quarter: Quarter, today: date) -> BoardPack:
    """The pack for `quarter`, as of `today` (the open queries' ages)."""
    year = quarter.year
    to_date = [m for m in year.months() if m <= quarter.months()[-1]]
    ledgered = [m for m in to_date if costed_months(session, [m])]
    actual = service_costs(session, ledgered)
    budget = service_costs(session, year.months(), CostKind.BUDGET)
    budget_to_date = service_costs(session, to_date, CostKind.BUDGET)
    rest = [m for m in year.months() if not ledgered or m > ledgered[-1]]
    budget_rest = service_costs(session, rest, CostKind.BUDGET)
    services = [
        ServiceBudget(
            code,
            cost.name,
            cost.funding,
            budget[code].amount,
            budget_to_date[code].amount,
            cost.amount,
            cost.amount + budget_rest[code].amount,
        )
        for code, cost in actual.items()
        if budget[code].amount or cost.amount
    ]
    results = visible_results(session, quarter, STAFF)
    queries = open_queries(session, today)
    note, partners = _partners(session, quarter, to_date, results, queries)
    return BoardPack(
        centre_settings(session).centre_name,
        quarter,
        any(r.final for r in results),
        len(to_date),
        ledgered[-1] if ledgered else None,
        note,
        services,
        partners,
        [r for r in results if r.client is None],
        commentary(session, quarter),
        [c for c in unit_costs(session, quarter) if c["client"] is None],
        queries,
    )


def _partners(
    session: Session,
    quarter: Quarter,
    to_date: list[Month],
    results: list[Result],
    queries: list[OpenQuery],
) -> tuple[str | None, list[PartnerPosition]]:
    """Why there are no budget letters (or None), and each partner's position."""
    note = None
    try:
        letters = project_year(session, quarter.year).annual
    except Refused as refusal:
        letters, note = {}, f"no budget letters for {quarter.year}: {refusal}"
    charged = charges_by_client_service(session, to_date)
    clients = {c.id: c for c in session.scalars(select(Client))}
    services = {s.id: s for s in session.scalars(select(Service))}
    pairs: dict[str, dict[str, PartnerService]] = {}
    for (client_id, service_id), amount in charged.items():
        client, service = clients[client_id], services[service_id]
        letter = letters.get((client.code, service.code), {}).get(quarter.year)
        pairs.setdefault(client.code, {})[service.code] = PartnerService(
            service.code, service.name, letter, amount
        )
    for (client_code, service_code), by_year in letters.items():
        if quarter.year in by_year and service_code not in pairs.get(client_code, {}):
            name = next(s.name for s in services.values() if s.code == service_code)
            pairs.setdefault(client_code, {})[service_code] = PartnerService(
                service_code, name, by_year[quarter.year], ZERO
            )
    names = {c.code: c.name for c in clients.values()}
    partners = [
        PartnerPosition(
            code,
            names[code],
            sorted(pairs[code].values(), key=lambda s: s.name),
            [r for r in results if r.client == code],
            [q for q in queries if q.client == names[code]],
        )
        for code in sorted(pairs, key=lambda c: names[c])
    ]
    return note, partners


# -- the workbook ---------------------------------------------------------------------------

STATUS_WORDS = {s.value: s.label for s in KpiStatus}
# the widths of the results' and queries' tables, which a partner's sheet stacks on one
# another (its charges' table takes the results' first four)
_RESULTS = [46, 18, 18, 18, 70]
_QUERIES = [46, 18, 18, 18, 12]


def write_pack(session: Session, pack: BoardPack, path: Path) -> None:
    """The pack as a workbook: the partnership's sheets, then one for each partner."""
    names = Names.of(session)
    book = Workbook()
    heading = f"{pack.centre}: joint committee pack, {pack.quarter.label}"
    state = "final results" if pack.final else "provisional results, which may still change"
    summary = book.active
    assert summary is not None  # a new workbook has its first sheet
    summary.title = "Summary"
    write_title(summary, heading, state)
    _summary(summary, pack)
    _budget_sheet(book.create_sheet("Budget and outturn"), pack)
    _partners_sheet(book.create_sheet("Partners"), pack)
    _kpis_sheet(book.create_sheet("KPIs"), pack, names)
    _savings_sheet(book.create_sheet("Savings"), pack, names)
    _queries_sheet(book.create_sheet("Queries"), pack.queries)
    for partner in pack.partners:
        _partner_sheet(book, pack, partner)
    for sheet in book.worksheets:
        fit_to_width(sheet)
        if sheet.title in _SHARED:
            _page_header(sheet, pack.centre, pack.quarter)
    book.save(path)


_SHARED = ("Summary", "Budget and outturn", "Partners", "KPIs", "Savings", "Queries")


def _page_header(ws: Worksheet, who: str, quarter: Quarter) -> None:
    """Name whom a sheet concerns at the top of every page it prints on, and number pages."""
    header, footer = ws.oddHeader, ws.oddFooter
    assert header is not None and footer is not None  # openpyxl makes both with the sheet
    header.center.text = f"{who}: joint committee pack, {quarter.label}"
    footer.right.text = "Page &P of &N"


def _summary(ws: Worksheet, pack: BoardPack) -> None:
    counts = {s: sum(1 for r in pack.kpis if r.status == s) for s in KpiStatus}
    ledger = pack.ledger_to.label if pack.ledger_to else "no month yet"
    rows: list[list[CellValue]] = [
        ["Budget for the year", pack.budget],
        [f"Forecast outturn (actual costs to {ledger}, then budget)", pack.forecast],
        ["Forecast over (+) or under (-) budget", pack.forecast - pack.budget],
        ["Saved by sharing this quarter (against the cost before sharing)", pack.saving],
    ]
    rows += [[f"KPIs {s.label.lower()}", counts[s]] for s in KpiStatus]
    rows.append(["Open queries from partners", len(pack.queries)])
    last = _table(ws, ["Headline", "Figure"], rows, 4, [66, 18])
    for row in range(5, 9):
        ws.cell(row=row, column=2).number_format = COST_FORMAT
    contents: list[list[CellValue]] = [[f"{name}: {what}"] for name, what in _CONTENTS]
    contents += [[f"{p.name}: its charges, KPIs and queries"] for p in pack.partners]
    _table(ws, ["The sheets of this pack"], contents, last + 3, [66])
    ws.freeze_panes = None


def _table(
    ws: Worksheet,
    headers: list[str],
    rows: list[list[CellValue]],
    start: int,
    widths: list[int],
    money: tuple[int, ...] = (),
    total: bool = False,
) -> int:
    """A table at row `start`, its header row tall enough for its words, its last row in
    bold where it is a total; returns its last row."""
    last = write_table(ws, headers, rows, money_columns=money, start_row=start, widths=widths)
    fit_row_height(ws, start, zip(headers, widths, strict=False))
    if total and rows:
        for column in range(1, len(headers) + 1):
            ws.cell(row=last, column=column).font = Font(bold=True)
    return last


_CONTENTS = (
    ("Budget and outturn", "Each service's budget against its forecast outturn"),
    ("Partners", "Each partner's charges so far against its budget letter"),
    ("KPIs", "The whole centre's KPI results with the managers' commentary"),
    ("Savings", "What a unit costs now against before sharing"),
    ("Queries", "Partners' statement queries waiting for an answer"),
)


def _budget_sheet(ws: Worksheet, pack: BoardPack) -> None:
    ledger = pack.ledger_to.label if pack.ledger_to else "no month yet"
    write_title(
        ws,
        f"Budget and forecast outturn, {pack.quarter.year}",
        f"Forecast outturn: actual costs to {ledger}, then the budget for the months after",
    )
    rows: list[list[CellValue]] = [
        [
            s.name,
            Funding(s.funding).label.split(":")[0],
            s.budget,
            s.budget_to_date,
            s.actual_to_date,
            s.forecast,
            s.variance,
        ]
        for s in pack.services
    ]
    rows.append(
        ["All services", "", pack.budget, None, None, pack.forecast, pack.forecast - pack.budget]
    )
    headers = [
        "Service",
        "Funded on",
        "Budget",
        "Budget to date",
        "Actual to date",
        "Forecast outturn",
        "Over (+) or under (-)",
    ]
    _table(ws, headers, rows, 4, [36, 12, 16, 16, 16, 18, 18], (2, 3, 4, 5, 6), total=True)


def _partners_sheet(ws: Worksheet, pack: BoardPack) -> None:
    write_title(
        ws,
        f"Partners' charges against their budget letters, {pack.quarter.year}",
        pack.letters_note
        or f"Charged for the year's first {pack.months_elapsed} months; expected: the letter's "
        f"{pack.months_elapsed} twelfths",
    )
    rows: list[list[CellValue]] = []
    for p in pack.partners:
        expected = pack.expected(p.letter)
        rows.append(
            [
                p.name,
                p.letter,
                expected,
                p.charged,
                None if expected is None else p.charged - expected,
            ]
        )
    headers = [
        "Partner",
        "Budget letter for the year",
        "Expected by now",
        "Charged so far",
        "Over (+) or under (-)",
    ]
    _table(ws, headers, rows, 4, [36, 18, 18, 18, 18], (1, 2, 3, 4))


def _kpis_sheet(ws: Worksheet, pack: BoardPack, names: Names) -> None:
    write_title(ws, f"KPIs, {pack.quarter.label}", "The whole centre's results")
    _results(ws, pack.kpis, pack.commentary, 4)


def _results(ws: Worksheet, results: list[Result], notes: dict[str, str] | None, start: int) -> int:
    """The results as a table from row `start`, with the managers' commentary unless
    `notes` is None; returns its last row."""
    headers = ["KPI", "Result", "Target", "Status"] + ([] if notes is None else ["Commentary"])
    rows: list[list[CellValue]] = []
    for r in results:
        cells: list[CellValue] = [r.kpi.name, value_text(r.measure.value, r.kpi.unit)]
        cells += [value_text(r.target, r.kpi.unit), STATUS_WORDS[r.status]]
        rows.append(cells if notes is None else [*cells, notes.get(r.kpi.code, "")])
    if not rows:
        rows = [["No KPI results for the quarter"]]
    last = _table(ws, headers, rows, start, _RESULTS[: len(headers)])
    for row, r in enumerate(results, start=start + 1):
        paint_status(ws, row, 4, r.status)
        if notes is not None:
            for column in (1, 2, 3, 5):  # read across from the commentary's first line
                ws.cell(row=row, column=column).alignment = WRAP
            texts = [(r.kpi.name, _RESULTS[0]), (notes.get(r.kpi.code, ""), _RESULTS[4])]
            fit_row_height(ws, row, texts)
    return last


def _savings_sheet(ws: Worksheet, pack: BoardPack, names: Names) -> None:
    write_title(
        ws,
        f"Savings of sharing, {pack.quarter.label}",
        "A unit's actual cost now (the cost ledger) against its cost before sharing",
    )
    rows: list[list[CellValue]] = [
        [
            names.services[s["service"]],
            s["unit"],
            s["units"],
            s["actual_cost_per_unit"],
            s["baseline_cost_per_unit"],
            s["baseline_period"],
            None if s["saving"] is None else Decimal(s["saving"]),
        ]
        for s in pack.savings
    ]
    headers = [
        "Service",
        "Unit",
        "Units",
        "Cost per unit now",
        "Before sharing",
        "When",
        "Saved this quarter",
    ]
    _table(ws, headers, rows, 4, [36, 14, 12, 16, 16, 12, 18], (6,))
    for row in range(5, 5 + len(rows)):
        for column in (4, 5):
            ws.cell(row=row, column=column).number_format = COST_FORMAT


def _queries_sheet(ws: Worksheet, queries: list[OpenQuery], start: int = 4) -> int:
    if start == 4:
        write_title(ws, "Open queries", "Statement queries from partners waiting for an answer")
    rows: list[list[CellValue]] = [
        [q.client, q.number, q.line_position, q.raised_at.date(), q.age] for q in queries
    ] or [["No open queries"]]
    return _table(
        ws, ["Partner", "Statement", "Line", "Raised", "Days open"], rows, start, _QUERIES
    )


def _partner_sheet(book: Workbook, pack: BoardPack, partner: PartnerPosition) -> None:
    ws = book.create_sheet(partner.name[:31])
    _page_header(ws, partner.name, pack.quarter)
    write_title(ws, f"{partner.name}: joint committee pack", pack.quarter.label)
    rows: list[list[CellValue]] = [
        [s.name, s.letter, pack.expected(s.letter), s.charged] for s in partner.services
    ]
    rows.append(["All services", partner.letter, pack.expected(partner.letter), partner.charged])
    headers = ["Service", "Budget letter", "Expected by now", "Charged so far"]
    last = _table(ws, headers, rows, 4, _RESULTS[:4], (1, 2, 3), total=True)
    _heading(ws, last + 2, f"{partner.name}'s KPI results")
    last = _results(ws, partner.results, None, last + 3)
    _heading(ws, last + 2, f"{partner.name}'s open queries")
    _queries_sheet(ws, partner.queries, last + 3)
    ws.freeze_panes = None  # three tables, one under another: none holds the top


def _heading(ws: Worksheet, row: int, text: str) -> None:
    write_cell(ws, row, 1, text).font = Font(bold=True, size=12)


def pack_summary(pack: BoardPack) -> str:
    """The pack's headline in a sentence, for the command line."""
    return (
        f"{pack.centre}, {pack.quarter.label}: budget {format_gbp(pack.budget)}, forecast "
        f"outturn {format_gbp(pack.forecast)}; {len(pack.kpis)} KPIs; "
        f"{len(pack.partners)} partners; {len(pack.queries)} open queries"
    )
