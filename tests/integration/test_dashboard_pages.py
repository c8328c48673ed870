"""The shared-service manager's pages (opsplatform/entrypoints/web/dashboard.py): the dashboard, the audit
log and the quarter's KPI commentary; who may see them, and that their figures are the
database's.

The centre is tests/integration/conftest.py's: April 2026 issued, May 2026 drafted, for WYR, LAN
and PRS; WYR and LAN each used 100 payslips in April, completed within the PAY-5D KPI's limit.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from html import unescape
from html.parser import HTMLParser
from statistics import median

import pytest
from sqlalchemy import func, select, update

from billing.disputes import answer_query, raise_query
from billing.models import Statement, StatementLine, StatementQuery
from opsplatform.entrypoints import jobs
from opsplatform.entrypoints.app import close_app, create_app
from opsplatform.entrypoints.formats import quarter_text
from opsplatform.models import AuditEvent, Client, Service, UsageEvent
from opsplatform.money import format_gbp
from opsplatform.periods import LONDON, Month, Quarter, iter_months
from sla.commentary import commentary
from sla.service import assess_quarter
from tests.support import write_csv

QUARTER = "2026-27-Q1"
COMMENTARY = f"/performance/{QUARTER}/commentary"
KPI_FIELD = "kpi-PAY-5D"
PAGES = ["/dashboard", "/audit", COMMENTARY, "/performance/commentary"]


# -- helpers -------------------------------------------------------------------------------


class Page(HTMLParser):
    """Tables by id (rows of cell texts), forms with their inputs and textareas, links."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.html = html
        self.tables: dict[str, list[list[str]]] = defaultdict(list)
        self.forms: list[dict] = []
        self.links: list[str] = []
        self._table: list[str] = []
        self._cell: list[str] | None = None
        self._textarea: dict | None = None
        self.feed(html)
        self.text = " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self._table.append(attrs.get("id") or f"table-{len(self.tables)}")
        elif tag == "tr" and self._table:
            self.tables[self._table[-1]].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []
        elif tag == "form":
            self.forms.append({**attrs, "inputs": {}, "textareas": {}})
        elif tag == "input" and self.forms and attrs.get("name"):
            self.forms[-1]["inputs"][attrs["name"]] = attrs.get("value", "")
        elif tag == "textarea" and self.forms:
            self._textarea = {"name": attrs.get("name"), "text": []}
        elif tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._textarea is not None:
            self._textarea["text"].append(data)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[self._table[-1]][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table" and self._table:
            self._table.pop()
        elif tag == "textarea" and self._textarea is not None:
            self.forms[-1]["textareas"][self._textarea["name"]] = "".join(self._textarea["text"])
            self._textarea = None

    def table(self, ident: str) -> dict[str, list[str]]:
        """A table's body rows by their first cell (the header row left out)."""
        return {row[0]: row[1:] for row in self.tables[ident][1:]}


def sign_in(app, person: dict):
    client = app.test_client()
    token = Page(client.get("/login").text).forms[0]["inputs"]["csrf_token"]
    data = {"email": person["email"], "password": person["password"], "csrf_token": token}
    response = client.post("/login", data=data)
    assert response.status_code == 302, response.text
    return client


def token_of(client) -> str:
    page = Page(client.get("/").text)
    return next(f for f in page.forms if "csrf_token" in f["inputs"])["inputs"]["csrf_token"]


def save_commentary(client, text: str, **extra):
    return client.post(COMMENTARY, data={"csrf_token": token_of(client), KPI_FIELD: text, **extra})


def no_inline_code(html: str) -> bool:
    return "<script" not in html.lower() and "style=" not in html and "onclick" not in html


def db(app):
    return app.extensions["opsplatform.db"].transaction()


@pytest.fixture
def signed_in(app, people):
    """Sign in as one of the centre's people, by name."""
    return lambda name: sign_in(app, people[name])


# -- who may see what ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "dashboard", "audit", "commentary_page"),
    [
        ("admin", 200, 200, 200),
        ("manager", 200, 403, 200),
        ("finance", 200, 403, 403),
        ("auditor", 200, 200, 403),
        ("wyr", 404, 404, 404),
    ],
)
def test_each_page_is_for_its_roles_only(signed_in, name, dashboard, audit, commentary_page):
    client = signed_in(name)
    assert client.get("/dashboard").status_code == dashboard
    assert client.get("/audit").status_code == audit
    assert client.get(COMMENTARY).status_code == commentary_page
    start = client.get("/performance/commentary")
    assert start.status_code == (302 if commentary_page == 200 else commentary_page)


