"""The quarterly performance publication: a workbook a council can put before its members.

A summary of statuses, every KPI for the whole centre with its trend, a client-by-KPI
matrix, and real Excel charts: each KPI over the last five quarters, and each client
against target. Status cells are coloured and also spelled out.
"""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.styles import Font, PatternFill
from sqlalchemy.orm import Session

from opsplatform.periods import Quarter
from opsplatform.settings import centre_settings
from opsplatform.workbooks import write_cell, write_table
from sla.service import Result, assess_quarter

STATUS_TEXT = {
    "green": "Green: on target",
    "amber": "Amber: near target",
    "red": "Red: off target",
    "no_data": "No data",
}
STATUS_FILL = {"green": "C6EFCE", "amber": "FFEB9C", "red": "FFC7CE", "no_data": "EDEDED"}
HISTORY = 5


def _value(result: Result | None) -> float | None:
    if result is None or result.measure.value is None:
        return None
    return float(round(result.measure.value, 2))


def _trend(now: Result, before: Result | None) -> str:
    if before is None or now.measure.value is None or before.measure.value is None:
        return "no comparison"
    change = now.measure.value - before.measure.value
    if change == 0:
        return "→ unchanged"
    better = change > 0 if now.kpi.direction == "higher" else change < 0
    return (
        ("▲ improving" if change > 0 else "▼ improving")
        if better
        else ("▲ worsening" if change > 0 else "▼ worsening")
    )


def _paint(cell, status: str) -> None:
    cell.fill = PatternFill("solid", fgColor=STATUS_FILL[status])


def write_publication(session: Session, quarter: Quarter, path: Path) -> None:
    """Write the publication for `quarter` (final results where the quarter is final)."""
    quarters = [quarter]
    for _ in range(HISTORY - 1):
        quarters.insert(0, quarters[0].previous())
    last_year = Quarter(quarter.year.previous(), quarter.number)
    history = {q: {(r.kpi.code, r.client): r for r in assess_quarter(session, q)} for q in quarters}
    year_ago = {(r.kpi.code, r.client): r for r in assess_quarter(session, last_year)}
    now = history[quarter]
    before = history[quarters[-2]]
    centre = [r for r in now.values() if r.client is None]
    settings = centre_settings(session)
    book = Workbook()

    summary = book.active
    summary.title = "Summary"
    write_cell(summary, 1, 1, f"{settings.centre_name}: performance report, {quarter}").font = Font(
        bold=True, size=14
    )
    months = quarter.months()
    write_cell(
        summary,
        2,
        1,
        f"{months[0].first_day:%B %Y} to {months[-1].first_day:%B %Y}; "
        + ("final results." if any(r.final for r in centre) else "provisional results."),
    )
    counts = [[STATUS_TEXT[s], sum(1 for r in centre if r.status == s)] for s in STATUS_TEXT]
    write_table(summary, ["status", "KPIs"], counts, start_row=4, widths=[30, 10])
    for row, status in enumerate(STATUS_TEXT, start=5):
        _paint(summary.cell(row=row, column=1), status)

    kpis = book.create_sheet("KPIs")
    rows = [
        [
            r.kpi.code,
            r.kpi.name,
            r.kpi.unit,
            f"{r.kpi.direction} is better",
            _value(r),
            float(r.target),
            float(r.amber),
            STATUS_TEXT[r.status],
            _value(before.get((r.kpi.code, None))),
            _trend(r, before.get((r.kpi.code, None))),
            _value(year_ago.get((r.kpi.code, None))),
            r.measure.events,
        ]
        for r in centre
    ]
    write_table(
        kpis,
        [
            "code",
            "KPI",
            "unit",
            "direction",
            str(quarter),
            "target",
            "amber",
            "status",
            str(quarters[-2]),
            "trend",
            str(last_year),
            "events or figures",
        ],
        rows,
        widths=[12, 48, 10, 18, 12, 10, 10, 22, 12, 16, 12, 12],
    )
    for row, r in enumerate(centre, start=2):
        _paint(kpis.cell(row=row, column=8), r.status)

    clients = sorted({r.client for r in now.values() if r.client})
    matrix = book.create_sheet("By client")
    codes = [r.kpi.code for r in centre]
    body = []
    for client in clients:
        line = [client]
        for code in codes:
            r = now.get((code, client))
            line += [_value(r), STATUS_TEXT[r.status] if r else "not measured"]
        body.append(line)
    headers = ["client"] + [f"{c} {part}" for c in codes for part in ("value", "status")]
    write_table(matrix, headers, body, widths=[12] + [14, 22] * len(codes))
    for row, client in enumerate(clients, start=2):
        for index, code in enumerate(codes):
            r = now.get((code, client))
            if r is not None:
                _paint(matrix.cell(row=row, column=3 + 2 * index), r.status)

    _charts(book, quarters, history, centre, clients)
    book.save(path)


def _charts(book, quarters, history, centre, clients) -> None:
    """A data sheet and, per KPI, a trend line over the quarters and a bar chart of clients."""
    data = book.create_sheet("Chart data")
    charts = book.create_sheet("Charts")
    row = 1
    anchor = 1
    for r in centre:
        code = r.kpi.code
        write_cell(data, row, 1, f"{code} by quarter").font = Font(bold=True)
        write_cell(data, row + 1, 1, "quarter")
        write_cell(data, row + 1, 2, code)
        write_cell(data, row + 1, 3, "target")
        for offset, q in enumerate(quarters, start=2):
            write_cell(data, row + offset, 1, str(q))
            write_cell(data, row + offset, 2, _value(history[q].get((code, None))))
            write_cell(data, row + offset, 3, float(r.target))
        line = LineChart()
        line.title = f"{r.kpi.name}: trend"
        line.y_axis.title = r.kpi.unit
        line.add_data(
            Reference(data, min_col=2, max_col=3, min_row=row + 1, max_row=row + 1 + len(quarters)),
            titles_from_data=True,
        )
        line.set_categories(
            Reference(data, min_col=1, min_row=row + 2, max_row=row + 1 + len(quarters))
        )
        charts.add_chart(line, f"A{anchor}")
        row += len(quarters) + 3
        write_cell(data, row, 1, f"{code} by client").font = Font(bold=True)
        write_cell(data, row + 1, 1, "client")
        write_cell(data, row + 1, 2, code)
        write_cell(data, row + 1, 3, "target")
        for offset, client in enumerate(clients, start=2):
            result = history[quarters[-1]].get((code, client))
            write_cell(data, row + offset, 1, client)
            write_cell(data, row + offset, 2, _value(result))
            write_cell(data, row + offset, 3, float(result.target if result else r.target))
        bar = BarChart()
        bar.title = f"{r.kpi.name}: clients against target"
        bar.add_data(
            Reference(data, min_col=2, max_col=3, min_row=row + 1, max_row=row + 1 + len(clients)),
            titles_from_data=True,
        )
        bar.set_categories(
            Reference(data, min_col=1, min_row=row + 2, max_row=row + 1 + len(clients))
        )
        charts.add_chart(bar, f"K{anchor}")
        row += len(clients) + 3
        anchor += 16
