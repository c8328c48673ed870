"""The quarterly performance publication: a workbook a council can put before its members.

A summary with each KPI's result, target, status, trend and the managers' commentary
beside it; every KPI for the whole centre against last quarter, last year and the
pre-sharing baseline; a council-by-KPI matrix; cost per transaction; and real Excel
charts (each KPI over the last five quarters, each council against target). Councils and
services go by name, quarters in words, values rounded in their units (%, days, £).
Status cells are coloured and also spelled out, because colour alone is not accessible;
every chart has alt text (a title and a description giving its figures). Every sheet
prints on landscape A4, one page wide; each KPI's two charts print whole on a page of
their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from openpyxl import Workbook
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.chart.axis import ChartLines
from openpyxl.chart.marker import Marker
from openpyxl.chart.shapes import GraphicalProperties
from openpyxl.drawing.line import LineProperties
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.pagebreak import Break
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import select
from sqlalchemy.orm import Session

from opsplatform.audit import record
from opsplatform.errors import Refused
from opsplatform.models import AuditEvent, Client, Service
from opsplatform.notify import link, queue, staff
from opsplatform.periods import Quarter
from opsplatform.settings import centre_settings
from opsplatform.vocabulary import KpiStatus
from opsplatform.workbooks import (
    CellValue,
    active_sheet,
    describe_charts,
    fit_row_height,
    fit_to_width,
    write_cell,
    write_table,
)
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
# a KPI's values as people read them: rounded, in their unit
UNIT_FORMATS = {"percent": '0.0"%"', "days": '0.0" days"', "seconds": '#,##0" seconds"'}
UNIT_WORDS = {"percent": "per cent", "days": "days", "seconds": "seconds"}
COST_FORMAT = '"£"#,##0.00'  # a cost per unit, to the penny
WRAP = Alignment(wrap_text=True, vertical="top")
INDENTED = Alignment(horizontal="left", wrap_text=True, vertical="top", indent=1)
BLUE, TEXT = "1D70B8", "0B0C0C"  # GOV.UK's blue and text colours
CHART_ROWS = 32  # a heading and a chart, on a landscape page of their own
CHART_WIDTH = 25  # centimetres: a landscape page's width, with the margins
CHART_HEIGHT = 15


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(round(value, 2))


def _unit_format(unit: str) -> str:
    return UNIT_FORMATS.get(unit, "#,##0.0")


def value_text(value: Decimal | float | None, unit: str) -> str:
    """A value as the charts' descriptions say it: `97.6%`, `18.2 days`, `no data`."""
    if value is None:
        return "no data"
    number = f"{float(value):,.1f}"
    return {"percent": f"{number}%", "days": f"{number} days"}.get(unit, number)


def trend(result: Result) -> str:
    """An arrow and a word: which way the value moved since last quarter, and whether that
    is good. A figure to date (`as_at`) is compared with the same quarter last year instead,
    as last quarter's was taken earlier in the year (30% collected by June, 56% by
    September, is no improvement)."""
    to_date = result.kpi.method == "as_at"
    now, before = result.measure.value, result.last_year if to_date else result.previous
    if now is None or before is None:
        return "no comparison"
    if now == before:
        moved = "→ unchanged"
    else:
        better = (now > before) == (result.kpi.direction == "higher")
        moved = f"{'▲' if now > before else '▼'} {'improving' if better else 'worsening'}"
    return f"{moved} on last year" if to_date else moved


@dataclass(frozen=True)
class Names:
    """Councils' and services' names by code, for headings people read."""

    clients: dict[str, str]
    services: dict[str, str]

    @classmethod
    def of(cls, session: Session) -> Names:
        clients = session.execute(select(Client.code, Client.name))
        services = session.execute(select(Service.code, Service.name))
        return cls({code: name for code, name in clients}, {code: name for code, name in services})


def paint_status(ws: Worksheet, row: int, column: int, status: str) -> None:
    """Fill a status cell with its colour, its words kept clear of the figure to its left."""
    fill = FILLS[KpiStatus(status).colour]
    ws.cell(row=row, column=column).fill = PatternFill("solid", fgColor=fill)
    ws.cell(row=row, column=column).alignment = INDENTED


def write_title(ws: Worksheet, text: str, subtitle: str) -> None:
    write_cell(ws, 1, 1, text).font = Font(bold=True, size=14)
    write_cell(ws, 2, 1, subtitle)


def _top(ws: Worksheet, row: int, columns: int) -> None:
    """Align `row`'s first `columns` cells to the top, wrapping text, so that a row made tall
    for its commentary reads across from its first line."""
    for column in range(1, columns + 1):
        ws.cell(row=row, column=column).alignment = WRAP


