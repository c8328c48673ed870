"""billing.reports on the populated centre, without HTTP: the billing comparison, drafts
awaiting issue, open queries with their ages, and the paperwork measures.

The centre is tests/integration/conftest.py's: April 2026 issued, May 2026 drafted, for WYR,
LAN and PRS (HOST £3,000.00 and ICT £3,333.33 or £3,333.34 a month each; PAY £400.00 in April
for WYR and LAN, £0.00 in May; PRS takes no payroll).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from billing.disputes import answer_query, raise_query
from billing.models import Statement, StatementLine, StatementQuery
from billing.reports import (
    BillingRow,
    Draft,
    billing_comparison,
    drafts_awaiting_issue,
    open_queries,
    paperwork_measures,
)
from opsplatform.models import Client, Service
from opsplatform.periods import Month


@pytest.fixture
def db(app):
    """A session on the populated centre, committed when the block ends."""
    return lambda: app.extensions["opsplatform.db"].transaction()


def add_statement(session, client: str, month: str, lines: list[tuple[str | None, str]]) -> None:
    """An issued statement of `client` for `month`, with lines of (service code, amount)."""
    client_id = session.scalar(select(Client.id).where(Client.code == client))
    services = dict(session.execute(select(Service.code, Service.id)).all())
    amounts = [Decimal(amount) for _, amount in lines]
    session.add(
        Statement(
            number=f"TSS-{month.replace('-', '')}-{client}",
            client_id=client_id,
            month=month,
            status="issued",
            net=sum(amounts),
            total=sum(amounts),
            lines=[
                StatementLine(
                    position=position,
                    service_id=services[code] if code else None,
                    kind="charge" if code else "adjustment",
                    period=month,
                    description="Test",
                    amount=amount,
                )
                for position, ((code, _), amount) in enumerate(zip(lines, amounts, strict=True), 1)
            ],
        )
    )


def by_code(rows: list[BillingRow]) -> dict[str, BillingRow]:
    return {row.code: row for row in rows}


def test_the_comparison_sums_the_latest_month_and_its_year_by_client_and_service(db):
    with db() as session:
        found = billing_comparison(session)
    assert found is not None
    assert (found.month, found.first) == (Month(2026, 5), Month(2026, 4))
    assert found.last_year == (Month(2025, 4), Month(2025, 5))
    assert found.statuses == {"draft": 3} and found.drafts_in_month == 3
    assert [r.code for r in found.clients] == ["LAN", "PRS", "WYR"]
    assert [r.code for r in found.services] == ["HOST", "ICT", "PAY"]
    wyr = by_code(found.clients)["WYR"]
    assert (wyr.name, wyr.month, wyr.year) == (
        "Wyre Council",
        Decimal("6333.33"),
        Decimal("13066.66"),
    )
    # nothing was billed a year earlier: no figure, and so no change, rather than zero
    assert wyr.month_last_year is wyr.year_last_year is wyr.change is wyr.change_percent is None
    pay = by_code(found.services)["PAY"]
    assert (pay.month, pay.year) == (Decimal("0.00"), Decimal("800.00"))  # billed, at £0.00
    assert (found.total.month, found.total.year) == (Decimal("19000.00"), Decimal("38800.00"))
    for period in ("month", "year"):
        for rows in (found.clients, found.services):
            assert sum(getattr(r, period) for r in rows) == getattr(found.total, period)


def test_the_same_months_last_year_are_compared_and_older_ones_left_out(db):
    with db() as session:
        add_statement(session, "WYR", "2025-04", [("HOST", "1000.00")])
        add_statement(session, "WYR", "2025-05", [("PAY", "150.25"), (None, "-3.10")])
        add_statement(session, "WYR", "2024-05", [("PAY", "999.99")])  # in no period compared
        add_statement(session, "LAN", "2025-03", [("PAY", "500.00")])  # the year before's March
    with db() as session:
        found = billing_comparison(session)
    assert found is not None
    wyr = by_code(found.clients)["WYR"]
    assert (wyr.month_last_year, wyr.year_last_year) == (Decimal("147.15"), Decimal("1147.15"))
    assert wyr.change == Decimal("13066.66") - Decimal("1147.15")
    assert wyr.change_percent == Decimal("1039.1")
    assert by_code(found.clients)["LAN"].year_last_year is None
    services = by_code(found.services)
    assert services["HOST"].year_last_year == Decimal("1000.00")
    assert services["PAY"].month_last_year == services["PAY"].year_last_year == Decimal("150.25")
    assert services["ICT"].year_last_year is None
    # a line for no one service is a row of its own, after the services
    assert found.services[-1].code == "" and found.services[-1].name == "Not for one service"
    assert services[""].year_last_year == Decimal("-3.10") and services[""].year is None
    assert found.total.year_last_year == Decimal("1147.15")


def test_a_change_is_a_percentage_of_last_years_magnitude_and_of_no_zero():
    row = BillingRow("X", "X", year=Decimal("50.00"), year_last_year=Decimal("-200.00"))
    assert (row.change, row.change_percent) == (Decimal("250.00"), Decimal("125.0"))
    row = BillingRow("X", "X", year=Decimal("50.00"), year_last_year=Decimal("0.00"))
    assert (row.change, row.change_percent) == (Decimal("50.00"), None)


def test_drafts_awaiting_issue_are_plain_values_oldest_month_first(db):
    with db() as session:
        session.execute(
            update(Statement).where(Statement.number == "TSS-202604-PRS").values(status="draft")
        )
    with db() as session:
        found = drafts_awaiting_issue(session)
    assert found[0] == Draft(
        "TSS-202604-PRS", "Preston City Council", "2026-04", Decimal("6333.33")
    )
    assert [d.number for d in found[1:]] == ["TSS-202605-LAN", "TSS-202605-PRS", "TSS-202605-WYR"]
    assert found[1].client == "Lancaster City Council" and found[1].total == Decimal("6333.34")


def raise_at(db, number: str, line: int | None, raised: datetime) -> int:
    with db() as session:
        query = raise_query(session, number, line, "Why?", "pay@council.gov.uk")
        session.execute(
            update(StatementQuery).where(StatementQuery.id == query.id).values(raised_at=raised)
        )
        return query.id


def test_open_queries_are_oldest_first_aged_by_their_london_date(db):
    # 23:30 UTC on 31 May is 00:30 on 1 June in London (BST): raised on 1 June
    late = raise_at(db, "TSS-202604-LAN", None, datetime(2026, 5, 31, 23, 30, tzinfo=UTC))
    early = raise_at(db, "TSS-202604-WYR", 3, datetime(2026, 5, 28, 9, 0, tzinfo=UTC))
    answered = raise_at(db, "TSS-202604-PRS", None, datetime(2026, 5, 20, 9, 0, tzinfo=UTC))
    with db() as session:
        answer_query(session, answered, False, "As billed", "finance@centre.gov.uk")
    with db() as session:
        found = open_queries(session, date(2026, 6, 4))
        before = open_queries(session, date(2026, 5, 30))
    assert [(q.id, q.number, q.line_position, q.client, q.age) for q in found] == [
        (early, "TSS-202604-WYR", 3, "Wyre Council", 7),
        (late, "TSS-202604-LAN", None, "Lancaster City Council", 3),
    ]
    assert found[1].raised_at == datetime(2026, 5, 31, 23, 30, tzinfo=UTC)
    assert [q.age for q in before] == [2, 0]  # never a negative age


def test_paperwork_measures_count_the_statements_of_twelve_months(db):
    with db() as session:
        add_statement(session, "WYR", "2025-05", [("PAY", "10.00")])  # thirteen months back
        add_statement(session, "WYR", "2025-06", [("PAY", "10.00"), ("HOST", "20.00")])
    raised = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    ids = [
        raise_at(db, number, None, raised)
        for number in ("TSS-202604-WYR", "TSS-202604-WYR", "TSS-202506-WYR", "TSS-202505-WYR")
    ]
    with db() as session:
        for query_id, days in zip(ids[1:], (3, 6, 1), strict=True):  # the first stays open
            answer_query(session, query_id, False, "As billed", "finance@centre.gov.uk")
            session.execute(
                update(StatementQuery)
                .where(StatementQuery.id == query_id)
                .values(answered_at=datetime(2026, 5, 1 + days, 10, 0, tzinfo=UTC))
            )
    with db() as session:
        found = paperwork_measures(session, Month(2026, 5))
    assert (found.first, found.last) == (Month(2025, 6), Month(2026, 5))
    assert (found.statements, found.lines) == (7, 18)
    assert (found.queried, found.answered, found.still_open) == (2, 2, 1)
    assert found.median_days == 4.5  # of 3 and 6 whole days; the query from 2025-05 is outside
    assert found.lines_per_statement == 18 / 7
    assert found.percent_queried == 2 / 7 * 100


def test_a_window_without_statements_or_answers_has_no_ratios(db):
    with db() as session:
        found = paperwork_measures(session, Month(2024, 3))
    assert (found.statements, found.lines, found.queried) == (0, 0, 0)
    assert found.lines_per_statement is found.percent_queried is found.median_days is None


def test_an_empty_centre_has_no_comparison_drafts_or_queries(database):
    with database.transaction() as session:
        assert billing_comparison(session) is None
        assert drafts_awaiting_issue(session) == []
        assert open_queries(session, date(2026, 6, 1)) == []
