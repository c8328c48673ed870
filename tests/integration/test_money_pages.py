"""Money that cannot be misread (issue 15): a query's answer asks credit or charge and a
positive amount and says in words what it will do before anything is written; a pending
line can be withdrawn until it is issued; the statements list filters and pages; the
statement gives the centre's remittance details.

The centre is tests/integration/conftest.py's: April 2026 issued, May 2026 drafted; line 3
of Wyre's April statement is its payroll.
"""

from __future__ import annotations

import json
from decimal import Decimal
from html import unescape

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from billing.models import PendingLine, Statement, StatementQuery
from opsplatform.models import AuditEvent
from tests.integration.test_portal_pages import (
    WYR_APRIL,
    WYR_MAY,
    XLSX,
    answer,
    confirm,
    count,
    post,
    raise_one,
    sign_in,
    stored_query,
)
from tests.pages import Page
from tests.support import write_book

CREDIT = {"decision": "accept", "adjustment": "credit", "amount": "226.08"}
SAYS_CREDIT = "Wyre Council's next statement will be reduced by £226.08 (a credit)"


@pytest.fixture
def wyr(app, people):
    return sign_in(app, people["wyr"])


@pytest.fixture
def finance(app, people):
    return sign_in(app, people["finance"])


def pending_lines(app) -> list[PendingLine]:
    with app.extensions["opsplatform.db"].transaction() as session:
        return list(session.scalars(select(PendingLine).order_by(PendingLine.id)))


def statement_rows(client, number: str) -> list[list[str]]:
    return Page(client.get(f"/statements/{number}").text).rows


def credited(app, wyr, finance) -> int:
    """A query on Wyre's April payroll, accepted with a credit of £226.08; its pending id."""
    query_id = raise_one(wyr)
    response = confirm(finance, query_id, **CREDIT, answer="We will credit £226.08")
    assert response.status_code == 302, response.text
    return stored_query(app, query_id).adjustment_id


# -- answering a query with a credit or a charge -----------------------------------------------


def test_a_credit_is_checked_in_words_then_recorded_negative_and_shown_minus(
    app, wyr, finance, cli
):
    query_id = raise_one(wyr)
    check = answer(finance, query_id, **CREDIT, answer="We will credit £226.08")
    assert check.status_code == 200
    page = Page(check.text)
    assert SAYS_CREDIT in unescape(page.text)
    assert page.value("Credit or charge") == "A credit of £226.08"
    assert page.value("Decision") == "Accept"
    assert "-£226.08" in unescape(page.text)
    confirm_form = page.form(f"/queries/{query_id}/confirm")
    hidden = {name: i.get("value") for name, i in confirm_form["inputs"].items()}
    assert (
        hidden.items() >= {"decision": "accept", "adjustment": "credit", "amount": "226.08"}.items()
    )
    assert f"/queries/{query_id}" in page.links  # cancel: leave the query open
    # the check wrote nothing, and nothing is written by GET
    assert stored_query(app, query_id).status == "open"
    assert count(app, PendingLine) == 0
    assert count(app, AuditEvent, AuditEvent.action == "query answer") == 0
    assert finance.get(f"/queries/{query_id}/confirm").status_code == 405
    assert count(app, PendingLine) == 0

    done = confirm(finance, query_id, **CREDIT, answer="We will credit £226.08")
    assert done.status_code == 302
    assert SAYS_CREDIT in unescape(finance.get(f"/queries/{query_id}").text)
    [pending] = pending_lines(app)
    assert pending.amount == Decimal("-226.08")
    assert "manual credit" in pending.description

    cli("billing", "close", "2026-05")
    rows = statement_rows(wyr, WYR_MAY)
    line = next(r for r in rows if len(r) > 3 and "manual credit" in r[1])
    assert line[3] == "-£226.08"
    text = wyr.get(f"/statements/{WYR_MAY}").text
    assert "+£226.08" not in text and "£-" not in text


