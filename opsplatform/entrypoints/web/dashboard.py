"""Pages: the shared-service manager's dashboard, the audit log and the quarter's KPI commentary.

The dashboard gathers what a manager looks at first: what the centre is billing (this
month and the financial year to date, against the same months last year), drafts waiting
to be issued, the KPI status matrix, twelve months of billing and usage and four quarters
of KPIs, open statement queries, recent imports, and the low-bureaucracy measures. The figures are the domain's read models (billing.reports,
sla.reports); this module chooses their words and renders them, and each worker keeps
the costly ones (web/figures.py). Figures that do not exist are shown as "no data",
never as £0.00.

Who may see what: centre staff see the dashboard; only admins and auditors read the
audit log; only admins and managers write commentary. A client user is told that none of
these pages exist (404), as everywhere else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing.reports import (
    BillingComparison,
    BillingRow,
    MonthlyTrends,
    PaperworkMeasures,
    billing_comparison,
    drafts_awaiting_issue,
    monthly_trends,
    open_queries,
    paperwork_measures,
)
from opsplatform.audit import recent
from opsplatform.entrypoints.access import AUDIT_READERS, COMMENTATORS, STAFF, signed_in
from opsplatform.entrypoints.extensions import database
from opsplatform.entrypoints.formats import (
    NO_DATA,
    Page,
    london_text,
    measure_text,
    money_text,
    months_text,
    requested_page,
    tag,
    today,
    written_workbook,
)
from opsplatform.entrypoints.web.charts import (
    Series,
    bar_chart,
    billing_comparison_chart,
    status_chart,
)
from opsplatform.entrypoints.web.figures import KeptFigures
from opsplatform.errors import Refused
from opsplatform.models import AuditEvent, ImportBatch, JobRun, Kpi, Notification, Service
from opsplatform.money import format_gbp
from opsplatform.periods import Month, PeriodError, Quarter
from opsplatform.schedule import MONTHLY_CLOSE, QUARTERLY_ASSESS, QUERY_REMINDER
from opsplatform.settings import centre_settings
from opsplatform.vocabulary import KpiStatus, RunStatus
from sla.commentary import COMMENTARY_LIMIT, commentary_authors, save_commentary
from sla.commentary import commentary as saved_commentary
from sla.pack import board_pack, write_pack
from sla.reports import KpiMatrix, data_version, kpi_matrix, kpi_trend, latest_kpi_quarter
from sla.service import assess_quarter, latest_costed_quarter, unit_costs

dashboard = Blueprint("dashboard", __name__)

AUDIT_PER_PAGE = 50
RECENT_IMPORTS = 10
KEPT_FIGURES = "opsplatform.figures"
SNAKE = re.compile(r"[a-z][a-z0-9_]*")


# -- billing: this month and the year to date, against the same months last year -------------


def change_text(row: BillingRow) -> str:
    """`+£150.25 (+5.0%)`, `-£3.00`; "no data" unless both years were billed."""
    if row.change is None:
        return NO_DATA
    sign = "+" if row.change > 0 else ""
    text = f"{sign}{format_gbp(row.change)}"
    if row.change_percent is not None:
        text += f" ({'+' if row.change_percent > 0 else ''}{row.change_percent:,.1f}%)"
    return text


def billing_chart(found: BillingComparison) -> Markup:
    """This year's billing to date by client, beside the same months last year."""
    year, last_year = found.month.financial_year, found.month.financial_year.previous()
    first, last = found.last_year
    codes = [r.code for r in found.clients]
    parts = [
        f"{r.name} ({r.code}): {money_text(r.year)} this year, "
        f"{money_text(r.year_last_year)} in the same months last year"
        for r in found.clients
    ]
    return billing_comparison_chart(
        "billing-chart",
        f"Net billing by client, {year} to date ({months_text(found.first, found.month)}), "
        f"against the same months of {last_year} ({months_text(first, last)})",
        "; ".join(parts) + "." if parts else "No billing.",
        codes,
        [r.year for r in found.clients],
        [r.year_last_year for r in found.clients],
        f"{year} to date",
        f"Same months of {last_year}",
        value_text=lambda amount: format_gbp(Decimal(amount)),
    )


# -- month by month ---------------------------------------------------------------------------


