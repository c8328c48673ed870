"""Pages: the shared-service manager's dashboard, the audit log and the quarter's KPI commentary.

The dashboard gathers what a manager looks at first: what the centre is billing (this
month and the financial year to date, against the same months last year), drafts waiting
to be issued, the KPI status matrix, open statement queries, recent imports, and the
low-bureaucracy measures. Billing figures are summed in SQL by client, service and
statement month, so the page costs the same however many lines the statements hold.
Figures that do not exist are shown as "no data", never as £0.00.

Who may see what: centre staff see the dashboard; only admins and auditors read the
audit log; only admins and managers write commentary. A client user is told that none of
these pages exist (404), as everywhere else.
"""

from __future__ import annotations

import functools
import re
import statistics
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from flask import (
    Blueprint,
    abort,
    copy_current_request_context,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from markupsafe import Markup
from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session, selectinload

from billing.models import Statement, StatementLine, StatementQuery
from opsplatform.audit import recent, record
from opsplatform.db import utcnow
from opsplatform.entrypoints.access import STAFF, measure_text
from opsplatform.entrypoints.extensions import database
from opsplatform.entrypoints.web.charts import STATUS_WORDS, billing_comparison_chart, status_chart
from opsplatform.errors import Refused
from opsplatform.models import (
    AuditEvent,
    Client,
    ImportBatch,
    JobRun,
    Kpi,
    KpiFigure,
    Notification,
    Service,
    UsageEvent,
)
from opsplatform.money import format_gbp
from opsplatform.periods import LONDON, Month, PeriodError, Quarter, iter_months
from opsplatform.schedule import MONTHLY_CLOSE, QUARTERLY_ASSESS, QUERY_REMINDER
from opsplatform.settings import centre_settings
from sla.models import KpiCommentary, KpiResult
from sla.service import assess_quarter, set_commentary
from sla.service import commentary as saved_commentary

dashboard = Blueprint("dashboard", __name__)

AUDIT_READERS = ("admin", "auditor")
COMMENTATORS = ("admin", "manager")
AUDIT_PER_PAGE = 50
RECENT_IMPORTS = 10
MEASURE_MONTHS = 12
COMMENTARY_LIMIT = 5000
STATUS_TAGS = {
    "green": "govuk-tag--green",
    "amber": "govuk-tag--orange",
    "red": "govuk-tag--red",
    "no_data": "govuk-tag--grey",
}
NO_DATA = "no data"
SNAKE = re.compile(r"[a-z][a-z0-9_]*")


def roles(*allowed: str):
    """Centre staff only (anyone else: 404, as if the page did not exist); then `allowed`
    roles only (other staff: 403)."""

    def decorate(view):
        @functools.wraps(view)
        def checked(*args, **kwargs):
            if current_user.role not in STAFF:
                abort(404)
            if current_user.role not in allowed:
                abort(403)
            return view(*args, **kwargs)

        return login_required(checked)

    return decorate


# -- small pieces the templates use ----------------------------------------------------------


def money_text(amount: Decimal | None) -> str:
    """`£1,234.56`, or "no data" when there is no figure."""
    return NO_DATA if amount is None else format_gbp(amount)


def london_text(moment: datetime | None) -> str:
    if moment is None:
        return "–"
    return moment.astimezone(LONDON).strftime("%-d %b %Y %H:%M")


def today() -> date:
    return datetime.now(LONDON).date()


def months_text(first: Month, last: Month) -> str:
    if first == last:
        return first.label
    if first.year == last.year:
        return f"{first.first_day:%B} to {last.label}"
    return f"{first.label} to {last.label}"


# -- (1) billing: this month and the year to date, against the same months last year ---------


@dataclass
class BillingRow:
    """One client's (or service's) net billing in the four periods the dashboard compares;
    None where nothing was billed to it in that period."""

    code: str
    name: str
    month: Decimal | None = None
    month_last_year: Decimal | None = None
    year: Decimal | None = None
    year_last_year: Decimal | None = None

    def add(self, period: str, amount: Decimal) -> None:
        setattr(self, period, (getattr(self, period) or Decimal("0.00")) + amount)

    @property
    def change(self) -> Decimal | None:
        if self.year is None or self.year_last_year is None:
            return None
        return self.year - self.year_last_year

    @property
    def change_percent(self) -> Decimal | None:
        if self.change is None or not self.year_last_year:
            return None
        return round(self.change / abs(self.year_last_year) * 100, 1)

    @property
    def change_text(self) -> str:
        if self.change is None:
            return NO_DATA
        sign = "+" if self.change > 0 else ""
        text = f"{sign}{format_gbp(self.change)}"
        if self.change_percent is not None:
            text += f" ({'+' if self.change_percent > 0 else ''}{self.change_percent:,.1f}%)"
        return text


@dataclass
class Billing:
    """The latest month with statements, its financial year to date, and last year's same
    months, with net billing by client and by service."""

    month: Month
    first: Month
    clients: list[BillingRow]
    services: list[BillingRow]
    total: BillingRow
    statuses: dict[str, int]

    @property
    def month_text(self) -> str:
        return self.month.label

    @property
    def month_last_year_text(self) -> str:
        return (self.month + -12).label

    @property
    def year_heading(self) -> str:
        return f"{self.month.financial_year} to date"

    @property
    def last_year_heading(self) -> str:
        return f"Same months of {self.month.financial_year.previous()}"

    @property
    def last_year(self) -> tuple[Month, Month]:
        return self.first + -12, self.month + -12

    @property
    def year_text(self) -> str:
        return f"{self.month.financial_year} to date ({months_text(self.first, self.month)})"

    @property
    def last_year_text(self) -> str:
        first, last = self.last_year
        return f"same months of {last.financial_year} ({months_text(first, last)})"

    @property
    def drafts_in_month(self) -> int:
        return self.statuses.get("draft", 0)


def billing(session: Session) -> Billing | None:
    """Net billing (the sum of statement lines, before VAT, on issued and draft statements)
    by client and service, for the latest month with statements and its year to date,
    each against the same months a year earlier. None when there are no statements."""
    latest = session.scalar(select(func.max(Statement.month)))
    if latest is None:
        return None
    month = Month.parse(latest)
    first = month.financial_year.first_month
    year = [str(m) for m in iter_months(first, month)]
    last_year = [str(m + -12) for m in iter_months(first, month)]
    periods: dict[str, list[str]] = {}
    for name in year:
        periods[name] = ["year"] + (["month"] if name == str(month) else [])
    for name in last_year:
        periods[name] = ["year_last_year"] + (
            ["month_last_year"] if name == str(month + -12) else []
        )
    sums = session.execute(
        select(
            Statement.client_id,
            StatementLine.service_id,
            Statement.month,
            func.sum(StatementLine.amount),
        )
        .join(Statement, StatementLine.statement_id == Statement.id)
        .where(Statement.month.in_(year + last_year))
        .group_by(Statement.client_id, StatementLine.service_id, Statement.month)
    ).all()
    clients = {
        i: (code, name)
        for i, code, name in session.execute(select(Client.id, Client.code, Client.name))
    }
    services = {
        i: (code, name)
        for i, code, name in session.execute(select(Service.id, Service.code, Service.name))
    }
    by_client: dict[int, BillingRow] = {}
    by_service: dict[int | None, BillingRow] = {}
    total = BillingRow("", "All clients")
    for client_id, service_id, statement_month, amount in sums:
        client_row = by_client.setdefault(client_id, BillingRow(*clients[client_id]))
        if service_id is None:
            service_row = by_service.setdefault(None, BillingRow("", "Not for one service"))
        else:
            service_row = by_service.setdefault(service_id, BillingRow(*services[service_id]))
        for period in periods[statement_month]:
            for row in (client_row, service_row, total):
                row.add(period, amount)
    statuses = dict(
        session.execute(
            select(Statement.status, func.count(Statement.id))
            .where(Statement.month == str(month))
            .group_by(Statement.status)
        ).all()
    )
    return Billing(
        month=month,
        first=first,
        clients=sorted(by_client.values(), key=lambda r: r.code),
        services=sorted(by_service.values(), key=lambda r: (r.code == "", r.code)),
        total=total,
        statuses=statuses,
    )


def billing_chart(found: Billing):
    """This year's billing to date by client, beside the same months last year."""
    codes = [r.code for r in found.clients]
    parts = [
        f"{r.name} ({r.code}): {money_text(r.year)} this year, "
        f"{money_text(r.year_last_year)} in the same months last year"
        for r in found.clients
    ]
    return billing_comparison_chart(
        "billing-chart",
        f"Net billing by client, {found.year_text}, against the {found.last_year_text}",
        "; ".join(parts) + "." if parts else "No billing.",
        codes,
        [r.year for r in found.clients],
        [r.year_last_year for r in found.clients],
        f"{found.month.financial_year} to date",
        f"Same months of {found.month.financial_year.previous()}",
        value_text=money_text,
    )


# -- (2) drafts awaiting issue ------------------------------------------------------------------


def drafts(session: Session) -> list[Statement]:
    return list(
        session.scalars(
            select(Statement)
            .options(selectinload(Statement.client))
            .where(Statement.status == "draft")
            .order_by(Statement.month, Statement.number)
        )
    )


# -- (3) the KPI status matrix ------------------------------------------------------------------


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
class KpiLabel:
    """What the matrix shows of a KPI: plain values, which outlive the session."""

    code: str
    name: str


@dataclass
class KpiMatrix:
    """KPI x client statuses for one quarter, with the whole centre's first."""

    quarter: Quarter
    final: bool
    clients: list[tuple[str, str]]  # (code, name)
    rows: list[dict]
    counts: dict[str, int] = field(default_factory=dict)


def kpi_matrix(session: Session) -> KpiMatrix | None:
    quarter = latest_kpi_quarter(session)
    if quarter is None:
        return None
    results = assess_quarter(session, quarter)
    if not results:
        return None
    names = dict(session.execute(select(Client.code, Client.name)).all())
    codes = sorted({r.client for r in results if r.client is not None})
    rows: dict[str, dict] = {}
    counts = dict.fromkeys(STATUS_WORDS, 0)
    for r in results:
        label = KpiLabel(r.kpi.code, r.kpi.name)
        row = rows.setdefault(r.kpi.code, {"kpi": label, "cells": {}})
        row["cells"][r.client] = {
            "status": r.status,
            "word": STATUS_WORDS[r.status],
            "tag": STATUS_TAGS[r.status],
            "value": measure_text(r.measure.value, r.kpi.unit),
        }
        if r.client is not None:
            counts[r.status] += 1
    return KpiMatrix(
        quarter=quarter,
        final=any(r.final for r in results),
        clients=[(c, names.get(c, c)) for c in codes],
        rows=list(rows.values()),
        counts=counts,
    )


def kpi_chart(matrix: KpiMatrix):
    counts = matrix.counts
    described = ", ".join(f"{STATUS_WORDS[s]}: {n:,}" for s, n in counts.items())
    return status_chart(
        "kpi-chart",
        f"KPI results by client in {matrix.quarter}, by status",
        f"How many of the clients' KPI results in {matrix.quarter} are at each status. "
        f"{described}.",
        counts,
    )


# -- (4) open queries, (5) recent imports -------------------------------------------------------


def open_queries(session: Session) -> list[dict]:
    rows = session.execute(
        select(StatementQuery, Statement.number, Client.name)
        .join(Statement, StatementQuery.statement_id == Statement.id)
        .join(Client, Statement.client_id == Client.id)
        .where(StatementQuery.status == "open")
        .order_by(StatementQuery.raised_at, StatementQuery.id)
    ).all()
    now = today()
    return [
        {
            "query": query,
            "number": number,
            "client": name,
            "age": max((now - query.raised_at.astimezone(LONDON).date()).days, 0),
        }
        for query, number, name in rows
    ]


def recent_imports(session: Session) -> list[ImportBatch]:
    return list(
        session.scalars(select(ImportBatch).order_by(ImportBatch.id.desc()).limit(RECENT_IMPORTS))
    )


# -- (6) the low-bureaucracy measures --------------------------------------------------------


@dataclass
class Measures:
    """How light the paperwork is, over the statements of twelve months."""

    first: Month
    last: Month
    statements: int
    lines: int
    queried: int
    answered: int
    still_open: int
    median_days: float | None

    @property
    def period_text(self) -> str:
        return months_text(self.first, self.last)

    @property
    def lines_per_statement(self) -> str:
        return f"{self.lines / self.statements:,.1f}" if self.statements else NO_DATA

    @property
    def share_queried(self) -> str:
        return f"{self.queried / self.statements * 100:,.1f}%" if self.statements else NO_DATA

    @property
    def median_text(self) -> str:
        if self.median_days is None:
            return NO_DATA
        days = f"{self.median_days:g}"
        return f"{days} day" if self.median_days == 1 else f"{days} days"


def measures(session: Session, last: Month | None) -> Measures | None:
    """Average lines per statement, the share of statements queried, and the median whole
    days from raising a query to its answer (as the API's `days_to_answer`), over the
    statements of the twelve months ending with `last`."""
    if last is None:
        return None
    months = [str(last + -i) for i in range(MEASURE_MONTHS)]
    in_window = Statement.month.in_(months)
    statements = session.scalar(select(func.count(Statement.id)).where(in_window)) or 0
    lines = (
        session.scalar(
            select(func.count(StatementLine.id))
            .join(Statement, StatementLine.statement_id == Statement.id)
            .where(in_window)
        )
        or 0
    )
    queried = (
        session.scalar(
            select(func.count(distinct(StatementQuery.statement_id)))
            .join(Statement, StatementQuery.statement_id == Statement.id)
            .where(in_window)
        )
        or 0
    )
    still_open = (
        session.scalar(
            select(func.count(StatementQuery.id))
            .join(Statement, StatementQuery.statement_id == Statement.id)
            .where(in_window, StatementQuery.status == "open")
        )
        or 0
    )
    answered = session.execute(
        select(StatementQuery.raised_at, StatementQuery.answered_at)
        .join(Statement, StatementQuery.statement_id == Statement.id)
        .where(in_window, StatementQuery.answered_at.is_not(None))
    ).all()
    days = [(done - raised).days for raised, done in answered]
    return Measures(
        first=last + -(MEASURE_MONTHS - 1),
        last=last,
        statements=statements,
        lines=lines,
        queried=queried,
        answered=len(days),
        still_open=still_open,
        median_days=float(statistics.median(days)) if days else None,
    )


# -- the costly figures, kept while the data they come from is unchanged ----------------------


@dataclass(frozen=True)
class Figures:
    """The billing comparison and the KPI matrix, rendered (the KPI section once for those
    who may comment and once for those who may not), and the low-bureaucracy measures,
    with the data version they were computed at and when. Over millions of events they
    take seconds to compute (the KPI matrix reads three quarters of timed events), so
    each worker process keeps the last ones, and the page renders only what changes from
    one request to the next (drafts, open queries, recent imports)."""

    version: tuple
    at: datetime
    billing_html: Markup
    kpi_html: dict[bool, Markup]
    measures: Measures | None


FIGURES_SECONDS = 300  # at most this old, even if a change escaped the data version


class KeptFigures:
    """A worker's dashboard figures: the last ones computed, and the refresh under way."""

    def __init__(self) -> None:
        self.figures: Figures | None = None
        self.refreshing: Future | None = None
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dashboard-figures")


@dashboard.record_once
def _keep_figures(state) -> None:
    state.app.extensions["opsplatform.figures"] = KeptFigures()


def data_version(session: Session) -> tuple:
    """What the costly figures are computed from, told by a few index look-ups: the newest
    usage event, statement, statement line, query, KPI result and figure, the latest
    revert, issue and answer, and the newest audit entry (every setup load, KPI change and
    import is audited). Any change to the figures' data changes one of them."""
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


def figures(session: Session) -> tuple[Figures, bool]:
    """This worker's figures, and whether newer ones are being calculated.

    The first time, they are computed at once. After that the kept ones are shown while
    the data version is unchanged and they are under FIGURES_SECONDS old; once either is
    no longer so, they are still shown (the page says they are being recalculated) while
    the worker computes new ones in the background, so that nobody waits seconds for the
    page after an import at a large centre."""
    kept: KeptFigures = current_app.extensions["opsplatform.figures"]
    version = data_version(session)
    found = kept.figures
    if found is None:
        found = kept.figures = computed_figures(session, version)
        return found, False
    if found.version == version and (utcnow() - found.at).total_seconds() < FIGURES_SECONDS:
        return found, False
    if kept.refreshing is None or kept.refreshing.done():
        kept.refreshing = kept.worker.submit(copy_current_request_context(_refresh), kept)
    return found, True


def _refresh(kept: KeptFigures) -> None:
    """In the background, with a copy of the request's context: new figures for the worker."""
    try:
        with database().transaction(dry_run=True) as session:
            kept.figures = computed_figures(session, data_version(session))
    except Exception:
        current_app.logger.exception("the dashboard's figures could not be recalculated")
        raise


def computed_figures(session: Session, version: tuple) -> Figures:
    """The billing comparison, KPI matrix and measures, computed and rendered now."""
    found = billing(session)
    matrix = kpi_matrix(session)
    billing_html = Markup(
        render_template(
            "dashboard/_billing.html",
            billing=found,
            billing_chart=billing_chart(found) if found else None,
            money_text=money_text,
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
                status_words=STATUS_WORDS,
            )
        )
        for may_comment in (False, True)
    }
    lightness = measures(session, found.month if found else None)
    return Figures(version, utcnow(), billing_html, kpi_html, lightness)


