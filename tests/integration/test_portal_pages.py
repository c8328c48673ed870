"""The client portal (opsplatform/entrypoints/web/portal.py): a statement line's source usage, statement
queries raised and answered through the pages, and KPI results with their publication.

The centre is tests/integration/conftest.py's: April 2026 issued, May 2026 drafted; WYR and LAN
each used 100 payslips (PAY) in April, line 3 of their April statements.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select, update

from billing.models import PendingLine, StatementQuery
from opsplatform.entrypoints.formats import quarter_text
from opsplatform.entrypoints.web.portal import latest_complete_quarter
from opsplatform.models import AuditEvent, User
from tests.pages import Page
from tests.support import write_csv

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
WYR_APRIL, LAN_APRIL, WYR_MAY = "TSS-202604-WYR", "TSS-202604-LAN", "TSS-202605-WYR"
PAY_LINE = 3  # Payroll, April 2026 (after HOST and ICT)


# -- helpers -------------------------------------------------------------------------------


def sign_in(app, person: dict):
    client = app.test_client()
    page = Page(client.get("/login").text)
    token = page.forms_to("/login")[0]["inputs"]["csrf_token"]["value"]
    data = {"email": person["email"], "password": person["password"], "csrf_token": token}
    response = client.post("/login", data=data)
    assert response.status_code == 302, response.text
    return client


def token_of(client) -> str:
    """The session's CSRF token, from the sign-out form every signed-in page carries."""
    page = Page(client.get("/").text)
    return next(f for f in page.forms if "csrf_token" in f["inputs"])["inputs"]["csrf_token"][
        "value"
    ]


def post(client, url: str, **data):
    return client.post(url, data={"csrf_token": token_of(client), **data})


def query_url(number: str = WYR_APRIL, line: int = PAY_LINE) -> str:
    return f"/statements/{number}/lines/{line}/query"


def raise_one(client, reason: str = "We had 90 payslips, not 100", **where) -> int:
    response = post(client, query_url(**where), reason=reason)
    assert response.status_code == 302, response.text
    return int(response.headers["Location"].rsplit("/", 1)[1])


def answer(client, query_id: int, **data):
    """Submit an answer: the check page, which writes nothing."""
    return post(client, f"/queries/{query_id}", **data)


def confirm(client, query_id: int, **data):
    """Confirm an answer on its check page: what writes it."""
    return post(client, f"/queries/{query_id}/confirm", **data)


CREDIT_TEN = {"decision": "accept", "adjustment": "credit", "amount": "10.00"}


def count(app, model, *where) -> int:
    with app.extensions["opsplatform.db"].transaction() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def stored_query_ids(app) -> list[int]:
    with app.extensions["opsplatform.db"].transaction() as session:
        return list(session.scalars(select(StatementQuery.id).order_by(StatementQuery.id)))


def stored_query(app, query_id: int) -> StatementQuery:
    with app.extensions["opsplatform.db"].transaction() as session:
        return session.get(StatementQuery, query_id)


def no_inline_code(html: str) -> bool:
    return "<script" not in html and "style=" not in html and "onclick=" not in html


@pytest.fixture
def wyr(app, people):
    return sign_in(app, people["wyr"])


@pytest.fixture
def lan(app, people):
    return sign_in(app, people["lan"])


@pytest.fixture
def finance(app, people):
    return sign_in(app, people["finance"])


# -- a line and its source usage -------------------------------------------------------------


def test_client_drills_from_its_statement_line_to_the_usage_behind_it(wyr):
    statement = Page(wyr.get(f"/statements/{WYR_APRIL}").text)
    line_url = f"/statements/{WYR_APRIL}/lines/{PAY_LINE}"
    assert line_url in statement.links
    assert query_url() in statement.links

    response = wyr.get(line_url)
    assert response.status_code == 200
    assert no_inline_code(response.text)
    page = Page(response.text)
    assert page.value("Service") == "Payroll (PAY)"
    assert page.value("Quantity") == "100 payslips"
    assert page.value("How it was worked out") == "100 payslips x £4.00"
    events = [row for row in page.rows if "APR-WYR" in row]
    assert events == [
        ["15 Apr 2026", "APR-WYR", "–", "100", "13 Apr 2026 09:00", "15 Apr 2026 09:00"]
    ]  # naive times in the file are London time, stored in UTC and shown in London time again
    assert "1 event, 100 payslips in all" in page.text
    assert 'id="usage-differs"' not in response.text
    assert 'scope="col"' in response.text and "govuk-table__caption" in response.text
    assert query_url() in page.links