def trends_chart(trends: MonthlyTrends) -> Markup:
    """Net billing of all clients in each month of the trend, as bars from zero."""
    described = "; ".join(
        f"{month.label}: {money_text(amount)}"
        for month, amount in zip(trends.months, trends.total, strict=True)
    )
    return bar_chart(
        "trends-chart",
        f"Net billing of all clients by month, {months_text(trends.months[0], trends.months[-1])}",
        described + ".",
        [f"{month.first_day:%b %Y}" for month in trends.months],
        [Series("Net billing", trends.total)],
        value_text=lambda amount: format_gbp(Decimal(amount)),
    )


# -- the KPI status matrix ----------------------------------------------------------------------


def kpi_chart(matrix: KpiMatrix) -> Markup:
    counts = matrix.counts
    described = ", ".join(f"{KpiStatus(s).word}: {n:,}" for s, n in counts.items())
    return status_chart(
        "kpi-chart",
        f"KPI results by client in {matrix.quarter}, by status",
        f"How many of the clients' KPI results in {matrix.quarter} are at each status. "
        f"{described}.",
        counts,
    )


# -- recent imports -----------------------------------------------------------------------------


def recent_imports(session: Session) -> list[ImportBatch]:
    return list(
        session.scalars(select(ImportBatch).order_by(ImportBatch.id.desc()).limit(RECENT_IMPORTS))
    )


# -- the costly figures, kept by each worker while the data they come from is unchanged ---------


@dataclass(frozen=True)
class Figures:
    """The billing comparison and the KPI matrix, rendered (the KPI section once for those
    who may comment and once for those who may not), and the paperwork measures. Over
    millions of events they take seconds to compute (the KPI matrix reads three quarters
    of timed events), so each worker keeps them (web/figures.py), and the page renders
    only what changes from one request to the next (drafts, open queries, recent imports)."""

    billing_html: Markup
    kpi_html: dict[bool, Markup]
    trends_html: Markup
    costs_html: Markup
    measures: PaperworkMeasures | None


def computed_figures(session: Session) -> Figures:
    """The billing comparison, KPI matrix and paperwork measures, computed and rendered now."""
    found = billing_comparison(session)
    matrix = kpi_matrix(session)
    billing_html = Markup(
        render_template(
            "dashboard/_billing.html",
            billing=found,
            billing_chart=billing_chart(found) if found else None,
            change_text=change_text,
        )
    )
    chart = kpi_chart(matrix) if matrix else None
    kpi_html = {
        may_comment: Markup(
            render_template(
                "dashboard/_kpis.html",
                matrix=matrix,
                kpi_chart=chart,
                may_comment=may_comment,
            )
        )
        for may_comment in (False, True)
    }
    trends = monthly_trends(session, found.month) if found else None
    trends_html = Markup(
        render_template(
            "dashboard/_trends.html",
            trends=trends,
            trends_chart=trends_chart(trends) if trends else None,
            kpi_trend=kpi_trend(session, matrix) if matrix else None,
        )
    )
    quarter = latest_costed_quarter(session, matrix.quarter) if matrix else None
    costs_html = Markup(
        render_template(
            "dashboard/_costs.html",
            quarter=quarter,
            costs=[c for c in unit_costs(session, quarter) if c["client"] is None]
            if quarter
            else [],
            names=dict(session.execute(select(Service.code, Service.name)).all()),
        )
    )
    measures = paperwork_measures(session, found.month) if found else None
    return Figures(billing_html, kpi_html, trends_html, costs_html, measures)


@dashboard.record_once
def _keep_figures(state: BlueprintSetupState) -> None:
    state.app.extensions[KEPT_FIGURES] = KeptFigures(data_version, computed_figures)


# -- the dashboard page ------------------------------------------------------------------------


@dashboard.get("/dashboard")
@signed_in(*STAFF)
def overview() -> str:
    with database().reading() as session:
        kept, refreshing = current_app.extensions[KEPT_FIGURES].get(session)
        page = render_template(
            "dashboard/overview.html",
            figures_at=london_text(kept.at),
            refreshing=refreshing,
            billing_html=kept.figures.billing_html,
            trends_html=kept.figures.trends_html,
            costs_html=kept.figures.costs_html,
            drafts=drafts_awaiting_issue(session),
            kpi_html=kept.figures.kpi_html[current_user.role in COMMENTATORS],
            queries=open_queries(session, today()),
            imports=recent_imports(session),
            measures=kept.figures.measures,
        )
    return page


# -- the audit log -----------------------------------------------------------------------------


