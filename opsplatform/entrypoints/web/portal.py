"""Pages: the client portal: a statement line and its source usage, statement queries, KPI results.

Every page applies the rule of opsplatform.entrypoints.access: a client user sees only its own council's
statements, lines, usage, queries and KPI results, and anything else does not exist for it
(404); centre staff see everything. Queries are raised by client users (or by finance on a
client's behalf) and answered by finance; the auditor reads only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing.adjustments import LARGEST_ADJUSTMENT, carrier, effect_text
from billing.disputes import (
    answer_query,
    check_answer,
    list_queries,
    raise_query,
    working_days_open,
)
from billing.models import PendingLine, Statement, StatementLine, StatementQuery
from opsplatform.calendars import WorkingCalendar, load_calendars
from opsplatform.entrypoints.access import (
    RAISERS,
    STAFF,
    WRITERS,
    audience,
    client_code,
    signed_in,
    statement_for,
)
from opsplatform.entrypoints.extensions import database
from opsplatform.entrypoints.formats import (
    Page,
    measure_text,
    money_text,
    page_of,
    written_workbook,
)
from opsplatform.entrypoints.web.charts import Number, Series, bar_chart, line_chart
from opsplatform.errors import Refused
from opsplatform.models import Client, UsageEvent
from opsplatform.money import round_money
from opsplatform.periods import LONDON, Month, PeriodError, Quarter
from opsplatform.vocabulary import KpiStatus, LineKind, QueryStatus, Role
from sla.publication import recent_history, write_publication
from sla.service import Result, visible_results

portal = Blueprint("portal", __name__)

USAGE_PER_PAGE = 100
REASON_LIMIT = 5000
NO_USAGE = {
    "adjustment": "it is a manual adjustment, made for the reason given above",
    "service_credit": "it is a service credit for a missed service level",
    "carried_forward": "it carries a small amount between months (de minimis), not usage",
    "outturn": "it shares the year's actual cost of the service against what was charged",
}


# -- small pieces the templates use ----------------------------------------------------------


def usage_months(line: StatementLine) -> list[Month]:
    """The months of usage a line was worked out from; empty when it has no source usage.

    A charge and a prior-period line rest on their month's usage; a year-end true-up on the
    whole financial year's up to its month; adjustments, service credits and amounts carried
    forward rest on no usage at all.
    """
    if line.service_id is None or line.kind not in ("charge", "prior_period", "true_up"):
        return []
    period = Month.parse(line.period)
    if line.kind == "true_up":
        return [m for m in period.financial_year.months() if m <= period]
    return [period]


def may_raise_queries() -> bool:
    return current_user.is_authenticated and current_user.role in RAISERS


def may_answer_queries() -> bool:
    return current_user.is_authenticated and current_user.role in WRITERS


@portal.app_context_processor
def portal_helpers() -> dict[str, Any]:
    """Functions the statement page uses for its per-line links and its queries."""
    return {
        "portal_may_raise_queries": may_raise_queries,
        "portal_has_usage": lambda line: bool(usage_months(line)),
    }


# -- what the signed-in user may see -----------------------------------------------------------


def _line_for(session: Session, number: str, position: int) -> tuple[Statement, StatementLine]:
    """The statement and its line at `position`, or 404 if either is not the user's to see."""
    statement = statement_for(session, current_user, number)
    if statement is None:
        abort(404)
    for line in statement.lines:
        if line.position == position:
            return statement, line
    abort(404)


def _visible_queries(session: Session, status: str | None) -> list[StatementQuery]:
    if current_user.role == Role.CLIENT:
        code = client_code(current_user)
        return list_queries(session, status, code) if code is not None else []
    return list_queries(session, status) if current_user.role in STAFF else []


def _query_for(session: Session, query_id: int) -> StatementQuery:
    """The query, or 404 if it is not the user's to see: a client's own council's only,
    looked up in one query so that another council's takes no longer to miss."""
    found = select(StatementQuery).where(StatementQuery.id == query_id)
    if current_user.role not in STAFF:
        if current_user.client_id is None:
            abort(404)
        found = found.join(Statement).where(Statement.client_id == current_user.client_id)
    query = session.scalars(found).one_or_none()
    if query is None:
        abort(404)
    return query


