"""The partners' annual charges as open data: what each council was charged for each
service in a financial year, from issued statements only (a draft may still change).

Plain functions on a Session returning plain values; the page writes them as CSV and JSON
under the Open Government Licence (web/open_data.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing.models import Statement, StatementLine
from opsplatform.models import Client, Service
from opsplatform.periods import FinancialYear, Month
from opsplatform.vocabulary import StatementStatus


@dataclass(frozen=True)
class AnnualCharge:
    """A council's net charges (before VAT) for a service over the issued months of a year."""

    year: FinancialYear
    council: str
    council_code: str
    service: str
    service_code: str
    net: Decimal
    months: int  # how many of the year's months were issued to the council for the service


def charged_years(session: Session) -> list[FinancialYear]:
    """The financial years with issued statements, the latest first."""
    months = session.scalars(
        select(Statement.month).where(Statement.status == StatementStatus.ISSUED).distinct()
    )
    return sorted({Month.parse(m).financial_year for m in months}, reverse=True)


def annual_charges(session: Session, year: FinancialYear) -> list[AnnualCharge]:
    """Every council's net charges for each service in `year`, issued statements only, by
    council then service; lines not for one service are left out (they are adjustments
    agreed with one council)."""
    rows = session.execute(
        select(
            Client.name,
            Client.code,
            Service.name,
            Service.code,
            func.sum(StatementLine.amount),
            func.count(func.distinct(Statement.month)),
        )
        .join(Statement, StatementLine.statement_id == Statement.id)
        .join(Client, Statement.client_id == Client.id)
        .join(Service, StatementLine.service_id == Service.id)
        .where(
            Statement.status == StatementStatus.ISSUED,
            Statement.month.in_([str(m) for m in year.months()]),
        )
        .group_by(Client.name, Client.code, Service.name, Service.code)
        .order_by(Client.name, Service.name)
    )
    return [AnnualCharge(year, *row) for row in rows]