def test_another_councils_line_and_its_query_form_do_not_exist_for_a_client(wyr):
    assert wyr.get(f"/statements/{LAN_APRIL}/lines/{PAY_LINE}").status_code == 404
    assert wyr.get(query_url(LAN_APRIL)).status_code == 404
    response = post(wyr, query_url(LAN_APRIL), reason="Not ours to query")
    assert response.status_code == 404
    assert wyr.get(f"/statements/{WYR_APRIL}/lines/99").status_code == 404
    assert wyr.get("/statements/TSS-209901-WYR/lines/1").status_code == 404


def test_staff_see_any_councils_line(app, people):
    for name in ("finance", "manager", "auditor", "admin"):
        client = sign_in(app, people[name])
        response = client.get(f"/statements/{LAN_APRIL}/lines/{PAY_LINE}")
        assert response.status_code == 200, name
        assert "APR-LAN" in response.text


def test_a_fixed_fee_line_has_no_usage_events(wyr):
    page = Page(wyr.get(f"/statements/{WYR_APRIL}/lines/1").text)
    assert page.value("Service") == "Systems hosting (HOST)"
    assert "No usage events are recorded for April 2026" in page.text


def test_usage_is_paged_by_100_and_a_later_total_is_explained(app, wyr, cli, tmp_path):
    rows = [
        {
            "event_id": f"LATE-{n:03d}",
            "client": "WYR",
            "service": "PAY",
            "date": "2026-04-20",
            "quantity": 1,
            "reference": f"ref {n}",
        }
        for n in range(150)
    ]
    cli("usage", "import", write_csv(tmp_path / "late.csv", rows))
    url = f"/statements/{WYR_APRIL}/lines/{PAY_LINE}"

    first = Page(wyr.get(url).text)
    assert "151 events, 250 payslips in all" in first.text
    assert "Usage events 1 to 100 of 151" in first.text
    assert len([r for r in first.rows if r and r[1].startswith(("APR-", "LATE-"))]) == 100
    assert f"{url}?page=2#usage" in first.links
    assert "prior-period line on a later statement" in first.text  # 250 now, 100 billed

    second = Page(wyr.get(url + "?page=2").text)
    assert "Usage events 101 to 151 of 151" in second.text
    assert len([r for r in second.rows if r and r[1].startswith(("APR-", "LATE-"))]) == 51
    assert f"{url}?page=1#usage" in second.links
    assert wyr.get(url + "?page=3").status_code == 404
    assert wyr.get(url + "?page=0").status_code == 404


def test_an_adjustment_line_has_no_source_usage(app, finance, cli):
    query_id = raise_one(finance)
    confirm(finance, query_id, **CREDIT_TEN, answer="Ten payslips were void")
    cli("billing", "close", "2026-05")
    statement = Page(finance.get(f"/statements/{WYR_MAY}").text)
    adjustment = next(row for row in statement.rows if "manual credit" in " ".join(row))
    position = int(adjustment[0])
    page = Page(finance.get(f"/statements/{WYR_MAY}/lines/{position}").text)
    assert "This line has no source usage: it is a manual adjustment" in page.text
    assert f"{WYR_APRIL} line {PAY_LINE}" in page.value("What it is")
    # and the answered query points at where its adjustment was billed
    query_page = Page(finance.get(f"/queries/{query_id}").text)
    assert f"It is line {position} of statement {WYR_MAY}" in query_page.text


# -- a council's VAT invoice and its ledger codes -------------------------------------------


def test_a_college_sees_its_vat_invoice_and_a_council_its_statement_with_their_codes(coded):
    college = sign_in(coded.app, coded.people["bfc"])
    invoice = Page(college.get("/statements/PX-202606-BFC").text)
    assert "VAT invoice PX-202606-BFC" in invoice.text
    assert invoice.value("Supplier's VAT number") == "GB987654321"
    assert invoice.value("Customer") == "Blackpool and The Fylde College Ashfield Road, Bispham"
    assert college.get("/statements/PX-202606-WYR").status_code == 404

    wyre = sign_in(coded.app, coded.people["wyr"])
    response = wyre.get("/statements/PX-202606-WYR")
    assert no_inline_code(response.text)
    statement = Page(response.text)
    assert "Statement PX-202606-WYR" in statement.text and "VAT invoice" not in statement.text
    line = next(row for row in statement.rows if row[1:] and row[1].startswith("Post room"))
    assert line[5].endswith(
        "Client cost centre and subjective: F220 / 4410 PO (purchase order): PO-77"
    )