# -- a statement line and its source usage -----------------------------------------------------


@portal.get("/statements/<number>/lines/<int:position>")
@signed_in()
def line(number: str, position: int) -> ResponseReturnValue:
    page = request.args.get("page", 1, type=int)
    with database().reading() as session:
        statement, found = _line_for(session, number, position)
        months = usage_months(found)
        usage = None
        if months:
            usage = _usage_page(session, statement, found, months, page)
            if usage is None:
                abort(404)
        queries = [q for q in statement.queries if q.line_position == position]
        return render_template(
            "portal/line.html",
            statement=statement,
            line=found,
            kind_name=LineKind(found.kind).label,
            period_label=Month.parse(found.period).label,
            no_usage_reason=_no_usage_reason(found),
            usage=usage,
            queries=queries,
            may_raise=may_raise_queries(),
        )


@dataclass
class UsagePage:
    """One page of a line's source usage, with the totals of all of it."""

    months: list[Month]
    events: list[UsageEvent]
    total: Decimal
    paging: Page

    @property
    def period_text(self) -> str:
        if len(self.months) == 1:
            return self.months[0].label
        return f"{self.months[0].label} to {self.months[-1].label}"


def _usage_page(
    session: Session, statement: Statement, found: StatementLine, months: list[Month], page: int
) -> UsagePage | None:
    """The client's usage of the line's service in `months`, page `page`; None past the end."""
    where = (
        UsageEvent.client_id == statement.client_id,
        UsageEvent.service_id == found.service_id,
        UsageEvent.month.in_([str(m) for m in months]),
    )
    count, total = session.execute(
        select(func.count(UsageEvent.id), func.sum(UsageEvent.quantity)).where(*where)
    ).one()
    paging = page_of(count, USAGE_PER_PAGE, page)
    if paging is None:
        return None
    events = list(
        session.scalars(
            select(UsageEvent)
            .where(*where)
            .order_by(UsageEvent.occurred_at, UsageEvent.id)
            .limit(paging.size)
            .offset(paging.offset)
        )
    )
    return UsagePage(months, events, total or Decimal(0), paging)


def _no_usage_reason(found: StatementLine) -> str | None:
    if usage_months(found):
        return None
    if found.kind in NO_USAGE:
        return NO_USAGE[found.kind]
    return "it is not for a service counted in usage"


# -- raising a query ---------------------------------------------------------------------------


@portal.route("/statements/<number>/lines/<int:position>/query", methods=["GET", "POST"])
@signed_in()
def raise_line_query(number: str, position: int) -> ResponseReturnValue:
    with database().transaction() as session:
        statement, found = _line_for(session, number, position)
        if not may_raise_queries():
            abort(403)
        reason = request.form.get("reason", "") if request.method == "POST" else ""
        errors: list[tuple[str, str]] = []
        if request.method == "POST":
            if not reason.strip():
                errors.append(("Enter what your query is about", "#reason"))
            elif len(reason) > REASON_LIMIT:
                errors.append(
                    (f"Your query must be {REASON_LIMIT:,} characters or fewer", "#reason")
                )
            else:
                try:
                    query = raise_query(
                        session, statement.number, position, reason, current_user.email
                    )
                except Refused as refusal:
                    errors += [(p.message, "#reason") for p in refusal.problems]
                else:
                    flash(
                        f"Query {query.id} about line {position} of {statement.number} was sent. "
                        "The centre's finance team will answer it here.",
                        "success",
                    )
                    return redirect(url_for("portal.query", query_id=query.id))
        page = render_template(
            "portal/raise_query.html",
            statement=statement,
            line=found,
            reason=reason,
            errors=errors,
            limit=REASON_LIMIT,
        )
        return page, 400 if errors else 200


# -- the queries list and one query ------------------------------------------------------------


@dataclass
class QueryRow:
    """A query as the pages show it, with its age or time to answer in working days."""

    query: StatementQuery
    working_days: int
    calendar_days: int

    @property
    def is_open(self) -> bool:
        return self.query.status == "open"


