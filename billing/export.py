"""The statement workbook: what a client council's finance team receives with a statement.

Three sheets: "Statement" (who, when, how much, every line with the sentence that explains
it and its VAT and ledger codes, then VAT by rate; a statement that charges VAT is headed
"VAT invoice" and gives what one must, HMRC VAT Notice 700/21 section 16), "Ties to
statement" (each charge line's quantity against the usage behind it) and "Usage detail"
(every usage event behind the charge lines). The book is written in openpyxl's write-only
mode and the events are streamed from the database, so a month of 100,000 events stays
quick and light on memory. Text that people typed is always stored as text, never as a
formula.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from sqlalchemy import Result, select
from sqlalchemy.orm import Session

from billing.models import Statement, StatementLine
from billing.statements import VatBand, charges_vat, issued_on, vat_by_rate
from opsplatform.errors import Refused
from opsplatform.models import Subscription, UsageEvent
from opsplatform.periods import Month, to_london
from opsplatform.settings import CentreSettings, centre_settings
from opsplatform.vocabulary import LineKind
from opsplatform.workbooks import (
    DATE_FORMAT,
    HEADER_FILL,
    HEADER_FONT,
    MONEY_FORMAT,
    QUANTITY_FORMAT,
    CellValue,
    fit_row_height,
    fit_to_width,
    setup_of,
)

LINE_HEADERS = [
    "Line",
    "Service",
    "Description",
    "Kind",
    "Period",
    "Quantity",
    "Unit price",
    "Basis",
    "Net",
    "VAT code",
    "VAT rate",
    "VAT",
    "Total",
    "Centre cost centre",
    "Centre subjective",
    "Client cost centre",
    "Client subjective",
    "Purchase order",
]
LINE_WIDTHS = [7, 13, 46, 22, 11, 11, 11, 55, 14, 7, 9, 12, 14, 12, 12, 12, 12, 19]
TIE_HEADERS = [
    "Service",
    "Period",
    "Quantity on statement",
    "Quantity in usage detail",
    "Events",
    "Statement less detail",
    "Note",
]
TIE_WIDTHS = [11, 11, 14, 14, 10, 12, 70]
DETAIL_HEADERS = [
    "Service",
    "Date",
    "Event ID",
    "Reference",
    "Quantity",
    "Started at",
    "Completed at",
    "Batch",
]
DETAIL_WIDTHS = [11, 12, 26, 32, 11, 17, 17, 8]

TEXT_FORMAT = "@"
DATETIME_FORMAT = "dd/mm/yyyy hh:mm"
MONTH_FORMAT = "mmm yyyy"
RATE_FORMAT = '"£"#,##0.00##;-"£"#,##0.00##'  # the minus before the pound, as MONEY_FORMAT
WHOLE_FORMAT = "#,##0"
DAYS_FORMAT = '0 "days"'
DETAIL_FORMATS = [
    TEXT_FORMAT,
    DATE_FORMAT,
    TEXT_FORMAT,
    TEXT_FORMAT,
    None,
    DATETIME_FORMAT,
    DATETIME_FORMAT,
    None,
]  # one per detail column: None leaves a plain value (General format)
TITLE_FONT = Font(bold=True, size=14)
BOLD = Font(bold=True)
DRAFT_FONT = Font(bold=True, color="C00000")
WRAP = Alignment(wrap_text=True, vertical="top")
TOP = Alignment(vertical="top")
RIGHT = Alignment(horizontal="right")
CENTRE = Alignment(horizontal="center", vertical="top")
# a code kept clear of the money to its left
INDENTED = Alignment(horizontal="left", indent=1, vertical="top")
WRAP_INDENTED = Alignment(wrap_text=True, indent=1, vertical="top")
TOTAL_BORDER = Border(top=Side(style="thin"), bottom=Side(style="double"))
DETAIL_FETCH = 5000


@dataclass
class _TieOut:
    """A charge line's quantity, against the usage events written to the detail sheet."""

    service_id: int
    service: str
    period: str
    on_statement: Decimal
    in_detail: Decimal = Decimal(0)
    events: int = 0

    @property
    def difference(self) -> Decimal:
        return self.on_statement - self.in_detail


