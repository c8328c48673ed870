"""A finance officer answers a council's query with a credit in the browser: the check page
says in words what will happen, nothing is written until it is confirmed, and the next
close puts the credit on the council's statement as -£226.08 (issue 15)."""

from __future__ import annotations

from selenium.webdriver.common.by import By

from tests.e2e.conftest import follow, sign_in

SAYS = "Wyre Council's next statement will be reduced by £226.08 (a credit)"


def test_finance_answers_a_query_with_a_credit_and_the_next_close_shows_it(server, browser, cli):
    base, people = server
    lines = cli.json("billing", "show", "TSS-202605-WYR")["lines"]
    payroll = next(n for n, line in enumerate(lines, start=1) if line["service"] == "PAY")
    cli("queries", "raise", "TSS-202605-WYR", "--line", str(payroll), "--reason", "Overcharged")
    query_id = cli.json("queries", "list")[0]["id"]

    sign_in(browser, base, people["finance"])
    browser.get(f"{base}/queries/{query_id}")
    browser.find_element(By.ID, "decision").click()
    browser.find_element(By.ID, "adjustment-credit").click()
    browser.find_element(By.ID, "amount").send_keys("226.08")
    browser.find_element(By.ID, "answer").send_keys("We will credit £226.08")
    follow(browser, browser.find_element(By.XPATH, "//button[normalize-space()='Continue']"))

    assert browser.find_element(By.TAG_NAME, "h1").text == f"Check your answer to query {query_id}"
    assert browser.find_element(By.ID, "effect").text == SAYS + "."
    assert cli.json("queries", "list")[0]["status"] == "open"  # the check wrote nothing
    confirm = "//button[normalize-space()='Confirm and send the answer']"
    follow(browser, browser.find_element(By.XPATH, confirm))
    banner = browser.find_element(By.CSS_SELECTOR, ".govuk-notification-banner--success")
    assert SAYS in banner.text

    cli("billing", "close", "2026-06")
    browser.get(f"{base}/statements/TSS-202606-WYR")
    rows = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "table tbody tr")]
    credit = next(r for r in rows if "manual credit" in r)
    assert "-£226.08" in credit
    assert "+£226.08" not in browser.page_source and "£-" not in browser.page_source