def _timed(query: StatementQuery, calendars: dict[str, WorkingCalendar], today: date) -> QueryRow:
    return QueryRow(query, *working_days_open(query, calendars, today))


def _today() -> date:
    return datetime.now(LONDON).date()


@portal.get("/queries")
@signed_in()
def queries() -> ResponseReturnValue:
    status = request.args.get("status") or None
    error = None
    if status is not None and status not in tuple(QueryStatus):
        error = "Choose open, accepted or rejected"
        status = None
    with database().reading() as session:
        calendars = load_calendars(session)
        today = _today()
        rows = [_timed(q, calendars, today) for q in _visible_queries(session, status)]
        waiting = sorted((r for r in rows if r.is_open), key=lambda r: r.query.raised_at)
        answered = sorted(
            (r for r in rows if not r.is_open),
            key=lambda r: r.query.answered_at or r.query.raised_at,
            reverse=True,
        )
        page = render_template(
            "portal/queries.html",
            rows=waiting + answered,
            status=status,
            statuses=list(QueryStatus),
            error=error,
            staff=current_user.role in STAFF,
        )
        return page, 400 if error else 200


@portal.get("/queries/<int:query_id>")
@signed_in()
def query(query_id: int) -> ResponseReturnValue:
    with database().reading() as session:
        found = _query_for(session, query_id)
        return _query_page(session, found, {}, [])


def _query_page(
    session: Session,
    found: StatementQuery,
    form: dict[str, str],
    errors: list[tuple[str, str]],
    status: int = 200,
) -> tuple[str, int]:
    row = _timed(found, load_calendars(session), _today())
    line = next((li for li in found.statement.lines if li.position == found.line_position), None)
    # A draft's lines are rebuilt at each close: the line now at that position may differ.
    line_changed = found.line_position is not None and (
        line is None or f"{line.description}: {money_text(line.amount)}" != found.line_summary
    )
    adjustment = session.get(PendingLine, found.adjustment_id) if found.adjustment_id else None
    billed_on = carrier(session, adjustment.id) if adjustment is not None else None
    page = render_template(
        "portal/query.html",
        query=found,
        row=row,
        line=line,
        line_changed=line_changed,
        adjustment=adjustment,
        billed_on=billed_on,
        form=form,
        errors=errors,
        may_answer=may_answer_queries(),
    )
    return page, status


ADJUSTMENTS = ("none", "credit", "charge")  # what accepting a query does to the next statement


@dataclass(frozen=True)
class Answer:
    """An answer as the officer gave it, checked: the adjustment signed (a credit negative)."""

    accept: bool
    text: str
    amount: Decimal | None


@portal.post("/queries/<int:query_id>")
@signed_in()
def answer(query_id: int) -> ResponseReturnValue:
    """Check an answer and say exactly what it will do; nothing is written until the
    officer confirms (`confirm_answer`). "Change" comes back here to edit the answer."""
    form = _answer_form()
    with database().reading() as session:
        found = _answerable(session, query_id)
        if not isinstance(found, StatementQuery):
            return found
        if request.form.get("change"):
            return _query_page(session, found, form, [])
        given, errors = _checked_answer(session, found, form)
        if given is None:
            return _query_page(session, found, form, errors, 400)
        effect = (
            effect_text(found.statement.client.name, given.amount)
            if given.amount is not None
            else None
        )
        return render_template(
            "portal/answer_check.html", query=found, form=form, given=given, effect=effect
        )


@portal.post("/queries/<int:query_id>/confirm")
@signed_in()
def confirm_answer(query_id: int) -> ResponseReturnValue:
    """Record the answer the officer has checked and confirmed."""
    form = _answer_form()
    with database().transaction() as session:
        found = _answerable(session, query_id)
        if not isinstance(found, StatementQuery):
            return found
        given, errors = _checked_answer(session, found, form)
        if given is None:
            return _query_page(session, found, form, errors, 400)
        try:
            answered = answer_query(
                session, found.id, given.accept, given.text, current_user.email, given.amount
            )
        except Refused as refusal:  # answered by someone else since the check
            session.rollback()
            found = _query_for(session, query_id)
            problems = [(p.message, "#answer-summary") for p in refusal.problems]
            return _query_page(session, found, {}, problems, 409)
        message = f"Query {found.id} was {answered.status}."
        if given.amount is not None:
            message += f" {effect_text(found.statement.client.name, given.amount)}."
        flash(message, "success")
    return redirect(url_for("portal.query", query_id=query_id))