def write_statement_workbook(session: Session, statement: Statement, path: Path) -> None:
    """Write the statement's workbook to `path`, which is replaced only once it is complete."""
    if not path.parent.is_dir():
        raise Refused(f"{path.parent}: no such folder")
    book = Workbook(write_only=True)
    cover = book.create_sheet("Statement")
    ties = book.create_sheet("Ties to statement")
    detail = book.create_sheet("Usage detail")
    _write_statement_sheet(session, cover, statement)
    tie_outs = _charge_tie_outs(statement)
    _write_usage_detail(session, detail, statement.client_id, tie_outs)
    _write_tie_outs(ties, tie_outs, statement.status)
    partial = path.with_name(f".{path.name}.partial")
    try:
        book.save(partial)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def _write_statement_sheet(session: Session, ws: WriteOnlyWorksheet, statement: Statement) -> None:
    """The cover block (who, when, terms, purchase orders), the lines and their totals."""
    cover = _cover_rows(session, ws, statement)
    header_row = len(cover) + 1
    _lay_out(ws, LINE_WIDTHS, header_row)
    for row in cover:
        ws.append(row)
    fit_row_height(setup_of(ws), header_row, zip(LINE_HEADERS, LINE_WIDTHS, strict=True))
    ws.append(_header(ws, LINE_HEADERS))
    wrapped = [LINE_WIDTHS[LINE_HEADERS.index(header)] for header in ("Description", "Basis")]
    for number, line in enumerate(statement.lines, start=header_row + 1):
        fit_row_height(
            setup_of(ws), number, zip((line.description, line.basis), wrapped, strict=True)
        )
        ws.append(_line_row(ws, line))
    last_line_row = header_row + len(statement.lines)
    last_column = get_column_letter(len(LINE_HEADERS))
    setup_of(ws).auto_filter.ref = f"A{header_row}:{last_column}{last_line_row}"
    ws.append([])
    ws.append(_totals_row(ws, statement))
    ws.append([])
    ws.append(_at(ws, {"Basis": _cell(ws, "VAT by rate", font=BOLD, alignment=RIGHT)}))
    for band in vat_by_rate(statement):
        ws.append(_band_row(ws, band))
    ws.append([])
    ws.append([_cell(ws, "Please quote the statement number with any payment or query.")])
    ws.append([])
    for row in _how_to_pay_rows(ws, centre_settings(session)):
        ws.append(row)


def _how_to_pay_rows(ws: WriteOnlyWorksheet, settings: CentreSettings) -> list[list[object]]:
    """ "How to pay" and the centre's remittance details (label in column A, value in C),
    as the Settings give them; a line saying whom to ask when none are set."""
    rows: list[list[object]] = [[_cell(ws, "How to pay", font=BOLD)]]
    for what, value in settings.remittance():
        rows.append([_cell(ws, what, font=BOLD), None, _cell(ws, value, number_format=TEXT_FORMAT)])
    if len(rows) == 1:
        rows.append([_cell(ws, "Ask the centre's finance team for its bank details.")])
    return rows


def _cover_rows(
    session: Session, ws: WriteOnlyWorksheet, statement: Statement
) -> list[list[object]]:
    """Label-value rows: labels in column A (spilling into B), values in column C. A
    statement that charges VAT is headed "VAT invoice" and gives its tax point."""
    settings = centre_settings(session)
    client = statement.client
    month = Month.parse(statement.month)
    vat_invoice = charges_vat(statement)
    status = (
        _cell(ws, "Issued")
        if statement.status == "issued"
        else _cell(ws, "DRAFT: not yet issued; amounts may still change", font=DRAFT_FONT)
    )
    issue_date = issued_on(statement) or "not yet issued"
    due_date = statement.due_date or "not yet issued"
    details: list[tuple[str, Cell | CellValue]] = [
        ("Centre address", _one_line(settings.centre_address) or "not recorded"),
        ("Centre VAT number", settings.vat_number or "not recorded"),
        ("Client", client.name),
        ("Client code", client.code),
        ("Client address", _one_line(client.address) or "none given"),
        ("Client VAT number", client.vat_number or "none given"),
        ("Statement number", statement.number),
        ("Month", month.label),
        ("Status", status),
        ("Issue date", issue_date),
        *([("Tax point", issue_date)] if vat_invoice else []),
        ("Due date", due_date),
        ("Payment terms", _cell(ws, settings.payment_terms_days, number_format=DAYS_FORMAT)),
        ("Purchase order(s)", ", ".join(_po_numbers(session, statement, month)) or "none given"),
        ("Amount due", _cell(ws, statement.total, number_format=MONEY_FORMAT, font=BOLD)),
    ]
    rows: list[list[object]] = [
        [_cell(ws, settings.centre_name, font=TITLE_FONT)],
        [_cell(ws, "VAT invoice" if vat_invoice else "Statement of charges", font=BOLD)],
        [],
    ]
    for label, value in details:
        cell = value if isinstance(value, Cell) else _cell(ws, value)
        rows.append([_cell(ws, label, font=BOLD), None, cell])
    rows.append([])
    return rows


