"""Issuing a month: its drafts numbered, dated and frozen, and each council told by e-mail;
which months are issued, for the loaders that must not change what was billed in them.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing.models import Statement, StatementLine
from billing.statements import money_text
from opsplatform.audit import record
from opsplatform.db import utcnow
from opsplatform.errors import Refused
from opsplatform.models import Client
from opsplatform.money import format_gbp
from opsplatform.notify import client_users, link, queue
from opsplatform.periods import FinancialYear, Month, london_date
from opsplatform.settings import centre_settings


def issue_month(
    session: Session,
    month: Month,
    actor: str,
    at: datetime | None = None,
    holding: Collection[str] = (),
) -> list[Statement]:
    """Issue every draft of `month`: from now on they never change. The audit log names
    `actor` as who issued them; `at` (default now) is the issue date, for history
    loaded after the fact such as the demo's; the drafts of the clients coded `holding`
    stay drafts, still in review (the demo keeps one partner there).

    A draft is the client's chance to review: while a query raised on one is still
    open, the month is not issued.
    """
    drafts = session.scalars(
        select(Statement)
        .where(Statement.month == str(month), Statement.status == "draft")
        .where(Statement.client_id.not_in(select(Client.id).where(Client.code.in_(holding))))
        .order_by(Statement.number)
    ).all()
    if not drafts:
        raise Refused(
            f"there are no draft statements for {month}: run `opsplatform billing close {month}` first"
        )
    open_queries = [
        f"query {q.id} on {statement.number}"
        for statement in drafts
        for q in statement.queries
        if q.status == "open"
    ]
    if open_queries:
        raise Refused(
            [f"{q} is still open: answer it before the month is issued" for q in open_queries]
        )
    terms = centre_settings(session).payment_terms_days
    now = at or utcnow()
    for statement in drafts:
        statement.status = "issued"
        statement.issued_at = now
        statement.due_date = london_date(now) + timedelta(days=terms)
    session.flush()
    statements_issued(session, drafts)
    totals = {s.number: money_text(s.total) for s in drafts}
    record(session, actor, "billing issue", str(month), statements=totals)
    return list(drafts)


def statements_issued(session: Session, statements: Sequence[Statement]) -> int:
    """Tell each client council that its statement for the month is issued."""
    sent, users = 0, client_users(session)
    for s in statements:
        month = Month.parse(s.month).label
        body = (
            f"Your statement {s.number} for {month} has been issued.\n\n"
            f"Total: {format_gbp(s.total)} (net {format_gbp(s.net)}, VAT {format_gbp(s.vat)})\n"
            f"Payment due by: {s.due_date:%-d %B %Y}\n\n"
            f"View it, download it or raise a query on a line: {link(f'/statements/{s.number}')}"
        )
        subject = f"Statement {s.number} for {month} issued"
        contacts = ([s.client.email] if s.client.email else []) + users.get(s.client_id, [])
        sent += queue(session, "statement_issued", contacts, subject, body)
    return sent


class IssuedFigures:
    """What issued statements hold, for the loaders that must never change it."""

    def months(self, session: Session, year: str) -> list[str]:
        """The months of financial year `year` that have issued statements."""
        fy = FinancialYear.parse(year)
        return list(
            session.scalars(
                select(Statement.month)
                .where(
                    Statement.status == "issued",
                    Statement.month >= str(fy.first_month),
                    Statement.month <= str(fy.last_month),
                )
                .distinct()
                .order_by(Statement.month)
            )
        )

    def billed_clients(self, session: Session, year: str, service_id: int) -> set[int]:
        """The clients (ids) with issued lines of the service about months of `year`."""
        fy = FinancialYear.parse(year)
        return set(
            session.scalars(
                select(Statement.client_id)
                .join(StatementLine, StatementLine.statement_id == Statement.id)
                .where(
                    Statement.status == "issued",
                    StatementLine.service_id == service_id,
                    StatementLine.period >= str(fy.first_month),
                    StatementLine.period <= str(fy.last_month),
                )
                .distinct()
            )
        )

    def next_month(self, session: Session) -> Month | None:
        """The first month after every issued one; None while nothing is issued."""
        latest = session.scalar(
            select(func.max(Statement.month)).where(Statement.status == "issued")
        )
        return Month.parse(latest).next() if latest else None


ISSUED = IssuedFigures()


def issued_among(session: Session, months: Collection[str]) -> set[str]:
    """Which of `months` (YYYY-MM) have issued statements."""
    return set(
        session.scalars(
            select(Statement.month)
            .where(Statement.status == "issued", Statement.month.in_(list(months)))
            .distinct()
        )
    )
