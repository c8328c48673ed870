"""The month end and the quarter end in the browser (opsplatform/entrypoints/web/cycle.py), and
what waits on the home page: who may use them, that a check page never writes, that every
step needs its CSRF token and records itself in the audit log as the signed-in user, and
that each refusal is shown and leaves nothing written.

The centre is tests/integration/conftest.py's: April 2026 issued, May 2026 drafted for WYR,
LAN and PRS; WYR and LAN each used 100 payslips in April, within the PAY-5D KPI's limit.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from billing.disputes import raise_query
from billing.models import PendingLine, Statement
from billing.reports import REVIEW_WORKING_DAYS, month_review, review_ends
from opsplatform.calendars import WorkingCalendar
from opsplatform.models import AuditEvent, YearLock
from opsplatform.money import format_gbp
from opsplatform.periods import Month, Quarter
from sla.models import KpiResult
from sla.service import credits_due
from tests.conftest import Cli
from tests.pages import Page
from tests.support import write_book, write_csv

MAY = "2026-05"
QUARTER = "2026-27-Q1"
FINANCE_PAGES = [
    "/month-end",
    f"/month-end?month={MAY}",
    f"/month-end/{MAY}/close",
    f"/month-end/{MAY}/issue",
    "/month-end/year/2026-27/lock",
]
MANAGER_PAGES = [
    "/quarter-end",
    f"/quarter-end?quarter={QUARTER}",
    f"/quarter-end/{QUARTER}/finalise",
    f"/quarter-end/{QUARTER}/publish",
]


def sign_in(app, person: dict):
    client = app.test_client()
    token = Page(client.get("/login").text).form("/login")["inputs"]["csrf_token"]["value"]
    data = {"email": person["email"], "password": person["password"], "csrf_token": token}
    assert client.post("/login", data=data).status_code == 302
    return client


@pytest.fixture
def signed_in(app, people):
    return lambda name: sign_in(app, people[name])


def confirm(client, url: str):
    """Post the check page's form at `url` with its CSRF token, as its button does."""
    form = Page(client.get(url).text).form(url)
    return client.post(url, data={"csrf_token": form["inputs"]["csrf_token"]["value"]})


def session_of(app):
    return app.extensions["opsplatform.db"].transaction()


SIGN_INS = ("sign in", "sign in failed", "sign out")  # a test's own sign-ins write these


def counts(app) -> tuple[int, ...]:
    """What the cycle's steps write: statements and their statuses, audit entries (but the
    test's sign-ins), frozen results, pending lines and year locks."""
    with session_of(app) as session:
        return tuple(
            session.scalar(query) or 0
            for query in (
                select(func.count(Statement.id)),
                select(func.count(Statement.id)).where(Statement.status == "issued"),
                select(func.count(AuditEvent.id)).where(AuditEvent.action.not_in(SIGN_INS)),
                select(func.count(KpiResult.id)),
                select(func.count(PendingLine.id)),
                select(func.count(YearLock.financial_year)),
            )
        )


def audit_entries(app, action: str) -> list[tuple[str, str]]:
    with session_of(app) as session:
        return list(
            session.execute(
                select(AuditEvent.actor, AuditEvent.subject).where(AuditEvent.action == action)
            ).all()
        )


# -- who may see what ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "finance_status", "manager_status"),
    [
        ("finance", 200, 403),
        ("manager", 403, 200),
        ("admin", 200, 200),
        ("auditor", 403, 403),
        ("wyr", 404, 404),
    ],
)
def test_each_role_sees_only_its_own_end(signed_in, name, finance_status, manager_status):
    client = signed_in(name)
    for urls, status in ((FINANCE_PAGES, finance_status), (MANAGER_PAGES, manager_status)):
        for url in urls:
            # a check page whose step is refused (the year's drafts, a quarter not final) is 409
            assert client.get(url).status_code in ((200, 409) if status == 200 else (status,)), url
    nav = Page(client.get("/").text)
    assert ("/month-end" in nav.links) == (finance_status == 200)
    assert ("/quarter-end" in nav.links) == (manager_status == 200)


def test_a_stranger_is_sent_to_sign_in(client):
    for url in FINANCE_PAGES + MANAGER_PAGES:
        assert client.get(url).status_code == 302


def test_no_one_without_the_role_can_post_a_step(signed_in, app):
    before = counts(app)
    for name, urls in (
        ("manager", FINANCE_PAGES),
        ("finance", MANAGER_PAGES),
        ("wyr", MANAGER_PAGES),
    ):
        client = signed_in(name)
        token = Page(client.get("/").text).forms[0]["inputs"]["csrf_token"]["value"]
        for url in urls[2:]:
            assert client.post(url, data={"csrf_token": token}).status_code in (403, 404)
    assert counts(app) == before


