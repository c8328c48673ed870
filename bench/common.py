"""Shared set-up for the benchmarks: a centre of N clients x M services, usage files, timing."""

from __future__ import annotations

import cProfile
import csv
import os
import pstats
import random
import resource
import sys
import time
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

from openpyxl import Workbook
from sqlalchemy import create_engine, text

import migrations
from billing.issue import ISSUED
from importers.ledger import LEDGER_COLUMNS
from importers.setup import load_setup
from opsplatform.db import Database
from opsplatform.workbooks import write_sheets

BENCH = "benchmark"  # who the benchmarks' imports are by, in the audit log


def clients(n: int) -> list[str]:
    return [f"C{i:03d}" for i in range(n)]


def services(n: int) -> list[str]:
    return [f"S{i:02d}" for i in range(n)]


def cost_centres(n: int) -> list[str]:
    return [f"CC{i:03d}" for i in range(n)]


def setup_book(
    path: Path,
    n_clients: int,
    n_services: int,
    start: date = date(2026, 4, 1),
    kpis: int = 0,
    centres: int = 0,
) -> Path:
    """Every client subscribed to every service from `start` at a unit rate (in every
    financial year from `start`'s to 2026-27); the first `kpis` services each with a KPI
    of events completed within 5 working days; `centres` cost centres, each all of one
    service's cost (the services in turn)."""
    years = [f"{y}-{(y + 1) % 100:02d}" for y in range(start.year - (start.month < 4), 2027)]
    sheets = {
        "Clients": [["code", "name"]] + [[c, f"Council {c}"] for c in clients(n_clients)],
        "Services": [["code", "name", "unit"]]
        + [[s, f"Service {s}", "item"] for s in services(n_services)],
        "Subscriptions": [["client", "service", "start"]]
        + [[c, s, start] for c in clients(n_clients) for s in services(n_services)],
        "Tariffs": [["service", "financial_year", "rule", "rate"]]
        + [[s, fy, "unit_rate", 1.25] for s in services(n_services) for fy in years],
    }
    if kpis:
        sheets["KPIs"] = [
            ["code", "name", "service", "unit", "direction", "target", "amber", "method", "limit"]
        ] + [
            [f"K-{s}", f"{s} within 5 working days", s, "percent", "higher", 95, 90, "within", 5]
            for s in services(n_services)[:kpis]
        ]
    if centres:
        ss = services(n_services)
        sheets["CostCentres"] = [["cost_centre", "service"]] + [
            [c, ss[i % n_services]] for i, c in enumerate(cost_centres(centres))
        ]
    return write_sheets(path, sheets)


USAGE_HEADER = ["event_id", "client", "service", "date", "quantity"]


def usage_rows(
    n: int,
    n_clients: int,
    n_services: int,
    seed: int = 1,
    start: date = date(2026, 4, 1),
    days: int = 61,
    timed: int = 0,
    first: int = 0,
    paused: bool = False,
):
    """n usage rows spread over `days` days from `start` (by default April-May 2026), each
    with a unique event_id (numbered from `first`). With `timed`, every row also has a
    started_at and completed_at, filled for the first `timed` services' events (started
    at 09:00 on their date, completed 0 to 8 days later at 15:00) and empty for others;
    with `paused` too, a paused_at and resumed_at (12:00 to 13:00 on their first day)."""
    rng = random.Random(seed + first)
    cs, ss = clients(n_clients), services(n_services)
    timed_services = set(ss[:timed])
    for i in range(first, first + n):
        day = start + timedelta(days=rng.randrange(days))
        row = [f"ev-{i:08d}", rng.choice(cs), rng.choice(ss), day.isoformat(), rng.randint(1, 9)]
        if timed:
            if row[2] in timed_services:
                finished = day + timedelta(days=rng.randrange(9))
                row += [f"{day}T09:00:00", f"{finished}T15:00:00"]
                row += [f"{day}T12:00:00", f"{day}T13:00:00"] if paused else []
            else:
                row += ["", "", *(["", ""] if paused else [])]
        yield row


def usage_header(timed: int = 0, paused: bool = False) -> list[str]:
    moments = ["started_at", "completed_at", *(["paused_at", "resumed_at"] if paused else [])]
    return USAGE_HEADER + (moments if timed else [])