def _in_unit(ws: Worksheet, row: int, columns: Sequence[int], unit: str) -> None:
    """Show the values of `row` in `columns` rounded, in the KPI's unit."""
    for column in columns:
        ws.cell(row=row, column=column).number_format = _unit_format(unit)


def write_publication(
    session: Session, quarter: Quarter, path: Path, audience: Audience = STAFF
) -> None:
    """Write the publication for `quarter` (final results where the quarter is final), as
    far as `audience` may see it: a council reads others' figures only once it is final.
    One sheet each: summary, the centre's KPIs, each council's, cost per transaction, the
    charts and the figures they draw."""
    results = visible_results(session, quarter, audience)
    centre = [r for r in results if r.client is None]
    notes = commentary(session, quarter)
    names = Names.of(session)
    book = Workbook()
    _summary_sheet(book, session, quarter, centre, notes, audience)
    _kpis_sheet(book, centre, notes, baselines(session))
    by_client = {(r.kpi.code, r.client): r for r in results if r.client}
    clients = sorted({r.client for r in results if r.client}, key=lambda c: names.clients[c])
    _by_client_sheet(book, centre, clients, by_client, names)
    _costs_sheet(book, session, quarter, audience, names)
    quarters, history = recent_history(session, quarter, results)
    described = _charts(book, quarters, history, centre, clients, by_client, names)
    for sheet in book.worksheets:
        fit_to_width(sheet)
    book.save(path)
    describe_charts(path, described)


def recent_history(
    session: Session, quarter: Quarter, results: list[Result]
) -> tuple[list[Quarter], dict[Quarter, dict[tuple[str, str | None], Decimal]]]:
    """The last HISTORY quarters up to `quarter`, oldest first, and each one's values by
    (KPI code, client code or None): `quarter`'s from `results`, as the audience sees it."""
    quarters = [quarter]
    for _ in range(HISTORY - 1):
        quarters.insert(0, quarters[0].previous())
    history = {q: quarter_values(session, q) for q in quarters[:-1]}
    history[quarter] = {
        (r.kpi.code, r.client): r.measure.value for r in results if r.measure.value is not None
    }
    return quarters, history


def _summary_sheet(
    book: Workbook,
    session: Session,
    quarter: Quarter,
    centre: list[Result],
    notes: dict[str, str],
    audience: Audience,
) -> None:
    """How many of the centre's KPIs are at each status, then each KPI's result with the
    managers' commentary beside it."""
    final = any(r.final for r in centre)
    state = "final results" if final else "provisional results, which may still change"
    summary = active_sheet(book)
    summary.title = "Summary"
    write_title(
        summary,
        f"{centre_settings(session).centre_name}: performance report",
        f"{quarter.label}: {state}",
    )
    if not final and not audience.staff:
        write_cell(summary, 3, 1, "Other councils' figures are shown once the quarter is final.")
    counts: list[list[CellValue]] = [
        [s.label, sum(1 for r in centre if r.status == s)] for s in KpiStatus
    ]
    widths = [46, 14, 14, 20, 16, 70]
    write_table(summary, ["Status", "KPIs"], counts, start_row=4, widths=widths)
    for row, status in enumerate(KpiStatus, start=5):
        paint_status(summary, row, 1, status)
    start = 4 + len(counts) + 2
    headers = [
        "KPI (whole centre)",
        "Result",
        "Target",
        "Status",
        "Since last quarter",
        "Commentary",
    ]
    write_table(
        summary,
        headers,
        [
            [
                r.kpi.name,
                _float(r.measure.value),
                float(r.target),
                KpiStatus(r.status).label,
                trend(r),
                notes.get(r.kpi.code, ""),
            ]
            for r in centre
        ],
        start_row=start,
        widths=widths,
    )
    fit_row_height(summary, start, zip(headers, widths, strict=True))
    for row, r in enumerate(centre, start=start + 1):
        _in_unit(summary, row, (2, 3), r.kpi.unit)
        _top(summary, row, 6)
        paint_status(summary, row, 4, r.status)
        fit_row_height(summary, row, [(r.kpi.name, 46), (notes.get(r.kpi.code, ""), 70)])
    summary.freeze_panes = None
    summary.auto_filter.ref = None


KPI_HEADERS = [
    "KPI",
    "code",
    "better when",
    "value",
    "target",
    "amber",
    "target set by",
    "status",
    "previous quarter",
    "trend",
    "same quarter last year",
    "baseline before sharing",
    "baseline period",
    "change since baseline",
    "cases measured",
    "commentary",
]
KPI_WIDTHS = [48, 10, 10, 10, 10, 10, 16, 20, 11, 14, 11, 11, 10, 11, 10, 50]
VALUE_COLUMNS = (4, 5, 6, 9, 11, 12, 14)  # columns of KPI_HEADERS (from 1) in the KPI's unit


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
                r.kpi.name,
                r.kpi.code,
                r.kpi.direction,
                _float(r.measure.value),
                float(r.target),
                float(r.amber),
                r.target_set_by[:1].upper() + r.target_set_by[1:],
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
    write_table(kpis, KPI_HEADERS, rows, widths=KPI_WIDTHS)
    fit_row_height(kpis, 1, zip(KPI_HEADERS, KPI_WIDTHS, strict=True))
    for row, r in enumerate(centre, start=2):
        _in_unit(kpis, row, VALUE_COLUMNS, r.kpi.unit)
        _top(kpis, row, len(KPI_HEADERS))
        paint_status(kpis, row, 8, r.status)
        fit_row_height(kpis, row, [(r.kpi.name, 48), (notes.get(r.kpi.code, ""), 50)])


