"""Pages: the month end (finance) and the quarter end (managers), and what waits on the home page.

Finance closes a month, reviews its drafts against the month before, issues them and
locks a year; a manager assesses a quarter, finalises it and publishes it. Every step
that writes is shown first on a check page saying exactly what it will do (GOV.UK "check
answers": a confirm button and a cancel link); the GET of a check page never writes (a
close is shown by a dry run that is rolled back). The domain functions do the work and
record themselves in the audit log with the signed-in user's e-mail address; a refusal
is shown as an error summary on the check page, and nothing is written.

Who may do what: finance and admins the month end (access.WRITERS), managers and admins
the quarter end (access.COMMENTATORS); other staff get 403, a council's users 404.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.close import close_month
from billing.issue import issue_month
from billing.outturn import approve_outturn, outturns
from billing.reports import (
    REVIEW_WORKING_DAYS,
    client_waiting,
    finance_waiting,
    month_review,
    open_queries,
)
from billing.yearend import lock_year
from opsplatform.calendars import WorkingCalendar, load_calendars
from opsplatform.entrypoints.access import COMMENTATORS, STAFF, WRITERS, signed_in
from opsplatform.entrypoints.extensions import database
from opsplatform.entrypoints.formats import date_text, money_text, months_text, today
from opsplatform.entrypoints.web.portal import latest_complete_quarter
from opsplatform.errors import Refused
from opsplatform.models import Client, User
from opsplatform.periods import FinancialYear, Month, PeriodError, Quarter
from opsplatform.settings import centre_settings
from opsplatform.vocabulary import KpiStatus, Role
from sla.publication import publications, publish_quarter
from sla.reports import quarter_progress, quarter_waiting
from sla.service import assess_quarter, credits_due, finalise_quarter, quarter_is_final

cycle = Blueprint("cycle", __name__)

CENTRE_CALENDAR = "england"  # the scheduler's calendar, and so the close day's


@dataclass(frozen=True)
class Check:
    """What a check page shows: what will happen, and the form that makes it happen.

    `rows` are (key, value) pairs of a summary list; `table` a caption, headers and rows
    of cells (numeric columns' headers end in " £"); `errors` (text, link) refusals, which
    leave no confirm button."""

    title: str
    caption: str
    heading: str
    action: str
    button: str
    cancel: str
    cancel_text: str
    rows: list[tuple[str, str]]
    warning: str
    table: tuple[str, list[str], list[list[str]]] | None = None
    errors: tuple[tuple[str, str], ...] = ()


def _check_page(check: Check, status: int = 200) -> ResponseReturnValue:
    return render_template("cycle/check.html", check=check), 409 if check.errors else status


def _calendar(session: Session) -> WorkingCalendar:
    return load_calendars(session)[CENTRE_CALENDAR]


def _month(text: str) -> Month:
    try:
        return Month.parse(text)
    except PeriodError:
        abort(404)


def _quarter(text: str) -> Quarter:
    try:
        return Quarter.parse(text)
    except PeriodError:
        abort(404)


def _refusals(refusal: Refused, href: str = "#main-content") -> tuple[tuple[str, str], ...]:
    return tuple((p.message[:1].upper() + p.message[1:], href) for p in refusal.problems)


def _refusal_of(act: Callable[[Session], object]) -> Refused | None:
    """What `act` would refuse, found by a dry run that is rolled back; None if nothing."""
    try:
        with database().transaction(dry_run=True) as session:
            act(session)
    except Refused as refusal:
        return refusal
    return None


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word if count == 1 else word + 's'}"


# -- the month end -------------------------------------------------------------------------------


def scheduled_month() -> Month:
    """The month the scheduler closes this month: last month."""
    return Month.of(today()).previous()


@cycle.get("/month-end")
@signed_in(*WRITERS)
def month_end() -> ResponseReturnValue:
    """A month's drafts under review, with what to do next: close, issue, lock the year."""
    text = (request.args.get("month") or "").strip()
    try:
        month = Month.parse(text) if text else scheduled_month()
    except PeriodError as error:
        page = render_template("cycle/month_end.html", review=None, text=text, error=str(error))
        return page, 400
    with database().reading() as session:
        close_day = centre_settings(session).close_working_day
        review = month_review(session, month, close_day, _calendar(session))
    return render_template(
        "cycle/month_end.html",
        review=review,
        text=str(month),
        error=None,
        review_days=REVIEW_WORKING_DAYS,
        previous=month.previous(),
        following=month.next(),
    )


def _back(month: Month) -> str:
    return url_for("cycle.month_end", month=str(month))


def _close_check(session: Session, month: Month) -> Check:
    """What closing `month` would build: a dry run of the close, rolled back by the caller."""
    errors: tuple[tuple[str, str], ...] = ()
    rows: list[list[str]] = []
    try:
        built = close_month(session, month, current_user.email)
    except Refused as refusal:
        errors = _refusals(refusal)
    else:
        rows = [[s.number, s.client.name, str(len(s.lines)), money_text(s.total)] for s in built]
    return Check(
        title=f"Close {month.label}",
        caption="Month end",
        heading=f"Check before closing {month.label}",
        action=url_for("cycle.close", month=str(month)),
        button=f"Close {month.label}",
        cancel=_back(month),
        cancel_text="Cancel and go back to the month end",
        rows=[
            ("Month", month.label),
            ("Draft statements", _plural(len(rows), "draft statement")),
            ("Total", money_text(sum((s.total for s in built), Decimal("0.00")) if rows else None)),
        ],
        warning=(
            f"Closing rebuilds the drafts for {month.label} from the usage ledger and tariffs "
            "as they are now; issued statements never change, and queries raised on a draft "
            "stay with it. Councils can review their drafts until they are issued."
        ),
        table=("Councils that will get a draft", ["Statement", "Council", "Lines", "Total £"], rows)
        if rows
        else None,
        errors=errors,
    )


@cycle.get("/month-end/<month>/close")
@signed_in(*WRITERS)
def close_check(month: str) -> ResponseReturnValue:
    parsed = _month(month)
    with database().transaction(dry_run=True) as session:
        check = _close_check(session, parsed)
    return _check_page(check)


@cycle.post("/month-end/<month>/close")
@signed_in(*WRITERS)
def close(month: str) -> ResponseReturnValue:
    parsed = _month(month)
    try:
        with database().transaction() as session:
            built = close_month(session, parsed, current_user.email)
    except Refused:
        with database().transaction(dry_run=True) as session:
            return _check_page(_close_check(session, parsed))
    flash(f"{parsed.label} closed: {_plural(len(built), 'draft statement')}", "success")
    return redirect(_back(parsed), 303)


def _issue_check(session: Session, month: Month, refusal: Refused | None = None) -> Check:
    """What issuing `month` does, or why it cannot: each open query on its drafts."""
    close_day = centre_settings(session).close_working_day
    review = month_review(session, month, close_day, _calendar(session))
    numbers = {d.number for d in review.drafts}
    blocking = [q for q in open_queries(session, today()) if q.number in numbers]
    errors = tuple(
        (
            f"Query {q.id} on {q.number} ({q.client}) is still open: answer it before "
            f"{month.label} is issued",
            url_for("portal.query", query_id=q.id),
        )
        for q in blocking
    )
    if not review.drafts:
        errors = (
            (
                f"There are no draft statements for {month.label}: close the month first",
                "#main-content",
            ),
        )
    if refusal is not None and not errors:
        errors = _refusals(refusal)
    councils = len({d.client for d in review.drafts})
    still_open = [d for d in review.drafts if d.review_ends >= today()]
    warning = (
        f"{_plural(len(review.drafts), 'statement')} totalling {money_text(review.total)} "
        f"will be issued and e-mailed to {_plural(councils, 'council')}; they cannot be "
        "changed afterwards."
    )
    if still_open:
        ends = max(d.review_ends for d in still_open)
        warning += (
            f" The review window of {_plural(len(still_open), 'council')} is open until "
            f"{date_text(ends)}: once issued, a query can only lead to an adjustment on a "
            "later statement."
        )
    return Check(
        title=f"Issue {month.label}",
        caption="Month end",
        heading=f"Check before issuing {month.label}",
        action=url_for("cycle.issue", month=str(month)),
        button=f"Issue {_plural(len(review.drafts), 'statement')}",
        cancel=_back(month),
        cancel_text="Cancel and go back to the month end",
        rows=[
            ("Month", month.label),
            ("Statements", _plural(len(review.drafts), "statement")),
            ("Councils", _plural(councils, "council")),
            ("Total", money_text(review.total)),
        ],
        warning=warning,
        table=(
            "Statements that will be issued",
            ["Statement", "Council", "Review window ends", "Total £"],
            [
                [d.number, d.client_name, date_text(d.review_ends), money_text(d.total)]
                for d in review.drafts
            ],
        )
        if review.drafts
        else None,
        errors=errors,
    )


@cycle.get("/month-end/<month>/issue")
@signed_in(*WRITERS)
def issue_check(month: str) -> ResponseReturnValue:
    parsed = _month(month)
    with database().reading() as session:
        return _check_page(_issue_check(session, parsed))


@cycle.post("/month-end/<month>/issue")
@signed_in(*WRITERS)
def issue(month: str) -> ResponseReturnValue:
    parsed = _month(month)
    try:
        with database().transaction() as session:
            issued = issue_month(session, parsed, current_user.email)
    except Refused as refusal:
        with database().reading() as session:
            return _check_page(_issue_check(session, parsed, refusal))
    total = sum((s.total for s in issued), Decimal("0.00"))
    flash(
        f"{parsed.label} issued: {_plural(len(issued), 'statement')} totalling {money_text(total)}",
        "success",
    )
    return redirect(_back(parsed), 303)


def _year(text: str) -> FinancialYear:
    try:
        return FinancialYear.parse(text)
    except PeriodError:
        abort(404)


def _lock_check(year: FinancialYear, refusal: Refused | None) -> Check:
    return Check(
        title=f"Lock {year}",
        caption="Year end",
        heading=f"Check before locking {year}",
        action=url_for("cycle.lock", year=str(year)),
        button=f"Lock {year}",
        cancel=_back(year.last_month),
        cancel_text="Cancel and go back to the month end",
        rows=[
            ("Financial year", f"{year} ({months_text(year.first_month, year.last_month)})"),
        ],
        warning=(
            f"Locking {year} is for good. Its months can no longer be closed, and setup "
            "loads and usage imports that would re-rate it are refused, so both sides' "
            "accounts for the year stay true. Corrections after it are adjustments on later "
            "statements."
        ),
        errors=_refusals(refusal) if refusal else (),
    )


@cycle.get("/month-end/year/<year>/lock")
@signed_in(*WRITERS)
def lock_check(year: str) -> ResponseReturnValue:
    parsed = _year(year)
    refusal = _refusal_of(lambda session: lock_year(session, parsed, current_user.email))
    return _check_page(_lock_check(parsed, refusal))


@cycle.post("/month-end/year/<year>/lock")
@signed_in(*WRITERS)
def lock(year: str) -> ResponseReturnValue:
    parsed = _year(year)
    try:
        with database().transaction() as session:
            locked = lock_year(session, parsed, current_user.email)
    except Refused as refusal:
        return _check_page(_lock_check(parsed, refusal))
    flash(
        f"{parsed} locked: {_plural(locked.statements, 'statement')} totalling "
        f"{money_text(locked.net + locked.vat)}",
        "success",
    )
    return redirect(_back(parsed.last_month), 303)


# -- the outturn of a year funded on cost ---------------------------------------------------------


@cycle.get("/year-end/<year>/outturn")
@signed_in(*STAFF)
def outturn(year: str) -> ResponseReturnValue:
    """Each service funded on cost against its actual cost for the year, and each partner's
    share of the difference: approved, or what approving would raise."""
    parsed = _year(year)
    with database().reading() as session:
        try:
            found, error = outturns(session, parsed), None
        except Refused as refusal:
            found, error = [], str(refusal)
        return render_template(
            "cycle/outturn.html",
            year=parsed,
            outturns=found,
            error=error,
            may_approve=current_user.role in WRITERS,
        )


def _outturn_check(session: Session, year: FinancialYear, refusal: Refused | None) -> Check:
    found = [o for o in outturns(session, year) if o.approved_by is None]
    rows = [(o.cost.name, o.sentence) for o in found]
    table = [
        [p.name, o.cost.name, money_text(p.charged), money_text(p.amount, signed=True)]
        for o in found
        for p in o.partners
    ]
    return Check(
        title=f"Approve the outturn of {year}",
        caption="Year end",
        heading=f"Check before approving the outturn of {year}",
        action=url_for("cycle.approve_outturn_now", year=str(year)),
        button=f"Approve the outturn of {year}",
        cancel=url_for("cycle.outturn", year=str(year)),
        cancel_text=f"Cancel and go back to the outturn of {year}",
        rows=rows,
        table=(
            "What each partner pays (+) or is refunded (−) on its next statement",
            ["Partner", "Service", "Charged for the year £", "Its share £"],
            table,
        )
        if table
        else None,
        warning=(
            "Approving is for good: each partner's share goes on its first statement after "
            f"March as an outturn line, and {year}'s actual costs can no longer be imported."
        ),
        errors=_refusals(refusal) if refusal else (),
    )


@cycle.get("/year-end/<year>/outturn/approve")
@signed_in(*WRITERS)
def approve_outturn_check(year: str) -> ResponseReturnValue:
    parsed = _year(year)
    refusal = _refusal_of(lambda session: approve_outturn(session, parsed, current_user.email))
    with database().reading() as session:
        return _check_page(_outturn_check(session, parsed, refusal))


@cycle.post("/year-end/<year>/outturn/approve")
@signed_in(*WRITERS)
def approve_outturn_now(year: str) -> ResponseReturnValue:
    parsed = _year(year)
    try:
        with database().transaction() as session:
            approved = approve_outturn(session, parsed, current_user.email)
    except Refused as refusal:
        with database().reading() as session:
            return _check_page(_outturn_check(session, parsed, refusal))
    lines = sum(1 for o in approved for p in o.partners if p.amount)
    flash(
        f"The outturn of {parsed} is approved: {_plural(lines, 'outturn line')} will go on "
        "the partners' next statements",
        "success",
    )
    return redirect(url_for("cycle.outturn", year=str(parsed)), 303)


# -- the quarter end -----------------------------------------------------------------------------


@cycle.get("/quarter-end")
@signed_in(*COMMENTATORS)
def quarter_end() -> ResponseReturnValue:
    """A quarter's provisional (or final) results in counts, and what to do next."""
    text = (request.args.get("quarter") or "").strip()
    try:
        quarter = Quarter.parse(text) if text else latest_complete_quarter()
    except PeriodError as error:
        page = render_template("cycle/quarter_end.html", quarter=None, text=text, error=str(error))
        return page, 400
    with database().reading() as session:
        results = assess_quarter(session, quarter)
        published = publications(session, quarter)
        progress = quarter_progress(session, quarter)
    clients = [r for r in results if r.client is not None]
    return render_template(
        "cycle/quarter_end.html",
        quarter=quarter,
        text=str(quarter),
        error=None,
        months=months_text(quarter.months()[0], quarter.months()[-1]),
        final=any(r.final for r in results),
        counts=[(s, sum(1 for r in clients if r.status == s)) for s in KpiStatus],
        centre=[r for r in results if r.client is None],
        progress=progress,
        published=published,
        previous=quarter.previous(),
        following=(quarter.months()[-1] + 1).quarter,
    )


def _quarter_back(quarter: Quarter) -> str:
    return url_for("cycle.quarter_end", quarter=str(quarter))


def _finalise_check(session: Session, quarter: Quarter, refusal: Refused | None = None) -> Check:
    """What finalising `quarter` does: results frozen, and the service credits it raises."""
    errors = _refusals(refusal) if refusal else ()
    credits = credits_due(session, quarter)
    if not errors and quarter_is_final(session, quarter):
        errors = (
            (f"{quarter.short_label} is already final: its results are frozen", "#main-content"),
        )
    names = dict(session.execute(select(Client.code, Client.name)).all())
    total = sum((-c.amount for c in credits), Decimal("0.00"))
    return Check(
        title=f"Finalise {quarter.short_label}",
        caption="Quarter end",
        heading=f"Check before finalising {quarter.short_label}",
        action=url_for("cycle.finalise", quarter=str(quarter)),
        button=f"Finalise {quarter.short_label}",
        cancel=_quarter_back(quarter),
        cancel_text="Cancel and go back to the quarter end",
        rows=[
            ("Quarter", quarter.label),
            ("Service credits", _plural(len(credits), "service credit")),
            ("Total of the credits", money_text(total)),
        ],
        warning=(
            f"The results of {quarter.short_label} are frozen: they will not change, whatever usage or "
            f"figures arrive later. {_plural(len(credits), 'service credit')} totalling "
            f"{money_text(total)} will be raised for the next statements."
        ),
        table=(
            "Service credits that will be raised",
            ["Council", "Credit", "Why", "Amount £"],
            [[names[c.client], c.description, c.reason, money_text(c.amount)] for c in credits],
        )
        if credits
        else None,
        errors=errors,
    )


@cycle.get("/quarter-end/<quarter>/finalise")
@signed_in(*COMMENTATORS)
def finalise_check(quarter: str) -> ResponseReturnValue:
    parsed = _quarter(quarter)
    with database().reading() as session:
        return _check_page(_finalise_check(session, parsed))


@cycle.post("/quarter-end/<quarter>/finalise")
@signed_in(*COMMENTATORS)
def finalise(quarter: str) -> ResponseReturnValue:
    parsed = _quarter(quarter)
    try:
        with database().transaction() as session:
            if quarter_is_final(session, parsed):
                raise Refused(f"{parsed.short_label} is already final: its results are frozen")
            finalise_quarter(session, parsed, current_user.email)
    except Refused as refusal:
        with database().reading() as session:
            return _check_page(_finalise_check(session, parsed, refusal))
    flash(f"{parsed.short_label} finalised: its results are frozen", "success")
    return redirect(_quarter_back(parsed), 303)


def _publish_check(quarter: Quarter, refusal: Refused | None) -> Check:
    return Check(
        title=f"Publish {quarter.short_label}",
        caption="Quarter end",
        heading=f"Check before publishing {quarter.short_label}",
        action=url_for("cycle.publish", quarter=str(quarter)),
        button=f"Publish {quarter.short_label}",
        cancel=_quarter_back(quarter),
        cancel_text="Cancel and go back to the quarter end",
        rows=[
            ("Quarter", quarter.label),
            ("Publication", f"performance-{quarter}.xlsx, from the final results"),
        ],
        warning=(
            f"Publishing records in the audit log that you published {quarter.short_label}'s performance "
            "report; then download the workbook to put before the councils' members."
        ),
        errors=_refusals(refusal) if refusal else (),
    )


@cycle.get("/quarter-end/<quarter>/publish")
@signed_in(*COMMENTATORS)
def publish_check(quarter: str) -> ResponseReturnValue:
    parsed = _quarter(quarter)
    refusal = _refusal_of(lambda session: publish_quarter(session, parsed, current_user.email))
    return _check_page(_publish_check(parsed, refusal))


@cycle.post("/quarter-end/<quarter>/publish")
@signed_in(*COMMENTATORS)
def publish(quarter: str) -> ResponseReturnValue:
    parsed = _quarter(quarter)
    try:
        with database().transaction() as session:
            publish_quarter(session, parsed, current_user.email)
    except Refused as refusal:
        return _check_page(_publish_check(parsed, refusal))
    flash(f"{parsed.short_label} published: download the workbook below", "success")
    return redirect(_quarter_back(parsed), 303)


# -- what waits for the signed-in user, for the home page -----------------------------------------


def waiting_for(session: Session, user: User) -> dict[str, Any]:
    """What waits for `user`, by role: finance the month end, managers the quarter end
    (admins both), a council's users their drafts in review."""
    close_day = centre_settings(session).close_working_day
    found: dict[str, Any] = {}
    if user.role in WRITERS:
        found["finance"] = finance_waiting(session, today(), close_day, _calendar(session))
    if user.role in COMMENTATORS:
        found["manager"] = quarter_waiting(session, today())
    if user.role == Role.CLIENT and user.client_id is not None:
        found["client"] = client_waiting(session, user.client_id, close_day, _calendar(session))
    return found