def _label(key: str) -> str:
    """`rerate` -> `Rerate`, `days_to_answer` -> `Days to answer`; anything else (a statement
    number, a sheet name) as it was written."""
    return key.replace("_", " ").capitalize() if SNAKE.fullmatch(key) else key


def _key_text(key: str) -> str:
    return key.replace("_", " ") if SNAKE.fullmatch(key) else key


def _value_text(value: object, depth: int = 0) -> str:
    """A detail value as words: nested mappings as `key: value; ...` then `key value, ...`."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        if not value:
            return "none"
        if depth == 0:
            return "; ".join(f"{_key_text(str(k))}: {_value_text(v, 1)}" for k, v in value.items())
        inner = ", ".join(
            f"{_key_text(str(k))} {_value_text(v, depth + 1)}" for k, v in value.items()
        )
        return f"({inner})" if depth > 1 else inner
    if isinstance(value, list):
        return ("; " if depth == 0 else ", ").join(
            _value_text(v, depth + 1) for v in value
        ) or "none"
    return str(value)


def detail_items(detail: object) -> list[tuple[str, str]]:
    """An audit entry's detail as (label, text) pairs a person can read."""
    if isinstance(detail, dict):
        return [(_label(str(k)), _value_text(v)) for k, v in detail.items()]
    if detail in (None, "", [], {}):
        return []
    return [("Detail", _value_text(detail))]


def _audit_page(session: Session, page: Page) -> list[dict[str, Any]]:
    """One page of the audit log, newest first, with times in London and readable detail."""
    return [
        {
            **entry,
            "when": london_text(datetime.fromisoformat(entry["at"])),
            "detail": detail_items(entry["detail"]),
        }
        for entry in recent(session, page.size, page.offset)
    ]


@dashboard.get("/audit")
@signed_in(*AUDIT_READERS)
def audit_log() -> ResponseReturnValue:
    with database().reading() as session:
        count = session.scalar(select(func.count(AuditEvent.id))) or 0
        page = requested_page(count, AUDIT_PER_PAGE)
        entries = _audit_page(session, page)
    return render_template(
        "dashboard/audit.html",
        entries=entries,
        page=page.number,
        pages=page.pages,
        count=count,
        first=page.first,
    )


# -- the scheduler's runs and the e-mail outbox -------------------------------------------------

JOB_NAMES = {
    MONTHLY_CLOSE: "Monthly close",
    QUARTERLY_ASSESS: "Quarterly assessment",
    QUERY_REMINDER: "Query reminder",
}


@dashboard.get("/scheduler")
@signed_in(*STAFF)
def scheduler_runs() -> ResponseReturnValue:
    with database().reading() as session:
        count = session.scalar(select(func.count(JobRun.id))) or 0
        page = requested_page(count, AUDIT_PER_PAGE)
        runs = session.scalars(
            select(JobRun)
            .order_by(JobRun.started_at.desc(), JobRun.id.desc())
            .offset(page.offset)
            .limit(page.size)
        ).all()
        waiting, failing = session.execute(  # COUNT(error) counts those with one
            select(func.count(Notification.id), func.count(Notification.error)).where(
                Notification.sent_at.is_(None)
            )
        ).one()
        close_day = centre_settings(session).close_working_day
        return render_template(
            "dashboard/scheduler.html",
            runs=[
                {
                    "run": r,
                    "name": JOB_NAMES.get(r.job, r.job),
                    "status": tag(RunStatus(r.status)),
                    "started": london_text(r.started_at),
                    "finished": london_text(r.finished_at),
                }
                for r in runs
            ],
            page=page.number,
            pages=page.pages,
            count=count,
            waiting=waiting,
            failing=failing,
            close_day=close_day,
        )


# -- the quarter's KPI commentary ----------------------------------------------------------------


def _field(index: int) -> str:
    return f"commentary-{index}"


@dashboard.get("/performance/commentary")
@signed_in(*COMMENTATORS)
def commentary_start() -> ResponseReturnValue:
    """Go to a quarter's commentary: the one asked for, or else the latest with results."""
    text = (request.args.get("quarter") or "").strip()
    if text:
        try:
            quarter = Quarter.parse(text)
        except PeriodError as error:
            return _no_such_quarter(text, error)
    else:
        with database().reading() as session:
            quarter = latest_kpi_quarter(session) or Month.of(today()).quarter.previous()
    return redirect(url_for("dashboard.commentary", quarter=str(quarter)))