def _answer_form() -> dict[str, str]:
    return {
        key: request.form.get(key, "") for key in ("decision", "adjustment", "amount", "answer")
    }


def _answerable(session: Session, query_id: int) -> StatementQuery | ResponseReturnValue:
    """The query if the user may answer it and it is still open; else the page refusing."""
    found = _query_for(session, query_id)
    if not may_answer_queries():
        abort(403)
    if found.status == "open":
        return found
    answered_at = found.answered_at
    when = f" on {answered_at.astimezone(LONDON):%-d %B %Y}" if answered_at else ""
    refusal = (
        f"This query was already {found.status} by {found.answered_by}{when}: "
        "it cannot be answered again",
        "#answer-summary",
    )
    return _query_page(session, found, {}, [refusal], 409)


def _checked_answer(
    session: Session, found: StatementQuery, form: dict[str, str]
) -> tuple[Answer | None, list[tuple[str, str]]]:
    """The answer as submitted, checked by the page and by billing; or what is wrong with it."""
    errors, amount = _answer_problems(form)
    if errors:
        return None, errors
    given = Answer(form["decision"] == "accept", form["answer"], amount)
    try:
        check_answer(session, found.id, given.accept, given.text, given.amount)
    except Refused as refusal:
        return None, [(p.message, "#adjustment") for p in refusal.problems]
    return given, []


def _answer_problems(form: dict[str, str]) -> tuple[list[tuple[str, str]], Decimal | None]:
    """What is wrong with an answer as submitted, and its adjustment (negative for a
    credit) if it makes one."""
    errors = []
    decision, adjustment = form["decision"], form["adjustment"] or "none"
    if decision not in ("accept", "reject"):
        errors.append(("Select whether you accept or reject the query", "#decision"))
    amount = None
    if adjustment not in ADJUSTMENTS:
        errors.append(("Select a credit, a charge or no adjustment", "#adjustment"))
    elif adjustment == "none":
        if form["amount"].strip():
            errors.append(
                ("Amount: leave it empty, or select a credit or a charge for it", "#amount")
            )
    elif decision == "reject":
        errors.append(
            (
                "Select no adjustment when you reject a query: only an accepted query "
                "credits or charges the client",
                "#adjustment",
            )
        )
    else:
        problem, amount = _amount_problem(form["amount"])
        if problem:
            errors.append((problem, "#amount"))
        elif amount is not None and adjustment == "credit":
            amount = -amount
    if not form["answer"].strip():
        errors.append(("Enter an explanation for the client", "#answer"))
    elif len(form["answer"]) > REASON_LIMIT:
        errors.append((f"The explanation must be {REASON_LIMIT:,} characters or fewer", "#answer"))
    return errors, amount


def _amount_problem(typed: str) -> tuple[str | None, Decimal | None]:
    """What is wrong with an amount of pounds and pence as typed (a positive sum: whether it
    is a credit or a charge is chosen apart), or the amount."""
    cleaned = typed.strip().removeprefix("£").replace(",", "")
    if not cleaned:
        return "Enter the amount of the credit or charge, like 226.08", None
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite():
        return "Amount must be a sum in pounds and pence, like 226.08", None
    if amount < 0:
        return "Amount must not be negative: enter it as 226.08 and select credit or charge", None
    if amount == 0:
        return "Amount must be more than £0.00", None
    if amount > LARGEST_ADJUSTMENT:
        return f"Amount must be {money_text(LARGEST_ADJUSTMENT)} or less", None
    if amount != round_money(amount):
        return "Amount must have no more than 2 decimal places, like 226.08", None
    return None, round_money(amount)


# -- KPI results -------------------------------------------------------------------------------


def latest_complete_quarter(today: date | None = None) -> Quarter:
    """The last quarter that has ended (by the Europe/London date)."""
    return Month.of(today or _today()).quarter.previous()