def test_a_line_gives_its_vat_code_both_sides_codes_and_purchase_order(coded):
    wyre = Page(
        sign_in(coded.app, coded.people["wyr"]).get("/statements/PX-202606-WYR/lines/1").text
    )
    assert wyre.value("Unit price") == "£0.75"
    assert wyre.value("VAT") == "£0.00"
    assert wyre.value("VAT code") == "O: Outside the scope of VAT"
    assert wyre.value("Centre's codes") == "Cost centre R410, subjective 9400"
    assert wyre.value("Wyre Council's codes") == "Cost centre F220, subjective 4410"
    assert wyre.value("Purchase order") == "PO-77"

    college = sign_in(coded.app, coded.people["bfc"])
    line = Page(college.get("/statements/PX-202606-BFC/lines/1").text)
    assert line.value("VAT") == "£15.00 at 20%"
    assert line.value("VAT code") == "S: Standard or reduced rate"
    assert (
        line.value("Blackpool and The Fylde College's codes") == "Cost centre B100, subjective 7200"
    )
    assert line.value("Purchase order") == "None given"


# -- raising a query -----------------------------------------------------------------------


def test_client_raises_a_query_on_its_line(app, wyr, people):
    form = Page(wyr.get(query_url()).text).forms_to(query_url())
    assert len(form) == 1
    assert form[0]["method"] == "post"
    assert form[0]["inputs"]["csrf_token"]["type"] == "hidden"
    assert form[0]["textareas"] == ["reason"]

    response = post(wyr, query_url(), reason="  We had 90 payslips in April, not 100  ")
    assert response.status_code == 302
    query_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert response.headers["Location"].endswith(f"/queries/{query_id}")

    page = wyr.get(f"/queries/{query_id}")
    assert page.status_code == 200
    assert "govuk-notification-banner--success" in page.text
    assert f"Query {query_id} about line {PAY_LINE} of {WYR_APRIL} was sent" in page.text
    parsed = Page(page.text)
    assert parsed.value("Query") == "We had 90 payslips in April, not 100"
    assert parsed.value("Raised by") == people["wyr"]["email"]
    assert "Payroll, April 2026: £400.00" in parsed.value("Line")
    assert "Open" in parsed.text
    assert "has not been answered yet" in parsed.text

    stored = stored_query(app, query_id)
    assert (stored.line_position, stored.status, stored.raised_by) == (
        PAY_LINE,
        "open",
        people["wyr"]["email"],
    )
    assert count(app, AuditEvent, AuditEvent.action == "query raise") == 1

    statement = Page(wyr.get(f"/statements/{WYR_APRIL}").text)
    assert f"/queries/{query_id}" in statement.links
    assert "Queries about this statement" in statement.text
    line_page = Page(wyr.get(f"/statements/{WYR_APRIL}/lines/{PAY_LINE}").text)
    assert f"/queries/{query_id}" in line_page.links


def test_raising_a_query_needs_the_csrf_token(app, wyr):
    wyr.get(query_url())
    response = wyr.post(query_url(), data={"reason": "No token"})
    assert response.status_code == 400
    assert count(app, StatementQuery) == 0
    forged = wyr.post(query_url(), data={"reason": "Forged", "csrf_token": "forged"})
    assert forged.status_code == 400
    assert count(app, StatementQuery) == 0


def test_an_empty_reason_shows_an_error_and_writes_nothing(app, wyr):
    for reason in ("", "   \n  "):
        response = post(wyr, query_url(), reason=reason)
        assert response.status_code == 400
        assert 'class="govuk-error-summary"' in response.text
        assert '<a href="#reason">Enter what your query is about</a>' in response.text
        assert 'id="reason-error"' in response.text
        assert response.text.count("<title>Error: ") == 1
    assert count(app, StatementQuery) == 0
    assert count(app, AuditEvent, AuditEvent.action == "query raise") == 0


