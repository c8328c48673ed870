"""axe-core in the browser finds no WCAG 2.x A or AA violation on the main pages.

axe-core comes from the npm registry with the stylesheet's build (`make`); the pages are
checked as the people who use them see them: a client council and finance staff.
"""

from __future__ import annotations

import json
import re
import time
from datetime import date
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select

from tests.e2e.conftest import follow, reaches, sign_in
from tests.support import write_book, write_csv

AXE = Path(__file__).resolve().parents[2] / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
CLIENT_PAGES = [
    "/",
    "/statements",
    "/statements/TSS-202605-WYR",
    "/statements/TSS-202605-WYR/lines/1",
    "/statements/TSS-202605-WYR/lines/1/query",
    "/queries",
    "/performance",
    "/api/v1/docs",
    "/accessibility",
]
STAFF_PAGES = [
    "/dashboard",
    "/kpis",
    "/scheduler",
    "/imports",
    "/imports/usage",
    "/imports/setup",
    "/statements?month=nonsense",
    "/reference/clients",
    "/reference/services",
    "/reference/subscriptions?client=WYR",
    "/reference/tariffs",
    "/statements?month=2026-05&status=issued",
    "/adjustments",
    "/pack/2026-27-Q1",
    "/year-end/2026-27/outturn",
    "/imports/costs",
]


def violations(browser, url: str | None = None) -> list[str]:
    """What axe-core finds on `url` (or on the page already open)."""
    if url is not None:
        browser.get(url)
    browser.execute_script(AXE.read_text())
    result = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}})"
        ".then(r => done(r.violations.map(v => v.id + ': ' + v.help + ' (' + v.nodes.length + ')')));",
        TAGS,
    )
    return [f"{url or browser.current_url} {v}" for v in result]


@pytest.fixture
def axe():
    if not AXE.exists():
        pytest.skip("axe-core is not installed: run make (it installs frontend/node_modules)")


def test_the_sign_in_page_and_its_error_state(server, browser, axe):
    base, people = server
    found = violations(browser, f"{base}/login")
    found += violations(browser, f"{base}/accessibility")  # open before signing in too
    found += violations(browser, f"{base}/open-data")  # open data, without signing in
    sign_in(browser, base, {"email": people["finance"]["email"], "password": "wrong"})
    found += violations(browser)  # the page with its error summary
    assert found == []


def test_a_client_councils_pages(server, browser, axe):
    base, people = server
    sign_in(browser, base, people["client"])
    assert [v for page in CLIENT_PAGES for v in violations(browser, base + page)] == []


def test_the_finance_pages(server, browser, axe):
    base, people = server
    sign_in(browser, base, people["finance"])
    assert [v for page in STAFF_PAGES for v in violations(browser, base + page)] == []


def test_a_vat_invoice_and_its_coded_lines(server, browser, axe, cli, tmp_path):
    """Wyre's payroll made a taxable supply with both sides' codes from June: its June
    statement is a VAT invoice, with the invoice details, codes on every line and VAT by rate."""
    base, people = server
    setup = {
        "Settings": [
            ["key", "value"],
            ["centre_address", "Civic Centre\nPoulton FY6 7PU"],
            ["vat_number", "GB987654321"],
        ],
        "Clients": [["code", "name", "address"], ["WYR", "Wyre Council", "Civic Centre, Poulton"]],
        "Services": [
            ["code", "name", "unit", "vat_rate", "cost_centre", "subjective"],
            ["PAY", "Payroll", "payslip", 20, "R410", "9400"],
        ],
        "Subscriptions": [
            ["client", "service", "start", "client_cost_centre", "client_subjective", "po_number"],
            ["WYR", "PAY", date(2026, 4, 1), "F220", "4410", "PO-77"],
        ],
    }
    cli("setup", "load", write_book(tmp_path / "vat.xlsx", setup))
    june = [
        {"event_id": "j1", "client": "WYR", "service": "PAY", "date": "2026-06-04", "quantity": 9}
    ]
    cli("usage", "import", write_csv(tmp_path / "june.csv", june))
    cli("billing", "close", "2026-06")
    sign_in(browser, base, people["client"])
    found = violations(browser, f"{base}/statements/TSS-202606-WYR")
    assert browser.find_element(By.TAG_NAME, "h1").text == "VAT invoice TSS-202606-WYR"
    found += violations(browser, f"{base}/statements/TSS-202606-WYR/lines/3")
    assert "F220" in browser.find_element(By.TAG_NAME, "main").text
    assert found == []


