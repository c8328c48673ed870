"""What the centre has billed, and how light its paperwork is: read models over statements.

Plain functions on a Session that return plain values (dataclasses of codes, names,
amounts and periods), which outlive the session; the pages choose the words. Amounts
are summed in SQL by client, service and statement month, so each costs the same
however many lines the statements hold. A figure that does not exist is None, never
zero.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import cast

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from billing.models import PendingLine, Statement, StatementLine, StatementQuery
from opsplatform.calendars import WorkingCalendar
from opsplatform.models import Client, Service, Subscription, UsageEvent, YearLock
from opsplatform.periods import Month, days_after, iter_months, london_date

MEASURE_MONTHS = 12


# -- this month and the year to date, against the same months last year -----------------------


@dataclass
class BillingRow:
    """One client's (or service's) net billing in the four periods compared; None where
    nothing was billed to it in that period."""

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
        """This year to date less the same months last year; None unless both were billed."""
        if self.year is None or self.year_last_year is None:
            return None
        return self.year - self.year_last_year

    @property
    def change_percent(self) -> Decimal | None:
        """The change as a percentage of last year's, to one place; None if that was zero."""
        if self.change is None or not self.year_last_year:
            return None
        return round(self.change / abs(self.year_last_year) * 100, 1)


@dataclass
class BillingComparison:
    """The latest month with statements, its financial year to date, and last year's same
    months, with net billing by client and by service, and the month's statements by
    status."""

    month: Month
    first: Month
    clients: list[BillingRow]
    services: list[BillingRow]
    total: BillingRow
    statuses: dict[str, int]

    @property
    def last_year(self) -> tuple[Month, Month]:
        return self.first + -12, self.month + -12

    @property
    def drafts_in_month(self) -> int:
        return self.statuses.get("draft", 0)


def _billed(session: Session, months: list[str]) -> list[tuple[int, int | None, str, Decimal]]:
    """Net billing (the sum of statement lines, issued and draft) in the statement months
    `months`, by client, service (None for a line of no service) and month."""
    rows = session.execute(
        select(
            Statement.client_id,
            StatementLine.service_id,
            Statement.month,
            func.sum(StatementLine.amount),
        )
        .join(Statement, StatementLine.statement_id == Statement.id)
        .where(Statement.month.in_(months))
        .group_by(Statement.client_id, StatementLine.service_id, Statement.month)
    )
    return [(client, service, month, amount) for client, service, month, amount in rows]


def billing_comparison(session: Session) -> BillingComparison | None:
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
    sums = _billed(session, year + last_year)
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
    return BillingComparison(
        month=month,
        first=first,
        clients=sorted(by_client.values(), key=lambda r: r.code),
        services=sorted(by_service.values(), key=lambda r: (r.code == "", r.code)),
        total=total,
        statuses=statuses,
    )


# -- month by month -----------------------------------------------------------------------------

TREND_MONTHS = 12


@dataclass(frozen=True)
class TrendRow:
    """A client's or a service's figure in each month of a trend (None where it had none),
    and, for usage, the unit it is counted in."""

    code: str
    name: str
    values: list[Decimal | None]
    unit: str = ""


@dataclass(frozen=True)
class MonthlyTrends:
    """Net billing by client and by service, and usage by service, month by month."""

    months: list[Month]
    total: list[Decimal | None]
    clients: list[TrendRow]
    services: list[TrendRow]
    volumes: list[TrendRow]


