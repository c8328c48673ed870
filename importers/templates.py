"""Blank workbooks for people to fill in, and the error report of a refused import."""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Font

from importers.kpi import COLUMNS as KPI_COLUMNS
from importers.setup_sheets import SETTINGS, SHEETS
from importers.usage_rows import COLUMNS, REQUIRED
from opsplatform.errors import Refused
from opsplatform.workbooks import active_sheet, append_table, write_cell, write_table

USAGE_NOTES = {
    "event_id": "optional; a unique key from the source system, so a repeat is skipped",
    "client": "client code, e.g. WYR",
    "service": "service code, e.g. PAY",
    "date": "date (YYYY-MM-DD) or datetime; the month of usage is its Europe/London date",
    "quantity": "optional, default 1; more than 0",
    "reference": "optional; your own reference",
    "started_at": "optional datetime; when the work started (for KPIs)",
    "completed_at": "optional datetime; when the work was completed (for KPIs)",
}


def write_setup_template(path: Path) -> None:
    """Every setup sheet with its header row, and a Notes sheet describing each column."""
    book = Workbook()
    notes = active_sheet(book)
    notes.title = "Notes"
    rows = []
    for sheet in SHEETS:
        for column in sheet.columns:
            rows.append([sheet.name, column.name, "yes" if column.required else "no", column.note])
    for key, (_, note) in SETTINGS.items():
        rows.append(["Settings", f"key = {key}", "", note])
    write_cell(notes, 1, 1, "How to fill in this workbook").font = Font(bold=True, size=14)
    write_cell(
        notes,
        2,
        1,
        "Every sheet is optional. Row 1 is the header. Rows are matched on their key and "
        "updated, so the same workbook can be loaded again. Nothing is loaded if any row is wrong.",
    )
    write_table(
        notes, ["sheet", "column", "required", "notes"], rows, start_row=4, widths=[16, 28, 10, 90]
    )
    for sheet in SHEETS:
        ws = book.create_sheet(sheet.name)
        write_table(
            ws,
            [c.name for c in sheet.columns],
            [],
            widths=[max(14, len(c.name) + 4) for c in sheet.columns],
        )
    book.save(path)


def write_usage_template(path: Path) -> None:
    """The usage columns, with a second sheet explaining each."""
    book = Workbook()
    ws = active_sheet(book)
    ws.title = "Usage"
    write_table(ws, COLUMNS, [], widths=[18, 10, 10, 20, 10, 20, 20, 20])
    notes = book.create_sheet("Notes")
    write_table(
        notes,
        ["column", "required", "notes"],
        [[c, "yes" if c in REQUIRED else "no", USAGE_NOTES[c]] for c in COLUMNS],
        widths=[16, 10, 90],
    )
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
            ["kpi", "code of a KPI whose method is 'submitted'"],
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