def _by_client_sheet(
    book: Workbook,
    centre: list[Result],
    clients: list[str],
    by_client: dict[tuple[str, str], Result],
    names: Names,
) -> None:
    """Each council's value and status for each KPI, one row per council."""
    matrix = book.create_sheet("By client")
    body = []
    for client in clients:
        line: list[CellValue] = [names.clients[client]]
        for r in centre:
            found = by_client.get((r.kpi.code, client))
            line += [
                _float(found.measure.value) if found else None,
                KpiStatus(found.status).label if found else "not measured",
            ]
        body.append(line)
    headers = ["council"] + [
        f"{r.kpi.name}: {part}" for r in centre for part in ("value", "status")
    ]
    widths = [30] + [14, 18] * len(centre)
    write_table(matrix, headers, body, widths=widths)
    fit_row_height(matrix, 1, zip(headers, widths, strict=True))
    for row, client in enumerate(clients, start=2):
        for index, r in enumerate(centre):
            _in_unit(matrix, row, (2 + 2 * index,), r.kpi.unit)
            if (r.kpi.code, client) in by_client:
                paint_status(matrix, row, 3 + 2 * index, by_client[(r.kpi.code, client)].status)


def _costs_sheet(
    book: Workbook, session: Session, quarter: Quarter, audience: Audience, names: Names
) -> None:
    """Charges per unit of each service, for the centre and each council `audience` may see,
    beside what a unit actually cost (from the cost ledger) and, for the whole centre, what
    it cost before sharing and what sharing saved: shown from the figures, not claimed."""
    costs = book.create_sheet("Cost per transaction")
    found = unit_costs(session, quarter, audience)

    def amount(value: str | None) -> Decimal | None:
        return None if value is None else Decimal(value)

    headers = [
        "service",
        "unit",
        "council",
        "charges",
        "units",
        "charge per unit",
        "actual cost per unit",
        "cost per unit before sharing",
        "before sharing: when",
        "saved by sharing this quarter",
    ]
    widths = [36, 14, 36, 16, 12, 14, 14, 16, 14, 18]
    write_table(
        costs,
        headers,
        [
            [
                names.services[c["service"]],
                c["unit"],
                names.clients[c["client"]] if c["client"] else "whole centre",
                Decimal(c["charges"]),
                c["units"],
                c["cost_per_unit"],
                c["actual_cost_per_unit"],
                c["baseline_cost_per_unit"],
                c["baseline_period"],
                amount(c["saving"]),
            ]
            for c in found
        ],
        money_columns=(3, 9),
        widths=widths,
    )
    for row, c in enumerate(found, start=2):
        for column in (6, 7, 8):
            costs.cell(row=row, column=column).number_format = COST_FORMAT
        whole = float(c["units"]).is_integer()
        costs.cell(row=row, column=5).number_format = "#,##0" if whole else "#,##0.0"
    fit_row_height(costs, 1, zip(headers, widths, strict=True))


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
    names: Names,
) -> list[tuple[str, str]]:
    """A data sheet and, per KPI on a page of its own, a line of the whole centre over the
    quarters and a bar per council, each with its target as a line; returns each chart's
    alt text (title, description) in the order the charts are placed."""
    data = book.create_sheet("Chart data")
    charts = book.create_sheet("Charts")
    charts.column_dimensions["A"].width = 2
    described: list[tuple[str, str]] = []
    row, top = 1, 1
    for r in centre:
        code, unit = r.kpi.code, r.kpi.unit

        values = [_float(history[q].get((code, None))) for q in quarters]
        series = [
            [q.short_label, v, float(r.target)] for q, v in zip(quarters, values, strict=True)
        ]
        last = _series(
            data,
            row,
            f"{r.kpi.name}: by quarter",
            ["quarter", "whole centre", "target"],
            series,
            unit,
        )
        title = f"{r.kpi.name}: whole centre, last {len(quarters)} quarters"
        line = _chart(LineChart(), title, unit)
        _plot(line, data, row + 1, last, target_too=True)
        top = _place(charts, top, line)
        described.append(
            (
                title,
                f"Line chart of the whole centre's result in each of the last {len(quarters)} "
                f"quarters against the target of {value_text(r.target, unit)} "
                f"({r.kpi.direction} is better): "
                + "; ".join(
                    f"{q.short_label} {value_text(v, unit)}"
                    for q, v in zip(quarters, values, strict=True)
                )
                + ".",
            )
        )
        row = last + 2

        found = [by_client.get((code, client)) for client in clients]
        series = [
            [
                names.clients[client],
                _float(f.measure.value) if f else None,
                float(f.target if f else r.target),
            ]
            for client, f in zip(clients, found, strict=True)
        ]
        last = _series(
            data, row, f"{r.kpi.name}: by council", ["council", "result", "target"], series, unit
        )
        title = f"{r.kpi.name}: each council against its target, {quarters[-1].short_label}"
        bar = _chart(BarChart(), title, unit)
        _plot(bar, data, row + 1, last, target_too=False)
        target = LineChart()
        _plot(target, data, row + 1, last, target_too=True, values=False)
        bar += target
        top = _place(charts, top, bar)
        described.append(
            (
                title,
                f"Bar chart of each council's result in {quarters[-1].short_label}, with its "
                f"target drawn as a line ({r.kpi.direction} is better): "
                + "; ".join(
                    f"{names.clients[client]} {value_text(f.measure.value if f else None, unit)} "
                    f"against {value_text(f.target if f else r.target, unit)}"
                    for client, f in zip(clients, found, strict=True)
                )
                + "."
                if clients
                else "There are no councils' results to show.",
            )
        )
        row = last + 2
    charts.print_area = f"A1:P{max(top - 1, 1)}"
    data.column_dimensions["A"].width = 36
    data.column_dimensions["B"].width = 14
    data.column_dimensions["C"].width = 14
    return described


