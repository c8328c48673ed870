"""VAT by arrangement, ledger codes on every line and `billing post` (CONTRACT section 9)."""

from __future__ import annotations

import codecs
import csv
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from billing.adjustments import raise_service_credit
from opsplatform.models import Client, PostingColumn, Service
from opsplatform.periods import Month
from tests.support import FY, write_book, write_csv


def coded_centre(cli, tmp_path, extra_usage: list[dict] | None = None) -> None:
    """Wyre takes the post room as a non-business recharge, the college as a taxable
    supply at 20%; the centre's codes are R410/9400, VAT control 9100, debtors 8100.
    Wyre's own codes are F220/4410 for the post room and 6100 for creditors, the
    college's B100/7200, VAT recoverable 5100 and creditors 6200."""
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
            ["code", "name", "address", "vat_number", "vat_recoverable_code", "creditors_code"],
            ["WYR", "Wyre Council", "Civic Centre, Poulton", None, None, "6100"],
            [
                "BFC",
                "Blackpool and The Fylde College",
                "Ashfield Road, Bispham",
                "GB123456789",
                "5100",
                "6200",
            ],
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
            ["BFC", "MAIL", date(2026, 4, 1), None, "B100", "7200", None],
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


def post(cli, tmp_path, month: str, *options: str) -> Path:
    """`billing post MONTH` with `options`: the file it wrote."""
    out = tmp_path / f"post-{month}-{'-'.join(o.strip('-') for o in options)}.csv"
    cli("billing", "post", month, "-o", out, *options)
    return out