def test_signed_out_people_are_sent_to_sign_in(client):
    for url in PAGES:
        response = client.get(url)
        assert response.status_code == 302
        assert "/login" in response.headers["Location"]


def test_the_auditor_and_finance_cannot_write_commentary(app, signed_in):
    for name in ("auditor", "finance"):
        client = signed_in(name)
        assert save_commentary(client, "Not mine to write").status_code == 403
    assert client_side_commentary(app) == {}


def test_a_client_user_cannot_write_commentary_either(app, signed_in):
    client = signed_in("wyr")
    assert save_commentary(client, "Not ours to write").status_code == 404
    assert client_side_commentary(app) == {}


def client_side_commentary(app) -> dict[str, str]:
    with db(app) as session:
        return commentary(session, Quarter.parse(QUARTER))


def test_no_page_carries_a_script_or_inline_style(signed_in):
    admin = signed_in("admin")
    for url in ["/dashboard", "/audit", COMMENTARY, "/performance/nonsense/commentary"]:
        response = admin.get(url)
        assert response.status_code in (200, 400)
        assert no_inline_code(response.text), url
        assert "<script" not in response.text


# -- the dashboard's figures -----------------------------------------------------------------


def expected_billing(app) -> dict[str, dict[str, dict[str, Decimal]]]:
    """Net billing by client and by service, for May 2026 and April-May 2026, and the same
    months a year earlier, added up in Python from every stored line."""
    periods = {
        "month": ["2026-05"],
        "year": ["2026-04", "2026-05"],
        "month_last_year": ["2025-05"],
        "year_last_year": ["2025-04", "2025-05"],
    }
    found: dict[str, dict[str, dict[str, Decimal]]] = {
        "client": defaultdict(dict),
        "service": defaultdict(dict),
    }
    with db(app) as session:
        clients = dict(session.execute(select(Client.id, Client.code)).all())
        services = dict(session.execute(select(Service.id, Service.code)).all())
        for statement in session.scalars(select(Statement)):
            for line in statement.lines:
                for period, months in periods.items():
                    if statement.month not in months:
                        continue
                    for by, key in (
                        ("client", clients[statement.client_id]),
                        ("service", services.get(line.service_id, "")),
                    ):
                        found[by][key][period] = found[by][key].get(period, 0) + line.amount
    return found


def shown(cells: list[str]) -> dict[str, str]:
    return dict(
        zip(["month", "month_last_year", "year", "year_last_year", "change"], cells, strict=True)
    )


def row_for(table: dict[str, list[str]], code: str) -> dict[str, str]:
    return shown(next(cells for label, cells in table.items() if label.endswith(f"({code})")))


def text(amount: Decimal | None) -> str:
    return "no data" if amount is None else format_gbp(amount)


def test_billing_by_client_and_service_matches_the_statements(app, signed_in):
    page = Page(signed_in("manager").get("/dashboard").text)
    expected = expected_billing(app)
    assert set(expected["client"]) == {"WYR", "LAN", "PRS"}
    by_client = page.table("billing-by-client")
    for code, figures in expected["client"].items():
        row = row_for(by_client, code)
        assert row["month"] == format_gbp(figures["month"])
        assert row["year"] == format_gbp(figures["year"])
        # the centre has no statements before April 2026: nothing to compare with
        assert row["month_last_year"] == row["year_last_year"] == row["change"] == "no data"
    by_service = page.table("billing-by-service")
    for code, figures in expected["service"].items():
        row = row_for(by_service, code)
        assert row["month"] == format_gbp(figures["month"])
        assert row["year"] == format_gbp(figures["year"])
    total_may = sum(f["month"] for f in expected["client"].values())
    total_year = sum(f["year"] for f in expected["client"].values())
    assert shown(by_client["All clients"])["month"] == format_gbp(total_may)
    assert shown(by_client["All clients"])["year"] == format_gbp(total_year)
    assert shown(by_service["All services"])["year"] == format_gbp(total_year)
    assert re.search(r"£\d{1,3}(,\d{3})*\.\d\d", page.text)
    assert "The latest month with statements is May 2026: 3 statements, 3 of them still draft" in (
        page.text
    )


