"""The posting journals and layouts on plain values (billing.posting)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.posting import (
    HOUSE,
    Layout,
    LineFigures,
    Posting,
    StatementFigures,
    cell,
    centre_journal,
    client_journal,
    mapped_layout,
    oracle_layout,
    posted,
    sides,
)
from billing.statements import VatBand
from opsplatform.errors import Refused
from opsplatform.settings import CentreSettings
from opsplatform.vocabulary import VatCode

CENTRE = CentreSettings(
    centre_name="Fylde Coast Shared Services",
    statement_prefix="PX",
    de_minimis=Decimal(0),
    service_credit_cap_percent=Decimal(100),
    payment_terms_days=30,
    close_working_day=3,
    centre_address="",
    vat_number="",
    vat_control_code="9100",
    debtors_code="8100",
)


def statement(lines: list[LineFigures], vat: list[VatBand], total: Decimal) -> StatementFigures:
    return StatementFigures(
        number="PX-202607-BFC",
        client="BFC",
        client_name="Blackpool and The Fylde College",
        month="2026-07",
        issued_on=date(2026, 8, 5),
        total=total,
        lines=lines,
        vat=vat,
        vat_recoverable_code="5100",
        creditors_code="6200",
    )


def line(
    amount: str, code: VatCode = VatCode.STANDARD, description: str = "Post room"
) -> LineFigures:
    return LineFigures(Decimal(amount), code, description, "R410", "9400", "B100", "7200", "PO-9")


# A prior-period charge with VAT, a credit bigger than it with VAT on the credit, a
# service credit outside the scope of VAT and a zero charge: total -91.50.
AWKWARD = statement(
    [
        line("0.00"),
        line("30.00", description="June re-rated"),
        line("-100.00", description="Goodwill credit"),
        line("-7.50", VatCode.OUTSIDE_SCOPE, "Service credit"),
    ],
    [
        VatBand(VatCode.STANDARD, Decimal(20), Decimal("-70.00"), Decimal("-14.00")),
        VatBand(VatCode.OUTSIDE_SCOPE, Decimal(0), Decimal("-7.50"), Decimal("0.00")),
    ],
    Decimal("-91.50"),
)


def entries(rows: list[Posting]) -> list[tuple[str, str, Decimal | None, Decimal | None]]:
    return [(r.cost_centre, r.subjective, r.debit, r.credit) for r in rows]


def test_the_client_journal_debits_its_codes_and_vat_and_credits_its_creditors():
    rows = posted(client_journal, AWKWARD, CENTRE)
    assert entries(rows) == [
        ("B100", "7200", Decimal("30.00"), None),
        ("B100", "7200", Decimal("-100.00"), None),
        ("B100", "7200", Decimal("-7.50"), None),
        ("", "5100", Decimal("-14.00"), None),
        ("", "6200", None, Decimal("-91.50")),
    ]
    assert sides(rows) == (Decimal("-91.50"), Decimal("-91.50"))
    assert rows[-1].description == "Fylde Coast Shared Services: statement PX-202607-BFC"
    assert rows[3].description == "VAT at 20% on statement PX-202607-BFC"
    assert [r.po_number for r in rows] == ["PO-9", "PO-9", "PO-9", "", ""]


def test_the_centre_journal_is_the_client_journal_mirrored_on_the_centre_codes():
    rows = posted(centre_journal, AWKWARD, CENTRE)
    assert entries(rows) == [
        ("", "8100", Decimal("-91.50"), None),
        ("R410", "9400", None, Decimal("30.00")),
        ("R410", "9400", None, Decimal("-100.00")),
        ("R410", "9400", None, Decimal("-7.50")),
        ("", "9100", None, Decimal("-14.00")),
    ]
    client = posted(client_journal, AWKWARD, CENTRE)
    assert sorted(r.amount for r in rows) == sorted(-r.amount for r in client)


def test_a_statement_whose_total_is_not_its_net_and_vat_is_refused():
    wrong = statement([line("10.00")], [], Decimal("10.01"))
    with pytest.raises(Refused, match="statement PX-202607-BFC does not balance"):
        posted(client_journal, wrong, CENTRE)


def test_each_source_reads_its_field_and_free_text_cannot_be_a_formula():
    row = posted(client_journal, AWKWARD, CENTRE)[1]  # the goodwill credit: -100.00 debit
    assert [cell(s, row) for s in ("debit", "credit", "amount")] == ["-100.00", "", "-100.00"]
    assert [cell(s, row) for s in ("positive_debit", "positive_credit")] == ["", "100.00"]
    assert [cell(s, row) for s in ("date", "date_dmy", "date_ymd", "month")] == [
        "2026-08-05",
        "05/08/2026",
        "2026/08/05",
        "2026-07",
    ]
    assert cell("text:GBP", row) == "GBP" and cell(None, row) == ""
    assert cell("text:=HYPERLINK()", row) == "'=HYPERLINK()"


def test_a_layout_leaves_a_gap_empty_and_writes_a_header_only_when_it_has_one():
    row = posted(client_journal, AWKWARD, CENTRE)[0]
    layout = Layout({1: "statement", 3: "amount"}, {1: "Ref", 3: "Value"}, "utf-8-sig")
    assert list(layout.rows([row])) == [["Ref", "", "Value"], ["PX-202607-BFC", "", "30.00"]]
    assert list(Layout({2: "text:A"}, None, "utf-8").rows([row])) == [["", "A"]]
    assert next(HOUSE.rows([])) == [
        "statement",
        "client",
        "date",
        "cost_centre",
        "subjective",
        "debit",
        "credit",
        "vat_code",
        "description",
        "po_number",
    ]


def test_oracles_layout_takes_the_clients_own_columns_over_its_own_and_needs_its_ledger():
    with pytest.raises(Refused, match=r"BFC's own LEDGER_ID \(2\), USER_JE_SOURCE_NAME \(4\)"):
        oracle_layout("BFC", {})
    layout = oracle_layout(
        "BFC",
        {
            2: (None, "text:300000046975971"),
            4: (None, "text:Shared Services"),
            5: (None, "text:Recharges"),
            9: ("SEGMENT1", "text:01"),
            10: ("SEGMENT2", "cost_centre"),
            11: ("SEGMENT3", "subjective"),
        },
    )
    assert layout.headings is None and layout.encoding == "utf-8"
    rows = list(layout.rows(posted(client_journal, AWKWARD, CENTRE)))
    assert rows[0][:11] == [
        "NEW",
        "300000046975971",
        "2026/08/05",
        "Shared Services",
        "Recharges",
        "GBP",
        "2026/08/05",
        "A",
        "01",
        "B100",
        "7200",
    ]
    assert [(r[38], r[39]) for r in rows] == [
        ("30.00", ""),
        ("", "100.00"),
        ("", "7.50"),
        ("", "14.00"),
        ("91.50", ""),
    ]


def test_a_mapped_layout_needs_the_clients_columns():
    with pytest.raises(Refused, match="WYR has no posting columns"):
        mapped_layout("WYR", {})
    layout = mapped_layout("WYR", {2: ("Value", "amount"), 1: (None, "statement")})
    assert layout.headings == {2: "Value", 1: ""} and layout.encoding == "utf-8-sig"


# -- any statement balances in every journal ----------------------------------------------

money = st.decimals(min_value=-10_000, max_value=10_000, places=2)


@given(
    amounts=st.lists(money, max_size=8),
    vat=st.lists(money, max_size=3),
    journal=st.sampled_from([centre_journal, client_journal]),
)
def test_any_statement_balances_and_so_do_the_positive_columns(amounts, vat, journal):
    """Whatever its signed line amounts and VAT, a statement whose total is their sum
    balances in both journals, and Oracle's never-negative columns balance too."""
    lines = [line(str(a)) for a in amounts]
    bands = [VatBand(VatCode.STANDARD, Decimal(n), Decimal(0), v) for n, v in enumerate(vat)]
    s = statement(lines, bands, sum(amounts, Decimal(0)) + sum(vat, Decimal(0)))
    rows = posted(journal, s, CENTRE)
    debits, credits = sides(rows)
    assert debits == credits == s.total
    assert all(r.amount != 0 for r in rows)
    positive = [(cell("positive_debit", r), cell("positive_credit", r)) for r in rows]
    assert all(not (dr and cr) for dr, cr in positive)
    assert sum(Decimal(dr or 0) for dr, _ in positive) == sum(
        Decimal(cr or 0) for _, cr in positive
    )


@given(amounts=st.lists(money, min_size=1, max_size=8), error=money.filter(lambda d: d != 0))
def test_a_total_that_is_not_the_lines_and_vat_never_balances(amounts, error):
    s = statement([line(str(a)) for a in amounts], [], sum(amounts, Decimal(0)) + error)
    with pytest.raises(Refused):
        posted(client_journal, s, CENTRE)