# -- the dashboard page ------------------------------------------------------------------------


@dashboard.get("/dashboard")
@roles(*STAFF)
def overview():
    with database().transaction(dry_run=True) as session:
        kept, refreshing = figures(session)
        page = render_template(
            "dashboard/overview.html",
            figures_at=london_text(kept.at),
            refreshing=refreshing,
            billing_html=kept.billing_html,
            drafts=drafts(session),
            kpi_html=kept.kpi_html[current_user.role in COMMENTATORS],
            queries=open_queries(session),
            imports=recent_imports(session),
            measures=kept.measures,
            money_text=money_text,
            london_text=london_text,
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


def _audit_page(session: Session, page: int) -> list[dict]:
    """One page of the audit log, newest first, with times in London and readable detail."""
    return [
        {
            **entry,
            "when": london_text(datetime.fromisoformat(entry["at"])),
            "detail": detail_items(entry["detail"]),
        }
        for entry in recent(session, AUDIT_PER_PAGE, (page - 1) * AUDIT_PER_PAGE)
    ]


def _paged(count: int, per_page: int) -> tuple[int, int]:
    """The page asked for and how many pages `count` rows make; 404 for a page beyond them."""
    page = request.args.get("page", 1, type=int)
    pages = max(1, -(-count // per_page))
    if not 1 <= page <= pages:
        abort(404)
    return page, pages


@dashboard.get("/audit")
@roles(*AUDIT_READERS)
def audit_log():
    with database().transaction(dry_run=True) as session:
        count = session.scalar(select(func.count(AuditEvent.id))) or 0
        page, pages = _paged(count, AUDIT_PER_PAGE)
        entries = _audit_page(session, page)
    return render_template(
        "dashboard/audit.html",
        entries=entries,
        page=page,
        pages=pages,
        count=count,
        first=(page - 1) * AUDIT_PER_PAGE + 1,
    )


# -- the scheduler's runs and the e-mail outbox -------------------------------------------------

JOB_NAMES = {
    MONTHLY_CLOSE: "Monthly close",
    QUARTERLY_ASSESS: "Quarterly assessment",
    QUERY_REMINDER: "Query reminder",
}
RUN_TAGS = {"done": "govuk-tag--green", "running": "govuk-tag--blue", "failed": "govuk-tag--red"}


@dashboard.get("/scheduler")
@roles(*STAFF)
def scheduler_runs():
    with database().transaction(dry_run=True) as session:
        count = session.scalar(select(func.count(JobRun.id))) or 0
        page, pages = _paged(count, AUDIT_PER_PAGE)
        runs = session.scalars(
            select(JobRun)
            .order_by(JobRun.started_at.desc(), JobRun.id.desc())
            .offset((page - 1) * AUDIT_PER_PAGE)
            .limit(AUDIT_PER_PAGE)
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
                    "tag": RUN_TAGS.get(r.status, "govuk-tag--grey"),
                    "started": london_text(r.started_at),
                    "finished": london_text(r.finished_at),
                }
                for r in runs
            ],
            page=page,
            pages=pages,
            count=count,
            waiting=waiting,
            failing=failing,
            close_day=close_day,
        )


# -- the quarter's KPI commentary ----------------------------------------------------------------


def _field(index: int) -> str:
    return f"commentary-{index}"


@dashboard.get("/performance/commentary")
@roles(*COMMENTATORS)
def commentary_start():
    """Go to a quarter's commentary: the one asked for, or else the latest with results."""
    text = (request.args.get("quarter") or "").strip()
    if text:
        try:
            quarter = Quarter.parse(text)
        except PeriodError as error:
            page = render_template(
                "dashboard/commentary.html",
                quarter=None,
                text=text,
                errors=[(str(error), "#quarter")],
            )
            return page, 400
    else:
        with database().transaction(dry_run=True) as session:
            quarter = latest_kpi_quarter(session) or Month.of(today()).quarter.previous()
    return redirect(url_for("dashboard.commentary", quarter=str(quarter)))


@dashboard.route("/performance/<quarter>/commentary", methods=["GET", "POST"])
@roles(*COMMENTATORS)
def commentary(quarter: str):
    try:
        parsed = Quarter.parse(quarter)
    except PeriodError as error:
        page = render_template(
            "dashboard/commentary.html",
            quarter=None,
            text=quarter,
            errors=[(str(error), "#quarter")],
        )
        return page, 400
    with database().transaction() as session:
        kpis = list(session.scalars(select(Kpi).order_by(Kpi.code)))
        saved = saved_commentary(session, parsed)
        texts = dict(saved)
        errors: list[tuple[str, str]] = []
        if request.method == "POST":
            posted = {
                k.code: request.form.get(f"kpi-{k.code}", "").replace("\r\n", "\n") for k in kpis
            }
            texts = posted
            for index, k in enumerate(kpis, 1):
                text = posted[k.code]
                if len(text) > COMMENTARY_LIMIT:
                    errors.append(
                        (
                            f"The commentary on {k.code} must be {COMMENTARY_LIMIT:,} characters "
                            "or fewer",
                            f"#{_field(index)}",
                        )
                    )
                elif not text.strip() and saved.get(k.code):
                    errors.append(
                        (
                            f"Enter the commentary on {k.code}: saved commentary can be changed "
                            "but not removed",
                            f"#{_field(index)}",
                        )
                    )
            if not errors:
                changed = [
                    k
                    for k in kpis
                    if posted[k.code].strip() and posted[k.code].strip() != saved.get(k.code)
                ]
                try:
                    for k in changed:
                        text = posted[k.code].strip()
                        set_commentary(session, parsed, k.code, text, current_user.email)
                        record(
                            session,
                            current_user.email,
                            "sla comment",
                            f"{k.code} {parsed}",
                            text=text,
                        )
                except Refused as refusal:
                    session.rollback()
                    errors += [(p.message, "#commentary") for p in refusal.problems]
                else:
                    if changed:
                        flash(
                            f"Commentary for {parsed} saved: " + ", ".join(k.code for k in changed),
                            "success",
                        )
                    else:
                        flash(f"Nothing changed in the commentary for {parsed}", "success")
                    return redirect(url_for("dashboard.commentary", quarter=str(parsed)))
        authors = {
            code: (author, at)
            for code, author, at in session.execute(
                select(Kpi.code, KpiCommentary.author, KpiCommentary.updated_at)
                .join(Kpi, KpiCommentary.kpi_id == Kpi.id)
                .where(KpiCommentary.quarter == str(parsed))
            )
        }
        field_errors = {href: text for text, href in reversed(errors)}
        centre = {r.kpi.code: r for r in assess_quarter(session, parsed) if r.client is None}
        fields = [
            {
                "kpi": k,
                "id": _field(index),
                "name": f"kpi-{k.code}",
                "text": texts.get(k.code, ""),
                "error": field_errors.get(f"#{_field(index)}"),
                "saved_by": authors.get(k.code),
                "result": centre.get(k.code),
                "value": measure_text(
                    centre[k.code].measure.value if k.code in centre else None, k.unit
                ),
            }
            for index, k in enumerate(kpis, 1)
        ]
        page = render_template(
            "dashboard/commentary.html",
            quarter=parsed,
            text=str(parsed),
            months=months_text(parsed.months()[0], parsed.months()[-1]),
            fields=fields,
            errors=errors,
            limit=COMMENTARY_LIMIT,
            status_words=STATUS_WORDS,
            status_tags=STATUS_TAGS,
            london_text=london_text,
        )
        if errors:
            session.rollback()
    return page, 400 if errors else 200