def test_billing_is_compared_with_the_same_months_last_year(app, signed_in):
    with db(app) as session:
        wyr = session.scalar(select(Client.id).where(Client.code == "WYR"))
        pay, host = (
            session.scalar(select(Service.id).where(Service.code == code))
            for code in ("PAY", "HOST")
        )
        for month, service, amount in (
            ("2025-04", host, Decimal("1000.00")),
            ("2025-05", pay, Decimal("150.25")),
            ("2024-05", pay, Decimal("999.99")),  # two years ago: in no period shown
        ):
            session.add(
                Statement(
                    number=f"TSS-{month.replace('-', '')}-WYR",
                    client_id=wyr,
                    month=month,
                    status="issued",
                    net=amount,
                    total=amount,
                    lines=[
                        StatementLine(
                            position=1,
                            service_id=service,
                            kind="charge",
                            period=month,
                            description="Last year",
                            amount=amount,
                        )
                    ],
                )
            )
    page = Page(signed_in("auditor").get("/dashboard").text)
    expected = expected_billing(app)["client"]["WYR"]
    assert expected["year_last_year"] == Decimal("1150.25")
    row = row_for(page.table("billing-by-client"), "WYR")
    assert row["month_last_year"] == "£150.25"
    assert row["year_last_year"] == "£1,150.25"
    change = expected["year"] - expected["year_last_year"]
    percent = change / expected["year_last_year"] * 100
    assert row["change"] == f"+{format_gbp(change)} (+{percent:,.1f}%)"
    assert row_for(page.table("billing-by-client"), "LAN")["year_last_year"] == "no data"
    services = page.table("billing-by-service")
    assert row_for(services, "PAY")["month_last_year"] == "£150.25"
    assert row_for(services, "HOST")["year_last_year"] == "£1,000.00"
    assert row_for(services, "ICT")["year_last_year"] == "no data"
    # the chart shows this year's and last year's bars, with the same figures as the table
    assert 'data-series="Same months of 2025-26" data-value="1150.25"' in page.html
    assert f'data-category="WYR" data-series="2026-27 to date" data-value="{expected["year"]}"' in (
        page.html
    )


def test_the_billing_chart_is_an_accessible_image_followed_by_its_table(signed_in):
    html = signed_in("finance").get("/dashboard").text
    svg = html[html.index("<svg") : html.index("</svg>")]
    assert 'role="img"' in svg and "<title" in svg and "<desc" in svg
    assert html.index("</svg>") < html.index('id="billing-by-client"')
    kpi_svg_end = html.index("</svg>", html.index('id="kpi-chart-title"'))
    assert kpi_svg_end < html.index('id="kpi-counts"')


def test_drafts_awaiting_issue_link_to_their_statements(app, signed_in):
    page = Page(signed_in("manager").get("/dashboard").text)
    with db(app) as session:
        drafts = session.scalars(select(Statement.number).where(Statement.status == "draft")).all()
    assert sorted(drafts) == ["TSS-202605-LAN", "TSS-202605-PRS", "TSS-202605-WYR"]
    for number in drafts:
        assert f"/statements/{number}" in page.links
    assert "/statements/TSS-202604-WYR" not in page.links  # issued


