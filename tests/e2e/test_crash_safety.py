"""Crash safety: a real `opsplatform` process killed with SIGKILL mid-way leaves all or none.

Each test runs the installed console script in its own process, waits until that process
is demonstrably inside its write transaction (it holds SQLite's write lock, or its
PostgreSQL backend has a transaction id, and it has since spent CPU time there, read from
/proc/PID/stat), kills it with SIGKILL and checks that the database holds none of the
work or all of it; then the same command, run again, completes the work exactly once:
  - a usage import of a large CSV stores no events and no batch, then all of them once;
  - a month close leaves no statements or the complete set, never part of one;
  - a scheduler run leaves its claim 'running' and no partial statements, and once the
    claim is stale (an hour old) the next `scheduler --once` finishes it;
  - two closes of the same month started together make one set of drafts, and each
    either succeeds or is refused with a clear message, never a traceback.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import selectinload

from billing.models import Statement, StatementLine
from opsplatform.calendars import WorkingCalendar
from opsplatform.db import Database, utcnow
from opsplatform.models import JobRun
from opsplatform.periods import Month
from opsplatform.schedule import MONTHLY_CLOSE, due_runs
from tests.support import write_book, write_csv

pytestmark = pytest.mark.slow  # 30-45 s on each database, most of it in real processes

SCRIPT = Path(sys.executable).parent / "opsplatform"
CLIENTS = [f"C{n:04d}" for n in range(1, 701)]  # a close then writes for 1.5 s of CPU
IMPORT_ROWS = 120_000  # about 2 s of CPU inside the import transaction
BUDGET = 240.0  # seconds for the whole module: every wait gives up once it is spent
_deadline = time.monotonic() + BUDGET


def left() -> float:
    """Seconds left of the module's budget (a wait given this fails rather than hangs)."""
    remaining = _deadline - time.monotonic()
    assert remaining > 0, f"the crash-safety tests took more than {BUDGET:.0f} s"
    return remaining


@pytest.fixture(scope="module", autouse=True)
def budget():
    """Starts the module's clock when its first test starts."""
    global _deadline
    _deadline = time.monotonic() + BUDGET


def due_month(today: date) -> Month:
    """The latest month whose close the scheduler runs today (3rd working day rule)."""
    closes = [
        Month.parse(period)
        for job, period in due_runs(today, Month.of(today) + -2, 3, WorkingCalendar())
        if job == MONTHLY_CLOSE
    ]
    return closes[-1]


def payroll(quantity: int) -> Decimal:
    """The graduated PAY tariff below: the first 500 at 4.00, the rest at 3.00."""
    return Decimal(min(quantity, 500) * 4 + max(quantity - 500, 0) * 3).quantize(Decimal("0.01"))


def pay_quantity(index: int) -> int:
    return 300 + index  # either side of the 500 band


def centre_book(month: Month) -> dict[str, list[list]]:
    """Many clients, each subscribed from `month` to PAY (graduated, 20% VAT), HOST
    (fixed fee) and ICT (apportioned equally), with tariffs for that financial year."""
    year = str(month.financial_year)
    return {
        "Settings": [["key", "value"], ["statement_prefix", "TSS"]],
        "Clients": [["code", "name"]] + [[code, f"Council {code}"] for code in CLIENTS],
        "Services": [
            ["code", "name", "unit", "vat_rate"],
            ["PAY", "Payroll", "payslip", 20],
            ["HOST", "Systems hosting", "month", 0],
            ["ICT", "ICT service desk", "month", 0],
        ],
        "Subscriptions": [["client", "service", "start"]]
        + [[code, s, month.first_day] for code in CLIENTS for s in ("PAY", "HOST", "ICT")],
        "Tariffs": [
            ["service", "financial_year", "rule", "bands", "annual_amount", "driver"],
            ["PAY", year, "graduated", "500@4.00; *@3.00", None, None],
            ["HOST", year, "fixed_fee", None, 36000, None],
            ["ICT", year, "apportion", None, 120000, "equal"],
        ],
    }


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Site:
    """One test database and instance folder, and the real command line against them."""

    def __init__(self, url: str, folder: Path) -> None:
        self.url = url
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.env = dict(
            os.environ, OPSPLATFORM_DATABASE_URL=url, OPSPLATFORM_INSTANCE_PATH=str(folder)
        )
        self.database = Database(url)  # the test's own connections, for checks and probes

    def close(self) -> None:
        self.database.engine.dispose()

    def run(self, *args, expect: int | None = 0) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [str(SCRIPT), *map(str, args)],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=left(),
        )
        if expect is not None:
            assert result.returncode == expect, (args, result.stderr or result.stdout)
        return result

    @contextmanager
    def started(self, *args) -> Iterator[subprocess.Popen]:
        """The command running in its own process; killed on the way out if still running."""
        process = subprocess.Popen(
            [str(SCRIPT), *map(str, args)],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=30)  # ended or killed: this only reaps it

    def session(self):
        return self.database.transaction()

    def scalar(self, sql: str, **params):
        with self.session() as session:
            return session.scalar(text(sql), params)

    def writing(self) -> bool:
        """Whether another process is inside a write transaction on the database right now."""
        if self.url.startswith("sqlite"):
            probe = sqlite3.connect(self.url.removeprefix("sqlite:///"), timeout=0)
            probe.isolation_level = None
            try:
                probe.execute("BEGIN IMMEDIATE")  # the write lock: free unless someone writes
            except sqlite3.OperationalError as error:
                assert "locked" in str(error), error
                return True
            else:
                probe.execute("ROLLBACK")
                return False
            finally:
                probe.close()
        return bool(
            self.scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL"
            )
        )

    def statements(self, month: Month) -> list[Statement]:
        with self.session() as session:
            return list(
                session.scalars(
                    select(Statement)
                    .where(Statement.month == str(month))
                    .options(
                        selectinload(Statement.client),
                        selectinload(Statement.lines).selectinload(StatementLine.service),
                    )
                    .order_by(Statement.number)
                )
            )