def insert_events(database: Database, n: int, n_clients: int, n_services: int, **spread) -> None:
    """`usage_rows` written straight into the database's ledger in their stored form (one
    batch; SQLite's executemany or PostgreSQL's COPY), far faster than importing them, for
    benchmarks that read a large ledger; `spread` as usage_rows takes it (start, days,
    timed, paused)."""
    postgres = database.engine.dialect.name == "postgresql"
    zone = "+00" if postgres else ""  # SQLite keeps UTC as naive text

    def stored(moment: str) -> str | None:
        return f"{moment.replace('T', ' ')}{zone}" if moment else None

    with database.engine.begin() as connection:
        ids = dict(connection.exec_driver_sql("SELECT code, id FROM clients").all())
        sids = dict(connection.exec_driver_sql("SELECT code, id FROM services").all())
        batch = connection.exec_driver_sql(
            "INSERT INTO import_batches (kind, filename, sha256, status, rows, inserted, "
            "skipped, quantity, created_at) VALUES ('usage', 'bench', 'x', 'imported', 0, 0, "
            "0, 0, '2026-06-01 00:00:00') RETURNING id"
        ).scalar_one()
        rows = (
            (
                batch,
                row[0],
                "",
                ids[row[1]],
                sids[row[2]],
                stored(f"{row[3]} 00:00:00"),
                row[3],
                row[3][:7],
                row[4] * 1_000_000,
                None,
                *(stored(moment) for moment in [*row[5:], "", "", "", ""][:4]),
            )
            for row in usage_rows(n, n_clients, n_services, **spread)
        )
        cursor = connection.connection.dbapi_connection.cursor()
        columns = ", ".join(LEDGER_COLUMNS)
        if postgres:
            with cursor.copy(f"COPY usage_events ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.executemany(
                f"INSERT INTO usage_events ({columns}) "
                f"VALUES ({', '.join('?' * len(LEDGER_COLUMNS))})",
                rows,
            )
    with database.engine.begin() as connection:
        connection.exec_driver_sql("ANALYZE")


def write_usage_csv(path: Path, n: int, n_clients: int, n_services: int, **spread) -> Path:
    """`usage_rows` as a CSV; `spread` (start, days, timed, first, paused) as usage_rows
    takes it."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(usage_header(spread.get("timed", 0), spread.get("paused", False)))
        writer.writerows(usage_rows(n, n_clients, n_services, **spread))
    return path


def write_usage_xlsx(path: Path, n: int, n_clients: int, n_services: int, **spread) -> Path:
    """The same rows as `write_usage_csv`, as a finance officer's workbook would hold them:
    dates as real date cells and quantities as numbers (openpyxl's write-only mode)."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Usage")
    sheet.append(USAGE_HEADER)
    for event_id, client, service, day, quantity in usage_rows(n, n_clients, n_services, **spread):
        sheet.append([event_id, client, service, date.fromisoformat(day), quantity])
    book.save(path)
    return path


def postgres_server() -> str | None:
    """The PostgreSQL server to measure on as well (`.ci/with-postgres` sets it), if any."""
    return os.environ.get("OPSPLATFORM_TEST_POSTGRES", "").rstrip("/") or None


def new_postgres_database(server: str, name: str) -> str:
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{server}/{name}"


def fresh_database(folder: Path, server: str | None = None) -> Database:
    """A migrated database: an SQLite file in `folder`, or one on the PostgreSQL `server`."""
    if server:
        url = new_postgres_database(server, "bench_product")
        migrations.upgrade(url)
        os.environ["OPSPLATFORM_DATABASE_URL"] = url
        return Database(url)
    path = folder / "bench.sqlite3"
    if path.exists():
        path.unlink()
    url = f"sqlite:///{path}"
    migrations.upgrade(url)
    os.environ["OPSPLATFORM_DATABASE_URL"] = url
    return Database(url)


def loaded_database(
    folder: Path, n_clients: int, n_services: int, server: str | None = None, **centre
) -> Database:
    """`fresh_database` in `folder`, with `setup_book`'s centre loaded into it (`centre`:
    setup_book's start, kpis and centres)."""
    folder.mkdir(parents=True, exist_ok=True)
    database = fresh_database(folder, server)
    with database.transaction() as session:
        book = setup_book(folder / "setup.xlsx", n_clients, n_services, **centre)
        load_setup(session, book, actor="bench", issued=ISSUED)
    return database


@contextmanager
def timed(label: str, results: dict):
    started = time.perf_counter()
    yield
    results[label] = time.perf_counter() - started


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def profiled(enabled: bool, top: int = 25):
    """Run the block under cProfile when `enabled`, then print its top costs
    (by own time, then by cumulative time)."""
    if not enabled:
        yield
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        stats = pstats.Stats(profiler)
        stats.sort_stats("tottime").print_stats(top)
        stats.sort_stats("cumulative").print_stats(top)


def command_line(default: int) -> tuple[list[int], bool]:
    """A benchmark's sizes from its arguments (else `default`), and whether `--profile`."""
    sizes = [int(a) for a in sys.argv[1:] if a != "--profile"]
    return sizes or [default], "--profile" in sys.argv
