"""A large centre on PostgreSQL: the ledger built to N events by the product's own import,
then the month close, the dashboard and the database's size measured at that size.

Usage: .ci/with-postgres env PYTHONPATH=. .venv/bin/python -m bench.scale_postgres [EVENTS]
(default 10,000,000; needs the PostgreSQL server that .ci/with-postgres starts).

The centre is bench.dashboard's (50 clients x 30 services, April 2025 to October 2026,
3 timed services with a KPI each). Events arrive as CSV files of 1,000,000 rows, each
imported with `import_file` in one transaction, so the import's rate is seen as the
ledger grows. Then: the close of October 2026 against a raw GROUP BY of the same month,
the manager dashboard's first request (figures computed) and a kept one (in-process,
through the app), and the sizes of the ledger's table and indexes. Results go in
docs/SCALING.md.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from sqlalchemy import text

from bench.common import BENCH, loaded_database, postgres_server, timed, write_usage_csv
from bench.dashboard import CLIENTS, DAYS, SERVICES, START, TIMED, manager_cookie
from billing.close import close_month
from importers.usage import import_file
from opsplatform.entrypoints.app import create_app
from opsplatform.periods import Month

FILE_ROWS = 1_000_000
CLOSED = Month(2026, 10)


def main(events: int) -> None:
    server = postgres_server()
    if server is None:
        raise SystemExit("run under .ci/with-postgres: this benchmark needs PostgreSQL")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        os.environ["OPSPLATFORM_INSTANCE_PATH"] = str(folder)
        database = loaded_database(folder, CLIENTS, SERVICES, server, start=START, kpis=TIMED)
        print(f"events: {events:,} in files of {FILE_ROWS:,} rows (PostgreSQL)")
        spread = {"start": START, "days": DAYS, "timed": TIMED}
        seconds: dict[str, float] = {}
        for first in range(0, events, FILE_ROWS):
            rows = min(FILE_ROWS, events - first)
            path = write_usage_csv(
                folder / "usage.csv", rows, CLIENTS, SERVICES, first=first, **spread
            )
            with timed("import", seconds), database.transaction() as session:
                report = import_file(session, path, BENCH)
            assert report.inserted == rows
            print(
                f"  import of events {first + 1:,}-{first + rows:,}: {seconds['import']:6.1f} s "
                f"({rows / seconds['import']:,.0f} events/s)"
            )
            path.unlink()
        with database.engine.connect() as connection:
            connection.execute(text("ANALYZE"))
            with timed("raw", seconds):
                connection.execute(
                    text(
                        "SELECT client_id, service_id, month, SUM(quantity) FROM usage_events "
                        "WHERE month = :month GROUP BY client_id, service_id, month"
                    ),
                    {"month": str(CLOSED)},
                ).all()
            sizes = connection.execute(
                text(
                    "SELECT pg_table_size('usage_events'), pg_indexes_size('usage_events'), "
                    "pg_database_size(current_database())"
                )
            ).one()
        with timed("close", seconds), database.transaction() as session:
            statements = close_month(session, CLOSED, "bench")
        close, raw = seconds["close"], seconds["raw"]
        print(
            f"close of {CLOSED}: {close:.2f} s for {len(statements)} statements; raw GROUP BY of "
            f"the month {raw:.2f} s; ratio {close / raw:.2f}"
        )
        cookie = manager_cookie(folder)
        app = create_app()
        client = app.test_client()
        client.set_cookie("session", cookie.removeprefix("session="))
        for label in ("first (figures computed)", "kept"):
            with timed(label, seconds):
                assert client.get("/dashboard").status_code == 200
            print(f"dashboard, {label}: {seconds[label] * 1000:,.0f} ms")
        table, indexes, whole = (size / 1e9 for size in sizes)
        print(
            f"usage_events: table {table:.2f} GB, indexes {indexes:.2f} GB; database {whole:.2f} GB"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000)
