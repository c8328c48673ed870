"""The scheduler's history page: every run with its outcome, and the e-mail outbox's state,
for centre staff only (opsplatform/entrypoints/web/dashboard.py)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from opsplatform.db import utcnow
from opsplatform.entrypoints import jobs
from opsplatform.models import JobRun, Notification
from tests.integration.test_finance_pages import sign_in, text_of
from tests.pages import Page


@pytest.fixture
def ran(app):
    """June 2026's runs, a failed one, and an outbox with one message refused."""
    database = app.extensions["opsplatform.db"]
    jobs.tick(database, Path(app.instance_path), date(2026, 6, 3))
    with database.transaction() as session:
        session.add(
            JobRun(
                job="quarterly_assess",
                period="2026-27-Q1",
                status="failed",
                attempts=2,
                outcome="OSError: disk full",
            )
        )
        for error in (None, "SMTPRecipientsRefused: 550"):
            session.add(
                Notification(kind="x", recipient="a@b.gov.uk", subject="s", body="b", error=error)
            )
        session.add(
            Notification(kind="x", recipient="c@b.gov.uk", subject="s", body="b", sent_at=utcnow())
        )
    return database


@pytest.mark.parametrize(("role", "status"), [("manager", 200), ("auditor", 200), ("wyr", 404)])
def test_the_page_is_for_staff(app, people, ran, role, status):
    assert sign_in(app, people[role]).get("/scheduler").status_code == status


def test_runs_are_listed_newest_first_with_their_outcome(app, people, ran):
    page = sign_in(app, people["manager"]).get("/scheduler")
    rows = Page(page.text).rows
    body = [
        row
        for row in rows
        if row and row[0] in ("Monthly close", "Quarterly assessment", "Query reminder")
    ]
    assert [(r[0], r[1], r[2]) for r in body] == [
        ("Quarterly assessment", "2026-27-Q1", "Failed"),
        ("Query reminder", "2026-06-03", "Done"),
        ("Monthly close", "2026-05", "Done"),
        ("Monthly close", "2026-04", "Done"),
    ]
    assert body[0][5:] == ["2", "OSError: disk full"]
    assert "3 draft statement(s) for 2026-05" in body[2][6]
    text = text_of(page.text)
    assert (
        "E-mail waiting to be sent: 2 messages, 1 of them refused or failed at least once" in text
    )
    assert "working day 3 of the next month" in text