def _one_line(address: str | None) -> str:
    """An address typed on several lines, on one: `Civic Centre, Poulton FY6 7PU`."""
    return ", ".join(line.strip() for line in (address or "").splitlines() if line.strip())


def _po_numbers(session: Session, statement: Statement, month: Month) -> list[str]:
    """The distinct purchase order numbers of the client's subscriptions active in `month`."""
    return list(
        session.scalars(
            select(Subscription.po_number)
            .where(
                Subscription.client_id == statement.client_id,
                Subscription.po_number.is_not(None),
                Subscription.po_number != "",
                Subscription.start <= month.last_day,
                Subscription.end.is_(None) | (Subscription.end >= month.first_day),
            )
            .distinct()
            .order_by(Subscription.po_number)
        )
    )


def _line_row(ws: WriteOnlyWorksheet, line: StatementLine) -> list[Cell | None]:
    rate = (
        _cell(ws, line.rate, number_format=RATE_FORMAT, alignment=TOP)
        if line.rate is not None
        else None
    )
    return [
        _cell(ws, line.position, alignment=TOP),
        _cell(ws, line.service.code if line.service else None, alignment=INDENTED),
        _cell(ws, line.description, alignment=WRAP),
        _cell(ws, LineKind(line.kind).label, alignment=TOP),
        _cell(ws, Month.parse(line.period).first_day, number_format=MONTH_FORMAT, alignment=TOP),
        _cell(ws, line.quantity, alignment=TOP),
        rate,
        _cell(ws, line.basis, alignment=WRAP_INDENTED),
        _cell(ws, line.amount, number_format=MONEY_FORMAT, alignment=TOP),
        _cell(ws, line.vat_code, alignment=CENTRE),
        _cell(ws, line.vat_rate / 100, number_format=_percent_format(line.vat_rate), alignment=TOP),
        _cell(ws, line.vat, number_format=MONEY_FORMAT, alignment=TOP),
        _cell(ws, line.amount + line.vat, number_format=MONEY_FORMAT, alignment=TOP),
        _code(ws, line.cost_centre),
        _code(ws, line.subjective),
        _code(ws, line.client_cost_centre),
        _code(ws, line.client_subjective),
        _code(ws, line.po_number),
    ]


def _code(ws: WriteOnlyWorksheet, code: str | None) -> Cell | None:
    """A code or reference as typed, kept as text (`0410` keeps its 0, `=1` is no formula)."""
    return _cell(ws, code, number_format=TEXT_FORMAT, alignment=INDENTED) if code else None


def _at(ws: WriteOnlyWorksheet, cells: dict[str, Cell]) -> list[Cell | None]:
    """A row with `cells` under the line headers they are keyed by, empty elsewhere."""
    row: list[Cell | None] = [None] * len(LINE_HEADERS)
    for header, cell in cells.items():
        row[LINE_HEADERS.index(header)] = cell
    return row