def by_heading(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def by_position(path: Path, encoding: str = "utf-8") -> list[list[str]]:
    with open(path, newline="", encoding=encoding) as f:
        return list(csv.reader(f))


def journal(cli, tmp_path, month: str, *options: str) -> list[dict[str, str]]:
    """The rows of `billing post MONTH` with `options`, by heading."""
    return by_heading(post(cli, tmp_path, month, *options))


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


# -- the clients' own journals and the other layouts -----------------------------------------

# Oracle Fusion's journal import, by column number (billing.posting.ORACLE)
LEDGER, SOURCE, CATEGORY, SEGMENT1, SEGMENT2, SEGMENT3 = 2, 4, 5, 9, 10, 11
ENTERED_DR, ENTERED_CR, REFERENCE1, REFERENCE4, REFERENCE10 = 39, 40, 43, 46, 52


def column(row: list[str], number: int) -> str:
    return row[number - 1]


def load_posting_columns(cli, tmp_path, rows: list[list], expect: int = 0):
    book = write_book(
        tmp_path / "columns.xlsx",
        {"PostingColumns": [["client", "position", "heading", "source"], *rows]},
    )
    return cli("setup", "load", book, "--json", expect=expect)


WYRE_TEMPLATE = [
    ["WYR", 1, "Journal Ref", "statement"],
    ["WYR", 2, "Date", "date_dmy"],
    ["WYR", 3, "Cost Centre", "cost_centre"],
    ["WYR", 4, "Account", "subjective"],
    ["WYR", 5, "Value", "amount"],
    ["WYR", 7, "Source", "text:SSC"],
    ["WYR", 8, "Narrative", "description"],
]
# the college runs Oracle Fusion: its ledger, journal source and category, and a chart
# of entity, cost centre and account
COLLEGE_ORACLE = [
    ["BFC", 2, None, "text:300000046975971"],
    ["BFC", 4, None, "text:Shared Services"],
    ["BFC", 5, None, "text:Recharges"],
    ["BFC", 9, "SEGMENT1", "text:01"],
    ["BFC", 10, "SEGMENT2", "cost_centre"],
    ["BFC", 11, "SEGMENT3", "subjective"],
]


def test_each_client_journal_debits_its_own_codes_and_credits_its_creditors(cli, tmp_path):
    coded_centre(cli, tmp_path)
    cli("billing", "close", "2026-06")
    cli("billing", "issue", "2026-06")
    rows = journal(cli, tmp_path, "2026-06", "--format", "client")
    assert {r["client"] for r in rows} == {"WYR", "BFC"}
    mine = {r["statement"]: [] for r in rows}
    for r in rows:
        mine[r["statement"]].append(
            (r["cost_centre"], r["subjective"], r["debit"], r["credit"], r["vat_code"])
        )
    assert mine["PX-202606-WYR"] == [
        ("F220", "4410", "300.00", "", "O"),
        ("", "6100", "", "300.00", ""),
    ]
    assert mine["PX-202606-BFC"] == [
        ("B100", "7200", "75.00", "", "S"),
        ("", "5100", "15.00", "", "S"),
        ("", "6200", "", "90.00", ""),
    ]
    assert [r["po_number"] for r in rows if r["statement"] == "PX-202606-WYR"] == ["PO-77", ""]
    one = journal(cli, tmp_path, "2026-06", "--format", "client", "--client", "bfc")
    assert {r["client"] for r in one} == {"BFC"} and len(one) == 3


def awkward_july(cli, database, tmp_path) -> None:
    """July: the college's late June post re-rated (a prior-period line with VAT), a
    goodwill credit bigger than the month's charge (VAT on a credit, a negative total);
    Wyre's lost-post credit and a service credit, both outside the scope of VAT."""
    coded_centre(cli, tmp_path)
    cli("billing", "close", "2026-06")
    cli("billing", "issue", "2026-06")
    late = [
        {"event_id": "m3", "client": "BFC", "service": "MAIL", "date": "2026-06-20", "quantity": 40}
    ]
    cli("usage", "import", write_csv(tmp_path / "late.csv", late))
    cli("billing", "adjust", "BFC", "MAIL", "-100.00", "--reason", "Goodwill credit")
    cli("billing", "adjust", "WYR", "MAIL", "-12.34", "--reason", "Lost post")
    with database.transaction() as session:
        wyre = session.scalars(select(Client).where(Client.code == "WYR")).one()
        mail = session.scalars(select(Service).where(Service.code == "MAIL")).one()
        raise_service_credit(
            session,
            wyre.id,
            mail.id,
            Decimal("-7.50"),
            "Service credit: post delivered late",
            "MAIL-1D red in Q1",
            "2026-Q1",
            Month.parse("2026-07"),
        )
    cli("billing", "close", "2026-07")
    cli("billing", "issue", "2026-07")


def balances_by_statement(rows: list[dict[str, str]]) -> dict[str, tuple[Decimal, Decimal]]:
    sums: dict[str, tuple[Decimal, Decimal]] = {}
    for r in rows:
        debit, credit = sums.get(r["statement"], (Decimal(0), Decimal(0)))
        sums[r["statement"]] = (
            debit + Decimal(r["debit"] or 0),
            credit + Decimal(r["credit"] or 0),
        )
    return sums


def test_every_format_balances_statement_by_statement_in_awkward_months(cli, database, tmp_path):
    awkward_july(cli, database, tmp_path)
    wyr = cli.json("billing", "show", "PX-202607-WYR")
    assert [(line["kind"], line["amount"], line["vat"]) for line in wyr["lines"]] == [
        ("charge", "0.00", "0.00"),
        ("adjustment", "-12.34", "0.00"),
        ("service_credit", "-7.50", "0.00"),
    ]
    bfc = cli.json("billing", "show", "PX-202607-BFC")
    # July: no use; prior-period 40 x 0.75 = 30.00 (+6.00 VAT), credit -100.00 (-20.00 VAT)
    assert [(line["kind"], line["amount"], line["vat"]) for line in bfc["lines"]] == [
        ("charge", "0.00", "0.00"),
        ("prior_period", "30.00", "6.00"),
        ("adjustment", "-100.00", "-20.00"),
    ]
    assert bfc["total"] == "-84.00"
    centre = journal(cli, tmp_path, "2026-07")
    assert total(centre, "debit") == Decimal("-84.00") + Decimal("-19.84")
    assert [r["credit"] for r in centre if r["subjective"] == "9100"] == ["-14.00"]

    for form in ("journal", "client"):
        sums = balances_by_statement(journal(cli, tmp_path, "2026-07", "--format", form))
        assert set(sums) == {"PX-202607-BFC", "PX-202607-WYR"}, form
        assert all(debit == credit for debit, credit in sums.values()), (form, sums)
    assert balances_by_statement(journal(cli, tmp_path, "2026-07", "--format", "client")) == {
        "PX-202607-BFC": (Decimal("-84.00"), Decimal("-84.00")),
        "PX-202607-WYR": (Decimal("-19.84"), Decimal("-19.84")),
    }
    # a zero line posts nothing: July's 0.00 charges are not in the files
    college = journal(cli, tmp_path, "2026-07", "--format", "client", "--client", "BFC")
    assert [(r["subjective"], r["debit"], r["credit"]) for r in college] == [
        ("7200", "30.00", ""),
        ("7200", "-100.00", ""),
        ("5100", "-14.00", ""),
        ("6200", "", "-84.00"),
    ]

    load_posting_columns(cli, tmp_path, COLLEGE_ORACLE)
    path = post(cli, tmp_path, "2026-07", "--format", "oracle", "--client", "BFC")
    assert not path.read_bytes().startswith(codecs.BOM_UTF8), "an import file has no BOM"
    oracle = by_position(path)
    # Oracle's convention: both columns positive, a negative amount on the other side
    assert [
        (column(r, SEGMENT2), column(r, SEGMENT3), column(r, ENTERED_DR), column(r, ENTERED_CR))
        for r in oracle
    ] == [
        ("B100", "7200", "30.00", ""),
        ("B100", "7200", "", "100.00"),
        ("", "5100", "", "14.00"),
        ("", "6200", "84.00", ""),
    ]
    issued = oracle[0][2]
    assert oracle[0][:8] == [
        "NEW",
        "300000046975971",
        issued,
        "Shared Services",
        "Recharges",
        "GBP",
        issued,
        "A",
    ]
    assert issued == date.fromisoformat(college[0]["date"]).strftime("%Y/%m/%d")
    assert {len(r) for r in oracle} == {REFERENCE10}
    assert {
        (column(r, SEGMENT1), column(r, REFERENCE1), column(r, REFERENCE4)) for r in oracle
    } == {("01", "PX-202607-BFC", "PX-202607-BFC")}
    assert [column(r, REFERENCE10) for r in oracle[:2]] == [r["description"] for r in college[:2]]

    load_posting_columns(cli, tmp_path, WYRE_TEMPLATE)
    mapped = by_position(
        post(cli, tmp_path, "2026-07", "--format", "mapped", "--client", "WYR"), "utf-8-sig"
    )
    assert mapped[0] == [
        "Journal Ref",
        "Date",
        "Cost Centre",
        "Account",
        "Value",
        "",
        "Source",
        "Narrative",
    ]
    assert [(r[0], r[2], r[3], r[4], r[5], r[6]) for r in mapped[1:]] == [
        ("PX-202607-WYR", "F220", "4410", "-12.34", "", "SSC"),
        ("PX-202607-WYR", "F220", "4410", "-7.50", "", "SSC"),
        ("PX-202607-WYR", "", "6100", "19.84", "", "SSC"),
    ]
    assert mapped[1][1] == date.fromisoformat(college[0]["date"]).strftime("%d/%m/%Y")
    assert mapped[3][7] == "Fylde Coast Shared Services: statement PX-202607-WYR"


def test_one_clients_formats_need_the_client_and_its_columns_and_write_nothing_else(cli, tmp_path):
    coded_centre(cli, tmp_path)
    cli("billing", "close", "2026-06")
    cli("billing", "issue", "2026-06")
    out = tmp_path / "refused.csv"
    refusals = [
        (("--format", "mapped"), "a mapped posting file is one client's: name the client"),
        (("--format", "oracle"), "a oracle posting file is one client's"),
        (("--format", "mapped", "--client", "WYR"), "WYR has no posting columns"),
        (
            ("--format", "oracle", "--client", "BFC"),
            "needs BFC's own LEDGER_ID (2), USER_JE_SOURCE_NAME (4), USER_JE_CATEGORY_NAME (5)",
        ),
        (("--format", "client", "--client", "NOPE"), "unknown client 'NOPE'"),
    ]
    for options, message in refusals:
        result = cli("billing", "post", "2026-06", "-o", out, *options, expect=1)
        assert message in result.stderr, options
        assert not out.exists(), options
    # a client with nothing issued for the month
    cli("billing", "post", "2026-05", "-o", out, "--client", "WYR", expect=1)
    assert not out.exists()


def test_posting_columns_are_checked_cell_by_cell_and_a_reload_replaces_a_clients(
    cli, database, tmp_path
):
    coded_centre(cli, tmp_path)
    result = load_posting_columns(
        cli,
        tmp_path,
        [
            ["WYR", 1, "Ref", "statement"],
            ["NOPE", 2, "Date", "date"],
            ["WYR", 0, "Cost Centre", "cost_centre"],
            ["WYR", 3, "Value", "balance"],
            ["WYR", 1, "Again", "amount"],
        ],
        expect=1,
    )
    problems = {(e["row"], e["column"]): e["message"] for e in json.loads(result.stdout)["errors"]}
    assert problems[(3, "client")] == "unknown client 'NOPE'"
    assert "not a column number from 1 to 200" in problems[(4, "position")]
    assert problems[(5, "source")].startswith("'balance' is not one of statement, client")
    assert problems[(6, None)] == "repeats row 2"
    assert all(e["sheet"] == "PostingColumns" for e in json.loads(result.stdout)["errors"])

    first = json.loads(load_posting_columns(cli, tmp_path, WYRE_TEMPLATE).stdout)
    assert first["sheets"]["PostingColumns"] == {"created": 7, "updated": 0, "unchanged": 0}
    again = [
        ["WYR", 1, "Journal Ref", "statement"],
        ["WYR", 2, "Posting Date", "date_dmy"],
        ["WYR", 9, "Order", "po_number"],
    ]
    second = json.loads(load_posting_columns(cli, tmp_path, again).stdout)
    assert second["sheets"]["PostingColumns"] == {"created": 1, "updated": 1, "unchanged": 1}
    with database.transaction() as session:
        kept = session.execute(
            select(PostingColumn.position, PostingColumn.heading, PostingColumn.source).order_by(
                PostingColumn.position
            )
        ).all()
    assert [tuple(k) for k in kept] == [
        (1, "Journal Ref", "statement"),
        (2, "Posting Date", "date_dmy"),
        (9, "Order", "po_number"),
    ]


def test_billing_show_heads_a_vat_invoice_and_gives_each_lines_vat_code(cli, tmp_path):
    coded_centre(cli, tmp_path)
    cli("billing", "close", "2026-06")
    shown = cli("billing", "show", "PX-202606-BFC").stdout
    assert shown.startswith("VAT invoice PX-202606-BFC  Blackpool and The Fylde College")
    assert "VAT number GB987654321" in shown
    assert "tax point the date of issue, once issued" in shown
    assert "VAT S at 20%: net 75.00, VAT 15.00" in shown
    council = cli("billing", "show", "PX-202606-WYR").stdout
    assert council.startswith("PX-202606-WYR  Wyre Council") and "VAT O" in council
