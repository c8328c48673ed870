"""The month and the quarter end to end in a real browser: a finance officer closes, reviews
and issues a month; a manager finalises and publishes a quarter (web/cycle.py)."""

from __future__ import annotations

from tests.e2e.conftest import follow, sign_in
from tests.support import write_book, write_csv

KPIS = [
    ["code", "name", "service", "unit", "direction", "target", "amber", "method", "limit"],
    ["PAY-5D", "Payslips in 5 working days", "PAY", "percent", "higher", 95, 90, "within", 5],
]


def click(browser, text: str) -> None:
    """Follow the link or press the button reading `text`."""
    from selenium.webdriver.common.by import By

    found = browser.find_elements(By.LINK_TEXT, text) or browser.find_elements(
        By.XPATH, f"//button[normalize-space()='{text}']"
    )
    follow(browser, found[0])


def test_a_finance_officer_closes_reviews_and_issues_a_month(server, browser, cli, tmp_path):
    from selenium.webdriver.common.by import By

    base, people = server
    june = [
        {"event_id": "j1", "client": "WYR", "service": "PAY", "date": "2026-06-03", "quantity": 9}
    ]
    cli("usage", "import", write_csv(tmp_path / "june.csv", june))
    sign_in(browser, base, people["finance"])
    click(browser, "Month end")
    month = browser.find_element(By.ID, "month")
    month.clear()
    month.send_keys("2026-06")
    click(browser, "Show the month")
    click(browser, "Close June 2026")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Check before closing June 2026"
    assert "TSS-202606-WYR" in browser.find_element(By.TAG_NAME, "main").text
    click(browser, "Close June 2026")
    banner = browser.find_element(By.CSS_SELECTOR, ".govuk-notification-banner--success")
    assert "June 2026 closed" in banner.text
    review = browser.find_element(By.ID, "drafts-caption").find_element(By.XPATH, "..").text
    assert "TSS-202606-WYR" in review and "9 payslips" not in review
    assert "Payroll, charge for the month: £28.00 to £36.00" in review  # 7 in May, 9 in June
    click(browser, "Issue June 2026")
    main = browser.find_element(By.TAG_NAME, "main").text
    assert "will be issued and e-mailed to" in main and "cannot be changed afterwards" in main
    click(browser, "Issue 3 statements")
    banner = browser.find_element(By.CSS_SELECTOR, ".govuk-notification-banner--success")
    assert "June 2026 issued: 3 statements totalling" in banner.text
    browser.get(f"{base}/statements/TSS-202606-WYR")
    assert "Issued" in browser.find_element(By.TAG_NAME, "main").text


def test_a_manager_finalises_and_publishes_a_quarter(server, browser, cli, tmp_path):
    from selenium.webdriver.common.by import By

    base, _ = server
    cli("setup", "load", write_book(tmp_path / "kpis.xlsx", {"KPIs": KPIS}))
    manager = cli.json("users", "create", "manager@centre.gov.uk", "--role", "manager")
    sign_in(browser, base, manager)
    browser.get(f"{base}/quarter-end?quarter=2026-27-Q1")
    assert "provisional" in browser.find_element(By.TAG_NAME, "main").text
    click(browser, "Finalise Q1 2026-27")
    main = browser.find_element(By.TAG_NAME, "main").text
    assert "results of Q1 2026-27 are frozen" in main
    assert "0 service credits totalling £0.00 will be raised for the next statements" in main
    click(browser, "Finalise Q1 2026-27")
    banner = browser.find_element(By.CSS_SELECTOR, ".govuk-notification-banner--success")
    assert "Q1 2026-27 finalised" in banner.text
    click(browser, "Publish Q1 2026-27")
    click(browser, "Publish Q1 2026-27")
    main = browser.find_element(By.TAG_NAME, "main").text
    assert "Published by manager@centre.gov.uk" in main
    browser.find_element(By.PARTIAL_LINK_TEXT, "Download the performance report").click()
    saved = browser.downloads / "performance-2026-27-Q1.xlsx"
    import time

    deadline = time.monotonic() + 20
    while not saved.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert saved.exists() and saved.read_bytes()[:2] == b"PK"
