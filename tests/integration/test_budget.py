"""Budget estimates: last year's volumes priced at next year's tariffs (`billing estimate`)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from openpyxl import load_workbook

from tests.support import small_centre, write_book, write_csv

NEXT = "2027-28"


def budget_centre(cli, tmp_path) -> None:
    """The small centre; PRS leaves on 31 March 2027; 2027-28 tariffs:
    PAY 500@4.50; *@3.50, HOST 38,000 a year, ICT pool 126,000 split equally."""
    sheets = small_centre()
    april = date(2026, 4, 1)
    sheets["Subscriptions"] = (
        [["client", "service", "start", "end"]]
        + [[k, s, april, None] for k in ("WYR", "LAN") for s in ("PAY", "HOST", "ICT")]
        + [["PRS", s, april, date(2027, 3, 31)] for s in ("HOST", "ICT")]
    )
    sheets["Tariffs"] += [
        ["PAY", NEXT, "graduated", "500@4.50; *@3.50", None, None],
        ["HOST", NEXT, "fixed_fee", None, 38000, None],
        ["ICT", NEXT, "apportion", None, 126000, "equal"],
    ]
    cli("setup", "load", write_book(tmp_path / "setup.xlsx", sheets))
    cli(
        "usage",
        "import",
        write_csv(
            tmp_path / "usage.csv",
            [
                {"client": "WYR", "service": "PAY", "date": "2026-05-01", "quantity": 700},
                {"client": "WYR", "service": "PAY", "date": "2026-11-10", "quantity": 100},
                {"client": "LAN", "service": "PAY", "date": "2026-05-12", "quantity": 300},
            ],
        ),
    )


def net_by_client(entries: list[dict[str, str]]) -> dict[str, Decimal]:
    """`billing estimate --json`'s entries summed by client."""
    totals: dict[str, Decimal] = {}
    for e in entries:
        totals[e["client"]] = totals.get(e["client"], Decimal(0)) + Decimal(e["annual"])
    return totals


def test_estimate_prices_last_years_volumes_at_the_new_tariffs(cli, tmp_path):
    budget_centre(cli, tmp_path)
    out = tmp_path / "budget.xlsx"
    document = net_by_client(cli.json("billing", "estimate", NEXT, "-o", out))
    # WYR: PAY month by month: May 500 x 4.50 + 200 x 3.50 = 2950.00, November
    # 100 x 4.50 = 450.00; HOST 38,000.00; ICT 126,000 / 2 clients = 63,000.00.
    assert document["WYR"] == Decimal("104400.00")
    # LAN: PAY 300 x 4.50 = 1350.00, plus the same HOST and ICT.
    assert document["LAN"] == Decimal("102350.00")
    # PRS opted out before 2027-28: no budget letter.
    assert "PRS" not in document

    book = load_workbook(out)
    assert book.sheetnames[0] == "Summary"
    assert {"WYR", "LAN"} <= set(book.sheetnames)
    assert "PRS" not in book.sheetnames
    summary = [row for row in book["Summary"].iter_rows(values_only=True)]
    wyr_row = next(row for row in summary if row[0] == "WYR")
    assert Decimal(str(wyr_row[2])) == Decimal("104400")
    assert not any(row[0] == "PRS" for row in summary)

    sheet = [row for row in book["WYR"].iter_rows(values_only=True)]
    header = next(row for row in sheet if row[0] == "service")
    rows = {
        row[0]: dict(zip(header, row, strict=False))
        for row in sheet
        if row[0] in ("PAY", "HOST", "ICT")
    }
    assert Decimal(str(rows["PAY"]["net"])) == Decimal("3400")
    assert Decimal(str(rows["HOST"]["net"])) == Decimal("38000")
    assert Decimal(str(rows["ICT"]["net"])) == Decimal("63000")
    assert Decimal(str(rows["PAY"]["2026-27 quantity"])) == 800


def test_estimate_human_output(cli, tmp_path):
    budget_centre(cli, tmp_path)
    out = tmp_path / "budget.xlsx"
    text = cli("billing", "estimate", NEXT, "-o", out).stdout
    assert "WYR" in text and "104400.00" in text
    assert out.exists()


def test_estimate_without_tariffs_for_the_year_is_refused(cli, tmp_path):
    budget_centre(cli, tmp_path)
    out = tmp_path / "later.xlsx"
    result = cli("billing", "estimate", "2028-29", "-o", out, expect=1)
    assert "tariff" in result.stderr.lower()
    assert "2028-29" in result.stderr
    assert not out.exists()
    refused = cli("billing", "estimate", "2028-29", "-o", out, "--json", expect=1)
    assert json.loads(refused.stdout)["errors"]
    assert not out.exists()


def test_estimate_needs_a_year_and_writes_a_workbook_only_when_asked(cli, tmp_path):
    budget_centre(cli, tmp_path)
    cli("billing", "estimate", "2027", "-o", tmp_path / "x.xlsx", expect=2)
    before = sorted(tmp_path.rglob("*"))
    printed = cli("billing", "estimate", NEXT).stdout
    assert "104400.00" in printed and "wrote" not in printed
    assert sorted(tmp_path.rglob("*")) == before  # no -o: no workbook


def test_estimate_json_is_one_entry_per_client_and_service(cli, tmp_path):
    budget_centre(cli, tmp_path)
    entries = cli.json("billing", "estimate", NEXT)
    assert {(e["client"], e["service"]) for e in entries} >= {("WYR", "PAY"), ("LAN", "HOST")}
    assert all(set(e) == {"client", "service", "annual"} for e in entries)
    wyre = {e["service"]: e["annual"] for e in entries if e["client"] == "WYR"}
    assert wyre == {"PAY": "3400.00", "HOST": "38000.00", "ICT": "63000.00"}


def test_a_service_left_before_the_year_is_not_projected(cli, tmp_path):
    budget_centre(cli, tmp_path)
    cli(
        "setup",
        "load",
        write_book(
            tmp_path / "leave.xlsx",
            {
                "Subscriptions": [
                    ["client", "service", "start", "end"],
                    ["WYR", "PAY", date(2026, 4, 1), date(2027, 3, 31)],
                ]
            },
        ),
    )
    document = net_by_client(cli.json("billing", "estimate", NEXT, "-o", tmp_path / "b.xlsx"))
    # WYR keeps hosting and the ICT desk but takes no payroll in 2027-28.
    assert document["WYR"] == Decimal("101000.00")
    assert document["LAN"] == Decimal("102350.00")
