"""The usage API's throughput, against the CSV file import of the same events.

Usage: python -m bench.api_usage [EVENTS] [BATCH] [--profile] (default 100,000 events in
batches of 1,000; 50 clients x 30 services). A finance user's program posts the events
to `POST /api/v1/usage` (CONTRACT.md section 8) as JSON lists of BATCH events, through
Flask's test client into an app on a fresh migrated SQLite database: each request
authenticates the bearer token, checks every event's shape, imports the batch in its
own transaction and records it in the audit log. The JSON bodies are encoded before the
clock starts, so the figure is the server's. Against it: `import_file` of a CSV of the
same events, in one transaction into another fresh database (bench.import_usage's
measure). Printed: events per second of each and the API's share of the file's rate.
There is no target: a batch API carries per-request costs a file does not; the figure is
for watching, and for telling integrators what to expect.
`--profile` runs the posts under cProfile and prints their top costs.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from bench.common import (
    BENCH,
    command_line,
    loaded_database,
    profiled,
    usage_rows,
    write_usage_csv,
)
from importers.usage import import_file
from opsplatform.accounts import create_token, create_user

CLIENTS, SERVICES = 50, 30
EMAIL = "finance@bench.example.gov.uk"


def bodies(count: int, batch: int) -> list[bytes]:
    """The events of `usage_rows` (as the CSV holds them), as JSON lists of `batch`."""
    events = [
        {"event_id": e, "client": c, "service": s, "date": d, "quantity": q}
        for e, c, s, d, q in usage_rows(count, CLIENTS, SERVICES)
    ]
    return [json.dumps(events[i : i + batch]).encode() for i in range(0, count, batch)]


def file_import(folder: Path, count: int) -> float:
    """Seconds to import a CSV of the same events into a fresh database."""
    database = loaded_database(folder, CLIENTS, SERVICES)
    csv_path = write_usage_csv(folder / "usage.csv", count, CLIENTS, SERVICES)
    started = time.perf_counter()
    with database.transaction() as session:
        report = import_file(session, csv_path, BENCH)
    seconds = time.perf_counter() - started
    database.engine.dispose()
    assert report.inserted == count
    return seconds


def api_posts(folder: Path, payloads: list[bytes], count: int, profile: bool) -> float:
    """Seconds to post every payload to the API of an app on a fresh database."""
    from opsplatform.entrypoints.app import create_app

    database = loaded_database(folder, CLIENTS, SERVICES)  # sets OPSPLATFORM_DATABASE_URL
    with database.transaction() as session:
        create_user(session, EMAIL, "finance", actor="bench")
        _, token = create_token(session, EMAIL, actor="bench")
    database.engine.dispose()
    os.environ["OPSPLATFORM_INSTANCE_PATH"] = str(folder / "instance")
    app = create_app()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    inserted = 0
    started = time.perf_counter()
    with profiled(profile):
        for payload in payloads:
            response = client.post("/api/v1/usage", data=payload, headers=headers)
            assert response.status_code == 201, response.get_data(as_text=True)[:500]
            inserted += response.get_json()["inserted"]
    seconds = time.perf_counter() - started
    app.extensions["opsplatform.db"].engine.dispose()
    assert inserted == count
    return seconds


def main(count: int, batch: int = 1000, profile: bool = False) -> None:
    payloads = bodies(count, batch)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        csv_seconds = file_import(folder / "csv", count)
        api_seconds = api_posts(folder / "api", payloads, count, profile)
    api_rate, csv_rate = count / api_seconds, count / csv_seconds
    print(f"events: {count:,} in {len(payloads)} requests of {batch:,}")
    print(f"CSV file import: {csv_seconds:6.2f} s  {csv_rate:9,.0f} events/s")
    print(
        f"usage API:       {api_seconds:6.2f} s  {api_rate:9,.0f} events/s  "
        f"({api_seconds / len(payloads) * 1000:.0f} ms a request)"
    )
    print(f"API / file rate: {api_rate / csv_rate:.2f} (no target)")


if __name__ == "__main__":
    sizes, profile = command_line(100_000)
    main(*sizes, profile=profile)
