"""Reading statements: one by number (for its client only, where asked), a list, and the
documents the command line prints with `--json` and the API answers (CONTRACT.md section 5).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TypedDict

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from billing.models import Statement, StatementLine
from opsplatform.errors import Refused
from opsplatform.models import Client
from opsplatform.periods import Month


def get_statement(session: Session, number: str, client_id: int | None = None) -> Statement:
    """The statement `number`; with `client_id`, only if it is that client's, looked up in
    the same query, so that another client's statement takes no longer to miss than a
    number that does not exist (and its existence cannot be timed)."""
    query = select(Statement).where(Statement.number == number.strip().upper())
    if client_id is not None:
        query = query.where(Statement.client_id == client_id)
    statement = session.scalars(
        query.options(
            selectinload(Statement.lines).selectinload(StatementLine.service),
            selectinload(Statement.client),
        )
    ).one_or_none()
    if statement is None:
        raise Refused(f"there is no statement {number}")
    return statement


def list_statements(
    session: Session, month: Month | None = None, client: str | None = None
) -> list[Statement]:
    query = (
        select(Statement)
        .options(selectinload(Statement.client))
        .order_by(Statement.month, Statement.number)
    )
    if month is not None:
        query = query.where(Statement.month == str(month))
    if client is not None:
        found = session.scalars(
            select(Client).where(Client.code == client.strip().upper())
        ).one_or_none()
        if found is None:
            raise Refused(f"unknown client '{client}'")
        query = query.where(Statement.client_id == found.id)
    return list(session.scalars(query))


def money_text(amount: Decimal) -> str:
    """A sum of money as the documents give it: pounds and pence, no symbol."""
    return f"{amount:.2f}"


class StatementSummary(TypedDict):
    """A statement without its lines; money and dates as text."""

    number: str
    client: str
    client_name: str
    month: str
    status: str
    net: str
    vat: str
    total: str
    issued_at: str | None
    due_date: str | None


class LineDocument(TypedDict):
    """One line of a statement; quantities, rates and money as text."""

    service: str | None
    kind: str
    description: str
    basis: str
    period: str
    quantity: str
    rate: str | None
    amount: str
    vat: str
    corrects: str | None


class StatementDocument(StatementSummary):
    """A statement with its lines."""

    lines: list[LineDocument]


def statement_summary(statement: Statement) -> StatementSummary:
    return {
        "number": statement.number,
        "client": statement.client.code,
        "client_name": statement.client.name,
        "month": statement.month,
        "status": statement.status,
        "net": money_text(statement.net),
        "vat": money_text(statement.vat),
        "total": money_text(statement.total),
        "issued_at": statement.issued_at.isoformat() if statement.issued_at else None,
        "due_date": statement.due_date.isoformat() if statement.due_date else None,
    }


def statement_document(statement: Statement) -> StatementDocument:
    """The statement as CONTRACT.md section 5 gives it (money as strings)."""
    return {
        **statement_summary(statement),
        "lines": [
            {
                "service": line.service.code if line.service else None,
                "kind": line.kind,
                "description": line.description,
                "basis": line.basis,
                "period": line.period,
                "quantity": f"{line.quantity.normalize():f}",
                "rate": f"{line.rate.normalize():f}" if line.rate is not None else None,
                "amount": money_text(line.amount),
                "vat": money_text(line.vat),
                "corrects": line.corrects,
            }
            for line in statement.lines
        ],
    }
