"""The year end: a financial year locked for good, and what it still owes both sides.

Once its March statements are issued a year can be locked (`billing lock-year`): nothing
re-rates it after that (the close, the setup loader and the usage import all refuse,
naming the year), so the figures in both sides' closed accounts stay true; later
corrections are adjustments on later statements. The accruals report
(`billing accruals`) lists everything about the year billed after 31 March, or waiting
to be: its statements issued after it, prior-period lines, service credits for its
quarters and adjustments correcting its statements, so that the centre and each client
can accrue them in that year.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Font
from sqlalchemy import and_, select
from sqlalchemy.orm import Session, selectinload

from billing.coding import Codings
from billing.models import PendingLine, Statement, StatementLine
from opsplatform.audit import record
from opsplatform.errors import Refused
from opsplatform.models import YearLock
from opsplatform.money import ZERO, round_money
from opsplatform.periods import FinancialYear, london_date, london_midnight_utc
from opsplatform.settings import centre_settings
from opsplatform.workbooks import CellValue, active_sheet, fit_to_width, write_cell, write_table


@dataclass(frozen=True)
class LockedYear:
    year: FinancialYear
    locked_by: str
    statements: int
    net: Decimal
    vat: Decimal


def lock_year(session: Session, year: FinancialYear, actor: str) -> LockedYear:
    """Lock `year` for good, once every statement of it is issued and March's are."""
    found = session.get(YearLock, str(year))
    if found is not None:
        raise Refused(
            f"{year} is already locked (by {found.locked_by} on {london_date(found.locked_at)})"
        )
    in_year = and_(
        Statement.month >= str(year.first_month), Statement.month <= str(year.last_month)
    )
    statements = session.scalars(select(Statement).where(in_year)).all()
    drafts = sorted({s.month for s in statements if s.status == "draft"})
    if drafts:
        raise Refused(
            f"{year} cannot be locked while drafts for {', '.join(drafts)} are not issued"
        )
    if not any(s.month == str(year.last_month) for s in statements):
        raise Refused(
            f"{year} cannot be locked until its March statements are issued: run "
            f"`opsplatform billing close {year.last_month}` and `billing issue {year.last_month}`"
        )
    session.add(YearLock(financial_year=str(year), locked_by=actor))
    locked = LockedYear(
        year,
        actor,
        len(statements),
        sum((s.net for s in statements), ZERO),
        sum((s.vat for s in statements), ZERO),
    )
    record(session, actor, "billing lock-year", str(year), statements=len(statements))
    return locked


@dataclass(frozen=True)
class Accrual:
    """One line about the year billed after it, or waiting to be."""

    client: str
    client_name: str
    statement: str  # "" while it waits for the client's next statement
    status: str  # issued, draft or pending
    kind: str
    about: str  # the month, quarter or statement it is about
    service: str
    description: str
    net: Decimal
    vat: Decimal


def accruals(session: Session, year: FinancialYear) -> list[Accrual]:
    """Everything about `year` billed after 31 March or still to be: its own statements
    issued after it (March's, typically), lines on later statements about its months,
    service credits for its quarters, its outturn, adjustments correcting its statements, and the
    pending lines of those kinds."""
    numbers = set(
        session.scalars(
            select(Statement.number).where(
                Statement.month >= str(year.first_month), Statement.month <= str(year.last_month)
            )
        )
    )
    after_the_year = london_midnight_utc(year.last_day + timedelta(days=1))
    of_the_year = and_(
        Statement.month >= str(year.first_month), Statement.month <= str(year.last_month)
    )
    later = session.scalars(
        select(StatementLine)
        .join(Statement, StatementLine.statement_id == Statement.id)
        .where(
            (Statement.month > str(year.last_month))
            | (
                of_the_year
                & ((Statement.status == "draft") | (Statement.issued_at >= after_the_year))
            )
        )
        .options(
            selectinload(StatementLine.statement).selectinload(Statement.client),
            selectinload(StatementLine.service),
        )
        .order_by(Statement.number, StatementLine.position)
    )
    found = []
    for line in later:
        about = _about(line.period, line.corrects, year, numbers)
        if about is not None:
            found.append(
                Accrual(
                    line.statement.client.code,
                    line.statement.client.name,
                    line.statement.number,
                    line.statement.status,
                    line.kind,
                    about,
                    line.service.code if line.service else "",
                    line.description,
                    line.amount,
                    line.vat,
                )
            )
    return found + _pending(session, year, numbers)


