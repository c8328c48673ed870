"""Statement queries raised by a council and answered by finance, called directly on the
seeded centre with April 2026 issued (WYR's lines: HOST 3,000.00, ICT 3,333.33, PAY 0.00)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from billing.close import close_month
from billing.disputes import answer_query, raise_query
from billing.issue import issue_month
from billing.models import PendingLine
from opsplatform.errors import Refused
from opsplatform.periods import Month
from tests.service.conftest import audit_trail

APRIL, MAY = Month(2026, 4), Month(2026, 5)
COUNCIL = "pay@wyre.gov.uk"
FINANCE = "finance@centre.gov.uk"


@pytest.fixture
def april(centre):
    """The centre with April closed and issued (its first two audit entries)."""
    with centre.transaction() as session:
        close_month(session, APRIL, FINANCE)
        issue_month(session, APRIL, FINANCE)
    return centre


def actions(session) -> list[tuple[str, str, str]]:
    """(actor, action, subject) of the entries after April's close and issue."""
    return [(actor, action, subject) for actor, action, subject, _ in audit_trail(session)][2:]


def test_raising_a_query_on_a_line_records_the_council_and_the_line(april):
    with april.transaction() as session:
        query = raise_query(session, "tss-202604-wyr", 2, "  Why this much?  ", COUNCIL)
        assert (query.status, query.line_summary) == (
            "open",
            "ICT service desk, April 2026: £3,333.33",
        )
        assert audit_trail(session)[-1] == (
            COUNCIL,
            "query raise",
            "TSS-202604-WYR",
            {"query": query.id, "line": 2, "reason": "Why this much?"},
        )


def test_a_query_on_the_whole_statement_records_no_line(april):
    with april.transaction() as session:
        query = raise_query(session, "TSS-202604-WYR", None, "Please send a copy", COUNCIL)
        assert audit_trail(session)[-1][3] == {"query": query.id, "reason": "Please send a copy"}


def test_a_refused_query_records_nothing(april):
    with april.transaction() as session:
        with pytest.raises(Refused, match="statement TSS-202604-WYR has no line 9"):
            raise_query(session, "TSS-202604-WYR", 9, "Which line?", COUNCIL)
        with pytest.raises(Refused, match="there is no statement TSS-209912-WYR"):
            raise_query(session, "TSS-209912-WYR", None, "Which statement?", COUNCIL)
        assert actions(session) == []


def test_accepting_with_an_amount_raises_one_adjustment_and_records_one_answer(april):
    with april.transaction() as session:
        query_id = raise_query(session, "TSS-202604-WYR", 1, "Hosting was down", COUNCIL).id
    with april.transaction() as session:
        answered = answer_query(
            session, query_id, True, "Agreed: a week's credit", FINANCE, Decimal("-700.00")
        )
        assert (answered.status, answered.answered_by) == ("accepted", FINANCE)
        (pending,) = session.scalars(select(PendingLine))
        assert (pending.amount, pending.raised_by, pending.corrects) == (
            Decimal("-700.00"),
            FINANCE,
            "TSS-202604-WYR line 1",
        )
        assert answered.adjustment_id == pending.id
        # the answer is the entry: the adjustment it raised has none of its own
        assert audit_trail(session)[-1] == (
            FINANCE,
            "query answer",
            f"query {query_id}",
            {"status": "accepted", "answer": "Agreed: a week's credit", "amount": "-700.00"},
        )
        assert [a for _, a, _ in actions(session)] == ["query raise", "query answer"]
    with april.transaction() as session:
        (wyr,) = [s for s in close_month(session, MAY, FINANCE) if s.number.endswith("WYR")]
        assert wyr.total == Decimal("8933.33") - 700


def test_a_query_answered_twice_is_refused_and_recorded_once(april):
    with april.transaction() as session:
        query_id = raise_query(session, "TSS-202604-WYR", None, "Why?", COUNCIL).id
        answer_query(session, query_id, False, "As billed", FINANCE)
    with april.transaction() as session:
        with pytest.raises(Refused, match=f"query {query_id} was already rejected"):
            answer_query(session, query_id, True, "On second thoughts", "other@centre.gov.uk")
        assert actions(session) == [
            (COUNCIL, "query raise", "TSS-202604-WYR"),
            (FINANCE, "query answer", f"query {query_id}"),
        ]


def test_an_open_query_holds_the_month_back(april):
    with april.transaction() as session:
        close_month(session, MAY, FINANCE)
        query_id = raise_query(session, "TSS-202605-WYR", 1, "Why?", COUNCIL).id
    with april.transaction() as session:
        with pytest.raises(Refused, match=f"query {query_id} on TSS-202605-WYR is still open"):
            issue_month(session, MAY, FINANCE)
        assert [a for _, a, _ in actions(session)] == ["billing close", "query raise"]