def test_a_query_may_be_raised_on_a_draft_statement(app, wyr):
    query_id = raise_one(wyr, "Hosting looks too high this month", number=WYR_MAY, line=1)
    stored = stored_query(app, query_id)
    assert stored.line_position == 1
    assert "draft" in Page(wyr.get(f"/queries/{query_id}").text).value("Statement")


def test_a_query_on_a_draft_line_says_when_the_draft_was_rebuilt(app, wyr, cli, tmp_path):
    query_id = raise_one(wyr, "Why nothing for payroll?", number=WYR_MAY, line=PAY_LINE)
    page = Page(wyr.get(f"/queries/{query_id}").text)
    assert "has been rebuilt" not in page.text
    rows = [{"event_id": "MAY-WYR", "client": "WYR", "service": "PAY", "date": "2026-05-06"}]
    cli("usage", "import", write_csv(tmp_path / "may.csv", rows))
    cli("billing", "close", "2026-05")
    page = Page(wyr.get(f"/queries/{query_id}").text)
    assert "Payroll, May 2026: £0.00" in page.value("Line")  # what was queried
    assert 'now reads "Payroll, May 2026: £4.00"' in page.value("Line")
    assert stored_query(app, query_id).status == "open"


def test_finance_raises_on_a_clients_behalf_but_auditor_and_manager_may_not(app, people):
    finance = sign_in(app, people["finance"])
    page = finance.get(query_url(LAN_APRIL))
    assert "on behalf of Lancaster City Council" in page.text
    query_id = raise_one(finance, "Lancaster phoned: 100 is wrong", number=LAN_APRIL)
    assert stored_query(app, query_id).raised_by == people["finance"]["email"]
    for name in ("auditor", "manager"):
        client = sign_in(app, people[name])
        assert client.get(query_url()).status_code == 403
        assert post(client, query_url(), reason="read only").status_code == 403
        statement = Page(client.get(f"/statements/{WYR_APRIL}").text)
        assert query_url() not in statement.links
        assert f"/statements/{WYR_APRIL}/lines/{PAY_LINE}" in statement.links
    assert count(app, StatementQuery) == 1


# -- answering a query -----------------------------------------------------------------------


def test_finance_accepts_with_a_credit_and_an_adjustment_names_the_statement_and_line(
    app, wyr, finance, people
):
    query_id = raise_one(wyr)
    page = Page(finance.get(f"/queries/{query_id}").text)
    forms = page.forms_to(f"/queries/{query_id}")
    assert len(forms) == 1
    assert set(forms[0]["inputs"]) == {"csrf_token", "decision", "adjustment", "amount"}
    assert forms[0]["textareas"] == ["answer"]

    response = confirm(finance, query_id, **CREDIT_TEN, answer="Ten payslips were void")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/queries/{query_id}")

    stored = stored_query(app, query_id)
    assert stored.status == "accepted"
    assert stored.answered_by == people["finance"]["email"]
    with app.extensions["opsplatform.db"].transaction() as session:
        pending = session.scalars(select(PendingLine)).all()
    assert len(pending) == 1
    assert pending[0].id == stored.adjustment_id
    assert pending[0].amount == Decimal("-10.00")
    assert pending[0].kind == "adjustment"
    assert pending[0].corrects == f"{WYR_APRIL} line {PAY_LINE}"
    assert WYR_APRIL in pending[0].description
    assert count(app, AuditEvent, AuditEvent.action == "query answer") == 1

    shown = finance.get(f"/queries/{query_id}")
    assert (
        "was accepted. Wyre Council&#39;s next statement will be reduced by £10.00 (a credit)"
        in shown.text
    )
    parsed = Page(shown.text)
    assert parsed.value("Explanation") == "Ten payslips were void"
    assert parsed.value("Time to answer") == "0 working days (0 days)"
    assert parsed.value("Answered by") == people["finance"]["email"]
    assert "-£10.00 credit" in parsed.value("Adjustment")
    assert "next statement" in parsed.value("Adjustment")
    assert not parsed.forms_to(f"/queries/{query_id}")  # nothing left to answer

    # the client sees the answer too, and its statement shows the status
    mine = Page(wyr.get(f"/queries/{query_id}").text)
    assert mine.value("Explanation") == "Ten payslips were void"
    statement = Page(wyr.get(f"/statements/{WYR_APRIL}").text)
    row = next(r for r in statement.rows if r and r[0] == f"Query {query_id}")
    assert row[3].startswith("Accepted")