def _band_row(ws: WriteOnlyWorksheet, band: VatBand) -> list[Cell | None]:
    """One VAT code and rate's net and VAT, under the lines' own columns."""
    return _at(
        ws,
        {
            "Basis": _cell(ws, band.code.label, alignment=RIGHT),
            "Net": _cell(ws, band.net, number_format=MONEY_FORMAT),
            "VAT code": _cell(ws, str(band.code), alignment=CENTRE),
            "VAT rate": _cell(ws, band.rate / 100, number_format=_percent_format(band.rate)),
            "VAT": _cell(ws, band.vat, number_format=MONEY_FORMAT),
            "Total": _cell(ws, band.net + band.vat, number_format=MONEY_FORMAT),
        },
    )


def _totals_row(ws: WriteOnlyWorksheet, statement: Statement) -> list[Cell | None]:
    """Net, VAT and total under their columns: the statement's own totals."""
    return _at(
        ws,
        {
            "Basis": _cell(ws, "Statement totals", font=BOLD, alignment=RIGHT),
            **{
                header: _cell(
                    ws, amount, number_format=MONEY_FORMAT, font=BOLD, border=TOTAL_BORDER
                )
                for header, amount in (
                    ("Net", statement.net),
                    ("VAT", statement.vat),
                    ("Total", statement.total),
                )
            },
        },
    )


def _charge_tie_outs(statement: Statement) -> list[_TieOut]:
    """One tie-out per service and period charged on the statement, by service then period."""
    found: dict[tuple[str, str], _TieOut] = {}
    for line in statement.lines:
        if line.kind != "charge" or line.service is None:
            continue
        key = (line.service.code, line.period)
        if key not in found:
            found[key] = _TieOut(line.service.id, line.service.code, line.period, Decimal(0))
        found[key].on_statement += line.quantity
    return [found[key] for key in sorted(found)]


def _write_usage_detail(
    session: Session, ws: WriteOnlyWorksheet, client_id: int, tie_outs: list[_TieOut]
) -> None:
    """Every usage event behind the charge lines, streamed, counting each into its tie-out."""
    _lay_out(ws, DETAIL_WIDTHS, header_row=1)
    fit_row_height(setup_of(ws), 1, zip(DETAIL_HEADERS, DETAIL_WIDTHS, strict=True))
    ws.append(_header(ws, DETAIL_HEADERS))
    row = _RowCells(ws, DETAIL_FORMATS)
    rows = 1
    for tie in tie_outs:
        for event in _events(session, client_id, tie):
            ws.append(
                row.fill(
                    tie.service,
                    event.local_date,
                    event.event_id,
                    event.reference,
                    event.quantity,
                    _local_time(event.started_at),
                    _local_time(event.completed_at),
                    event.batch_id,
                )
            )
            tie.in_detail += event.quantity
            tie.events += 1
        rows += tie.events
    setup_of(ws).auto_filter.ref = f"A1:{get_column_letter(len(DETAIL_HEADERS))}{rows}"


def _events(
    session: Session, client_id: int, tie: _TieOut
) -> Result[date, str | None, str | None, Decimal, datetime | None, datetime | None, int]:
    """The client's events for the tie-out's service and month, by date, fetched in chunks."""
    query = (
        select(
            UsageEvent.local_date,
            UsageEvent.event_id,
            UsageEvent.reference,
            UsageEvent.quantity,
            UsageEvent.started_at,
            UsageEvent.completed_at,
            UsageEvent.batch_id,
        )
        .where(
            UsageEvent.client_id == client_id,
            UsageEvent.service_id == tie.service_id,
            UsageEvent.month == tie.period,
        )
        .order_by(UsageEvent.local_date, UsageEvent.id)
        .execution_options(yield_per=DETAIL_FETCH)
    )
    return session.execute(query)


class _RowCells:
    """One cell per column in that column's format, refilled for every row appended.

    A write-only sheet writes a row out as soon as it is appended, so the same cells can
    carry the next row instead of a newly styled cell for every value. A column whose
    format is None takes plain values (numbers in the General format); an empty value is
    left out rather than written as an empty formatted cell.
    """

    def __init__(self, ws: WriteOnlyWorksheet, formats: list[str | None]) -> None:
        self.cells = [_cell(ws, None, number_format=f) if f else None for f in formats]

    def fill(self, *values: CellValue) -> list[Cell | CellValue]:
        row: list[Cell | CellValue] = []
        for cell, value in zip(self.cells, values, strict=True):
            if cell is None or value is None:
                row.append(value)
            else:
                _put(cell, value)
                row.append(cell)
        return row


