"""Every usage event refers to a batch, a client and a service that exist, on both databases:
foreign keys on SQLite, statement-level triggers on PostgreSQL (migration 0004)."""

from __future__ import annotations

import os

import psycopg
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from opsplatform.db import Database
from opsplatform.models import Client, UsageEvent

COLUMNS = "batch_id, event_id, fingerprint, client_id, service_id, occurred_at, local_date, month, quantity"


@pytest.fixture
def ledger(people):
    db = Database(os.environ["OPSPLATFORM_DATABASE_URL"])
    yield db
    db.engine.dispose()


def known(session) -> dict[str, int]:
    """A batch, client and service of the populated centre that usage refers to."""
    event = session.scalars(select(UsageEvent).order_by(UsageEvent.id)).first()
    return {"batch": event.batch_id, "client": event.client_id, "service": event.service_id}


def events(session) -> int:
    return session.scalar(select(func.count()).select_from(UsageEvent))


def insert(session, rows: list[dict]) -> None:
    values = ", ".join(
        f"(:batch{i}, :event{i}, 'f', :client{i}, :service{i}, "
        f"'2026-05-01 09:00:00+00', '2026-05-01', '2026-05', 1000000)"
        for i in range(len(rows))
    )
    params = {f"{key}{i}": value for i, row in enumerate(rows) for key, value in row.items()}
    session.execute(text(f"INSERT INTO usage_events ({COLUMNS}) VALUES {values}"), params)


@pytest.mark.parametrize("missing", ["batch", "client", "service"])
def test_an_event_referring_to_nothing_is_refused_with_its_whole_statement(ledger, missing):
    with ledger.sessions() as session:
        before = events(session)
        good = dict(known(session), event="ok-1")
        bad = dict(known(session), event="bad-1")
        bad[missing] = 999_999
        with pytest.raises(IntegrityError):
            insert(session, [good, bad])
            session.flush()
        session.rollback()
        assert events(session) == before


def test_events_referring_to_what_exists_are_stored(ledger):
    with ledger.sessions() as session:
        before = events(session)
        insert(session, [dict(known(session), event=f"ok-{i}") for i in range(3)])
        session.commit()
        assert events(session) == before + 3


def test_moving_an_event_to_a_missing_client_is_refused(ledger):
    with ledger.sessions() as session, pytest.raises(IntegrityError):
        session.execute(text("UPDATE usage_events SET client_id = 999999"))
        session.flush()


def test_a_client_with_usage_cannot_be_deleted_but_one_without_can(ledger):
    with ledger.sessions() as session:
        used, unused = Client(code="USED", name="Used"), Client(code="UNUSED", name="Unused")
        session.add_all([used, unused])
        session.flush()
        insert(session, [dict(known(session), client=used.id, event="used-1")])
        session.execute(text("DELETE FROM clients WHERE id = :id"), {"id": unused.id})
        with pytest.raises(IntegrityError):
            session.execute(text("DELETE FROM clients WHERE id = :id"), {"id": used.id})
            session.flush()


def test_copy_checks_references_too(ledger):
    """The importer writes with COPY on PostgreSQL: the triggers see its rows as well."""
    if ledger.engine.dialect.name != "postgresql":
        pytest.skip("COPY is PostgreSQL's; SQLite imports with INSERT, checked above")
    with ledger.sessions() as session:
        refs = known(session)
        cursor = session.connection().connection.dbapi_connection.cursor()
        with (
            pytest.raises(psycopg.errors.ForeignKeyViolation, match="clients"),
            cursor.copy(f"COPY usage_events ({COLUMNS}) FROM STDIN") as copy,
        ):
            copy.write_row(
                (
                    refs["batch"],
                    "copied",
                    "f",
                    999_999,
                    refs["service"],
                    "2026-05-01 09:00:00+00",
                    "2026-05-01",
                    "2026-05",
                    1,
                )
            )
