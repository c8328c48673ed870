"""The quarterly performance publication: a workbook a council can put before its members.

A summary of statuses with the managers' headline commentary; every KPI for the
whole centre with its trend, last year's value and the change since the pre-sharing
baseline; a client-by-KPI matrix; cost per transaction; and real Excel charts (each
KPI over the last five quarters, each client against target). Status cells are
coloured and also spelled out, because colour alone is not accessible.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from openpyxl import Workbook
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import select
from sqlalchemy.orm import Session

from opsplatform.audit import record
from opsplatform.errors import Refused
from opsplatform.models import AuditEvent
from opsplatform.notify import link, queue, staff
from opsplatform.periods import Quarter
from opsplatform.settings import centre_settings
from opsplatform.vocabulary import KpiStatus
from opsplatform.workbooks import CellValue, active_sheet, write_cell, write_table
from sla.commentary import commentary
from sla.service import (
    Result,
    baselines,
    quarter_is_final,
    quarter_values,
    unit_costs,
    visible_results,
)
from sla.visibility import STAFF, Audience

# each status's tag colour (opsplatform.vocabulary) as a light cell fill that black text reads on
FILLS = {"green": "C6EFCE", "orange": "F8CBAD", "red": "FFC7CE", "grey": "EDEDED"}
HISTORY = 5


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(round(value, 2))


def trend(result: Result) -> str:
    """An arrow and a word: which way the value moved since last quarter, and whether that is good."""
    now, before = result.measure.value, result.previous
    if now is None or before is None:
        return "no comparison"
    if now == before:
        return "→ unchanged"
    arrow = "▲" if now > before else "▼"
    better = (now > before) == (result.kpi.direction == "higher")
    return f"{arrow} {'improving' if better else 'worsening'}"


def _paint(ws: Worksheet, row: int, column: int, status: str) -> None:
    fill = FILLS[KpiStatus(status).colour]
    ws.cell(row=row, column=column).fill = PatternFill("solid", fgColor=fill)


def _title(ws: Worksheet, text: str, subtitle: str) -> None:
    write_cell(ws, 1, 1, text).font = Font(bold=True, size=14)
    write_cell(ws, 2, 1, subtitle)


def write_publication(
    session: Session, quarter: Quarter, path: Path, audience: Audience = STAFF
) -> None:
    """Write the publication for `quarter` (final results where the quarter is final), as
    far as `audience` may see it: a council reads others' figures only once it is final.
    One sheet each: summary, the centre's KPIs, each client's, cost per transaction, and
    the trend charts."""
    results = visible_results(session, quarter, audience)
    centre = [r for r in results if r.client is None]
    notes = commentary(session, quarter)
    book = Workbook()
    _summary_sheet(book, session, quarter, centre, notes, audience)
    _kpis_sheet(book, centre, notes, baselines(session))
    by_client = {(r.kpi.code, r.client): r for r in results if r.client}
    clients = sorted({r.client for r in results if r.client})
    _by_client_sheet(book, [r.kpi.code for r in centre], clients, by_client)
    _costs_sheet(book, session, quarter, audience)
    quarters = [quarter]
    for _ in range(HISTORY - 1):
        quarters.insert(0, quarters[0].previous())
    history = {q: quarter_values(session, q) for q in quarters[:-1]}
    history[quarter] = {
        (r.kpi.code, r.client): r.measure.value for r in results if r.measure.value is not None
    }
    _charts(book, quarters, history, centre, clients, by_client)
    book.save(path)


def _summary_sheet(
    book: Workbook,
    session: Session,
    quarter: Quarter,
    centre: list[Result],
    notes: dict[str, str],
    audience: Audience,
) -> None:
    """How many of the centre's KPIs are at each status, and the managers' headlines."""
    months = quarter.months()
    final = any(r.final for r in centre)
    state = "final results" if final else "provisional results"
    period = f"{quarter}: {months[0].label} to {months[-1].label}, {state}"
    summary = active_sheet(book)
    summary.title = "Summary"
    _title(summary, f"{centre_settings(session).centre_name}: performance report", period)
    if not final and not audience.staff:
        write_cell(summary, 3, 1, "Other councils' figures are shown once the quarter is final.")
    counts: list[list[CellValue]] = [
        [s.label, sum(1 for r in centre if r.status == s)] for s in KpiStatus
    ]
    write_table(summary, ["status", "KPIs"], counts, start_row=4, widths=[30, 10, 90])
    for row, status in enumerate(KpiStatus, start=5):
        _paint(summary, row, 1, status)
    headlines = [[r.kpi.code, r.kpi.name, notes[r.kpi.code]] for r in centre if r.kpi.code in notes]
    if headlines:
        write_table(
            summary, ["KPI", "name", "commentary"], headlines, start_row=11, widths=[30, 40, 90]
        )
        summary.freeze_panes = None


KPI_HEADERS = [
    "code",
    "KPI",
    "unit",
    "direction",
    "value",
    "target",
    "amber",
    "status",
    "previous quarter",
    "trend",
    "same quarter last year",
    "baseline before sharing",
    "baseline period",
    "change since baseline",
    "events or figures",
    "commentary",
]


def _kpis_sheet(
    book: Workbook,
    centre: list[Result],
    notes: dict[str, str],
    before_sharing: dict[tuple[str, str | None], tuple[Decimal, str | None]],
) -> None:
    """The whole centre's result for each KPI, against target, last quarter, last year and
    the baseline before sharing."""
    kpis = book.create_sheet("KPIs")
    rows = []
    for r in centre:
        baseline = before_sharing.get((r.kpi.code, None))
        change = (
            r.measure.value - baseline[0]
            if baseline is not None and r.measure.value is not None
            else None
        )
        rows.append(
            [
                r.kpi.code,
                r.kpi.name,
                r.kpi.unit,
                f"{r.kpi.direction} is better",
                _float(r.measure.value),
                float(r.target),
                float(r.amber),
                KpiStatus(r.status).label,
                _float(r.previous),
                trend(r),
                _float(r.last_year),
                _float(baseline[0]) if baseline else None,
                baseline[1] if baseline else None,
                _float(change),
                r.measure.events,
                notes.get(r.kpi.code, ""),
            ]
        )
    write_table(
        kpis,
        KPI_HEADERS,
        rows,
        widths=[12, 44, 10, 18, 10, 10, 10, 22, 12, 16, 12, 12, 12, 12, 12, 70],
    )
    for row, r in enumerate(centre, start=2):
        _paint(kpis, row, 8, r.status)
        kpis.cell(row=row, column=16).alignment = Alignment(wrap_text=True, vertical="top")


def _by_client_sheet(
    book: Workbook,
    codes: list[str],
    clients: list[str],
    by_client: dict[tuple[str, str], Result],
) -> None:
    """Each client's value and status for each KPI, one row per client."""
    matrix = book.create_sheet("By client")
    body = []
    for client in clients:
        line: list[CellValue] = [client]
        for code in codes:
            found = by_client.get((code, client))
            line += [
                _float(found.measure.value) if found else None,
                KpiStatus(found.status).label if found else "not measured",
            ]
        body.append(line)
    headers = ["client"] + [f"{c} {part}" for c in codes for part in ("value", "status")]
    write_table(matrix, headers, body, widths=[12] + [14, 22] * len(codes))
    for row, client in enumerate(clients, start=2):
        for index, code in enumerate(codes):
            if (code, client) in by_client:
                _paint(matrix, row, 3 + 2 * index, by_client[(code, client)].status)


