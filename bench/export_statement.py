"""The statement workbook export, against openpyxl's write-only mode writing the same cells.

Usage: python -m bench.export_statement [EVENTS] [--profile] (default 100,000). One
client subscribed to one service, EVENTS usage events in May 2026, imported, the month
closed and issued: one statement whose "Usage detail" sheet has a row per event. The
product is `write_statement_workbook` (what `opsplatform billing export` runs: the
statement fetched, its three sheets written, the events streamed from the database).
The baseline takes the product's "Usage detail" cells as calamine reads them back (not
timed) and appends the same values, row by row, to a sheet of
`Workbook(write_only=True)`, saved to a file: the least openpyxl can do to write them.
Target: ratio <= 1.5. `--profile` runs the export under cProfile and prints its top
costs (its time is then inflated by the profiler).
"""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path

from openpyxl import Workbook
from python_calamine import CalamineWorkbook

from bench.common import BENCH, command_line, loaded_database, profiled, timed, write_usage_csv
from billing.close import close_month
from billing.export import write_statement_workbook
from billing.issue import issue_month
from billing.statements import get_statement
from importers.usage import import_file
from opsplatform.periods import Month

TARGET = 1.5
MONTH = "2026-05"


def detail_rows(path: Path) -> list[list]:
    """The "Usage detail" sheet's values, as calamine reads them (an empty cell is None)."""
    sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Usage detail")
    return [
        [
            None
            if cell == ""
            else int(cell)
            if isinstance(cell, float) and cell.is_integer()
            else cell
            for cell in row
        ]
        for row in sheet.iter_rows()
    ]


def raw_write(rows: list[list], path: Path) -> None:
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Usage detail")
    for row in rows:
        sheet.append(row)
    book.save(path)


def main(events: int, profile: bool = False) -> None:
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        database = loaded_database(folder, 1, 1)
        csv_path = write_usage_csv(
            folder / "usage.csv", events, 1, 1, start=date(2026, 5, 1), days=31
        )
        month = Month.parse(MONTH)
        with database.transaction() as session:
            import_file(session, csv_path, BENCH)
        with database.transaction() as session:
            close_month(session, month, "bench")
            (statement,) = issue_month(session, month, "bench")
            number = statement.number
        product_path = folder / "statement.xlsx"
        seconds: dict[str, float] = {}
        with timed("product", seconds), profiled(profile), database.transaction() as session:
            write_statement_workbook(session, get_statement(session, number), product_path)
        database.engine.dispose()
        rows = detail_rows(product_path)
        assert len(rows) == events + 1, len(rows)
        raw_path = folder / "raw.xlsx"
        with timed("raw", seconds):
            raw_write(rows, raw_path)
        raw, product = seconds["raw"], seconds["product"]
        sizes = product_path.stat().st_size / 1e6, raw_path.stat().st_size / 1e6
    print(f"statement {number}: {events:,} usage-detail rows x {len(rows[0])} columns")
    print(f"openpyxl write-only: {raw:6.2f} s ({sizes[1]:.1f} MB)")
    print(f"statement workbook:  {product:6.2f} s ({sizes[0]:.1f} MB)")
    print(f"ratio: {product / raw:.2f} (target <= {TARGET})")


if __name__ == "__main__":
    sizes, profile = command_line(100_000)
    main(*sizes, profile=profile)