# -- check pages never write, and every step needs its token -----------------------------------


def test_check_pages_never_write(signed_in, app):
    before = counts(app)
    client = signed_in("admin")
    for url in FINANCE_PAGES + MANAGER_PAGES + ["/month-end/2026-06/close"]:
        assert client.get(url).status_code in (200, 409), url
    assert counts(app) == before


@pytest.mark.parametrize(
    "url",
    [
        f"/month-end/{MAY}/close",
        f"/month-end/{MAY}/issue",
        "/month-end/year/2026-27/lock",
        f"/quarter-end/{QUARTER}/finalise",
        f"/quarter-end/{QUARTER}/publish",
    ],
)
def test_every_step_needs_its_csrf_token(signed_in, app, url):
    before = counts(app)
    response = signed_in("admin").post(url)
    assert response.status_code == 400
    assert counts(app) == before


# -- the month end --------------------------------------------------------------------------------


def test_closing_a_month_shows_who_gets_a_draft_then_closes_it_as_the_officer(
    signed_in, app, people
):
    client = signed_in("finance")
    page = Page(client.get("/month-end/2026-06/close").text)
    assert "Check before closing June 2026" in page.text
    numbers = [row[0] for row in page.rows if row and row[0].startswith("TSS-")]
    assert numbers == ["TSS-202606-LAN", "TSS-202606-PRS", "TSS-202606-WYR"]
    assert page.value("Draft statements") == "3 draft statements"

    response = confirm(client, "/month-end/2026-06/close")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/month-end?month=2026-06")
    with session_of(app) as session:
        built = session.scalars(select(Statement.number).where(Statement.month == "2026-06"))
        assert sorted(built) == numbers
    assert ("finance@centre.gov.uk", "2026-06") in audit_entries(app, "billing close")
    assert "June 2026 closed: 3 draft statements" in client.get(response.headers["Location"]).text


def test_the_month_end_shows_each_draft_against_last_month(signed_in, app):
    page = Page(signed_in("finance").get(f"/month-end?month={MAY}").text)
    with session_of(app) as session:
        review = month_review(session, Month.parse(MAY), 3, WorkingCalendar())
        april = dict(
            session.execute(
                select(Statement.number, Statement.total).where(Statement.month == "2026-04")
            ).all()
        )
    rows = {row[0]: row for row in page.rows if row and row[0].startswith("TSS-202605")}
    assert sorted(rows) == ["TSS-202605-LAN", "TSS-202605-PRS", "TSS-202605-WYR"]
    # each draft's row is followed by one that says what changed on it
    changes = {
        row[0]: after[0]
        for row, after in zip(page.rows, page.rows[1:], strict=False)
        if row and row[0].startswith("TSS-202605")
    }
    for draft in review.drafts:
        row = rows[draft.number]
        before = april[draft.number.replace("202605", "202604")]
        assert draft.previous_total == before
        assert row[2] == format_gbp(draft.total)
        assert row[3] == format_gbp(before)
        assert row[4] == ("+" if draft.total > before else "") + format_gbp(draft.total - before)
        assert row[6] == f"{draft.review_ends:%-d %B %Y}"
        assert changes[draft.number].startswith("New or changed lines against April 2026:")
    # WYR used 100 payslips in April and none in May: its payroll charge is the change
    wyr = next(d for d in review.drafts if d.client == "WYR")
    payroll = next(c for c in wyr.changes if c.service == "Payroll" and c.kind == "charge")
    assert payroll.before == Decimal("400.00") and payroll.now in (None, Decimal("0.00"))
    assert "Payroll, charge for the month" in changes["TSS-202605-WYR"]


def test_the_review_window_is_five_working_days_after_the_close_or_a_later_build():
    calendar = WorkingCalendar()
    may = Month.parse(MAY)
    # June 2026: the 3rd working day is Wednesday 3 June; five working days on is the 10th
    assert review_ends(may, 3, calendar, date(2026, 6, 1)) == date(2026, 6, 10)
    # built late, on Friday 12 June: the window runs five working days from then
    assert review_ends(may, 3, calendar, date(2026, 6, 12)) == date(2026, 6, 19)
    assert REVIEW_WORKING_DAYS == 5


def test_a_month_with_open_queries_cannot_be_issued_and_the_page_says_which(signed_in, app, people):
    with session_of(app) as session:
        query = raise_query(session, "TSS-202605-WYR", 1, "Too many payslips", "pay@wyre.gov.uk")
        query_id = query.id
    before = counts(app)
    client = signed_in("finance")
    response = client.get(f"/month-end/{MAY}/issue")
    assert response.status_code == 409
    page = Page(response.text)
    assert f"Query {query_id} on TSS-202605-WYR (Wyre Council) is still open" in page.text
    assert f"/queries/{query_id}" in page.links
    assert not page.forms_to(f"/month-end/{MAY}/issue")
    token = page.forms[0]["inputs"]["csrf_token"]["value"]
    refused = client.post(f"/month-end/{MAY}/issue", data={"csrf_token": token})
    assert refused.status_code == 409
    assert f"Query {query_id} on TSS-202605-WYR" in refused.text
    assert counts(app) == before
    assert "1 open query to answer first" in Page(client.get("/").text).text
    wyre = Page(signed_in("wyr").get("/").text).text
    assert "1 open query on it" in wyre and "Follow your 1 open query" in wyre
    assert "open query" not in Page(signed_in("lan").get("/").text).text


