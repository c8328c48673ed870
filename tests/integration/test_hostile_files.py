"""Hostile files given to the real `opsplatform` command: each is refused, clearly, within
a few hundred MB (issue 12, finding 2). The files are written in a moment part by part
(tests/crafted.py): a megabyte that expands to a gigabyte, or to millions of rows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests.crafted import USAGE_HEADER, cells, sheet, varied, workbook

PEAK_MB = 400

# Runs a command and reports on its last line of stderr the peak memory of the command
# alone (the wrapper's children: just it), in MB.
MEASURED = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[1:])\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


@pytest.fixture
def measured(instance):
    """Runs the installed console script; (exit code, its stderr lines, its peak MB)."""
    script = Path(sys.executable).parent / "opsplatform"

    def run(*args: object) -> tuple[int, list[str], int]:
        result = subprocess.run(
            [sys.executable, "-c", MEASURED, str(script), *map(str, args)],
            capture_output=True,
            text=True,
            env=dict(os.environ),
            timeout=600,
        )
        *lines, peak = result.stderr.rstrip("\n").split("\n")
        return result.returncode, lines, int(peak)

    return run


def refused(outcome: tuple[int, list[str], int], message: str) -> list[str]:
    code, lines, peak = outcome
    assert code == 1, lines[-20:]
    assert lines and all(line.startswith("error: ") for line in lines), lines[-20:]
    assert any(message in line for line in lines), lines[-20:]
    assert peak < PEAK_MB, f"peak {peak} MB"
    return lines


def test_a_workbook_of_one_gigabyte_cell_is_refused_in_little_memory(measured, tmp_path):
    cell = [(b"<si><t>", 1), (b"a" * (1 << 20), 1100), (b"</t></si>", 1)]
    rows = [(USAGE_HEADER, 1), (b'<row r="2"><c r="A2" t="s"><v>0</v></c></row>', 1)]
    path = workbook(tmp_path / "cell.xlsx", {"Usage": sheet(rows)}, cell)
    assert path.stat().st_size < 2_000_000
    refused(
        measured("usage", "import", path), "cell.xlsx: xl/sharedStrings.xml is larger than 64 MB"
    )


def test_a_workbook_of_two_million_rows_is_refused_in_little_memory(measured, tmp_path):
    rows = varied("WYR", "PAY", "2026-05-01", 3, 4, 5, 6)
    path = workbook(tmp_path / "rows.xlsx", {"Usage": sheet([(USAGE_HEADER, 1), (rows, 2000)])})
    assert path.stat().st_size < 10_000_000
    refused(
        measured("usage", "import", path),
        "rows.xlsx: sheet Usage has more than 1,048,576 rows; at most 1,048,576 rows are allowed",
    )


def test_a_figures_workbook_of_two_million_rows_is_refused_in_little_memory(measured, tmp_path):
    header = cells("kpi", "client", "month", "numerator", "denominator", row=1)
    rows = varied("WYR", "2026-05", 9, 10)
    path = workbook(tmp_path / "figures.xlsx", {"Figures": sheet([(header, 1), (rows, 2000)])})
    refused(measured("kpi", "import", path), "sheet Figures has more than 1,048,576 rows")


def test_a_setup_workbook_of_a_million_clients_is_refused_in_little_memory(measured, tmp_path):
    clients = sheet([(cells("code", "name", row=1), 1), (varied("A council"), 1000)])
    path = workbook(tmp_path / "setup.xlsx", {"Clients": clients})
    refused(
        measured("setup", "load", path),
        "setup.xlsx: sheet Clients has more than 20,001 rows; at most 20,001 rows are allowed",
    )


def test_a_csv_of_a_million_bad_rows_lists_the_first_thousand_problems(measured, tmp_path):
    path = tmp_path / "bad.csv"
    with open(path, "w") as out:
        out.write("event_id,client,service,date,quantity\n")
        out.write("x,NOPE,NOPE,2026-05-01,1\n" * 1_100_000)
    errors = tmp_path / "errors.xlsx"
    lines = refused(
        measured("usage", "import", path, "--errors", errors),
        "bad.csv: 2,200,000 problem(s); nothing was imported",
    )
    assert len(lines) == 1 + 1000 + 1
    assert lines[1] == "error: sheet bad.csv, row 2, column client: unknown client 'NOPE'"
    assert lines[-1] == (
        "error: 2,199,000 more problems are not listed: these are the first 1,000 of 2,200,000"
    )
    book = load_workbook(errors, read_only=True)
    try:
        rows = list(book.active.iter_rows(values_only=True))
    finally:
        book.close()
    assert len(rows) == 1 + 1000 + 1
    assert rows[1] == ("bad.csv", 2, "client", "unknown client 'NOPE'")
    assert rows[-1][3] == lines[-1].removeprefix("error: ")
