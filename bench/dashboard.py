"""The manager dashboard over a large ledger, under wrk against gunicorn on 127.0.0.1.

Usage: python -m bench.dashboard [EVENTS ...] (default 5,000,000) [--profile]

A centre of 50 clients x 30 services whose events run from April 2025 to October 2026,
the first 3 services timed, each with a KPI (completed within 5 working days); every
month to September 2026 closed and issued, October 2026 closed as drafts. The signed-in
manager's `GET /dashboard` is measured with wrk (4 connections, 2 threads) against
gunicorn with 4 sync workers, beside a trivial endpoint of the same server (`/healthz`),
and then an admin's home page (`GET /`, with what waits for finance and for a manager) and
the statements list's first page (`GET /statements`).
Targets: dashboard, home page and statements list p95 < 50 ms; its throughput is printed as a ratio to the trivial one's.
`--profile` profiles one dashboard request in-process instead. The database is SQLite,
or PostgreSQL when run under `.ci/with-postgres`.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import date
from pathlib import Path

from bench.common import (
    command_line,
    insert_events,
    loaded_database,
    postgres_server,
    profiled,
    timed,
)
from billing.close import close_month
from billing.issue import issue_month
from opsplatform.accounts import create_user
from opsplatform.entrypoints.app import create_app
from opsplatform.periods import Month, iter_months

CLIENTS, SERVICES, TIMED = 50, 30, 3
START, DAYS = date(2025, 4, 1), 579  # April 2025 to October 2026
ISSUED, DRAFT = Month(2026, 9), Month(2026, 10)
CONNECTIONS, WORKERS, SECONDS = 4, 4, 15

# wrk prints 50/75/90/99% by itself; this adds the 95th percentile and the request rate.
WRK_REPORT = """
done = function(summary, latency, requests)
  io.write(string.format("p50_ms %.2f\\np95_ms %.2f\\np99_ms %.2f\\nmax_ms %.2f\\n",
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
  io.write(string.format("requests %d\\nseconds %.3f\\n", summary.requests, summary.duration / 1e6))
  io.write(string.format("errors %d\\n", summary.errors.status + summary.errors.connect
    + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def build(folder: Path, events: int, server: str | None) -> str:
    """The centre's database (its URL): an SQLite file in `folder`, or a database on the
    PostgreSQL `server`. The manager's session cookie is made later, by signing in."""
    database = loaded_database(folder, CLIENTS, SERVICES, server, start=START, kpis=TIMED)
    spread = {"start": START, "days": DAYS, "timed": TIMED}
    insert_events(database, events, CLIENTS, SERVICES, **spread)
    with database.transaction() as session:
        for month in iter_months(Month.of(START), DRAFT):
            close_month(session, month, "bench")
            if month <= ISSUED:
                issue_month(session, month, "bench")
    database.engine.dispose()
    return database.url


def signed_in_cookie(folder: Path, role: str = "manager") -> str:
    """Signs a user of `role` in (through the app itself, CSRF checks off) and returns the
    session cookie, which gunicorn's workers accept: they share the instance's key."""
    app = create_app()
    app.config["WTF_CSRF_ENABLED"] = False
    database = app.extensions["opsplatform.db"]
    with database.transaction() as session:
        user, password = create_user(session, f"{role}@centre.gov.uk", role, actor="bench")
    client = app.test_client()
    response = client.post("/login", data={"email": user.email, "password": password})
    assert response.status_code == 302, response.text
    cookie = client.get_cookie("session")
    database.engine.dispose()
    return f"session={cookie.value}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(port: int) -> subprocess.Popen:
    """gunicorn with the deployment's config, WORKERS sync workers, quietly."""
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "-c",
            "gunicorn.conf.py",
            "--workers",
            str(WORKERS),
            "--bind",
            f"127.0.0.1:{port}",
            "--access-logfile",
            "/dev/null",
            "wsgi:app",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("gunicorn did not start within a minute")


def wrk(
    url: str, script: Path, cookie: str | None = None, seconds: int = SECONDS
) -> dict[str, float]:
    command = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "300s", "-s"]
    command += [str(script), url]
    if cookie:
        command[1:1] = ["-H", f"Cookie: {cookie}"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    figures = dict(re.findall(r"^(\w+) ([\d.]+)$", output, re.MULTILINE))
    return {key: float(value) for key, value in figures.items()}


def measure(folder: Path, events: int, profile: bool, server: str | None) -> None:
    results: dict[str, float] = {}
    with timed("build", results):
        os.environ["OPSPLATFORM_INSTANCE_PATH"] = str(folder)
        build(folder, events, server)
    cookie = signed_in_cookie(folder)
    admin = signed_in_cookie(
        folder, "admin"
    )  # the home page with both finance's and a manager's waiting
    where = "PostgreSQL" if server else "SQLite"
    print(f"events: {events:,} on {where} (built in {results['build']:.0f} s)")
    if profile:
        app = create_app()
        client = app.test_client()
        client.set_cookie("session", cookie.removeprefix("session="))
        client.get("/dashboard")  # warm: templates compiled, connections opened
        with profiled(True):
            assert client.get("/dashboard").status_code == 200
        return
    script = folder / "report.lua"
    script.write_text(WRK_REPORT)
    port = free_port()
    server = serve(port)
    try:
        base = f"http://127.0.0.1:{port}"
        page = urllib.request.Request(f"{base}/dashboard", headers={"Cookie": cookie})
        with urllib.request.urlopen(page, timeout=600) as response:
            assert b"Dashboard" in response.read(), "the dashboard did not render"
        # every worker computes the figures once (timed, then printed), then keeps them
        first = wrk(f"{base}/dashboard", script, cookie, seconds=SECONDS)
        trivial = wrk(f"{base}/healthz", script)
        dashboard = wrk(f"{base}/dashboard", script, cookie)
        home = wrk(f"{base}/", script, admin)
        statements = wrk(f"{base}/statements", script, admin)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    print(
        f"first dashboard request of each worker (figures computed): up to "
        f"{first['max_ms']:.0f} ms; then kept until the data changes"
    )
    measured = (
        ("/healthz", trivial),
        ("/dashboard", dashboard),
        ("/ (admin)", home),
        ("/statements", statements),
    )
    for name, figures in measured:
        rate = figures["requests"] / figures["seconds"]
        print(
            f"{name:>11}: {rate:8.1f} requests/s; p50 {figures['p50_ms']:.1f} ms, "
            f"p95 {figures['p95_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms; "
            f"errors {figures['errors']:.0f}"
        )
    ratio = (dashboard["requests"] / dashboard["seconds"]) / (
        trivial["requests"] / trivial["seconds"]
    )
    print(f"dashboard p95 {dashboard['p95_ms']:.1f} ms (target < 50); throughput ratio {ratio:.3f}")
    print(f"home page p95 {home['p95_ms']:.1f} ms (target < 50)")
    print(f"statements list p95 {statements['p95_ms']:.1f} ms (target < 50)")


def main() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    sizes, profile = command_line(5_000_000)
    for events in sizes:
        with tempfile.TemporaryDirectory() as folder:
            measure(Path(folder), events, profile, postgres_server())


if __name__ == "__main__":
    main()
