"""Reading statements: one by number (for its client only, where asked), a list, and the
documents the command line prints with `--json` and the API answers (CONTRACT.md section 5).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TypedDict, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, selectinload

from billing.models import Statement, StatementLine
from opsplatform.errors import Refused
from opsplatform.models import Client
from opsplatform.money import ZERO
from opsplatform.periods import Month, london_date
from opsplatform.settings import CentreSettings
from opsplatform.vocabulary import VatCode

_T = TypeVar("_T")


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
    session: Session,
    month: Month | None = None,
    client: str | None = None,
    status: str | None = None,
) -> list[Statement]:
    """Statements by month and number, of one month, client or status if given."""
    query = (
        select(Statement)
        .options(selectinload(Statement.client))
        .order_by(Statement.month, Statement.number)
    )
    if status is not None:
        query = query.where(Statement.status == status)
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


@dataclass(frozen=True)
class StatementFilter:
    """Which statements a list shows: a month, a client (by id), a status; None for any."""

    month: Month | None = None
    client_id: int | None = None
    status: str | None = None

    def applied(self, query: Select[_T]) -> Select[_T]:
        """`query` narrowed to the statements this filter lets through."""
        if self.month is not None:
            query = query.where(Statement.month == str(self.month))
        if self.client_id is not None:
            query = query.where(Statement.client_id == self.client_id)
        if self.status is not None:
            query = query.where(Statement.status == self.status)
        return query


def count_statements(session: Session, wanted: StatementFilter) -> int:
    """How many statements `wanted` lets through."""
    counted = wanted.applied(select(func.count(Statement.id)))
    return session.scalar(counted) or 0


def statements_page(
    session: Session, wanted: StatementFilter, offset: int, limit: int
) -> list[Statement]:
    """`limit` of the statements `wanted` lets through, after the first `offset`: the
    latest month first, then by client name."""
    query = (
        select(Statement)
        .join(Client, Statement.client_id == Client.id)
        .options(selectinload(Statement.client))
        .order_by(Statement.month.desc(), Client.name, Statement.id)
    )
    return list(session.scalars(wanted.applied(query).offset(offset).limit(limit)))


def statement_months(session: Session, client_id: int | None = None) -> list[Month]:
    """The months that have statements (of the client, if named), the latest first."""
    query = select(Statement.month).distinct().order_by(Statement.month.desc())
    if client_id is not None:
        query = query.where(Statement.client_id == client_id)
    return [Month.parse(m) for m in session.scalars(query)]


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
    issued_on: str | None
    due_on: str | None


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
    vat_code: str
    vat_rate: str
    vat: str
    corrects: str | None
    cost_centre: str | None
    subjective: str | None
    client_cost_centre: str | None
    client_subjective: str | None
    po_number: str | None


class VatBandDocument(TypedDict):
    code: str
    rate: str
    net: str
    vat: str


class PartyDocument(TypedDict):
    name: str
    address: str | None
    vat_number: str | None


class VatInvoiceDocument(TypedDict):
    """What a VAT invoice must show (HMRC VAT Notice 700/21 section 16.6)."""

    supplier: PartyDocument
    customer: PartyDocument
    tax_point: str | None


class StatementDocument(StatementSummary):
    """A statement with its lines, its VAT by code and rate and, where it charges VAT,
    what makes it a VAT invoice."""

    lines: list[LineDocument]
    vat_by_rate: list[VatBandDocument]
    vat_invoice: VatInvoiceDocument | None


@dataclass(frozen=True)
class VatBand:
    """The lines of one VAT code and rate: their net and their VAT."""

    code: VatCode
    rate: Decimal
    net: Decimal
    vat: Decimal


def vat_by_rate(statement: Statement) -> list[VatBand]:
    """The statement's net and VAT by VAT code and rate, standard rate first."""
    totals: dict[tuple[VatCode, Decimal], list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for line in statement.lines:
        band = totals[(VatCode(line.vat_code), line.vat_rate.normalize())]
        band[0] += line.amount
        band[1] += line.vat
    order = list(VatCode)
    return [
        VatBand(code, rate, net, vat)
        for (code, rate), (net, vat) in sorted(
            totals.items(), key=lambda kv: (order.index(kv[0][0]), -kv[0][1])
        )
    ]


def charges_vat(statement: Statement) -> bool:
    """Whether any line is standard or reduced rated: the statement is then a VAT invoice."""
    return any(line.vat_code == VatCode.STANDARD for line in statement.lines)


def issued_on(statement: Statement) -> date | None:
    """The issue date (the tax point of a VAT invoice), in UK time."""
    return london_date(statement.issued_at) if statement.issued_at else None


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
        "issued_on": _date_text(issued_on(statement)),
        "due_on": _date_text(statement.due_date),
    }


def _date_text(day: date | None) -> str | None:
    return day.isoformat() if day else None


def statement_document(statement: Statement, centre: CentreSettings) -> StatementDocument:
    """The statement as CONTRACT.md sections 5 and 9 give it (money as strings)."""
    client = statement.client
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
                "vat_code": line.vat_code,
                "vat_rate": f"{line.vat_rate.normalize():f}",
                "vat": money_text(line.vat),
                "corrects": line.corrects,
                "cost_centre": line.cost_centre,
                "subjective": line.subjective,
                "client_cost_centre": line.client_cost_centre,
                "client_subjective": line.client_subjective,
                "po_number": line.po_number,
            }
            for line in statement.lines
        ],
        "vat_by_rate": [
            {
                "code": band.code,
                "rate": f"{band.rate:f}",
                "net": money_text(band.net),
                "vat": money_text(band.vat),
            }
            for band in vat_by_rate(statement)
        ],
        "vat_invoice": {
            "supplier": {
                "name": centre.centre_name,
                "address": centre.centre_address or None,
                "vat_number": centre.vat_number or None,
            },
            "customer": {
                "name": client.name,
                "address": client.address,
                "vat_number": client.vat_number,
            },
            "tax_point": _date_text(issued_on(statement)),
        }
        if charges_vat(statement)
        else None,
    }