def test_a_charge_says_increased_and_is_recorded_positive(app, wyr, finance):
    query_id = raise_one(wyr)
    data = {"decision": "accept", "adjustment": "charge", "amount": "£1,050.5"}
    page = Page(answer(finance, query_id, **data, answer="Extra payslips").text)
    assert "Wyre Council's next statement will be increased by £1,050.50 (a charge)" in unescape(
        page.text
    )
    assert confirm(finance, query_id, **data, answer="Extra payslips").status_code == 302
    assert [p.amount for p in pending_lines(app)] == [Decimal("1050.50")]


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("-226.08", "Amount must not be negative"),
        ("0", "Amount must be more than £0.00"),
        ("0.00", "Amount must be more than £0.00"),
        ("1.234", "Amount must have no more than 2 decimal places"),
        ("1000000.01", "Amount must be £1,000,000.00 or less"),
        ("1e30", "Amount must be £1,000,000.00 or less"),
        ("ten pounds", "Amount must be a sum in pounds and pence"),
        ("NaN", "Amount must be a sum in pounds and pence"),
        ("", "Enter the amount of the credit or charge"),
    ],
)
def test_a_bad_amount_is_refused_naming_the_field_and_nothing_is_written(
    app, wyr, finance, amount, message
):
    query_id = raise_one(wyr)
    data = {**CREDIT, "amount": amount}
    for step in (answer, confirm):
        response = step(finance, query_id, **data, answer="Credit")
        assert response.status_code == 400
        assert f'<a href="#amount">{message}' in response.text
        assert 'id="amount-error"' in response.text
    assert stored_query(app, query_id).status == "open"
    assert count(app, PendingLine) == 0


def test_an_accepted_query_must_say_credit_charge_or_none(app, wyr, finance):
    query_id = raise_one(wyr)
    response = answer(finance, query_id, decision="accept", adjustment="refund", answer="Yes")
    assert response.status_code == 400
    assert '<a href="#adjustment">Select a credit, a charge or no adjustment' in response.text
    plain = Page(answer(finance, query_id, decision="accept", answer="Yes").text)
    assert "Wyre Council's statements do not change" in unescape(plain.text)


def test_change_brings_the_answer_back_to_edit_and_writes_nothing(app, wyr, finance):
    query_id = raise_one(wyr)
    response = answer(finance, query_id, **CREDIT, answer="Typed with care", change="1")
    assert response.status_code == 200
    assert "Typed with care</textarea>" in response.text
    assert 'value="226.08"' in response.text
    assert 'id="adjustment-credit" name="adjustment" type="radio" value="credit" checked' in (
        response.text
    )
    assert stored_query(app, query_id).status == "open"


# -- withdrawing a pending line ----------------------------------------------------------------


def test_a_pending_credit_is_withdrawn_after_its_check_page_and_leaves_the_draft(
    app, wyr, finance, people, cli
):
    pending_id = credited(app, wyr, finance)
    cli("billing", "close", "2026-05")
    listed = Page(finance.get("/adjustments").text)
    row = next(r for r in listed.rows if r and r[0] == "Wyre Council")
    assert row[1].startswith("-£226.08") and row[1].endswith("Credit: reduces the next statement")
    assert f"On draft {WYR_MAY}" in row[4]
    assert people["finance"]["email"] in row[3]
    url = f"/adjustments/{pending_id}/withdraw"
    assert url in listed.links

    check = finance.get(url)
    assert check.status_code == 200
    page = Page(check.text)
    assert "Wyre Council's next statement will no longer be reduced by £226.08" in unescape(
        page.text
    )
    assert f"statement {WYR_MAY}" in page.value("Statement")
    assert "May 2026's draft statements will be closed again" in unescape(page.text)
    page.form(url)
    assert pending_lines(app)[0].withdrawn_at is None  # GET wrote nothing

    done = post(finance, url)
    assert done.status_code == 302
    [line] = pending_lines(app)
    assert (line.withdrawn_by, line.amount) == (people["finance"]["email"], Decimal("-226.08"))
    assert line.withdrawn_at is not None
    assert not any("manual credit" in " ".join(r) for r in statement_rows(wyr, WYR_MAY))
    shown = Page(finance.get("/adjustments").text)
    assert "May 2026's draft statements were closed again without it" in unescape(shown.text)
    assert url not in shown.links
    withdrawn = next(r for r in shown.rows if r and r[0] == "Wyre Council")
    assert "withdrawn" in withdrawn[1]

    with app.extensions["opsplatform.db"].transaction() as session:
        entry = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "billing withdraw")
        ).one()
        assert entry.actor == people["finance"]["email"]
        assert json.loads(entry.detail)["draft"] == WYR_MAY
    again = post(finance, url)
    assert again.status_code == 409
    assert "already withdrawn by" in again.text
    cli("billing", "close", "2026-05")  # a later close leaves it off too
    assert not any("manual credit" in " ".join(r) for r in statement_rows(wyr, WYR_MAY))
    query = Page(finance.get(f"/queries/{stored_query_id(app)}").text)
    assert "It was withdrawn by" in query.value("Adjustment")