def kill_inside_transaction(
    process: subprocess.Popen, inside: Callable[[], bool], cpu: float
) -> None:
    """SIGKILL `process` once `inside()` holds and it has spent `cpu` seconds of CPU since,
    still inside: mid-way through its transaction, not before it began or after it ended."""
    entered = None
    while True:
        assert process.poll() is None, (
            f"the process ended (exit {process.returncode}) before it could be interrupted: "
            f"give it more work\n{process.stderr.read()}"
        )
        assert left(), "the process never got inside its transaction"
        now_inside = inside()
        if entered is None:
            if now_inside:
                entered = cpu_seconds(process.pid)
        elif not now_inside:
            pytest.fail(f"the transaction ended within {cpu} s of CPU: give it more work")
        elif cpu_seconds(process.pid) - entered >= cpu:
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=left())
    assert process.returncode == -signal.SIGKILL, "killed mid-way, not finished"


def assert_complete(statements: list[Statement], month: Month) -> None:
    """One draft per client, each with its three charge lines, right and adding up."""
    assert [s.number for s in statements] == [f"TSS-{month.compact}-{c}" for c in CLIENTS]
    share, extra = divmod(1_000_000, len(CLIENTS))  # ICT's month: 10,000.00 in pence
    ict = Decimal(0)
    for index, statement in enumerate(statements):
        lines = {line.service.code: line for line in statement.lines}
        assert statement.status == "draft", statement.number
        assert sorted(lines) == ["HOST", "ICT", "PAY"], statement.number
        assert len(statement.lines) == 3, statement.number
        assert {line.kind for line in statement.lines} == {"charge"}, statement.number
        pay = payroll(pay_quantity(index))
        assert lines["PAY"].amount == pay, statement.number
        assert lines["PAY"].vat == (pay / 5).quantize(Decimal("0.01"), ROUND_HALF_UP)
        assert lines["HOST"].amount == Decimal("3000.00"), statement.number
        pence = share + (index < extra)  # the odd pennies go to the codes that sort first
        assert lines["ICT"].amount == Decimal(pence) / 100, statement.number
        ict += lines["ICT"].amount
        assert statement.net == sum(line.amount for line in statement.lines), statement.number
        assert statement.vat == sum(line.vat for line in statement.lines), statement.number
        assert statement.total == statement.net + statement.vat, statement.number
    assert ict == Decimal("10000.00"), "the month's ICT pool is shared out exactly"


def assert_none_or_complete(site: Site, month: Month) -> bool:
    """True if the complete set is there, False if nothing is; fails on anything between."""
    statements = site.statements(month)
    lines = site.scalar("SELECT count(*) FROM statement_lines")
    if not statements:
        assert lines == 0, "lines without their statements"
        return False
    assert_complete(statements, month)
    assert lines == 3 * len(CLIENTS), "lines besides the complete set"
    return True


@pytest.fixture
def make_site(databases, tmp_path):
    """A Site on a fresh copy of a template database; its connections closed afterwards."""
    made = []

    def make(template: str) -> Site:
        made.append(Site(databases.new(template=template), tmp_path / "instance"))
        return made[-1]

    yield make
    for site in made:
        site.close()


@pytest.fixture(scope="module")
def month() -> Month:
    return due_month(date.today())


@pytest.fixture(scope="module")
def centre(databases, migrated_template, tmp_path_factory, month) -> str:
    """A database with the centre's setup loaded and no usage yet (a template)."""
    folder = tmp_path_factory.mktemp("centre")
    site = Site(databases.new(template=migrated_template), folder / "instance")
    site.run("setup", "load", write_book(folder / "setup.xlsx", centre_book(month)))
    site.close()
    return site.url


@pytest.fixture(scope="module")
def centre_with_usage(databases, centre, tmp_path_factory, month) -> str:
    """The centre with one PAY usage row per client in `month` (a template)."""
    folder = tmp_path_factory.mktemp("usage")
    site = Site(databases.new(template=centre), folder / "instance")
    rows = [
        {"client": code, "service": "PAY", "date": month.first_day, "quantity": pay_quantity(i)}
        for i, code in enumerate(CLIENTS)
    ]
    site.run("usage", "import", write_csv(folder / "usage.csv", rows))
    site.close()
    return site.url


