"""End to end in a real browser: Debian's headless Chromium against a real server on 127.0.0.1."""

from __future__ import annotations

import time

from tests.e2e.conftest import follow, reaches, sign_in


def test_a_client_signs_in_sees_only_its_statement_and_downloads_it(server, browser):
    from selenium.webdriver.common.by import By

    base, people = server
    sign_in(browser, base, people["client"])
    browser.get(f"{base}/statements")
    numbers = [
        a.text for a in browser.find_elements(By.CSS_SELECTOR, "#statements td:first-child a")
    ]
    assert numbers == ["TSS-202605-WYR"]
    follow(browser, browser.find_element(By.LINK_TEXT, "TSS-202605-WYR"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Statement TSS-202605-WYR"
    assert "7 payslips x £4.00" in browser.page_source
    browser.find_element(By.PARTIAL_LINK_TEXT, "Download this statement").click()
    saved = browser.downloads / "TSS-202605-WYR.xlsx"
    deadline = time.monotonic() + 20
    while not saved.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert saved.exists() and saved.read_bytes()[:2] == b"PK"
    browser.get(f"{base}/statements/TSS-202605-LAN")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Page not found"


def test_a_wrong_password_shows_the_error_summary(server, browser):
    from selenium.webdriver.common.by import By

    base, people = server
    sign_in(browser, base, {"email": people["finance"]["email"], "password": "wrong"})
    summary = browser.find_element(By.CSS_SELECTOR, ".govuk-error-summary")
    assert "Enter a correct email address and password" in summary.text


def test_a_client_raises_a_query_on_a_line_and_follows_it(server, browser):
    from selenium.webdriver.common.by import By

    base, people = server
    sign_in(browser, base, people["client"])
    browser.get(f"{base}/statements/TSS-202605-WYR/lines/1")
    follow(browser, browser.find_element(By.LINK_TEXT, "Query this line"))
    send = browser.find_element(By.XPATH, "//button[normalize-space()='Send query']")
    follow(browser, send)  # nothing written: the error summary names the field
    summary = browser.find_element(By.CSS_SELECTOR, ".govuk-error-summary")
    assert "Enter what your query is about" in summary.text
    summary.find_element(By.LINK_TEXT, "Enter what your query is about").click()
    assert browser.switch_to.active_element.get_attribute("id") == "reason"
    browser.find_element(By.ID, "reason").send_keys("We expected 6 payslips, not 7.")
    follow(browser, browser.find_element(By.XPATH, "//button[normalize-space()='Send query']"))
    banner = browser.find_element(By.CSS_SELECTOR, ".govuk-notification-banner--success")
    assert "about line 1 of TSS-202605-WYR was sent" in banner.text
    assert "We expected 6 payslips, not 7." in browser.page_source
    follow(browser, browser.find_element(By.LINK_TEXT, "Queries"))
    listed = browser.find_element(By.TAG_NAME, "main").text
    assert "TSS-202605-WYR 1: Systems hosting" in listed and "Open" in listed
    follow(browser, browser.find_element(By.LINK_TEXT, "Query 1"))
    assert "We expected 6 payslips, not 7." in browser.find_element(By.TAG_NAME, "main").text


def test_finance_uploads_usage_sees_the_check_then_imports_it(server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    base, people = server
    usage = tmp_path / "june.csv"
    usage.write_text(
        "event_id,client,service,date,quantity\nj1,WYR,PAY,2026-06-02,4\nj2,WYR,PAY,2026-06-03,5\n"
    )
    sign_in(browser, base, people["finance"])
    browser.get(f"{base}/imports/usage")
    browser.find_element(By.ID, "file").send_keys(str(usage))
    browser.find_element(By.XPATH, "//button[normalize-space()='Check the file']").click()

    reaches(browser, "Check the usage before you import it")
    assert "Nothing has been imported yet" in browser.page_source
    browser.find_element(By.XPATH, "//button[normalize-space()='Import 2 rows']").click()
    reaches(browser, "Imports")
    banner = browser.find_element(By.CSS_SELECTOR, ".govuk-notification-banner--success")
    assert "imported: 2 of 2 rows from june.csv" in banner.text