def test_the_kpi_matrix_shows_the_latest_quarter_with_results(app, signed_in):
    page = Page(signed_in("manager").get("/dashboard").text)
    with db(app) as session:
        results = assess_quarter(session, Quarter.parse(QUARTER))
    assert f"Performance in {quarter_text(QUARTER)}" in page.text
    header = page.tables["kpi-matrix"][0]
    clients = sorted(r.client for r in results if r.client)
    assert header == ["KPI", "Whole centre", *clients]
    row = page.table("kpi-matrix")["PAY-5D Payslips in 5 working days"]
    words = {"green": "Green", "amber": "Amber", "red": "Red", "no_data": "No data"}
    by_client = {r.client: r for r in results}
    for cell, who in zip(row, [None, *clients], strict=True):
        assert cell.startswith(words[by_client[who].status])
    assert row[0] == "Green 100%"
    counts = page.table("kpi-counts")
    assert counts["Green"] == [str(len(clients))] and counts["Red"] == ["0"]
    assert f"/performance?quarter={QUARTER}" in page.links
    assert COMMENTARY in page.links  # a manager may write commentary


def test_month_by_month_billing_and_usage_add_up_from_every_line_and_event(app, signed_in):
    page = Page(signed_in("manager").get("/dashboard").text)
    months = [m.label for m in iter_months(Month(2025, 6), Month(2026, 5))]
    billed: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    used: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    with db(app) as session:
        clients = dict(session.execute(select(Client.id, Client.code)).all())
        services = dict(session.execute(select(Service.id, Service.code)).all())
        for statement in session.scalars(select(Statement)):
            for line in statement.lines:
                label = Month.parse(statement.month).label
                billed[clients[statement.client_id], label] += line.amount
                billed["All clients", label] += line.amount
        for event in session.scalars(select(UsageEvent)):
            used[services[event.service_id], Month.parse(event.month).label] += event.quantity
    by_client = page.tables["trend-clients"]
    codes = by_client[0][1:]
    assert codes == ["LAN", "PRS", "WYR", "All clients"]
    assert [row[0] for row in by_client[1:]] == months  # oldest first, in words
    for row in by_client[1:]:
        for code, cell in zip(codes, row[1:], strict=True):
            assert cell == text(billed.get((code, row[0])))
    assert page.table("trend-clients")["March 2026"] == ["no data"] * 4  # never zero
    assert page.table("trend-clients")["April 2026"][-1] == format_gbp(
        billed["All clients", "April 2026"]
    )
    volumes = page.tables["trend-volumes"]
    heading = volumes[0][1:]
    assert heading == ["PAY payslip"]
    for row in volumes[1:]:
        found = used.get(("PAY", row[0]))
        assert row[1] == ("no data" if found is None else f"{found:,.0f}")
    assert page.table("trend-volumes")["April 2026"] == ["200"]
    assert '<title id="trends-chart-title">Net billing of all clients by month' in page.html
    assert "April 2026: " + format_gbp(billed["All clients", "April 2026"]) in page.html


def test_kpis_are_shown_quarter_by_quarter(app, signed_in):
    page = Page(signed_in("manager").get("/dashboard").text)
    with db(app) as session:
        results = assess_quarter(session, Quarter.parse(QUARTER))
    clients = [r for r in results if r.client and r.kpi.code == "PAY-5D"]
    green = sum(r.status == "green" for r in clients)
    trend = page.tables["kpi-trend"]
    assert trend[0] == ["KPI", "Q2 2025-26", "Q3 2025-26", "Q4 2025-26", "Q1 2026-27"]
    row = page.table("kpi-trend")["PAY-5D Payslips in 5 working days"]
    assert row[:3] == ["no data"] * 3
    assert row[3] == f"100% {green} of {len(clients)} clients on target"


def test_only_commentators_are_offered_the_commentary_link(signed_in):
    assert COMMENTARY not in Page(signed_in("auditor").get("/dashboard").text).links
    assert COMMENTARY in Page(signed_in("admin").get("/dashboard").text).links