def test_a_killed_import_stores_nothing_and_the_same_file_then_imports_once(
    make_site, centre, tmp_path, month
):
    site = make_site(centre)
    days = (month.last_day - month.first_day).days + 1
    rows = [
        {
            "event_id": f"ev-{n:06d}",
            "client": CLIENTS[n % len(CLIENTS)],
            "service": "PAY",
            "date": month.first_day + timedelta(days=n % days),
            "quantity": 1 + n % 7,
        }
        for n in range(IMPORT_ROWS)
    ]
    usage = write_csv(tmp_path / "usage.csv", rows)

    with site.started("usage", "import", usage) as process:
        kill_inside_transaction(process, site.writing, cpu=0.8)

    assert site.scalar("SELECT count(*) FROM usage_events") == 0
    assert site.scalar("SELECT count(*) FROM import_batches") == 0
    assert site.scalar("SELECT count(*) FROM audit_events WHERE action = 'usage import'") == 0

    report = json.loads(site.run("usage", "import", usage, "--json").stdout)
    assert (report["rows"], report["inserted"], report["skipped"]) == (IMPORT_ROWS, IMPORT_ROWS, 0)
    with site.session() as session:
        stored = session.execute(text("SELECT event_id FROM usage_events")).scalars().all()
    assert len(stored) == IMPORT_ROWS
    assert sorted(stored) == [row["event_id"] for row in rows], "every row exactly once"
    assert site.scalar("SELECT count(*) FROM import_batches") == 1
    total = sum(row["quantity"] for row in rows)
    assert site.scalar("SELECT sum(quantity) FROM usage_events") == total * 10**6  # millionths


def test_a_killed_close_leaves_no_statements_or_all_of_them(make_site, centre_with_usage, month):
    site = make_site(centre_with_usage)

    with site.started("billing", "close", month) as process:
        kill_inside_transaction(process, site.writing, cpu=0.4)

    closed = assert_none_or_complete(site, month)
    audited = site.scalar("SELECT count(*) FROM audit_events WHERE action = 'billing close'")
    assert audited == int(closed), "the audit entry stands or falls with the statements"

    again = json.loads(site.run("billing", "close", month, "--json").stdout)
    assert len(again) == len(CLIENTS)
    assert assert_none_or_complete(site, month), "one complete set after closing again"


def test_a_killed_scheduler_run_is_finished_by_a_later_one_once_its_claim_is_stale(
    make_site, centre_with_usage, month
):
    site = make_site(centre_with_usage)

    def claim():
        return site.scalar(
            "SELECT status FROM job_runs WHERE job = :job AND period = :period",
            job=MONTHLY_CLOSE,
            period=str(month),
        )

    def closing() -> bool:  # the run is claimed (committed), and a transaction is open
        return claim() == "running" and site.writing()

    with site.started("scheduler", "--once") as process:
        kill_inside_transaction(process, closing, cpu=0.4)

    assert claim() == "running", "the claim was made, and the run never finished"
    assert_none_or_complete(site, month)
    retry = json.loads(site.run("scheduler", "--once", "--json").stdout)
    assert [r for r in retry if r["job"] == MONTHLY_CLOSE] == [], "a fresh claim is left alone"
    assert claim() == "running"

    with site.session() as session:  # the process that claimed the run died two hours ago
        session.execute(
            update(JobRun)
            .where(JobRun.job == MONTHLY_CLOSE, JobRun.period == str(month))
            .values(started_at=utcnow() - timedelta(hours=2))
        )
    runs = json.loads(site.run("scheduler", "--once", "--json").stdout)
    close = [r for r in runs if r["job"] == MONTHLY_CLOSE]
    assert [(r["period"], r["status"], r["attempts"]) for r in close] == [(str(month), "done", 2)]
    assert claim() == "done"
    assert assert_none_or_complete(site, month), "the stale run was finished: one complete set"


def test_two_closes_of_one_month_at_once_make_one_set_and_no_traceback(
    make_site, centre_with_usage, month
):
    site = make_site(centre_with_usage)

    with (
        site.started("billing", "close", month) as first,
        site.started("billing", "close", month) as second,
    ):
        while not site.writing():  # one close is writing: is the other still running?
            assert first.poll() is None and second.poll() is None, "the closes did not overlap"
            assert left(), "neither close began writing"
            time.sleep(0.01)
        assert first.poll() is None and second.poll() is None, "the closes did not overlap"
        outputs = [p.communicate(timeout=left()) for p in (first, second)]

    codes = [first.returncode, second.returncode]
    for code, (stdout, stderr) in zip(codes, outputs, strict=True):
        assert "Traceback" not in stderr, stderr
        assert code in (0, 1), (code, stderr)
        if code == 1:
            lines = [line for line in stderr.splitlines() if line.strip()]
            assert lines and all(line.startswith("error: ") for line in lines), stderr
        else:
            assert f"{len(CLIENTS)} draft statement(s) for {month}" in stdout
    assert 0 in codes, "at least one close succeeds"
    assert assert_none_or_complete(site, month), "exactly one set of drafts"
    assert site.scalar("SELECT count(*) FROM statements") == len(CLIENTS)