def _target_text(result: Result) -> str:
    bound = "or more" if result.kpi.direction == "higher" else "or less"
    text = f"{measure_text(result.target, result.kpi.unit, 'No data')} {bound}"
    return f"{text}, {result.target_set_by}" if result.profile_month else text


@portal.get("/performance")
@signed_in()
def performance() -> ResponseReturnValue:
    text = request.args.get("quarter") or None
    try:
        quarter = Quarter.parse(text) if text else latest_complete_quarter()
    except PeriodError as error:
        page = render_template(
            "portal/performance.html", quarter=None, text=text, error=str(error), rows=[]
        )
        return page, 400
    with database().reading() as session:
        names = dict(session.execute(select(Client.code, Client.name)).all())
        results = visible_results(session, quarter, audience(current_user))
        charts = _performance_charts(session, quarter, results, names)
        rows = [
            {
                "kpi": r.kpi.code,
                "name": r.kpi.name,
                "who": names.get(r.client, r.client) if r.client else "Whole centre",
                "centre": r.client is None,
                "value": measure_text(r.measure.value, r.kpi.unit, "No data"),
                "target": _target_text(r),
                "previous": measure_text(r.previous, r.kpi.unit, "No data"),
                "status": KpiStatus(r.status),
                "events": r.measure.events,
            }
            for r in results
        ]
    return render_template(
        "portal/performance.html",
        quarter=quarter,
        text=str(quarter),
        error=None,
        rows=rows,
        charts=charts,
        final=any(r.final for r in results),
        staff=current_user.role in STAFF,
        previous=quarter.previous(),
        following=_following(quarter),
        latest=latest_complete_quarter(),
    )


def _performance_charts(
    session: Session, quarter: Quarter, results: list[Result], names: dict[str, str]
) -> list[tuple[str, Markup, Markup]]:
    """Each KPI's name, the whole centre's trend over the last quarters (straight lines, the
    target dashed) and each council's result as a bar against its target (dashed): the
    publication's charts, on the page; each described in words for screen readers."""
    quarters, history = recent_history(session, quarter, results)
    charts = []
    for r in (r for r in results if r.client is None):
        unit, code = r.kpi.unit, r.kpi.code
        text = partial(_chart_text, unit=unit)
        top = 100 if unit == "percent" else None
        values = [history[q].get((code, None)) for q in quarters]
        trend = line_chart(
            f"trend-{code}",
            f"{r.kpi.name}: whole centre, last {len(quarters)} quarters",
            f"Whole centre against the target of {text(r.target)}: "
            + "; ".join(
                f"{q.short_label} {_or_no_data(v, text)}"
                for q, v in zip(quarters, values, strict=True)
            ),
            [q.short_label for q in quarters],
            values,
            r.target,
            text,
            top,
        )
        councils = [c for c in results if c.kpi.code == code and c.client]
        bars = bar_chart(
            f"councils-{code}",
            f"{r.kpi.name}: each council against its target, {quarter.short_label}",
            "; ".join(
                f"{names[c.client or '']} {_or_no_data(c.measure.value, text)} against {text(c.target)}"
                for c in councils
            )
            or "No council's results to show.",
            [names[c.client or ""] for c in councils],
            [Series("Result", [c.measure.value for c in councils])],
            text,
            top=top,
            targets=[c.target for c in councils],
        )
        charts.append((r.kpi.name, trend, bars))
    return charts


def _chart_text(value: Number, unit: str) -> str:
    """A chart's figure in the KPI's unit: `97.6%`, `18.2 days`."""
    return measure_text(Decimal(value), unit)


def _or_no_data(value: Decimal | None, text: Callable[[Number], str]) -> str:
    return "no data" if value is None else text(value)


def _following(quarter: Quarter) -> Quarter:
    return (quarter.months()[-1] + 1).quarter


@portal.get("/performance/<quarter>.xlsx")
@signed_in()
def performance_download(quarter: str) -> ResponseReturnValue:
    try:
        parsed = Quarter.parse(quarter)
    except PeriodError:
        abort(404)
    with database().reading() as session:
        return written_workbook(
            lambda path: write_publication(session, parsed, path, audience(current_user)),
            f"performance-{parsed}.xlsx",
        )