def monthly_trends(session: Session, last: Month) -> MonthlyTrends:
    """The TREND_MONTHS months to `last` (the latest month with statements): net billing
    (statement lines before VAT, issued and draft) by client and by service, and the
    usage logged for each service (quantities, in the service's unit, by the month it
    happened in). A month with nothing is None, never zero."""
    months = list(iter_months(last + -(TREND_MONTHS - 1), last))
    keys = [str(m) for m in months]
    at = {key: i for i, key in enumerate(keys)}
    clients = {
        i: (code, name)
        for i, code, name in session.execute(select(Client.id, Client.code, Client.name))
    }
    services = {
        i: (code, name, unit)
        for i, code, name, unit in session.execute(
            select(Service.id, Service.code, Service.name, Service.unit)
        )
    }
    total: list[Decimal | None] = [None] * len(months)
    by_client: dict[int, list[Decimal | None]] = {}
    by_service: dict[int | None, list[Decimal | None]] = {}
    for client_id, service_id, month, amount in _billed(session, keys):
        i = at[month]
        for values in (
            total,
            by_client.setdefault(client_id, [None] * len(months)),
            by_service.setdefault(service_id, [None] * len(months)),
        ):
            values[i] = (values[i] or Decimal("0.00")) + amount
    used: dict[int, list[Decimal | None]] = {}
    for service_id, month, quantity in session.execute(
        select(UsageEvent.service_id, UsageEvent.month, func.sum(UsageEvent.quantity))
        .where(UsageEvent.month.in_(keys))
        .group_by(UsageEvent.service_id, UsageEvent.month)
    ):
        used.setdefault(service_id, [None] * len(months))[at[month]] = quantity

    def service_row(service_id: int | None, values: list[Decimal | None]) -> TrendRow:
        if service_id is None:
            return TrendRow("", "Not for one service", values)
        code, name, unit = services[service_id]
        return TrendRow(code, name, values, unit)

    return MonthlyTrends(
        months=months,
        total=total,
        clients=sorted(
            (TrendRow(*clients[i], values) for i, values in by_client.items()), key=lambda r: r.code
        ),
        services=sorted(
            (service_row(i, values) for i, values in by_service.items()),
            key=lambda r: (r.code == "", r.code),
        ),
        volumes=sorted(
            (service_row(i, values) for i, values in used.items()), key=lambda r: r.code
        ),
    )


# -- drafts awaiting issue, open queries ------------------------------------------------------


@dataclass(frozen=True)
class Draft:
    """A draft statement waiting to be issued."""

    number: str
    client: str  # the client's name
    month: str
    total: Decimal


def drafts_awaiting_issue(session: Session) -> list[Draft]:
    """Every draft statement, oldest month first, then by number."""
    rows = session.execute(
        select(Statement.number, Client.name, Statement.month, Statement.total)
        .join(Client, Statement.client_id == Client.id)
        .where(Statement.status == "draft")
        .order_by(Statement.month, Statement.number)
    )
    return [Draft(*row) for row in rows]


@dataclass(frozen=True)
class OpenQuery:
    """A query still waiting for its answer, and how many days it has waited."""

    id: int
    number: str  # the statement's
    line_position: int | None
    client: str  # the client's name
    raised_at: datetime
    age: int  # whole days from the London date it was raised to `today`


def open_queries(session: Session, today: date) -> list[OpenQuery]:
    """Every open statement query, oldest first, with its age in days on `today`."""
    rows = session.execute(
        select(
            StatementQuery.id,
            Statement.number,
            StatementQuery.line_position,
            Client.name,
            StatementQuery.raised_at,
        )
        .join(Statement, StatementQuery.statement_id == Statement.id)
        .join(Client, Statement.client_id == Client.id)
        .where(StatementQuery.status == "open")
        .order_by(StatementQuery.raised_at, StatementQuery.id)
    )
    return [
        OpenQuery(
            query_id,
            number,
            position,
            name,
            raised_at,
            days_after(raised_at, today),
        )
        for query_id, number, position, name, raised_at in rows
    ]


# -- the low-bureaucracy measures ---------------------------------------------------------------


@dataclass(frozen=True)
class PaperworkMeasures:
    """How light the paperwork is, over the statements of twelve months."""

    first: Month
    last: Month
    statements: int
    lines: int
    queried: int  # statements with at least one query
    answered: int  # queries answered
    still_open: int  # queries not yet answered
    median_days: float | None  # from raising a query to its answer; None if none answered

    @property
    def lines_per_statement(self) -> float | None:
        return self.lines / self.statements if self.statements else None

    @property
    def percent_queried(self) -> float | None:
        return self.queried / self.statements * 100 if self.statements else None


