"""sla.reports on the populated centre, without HTTP: the latest quarter with something to
assess, the KPI status matrix, and the data version of the manager's figures.

The centre is tests/integration/conftest.py's: one KPI, PAY-5D (payslips within 5 working
days, target 95%, amber 90%), and one timed PAY event each for WYR and LAN in April 2026,
both within it; PRS takes no payroll.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from billing.disputes import answer_query, raise_query
from importers.usage import revert_batch
from opsplatform.audit import record
from opsplatform.models import Client, Kpi, KpiFigure, Service, UsageEvent
from opsplatform.periods import Quarter
from sla.reports import KpiCell, data_version, kpi_matrix, latest_kpi_quarter
from sla.service import finalise_quarter

Q1 = Quarter.parse("2026-27-Q1")


@pytest.fixture
def db(app):
    """A session on the populated centre, committed when the block ends."""
    return lambda: app.extensions["opsplatform.db"].transaction()


def move_event(session, event_id: str, **values) -> None:
    session.execute(update(UsageEvent).where(UsageEvent.event_id == event_id).values(**values))


def test_the_latest_quarter_is_the_latest_with_events_figures_or_results(db):
    with db() as session:
        assert latest_kpi_quarter(session) == Q1
        # 23:30 UTC on 30 June is 1 July in London (BST): the second quarter
        move_event(session, "APR-WYR", completed_at=datetime(2026, 6, 30, 23, 30, tzinfo=UTC))
        host = session.scalar(select(Service.id).where(Service.code == "HOST"))
        # a later event of a service no KPI measures does not count
        move_event(
            session, "APR-LAN", service_id=host, completed_at=datetime(2026, 11, 2, tzinfo=UTC)
        )
    with db() as session:
        assert latest_kpi_quarter(session) == Quarter.parse("2026-27-Q2")
        session.add(
            KpiFigure(
                kpi_id=session.scalar(select(Kpi.id)),
                client_id=session.scalar(select(Client.id).where(Client.code == "PRS")),
                month="2026-12",
                numerator=Decimal(9),
                denominator=Decimal(10),
            )
        )
    with db() as session:
        assert latest_kpi_quarter(session) == Quarter.parse("2026-27-Q3")
        finalise_quarter(
            session, Quarter.parse("2026-27-Q4"), "manager@centre.gov.uk"
        )  # frozen, if empty
    with db() as session:
        assert latest_kpi_quarter(session) == Quarter.parse("2026-27-Q4")


def test_the_matrix_holds_each_kpis_status_and_value_by_client(db):
    with db() as session:
        matrix = kpi_matrix(session)
    assert matrix is not None
    assert (matrix.quarter, matrix.final) == (Q1, False)
    assert matrix.clients == [("LAN", "Lancaster City Council"), ("WYR", "Wyre Council")]
    [row] = matrix.rows
    assert (row.code, row.name, row.unit) == ("PAY-5D", "Payslips in 5 working days", "percent")
    green = KpiCell("green", Decimal(100))
    assert row.cells == {None: green, "LAN": green, "WYR": green}
    assert list(matrix.counts) == ["green", "amber", "red", "no_data"]
    assert matrix.counts == {"green": 2, "amber": 0, "red": 0, "no_data": 0}


def test_a_late_event_turns_its_client_and_the_centre_red_and_only_clients_are_counted(db):
    with db() as session:
        move_event(session, "APR-LAN", completed_at=datetime(2026, 4, 30, 9, tzinfo=UTC))
    with db() as session:
        matrix = kpi_matrix(session)
    assert matrix is not None
    cells = matrix.rows[0].cells
    assert cells["LAN"] == KpiCell("red", Decimal(0))
    assert cells[None] == KpiCell("red", Decimal(50))
    assert matrix.counts == {"green": 1, "amber": 0, "red": 1, "no_data": 0}


def test_a_finalised_quarter_is_shown_as_final(db):
    with db() as session:
        finalise_quarter(session, Q1, "manager@centre.gov.uk")
    with db() as session:
        matrix = kpi_matrix(session)
    assert matrix is not None and matrix.final


def test_an_empty_centre_has_no_quarter_and_no_matrix(database):
    with database.transaction() as session:
        assert latest_kpi_quarter(session) is None
        assert kpi_matrix(session) is None


def test_the_data_version_changes_with_whatever_the_figures_come_from(db):
    with db() as session:
        versions = [data_version(session)]
        assert data_version(session) == versions[0]
    with db() as session:
        query_id = raise_query(session, "TSS-202604-WYR", None, "Why?", "pay@wyre.gov.uk").id
    with db() as session:
        versions.append(data_version(session))
        answer_query(session, query_id, False, "As billed", "finance@centre.gov.uk")
    with db() as session:
        versions.append(data_version(session))
        revert_batch(session, 1, "finance@centre.gov.uk")
    with db() as session:
        versions.append(data_version(session))
        record(session, "admin@centre.gov.uk", "setup load", "setup.xlsx")
    with db() as session:
        versions.append(data_version(session))
    assert len(set(versions)) == len(versions)
