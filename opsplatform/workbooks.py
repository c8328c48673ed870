"""House style for the workbooks the centre sends out: finance staff should like them.

Bold frozen header, autofilter, sensible widths, `£#,##0.00` money, real dates, print
titles; text that people typed is always stored as text, never as a formula.
"""

from __future__ import annotations

import re
import textwrap
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Protocol, TypeAlias, cast
from xml.sax.saxutils import quoteattr

from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.worksheet.dimensions import ColumnDimension, DimensionHolder, RowDimension
from openpyxl.worksheet.filters import AutoFilter
from openpyxl.worksheet.page import PrintPageSetup
from openpyxl.worksheet.properties import WorksheetProperties
from openpyxl.worksheet.worksheet import Worksheet

MONEY_FORMAT = '"£"#,##0.00;[Red]-"£"#,##0.00'
QUANTITY_FORMAT = "#,##0.######"
WHOLE_FORMAT = "#,##0"
DATE_FORMAT = "dd/mm/yyyy"
HEADER_FILL = PatternFill("solid", fgColor="1D3557")
HEADER_FONT = Font(bold=True, color="FFFFFF")
LINE_HEIGHT = 15  # points: a line of the default 11-point text
# a column `width` characters of "0" wide holds about this many times as many characters of
# ordinary text (measured: 49 characters of a statement's description fit in width 40);
# kept a little under, so that a row comes out a little tall rather than too short
TEXT_PER_WIDTH = 1.1

# What a cell of the centre's workbooks holds: text, a number, a date (or a date and time), or
# nothing; to the type checker an int is a float and a datetime a date.
CellValue: TypeAlias = str | float | Decimal | date | None


class SheetSetup(Protocol):
    """A sheet's column widths, row heights, filter, page setup and properties: openpyxl gives
    a write-only sheet these as it gives every worksheet (both are set up by
    `Worksheet._setup`); a row's height is written with the row, so it is set before."""

    column_dimensions: DimensionHolder[str, ColumnDimension]
    row_dimensions: DimensionHolder[int, RowDimension]
    auto_filter: AutoFilter
    page_setup: PrintPageSetup
    sheet_properties: WorksheetProperties


def setup_of(ws: WriteOnlyWorksheet) -> SheetSetup:
    """The column widths, filter, page setup and properties of a sheet of a write-only book."""
    # types-openpyxl declares these four on Worksheet only, though openpyxl sets them on a
    # WriteOnlyWorksheet too (with Worksheet._setup)
    return cast(SheetSetup, ws)


def fit_to_width(setup: SheetSetup | Worksheet) -> None:
    """Print the sheet on A4 landscape pages, one page wide and as many long as it needs."""
    setup.page_setup.orientation = "landscape"
    setup.page_setup.paperSize = Worksheet.PAPERSIZE_A4
    setup.page_setup.fitToWidth = 1
    setup.page_setup.fitToHeight = 0
    fit = setup.sheet_properties.pageSetUpPr
    assert fit is not None  # openpyxl gives every new sheet's properties their page setup
    fit.fitToPage = True


def fit_row_height(
    setup: SheetSetup | Worksheet, row: int, texts: Iterable[tuple[str, float]]
) -> None:
    """Make `row` tall enough for its wrapped text (each text with its column's width), before
    a write-only sheet appends the row: LibreOffice does not fit a row to its text on opening
    a book, and shows one line with the rest running over the rows below. Wrapped at the
    column's width in characters of "0" a little widened (TEXT_PER_WIDTH), as ordinary text
    is narrower than "0"s."""
    lines = max(
        (
            sum(
                len(textwrap.wrap(part, int(width * TEXT_PER_WIDTH))) or 1
                for part in text.splitlines() or [""]
            )
            for text, width in texts
        ),
        default=1,
    )
    if lines > 1:
        setup.row_dimensions[row].height = LINE_HEIGHT * lines


def active_sheet(book: Workbook) -> Worksheet:
    """A new workbook's one sheet (types-openpyxl types `active` as any kind of sheet, or None)."""
    sheet = book.active
    assert isinstance(sheet, Worksheet)  # a new workbook's active sheet is its one worksheet
    return sheet


def write_cell(ws: Worksheet, row: int, column: int, value: CellValue, money: bool = False) -> Cell:
    """Write one value with the right type and format; strings stay strings."""
    target = ws.cell(row=row, column=column)
    assert isinstance(target, Cell)  # not a MergedCell: the centre's workbooks merge no cells
    return _put(target, value, money)


