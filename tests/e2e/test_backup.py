"""Backup and restore on PostgreSQL, with the commands docs/DEPLOYMENT.md gives.

A centre with an issued month, a draft month and usage is dumped with
`pg_dump --format=custom`, restored with `pg_restore --clean --if-exists` into a new,
empty database on the same server, and the copy is shown to hold the same statements,
lines, usage and audit trail: `opsplatform billing show NUMBER --json` gives the same
document from either database, the copy is at the newest schema, and it keeps working
(new usage and a new close get fresh ids, so the sequences came across too).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.support import small_centre, write_book, write_csv

SERVER = os.environ.get("OPSPLATFORM_TEST_POSTGRES", "").rstrip("/")
SCRIPT = Path(sys.executable).parent / "opsplatform"

pytestmark = pytest.mark.skipif(
    not SERVER,
    reason="pg_dump backups are PostgreSQL only: set OPSPLATFORM_TEST_POSTGRES "
    "(e.g. run under .ci/with-postgres) to test them",
)


def pg_tools() -> tuple[str, str] | None:
    """pg_dump and pg_restore: the newest server version's, else whatever PATH has."""
    folders = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda folder: (
            int(Path(folder).parent.name) if Path(folder).parent.name.isdigit() else 0
        ),
        reverse=True,
    )
    for folder in folders:
        dump, restore = Path(folder, "pg_dump"), Path(folder, "pg_restore")
        if dump.is_file() and restore.is_file():
            return str(dump), str(restore)
    dump, restore = shutil.which("pg_dump"), shutil.which("pg_restore")
    return (dump, restore) if dump and restore else None


def libpq(url: str) -> str:
    """The SQLAlchemy URL (postgresql+psycopg://...) as the pg tools take it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def run(*args, env_url: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if env_url is not None:
        env["OPSPLATFORM_DATABASE_URL"] = env_url
    result = subprocess.run([*map(str, args)], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, (args, result.stderr or result.stdout)
    return result


def snapshot(url: str) -> dict[str, list]:
    """What the backup must carry, read straight from the tables."""
    engine = create_engine(url)
    queries = {
        "statements": "SELECT number, status, month, net, vat, total, issued_at, due_date "
        "FROM statements ORDER BY number",
        "lines": "SELECT s.number, l.position, l.kind, l.description, l.quantity, l.amount, l.vat "
        "FROM statement_lines l JOIN statements s ON s.id = l.statement_id "
        "ORDER BY s.number, l.position",
        "usage": "SELECT count(*), sum(quantity) FROM usage_events",
        "batches": "SELECT id, filename, sha256, rows, inserted FROM import_batches ORDER BY id",
        "audit": "SELECT action, subject, detail FROM audit_events ORDER BY id",
        "schema": "SELECT version_num FROM alembic_version",
    }
    try:
        with engine.connect() as connection:
            return {
                name: [tuple(row) for row in connection.execute(text(sql))]
                for name, sql in queries.items()
            }
    finally:
        engine.dispose()


def tables(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.scalar(
                text("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
            )
    finally:
        engine.dispose()


@pytest.fixture
def tools():
    found = pg_tools()
    if found is None:
        pytest.skip(
            "pg_dump and pg_restore were not found on PATH or in /usr/lib/postgresql/*/bin "
            "(apt-get install postgresql-client)"
        )
    return found


@pytest.fixture
def empty_database(instance):
    """A new, empty database on the test server (no schema), dropped afterwards."""
    name = make_url(os.environ["OPSPLATFORM_DATABASE_URL"]).database + "_restored"
    admin = create_engine(f"{SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield f"{SERVER}/{name}"
    with admin.connect() as connection:
        connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": name},
        )
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


def test_a_pg_dump_restores_into_an_empty_database_with_the_same_statements(
    tools, cli, instance, empty_database, tmp_path, monkeypatch
):
    pg_dump, pg_restore = tools
    original = os.environ["OPSPLATFORM_DATABASE_URL"]
    cli("setup", "load", write_book(tmp_path / "setup.xlsx", small_centre()))
    may = [
        {"event_id": "m1", "client": "WYR", "service": "PAY", "date": "2026-05-04", "quantity": 700},
        {"event_id": "m2", "client": "LAN", "service": "PAY", "date": "2026-05-12", "quantity": 300},
    ]  # fmt: skip
    june = [{"event_id": "j1", "client": "WYR", "service": "PAY", "date": "2026-06-02"}]
    cli("usage", "import", write_csv(tmp_path / "may.csv", may))
    cli("usage", "import", write_csv(tmp_path / "june.csv", june))
    cli("billing", "close", "2026-05")
    assert len(cli.json("billing", "issue", "2026-05")) == 3
    cli("billing", "close", "2026-06")  # drafts as well as issued statements
    listed = cli.json("billing", "list")
    assert [(s["month"], s["status"]) for s in listed] == [("2026-05", "issued")] * 3 + [
        ("2026-06", "draft")
    ] * 3

    dump = tmp_path / "opsplatform-2026-11-29.dump"
    run(pg_dump, "--format=custom", f"--file={dump}", libpq(original))
    assert dump.stat().st_size > 0
    assert tables(empty_database) == 0, "restored into an empty database"
    run(pg_restore, "--clean", "--if-exists", f"--dbname={libpq(empty_database)}", dump)

    before, after = snapshot(original), snapshot(empty_database)
    assert [row[0] for row in after["statements"]] == [s["number"] for s in listed]
    assert len(after["lines"]) >= 6 * 2 and after["usage"][0][0] == 3
    for part in before:
        assert after[part] == before[part], part

    # The command line gives the same documents from the copy, read by real processes.
    numbers = ["TSS-202605-WYR", "TSS-202606-WYR"]  # an issued statement and a draft
    calls = [(number, url) for number in numbers for url in (original, empty_database)]
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        documents = pool.map(
            lambda call: json.loads(
                run(SCRIPT, "billing", "show", call[0], "--json", env_url=call[1]).stdout
            ),
            calls,
        )
        shown = dict(zip(calls, documents, strict=True))
    for number in numbers:
        assert shown[number, empty_database] == shown[number, original], number
        assert shown[number, empty_database]["number"] == number
    issued = shown["TSS-202605-WYR", empty_database]
    assert (issued["status"], issued["total"], len(issued["lines"])) == ("issued", "8933.33", 3)

    # The copy is a working database: at the newest schema, and its ids carry on.
    monkeypatch.setenv("OPSPLATFORM_DATABASE_URL", empty_database)
    assert "newest schema" in cli("db", "upgrade").stdout
    july = [{"event_id": "k1", "client": "LAN", "service": "PAY", "date": "2026-07-01"}]
    assert cli.json("usage", "import", write_csv(tmp_path / "july.csv", july))["batch"] == 3
    assert len(cli.json("billing", "close", "2026-07")) == 3
    assert len(cli.json("billing", "list")) == 9
    assert snapshot(original) == before, "work on the copy leaves the original as it was"
