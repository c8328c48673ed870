"""The real `opsplatform` console script in a subprocess, as users and scripts run it."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests.support import small_centre, write_book, write_csv

GROUPS = [
    [],
    ["db"],
    ["setup"],
    ["usage"],
    ["kpi"],
    ["billing"],
    ["sla"],
    ["users"],
    ["tokens"],
    ["queries"],
    ["audit"],
]
# Every command of CONTRACT.md section 2.
COMMANDS = [
    ["db", "upgrade"],
    ["demo"],
    ["serve"],
    ["scheduler"],
    ["setup", "template"],
    ["setup", "load"],
    ["setup", "export"],
    ["usage", "template"],
    ["usage", "import"],
    ["usage", "revert"],
    ["kpi", "import"],
    ["billing", "close"],
    ["billing", "issue"],
    ["billing", "show"],
    ["billing", "list"],
    ["billing", "export"],
    ["billing", "adjust"],
    ["billing", "withdraw"],
    ["billing", "estimate"],
    ["sla", "assess"],
    ["sla", "publish"],
    ["users", "create"],
    ["users", "list"],
    ["users", "disable"],
    ["users", "enable"],
    ["users", "reset"],
    ["tokens", "create"],
]


def run_all(installed_cli, calls: list[list[str]]):
    """Run independent commands side by side (each is its own process); results in order."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda args: installed_cli(*args, expect=None), calls))


def assert_refused(result, *words: str) -> None:
    assert result.returncode == 1, result.stderr or result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines, "a refusal says why on stderr"
    assert all(line.startswith("error: ") for line in lines), result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr, (word, result.stderr)


def test_every_group_has_help(installed_cli):
    results = run_all(installed_cli, [[*group, "--help"] for group in GROUPS])
    for group, result in zip(GROUPS, results, strict=True):
        assert result.returncode == 0, (group, result.stderr)
        assert result.stdout.startswith("Usage: opsplatform"), group
        assert "Commands:" in result.stdout, group
    top = results[0].stdout
    for group in GROUPS[1:]:
        assert f"  {group[0]} " in top, group


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_contract_command_has_help(cli, command):
    result = cli(*command, "--help")
    assert result.stdout.startswith(f"Usage: opsplatform {' '.join(command)}")


def test_db_upgrade_creates_the_database_in_a_new_instance_folder(
    installed_cli, tmp_path, monkeypatch
):
    fresh = tmp_path / "brand-new" / "instance"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.setenv("OPSPLATFORM_INSTANCE_PATH", str(fresh))
    monkeypatch.delenv("OPSPLATFORM_DATABASE_URL")
    monkeypatch.chdir(elsewhere)

    before = installed_cli("billing", "list", expect=None)
    assert_refused(before, "db upgrade")

    result = installed_cli("db", "upgrade")
    assert "newest schema" in result.stdout
    database = fresh / "opsplatform.sqlite3"
    assert database.is_file()
    with sqlite3.connect(database) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert {"alembic_version", "clients", "usage_events", "statements"} <= tables
    assert list(elsewhere.iterdir()) == [], "nothing is written to the working folder"

    installed_cli("db", "upgrade")  # again: nothing to do, still fine
    assert json.loads(installed_cli("billing", "list", "--json").stdout) == []