def paperwork_measures(session: Session, last: Month) -> PaperworkMeasures:
    """Average lines per statement, the share of statements queried, and the median whole
    days from raising a query to its answer (as the API's `days_to_answer`), over the
    statements of the twelve months ending with `last`."""
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
    answered = cast(  # (raised, answered): the answered ones only
        "list[tuple[datetime, datetime]]",
        session.execute(
            select(StatementQuery.raised_at, StatementQuery.answered_at)
            .join(Statement, StatementQuery.statement_id == Statement.id)
            .where(in_window, StatementQuery.answered_at.is_not(None))
        ).all(),
    )
    days = [(done - raised).days for raised, done in answered]
    return PaperworkMeasures(
        first=last + -(MEASURE_MONTHS - 1),
        last=last,
        statements=statements,
        lines=lines,
        queried=queried,
        answered=len(days),
        still_open=still_open,
        median_days=float(statistics.median(days)) if days else None,
    )


# -- the month end: each draft against last month, and the council's review window ---------------

REVIEW_WORKING_DAYS = 5  # a council's review window: working days after its drafts are built


def review_ends(month: Month, close_day: int, calendar: WorkingCalendar, built: date) -> date:
    """The last day of a council's review of its draft for `month`: REVIEW_WORKING_DAYS
    working days after the scheduled close (the `close_day`-th working day of the month
    after, CONTRACT section 7), or after the day the draft was built if that was later,
    so that a late close still leaves the council its whole window."""
    after = month.next()
    scheduled = calendar.nth_working_day(after.year, after.month, close_day)
    return calendar.working_days_on(max(scheduled, built), REVIEW_WORKING_DAYS)


@dataclass(frozen=True)
class LineChange:
    """What one kind of line for one service came to on the draft and on last month's
    statement; None where it was not on that statement (so `before` None is a new line)."""

    service: str  # the service's name; "" for lines not about one service
    kind: str  # a LineKind
    now: Decimal | None
    before: Decimal | None


@dataclass(frozen=True)
class DraftReview:
    """A draft statement beside the client's statement for the month before."""

    number: str
    client: str  # the client's code
    client_name: str
    total: Decimal
    previous_total: Decimal | None  # None: no statement for the month before
    open_queries: int
    review_ends: date
    changes: list[LineChange]

    @property
    def difference(self) -> Decimal | None:
        return None if self.previous_total is None else self.total - self.previous_total


@dataclass(frozen=True)
class MonthReview:
    """A month's statements at the month end: its drafts under review, and how many are
    issued already."""

    month: Month
    drafts: list[DraftReview]
    issued: int
    locked: bool  # its financial year is locked (billing lock-year)

    @property
    def total(self) -> Decimal:
        return sum((d.total for d in self.drafts), Decimal("0.00"))

    @property
    def open_queries(self) -> int:
        return sum(d.open_queries for d in self.drafts)


def month_review(
    session: Session, month: Month, close_day: int, calendar: WorkingCalendar
) -> MonthReview:
    """The drafts of `month`, each with its total against the client's statement for the
    month before, the lines that are new or changed (summed by service and kind of line),
    its open queries and the day its council's review window ends."""
    before = month.previous()
    statements = session.execute(
        select(
            Statement.id,
            Statement.client_id,
            Statement.month,
            Statement.status,
            Statement.number,
            Statement.total,
            Statement.created_at,
        ).where(Statement.month.in_([str(month), str(before)]))
    ).all()
    drafts = [s for s in statements if s.month == str(month) and s.status == "draft"]
    previous = {s.client_id: s for s in statements if s.month == str(before)}
    sums = _line_sums(session, [s.id for s in drafts] + [s.id for s in previous.values()])
    clients = {i: (code, name) for i, code, name in session.execute(_CLIENT_NAMES)}
    queries = _open_queries_by_statement(session, [s.id for s in drafts])
    reviews = []
    for s in sorted(drafts, key=lambda s: s.number):
        last = previous.get(s.client_id)
        reviews.append(
            DraftReview(
                number=s.number,
                client=clients[s.client_id][0],
                client_name=clients[s.client_id][1],
                total=s.total,
                previous_total=last.total if last else None,
                open_queries=queries.get(s.id, 0),
                review_ends=review_ends(month, close_day, calendar, london_date(s.created_at)),
                changes=_changes(sums.get(s.id, {}), sums.get(last.id, {}) if last else {}),
            )
        )
    issued = sum(1 for s in statements if s.month == str(month) and s.status == "issued")
    locked = session.get(YearLock, str(month.financial_year)) is not None
    return MonthReview(month, reviews, issued, locked)


