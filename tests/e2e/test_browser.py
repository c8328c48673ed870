"""End to end in a real browser: Debian's headless Chromium against a real server on 127.0.0.1."""

from __future__ import annotations

import time

from tests.e2e.conftest import sign_in


def test_a_client_signs_in_sees_only_its_statement_and_downloads_it(server, browser):
    from selenium.webdriver.common.by import By

    base, people = server
    sign_in(browser, base, people["client"])
    browser.get(f"{base}/statements")
    numbers = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "td a")]
    assert numbers == ["TSS-202605-WYR"]
    browser.find_element(By.LINK_TEXT, "TSS-202605-WYR").click()
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
