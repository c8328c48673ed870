"""The month close, issuing and manual adjustments, called directly on the seeded centre.

May 2026 (tests/service/conftest.py): WYR 700 payslips = 500 x 4.00 + 200 x 3.00 = 2,600.00,
LAN 300 x 4.00 = 1,200.00; hosting 36,000.00 a year = 3,000.00 a month each; the ICT desk's
120,000.00 a year shared equally = 10,000.00 a month, 3,333.33 / 3,333.34 / 3,333.33.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from billing.adjustments import adjust, withdraw
from billing.close import close_month
from billing.issue import issue_month
from billing.models import PendingLine, Statement
from billing.statements import get_statement
from opsplatform.errors import Refused
from opsplatform.models import Notification
from opsplatform.periods import Month
from tests.service.conftest import audit_trail

APRIL, MAY = Month(2026, 4), Month(2026, 5)
FINANCE = "finance@centre.gov.uk"


def charges(statement: Statement) -> dict[str, Decimal]:
    return {line.service.code: line.amount for line in statement.lines if line.kind == "charge"}


def test_a_close_drafts_each_clients_statement_to_the_penny(centre):
    with centre.transaction() as session:
        drafts = {s.number: s for s in close_month(session, MAY, FINANCE)}
        assert sorted(drafts) == ["TSS-202605-LAN", "TSS-202605-PRS", "TSS-202605-WYR"]
        wyr, lan, prs = (drafts[f"TSS-202605-{c}"] for c in ("WYR", "LAN", "PRS"))
        assert charges(wyr) == {"PAY": Decimal("2600.00"), "HOST": 3000, "ICT": Decimal("3333.33")}
        assert charges(lan) == {"PAY": 1200, "HOST": 3000, "ICT": Decimal("3333.34")}
        assert charges(prs) == {"HOST": 3000, "ICT": Decimal("3333.33")}
        assert [s.total for s in (wyr, lan, prs)] == [
            Decimal("8933.33"),
            Decimal("7533.34"),
            Decimal("6333.33"),
        ]
        assert all(s.status == "draft" and s.net == s.total and s.vat == 0 for s in drafts.values())
        graduated = next(line for line in wyr.lines if line.service.code == "PAY")
        assert (graduated.quantity, graduated.period) == (700, "2026-05")


def test_a_close_records_who_closed_the_month_and_what_it_drafted(centre):
    with centre.transaction() as session:
        close_month(session, MAY, FINANCE)
        assert audit_trail(session) == [
            (
                FINANCE,
                "billing close",
                "2026-05",
                {"statements": ["TSS-202605-LAN", "TSS-202605-PRS", "TSS-202605-WYR"]},
            )
        ]


def test_a_second_close_rebuilds_the_drafts_in_place(centre):
    with centre.transaction() as session:
        first = {s.number: (s.id, s.total) for s in close_month(session, MAY, FINANCE)}
    with centre.transaction() as session:
        again = {s.number: (s.id, s.total) for s in close_month(session, MAY, "scheduler")}
        assert again == first
        assert session.scalar(select(func.count()).select_from(Statement)) == 3
        assert [(actor, action) for actor, action, _, _ in audit_trail(session)] == [
            (FINANCE, "billing close"),
            ("scheduler", "billing close"),
        ]


def test_issuing_numbers_dates_and_freezes_the_drafts_and_tells_the_councils(centre):
    with centre.transaction() as session:
        close_month(session, MAY, FINANCE)
    with centre.transaction() as session:
        issued = issue_month(session, MAY, FINANCE)
        assert [s.number for s in issued] == [
            "TSS-202605-LAN",
            "TSS-202605-PRS",
            "TSS-202605-WYR",
        ]
        for s in issued:
            assert s.status == "issued" and s.issued_at is not None
            assert s.due_date == s.issued_at.date() + timedelta(days=30)
        assert audit_trail(session)[-1] == (
            FINANCE,
            "billing issue",
            "2026-05",
            {
                "statements": {
                    "TSS-202605-LAN": "7533.34",
                    "TSS-202605-PRS": "6333.33",
                    "TSS-202605-WYR": "8933.33",
                }
            },
        )
        # the small centre has no contact addresses or users: nobody to tell yet
        assert session.scalar(select(func.count()).select_from(Notification)) == 0
    with centre.transaction() as session:
        assert close_month(session, MAY, FINANCE) == []  # nothing left to draft
        wyr = get_statement(session, "TSS-202605-WYR")
        assert (wyr.status, wyr.total) == ("issued", Decimal("8933.33"))


def test_a_later_close_leaves_an_issued_statement_alone(centre):
    with centre.transaction() as session:
        close_month(session, APRIL, FINANCE)
        issue_month(session, APRIL, FINANCE)
        before = {
            s.number: (s.total, [(x.kind, x.amount) for x in s.lines])
            for s in session.scalars(select(Statement))
        }
    with centre.transaction() as session:
        close_month(session, APRIL, FINANCE)
        close_month(session, MAY, FINANCE)
        april = {
            s.number: (s.total, [(x.kind, x.amount) for x in s.lines])
            for s in session.scalars(select(Statement).where(Statement.month == "2026-04"))
        }
        assert april == before
        assert {s.status for s in session.scalars(select(Statement))} == {"issued", "draft"}


def test_issuing_without_drafts_is_refused_and_records_nothing(centre):
    with centre.transaction() as session:
        with pytest.raises(Refused, match="there are no draft statements for 2026-05"):
            issue_month(session, MAY, FINANCE)
        assert audit_trail(session) == []


def test_an_adjustment_waits_for_the_next_statement_and_records_who_raised_it(centre):
    with centre.transaction() as session:
        close_month(session, APRIL, FINANCE)
        issue_month(session, APRIL, FINANCE)
    with centre.transaction() as session:
        pending = adjust(
            session,
            "wyr",
            "pay",
            Decimal("-50.00"),
            "Leavers charged twice",
            FINANCE,
            statement="TSS-202604-WYR",
            approved_by="Head of Finance",
        )
        assert (pending.corrects, pending.not_before) == ("TSS-202604-WYR", "2026-05")
        assert audit_trail(session)[-1] == (
            FINANCE,
            "billing adjust",
            "WYR PAY",
            {"amount": "-50.00", "reason": "Leavers charged twice", "corrects": "TSS-202604-WYR"},
        )
    with centre.transaction() as session:
        (wyr,) = [s for s in close_month(session, MAY, FINANCE) if s.number.endswith("WYR")]
        (line,) = [x for x in wyr.lines if x.kind == "adjustment"]
        assert line.amount == Decimal("-50.00")
        assert line.basis == "Leavers charged twice (approved by Head of Finance)"
        assert wyr.total == Decimal("8883.33")


def test_a_refused_adjustment_raises_nothing_and_records_nothing(centre):
    with centre.transaction() as session:
        with pytest.raises(Refused) as refused:
            adjust(session, "NOPE", "PAY", Decimal("0.001"), " ", FINANCE)
        assert [p.message for p in refused.value.problems] == [
            "unknown client 'NOPE'",
            "amount must be a non-zero sum in pounds and pence, not 0.001",
            "give a reason: it is printed on the statement",
        ]
        assert session.scalar(select(func.count()).select_from(PendingLine)) == 0
        assert audit_trail(session) == []


def test_an_absurd_adjustment_is_refused_either_way(centre):
    with centre.transaction() as session:
        for amount in ("1000000.01", "-1000000.01"):
            with pytest.raises(Refused) as refused:
                adjust(session, "WYR", "PAY", Decimal(amount), "A pasted reference", FINANCE)
            assert "at most £1,000,000.00 either way" in refused.value.problems[0].message
        assert session.scalar(select(func.count()).select_from(PendingLine)) == 0


def test_a_withdrawn_adjustment_leaves_its_draft_at_once_and_is_kept_and_recorded(centre):
    with centre.transaction() as session:
        close_month(session, APRIL, FINANCE)
        issue_month(session, APRIL, FINANCE)
        pending = adjust(session, "WYR", "PAY", Decimal("-50.00"), "Goodwill", FINANCE)
        close_month(session, MAY, FINANCE)
        assert get_statement(session, "TSS-202605-WYR").total == Decimal("8883.33")
    with centre.transaction() as session:
        done = withdraw(session, pending.id, "head@centre.gov.uk")
        assert done.reclosed == MAY
        assert get_statement(session, "TSS-202605-WYR").total == Decimal("8933.33")
        assert [entry[:3] for entry in audit_trail(session)[-2:]] == [
            ("head@centre.gov.uk", "billing withdraw", f"pending line {pending.id}"),
            ("head@centre.gov.uk", "billing close", "2026-05"),
        ]
    with centre.transaction() as session:
        kept = session.get(PendingLine, pending.id)
        assert (kept.amount, kept.withdrawn_by) == (Decimal("-50.00"), "head@centre.gov.uk")
        close_month(session, MAY, FINANCE)
        assert get_statement(session, "TSS-202605-WYR").total == Decimal("8933.33")
        issue_month(session, MAY, FINANCE)
        with pytest.raises(Refused, match="already withdrawn"):
            withdraw(session, pending.id, FINANCE)


def test_a_credit_on_an_issued_statement_cannot_be_withdrawn(centre):
    with centre.transaction() as session:
        close_month(session, APRIL, FINANCE)
        issue_month(session, APRIL, FINANCE)
        pending = adjust(session, "WYR", "PAY", Decimal("-50.00"), "Goodwill", FINANCE)
        close_month(session, MAY, FINANCE)
        issue_month(session, MAY, FINANCE)
        with pytest.raises(Refused) as refused:
            withdraw(session, pending.id, FINANCE)
        assert "statement TSS-202605-WYR, already issued" in refused.value.problems[0].message
        assert session.get(PendingLine, pending.id).withdrawn_at is None