def test_a_rejection_needs_an_explanation_and_no_amount(app, wyr, finance):
    query_id = raise_one(wyr)
    cases = [
        ({"decision": "reject", "answer": ""}, "#answer", "Enter an explanation for the client"),
        (
            {"decision": "reject", "adjustment": "credit", "amount": "10.00", "answer": "No"},
            "#adjustment",
            "Select no adjustment when you reject a query",
        ),
        (
            {"decision": "reject", "amount": "10.00", "answer": "No"},
            "#amount",
            "Amount: leave it empty, or select a credit or a charge",
        ),
        ({"answer": "Maybe"}, "#decision", "Select whether you accept or reject the query"),
    ]
    for data, href, message in cases:
        for step in (answer, confirm):
            response = step(finance, query_id, **data)
            assert response.status_code == 400, data
            assert 'class="govuk-error-summary"' in response.text
            assert f'<a href="{href}">{message}' in response.text, data
            assert f'id="{href[1:]}-error"' in response.text
            assert stored_query(app, query_id).status == "open"
    assert count(app, PendingLine) == 0
    assert count(app, AuditEvent, AuditEvent.action == "query answer") == 0
    # what was typed comes back
    response = answer(finance, query_id, decision="reject", amount="5", answer="Keep this")
    assert "Keep this</textarea>" in response.text
    assert 'value="5"' in response.text

    ok = confirm(finance, query_id, decision="reject", answer="The payroll system shows 100")
    assert ok.status_code == 302
    stored = stored_query(app, query_id)
    assert (stored.status, stored.adjustment_id) == ("rejected", None)
    assert count(app, PendingLine) == 0


def test_billings_refusal_is_shown_in_the_error_summary(app, wyr, finance, cli):
    cli("queries", "raise", WYR_APRIL, "--reason", "The whole statement is late")
    query_id = stored_query_ids(app)[-1]
    listed = Page(wyr.get("/queries").text)
    assert "Whole statement" in next(r for r in listed.rows if r and r[0] == f"Query {query_id}")
    for step in (answer, confirm):
        response = step(finance, query_id, **CREDIT_TEN, answer="Sorry")
        assert response.status_code == 400
        assert 'class="govuk-error-summary"' in response.text
        assert "an adjustment needs a query on a service&#39;s line" in response.text
        assert stored_query(app, query_id).status == "open"
        assert count(app, PendingLine) == 0
    ok = confirm(finance, query_id, decision="accept", answer="Sorry, it was late")
    assert ok.status_code == 302
    assert stored_query(app, query_id).status == "accepted"


def test_answering_twice_is_refused(app, wyr, finance):
    query_id = raise_one(wyr)
    assert confirm(finance, query_id, **CREDIT_TEN, answer="Yes").status_code == 302
    for step in (answer, confirm):
        again = step(finance, query_id, **CREDIT_TEN, answer="Yes again")
        assert again.status_code == 409
        assert 'class="govuk-error-summary"' in again.text
        assert "This query was already accepted" in again.text
        assert "cannot be answered again" in again.text
    assert count(app, PendingLine) == 1
    assert stored_query(app, query_id).answer == "Yes"


def test_a_client_cannot_answer_its_own_query_nor_see_another_councils(app, wyr, lan, finance):
    own = raise_one(wyr)
    theirs = raise_one(lan, number=LAN_APRIL)

    page = Page(wyr.get(f"/queries/{own}").text)
    assert not page.forms_to(f"/queries/{own}")
    for step in (answer, confirm):
        response = step(wyr, own, **CREDIT_TEN, answer="We say so")
        assert response.status_code == 403
    assert stored_query(app, own).status == "open"
    assert count(app, PendingLine) == 0

    assert wyr.get(f"/queries/{theirs}").status_code == 404
    assert answer(wyr, theirs, decision="reject", answer="x").status_code == 404
    assert confirm(wyr, theirs, decision="reject", answer="x").status_code == 404
    assert wyr.get("/queries/9999").status_code == 404
    assert finance.get(f"/queries/{theirs}").status_code == 200


