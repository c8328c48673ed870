"""VAT by arrangement, ledger codes on every line and `billing post` (CONTRACT section 9)."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal

import pytest

from tests.support import FY, write_book, write_csv


def coded_centre(cli, tmp_path, extra_usage: list[dict] | None = None) -> None:
    """Wyre takes the post room as a non-business recharge, the college as a taxable
    supply at 20%; the centre's codes are R410/9400, VAT control 9100, debtors 8100."""
    sheets = {
        "Settings": [
            ["key", "value"],
            ["centre_name", "Fylde Coast Shared Services"],
            ["statement_prefix", "PX"],
            ["centre_address", "Civic Centre, Poulton FY6 7PU"],
            ["vat_number", "GB987654321"],
            ["vat_control_code", "9100"],
            ["debtors_code", "8100"],
        ],
        "Clients": [
            ["code", "name", "address", "vat_number"],
            ["WYR", "Wyre Council", "Civic Centre, Poulton", None],
            ["BFC", "Blackpool and The Fylde College", "Ashfield Road, Bispham", "GB123456789"],
        ],
        "Services": [
            ["code", "name", "unit", "vat_rate", "cost_centre", "subjective"],
            ["MAIL", "Post room", "item", 20, "R410", "9400"],
        ],
        "Subscriptions": [
            [
                "client",
                "service",
                "start",
                "vat",
                "client_cost_centre",
                "client_subjective",
                "po_number",
            ],
            ["WYR", "MAIL", date(2026, 4, 1), "outside_scope", "F220", "4410", "PO-77"],
            ["BFC", "MAIL", date(2026, 4, 1), None, None, None, None],
        ],
        "Tariffs": [["service", "financial_year", "rule", "rate"], ["MAIL", FY, "unit_rate", 0.75]],
    }
    cli("setup", "load", write_book(tmp_path / "setup.xlsx", sheets))
    usage = [
        {
            "event_id": "m1",
            "client": "WYR",
            "service": "MAIL",
            "date": "2026-06-03",
            "quantity": 400,
        },
        {
            "event_id": "m2",
            "client": "BFC",
            "service": "MAIL",
            "date": "2026-06-04",
            "quantity": 100,
        },
    ]
    cli("usage", "import", write_csv(tmp_path / "usage.csv", usage + (extra_usage or [])))


