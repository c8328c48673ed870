"""Uploads waiting between their check and their import (importers/uploads.py), without
pages: received, checked, claimed, stalled, swept, refused, imported, on a real database."""

from __future__ import annotations

import io
import json
import os
import time

import pytest
from sqlalchemy import func, select

from billing.effects import measured
from billing.issue import ISSUED, IssuedFigures, issued_among
from billing.outturn import outturn_is_settled
from importers.uploads import QUEUE_SECONDS, STALE_SECONDS, STALL_SECONDS, Uploads, safe_name
from opsplatform.models import AuditEvent, ImportBatch, UsageEvent
from tests.support import FY, small_centre, write_book, write_csv

WAIT = 60  # seconds: the small files here are done well within it
FINANCE = 7, "finance@centre.gov.uk"  # the officer's user id and e-mail
USAGE = [
    {"event_id": "MAY-WYR", "client": "WYR", "service": "PAY", "date": "2026-05-10", "quantity": 5},
    {"event_id": "APR-LAN", "client": "LAN", "service": "PAY", "date": "2026-04-20", "quantity": 2},
]


@pytest.fixture
def uploads(instance, database):
    found = Uploads(
        instance / "uploads", database, ISSUED, issued_among, measured, outturn_is_settled
    )
    yield found
    found.close()


@pytest.fixture
def centre(uploads, tmp_path):
    """The small centre's setup, loaded through an upload."""
    upload = receive(uploads, "setup", write_book(tmp_path / "setup.xlsx", small_centre()))
    uploads.check(upload, WAIT)
    assert uploads.commit(upload, FINANCE[1], WAIT)
    assert upload.meta["state"] == "imported"


def receive(uploads, kind, path, name=None, user_id=FINANCE[0]):
    with path.open("rb") as content:
        return uploads.receive(kind, name or path.name, content, user_id)


def stored(uploads, upload) -> dict:
    """The upload's state as another worker would read it: from its folder."""
    return uploads.find(upload.meta["kind"], upload.token, upload.meta["user_id"]).meta


def scalar(database, query):
    with database.transaction() as session:
        return session.scalar(query)


# -- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("May usage.csv", "May_usage.csv"),
        ("../../etc/passwd.csv", "etc_passwd.csv"),
        ("C:\\Users\\me\\usage.csv", "CUsersmeusage.csv"),
        ("Café Résumé.XLSX", "Cafe_Resume.XLSX"),
        ("données.csv", "donnees.csv"),
        ("платежи.csv", "usage.csv"),  # nothing of the name is left
        (".meta.json.csv", "meta.json.csv"),  # never a hidden file, such as the upload's own
        ("..csv", "usage.csv"),
        ("usage", "usage"),
        ("a$b.c$sv", "ab.csv"),  # the suffix is made safe too
        ("x" * 300 + ".csv", "x" * 146 + ".csv"),
    ],
)
def test_a_file_name_is_made_safe(name, safe):
    assert safe_name(name, "usage") == safe


# -- receiving and finding ------------------------------------------------------------------


def test_a_received_file_waits_under_its_token_for_its_owner_only(uploads, instance):
    upload = uploads.receive("usage", "../May usage.csv", io.BytesIO(b"event_id\n"), 7)
    assert upload.folder == instance / "uploads" / upload.token
    assert sorted(p.name for p in upload.folder.iterdir()) == [".meta.json", "May_usage.csv"]
    assert upload.path.read_bytes() == b"event_id\n"
    meta = json.loads((upload.folder / ".meta.json").read_text())
    assert meta["kind"] == "usage" and meta["user_id"] == 7 and meta["state"] == "new"

    assert uploads.find("usage", upload.token, 7).meta == meta
    assert uploads.find("usage", upload.token, 8) is None  # another person's
    assert uploads.find("setup", upload.token, 7) is None  # another kind's
    for token in ("../" + upload.token[3:], "short", upload.token[:-1] + "?"):
        assert uploads.find("usage", token, 7) is None
    upload.discard()
    assert uploads.find("usage", upload.token, 7) is None


def test_uploads_older_than_a_day_are_swept_away_when_the_next_arrives(uploads):
    old = uploads.receive("usage", "old.csv", io.BytesIO(b"x"), 7)
    new = uploads.receive("usage", "new.csv", io.BytesIO(b"x"), 7)
    day_ago = time.time() - STALE_SECONDS - 60
    os.utime(old.folder, (day_ago, day_ago))
    uploads.receive("usage", "next.csv", io.BytesIO(b"x"), 7)
    assert not old.folder.exists()
    assert new.folder.is_dir()


def test_sweeping_before_the_first_upload_finds_nothing_to_do(uploads, instance):
    uploads.sweep()
    assert not (instance / "uploads").exists()


# -- checking and importing -----------------------------------------------------------------


