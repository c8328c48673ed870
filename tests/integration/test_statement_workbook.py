"""The statement workbook, end to end through the command line.

Its totals are the statement's, money is formatted as money, headers are frozen, every
usage event behind the charges is listed and ties to the charged quantity, and text
that people typed (references, adjustment reasons) stays text, never a formula.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from opsplatform.workbooks import MONEY_FORMAT
from tests.integration.test_posting import coded_centre
from tests.support import small_centre, write_book, write_csv

NUMBER = "TSS-202605-WYR"
FORMULA_REFERENCE = "=SUM(A1)"
FORMULA_REASON = "=1+1 goodwill credit agreed at the May review"
USAGE = [
    {
        "event_id": "PAY-1",
        "client": "WYR",
        "service": "PAY",
        "date": "2026-05-04",
        "quantity": "300",
        "reference": FORMULA_REFERENCE,
        "started_at": "2026-05-04T09:00:00+01:00",
        "completed_at": "2026-05-05T08:30:00Z",
    },
    {
        "event_id": "PAY-2",
        "client": "WYR",
        "service": "PAY",
        "date": "2026-05-20",
        "quantity": "350.5",
        "reference": "+44 1253 891000",
    },
    # 23:30 UTC on 30 April is 00:30 on 1 May in London: May usage.
    {
        "event_id": "PAY-3",
        "client": "WYR",
        "service": "PAY",
        "date": "2026-04-30T23:30:00Z",
        "quantity": "10",
        "reference": "#N/A",
    },
    {
        "event_id": "ICT-1",
        "client": "WYR",
        "service": "ICT",
        "date": "2026-05-11",
        "quantity": "2",
        "reference": "@laptop swap",
    },
    # Not behind WYR's May charges: June in London, April, another council.
    {"event_id": "PAY-4", "client": "WYR", "service": "PAY", "date": "2026-05-31T23:30:00Z"},
    {"event_id": "PAY-5", "client": "WYR", "service": "PAY", "date": "2026-04-15"},
    {"event_id": "LAN-1", "client": "LAN", "service": "PAY", "date": "2026-05-11"},
]
MAY_EVENTS = {"PAY-1", "PAY-2", "PAY-3", "ICT-1"}


def centre_with_purchase_orders() -> dict[str, list[list]]:
    """The small centre, with purchase order numbers on Wyre's subscriptions."""
    book = small_centre()
    po = {"PAY": "PO-4471", "HOST": "PO-4502", "ICT": "PO-4471"}
    book["Subscriptions"] = [["client", "service", "start", "po_number"]] + [
        [client, service, start, po[service] if client == "WYR" else None]
        for client, service, start in book["Subscriptions"][1:]
    ]
    return book


@pytest.fixture
def billed_may(cli, tmp_path):
    """May 2026 closed for the small centre, with usage and a manual credit for Wyre."""
    cli("setup", "load", write_book(tmp_path / "setup.xlsx", centre_with_purchase_orders()))
    cli("usage", "import", write_csv(tmp_path / "usage.csv", USAGE))
    cli("billing", "adjust", "WYR", "PAY", "-25.00", "--reason", FORMULA_REASON)
    cli("billing", "close", "2026-05")
    return cli


def export(cli, tmp_path, number: str = NUMBER):
    out = tmp_path / f"{number}.xlsx"
    cli("billing", "export", number, "-o", out)
    return load_workbook(out)


def row_where(ws, column: int, value: object) -> int:
    for row in ws.iter_rows(min_col=column, max_col=column):
        if row[0].value == value:
            return row[0].row
    raise AssertionError(f"no row of {ws.title} has {value!r} in column {column}")


def headers(ws, row: int) -> dict[str, int]:
    return {cell.value: cell.column for cell in ws[row] if cell.value is not None}


def amount(cell) -> Decimal:
    return Decimal(str(cell.value)).quantize(Decimal("0.01"))


def cover(ws) -> dict[str, object]:
    """The cover block's labels (column A) and values (column C)."""
    header = row_where(ws, 1, "Line")
    return {
        ws.cell(r, 1).value: ws.cell(r, 3).value for r in range(4, header) if ws.cell(r, 1).value
    }


def test_lines_and_totals_are_the_statements_in_money_format(billed_may, tmp_path):
    shown = billed_may.json("billing", "show", NUMBER)
    ws = export(billed_may, tmp_path)["Statement"]
    header = row_where(ws, 1, "Line")
    columns = headers(ws, header)
    lines = range(header + 1, header + 1 + len(shown["lines"]))
    assert [ws.cell(r, columns["Net"]).number_format for r in lines] == [MONEY_FORMAT] * len(lines)
    assert [amount(ws.cell(r, columns["Net"])) for r in lines] == [
        Decimal(line["amount"]) for line in shown["lines"]
    ]
    assert ws.cell(lines[-1] + 1, 1).value is None  # no more lines
    kinds = {ws.cell(r, columns["Kind"]).value for r in lines}
    assert kinds == {"Charge for the month", "Manual adjustment"}  # as the statement page says

    totals = row_where(ws, columns["Basis"], "Statement totals")
    for column, key in (("Net", "net"), ("VAT", "vat"), ("Total", "total")):
        cell = ws.cell(totals, columns[column])
        assert amount(cell) == Decimal(shown[key]), column
        assert cell.number_format == MONEY_FORMAT
    assert sum(amount(ws.cell(r, columns["Net"])) for r in lines) == Decimal(shown["net"])