def test_a_whole_month_from_setup_to_statement_workbook(installed_cli, tmp_path):
    book = write_book(tmp_path / "setup.xlsx", small_centre())
    usage = write_csv(
        tmp_path / "may.csv",
        [
            {"client": "WYR", "service": "PAY", "date": "2026-05-01", "quantity": 700},
            {"client": "LAN", "service": "PAY", "date": "2026-05-12", "quantity": 300},
        ],
    )
    installed_cli("setup", "load", book)
    imported = json.loads(installed_cli("usage", "import", usage, "--json").stdout)
    assert imported["inserted"] == 2

    closed = json.loads(installed_cli("billing", "close", "2026-05", "--json").stdout)
    assert sorted(s["number"] for s in closed) == [
        "TSS-202605-LAN",
        "TSS-202605-PRS",
        "TSS-202605-WYR",
    ]
    installed_cli("billing", "issue", "2026-05")

    shown = installed_cli("billing", "show", "TSS-202605-WYR", "--json").stdout
    document = json.loads(shown)  # exactly one JSON document
    assert document["status"] == "issued"
    assert document["total"] == "8933.33"
    assert {x["service"]: x["amount"] for x in document["lines"]} == {
        "PAY": "2600.00",
        "HOST": "3000.00",
        "ICT": "3333.33",
    }
    assert Decimal(document["net"]) + Decimal(document["vat"]) == Decimal(document["total"])

    out = tmp_path / "statement.xlsx"
    installed_cli("billing", "export", "TSS-202605-WYR", "-o", out)
    workbook = load_workbook(out, read_only=True)
    try:
        cells = [
            str(value)
            for sheet in workbook.worksheets
            for row in sheet.iter_rows(values_only=True)
            for value in row
            if value is not None
        ]
    finally:
        workbook.close()
    assert any("TSS-202605-WYR" in cell for cell in cells)


def test_refusals_exit_1_with_error_lines_and_no_traceback(installed_cli, tmp_path):
    installed_cli("setup", "load", write_book(tmp_path / "setup.xlsx", small_centre()))
    bad_usage = write_csv(
        tmp_path / "bad.csv",
        [
            {"client": "ZZZ", "service": "PAY", "date": "2026-05-01"},
            {"client": "WYR", "service": "PAY", "date": "2026-05-01", "quantity": 0},
        ],
    )
    bad_setup = write_book(tmp_path / "bad.xlsx", {"Clients": [["code", "name"], ["x", "X"]]})
    show, usage, setup, issue, setup_json = run_all(
        installed_cli,
        [
            ["billing", "show", "TSS-209901-WYR"],
            ["usage", "import", bad_usage],
            ["setup", "load", bad_setup],
            ["billing", "issue", "2026-06"],
            ["setup", "load", bad_setup, "--json"],
        ],
    )
    assert_refused(show, "TSS-209901-WYR")
    assert_refused(usage, "row 2", "row 3", "ZZZ")
    assert_refused(setup, "Clients", "row 2", "code")
    assert_refused(issue, "2026-06")
    assert_refused(setup_json)
    assert json.loads(setup_json.stdout)["errors"][0]["sheet"] == "Clients"
    assert json.loads(installed_cli("billing", "list", "--json").stdout) == []


@pytest.mark.parametrize(
    "args",
    [
        ["billing", "close"],
        ["billing", "close", "2026-13"],
        ["no-such-command"],
        ["billing", "list", "--no-such-option"],
        ["setup", "load", "no-such-file.xlsx"],
        ["usage", "revert", "not-a-number"],
        ["users", "create", "someone@example.org", "--role", "wizard"],
    ],
    ids=" ".join,
)
def test_wrong_usage_exits_2(cli, args):
    result = cli(*args, expect=2)
    assert "Usage: opsplatform" in result.stderr


def test_wrong_usage_exits_2_from_the_console_script(installed_cli):
    results = run_all(
        installed_cli, [["billing", "close"], ["billing", "show"], ["sla", "assess", "2026-Q1"]]
    )
    for result in results:
        assert result.returncode == 2, result.stderr
        assert "Usage: opsplatform" in result.stderr
        assert "Traceback" not in result.stderr


def test_gunicorn_serves_the_app_with_the_project_settings(instance, tmp_path):
    """`gunicorn -c gunicorn.conf.py wsgi:app`, as docs/DEPLOYMENT.md says, answers on 127.0.0.1."""
    root = Path(__file__).resolve().parents[2]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gunicorn = Path(sys.executable).parent / "gunicorn"
    process = subprocess.Popen(
        [
            str(gunicorn),
            "-c",
            str(root / "gunicorn.conf.py"),
            "--chdir",
            str(root),
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            "1",
            "wsgi:app",
        ],
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as reply:
                    assert json.loads(reply.read()) == {"status": "ok"}
                    assert reply.headers["X-Content-Type-Options"] == "nosniff"
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not answer within 30 s"
                time.sleep(0.3)
    finally:
        process.terminate()
        process.wait(timeout=15)