def stored_query_id(app) -> int:
    with app.extensions["opsplatform.db"].transaction() as session:
        return session.scalars(select(StatementQuery.id)).one()


def test_a_line_on_an_issued_statement_cannot_be_withdrawn(app, wyr, finance, cli):
    pending_id = credited(app, wyr, finance)
    cli("billing", "close", "2026-05")
    cli("billing", "issue", "2026-05")
    url = f"/adjustments/{pending_id}/withdraw"
    check = finance.get(url)
    assert check.status_code == 409
    assert f"statement {WYR_MAY}, already issued" in check.text
    assert not Page(check.text).forms_to(url)
    assert post(finance, url).status_code == 409
    refused = cli.json("billing", "withdraw", str(pending_id), expect=1)
    assert WYR_MAY in refused["errors"][0]["message"]
    assert pending_lines(app)[0].withdrawn_at is None
    assert url not in Page(finance.get("/adjustments").text).links


def test_the_command_line_withdraws_a_line_no_close_has_carried(app, wyr, finance, cli):
    pending_id = credited(app, wyr, finance)
    document = cli.json("billing", "withdraw", str(pending_id))
    assert document["id"] == pending_id
    assert document["amount"] == "-226.08"
    assert document["client"] == "WYR" and document["reclosed"] is None
    assert document["withdrawn_by"].endswith("(command line)")
    cli("billing", "close", "2026-05")
    assert not any("manual credit" in " ".join(r) for r in statement_rows(wyr, WYR_MAY))
    assert cli.json("billing", "withdraw", "999", expect=1)["error_count"] == 1


def test_only_finance_and_admin_withdraw_and_a_council_sees_no_such_page(app, wyr, finance, people):
    pending_id = credited(app, wyr, finance)
    url = f"/adjustments/{pending_id}/withdraw"
    manager = sign_in(app, people["manager"])
    assert manager.get("/adjustments").status_code == 200
    assert url not in Page(manager.get("/adjustments").text).links
    assert manager.get(url).status_code == 403
    assert post(manager, url).status_code == 403
    assert wyr.get("/adjustments").status_code == 404
    assert post(wyr, url).status_code == 404
    assert finance.get("/adjustments/999/withdraw").status_code == 404
    assert pending_lines(app)[0].withdrawn_at is None


def test_withdrawing_needs_the_csrf_token(app, wyr, finance):
    pending_id = credited(app, wyr, finance)
    assert finance.post(f"/adjustments/{pending_id}/withdraw").status_code == 400
    assert pending_lines(app)[0].withdrawn_at is None


# -- the statements list -----------------------------------------------------------------------


def listed_numbers(client, query: str = "") -> list[str]:
    page = Page(client.get(f"/statements{query}").text)
    return [r[0] for r in page.rows if r and r[0].startswith("TSS-")]


def test_statements_filter_by_month_client_and_status_with_totals_and_downloads(finance):
    assert listed_numbers(finance)[:1] == ["TSS-202605-LAN"]  # latest month first
    assert set(listed_numbers(finance, "?month=2026-04")) == {
        "TSS-202604-LAN",
        "TSS-202604-PRS",
        WYR_APRIL,
    }
    assert listed_numbers(finance, "?client=WYR") == [WYR_MAY, WYR_APRIL]
    assert listed_numbers(finance, "?client=wyr&status=issued") == [WYR_APRIL]
    page = Page(finance.get("/statements?client=WYR&status=draft").text)
    row = next(r for r in page.rows if r and r[0] == WYR_MAY)
    assert row[1:5] == ["Wyre Council", "May 2026", "Draft", "Not yet issued"]
    assert row[5].startswith("£")
    assert f"/statements/{WYR_MAY}.xlsx" in page.links
    issued = next(
        r
        for r in Page(finance.get("/statements?month=2026-04").text).rows
        if r and r[0] == WYR_APRIL
    )
    assert issued[3] == "Issued" and issued[4] != "Not yet issued"


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("?month=2026-13", "month", "Month: "),
        ("?client=NOPE", "client", "Client: choose a client from the list"),
        ("?status=paid", "status", "Status: choose draft or issued"),
    ],
)
def test_a_bad_filter_is_refused_naming_it(finance, query, field, message):
    response = finance.get(f"/statements{query}")
    assert response.status_code == 400
    assert f'<a href="#{field}">{message}' in response.text
    assert f'id="{field}-error"' in response.text