def journal(cli, tmp_path, month: str) -> list[dict[str, str]]:
    out = tmp_path / f"journal-{month}.csv"
    cli("billing", "post", month, "-o", out)
    with open(out, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def total(rows: list[dict[str, str]], column: str) -> Decimal:
    return sum((Decimal(r[column] or 0) for r in rows), Decimal(0))


def test_vat_follows_the_subscription_and_every_line_carries_both_sides_codes(cli, tmp_path):
    coded_centre(cli, tmp_path)
    cli("billing", "close", "2026-06")
    cli("billing", "issue", "2026-06")
    wyr = cli.json("billing", "show", "PX-202606-WYR")
    bfc = cli.json("billing", "show", "PX-202606-BFC")
    # Wyre: 400 x 0.75 = 300.00, outside the scope; the college 100 x 0.75 = 75.00 + 20%
    assert (wyr["vat"], wyr["total"], wyr["lines"][0]["vat_code"]) == ("0.00", "300.00", "O")
    assert (bfc["vat"], bfc["total"], bfc["lines"][0]["vat_code"]) == ("15.00", "90.00", "S")
    line = wyr["lines"][0]
    assert (line["cost_centre"], line["subjective"]) == ("R410", "9400")
    assert (line["client_cost_centre"], line["client_subjective"], line["po_number"]) == (
        "F220",
        "4410",
        "PO-77",
    )
    assert wyr["vat_invoice"] is None
    assert wyr["issued_on"] is not None and wyr["due_on"] is not None
    invoice = bfc["vat_invoice"]
    assert invoice["supplier"] == {
        "name": "Fylde Coast Shared Services",
        "address": "Civic Centre, Poulton FY6 7PU",
        "vat_number": "GB987654321",
    }
    assert invoice["customer"]["address"] == "Ashfield Road, Bispham"
    assert invoice["tax_point"] == bfc["issued_on"]
    assert bfc["vat_by_rate"] == [{"code": "S", "rate": "20", "net": "75.00", "vat": "15.00"}]


def test_a_draft_has_no_dates_and_its_coding_follows_the_setup_until_issued(cli, tmp_path):
    coded_centre(cli, tmp_path)
    cli("billing", "close", "2026-06")
    draft = cli.json("billing", "show", "PX-202606-BFC")
    assert (draft["issued_on"], draft["due_on"], draft["vat_invoice"]["tax_point"]) == (
        None,
        None,
        None,
    )


def test_the_journal_balances_to_the_statements_totals(cli, tmp_path):
    coded_centre(cli, tmp_path)
    cli("billing", "close", "2026-06")
    cli("billing", "issue", "2026-06")
    rows = journal(cli, tmp_path, "2026-06")
    assert total(rows, "debit") == total(rows, "credit") == Decimal("390.00")
    debtors = [r for r in rows if r["debit"]]
    assert {(r["statement"], r["subjective"], r["debit"]) for r in debtors} == {
        ("PX-202606-WYR", "8100", "300.00"),
        ("PX-202606-BFC", "8100", "90.00"),
    }
    vat = [r for r in rows if r["subjective"] == "9100"]
    assert [(r["statement"], r["credit"], r["vat_code"]) for r in vat] == [
        ("PX-202606-BFC", "15.00", "S")
    ]
    income = [r for r in rows if r["subjective"] == "9400"]
    assert {(r["cost_centre"], r["credit"]) for r in income} == {
        ("R410", "300.00"),
        ("R410", "75.00"),
    }


def test_credits_and_prior_period_lines_keep_every_statement_balanced(cli, tmp_path):
    """Awkward cases: a credit bigger than the month's charge (a negative total), VAT on a
    credit, and a late June row re-rating June as a prior-period line in July."""
    coded_centre(cli, tmp_path)
    cli("billing", "close", "2026-06")
    cli("billing", "issue", "2026-06")
    late = [
        {"event_id": "m3", "client": "BFC", "service": "MAIL", "date": "2026-06-20", "quantity": 40}
    ]
    cli("usage", "import", write_csv(tmp_path / "late.csv", late))
    cli("billing", "adjust", "BFC", "MAIL", "-100.00", "--reason", "Goodwill credit")
    cli("billing", "adjust", "WYR", "MAIL", "-12.34", "--reason", "Lost post")
    cli("billing", "close", "2026-07")
    cli("billing", "issue", "2026-07")
    bfc = cli.json("billing", "show", "PX-202607-BFC")
    # July: no use; prior-period 40 x 0.75 = 30.00 (+6.00 VAT), credit -100.00 (-20.00 VAT)
    assert [(line["kind"], line["amount"], line["vat"]) for line in bfc["lines"]] == [
        ("charge", "0.00", "0.00"),
        ("prior_period", "30.00", "6.00"),
        ("adjustment", "-100.00", "-20.00"),
    ]
    assert bfc["total"] == "-84.00"
    rows = journal(cli, tmp_path, "2026-07")
    for number in ("PX-202607-BFC", "PX-202607-WYR"):
        mine = [r for r in rows if r["statement"] == number]
        assert total(mine, "debit") == total(mine, "credit"), number
    assert total(rows, "debit") == Decimal("-84.00") + Decimal("-12.34")
    assert [r["credit"] for r in rows if r["subjective"] == "9100"] == ["-14.00"]


def test_post_refuses_a_month_with_nothing_issued_and_an_unknown_format(cli, tmp_path):
    coded_centre(cli, tmp_path)
    cli("billing", "close", "2026-06")
    result = cli("billing", "post", "2026-06", "-o", tmp_path / "j.csv", expect=1)
    assert "no issued statements for 2026-06" in result.stderr
    assert not (tmp_path / "j.csv").exists()
    cli("billing", "post", "2026-06", "-o", tmp_path / "j.csv", "--format", "sage", expect=2)


@pytest.mark.parametrize(("treatment", "code"), [("exempt", "E"), ("zero", "Z"), ("service", "S")])
def test_each_vat_treatment_gives_its_code(cli, tmp_path, treatment, code):
    coded_centre(cli, tmp_path)
    cli(
        "setup",
        "load",
        write_book(
            tmp_path / "vat.xlsx",
            {
                "Subscriptions": [
                    ["client", "service", "start", "vat"],
                    ["WYR", "MAIL", date(2026, 4, 1), treatment],
                ]
            },
        ),
    )
    cli("billing", "close", "2026-06")
    line = cli.json("billing", "show", "PX-202606-WYR")["lines"][0]
    assert (line["vat_code"], line["vat"]) == (code, "60.00" if code == "S" else "0.00")