def _about(period: str, corrects: str | None, year: FinancialYear, numbers: set[str]) -> str | None:
    """What of `year` a line is about: its month, quarter or statement; None if nothing."""
    if str(year.first_month) <= period <= str(year.last_month):
        return period
    if corrects == f"outturn {year}":
        return corrects
    if corrects and f" {year}-Q" in f" {corrects}":
        return corrects.rsplit(" ", 1)[-1]
    if corrects and corrects.split(" line ")[0] in numbers:
        return corrects
    return None


def _pending(session: Session, year: FinancialYear, numbers: set[str]) -> list[Accrual]:
    """Pending lines about `year` that no statement carries yet, with the VAT they will bear."""
    carried = select(StatementLine.pending_id).where(StatementLine.pending_id.is_not(None))
    pending = session.scalars(
        select(PendingLine)
        .where(PendingLine.id.not_in(carried))
        .options(selectinload(PendingLine.client), selectinload(PendingLine.service))
        .order_by(PendingLine.id)
    )
    codings = Codings(session)
    found = []
    for p in pending:
        about = _about("", p.corrects, year, numbers)
        if about is None:
            continue
        coding = codings.of(p.client_id, p.service, year.last_month.next())
        found.append(
            Accrual(
                p.client.code,
                p.client.name,
                "",
                "pending",
                p.kind,
                about,
                p.service.code if p.service else "",
                p.description,
                p.amount,
                round_money(p.amount * coding.vat_rate / 100),
            )
        )
    return found


HEADERS = [
    "client",
    "name",
    "statement",
    "status",
    "kind",
    "about",
    "service",
    "description",
    "net",
    "VAT",
    "total",
]


def write_accruals_workbook(
    session: Session, year: FinancialYear, found: list[Accrual], path: Path
) -> None:
    """The accruals: every line, then each client's totals to accrue."""
    settings = centre_settings(session)
    book = Workbook()
    ws = active_sheet(book)
    ws.title = "Accruals"
    write_cell(ws, 1, 1, f"{settings.centre_name}: {year} billed after 31 March").font = Font(
        bold=True, size=14
    )
    write_cell(
        ws,
        2,
        1,
        f"Every line about {year} issued after {year.last_day:%-d %B %Y} (its March "
        "statements among them) or waiting for the client's next statement: accrue them in "
        f"{year}'s accounts. Negative amounts are credits to the client.",
    )
    rows: list[list[CellValue]] = [
        [
            a.client,
            a.client_name,
            a.statement or "next statement",
            a.status,
            a.kind.replace("_", " "),
            a.about,
            a.service,
            a.description,
            a.net,
            a.vat,
            a.net + a.vat,
        ]
        for a in found
    ]
    fit_to_width(ws)
    write_table(
        ws,
        HEADERS,
        rows,
        money_columns=(8, 9, 10),
        start_row=4,
        widths=[8, 34, 18, 10, 16, 16, 9, 50, 13, 12, 13],
    )
    totals: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for a in found:
        totals[(a.client, a.client_name)][0] += a.net
        totals[(a.client, a.client_name)][1] += a.vat
    summary = book.create_sheet("By client")
    write_table(
        summary,
        ["client", "name", "net", "VAT", "total"],
        [[code, name, net, vat, net + vat] for (code, name), (net, vat) in sorted(totals.items())],
        money_columns=(2, 3, 4),
        widths=[8, 40, 14, 12, 14],
    )
    book.save(path)