_CLIENT_NAMES = select(Client.id, Client.code, Client.name)


def _line_sums(
    session: Session, statement_ids: list[int]
) -> dict[int, dict[tuple[str, str], Decimal]]:
    """Each statement's lines summed by (service name, kind of line)."""
    rows = session.execute(
        select(
            StatementLine.statement_id,
            func.coalesce(Service.name, ""),
            StatementLine.kind,
            func.sum(StatementLine.amount),
        )
        .outerjoin(Service, StatementLine.service_id == Service.id)
        .where(StatementLine.statement_id.in_(statement_ids))
        .group_by(StatementLine.statement_id, Service.name, StatementLine.kind)
    )
    sums: dict[int, dict[tuple[str, str], Decimal]] = {}
    for statement_id, service, kind, amount in rows:
        sums.setdefault(statement_id, {})[(service, kind)] = amount
    return sums


def _changes(
    now: dict[tuple[str, str], Decimal], before: dict[tuple[str, str], Decimal]
) -> list[LineChange]:
    """The (service, kind) sums that are new, changed or gone since the month before."""
    return [
        LineChange(service, kind, now.get((service, kind)), before.get((service, kind)))
        for service, kind in sorted(set(now) | set(before))
        if now.get((service, kind)) != before.get((service, kind))
    ]


def _open_queries_by_statement(session: Session, statement_ids: list[int]) -> dict[int, int]:
    rows = session.execute(
        select(StatementQuery.statement_id, func.count(StatementQuery.id))
        .where(StatementQuery.statement_id.in_(statement_ids), StatementQuery.status == "open")
        .group_by(StatementQuery.statement_id)
    )
    return {statement_id: count for statement_id, count in rows}


# -- what is waiting for finance and for a council (the home page) -------------------------------


@dataclass(frozen=True)
class DraftMonth:
    """A month with drafts waiting to be issued."""

    month: Month
    statements: int
    total: Decimal
    open_queries: int  # open queries on those drafts: each blocks the issue


@dataclass(frozen=True)
class FinanceWaiting:
    """What waits for a finance officer: months of drafts to review and issue, open
    queries to answer, and the month the scheduler closes this month if nobody has yet."""

    drafts: list[DraftMonth]
    open_queries: int
    month_to_close: Month | None


def finance_waiting(
    session: Session, today: date, close_day: int, calendar: WorkingCalendar
) -> FinanceWaiting:
    """A few aggregates over statements and queries (never over usage), for the home page.
    The month to close is last month once this month's close day has come, while it has
    no statements and some client is subscribed."""
    draft_months = session.execute(
        select(Statement.month, func.count(Statement.id), func.sum(Statement.total))
        .where(Statement.status == "draft")
        .group_by(Statement.month)
        .order_by(Statement.month)
    ).all()
    queries = dict(
        session.execute(
            select(Statement.month, func.count(StatementQuery.id))
            .join(Statement, StatementQuery.statement_id == Statement.id)
            .where(StatementQuery.status == "open", Statement.status == "draft")
            .group_by(Statement.month)
        ).all()
    )
    open_count = session.scalar(
        select(func.count(StatementQuery.id)).where(StatementQuery.status == "open")
    )
    last = Month.of(today).previous()
    due = today >= calendar.nth_working_day(today.year, today.month, close_day)
    closed = session.scalar(select(Statement.id).where(Statement.month == str(last)).limit(1))
    subscribed = session.scalar(select(Subscription.id).limit(1))
    return FinanceWaiting(
        drafts=[
            DraftMonth(Month.parse(m), count, total, queries.get(m, 0))
            for m, count, total in draft_months
        ],
        open_queries=open_count or 0,
        month_to_close=last if due and closed is None and subscribed is not None else None,
    )


