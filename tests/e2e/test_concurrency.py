"""Writers that overlap take turns: real concurrent API posts to a real server, and two
real `opsplatform usage import` processes, on SQLite and (under .ci/with-postgres) PostgreSQL.

Overlapping imports used to read the ledger before either had written: the second then
failed on the unique event_id or file hash with a 500 or a traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import func, select

from opsplatform.models import AuditEvent, ImportBatch, UsageEvent
from tests.support import write_csv

POSTS, PER_POST, OVERLAP = 20, 40, 20  # post n sends events n*20 .. n*20+39


def post(base: str, token: str, events: list[dict]) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{base}/api/v1/usage",
        data=json.dumps(events).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def events(n: int) -> list[dict]:
    return [
        {
            "event_id": f"C-{i}",
            "client": "WYR",
            "service": "PAY",
            "date": "2026-06-10",
            "quantity": 1,
        }
        for i in range(n * OVERLAP, n * OVERLAP + PER_POST)
    ]


def test_concurrent_posts_with_overlapping_event_ids_store_each_event_once(server, cli, database):
    base, people = server
    token = cli.json("tokens", "create", people["finance"]["email"])["token"]
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda n: post(base, token, events(n)), range(POSTS)))
    assert [status for status, _ in answers if status not in (200, 201)] == [], answers
    unique = (POSTS - 1) * OVERLAP + PER_POST
    assert sum(body["inserted"] for _, body in answers) == unique
    assert sum(body["skipped"] for _, body in answers) == POSTS * PER_POST - unique
    with database.transaction() as session:
        stored = session.scalar(
            select(func.count()).select_from(UsageEvent).where(UsageEvent.event_id.like("C-%"))
        )
        posts = session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "usage post")
        )
    assert stored == unique
    assert posts == sum(1 for _, body in answers if body["inserted"])  # no empty replays


def test_two_imports_of_one_file_at_once_store_it_once_and_name_the_batch(
    server, database, tmp_path
):
    rows = [
        {"event_id": f"F-{i}", "client": "WYR", "service": "PAY", "date": "2026-06-11"}
        for i in range(20_000)
    ]
    path = write_csv(tmp_path / "june.csv", rows)
    script = Path(sys.executable).parent / "opsplatform"
    running = [
        subprocess.Popen(
            [str(script), "usage", "import", str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [(p.wait(timeout=300), *p.communicate()) for p in running]
    assert sorted(code for code, _, _ in results) == [0, 1], results
    refused = next(err for code, _, err in results if code == 1)
    assert "Traceback" not in refused
    assert refused.startswith("error: ") and "already imported as batch" in refused
    with database.transaction() as session:
        batches = session.scalar(
            select(func.count()).select_from(ImportBatch).where(ImportBatch.filename == "june.csv")
        )
        stored = session.scalar(
            select(func.count()).select_from(UsageEvent).where(UsageEvent.event_id.like("F-%"))
        )
    assert (batches, stored) == (1, 20_000)