def test_the_kpi_pages_and_a_refused_change(server, browser, axe, cli, tmp_path):
    base, _ = server
    kpis = [
        ["code", "name", "service", "unit", "direction", "target", "amber", "method", "limit"],
        ["PAY-5D", "Payslips in 5 working days", "PAY", "percent", "higher", 95, 90, "within", 5],
    ]
    cli("setup", "load", write_book(tmp_path / "kpis.xlsx", {"KPIs": kpis}))
    manager = cli.json("users", "create", "manager@centre.gov.uk", "--role", "manager")
    sign_in(browser, base, manager)
    found = violations(browser, f"{base}/kpis") + violations(browser, f"{base}/kpis/PAY-5D")
    browser.find_element(By.ID, "target").clear()
    browser.find_element(By.XPATH, "//button[normalize-space()='Save changes']").click()
    summary = WebDriverWait(browser, 20).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, ".govuk-error-summary")
    )
    assert "Target: target is required" in summary[0].text
    assert found + violations(browser) == []


def test_the_month_end_and_quarter_end_pages(server, browser, axe, cli, tmp_path):
    """Both ends as an admin sees them: a month with drafts under review, each check page,
    a refused lock and a quarter's page and check pages."""
    base, _ = server
    kpis = [
        ["code", "name", "service", "unit", "direction", "target", "amber", "method", "limit"],
        ["PAY-5D", "Payslips in 5 working days", "PAY", "percent", "higher", 95, 90, "within", 5],
    ]
    cli("setup", "load", write_book(tmp_path / "kpis.xlsx", {"KPIs": kpis}))
    cli("billing", "close", "2026-06")
    admin = cli.json("users", "create", "admin@centre.gov.uk", "--role", "admin")
    sign_in(browser, base, admin)
    pages = [
        "/",
        "/month-end?month=2026-06",
        "/month-end?month=nonsense",
        "/month-end/2026-07/close",
        "/month-end/2026-06/issue",
        "/month-end/year/2026-27/lock",
        "/quarter-end?quarter=2026-27-Q1",
        "/quarter-end/2026-27-Q1/finalise",
        "/quarter-end/2026-27-Q1/publish",
    ]
    assert [v for page in pages for v in violations(browser, base + page)] == []


def test_an_import_under_way(server, browser, axe, instance, database):
    """The progress page of a long import, as a worker's job leaves it in the instance folder."""
    from opsplatform.models import User

    base, people = server
    with database.transaction() as session:
        user = session.scalar(select(User.id).where(User.email == people["finance"]["email"]))
    token = "t" * 32
    folder = instance / "uploads" / token
    folder.mkdir(parents=True)
    meta = {
        "kind": "usage",
        "user_id": user,
        "filename": "big.csv",
        "state": "importing",
        "started": True,
        "done": 25000,
        "about": 100000,
        "heartbeat": time.time() + 3600,
    }
    (folder / ".meta.json").write_text(json.dumps(meta))
    sign_in(browser, base, people["finance"])
    found = violations(browser, f"{base}/imports/usage/{token}?updates=off")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Importing the usage file"
    assert browser.find_element(By.ID, "progress").get_attribute("value") == "25000"
    assert found == []


def test_a_setup_check_listing_its_changes(server, browser, axe, tmp_path):
    """The check page of a workbook that adds a client and changes a service: its changes
    old and new, row by row."""
    base, people = server
    book = {
        "Clients": [["code", "name"], ["BPL", "Blackpool Council"]],
        "Services": [["code", "name", "unit"], ["PAY", "Payroll and pensions", "payslip"]],
    }
    path = write_book(tmp_path / "changes.xlsx", book)
    sign_in(browser, base, people["finance"])
    browser.get(f"{base}/imports/setup")
    browser.find_element(By.ID, "file").send_keys(str(path))
    browser.find_element(By.XPATH, "//button[normalize-space()='Check the workbook']").click()
    reaches(browser, "Check the setup workbook before you load it")
    assert "Payroll → becomes Payroll and pensions" in browser.page_source.replace(
        '<span aria-hidden="true">→</span><span class="govuk-visually-hidden"> becomes</span>',
        "→ becomes",
    )
    assert violations(browser) == []


