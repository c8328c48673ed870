"""Usage import of a large CSV, against a raw sqlite3 executemany of the same rows.

Usage: python -m bench.import_usage [ROWS] (default 1,000,000). The raw baseline reads
the same CSV with csv.reader and inserts into an equivalent table with a UNIQUE
event_id index, in one transaction. Target: ratio <= 3, peak memory < 300 MB.
"""

from __future__ import annotations

import csv
import sqlite3
import sys
import tempfile
from pathlib import Path

from bench.common import fresh_database, peak_rss_mb, setup_book, timed, write_usage_csv
from importers.setup import load_setup
from importers.usage import import_file

CLIENTS, SERVICES = 50, 30


def raw_baseline(csv_path: Path, db_path: Path) -> None:
    connection = sqlite3.connect(db_path)
    connection.execute(
        "CREATE TABLE usage (id INTEGER PRIMARY KEY, event_id TEXT UNIQUE, client TEXT, "
        "service TEXT, date TEXT, quantity INTEGER)"
    )
    with open(csv_path, newline="") as handle:
        rows = csv.reader(handle)
        next(rows)
        connection.executemany(
            "INSERT INTO usage (event_id, client, service, date, quantity) VALUES (?, ?, ?, ?, ?)",
            rows,
        )
    connection.commit()
    connection.close()


def main(count: int) -> None:
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        csv_path = write_usage_csv(folder / "usage.csv", count, CLIENTS, SERVICES)
        with timed("raw executemany", results):
            raw_baseline(csv_path, folder / "raw.sqlite3")
        database = fresh_database(folder)
        with database.transaction() as session:
            load_setup(session, setup_book(folder / "setup.xlsx", CLIENTS, SERVICES))
        before = peak_rss_mb()
        with timed("usage import", results), database.transaction() as session:
            report = import_file(session, csv_path)
    print(f"rows: {count:,}; inserted: {report.inserted:,}")
    for label, seconds in results.items():
        print(f"{label:>16}: {seconds:7.2f} s")
    print(
        f"{'ratio':>16}: {results['usage import'] / results['raw executemany']:7.2f} (target <= 3)"
    )
    print(
        f"{'peak memory':>16}: {peak_rss_mb():7.0f} MB (before the import: {before:.0f} MB; target < 300)"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