def test_issuing_a_month_says_what_it_will_do_then_issues_as_the_officer(signed_in, app):
    with session_of(app) as session:
        drafts = session.scalars(select(Statement).where(Statement.month == MAY)).all()
        total = sum((s.total for s in drafts), Decimal("0.00"))
    client = signed_in("finance")
    page = Page(client.get(f"/month-end/{MAY}/issue").text)
    assert (
        f"3 statements totalling {format_gbp(total)} will be issued and e-mailed to 3 "
        "councils; they cannot be changed afterwards" in page.text
    )
    response = confirm(client, f"/month-end/{MAY}/issue")
    assert response.status_code == 303
    with session_of(app) as session:
        statuses = session.scalars(select(Statement.status).where(Statement.month == MAY))
        assert set(statuses) == {"issued"}
    assert ("finance@centre.gov.uk", MAY) in audit_entries(app, "billing issue")


def test_locking_a_year_before_its_march_is_refused_with_the_reason(signed_in, app):
    client = signed_in("finance")
    before = counts(app)
    response = client.get("/month-end/year/2025-26/lock")
    assert response.status_code == 409
    message = "2025-26 cannot be locked until its March statements are issued"
    assert message in Page(response.text).text
    assert "There is a problem" in response.text
    token = Page(response.text).forms[0]["inputs"]["csrf_token"]["value"]
    refused = client.post("/month-end/year/2025-26/lock", data={"csrf_token": token})
    assert refused.status_code == 409 and message in refused.text
    assert counts(app) == before


def test_a_year_whose_march_is_issued_is_locked_by_the_officer(signed_in, app):
    cli = Cli()
    for month in ("2026-05", "2026-06", "2026-07", "2026-08", "2026-09", "2026-10", "2026-11"):
        cli("billing", "close", month)
        cli("billing", "issue", month)
    for month in ("2026-12", "2027-01", "2027-02", "2027-03"):
        cli("billing", "close", month)
        cli("billing", "issue", month)
    client = signed_in("finance")
    page = Page(client.get("/month-end/year/2026-27/lock").text)
    assert "Locking 2026-27 is for good" in page.text
    assert confirm(client, "/month-end/year/2026-27/lock").status_code == 303
    assert ("finance@centre.gov.uk", "2026-27") in audit_entries(app, "billing lock-year")


def test_the_outturn_of_a_service_funded_on_cost_is_checked_then_approved(signed_in, app, tmp_path):
    cli = Cli()
    book = {
        "Services": [["code", "name", "unit", "funding"], ["PAY", "Payroll", "payslip", "cost"]],
        "CostCentres": [["cost_centre", "service"], ["CC100", "PAY"]],
    }
    cli("setup", "load", write_book(tmp_path / "funding.xlsx", book))
    for month in [f"2026-{m:02d}" for m in range(5, 13)] + ["2027-01", "2027-02", "2027-03"]:
        cli("billing", "close", month)
        cli("billing", "issue", month)
    costs = [
        {"cost_centre": "CC100", "subjective": "E1000", "month": m.first_day.isoformat()[:7],
         "kind": "actual", "amount": "100.00"}
        for m in Month.parse("2026-04").financial_year.months()
    ]  # fmt: skip
    cli("costs", "import", write_csv(tmp_path / "ledger.csv", costs))
    [expected] = cli.json("billing", "outturn", "2026-27")

    finance = signed_in("finance")
    page = Page(finance.get("/year-end/2026-27/outturn").text)
    assert "Payroll" in page.text and "Not approved" in page.text
    assert "CC100" in page.text and "All of it (direct), from 12 ledger lines" in page.text
    check = Page(finance.get("/year-end/2026-27/outturn/approve").text)
    assert "Check before approving the outturn of 2026-27" in check.text
    wyre = next(p for p in expected["partners"] if p["client"] == "WYR")
    assert format_gbp(Decimal(wyre["amount"])) in check.text
    assert confirm(finance, "/year-end/2026-27/outturn/approve").status_code == 303
    assert ("finance@centre.gov.uk", "2026-27 PAY") in audit_entries(app, "billing outturn")
    approved = Page(finance.get("/year-end/2026-27/outturn").text)
    assert "Approved by finance@centre.gov.uk" in approved.text
    assert finance.get("/year-end/2026-27/outturn/approve").status_code == 409  # once only
    assert signed_in("manager").get("/year-end/2026-27/outturn").status_code == 200
    assert signed_in("manager").get("/year-end/2026-27/outturn/approve").status_code == 403