def test_statements_are_paged_keeping_the_filters(finance, monkeypatch):
    monkeypatch.setattr("opsplatform.entrypoints.web.STATEMENTS_PER_PAGE", 2)
    first = Page(finance.get("/statements?status=issued").text)
    assert len([r for r in first.rows if r and r[0].startswith("TSS-")]) == 2
    assert "/statements?page=2&status=issued" in first.links
    second = listed_numbers(finance, "?status=issued&page=2")
    assert len(second) == 1 and second[0].startswith("TSS-202604-")
    assert finance.get("/statements?status=issued&page=3").status_code == 404


def test_a_council_lists_only_its_own_statements_whatever_it_asks(wyr):
    assert listed_numbers(wyr) == [WYR_MAY, WYR_APRIL]
    assert listed_numbers(wyr, "?client=LAN") == [WYR_MAY, WYR_APRIL]
    page = wyr.get("/statements?client=LAN").text
    assert "Lancaster" not in page
    assert 'id="client"' not in page


# -- how to pay ----------------------------------------------------------------------------------


REMITTANCE = [
    ["key", "value"],
    ["remittance_bank", "Fylde Bank plc, Test Shared Services"],
    ["remittance_sort_code", "40 11 62"],
    ["remittance_account", "01835204"],
    ["remittance_reference", "Quote the statement number"],
]


def test_the_statement_page_and_workbook_say_how_to_pay(app, finance, cli, tmp_path):
    unset = Page(finance.get(f"/statements/{WYR_APRIL}").text)
    assert "finance team for its bank details" in unset.text
    cli("setup", "load", write_book(tmp_path / "pay.xlsx", {"Settings": REMITTANCE}))
    page = Page(finance.get(f"/statements/{WYR_APRIL}").text)
    assert page.value("Sort code") == "40-11-62"
    assert page.value("Account number") == "01835204"
    assert page.value("Bank and payee") == "Fylde Bank plc, Test Shared Services"
    assert f"quoting the statement number {WYR_APRIL}" in unescape(page.text)
    assert page.value("Date of issue") != "Not yet issued"

    download = finance.get(f"/statements/{WYR_APRIL}.xlsx")
    assert download.mimetype == XLSX
    path = tmp_path / "s.xlsx"
    path.write_bytes(download.data)
    ws = load_workbook(path)["Statement"]
    cells = {row[0]: row[2] for row in ws.iter_rows(values_only=True) if row and row[0]}
    assert "How to pay" in cells
    assert cells["Sort code"] == "40-11-62"
    assert cells["Account number"] == "01835204"  # text: the leading zero stays


def test_a_bad_sort_code_is_refused_naming_its_row(cli, people, tmp_path):
    book = {"Settings": [["key", "value"], ["remittance_sort_code", "40-11-6"]]}
    refused = cli.json("setup", "load", write_book(tmp_path / "bad.xlsx", book), expect=1)
    [problem] = refused["errors"]
    assert problem["sheet"] == "Settings" and problem["row"] == 2
    assert "is not a sort code: write 6 digits" in problem["message"]


def test_money_reads_minus_before_the_pound_sign_in_lists(app, finance, cli):
    cli("billing", "adjust", "PRS", "HOST", "-999999.00", "--reason", "Goodwill")
    cli("billing", "close", "2026-05")
    with app.extensions["opsplatform.db"].transaction() as session:
        total = session.scalars(
            select(Statement.total).where(Statement.number == "TSS-202605-PRS")
        ).one()
    assert total < 0
    for url in ("/statements?client=PRS", "/"):
        text = finance.get(url).text
        assert f"-£{-total:,.2f}" in text, url
        assert "£-" not in text, url
