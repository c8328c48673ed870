"""Usage import of a large CSV, against a raw sqlite3 executemany of the same rows.

Usage: python -m bench.import_usage [ROWS] (default 1,000,000). The raw baseline reads
the same CSV with csv.reader and inserts its rows, in one transaction, into a table
indexed as the ledger is: UNIQUE event_id, (month or date, service, client) for the
close's GROUP BY, and the batch. Target: ratio <= 3, peak memory < 300 MB.
Run under `.ci/with-postgres` to measure on PostgreSQL as well, against a raw COPY of
the same rows into the same kind of table. Target there: ratio <= 2.
"""

from __future__ import annotations

import csv
import sqlite3
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from bench.common import (
    BENCH,
    loaded_database,
    new_postgres_database,
    peak_rss_mb,
    postgres_server,
    timed,
    write_usage_csv,
)
from importers.usage import import_file

CLIENTS, SERVICES = 50, 30


def raw_baseline(csv_path: Path, db_path: Path) -> None:
    with open(csv_path, newline="") as handle:
        rows = csv.reader(handle)
        next(rows)
        raw_insert(rows, db_path)


def raw_insert(rows: Iterable[list], db_path: Path) -> None:
    """Rows of (event_id, client, service, date, quantity) inserted with a raw sqlite3
    executemany, in one transaction, into a table indexed as the ledger is."""
    connection = sqlite3.connect(db_path)
    connection.execute(
        "CREATE TABLE usage (id INTEGER PRIMARY KEY, batch_id INTEGER, event_id TEXT UNIQUE, "
        "client TEXT, service TEXT, date TEXT, quantity INTEGER)"
    )
    connection.execute("CREATE INDEX usage_date_service_client ON usage (date, service, client)")
    connection.execute("CREATE INDEX usage_batch ON usage (batch_id)")
    connection.executemany(
        "INSERT INTO usage (batch_id, event_id, client, service, date, quantity) "
        "VALUES (1, ?, ?, ?, ?, ?)",
        rows,
    )
    connection.commit()
    connection.close()


def raw_copy(csv_path: Path, server: str) -> None:
    import psycopg

    url = new_postgres_database(server, "bench_raw").replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(url) as connection, open(csv_path, newline="") as handle:
        connection.execute(
            "CREATE TABLE usage (id BIGSERIAL PRIMARY KEY, batch_id INTEGER, "
            "event_id VARCHAR(100) UNIQUE, client TEXT, service TEXT, date DATE, quantity BIGINT)"
        )
        connection.execute(
            "CREATE INDEX usage_date_service_client ON usage (date, service, client)"
        )
        connection.execute("CREATE INDEX usage_batch ON usage (batch_id)")
        rows = csv.reader(handle)
        next(rows)
        with connection.cursor().copy(
            "COPY usage (batch_id, event_id, client, service, date, quantity) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row((1, *row))


def measure(folder: Path, csv_path: Path, server: str | None) -> tuple[float, float]:
    """(raw baseline, product import) seconds, on SQLite or on the PostgreSQL server."""
    seconds: dict[str, float] = {}
    with timed("raw", seconds):
        if server:
            raw_copy(csv_path, server)
        else:
            raw_baseline(csv_path, folder / "raw.sqlite3")
    database = loaded_database(folder, CLIENTS, SERVICES, server)
    with timed("product", seconds), database.transaction() as session:
        report = import_file(session, csv_path, BENCH)
    database.engine.dispose()
    assert report.inserted == report.rows
    return seconds["raw"], seconds["product"]


def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        csv_path = write_usage_csv(folder / "usage.csv", count, CLIENTS, SERVICES)
        before = peak_rss_mb()
        print(f"rows: {count:,}")
        for name, server, baseline, target in (
            ("SQLite", None, "raw executemany", 3),
            ("PostgreSQL", postgres_server(), "raw COPY", 2),
        ):
            if name == "PostgreSQL" and server is None:
                print("PostgreSQL: not measured (run under .ci/with-postgres)")
                continue
            raw, product = measure(folder, csv_path, server)
            print(
                f"{name}: {baseline} {raw:.2f} s; usage import {product:.2f} s; "
                f"ratio {product / raw:.2f} (target <= {target})"
            )
    print(f"peak memory: {peak_rss_mb():.0f} MB (before: {before:.0f} MB; target < 300)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