def _put(target: Cell, value: CellValue, money: bool = False) -> Cell:
    """Give a cell (of any worksheet, write-only too) its value, type and format."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.replace(tzinfo=None)
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)  # XML cannot hold control characters
    target.value = value
    if isinstance(value, str):
        target.data_type = "s"  # never a formula, whatever it starts with
    elif isinstance(value, Decimal):
        whole = value == value.to_integral_value()
        target.number_format = MONEY_FORMAT if money else WHOLE_FORMAT if whole else QUANTITY_FORMAT
    elif isinstance(value, date):
        target.number_format = (
            DATE_FORMAT if not isinstance(value, datetime) else "dd/mm/yyyy hh:mm"
        )
    return target


def write_table(
    ws: Worksheet,
    headers: Sequence[str],
    rows: Iterable[Sequence[CellValue]],
    money_columns: Iterable[int] = (),
    start_row: int = 1,
    widths: Sequence[int] | None = None,
) -> int:
    """A header row and data rows, styled; returns the last row written."""
    money_set = set(money_columns)
    for column, name in enumerate(headers, start=1):
        _header(write_cell(ws, start_row, column, name))
    last = start_row
    for last, values in enumerate(rows, start=start_row + 1):
        for column, value in enumerate(values, start=1):
            write_cell(ws, last, column, value, money=(column - 1) in money_set)
    ws.freeze_panes = ws.cell(row=start_row + 1, column=1).coordinate
    ws.auto_filter.ref = f"A{start_row}:{get_column_letter(len(headers))}{max(last, start_row)}"
    ws.print_title_rows = f"{start_row}:{start_row}"
    for column, name in enumerate(headers, start=1):
        width = widths[column - 1] if widths else max(12, min(len(name) + 4, 60))
        ws.column_dimensions[get_column_letter(column)].width = width
    return last


def _header(target: Cell) -> Cell:
    target.font = HEADER_FONT
    target.fill = HEADER_FILL
    target.alignment = Alignment(wrap_text=True, vertical="top")
    return target


def append_table(
    ws: WriteOnlyWorksheet,
    headers: Sequence[str],
    rows: Iterable[Sequence[CellValue]],
    widths: Sequence[int],
) -> None:
    """`write_table` for a sheet of a write-only workbook, whose rows are written as they
    come and never held: the same header, widths, frozen header, filter and print titles."""
    setup = setup_of(ws)
    for column, width in enumerate(widths, start=1):
        setup.column_dimensions[get_column_letter(column)].width = width
    ws.freeze_panes = "A2"
    ws.print_title_rows = "1:1"
    ws.append([_header(_put(WriteOnlyCell(ws), name)) for name in headers])
    last = 1
    for values in rows:
        ws.append([_put(WriteOnlyCell(ws), value) for value in values])
        last += 1
    setup.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{last}"


def write_sheets(path: Path, sheets: Mapping[str, Iterable[Sequence[object]]]) -> Path:
    """A plain workbook: one sheet per key, its rows as given (the first is the header)."""
    book = Workbook()
    book.remove(active_sheet(book))
    for title, rows in sheets.items():
        ws = book.create_sheet(title)
        for row in rows:
            ws.append(row)
    book.save(path)
    return path


def describe_charts(path: Path, texts: Sequence[tuple[str, str]]) -> None:
    """Give the charts of the workbook saved at `path` their alt text: a title and a
    description each, in the order the charts were added (to a single sheet), which screen
    readers announce and LibreOffice and Excel show as the chart's alternative text.
    openpyxl writes no alt text, so the drawing's XML is amended in place."""
    with zipfile.ZipFile(path) as book:
        parts = [(item, book.read(item.filename)) for item in book.infolist()]
    frames = re.compile(rb'<(\w+:)?cNvPr id="(\d+)" name="Chart (\d+)"')

    def described(match: re.Match[bytes]) -> bytes:
        title, description = texts[int(match[3]) - 1]
        return match[0] + f" title={quoteattr(title)} descr={quoteattr(description)}".encode()

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
        for item, content in parts:
            if item.filename.startswith("xl/drawings/drawing"):
                content = frames.sub(described, content)
            book.writestr(item, content)
