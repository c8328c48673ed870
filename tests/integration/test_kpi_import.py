"""Submitted KPI figures: `kpi template` and `kpi import`, all or nothing."""

from __future__ import annotations

import json
from datetime import datetime

from openpyxl import load_workbook

from tests.support import small_centre, write_book, write_csv

COLUMNS = ["kpi", "client", "month", "numerator", "denominator"]
KPIS = [
    ["code", "name", "service", "unit", "direction", "target", "amber", "method", "limit"],
    [
        "INV-30",
        "Invoices paid within 30 days",
        None,
        "percent",
        "higher",
        95,
        90,
        "submitted",
        None,
    ],
    ["PAY-5D", "Payroll queries in 5 days", "PAY", "percent", "higher", 95, 90, "within", 5],
]


def setup(cli, tmp_path) -> None:
    sheets = small_centre()
    sheets["KPIs"] = KPIS
    cli("setup", "load", write_book(tmp_path / "setup.xlsx", sheets))


def csv_file(tmp_path, rows: list[list], name: str = "figures.csv"):
    return write_csv(tmp_path / name, [dict(zip(COLUMNS, r, strict=True)) for r in rows])


def values(cli, quarter: str = "2026-27-Q1") -> dict[str | None, dict]:
    """INV-30 results by client (None = the whole centre)."""
    return {r["client"]: r for r in cli.json("sla", "assess", quarter) if r["kpi"] == "INV-30"}


def test_csv_import(cli, tmp_path):
    setup(cli, tmp_path)
    report = cli.json(
        "kpi",
        "import",
        csv_file(
            tmp_path,
            [
                ["INV-30", "WYR", "2026-04", 45, 50],
                ["inv-30", "wyr", "2026-05", "47", "50"],
                ["INV-30", "LAN", "2026-06", 9.5, 10],
            ],
        ),
    )
    assert (report["rows"], report["created"], report["replaced"]) == (3, 3, 0)
    assert report["errors"] == []
    results = values(cli)
    assert float(results["WYR"]["value"]) == 92
    assert results["WYR"]["status"] == "amber"
    assert float(results["LAN"]["value"]) == 95
    assert results["LAN"]["status"] == "green"
    assert float(results[None]["numerator"]) == 101.5
    assert float(results[None]["denominator"]) == 110


def test_template_columns_and_xlsx_import(cli, tmp_path):
    setup(cli, tmp_path)
    template = tmp_path / "template.xlsx"
    cli("kpi", "template", template)
    book = load_workbook(template)
    ws = book.worksheets[0]
    assert [str(c.value).strip().lower() for c in ws[1] if c.value is not None] == COLUMNS
    ws.append(["INV-30", "WYR", "2026-04", 3, 4])
    ws.append(["INV-30", "PRS", datetime(2026, 5, 1), 1, 4])  # a month typed as an Excel date
    book.save(template)
    report = cli.json("kpi", "import", template)
    assert report["created"] == 2
    results = values(cli)
    assert float(results["WYR"]["value"]) == 75
    assert float(results["PRS"]["value"]) == 25


def test_xlsx_import_written_from_scratch(cli, tmp_path):
    setup(cli, tmp_path)
    book = write_book(
        tmp_path / "figures.xlsx", {"Figures": [COLUMNS, ["INV-30", "LAN", "2026-04", 1, 2]]}
    )
    cli("kpi", "import", book)
    assert float(values(cli)["LAN"]["value"]) == 50


def test_every_bad_row_is_listed_and_nothing_is_imported(cli, tmp_path):
    setup(cli, tmp_path)
    path = csv_file(
        tmp_path,
        [
            ["INV-30", "WYR", "2026-04", 45, 50],  # row 2: good
            ["NOPE", "WYR", "2026-04", 1, 2],  # row 3: unknown KPI
            ["PAY-5D", "WYR", "2026-04", 1, 2],  # row 4: measured from usage
            ["INV-30", "XYZ", "2026-04", 1, 2],  # row 5: unknown client
            ["INV-30", "LAN", "2026-13", 1, 2],  # row 6: bad month
            ["INV-30", "LAN", "2026-05", -1, 2],  # row 7: negative
            ["INV-30", "LAN", "2026-06", 1, "lots"],  # row 8: not a number
            ["INV-30", "WYR", "2026-04", 45, 50],  # row 9: repeats row 2
            ["INV-30", "PRS", "", 1, 2],  # row 10: no month
            ["INV-30", "PRS", "April", 1, 2],  # row 11: bad month
        ],
    )
    result = cli("kpi", "import", path, "--json", expect=1)
    errors = json.loads(result.stdout)["errors"]
    assert {e["row"] for e in errors} == {3, 4, 5, 6, 7, 8, 9, 10, 11}
    columns = {e["row"]: e["column"] for e in errors}
    assert columns[3] == "kpi" and columns[4] == "kpi" and columns[5] == "client"
    assert columns[6] == "month" and columns[7] == "numerator" and columns[8] == "denominator"
    text = cli("kpi", "import", path, expect=1).stderr
    for row in (3, 4, 5, 6, 7, 8, 9, 10, 11):
        assert f"row {row}" in text
    # The good row was not stored either.
    assert "WYR" not in values(cli)


