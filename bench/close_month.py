"""Month close over a large ledger, against a raw GROUP BY of the same rows.

Usage: python bench/close_month.py [EVENTS] (default 1,000,000; 50 clients x 30 services).
Prints both timings and their ratio; the target is a ratio of at most 3.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
from pathlib import Path

from bench.common import insert_events, loaded_database, timed
from billing.close import close_month
from opsplatform.periods import Month

CLIENTS, SERVICES = 50, 30


def main(events: int) -> None:
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        database = loaded_database(folder, CLIENTS, SERVICES)
        path = folder / "bench.sqlite3"
        insert_events(database, events, CLIENTS, SERVICES)
        raw = sqlite3.connect(path)
        with timed("raw GROUP BY", results):
            raw.execute(
                "SELECT client_id, service_id, month, SUM(quantity) FROM usage_events "
                "WHERE month >= '2026-04' AND month <= '2026-05' GROUP BY client_id, service_id, month"
            ).fetchall()
        raw.close()
        with timed("close 2026-05", results), database.transaction() as session:
            statements = close_month(session, Month.parse("2026-05"), "bench")
    print(
        f"events: {events:,}; clients x services: {CLIENTS} x {SERVICES}; statements: {len(statements)}"
    )
    for label, seconds in results.items():
        print(f"{label:>16}: {seconds:7.2f} s")
    print(f"{'ratio':>16}: {results['close 2026-05'] / results['raw GROUP BY']:7.2f} (target <= 3)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