# -- the quarter end ------------------------------------------------------------------------------


@pytest.fixture
def red_for_wyre(tmp_path):
    """A slow payslip for Wyre in May, and an SLA that makes Wyre's PAY-5D red with a 2%
    service credit: finalising Q1 raises one credit."""
    cli = Cli()
    late = {
        "event_id": "MAY-WYR-LATE",
        "client": "WYR",
        "service": "PAY",
        "date": "2026-05-29",
        "quantity": 1,
        "started_at": "2026-05-01T09:00:00",
        "completed_at": "2026-05-29T09:00:00",
    }
    cli("usage", "import", write_csv(tmp_path / "late.csv", [late]))
    sla = [
        ["client", "kpi", "target", "amber", "service_credit_percent"],
        ["WYR", "PAY-5D", 99.9, 99.5, 2],
    ]
    cli("setup", "load", write_book(tmp_path / "sla.xlsx", {"SLAs": sla}))


def test_finalising_shows_the_credits_it_will_raise_then_freezes_as_the_manager(
    signed_in, app, red_for_wyre
):
    with session_of(app) as session:
        credits = credits_due(session, Quarter.parse(QUARTER))
    assert len(credits) == 1 and credits[0].client == "WYR" and credits[0].amount < 0
    client = signed_in("manager")
    page = Page(client.get(f"/quarter-end/{QUARTER}/finalise").text)
    assert (
        f"1 service credit totalling {format_gbp(-credits[0].amount)} will be raised for the "
        "next statements" in page.text
    )
    assert "Wyre Council" in page.text
    assert confirm(client, f"/quarter-end/{QUARTER}/finalise").status_code == 303
    with session_of(app) as session:
        raised = session.scalars(
            select(PendingLine).where(PendingLine.kind == "service_credit")
        ).all()
        assert [(p.amount, p.description) for p in raised] == [
            (credits[0].amount, credits[0].description)
        ]
        assert session.scalar(select(func.count(KpiResult.id)))
    assert ("manager@centre.gov.uk", QUARTER) in audit_entries(app, "sla final")
    again = client.get(f"/quarter-end/{QUARTER}/finalise")
    assert again.status_code == 409 and "Q1 2026-27 is already final" in again.text


def test_a_quarter_is_published_only_once_final(signed_in, app):
    client = signed_in("manager")
    before = counts(app)
    refused = client.get(f"/quarter-end/{QUARTER}/publish")
    assert refused.status_code == 409
    assert f"{QUARTER} is not final: finalise it first" in refused.text
    token = Page(refused.text).forms[0]["inputs"]["csrf_token"]["value"]
    assert (
        client.post(f"/quarter-end/{QUARTER}/publish", data={"csrf_token": token}).status_code
        == 409
    )
    assert counts(app) == before

    confirm(client, f"/quarter-end/{QUARTER}/finalise")
    response = confirm(client, f"/quarter-end/{QUARTER}/publish")
    assert response.status_code == 303
    assert audit_entries(app, "sla publish") == [("manager@centre.gov.uk", QUARTER)]
    page = Page(client.get(response.headers["Location"]).text)
    assert "Published by manager@centre.gov.uk" in page.text
    assert f"/performance/{QUARTER}.xlsx" in page.links


def test_the_quarter_end_refuses_a_quarter_that_is_not_one(signed_in):
    response = signed_in("manager").get("/quarter-end?quarter=2026-Q9")
    assert response.status_code == 400 and "There is a problem" in response.text
    assert signed_in("finance").get("/month-end?month=2026-13").status_code == 400


# -- what waits on the home page -----------------------------------------------------------------


def test_the_home_page_says_what_waits_for_each_role(signed_in):
    finance = Page(signed_in("finance").get("/").text)
    assert "Review and issue May 2026 : 3 draft statements totalling £19,000.00" in finance.text
    assert f"/month-end?month={MAY}" in finance.links
    manager = Page(signed_in("manager").get("/").text)
    assert "Write the commentary for" in manager.text and "1 of 1 KPIs have none" in manager.text
    admin = Page(signed_in("admin").get("/").text)
    assert "Review and issue May 2026" in admin.text and "Write the commentary" in admin.text
    wyre = Page(signed_in("wyr").get("/").text)
    assert "Review your draft statement for May 2026" in wyre.text
    assert "/statements/TSS-202605-WYR" in wyre.links
    auditor = Page(signed_in("auditor").get("/").text)
    assert "Waiting for you" not in auditor.text