def test_recent_imports_show_their_outcome(app, signed_in):
    from importers.usage import revert_batch

    with db(app) as session:
        revert_batch(session, 1, "finance@centre.gov.uk")
    page = Page(signed_in("manager").get("/dashboard").text)
    batch = page.table("recent-imports")["1"]
    assert batch[0] == "usage.csv"
    assert batch[2:5] == ["2", "2", "0"]
    assert batch[5].startswith("Reverted")
    assert "/imports" in page.links


def test_open_queries_and_the_low_bureaucracy_measures(app, signed_in):
    with db(app) as session:
        answered = raise_query(
            session, "TSS-202604-WYR", 3, "We had 90 payslips", "pay@wyre.gov.uk"
        )
        waiting = raise_query(
            session, "TSS-202604-LAN", None, "What is ICT?", "pay@lancaster.gov.uk"
        )
        answered_id, waiting_id = answered.id, waiting.id
    # raised four days ago (a little more, but on the same London date, so that the age in
    # whole days is 4 both by date and by elapsed time, whatever the hour), answered now
    now = datetime.now(LONDON)
    since_midnight = now - now.replace(hour=0, minute=0, second=0, microsecond=0)
    raised = now - timedelta(days=4) - min(timedelta(hours=1), since_midnight / 2)  # wall clock
    with db(app) as session:
        session.execute(
            update(StatementQuery)
            .where(StatementQuery.id.in_([answered_id, waiting_id]))
            .values(raised_at=raised)
        )
    with db(app) as session:
        answer_query(session, answered_id, False, "The payroll file shows 100", "finance@x.gov.uk")

    page = Page(signed_in("manager").get("/dashboard").text)
    open_rows = page.table("open-queries")
    assert list(open_rows) == [f"Query {waiting_id}"]
    assert open_rows[f"Query {waiting_id}"][0] == "TSS-202604-LAN"
    assert open_rows[f"Query {waiting_id}"][-1] == "4 days"
    assert f"/queries/{waiting_id}" in page.links

    with db(app) as session:
        months = iter_months(Month(2025, 6), Month(2026, 5))
        window = Statement.month.in_([str(m) for m in months])
        statements = session.scalar(select(func.count(Statement.id)).where(window))
        lines = session.scalar(select(func.count(StatementLine.id)).join(Statement).where(window))
        queried = len(
            set(session.scalars(select(StatementQuery.statement_id).join(Statement).where(window)))
        )
        days = [
            (q.answered_at - q.raised_at).days
            for q in session.scalars(
                select(StatementQuery).where(StatementQuery.answered_at.isnot(None))
            )
        ]
    assert statements == 6 and queried == 2 and days == [4]
    assert "Over the statements of June 2025 to May 2026 (6 statements)" in page.text
    assert f"Average lines per statement {lines / statements:,.1f}" in page.text
    assert f"Statements queried {queried / statements * 100:,.1f}% ({queried} of 6)" in page.text
    assert (
        f"Median time to answer a query {median(days):g} days "
        "(1 query answered; 1 still open, not counted)"
    ) in page.text


def test_an_empty_centre_says_no_data_rather_than_nothing(cli):
    person = cli.json("users", "create", "boss@centre.gov.uk", "--role", "manager")
    app = create_app()
    try:
        page = Page(sign_in(app, person).get("/dashboard").text)
    finally:
        close_app(app)
    assert "No data: no statements have been drafted yet." in page.text
    assert "No data: there are no KPI results yet." in page.text
    assert "There are no draft statements." in page.text
    assert "There are no open queries." in page.text
    assert "£0.00" not in page.text


# -- the audit log ---------------------------------------------------------------------------