def test_bad_header_is_refused(cli, tmp_path):
    setup(cli, tmp_path)
    missing = write_csv(
        tmp_path / "missing.csv", [{"kpi": "INV-30", "client": "WYR", "month": "2026-04"}]
    )
    cli("kpi", "import", missing, expect=1)
    extra = write_csv(
        tmp_path / "extra.csv",
        [dict(zip([*COLUMNS, "notes"], ["INV-30", "WYR", "2026-04", 1, 2, "x"], strict=True))],
    )
    cli("kpi", "import", extra, expect=1)
    empty = write_csv(tmp_path / "empty.csv", [])
    empty.write_text(",".join(COLUMNS) + "\n")
    cli("kpi", "import", empty, expect=1)
    assert values(cli) == {} or all(r["value"] is None for r in values(cli).values())


def test_dry_run_writes_nothing(cli, tmp_path):
    setup(cli, tmp_path)
    report = cli.json(
        "kpi", "import", csv_file(tmp_path, [["INV-30", "WYR", "2026-04", 1, 2]]), "--dry-run"
    )
    assert report["dry_run"] is True
    assert report["created"] == 1
    assert "WYR" not in values(cli)


def test_reimport_replaces_figures(cli, tmp_path):
    setup(cli, tmp_path)
    cli("kpi", "import", csv_file(tmp_path, [["INV-30", "WYR", "2026-04", 1, 1]], "first.csv"))
    assert float(values(cli)["WYR"]["value"]) == 100
    report = cli.json(
        "kpi",
        "import",
        csv_file(
            tmp_path,
            [["INV-30", "WYR", "2026-04", 5, 10], ["INV-30", "WYR", "2026-05", 0, 0]],
            "corrected.csv",
        ),
    )
    assert (report["created"], report["replaced"]) == (1, 1)
    wyr = values(cli)["WYR"]
    assert (float(wyr["numerator"]), float(wyr["denominator"])) == (5, 10)
    assert float(wyr["value"]) == 50


def test_figures_for_a_final_quarter_are_refused(cli, tmp_path):
    setup(cli, tmp_path)
    cli("kpi", "import", csv_file(tmp_path, [["INV-30", "WYR", "2026-04", 9, 10]], "q1.csv"))
    cli("sla", "assess", "2026-27-Q1", "--final")
    late = csv_file(
        tmp_path,
        [["INV-30", "WYR", "2026-07", 1, 1], ["INV-30", "WYR", "2026-06", 0, 10]],
        "late.csv",
    )
    result = cli("kpi", "import", late, "--json", expect=1)
    errors = json.loads(result.stdout)["errors"]
    assert [(e["row"], e["column"]) for e in errors] == [(3, "month")]
    assert "final" in errors[0]["message"]
    # Neither row was stored: Q2 has no figure, Q1 is unchanged.
    assert "WYR" not in values(cli, "2026-27-Q2")
    assert float(values(cli)["WYR"]["value"]) == 90
    # A replacement for a month already in the final quarter is refused too.
    cli(
        "kpi",
        "import",
        csv_file(tmp_path, [["INV-30", "WYR", "2026-04", 1, 10]], "fix.csv"),
        expect=1,
    )
    cli("kpi", "import", csv_file(tmp_path, [["INV-30", "WYR", "2026-07", 1, 1]], "q2.csv"))
    assert float(values(cli, "2026-27-Q2")["WYR"]["value"]) == 100


def test_missing_or_unreadable_files(cli, tmp_path):
    setup(cli, tmp_path)
    cli("kpi", "import", tmp_path / "nowhere.csv", expect=2)
    text = tmp_path / "figures.txt"
    text.write_text("kpi,client,month,numerator,denominator\n")
    cli("kpi", "import", text, expect=1)
