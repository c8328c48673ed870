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
from opsplatform.models import Client, Service
from opsplatform.periods import Month, days_after, iter_months

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
    return BillingComparison(
        month=month,
        first=first,
        clients=sorted(by_client.values(), key=lambda r: r.code),
        services=sorted(by_service.values(), key=lambda r: (r.code == "", r.code)),
        total=total,
        statuses=statuses,
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