def test_cover_names_the_client_terms_and_purchase_orders_and_marks_a_draft(billed_may, tmp_path):
    book = export(billed_may, tmp_path)
    assert book.sheetnames == ["Statement", "Ties to statement", "Usage detail"]
    assert book.active.title == "Statement"
    ws = book["Statement"]
    assert ws["A1"].value == "Test Shared Services"
    block = cover(ws)
    assert block["Client"] == "Wyre Council"
    assert block["Client code"] == "WYR"
    assert block["Statement number"] == NUMBER
    assert block["Month"] == "May 2026"
    assert block["Status"].startswith("DRAFT")
    assert block["Issue date"] == block["Due date"] == "not yet issued"
    assert block["Payment terms"] == 30
    assert block["Purchase order(s)"] == "PO-4471, PO-4502"


def test_issued_statement_has_real_issue_and_due_dates(billed_may, tmp_path):
    billed_may("billing", "issue", "2026-05")
    shown = billed_may.json("billing", "show", NUMBER)
    block = cover(export(billed_may, tmp_path)["Statement"])
    assert block["Status"] == "Issued"
    assert isinstance(block["Issue date"], datetime)
    assert block["Due date"].date().isoformat() == shown["due_date"]


def test_headers_are_frozen_filtered_and_printed_on_every_page(billed_may, tmp_path):
    book = export(billed_may, tmp_path)
    header = row_where(book["Statement"], 1, "Line")
    for title, row in (("Statement", header), ("Ties to statement", 1), ("Usage detail", 1)):
        ws = book[title]
        assert ws.freeze_panes == f"A{row + 1}", title
        assert ws.auto_filter.ref.startswith(f"A{row}:"), title
        assert ws.print_title_rows == f"${row}:${row}", title
        assert ws.page_setup.orientation == "landscape", title
        assert ws.cell(row, 1).font.bold, title
        if title != "Usage detail":  # tall enough for the headers that wrap, as LibreOffice
            assert ws.row_dimensions[row].height >= 30, title  # does not fit rows on opening


def test_usage_detail_lists_every_event_behind_the_charges(billed_may, tmp_path):
    ws = export(billed_may, tmp_path)["Usage detail"]
    columns = headers(ws, 1)
    rows = list(ws.iter_rows(min_row=2, values_only=True))
    assert len(rows) == len(MAY_EVENTS)
    assert {row[columns["Event ID"] - 1] for row in rows} == MAY_EVENTS
    keys = [(row[columns["Service"] - 1], row[columns["Date"] - 1]) for row in rows]
    assert keys == sorted(keys)
    assert all(isinstance(date, datetime) for _, date in keys)
    first = rows[[row[columns["Event ID"] - 1] for row in rows].index("PAY-1")]
    assert first[columns["Started at"] - 1] == datetime(2026, 5, 4, 9, 0)
    assert first[columns["Completed at"] - 1] == datetime(2026, 5, 5, 9, 30)  # BST


def test_text_people_typed_is_never_a_formula(billed_may, tmp_path):
    book = export(billed_may, tmp_path)
    detail = book["Usage detail"]
    reference = headers(detail, 1)["Reference"]
    cells = {
        c.value: c for (c,) in detail.iter_rows(min_row=2, min_col=reference, max_col=reference)
    }
    for text in (FORMULA_REFERENCE, "+44 1253 891000", "#N/A", "@laptop swap"):
        assert cells[text].data_type == "s", text
    statement = book["Statement"]
    basis = headers(statement, row_where(statement, 1, "Line"))["Basis"]
    reason = statement.cell(row_where(statement, basis, FORMULA_REASON), basis)
    assert reason.data_type == "s"


def test_tie_out_quantities_match_the_statement(billed_may, tmp_path):
    shown = billed_may.json("billing", "show", NUMBER)
    ws = export(billed_may, tmp_path)["Ties to statement"]
    columns = headers(ws, 1)
    ties = {
        row[columns["Service"] - 1]: row
        for row in ws.iter_rows(min_row=2, values_only=True)
        if row[columns["Service"] - 1] and row[columns["Quantity on statement"] - 1] is not None
    }
    charged = {line["service"]: line for line in shown["lines"] if line["kind"] == "charge"}
    assert set(ties) == set(charged) == {"PAY", "HOST", "ICT"}
    for service, row in ties.items():
        assert row[columns["Statement less detail"] - 1] == 0, service
        on_statement = Decimal(str(row[columns["Quantity on statement"] - 1]))
        assert on_statement == Decimal(charged[service]["quantity"]), service
    assert Decimal(str(ties["PAY"][columns["Quantity in usage detail"] - 1])) == Decimal("660.5")
    assert ties["PAY"][columns["Events"] - 1] == 3