def test_a_query_answer_its_check_page_and_withdrawing_the_credit(server, browser, axe, cli):
    """The answer form with its errors, the check page saying what the credit will do, the
    pending adjustments with the credit on them, and the withdraw check page."""
    base, people = server
    cli("queries", "raise", "TSS-202605-WYR", "--line", "1", "--reason", "Too much")
    cli("billing", "adjust", "WYR", "PAY", "-10.00", "--reason", "Goodwill")
    sign_in(browser, base, people["finance"])
    browser.get(f"{base}/queries/1")
    browser.find_element(By.ID, "adjustment-credit").click()
    browser.find_element(By.ID, "amount").send_keys("-5")
    browser.find_element(By.XPATH, "//button[normalize-space()='Continue']").click()
    found = violations(browser)  # the form with its error summary
    assert "Amount must not be negative" in browser.find_element(By.ID, "amount-error").text
    browser.find_element(By.ID, "decision").click()
    browser.find_element(By.ID, "amount").clear()
    browser.find_element(By.ID, "amount").send_keys("5")
    browser.find_element(By.ID, "answer").send_keys("Sorry")
    browser.find_element(By.XPATH, "//button[normalize-space()='Continue']").click()
    found += violations(browser)  # the check page
    assert "reduced by £5.00" in browser.find_element(By.ID, "effect").text
    found += violations(browser, f"{base}/adjustments")
    found += violations(browser, f"{base}/adjustments/1/withdraw")
    assert found == []


def test_the_check_itself_catches_an_unlabelled_field(browser, axe):
    page = "data:text/html,<html lang='en'><title>t</title><main><input type='text'></main></html>"
    assert any(" label: " in v for v in violations(browser, page))


def test_the_password_and_users_pages(server, browser, axe, cli, database):
    """Forgotten and chosen passwords, the change-password page and the administrators'
    users pages, with their error states and check pages."""
    from opsplatform.models import Notification, User

    base, people = server

    def press(label: str) -> None:
        follow(browser, browser.find_element(By.XPATH, f"//button[normalize-space()='{label}']"))

    found = violations(browser, f"{base}/password/forgot")
    press("Send the link")  # nothing typed: the error summary
    found += violations(browser)
    browser.find_element(By.ID, "email").send_keys(people["client"]["email"])
    press("Send the link")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Check your email"
    found += violations(browser)
    with database.transaction() as session:
        body = session.scalars(select(Notification.body)).one()
    link = re.search(r"/password/[A-Za-z0-9_-]+", body)
    assert link, "the reset e-mail holds no link"
    found += violations(browser, base + link.group(0))
    found += violations(browser, f"{base}/password/{'x' * 43}")  # a link that is gone
    admin = cli.json("users", "create", "admin@centre.gov.uk", "--role", "admin")
    sign_in(browser, base, admin)
    assert browser.find_element(By.TAG_NAME, "h1").text == "Change your password"
    found += violations(browser)
    press("Change password")  # nothing typed: the error summary
    found += violations(browser)
    with database.transaction() as session:
        client_id = session.scalar(select(User.id).where(User.email == people["client"]["email"]))
    for page in (
        "/users",
        "/users/invite",
        f"/users/{client_id}",
        f"/users/{client_id}/role",
        f"/users/{client_id}/disable",
        f"/users/{client_id}/send-link",
    ):
        found += violations(browser, base + page)
    browser.get(f"{base}/users/invite")
    press("Continue")  # nothing chosen: the error summary
    found += violations(browser)
    browser.find_element(By.ID, "email").send_keys("new@centre.gov.uk")
    browser.find_element(By.ID, "role-auditor").click()
    press("Continue")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Check the invitation"
    found += violations(browser)
    assert found == []
