"""Workbooks for people to fill in (blank, or the centre's current setup), with notes, an
example row and drop-down lists; and the error report of a refused import."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from importers.kpi import COLUMNS as KPI_COLUMNS
from importers.setup import SETUP_ROWS
from importers.setup_export import SheetRows
from importers.setup_sheets import (
    KPI_PRESETS,
    SETTINGS,
    SHEETS,
    SHEETS_BY_NAME,
    OneOf,
)
from importers.usage_rows import COLUMNS, REQUIRED
from opsplatform.errors import Refused
from opsplatform.workbooks import (
    active_sheet,
    append_table,
    fit_row_height,
    fit_to_width,
    write_cell,
    write_table,
)

EXCEL_ROWS = 1_048_576  # the rows of a sheet
PRESETS_SHEET = "KPI presets"

USAGE_NOTES = {
    "event_id": "optional; a unique key from the source system, so a repeat is skipped",
    "client": "client code, e.g. WYR",
    "service": "service code, e.g. PAY",
    "date": "date (YYYY-MM-DD) or datetime; the month of usage is its Europe/London date",
    "quantity": "optional, default 1; more than 0",
    "reference": "optional; your own reference",
    "started_at": "optional datetime; when the work started (for KPIs)",
    "completed_at": "optional datetime; when the work was completed (for KPIs)",
    "paused_at": "optional datetime; when the work was put on hold, taken off its KPI time",
    "resumed_at": "with paused_at; when the work resumed, by completed_at",
}


# The codes of a centre that its templates' drop-down lists offer, by the column naming
# them ("client", "service", "kpi"; importers.setup_export.centre_codes)
Codes = Mapping[str, Sequence[str]]
LISTS_COLUMN = 8  # the Notes sheet's column (H) where the lists of codes begin


def write_setup_template(
    path: Path, rows: SheetRows | None = None, codes: Codes | None = None
) -> None:
    """Every setup sheet with its header row, filled with `rows` if given (the centre's
    current data: importers.setup_export), and a Notes sheet describing each column with
    an example; each column of choices, and each naming a client, service or KPI when
    `codes` are given, offers them in a drop-down list.

    The example rows stand on the Notes sheet, which the loader never reads, so that a
    template loaded as it is loads nothing."""
    book = Workbook()
    notes = active_sheet(book)
    notes.title = "Notes"
    table = []
    for sheet in SHEETS:
        examples = [*sheet.example, *[None] * len(sheet.columns)]
        for column, example in zip(sheet.columns, examples, strict=False):
            required = "yes" if column.required else "no"
            shown = None if example is None else str(example)  # read as written, never summed
            table.append([sheet.name, column.name, required, column.note, shown])
    for key, (_, note) in SETTINGS.items():
        table.append(["Settings", f"key = {key}", "", note, None])
    write_cell(notes, 1, 1, "How to fill in this workbook").font = Font(bold=True, size=14)
    write_cell(
        notes,
        2,
        1,
        "Every sheet is optional. Row 1 is the header. Rows are matched on their key and "
        "updated, so the same workbook can be loaded again. Nothing is loaded if any row is "
        "wrong. The example column shows a row of each sheet filled in: it is only an "
        "example, and this Notes sheet is never loaded.",
    )
    write_table(
        notes,
        ["sheet", "column", "required", "notes", "example"],
        table,
        start_row=4,
        widths=[16, 28, 10, 80, 24],
    )
    lists = _code_lists(notes, codes or {}, 4)
    fit_to_width(notes)
    _kpi_presets(book)
    for sheet in SHEETS:
        ws = book.create_sheet(sheet.name)
        write_table(
            ws,
            [c.name for c in sheet.columns],
            (rows or {}).get(sheet.name, []),
            widths=[max(14, len(c.name) + 4) for c in sheet.columns],
        )
        fit_to_width(ws)
        for number, column in enumerate(sheet.columns, start=1):
            choices = column.parse.choices if isinstance(column.parse, OneOf) else None
            _drop_down(ws, number, SETUP_ROWS, choices, lists.get(column.name))
    book.save(path)


def _kpi_presets(book: Workbook) -> None:
    """A sheet of the KPIs councils are judged on, as KPIs rows to copy, with what defines
    each; like the Notes sheet, it is never loaded."""
    ws = book.create_sheet(PRESETS_SHEET)
    write_cell(
        ws,
        1,
        1,
        "The measures councils are judged on. Copy a row to the KPIs sheet, naming your "
        "service where it is measured from usage, and set your own targets. This sheet is "
        "never loaded.",
    ).font = Font(bold=True)
    columns = [c.name for c in SHEETS_BY_NAME["kpis"].columns]
    write_table(
        ws,
        [*columns, "definition"],
        [[*row, definition] for row, definition in KPI_PRESETS],
        start_row=3,
        widths=[12, 40, 10, 9, 10, 8, 8, 16, 8, 14, 90],
    )
    for row, (preset, definition) in enumerate(KPI_PRESETS, start=4):
        for column in range(1, len(columns) + 2):
            ws.cell(row=row, column=column).alignment = Alignment(wrap_text=True, vertical="top")
        fit_row_height(ws, row, [(str(preset[1]), 40), (definition, 90)])
    fit_to_width(ws)


def _code_lists(notes: Worksheet, codes: Codes, header: int) -> dict[str, str]:
    """Write each list of `codes` on the Notes sheet, from column LISTS_COLUMN, its heading
    in row `header` (the notes' own), as a drop-down list's source; return the reference
    to each list by its column's name."""
    lists = {}
    for offset, (name, found) in enumerate(item for item in codes.items() if item[1]):
        column = LISTS_COLUMN + offset
        letter = get_column_letter(column)
        write_cell(notes, header, column, f"{name} codes").font = Font(bold=True)
        for row, code in enumerate(found, start=header + 1):
            write_cell(notes, row, column, code)
        notes.column_dimensions[letter].width = 16
        lists[name] = f"Notes!${letter}${header + 1}:${letter}${header + len(found)}"
    return lists


def _drop_down(
    ws: Worksheet, column: int, rows: int, choices: Sequence[str] | None, source: str | None
) -> None:
    """Give rows 2 to `rows` + 1 of `column` a drop-down list: `choices` (nothing else may
    be typed), or the codes at `source` (others may be typed after a warning, as a code
    may be added on another sheet of the same workbook)."""
    if choices:
        rule = DataValidation(type="list", formula1=f'"{",".join(choices)}"', allow_blank=True)
        rule.error = f"Choose one of {', '.join(choices)}"
    elif source:
        rule = DataValidation(type="list", formula1=source, allow_blank=True, errorStyle="warning")
        rule.error = "This code is not in the centre's list: load it on its own sheet too"
    else:
        return
    rule.showErrorMessage = True
    letter = get_column_letter(column)
    rule.add(f"{letter}2:{letter}{rows + 1}")
    ws.add_data_validation(rule)


USAGE_EXAMPLE: dict[str, str | int] = {
    "event_id": "PAY-2026-000123",
    "client": "WYR",
    "service": "PAY",
    "date": "2026-05-10",
    "quantity": 1,
    "reference": "May payroll run",
    "started_at": "2026-05-08 09:00",
    "completed_at": "2026-05-10 15:30",
    "paused_at": "2026-05-08 16:00",
    "resumed_at": "2026-05-09 10:00",
}


def write_usage_template(path: Path, codes: Codes | None = None) -> None:
    """The usage columns, with a second sheet explaining each with an example (the
    importer reads the first sheet only); with `codes`, the client and service columns
    offer the centre's codes in a drop-down list."""
    book = Workbook()
    ws = active_sheet(book)
    ws.title = "Usage"
    write_table(ws, COLUMNS, [], widths=[18, 10, 10, 20, 10, 20, 20, 20, 20, 20])
    fit_to_width(ws)
    notes = book.create_sheet("Notes")
    write_table(
        notes,
        ["column", "required", "notes", "example"],
        [
            [c, "yes" if c in REQUIRED else "no", USAGE_NOTES[c], str(USAGE_EXAMPLE[c])]
            for c in COLUMNS
        ],
        widths=[16, 10, 80, 20],
    )
    lists = _code_lists(notes, {k: v for k, v in (codes or {}).items() if k in COLUMNS}, 1)
    fit_to_width(notes)
    for number, name in enumerate(COLUMNS, start=1):
        _drop_down(ws, number, EXCEL_ROWS - 1, None, lists.get(name))
    book.save(path)


def write_kpi_template(path: Path) -> None:
    """The columns of a submitted-figures file, with a worked example row."""
    book = Workbook()
    ws = active_sheet(book)
    ws.title = "Figures"
    write_table(ws, KPI_COLUMNS, [], widths=[14, 10, 10, 14, 14])
    notes = book.create_sheet("Notes")
    write_table(
        notes,
        ["column", "notes"],
        [
            ["kpi", "code of a KPI whose method is 'submitted' or 'as_at'"],
            ["client", "client code"],
            ["month", "YYYY-MM"],
            ["numerator", "e.g. invoices paid within 30 days"],
            [
                "denominator",
                "e.g. all invoices paid; a quarter's value is sum(numerators) / sum(denominators)",
            ],
        ],
        widths=[16, 100],
    )
    book.save(path)


def write_error_report(path: Path, refused: Refused | None) -> None:
    """The problems of a refused import (none when `refused` is None), one a row, to fix
    in the source file: the first KEPT, then a row saying how many more there were. Written
    as it goes, in write-only mode."""
    book = Workbook(write_only=True)
    ws = book.create_sheet("Errors")
    rows = [[p.sheet, p.row, p.column, p.message] for p in refused.problems] if refused else []
    if refused and refused.unlisted():
        rows.append([None, None, None, refused.unlisted()])
    append_table(ws, ["sheet", "row", "column", "problem"], rows, widths=[24, 8, 18, 100])
    book.save(path)