def _costs_sheet(book: Workbook, session: Session, quarter: Quarter, audience: Audience) -> None:
    """Charges per unit of each service, for the centre and each client `audience` may see."""
    costs = book.create_sheet("Cost per transaction")
    write_table(
        costs,
        ["service", "unit", "client", "charges", "units", "cost per unit"],
        [
            [
                c["service"],
                c["unit"],
                c["client"] or "whole centre",
                Decimal(c["charges"]),
                c["units"],
                c["cost_per_unit"],
            ]
            for c in unit_costs(session, quarter, audience)
        ],
        money_columns=(3, 5),
        widths=[10, 12, 16, 16, 12, 14],
    )


def publication_ready(session: Session, quarter: str, filename: str) -> int:
    """Tell the centre's managers that a quarter's draft performance publication is ready."""
    body = (
        f"The KPI results for {quarter} have been assessed and the draft performance "
        f"publication ({filename}) is ready.\n\n"
        f"Review the results and write the commentary: "
        f"{link(f'/performance/{quarter}/commentary')}"
    )
    subject = f"Performance publication for {quarter} ready to review"
    return queue(session, "publication_ready", staff(session, "admin", "manager"), subject, body)


def _charts(
    book: Workbook,
    quarters: list[Quarter],
    history: dict[Quarter, dict[tuple[str, str | None], Decimal]],
    centre: list[Result],
    clients: list[str],
    by_client: dict[tuple[str, str], Result],
) -> None:
    """A data sheet and, per KPI, a trend line over the quarters and a bar chart of clients."""
    data = book.create_sheet("Chart data")
    charts = book.create_sheet("Charts")
    row, anchor = 1, 1
    for r in centre:
        code = r.kpi.code
        series = [[str(q), _float(history[q].get((code, None))), float(r.target)] for q in quarters]
        last = _series(data, row, f"{code} by quarter", ["quarter", code, "target"], series)
        line = LineChart()
        line.title = f"{r.kpi.name}: trend"
        line.y_axis.title = r.kpi.unit
        _plot(line, data, row + 1, last)
        charts.add_chart(line, f"A{anchor}")
        row = last + 2
        series = [
            [
                client,
                _float(by_client[(code, client)].measure.value)
                if (code, client) in by_client
                else None,
                float(
                    by_client[(code, client)].target if (code, client) in by_client else r.target
                ),
            ]
            for client in clients
        ]
        last = _series(data, row, f"{code} by client", ["client", code, "target"], series)
        bar = BarChart()
        bar.title = f"{r.kpi.name}: clients against target"
        _plot(bar, data, row + 1, last)
        charts.add_chart(bar, f"K{anchor}")
        row = last + 2
        anchor += 16