def test_auditor_and_manager_read_queries_but_cannot_answer(app, wyr, people):
    query_id = raise_one(wyr)
    for name in ("auditor", "manager"):
        client = sign_in(app, people[name])
        page = client.get(f"/queries/{query_id}")
        assert page.status_code == 200
        assert not Page(page.text).forms_to(f"/queries/{query_id}")
        assert answer(client, query_id, decision="reject", answer="no").status_code == 403
        assert confirm(client, query_id, decision="reject", answer="no").status_code == 403
    admin = sign_in(app, people["admin"])
    assert Page(admin.get(f"/queries/{query_id}").text).forms_to(f"/queries/{query_id}")
    assert stored_query(app, query_id).status == "open"


def test_answering_needs_the_csrf_token(app, wyr, finance):
    query_id = raise_one(wyr)
    response = finance.post(f"/queries/{query_id}", data={"decision": "reject", "answer": "no"})
    assert response.status_code == 400
    assert stored_query(app, query_id).status == "open"


def test_time_to_answer_counts_working_days_in_the_clients_nation(app, wyr, finance):
    query_id = raise_one(wyr)
    confirm(finance, query_id, decision="reject", answer="No")
    with app.extensions["opsplatform.db"].transaction() as session:
        session.execute(  # Friday before the late-May bank holiday, answered the Tuesday after
            update(StatementQuery)
            .where(StatementQuery.id == query_id)
            .values(
                raised_at=datetime(2026, 5, 22, 15, 0, tzinfo=UTC),
                answered_at=datetime(2026, 5, 26, 9, 0, tzinfo=UTC),
            )
        )
    page = Page(finance.get(f"/queries/{query_id}").text)
    assert page.value("Time to answer") == "1 working day (4 days)"
    listed = Page(finance.get("/queries").text)
    row = next(r for r in listed.rows if r and r[0] == f"Query {query_id}")
    assert "Answered in 1 working day" in row


# -- the list of queries -------------------------------------------------------------------


def test_queries_list_shows_a_client_only_its_own_and_staff_all(app, wyr, lan, finance):
    own = raise_one(wyr)
    answered = raise_one(wyr, "And hosting?", line=1)
    theirs = raise_one(lan, number=LAN_APRIL)
    confirm(finance, answered, decision="reject", answer="Hosting is a fixed fee")

    response = wyr.get("/queries")
    assert response.status_code == 200
    assert no_inline_code(response.text)
    page = Page(response.text)
    ids = [r[0] for r in page.rows if r and r[0].startswith("Query ")]
    assert ids == [f"Query {own}", f"Query {answered}"]  # open first
    assert f"/queries/{theirs}" not in page.links
    assert LAN_APRIL not in response.text
    open_row = next(r for r in page.rows if r and r[0] == f"Query {own}")
    assert open_row[-1] == "Open"
    assert open_row[-2].startswith("Open for ")
    assert "working day" in open_row[-2]

    everyone = Page(finance.get("/queries").text)
    ids = [r[0] for r in everyone.rows if r and r[0].startswith("Query ")]
    assert ids == [f"Query {own}", f"Query {theirs}", f"Query {answered}"]
    assert "Lancaster City Council" in everyone.text

    only_open = Page(finance.get("/queries?status=open").text)
    assert {r[0] for r in only_open.rows if r and r[0].startswith("Query ")} == {
        f"Query {own}",
        f"Query {theirs}",
    }
    rejected = Page(wyr.get("/queries?status=rejected").text)
    assert [r[0] for r in rejected.rows if r and r[0].startswith("Query ")] == [f"Query {answered}"]
    assert Page(lan.get("/queries?status=rejected").text).text.count("Query ") == 0

    bad = finance.get("/queries?status=lost")
    assert bad.status_code == 400
    assert 'class="govuk-error-summary"' in bad.text


def test_a_client_user_without_a_council_sees_no_queries(app, wyr, people):
    query_id = raise_one(wyr)
    with app.extensions["opsplatform.db"].transaction() as session:
        session.execute(
            update(User).where(User.email == people["lan"]["email"]).values(client_id=None)
        )
    orphan = sign_in(app, people["lan"])
    assert "Query " not in Page(orphan.get("/queries").text).text
    assert orphan.get(f"/queries/{query_id}").status_code == 404
    assert orphan.get(f"/statements/{WYR_APRIL}/lines/{PAY_LINE}").status_code == 404
    rows = result_rows(Page(orphan.get("/performance?quarter=2026-27-Q1").text))
    assert [r[1] for r in rows] == ["Whole centre"]


# -- performance -----------------------------------------------------------------------------