@dataclass(frozen=True)
class ClientDraft:
    """A council's draft statement in its review window."""

    number: str
    month: Month
    total: Decimal
    review_ends: date
    open_queries: int


@dataclass(frozen=True)
class ClientWaiting:
    """What waits for a council: its drafts in review, and its queries still open (on any
    of its statements)."""

    drafts: list[ClientDraft]
    open_queries: int


def client_waiting(
    session: Session, client_id: int, close_day: int, calendar: WorkingCalendar
) -> ClientWaiting:
    """The council's draft statements, each with the day its review window ends and its
    open queries (what it may still query before the month is issued), and how many of its
    queries are open."""
    rows = session.execute(
        select(
            Statement.id, Statement.number, Statement.month, Statement.total, Statement.created_at
        )
        .where(Statement.client_id == client_id, Statement.status == "draft")
        .order_by(Statement.month)
    ).all()
    queries = _open_queries_by_statement(session, [r.id for r in rows])
    still_open = session.scalar(
        select(func.count(StatementQuery.id))
        .join(Statement, StatementQuery.statement_id == Statement.id)
        .where(Statement.client_id == client_id, StatementQuery.status == "open")
    )
    drafts = [
        ClientDraft(
            r.number,
            Month.parse(r.month),
            r.total,
            review_ends(Month.parse(r.month), close_day, calendar, london_date(r.created_at)),
            queries.get(r.id, 0),
        )
        for r in rows
    ]
    return ClientWaiting(drafts, still_open or 0)


# -- pending adjustments and service credits ----------------------------------------------------


@dataclass(frozen=True)
class PendingRow:
    """An adjustment or service credit not yet on an issued statement (or one withdrawn):
    whose, how much (negative: a credit), why, who raised it, and the draft carrying it."""

    id: int
    client: str
    client_name: str
    service_name: str | None
    kind: str
    amount: Decimal
    description: str
    reason: str
    raised_by: str
    raised_at: datetime
    draft: str | None
    withdrawn_by: str | None
    withdrawn_at: datetime | None


def pending_rows(session: Session, withdrawn: bool = False) -> list[PendingRow]:
    """The pending lines still to be billed, oldest first, with the draft each is on if a
    close has put it on one; with `withdrawn`, those withdrawn instead, latest first."""
    on_issued = (
        select(StatementLine.pending_id)
        .join(Statement, StatementLine.statement_id == Statement.id)
        .where(StatementLine.pending_id.is_not(None), Statement.status == "issued")
    )
    on_draft = (
        select(StatementLine.pending_id, Statement.number)
        .join(Statement, StatementLine.statement_id == Statement.id)
        .where(StatementLine.pending_id.is_not(None), Statement.status == "draft")
        .subquery()
    )
    query = (
        select(PendingLine, Client.code, Client.name, Service.name, on_draft.c.number)
        .join(Client, PendingLine.client_id == Client.id)
        .outerjoin(Service, PendingLine.service_id == Service.id)
        .outerjoin(on_draft, on_draft.c.pending_id == PendingLine.id)
        .where(PendingLine.id.not_in(on_issued))
    )
    if withdrawn:
        query = query.where(PendingLine.withdrawn_at.is_not(None)).order_by(
            PendingLine.withdrawn_at.desc(), PendingLine.id.desc()
        )
    else:
        query = query.where(PendingLine.withdrawn_at.is_(None)).order_by(PendingLine.id)
    return [
        PendingRow(
            line.id,
            code,
            name,
            service,
            line.kind,
            line.amount,
            line.description,
            line.reason,
            line.raised_by,
            line.created_at,
            draft,
            line.withdrawn_by,
            line.withdrawn_at,
        )
        for line, code, name, service, draft in session.execute(query)
    ]