def _write_tie_outs(ws: WriteOnlyWorksheet, tie_outs: list[_TieOut], status: str) -> None:
    """Each charge line's quantity against the usage detail; the difference should be 0."""
    _lay_out(ws, TIE_WIDTHS, header_row=1)
    fit_row_height(setup_of(ws), 1, zip(TIE_HEADERS, TIE_WIDTHS, strict=True))
    ws.append(_header(ws, TIE_HEADERS))
    for row, tie in enumerate(tie_outs, start=2):
        note = _tie_note(status) if tie.difference else ""
        fit_row_height(setup_of(ws), row, [(note, TIE_WIDTHS[-1])])
        ws.append(
            [
                _cell(ws, tie.service),
                _cell(ws, Month.parse(tie.period).first_day, number_format=MONTH_FORMAT),
                _cell(ws, tie.on_statement),
                _cell(ws, tie.in_detail),
                tie.events,
                _cell(ws, tie.difference),
                _cell(ws, note, alignment=WRAP) if note else None,
            ]
        )
    setup_of(ws).auto_filter.ref = f"A1:{get_column_letter(len(TIE_HEADERS))}{len(tie_outs) + 1}"
    ws.append([])
    ws.append(
        [
            _cell(
                ws,
                "Each charge line's quantity is the total of that service's usage events for the "
                "month, listed on the Usage detail sheet.",
            )
        ]
    )


def _tie_note(status: str) -> str:
    if status == "issued":
        return (
            "usage for this month changed after the statement was issued; a later statement "
            "bills the difference as a prior-period adjustment"
        )
    return "usage for this month changed after the month was closed; close it again to include it"


def _lay_out(ws: WriteOnlyWorksheet, widths: list[int], header_row: int) -> None:
    """Widths, frozen header, print titles and a landscape fit-to-width page: before any row."""
    setup = setup_of(ws)
    for column, width in enumerate(widths, start=1):
        setup.column_dimensions[get_column_letter(column)].width = width
    ws.freeze_panes = f"A{header_row + 1}"
    ws.print_title_rows = f"{header_row}:{header_row}"
    fit_to_width(setup)


def _header(ws: WriteOnlyWorksheet, names: list[str]) -> list[Cell]:
    return [_cell(ws, name, font=HEADER_FONT, fill=HEADER_FILL, alignment=WRAP) for name in names]


def _cell(
    ws: WriteOnlyWorksheet,
    value: CellValue,
    number_format: str | None = None,
    font: Font | None = None,
    fill: PatternFill | None = None,
    alignment: Alignment | None = None,
    border: Border | None = None,
) -> Cell:
    """A cell in the house style; a string is stored as text, whatever it starts with."""
    cell = WriteOnlyCell(ws)
    _put(cell, value)
    number_format = number_format or _default_format(value)
    if number_format:
        cell.number_format = number_format
    if font:
        cell.font = font
    if fill:
        cell.fill = fill
    if alignment:
        cell.alignment = alignment
    if border:
        cell.border = border
    return cell


def _put(cell: Cell, value: CellValue) -> None:
    """Set a cell's value; a string stays text (`=...` is no formula, `#N/A` no error)."""
    if isinstance(value, str):
        cell.value = ILLEGAL_CHARACTERS_RE.sub("", value)  # XML cannot hold control characters
        cell.data_type = "s"
    else:
        cell.value = value


def _default_format(value: CellValue) -> str | None:
    if isinstance(value, datetime):
        return DATETIME_FORMAT
    if isinstance(value, date):
        return DATE_FORMAT
    if isinstance(value, Decimal):
        return WHOLE_FORMAT if value == value.to_integral_value() else QUANTITY_FORMAT
    return None


def _percent_format(rate: Decimal) -> str:
    """`20%` for a whole percentage, `17.5%` otherwise."""
    return "0%" if rate == rate.to_integral_value() else "0.0##%"


def _local_time(moment: datetime | None) -> datetime | None:
    """A stored UTC instant as Europe/London wall-clock time, without a zone (Excel has none)."""
    return to_london(moment).replace(tzinfo=None) if moment else None
