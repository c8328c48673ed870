"""Fixtures for the service tests: a seeded centre (built once, copied per test) on which the
business actions are called directly, and its audit trail.

The centre is the small centre of tests/support.py (prefix TSS, clients WYR, LAN, PRS) with
the acceptance example's May 2026 usage (WYR 700 payslips in three timed events, LAN 300
untimed) and two payroll KPIs on which WYR has SLAs with service credits. Nothing is
closed. It is seeded through the command line, as a finance officer would load it, and
its audit log is then emptied, so that a test sees only the entries of what it does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from opsplatform.db import Database
from opsplatform.models import AuditEvent
from tests.conftest import Cli, Databases
from tests.support import small_centre, write_book, write_csv

KPIS = [
    ["code", "name", "service", "unit", "direction", "target", "amber", "method", "limit", "calendar"],
    ["PAY-5D", "Payroll queries closed in 5 working days", "PAY", "percent", "higher", 95, 90,
     "within", 5, None],
    ["PAY-AVG", "Average calendar days to close a payroll query", "PAY", "days", "lower", 5, 7,
     "average_elapsed", None, "calendar_days"],
]  # fmt: skip
SLAS = [
    ["client", "kpi", "target", "amber", "service_credit_percent"],
    ["WYR", "PAY-5D", None, None, 2.5],
    ["WYR", "PAY-AVG", None, None, 1],
]


def pay(event: str, client: str, day: str, quantity: int, started: str, completed: str) -> dict:
    return {
        "event_id": event,
        "client": client,
        "service": "PAY",
        "date": day,
        "quantity": quantity,
        "started_at": started,
        "completed_at": completed,
    }


MAY_USAGE = [  # WYR's queries close in 4, 5 and 6 working days (4 May is a bank holiday)
    pay("w1", "WYR", "2026-05-01", 698, "2026-05-01T09:00:00", "2026-05-08T16:00:00"),
    pay("w2", "WYR", "2026-05-22", 1, "2026-05-22T09:00:00", "2026-06-01T16:00:00"),
    pay("w3", "WYR", "2026-05-21", 1, "2026-05-21T09:00:00", "2026-06-01T16:00:00"),
    {"event_id": "l1", "client": "LAN", "service": "PAY", "date": "2026-05-12", "quantity": 300},
]


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory, databases: Databases, migrated_template: str) -> str:
    """The seeded centre's database URL."""
    folder = tmp_path_factory.mktemp("seeded")
    url = databases.new(template=migrated_template)
    book = {**small_centre(), "KPIs": KPIS, "SLAs": SLAS}
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OPSPLATFORM_INSTANCE_PATH", str(folder))
        env.setenv("OPSPLATFORM_DATABASE_URL", url)
        cli = Cli()
        cli("setup", "load", write_book(folder / "setup.xlsx", book))
        cli("usage", "import", write_csv(folder / "may.csv", MAY_USAGE))
    seeded = Database(url)
    with seeded.transaction() as session:
        session.execute(delete(AuditEvent))
    seeded.engine.dispose()
    return url


@pytest.fixture
def centre(databases: Databases, seeded_template: str) -> Iterator[Database]:
    """A copy of the seeded centre for this test."""
    database = Database(databases.new(template=seeded_template))
    yield database
    database.engine.dispose()


def audit_trail(session: Session) -> list[tuple[str, str, str, dict]]:
    """Every audit entry, oldest first, as (actor, action, subject, detail)."""
    return [
        (e.actor, e.action, e.subject, json.loads(e.detail))
        for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))
    ]
