"""The joint committee's quarterly pack (sla.pack): the workbook `sla pack` writes, worked
from the pooled centre of test_outturn.py, and its page and download for centre staff."""

from __future__ import annotations

import io
from decimal import Decimal

from openpyxl import load_workbook

from tests.integration.test_dashboard_pages import sign_in
from tests.integration.test_outturn import ledger, the_year_issued
from tests.pages import Page
from tests.support import write_csv


def rows(sheet, first: int = 5) -> dict[str, tuple]:
    """A sheet's table rows under its title, by their first cell, sums of money (numbers
    in the workbook) as Decimal pounds and pence."""

    def read(value):
        return Decimal(str(value)).quantize(Decimal("0.01")) if isinstance(value, float) else value

    found = sheet.iter_rows(min_row=first, values_only=True)
    return {r[0]: tuple(read(v) for v in r[1:]) for r in found if r[0] is not None}


def test_the_pack_sets_the_pool_against_its_outturn_and_names_each_partner(cli, tmp_path):
    the_year_issued(cli, tmp_path)
    cli("costs", "import", write_csv(tmp_path / "actual.csv", ledger()))
    cli("costs", "import", write_csv(tmp_path / "budget.csv", ledger("budget", "57500.00")))
    out = tmp_path / "pack.xlsx"
    assert "3 partners" in cli("sla", "pack", "2025-26-Q4", "-o", out).stdout

    book = load_workbook(out)
    partners = ["Ashvale Borough Council", "Brookmere District Council", "Caldmoor Council"]
    shared = ["Summary", "Budget and outturn", "Partners", "KPIs", "Savings", "Queries"]
    assert book.sheetnames == shared + partners
    # the budget 1,187,500.00 (March's staff 57,500.00); actual 1,237,500.01 to March
    rev = rows(book["Budget and outturn"])["Revenues and benefits"]
    assert rev[:6] == (
        "Cost",
        Decimal("1187500.00"),
        Decimal("1187500.00"),
        Decimal("1237500.01"),
        Decimal("1237500.01"),
        Decimal("50000.01"),
    )
    charged = {name: row[2] for name, row in rows(book["Partners"]).items()}
    assert list(charged.items()) == [
        ("Ashvale Borough Council", Decimal("480000.00")),
        ("Brookmere District Council", Decimal("420000.00")),
        ("Caldmoor Council", Decimal("300000.00")),
    ]
    for name in partners:
        sheet = book[name]
        assert sheet["A1"].value == f"{name}: joint committee pack"
        assert sheet.oddHeader.center.text.startswith(name)  # on every page it prints on
        assert rows(sheet)["Revenues and benefits"][2] == charged[name]
    assert book["Summary"].oddHeader.center.text.startswith("Shared Service Centre")


def test_staff_read_and_download_the_pack_and_a_council_cannot(app, people):
    manager = sign_in(app, people["manager"])
    page = Page(manager.get("/pack/2026-27-Q1").text)
    assert "Joint committee pack, Q1 2026-27" in page.text
    assert "Wyre Council’s KPI results" in page.text and "Lancaster City Council" in page.text
    download = manager.get("/pack/2026-27-Q1.xlsx")
    assert download.status_code == 200
    assert "Summary" in load_workbook(io.BytesIO(download.data)).sheetnames
    assert manager.get("/pack/2026-27-Q9").status_code == 404
    assert manager.get("/pack").headers["Location"].startswith("/pack/")
    council = sign_in(app, people["wyr"])
    assert council.get("/pack/2026-27-Q1").status_code == 404
    assert council.get("/pack/2026-27-Q1.xlsx").status_code == 404
