"""Cost ledger import of a year's lines, against a raw executemany of the same rows.

Usage: python -m bench.cost_import [ROWS] [--profile] (default 200,000: 40 cost centres
over 4 services, 10 subjectives, the twelve months of 2025-26, `actual`, amounts some
negative). The raw baseline reads the same CSV with csv.reader and inserts its rows, as
stored (amounts in pence, the importer's source), into `cost_lines` of another migrated
database with the driver's executemany in one transaction, nothing checked. Prints both
timings and their ratio; the target (issue 17) is a ratio of at most 3. Run under
`.ci/with-postgres` to measure on PostgreSQL as well.
"""

from __future__ import annotations

import csv
import random
import tempfile
from decimal import Decimal
from pathlib import Path

from bench.common import (
    BENCH,
    command_line,
    cost_centres,
    fresh_database,
    loaded_database,
    postgres_server,
    profiled,
    timed,
)
from billing.outturn import outturn_is_settled
from importers.costs import COLUMNS, import_costs
from opsplatform.db import Database

CENTRES, SERVICES = 40, 4
SUBJECTIVES = [str(code) for code in range(1000, 1010)]
MONTHS = [f"2025-{m:02d}" for m in range(4, 13)] + [f"2026-{m:02d}" for m in range(1, 4)]


def write_costs_csv(path: Path, n: int, seed: int = 1) -> Path:
    """n actual cost lines spread evenly over the cost centres, subjectives and months."""
    rng = random.Random(seed)
    centres = cost_centres(CENTRES)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(
            [
                centres[i % CENTRES],
                SUBJECTIVES[i // CENTRES % len(SUBJECTIVES)],
                MONTHS[i % len(MONTHS)],
                "actual",
                Decimal(rng.randint(-50_000, 2_000_000)).scaleb(-2),
            ]
            for i in range(n)
        )
    return path


def raw_insert(database: Database, csv_path: Path) -> None:
    """The CSV's rows as stored, executemany'd into the database's cost_lines."""
    postgres = database.engine.dialect.name == "postgresql"
    mark, source = ("%s" if postgres else "?"), csv_path.name
    with open(csv_path, newline="") as handle, database.engine.begin() as connection:
        rows = csv.reader(handle)
        next(rows)
        connection.connection.dbapi_connection.cursor().executemany(
            "INSERT INTO cost_lines (kind, month, cost_centre, subjective, amount, source) "
            f"VALUES ({', '.join([mark] * 6)})",
            (
                (kind, month, centre, subjective, round(float(pounds) * 100), f"{source} row {n}")
                for n, (centre, subjective, month, kind, pounds) in enumerate(rows, 2)
            ),
        )


def measure(
    folder: Path, csv_path: Path, rows: int, server: str | None, profile: bool
) -> dict[str, float]:
    """Seconds of the raw baseline and of the import, on SQLite or the PostgreSQL server."""
    seconds: dict[str, float] = {}
    (folder / "raw").mkdir(exist_ok=True)
    raw = fresh_database(folder / "raw", server)
    with timed("raw executemany", seconds):
        raw_insert(raw, csv_path)
    raw.engine.dispose()
    database = loaded_database(folder, 1, SERVICES, server, centres=CENTRES)
    with timed("cost import", seconds), profiled(profile), database.transaction() as session:
        report = import_costs(session, csv_path, actor=BENCH, is_settled=outturn_is_settled)
    database.engine.dispose()
    assert report.rows == rows and report.replaced == 0
    return seconds


def main(rows: int, profile: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        csv_path = write_costs_csv(folder / "costs.csv", rows)
        print(f"rows: {rows:,}; cost centres: {CENTRES}; months: {len(MONTHS)}")
        for name, server in (("SQLite", None), ("PostgreSQL", postgres_server())):
            if name == "PostgreSQL" and server is None:
                print("PostgreSQL: not measured (run under .ci/with-postgres)")
                continue
            seconds = measure(folder, csv_path, rows, server, profile)
            raw, product = seconds["raw executemany"], seconds["cost import"]
            print(
                f"{name}: raw executemany {raw:.2f} s; cost import {product:.2f} s; "
                f"ratio {product / raw:.2f} (target <= 3)"
            )


if __name__ == "__main__":
    sizes, profile = command_line(200_000)
    for size in sizes:
        main(size, profile)