def test_export_to_a_missing_folder_is_refused(billed_may, tmp_path):
    out = tmp_path / "no-such-folder" / "statement.xlsx"
    result = billed_may("billing", "export", NUMBER, "-o", out, expect=1)
    assert "no such folder" in result.stderr
    assert not out.parent.exists()


# -- VAT invoice details and ledger codes (CONTRACT section 9) ---------------------------------


@pytest.fixture
def coded_june(cli, tmp_path):
    """test_posting's coded centre with June 2026 closed: Wyre's post outside the scope of VAT
    with both sides' codes and a purchase order, the college's charged 20%."""
    coded_centre(cli, tmp_path)
    cli("billing", "close", "2026-06")
    return cli


def line_cells(ws, row: int = 0) -> dict[str, object]:
    """The cells of line `row` (from 0) under their headers."""
    header = row_where(ws, 1, "Line")
    return {name: ws.cell(header + 1 + row, column) for name, column in headers(ws, header).items()}


def test_a_statement_that_charges_vat_is_a_vat_invoice_naming_both_parties(coded_june, tmp_path):
    ws = export(coded_june, tmp_path, "PX-202606-BFC")["Statement"]
    assert (ws["A1"].value, ws["A2"].value) == ("Fylde Coast Shared Services", "VAT invoice")
    block = cover(ws)
    assert block["Centre address"] == "Civic Centre, Poulton FY6 7PU"
    assert block["Centre VAT number"] == "GB987654321"
    assert block["Client"] == "Blackpool and The Fylde College"
    assert block["Client address"] == "Ashfield Road, Bispham"
    assert block["Client VAT number"] == "GB123456789"
    assert block["Tax point"] == block["Issue date"] == "not yet issued"

    coded_june("billing", "issue", "2026-06")
    shown = coded_june.json("billing", "show", "PX-202606-BFC")
    ws = export(coded_june, tmp_path, "PX-202606-BFC")["Statement"]
    block = cover(ws)
    assert isinstance(block["Tax point"], datetime)
    assert block["Tax point"] == block["Issue date"]
    assert block["Tax point"].date().isoformat() == shown["issued_on"]


def test_vat_by_rate_follows_the_totals_under_the_lines_columns(coded_june, tmp_path):
    ws = export(coded_june, tmp_path, "PX-202606-BFC")["Statement"]
    columns = headers(ws, row_where(ws, 1, "Line"))
    title = row_where(ws, columns["Basis"], "VAT by rate")
    assert title > row_where(ws, columns["Basis"], "Statement totals")
    band = {name: ws.cell(title + 1, column) for name, column in columns.items()}
    assert band["Basis"].value == "Standard or reduced rate"
    assert band["VAT code"].value == "S"
    assert band["VAT rate"].value == pytest.approx(0.2) and band["VAT rate"].number_format == "0%"
    assert [amount(band[c]) for c in ("Net", "VAT", "Total")] == [
        Decimal("75.00"),
        Decimal("15.00"),
        Decimal("90.00"),
    ]
    assert band["Net"].number_format == MONEY_FORMAT
    assert ws.cell(title + 2, columns["Basis"]).value is None  # one band only


def test_a_statement_without_vat_is_no_vat_invoice(coded_june, tmp_path):
    ws = export(coded_june, tmp_path, "PX-202606-WYR")["Statement"]
    assert ws["A2"].value == "Statement of charges"
    block = cover(ws)
    assert "Tax point" not in block
    assert block["Centre VAT number"] == "GB987654321"
    assert block["Client address"] == "Civic Centre, Poulton"
    assert block["Client VAT number"] == "none given"
    columns = headers(ws, row_where(ws, 1, "Line"))
    band = row_where(ws, columns["Basis"], "VAT by rate") + 1
    assert ws.cell(band, columns["Basis"]).value == "Outside the scope of VAT"
    assert ws.cell(band, columns["VAT code"]).value == "O"


def test_the_small_centres_cover_says_what_is_not_recorded(billed_may, tmp_path):
    block = cover(export(billed_may, tmp_path)["Statement"])
    assert block["Centre address"] == block["Centre VAT number"] == "not recorded"
    assert block["Client address"] == block["Client VAT number"] == "none given"


def test_every_line_carries_its_vat_code_and_both_sides_codes_as_text(coded_june, tmp_path):
    ws = export(coded_june, tmp_path, "PX-202606-WYR")["Statement"]
    line = line_cells(ws)
    assert line["Description"].value == "Post room, June 2026"
    assert line["VAT code"].value == "O"
    codes = {
        "Centre cost centre": "R410",
        "Centre subjective": "9400",
        "Client cost centre": "F220",
        "Client subjective": "4410",
        "Purchase order": "PO-77",
    }
    assert {name: line[name].value for name in codes} == codes
    for name in codes:  # "9400" stays the text it was typed as, not the number 9400
        assert (line[name].data_type, line[name].number_format) == ("s", "@"), name
    college = line_cells(export(coded_june, tmp_path, "PX-202606-BFC")["Statement"])
    assert (college["VAT code"].value, college["Client cost centre"].value) == ("S", "B100")
    assert college["Purchase order"].value is None
