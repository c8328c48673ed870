"""Disputes: a client council queries a statement or one of its lines; finance answers.

Every query is timed from raised to answered, because how quickly disputes are
settled is one of the centre's low-bureaucracy measures. Accepting a query with an
amount raises an adjustment that names the statement and line it corrects.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session, selectinload

from billing.adjustments import pending_adjustment
from billing.models import Statement, StatementQuery
from billing.statements import get_statement
from opsplatform.audit import record
from opsplatform.calendars import WorkingCalendar
from opsplatform.db import utcnow
from opsplatform.errors import Refused
from opsplatform.models import Client
from opsplatform.money import format_gbp
from opsplatform.notify import link, queue, staff
from opsplatform.periods import days_after, london_date

REMIND_AFTER_WORKING_DAYS = 5


def working_days_open(
    query: StatementQuery, calendars: dict[str, WorkingCalendar], today: date
) -> tuple[int, int]:
    """Working days (by the client's nation) and calendar days after the day a query was
    raised, up to the day it was answered, or `today` while it is open."""
    raised = london_date(query.raised_at)
    until = london_date(query.answered_at) if query.answered_at else today
    calendar = calendars.get(query.statement.client.nation) or calendars["england"]
    return calendar.working_days_between(raised, until), days_after(raised, until)


def query_reminder(session: Session, today: date, calendars: dict[str, WorkingCalendar]) -> int:
    """Remind finance of statement queries open for more than five working days; the number
    of such queries (0: nothing is sent)."""
    waiting = []
    open_queries = (
        select(StatementQuery)
        .where(StatementQuery.status == "open")
        .options(selectinload(StatementQuery.statement).selectinload(Statement.client))
        .order_by(StatementQuery.id)
    )
    for query in session.scalars(open_queries):
        days, _ = working_days_open(query, calendars, today)
        if days > REMIND_AFTER_WORKING_DAYS:
            waiting.append(
                f"- Query {query.id} from {query.statement.client.name} on "
                f"{query.statement.number}: open for {days} working days "
                f"({link(f'/queries/{query.id}')})"
            )
    if waiting:
        count = len(waiting)
        subject = (
            f"{count} statement {'query has' if count == 1 else 'queries have'} waited "
            f"more than {REMIND_AFTER_WORKING_DAYS} working days"
        )
        body = (
            "These statement queries are still open after more than "
            f"{REMIND_AFTER_WORKING_DAYS} working days:\n\n" + "\n".join(waiting)
        )
        queue(session, "query_reminder", staff(session, "admin", "finance"), subject, body)
    return len(waiting)


def raise_query(
    session: Session, number: str, line: int | None, reason: str, raised_by: str
) -> StatementQuery:
    """Open a query on statement `number` (and its line `line`, counting from 1), as
    `raised_by` (who the audit log names)."""
    statement = get_statement(session, number)
    if not reason.strip():
        raise Refused("say what the query is about")
    summary = None
    if line is not None:
        if not 1 <= line <= len(statement.lines):
            raise Refused(f"statement {statement.number} has no line {line}")
        found = statement.lines[line - 1]
        summary = f"{found.description}: {format_gbp(found.amount)}"
    query = StatementQuery(
        statement=statement,
        line_position=line,
        line_summary=summary,
        reason=reason.strip(),
        raised_by=raised_by,
    )
    session.add(query)
    session.flush()
    on_line = {} if line is None else {"line": line}
    record(
        session,
        raised_by,
        "query raise",
        statement.number,
        query=query.id,
        **on_line,
        reason=query.reason,
    )
    return query


def check_answer(
    session: Session, query_id: int, accept: bool, answer: str, amount: Decimal | None = None
) -> StatementQuery:
    """The open query `query_id`, if it may be answered so (accepted or not, with an
    adjustment of `amount` or none); refused, naming why, if not. Nothing is written: the
    answer's check page asks this before the officer confirms."""
    query = session.get(StatementQuery, query_id)
    if query is None:
        raise Refused(f"there is no query {query_id}")
    if query.status != "open":
        raise Refused(
            f"query {query_id} was already {query.status} on {query.answered_at:%d %b %Y}"
        )
    if not answer.strip():
        raise Refused("give the client an explanation")
    if amount is not None and not accept:
        raise Refused("only an accepted query raises an adjustment")
    if amount is not None and _queried_line_service(query) is None:
        raise Refused("an adjustment needs a query on a service's line")
    return query


def _queried_line_service(query: StatementQuery) -> str | None:
    """The code of the service of the line queried, if it is a service's line."""
    if query.line_position is None:
        return None
    service = query.statement.lines[query.line_position - 1].service
    return service.code if service else None


def answer_query(
    session: Session,
    query_id: int,
    accept: bool,
    answer: str,
    answered_by: str,
    amount: Decimal | None = None,
) -> StatementQuery:
    """Accept (with an adjustment of `amount`, if any: negative for a credit) or reject an
    open query, explaining why, as `answered_by` (who the audit log names)."""
    query = check_answer(session, query_id, accept, answer, amount)
    if amount is not None:
        service = _queried_line_service(query)
        assert service is not None  # check_answer refuses an adjustment on any other line
        pending = pending_adjustment(
            session,
            query.statement.client.code,
            service,
            amount,
            f"query {query.id}: {answer.strip()}",
            answered_by,
            statement=query.statement.number,
            line=query.line_position,
        )
    # Only the answer that finds the query still open takes effect, even when two people
    # answer at once: the status is claimed in one conditional UPDATE.
    claimed = cast(
        CursorResult[Any],  # what an UPDATE gives, though Session.execute says any Result
        session.execute(
            update(StatementQuery)
            .where(StatementQuery.id == query_id, StatementQuery.status == "open")
            .values(
                status="accepted" if accept else "rejected",
                answer=answer.strip(),
                answered_by=answered_by,
                answered_at=utcnow(),
                adjustment_id=pending.id if amount is not None else None,
            )
        ),
    )
    if claimed.rowcount != 1:
        raise Refused(f"query {query_id} has just been answered by someone else")
    session.refresh(query)
    record(
        session,
        answered_by,
        "query answer",
        f"query {query_id}",
        status=query.status,
        answer=query.answer,
        amount=amount,
    )
    return query


def list_queries(
    session: Session, status: str | None = None, client: str | None = None
) -> list[StatementQuery]:
    select_queries = (
        select(StatementQuery)
        .join(Statement)
        .options(selectinload(StatementQuery.statement).selectinload(Statement.client))
        .order_by(StatementQuery.id)
    )
    if status is not None:
        select_queries = select_queries.where(StatementQuery.status == status)
    if client is not None:
        select_queries = select_queries.join(Client, Statement.client_id == Client.id).where(
            Client.code == client.upper()
        )
    return list(session.scalars(select_queries))


def query_document(query: StatementQuery) -> dict[str, Any]:
    answered = query.answered_at
    return {
        "id": query.id,
        "statement": query.statement.number,
        "client": query.statement.client.code,
        "line": query.line_position,
        "line_summary": query.line_summary,
        "reason": query.reason,
        "raised_by": query.raised_by,
        "raised_at": query.raised_at.isoformat(),
        "status": query.status,
        "answer": query.answer,
        "answered_by": query.answered_by,
        "answered_at": answered.isoformat() if answered else None,
        "days_to_answer": (answered - query.raised_at).days if answered else None,
        "adjustment": query.adjustment_id,
    }