@dashboard.route("/performance/<quarter>/commentary", methods=["GET", "POST"])
@signed_in(*COMMENTATORS)
def commentary(quarter: str) -> ResponseReturnValue:
    try:
        parsed = Quarter.parse(quarter)
    except PeriodError as error:
        return _no_such_quarter(quarter, error)
    with database().transaction() as session:
        kpis = list(session.scalars(select(Kpi).order_by(Kpi.code)))
        fields = {k.code: _field(index) for index, k in enumerate(kpis, 1)}
        errors: list[tuple[str, str]] = []
        if request.method != "POST":
            texts = saved_commentary(session, parsed)
        else:
            texts = {
                k.code: request.form.get(f"kpi-{k.code}", "").replace("\r\n", "\n") for k in kpis
            }
            try:
                changed = save_commentary(session, parsed, texts, current_user.email)
            except Refused as refusal:
                session.rollback()
                errors = [
                    (p.message, f"#{fields.get(p.column or '', 'commentary')}")
                    for p in refusal.problems
                ]
            else:
                flash(
                    f"Commentary for {parsed} saved: {', '.join(changed)}"
                    if changed
                    else f"Nothing changed in the commentary for {parsed}",
                    "success",
                )
                return redirect(url_for("dashboard.commentary", quarter=str(parsed)))
        page = _commentary_page(session, parsed, kpis, fields, texts, errors)
    return page, 400 if errors else 200


def _no_such_quarter(text: str, error: PeriodError) -> ResponseReturnValue:
    """The commentary page refusing a quarter that is not one, naming what is wrong."""
    page = render_template(
        "dashboard/commentary.html", quarter=None, text=text, errors=[(str(error), "#quarter")]
    )
    return page, 400


def _commentary_page(
    session: Session,
    quarter: Quarter,
    kpis: list[Kpi],
    fields: dict[str, str],
    texts: dict[str, str],
    errors: list[tuple[str, str]],
) -> str:
    """The commentary form: each KPI's whole-centre result beside its text and who saved it."""
    authors = commentary_authors(session, quarter)
    field_errors = {href: text for text, href in reversed(errors)}
    centre = {r.kpi.code: r for r in assess_quarter(session, quarter) if r.client is None}
    return render_template(
        "dashboard/commentary.html",
        quarter=quarter,
        text=str(quarter),
        months=months_text(quarter.months()[0], quarter.months()[-1]),
        fields=[
            {
                "kpi": k,
                "id": fields[k.code],
                "name": f"kpi-{k.code}",
                "text": texts.get(k.code, ""),
                "error": field_errors.get(f"#{fields[k.code]}"),
                "saved_by": authors.get(k.code),
                "result": centre.get(k.code),
                "value": measure_text(
                    centre[k.code].measure.value if k.code in centre else None, k.unit
                ),
            }
            for k in kpis
        ],
        errors=errors,
        limit=COMMENTARY_LIMIT,
    )


# -- the joint committee's pack -------------------------------------------------------------


@dashboard.get("/pack")
@signed_in(*STAFF)
def pack_latest() -> ResponseReturnValue:
    """The pack of the latest quarter with KPI results."""
    with database().reading() as session:
        quarter = latest_kpi_quarter(session) or Month.of(today()).quarter.previous()
    return redirect(url_for("dashboard.pack", quarter=str(quarter)))


@dashboard.get("/pack/<quarter>")
@signed_in(*STAFF)
def pack(quarter: str) -> ResponseReturnValue:
    """The joint committee's pack for a quarter, as a page to read and print."""
    try:
        parsed = Quarter.parse(quarter)
    except PeriodError:
        abort(404)
    with database().reading() as session:  # the page reads the results' KPIs as it renders
        board = board_pack(session, parsed, today())
        names = dict(session.execute(select(Service.code, Service.name)).all())
        return render_template("dashboard/pack.html", pack=board, names=names)


@dashboard.get("/pack/<quarter>.xlsx")
@signed_in(*STAFF)
def pack_download(quarter: str) -> ResponseReturnValue:
    """The joint committee's pack for a quarter as a workbook."""
    try:
        parsed = Quarter.parse(quarter)
    except PeriodError:
        abort(404)
    with database().reading() as session:
        return written_workbook(
            lambda path: write_pack(session, board_pack(session, parsed, today()), path),
            f"joint-committee-pack-{parsed}.xlsx",
        )