def test_a_usage_file_is_checked_then_imported_once(uploads, database, centre, tmp_path):
    upload = receive(uploads, "usage", write_csv(tmp_path / "usage.csv", USAGE))
    uploads.check(upload, WAIT)
    meta = stored(uploads, upload)
    assert meta["state"] == "checked"
    assert (meta["about"], meta["rows"], meta["inserted"]) == (2, 2, 2)
    assert meta["months"] == [
        {"month": "2026-04", "name": "April 2026", "rows": 1, "issued": False},
        {"month": "2026-05", "name": "May 2026", "rows": 1, "issued": False},
    ]
    assert scalar(database, select(func.count()).select_from(UsageEvent)) == 0  # a dry run

    assert uploads.commit(upload, FINANCE[1], WAIT)
    meta = stored(uploads, upload)
    assert meta["state"] == "imported"
    batch = scalar(database, select(ImportBatch.id))  # not 1 on PostgreSQL: the check took it
    assert meta["message"] == f"Batch {batch} imported: 2 of 2 rows from usage.csv"
    assert not upload.path.exists()
    assert scalar(database, select(func.count()).select_from(UsageEvent)) == 2
    entry = scalar(database, select(AuditEvent).where(AuditEvent.action == "usage import"))
    assert (entry.actor, entry.subject) == (FINANCE[1], "usage.csv")


def test_an_upload_is_claimed_for_one_import_only(uploads, database, centre, tmp_path):
    upload = receive(uploads, "usage", write_csv(tmp_path / "usage.csv", USAGE))
    uploads.check(upload, WAIT)
    other = uploads.find("usage", upload.token, FINANCE[0])  # the same upload, another request
    assert upload.claim()
    assert not other.claim()
    assert not uploads.commit(other, FINANCE[1], WAIT)
    assert stored(uploads, upload)["state"] == "checked"
    assert scalar(database, select(func.count()).select_from(ImportBatch)) == 0
    upload.release()
    assert uploads.commit(other, FINANCE[1], WAIT)
    assert scalar(database, select(func.count()).select_from(ImportBatch)) == 1


def test_a_refusal_is_kept_with_its_problems_and_the_file_dropped(uploads, centre, tmp_path):
    rows = [{**USAGE[0], "client": "XXX"}, USAGE[1], {**USAGE[0], "event_id": "B", "quantity": -1}]
    upload = receive(uploads, "usage", write_csv(tmp_path / "bad.csv", rows))
    uploads.check(upload, WAIT)
    meta = stored(uploads, upload)
    assert meta["state"] == "refused"
    assert (meta["rows"], meta["problem_count"]) == (3, 2)
    assert [(p["row"], p["column"]) for p in meta["problems"]] == [(2, "client"), (4, "quantity")]
    assert "unknown client 'XXX'" in meta["problems"][0]["message"]
    assert upload.errors_path.is_file()
    assert not upload.path.exists()
    assert not upload.waits_in("checked")


class AprilIssued(IssuedFigures):
    """As if April 2026 were issued."""

    def months(self, session, year):
        return ["2026-04"] if year == FY else []


def test_a_workbook_refused_only_for_frozen_tariffs_is_kept_to_check_again_re_rating(
    uploads, database, centre, tmp_path
):
    uploads.issued = AprilIssued()
    tariffs = {
        "Tariffs": [
            ["service", "financial_year", "rule", "bands"],
            ["PAY", FY, "graduated", "500@4.50; *@3.00"],
        ]
    }
    upload = receive(uploads, "setup", write_book(tmp_path / "tariffs.xlsx", tariffs))
    uploads.check(upload, WAIT)
    meta = stored(uploads, upload)
    assert meta["state"] == "frozen" and meta["partly_frozen"]
    assert "are frozen" in meta["problems"][0]["message"]
    assert upload.waits_in("frozen")

    uploads.recheck_rerating(upload, WAIT)
    meta = stored(uploads, upload)
    assert meta["state"] == "checked" and meta["rerate"]
    assert meta["sheets"]["Tariffs"] == {"created": 0, "updated": 1, "unchanged": 0}
    assert not upload.errors_path.exists()
    assert uploads.commit(upload, FINANCE[1], WAIT)
    assert stored(uploads, upload)["message"].endswith("(issued months re-rated)")


# -- jobs whose process died ----------------------------------------------------------------


def test_an_import_silent_too_long_stalled_and_can_be_made_again(uploads, centre, tmp_path):
    upload = receive(uploads, "usage", write_csv(tmp_path / "usage.csv", USAGE))
    uploads.check(upload, WAIT)
    assert upload.claim()
    upload.meta.update(state="importing", started=True, heartbeat=time.time() - 60)
    upload.save()
    assert upload.running and not upload.stalled()
    upload.meta["heartbeat"] = time.time() - STALL_SECONDS - 1
    assert upload.stalled()

    upload.interrupted()
    meta = stored(uploads, upload)
    assert meta["state"] == "checked"
    assert meta["notice"].startswith("The import did not finish, so nothing was imported")
    assert uploads.commit(upload, FINANCE[1], WAIT)  # the claim was let go
    assert stored(uploads, upload)["state"] == "imported"


def test_a_check_never_started_stalls_after_waiting_an_hour_and_is_refused(uploads):
    upload = uploads.receive("usage", "usage.csv", io.BytesIO(b"x"), 7)
    upload.meta.update(state="checking", started=False, heartbeat=time.time() - STALL_SECONDS - 1)
    assert not upload.stalled()  # waiting for its turn behind another job
    upload.meta["heartbeat"] = time.time() - QUEUE_SECONDS - 1
    assert upload.stalled()

    upload.interrupted()
    meta = stored(uploads, upload)
    assert meta["state"] == "refused"
    assert meta["problems"][0]["message"] == (
        "usage.csv: the check did not finish, so nothing was checked. Upload the file again."
    )
    assert not upload.stalled()
