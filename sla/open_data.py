"""The quarters' final KPI results as open data, for every council and the whole centre:
only a finalised quarter, whose results are frozen and which every council may already
see in full (sla.visibility), never a provisional one.

Plain functions on a Session returning plain values; the page writes them as CSV and JSON
under the Open Government Licence (web/open_data.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from opsplatform.errors import Refused
from opsplatform.models import Client
from opsplatform.periods import Quarter
from opsplatform.vocabulary import KpiStatus
from sla.models import KpiResult
from sla.service import quarter_is_final, quarter_results


@dataclass(frozen=True)
class OpenResult:
    """A KPI's final result for a quarter, for a council or (council None) the whole centre."""

    quarter: Quarter
    kpi: str
    kpi_name: str
    council: str | None
    council_code: str | None
    value: Decimal | None
    unit: str
    target: Decimal
    status: str  # a KpiStatus' label
    target_set_by: str


def final_quarters(session: Session) -> list[Quarter]:
    """The finalised quarters, the latest first."""
    quarters = session.scalars(select(KpiResult.quarter).distinct())
    return sorted((Quarter.parse(q) for q in quarters), reverse=True)


def open_results(session: Session, quarter: Quarter) -> list[OpenResult]:
    """`quarter`'s final results, by KPI with the whole centre's first; refused unless the
    quarter is final."""
    if not quarter_is_final(session, quarter):
        raise Refused(f"{quarter.short_label} is not final")
    names = dict(session.execute(select(Client.code, Client.name)).all())
    return [
        OpenResult(
            quarter=quarter,
            kpi=r.kpi.code,
            kpi_name=r.kpi.name,
            council=names[r.client] if r.client else None,
            council_code=r.client,
            value=None if r.measure.value is None else round(r.measure.value, 2),
            unit=r.kpi.unit,
            target=r.target.normalize(),
            status=KpiStatus(r.status).label,
            target_set_by=r.target_set_by,
        )
        for r in quarter_results(session, quarter)
    ]