def result_rows(page: Page) -> list[list[str]]:
    return [r for r in page.rows if r and r[0].startswith("PAY-5D")]


def test_performance_shows_a_client_the_centre_and_its_own_results(wyr):
    response = wyr.get("/performance?quarter=2026-27-Q1")
    assert response.status_code == 200
    assert no_inline_code(response.text)
    rows = result_rows(Page(response.text))
    assert [r[1] for r in rows] == ["Whole centre", "Wyre Council"]
    assert rows[0][2:] == ["Green: on target", "100%", "95% or more", "No data"]
    assert "Lancaster" not in response.text
    assert 'scope="row"' in response.text
    assert 'class="govuk-tag govuk-tag--green"' in response.text
    assert "/performance/2026-27-Q1.xlsx" in Page(response.text).links


def test_performance_draws_the_publications_charts_described_in_words(wyr):
    text = wyr.get("/performance?quarter=2026-27-Q1").text
    assert "Q1 2026-27, April to June 2026" in text
    trend = "Payslips in 5 working days: whole centre, last 5 quarters"
    councils = "Payslips in 5 working days: each council against its target, Q1 2026-27"
    assert f'<title id="trend-PAY-5D-title">{trend}</title>' in text
    assert f'<title id="councils-PAY-5D-title">{councils}</title>' in text
    assert "Q4 2025-26 no data; Q1 2026-27 100%" in text  # the description gives the figures
    assert "Wyre Council 100% against 95%" in text
    assert "Lancaster" not in text  # the charts follow the publication rule too
    assert 'class="app-chart__target"' in text and 'class="app-chart__line"' not in text


def test_performance_shows_staff_every_council(app, people):
    for name in ("finance", "manager", "auditor", "admin"):
        client = sign_in(app, people[name])
        rows = result_rows(Page(client.get("/performance?quarter=2026-27-Q1").text))
        assert [r[1] for r in rows] == [
            "Whole centre",
            "Lancaster City Council",
            "Wyre Council",
        ], name


def test_performance_defaults_to_the_latest_complete_quarter_and_refuses_a_bad_one(wyr):
    assert latest_complete_quarter(date(2026, 11, 29)).__str__() == "2026-27-Q2"
    assert str(latest_complete_quarter(date(2026, 4, 1))) == "2025-26-Q4"
    page = wyr.get("/performance")
    assert page.status_code == 200
    assert f"Performance in {quarter_text(latest_complete_quarter())}" in page.text
    bad = wyr.get("/performance?quarter=2026-Q1")
    assert bad.status_code == 400
    assert 'class="govuk-error-summary"' in bad.text
    assert "is not a quarter" in bad.text


def test_the_publication_downloads_as_a_workbook(app, people):
    for name in ("wyr", "finance"):
        client = sign_in(app, people[name])
        response = client.get("/performance/2026-27-Q1.xlsx")
        assert response.status_code == 200, name
        assert response.mimetype == XLSX
        assert "attachment" in response.headers["Content-Disposition"]
        assert "performance-2026-27-Q1.xlsx" in response.headers["Content-Disposition"]
        book = load_workbook(io.BytesIO(response.data))
        assert "Summary" in book.sheetnames
    assert client.get("/performance/2026-Q1.xlsx").status_code == 404


# -- everyone must sign in -------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        f"/statements/{WYR_APRIL}/lines/{PAY_LINE}",
        query_url(),
        "/queries",
        "/queries/1",
        "/performance",
        "/performance/2026-27-Q1.xlsx",
    ],
)
def test_pages_need_sign_in(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_audit_entries_say_who_raised_and_answered(app, wyr, finance, people):
    query_id = raise_one(wyr)
    confirm(finance, query_id, **CREDIT_TEN, answer="Yes")
    with app.extensions["opsplatform.db"].transaction() as session:
        entries = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        found = [(e.actor, e.action, e.subject, json.loads(e.detail)) for e in entries]
    raised = next(e for e in found if e[1] == "query raise")
    assert raised[0] == people["wyr"]["email"]
    assert raised[2] == WYR_APRIL
    assert raised[3]["query"] == query_id and raised[3]["line"] == PAY_LINE
    answered = next(e for e in found if e[1] == "query answer")
    assert answered[:3] == (people["finance"]["email"], "query answer", f"query {query_id}")
    assert answered[3]["status"] == "accepted" and answered[3]["amount"] == "-10.00"
