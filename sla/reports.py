"""The latest quarter's KPI statuses by client, what the manager's figures come from, and
what waits for a manager at the quarter end.

Plain functions on a Session that return plain values, which outlive the session; the
pages choose the words and colours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing.models import Statement, StatementLine, StatementQuery
from opsplatform.models import AuditEvent, Client, ImportBatch, Kpi, KpiFigure, UsageEvent
from opsplatform.periods import LONDON, Month, Quarter
from opsplatform.vocabulary import KpiStatus
from sla.models import KpiCommentary, KpiResult
from sla.service import quarter_is_final, quarter_results


def latest_kpi_quarter(session: Session) -> Quarter | None:
    """The latest quarter with something to assess: frozen results, submitted figures or
    completed events of a KPI's service. None when there are none (or no KPIs)."""
    found: list[Quarter] = []
    frozen = session.scalar(select(func.max(KpiResult.quarter)))
    if frozen:
        found.append(Quarter.parse(frozen))
    figures = session.scalar(select(func.max(KpiFigure.month)))
    if figures:
        found.append(Month.parse(figures).quarter)
    services = session.scalars(select(Kpi.service_id).where(Kpi.service_id.is_not(None)).distinct())
    latest = [  # one service at a time, so that ix_usage_timed answers each at once
        session.scalar(
            select(func.max(UsageEvent.completed_at)).where(
                UsageEvent.service_id == service_id, UsageEvent.started_at.is_not(None)
            )
        )
        for service_id in services.all()
    ]
    completed = max((moment for moment in latest if moment is not None), default=None)
    if completed is not None:
        found.append(Month.of(completed.astimezone(LONDON).date()).quarter)
    return max(found) if found else None


@dataclass(frozen=True)
class KpiCell:
    """A KPI's result for one client, or the whole centre: its status and value."""

    status: str  # a KpiStatus
    value: Decimal | None  # in the KPI's unit; None when nothing was measured


@dataclass(frozen=True)
class KpiRow:
    """A KPI and its cells by client code, the whole centre's under None."""

    code: str
    name: str
    unit: str
    cells: dict[str | None, KpiCell]


@dataclass(frozen=True)
class KpiMatrix:
    """KPI x client statuses for one quarter, with the whole centre's first, and how many
    of the clients' results are at each status."""

    quarter: Quarter
    final: bool
    clients: list[tuple[str, str]]  # (code, name) of every client with a result
    rows: list[KpiRow]
    counts: dict[str, int] = field(default_factory=dict)  # by status, in KpiStatus' order


def kpi_matrix(session: Session) -> KpiMatrix | None:
    """The statuses of the latest quarter with something to assess (final where it has
    been finalised, else provisional). None when there is no such quarter."""
    quarter = latest_kpi_quarter(session)
    if quarter is None:
        return None
    results = quarter_results(session, quarter)  # no quarters to compare with
    if not results:
        return None
    names = dict(session.execute(select(Client.code, Client.name)).all())
    codes = sorted({r.client for r in results if r.client is not None})
    rows: dict[str, KpiRow] = {}
    counts: dict[str, int] = dict.fromkeys(KpiStatus, 0)
    for r in results:
        row = rows.setdefault(r.kpi.code, KpiRow(r.kpi.code, r.kpi.name, r.kpi.unit, {}))
        row.cells[r.client] = KpiCell(r.status, r.measure.value)
        if r.client is not None:
            counts[r.status] += 1
    return KpiMatrix(
        quarter=quarter,
        final=any(r.final for r in results),
        clients=[(c, names.get(c, c)) for c in codes],
        rows=list(rows.values()),
        counts=counts,
    )


TREND_QUARTERS = 4


@dataclass(frozen=True)
class KpiTrendRow:
    """A KPI over quarters: the whole centre's value in each (None where nothing was
    measured), and how many of the clients' results met the target (were green), of how
    many (None where there were none)."""

    code: str
    name: str
    unit: str
    centre: list[Decimal | None]
    met: list[tuple[int, int] | None]


@dataclass(frozen=True)
class KpiTrend:
    """The KPIs over the TREND_QUARTERS quarters to the matrix's, oldest first."""

    quarters: list[Quarter]
    rows: list[KpiTrendRow]


def kpi_trend(session: Session, latest: KpiMatrix) -> KpiTrend:
    """Every KPI of the latest matrix over the quarters to its quarter: the matrix's own
    figures for that quarter, and earlier quarters' final results (or as measured now,
    for a quarter never finalised)."""
    quarters = [latest.quarter]
    while len(quarters) < TREND_QUARTERS:
        quarters.insert(0, quarters[0].previous())
    cells: dict[str, list[dict[str | None, KpiCell]]] = {
        row.code: [{} for _ in quarters] for row in latest.rows
    }
    for i, quarter in enumerate(quarters[:-1]):
        for r in quarter_results(session, quarter):
            if r.kpi.code in cells:
                cells[r.kpi.code][i][r.client] = KpiCell(r.status, r.measure.value)
    rows = []
    for row in latest.rows:
        by_quarter = cells[row.code]
        by_quarter[-1] = row.cells
        centre = [found[None].value if None in found else None for found in by_quarter]
        met = [
            (sum(c.status == KpiStatus.GREEN for c in clients), len(clients)) if clients else None
            for clients in ([c for k, c in found.items() if k is not None] for found in by_quarter)
        ]
        rows.append(KpiTrendRow(row.code, row.name, row.unit, centre, met))
    return KpiTrend(quarters, rows)


def data_version(session: Session) -> tuple[object, ...]:
    """What billing.reports' comparison and paperwork measures and this module's KPI matrix
    are computed from, told by a few index look-ups: the newest usage event, statement,
    statement line, query, KPI result and figure, the latest revert, issue and answer, and
    the newest audit entry (every setup load, KPI change and import is audited). Any
    change to the data they come from changes one of them."""
    newest = (
        func.max(UsageEvent.id),
        func.max(ImportBatch.reverted_at),
        func.max(Statement.id),
        func.max(Statement.issued_at),
        func.max(StatementLine.id),
        func.max(StatementQuery.id),
        func.max(StatementQuery.answered_at),
        func.max(KpiResult.id),
        func.max(KpiFigure.id),
        func.max(AuditEvent.id),
    )
    return tuple(session.execute(select(*(select(m).scalar_subquery() for m in newest))).one())


@dataclass(frozen=True)
class QuarterWaiting:
    """The latest quarter that has ended, as a manager's work on it stands: whether it is
    final, and how many KPIs have commentary for it."""

    quarter: Quarter
    final: bool
    kpis: int
    commented: int

    @property
    def commentary_missing(self) -> int:
        return self.kpis - self.commented


def quarter_progress(session: Session, quarter: Quarter) -> QuarterWaiting | None:
    """How a manager's work on `quarter` stands, told by index look-ups and counts over the
    KPIs and their commentary (never by measuring the quarter). None while there are no
    KPIs."""
    kpis = session.scalar(select(func.count(Kpi.id))) or 0
    if not kpis:
        return None
    commented = session.scalar(
        select(func.count(KpiCommentary.id)).where(KpiCommentary.quarter == str(quarter))
    )
    return QuarterWaiting(quarter, quarter_is_final(session, quarter), kpis, commented or 0)


def quarter_waiting(session: Session, today: date) -> QuarterWaiting | None:
    """What waits for a manager on the home page: the latest quarter that ended before
    `today`, as `quarter_progress` tells it."""
    return quarter_progress(session, Month.of(today).quarter.previous())