def test_the_audit_log_is_newest_first_in_london_time_with_readable_detail(app, signed_in):
    with db(app) as session:
        session.add(
            AuditEvent(
                actor="someone@centre.gov.uk",
                action="setup load",
                subject="summer.xlsx",
                at=datetime(2026, 7, 1, 11, 30, tzinfo=UTC),
                detail='{"rerate": false, "sheets": {"KPIs": {"created": 1, "updated": 0}}}',
            )
        )
    page = Page(signed_in("auditor").get("/audit").text)
    rows = [r for r in page.tables["audit"][1:] if r[2] != "sign in"]  # the auditor's own
    assert rows[0][:4] == ["1 Jul 2026 12:30", "someone@centre.gov.uk", "setup load", "summer.xlsx"]
    assert rows[0][4] == "Rerate: no Sheets: KPIs: created 1, updated 0"
    actions = [row[2] for row in rows]
    assert actions[-1] == "setup load"  # the first thing recorded is last
    assert "billing issue" in actions and "user create" in actions
    assert no_inline_code(page.html)


def test_the_audit_log_names_the_scheduler_for_a_scheduled_close(app, signed_in, instance):
    jobs.tick(app.extensions["opsplatform.db"], instance, date(2026, 6, 3))  # closes May again
    page = Page(signed_in("auditor").get("/audit").text)
    newest = next(r for r in page.tables["audit"][1:] if r[2] != "sign in")  # not the auditor's
    assert newest[1:4] == ["scheduler", "billing close", "2026-05"]
    assert newest[4] == "Statements: TSS-202605-LAN; TSS-202605-PRS; TSS-202605-WYR"


