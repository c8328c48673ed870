"""The quarter's assessment, finalising and commentary, called directly on the seeded centre.

In 2026-27 Q1 WYR's three payroll queries closed in 4, 5 and 6 working days (PAY-5D: 2 of 3,
66.67 %, red against 95) and took 7.29, 10.29 and 11.29 calendar days (PAY-AVG: 9.63,
red against 5); its SLAs credit 2.5 % and 1 % of the 2,600.00 charged for payroll in the
quarter: 65.00 and 26.00.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from billing.models import PendingLine
from opsplatform.errors import Refused
from opsplatform.periods import Quarter
from sla.commentary import COMMENTARY_LIMIT, commentary, save_commentary, set_commentary
from sla.models import KpiCommentary, KpiResult
from sla.service import assess_quarter, finalise_quarter
from tests.service.conftest import audit_trail

Q1 = Quarter.parse("2026-27-Q1")
MANAGER = "manager@centre.gov.uk"


def statuses(results) -> dict[tuple[str, str | None], str]:
    return {(r.kpi.code, r.client): r.status for r in results}


def test_assessing_measures_the_quarter_and_writes_nothing(centre):
    with centre.transaction() as session:
        results = assess_quarter(session, Q1)
        assert statuses(results) == {
            ("PAY-5D", None): "red",
            ("PAY-5D", "LAN"): "no_data",
            ("PAY-5D", "WYR"): "red",
            ("PAY-AVG", None): "red",
            ("PAY-AVG", "LAN"): "no_data",
            ("PAY-AVG", "WYR"): "red",
        }
        wyr = next(r for r in results if (r.kpi.code, r.client) == ("PAY-5D", "WYR"))
        assert (wyr.measure.numerator, wyr.measure.denominator, wyr.final) == (2, 3, False)
        assert session.scalar(select(func.count()).select_from(KpiResult)) == 0
        assert audit_trail(session) == []


def test_finalising_freezes_the_quarter_raises_its_credits_and_records_who(centre):
    with centre.transaction() as session:
        results = finalise_quarter(session, Q1, MANAGER)
        assert all(r.final for r in results) and len(results) == 6
        assert session.scalar(select(func.count()).select_from(KpiResult)) == 6
        credits = {
            p.corrects: (p.amount, p.not_before, p.kind)
            for p in session.scalars(select(PendingLine).order_by(PendingLine.id))
        }
        assert credits == {
            "PAY-5D 2026-27-Q1": (Decimal("-65.00"), "2026-07", "service_credit"),
            "PAY-AVG 2026-27-Q1": (Decimal("-26.00"), "2026-07", "service_credit"),
        }
        assert audit_trail(session) == [(MANAGER, "sla final", "2026-27-Q1", {"results": 6})]


def test_finalising_again_changes_nothing_but_is_recorded(centre):
    with centre.transaction() as session:
        first = statuses(finalise_quarter(session, Q1, MANAGER))
    with centre.transaction() as session:
        assert statuses(finalise_quarter(session, Q1, "admin@centre.gov.uk")) == first
        assert session.scalar(select(func.count()).select_from(PendingLine)) == 2
        assert session.scalar(select(func.count()).select_from(KpiResult)) == 6
        assert [actor for actor, _, _, _ in audit_trail(session)] == [
            MANAGER,
            "admin@centre.gov.uk",
        ]


def test_commentary_is_saved_replaced_and_recorded_each_time(centre):
    with centre.transaction() as session:
        set_commentary(session, Q1, "pay-5d", "  Two late queries in May.  ", MANAGER)
        set_commentary(session, Q1, "PAY-5D", "Two late queries, both bank holiday weeks.", "a@b")
        assert commentary(session, Q1) == {"PAY-5D": "Two late queries, both bank holiday weeks."}
        assert session.scalar(select(func.count()).select_from(KpiCommentary)) == 1
        assert audit_trail(session) == [
            (MANAGER, "sla comment", "PAY-5D 2026-27-Q1", {"text": "Two late queries in May."}),
            (
                "a@b",
                "sla comment",
                "PAY-5D 2026-27-Q1",
                {"text": "Two late queries, both bank holiday weeks."},
            ),
        ]


def test_refused_commentary_records_nothing(centre):
    with centre.transaction() as session:
        with pytest.raises(Refused, match="unknown KPI 'nope'"):
            set_commentary(session, Q1, "nope", "Fine.", MANAGER)
        with pytest.raises(Refused, match="the commentary is empty"):
            set_commentary(session, Q1, "PAY-5D", "   ", MANAGER)
        assert commentary(session, Q1) == {}
        assert audit_trail(session) == []


def test_a_quarters_commentary_is_saved_all_or_nothing_and_never_removed(centre):
    with centre.transaction() as session:
        set_commentary(session, Q1, "PAY-5D", "On target.", MANAGER)
        too_long = "x" * (COMMENTARY_LIMIT + 1)
        with pytest.raises(Refused) as refused:
            save_commentary(session, Q1, {"PAY-5D": "", "PAY-AVG": too_long}, MANAGER)
        assert [(p.column, p.message) for p in refused.value.problems] == [
            (
                "PAY-5D",
                "Enter the commentary on PAY-5D: saved commentary can be changed but not removed",
            ),
            ("PAY-AVG", "The commentary on PAY-AVG must be 5,000 characters or fewer"),
        ]
        with pytest.raises(Refused, match="5,000 characters or fewer"):
            set_commentary(session, Q1, "PAY-AVG", too_long, MANAGER)
        assert commentary(session, Q1) == {"PAY-5D": "On target."}

        changed = save_commentary(
            session, Q1, {"PAY-5D": " On target. ", "PAY-AVG": "Two errors."}, MANAGER
        )
        assert changed == ["PAY-AVG"]  # the same text, spaced differently, is no change
        assert commentary(session, Q1) == {"PAY-5D": "On target.", "PAY-AVG": "Two errors."}
