"""The sign-in throttle under gunicorn with several workers, behind a proxy (issue 12, finding 4):
the workers share one count, so exactly ten of many simultaneous failures for one account are
let through, and one account's lock-out does not lock out a colleague behind the same proxy."""

from __future__ import annotations

import http.cookiejar
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ATTEMPTS = 30
CLIENT = "198.51.100.7"  # the address the proxy (the test) says the browsers sign in from


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.fixture
def gunicorn(cli, instance, monkeypatch):
    """Three gunicorn workers trusting one proxy, and two people to sign in."""
    people = {
        name: cli.json("users", "create", f"{name}@centre.gov.uk", "--role", name)
        for name in ("finance", "manager")
    }
    root = Path(__file__).resolve().parents[2]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("OPSPLATFORM_TRUSTED_PROXIES", "1")
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            *("-c", str(root / "gunicorn.conf.py"), "--chdir", str(root)),
            *("-b", f"127.0.0.1:{port}", "-w", "3", "wsgi:app"),
        ],
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not answer within 30 s"
                time.sleep(0.3)
        yield base, people
    finally:
        process.terminate()
        process.wait(timeout=15)


def sign_in(base: str, email: str, password: str) -> tuple[int, dict]:
    """One browser's sign-in through the proxy: the status and headers of the POST."""
    browser = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), NoRedirect()
    )
    forwarded = {"X-Forwarded-For": CLIENT}
    with browser.open(urllib.request.Request(f"{base}/login", headers=forwarded)) as page:
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.read().decode())
    form = {"email": email, "password": password, "csrf_token": token.group(1)}
    request = urllib.request.Request(
        f"{base}/login", data=urllib.parse.urlencode(form).encode(), headers=forwarded
    )
    try:
        with browser.open(request, timeout=60) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


@pytest.mark.slow
def test_workers_share_the_count_and_a_lock_out_is_one_accounts(gunicorn):
    base, people = gunicorn
    finance, manager = people["finance"], people["manager"]
    with ThreadPoolExecutor(max_workers=ATTEMPTS) as pool:
        answers = list(
            pool.map(lambda _: sign_in(base, finance["email"], "wrong"), range(ATTEMPTS))
        )
    assert Counter(status for status, _ in answers) == {401: 10, 429: ATTEMPTS - 10}
    assert all(0 < int(h["Retry-After"]) <= 900 for status, h in answers if status == 429)
    assert sign_in(base, finance["email"], finance["password"])[0] == 429
    assert sign_in(base, manager["email"], manager["password"])[0] == 302