def _place(ws: Worksheet, top: int, chart: LineChart | BarChart) -> int:
    """Put `chart` on a printed page of its own from row `top`; returns the next page's row."""
    ws.add_chart(chart, f"B{top + 1}")
    ws.row_breaks.append(Break(id=top + CHART_ROWS - 1))
    return top + CHART_ROWS


def _chart(chart: LineChart | BarChart, title: str, unit: str) -> LineChart | BarChart:
    """A chart of the house style: titled, its size fixed, its value axis honest (from 0,
    and 0 to 100 for a percentage) and labelled with the unit, both axes shown."""
    chart.title = title
    chart.width, chart.height = CHART_WIDTH, CHART_HEIGHT
    chart.y_axis.title = UNIT_WORDS.get(unit, unit)
    chart.y_axis.scaling.min = 0
    if unit == "percent":
        chart.y_axis.scaling.max = 100
    chart.y_axis.number_format = _unit_format(unit).replace("0.0", "0")
    chart.y_axis.majorGridlines = ChartLines()
    chart.x_axis.delete = False
    chart.y_axis.delete = False
    if chart.legend is not None:
        chart.legend.position = "b"
    return chart


def _series(
    ws: Worksheet,
    row: int,
    title: str,
    headers: list[str],
    rows: Sequence[Sequence[CellValue]],
    unit: str,
) -> int:
    """A titled block of chart data, its values in their unit; returns its last row."""
    write_cell(ws, row, 1, title).font = Font(bold=True)
    for column, name in enumerate(headers, start=1):
        write_cell(ws, row + 1, column, name)
    for offset, values in enumerate(rows, start=2):
        for column, value in enumerate(values, start=1):
            write_cell(ws, row + offset, column, value)
        _in_unit(ws, row + offset, (2, 3), unit)
    return row + 1 + len(rows)


def _plot(
    chart: LineChart | BarChart,
    ws: Worksheet,
    header_row: int,
    last_row: int,
    target_too: bool,
    values: bool = True,
) -> None:
    """Draw the block's values (column 2) and, if `target_too`, its target (column 3) as a
    dashed straight line; lines are never smoothed, which would invent values between
    quarters."""
    first = 2 if values else 3
    chart.add_data(
        Reference(
            ws, min_col=first, max_col=3 if target_too else 2, min_row=header_row, max_row=last_row
        ),
        titles_from_data=True,
    )
    chart.set_categories(Reference(ws, min_col=1, min_row=header_row + 1, max_row=last_row))
    for series in chart.series:
        series.graphicalProperties = GraphicalProperties(solidFill=BLUE)
        if isinstance(chart, LineChart):
            series.smooth = False
            series.marker = Marker(symbol="circle", size=7)
            series.graphicalProperties.line = LineProperties(solidFill=BLUE, w=28575)
    if target_too:
        target = chart.series[-1]
        target.graphicalProperties = GraphicalProperties(
            ln=LineProperties(solidFill=TEXT, prstDash="dash", w=22225)
        )
        target.marker = Marker(symbol="dash", size=9)


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
