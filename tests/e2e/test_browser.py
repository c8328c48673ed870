"""End to end in a real browser: Debian's headless Chromium against a real server on 127.0.0.1.

Skipped, saying why, only where Chromium or ChromeDriver cannot be found.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import small_centre, write_book, write_csv

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)",
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def server(cli, instance, tmp_path):
    """The small centre with May 2026 issued, served by `opsplatform serve` in a subprocess."""
    cli("setup", "load", write_book(tmp_path / "setup.xlsx", small_centre()))
    rows = [
        {"event_id": "m1", "client": "WYR", "service": "PAY", "date": "2026-05-04", "quantity": 7}
    ]
    cli("usage", "import", write_csv(tmp_path / "may.csv", rows))
    cli("billing", "close", "2026-05")
    cli("billing", "issue", "2026-05")
    people = {
        "client": cli.json(
            "users", "create", "pay@wyre.gov.uk", "--role", "client", "--client", "WYR"
        ),
        "finance": cli.json("users", "create", "finance@centre.gov.uk", "--role", "finance"),
    }
    port = _free_port()
    script = Path(sys.executable).parent / "opsplatform"
    process = subprocess.Popen(
        [str(script), "serve", "--port", str(port)],
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    yield f"http://127.0.0.1:{port}", people
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ):
        options.add_argument(flag)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads)})
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    driver.downloads = downloads
    yield driver
    driver.quit()


def sign_in(browser, base: str, person: dict) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{base}/login")
    browser.find_element(By.ID, "email").send_keys(person["email"])
    browser.find_element(By.ID, "password").send_keys(person["password"])
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


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