def test_the_audit_log_has_fifty_entries_a_page(app, signed_in):
    auditor = signed_in("auditor")  # first, so that its sign-in is not among the newest
    with db(app) as session:
        for n in range(120):
            session.add(AuditEvent(actor="bulk@centre.gov.uk", action="test", subject=f"n{n}"))
    with db(app) as session:
        total = session.scalar(select(func.count(AuditEvent.id)))
    first = Page(auditor.get("/audit").text)
    assert [r[3] for r in first.tables["audit"][1:]] == [f"n{n}" for n in range(119, 69, -1)]
    assert "/audit?page=2" in first.links
    pages = -(-total // 50)
    last = Page(auditor.get(f"/audit?page={pages}").text)
    assert len(last.tables["audit"]) - 1 == total - 50 * (pages - 1)
    assert f"/audit?page={pages - 1}" in last.links
    assert auditor.get(f"/audit?page={pages + 1}").status_code == 404
    assert auditor.get("/audit?page=0").status_code == 404


# -- the commentary form -----------------------------------------------------------------------


def test_a_manager_writes_commentary_that_shows_again_on_reload(app, signed_in, people):
    manager = signed_in("manager")
    page = Page(manager.get(COMMENTARY).text)
    form = next(f for f in page.forms if f.get("action") == COMMENTARY)
    assert form["inputs"]["csrf_token"]
    assert form["textareas"] == {KPI_FIELD: ""}
    text = "Payslips were on time.\r\nThe new payroll system bedded in."
    response = save_commentary(manager, text)
    assert response.status_code == 302
    assert response.headers["Location"].endswith(COMMENTARY)
    again = Page(manager.get(COMMENTARY).text)
    assert again.forms[-1]["textareas"][KPI_FIELD].strip() == text.replace("\r\n", "\n")
    assert "Commentary for 2026-27-Q1 saved: PAY-5D" in again.text
    assert f"Last saved by {people['manager']['email']}" in again.text
    assert client_side_commentary(app) == {"PAY-5D": text.replace("\r\n", "\n")}
    with db(app) as session:
        entry = session.scalars(select(AuditEvent).where(AuditEvent.action == "sla comment")).one()
    assert entry.actor == people["manager"]["email"]
    assert entry.subject == "PAY-5D 2026-27-Q1"

    # an admin changes it; saving it unchanged records nothing more
    admin = signed_in("admin")
    assert save_commentary(admin, "Revised by the admin").status_code == 302
    assert save_commentary(admin, "Revised by the admin").status_code == 302
    assert client_side_commentary(app) == {"PAY-5D": "Revised by the admin"}
    with db(app) as session:
        count = session.scalar(
            select(func.count(AuditEvent.id)).where(AuditEvent.action == "sla comment")
        )
    assert count == 2
    assert "Nothing changed in the commentary" in Page(admin.get(COMMENTARY).text).text


def test_commentary_needs_the_csrf_token(app, signed_in):
    manager = signed_in("manager")
    response = manager.post(COMMENTARY, data={KPI_FIELD: "Forged"})
    assert response.status_code == 400
    assert client_side_commentary(app) == {}


def test_a_bad_quarter_gets_an_error_summary(signed_in):
    manager = signed_in("manager")
    response = manager.get("/performance/2026-Q5/commentary")
    assert response.status_code == 400
    page = Page(response.text)
    assert "There is a problem" in page.text
    assert "'2026-Q5' is not a quarter" in page.text
    assert "#quarter" in page.links
    response = manager.get("/performance/commentary?quarter=2026-27-Q5")
    assert response.status_code == 400 and "There is a problem" in response.text
    response = manager.get("/performance/commentary?quarter=2026-27-Q2")
    assert response.headers["Location"].endswith("/performance/2026-27-Q2/commentary")
    posted = manager.post(
        "/performance/nonsense/commentary", data={"csrf_token": token_of(manager)}
    )
    assert posted.status_code == 400


def test_too_long_or_removed_commentary_is_refused_with_nothing_saved(app, signed_in):
    manager = signed_in("manager")
    response = save_commentary(manager, "x" * 5001)
    assert response.status_code == 400
    page = Page(response.text)
    assert "The commentary on PAY-5D must be 5,000 characters or fewer" in page.text
    assert "#commentary-1" in page.links
    assert page.forms[-1]["textareas"][KPI_FIELD] == "x" * 5001
    assert client_side_commentary(app) == {}
    assert save_commentary(manager, "Saved").status_code == 302
    response = save_commentary(manager, "   ")
    assert response.status_code == 400
    assert "saved commentary can be changed but not removed" in response.text
    assert client_side_commentary(app) == {"PAY-5D": "Saved"}


# -- the costly figures are kept while their data is unchanged --------------------------------


def test_the_costly_figures_are_computed_once_until_their_data_changes(
    app, signed_in, cli, tmp_path, monkeypatch
):
    from opsplatform.entrypoints.web import dashboard, figures

    computed = []
    matrix = dashboard.kpi_matrix
    monkeypatch.setattr(
        dashboard, "kpi_matrix", lambda session: computed.append(1) or matrix(session)
    )
    kept = app.extensions["opsplatform.figures"]
    manager = signed_in("manager")
    first = Page(manager.get("/dashboard").text)
    assert Page(manager.get("/dashboard").text).text == first.text
    assert len(computed) == 1 and kept.refreshing is None
    assert re.search(r"figures calculated at \d{1,2} \w{3} \d{4} \d\d:\d\d", first.text)
    assert "being calculated" not in first.text
    # a late payslip for LAN, completed outside the 5-day limit
    late = {
        "event_id": "LATE-LAN",
        "client": "LAN",
        "service": "PAY",
        "date": "2026-04-20",
        "quantity": 1,
        "started_at": "2026-04-01T09:00:00",
        "completed_at": "2026-04-20T09:00:00",
    }
    cli("usage", "import", write_csv(tmp_path / "late.csv", [late]))
    pay = "PAY-5D Payslips in 5 working days"
    lan = first.tables["kpi-matrix"][0].index("LAN") - 1
    # at once: the kept figures, saying new ones are being calculated
    stale = Page(manager.get("/dashboard").text)
    assert stale.table("kpi-matrix")[pay][lan] == "Green 100%"
    assert "new figures are being calculated" in stale.text
    kept.refreshing.result(timeout=60)
    assert len(computed) == 2
    # then the new figures, with the late payslip
    after = Page(manager.get("/dashboard").text)
    assert after.table("kpi-matrix")[pay][lan] == "Red 50%"
    assert "being calculated" not in after.text
    # and when the figures are older than FIGURES_SECONDS, even unchanged data is read again
    monkeypatch.setattr(figures, "FIGURES_SECONDS", 0)
    manager.get("/dashboard")
    kept.refreshing.result(timeout=60)
    assert len(computed) == 3