def _series(
    ws: Worksheet, row: int, title: str, headers: list[str], rows: Sequence[Sequence[CellValue]]
) -> int:
    """A titled block of chart data; returns its last row."""
    write_cell(ws, row, 1, title).font = Font(bold=True)
    for column, name in enumerate(headers, start=1):
        write_cell(ws, row + 1, column, name)
    for offset, values in enumerate(rows, start=2):
        for column, value in enumerate(values, start=1):
            write_cell(ws, row + offset, column, value)
    return row + 1 + len(rows)


def _plot(chart: LineChart | BarChart, ws: Worksheet, header_row: int, last_row: int) -> None:
    chart.add_data(
        Reference(ws, min_col=2, max_col=3, min_row=header_row, max_row=last_row),
        titles_from_data=True,
    )
    chart.set_categories(Reference(ws, min_col=1, min_row=header_row + 1, max_row=last_row))


PUBLISH = "sla publish"  # the audit action that marks a quarter published


def publish_quarter(session: Session, quarter: Quarter, actor: str) -> None:
    """Mark `quarter`'s publication published, as `actor`: there is no state of its own, so
    publishing is an audit entry (the workbook itself is always written afresh from the
    frozen results). Only a final quarter is published."""
    if not quarter_is_final(session, quarter):
        raise Refused(
            f"{quarter} is not final: finalise it first, so that the publication shows "
            "results that will not change"
        )
    record(session, actor, PUBLISH, str(quarter))


def publications(session: Session, quarter: Quarter) -> list[tuple[str, datetime]]:
    """Who published `quarter`, and when, oldest first."""
    rows = session.execute(
        select(AuditEvent.actor, AuditEvent.at)
        .where(AuditEvent.action == PUBLISH, AuditEvent.subject == str(quarter))
        .order_by(AuditEvent.id)
    )
    return [(actor, at) for actor, at in rows]
