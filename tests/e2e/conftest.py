"""Fixtures for browser tests: Debian's headless Chromium against `opsplatform serve`.

Tests using them are skipped, saying why, only where Chromium or ChromeDriver is missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support import small_centre, write_book, write_csv

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
NO_BROWSER = "Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"


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
    with serving() as base:
        yield base, people


@pytest.fixture
def demo_server(cli, instance):
    """The demo centre (a user of each role, sharing the demo's password), served."""
    cli("demo")
    with serving() as base:
        yield base


@contextmanager
def serving() -> Iterator[str]:
    """`opsplatform serve` in a subprocess on a free port, for as long as the block runs."""
    port = _free_port()
    script = Path(sys.executable).parent / "opsplatform"
    process = subprocess.Popen(
        [str(script), "serve", "--port", str(port)],
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60  # a loaded shared machine can take a while
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"opsplatform serve did not start on port {port}")
            time.sleep(0.2)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def browser(tmp_path):
    if not (CHROMIUM and DRIVER):
        pytest.skip(NO_BROWSER)
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


def follow(browser, element) -> None:
    """Click a link or button and wait until its page has gone, so that nothing is looked
    for on it (or fetched before its answer) by mistake."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    def gone(_driver) -> bool:
        try:
            element.is_enabled()
        except WebDriverException:  # stale, or Chromium's "does not belong to the document"
            return True
        return False

    element.click()
    WebDriverWait(browser, 20).until(gone)


def reaches(browser, title: str, timeout: int = 30) -> None:
    """Wait for the page whose heading is `title`: a long job's progress page reloads
    itself until then, so a heading found on one load may be gone by the next look."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, timeout, ignored_exceptions=(WebDriverException,)).until(
        lambda d: d.find_element(By.TAG_NAME, "h1").text == title
    )


def sign_in(browser, base: str, person: dict) -> None:
    """Sign in, and wait for the page that follows."""
    from selenium.webdriver.common.by import By

    browser.get(f"{base}/login")
    browser.find_element(By.ID, "email").send_keys(person["email"])
    browser.find_element(By.ID, "password").send_keys(person["password"])
    follow(browser, browser.find_element(By.CSS_SELECTOR, "button[type=submit]"))
